"""A modem whose stored profile has numeric result codes (V.250 6.2.6 ``V0``), quiet mode (6.2.5
``Q1``) and/or echo on (6.2.4 ``E1``): the bring-up, the probe, the hang-up and the recovery rungs
get through, against the sans-I/O simulator (every dialect) and against scripted modems that answer
the sync line in the old form or not at all the first time."""

from __future__ import annotations

import itertools

import pytest

from pppos.at.bringup import (
    SYNC_COMMAND,
    Bringup,
    BringupConfig,
    DataMode,
    Hangup,
    Verdict,
    VerdictCode,
)
from pppos.at.engine import AtEngine
from pppos.at.profiles import PROFILES
from pppos.at.recovery import RecoveryPlan
from pppos.session import Rung
from pppos.sim.modem import DATA, SimConfig, SimModem
from tests.at.scripted import ScriptedModem, run_plan

T0 = 100.0

#: every combination of the three settings away from the factory E1Q0V1, and the factory one
STORED = ["", "E0", *("".join(c) for n in (1, 2, 3) for c in itertools.combinations(("V0", "Q1", "E1"), n))]
SIM_PROFILES = ["a7", "sim800", "sim7600", "quectel", "generic"]


def converse(plan: Bringup | Hangup | RecoveryPlan, modem: SimModem, now: float = T0, *, boot: bool = True,
             limit: float = 120.0) -> list[object]:
    """Run a host plan against the sans-I/O simulator on one float clock until the plan's verdict
    (tests/sim/test_dialects.py's loop; ``boot=False`` keeps a modem that is already running)."""
    events: list[object] = []
    plan.start(now)
    if boot:
        modem.power_on(now)
    end = now + limit
    while now < end:
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
                    return events
        timers = [t for t in (plan.get_timer(), modem.get_timer()) if t is not None]
        if not timers:
            break
        now = max(now, min(timers))
        modem.handle_timer(now)
        plan.handle_timer(now)
    raise AssertionError(f"no verdict: {events[-5:]}")


def verdict(events: list[object]) -> Verdict:
    return [e for e in events if isinstance(e, Verdict)][-1]


def sim(profile: str, stored: str) -> SimModem:
    return SimModem(SimConfig(profile=profile, stored_profile=stored, registration_delay=0.3, attach_delay=0.05))


@pytest.mark.parametrize("stored", STORED)
@pytest.mark.parametrize("profile", SIM_PROFILES)
def test_probe_is_ready_whatever_the_stored_profile(profile: str, stored: str) -> None:
    modem = sim(profile, stored)
    events = converse(Bringup(BringupConfig(dial=False, apn="internet")), modem)
    result = verdict(events)
    assert result.code is VerdictCode.READY, (result.message, modem)
    # the sync line left the modem verbose, talking, echo off, whatever it booted with
    assert (modem.verbose, modem.quiet, modem.echo) == (True, False, False)


@pytest.mark.parametrize("stored", ["V0Q1E1", "V0E1", "Q1"])
@pytest.mark.parametrize("profile", SIM_PROFILES)
def test_dial_reaches_data_mode_whatever_the_stored_profile(profile: str, stored: str) -> None:
    modem = sim(profile, stored)
    events = converse(Bringup(BringupConfig(dial=True, apn="internet")), modem)
    assert verdict(events).code is VerdictCode.CONNECTED, verdict(events).message
    assert [e for e in events if isinstance(e, DataMode)]
    assert modem.state == DATA


def test_the_stored_profile_is_really_in_force_before_the_sync() -> None:
    """The simulator is the V.250 DCE the tests above rely on: a bare AT gets 0<CR>, or nothing in Q1."""
    v0 = sim("sim800", "V0E1")
    v0.power_on(T0)
    v0.handle_timer(T0 + 1)
    assert v0.data_to_send().startswith(b"RDY\r\n")  # boot URCs: text and CR LF, no header in V0
    v0.receive_data(b"AT\r", T0 + 1)
    assert v0.data_to_send() == b"AT\r0\r"
    q1 = sim("sim800", "V0Q1")
    q1.power_on(T0)
    q1.handle_timer(T0 + 1)
    q1.data_to_send()
    q1.receive_data(b"AT\r", T0 + 1)
    assert q1.data_to_send() == b"AT\r"  # the echo (E1 by default), and no result code at all
    # the sync line answers verbose at once (Hayes practice: the new setting formats its own result)
    q1.receive_data(b"\r" + SYNC_COMMAND.encode() + b"\r", T0 + 2)
    assert q1.data_to_send() == b"\rATE0Q0V1\r\r\nOK\r\n"  # echoed while E1 was in force, then OK


