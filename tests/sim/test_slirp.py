"""slirp as a real PPP peer: the shim builds, slirp starts on a pty and answers LCP (RFC 1661 section 5.1)."""

from __future__ import annotations

import os
import subprocess
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
        pid = peer.pid
    # close() reaped the process and removed the private home.
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    assert not peer.home.exists()
    assert peer.fd == -1


def test_slirp_home_is_private_and_holds_secrets(tmp_path: Path) -> None:
    need_slirp()
    with SlirpProcess(pap_secrets="user * pass *\n") as peer:
        secrets = peer.home / ".pap-secrets"
        assert secrets.read_text() == "user * pass *\n"
        assert secrets.stat().st_mode & 0o077 == 0
        assert "pass" not in repr(peer)
