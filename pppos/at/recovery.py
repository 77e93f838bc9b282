"""Sans-I/O AT scripts for the recovery ladder's modem rungs (see :mod:`pppos.session`).

Each script runs in command mode (after a hang-up, a failed bring-up or a lost carrier) over the
same :class:`~pppos.at.engine.AtEngine` plan runner as the bring-up, behind the uniform sans-I/O
surface (``start(now)``, ``receive_data``, ``next_event``, ``data_to_send``, ``get_timer``,
``handle_timer``) and ends with one :class:`~pppos.at.bringup.Verdict`:

- **detach/re-attach**: ``AT+CGATT=0`` then ``AT+CGATT=1`` (3GPP TS 27.007 10.1.9), which makes
  the network forget a stale packet-domain context;
- **radio off/on**: the profile's pair, ``AT+CFUN=0`` then ``AT+CFUN=1`` by default (TS 27.007
  8.2), which drops and redoes the registration;
- **modem reset**: the profile's reset (``AT+CFUN=1,1``, the A7's ``AT+RST=1``, ``AT+CRESET``); the
  modem reboots (and may vanish from USB for a while): the script waits a settle time, then for the
  modem to answer ``AT`` again (its boot messages, ``RDY``/``+CPIN``, come meanwhile), bounded by
  ``boot_timeout``. If the port vanishes the driver reports that instead, and the supervisor waits
  for the port.

Before the rung's commands the script checks that the modem answers the bring-up's sync line
(:data:`~pppos.at.bringup.SYNC_COMMAND`, ``ATE0Q0V1``: V.250 5.2.1, 6.2.4-6.2.6), verbose or numeric:
a modem that is silent in command mode fails the rung at once and the supervisor climbs to the next
one. The reset rung waits for the same line: a modem that rebooted comes back in its stored profile,
which may have numeric result codes (``V0``) or none at all (``Q1``).
"""

from __future__ import annotations

from collections.abc import Callable

from pppos.at.bringup import SYNC_COMMAND, Verdict, VerdictCode, _Cmd, _Plan, _Script, _Wait, sync_command
from pppos.at.engine import AtEngine, CommandDone
from pppos.at.profiles import ModemProfile
from pppos.errors import ExitStatus
from pppos.session import RUNG_WORDS, Rung

__all__ = ["AT_RUNGS", "RecoveryPlan", "profile_rungs"]

#: the rungs an AT script implements
AT_RUNGS = frozenset({Rung.REATTACH, Rung.RADIO, Rung.MODEM_RESET})


def profile_rungs(profile: ModemProfile) -> frozenset[Rung]:
    """The AT rungs ``profile`` supports (its ``reattach``, ``radio`` and ``reset`` fields)."""
    out: set[Rung] = set()
    if profile.reattach:
        out.add(Rung.REATTACH)
    if profile.radio is not None:
        out.add(Rung.RADIO)
    if profile.reset:
        out.add(Rung.MODEM_RESET)
    return frozenset(out)


class RecoveryPlan(_Plan):
    """One modem rung as an AT script (see the module docstring)."""

    def __init__(
        self,
        rung: Rung,
        profile: ModemProfile,
        *,
        command_timeout: float = 3.0,
        radio_pause: float = 1.0,
        reset_settle: float = 2.0,
        boot_timeout: float = 40.0,
        engine: AtEngine | None = None,
        trace: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(engine=engine, trace=trace)
        if rung not in AT_RUNGS:
            raise ValueError(f"{rung} is not an AT rung")
        self.rung = rung
        self.profile = profile
        self.command_timeout = command_timeout
        self.radio_pause = radio_pause
        self.reset_settle = reset_settle
        self.boot_timeout = boot_timeout

    def _end(self, ok: bool, message: str) -> None:
        self._emit(Verdict(ok=ok, code=VerdictCode.READY if ok else VerdictCode.MODEM_SILENT, message=message,
                           exit_status=ExitStatus.SUCCESS if ok else ExitStatus.NO_MODEM))

    def _steps(self) -> _Script:
        words = RUNG_WORDS[self.rung]
        reply = yield sync_command(self.command_timeout)
        if not isinstance(reply, CommandDone):
            self._end(False, f"the modem does not answer {SYNC_COMMAND} in command mode")
            return
        if self.rung is Rung.REATTACH:
            for command in ("AT+CGATT=0", "AT+CGATT=1"):
                reply = yield _Cmd(command, self.profile.attach_timeout)
                if not isinstance(reply, CommandDone):
                    self._end(False, f"{command} failed ({getattr(reply, 'text', 'no answer')})")
                    return
        elif self.rung is Rung.RADIO:
            assert self.profile.radio is not None
            off, on = self.profile.radio
            reply = yield _Cmd(off, max(self.command_timeout, 15.0))
            if not isinstance(reply, CommandDone):
                self._end(False, f"{off} failed ({getattr(reply, 'text', 'no answer')})")
                return
            yield _Wait(self.radio_pause)
            reply = yield _Cmd(on, max(self.command_timeout, 15.0))
            if not isinstance(reply, CommandDone):
                self._end(False, f"{on} failed ({getattr(reply, 'text', 'no answer')})")
                return
        else:
            assert self.profile.reset is not None
            self._progress("recovery", f"resetting the modem ({self.profile.reset})")
            yield _Cmd(self.profile.reset, self.command_timeout)  # may answer OK, or just reboot
            yield _Wait(self.reset_settle)
            waited = self.reset_settle
            while True:
                reply = yield sync_command(1.0)
                if isinstance(reply, CommandDone):
                    break
                waited += 1.0
                if waited >= self.boot_timeout:
                    self._end(
                        False, f"the modem did not answer {SYNC_COMMAND} within {self.boot_timeout:g} s of its reset"
                    )
                    return
        self._end(True, f"{words}: done")
