"""RFC 1661 section 4 automaton: cell by cell against the RFC's own table text, counters, timer.

The expected table is *parsed from the RFC's text grid* (section 4.1, copied below as it is printed
in the RFC), independently of the dict literal in ``pppos.ppp.fsm``.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pppos.errors import LocalProtocolError
from pppos.ppp.fsm import (
    FOOTNOTES,
    TIMER_STATES,
    TRANSITIONS,
    Action,
    Automaton,
    BaseLayer,
    Event,
    State,
)

# RFC 1661 section 4.1, verbatim (the table is printed in two halves).
RFC_TABLE_A = """
      | State
      |    0         1         2         3         4         5
Events| Initial   Starting  Closed    Stopped   Closing   Stopping
------+-----------------------------------------------------------
 Up   |    2     irc,scr/6     -         -         -         -
 Down |    -         -         0       tls/1       0         1
 Open |  tls/1       1     irc,scr/6     3r        5r        5r
 Close|    0       tlf/0       2         2         4         4
      |
  TO+ |    -         -         -         -       str/4     str/5
  TO- |    -         -         -         -       tlf/2     tlf/3
      |
 RCR+ |    -         -       sta/2 irc,scr,sca/8   4         5
 RCR- |    -         -       sta/2 irc,scr,scn/6   4         5
 RCA  |    -         -       sta/2     sta/3       4         5
 RCN  |    -         -       sta/2     sta/3       4         5
      |
 RTR  |    -         -       sta/2     sta/3     sta/4     sta/5
 RTA  |    -         -         2         3       tlf/2     tlf/3
      |
 RUC  |    -         -       scj/2     scj/3     scj/4     scj/5
 RXJ+ |    -         -         2         3         4         5
 RXJ- |    -         -       tlf/2     tlf/3     tlf/2     tlf/3
      |
 RXR  |    -         -         2         3         4         5
"""

RFC_TABLE_B = """
      | State
      |    6         7         8           9
Events| Req-Sent  Ack-Rcvd  Ack-Sent    Opened
------+-----------------------------------------
 Up   |    -         -         -           -
 Down |    1         1         1         tld/1
 Open |    6         7         8           9r
 Close|irc,str/4 irc,str/4 irc,str/4 tld,irc,str/4
      |
  TO+ |  scr/6     scr/6     scr/8         -
  TO- |  tlf/3p    tlf/3p    tlf/3p        -
      |
 RCR+ |  sca/8   sca,tlu/9   sca/8   tld,scr,sca/8
 RCR- |  scn/6     scn/7     scn/6   tld,scr,scn/6
 RCA  |  irc/7     scr/6x  irc,tlu/9   tld,scr/6x
 RCN  |irc,scr/6   scr/6x  irc,scr/8   tld,scr/6x
      |
 RTR  |  sta/6     sta/6     sta/6   tld,zrc,sta/5
 RTA  |    6         6         8       tld,scr/6
      |
 RUC  |  scj/6     scj/7     scj/8       scj/9
 RXJ+ |    6         6         8           9
 RXJ- |  tlf/3     tlf/3     tlf/3   tld,irc,str/5
      |
 RXR  |    6         7         8         ser/9
