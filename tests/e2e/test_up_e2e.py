"""pppos-up end to end: simulated A7 + slirp on the host, ppp0 in a throwaway namespace, real programs.

Every test makes its own network namespace (``netns``), its own resolver file and run directory, and
reaches only servers on the host's 127.0.0.1 (through slirp's 10.0.2.2 alias). Nothing touches the
host's routes or resolver, and no DNS query is ever sent.
"""

from __future__ import annotations

import json
import re
import signal
from pathlib import Path

import pytest

from pppos.cli import down as down_cli
from pppos.cli import status as status_cli
from pppos.errors import ExitStatus
from pppos.net.status import read_status
from tests.e2e.harness import BODY, HostServers, PtyBridge, UpProcess, echo_roundtrip, wait_for
from tests.helpers import need_tool
from tests.sim_helpers import run_sim

pytestmark = [pytest.mark.root, pytest.mark.slirp, pytest.mark.slow]

ORIGINAL_RESOLV = b"# the namespace's own resolver file\nnameserver 192.0.2.53\noptions edns0\n"


def _need() -> None:
    need_tool("slirp", "gcc", "ip", "curl")


def _addr(ns, ifname: str = "ppp0") -> list[dict]:
    return json.loads(ns.ip("-j", "addr", "show", "dev", ifname))[0]["addr_info"]


