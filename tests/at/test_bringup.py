"""Bring-up plan: every verdict over scripted modem replies with a float clock; hang-up and recovery."""

from __future__ import annotations

import pytest

from pppos.at.bringup import (
    COMMON_BAUDS,
    VERDICTS,
    Bringup,
    BringupConfig,
    DataMode,
    Hangup,
    ModemInfo,
    PdpContext,
    Progress,
    SetBaud,
    SetDtr,
    Verdict,
    VerdictCode,
    fcs16,
    lcp_echo_request_frame,
    lcp_terminate_request_frame,
    parse_registration,
    redact_imei,
    signal_quality,
)
from pppos.errors import ConfigError, ExitStatus, LocalProtocolError
from tests.at.scripted import PPP_BYTES, ScriptedModem, run_plan

T0 = 1000.0


def bring_up(modem: ScriptedModem, bytewise: bool = False, **config: object) -> tuple[list[object], float, Bringup]:
    config.setdefault("dial", False)
    plan = Bringup(BringupConfig(**config))  # type: ignore[arg-type]
    events, end = run_plan(plan, modem, T0, bytewise=bytewise)
    return events, end, plan


def verdict_of(events: list[object]) -> Verdict:
    verdicts = [e for e in events if isinstance(e, Verdict)]
    assert len(verdicts) == 1, events
    assert events[-1] is verdicts[0]
    return verdicts[0]


def info_of(events: list[object]) -> ModemInfo:
    infos = [e for e in events if isinstance(e, ModemInfo)]
    assert len(infos) == 1
    return infos[0]


def modem_with(**replies: object) -> ScriptedModem:
    modem = ScriptedModem()
    modem.replies.update({k.replace("_", "+"): v for k, v in replies.items()})  # type: ignore[misc]
    return modem


# --------------------------------------------------------------------------- success paths


@pytest.mark.parametrize("bytewise", [False, True])
def test_ready_modem_could_dial(bytewise: bool) -> None:
    modem = ScriptedModem()
    events, _, plan = bring_up(modem, bytewise=bytewise)
    verdict = verdict_of(events)
    assert verdict.ok and verdict.code is VerdictCode.READY and verdict.exit_status is ExitStatus.SUCCESS
    assert "could dial" in verdict.message
    info = info_of(events)
    assert info.profile == "a7"
    assert (info.manufacturer, info.model, info.revision) == ("Ai Thinker Co.LTD", "A7", "V03.03.20161229013H")
    assert info.imei == "***********8901"
    assert "864012345678901" not in repr(events)
    assert info.sim == "ready"
    assert (info.rssi, info.signal_dbm, info.signal) == (31, -51, "excellent")
    assert info.operator == "Test PLMN"
    assert info.registration == (("CREG", "home"), ("CGREG", "home"))
    assert info.attached is True
    assert info.contexts == (PdpContext(cid=1, pdp_type="IP", apn="internet"),)
    assert "ATD*99***1#" not in modem.commands
    # AT+CREG=0 goes out after registration and before the attach/PDP steps
    assert modem.commands.index("AT+CREG=0") > modem.commands.index("AT+CGREG?")
    # the sync line (echo off, result codes on, verbose: a stored V0/Q1/E1 profile cannot stop it)
    assert modem.commands[:3] == ["ATE0Q0V1", "ATE0", "AT+CMEE=2"]
    assert plan.done and plan.get_timer() is None
    assert any(isinstance(e, Progress) and e.step == "registration" for e in events)


@pytest.mark.parametrize("bytewise", [False, True])
def test_dial_connects_and_hands_over_trailing_ppp_bytes(bytewise: bool) -> None:
    modem = ScriptedModem()
    events, _, plan = bring_up(modem, bytewise=bytewise, dial=True, apn="internet")
    verdict = verdict_of(events)
    assert verdict.code is VerdictCode.CONNECTED and verdict.ok
    data = [e for e in events if isinstance(e, DataMode)]
    assert len(data) == 1
    assert data[0].trailing + plan.take_data() == PPP_BYTES
    assert 'AT+CGDCONT=1,"IP","internet"' in modem.commands
    assert modem.commands[-1] == "ATD*99***1#"
    assert "trailing" not in repr(data[0])


def test_dial_falls_back_to_ato() -> None:
    modem = modem_with(**{"ATD*99***1#": "ERROR", "ATO": "CONNECT 115200"})
    events, _, _ = bring_up(modem, dial=True)
    assert verdict_of(events).code is VerdictCode.CONNECTED
    assert modem.commands[-2:] == ["ATD*99***1#", "ATO"]


def test_dial_failed() -> None:
    modem = modem_with(**{"ATD*99***1#": "ERROR", "ATO": "NO CARRIER"})
    events, _, _ = bring_up(modem, dial=True)
    verdict = verdict_of(events)
    assert verdict.code is VerdictCode.DIAL_FAILED and verdict.exit_status is ExitStatus.DIAL
    assert "ATD*99***1# -> ERROR" in verdict.message and "APN" in verdict.message


