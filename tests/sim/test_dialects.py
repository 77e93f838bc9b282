"""The simulator speaks the wild dialects (issue 12): boot URCs per profile, URC noise between an echo
and its answer, LTE registration forms, the operator's MCC/MNC, a network that rejects a wrong APN,
and slirp requiring PAP/CHAP from the command line. The host's bring-up is run against each."""

from __future__ import annotations

import contextlib
import os
import select
import time
from pathlib import Path

import pytest

from pppos.at.bringup import Bringup, BringupConfig, DataMode, ModemInfo, Verdict, VerdictCode
from pppos.at.engine import AtEngine, CommandDone, Urc
from pppos.at.parse import parse_registration_line
from pppos.at.profiles import PROFILES
from pppos.sim.modem import SimConfig, SimModem
from tests.sim_helpers import need_slirp, run_sim

T0 = 100.0


def converse(plan: Bringup, modem: SimModem, now: float = T0, limit: float = 120.0) -> list[object]:
    """Run a host plan against the sans-I/O simulator on one float clock until the plan's verdict
    (the clock's value then is in ``modem.verdict_at`` for the tests that time it)."""
    events: list[object] = []
    plan.start(now)
    modem.power_on(now)
    while now < T0 + limit:
        moved = True
        while moved:
            moved = False
            out = plan.data_to_send()
            if out:
                modem.receive_data(out, now)
                moved = True
            back = modem.data_to_send()
            if back:
                plan.receive_data(back, now)
                moved = True
            while (event := plan.next_event()) is not None:
                events.append(event)
                if isinstance(event, Verdict):
                    modem.verdict_at = now  # type: ignore[attr-defined]
                    return events
        timers = [t for t in (plan.get_timer(), modem.get_timer()) if t is not None]
        if not timers:
            break
        now = max(now, min(timers))
        modem.handle_timer(now)
        plan.handle_timer(now)
    raise AssertionError(f"no verdict: {events[-5:]}")


def info(events: list[object]) -> ModemInfo:
    return [e for e in events if isinstance(e, ModemInfo)][-1]


def verdict(events: list[object]) -> Verdict:
    return [e for e in events if isinstance(e, Verdict)][-1]


@pytest.mark.parametrize(
    ("profile", "urcs"),
    [
        ("sim800", ["RDY", "+CFUN: 1", "+CPIN: READY", "Call Ready", "SMS Ready"]),
        ("sim7600", ["*ATREADY: 1", "+CPIN: READY", "SMS DONE", "PB DONE"]),
        ("quectel", ["RDY", "+CFUN: 1", "+CPIN: READY", "+QUSIM: 1", "+QIND: SMS DONE", "+QIND: PB DONE"]),
    ],
)
def test_boot_urcs_per_profile(profile: str, urcs: list[str]) -> None:
    modem = SimModem(SimConfig(profile=profile))
    modem.power_on(0.0)
    modem.handle_timer(1.0)
    engine = AtEngine()
    engine.receive_data(modem.data_to_send(), 1.0)
    seen = []
    while (event := engine.next_event()) is not None:
        assert isinstance(event, Urc)
        seen.append(event.line)
    assert seen[: len(urcs)] == urcs


@pytest.mark.parametrize("profile", list(PROFILES))
def test_bringup_through_heavy_urc_noise_reads_the_right_answers(profile: str) -> None:
    """``--urc-noise``: real URCs before answers never become answers (IMEI, model, signal, SIM)."""
    modem = SimModem(SimConfig(profile=profile, urc_noise=8.0, noise_seed=3, registration_delay=0.5))
    events = converse(Bringup(BringupConfig(dial=False, apn="internet")), modem)
    assert verdict(events).code is VerdictCode.READY, verdict(events).message
    got = info(events)
    p = PROFILES[profile]
    assert got.profile == profile
    assert got.model == p.model and got.imei == "***********9012"
    assert got.rssi == 24 and got.sim == "ready"
    assert modem._noise_rng is not None


def test_noise_lands_between_an_echo_and_its_answer() -> None:
    modem = SimModem(SimConfig(profile="sim7600", urc_noise=10.0, noise_seed=1))  # probability 1 per answer
    modem.power_on(0.0)
    modem.handle_timer(0.5)
    modem.data_to_send()
    modem.receive_data(b"AT+CGSN\r", 0.5)
    out = modem.data_to_send().decode()
    echo, rest = out.split("\r", 1)
    assert echo == "AT+CGSN"
    urc, answer = rest.strip().split("\r\n\r\n")[0], rest.strip().split("\r\n\r\n")[1]
    assert urc in {u.format(csq=24) for u in PROFILES["sim7600"].noise_urcs}
    assert answer == "866123456789012"
    engine = AtEngine()
    engine.send_command("AT+CGSN", 0.5)
    engine.receive_data(out.encode(), 0.5)
    events = [engine.next_event(), engine.next_event()]
    assert Urc(line=urc) in events and CommandDone(command="AT+CGSN", lines=("866123456789012",)) in events


