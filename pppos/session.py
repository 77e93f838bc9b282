"""The session supervisor of ``pppos-up``: sans-I/O, a float clock passed in, a transition table.

Theory of operation
-------------------
A ``pppos-up`` run is a sequence of *attempts* (open the port, bring the modem up, dial, negotiate
PPP, configure the interface) and, with ``--persist``, of recoveries between them. This module
decides all of that; :mod:`pppos.daemon` only executes what it is told (file descriptors, one timer,
signals, netlink) and reports back what happened.

* **Inputs** are typed frozen events (:data:`SessionEvent`): the port opened or failed, the bring-up
  reached data mode (:class:`DataMode`) or ended with a verdict (:class:`BringupFailed`, carrying
  the :class:`~pppos.errors.ExitStatus` of the bring-up's verdict table), IPCP opened
  (:class:`LinkUp`), the interface is configured, the link went down (:class:`LinkDown` with the
  :class:`pppos.ppp.link.DownCause` name), the carrier was lost (``NO CARRIER`` between frames or a
  DCD drop: :class:`CarrierLost`), the port failed (EOF/EIO: :class:`PortLost`), a hang-up or a
  ladder rung finished, the supervisor's own deadline passed (:class:`Timer`), a stop was asked
  (:class:`StopRequest`).
* **Outputs** are typed commands (:data:`Command`), taken with :meth:`Supervisor.next_command`:
  open/close the port, start the bring-up, start PPP, hang up (only while the call may still be
  up), run a ladder rung, (un)configure the interface's routes and DNS, drop whatever AT/PPP core is
  active (:class:`Quiesce`), arm the one supervisor deadline (:class:`ArmTimer`; also
  :meth:`Supervisor.get_timer`), exit, and progress lines (:class:`Report`).
* **Phases** (:class:`Phase`) and :data:`TRANSITIONS`: ``(phase, event type) -> (actions, next
  phase)``, in the style of :mod:`pppos.ppp.fsm`. A next phase of ``None`` means an action of the
  cell decides it (the ``decide`` actions: give up or hold off, which rung, which way to end).
  An absent cell is an event that cannot matter in that phase (a late report of a core the
  supervisor already dropped, a carrier drop while no call is up): it is counted in
  :attr:`Supervisor.ignored` and changes nothing.
* **Detection.** A lost carrier or a vanished port ends the session at once with no LCP Terminate
  and no ``+++`` (the call is already gone). A peer Terminate-Request, echo failures, a PPP that
  never opens (:attr:`SessionConfig.ppp_timeout`) and the modem going silent in command mode (a
  bring-up verdict) end it too; those may leave the call up, so a guarded hang-up
  (:class:`HangUp`) follows.
* **Persist** (``--persist``): what follows the end of a session depends on how long it was *up*
  (IPCP open and the interface configured), not on how it ended:

  - a session up at least :attr:`SessionConfig.min_up` (10 s; phase :attr:`Phase.RUNNING`) worked:
    its loss (carrier, peer Terminate, echo failures, port) redials **at once**, from the first rung,
    after the guarded hang-up where the call may still be up;
  - a session up less than that (phase :attr:`Phase.UP`), and every attempt that never came up, is a
    *failed attempt*: it counts for ``--maxfail`` and waits a *holdoff* first (``--holdoff`` doubling
    per consecutive failed attempt up to ``--holdoff-max``, with +-25 % jitter from the injected
    random source; the exponent resets once a session stayed up
    :attr:`SessionConfig.holdoff_reset_after`, 10 minutes). So a modem or network that drops every
    call right after it comes up is paced by the holdoff from its first short session (about 20 dials
    in the first hour, then 12 an hour at the 300 s default ``--holdoff-max``), and sessions that worked
    can bring at most 3600 / (min_up + bring-up) dials an hour.

  pppd (ppp-project/ppp) decides by the *cause* instead: ``pppd/main.c`` ``main()`` sets
  ``need_holdoff = 1`` before every attempt and waits ``t = need_holdoff ? holdoff : 0`` (default 30 s)
  after it; only ``get_input()`` on a modem hang-up ("Modem hangup": EOF on the tty) and a user's
  ``kill_link``, and in ``pppd/auth.c`` the deliberate ends ``check_maxoctets()``, ``check_idle()``
  and ``connect_time_expired()``, clear it (``link_terminated()`` does not); ``np_up()`` resets the
  ``maxfail`` counter (``unsuccess``) as soon as a network protocol comes up. pppd therefore redials a
  modem that hangs up 1 s after every CONNECT with no pause and no ``maxfail`` end (a storm), and
  waits 30 s after a peer Terminate or an echo failure even after days up. A failed attempt also
  climbs the *recovery ladder* :class:`Rung`: redial, detach/re-attach (``AT+CGATT``), radio off/on
  (``AT+CFUN``), the profile's modem reset, the user's ``--reset-command``, and waiting for the port to
  come back at the same path (then start over). Rungs a profile lacks are left out of
  :attr:`SessionConfig.rungs`. A rung that fails hands over to the next one at once; a session that
  comes up starts the ladder again from redial (the modem, SIM, network and PPP all worked), and one
  that stays up ``min_up`` also resets the failure count. ``--maxfail N`` gives up after N
  consecutive failed attempts with the last verdict; SIM verdicts are never retried (a SIM locks
  itself after three wrong PINs). A vanished port is waited for (``--port-wait``, forever by
  default), polled by opening it every :attr:`SessionConfig.port_poll` seconds.
* **One-shot** (no ``--persist``): the first loss or failure ends the run with its verdict, with the
  same fast detection.
* **Data cap** (``--data-cap``, :mod:`pppos.accounting`): the driver reports :class:`CapReached` when
  the period's cap is used up (at start, before the port is opened, or while the link runs). A call
  that may be up is ended as on a stop (routes and DNS removed, LCP Terminate, the guarded hang-up);
  then without ``--persist`` the run exits with :attr:`~ExitStatus.DATA_CAP`, and with it the port is
  closed and the supervisor *holds* (phase :attr:`Phase.CAP_HOLD`): nothing is dialled until the
  driver reports :class:`CapCleared` (the period rolled over), then it opens the port and dials with a
  fresh ladder. While holding it asks again (:class:`CheckCap`) every
  :attr:`SessionConfig.cap_recheck` seconds or at the period's end if sooner, so a wall clock that
  steps (NTP at boot on a board without RTC) cannot leave it holding too long.
* **Stop** (SIGTERM, SIGINT, ``pppos-down``) is accepted in every phase: while a call is up it hangs
  up (LCP Terminate, then the guarded hang-up), elsewhere it closes the port and exits at once; a
  second stop while hanging up exits at once. The driver restores host state after :class:`Exit`.
* **Never stuck**: in every phase but *stopped* either a driver completion is awaited (the
  bring-up, the PPP negotiation under its deadline, a configuration, the running link) or the
  supervisor's deadline is armed (holdoff, port poll, hang-up and rung guards, the cap hold's re-check).
"""