def test_slow_registration_is_polled_until_home() -> None:
    answers = iter(["+CREG: 1,2\nOK", "+CREG: 1,2\nOK", "+CREG: 1,0\nOK", "+CREG: 1,5\nOK"])
    modem = modem_with(**{"AT+CREG?": lambda m, c: next(answers), "AT+CGREG?": "+CGREG: 1,2\nOK"})
    events, end, _ = bring_up(modem, registration_poll=1.0)
    verdict = verdict_of(events)
    assert verdict.code is VerdictCode.READY
    assert info_of(events).registration == (("CREG", "roaming"), ("CGREG", "searching"))
    assert modem.commands.count("AT+CREG?") == 4
    assert end == pytest.approx(T0 + 3.0)  # three 1 s polls: the OK to the probe's AT ends the detection at once


def test_autobaud_finds_the_modem_at_9600() -> None:
    modem = ScriptedModem(baud=9600)
    events, end, _ = bring_up(modem, sync_timeout=0.5, sync_tries=3)
    assert verdict_of(events).code is VerdictCode.READY
    assert [e.rate for e in events if isinstance(e, SetBaud)] == [9600]
    assert info_of(events).baud == 9600
    # three unanswered tries at 115200 took 3 * 0.5 s on the float clock, the blind +++ 1 s + 3 s
    assert end == pytest.approx(T0 + 0.3 + 1.5 + 4.0)


def test_no_response_at_any_rate() -> None:
    modem = ScriptedModem(baud=1234)
    events, end, _ = bring_up(modem, sync_tries=2, sync_timeout=0.5)
    verdict = verdict_of(events)
    assert verdict.code is VerdictCode.NO_RESPONSE and verdict.exit_status is ExitStatus.NO_MODEM
    assert [e.rate for e in events if isinstance(e, SetBaud)] == list(COMMON_BAUDS[1:])
    assert "115200, 9600" in verdict.message
    assert end == pytest.approx(T0 + 0.3 + len(COMMON_BAUDS) * 2 * 0.5 + 4.0)


def test_no_autobaud_tries_one_rate() -> None:
    modem = ScriptedModem(baud=9600)
    events, _, _ = bring_up(modem, autobaud=False)
    assert verdict_of(events).code is VerdictCode.NO_RESPONSE
    assert not [e for e in events if isinstance(e, SetBaud)]


def test_modem_goes_silent() -> None:
    modem = modem_with(ATE0=lambda m, c: None)
    events, _, _ = bring_up(modem, command_timeout=2.0)
    verdict = verdict_of(events)
    assert verdict.code is VerdictCode.MODEM_SILENT
    assert "ATE0" in verdict.message and "2 s" in verdict.message


def test_cme_58_on_sync_counts_as_alive() -> None:
    modem = modem_with(AT="+CME ERROR:58")
    events, _, _ = bring_up(modem)
    assert verdict_of(events).code is VerdictCode.READY


# --------------------------------------------------------------------------- SIM


def test_pin_needed_without_pin() -> None:
    modem = modem_with(**{"AT+CPIN?": "+CPIN: SIM PIN\nOK"})
    events, _, _ = bring_up(modem)
    verdict = verdict_of(events)
    assert verdict.code is VerdictCode.PIN_NEEDED and verdict.exit_status is ExitStatus.SIM
    assert "--pin-file" in verdict.message
    assert info_of(events).sim == "PIN needed"
    assert not any(c.startswith("AT+CPIN=") for c in modem.commands)


def test_correct_pin_is_sent_once_and_sim_becomes_ready() -> None:
    state = {"ready": False}

    def cpin_query(modem: ScriptedModem, command: str) -> str:
        return "+CPIN: READY\nOK" if state["ready"] else "+CPIN: SIM PIN\nOK"

    def cpin_set(modem: ScriptedModem, command: str) -> str:
        if command == 'AT+CPIN="1234"':
            state["ready"] = True
            return "OK"
        return "+CME ERROR: incorrect password"

    modem = modem_with(**{"AT+CPIN?": cpin_query, "AT+CPIN=": cpin_set})
    events, _, _ = bring_up(modem, pin="1234")
    assert verdict_of(events).code is VerdictCode.READY
    assert [c for c in modem.commands if c.startswith("AT+CPIN=")] == ['AT+CPIN="1234"']
    assert "1234" not in repr(events)


def test_wrong_pin_is_never_retried() -> None:
    modem = modem_with(**{"AT+CPIN?": "+CPIN: SIM PIN\nOK", "AT+CPIN=": "+CME ERROR: incorrect password"})
    config = BringupConfig(pin="9999", dial=False)
    plan = Bringup(config)
    events, _ = run_plan(plan, modem, T0)
    verdict = verdict_of(events)
    assert verdict.code is VerdictCode.PIN_WRONG and verdict.exit_status is ExitStatus.SIM
    assert "not be retried" in verdict.message
    assert [c for c in modem.commands if c.startswith("AT+CPIN=")] == ['AT+CPIN="9999"']
    for text in (repr(events), repr(config), verdict.message, repr(plan.info)):
        assert "9999" not in text


def test_pin_accepted_but_still_asked_is_not_resent() -> None:
    modem = modem_with(**{"AT+CPIN?": "+CPIN: SIM PIN\nOK", "AT+CPIN=": "OK"})
    events, _, _ = bring_up(modem, pin="1234")
    assert verdict_of(events).code is VerdictCode.PIN_WRONG
    assert len([c for c in modem.commands if c.startswith("AT+CPIN=")]) == 1