def test_noise_is_seeded() -> None:
    def run(seed: int) -> bytes:
        modem = SimModem(SimConfig(profile="a7", urc_noise=20.0, noise_seed=seed))
        modem.power_on(0.0)
        for step in range(1, 40):
            modem.handle_timer(step * 0.05)
        return modem.data_to_send()

    assert run(5) == run(5) and run(5) != run(6)
    assert run(5).count(b"\r\n+CIEV") + run(5).count(b"+CTZV") + run(5).count(b"^CINIT") > 5


def test_lte_registration_forms_have_five_fields_and_urcs_four() -> None:
    modem = SimModem(SimConfig(profile="sim7600", registration_delay=0.5))
    modem.power_on(0.0)
    modem.receive_data(b"ATE0\rAT+CEREG=2\r", 0.1)
    modem.handle_timer(1.0)
    text = modem.data_to_send().decode()
    urc = next(line for line in text.split("\r\n") if line.startswith("+CEREG:"))
    report = parse_registration_line(urc)
    assert report is not None and not report.solicited and report.stat == 1 and report.act == 7
    modem.receive_data(b"AT+CEREG?\r", 1.1)
    answer = next(line for line in modem.data_to_send().decode().split("\r\n") if line.startswith("+CEREG:"))
    assert answer == '+CEREG: 2,1,"1A2B","01C3D4E5",7'
    modem.receive_data(b"AT+COPS=3,2;+COPS?\r", 1.2)
    assert '+COPS: 0,2,"00101",7' in modem.data_to_send().decode()


def test_bringup_reports_technology_area_cell_and_mcc_mnc_from_the_simulator() -> None:
    modem = SimModem(SimConfig(profile="sim7600", registration_delay=1.5))
    events = converse(Bringup(BringupConfig(dial=False)), modem)
    assert verdict(events).code is VerdictCode.READY
    got = info(events)
    assert (got.technology, got.area, got.cell) == ("LTE", "1A2B", "1C3D4E5")
    assert (got.operator, got.mcc, got.mnc) == ("PPPOS SIM", "001", "01")


def test_registration_urc_ends_the_bringup_wait_not_a_poll() -> None:
    """Issue 10: the simulator registers 3.3 s after boot; the plan goes on at that instant."""
    modem = SimModem(SimConfig(profile="quectel", registration_delay=3.3, attach_delay=0.2))
    events = converse(Bringup(BringupConfig(dial=False, registration_fallback_poll=5.0)), modem)
    assert verdict(events).code is VerdictCode.READY
    # registered at T0 + 3.3, attached 0.2 s later; a 1 s poll would have noticed only at T0 + 4
    assert modem.verdict_at == pytest.approx(T0 + 3.5, abs=0.05)  # type: ignore[attr-defined]


def test_wrong_apn_is_rejected_by_the_network() -> None:
    modem = SimModem(SimConfig(profile="a7", accept_apns=("internet",), registration_delay=0.2))
    events = converse(Bringup(BringupConfig(dial=True, apn="wrong.apn")), modem)
    v = verdict(events)
    assert v.code is VerdictCode.DIAL_FAILED and "missing or unknown APN" in v.message
    modem = SimModem(SimConfig(profile="a7", accept_apns=("internet",), registration_delay=0.2))
    events = converse(Bringup(BringupConfig(dial=True, apn="Internet")), modem)
    assert verdict(events).code is VerdictCode.CONNECTED and any(isinstance(e, DataMode) for e in events)


# --------------------------------------------------------------------------- the command line


def test_bad_auth_and_noise_options_are_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pppos.cli.sim import main

    secret = tmp_path / "secret"
    secret.write_text("wonderland\n")
    secret.chmod(0o644)
    cases = [
        (["--pap", "alice"], "USER:SECRET_FILE"),
        (["--chap", f"alice:{secret}"], "readable by others"),
        (["--pap", "alice:/nonexistent/typed-the-secret-here"], "path not shown"),
        (["--urc-noise", "nan"], "--urc-noise"),
        (["--urc-noise", "-1"], "--urc-noise"),
    ]
    for argv, text in cases:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and text in err, err
        assert "typed-the-secret-here" not in err
    assert main(["--pap", f"alice:{secret}", "--chap", f"alice:{secret}"]) == 2
    capsys.readouterr()