from __future__ import annotations

import math
import random as _random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum, unique

from pppos.errors import ExitStatus

__all__ = [
    "MIN_UP",
    "RUNG_WORDS",
    "TRANSITIONS",
    "Action",
    "ArmTimer",
    "BringupFailed",
    "CapCleared",
    "CapReached",
    "CarrierLost",
    "CheckCap",
    "ClosePort",
    "Command",
    "ConfigureInterface",
    "DataMode",
    "Exit",
    "HangUp",
    "HangupDone",
    "InterfaceConfigured",
    "InterfaceFailed",
    "LinkDown",
    "LinkUp",
    "OpenPort",
    "Phase",
    "PortFailed",
    "PortLost",
    "PortOpened",
    "Quiesce",
    "Report",
    "RunRung",
    "Rung",
    "RungDone",
    "RungFailed",
    "SessionConfig",
    "SessionEvent",
    "Start",
    "StartBringup",
    "StartPpp",
    "StopRequest",
    "Supervisor",
    "Timer",
    "UnconfigureInterface",
    "link_down_verdict",
]


# -- phases, rungs --------------------------------------------------------------------------------


@unique
class Phase(Enum):
    """Where the session is. The value is the word ``pppos-status`` shows."""

    IDLE = "idle"
    #: the first open of the port
    OPENING = "opening"
    #: the AT bring-up runs (sync, SIM, registration, attach, dial)
    BRINGUP = "modem"
    #: PPP negotiates (LCP, authentication, IPCP) under :attr:`SessionConfig.ppp_timeout`
    PPP = "ppp"
    #: IPCP opened; the driver configures address, routes and DNS
    CONFIGURING = "configuring"
    #: the session is up (IPCP open, interface configured) for less than :attr:`SessionConfig.min_up`:
    #: a loss here is a failed attempt (holdoff); ``pppos-status`` shows it as ``running`` (:attr:`word`)
    UP = "up"
    #: the session has been up at least :attr:`SessionConfig.min_up`: a loss here redials at once
    RUNNING = "running"
    #: the session was lost or failed and the call may still be up: guarded hang-up
    HANGUP = "hangup"
    #: waiting before the next attempt (``--persist``)
    HOLDOFF = "holdoff"
    #: a recovery rung (AT script or ``--reset-command``) runs
    RUNG = "recovery"
    #: the port is gone (or was closed for a reset): polling it open
    PORT_WAIT = "port-wait"
    #: the data cap of this period is used up (``--persist``): nothing is dialled until it rolls over
    CAP_HOLD = "cap-hold"
    #: stopping: hanging up before the exit
    STOPPING = "stopping"
    STOPPED = "stopped"

    @property
    def word(self) -> str:
        """The word the state file shows: a session up for less than ``min_up`` runs too (the link carries
        traffic, its routes and DNS are in place)."""
        return Phase.RUNNING.value if self is Phase.UP else self.value


@unique
class Rung(Enum):
    """The recovery ladder, in climbing order (issue 10 item 4)."""

    REDIAL = "redial"
    REATTACH = "reattach"
    RADIO = "radio"
    MODEM_RESET = "modem-reset"
    RESET_COMMAND = "reset-command"
    PORT_WAIT = "port-wait"


#: one-line words for each rung (logs and ``pppos-status``)
RUNG_WORDS: dict[Rung, str] = {
    Rung.REDIAL: "redial",
    Rung.REATTACH: "detach/re-attach",
    Rung.RADIO: "radio off/on",
    Rung.MODEM_RESET: "modem reset",
    Rung.RESET_COMMAND: "reset command",
    Rung.PORT_WAIT: "wait for the port",
}

ALL_RUNGS: tuple[Rung, ...] = tuple(Rung)

#: seconds a session must stay up for its loss to redial at once (:attr:`SessionConfig.min_up`)
MIN_UP = 10.0


# -- events (inputs) ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Start:
    """Begin: open the port."""


@dataclass(frozen=True, slots=True)
class PortOpened:
    """The driver opened the port (also: the port is present again after a wait)."""


@dataclass(frozen=True, slots=True)
class PortFailed:
    """The driver could not open the port."""

    status: ExitStatus
    message: str


@dataclass(frozen=True, slots=True)
class DataMode:
    """The bring-up dialled: the modem is in data mode (the driver has started nothing yet)."""


@dataclass(frozen=True, slots=True)
class BringupFailed:
    """The bring-up ended with a failed verdict (its exit status and line)."""

    status: ExitStatus
    message: str


@dataclass(frozen=True, slots=True)
class LinkUp:
    """IPCP opened."""


@dataclass(frozen=True, slots=True)
class InterfaceConfigured:
    """Address, routes and DNS are in place."""


@dataclass(frozen=True, slots=True)
class InterfaceFailed:
    """Configuring the host failed (permission, netlink): not retried."""

    status: ExitStatus
    message: str


@dataclass(frozen=True, slots=True)
class LinkDown:
    """The PPP link went down by itself: ``cause`` is a :class:`pppos.ppp.link.DownCause` name in
    lower case (``echo_timeout``), ``reason`` the link's words."""

    cause: str
    reason: str
    protocol: str | None = None


@dataclass(frozen=True, slots=True)
class CarrierLost:
    """The call is gone: ``NO CARRIER`` between PPP frames, or DCD dropped (``how`` says which)."""

    how: str


@dataclass(frozen=True, slots=True)
class PortLost:
    """Reading or writing the port failed (EOF, EIO: the USB device vanished)."""

    reason: str


@dataclass(frozen=True, slots=True)
class HangupDone:
    """The hang-up the supervisor asked for finished (or gave up; it is best effort)."""


@dataclass(frozen=True, slots=True)
class RungDone:
    """The rung the supervisor asked for finished."""


@dataclass(frozen=True, slots=True)
class RungFailed:
    """The rung failed (the modem did not answer, the command exited non-zero)."""

    message: str


