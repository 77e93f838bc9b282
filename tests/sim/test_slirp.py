"""slirp as a real PPP peer: the shim builds, slirp starts on a pty and answers LCP (RFC 1661 section 5.1)."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import pytest
from scapy.layers.ppp import HDLC, PPP, PPP_LCP_Configure, PPP_LCP_Magic_Number_Option

from pppos.errors import MissingTool
from pppos.sim import slirp as slirp_mod
from pppos.sim.slirp import SlirpProcess, build_shim, cache_root
from tests.sim_helpers import LCP_CONFREQ, fcs16, hdlc_frame, hdlc_frames, need_slirp, need_tool, read_until

pytestmark = pytest.mark.slirp


def test_fcs_oracle_matches_rfc1662_good_fcs() -> None:
    # RFC 1662 C.2: running the FCS over data plus its own FCS gives the magic residue 0xf0b8.
    body = LCP_CONFREQ
    fcs = fcs16(body)
    raw = body + bytes([fcs & 0xFF, fcs >> 8])
    state = 0xFFFF
    for byte in raw:
        state ^= byte
        for _ in range(8):
            state = (state >> 1) ^ 0x8408 if state & 1 else state >> 1
    assert state == 0xF0B8
    assert hdlc_frames(b"noise" + hdlc_frame(body) + b"\x7ejunk") == [body]


def test_scapy_builds_the_same_confreq_vector() -> None:
    pkt = HDLC() / PPP() / PPP_LCP_Configure(id=1, options=[PPP_LCP_Magic_Number_Option(magic_number=0x12345678)])
    assert bytes(pkt) == LCP_CONFREQ


def test_build_shim_is_cached_by_source_hash(tmp_path: Path) -> None:
    need_tool("gcc")
    first = build_shim(tmp_path)
    assert first.is_file() and first.parent == tmp_path
    assert first.name.startswith("select_shim-") and first.suffix == ".so"
    mtime = first.stat().st_mtime_ns
    assert build_shim(tmp_path) == first
    assert first.stat().st_mtime_ns == mtime  # not rebuilt
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".build-")]  # temp dirs cleaned
    nm = subprocess.run(["nm", "-D", str(first)], capture_output=True, text=True)
    if nm.returncode == 0:
        assert " T select" in nm.stdout


def test_cache_root_honours_pppos_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PPPOS_CACHE", str(tmp_path / "c"))
    assert cache_root() == tmp_path / "c"
    monkeypatch.delenv("PPPOS_CACHE")
    assert cache_root() == Path.home() / ".cache" / "pppos"


def test_build_shim_without_gcc_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(slirp_mod.shutil, "which", lambda name: None)
    with pytest.raises(MissingTool, match="gcc"):
        build_shim(tmp_path / "empty")


def test_missing_slirp_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(MissingTool, match="slirp"):
        SlirpProcess(program="no-such-slirp-binary")


def test_slirp_answers_lcp_configure_request(tmp_path: Path) -> None:
    need_slirp()
    with SlirpProcess() as peer:  # the shim from the default cache: compiled once per machine
        assert peer.alive
        assert peer.home != Path.home()
        os.write(peer.fd, hdlc_frame(LCP_CONFREQ))

        def done(buf: bytes) -> bool:
            codes = {f[4] for f in hdlc_frames(buf) if f[:4] == b"\xff\x03\xc0\x21"}
            return {1, 2} <= codes

        stream = read_until(peer.fd, done, 5.0)
        frames = [f for f in hdlc_frames(stream) if f[:4] == b"\xff\x03\xc0\x21"]
        acks = [f for f in frames if f[4] == 2]
        reqs = [f for f in frames if f[4] == 1]
        # RFC 1661 5.2: the Configure-Ack echoes our identifier and options.
        assert acks and acks[0][4:] == b"\x02" + LCP_CONFREQ[5:]
        # slirp's own Configure-Request: MRU 1500 and a magic number among its options.
        assert reqs
        lcp = PPP(reqs[0][2:])
        assert lcp.haslayer(PPP_LCP_Configure)
        opts = {o.type: o for o in lcp[PPP_LCP_Configure].options}
        assert opts[1].max_recv_unit == 1500
        assert 5 in opts
        assert 2 not in opts  # no ACCM: its receive map is the all-ones default (RFC 1662 section 7.1)
        pid = peer.pid
    # close() reaped the process and removed the private home.
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    assert not peer.home.exists()
    assert peer.fd == -1


def _slirp_lcp_request(args: list[str]) -> dict[int, object]:
    with SlirpProcess(args) as peer:
        os.write(peer.fd, hdlc_frame(LCP_CONFREQ))

        def done(buf: bytes) -> bool:
            return any(f[:5] == b"\xff\x03\xc0\x21\x01" for f in hdlc_frames(buf))

        stream = read_until(peer.fd, done, 5.0)
    req = next(f for f in hdlc_frames(stream) if f[:5] == b"\xff\x03\xc0\x21\x01")
    return {o.type: o for o in PPP(req[2:])[PPP_LCP_Configure].options}


def test_slirp_asyncmap_option_asks_for_accm_0() -> None:
    need_slirp()
    opts = _slirp_lcp_request(["asyncmap 0"])
    assert opts[2].accm == 0


def _listeners(port: int) -> set[str]:
    """Local addresses of TCP listeners on ``port`` (``/proc/net/tcp``, state 0A)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, _, state = line.split()[1:4]
        addr, hexport = local.split(":")
        if int(hexport, 16) == port and state == "0A":
            found.add(".".join(str(b) for b in reversed(bytes.fromhex(addr))))
    return found