def _pump_link(fd: int, link: object, until: object, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        out = link.data_to_send()  # type: ignore[attr-defined]
        if out:
            os.write(fd, out)
        deadline = link.get_timer()  # type: ignore[attr-defined]
        now = time.monotonic()
        wait = 0.02 if deadline is None else max(0.0, min(0.02, deadline - now))
        if select.select([fd], [], [], wait)[0]:
            with contextlib.suppress(BlockingIOError):
                link.receive_data(os.read(fd, 65536), time.monotonic())  # type: ignore[attr-defined]
        now = time.monotonic()
        if deadline is not None and now >= deadline:
            link.handle_timer(now)  # type: ignore[attr-defined]
        if until():  # type: ignore[operator]
            return True
    return False


@pytest.mark.slirp
@pytest.mark.slow
@pytest.mark.parametrize(("protocol", "password"), [("pap", "wonderland"), ("chap", "wonderland"), ("pap", "nope")])
def test_sim_with_auth_makes_slirp_require_it(tmp_path: Path, protocol: str, password: str) -> None:
    """``pppos-sim --pap USER:FILE`` / ``--chap``: slirp authenticates the host, and after the right
    secret traffic flows (an ICMP echo through slirp to its host alias)."""
    need_slirp()
    from scapy.layers.inet import ICMP, IP

    from pppos.ppp.link import AuthResult, LinkConfig, LinkDown, PacketReceived, PppLink
    from pppos.serial_port import open_port, run_blocking

    secret = tmp_path / "secret"
    secret.write_text("wonderland\n")
    secret.chmod(0o600)
    with run_sim(tmp_path, "--profile", "sim7600", "--apn", "internet", f"--{protocol}", f"alice:{secret}") as link:
        port = open_port(str(link), 115200)
        try:
            plan = Bringup(BringupConfig(dial=True, apn="internet"))
            plan.start(time.monotonic())
            first = run_blocking(port, plan, until=lambda e: isinstance(e, Verdict), deadline=time.monotonic() + 60)
            assert isinstance(first, Verdict) and first.code is VerdictCode.CONNECTED, first
            fd = port.fileno()
            ppp = PppLink(LinkConfig(username="alice", password=password, ipv6=False, seed=4))
            ppp.open(time.monotonic())
            ppp.receive_data(plan.take_data(), time.monotonic())
            events: list[object] = []

            def settled() -> bool:
                while (event := ppp.next_event()) is not None:
                    events.append(event)
                return ppp.is_up or any(isinstance(e, LinkDown) for e in events)

            assert _pump_link(fd, ppp, settled, 20.0), events
            (result,) = [e for e in events if isinstance(e, AuthResult)]
            assert result.protocol == protocol
            if password != "wonderland":
                assert not result.ok and not ppp.is_up
                return
            assert result.ok and ppp.is_up
            ppp.send_ip(bytes(IP(src="10.0.2.15", dst="10.0.2.2") / ICMP(id=0x77, seq=1)), time.monotonic())

            def echoed() -> bool:
                settled()
                return any(
                    isinstance(e, PacketReceived) and IP(e.packet).haslayer(ICMP) and IP(e.packet)[ICMP].type == 0
                    for e in events
                )

            assert _pump_link(fd, ppp, echoed, 10.0), events
        finally:
            port.close()


def test_5g_modem_registers_through_c5greg() -> None:
    """The RM500Q dialect: AT+C5GREG=2 reports TAC, NR cell id and AcT 11; the host names it 5G NR."""
    modem = SimModem(SimConfig(profile="quectel5g", registration_delay=0.8))
    events = converse(Bringup(BringupConfig(dial=False)), modem)
    assert verdict(events).code is VerdictCode.READY
    got = info(events)
    assert got.profile == "quectel5g" and ("C5GREG", "home") in got.registration
    assert (got.technology, got.area, got.cell) == ("5G NR", "01A2B3", "C3D4E5F")
    assert got.network_text == "PPPOS SIM (001/01), 5G NR, TAC 01A2B3, cell C3D4E5F"


def test_generic_gsm_only_modem_skips_the_domains_it_lacks() -> None:
    """generic asks CEREG and C5GREG too; a modem answering ERROR to them still registers."""
    modem = SimModem(SimConfig(profile="sim800", registration_delay=0.3))
    events = converse(Bringup(BringupConfig(dial=False, profile="generic")), modem)
    assert verdict(events).code is VerdictCode.READY
    assert [name for name, _ in info(events).registration] == ["CREG", "CGREG"]
