"""The session supervisor (pppos.session): every (phase, event) cell, the decisions, and a soak.

The expected cells below are written out by hand from the issue's rules (persist, ladder, stop from
every phase), independently of the table literal in ``pppos.session``: each present cell lists the
phase it leads to and the driver commands it emits; every other (phase, event) pair must be ignored
(counted, no command, no phase change).
"""

from __future__ import annotations

import random

import pytest

from pppos.errors import ExitStatus
from pppos.session import (
    AWAITING,
    EVENT_TYPES,
    TRANSITIONS,
    ArmTimer,
    BringupFailed,
    CapCleared,
    CapReached,
    CarrierLost,
    CheckCap,
    ClosePort,
    Command,
    ConfigureInterface,
    DataMode,
    Exit,
    HangUp,
    HangupDone,
    InterfaceConfigured,
    InterfaceFailed,
    LinkDown,
    LinkUp,
    OpenPort,
    Phase,
    PortFailed,
    PortLost,
    PortOpened,
    Quiesce,
    Report,
    Rung,
    RungDone,
    RungFailed,
    RunRung,
    SessionConfig,
    SessionEvent,
    Start,
    StartBringup,
    StartPpp,
    StopRequest,
    Supervisor,
    Timer,
    UnconfigureInterface,
    ladder,
    link_down_verdict,
)

P = Phase
ALL = ladder(profile_rungs=frozenset({Rung.REATTACH, Rung.RADIO, Rung.MODEM_RESET}), reset_command=True,
             direct=False)
PERSIST = SessionConfig(persist=True, rungs=ALL, holdoff=1.0, holdoff_max=300.0)

SAMPLES: dict[type, SessionEvent] = {
    Start: Start(),
    PortOpened: PortOpened(),
    PortFailed: PortFailed(ExitStatus.NO_MODEM, "cannot open /dev/x: no such port"),
    DataMode: DataMode(),
    BringupFailed: BringupFailed(ExitStatus.DIAL, "the modem would not dial"),
    LinkUp: LinkUp(),
    InterfaceConfigured: InterfaceConfigured(),
    InterfaceFailed: InterfaceFailed(ExitStatus.PERMISSION, "no permission"),
    LinkDown: LinkDown("echo_timeout", "no reply to 4 LCP Echo-Requests"),
    CarrierLost: CarrierLost("NO CARRIER"),
    PortLost: PortLost("the serial port reported end of file"),
    HangupDone: HangupDone(),
    RungDone: RungDone(),
    RungFailed: RungFailed("no answer"),
    Timer: Timer(),
    StopRequest: StopRequest(),
    CapReached: CapReached("101.0 kB of 100.0 kB/day", "2026-12-08 00:00 UTC", 3600.0),
    CapCleared: CapCleared(),
}

# How to reach each phase from a fresh supervisor (persist, every rung).
PATHS: dict[Phase, tuple[SessionEvent, ...]] = {
    P.IDLE: (),
    P.OPENING: (Start(),),
    P.BRINGUP: (Start(), PortOpened()),
    P.PPP: (Start(), PortOpened(), DataMode()),
    P.CONFIGURING: (Start(), PortOpened(), DataMode(), LinkUp()),
    P.UP: (Start(), PortOpened(), DataMode(), LinkUp(), InterfaceConfigured()),
    P.RUNNING: (Start(), PortOpened(), DataMode(), LinkUp(), InterfaceConfigured(), Timer()),
    P.HANGUP: (Start(), PortOpened(), DataMode(), LinkUp(), InterfaceConfigured(), SAMPLES[LinkDown]),
    P.HOLDOFF: (Start(), PortOpened(), SAMPLES[BringupFailed]),
    P.RUNG: (Start(), PortOpened(), SAMPLES[BringupFailed], Timer()),
    P.PORT_WAIT: (Start(), PortOpened(), DataMode(), LinkUp(), InterfaceConfigured(), SAMPLES[PortLost]),
    P.CAP_HOLD: (SAMPLES[CapReached],),
    P.STOPPING: (Start(), PortOpened(), DataMode(), LinkUp(), InterfaceConfigured(), StopRequest()),
    P.STOPPED: (StopRequest(),),
}

