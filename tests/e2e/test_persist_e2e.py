"""``pppos-up --persist`` end to end: lost calls are noticed at once and recovered, the port is waited
for, ``--maxfail`` is respected and a SIGTERM during the holdoff leaves the host exactly as before.

Simulated A7 + slirp on the host, ``pppos-up`` in a throwaway namespace; only servers on the host's
127.0.0.1 are reached (slirp's 10.0.2.2 alias). Fault injection beyond killing processes (the
simulator's control channel) is tested with the simulator.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from pppos.errors import ExitStatus
from tests.e2e.harness import HostServers, UpProcess, echo_roundtrip, wait_for
from tests.helpers import need_tool
from tests.sim_helpers import run_sim, start_sim, stop_sim

pytestmark = [pytest.mark.root, pytest.mark.slirp, pytest.mark.slow]

ORIGINAL_RESOLV = b"# the namespace's own resolver file\nnameserver 192.0.2.53\noptions edns0\n"


def _need() -> None:
    need_tool("slirp", "gcc", "ip")


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def _kill_slirp(sim_pid: int) -> None:
    """Kill the simulator's slirp (the network peer of the call): the simulator sends NO CARRIER."""
    killed = 0
    for child in _children(sim_pid):
        try:
            comm = Path(f"/proc/{child}/comm").read_text().strip()
        except OSError:
            continue
        if "slirp" in comm:
            os.kill(child, signal.SIGKILL)
            killed += 1
    assert killed, "no slirp under the simulator"


def _wait(up: UpProcess, predicate: object, timeout: float, what: str) -> None:
    try:
        wait_for(predicate, timeout, what)
    except AssertionError:
        raise AssertionError(f"timed out waiting for {what}:\n{up.log}") from None


def _ups(log: str) -> int:
    return log.count(" up in ")


def _host_state(netns) -> tuple[str, str]:
    return netns.ip("-j", "route", "show", "table", "all"), netns.ip("-j", "addr", "show")


def test_slirp_killed_mid_call_is_noticed_by_no_carrier_and_redialed(netns, tmp_path: Path) -> None:
    _need()
    resolv = tmp_path / "resolv.conf"
    resolv.write_bytes(ORIGINAL_RESOLV)
    with HostServers() as servers:
        proc, link, _ = start_sim(tmp_path, "--profile", "a7", "--network", "slirp")
        up = UpProcess(netns, tmp_path, str(link), "--apn", "internet", "--default-route", "--usepeerdns",
                       "--persist", "--holdoff", "0.2", "--lcp-echo", "30,4")
        try:
            up.wait_up()
            assert echo_roundtrip(netns, "10.0.2.2", servers.echo_port, 3000)
            ifindex = json.loads(netns.ip("-j", "link", "show", "ppp0"))[0]["ifindex"]
            for n in (2, 3):
                _kill_slirp(proc.pid)
                _wait(up, lambda n=n: _ups(up.log) >= n, 60, f"up number {n}")
                log = up.log
                assert "the modem reported NO CARRIER" in log, log
                # The call was already gone: no LCP Terminate wait, no +++ to a modem in command mode.
                assert "did not acknowledge LCP Terminate" not in log and "leaving data mode" not in log
                assert echo_roundtrip(netns, "10.0.2.2", servers.echo_port, 3000)
            # ppp0 was kept between sessions (same interface, so bound sockets survive)
            assert json.loads(netns.ip("-j", "link", "show", "ppp0"))[0]["ifindex"] == ifindex
            up.signal(signal.SIGTERM)
            assert up.wait() == ExitStatus.SUCCESS, up.log
            assert "Traceback" not in up.log
        finally:
            up.close()
            stop_sim(proc)
    assert resolv.read_bytes() == ORIGINAL_RESOLV
    assert "ppp0" not in netns.ip("link")
    assert json.loads(netns.ip("-j", "route", "show", "default")) == []


def test_simulator_restarted_on_the_same_path_is_waited_for(netns, tmp_path: Path) -> None:
    _need()
    with HostServers() as servers:
        proc, link, _ = start_sim(tmp_path, "--profile", "a7", "--network", "slirp")
        up = UpProcess(netns, tmp_path, str(link), "--apn", "internet", "--default-route", "--persist",
                       "--holdoff", "0.2")
        try:
            up.wait_up()
            proc.kill()  # the USB modem vanishes (the pty goes away under the daemon)
            proc.wait()
            _wait(up, lambda: "waiting for the port" in up.log, 30, "the port wait")
            assert up.proc.poll() is None
            proc, link2, _ = start_sim(tmp_path, "--profile", "a7", "--network", "slirp")
            assert link2 == link
            _wait(up, lambda: _ups(up.log) >= 2, 60, "the second up")
            assert echo_roundtrip(netns, "10.0.2.2", servers.echo_port, 3000)
            assert "the modem vanished" in up.log
            up.signal(signal.SIGTERM)
            assert up.wait() == ExitStatus.SUCCESS, up.log
        finally:
            up.close()
            stop_sim(proc)
    assert "ppp0" not in netns.ip("link")


