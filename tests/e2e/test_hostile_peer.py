"""Hostile PPP peers against ``pppos-up --direct`` in a throwaway namespace (issue 12).

A scripted peer (:mod:`tests.e2e.hostile`) on a pty hands out unusable addresses, a loopback DNS
server, refuses authentication with terminal escape sequences in its message, insists on an MRU of
0 or 1, or the line is looped back on itself. Each case must end with one verdict line and its exit
status, leave no default route and no ppp0, and leave the resolver file byte for byte as it was.
With ``--mtu 4000`` the link must carry 4000-octet frames both ways.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from pppos.errors import ExitStatus
from tests.e2e.harness import UpProcess, wait_for
from tests.e2e.hostile import HostilePeer, LoopedLine, Script
from tests.helpers import need_tool

pytestmark = [pytest.mark.root, pytest.mark.slow]

ORIGINAL_RESOLV = b"# the namespace's own resolver file\nnameserver 192.0.2.53\n"
HOST_ADDRESS = "192.0.2.77"
ESCAPES = b"\x1b[2J\x1b]0;owned\x07denied\r\nfake: line \xe2\x80\xae"


def _start(netns, tmp_path: Path, port: str, *extra: str) -> UpProcess:
    resolv = tmp_path / "resolv.conf"
    resolv.write_bytes(ORIGINAL_RESOLV)
    return UpProcess(netns, tmp_path, port, "--direct", "--default-route", "--usepeerdns", "--lcp-echo", "off",
                     *extra, resolv=resolv)


def _assert_host_untouched(netns, up: UpProcess) -> None:
    assert netns.ip("route", "show", "default").strip() == ""
    assert "ppp0" not in netns.ip("link")
    assert up.resolv.read_bytes() == ORIGINAL_RESOLV


def _error_lines(log: str) -> list[str]:
    return [line for line in log.splitlines() if line.startswith("pppos-up: error:")]


def _run_to_verdict(netns, tmp_path: Path, port: str, *extra: str) -> tuple[int, str, UpProcess]:
    up = _start(netns, tmp_path, port, *extra)
    try:
        status = up.wait(timeout=90)
    finally:
        up.close()
    return status, up.log, up


@pytest.fixture
def need() -> None:
    need_tool("ip")


@pytest.mark.parametrize(
    ("local", "verdict"),
    [
        ("0.0.0.0", "the peer gave us no IP address (0.0.0.0)"),
        ("127.0.0.1", "the peer gave us 127.0.0.1 as our address, a loopback address"),
        ("255.255.255.255", "the peer gave us 255.255.255.255 as our address, the broadcast address"),
        ("224.0.0.1", "the peer gave us 224.0.0.1 as our address, a multicast address"),
        (HOST_ADDRESS, f"the peer gave us {HOST_ADDRESS} as our address, which this host already has"),
    ],
)
def test_unusable_local_address_is_refused(need: None, netns, tmp_path: Path, local: str, verdict: str) -> None:
    netns.ip("addr", "add", f"{HOST_ADDRESS}/32", "dev", "lo")  # an address this host already has
    peer = HostilePeer(Script(local=local))
    try:
        status, log, up = _run_to_verdict(netns, tmp_path, peer.path)
    finally:
        peer.close()
    assert status == ExitStatus.PPP, log
    assert _error_lines(log) == [f"pppos-up: error: PPP negotiation failed (IPCP): {verdict}"], log
    assert " up in " not in log
    _assert_host_untouched(netns, up)


def test_loopback_dns_from_the_peer_is_refused(need: None, netns, tmp_path: Path) -> None:
    peer = HostilePeer(Script(dns=("127.0.0.1",)))
    try:
        status, log, up = _run_to_verdict(netns, tmp_path, peer.path)
    finally:
        peer.close()
    assert status == ExitStatus.PPP, log
    (line,) = _error_lines(log)
    assert line.startswith("pppos-up: error: PPP negotiation failed (IPCP): the peer named the DNS server "
                           "127.0.0.1, a loopback address"), log
    _assert_host_untouched(netns, up)


def test_a_looped_back_line_is_detected(need: None, netns, tmp_path: Path) -> None:
    line = LoopedLine()
    try:
        status, log, up = _run_to_verdict(netns, tmp_path, line.path)
    finally:
        line.close()
    assert status == ExitStatus.PPP, log
    assert _error_lines(log) == ["pppos-up: error: PPP negotiation failed: the line is looped back"], log
    assert "10.64.64.64" not in log and line.echoed > 0
    _assert_host_untouched(netns, up)


@pytest.mark.parametrize("auth", ["pap", "chap"])
def test_auth_refusal_text_is_made_safe_everywhere(need: None, netns, tmp_path: Path, auth: str) -> None:
    password = tmp_path / "password"
    password.write_text("not-the-secret\n")
    password.chmod(0o600)
    peer = HostilePeer(Script(auth=auth, auth_message=ESCAPES))
    pcap = tmp_path / "link.pcap"
    try:
        status, log, up = _run_to_verdict(netns, tmp_path, peer.path, "--user", "alice",
                                          "--password-file", str(password), "--pcap", str(pcap))
    finally:
        peer.close()
    assert status == ExitStatus.AUTH, log
    assert peer.seen.auth_requests >= 1
    (line,) = _error_lines(log)
    assert line.startswith(f"pppos-up: error: PPP authentication failed: {auth.upper()} authentication refused: "
                           "\\x1b[2J\\x1b]0;owned\\x07denied\\x0d\\x0afake: line \\u202e"), line
    assert "\x1b" not in log and "\x07" not in log and "\u202e" not in log and "\r" not in log
    assert "not-the-secret" not in log
    status_cli = up.run_cli("status")
    assert "last failure:" in status_cli.stdout and "\\x1b[2J" in status_cli.stdout, status_cli.stdout
    assert "\x1b" not in status_cli.stdout + status_cli.stderr
    failure_file = json.loads((up.run_dir / "ppp0.last-failure").read_text()) if (
        up.run_dir / "ppp0.last-failure").exists() else None
    for path in up.run_dir.iterdir():
        assert b"\x1b" not in path.read_bytes(), path
    assert failure_file is None or "\x1b" not in failure_file.get("last_failure", "")
    # the capture is private and holds no password (PAP: masked to as many '*'; CHAP never sends it)
    assert pcap.stat().st_mode & 0o777 == 0o600
    captured = pcap.read_bytes()
    assert b"not-the-secret" not in captured
    if auth == "pap":
        assert b"\x0e" + b"*" * len("not-the-secret") in captured
    _assert_host_untouched(netns, up)


@pytest.mark.parametrize("mru", [0, 1])
def test_a_peer_insisting_on_a_tiny_mru_gets_a_verdict(need: None, netns, tmp_path: Path, mru: int) -> None:
    peer = HostilePeer(Script(mru=mru, insist=True))
    try:
        status, log, up = _run_to_verdict(netns, tmp_path, peer.path)
    finally:
        peer.close()
    assert status == ExitStatus.PPP, log
    assert _error_lines(log) == [
        f"pppos-up: error: PPP negotiation failed (LCP): the peer insists on <mru {mru}>, which we cannot accept"
    ], log
    assert len(peer.seen.lcp_requests) >= 1
    _assert_host_untouched(netns, up)


def test_mtu_4000_carries_4000_octet_frames(need: None, netns, tmp_path: Path) -> None:
    peer = HostilePeer(Script(mru=4000, ping_size=4000))
    up = _start(netns, tmp_path, peer.path, "--mtu", "4000", "--no-ipv6")
    try:
        log = up.wait_up(timeout=60)
        assert "IPCP: local 10.0.2.15 peer 10.64.64.1" in log
        mtu = json.loads(netns.ip("-j", "link", "show", "dev", "ppp0"))[0]["mtu"]
        assert mtu == 4000

        def replied() -> bool:
            return any(len(p) == 4000 and p[9] == 1 and p[20] == 0 for p in list(peer.seen.ip_packets))

        for _ in range(3):
            peer.send_ping()  # a 4000-octet echo request in one frame, answered by the namespace's kernel
            try:
                wait_for(replied, 5, "a 4000-octet ICMP echo reply in one PPP frame")
                break
            except AssertionError:
                continue
        assert replied(), log
        up.signal(signal.SIGTERM)
        assert up.wait() == ExitStatus.SUCCESS, up.log
    finally:
        up.close()
        peer.close()
    assert netns.ip("route", "show", "default").strip() == ""
    assert up.resolv.read_bytes() == ORIGINAL_RESOLV


def test_an_mtu_too_small_for_ipv6_disables_ipv6_and_keeps_ipv4(need: None, netns, tmp_path: Path) -> None:
    """RFC 8200 section 5: IPv6 needs 1280. The peer runs IPv6CP, --mtu 1000: IPv6 is turned off with one
    warning (IPv6CP closed), IPv4 comes up and carries traffic (it used to end the whole session)."""
    peer = HostilePeer(Script(ipv6=True, ping_size=900))
    up = _start(netns, tmp_path, peer.path, "--mtu", "1000")
    try:
        log = up.wait_up(timeout=60)
        assert peer.seen.ipv6cp_requests >= 1
        assert ("pppos-up: warning: IPv6 disabled on this link: the link MTU 1000 is below IPv6's minimum of 1280; "
                "IPv4 continues") in log, log
        assert "IPv6CP:" not in log
        wait_for(lambda: peer.seen.ipv6cp_terminated, 10, "IPv6CP to be closed")
        assert [a for a in json.loads(netns.ip("-j", "addr", "show", "dev", "ppp0"))[0]["addr_info"]
                if a["family"] == "inet6"] == []

        def replied() -> bool:
            return any(len(p) == 900 and p[9] == 1 and p[20] == 0 for p in list(peer.seen.ip_packets))

        peer.send_ping()
        wait_for(replied, 10, "an ICMP echo reply over IPv4")
        up.signal(signal.SIGTERM)
        assert up.wait() == ExitStatus.SUCCESS, up.log
    finally:
        up.close()
        peer.close()


def test_no_ipv6_keeps_ipv6cp_off(need: None, netns, tmp_path: Path) -> None:
    peer = HostilePeer(Script(ipv6=True))
    up = _start(netns, tmp_path, peer.path, "--no-ipv6")
    try:
        log = up.wait_up(timeout=60)
        assert peer.seen.ipv6cp_requests == 0 and "IPv6" not in log
        up.signal(signal.SIGTERM)
        assert up.wait() == ExitStatus.SUCCESS, up.log
    finally:
        up.close()
        peer.close()