def test_reboot_brings_the_stored_profile_back_and_a_second_bringup_copes() -> None:
    modem = sim("quectel", "V0Q1E1")
    assert verdict(converse(Bringup(BringupConfig(dial=False)), modem)).ok
    modem.reboot(T0 + 200)
    assert (modem.verbose, modem.quiet, modem.echo) == (False, True, True)
    assert verdict(converse(Bringup(BringupConfig(dial=False)), modem, now=T0 + 201, boot=False)).ok


@pytest.mark.parametrize("rung", [Rung.REATTACH, Rung.RADIO, Rung.MODEM_RESET])
def test_recovery_rungs_meet_a_modem_back_in_its_stored_profile(rung: Rung) -> None:
    """After a reboot the modem talks V0/Q1 again: the rung's check (and the reset's wait) still work."""
    modem = sim("sim7600", "V0Q1E1")
    modem.power_on(T0)  # booted and registered a while ago; nobody has synced it since
    plan = RecoveryPlan(rung, PROFILES["sim7600"], reset_settle=0.5, boot_timeout=20.0)
    events = converse(plan, modem, now=T0 + 5, boot=False)
    result = verdict(events)
    assert result.ok, result.message
    if rung is Rung.MODEM_RESET:
        assert modem.quiet is False and modem.verbose is True  # it came back in V0/Q1 and was synced again


def test_hangup_of_a_data_call_made_in_v0() -> None:
    """+++ answers 0<CR> and ATH 0<CR> (or 3<CR> NO CARRIER): the guarded hang-up reads both."""
    modem = sim("sim800", "V0")
    modem.power_on(T0)
    modem.receive_data(b'AT+CGDCONT=1,"IP","internet"\r', T0 + 1)
    modem.handle_timer(T0 + 2)
    modem.receive_data(b"ATD*99#\r", T0 + 2)
    assert modem.state == DATA
    assert modem.data_to_send().endswith(b"1\r")  # CONNECT, numeric
    events = converse(Hangup("sim800", guard=1.0), modem, now=T0 + 5, boot=False)
    assert verdict(events).code is VerdictCode.HUNG_UP, verdict(events).message
    assert not modem.in_call


# --------------------------------------------------------------------------- scripted modems


class OldFormModem(ScriptedModem):
    """A modem that formats the sync line's result in the setting it had (``0<CR>``), then verbose;
    and in Q1, optionally, says nothing to the first sync line at all."""

    def __init__(self, *, silent_first: bool = False) -> None:
        super().__init__(echo=True)
        self.silent_first = silent_first
        self.syncs = 0

    def answer(self, command: str) -> bytes:
        if command.upper() == SYNC_COMMAND:
            self.commands.append(command)
            self.echo = False
            self.syncs += 1
            if self.silent_first and self.syncs == 1:
                return b""
            return b"0\r"
        return super().answer(command)


def test_sync_answered_in_the_old_numeric_form() -> None:
    modem = OldFormModem()
    events, _ = run_plan(Bringup(BringupConfig(dial=False, detect_data_mode=False)), modem)
    assert verdict(events).code is VerdictCode.READY
    assert modem.commands[:2] == [SYNC_COMMAND, "ATE0"]


def test_q1_modem_that_suppresses_the_first_result_answers_the_next_try() -> None:
    modem = OldFormModem(silent_first=True)
    events, _ = run_plan(Bringup(BringupConfig(dial=False)), modem)
    assert verdict(events).code is VerdictCode.READY
    assert modem.commands[:3] == [SYNC_COMMAND, SYNC_COMMAND, "ATE0"]


def test_modem_refusing_the_combined_line_syncs_with_a_plain_at() -> None:
    modem = ScriptedModem()
    modem.replies[SYNC_COMMAND] = "ERROR"
    events, _ = run_plan(Bringup(BringupConfig(dial=False, detect_data_mode=False)), modem)
    assert verdict(events).code is VerdictCode.READY
    assert modem.commands[:3] == [SYNC_COMMAND, "AT", "ATE0"]


def test_a_dead_line_still_ends_in_no_response() -> None:
    modem = ScriptedModem(replies={})
    modem.answer = lambda command: b""  # type: ignore[method-assign]
    events, _ = run_plan(Bringup(BringupConfig(dial=False, autobaud=False, detect_data_mode=False)), modem)
    assert verdict(events).code is VerdictCode.NO_RESPONSE


def test_engine_knows_numeric_codes_only_where_asked() -> None:
    """The whole-stack counterpart of the vectors in test_vectors.py: "0" to AT+CGSN is a line."""
    engine = AtEngine()
    engine.send_command("AT+CGSN", T0)
    engine.receive_data(b"0\r\r\nOK\r\n", T0)
    done = engine.next_event()
    assert done is not None and getattr(done, "lines", None) == ("0",)