@pytest.mark.parametrize("reply", ["+CPIN: SIM PUK\nOK", "+CME ERROR: SIM PUK required", "+CME ERROR: 12"])
def test_puk_needed_stops_without_sending_a_pin(reply: str) -> None:
    modem = modem_with(**{"AT+CPIN?": reply, "AT+CPIN=": "OK"})
    events, _, _ = bring_up(modem, pin="1234")
    verdict = verdict_of(events)
    assert verdict.code is VerdictCode.PUK_NEEDED and verdict.exit_status is ExitStatus.SIM
    assert not any(c.startswith("AT+CPIN=") for c in modem.commands)


@pytest.mark.parametrize("reply", ["+CME ERROR: 10", "+CME ERROR:10", "+CME ERROR: SIM not inserted"])
def test_sim_not_inserted(reply: str) -> None:
    modem = modem_with(**{"AT+CPIN?": reply})
    events, _, _ = bring_up(modem)
    verdict = verdict_of(events)
    assert verdict.code is VerdictCode.SIM_MISSING and verdict.exit_status is ExitStatus.SIM
    assert info_of(events).sim == "not inserted"


def test_sim_busy_then_ready() -> None:
    answers = iter(["+CME ERROR: 14", "+CME ERROR: SIM busy", "+CPIN: READY\nOK"])
    modem = modem_with(**{"AT+CPIN?": lambda m, c: next(answers)})
    events, _, _ = bring_up(modem)
    assert verdict_of(events).code is VerdictCode.READY
    assert modem.commands.count("AT+CPIN?") == 3


def test_sim_failure_past_the_deadline() -> None:
    modem = modem_with(**{"AT+CPIN?": "+CME ERROR: SIM failure"})
    events, _, _ = bring_up(modem, sim_ready_timeout=3.0)
    verdict = verdict_of(events)
    assert verdict.code is VerdictCode.SIM_ERROR
    assert "SIM failure" in verdict.message


def test_unhandled_sim_lock() -> None:
    modem = modem_with(**{"AT+CPIN?": "+CPIN: PH-SIM PIN\nOK"})
    events, _, _ = bring_up(modem)
    assert verdict_of(events).code is VerdictCode.SIM_ERROR


# --------------------------------------------------------------------------- network


def test_registration_denied() -> None:
    modem = modem_with(**{"AT+CREG?": "+CREG: 0,3\nOK", "AT+CGREG?": "+CGREG: 0,3\nOK"})
    events, _, _ = bring_up(modem)
    verdict = verdict_of(events)
    assert verdict.code is VerdictCode.REG_DENIED and verdict.exit_status is ExitStatus.NETWORK
    assert "denied" in verdict.message
    assert "AT+CGATT=1" not in modem.commands


def test_registration_timeout_while_searching() -> None:
    modem = modem_with(
        **{"AT+CREG?": "+CREG: 0,2\nOK", "AT+CGREG?": "+CGREG: 0,2\nOK", "AT+CSQ": "+CSQ: 99,99\nOK"}
    )
    events, end, _ = bring_up(modem, registration_timeout=5.0, registration_poll=1.0)
    verdict = verdict_of(events)
    assert verdict.code is VerdictCode.REG_TIMEOUT and verdict.exit_status is ExitStatus.NETWORK
    assert "5 s" in verdict.message and "searching" in verdict.message and "unknown" in verdict.message
    assert end == pytest.approx(T0 + 5.0)


def test_unsupported_registration_command_is_skipped() -> None:
    modem = modem_with(**{"AT+CEREG?": "+CME ERROR: operation not supported"})
    events, _, _ = bring_up(modem, profile="sim7600")
    assert verdict_of(events).code is VerdictCode.READY
    assert modem.commands.count("AT+CEREG?") == 1


def test_attach_when_detached() -> None:
    modem = modem_with(**{"AT+CGATT?": "+CGATT: 0\nOK"})
    events, _, _ = bring_up(modem)
    assert verdict_of(events).code is VerdictCode.READY
    assert "AT+CGATT=1" in modem.commands


def test_attach_failed() -> None:
    modem = modem_with(**{"AT+CGATT?": "+CGATT: 0\nOK", "AT+CGATT=1": "+CME ERROR: 148"})
    events, _, _ = bring_up(modem)
    verdict = verdict_of(events)
    assert verdict.code is VerdictCode.ATTACH_FAILED and verdict.exit_status is ExitStatus.NETWORK
    assert info_of(events).attached is False


def test_attach_timeout_is_bounded_by_the_profile() -> None:
    modem = modem_with(**{"AT+CGATT?": "+CGATT: 0\nOK", "AT+CGATT=1": lambda m, c: None})
    events, end, _ = bring_up(modem, attach_timeout=600.0)
    assert verdict_of(events).code is VerdictCode.ATTACH_FAILED
    assert "60 s" in verdict_of(events).message
    assert end == pytest.approx(T0 + 60.0)


def test_pdp_context_refused() -> None:
    modem = modem_with(**{"AT+CGDCONT=": "ERROR"})
    events, _, _ = bring_up(modem, apn="bad apn")
    verdict = verdict_of(events)
    assert verdict.code is VerdictCode.PDP_FAILED and verdict.exit_status is ExitStatus.DIAL


