"""SIM safety in the bring-up core: a refused PIN is never resent, nor any PIN when fewer than 2 attempts
remain, never a PUK; the ICCID and the attempts come from the profile's commands (27.007 8.65 +CPINR,
Quectel +QPINC, SIMCom +SPIC). And pppos.pinguard's memory of refusals (private files, no PIN in them)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from pppos.at.bringup import PinRefused, VerdictCode, parse_iccid, parse_pin_attempts
from pppos.errors import ExitStatus
from tests.at.test_bringup import bring_up, info_of, modem_with, verdict_of

ICCID = "89860012345678901234"


def _pin_sim(**extra: object):
    return modem_with(**{"AT+CPIN?": "+CPIN: SIM PIN\nOK", "AT+CCID": f"+SCID: SIM Card ID:{ICCID}\nOK",
                         "AT+CPIN=": "+CME ERROR: incorrect password", **extra})


def _sent_pins(modem) -> list[str]:
    return [c for c in modem.commands if c.startswith("AT+CPIN=")]


def _refusals(events: list[object]) -> list[str]:
    return [e.iccid for e in events if isinstance(e, PinRefused)]


def test_refused_pin_is_reported_as_an_event_and_never_resent() -> None:
    modem = _pin_sim()
    events, _, _ = bring_up(modem, pin="9999")
    assert verdict_of(events).code is VerdictCode.PIN_WRONG and _refusals(events) == [ICCID]
    # the event comes before the verdict, so a driver that stops at the verdict has recorded it
    assert events.index(next(e for e in events if isinstance(e, PinRefused))) < events.index(verdict_of(events))
    assert info_of(events).iccid == ICCID
    # The next start knows: the PIN is not sent, and the line says what to do.
    modem = _pin_sim()
    events, _, _ = bring_up(modem, pin="9999", pin_refused_for=frozenset({ICCID}))
    verdict = verdict_of(events)
    assert verdict.code is VerdictCode.PIN_REFUSED_BEFORE and verdict.exit_status is ExitStatus.PIN_REFUSED
    assert ICCID[-7:] in verdict.message and "put the right PIN in the PIN file" in verdict.message
    assert _sent_pins(modem) == [] and _refusals(events) == [] and "9999" not in verdict.message
    # A refusal on another SIM does not block this one.
    modem = _pin_sim(**{"AT+CPIN=": "OK"})
    events, _, _ = bring_up(modem, pin="1234", pin_refused_for=frozenset({"89000000000000000000"}))
    assert _sent_pins(modem) == ['AT+CPIN="1234"']


def test_unknown_iccid_is_remembered_as_unknown() -> None:
    modem = _pin_sim(**{"AT+CCID": "ERROR"})
    events, _, _ = bring_up(modem, pin="9999")
    assert _refusals(events) == [""]
    modem = _pin_sim(**{"AT+CCID": "ERROR"})
    events, _, _ = bring_up(modem, pin="9999", pin_refused_for=frozenset({""}))
    assert verdict_of(events).code is VerdictCode.PIN_REFUSED_BEFORE and _sent_pins(modem) == []


@pytest.mark.parametrize(("left", "sent"), [(3, True), (2, True), (1, False), (0, False)])
def test_no_pin_when_fewer_than_two_attempts_remain(left: int, sent: bool) -> None:
    modem = _pin_sim(**{"AT+CPINR=": f"+CPINR: SIM PIN,{left},3\nOK", "AT+CPIN=": "OK"})
    events, _, _ = bring_up(modem, pin="1234", profile="generic")
    assert bool(_sent_pins(modem)) is sent
    assert info_of(events).pin_attempts == left
    if not sent:
        verdict = verdict_of(events)
        assert verdict.code is VerdictCode.PIN_ATTEMPTS_LOW and verdict.exit_status is ExitStatus.PIN_REFUSED
        assert f"only {left} PIN attempt" in verdict.message


def test_vendor_attempt_commands_per_profile() -> None:
    modem = _pin_sim(**{'AT+QPINC="SC"': '+QPINC: "SC",1,10\nOK', "AT+QCCID": f"+QCCID: {ICCID}\nOK"})
    events, _, _ = bring_up(modem, pin="1234", profile="quectel")
    assert verdict_of(events).code is VerdictCode.PIN_ATTEMPTS_LOW and info_of(events).iccid == ICCID
    modem = _pin_sim(**{"AT+SPIC": "+SPIC: 1,10,3,10\nOK", "AT+CCID": f"{ICCID}\nOK"})
    events, _, _ = bring_up(modem, pin="1234", profile="sim800")
    assert verdict_of(events).code is VerdictCode.PIN_ATTEMPTS_LOW and _sent_pins(modem) == []


def test_puk_is_never_sent() -> None:
    modem = _pin_sim(**{"AT+CPIN?": "+CPIN: SIM PUK\nOK"})
    events, _, _ = bring_up(modem, pin="1234")
    assert verdict_of(events).code is VerdictCode.PUK_NEEDED and _sent_pins(modem) == []


def test_parsers() -> None:
    assert parse_iccid(["+SCID: SIM Card ID:89860012345678901234"]) == ICCID
    assert parse_iccid(["+ICCID: 8944501234567890123F"]) == "8944501234567890123"
    assert parse_iccid(['+QCCID: "89860012345678901234"']) == ICCID
    assert parse_iccid(["89860012345678901234"]) == ICCID
    assert parse_iccid(["+CCID: none"]) == ""
    assert parse_pin_attempts(["+CPINR: SIM PIN,2,3"]) == 2
    assert parse_pin_attempts(['+CPINR: "SIM PIN",1,3']) == 1
    assert parse_pin_attempts(["+CPINR: SIM PIN2,3,3"]) is None
    assert parse_pin_attempts(['+QPINC: "SC",3,10', '+QPINC: "P2",3,10']) == 3
    assert parse_pin_attempts(["+SPIC: 3,10,3,10"]) == 3
    assert parse_pin_attempts(["+SPIC: x"]) is None and parse_pin_attempts([]) is None


def test_pinguard_memory_is_private_and_holds_no_pin(tmp_path: Path) -> None:
    from pppos import pinguard

    d = str(tmp_path / "state")
    assert pinguard.refused_for("1234", d) == frozenset()
    path = pinguard.remember_refusal("1234", ICCID, d)
    assert path is not None and pinguard.record_path(ICCID, d) == path
    pinguard.remember_refusal("1234", ICCID, d)  # twice: one entry
    pinguard.remember_refusal("5678", "", d)
    assert pinguard.refused_for("1234", d) == frozenset({ICCID})
    assert pinguard.refused_for("5678", d) == frozenset({""})
    assert pinguard.refused_for("4321", d) == frozenset() and pinguard.refused_for(None, d) == frozenset()
    for p in Path(d).rglob("*"):
        mode = stat.S_IMODE(p.stat().st_mode)
        assert mode == (0o700 if p.is_dir() else 0o600), (p, oct(mode))
        if p.suffix == ".json":  # the ICCID, a time and scrypt fingerprints: never the PIN itself
            record = __import__("json").loads(p.read_text())
            assert set(record) == {"iccid", "last", "refused"}
            assert all(len(f) == 32 and f not in {"1234", "5678"} for f in record["refused"])
    assert stat.S_IMODE(os.stat(d).st_mode) == 0o700
    assert len(__import__("json").loads(path.read_text())["refused"]) == 1