@dataclass(frozen=True, slots=True)
class Timer:
    """The deadline of :meth:`Supervisor.get_timer` passed."""


@dataclass(frozen=True, slots=True)
class StopRequest:
    """Stop (``interrupt``: SIGINT, exit 130; otherwise SIGTERM/SIGHUP/pppos-down, exit 0)."""

    interrupt: bool = False


@dataclass(frozen=True, slots=True)
class CapReached:
    """The ``--data-cap`` of this period is used up (also the answer to :class:`CheckCap` while it
    still is): ``used`` in words (``101.0 kB of 100.0 kB/day``), the period's end in words
    (``until``, ``2027-01-01 00:00 UTC``) and the seconds ``left`` until then by the wall clock."""

    used: str
    until: str
    left: float


@dataclass(frozen=True, slots=True)
class CapCleared:
    """The cap's period rolled over: the cap is no longer reached (the answer to :class:`CheckCap`)."""


SessionEvent = (
    Start | PortOpened | PortFailed | DataMode | BringupFailed | LinkUp | InterfaceConfigured | InterfaceFailed
    | LinkDown | CarrierLost | PortLost | HangupDone | RungDone | RungFailed | Timer | StopRequest
    | CapReached | CapCleared
)
EVENT_TYPES: tuple[type, ...] = (
    Start, PortOpened, PortFailed, DataMode, BringupFailed, LinkUp, InterfaceConfigured, InterfaceFailed,
    LinkDown, CarrierLost, PortLost, HangupDone, RungDone, RungFailed, Timer, StopRequest,
    CapReached, CapCleared,
)


# -- commands (outputs) ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OpenPort:
    """Open the port; answer :class:`PortOpened` or :class:`PortFailed`."""


@dataclass(frozen=True, slots=True)
class ClosePort:
    """Drop every core and close the port (nothing more is written to it)."""


@dataclass(frozen=True, slots=True)
class StartBringup:
    """Run the AT bring-up; answer :class:`DataMode` or :class:`BringupFailed`."""


@dataclass(frozen=True, slots=True)
class StartPpp:
    """Start LCP on the port (after CONNECT, or at once with ``--direct``)."""


@dataclass(frozen=True, slots=True)
class HangUp:
    """End a call that may still be up: with ``terminate`` LCP Terminate first (bounded), then the
    guarded ``+++``/``ATH`` (not with ``--direct``); answer :class:`HangupDone`."""

    terminate: bool


@dataclass(frozen=True, slots=True)
class Quiesce:
    """Drop the active AT/PPP core (keep the port open)."""


@dataclass(frozen=True, slots=True)
class RunRung:
    """Run a ladder rung; answer :class:`RungDone` or :class:`RungFailed`."""

    rung: Rung


@dataclass(frozen=True, slots=True)
class ConfigureInterface:
    """Address, routes and DNS for the link that just came up; answer :class:`InterfaceConfigured`."""


@dataclass(frozen=True, slots=True)
class UnconfigureInterface:
    """Remove our routes and restore the resolver while the link is down (the interface stays)."""


@dataclass(frozen=True, slots=True)
class ArmTimer:
    """The supervisor's deadline is now ``at`` (None: none)."""

    at: float | None


@dataclass(frozen=True, slots=True)
class CheckCap:
    """Ask the accounting whether the cap is still used up; answer :class:`CapReached` or :class:`CapCleared`."""


@dataclass(frozen=True, slots=True)
class Exit:
    """Finish with ``status`` (and ``message`` for a failure); the driver restores host state."""

    status: ExitStatus
    message: str | None = None


@dataclass(frozen=True, slots=True)
class Report:
    """One progress line (``warn``: shown even with ``-q``)."""

    step: str
    line: str
    warn: bool = False


Command = (
    OpenPort | ClosePort | StartBringup | StartPpp | HangUp | Quiesce | RunRung | ConfigureInterface
    | UnconfigureInterface | ArmTimer | CheckCap | Exit | Report
)


# -- configuration --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionConfig:
    """The supervisor's settings (from :class:`pppos.config.UpOptions` and the modem profile)."""

    persist: bool = False
    #: consecutive failed attempts before giving up (0: never; only with ``persist``)
    maxfail: int = 0
    holdoff: float = 1.0
    holdoff_max: float = 300.0
    #: seconds to wait for a vanished port (None: forever; only with ``persist``)
    port_wait: float | None = None
    #: ``--direct``: the port is a PPP link; no bring-up, no hang-up
    direct: bool = False
    #: the ladder rungs this modem supports, in climbing order (see :func:`ladder`)
    rungs: tuple[Rung, ...] = (Rung.REDIAL, Rung.PORT_WAIT)
    #: seconds from StartPpp to IPCP open before the attempt counts as failed
    ppp_timeout: float = 60.0
    #: bound of a hang-up (LCP Terminate + guarded +++/ATH) before going on
    hangup_guard: float = 15.0
    #: bound of a rung (a modem reset includes waiting for its boot messages)
    rung_guard: float = 90.0
    #: how often a vanished port is tried
    port_poll: float = 0.25
    #: a session up this long resets the holdoff growth
    holdoff_reset_after: float = 600.0
    #: a session up at least this long (phase :attr:`Phase.RUNNING`) worked: its loss redials at once,
    #: with no holdoff; one that ends sooner (phase :attr:`Phase.UP`) counts as a failed attempt (holdoff,
    #: ``--maxfail``), so a modem or network that drops every call right after it came up cannot make a
    #: redial storm: at most 3600 / (min_up + bring-up) dials an hour come from sessions that worked
    #: (about 330 with a 1 s bring-up), and the holdoff (doubling to ``--holdoff-max``) paces the rest
    min_up: float = MIN_UP
    #: while holding at the data cap, ask the accounting again this often (the wall clock may step)
    cap_recheck: float = 60.0
    #: verdicts that are never retried
    fatal: frozenset[ExitStatus] = frozenset({ExitStatus.SIM, ExitStatus.USAGE, ExitStatus.PERMISSION})


def ladder(*, profile_rungs: frozenset[Rung], reset_command: bool, direct: bool) -> tuple[Rung, ...]:
    """The rungs to climb: redial and the port wait always; AT rungs when the profile has them (not
    with ``--direct``); the reset command when one is configured."""
    out: list[Rung] = []
    for rung in ALL_RUNGS:
        if rung in (Rung.REDIAL, Rung.PORT_WAIT):
            out.append(rung)
        elif rung is Rung.RESET_COMMAND:
            if reset_command:
                out.append(rung)
        elif rung in profile_rungs and not direct:
            out.append(rung)
    return tuple(out)