def test_apn_credentials_by_at_command_are_secret() -> None:
    modem = modem_with(**{"AT+CGAUTH=": "OK"})
    events, _, plan = bring_up(modem, profile="sim7600", apn="internet", user="u", password="s3cr3t-pw")
    assert verdict_of(events).code is VerdictCode.READY
    assert 'AT+CGAUTH=1,1,"s3cr3t-pw","u"' in modem.commands
    assert "s3cr3t-pw" not in repr(events) and "s3cr3t-pw" not in repr(plan.config)


# --------------------------------------------------------------------------- profiles


def test_auto_profile_from_cgmm() -> None:
    modem = modem_with(
        ATI="SIM800 R14.18\nOK", **{"AT+CGMI": "SIMCOM_Ltd\nOK", "AT+CGMM": "SIMCOM_SIM800L\nOK", "ATD*99#": "CONNECT"}
    )
    events, _, plan = bring_up(modem, dial=True)
    assert verdict_of(events).code is VerdictCode.CONNECTED
    assert plan.profile.name == "sim800" and info_of(events).profile == "sim800"
    assert "AT+GPSRD=0" not in modem.commands
    assert modem.commands[-1] == "ATD*99#"


# --------------------------------------------------------------------------- data mode, hang-up


def test_recovers_a_modem_left_in_data_mode() -> None:
    modem = ScriptedModem(data_mode=True, echo=False)
    events, _, _ = bring_up(modem)
    assert verdict_of(events).code is VerdictCode.READY
    dtr = [e.level for e in events if isinstance(e, SetDtr)]
    assert dtr == [False, True]
    assert any(isinstance(e, Progress) and e.step == "detect" for e in events)
    assert modem.commands[:2] == ["ATH", "ATE0Q0V1"]
    # the probe, the sync line that a modem in command mode would have answered, then the guarded escape
    assert lcp_echo_request_frame() + lcp_terminate_request_frame() + b"\rATE0Q0V1\r+++" in bytes(modem.raw)


def test_silent_data_call_is_escaped_blindly() -> None:
    modem = ScriptedModem(data_mode=True, echo=False, ppp_answer=b"")
    events, _, _ = bring_up(modem)
    assert verdict_of(events).code is VerdictCode.READY
    assert not any(isinstance(e, Progress) and e.step == "detect" for e in events)
    assert any(isinstance(e, Progress) and "silent data call" in e.message for e in events)
    assert modem.commands[:2] == ["ATH", "ATE0Q0V1"]


@pytest.mark.parametrize("cut", [None, 9])
def test_echo_of_the_probe_frame_is_not_data_mode(cut: int | None) -> None:
    class RawEcho(ScriptedModem):
        def feed(self, data: bytes) -> bytes:
            if data.startswith(b"\x7e"):
                self.raw += data
                return data[:cut]  # echo on at boot: the frame (or its start) comes straight back
            return super().feed(data)

    modem = RawEcho()
    events, _, _ = bring_up(modem)
    assert verdict_of(events).code is VerdictCode.READY
    assert not [e for e in events if isinstance(e, SetDtr)]


def test_detection_ends_at_the_modems_answer() -> None:
    """A modem in command mode answers the sync line behind the probe: no fixed wait, and that OK is the sync."""
    modem = ScriptedModem()
    events, end, _ = bring_up(modem, detect_wait=5.0)
    assert verdict_of(events).code is VerdictCode.READY
    assert end == pytest.approx(T0)  # the scripted modem answers at once; a 5 s wait would show here
    assert modem.commands[:2] == ["ATE0Q0V1", "ATE0"]
    assert not [e for e in events if isinstance(e, SetDtr)]


def test_error_to_the_probe_line_is_command_mode_and_syncs_again() -> None:
    """A modem that takes the probe bytes for a bad command line answers ERROR: still command mode."""
    answers = iter(["ERROR"])
    modem = modem_with(ATE0Q0V1=lambda m, c: next(answers, "OK"))
    events, end, _ = bring_up(modem, detect_wait=5.0)
    assert verdict_of(events).code is VerdictCode.READY
    assert end == pytest.approx(T0)
    assert modem.commands[:3] == ["ATE0Q0V1", "ATE0Q0V1", "ATE0"]
    assert not [e for e in events if isinstance(e, SetDtr)]


def test_hangup_from_data_mode_accepts_cme_58() -> None:
    modem = ScriptedModem(data_mode=True, echo=False)
    plan = Hangup("a7")
    events, end = run_plan(plan, modem, T0)
    verdict = verdict_of(events)
    assert verdict.code is VerdictCode.HUNG_UP and verdict.ok
    assert bytes(modem.raw) == b"+++ATH\r"
    assert modem.commands == ["ATH"]
    assert [e.level for e in events if isinstance(e, SetDtr)] == [False, True]
    assert end == pytest.approx(T0 + 1.0)  # the pre-guard; the modem answers OK at once