C = type  # readability in the table below
# (phase, event) -> (next phase, the command types emitted, in order; Report and ArmTimer left out)
EXPECTED: dict[tuple[Phase, C], tuple[Phase, tuple[C, ...]]] = {
    (P.IDLE, Start): (P.OPENING, (OpenPort,)),
    (P.IDLE, StopRequest): (P.STOPPED, (Exit,)),
    (P.IDLE, CapReached): (P.CAP_HOLD, ()),  # used up at start: the port is never opened
    (P.OPENING, PortOpened): (P.BRINGUP, (StartBringup,)),
    (P.OPENING, PortFailed): (P.PORT_WAIT, ()),
    (P.OPENING, StopRequest): (P.STOPPED, (ClosePort, Exit)),
    (P.OPENING, CapReached): (P.CAP_HOLD, (ClosePort,)),
    (P.BRINGUP, DataMode): (P.PPP, (StartPpp,)),
    (P.BRINGUP, BringupFailed): (P.HOLDOFF, (Quiesce,)),
    (P.BRINGUP, PortLost): (P.PORT_WAIT, (ClosePort,)),
    (P.BRINGUP, StopRequest): (P.STOPPED, (ClosePort, Exit)),
    (P.BRINGUP, CapReached): (P.CAP_HOLD, (ClosePort,)),
    (P.PPP, LinkUp): (P.CONFIGURING, (ConfigureInterface,)),
    (P.PPP, LinkDown): (P.HANGUP, (HangUp,)),
    (P.PPP, CarrierLost): (P.HOLDOFF, (Quiesce,)),
    (P.PPP, PortLost): (P.PORT_WAIT, (ClosePort,)),
    (P.PPP, Timer): (P.HANGUP, (HangUp,)),
    (P.PPP, StopRequest): (P.STOPPING, (HangUp,)),
    (P.PPP, CapReached): (P.HANGUP, (HangUp,)),
    (P.CONFIGURING, InterfaceConfigured): (P.UP, ()),
    (P.CONFIGURING, InterfaceFailed): (P.STOPPING, (UnconfigureInterface, HangUp)),
    (P.CONFIGURING, LinkDown): (P.HANGUP, (UnconfigureInterface, HangUp)),
    (P.CONFIGURING, CarrierLost): (P.HOLDOFF, (UnconfigureInterface, Quiesce)),
    (P.CONFIGURING, PortLost): (P.PORT_WAIT, (UnconfigureInterface, ClosePort)),
    (P.CONFIGURING, Timer): (P.HANGUP, (UnconfigureInterface, HangUp)),
    (P.CONFIGURING, StopRequest): (P.STOPPING, (UnconfigureInterface, HangUp)),
    (P.CONFIGURING, CapReached): (P.HANGUP, (UnconfigureInterface, HangUp)),
    # up less than min_up: a loss is a failed attempt, the holdoff comes first
    (P.UP, Timer): (P.RUNNING, ()),
    (P.UP, LinkDown): (P.HANGUP, (UnconfigureInterface, HangUp)),
    (P.UP, CarrierLost): (P.HOLDOFF, (UnconfigureInterface, Quiesce)),
    (P.UP, PortLost): (P.PORT_WAIT, (UnconfigureInterface, ClosePort)),
    (P.UP, StopRequest): (P.STOPPING, (UnconfigureInterface, HangUp)),
    (P.UP, CapReached): (P.HANGUP, (UnconfigureInterface, HangUp)),
    # up at least min_up: a loss redials at once (after the guarded hang-up where the call may be up)
    (P.RUNNING, LinkDown): (P.HANGUP, (UnconfigureInterface, HangUp)),
    (P.RUNNING, CarrierLost): (P.BRINGUP, (UnconfigureInterface, Quiesce, StartBringup)),
    (P.RUNNING, PortLost): (P.PORT_WAIT, (UnconfigureInterface, ClosePort)),
    (P.RUNNING, StopRequest): (P.STOPPING, (UnconfigureInterface, HangUp)),
    (P.RUNNING, CapReached): (P.HANGUP, (UnconfigureInterface, HangUp)),  # LCP Terminate, then +++/ATH
    (P.HANGUP, HangupDone): (P.HOLDOFF, (Quiesce,)),
    (P.HANGUP, Timer): (P.HOLDOFF, (Quiesce,)),
    (P.HANGUP, CarrierLost): (P.HOLDOFF, (Quiesce,)),
    (P.HANGUP, PortLost): (P.PORT_WAIT, (ClosePort,)),
    (P.HANGUP, StopRequest): (P.STOPPING, ()),
    (P.HANGUP, CapReached): (P.HANGUP, ()),
    (P.HOLDOFF, Timer): (P.RUNG, (RunRung,)),  # after a failed attempt: the next rung
    (P.HOLDOFF, PortLost): (P.PORT_WAIT, (ClosePort,)),
    (P.HOLDOFF, StopRequest): (P.STOPPED, (ClosePort, Exit)),
    (P.HOLDOFF, CapReached): (P.CAP_HOLD, (ClosePort,)),
    (P.RUNG, RungDone): (P.BRINGUP, (Quiesce, StartBringup)),
    (P.RUNG, RungFailed): (P.RUNG, (Quiesce, RunRung)),
    (P.RUNG, Timer): (P.RUNG, (Quiesce, RunRung)),
    (P.RUNG, PortLost): (P.PORT_WAIT, (ClosePort,)),
    (P.RUNG, StopRequest): (P.STOPPED, (ClosePort, Exit)),
    (P.RUNG, CapReached): (P.CAP_HOLD, (ClosePort,)),
    (P.PORT_WAIT, Timer): (P.PORT_WAIT, (OpenPort,)),
    (P.PORT_WAIT, PortOpened): (P.BRINGUP, (StartBringup,)),
    (P.PORT_WAIT, PortFailed): (P.PORT_WAIT, ()),
    (P.PORT_WAIT, StopRequest): (P.STOPPED, (ClosePort, Exit)),
    (P.PORT_WAIT, CapReached): (P.CAP_HOLD, (ClosePort,)),
    (P.CAP_HOLD, Timer): (P.CAP_HOLD, (CheckCap,)),
    (P.CAP_HOLD, CapReached): (P.CAP_HOLD, ()),  # still used up: hold on, quietly
    (P.CAP_HOLD, CapCleared): (P.OPENING, (OpenPort,)),
    (P.CAP_HOLD, StopRequest): (P.STOPPED, (ClosePort, Exit)),
    (P.STOPPING, HangupDone): (P.STOPPED, (ClosePort, Exit)),
    (P.STOPPING, Timer): (P.STOPPED, (ClosePort, Exit)),
    (P.STOPPING, CarrierLost): (P.STOPPED, (ClosePort, Exit)),
    (P.STOPPING, PortLost): (P.STOPPED, (ClosePort, Exit)),
    (P.STOPPING, StopRequest): (P.STOPPED, (ClosePort, Exit)),
}


def drain(sup: Supervisor) -> list[Command]:
    out: list[Command] = []
    while (cmd := sup.next_command()) is not None:
        out.append(cmd)
    return out