def link_down_verdict(cause: str, reason: str, protocol: str | None, *, was_up: bool) -> tuple[ExitStatus, str]:
    """Exit status and one line for a LinkDown that we did not ask for.

    ``cause`` is the :class:`pppos.ppp.link.DownCause` name in lower case: authentication failures
    are :attr:`~ExitStatus.AUTH`; anything after IPCP opened is a lost link; anything before is a
    negotiation failure naming the protocol (LCP, IPCP) when the link says which.
    """
    if "auth" in cause:
        return ExitStatus.AUTH, f"PPP authentication failed: {reason}"
    if was_up:
        return ExitStatus.LINK_LOST, f"the link was lost: {reason}"
    return ExitStatus.PPP, f"PPP negotiation failed{f' ({protocol})' if protocol else ''}: {reason}"


# -- the table ------------------------------------------------------------------------------------


@unique
class Action(Enum):
    """What a cell does, run in order. ``decide_*`` actions set the next phase themselves."""

    OPEN_PORT = "open-port"
    CLOSE_PORT = "close-port"
    START_BRINGUP = "start-bringup"
    START_PPP = "start-ppp"
    ARM_PPP_DEADLINE = "arm-ppp-deadline"
    CONFIGURE = "configure"
    UNCONFIGURE = "unconfigure"
    QUIESCE = "quiesce"
    #: the interface is configured: the session is up (phase UP), ladder reset; arm the min_up deadline
    MARK_UP = "mark-up"
    #: the session stayed up min_up seconds (phase RUNNING): the failure count resets (pppd's np_up)
    CONFIRM_UP = "confirm-up"
    #: the attempt failed (bring-up verdict, PPP, port): record the verdict, count it, climb
    ATTEMPT_FAILED = "attempt-failed"
    #: a link went down (before or after it ran): verdict from the cause
    LINK_DOWN = "link-down"
    #: the call is gone (carrier, port): verdict "the link was lost"
    CALL_GONE = "call-gone"
    PORT_GONE = "port-gone"
    PPP_TIMEOUT = "ppp-timeout"
    #: count what just ended as a failed attempt (PPP or configuring): failures, holdoff growth, ladder
    COUNT_FAILED = "count-failed"
    #: a session that was up less than min_up ended: a failed attempt (failures, holdoff growth), and
    #: the ladder starts again from redial (the modem, SIM, network and PPP all worked this time)
    COUNT_SHORT = "count-short"
    #: a session that was up at least min_up ended: a loss, not a failure; the next attempt redials at
    #: once (decide_next skips the holdoff); the holdoff growth resets after 10 minutes up
    COUNT_LOSS = "count-loss"
    INTERFACE_FAILED = "interface-failed"
    STOP_STATUS = "stop-status"
    HANGUP_TERMINATE = "hangup-terminate"
    ARM_HANGUP_GUARD = "arm-hangup-guard"
    RUNG_FAILED = "rung-failed"
    PORT_FAILED = "port-failed"
    CLEAR_TIMER = "clear-timer"
    EXIT = "exit"
    #: the call may be up: guarded hang-up (phase HANGUP), or straight on to decide_next
    DECIDE_HANGUP = "decide-hangup"
    #: after a loss or failure, with the call down: exit, redial at once (COUNT_LOSS), or hold off
    DECIDE_NEXT = "decide-next"
    #: the holdoff is over: run the current rung
    DECIDE_RUNG = "decide-rung"
    #: a rung finished: bring-up, or wait for the port (resets)
    DECIDE_AFTER_RUNG = "decide-after-rung"
    #: the first open failed: wait for the port (persist) or exit
    DECIDE_OPEN_FAILED = "decide-open-failed"
    #: the port is gone: wait for it (persist) or exit
    DECIDE_PORT_GONE = "decide-port-gone"
    #: a port poll failed: poll again or give up at the deadline
    DECIDE_POLL = "decide-poll"
    #: the port opened: bring-up (or PPP with --direct)
    DECIDE_ATTEMPT = "decide-attempt"
    #: the data cap is used up: note it (what decide_next and decide_port_gone then do)
    CAP_REACHED = "cap-reached"
    #: with the call down and the port closed: hold until the period rolls over (persist) or exit 15
    DECIDE_CAP = "decide-cap"
    #: while holding: ask the accounting again (and re-arm, so the hold never depends on the answer)
    CHECK_CAP = "check-cap"
    #: the period rolled over: a fresh start (ladder, failure count and holdoff reset)
    CAP_CLEARED = "cap-cleared"


P = Phase
A = Action

_ATTEMPT = (A.DECIDE_ATTEMPT,)


def _losses(count: Action) -> tuple[Cell, Cell, Cell]:
    """The cells of a link down, a lost call and a lost port; ``count`` says what the end counts as:
    a failed attempt (before up, or up less than min_up) or the loss of a session that worked."""
    return (((A.LINK_DOWN, count, A.UNCONFIGURE, A.DECIDE_HANGUP), None),
            ((A.CALL_GONE, count, A.UNCONFIGURE, A.QUIESCE, A.DECIDE_NEXT), None),
            ((A.PORT_GONE, count, A.UNCONFIGURE, A.CLOSE_PORT, A.DECIDE_PORT_GONE), None))


Cell = tuple[tuple[Action, ...], Phase | None]
_LINK_DOWN, _CALL_GONE, _PORT_GONE = _losses(A.COUNT_FAILED)
_SHORT_DOWN, _SHORT_GONE, _SHORT_PORT = _losses(A.COUNT_SHORT)
_LOSS_DOWN, _LOSS_GONE, _LOSS_PORT = _losses(A.COUNT_LOSS)
_STOP_CLOSE = ((A.STOP_STATUS, A.CLOSE_PORT, A.EXIT), P.STOPPED)
_STOP_HANGUP = ((A.STOP_STATUS, A.UNCONFIGURE, A.HANGUP_TERMINATE, A.ARM_HANGUP_GUARD), P.STOPPING)
_FINISH = ((A.CLOSE_PORT, A.EXIT), P.STOPPED)
#: the cap while the call may be up: end it as a stop does, then decide_next holds or exits
_CAP_HANGUP = ((A.CAP_REACHED, A.UNCONFIGURE, A.HANGUP_TERMINATE, A.ARM_HANGUP_GUARD), P.HANGUP)
#: the cap with no call up: close the port, hold or exit
_CAP_CLOSE = ((A.CAP_REACHED, A.CLEAR_TIMER, A.CLOSE_PORT, A.DECIDE_CAP), None)

