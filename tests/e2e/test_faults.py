"""Every simulator fault through the real ``pppos-sim`` (``pppos-sim ctl``) and ``pppos-up --persist`` in
a throwaway namespace: the loss is noticed the right way, the recovery ladder reaches the rung the fault
needs, and ppp0 carries a TCP round trip again (to an echo server on the host's 127.0.0.1, reached as
10.0.2.2 through slirp). Also ``--maxfail``, SIGTERM in every phase (routes and resolver byte for byte),
the issue's Done-when sequence, and a real-time soak of mixed faults (``slow``).

Speeds are not asserted here (bench/recovery_bench.py measures them); the tests assert *how* each loss
was noticed (e.g. NO CARRIER rather than LCP echo timeouts), which is what makes it fast.
"""

from __future__ import annotations

import json
import os
import random
import signal
from pathlib import Path

import pytest

from pppos.errors import ExitStatus
from tests.e2e.fault_rig import SOAK_MIX, FaultRig, round_trip
from tests.e2e.harness import HostServers, wait_for
from tests.helpers import need_tool

pytestmark = [pytest.mark.root, pytest.mark.slirp, pytest.mark.slow]

ORIGINAL_RESOLV = b"# the namespace's own resolver file\nnameserver 192.0.2.53\noptions edns0\n"
#: the daemon's options for these tests: short holdoff, prompt LCP echoes (for the faults only an echo
#: can notice: a mute modem, a silent reboot), the peer's DNS (so the resolver changes while up)
UP = ("--holdoff", "0.2", "--holdoff-max", "1", "--lcp-echo", "1,3", "--usepeerdns")


def _need() -> None:
    need_tool("slirp", "gcc", "ip")


@pytest.fixture
def servers():
    with HostServers() as s:
        yield s


def _rig(netns, tmp_path: Path, servers: HostServers, *, sim: tuple[str, ...] = (), up: tuple[str, ...] = ()
         ) -> FaultRig:
    _need()
    (tmp_path / "resolv.conf").write_bytes(ORIGINAL_RESOLV)
    return FaultRig(netns, tmp_path, servers.echo_port, sim_args=("--fast", *sim), up_args=(*UP, *up))


def _host(netns) -> tuple[str, str]:
    """The namespace's routes (every table) and addresses other than ppp0's, for byte-for-byte checks."""
    return netns.ip("-j", "route", "show", "table", "all"), netns.ip("-j", "addr", "show", "dev", "lo")


def _lost_after(rig: FaultRig, t: float, timeout: float = 30) -> dict:
    """The daemon's first record after ``t`` that says the session was lost (a warning)."""
    found: dict | None = None

    def seen() -> bool:
        nonlocal found
        found = rig.first_record_after(t, lambda r: r.get("level") == "warning" or r.get("step") in ("lost", "port"))
        return found is not None

    try:
        wait_for(seen, timeout, "the daemon to notice the fault")
    except AssertionError:
        log = rig.up.log[-4000:] if rig.up else ""
        raise AssertionError(f"not noticed:\n{log}\nsimulator:\n{rig.sim_log.read_text()[-2000:]}") from None
    assert found is not None
    return found


def _finish(rig: FaultRig, tmp_path: Path) -> None:
    """SIGTERM: exit 0, nothing left of ppp0, the resolver as it was."""
    assert rig.up is not None
    rig.up.signal(signal.SIGTERM)
    assert rig.up.wait() == ExitStatus.SUCCESS, rig.up.log
    assert "Traceback" not in rig.up.log
    assert (tmp_path / "resolv.conf").read_bytes() == ORIGINAL_RESOLV
    assert "ppp0" not in rig.ns.ip("link")


def test_carrier_loss_noticed_by_no_carrier_and_redialed(netns, tmp_path: Path, servers) -> None:
    rig = _rig(netns, tmp_path, servers)
    try:
        rig.usable()
        t = rig.fault("carrier")
        lost = _lost_after(rig, t)
        assert "NO CARRIER" in lost["message"], lost
        rig.usable()
        after = rig.up.log if rig.up else ""
        # The call was already gone: no LCP Terminate wait, no +++ to a modem in command mode.
        assert "did not acknowledge LCP Terminate" not in after and "(+++)" not in rig.sim_log.read_text()
        assert rig.state()["reconnects"] >= 1
        _finish(rig, tmp_path)
    finally:
        rig.close()


def test_mute_modem_noticed_by_echo_and_recovered(netns, tmp_path: Path, servers) -> None:
    rig = _rig(netns, tmp_path, servers)
    try:
        rig.usable()
        t = rig.fault("mute", "6")
        lost = _lost_after(rig, t)
        assert "echo" in lost["message"].lower(), lost
        rig.usable(timeout=90)
        _finish(rig, tmp_path)
    finally:
        rig.close()