def test_sim_a7_slirp_curl_socket_status_pcap_down(netns, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    _need()
    pcap = tmp_path / "link.pcap"
    with HostServers() as servers, run_sim(tmp_path, "--profile", "a7", "--network", "slirp") as link:
        # The namespace has no other route: --default-route sends 10.0.2.2 (slirp's host alias) over ppp0.
        up = UpProcess(netns, tmp_path, str(link), "--apn", "internet", "--pcap", str(pcap), "--default-route")
        try:
            log = up.wait_up()
            for words in ("SIM ready", "dBm", "registered", "dial", "LCP up", "IPCP: local 10.0.2.15 peer"):
                assert words in log, (words, log)
            inet = [a for a in _addr(netns) if a["family"] == "inet"]
            assert [(a["local"], a["prefixlen"]) for a in inet] == [("10.0.2.15", 32)]

            # An unmodified curl and a plain socket client, in the namespace, reach the host's loopback.
            curl = netns.run(["curl", "-sS", "--max-time", "20", f"http://10.0.2.2:{servers.http_port}/x"])
            assert curl.returncode == 0 and curl.stdout.encode() == BODY, curl.stderr
            assert echo_roundtrip(netns, "10.0.2.2", servers.echo_port, 20000)

            # The daemon rewrites its state file about once a second: wait for the echo to show.
            wait_for(lambda: (read_status(up.run_dir / "ppp0.json") or {}).get("bytes_in", 0) > 20000, 10,
                     "the state file to count the echo")
            monkeypatch.setenv("PPPOS_RUN_DIR", str(up.run_dir))
            assert status_cli.main(["--json"]) == 0
            state = json.loads(capsys.readouterr().out)
            assert state["phase"] == "running" and state["running"] is True
            assert state["local_ip"] == "10.0.2.15" and state["peer_ip"] == "10.64.64.64"  # offered: slirp asked
            assert state["bytes_in"] > 20000 and state["bytes_out"] > 20000
            assert state["packets_in"] > 0 and state["packets_out"] > 0

            assert down_cli.main([]) == 0
            assert up.wait() == ExitStatus.SUCCESS, up.log
            assert "ppp0" not in netns.ip("link")
            assert not (up.run_dir / "ppp0.json").exists()
            assert status_cli.main([]) == ExitStatus.LINK_LOST
        finally:
            up.close()

    from scapy.layers.inet import TCP
    from scapy.layers.ppp import DIR_PPP, PPP, PPP_IPCP, PPP_LCP_Configure
    from scapy.utils import rdpcap

    packets = rdpcap(str(pcap))
    assert packets and all(p.haslayer(DIR_PPP) for p in packets)
    lcp = [p for p in packets if p[PPP].proto == 0xC021]
    assert any(p.haslayer(PPP_LCP_Configure) and p[PPP_LCP_Configure].code == 2 for p in lcp)  # Configure-Ack
    ipcp = [p for p in packets if p.haslayer(PPP_IPCP)]
    assert {p[DIR_PPP].getfieldval("direction") for p in ipcp} == {0, 1}  # both directions
    tcp = [p for p in packets if p.haslayer(TCP) and servers.echo_port in (p[TCP].sport, p[TCP].dport)]
    assert any(p[TCP].flags.S for p in tcp) and any(len(p[TCP].payload) for p in tcp)


def test_default_route_and_usepeerdns_restored_after_sigterm(netns, tmp_path: Path) -> None:
    _need()
    # The namespace already has a default route (on another interface, metric 100).
    netns.ip("tuntap", "add", "mode", "tun", "name", "up0")
    netns.ip("link", "set", "up0", "up")
    netns.ip("route", "add", "default", "dev", "up0", "metric", "100")
    routes_before = netns.ip("-j", "route", "show", "table", "all")
    resolv = tmp_path / "resolv.conf"
    resolv.write_bytes(ORIGINAL_RESOLV)
    with HostServers() as servers, run_sim(tmp_path, "--profile", "a7", "--network", "slirp") as link:
        up = UpProcess(netns, tmp_path, str(link), "--apn", "internet", "--default-route", "--route-metric", "50",
                       "--usepeerdns")
        try:
            log = up.wait_up()
            # The peer's DNS (what IPCP delivered; slirp hands out the host's name server) is in the file.
            dns = re.search(r"IPCP: local 10\.0\.2\.15 peer \S+ dns (\S+)", log)
            assert dns is not None, log
            assert f"nameserver {dns.group(1)}\n".encode() in resolv.read_bytes()
            # 10.0.2.77 is not on ppp0's /32: only the default route can carry it, and ours wins.
            got = json.loads(netns.ip("-j", "route", "get", "10.0.2.77"))[0]
            assert got["dev"] == "ppp0"
            assert echo_roundtrip(netns, "10.0.2.77", servers.echo_port, 3000)
            defaults = json.loads(netns.ip("-j", "route", "show", "default"))
            assert {(r["dev"], r.get("metric", 0)) for r in defaults} == {("up0", 100), ("ppp0", 50)}
            up.signal(signal.SIGTERM)
            assert up.wait() == ExitStatus.SUCCESS, up.log
        finally:
            up.close()
    assert resolv.read_bytes() == ORIGINAL_RESOLV
    assert netns.ip("-j", "route", "show", "table", "all") == routes_before
    assert not (tmp_path / "run" / "ppp0.resolv-backup").exists()


def test_direct_link_to_bare_slirp_and_modem_vanishing(netns, tmp_path: Path) -> None:
    _need()
    resolv = tmp_path / "resolv.conf"
    resolv.write_bytes(ORIGINAL_RESOLV)
    bridge = PtyBridge()
    try:
        with HostServers() as servers:
            up = UpProcess(netns, tmp_path, bridge.path, "--direct", "--usepeerdns", "--lcp-echo", "off",
                             "--default-route")
            try:
                log = up.wait_up()
                assert "--direct" in log and "sending AT" not in log
                assert echo_roundtrip(netns, "10.0.2.2", servers.echo_port, 5000)
                assert resolv.read_bytes() != ORIGINAL_RESOLV
                bridge.cut()  # the serial line disappears under the daemon
                assert up.wait() == ExitStatus.LINK_LOST, up.log
                assert "pppos-up: error: the modem vanished" in up.log and "Traceback" not in up.log
            finally:
                up.close()
    finally:
        bridge.close()
    assert resolv.read_bytes() == ORIGINAL_RESOLV
    assert "ppp0" not in netns.ip("link")


def test_second_sigint_exits_fast_and_still_restores(netns, tmp_path: Path) -> None:
    _need()
    resolv = tmp_path / "resolv.conf"
    resolv.write_bytes(ORIGINAL_RESOLV)
    bridge = PtyBridge()
    try:
        up = UpProcess(netns, tmp_path, bridge.path, "--direct", "--usepeerdns", "--default-route")
        try:
            up.wait_up()
            bridge.paused.set()  # the peer goes silent: LCP Terminate will never be acknowledged
            up.signal(signal.SIGINT)
            wait_for(lambda: "tearing the link down" in up.log, 30, "the first SIGINT to be handled")
            up.signal(signal.SIGINT)
            assert up.wait() == ExitStatus.INTERRUPTED, up.log
            assert "second signal" in up.log
        finally:
            up.close()
    finally:
        bridge.close()
    assert resolv.read_bytes() == ORIGINAL_RESOLV
    assert "ppp0" not in netns.ip("link")
    assert json.loads(netns.ip("-j", "route", "show", "default")) == []