def test_hangup_on_a_generic_modem_rejects_cme_58() -> None:
    modem = ScriptedModem(data_mode=True, echo=False)
    events, _ = run_plan(Hangup("generic"), modem, T0)
    verdict = verdict_of(events)
    assert verdict.code is VerdictCode.HANGUP_FAILED and not verdict.ok


def test_hangup_when_the_modem_is_silent() -> None:
    modem = ScriptedModem(data_mode=True, echo=False, replies={})
    sent = bytearray()
    modem.feed = lambda data: sent.extend(data) or b""  # type: ignore[method-assign, func-returns-value]
    events, end = run_plan(Hangup("a7", guard=1.0, command_timeout=5.0), modem, T0)
    verdict = verdict_of(events)
    assert verdict.code is VerdictCode.HANGUP_FAILED
    # the pre-guard, +++ and its guard plus 0.5 s for the OK, then 9 s of probing every 0.1 s
    assert end == pytest.approx(T0 + 1.0 + 1.5 + 9.0)
    assert "did not answer for 11.5 s" in verdict.message
    assert 90 <= bytes(sent).count(lcp_terminate_request_frame()) <= 91


def run_timed(plan, feed, now: float = T0, spoken: tuple[tuple[float, bytes], ...] = ()) -> tuple[list[object], float]:
    """Drive ``plan`` against ``feed(data, now) -> answer`` on a float clock; ``spoken``: what the modem
    says by itself, at what time (boot messages)."""
    events: list[object] = []
    pending = list(spoken)
    plan.start(now)
    for _ in range(10000):
        while (event := plan.next_event()) is not None:
            events.append(event)
        if plan.done:
            break
        out = plan.data_to_send()
        if out:
            answer = feed(out, now)
            if answer:
                plan.receive_data(answer, now)
            continue
        timer = plan.get_timer()
        if pending and (timer is None or pending[0][0] <= timer):
            now, said = pending.pop(0)
            plan.receive_data(said, now)
            continue
        assert timer is not None
        now = max(now, timer)
        plan.handle_timer(now)
    return events, now


THAW = T0 + 5.0


def test_hangup_of_a_frozen_modem_that_thaws_in_data_mode_ends_with_its_no_carrier() -> None:
    """The modem drops everything until THAW, still in its data call; then the network peer acks our
    Terminate-Request and the modem says NO CARRIER: the hang-up ends within one probe interval."""
    sent: list[tuple[float, bytes]] = []

    def feed(data: bytes, now: float) -> bytes:
        sent.append((now, data))
        if now < THAW:
            return b""
        return b"\r\nNO CARRIER\r\n" if lcp_terminate_request_frame() in data else b""

    events, end = run_timed(Hangup("a7"), feed)
    verdict = verdict_of(events)
    assert verdict.code is VerdictCode.HUNG_UP, verdict
    assert THAW <= end <= THAW + 0.1
    assert not any(b"ATH" in data for _, data in sent)  # never ATH into a call: it would be data
    assert any("probing the modem every 0.1 s" in e.message for e in events if isinstance(e, Progress))


def test_hangup_counts_the_silence_before_it_toward_the_guard() -> None:
    """The driver wrote nothing for 0.5 s before the plan (waiting for the modem's own NO CARRIER): the
    +++ goes out after the rest of the 1 s guard, with DTR dropped meanwhile."""
    modem = ScriptedModem(data_mode=True, echo=False)
    events, end = run_plan(Hangup("a7", silent_for=0.5), modem, T0)
    assert verdict_of(events).code is VerdictCode.HUNG_UP
    assert end == pytest.approx(T0 + 0.5)
    assert [e.level for e in events if isinstance(e, SetDtr)] == [False, True]
    events, end = run_plan(Hangup("a7", silent_for=5.0), ScriptedModem(data_mode=True, echo=False), T0)
    assert end == pytest.approx(T0 + 0.1)  # DTR stays down a tenth of the guard at least


def test_hangup_of_a_frozen_modem_that_thaws_in_command_mode_sends_ath() -> None:
    modem = ScriptedModem(data_mode=False, echo=False)

    def feed(data: bytes, now: float) -> bytes:
        return b"" if now < THAW else modem.feed(data)

    events, end = run_timed(Hangup("a7"), feed)
    assert verdict_of(events).code is VerdictCode.HUNG_UP
    assert modem.commands[-2:] == ["AT", "ATH"] and end <= THAW + 0.1


def test_hangup_of_a_thawed_modem_that_keeps_the_call_escapes_again() -> None:
    """After the thaw the modem passes PPP bytes again but no NO CARRIER comes: +++ once more, then ATH."""
    modem = ScriptedModem(data_mode=True, echo=False)

    def feed(data: bytes, now: float) -> bytes:
        return b"" if now < THAW else modem.feed(data)

    events, end = run_timed(Hangup("a7"), feed)
    assert verdict_of(events).code is VerdictCode.HUNG_UP
    assert modem.commands[-1] == "ATH" and THAW + 2.0 <= end <= THAW + 5.0
    assert any("keeps the call" in e.message for e in events if isinstance(e, Progress))