def reach(phase: Phase, config: SessionConfig = PERSIST) -> tuple[Supervisor, float]:
    sup = Supervisor(config, random=lambda: 0.5)
    now = 0.0
    for event in PATHS[phase]:
        if isinstance(event, Timer):
            deadline = sup.get_timer()
            assert deadline is not None
            now = deadline
        sup.handle(event, now)
    drain(sup)
    assert sup.phase is phase
    return sup, now


def test_expected_cells_are_the_table() -> None:
    assert set(EXPECTED) == set(TRANSITIONS)


@pytest.mark.parametrize("phase", list(Phase))
@pytest.mark.parametrize("etype", EVENT_TYPES, ids=lambda t: t.__name__)
def test_cell(phase: Phase, etype: type) -> None:
    sup, now = reach(phase)
    ignored = sup.ignored
    if etype is Timer and sup.get_timer() is not None:
        now = sup.get_timer() or now
    sup.handle(SAMPLES[etype], now)
    commands = drain(sup)
    expected = EXPECTED.get((phase, etype))
    if expected is None:
        assert commands == [] and sup.phase is phase and sup.ignored == ignored + 1
        return
    next_phase, types = expected
    assert sup.phase is next_phase
    assert tuple(type(c) for c in commands if not isinstance(c, Report | ArmTimer)) == types
    assert sup.ignored == ignored
    assert never_stuck(sup)


def never_stuck(sup: Supervisor) -> bool:
    return sup.phase is P.STOPPED or sup.get_timer() is not None or sup.phase in AWAITING


def test_early_timer_is_ignored() -> None:
    sup, _now = reach(P.HOLDOFF)
    deadline = sup.get_timer()
    assert deadline is not None
    sup.handle(Timer(), deadline - 0.01)
    assert sup.phase is P.HOLDOFF and drain(sup) == []


def test_one_shot_exits_with_the_verdict_at_once() -> None:
    config = SessionConfig(persist=False, rungs=ALL)
    sup, now = reach(P.RUNNING, config)
    sup.handle(CarrierLost("NO CARRIER"), now + 5)
    cmds = drain(sup)
    assert [type(c) for c in cmds if not isinstance(c, Report | ArmTimer)] == [
        UnconfigureInterface, Quiesce, ClosePort, Exit]
    exit_cmd = cmds[-1]
    assert isinstance(exit_cmd, Exit) and exit_cmd.status is ExitStatus.LINK_LOST
    assert "NO CARRIER" in (exit_cmd.message or "")
    assert not any(isinstance(c, HangUp) for c in cmds)  # the call is already gone: no +++


def test_one_shot_echo_timeout_hangs_up_then_exits_9_even_if_stopped_meanwhile() -> None:
    sup, now = reach(P.RUNNING, SessionConfig(persist=False))
    sup.handle(SAMPLES[LinkDown], now)
    assert sup.phase is P.HANGUP and HangUp(terminate=False) in drain(sup)
    sup.handle(StopRequest(interrupt=True), now + 1)
    sup.handle(HangupDone(), now + 2)
    exit_cmd = drain(sup)[-1]
    assert isinstance(exit_cmd, Exit) and exit_cmd.status is ExitStatus.LINK_LOST


def test_stop_statuses() -> None:
    for interrupt, status in ((True, ExitStatus.INTERRUPTED), (False, ExitStatus.SUCCESS)):
        sup, now = reach(P.HOLDOFF)
        sup.handle(StopRequest(interrupt=interrupt), now)
        exit_cmd = drain(sup)[-1]
        assert exit_cmd == Exit(status, None)


def test_direct_skips_bringup_and_hangup() -> None:
    config = SessionConfig(persist=True, direct=True,
                           rungs=ladder(profile_rungs=frozenset(Rung), reset_command=False, direct=True))
    assert config.rungs == (Rung.REDIAL, Rung.PORT_WAIT)
    sup = Supervisor(config, random=lambda: 0.5)
    sup.handle(Start(), 0)
    sup.handle(PortOpened(), 0)
    assert sup.phase is P.PPP and StartPpp() in drain(sup)
    sup.handle(LinkDown("peer_terminated", "peer terminated the link"), 1)
    cmds = drain(sup)
    assert sup.phase is P.HOLDOFF and not any(isinstance(c, HangUp) for c in cmds)


def test_ladder_climbs_one_rung_per_failed_attempt_and_resets_when_up() -> None:
    sup = Supervisor(PERSIST, random=lambda: 0.5)
    now = 0.0
    sup.handle(Start(), now)
    sup.handle(PortOpened(), now)
    seen: list[Rung] = []
    for _ in range(len(ALL)):
        sup.handle(BringupFailed(ExitStatus.NETWORK, "no registration"), now)
        assert sup.phase is P.HOLDOFF
        now = sup.get_timer() or now
        sup.handle(Timer(), now)
        assert sup.rung is not None
        seen.append(sup.rung)
        if sup.phase is P.RUNG:
            sup.handle(RungDone(), now)
        if sup.phase is P.PORT_WAIT:
            now = sup.get_timer() or now
            sup.handle(Timer(), now)
            sup.handle(PortOpened(), now)
        assert sup.phase is P.BRINGUP
    # after the port wait the ladder starts over: that fresh bring-up was the redial, so the next
    # failure climbs to detach/re-attach again
    assert seen == [Rung.REATTACH, Rung.RADIO, Rung.MODEM_RESET, Rung.RESET_COMMAND, Rung.PORT_WAIT, Rung.REATTACH]
    assert sup.stats.rungs == {"reattach": 2, "radio": 1, "modem-reset": 1, "reset-command": 1, "port-wait": 1}
    # a session that comes up starts the ladder again from redial; the failure count resets only once
    # it stayed up min_up
    sup.handle(DataMode(), now)
    sup.handle(LinkUp(), now)
    sup.handle(InterfaceConfigured(), now)
    assert sup.phase is P.UP and sup.rung_index == 0 and sup.stats.failures == len(ALL)
    assert sup.get_timer() == now + PERSIST.min_up
    sup.handle(Timer(), now + PERSIST.min_up)
    assert sup.phase is P.RUNNING and sup.stats.failures == 0
    sup.handle(CarrierLost("DCD drop"), now + 11)
    assert sup.phase is P.BRINGUP and sup.rung is Rung.REDIAL