def test_reboot_with_sim_pin_is_recovered(netns, tmp_path: Path, servers) -> None:
    pin = tmp_path / "pin"
    pin.write_text("2468\n")
    os.chmod(pin, 0o600)
    rig = _rig(netns, tmp_path, servers, sim=("--pin", "2468"), up=("--pin-file", str(pin)))
    try:
        rig.usable()
        t = rig.fault("reboot")
        _lost_after(rig, t)
        rig.usable(timeout=90)
        # the SIM wanted its PIN again and got it
        assert rig.up is not None and rig.up.log.count("SIM") >= 2
        assert "2468" not in rig.up.log
        _finish(rig, tmp_path)
    finally:
        rig.close()


def test_usb_vanish_waits_for_the_port_at_the_same_path(netns, tmp_path: Path, servers) -> None:
    rig = _rig(netns, tmp_path, servers)
    try:
        rig.usable()
        t = rig.fault("vanish", "3")
        lost = _lost_after(rig, t)
        assert "port" in lost["message"] or "vanished" in lost["message"], lost
        rig.wait_phase("port-wait")
        rig.usable(timeout=60)
        assert rig.up is not None and "waiting for the port" in rig.up.log
        _finish(rig, tmp_path)
    finally:
        rig.close()


def test_line_noise_is_counted_and_survived(netns, tmp_path: Path, servers) -> None:
    rig = _rig(netns, tmp_path, servers)
    try:
        rig.usable()
        rig.fault("noise", "0.0002")
        for _ in range(20):  # traffic for the noise to hit (some round trips may fail: that is the point)
            round_trip(netns, servers.echo_port, timeout=1.0)
        rig.fault("noise", "0")
        rig.usable(timeout=90)
        wait_for(lambda: rig.state().get("bad_frames", 0) > 0, 10, "bad frames counted")
        _finish(rig, tmp_path)
    finally:
        rig.close()


def test_peer_terminate_request_ends_the_session_at_once(netns, tmp_path: Path, servers) -> None:
    rig = _rig(netns, tmp_path, servers)
    try:
        rig.usable()
        t = rig.fault("terminate")
        lost = _lost_after(rig, t)
        assert "echo" not in lost["message"].lower(), lost
        rig.usable()
        assert rig.up is not None and "did not acknowledge LCP Terminate" not in rig.up.log
        _finish(rig, tmp_path)
    finally:
        rig.close()


@pytest.mark.parametrize("fault", ["reg-lost", "reg-denied"])
def test_registration_lost_or_denied_midway(netns, tmp_path: Path, servers, fault: str) -> None:
    rig = _rig(netns, tmp_path, servers)
    try:
        rig.usable()
        t = rig.fault(fault, "3")
        lost = _lost_after(rig, t)
        assert "NO CARRIER" in lost["message"], lost
        rig.usable(timeout=90)
        _finish(rig, tmp_path)
    finally:
        rig.close()


def test_pdp_rejections_are_failed_attempts_then_recovered(netns, tmp_path: Path, servers) -> None:
    rig = _rig(netns, tmp_path, servers)
    try:
        rig.usable()
        rig.fault("pdp-reject", "2")
        rig.fault("carrier")
        rig.usable(timeout=90)
        assert rig.state()["reconnects"] >= 1
        assert rig.up is not None and rig.up.log.count("the modem would not dial") == 2, rig.up.log
        _finish(rig, tmp_path)
    finally:
        rig.close()


def test_stuck_modem_needs_the_radio_rung(netns, tmp_path: Path, servers) -> None:
    rig = _rig(netns, tmp_path, servers)
    try:
        rig.usable()
        rig.fault("stuck")
        rig.fault("carrier")
        rig.usable(timeout=120)
        recoveries = rig.state()["recoveries"]
        assert recoveries.get("radio", 0) >= 1, recoveries  # redial and re-attach could not help
        assert rig.up is not None and "recovery: radio off/on" in rig.up.log
        _finish(rig, tmp_path)
    finally:
        rig.close()


def test_maxfail_gives_up_after_n_rejected_dials(netns, tmp_path: Path, servers) -> None:
    rig = _rig(netns, tmp_path, servers, up=("--maxfail", "2"))
    try:
        rig.usable()
        rig.fault("pdp-reject", "50")
        rig.fault("carrier")
        assert rig.up is not None
        status = rig.up.wait(timeout=120)
        assert status not in (ExitStatus.SUCCESS, ExitStatus.ERROR), rig.up.log
        assert "gave up after 2 failed attempts" in rig.up.log, rig.up.log
        assert (tmp_path / "resolv.conf").read_bytes() == ORIGINAL_RESOLV
        assert "ppp0" not in netns.ip("link")
    finally:
        rig.close()


