"""Fast detection of a lost call (NO CARRIER or a URC between frames, DCD), the reset command, and the
recovery ladder's AT scripts."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from types import SimpleNamespace

import pytest

from pppos import daemon as daemon_mod
from pppos.at.bringup import Verdict
from pppos.at.profiles import PROFILES
from pppos.at.recovery import RecoveryPlan, profile_rungs
from pppos.daemon import DataPath, Reporter, run_reset_command
from pppos.ppp import hdlc
from pppos.ppp.link import LinkConfig, PppLink
from pppos.session import Rung, RungDone, RungFailed

FRAME = hdlc.encode_frame(0x0021, b"E" + b"\0" * 19)


def test_last_line_after_the_last_flag() -> None:
    d = hdlc.Deframer()
    d.feed(FRAME + b"\r\nNO CARRIER\r\n\r\n")
    assert d.last_line() == b"NO CARRIER"
    d = hdlc.Deframer()
    d.feed(FRAME[:-5])  # inside a frame: no line
    assert d.last_line() == b""
    d = hdlc.Deframer()
    d.feed(FRAME + b"\r\nNO CARR")  # not a whole line yet
    assert d.last_line() == b""


def test_link_names_the_modem_text() -> None:
    link = PppLink(LinkConfig())
    link.receive_data(FRAME + b"\r\nNO CARRIER\r\n", 0.0)
    assert link.modem_text() == "NO CARRIER"
    link = PppLink(LinkConfig())
    link.receive_data(FRAME + b"\r\n+CREG: 1\r\n\r\n+CIEV: service,  1\r\n", 0.0)  # a rebooted A7
    assert link.modem_text() == "+CIEV: service,  1"
    link = PppLink(LinkConfig())
    link.receive_data(b"\x7e\xff\x03\x00\x21some text\r\n", 0.0)  # text inside an open frame
    assert link.modem_text() is None
    link.receive_data(FRAME, 0.0)
    assert link.modem_text() is None


class _Link:
    def __init__(self) -> None:
        self.text: str | None = None

    def modem_text(self) -> str | None:
        return self.text


def _path() -> DataPath:
    return DataPath(SimpleNamespace(time=lambda: 0.0), lambda fn: fn(), lambda why: None)  # type: ignore[arg-type]


def test_no_carrier_is_confirmed_after_a_moment_and_text_in_a_frame_is_not() -> None:
    io = _path()
    link = _Link()
    io.link = link  # type: ignore[assignment]
    link.text = "NO CARRIER"
    io.carrier_check_at = 1.0
    assert io.carrier_gone(0.99) is None  # not yet
    assert io.carrier_gone(1.0) == "NO CARRIER"
    assert io.carrier_check_at is None
    # the same text ending a chunk inside a frame: the frame went on, so it is no longer the last line
    io.carrier_check_at = 2.0
    link.text = None
    assert io.carrier_gone(2.0) is None


class _Port:
    def __init__(self, levels: list[bool] | None) -> None:
        self.levels = levels

    @property
    def cd(self) -> bool:
        if self.levels is None:
            raise OSError("a pty has no modem lines")
        return self.levels.pop(0)


def test_dcd_drop_after_it_was_high() -> None:
    io = _path()
    io.port = _Port([False, False, True, True, False])  # type: ignore[assignment]
    io.watch_carrier(0.0)  # reads one level to see that the port reports DCD
    assert io.dcd_at == pytest.approx(daemon_mod.DCD_POLL)
    results = [io.carrier_gone(t * daemon_mod.DCD_POLL) for t in (1, 2, 3, 4)]
    assert results == [None, None, None, "a DCD drop"]
    assert io.dcd_at is None


def test_dcd_low_from_the_start_is_not_a_drop_and_a_pty_is_not_polled() -> None:
    io = _path()
    io.port = _Port([False] * 10)  # type: ignore[assignment]
    io.watch_carrier(0.0)
    assert all(io.carrier_gone(t * daemon_mod.DCD_POLL) is None for t in range(1, 8))  # DCD not wired
    io.port = _Port(None)  # type: ignore[assignment]
    io.watch_carrier(0.0)
    assert io.dcd_at is None


def test_reset_command(monkeypatch: pytest.MonkeyPatch) -> None:
    rep = Reporter(quiet=True)
    assert isinstance(asyncio.run(run_reset_command(("true",), rep)), RungDone)
    failed = asyncio.run(run_reset_command(("false",), rep))
    assert isinstance(failed, RungFailed) and "status 1" in failed.message
    missing = asyncio.run(run_reset_command(("/nonexistent/uhubctl", "-a", "cycle"), rep))
    assert isinstance(missing, RungFailed) and "cannot run /nonexistent/uhubctl" in missing.message
    async def cancelled() -> int:
        task = asyncio.create_task(run_reset_command(("sleep", "30"), rep))
        await asyncio.sleep(0.3)
        children = _children()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return len(children - _children())

    assert asyncio.run(cancelled()) == 1  # the stopped daemon's reset command does not outlive it
    monkeypatch.setattr(daemon_mod, "RESET_COMMAND_TIMEOUT", 0.2)
    slow = asyncio.run(run_reset_command(("sleep", "30"), rep))
    assert isinstance(slow, RungFailed) and "killed" in slow.message


def _children() -> set[int]:
    import os

    pid = os.getpid()
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return {int(p) for p in fh.read().split()}
    except OSError:
        return set()


# -- the AT scripts of the ladder ------------------------------------------------------------------


def _run(plan: RecoveryPlan, answers: dict[str, str], *, limit: float = 120.0) -> tuple[Verdict, list[str]]:
    """Drive ``plan`` on a float clock, answering each command line from ``answers`` (regex -> reply;
    no match: silence, so the command times out)."""
    now = 0.0
    plan.start(now)
    sent: list[str] = []
    while now < limit:
        out = plan.data_to_send()
        for line in re.findall(rb"([^\r]+)\r", out):
            text = line.decode()
            sent.append(text)
            for pattern, reply in answers.items():
                if re.fullmatch(pattern, text):
                    plan.receive_data(f"\r\n{reply}\r\n".encode(), now)
                    break
        while (event := plan.next_event()) is not None:
            if isinstance(event, Verdict):
                return event, sent
        if out:
            continue  # the answer may have sent the next command at once
        deadline = plan.get_timer()
        if deadline is None:
            break
        now = max(now, deadline)
        plan.handle_timer(now)
    raise AssertionError(f"no verdict; sent {sent}")


def test_reattach_script() -> None:
    verdict, sent = _run(RecoveryPlan(Rung.REATTACH, PROFILES["a7"]), {r".*": "OK"})
    assert verdict.ok and sent == ["ATE0Q0V1", "AT+CGATT=0", "AT+CGATT=1"]


def test_radio_script_uses_the_profile_pair_and_reports_errors() -> None:
    verdict, sent = _run(RecoveryPlan(Rung.RADIO, PROFILES["sim800"]), {r".*": "OK"})
    assert verdict.ok and sent == ["ATE0Q0V1", "AT+CFUN=0", "AT+CFUN=1"]
    verdict, _ = _run(RecoveryPlan(Rung.RADIO, PROFILES["sim800"]), {"ATE0Q0V1": "OK", r"AT\+CFUN=0": "ERROR"})
    assert not verdict.ok and "AT+CFUN=0 failed" in verdict.message


def test_modem_reset_waits_for_the_modem_to_answer_again() -> None:
    answers = {"ATE0Q0V1": "OK"}
    verdict, sent = _run(RecoveryPlan(Rung.MODEM_RESET, PROFILES["a7"]), answers)
    assert verdict.ok and sent[:2] == ["ATE0Q0V1", "AT+RST=1"]
    assert sent[2:] and set(sent[2:]) == {"ATE0Q0V1"}  # after the reset: the sync line until it answers
    silent = _run(RecoveryPlan(Rung.MODEM_RESET, PROFILES["a7"], boot_timeout=5.0), {})[0]
    assert not silent.ok and "does not answer ATE0Q0V1 in command mode" in silent.message


def test_profiles_say_which_rungs_they_support() -> None:
    assert profile_rungs(PROFILES["a7"]) == {Rung.REATTACH, Rung.RADIO, Rung.MODEM_RESET}
    bare = dataclasses.replace(PROFILES["generic"], radio=None, reset=None)
    assert profile_rungs(bare) == {Rung.REATTACH}
    with pytest.raises(ValueError, match="not an AT rung"):
        RecoveryPlan(Rung.REDIAL, PROFILES["a7"])