def test_modem_reset_rung_waits_for_the_port() -> None:
    sup, now = reach(P.HOLDOFF)
    sup.rung_index = ALL.index(Rung.MODEM_RESET)
    sup.handle(Timer(), sup.get_timer() or 0)
    assert RunRung(Rung.MODEM_RESET) in drain(sup)
    sup.handle(RungDone(), now + 2)
    assert sup.phase is P.PORT_WAIT and ClosePort() in drain(sup)


def test_failed_rung_hands_over_to_the_next_at_once() -> None:
    sup, now = reach(P.RUNG)
    assert sup.rung is Rung.REATTACH
    sup.handle(RungFailed("ERROR"), now)
    assert sup.rung is Rung.RADIO and RunRung(Rung.RADIO) in drain(sup)


def test_maxfail_gives_up_with_the_last_verdict() -> None:
    sup = Supervisor(SessionConfig(persist=True, maxfail=3, rungs=ALL), random=lambda: 0.5)
    sup.handle(Start(), 0)
    sup.handle(PortOpened(), 0)
    now = 0.0
    for n in range(3):
        sup.handle(BringupFailed(ExitStatus.DIAL, "the modem would not dial"), now)
        if n < 2:
            assert sup.phase is P.HOLDOFF
            now = sup.get_timer() or now
            sup.handle(Timer(), now)
            while sup.phase is P.RUNG:
                sup.handle(RungDone(), now)
    cmds = drain(sup)
    assert sup.phase is P.STOPPED
    exit_cmd = cmds[-1]
    assert isinstance(exit_cmd, Exit) and exit_cmd.status is ExitStatus.DIAL
    assert "3 failed attempts" in (exit_cmd.message or "")


def test_sim_verdicts_are_never_retried() -> None:
    sup, now = reach(P.BRINGUP)
    sup.handle(BringupFailed(ExitStatus.SIM, "the SIM refused the PIN"), now)
    assert sup.phase is P.STOPPED
    exit_cmd = drain(sup)[-1]
    assert isinstance(exit_cmd, Exit) and exit_cmd.status is ExitStatus.SIM


def test_holdoff_grows_with_jitter_caps_and_resets_after_ten_minutes_up() -> None:
    draws = iter([0.0, 1.0] * 50)
    sup = Supervisor(SessionConfig(persist=True, holdoff=1.0, holdoff_max=10.0), random=lambda: next(draws))
    sup.handle(Start(), 0)
    sup.handle(PortOpened(), 0)
    now = 0.0
    waits = []
    for _ in range(7):
        sup.handle(BringupFailed(ExitStatus.NETWORK, "x"), now)
        deadline = sup.get_timer()
        assert deadline is not None
        waits.append(round(deadline - now, 3))
        now = deadline
        sup.handle(Timer(), now)
        if sup.phase is P.PORT_WAIT:
            now = sup.get_timer() or now
            sup.handle(Timer(), now)
            sup.handle(PortOpened(), now)
    # 1, 2, 4, 8, 10 (cap) with -25 % / +25 % jitter, never above the cap
    assert waits == [0.75, 2.5, 3.0, 10.0, 7.5, 10.0, 7.5]
    sup.handle(DataMode(), now)
    sup.handle(LinkUp(), now)
    sup.handle(InterfaceConfigured(), now)
    sup.handle(Timer(), now + 10)
    sup.handle(CarrierLost("NO CARRIER"), now + 601)
    assert sup.phase is P.BRINGUP  # a session that worked: redialled at once
    sup.handle(BringupFailed(ExitStatus.DIAL, "x"), now + 602)
    deadline = sup.get_timer()  # and the growth was reset by the 10 minutes up: the first holdoff again
    assert deadline is not None and deadline - (now + 602) <= 1.25


def test_port_wait_deadline() -> None:
    sup = Supervisor(SessionConfig(persist=True, port_wait=2.0, port_poll=0.5), random=lambda: 0.5)
    sup, now = reach(P.RUNNING, sup.config)
    sup.handle(PortLost("EOF"), now)
    for _ in range(10):
        if sup.phase is not P.PORT_WAIT:
            break
        now = sup.get_timer() or now
        sup.handle(Timer(), now)
        sup.handle(PortFailed(ExitStatus.NO_MODEM, "no such port"), now)
    assert sup.phase is P.STOPPED
    exit_cmd = drain(sup)[-1]
    assert isinstance(exit_cmd, Exit) and exit_cmd.status is ExitStatus.LINK_LOST
    assert "within 2 s" in (exit_cmd.message or "")


def test_describe_in_words() -> None:
    sup, now = reach(P.HOLDOFF)
    text = sup.describe(now)
    assert text.startswith("holdoff 1 s, attempt 2, next: detach/re-attach"), text


def test_link_down_verdicts() -> None:
    assert link_down_verdict("auth_failed", "x", None, was_up=False)[0] is ExitStatus.AUTH
    assert link_down_verdict("echo_timeout", "x", None, was_up=True)[0] is ExitStatus.LINK_LOST
    assert link_down_verdict("negotiation_failed", "x", "IPCP", was_up=False) == (
        ExitStatus.PPP, "PPP negotiation failed (IPCP): x")