def test_sync_with_a_booting_modem_goes_on_at_its_first_boot_message() -> None:
    """A booting modem drops what it is sent until it is ready (READY), then prints its boot messages:
    the sync sends AT again at the first one instead of waiting out a timer started against the
    silent modem (the blind +++ escape included), and the bring-up ends as soon as it answers."""
    ready = T0 + 2.6  # inside the blind escape (its guard ends at T0 + 0.3 + 1.5 + 1.0)
    modem = ScriptedModem()

    def feed(data: bytes, now: float) -> bytes:
        return b"" if now < ready else modem.feed(data)

    boot = ((ready + 0.05, b"\r\n^CINIT: 1, 32, 41891\r\n"), (ready + 0.10, b"\r\n^CINIT: 2, 32, 41891\r\n"))
    events, end = run_timed(Bringup(BringupConfig(dial=False)), feed, spoken=boot)
    assert verdict_of(events).code is VerdictCode.READY
    assert end == pytest.approx(ready + 0.05)
    assert [e.level for e in events if isinstance(e, SetDtr)] in ([False, True], [])
    assert any("the modem spoke" in e.message for e in events if isinstance(e, Progress))


def test_sync_wakes_on_a_boot_message_while_an_at_waits() -> None:
    ready = T0 + 0.5  # during the first sync AT (the detection step took 0.3 s)
    modem = ScriptedModem()

    def feed(data: bytes, now: float) -> bytes:
        return b"" if now < ready else modem.feed(data)

    events, end = run_timed(Bringup(BringupConfig(dial=False)), feed, spoken=((ready + 0.05, b"\r\nRDY\r\n"),))
    assert verdict_of(events).code is VerdictCode.READY
    assert end == pytest.approx(ready + 0.05)
    assert not [e for e in events if isinstance(e, SetDtr)]  # no blind escape


@pytest.mark.parametrize(
    ("kw", "words"),
    [
        ({"apn": 'x"\r\nATD112;'}, "APN"),
        ({"apn": "intérnet"}, "APN"),
        ({"user": "a\rb"}, "user"),
        ({"password": 'p"w0rd'}, "password"),
        ({"pin": "12"}, "PIN"),
        ({"pin": "12ab"}, "PIN"),
        ({"profile": "nokia"}, "profile"),
        ({"cid": 0}, "context"),
        ({"baud": 0}, "baud"),
    ],
)
def test_config_refuses_values_that_would_break_a_command_line(kw: dict[str, object], words: str) -> None:
    with pytest.raises(ConfigError) as info:
        BringupConfig(**kw)  # type: ignore[arg-type]
    message = str(info.value)
    assert words.lower() in message.lower()
    assert "p\"w0rd" not in message and "12ab" not in message


def test_start_twice_is_a_local_error() -> None:
    plan = Bringup()
    plan.start(T0)
    with pytest.raises(LocalProtocolError):
        plan.start(T0)


# --------------------------------------------------------------------------- helpers


@pytest.mark.parametrize(
    ("rssi", "dbm", "word"),
    [(0, -113, "none"), (1, -111, "poor"), (9, -95, "poor"), (10, -93, "fair"), (15, -83, "good"),
     (20, -73, "excellent"), (31, -51, "excellent"), (99, None, "unknown"), (None, None, "unknown"),
     (45, None, "unknown")],
)
def test_signal_quality(rssi: int | None, dbm: int | None, word: str) -> None:
    assert signal_quality(rssi) == (dbm, word)


def test_parse_registration_forms() -> None:
    assert parse_registration(["+CREG: 1,5"], "+CREG:") == 5
    assert parse_registration(["+CREG: 2,1,\"1A2B\",\"01C3\""], "+CREG:") == 1
    assert parse_registration(["+CREG: 1"], "+CREG:") == 1
    assert parse_registration(["+CREG: 3", "+CREG: 0,2"], "+CREG:") == 2
    assert parse_registration(["+CREG: 1,\"1A2B\",\"01C3\""], "+CREG:") == 1
    assert parse_registration(["+CGREG: 0,1"], "+CREG:") is None


def test_redact_imei() -> None:
    assert redact_imei("864012345678901") == "***********8901"
    assert redact_imei("+CGSN: 864012345678901") == "***********8901"
    assert redact_imei("none") == ""


def test_fcs16_rfc1662_check_value() -> None:
    # the classic CRC-16/X.25 check: "123456789" -> 0x906E after the final complement
    assert fcs16(b"123456789") ^ 0xFFFF == 0x906E
    # a frame plus its FCS leaves the good residue 0xF0B8 (RFC 1662 C.2)
    body = b"\xff\x03\xc0\x21\x09\x01\x00\x08\x00\x00\x00\x00"
    fcs = fcs16(body) ^ 0xFFFF
    assert fcs16(body + bytes([fcs & 0xFF, fcs >> 8])) == 0xF0B8


def unstuff(stuffed: bytes) -> bytes:
    """RFC 1662 4.2 byte de-stuffing (0x7D then the octet XOR 0x20)."""
    raw = bytearray()
    escaped = False
    for byte in stuffed:
        if escaped:
            raw.append(byte ^ 0x20)
            escaped = False
        elif byte == 0x7D:
            escaped = True
        else:
            raw.append(byte)
    return bytes(raw)