#: ``(phase, event type) -> (actions in order, next phase or None = decided by an action)``.
#: Absent cells: the event is stale or cannot matter there (counted in ``Supervisor.ignored``).
TRANSITIONS: dict[tuple[Phase, type], Cell] = {
    (P.IDLE, Start): ((A.OPEN_PORT,), P.OPENING),
    (P.IDLE, StopRequest): ((A.STOP_STATUS, A.EXIT), P.STOPPED),
    (P.IDLE, CapReached): ((A.CAP_REACHED, A.DECIDE_CAP), None),  # used up at start: the port stays shut
    # the first open
    (P.OPENING, PortOpened): (_ATTEMPT, None),
    (P.OPENING, PortFailed): ((A.PORT_FAILED, A.DECIDE_OPEN_FAILED), None),
    (P.OPENING, StopRequest): _STOP_CLOSE,
    (P.OPENING, CapReached): _CAP_CLOSE,
    # the AT bring-up
    (P.BRINGUP, DataMode): ((A.START_PPP, A.ARM_PPP_DEADLINE), P.PPP),
    (P.BRINGUP, BringupFailed): ((A.ATTEMPT_FAILED, A.QUIESCE, A.DECIDE_NEXT), None),
    (P.BRINGUP, PortLost): _PORT_GONE,
    (P.BRINGUP, StopRequest): _STOP_CLOSE,
    (P.BRINGUP, CapReached): _CAP_CLOSE,
    # PPP negotiation
    (P.PPP, LinkUp): ((A.CONFIGURE,), P.CONFIGURING),
    (P.PPP, LinkDown): _LINK_DOWN,
    (P.PPP, CarrierLost): _CALL_GONE,
    (P.PPP, PortLost): _PORT_GONE,
    (P.PPP, Timer): ((A.PPP_TIMEOUT, A.HANGUP_TERMINATE, A.ARM_HANGUP_GUARD), P.HANGUP),
    (P.PPP, StopRequest): _STOP_HANGUP,
    (P.PPP, CapReached): _CAP_HANGUP,
    # configuring the host (the PPP deadline still runs)
    (P.CONFIGURING, InterfaceConfigured): ((A.CLEAR_TIMER, A.MARK_UP), P.UP),
    (P.CONFIGURING, InterfaceFailed): ((A.INTERFACE_FAILED, A.UNCONFIGURE, A.HANGUP_TERMINATE,
                                        A.ARM_HANGUP_GUARD), P.STOPPING),
    (P.CONFIGURING, LinkDown): _LINK_DOWN,
    (P.CONFIGURING, CarrierLost): _CALL_GONE,
    (P.CONFIGURING, PortLost): _PORT_GONE,
    (P.CONFIGURING, Timer): ((A.PPP_TIMEOUT, A.UNCONFIGURE, A.HANGUP_TERMINATE, A.ARM_HANGUP_GUARD), P.HANGUP),
    (P.CONFIGURING, StopRequest): _STOP_HANGUP,
    (P.CONFIGURING, CapReached): _CAP_HANGUP,
    # up, for less than min_up: an end here is a failed attempt (holdoff before the redial)
    (P.UP, Timer): ((A.CONFIRM_UP,), P.RUNNING),
    (P.UP, LinkDown): _SHORT_DOWN,
    (P.UP, CarrierLost): _SHORT_GONE,
    (P.UP, PortLost): _SHORT_PORT,
    (P.UP, StopRequest): _STOP_HANGUP,
    (P.UP, CapReached): _CAP_HANGUP,
    # running (up at least min_up): an end here redials at once (after the hang-up if one is needed)
    (P.RUNNING, LinkDown): _LOSS_DOWN,
    (P.RUNNING, CarrierLost): _LOSS_GONE,
    (P.RUNNING, PortLost): _LOSS_PORT,
    (P.RUNNING, StopRequest): _STOP_HANGUP,
    (P.RUNNING, CapReached): _CAP_HANGUP,
    # hanging up after a loss (the call may have been up)
    (P.HANGUP, HangupDone): ((A.CLEAR_TIMER, A.QUIESCE, A.DECIDE_NEXT), None),
    (P.HANGUP, Timer): ((A.QUIESCE, A.DECIDE_NEXT), None),
    (P.HANGUP, CarrierLost): ((A.CLEAR_TIMER, A.QUIESCE, A.DECIDE_NEXT), None),
    (P.HANGUP, PortLost): ((A.CLOSE_PORT, A.DECIDE_PORT_GONE), None),
    (P.HANGUP, StopRequest): ((A.STOP_STATUS,), P.STOPPING),
    (P.HANGUP, CapReached): ((A.CAP_REACHED,), P.HANGUP),  # the hang-up goes on; decide_next holds
    # holding off
    (P.HOLDOFF, Timer): ((A.DECIDE_RUNG,), None),
    (P.HOLDOFF, PortLost): ((A.CLOSE_PORT, A.DECIDE_PORT_GONE), None),
    (P.HOLDOFF, StopRequest): _STOP_CLOSE,
    (P.HOLDOFF, CapReached): _CAP_CLOSE,
    # a ladder rung
    (P.RUNG, RungDone): ((A.CLEAR_TIMER, A.QUIESCE, A.DECIDE_AFTER_RUNG), None),
    (P.RUNG, RungFailed): ((A.CLEAR_TIMER, A.QUIESCE, A.RUNG_FAILED, A.DECIDE_RUNG), None),
    (P.RUNG, Timer): ((A.QUIESCE, A.RUNG_FAILED, A.DECIDE_RUNG), None),
    (P.RUNG, PortLost): ((A.CLEAR_TIMER, A.CLOSE_PORT, A.DECIDE_PORT_GONE), None),
    (P.RUNG, StopRequest): _STOP_CLOSE,
    (P.RUNG, CapReached): _CAP_CLOSE,
    # waiting for the port
    (P.PORT_WAIT, Timer): ((A.OPEN_PORT,), P.PORT_WAIT),
    (P.PORT_WAIT, PortOpened): (_ATTEMPT, None),
    (P.PORT_WAIT, PortFailed): ((A.DECIDE_POLL,), None),
    (P.PORT_WAIT, StopRequest): _STOP_CLOSE,
    (P.PORT_WAIT, CapReached): _CAP_CLOSE,
    # holding at the data cap (--persist): the port is closed, nothing is dialled
    (P.CAP_HOLD, Timer): ((A.CHECK_CAP,), P.CAP_HOLD),
    (P.CAP_HOLD, CapReached): ((A.CAP_REACHED, A.DECIDE_CAP), None),
    (P.CAP_HOLD, CapCleared): ((A.CLEAR_TIMER, A.CAP_CLEARED, A.OPEN_PORT), P.OPENING),
    (P.CAP_HOLD, StopRequest): _STOP_CLOSE,
    # stopping
    (P.STOPPING, HangupDone): _FINISH,
    (P.STOPPING, Timer): _FINISH,
    (P.STOPPING, CarrierLost): _FINISH,
    (P.STOPPING, PortLost): _FINISH,
    (P.STOPPING, StopRequest): _FINISH,
}