# -- the data cap ----------------------------------------------------------------------------------


def _types(cmds: list[Command]) -> list[type]:
    return [type(c) for c in cmds if not isinstance(c, Report | ArmTimer)]


def test_cap_while_running_with_persist_ends_the_call_cleanly_then_holds_without_dialling() -> None:
    sup, now = reach(P.RUNNING)
    sup.handle(SAMPLES[CapReached], now)
    cmds = drain(sup)
    # as on a stop: routes and DNS go, LCP Terminate, then the guarded hang-up
    assert _types(cmds) == [UnconfigureInterface, HangUp] and HangUp(terminate=True) in cmds
    assert sup.phase is P.HANGUP and sup.up_since is None
    sup.handle(HangupDone(), now + 1)
    cmds = drain(sup)
    assert _types(cmds) == [Quiesce, ClosePort] and sup.phase is P.CAP_HOLD
    said = [c for c in cmds if isinstance(c, Report)]
    assert len(said) == 1 and said[0].warn
    assert said[0].line.startswith("data cap reached (101.0 kB of 100.0 kB/day): holding until 2026-12-08 00:00 UTC")
    assert sup.describe(now + 1) == "data cap reached (101.0 kB of 100.0 kB/day): holding until 2026-12-08 00:00 UTC"
    # the re-checks: still used up -> hold on, quietly, never dialling
    for _ in range(5):
        now = sup.get_timer() or now
        sup.handle(Timer(), now)
        assert _types(drain(sup)) == [CheckCap]
        sup.handle(SAMPLES[CapReached], now)
        assert [c for c in drain(sup) if not isinstance(c, ArmTimer)] == [] and sup.phase is P.CAP_HOLD
    # the period rolled over: a fresh start with a fresh ladder
    sup.handle(CapCleared(), now + 1)
    assert _types(drain(sup)) == [OpenPort] and sup.phase is P.OPENING and sup.cap is None
    sup.handle(PortOpened(), now + 1)
    assert _types(drain(sup)) == [StartBringup] and sup.rung_index == 0 and sup.stats.failures == 0


def test_cap_at_start_with_persist_holds_without_opening_the_port() -> None:
    sup = Supervisor(PERSIST, random=lambda: 0.5)
    sup.handle(CapReached("2.0 GB of 2.0 GB/month", "2027-01-01 00:00 UTC", 30.0), 0.0)
    cmds = drain(sup)
    assert _types(cmds) == [] and sup.phase is P.CAP_HOLD
    assert sup.get_timer() == 30.0  # the period ends before the next minute's re-check
    sup.handle(Start(), 0.0)  # the driver's Start after the check: nothing to do while holding
    assert drain(sup) == [] and sup.phase is P.CAP_HOLD


def test_cap_hold_rechecks_every_minute_at_most() -> None:
    sup = Supervisor(PERSIST, random=lambda: 0.5)
    sup.handle(CapReached("x of y", "2027-01-01 00:00 UTC", 20 * 86400.0), 100.0)
    assert sup.get_timer() == 160.0
    sup.handle(Timer(), 160.0)
    assert sup.get_timer() == 220.0  # armed even if the driver never answers


@pytest.mark.parametrize("phase", [P.IDLE, P.BRINGUP, P.RUNNING, P.HOLDOFF, P.PORT_WAIT])
def test_cap_without_persist_exits_15_with_one_line(phase: Phase) -> None:
    config = SessionConfig(persist=False, rungs=ALL)
    persist_only = phase in (P.HOLDOFF, P.PORT_WAIT)  # phases one-shot runs never reach: switch after
    sup, now = reach(phase) if persist_only else reach(phase, config)
    sup.config = config
    sup.handle(SAMPLES[CapReached], now)
    if sup.phase is P.HANGUP:
        sup.handle(HangupDone(), now + 1)
    cmds = drain(sup)
    assert sup.phase is P.STOPPED
    assert not any(isinstance(c, OpenPort | StartBringup) for c in cmds)
    exit_cmd = cmds[-1]
    assert exit_cmd == Exit(ExitStatus.DATA_CAP, "data cap reached (101.0 kB of 100.0 kB/day): "
                                                 "the link stays down until 2026-12-08 00:00 UTC")


def test_one_shot_cap_keeps_its_status_when_stopped_while_hanging_up() -> None:
    sup, now = reach(P.RUNNING, SessionConfig(persist=False))
    sup.handle(SAMPLES[CapReached], now)
    sup.handle(StopRequest(), now + 1)
    sup.handle(HangupDone(), now + 2)
    exit_cmd = drain(sup)[-1]
    assert isinstance(exit_cmd, Exit) and exit_cmd.status is ExitStatus.DATA_CAP


def test_stop_while_holding_exits_0() -> None:
    sup, now = reach(P.CAP_HOLD)
    sup.handle(StopRequest(), now + 5)
    assert drain(sup)[-1] == Exit(ExitStatus.SUCCESS, None) and sup.phase is P.STOPPED


def test_port_lost_while_hanging_up_at_the_cap_still_holds() -> None:
    sup, now = reach(P.RUNNING)
    sup.handle(SAMPLES[CapReached], now)
    sup.handle(PortLost("EIO"), now + 1)
    assert sup.phase is P.CAP_HOLD
    assert not any(isinstance(c, OpenPort) for c in drain(sup))