def test_sigterm_during_holdoff_restores_the_host_exactly(netns, tmp_path: Path) -> None:
    _need()
    netns.ip("tuntap", "add", "mode", "tun", "name", "up0")
    netns.ip("link", "set", "up0", "up")
    netns.ip("route", "add", "default", "dev", "up0", "metric", "100")
    before = _host_state(netns)
    resolv = tmp_path / "resolv.conf"
    resolv.write_bytes(ORIGINAL_RESOLV)
    proc, link, _ = start_sim(tmp_path, "--profile", "a7", "--network", "slirp")
    try:
        up = UpProcess(netns, tmp_path, str(link), "--apn", "internet", "--default-route", "--route-metric", "50",
                       "--usepeerdns", "--persist", "--holdoff", "60", "--holdoff-max", "60")
        try:
            up.wait_up()
            assert resolv.read_bytes() != ORIGINAL_RESOLV
            _kill_slirp(proc.pid)
            _wait(up, lambda: "holdoff" in up.log, 30, "the holdoff")
            # while down: our route and the resolver change are gone, ppp0 stays
            _wait(up, lambda: resolv.read_bytes() == ORIGINAL_RESOLV, 10, "the resolver restored while down")
            defaults = json.loads(netns.ip("-j", "route", "show", "default"))
            assert [(r["dev"], r.get("metric", 0)) for r in defaults] == [("up0", 100)]
            assert "ppp0" in netns.ip("link")
            status = json.loads((up.run_dir / "ppp0.json").read_text())
            assert status["phase"] == "holdoff" and "next: redial" in status["supervisor"]
            up.signal(signal.SIGTERM)
            assert up.wait() == ExitStatus.SUCCESS, up.log
        finally:
            up.close()
    finally:
        stop_sim(proc)
    assert resolv.read_bytes() == ORIGINAL_RESOLV
    assert _host_state(netns) == before
    assert not (tmp_path / "run" / "ppp0.json").exists()


def test_maxfail_gives_up_with_the_last_verdict(netns, tmp_path: Path) -> None:
    _need()
    with run_sim(tmp_path, "--profile", "a7", "--registration", "denied") as link:
        up = UpProcess(netns, tmp_path, str(link), "--apn", "internet", "--persist", "--maxfail", "2",
                       "--holdoff", "0.1")
        try:
            assert up.wait(timeout=120) == ExitStatus.NETWORK, up.log
            log = up.log
            assert "gave up after 2 failed attempts" in log and "registration was denied" in log, log
            assert "recovery: detach/re-attach" in log
        finally:
            up.close()
    assert "ppp0" not in netns.ip("link")


def _ctl(link: Path, *fault: str) -> None:
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "pppos.cli.sim", "ctl", "--link", str(link), *fault],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr


def test_peer_terminate_and_modem_reboot_are_recovered(netns, tmp_path: Path) -> None:
    _need()
    with HostServers() as servers:
        proc, link, _ = start_sim(tmp_path, "--profile", "a7", "--network", "slirp", "--fast")
        up = UpProcess(netns, tmp_path, str(link), "--apn", "internet", "--default-route", "--persist",
                       "--holdoff", "0.2")
        try:
            up.wait_up()
            _ctl(link, "terminate")  # the network peer sends LCP Terminate-Request
            _wait(up, lambda: _ups(up.log) >= 2, 60, "the up after the peer's Terminate-Request")
            assert "peer terminated the link" in up.log
            # our Ack was the end of it: no wait for a Terminate-Ack that the peer never owes us
            assert "did not acknowledge LCP Terminate" not in up.log
            # and the modem's NO CARRIER right after it spared the guarded +++ hang-up
            assert "leaving data mode" not in up.log
            assert echo_roundtrip(netns, "10.0.2.2", servers.echo_port, 3000)
            _ctl(link, "reboot")  # the modem restarts: the call drops, boot URCs, SIM again
            _wait(up, lambda: _ups(up.log) >= 3, 90, "the up after the modem's reboot")
            assert echo_roundtrip(netns, "10.0.2.2", servers.echo_port, 3000)
            up.signal(signal.SIGTERM)
            assert up.wait() == ExitStatus.SUCCESS, up.log
            assert "Traceback" not in up.log
        finally:
            up.close()
            stop_sim(proc)
    assert "ppp0" not in netns.ip("link")