#: phases in which a driver completion is awaited (the others must have the deadline armed)
AWAITING: frozenset[Phase] = frozenset({P.OPENING, P.BRINGUP, P.PPP, P.CONFIGURING, P.RUNNING, P.PORT_WAIT})


# -- the supervisor -------------------------------------------------------------------------------


@dataclass(slots=True)
class SessionStats:
    """Counters for ``pppos-status`` and the logs."""

    attempts: int = 0
    #: sessions that reached running after the first one
    reconnects: int = 0
    #: consecutive failed attempts (what ``--maxfail`` counts)
    failures: int = 0
    losses: int = 0
    rungs: dict[str, int] = field(default_factory=dict)
    ignored: int = 0


class Supervisor:
    """The session supervisor (see the module docstring). Feed :meth:`handle`, drain :meth:`next_command`."""

    def __init__(self, config: SessionConfig, *, random: Callable[[], float] | None = None) -> None:
        self.config = config
        self.phase = Phase.IDLE
        self.stats = SessionStats()
        self._random = random if random is not None else _random.Random().random  # noqa: S311 - jitter, not a secret
        self._commands: deque[Command] = deque()
        self._deadline: float | None = None
        self._now = 0.0
        #: index into config.rungs of the rung the next recovery runs
        self.rung_index = 0
        #: the rung now running (RUNG phase) or last run
        self.rung: Rung | None = None
        #: holdoff exponent (consecutive failures since the holdoff last reset)
        self._backoff = 0
        self._configured = False
        #: the call may still be up (DataMode seen and not yet hung up / lost)
        self._call_up = False
        self.up_since: float | None = None
        self.started: float | None = None
        self._port_deadline: float | None = None
        self.status = ExitStatus.SUCCESS
        self.message: str | None = None
        self._failing = False
        #: the last failure's verdict (what --maxfail exits with)
        self.last_status: ExitStatus | None = None
        self.last_message: str | None = None
        self._pending_event: SessionEvent | None = None
        self._ever_up = False
        #: the session that just ended had been up at least min_up: decide_next redials at once
        self._redial_now = False
        #: the data cap of this period is used up (the last CapReached), None while it is not
        self.cap: CapReached | None = None

    # -- surface

    @property
    def ignored(self) -> int:
        """Events that arrived in a phase where they cannot matter (absent table cells)."""
        return self.stats.ignored

    def handle(self, event: SessionEvent, now: float) -> None:
        """Run ``event`` through the table at ``now``; commands queue for :meth:`next_command`."""
        self._now = now
        if isinstance(event, Timer) and (self._deadline is None or now < self._deadline):
            self.stats.ignored += 1  # a stale or early wake-up
            return
        cell = TRANSITIONS.get((self.phase, type(event)))
        if cell is None:
            self.stats.ignored += 1
            return
        if isinstance(event, Timer):
            self._set_deadline(None)
        actions, next_phase = cell
        self._pending_event = event
        if next_phase is not None:
            self._enter(next_phase)
        for action in actions:
            _RUN[action](self)
        self._pending_event = None

    def next_command(self) -> Command | None:
        """The next command for the driver, or None."""
        return self._commands.popleft() if self._commands else None

    def get_timer(self) -> float | None:
        """The supervisor's deadline (absolute), or None."""
        return self._deadline

    @property
    def running(self) -> bool:
        """The session is up (phase UP or RUNNING): the link carries traffic, routes and DNS are in place."""
        return self.phase in (Phase.UP, Phase.RUNNING)

    @property
    def call_may_be_up(self) -> bool:
        """True while a call is up or may be (between CONNECT and a hang-up or carrier loss)."""
        return self._call_up

    @property
    def rung_words(self) -> str:
        """The words of the rung the next recovery runs."""
        if not self.config.rungs:
            return "redial"
        return RUNG_WORDS[self.config.rungs[self.rung_index % len(self.config.rungs)]]

    def describe(self, now: float) -> str:
        """The state in words for ``pppos-status``: ``holdoff 12 s, attempt 3, next: radio off/on``."""
        phase = self.phase
        attempt = f"attempt {self.stats.attempts}"
        left = "" if self._deadline is None else f" {max(0.0, self._deadline - now):.0f} s"
        if phase is Phase.HOLDOFF:
            return f"holdoff{left}, attempt {self.stats.attempts + 1}, next: {self.rung_words}"
        if phase is Phase.RUNG and self.rung is not None:
            return f"recovery: {RUNG_WORDS[self.rung]}, {attempt}"
        if phase is Phase.PORT_WAIT:
            return f"waiting for the port, {attempt}"
        if phase in (Phase.UP, Phase.RUNNING):
            return f"running, {attempt}"
        if phase is Phase.CAP_HOLD and self.cap is not None:
            return f"data cap reached ({self.cap.used}): holding until {self.cap.until}"
        return f"{phase.value}, {attempt}" if self.stats.attempts else phase.value

    # -- helpers

    def _emit(self, command: Command) -> None:
        self._commands.append(command)

    def _report(self, step: str, line: str, *, warn: bool = False) -> None:
        self._emit(Report(step, line, warn))

    def _enter(self, phase: Phase) -> None:
        self.phase = phase

    def _set_deadline(self, at: float | None) -> None:
        if at != self._deadline:
            self._deadline = at
            self._emit(ArmTimer(at))

    def _event(self) -> SessionEvent | None:
        return self._pending_event

    def _record(self, status: ExitStatus, message: str) -> None:
        self.last_status, self.last_message = status, message

    def _holdoff(self) -> float:
        cfg = self.config
        base = min(cfg.holdoff_max, cfg.holdoff * math.pow(2.0, min(max(self._backoff - 1, 0), 60)))
        jitter = 1.0 + 0.5 * (self._random() - 0.5)  # +-25 %
        return max(0.0, min(cfg.holdoff_max, base * jitter))

    def _finish(self, status: ExitStatus, message: str | None) -> None:
        self.status, self.message = status, message
        self._set_deadline(None)
        self._emit(Exit(status, message))
        self._enter(Phase.STOPPED)

    # -- actions

    def _a_open_port(self) -> None:
        if self.started is None:
            self.started = self._now
        self._emit(OpenPort())

    def _a_close_port(self) -> None:
        self._call_up = False
        self._emit(ClosePort())

    def _a_start_bringup(self) -> None:
        self.stats.attempts += 1
        self._emit(StartBringup())

    def _a_start_ppp(self) -> None:
        self._call_up = not self.config.direct
        self._emit(StartPpp())

    def _a_arm_ppp_deadline(self) -> None:
        self._set_deadline(self._now + self.config.ppp_timeout)

    def _a_configure(self) -> None:
        self._configured = True
        self._emit(ConfigureInterface())

    def _a_unconfigure(self) -> None:
        if self._configured:
            self._configured = False
            self._emit(UnconfigureInterface())

    def _a_quiesce(self) -> None:
        self._emit(Quiesce())

    def _a_clear_timer(self) -> None:
        self._set_deadline(None)

    def _a_mark_up(self) -> None:
        if self._ever_up:
            self.stats.reconnects += 1
        self._ever_up = True
        self.up_since = self._now
        self.rung_index = 0
        self._set_deadline(self._now + self.config.min_up)
        attempt = self.stats.attempts
        self._report("session", "the session is up" + (f" (attempt {attempt})" if attempt > 1 else ""))

    def _a_confirm_up(self) -> None:
        self.stats.failures = 0
        self.rung_index = 0

    def _fail_attempt(self, status: ExitStatus, message: str) -> None:
        """An attempt ended before running: count it, climb one rung."""
        self._record(status, message)
        self._one_shot_verdict(status, message)
        self._a_count_failed()

    def _a_count_failed(self) -> None:
        self._redial_now = False
        self.stats.failures += 1
        self._backoff += 1
        if self.config.rungs:
            self.rung_index = (self.rung_index + 1) % len(self.config.rungs)

    def _a_count_short(self) -> None:
        self.stats.losses += 1
        self.up_since = None
        self._redial_now = False
        self.stats.failures += 1
        self._backoff += 1
        self.rung_index = 0

    def _a_count_loss(self) -> None:
        self.stats.losses += 1
        assert self.up_since is not None
        if self._now - self.up_since >= self.config.holdoff_reset_after:
            self._backoff = 0
        self.up_since = None
        self.rung_index = 0
        self._redial_now = True

    def _one_shot_verdict(self, status: ExitStatus, message: str) -> None:
        """Without --persist the first failure is the run's exit status (a stop while hanging up keeps it)."""
        if not self.config.persist:
            self.status, self.message, self._failing = status, message, True

    def _end(self, status: ExitStatus, message: str) -> None:
        """Record the verdict of a loss or a failed attempt (the cell's COUNT_* action counts it)."""
        self._record(status, message)
        self._one_shot_verdict(status, message)
        self._report("lost", message, warn=True)

    def _a_attempt_failed(self) -> None:
        event = self._event()
        assert isinstance(event, BringupFailed)
        self._fail_attempt(event.status, event.message)
        self._report("failed", event.message, warn=True)

    def _a_link_down(self) -> None:
        event = self._event()
        assert isinstance(event, LinkDown)
        status, text = link_down_verdict(event.cause, event.reason, event.protocol, was_up=self.up_since is not None)
        self._end(status, text)

    def _a_call_gone(self) -> None:
        event = self._event()
        assert isinstance(event, CarrierLost)
        self._call_up = False
        self._end(ExitStatus.LINK_LOST, f"the link was lost: the modem reported {event.how}")

    def _a_port_gone(self) -> None:
        event = self._event()
        assert isinstance(event, PortLost)
        self._call_up = False
        self._end(ExitStatus.LINK_LOST, f"the modem vanished ({event.reason})")

    def _a_ppp_timeout(self) -> None:
        self._fail_attempt(ExitStatus.PPP, f"PPP negotiation failed: IPCP did not open within "
                                           f"{self.config.ppp_timeout:g} s")
        self._report("failed", self.last_message or "", warn=True)

    def _a_interface_failed(self) -> None:
        event = self._event()
        assert isinstance(event, InterfaceFailed)
        self._record(event.status, event.message)
        self.status, self.message = event.status, event.message
        self._failing = True

    def _a_stop_status(self) -> None:
        event = self._event()
        assert isinstance(event, StopRequest)
        if self._failing:
            return  # a one-shot failure already decided the exit status
        self.status = ExitStatus.INTERRUPTED if event.interrupt else ExitStatus.SUCCESS
        self.message = None

    def _a_hangup_terminate(self) -> None:
        self._emit(HangUp(terminate=True))
        self._call_up = False

    def _a_arm_hangup_guard(self) -> None:
        self._set_deadline(self._now + self.config.hangup_guard)

    def _a_rung_failed(self) -> None:
        event = self._event()
        why = event.message if isinstance(event, RungFailed) else "it did not finish in time"
        rung = self.rung or Rung.REDIAL
        self._report("recovery", f"recovery step {RUNG_WORDS[rung]} failed: {why}", warn=True)
        if self.config.rungs:
            self.rung_index = (self.rung_index + 1) % len(self.config.rungs)

    def _a_port_failed(self) -> None:
        event = self._event()
        assert isinstance(event, PortFailed)
        self._record(event.status, event.message)

    def _a_exit(self) -> None:
        self._finish(self.status, self.message)

    def _cap_message(self) -> str:
        cap = self.cap
        assert cap is not None
        return f"data cap reached ({cap.used}): the link stays down until {cap.until}"

    def _a_cap_reached(self) -> None:
        event = self._event()
        assert isinstance(event, CapReached)
        self.cap = event
        self.up_since = None  # a session ended on purpose: not a loss, no holdoff growth
        self._record(ExitStatus.DATA_CAP, self._cap_message())
        if not self.config.persist:
            self.status, self.message, self._failing = ExitStatus.DATA_CAP, self._cap_message(), True

    def _a_check_cap(self) -> None:
        self._emit(CheckCap())
        self._set_deadline(self._now + self.config.cap_recheck)

    def _a_cap_cleared(self) -> None:
        self.cap = None
        self.rung_index = self.stats.failures = self._backoff = 0
        self._report("data-cap", "the data cap's period is over: dialling again")

    # -- decisions (each sets the next phase)

    def _a_decide_attempt(self) -> None:
        self._port_deadline = None
        self._redial_now = False
        if self.config.direct:
            self.stats.attempts += 1
            self._enter(Phase.PPP)
            self._a_start_ppp()
            self._a_arm_ppp_deadline()
        else:
            self._enter(Phase.BRINGUP)
            self._a_start_bringup()

    def _a_decide_hangup(self) -> None:
        if self._call_up:
            self._call_up = False
            self._enter(Phase.HANGUP)
            self._emit(HangUp(terminate=False))
            self._set_deadline(self._now + self.config.hangup_guard)
        else:
            self._set_deadline(None)
            self._a_quiesce()
            self._a_decide_next()

    def _give_up(self, status: ExitStatus, message: str) -> None:
        self._failing = True
        self._a_close_port()
        self._finish(status, message)

    def _a_decide_next(self) -> None:
        cfg = self.config
        if self.cap is not None:
            self._a_close_port()
            self._a_decide_cap()
            return
        status = self.last_status or ExitStatus.LINK_LOST
        message = self.last_message or "the link was lost"
        if not cfg.persist:
            self._give_up(status, message)
            return
        if status in cfg.fatal:
            self._give_up(status, f"{message} (not retried)")
            return
        if cfg.maxfail and self.stats.failures >= cfg.maxfail:
            self._give_up(status, f"gave up after {self.stats.failures} failed attempts (--maxfail "
                                  f"{cfg.maxfail}): {message}")
            return
        if self._redial_now:  # the session that ended had worked: no holdoff (see SessionConfig.min_up)
            self._redial_now = False
            self._report("redial", f"redialling at once (the session was up at least {cfg.min_up:g} s), "
                                   f"attempt {self.stats.attempts + 1}")
            self._set_deadline(None)
            self._a_decide_rung()
            return
        delay = self._holdoff()
        self._enter(Phase.HOLDOFF)
        self._set_deadline(self._now + delay)
        self._report("holdoff", f"holdoff {delay:.1f} s, attempt {self.stats.attempts + 1}, next: {self.rung_words}")

    def _a_decide_rung(self) -> None:
        rungs = self.config.rungs or (Rung.REDIAL,)
        rung = rungs[self.rung_index % len(rungs)]
        self.rung = rung
        self.stats.rungs[rung.value] = self.stats.rungs.get(rung.value, 0) + 1
        if rung is not Rung.REDIAL:
            self._report("recovery", f"recovery: {RUNG_WORDS[rung]} (count {self.stats.rungs[rung.value]})")
        if rung is Rung.REDIAL:
            self._a_decide_attempt()
        elif rung is Rung.PORT_WAIT:
            self.rung_index = 0  # start over once the port is back
            self._a_close_port()
            self._wait_for_port(first=self._now + self.config.port_poll)
        else:
            self._enter(Phase.RUNG)
            self._emit(RunRung(rung))
            self._set_deadline(self._now + self.config.rung_guard)

    def _a_decide_after_rung(self) -> None:
        if self.rung in (Rung.MODEM_RESET, Rung.RESET_COMMAND):
            # the modem restarts: reopen the port once it is (back) there
            self._a_close_port()
            self._wait_for_port(first=self._now + self.config.port_poll)
        else:
            self._a_decide_attempt()

    def _wait_for_port(self, *, first: float) -> None:
        self._enter(Phase.PORT_WAIT)
        if self._port_deadline is None and self.config.port_wait is not None:
            self._port_deadline = self._now + self.config.port_wait
        self._set_deadline(first)

    def _a_decide_open_failed(self) -> None:
        if not self.config.persist or self.last_status in self.config.fatal:
            self._finish(self.last_status or ExitStatus.NO_MODEM, self.last_message)
            return
        self._report("port", f"{self.last_message}; waiting for the port", warn=True)
        self._wait_for_port(first=self._now + self.config.port_poll)

    def _a_decide_port_gone(self) -> None:
        self._call_up = False
        self._redial_now = False
        if self.cap is not None:
            self._a_decide_cap()
            return
        if not self.config.persist:
            self._failing = True
            self._finish(self.last_status or ExitStatus.LINK_LOST, self.last_message)
            return
        self._report("port", "waiting for the port to come back")
        self._wait_for_port(first=self._now + self.config.port_poll)

    def _a_decide_cap(self) -> None:
        """The cap is used up, the call is down and the port closed: exit 15, or hold (``--persist``)
        until the next CheckCap at the period's end, or sooner (:attr:`SessionConfig.cap_recheck`)."""
        cap = self.cap
        assert cap is not None
        if not self.config.persist:
            self._finish(ExitStatus.DATA_CAP, self._cap_message())
            return
        if self.phase is not Phase.CAP_HOLD:  # said once, not at every re-check
            self._report("data-cap", f"data cap reached ({cap.used}): holding until {cap.until}; "
                                     f"nothing is dialled until then", warn=True)
        self._enter(Phase.CAP_HOLD)
        self._set_deadline(self._now + max(0.0, min(cap.left, self.config.cap_recheck)))

    def _a_decide_poll(self) -> None:
        event = self._event()
        if isinstance(event, PortFailed):
            self._record(event.status, event.message)
        deadline = self._port_deadline
        if deadline is not None and self._now >= deadline:
            wait = self.config.port_wait or 0.0
            self._failing = True
            self._finish(ExitStatus.LINK_LOST if self.stats.attempts else ExitStatus.NO_MODEM,
                         f"the port did not come back within {wait:g} s ({self.last_message})")
            return
        nxt = self._now + self.config.port_poll
        if deadline is not None:
            nxt = min(nxt, deadline)
        self._set_deadline(nxt)


_RUN: dict[Action, Callable[[Supervisor], None]] = {
    action: getattr(Supervisor, "_a_" + action.name.lower()) for action in Action
}