def test_lcp_echo_frame_dissects_in_scapy() -> None:
    from scapy.layers.ppp import HDLC, PPP, PPP_LCP_Echo

    frame = lcp_echo_request_frame(identifier=7, magic=0x01020304)
    assert frame[0] == frame[-1] == 0x7E
    assert all(b >= 0x20 for b in frame[1:-1] if b not in (0x7D,))
    raw = unstuff(frame[1:-1])
    assert fcs16(raw) == 0xF0B8
    packet = HDLC(bytes(raw[:-2]))
    assert packet[PPP].proto == 0xC021
    echo = packet[PPP_LCP_Echo]
    assert (echo.code, echo.id, echo.len, echo.magic_number) == (9, 7, 8, 0x01020304)


def test_lcp_terminate_request_dissects_in_scapy() -> None:
    from scapy.layers.ppp import HDLC, PPP_LCP_Terminate

    frame = lcp_terminate_request_frame(identifier=2)
    raw = unstuff(frame[1:-1])
    assert fcs16(raw) == 0xF0B8
    term = HDLC(raw[:-2])[PPP_LCP_Terminate]
    assert (term.code, term.id, term.len) == (5, 2, 4)


def test_every_verdict_has_a_message_and_status() -> None:
    assert set(VERDICTS) == set(VerdictCode)
    for code, (ok, status, message) in VERDICTS.items():
        assert ok == (status is ExitStatus.SUCCESS), code
        assert message and "\n" not in message


# --------------------------------------------------------------------------- issue 12 / issue 10


def urc_modem(reg_urc_after: int, urc: str = "+CREG: 1", **replies: object) -> ScriptedModem:
    """A modem that accepts AT+CREG=2 / AT+CGREG=2, answers searching, and sends ``urc`` unsolicited
    right after the ``reg_urc_after``-th registration read."""
    reads = {"n": 0}

    def read(domain: str):  # type: ignore[no-untyped-def]
        def reply(m: ScriptedModem, c: str) -> str:
            reads["n"] += 1
            return f"+{domain}: 2,2\nOK"

        return reply

    modem = modem_with(
        **{
            "AT+CREG=2": "OK",
            "AT+CGREG=2": "OK",
            "AT+CGREG=0": "OK",
            "AT+CREG?": read("CREG"),
            "AT+CGREG?": read("CGREG"),
            "AT+COPS=3,2": "OK",
            "AT+COPS=3,0": "OK",
        }
    )
    modem.replies.update(replies)  # type: ignore[arg-type]
    modem.reads = reads  # type: ignore[attr-defined]
    modem.urc = urc  # type: ignore[attr-defined]
    return modem


def test_registration_urc_ends_the_wait_at_once() -> None:
    """Issue 10: with AT+CREG=2 on, a URC saying registered ends the wait; no 1 s poll period."""
    modem = urc_modem(2)
    plan = Bringup(BringupConfig(dial=False, registration_fallback_poll=5.0))
    plan.start(T0)
    # exchange bytes until the plan waits (after the first reads), then deliver the URC 0.3 s later
    events: list[object] = []
    while (out := plan.data_to_send()) or (plan.get_timer() or 0) <= T0:
        if out:
            plan.receive_data(modem.feed(out), T0)
        else:
            plan.handle_timer(T0)
        while (event := plan.next_event()) is not None:
            events.append(event)
    assert not plan.done and plan.get_timer() == pytest.approx(T0 + 5.0)
    assert modem.commands.count("AT+CREG?") == 1
    plan.receive_data(b"\r\n+CREG: 2,1,\"1A2B\",\"00C3D4\",7\r\n", T0 + 0.3)
    more, end = run_plan(plan, modem, T0 + 0.3)
    verdict = verdict_of(events + more)
    assert verdict.code is VerdictCode.READY
    assert end == pytest.approx(T0 + 0.3)
    assert modem.commands.count("AT+CREG?") == 1  # no poll after the URC
    info = info_of(events + more)
    assert info.registered is True and info.technology == "LTE" and (info.area, info.cell) == ("1A2B", "C3D4")
    # the reports are turned off again before the attach, so none lands in the data stream
    assert modem.commands.index("AT+CGREG=0") < modem.commands.index("AT+CGATT?")
    assert modem.commands.index("AT+CREG=0") < modem.commands.index("AT+CGATT?")


def test_registration_fallback_poll_is_slower_with_urcs_on() -> None:
    answers = iter(["+CREG: 2,2\nOK", "+CREG: 2,1\nOK"])
    modem = urc_modem(0, **{"AT+CREG?": lambda m, c: next(answers)})
    events, end, _ = bring_up(modem, registration_fallback_poll=5.0)
    assert verdict_of(events).code is VerdictCode.READY
    assert end == pytest.approx(T0 + 5.0)


@pytest.mark.parametrize("stat", [6, 7, 9, 10])
def test_lte_cs_states_count_as_registered(stat: int) -> None:
    """Issue 12: SMS-only and CSFB-not-preferred count as registered (ModemManager's rule)."""
    modem = modem_with(**{"AT+CREG?": f"+CREG: 1,{stat}\nOK", "AT+CGREG?": "+CGREG: 1,4\nOK"})
    events, _, _ = bring_up(modem, registration_timeout=3.0)
    assert verdict_of(events).code is VerdictCode.READY