def test_cap_hold_crosses_a_month_boundary_in_simulated_time() -> None:
    """The driver answers CheckCap from a real Accountant and a simulated wall clock: the hold starts at
    23:50 on 31 December (UTC), nothing is dialled in the year's last ten minutes, and the first
    re-check after midnight (1 January: a new month and year) opens the port and dials."""
    from pppos.accounting import Accountant, parse_data_cap

    acc = Accountant("89860012345678901234", parse_data_cap("1M/month"))
    wall0 = 1798761000.0  # 2026-12-31 23:50:00 UTC
    acc.update(700_000, 400_000, wall0 - 3600)
    sup, now = reach(P.RUNNING)
    mono0 = now

    def wall() -> float:
        return wall0 + (now - mono0)

    def answer() -> SessionEvent:
        hold = acc.cap_hold(wall())
        return CapCleared() if hold is None else CapReached(hold.used, hold.until_words, hold.left)

    hold = acc.cap_hold(wall())
    assert hold is not None and hold.until_words == "2027-01-01 00:00 UTC" and hold.left == 600.0
    sup.handle(answer(), now)
    sup.handle(HangupDone(), now)
    assert sup.phase is P.CAP_HOLD
    checks = 0
    dialled_at: float | None = None
    for _ in range(100):
        deadline = sup.get_timer()
        assert deadline is not None and deadline - now <= PERSIST.cap_recheck
        now = deadline
        sup.handle(Timer(), now)
        for cmd in drain(sup):
            if isinstance(cmd, CheckCap):
                checks += 1
                sup.handle(answer(), now)
        cmds = drain(sup)
        if any(isinstance(c, OpenPort) for c in cmds):
            dialled_at = wall()
            break
        assert sup.phase is P.CAP_HOLD
    assert dialled_at is not None and dialled_at == 1798761600.0  # 2027-01-01 00:00:00 UTC, not a second early
    assert checks == 10  # a minute apart, the tenth at midnight
    sup.handle(PortOpened(), now)
    assert StartBringup() in drain(sup)


# -- the soak: 10,000 random faults in simulated time ---------------------------------------------