def test_shim_keeps_slirps_port_redirections_on_loopback() -> None:
    need_slirp()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with SlirpProcess([f"redir tcp {port} to 10.0.2.15:{port}"]) as peer:
        deadline = time.monotonic() + 5.0
        while not _listeners(port) and time.monotonic() < deadline and peer.alive:
            time.sleep(0.05)
        assert _listeners(port) == {"127.0.0.1"}  # slirp itself asks for 0.0.0.0


def test_slirp_home_is_private_and_holds_secrets(tmp_path: Path) -> None:
    need_slirp()
    with SlirpProcess(pap_secrets="user * pass *\n") as peer:
        secrets = peer.home / ".pap-secrets"
        assert secrets.read_text() == "user * pass *\n"
        assert secrets.stat().st_mode & 0o077 == 0
        assert "pass" not in repr(peer)


_SELECT_PROBE = r"""
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/select.h>
/* select() on a readable pipe returns at once; Linux writes the unused time back into the
   timeval, so the printed value shows the timeout the kernel was actually given. */
static void probe(long usec) {
    int p[2];
    fd_set r;
    struct timeval tv;
    if (pipe(p) != 0 || write(p[1], "x", 1) != 1) return;
    FD_ZERO(&r);
    FD_SET(p[0], &r);
    memset(&tv, 0, sizeof tv);
    tv.tv_usec = (suseconds_t)usec;
    int rc = select(p[0] + 1, &r, NULL, NULL, &tv);
    printf("%d %ld %ld\n", rc, (long)tv.tv_sec, (long)tv.tv_usec);
}
int main(void) {
    probe((long)4294967295UL); /* what slirp 1.0.17 passes when no TCP timer is due */
    probe(400000);             /* a valid but long timeout */
    probe(1000);               /* a short one is left alone */
    return 0;
}
"""


def _run_probe(tmp_path: Path, env: dict[str, str]) -> list[list[int]]:
    src = tmp_path / "probe.c"
    src.write_text(_SELECT_PROBE)
    exe = tmp_path / "probe"
    subprocess.run(["gcc", "-O0", "-o", str(exe), str(src)], check=True, capture_output=True)
    out = subprocess.run([str(exe)], capture_output=True, text=True, env=env, timeout=30).stdout
    return [[int(x) for x in line.split()] for line in out.splitlines()]


def test_shim_caps_slirps_garbage_and_long_timeouts(tmp_path: Path) -> None:
    need_tool("gcc")
    shim = build_shim(tmp_path / "cache")
    without = _run_probe(tmp_path, {"PATH": os.environ["PATH"]})
    assert without[0][0] == -1  # glibc: EINVAL, which slirp treats as fatal
    assert without[1][0] == 1 and without[1][2] > 300000
    default = _run_probe(tmp_path, {"PATH": os.environ["PATH"], "LD_PRELOAD": str(shim)})
    assert [row[:2] for row in default] == [[1, 0]] * 3
    assert 0 < default[0][2] <= 2000 and 0 < default[1][2] <= 2000  # the default cap: 2 ms
    assert 0 < default[2][2] <= 1000
    env = {"PATH": os.environ["PATH"], "LD_PRELOAD": str(shim), "PPPOS_SLIRP_SELECT_USEC": "50000"}
    tuned = _run_probe(tmp_path, env)
    assert 2000 < tuned[0][2] <= 50000 and 2000 < tuned[1][2] <= 50000
    # An out-of-range override falls back to the default.
    env["PPPOS_SLIRP_SELECT_USEC"] = "99999999"
    assert 0 < _run_probe(tmp_path, env)[0][2] <= 2000


def test_shim_timeout_cap_env_is_passed_to_slirp_only_when_set(monkeypatch: pytest.MonkeyPatch) -> None:
    need_slirp()
    monkeypatch.setenv(slirp_mod.SHIM_TIMEOUT_ENV, "3000")
    with SlirpProcess() as peer:
        # /proc/<pid>/environ reads empty in the instant between fork and exec: wait for the exec
        deadline = time.monotonic() + 5.0
        environ: list[bytes] = []
        while time.monotonic() < deadline:
            environ = Path(f"/proc/{peer.pid}/environ").read_bytes().split(b"\0")
            if any(item.startswith(b"LD_PRELOAD=") for item in environ):
                break
            time.sleep(0.01)
        assert peer.alive
        assert b"PPPOS_SLIRP_SELECT_USEC=3000" in environ
        assert any(item.startswith(b"LD_PRELOAD=") for item in environ)