def test_all_digit_tac_is_searching_not_home() -> None:
    modem = modem_with(**{"AT+CREG?": "+CREG: 2, 0001, 00000100, 7\nOK", "AT+CGREG?": "+CGREG: 0,2\nOK"})
    events, _, _ = bring_up(modem, registration_timeout=2.0)
    assert verdict_of(events).code is VerdictCode.REG_TIMEOUT


def test_denied_in_one_domain_while_another_searches_keeps_waiting() -> None:
    modem = modem_with(**{"AT+CREG?": "+CREG: 1,3\nOK", "AT+CGREG?": "+CGREG: 1,2\nOK"})
    events, _, _ = bring_up(modem, registration_timeout=2.0)
    assert verdict_of(events).code is VerdictCode.REG_TIMEOUT


@pytest.mark.parametrize(
    ("reply", "code"),
    [
        ('+CPIN: "SIM PIN"\nOK', VerdictCode.PIN_NEEDED),
        ("+CPIN: NOT INSERTED\nOK", VerdictCode.SIM_MISSING),
        ("+CPIN: SIM REMOVED\nOK", VerdictCode.SIM_MISSING),
        ("+CME ERROR: SIM not inserted", VerdictCode.SIM_MISSING),
        ("+CME ERROR: \u00b2", VerdictCode.SIM_ERROR),
    ],
)
def test_cpin_forms_give_the_right_verdict(reply: str, code: VerdictCode) -> None:
    modem = modem_with(**{"AT+CPIN?": reply})
    events, _, _ = bring_up(modem, sim_ready_timeout=2.0)
    assert verdict_of(events).code is code


def test_cpin_not_ready_is_retried() -> None:
    answers = iter(["+CPIN: NOT READY\nOK", "+CPIN: NOT READY\nOK", "+CPIN: READY\nOK"])
    modem = modem_with(**{"AT+CPIN?": lambda m, c: next(answers)})
    events, _, _ = bring_up(modem)
    assert verdict_of(events).code is VerdictCode.READY
    assert modem.commands.count("AT+CPIN?") == 3


def test_urc_before_identity_answers_does_not_become_the_answer() -> None:
    """Issue 12: SIM7600 AUTOCSQ before the AT+CGSN answer; SMS DONE before AT+CGMM."""
    modem = modem_with(
        **{"AT+CGSN": "+CSQ: 20,99\n864012345678901\nOK", "AT+CGMM": "SMS DONE\nA7\nOK"}
    )
    events, _, _ = bring_up(modem)
    info = info_of(events)
    assert info.imei == "***********8901" and info.model == "A7"


def test_operator_code_technology_and_lte_signal_in_modem_info() -> None:
    modem = modem_with(
        **{
            "AT+CGMM": "SIMCOM_SIM7600E-H\nOK",
            "AT+CEREG?": '+CEREG: 2,1,"1A2B","01C3D4E5",7\nOK',
            "AT+CESQ": "+CESQ: 99,99,255,255,20,46\nOK",
            "AT+COPS=3,2": "OK",
            "AT+COPS=3,0": "OK",
            "AT+COPS?": lambda m, c: (
                '+COPS: 0,2,"26201",7\nOK' if m.commands[-2] == "AT+COPS=3,2" else '+COPS: 0,0,"Telekom.de",7\nOK'
            ),
        }
    )
    events, _, _ = bring_up(modem)
    assert verdict_of(events).code is VerdictCode.READY
    info = info_of(events)
    assert info.profile == "sim7600"
    assert (info.operator, info.operator_code, info.mcc, info.mnc) == ("Telekom.de", "26201", "262", "01")
    assert (info.technology, info.area, info.cell) == ("LTE", "1A2B", "1C3D4E5")
    assert (info.rsrp_dbm, info.rsrq_db) == (-95.0, -10.0)
    assert info.network_text == "Telekom.de (262/01), LTE, TAC 1A2B, cell 1C3D4E5"
    assert "RSRP -95 dBm" in info.signal_text
    assert info.as_dict()["mcc"] == "262"
    assert any(isinstance(e, Progress) and e.step == "network" and "262/01" in e.message for e in events)


def test_the_sim_is_identified_once_before_registration_and_the_dial() -> None:
    """SimIdentified (the data cap's check point) comes once, right after the ICCID answer: before the
    registration queries and long before ATD, so a driver that drops the plan there dials nothing."""
    from pppos.at.bringup import SimIdentified

    iccid = "89860012345678901234"
    modem = modem_with(AT_CCID=f"+CCID: {iccid}\nOK")
    events, _, _ = bring_up(modem, dial=True, apn="internet")
    sims = [i for i, e in enumerate(events) if isinstance(e, SimIdentified)]
    assert len(sims) == 1 and events[sims[0]] == SimIdentified(iccid=iccid)
    registration = next(i for i, e in enumerate(events) if isinstance(e, Progress) and e.step == "registration")
    dial = next(i for i, e in enumerate(events) if isinstance(e, Progress) and e.step == "dial")
    assert sims[0] < registration < dial
    assert info_of(events).iccid == iccid
    silent = modem_with(AT_CCID="ERROR")  # no ICCID: nothing to identify
    events, _, _ = bring_up(silent)
    assert not any(isinstance(e, SimIdentified) for e in events)