"""

Cell = tuple[tuple[str, ...], int, str] | None  # (actions, new state, footnote) or "-"


def parse_rfc_grid(text: str, first_state: int) -> dict[tuple[int, str], Cell]:
    """Parse one half of the RFC grid into {(state number, event abbreviation): cell}."""
    cells: dict[tuple[int, str], Cell] = {}
    for line in text.splitlines():
        if "|" not in line:
            continue
        head, _, rest = line.partition("|")
        name = head.strip()
        if not name or name == "Events" or rest.strip().startswith("State"):
            continue
        for offset, token in enumerate(rest.split()):
            state = first_state + offset
            if token == "-":
                cells[(state, name)] = None
                continue
            actions_text, _, target = token.rpartition("/")
            footnote = target.lstrip("0123456789")
            number = int(target[: len(target) - len(footnote)])
            actions = tuple(actions_text.split(",")) if actions_text else ()
            cells[(state, name)] = (actions, number, footnote)
    return cells


RFC = parse_rfc_grid(RFC_TABLE_A, 0) | parse_rfc_grid(RFC_TABLE_B, 6)
ALL_CELLS = sorted(RFC, key=lambda key: (key[0], [e.value for e in Event].index(key[1])))
LAYER_ACTIONS = {"tlu", "tld", "tls", "tlf", "scr", "sca", "scn", "str", "sta", "scj", "ser"}


class Recorder(BaseLayer):
    """A layer that records every action the automaton asks for, with the clock value."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.fsm: Automaton | None = None

    def _note(self, name: str) -> None:
        self.calls.append(name)

    def this_layer_up(self) -> None:
        self._note("tlu")

    def this_layer_down(self) -> None:
        self._note("tld")

    def this_layer_started(self) -> None:
        self._note("tls")

    def this_layer_finished(self) -> None:
        self._note("tlf")

    def send_configure_request(self) -> None:
        self._note("scr")

    def send_configure_ack(self) -> None:
        self._note("sca")

    def send_configure_nak(self) -> None:
        self._note("scn")

    def send_terminate_request(self) -> None:
        self._note("str")

    def send_terminate_ack(self) -> None:
        self._note("sta")

    def send_code_reject(self) -> None:
        self._note("scj")

    def send_echo_reply(self) -> None:
        self._note("ser")


def make(state: State = State.INITIAL, **kwargs: object) -> tuple[Automaton, Recorder]:
    layer = Recorder()
    fsm = Automaton(layer, **kwargs)  # type: ignore[arg-type]
    layer.fsm = fsm
    fsm.state = fsm.next_state = state
    if state in TIMER_STATES:
        fsm._deadline = 1003.0  # a state with a running timer, as if a request went out at 1000
        fsm.restart_count = 5
    return fsm, layer


def test_grid_parse_is_complete() -> None:
    assert len(RFC) == 10 * 16
    assert {name for _, name in RFC} == {e.value for e in Event}
    assert sum(cell is None for cell in RFC.values()) == 160 - len(TRANSITIONS)


def test_table_matches_rfc_cell_by_cell() -> None:
    mismatches = []
    for state_no, event_name in ALL_CELLS:
        key = (State(state_no), Event(event_name))
        cell = RFC[(state_no, event_name)]
        if cell is None:
            ours = (TRANSITIONS.get(key), FOOTNOTES.get(key))
            expected: object = (None, None)
        else:
            actions, target, footnote = cell
            ours = (TRANSITIONS.get(key), FOOTNOTES.get(key, ""))
            expected = ((tuple(Action(a) for a in actions), State(target)), footnote)
        if ours != expected:
            mismatches.append(f"{key[0].label}/{event_name}: {ours} != RFC {expected}")
    assert mismatches == []


@pytest.mark.parametrize("state", list(State), ids=[s.label for s in State])
def test_cell_behaviour(state: State) -> None:
    """Drive the automaton in every state with every event and watch what it does to the layer."""
    for event in Event:
        check_cell(state, event)


def check_cell(state: State, event: Event) -> None:
    """One cell: the layer calls, new state, counter and timer the RFC cell prescribes."""
    state_no, event_name = state.value, event.value
    fsm, layer = make(state)
    cell = RFC[(state_no, event_name)]
    if cell is None:
        before = (fsm.state, fsm.get_timer(), fsm.restart_count)
        if event in (Event.UP, Event.DOWN):
            with pytest.raises(LocalProtocolError, match=event.value):
                fsm.event(event, 1001.0)
            assert fsm.stats.ignored == 0
        else:
            fsm.event(event, 1001.0)
            assert fsm.stats.ignored == 1
            assert fsm.stats.ignored_cells == {(state, event): 1}
        assert (fsm.state, fsm.get_timer(), fsm.restart_count) == before
        assert layer.calls == []
        return
    actions, target, _ = cell
    fsm.event(event, 1001.0)
    assert layer.calls == [a for a in actions if a in LAYER_ACTIONS]
    assert fsm.state == State(target)
    assert fsm.next_state == fsm.state
    assert fsm.stats.transitions == 1
    # Counter: irc picks Max-Terminate when the cell sends a Terminate-Request, else Max-Configure;
    # each scr/str then uses one; zrc zeroes it.
    if "zrc" in actions:
        assert fsm.restart_count == 0
    elif "irc" in actions:
        initial = 2 if "str" in actions else 10
        assert fsm.restart_count == initial - sum(a in ("scr", "str") for a in actions)
    # Timer: (re)started by scr/str/zrc at now + 3, kept while staying in states 4-8, else stopped.
    if State(target) not in TIMER_STATES:
        assert fsm.get_timer() is None
    elif {"scr", "str", "zrc"} & set(actions):
        assert fsm.get_timer() == 1004.0
    else:
        assert fsm.get_timer() == 1003.0