class FakeDriver:
    """Answers the supervisor's commands after random delays; the port comes and goes."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.pending: list[tuple[float, SessionEvent]] = []
        self.port_present = True
        self.port_open = False
        self.configured = False
        self.exited: Exit | None = None

    def run(self, cmd: Command, now: float) -> list[SessionEvent]:
        rng = self.rng
        immediate: list[SessionEvent] = []
        match cmd:
            case OpenPort():
                assert not self.port_open
                if self.port_present and rng.random() < 0.9:
                    self.port_open = True
                    immediate.append(PortOpened())
                else:
                    immediate.append(PortFailed(ExitStatus.NO_MODEM, "no such port"))
            case ClosePort():
                self.port_open = False
                self.pending.clear()
            case StartBringup():
                assert self.port_open
                ok = rng.random() < 0.7
                ev: SessionEvent = DataMode() if ok else BringupFailed(
                    rng.choice([ExitStatus.NETWORK, ExitStatus.DIAL, ExitStatus.NO_MODEM]), "bring-up failed")
                self.pending.append((now + rng.uniform(0.1, 30), ev))
            case StartPpp():
                ev = LinkUp() if rng.random() < 0.85 else LinkDown("negotiation_failed", "LCP", "LCP")
                self.pending.append((now + rng.uniform(0.05, 80), ev))
            case ConfigureInterface():
                assert not self.configured
                self.configured = True
                self.pending.append((now + 0.01, InterfaceConfigured()))
            case UnconfigureInterface():
                assert self.configured
                self.configured = False
            case HangUp():
                if rng.random() < 0.95:
                    self.pending.append((now + rng.uniform(0.1, 20), HangupDone()))
            case Quiesce():
                self.pending.clear()
            case RunRung():
                assert self.port_open
                ev = RungDone() if rng.random() < 0.8 else RungFailed("ERROR")
                if rng.random() < 0.97:
                    self.pending.append((now + rng.uniform(0.1, 100), ev))
            case CheckCap():
                immediate.append(CapCleared() if rng.random() < 0.3 else SAMPLES[CapReached])
            case Exit():
                self.exited = cmd
            case ArmTimer() | Report():
                pass
        return immediate


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_soak_ten_thousand_faults_in_simulated_time(seed: int) -> None:
    rng = random.Random(seed)
    maxfail = 0 if seed % 2 else 7
    faults_wanted = 5000  # two never-give-up seeds: 10,000 faults; the maxfail seeds end early
    config = SessionConfig(persist=True, maxfail=maxfail, rungs=ALL, holdoff=1.0, holdoff_max=60.0,
                           port_wait=None)
    sup = Supervisor(config, random=rng.random)
    drv = FakeDriver(rng)
    now = 0.0
    faults = 0
    runs = 0
    climbed = 0
    resets = 0
    caps = 0
    stopping_since: int | None = None
    steps = 0
    dials = at_once = 0
    #: the phases passed since the last dial: a dial comes after a holdoff, a port wait, the cap hold or
    #: the start, or at once only after a session that stayed up min_up (RUNNING): never a storm
    visited: set[Phase] = set()
    paced = {P.HOLDOFF, P.PORT_WAIT, P.CAP_HOLD, P.OPENING}

    def feed(event: SessionEvent) -> None:
        nonlocal climbed, resets, dials, at_once
        before_index, before_phase = sup.rung_index, sup.phase
        visited.add(sup.phase)
        sup.handle(event, now)
        queue = [event]
        while queue:
            queue = []
            while (cmd := sup.next_command()) is not None:
                if isinstance(cmd, StartBringup):
                    assert visited & (paced | {P.RUNNING}), visited
                    dials += 1
                    at_once += not visited & paced
                    visited.clear()
                queue += drv.run(cmd, now)
            for ev in queue:
                visited.add(sup.phase)
                sup.handle(ev, now)
        if sup.rung_index > before_index:
            climbed += 1
        if before_phase is not P.UP and sup.phase is P.UP:
            resets += 1
            assert sup.rung_index == 0
        if before_phase is not P.RUNNING and sup.phase is P.RUNNING:
            assert sup.rung_index == 0 and sup.stats.failures == 0
        if maxfail:
            assert sup.stats.failures <= maxfail
            if sup.stats.failures == maxfail:  # given up, or giving up once the call is hung up
                assert sup.phase in (P.STOPPED, P.HANGUP)
        # never stuck: a deadline, or a completion the driver will deliver
        if sup.phase is not P.STOPPED:
            assert sup.get_timer() is not None or drv.pending or sup.phase is P.RUNNING, sup.phase
        assert drv.port_open or sup.phase in (P.PORT_WAIT, P.STOPPED, P.IDLE, P.OPENING, P.CAP_HOLD)
        if sup.phase is P.CAP_HOLD:
            assert not drv.port_open and not drv.configured

    feed(Start())
    while sup.phase is not P.STOPPED:
        steps += 1
        assert steps < 500_000
        if faults >= faults_wanted and stopping_since is None:
            stopping_since = steps
            feed(StopRequest(interrupt=rng.random() < 0.5))
            continue
        if stopping_since is not None:
            assert steps - stopping_since < 50, "stop did not reach stopped"
        candidates = [t for t in (sup.get_timer(),) if t is not None]
        candidates += [t for t, _ in drv.pending]
        fault_at = now + rng.expovariate(1 / 20.0)
        nxt = min([*candidates, fault_at])
        now = max(now, nxt)
        due = [(t, e) for t, e in drv.pending if t <= now]
        if due:
            drv.pending.remove(due[0])
            feed(due[0][1])
        elif sup.get_timer() is not None and (sup.get_timer() or 0) <= now:
            feed(Timer())
        else:
            faults += 1
            if sup.phase is P.RUNNING:
                runs += 1
            kind = rng.random()
            if not maxfail and kind < 0.02:  # (the maxfail seeds keep their fault sequence)
                feed(SAMPLES[CapReached])  # the data cap: hold until a CheckCap says the period is over
                caps += 1
            elif kind < 0.3:
                feed(CarrierLost("NO CARRIER"))
            elif kind < 0.5:
                drv.port_present = False
                if drv.port_open:
                    feed(PortLost("EIO"))
                drv.port_present = True if rng.random() < 0.8 else drv.port_present
            elif kind < 0.7:
                feed(LinkDown("echo_timeout", "no reply"))
            elif kind < 0.8:
                drv.port_present = True
                feed(Timer())  # a spurious wake-up: must be harmless
            else:
                feed(LinkDown("peer_terminated", "peer terminated the link"))
    assert drv.exited is not None
    assert not drv.configured, "the interface must be unconfigured at the end"
    assert not drv.port_open
    if stopping_since is not None:
        assert drv.exited.status in (ExitStatus.SUCCESS, ExitStatus.INTERRUPTED)
    else:
        assert maxfail and sup.stats.failures == maxfail
    if not maxfail:
        assert faults >= faults_wanted
        print(f"seed {seed}: {faults} faults, {runs} while running, {climbed} climbs, {resets} ups, "
              f"rungs {sup.stats.rungs}, {sup.stats.reconnects} reconnects, {sup.ignored} ignored, "
              f"{dials} dials ({at_once} at once)")
        assert runs > 100 and climbed > 100 and resets > 100 and caps > 50 and at_once > 50
        assert all(sup.stats.rungs.get(r.value, 0) > 10 for r in ALL if r is not Rung.REDIAL)


# -- the holdoff policy: a session that worked redials at once, failures wait ---------------------


def _up(sup: Supervisor, now: float) -> None:
    for event in (DataMode(), LinkUp(), InterfaceConfigured()):
        sup.handle(event, now)


def test_the_phase_word_of_a_young_session_is_running() -> None:
    assert P.UP.word == "running" and P.RUNNING.word == "running" and P.HOLDOFF.word == "holdoff"
    sup, _now = reach(P.UP)
    assert sup.running and sup.describe(0.0).startswith("running")


def test_a_session_that_worked_redials_at_once_after_the_guarded_hangup() -> None:
    sup, now = reach(P.RUNNING)
    sup.handle(LinkDown("echo_timeout", "no reply to 3 LCP Echo-Requests"), now + 30)
    assert sup.phase is P.HANGUP and HangUp(terminate=False) in drain(sup)
    sup.handle(HangupDone(), now + 31)
    cmds = drain(sup)
    assert sup.phase is P.BRINGUP and _types(cmds) == [Quiesce, StartBringup]
    said = [c.step for c in cmds if isinstance(c, Report)]
    assert "redial" in said and "holdoff" not in said
    assert sup.stats.failures == 0 and sup.stats.losses == 1


def test_a_short_session_is_a_failed_attempt_that_waits_a_holdoff_and_redials() -> None:
    sup, now = reach(P.UP)
    sup.handle(CarrierLost("NO CARRIER"), now + PERSIST.min_up - 0.1)
    cmds = drain(sup)
    assert sup.phase is P.HOLDOFF and "holdoff" in [c.step for c in cmds if isinstance(c, Report)]
    assert sup.stats.failures == 1 and sup.stats.losses == 1
    assert "next: redial" in sup.describe(now + PERSIST.min_up)  # the path worked: the ladder starts over


def test_maxfail_counts_short_sessions() -> None:
    sup = Supervisor(SessionConfig(persist=True, maxfail=3, rungs=ALL), random=lambda: 0.5)
    sup.handle(Start(), 0.0)
    sup.handle(PortOpened(), 0.0)
    now = 0.0
    for _ in range(3):
        _up(sup, now)
        sup.handle(CarrierLost("NO CARRIER"), now + 1)
        now = sup.get_timer() or now + 1
        if sup.phase is P.HOLDOFF:
            sup.handle(Timer(), now)
    exit_cmd = drain(sup)[-1]
    assert sup.phase is P.STOPPED and isinstance(exit_cmd, Exit) and exit_cmd.status is ExitStatus.LINK_LOST
    assert "gave up after 3 failed attempts" in (exit_cmd.message or "")


def test_the_redial_at_once_does_not_outlive_its_attempt() -> None:
    """A session that worked ends by the port vanishing: the port wait, then a failed bring-up waits its
    holdoff (the 'at once' was for the attempt right after the loss, which the port wait replaced)."""
    sup, now = reach(P.RUNNING)
    sup.handle(PortLost("EIO"), now + 20)
    assert sup.phase is P.PORT_WAIT
    now = sup.get_timer() or now
    sup.handle(Timer(), now)
    sup.handle(PortOpened(), now)
    sup.handle(BringupFailed(ExitStatus.NO_MODEM, "the modem did not answer"), now + 1)
    assert sup.phase is P.HOLDOFF


def test_a_failed_redial_after_a_session_that_worked_waits_the_grown_holdoff() -> None:
    """The holdoff exponent counts failed attempts and is reset only after 10 minutes up: a short run of
    good sessions between failures does not restart it at 1 s."""
    draws = iter([0.5] * 100)
    sup = Supervisor(SessionConfig(persist=True, rungs=ALL, holdoff=1.0), random=lambda: next(draws))
    sup.handle(Start(), 0.0)
    sup.handle(PortOpened(), 0.0)
    now = 0.0
    for _ in range(3):  # three failed attempts: holdoffs 1, 2, 4
        sup.handle(BringupFailed(ExitStatus.NETWORK, "x"), now)
        now = sup.get_timer() or now
        sup.handle(Timer(), now)
        while sup.phase is P.RUNG:
            sup.handle(RungDone(), now)
        if sup.phase is P.PORT_WAIT:
            sup.handle(Timer(), sup.get_timer() or now)
            sup.handle(PortOpened(), now)
    _up(sup, now)
    sup.handle(Timer(), now + 10)
    sup.handle(CarrierLost("NO CARRIER"), now + 60)
    assert sup.phase is P.BRINGUP
    sup.handle(BringupFailed(ExitStatus.DIAL, "x"), now + 61)
    assert sup.get_timer() == now + 61 + 8.0


class _Modem:
    """A modem that dials in ``dial`` s, then PPP and the interface in 0.1 s, then drops the call ``up`` s
    after CONNECT, every time; counts the dials by time."""

    def __init__(self, up: float, dial: float = 0.5) -> None:
        self.up, self.dial = up, dial
        self.dials: list[float] = []

    def run(self, sup: Supervisor, hours: float) -> None:
        now = 0.0
        sup.handle(Start(), now)
        sup.handle(PortOpened(), now)
        end = hours * 3600
        while now < end:
            assert sup.phase is not P.STOPPED
            for cmd in drain(sup):
                if isinstance(cmd, StartBringup):
                    self.dials.append(now)
            if sup.phase is P.BRINGUP:
                connect = now + self.dial
                sup.handle(DataMode(), connect)
                sup.handle(LinkUp(), connect + 0.05)
                sup.handle(InterfaceConfigured(), connect + 0.1)
                now = connect + self.up
                deadline = sup.get_timer()
                if deadline is not None and deadline <= now:  # min_up passed while up
                    sup.handle(Timer(), deadline)
                sup.handle(CarrierLost("NO CARRIER"), now)
            else:
                deadline = sup.get_timer()
                assert deadline is not None, sup.phase
                now = deadline
                sup.handle(Timer(), now)

    def per_hour(self, hour: int) -> int:
        return sum(1 for t in self.dials if hour * 3600 <= t < (hour + 1) * 3600)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_no_redial_storm_from_a_modem_that_hangs_up_one_second_after_connect(seed: int) -> None:
    """Every call ends 1 s after CONNECT (0.9 s up): each is a failed attempt, so the holdoff paces the
    dials from the first one (1, 2, 4 ... 256 s, then --holdoff-max 300 s, +-25 %): about 20 dials in the
    first hour, at most 16 in any later one, where pppd (a modem hang-up skips its holdoff) redials at once."""
    rng = random.Random(seed)
    modem = _Modem(up=1.0)
    sup = Supervisor(SessionConfig(persist=True, rungs=ALL), random=rng.random)
    modem.run(sup, hours=24)
    gaps = [b - a for a, b in zip(modem.dials, modem.dials[1:], strict=False)]
    assert all(gap >= 1.0 + 0.75 for gap in gaps)  # the holdoff from the second dial on
    assert modem.per_hour(0) <= 25
    assert all(modem.per_hour(h) <= 16 for h in range(1, 24))
    assert sup.stats.reconnects == len(modem.dials) - 1 and sup.stats.failures == len(modem.dials)


def test_sessions_that_worked_redial_at_once_but_are_bounded_by_min_up() -> None:
    """Every call ends just after min_up: each redial is at once, and the dials an hour stay below
    3600 / (min_up + the bring-up)."""
    modem = _Modem(up=PERSIST.min_up + 0.2)
    sup = Supervisor(PERSIST, random=lambda: 0.5)
    modem.run(sup, hours=2)
    gaps = [b - a for a, b in zip(modem.dials, modem.dials[1:], strict=False)]
    assert gaps and all(gap == pytest.approx(modem.dial + modem.up) for gap in gaps)  # no holdoff
    assert modem.per_hour(1) <= 3600 / (PERSIST.min_up + modem.dial) and sup.stats.failures == 0
