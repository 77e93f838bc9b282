"""pppos-up as a service, through the simulator and slirp in a namespace: systemd's NOTIFY_SOCKET gets
READY=1 only once ppp0 is up and STATUS= lines after; ip-up/ip-down hooks see pppd's variables; a named
peer (--call); byte totals per SIM survive a restart; the metrics file; the data cap stops the link, and
with --persist holds it down without dialling until the period rolls over (moved with the accounting's
test hook, $PPPOS_TEST_CLOCK_SHIFT), then dials again by itself."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import time
from pathlib import Path

import pytest

from pppos.errors import ExitStatus
from tests.e2e.harness import HostServers, UpProcess, echo_roundtrip
from tests.helpers import need_tool
from tests.sim_helpers import run_sim

pytestmark = [pytest.mark.root, pytest.mark.slirp, pytest.mark.slow]

ICCID = "89860012345678901234"  # the simulator's SIM
RECORD = """#!/bin/sh
env > "{out}/{kind}-$PPPOS_SESSION.env"
echo "$@" > "{out}/{kind}-$PPPOS_SESSION.args"
"""


def _hooks(tmp_path: Path) -> Path:
    base = tmp_path / "etc-pppos"
    for kind in ("ip-up", "ip-down"):
        d = base / f"{kind}.d"
        d.mkdir(parents=True)
        (d / "10-record").write_text(RECORD.format(out=tmp_path, kind=kind))
        (d / "10-record").chmod(0o755)
        (d / "20-fails").write_text("#!/bin/sh\nexit 7\n")
        (d / "20-fails").chmod(0o755)
    return base


def _env_file(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def _wait(predicate, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_notify_hooks_peer_accounting_metrics(netns, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    need_tool("slirp", "gcc", "ip")
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify"))
    notify.settimeout(0.2)
    peers = tmp_path / "peers"
    peers.mkdir()
    metrics = tmp_path / "pppos.prom"
    (peers / "lte.conf").write_text(f"[pppos]\napn = internet\ndefault-route = yes\nmetrics-file = {metrics}\n")
    monkeypatch.setenv("PPPOS_PEERS_DIR", str(peers))
    monkeypatch.setenv("PPPOS_HOOK_DIR", str(_hooks(tmp_path)))
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify"))
    monkeypatch.setenv("WATCHDOG_USEC", "2000000")
    with HostServers() as servers, run_sim(tmp_path, "--profile", "a7", "--network", "slirp") as link:
        up = UpProcess(netns, tmp_path, str(link), "--call", "lte")
        seen: list[tuple[str, bool]] = []  # (message, ppp0 had its address when it arrived)
        try:
            def ready() -> bool:
                try:
                    msg = notify.recv(4096).decode()
                except TimeoutError:
                    assert up.proc.poll() is None, up.log
                    return False
                seen.append((msg, "10.0.2.15" in netns.ip("-4", "addr", "show", "dev", "ppp0")))
                return "READY=1" in msg

            assert _wait(ready, 90), (seen, up.log)
            first_ready = next(i for i, (m, _) in enumerate(seen) if "READY=1" in m)
            assert seen[first_ready][1], "READY=1 before ppp0 had its address"
            assert all("READY=1" not in m for m, _ in seen[:first_ready])
            assert any(m.startswith("STATUS=") for m, _ in seen[:first_ready])  # bring-up in words
            assert echo_roundtrip(netns, "10.0.2.2", servers.echo_port, 50000)
            later: list[str] = []

            def status_and_ping() -> bool:
                with contextlib.suppress(TimeoutError):
                    later.append(notify.recv(4096).decode())
                return any(m.startswith("STATUS=ppp0 up") for m in later) and "WATCHDOG=1" in later

            assert _wait(status_and_ping), later
            # ip-up ran with pppd's variables and arguments; the failing hook did not stop anything.
            assert _wait((tmp_path / "ip-up-1.env").exists)
            env = _env_file(tmp_path / "ip-up-1.env")
            assert env["IFNAME"] == "ppp0" and env["IPLOCAL"] == "10.0.2.15" and env["LINKNAME"] == "lte"
            assert env["DEVICE"] == str(link) and env["SPEED"] == "115200" and env["PPPOS_SESSION"] == "1"
            assert env["IPREMOTE"] and env["PPPOS_PID"] == str(up.proc.pid) and "PPPOS_PIN" not in env
            args = (tmp_path / "ip-up-1.args").read_text().split()
            assert args == ["ppp0", str(link), "115200", "10.0.2.15", env["IPREMOTE"], "lte"]
            assert "ip-up hook 20-fails exited with status 7" in up.log and up.proc.poll() is None
            # The metrics file and pppos-status show the link and this SIM's bytes.
            assert _wait(lambda: metrics.exists() and 'pppos_up{ifname="ppp0"} 1' in metrics.read_text())
            status = up.run_cli("status")
            assert status.returncode == 0 and "data (SIM ...1234): today" in status.stdout, status.stdout
            down = up.run_cli("down", "lte")  # the named peer's interface
            assert down.returncode == 0, down.stderr
            assert up.wait() == 0
        finally:
            up.close()
        assert (tmp_path / "ip-down-1.env").exists()
        rest = []
        with contextlib.suppress(TimeoutError):
            while True:
                rest.append(notify.recv(4096).decode())
        assert any(m.startswith("STOPPING=1") for m in rest), rest
        record = Path(os.environ["PPPOS_STATE_DIR"]) / "accounting" / f"{ICCID}.json"
        first = json.loads(record.read_text())["total"]
        assert first[0] >= 50000 and first[1] >= 50000, first
        # A second run of pppos-up adds to the same SIM's totals.
        up = UpProcess(netns, tmp_path, str(link), "--call", "lte")  # nobody reads the notify socket now
        try:
            up.wait_up()
            assert echo_roundtrip(netns, "10.0.2.2", servers.echo_port, 30000)
            assert up.run_cli("down").returncode == 0
            assert up.wait() == 0
        finally:
            up.close()
        second = json.loads(record.read_text())["total"]
        assert second[0] >= first[0] + 30000 and second[1] >= first[1] + 30000, (first, second)
    notify.close()


def test_data_cap_stops_the_link_and_the_next_start(netns, tmp_path: Path) -> None:
    need_tool("slirp", "gcc", "ip")
    with HostServers() as servers, run_sim(tmp_path, "--profile", "a7", "--network", "slirp") as link:
        up = UpProcess(netns, tmp_path, str(link), "--apn", "internet", "--default-route", "--data-cap", "100k/day")
        try:
            up.wait_up()
            for _ in range(3):
                if up.proc.poll() is not None:
                    break
                try:
                    echo_roundtrip(netns, "10.0.2.2", servers.echo_port, 40000)
                except OSError:
                    break
            assert up.wait(timeout=30) == ExitStatus.DATA_CAP, up.log
            assert "data cap reached" in up.log.strip().splitlines()[-1]
            assert "ppp0" not in netns.ip("link")
        finally:
            up.close()
        again = UpProcess(netns, tmp_path, str(link), "--apn", "internet", "--data-cap", "100k/day")
        try:
            assert again.wait(timeout=60) == ExitStatus.DATA_CAP, again.log
            # checked before the port is opened (the SIM last seen on ppp0): nothing dialled
            assert "dialling" not in again.log and "data cap reached" in again.log, again.log
        finally:
            again.close()


def _dials(log: str) -> int:
    return log.count("dialling ATD")


def test_data_cap_with_persist_holds_until_the_period_rolls_over(netns, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    need_tool("slirp", "gcc", "ip")
    from pppos.accounting import CLOCK_SHIFT_ENV

    shift = tmp_path / "clock-shift"  # seconds the accounting's clock runs ahead: moves the day boundary
    monkeypatch.setenv(CLOCK_SHIFT_ENV, str(shift))
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify"))
    notify.setblocking(False)
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify"))
    grams: list[str] = []

    def notified() -> list[str]:
        with contextlib.suppress(BlockingIOError):
            while True:
                grams.append(notify.recv(4096).decode())
        return grams

    resolv = tmp_path / "resolv.conf"
    resolv.write_bytes(b"nameserver 192.0.2.53\n")
    with HostServers() as servers, run_sim(tmp_path, "--profile", "a7", "--network", "slirp") as link:
        args = ("--apn", "internet", "--default-route", "--usepeerdns", "--data-cap", "100k/day")
        up = UpProcess(netns, tmp_path, str(link), *args, "--persist", "--holdoff", "0.2")
        try:
            up.wait_up()
            assert "default dev ppp0" in netns.ip("route")
            for _ in range(3):
                try:
                    echo_roundtrip(netns, "10.0.2.2", servers.echo_port, 40000)
                except OSError:
                    break
            # at 100 %: the session ends (routes and DNS gone), the process stays, holding
            assert _wait(lambda: "holding until" in up.log, 30), up.log
            assert up.proc.poll() is None, up.log
            # as on any down under --persist: our routes gone, ppp0 kept with its carrier down
            assert _wait(lambda: "default" not in netns.ip("route")), netns.ip("route")
            assert "linkdown" in netns.ip("route", "show", "dev", "ppp0")
            assert resolv.read_bytes() == b"nameserver 192.0.2.53\n"
            status = up.run_cli("status")
            assert "phase: cap-hold" in status.stdout, status.stdout
            assert "supervisor: data cap reached (" in status.stdout and "): holding until " in status.stdout
            assert "UTC" in status.stdout
            # systemd: the service is up while holding, its Status says why ppp0 is not
            assert _wait(lambda: any(g.startswith("READY=1\nSTATUS=data cap reached (") and "holding until" in g
                                     for g in notified())), grams
            dials = _dials(up.log)
            assert dials == 1, up.log
            for _ in range(3):  # re-checks (a refresh asks the accounting again): still used up, no dial
                up.signal(signal.SIGUSR1)
                time.sleep(0.3)
            assert _dials(up.log) == dials and up.log.count("holding until") == 1, up.log
            assert up.proc.poll() is None
            # the day rolls over: it dials again by itself and ppp0 carries traffic
            shift.write_text("86400\n")
            up.signal(signal.SIGUSR1)
            assert _wait(lambda: up.log.count(" up in ") == 2, 60), up.log
            assert "the data cap's period is over: dialling again" in up.log
            assert _dials(up.log) == dials + 1
            assert echo_roundtrip(netns, "10.0.2.2", servers.echo_port, 10000)
            up.signal(signal.SIGTERM)
            assert up.wait() == 0, up.log
        finally:
            up.close()
        assert "ppp0" not in netns.ip("link")
        shift.write_text("0\n")  # back on the day whose cap is used up
        # a start while used up, without --persist: one line, exit 15, the modem never touched
        once = UpProcess(netns, tmp_path, str(link), *args)
        try:
            assert once.wait(timeout=30) == ExitStatus.DATA_CAP, once.log
            assert _dials(once.log) == 0 and "AT" not in once.log, once.log
            assert once.log.strip().splitlines()[-1].startswith("pppos-up: error: data cap reached ("), once.log
        finally:
            once.close()
        # a SIM not seen on ppp0 before (its record used up): the bring-up identifies it before the dial
        (Path(os.environ["PPPOS_STATE_DIR"]) / "accounting" / "last-sim.ppp0").unlink()
        fresh = UpProcess(netns, tmp_path, str(link), *args)
        try:
            assert fresh.wait(timeout=60) == ExitStatus.DATA_CAP, fresh.log
            assert _dials(fresh.log) == 0 and "SIM ready" in fresh.log, fresh.log
        finally:
            fresh.close()
        # ... and with --persist: straight to the hold; SIGTERM during it stops cleanly
        held = UpProcess(netns, tmp_path, str(link), *args, "--persist")
        try:
            assert _wait(lambda: "holding until" in held.log, 30), held.log
            status = held.run_cli("status")
            assert "holding until" in status.stdout, status.stdout
            assert _dials(held.log) == 0, held.log
            held.signal(signal.SIGTERM)
            assert held.wait() == 0, held.log
        finally:
            held.close()
        assert "ppp0" not in netns.ip("link")
        assert resolv.read_bytes() == b"nameserver 192.0.2.53\n"
    notify.close()