def test_open_and_negotiate_to_opened_with_exact_timers() -> None:
    fsm, layer = make()
    fsm.event(Event.OPEN, 1000.0)
    assert (fsm.state, layer.calls) == (State.STARTING, ["tls"])
    assert fsm.get_timer() is None
    fsm.event(Event.UP, 1000.5)
    assert (fsm.state, fsm.get_timer(), fsm.restart_count) == (State.REQ_SENT, 1003.5, 9)
    fsm.event(Event.RCR_GOOD, 1001.0)
    assert fsm.state is State.ACK_SENT
    fsm.handle_timer(1003.4)  # early: nothing
    assert layer.calls == ["tls", "scr", "sca"]
    fsm.handle_timer(1003.5)  # TO+: retransmit
    assert (fsm.state, fsm.get_timer(), layer.calls[-1]) == (State.ACK_SENT, 1006.5, "scr")
    fsm.event(Event.RCA, 1004.0)
    assert (fsm.state, layer.calls[-1], fsm.get_timer()) == (State.OPENED, "tlu", None)
    assert fsm.is_open
    fsm.event(Event.RXR, 1005.0)
    assert layer.calls[-1] == "ser"


def test_max_configure_exhaustion_gives_ten_requests_then_tlf() -> None:
    fsm, layer = make()
    fsm.event(Event.OPEN, 0.0)
    fsm.event(Event.UP, 0.0)
    now = 0.0
    while (deadline := fsm.get_timer()) is not None:
        now = deadline
        fsm.handle_timer(now)
    assert layer.calls.count("scr") == 10
    assert layer.calls[-1] == "tlf"
    assert fsm.state is State.STOPPED
    assert now == 30.0  # ten periods of 3 s: TO- fires one period after the tenth request
    assert fsm.stats.timeouts == 10
    assert fsm.stats.requests_sent == 10


def test_max_terminate_exhaustion_from_opened() -> None:
    fsm, layer = make(State.OPENED)
    fsm.event(Event.CLOSE, 10.0)
    assert layer.calls == ["tld", "str"]
    assert fsm.get_timer() == 13.0
    fsm.handle_timer(13.0)
    assert layer.calls == ["tld", "str", "str"]
    assert fsm.state is State.CLOSING
    fsm.handle_timer(16.0)
    assert layer.calls == ["tld", "str", "str", "tlf"]
    assert (fsm.state, fsm.get_timer()) == (State.CLOSED, None)


def test_configurable_counters_and_period() -> None:
    fsm, layer = make(restart_timer=1.5, max_configure=3)
    fsm.event(Event.OPEN, 0.0)
    fsm.event(Event.UP, 0.0)
    assert fsm.get_timer() == 1.5
    for t in (1.5, 3.0, 4.5):
        fsm.handle_timer(t)
    assert layer.calls.count("scr") == 3
    assert fsm.state is State.STOPPED


def test_zero_restart_count_pauses_one_period_in_stopping() -> None:
    fsm, layer = make(State.OPENED)
    fsm.event(Event.RTR, 50.0)
    assert layer.calls == ["tld", "sta"]
    assert (fsm.state, fsm.restart_count, fsm.get_timer()) == (State.STOPPING, 0, 53.0)
    fsm.handle_timer(53.0)
    assert (fsm.state, layer.calls[-1], fsm.get_timer()) == (State.STOPPED, "tlf", None)


def test_passive_option_skips_tlf() -> None:
    fsm, layer = make(State.REQ_SENT, passive=True)
    fsm.restart_count = 0
    fsm.handle_timer(1003.0)
    assert (fsm.state, layer.calls) == (State.STOPPED, [])
    fsm, layer = make(State.REQ_SENT)
    fsm.restart_count = 0
    fsm.handle_timer(1003.0)
    assert (fsm.state, layer.calls) == (State.STOPPED, ["tlf"])