#: phase -> (simulator arguments, how to get the daemon there from a running session)
PHASES: dict[str, tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]] = {
    "running": ((), ()),
    "holdoff": ((), (("carrier",),)),
    "recovery": (("--attach-delay", "30"), (("stuck",), ("carrier",))),
    "port-wait": ((), (("vanish", "60"),)),
    "modem": ((), (("reg-lost", "60"), ("carrier",))),
}


@pytest.mark.parametrize("phase", [*PHASES, "ppp"])
def test_sigterm_in_every_phase_restores_the_host(netns, tmp_path: Path, servers, phase: str) -> None:
    _need()
    netns.ip("tuntap", "add", "mode", "tun", "name", "up0")
    netns.ip("link", "set", "up0", "up")
    netns.ip("route", "add", "default", "dev", "up0", "metric", "100")
    before = _host(netns)
    if phase == "ppp":
        # No network peer answers in data mode: the daemon sits in PPP negotiation.
        sim_args: tuple[str, ...] = ("--network", "none")
        faults: tuple[tuple[str, ...], ...] = ()
    else:
        sim_args, faults = PHASES[phase]
    holdoff = ("--holdoff", "60", "--holdoff-max", "60") if phase == "holdoff" else ()
    rig = _rig(netns, tmp_path, servers, sim=sim_args, up=(*holdoff, "--route-metric", "50"))
    try:
        if phase != "ppp":
            rig.usable()
            assert (tmp_path / "resolv.conf").read_bytes() != ORIGINAL_RESOLV
        for words in faults:
            rig.fault(*words)
        rig.wait_phase(phase, timeout=60)
        _finish(rig, tmp_path)
    finally:
        rig.close()
    assert _host(netns) == before
    assert not (tmp_path / "run" / "ppp0.json").exists()


@pytest.mark.timeout(900)
def test_done_when_slirp_killed_sim_restarted_and_ctl_reboot(netns, tmp_path: Path, servers) -> None:
    """Issue 10's Done-when: ``pppos-sim --profile a7 --link L`` (default latencies) and
    ``pppos-up L --apn internet --persist --default-route`` survive killing slirp, killing and restarting
    the simulator on the same path, and a ``pppos-sim ctl`` reboot, each time with ppp0 usable again and
    no help from outside."""
    _need()
    (tmp_path / "resolv.conf").write_bytes(ORIGINAL_RESOLV)
    link = tmp_path / "a7"
    rig = FaultRig(netns, tmp_path, servers.echo_port, sim_args=(), link=link, start_up=False)
    from tests.e2e.harness import UpProcess

    rig.up = UpProcess(netns, tmp_path, str(link), "--apn", "internet", "--persist", "--default-route",
                       "--log-format", "json")
    try:
        rig.usable(timeout=90)
        rig.kill_slirp()
        rig.usable(timeout=90)
        rig.kill_sim(signal.SIGKILL)
        rig.start_sim()
        rig.usable(timeout=120)
        rig.fault("reboot")
        rig.usable(timeout=300)
        assert rig.state()["reconnects"] >= 3
        _finish(rig, tmp_path)
    finally:
        rig.close()


SOAK_FAULTS = 100


def _tasks(rig: FaultRig) -> int | None:
    value = rig.state().get("tasks")
    return int(value) if value is not None else None


@pytest.mark.timeout(900)
def test_soak_mixed_faults_in_real_time(netns, tmp_path: Path, servers) -> None:
    """At least 100 mixed faults, each recovered (a round trip through ppp0 after each), with the
    simulator's latencies shortened; afterwards the daemon's fds, children and asyncio tasks are what
    they were after the first up."""
    rig = _rig(netns, tmp_path, servers, up=("--holdoff", "0.05", "--holdoff-max", "0.2"))
    rng = random.Random(10)
    kinds = [words for weight, words in SOAK_MIX for _ in range(weight)]
    try:
        rig.usable()
        rig.settled()
        fds, children, tasks = rig.fd_count(), rig.children(), _tasks(rig)
        counts: dict[str, int] = {}
        for n in range(SOAK_FAULTS):
            words = rng.choice(kinds)
            counts[words[0]] = counts.get(words[0], 0) + 1
            if words[0] == "pdp-reject":
                rig.fault(*words)
                rig.fault("carrier")
            elif words[0] == "kill-slirp":
                rig.kill_slirp()
            else:
                rig.fault(*words)
            try:
                rig.usable(timeout=60)
            except AssertionError as exc:
                raise AssertionError(f"fault {n + 1} ({' '.join(words)}) not recovered: {exc}") from None
        rig.settled()
        state = rig.state()
        assert state["reconnects"] >= SOAK_FAULTS, (state["reconnects"], counts)
        assert rig.fd_count() == fds
        assert rig.children() == children
        if tasks is not None:
            assert _tasks(rig) == tasks
        else:
            pytest.fail("the state file has no asyncio task count ('tasks')")
        _finish(rig, tmp_path)
    finally:
        rig.close()
    assert json.loads(netns.ip("-j", "route", "show", "default")) == []