@pytest.mark.parametrize(
    ("state", "calls"),
    [
        (State.OPENED, ["tld", "scr"]),
        (State.STOPPED, ["tls", "scr"]),
        (State.STOPPING, ["scr"]),
        (State.CLOSING, ["scr"]),
    ],
)
def test_restart_option_renegotiates(state: State, calls: list[str]) -> None:
    fsm, layer = make(state, restart=True)
    fsm.event(Event.OPEN, 1001.0)
    assert layer.calls == calls
    assert fsm.state is State.REQ_SENT
    assert fsm.get_timer() == 1004.0
    plain, plain_layer = make(state)
    plain.event(Event.OPEN, 1001.0)
    assert plain_layer.calls == []


def test_max_failure_turns_naks_into_rejects_flag() -> None:
    fsm, _ = make(max_failure=3)
    fsm.event(Event.OPEN, 0.0)
    fsm.event(Event.UP, 0.0)
    for _ in range(2):
        fsm.event(Event.RCR_BAD, 0.1)
    assert not fsm.nak_exhausted
    fsm.event(Event.RCR_BAD, 0.2)
    assert fsm.nak_exhausted
    fsm.event(Event.RCR_GOOD, 0.3)  # sca resets the loop count
    assert not fsm.nak_exhausted
    assert fsm.naks_sent == 0


def test_reentrant_event_runs_after_the_current_transition() -> None:
    class DownOnFinish(Recorder):
        def this_layer_finished(self) -> None:
            super().this_layer_finished()
            assert self.fsm is not None
            assert self.fsm.state is State.CLOSING  # still the state the event arrived in
            assert self.fsm.next_state is State.CLOSED
            self.fsm.event(Event.DOWN, self.fsm.now)

    layer = DownOnFinish()
    fsm = Automaton(layer)
    layer.fsm = fsm
    fsm.state = State.CLOSING
    fsm.event(Event.RTA, 5.0)
    assert fsm.state is State.INITIAL  # Closing -RTA-> Closed, then Closed -Down-> Initial
    assert layer.calls == ["tlf"]


def test_trace_lines_and_repr() -> None:
    lines: list[str] = []
    fsm = Automaton(BaseLayer(), name="LCP", trace=lines.append)
    fsm.event(Event.OPEN, 0.0)
    fsm.event(Event.RCA, 0.0)
    assert lines == ["LCP: Initial --Open--> Starting [tls]", "LCP: RCA ignored in Starting"]
    assert "Starting" in repr(fsm)


@pytest.mark.parametrize("kwargs", [{"restart_timer": 0}, {"max_configure": 0}, {"max_terminate": -1}])
def test_bad_configuration(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be"):
        Automaton(BaseLayer(), **kwargs)  # type: ignore[arg-type]


STEP = st.one_of(st.sampled_from(list(Event)), st.floats(min_value=0.0, max_value=5.0))


@settings(max_examples=150, deadline=None)
@given(st.lists(STEP, max_size=60))
def test_any_event_sequence_ends_in_a_legal_state(steps: list[Event | float]) -> None:
    """Hypothesis (h2 style): whatever arrives, the automaton stays consistent.

    A float step advances the clock and fires the timer; an Event step is fed directly.
    """
    fsm, layer = make()
    now = 0.0
    for step in steps:
        if isinstance(step, float):
            now += step
            fsm.handle_timer(now)
        else:
            before = fsm.state
            try:
                fsm.event(step, now)
            except LocalProtocolError:
                assert step in (Event.UP, Event.DOWN)
                assert fsm.state is before
        assert isinstance(fsm.state, State)
        assert fsm.next_state is fsm.state
        assert fsm.restart_count >= 0
        timer = fsm.get_timer()
        assert (timer is not None) == (fsm.state in TIMER_STATES)
        if timer is not None:
            assert now <= timer <= now + fsm.restart_timer
        # tlu and tld alternate, starting with tlu, and only Opened is "up".
        ups = [c for c in layer.calls if c in ("tlu", "tld")]
        assert all(a != b for a, b in itertools.pairwise(ups))
        assert not ups or ups[0] == "tlu"
        assert (ups[-1:] == ["tlu"]) == (fsm.state is State.OPENED)
