"""The PPP option-negotiation automaton of RFC 1661 section 4, as a transition table.

LCP, IPCP and IPv6CP (and every other Network Control Protocol) share one finite-state automaton
(RFC 1661 section 4, "The Option Negotiation Automaton"). This module holds that automaton and
nothing protocol-specific: which options to ask for, how to answer a Configure-Request and what to
put in a packet is decided by the *layer* object (``pppos.ppp.lcp`` and friends) that owns an
:class:`Automaton`.

Theory of operation
-------------------
* **States** (:class:`State`, RFC 1661 section 4.2) are the ten numbered states of the RFC, 0
  Initial to 9 Opened. **Events** (:class:`Event`, section 4.3) are the sixteen inputs: the lower
  layer going Up/Down, the administrative Open/Close, the Restart timer expiring with the counter
  above zero (TO+) or exhausted (TO-), and the receive events RCR+ .. RXR. **Actions**
  (:class:`Action`, section 4.4) are the thirteen outputs tlu .. ser.
* :data:`TRANSITIONS` is section 4.1's table transcribed cell by cell as a dict literal:
  ``TRANSITIONS[(state, event)] -> (actions, new_state)``. A key that is absent is one of the
  table's "-" (illegal) cells. :data:`FOOTNOTES` keeps the table's footnote letters: ``p``
  (passive option, section 4.2 Stopped), ``r`` (restart option, section 4.3 Open) and ``x``
  (crossed connection, section 4.3 RCA). Nothing else in this file knows about transitions: the
  code only looks them up and runs their actions in order.
* **Who decides what.** The layer classifies a received packet (is this Configure-Request
  acceptable? RCR+ or RCR-) and calls :meth:`Automaton.event`. The automaton runs the actions of
  the cell; each action that produces a packet or a notification is a call back into the layer
  (:class:`Layer`: ``this_layer_up``, ``send_configure_ack``, ...). The layer already holds the packet
  that caused the event, so the callbacks take no arguments; ``automaton.now`` is the clock value of
  the call that is running. The restart counter actions (irc, zrc) and the Restart timer are the
  automaton's own business.
* **Restart counter and timer** (section 4.6). ``irc`` sets the counter to Max-Terminate when the
  same cell sends a Terminate-Request (``str``), otherwise to Max-Configure. Every ``scr`` and
  ``str`` decrements the counter (never below zero) and (re)starts the Restart timer at
  ``now + restart_timer``; ``zrc`` zeroes the counter and starts the timer too, so that Opened ->
  RTR -> Stopping pauses one period before TO- (section 4.4, Zero-Restart-Count). When the timer
  expires, :meth:`Automaton.handle_timer` feeds TO+ if the counter is above zero, else TO-. The
  timer runs exactly in states 4 to 8 (Closing, Stopping, Req-Sent, Ack-Rcvd, Ack-Sent): leaving
  them stops it. :meth:`Automaton.get_timer` returns the absolute deadline or ``None``.
  So Max-Configure 10 means ten Configure-Requests and TO- one period after the tenth, and
  Max-Terminate 2 means two Terminate-Requests.
* **Max-Failure** (section 4.6): the automaton counts Configure-Naks sent (``scn``) since the last
  Configure-Ack sent or since negotiation (re)started; :attr:`Automaton.nak_exhausted` becomes true
  after ``max_failure`` of them and the layer then turns further Naks into Rejects (the layer reads
  it while it classifies a Configure-Request). IPCP uses ``max_failure`` up to 100 for modems that
  stall with NAKs (pppd ipcp.c, lwIP ``IPCP_MAXNAKLOOPS``... see the reference notes).
* **Illegal ("-") cells.** The RFC says such a transition is illegal: it cannot happen when the
  implementation is correct. We treat them by who can cause them:

  - ``Up`` in states 2-9 and ``Down`` in states 0-1 can only come from our own lower-layer
    bookkeeping: :class:`~pppos.errors.LocalProtocolError`, state untouched (h11 style).
  - A receive event (RCR+ .. RXR) in Initial or Starting is a packet that raced the lower layer
    (the peer's IPCP arriving before our LCP is up): counted in ``stats.ignored`` and dropped, as
    RFC 1661 section 5 asks for packets that cannot be handled and as pppd's ``fsm_input`` does.
  - TO+/TO- where no timer runs (a stale timer) are counted the same way.

* **Footnotes.** ``p``: with ``passive=True`` the TO- event in Req-Sent, Ack-Rcvd and Ack-Sent goes
  to Stopped *without* ``tlf`` (wait passively for the peer; section 4.2 says not for switched
  circuits, so the default is False). ``r``: with ``restart=True`` an Open in Stopped, Stopping,
  Closing or Opened is followed by a Down and an Up, which renegotiates the link (section 4.3,
  Open; default False, as pppd). ``x``: a Configure-Ack in Ack-Rcvd or Opened is a crossed
  connection; the table's answer (send a new Configure-Request, go to Req-Sent, do not reset the
  counter) is simply followed.
* **Run to completion.** If a layer callback feeds another event to the *same* automaton (for
  example ``this_layer_finished`` leading the link to signal Down), the event is queued and run
  after the current transition completes, so every transition sees a consistent state. During the
  callbacks :attr:`Automaton.state` is still the state the event arrived in;
  :attr:`Automaton.next_state` is where the cell goes.

The automaton is sans-I/O: it never reads a clock, sleeps or logs. An optional ``trace`` callable
receives one line per transition, e.g. ``LCP: Req-Sent --RCA--> Ack-Rcvd [irc]``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum, IntEnum, unique
from typing import Protocol

from pppos.errors import LocalProtocolError

__all__ = [
    "FOOTNOTES",
    "TIMER_STATES",
    "TRANSITIONS",
    "Action",
    "Automaton",
    "AutomatonStats",
    "BaseLayer",
    "Event",
    "Layer",
    "State",
]


@unique
class State(IntEnum):
    """The ten automaton states, numbered as in RFC 1661 section 4.1 (described in 4.2)."""

    INITIAL = 0
    STARTING = 1
    CLOSED = 2
    STOPPED = 3
    CLOSING = 4
    STOPPING = 5
    REQ_SENT = 6
    ACK_RCVD = 7
    ACK_SENT = 8
    OPENED = 9

    @property
    def label(self) -> str:
        """The RFC's spelling of the state name (``Req-Sent``)."""
        return _STATE_LABELS[self]


_STATE_LABELS = {
    State.INITIAL: "Initial",
    State.STARTING: "Starting",
    State.CLOSED: "Closed",
    State.STOPPED: "Stopped",
    State.CLOSING: "Closing",
    State.STOPPING: "Stopping",
    State.REQ_SENT: "Req-Sent",
    State.ACK_RCVD: "Ack-Rcvd",
    State.ACK_SENT: "Ack-Sent",
    State.OPENED: "Opened",
}


@unique
class Event(Enum):
    """The sixteen automaton events of RFC 1661 section 4.3; the value is the RFC's abbreviation."""

    #: Up: the lower layer is ready to carry packets.
    UP = "Up"
    #: Down: the lower layer is no longer available.
    DOWN = "Down"
    #: Open: administrative Open (the link is allowed to come up).
    OPEN = "Open"
    #: Close: administrative Close.
    CLOSE = "Close"
    #: TO+: the Restart timer expired with the restart counter above zero.
    TO_PLUS = "TO+"
    #: TO-: the Restart timer expired with the restart counter exhausted.
    TO_MINUS = "TO-"
    #: RCR+: a Configure-Request we accept as it is.
    RCR_GOOD = "RCR+"
    #: RCR-: a Configure-Request we answer with a Nak or a Reject.
    RCR_BAD = "RCR-"
    #: RCA: a valid Configure-Ack (identifier matches our last Configure-Request).
    RCA = "RCA"
    #: RCN: a valid Configure-Nak or Configure-Reject.
    RCN = "RCN"
    #: RTR: a Terminate-Request.
    RTR = "RTR"
    #: RTA: a Terminate-Ack.
    RTA = "RTA"
    #: RUC: a packet with an unknown code.
    RUC = "RUC"
    #: RXJ+: a Code-Reject or Protocol-Reject we can live with.
    RXJ_GOOD = "RXJ+"
    #: RXJ-: a Code-Reject or Protocol-Reject that makes the layer unusable.
    RXJ_BAD = "RXJ-"
    #: RXR: an Echo-Request, Echo-Reply or Discard-Request.
    RXR = "RXR"


@unique
class Action(Enum):
    """The thirteen automaton actions of RFC 1661 section 4.4; the value is the RFC's abbreviation."""

    TLU = "tlu"  #: This-Layer-Up
    TLD = "tld"  #: This-Layer-Down
    TLS = "tls"  #: This-Layer-Started
    TLF = "tlf"  #: This-Layer-Finished
    IRC = "irc"  #: Initialize-Restart-Count
    ZRC = "zrc"  #: Zero-Restart-Count
    SCR = "scr"  #: Send-Configure-Request
    SCA = "sca"  #: Send-Configure-Ack
    SCN = "scn"  #: Send-Configure-Nak/Rej
    STR = "str"  #: Send-Terminate-Request
    STA = "sta"  #: Send-Terminate-Ack
    SCJ = "scj"  #: Send-Code-Reject
    SER = "ser"  #: Send-Echo-Reply


S = State
E = Event
TLU, TLD, TLS, TLF = Action.TLU, Action.TLD, Action.TLS, Action.TLF
IRC, ZRC, SCR, SCA, SCN = Action.IRC, Action.ZRC, Action.SCR, Action.SCA, Action.SCN
STR, STA, SCJ, SER = Action.STR, Action.STA, Action.SCJ, Action.SER

#: RFC 1661 section 4.1, cell by cell: ``(state, event) -> (actions in order, new state)``.
#: Absent keys are the table's "-" cells (see the module docstring for how they are handled).
TRANSITIONS: dict[tuple[State, Event], tuple[tuple[Action, ...], State]] = {
    # 0 Initial
    (S.INITIAL, E.UP): ((), S.CLOSED),
    (S.INITIAL, E.OPEN): ((TLS,), S.STARTING),
    (S.INITIAL, E.CLOSE): ((), S.INITIAL),
    # 1 Starting
    (S.STARTING, E.UP): ((IRC, SCR), S.REQ_SENT),
    (S.STARTING, E.OPEN): ((), S.STARTING),
    (S.STARTING, E.CLOSE): ((TLF,), S.INITIAL),
    # 2 Closed
    (S.CLOSED, E.DOWN): ((), S.INITIAL),
    (S.CLOSED, E.OPEN): ((IRC, SCR), S.REQ_SENT),
    (S.CLOSED, E.CLOSE): ((), S.CLOSED),
    (S.CLOSED, E.RCR_GOOD): ((STA,), S.CLOSED),
    (S.CLOSED, E.RCR_BAD): ((STA,), S.CLOSED),
    (S.CLOSED, E.RCA): ((STA,), S.CLOSED),
    (S.CLOSED, E.RCN): ((STA,), S.CLOSED),
    (S.CLOSED, E.RTR): ((STA,), S.CLOSED),
    (S.CLOSED, E.RTA): ((), S.CLOSED),
    (S.CLOSED, E.RUC): ((SCJ,), S.CLOSED),
    (S.CLOSED, E.RXJ_GOOD): ((), S.CLOSED),
    (S.CLOSED, E.RXJ_BAD): ((TLF,), S.CLOSED),
    (S.CLOSED, E.RXR): ((), S.CLOSED),
    # 3 Stopped
    (S.STOPPED, E.DOWN): ((TLS,), S.STARTING),
    (S.STOPPED, E.OPEN): ((), S.STOPPED),  # [r]
    (S.STOPPED, E.CLOSE): ((), S.CLOSED),
    (S.STOPPED, E.RCR_GOOD): ((IRC, SCR, SCA), S.ACK_SENT),
    (S.STOPPED, E.RCR_BAD): ((IRC, SCR, SCN), S.REQ_SENT),
    (S.STOPPED, E.RCA): ((STA,), S.STOPPED),
    (S.STOPPED, E.RCN): ((STA,), S.STOPPED),
    (S.STOPPED, E.RTR): ((STA,), S.STOPPED),
    (S.STOPPED, E.RTA): ((), S.STOPPED),
    (S.STOPPED, E.RUC): ((SCJ,), S.STOPPED),
    (S.STOPPED, E.RXJ_GOOD): ((), S.STOPPED),
    (S.STOPPED, E.RXJ_BAD): ((TLF,), S.STOPPED),
    (S.STOPPED, E.RXR): ((), S.STOPPED),
    # 4 Closing
    (S.CLOSING, E.DOWN): ((), S.INITIAL),
    (S.CLOSING, E.OPEN): ((), S.STOPPING),  # [r]
    (S.CLOSING, E.CLOSE): ((), S.CLOSING),
    (S.CLOSING, E.TO_PLUS): ((STR,), S.CLOSING),
    (S.CLOSING, E.TO_MINUS): ((TLF,), S.CLOSED),
    (S.CLOSING, E.RCR_GOOD): ((), S.CLOSING),
    (S.CLOSING, E.RCR_BAD): ((), S.CLOSING),
    (S.CLOSING, E.RCA): ((), S.CLOSING),
    (S.CLOSING, E.RCN): ((), S.CLOSING),
    (S.CLOSING, E.RTR): ((STA,), S.CLOSING),
    (S.CLOSING, E.RTA): ((TLF,), S.CLOSED),
    (S.CLOSING, E.RUC): ((SCJ,), S.CLOSING),
    (S.CLOSING, E.RXJ_GOOD): ((), S.CLOSING),
    (S.CLOSING, E.RXJ_BAD): ((TLF,), S.CLOSED),
    (S.CLOSING, E.RXR): ((), S.CLOSING),
    # 5 Stopping
    (S.STOPPING, E.DOWN): ((), S.STARTING),
    (S.STOPPING, E.OPEN): ((), S.STOPPING),  # [r]
    (S.STOPPING, E.CLOSE): ((), S.CLOSING),
    (S.STOPPING, E.TO_PLUS): ((STR,), S.STOPPING),
    (S.STOPPING, E.TO_MINUS): ((TLF,), S.STOPPED),
    (S.STOPPING, E.RCR_GOOD): ((), S.STOPPING),
    (S.STOPPING, E.RCR_BAD): ((), S.STOPPING),
    (S.STOPPING, E.RCA): ((), S.STOPPING),
    (S.STOPPING, E.RCN): ((), S.STOPPING),
    (S.STOPPING, E.RTR): ((STA,), S.STOPPING),
    (S.STOPPING, E.RTA): ((TLF,), S.STOPPED),
    (S.STOPPING, E.RUC): ((SCJ,), S.STOPPING),
    (S.STOPPING, E.RXJ_GOOD): ((), S.STOPPING),
    (S.STOPPING, E.RXJ_BAD): ((TLF,), S.STOPPED),
    (S.STOPPING, E.RXR): ((), S.STOPPING),
    # 6 Req-Sent
    (S.REQ_SENT, E.DOWN): ((), S.STARTING),
    (S.REQ_SENT, E.OPEN): ((), S.REQ_SENT),
    (S.REQ_SENT, E.CLOSE): ((IRC, STR), S.CLOSING),
    (S.REQ_SENT, E.TO_PLUS): ((SCR,), S.REQ_SENT),
    (S.REQ_SENT, E.TO_MINUS): ((TLF,), S.STOPPED),  # [p]
    (S.REQ_SENT, E.RCR_GOOD): ((SCA,), S.ACK_SENT),
    (S.REQ_SENT, E.RCR_BAD): ((SCN,), S.REQ_SENT),
    (S.REQ_SENT, E.RCA): ((IRC,), S.ACK_RCVD),
    (S.REQ_SENT, E.RCN): ((IRC, SCR), S.REQ_SENT),
    (S.REQ_SENT, E.RTR): ((STA,), S.REQ_SENT),
    (S.REQ_SENT, E.RTA): ((), S.REQ_SENT),
    (S.REQ_SENT, E.RUC): ((SCJ,), S.REQ_SENT),
    (S.REQ_SENT, E.RXJ_GOOD): ((), S.REQ_SENT),
    (S.REQ_SENT, E.RXJ_BAD): ((TLF,), S.STOPPED),
    (S.REQ_SENT, E.RXR): ((), S.REQ_SENT),
    # 7 Ack-Rcvd
    (S.ACK_RCVD, E.DOWN): ((), S.STARTING),
    (S.ACK_RCVD, E.OPEN): ((), S.ACK_RCVD),
    (S.ACK_RCVD, E.CLOSE): ((IRC, STR), S.CLOSING),
    (S.ACK_RCVD, E.TO_PLUS): ((SCR,), S.REQ_SENT),
    (S.ACK_RCVD, E.TO_MINUS): ((TLF,), S.STOPPED),  # [p]
    (S.ACK_RCVD, E.RCR_GOOD): ((SCA, TLU), S.OPENED),
    (S.ACK_RCVD, E.RCR_BAD): ((SCN,), S.ACK_RCVD),
    (S.ACK_RCVD, E.RCA): ((SCR,), S.REQ_SENT),  # [x]
    (S.ACK_RCVD, E.RCN): ((SCR,), S.REQ_SENT),  # [x]
    (S.ACK_RCVD, E.RTR): ((STA,), S.REQ_SENT),
    (S.ACK_RCVD, E.RTA): ((), S.REQ_SENT),
    (S.ACK_RCVD, E.RUC): ((SCJ,), S.ACK_RCVD),
    (S.ACK_RCVD, E.RXJ_GOOD): ((), S.REQ_SENT),
    (S.ACK_RCVD, E.RXJ_BAD): ((TLF,), S.STOPPED),
    (S.ACK_RCVD, E.RXR): ((), S.ACK_RCVD),
    # 8 Ack-Sent
    (S.ACK_SENT, E.DOWN): ((), S.STARTING),
    (S.ACK_SENT, E.OPEN): ((), S.ACK_SENT),
    (S.ACK_SENT, E.CLOSE): ((IRC, STR), S.CLOSING),
    (S.ACK_SENT, E.TO_PLUS): ((SCR,), S.ACK_SENT),
    (S.ACK_SENT, E.TO_MINUS): ((TLF,), S.STOPPED),  # [p]
    (S.ACK_SENT, E.RCR_GOOD): ((SCA,), S.ACK_SENT),
    (S.ACK_SENT, E.RCR_BAD): ((SCN,), S.REQ_SENT),
    (S.ACK_SENT, E.RCA): ((IRC, TLU), S.OPENED),
    (S.ACK_SENT, E.RCN): ((IRC, SCR), S.ACK_SENT),
    (S.ACK_SENT, E.RTR): ((STA,), S.REQ_SENT),
    (S.ACK_SENT, E.RTA): ((), S.ACK_SENT),
    (S.ACK_SENT, E.RUC): ((SCJ,), S.ACK_SENT),
    (S.ACK_SENT, E.RXJ_GOOD): ((), S.ACK_SENT),
    (S.ACK_SENT, E.RXJ_BAD): ((TLF,), S.STOPPED),
    (S.ACK_SENT, E.RXR): ((), S.ACK_SENT),
    # 9 Opened
    (S.OPENED, E.DOWN): ((TLD,), S.STARTING),
    (S.OPENED, E.OPEN): ((), S.OPENED),  # [r]
    (S.OPENED, E.CLOSE): ((TLD, IRC, STR), S.CLOSING),
    (S.OPENED, E.RCR_GOOD): ((TLD, SCR, SCA), S.ACK_SENT),
    (S.OPENED, E.RCR_BAD): ((TLD, SCR, SCN), S.REQ_SENT),
    (S.OPENED, E.RCA): ((TLD, SCR), S.REQ_SENT),  # [x]
    (S.OPENED, E.RCN): ((TLD, SCR), S.REQ_SENT),  # [x]
    (S.OPENED, E.RTR): ((TLD, ZRC, STA), S.STOPPING),
    (S.OPENED, E.RTA): ((TLD, SCR), S.REQ_SENT),
    (S.OPENED, E.RUC): ((SCJ,), S.OPENED),
    (S.OPENED, E.RXJ_GOOD): ((), S.OPENED),
    (S.OPENED, E.RXJ_BAD): ((TLD, IRC, STR), S.STOPPING),
    (S.OPENED, E.RXR): ((SER,), S.OPENED),
}

#: The footnote letters of section 4.1's table: p passive, r restart, x crossed connection.
FOOTNOTES: dict[tuple[State, Event], str] = {
    (S.STOPPED, E.OPEN): "r",
    (S.CLOSING, E.OPEN): "r",
    (S.STOPPING, E.OPEN): "r",
    (S.OPENED, E.OPEN): "r",
    (S.REQ_SENT, E.TO_MINUS): "p",
    (S.ACK_RCVD, E.TO_MINUS): "p",
    (S.ACK_SENT, E.TO_MINUS): "p",
    (S.ACK_RCVD, E.RCA): "x",
    (S.ACK_RCVD, E.RCN): "x",
    (S.OPENED, E.RCA): "x",
    (S.OPENED, E.RCN): "x",
}

del S, E

#: States in which the Restart timer runs (RFC 1661 section 4.2).
TIMER_STATES: frozenset[State] = frozenset(
    {State.CLOSING, State.STOPPING, State.REQ_SENT, State.ACK_RCVD, State.ACK_SENT}
)

#: Events a peer's packet causes (as opposed to the lower layer, the administrator or the timer).
RECEIVE_EVENTS: frozenset[Event] = frozenset(
    {
        Event.RCR_GOOD, Event.RCR_BAD, Event.RCA, Event.RCN, Event.RTR, Event.RTA,
        Event.RUC, Event.RXJ_GOOD, Event.RXJ_BAD, Event.RXR,
    }
)

_NEGOTIATING = frozenset({State.REQ_SENT, State.ACK_RCVD, State.ACK_SENT})


class Layer(Protocol):
    """What an :class:`Automaton` calls: one method per RFC 1661 section 4.4 action.

    The counter actions irc and zrc are handled by the automaton and have no method. Every method
    is called synchronously from :meth:`Automaton.event` or :meth:`Automaton.handle_timer`, in the
    order of the table cell, with no arguments: the layer knows the packet that caused the event
    (it classified it) and can read ``automaton.now``, ``automaton.state`` (the state the event
    arrived in) and ``automaton.next_state``.
    """

    def this_layer_up(self) -> None:
        """tlu: the automaton entered Opened; the upper layer may use the link (section 4.4)."""

    def this_layer_down(self) -> None:
        """tld: the automaton is leaving Opened (section 4.4)."""

    def this_layer_started(self) -> None:
        """tls: the lower layer is needed; e.g. LCP asks the physical layer for Up (section 4.4)."""

    def this_layer_finished(self) -> None:
        """tlf: the lower layer is no longer needed; e.g. LCP lets the modem hang up (section 4.4)."""

    def send_configure_request(self) -> None:
        """scr: send a Configure-Request with a new identifier (section 4.4, 5.1)."""

    def send_configure_ack(self) -> None:
        """sca: send the Configure-Ack answering the received Configure-Request (section 5.2)."""

    def send_configure_nak(self) -> None:
        """scn: send the Configure-Nak or Configure-Reject for the received request (5.3, 5.4)."""

    def send_terminate_request(self) -> None:
        """str: send a Terminate-Request (section 5.5)."""

    def send_terminate_ack(self) -> None:
        """sta: send a Terminate-Ack, echoing the received identifier if any (section 5.5)."""

    def send_code_reject(self) -> None:
        """scj: send a Code-Reject carrying the unknown packet (section 5.6)."""

    def send_echo_reply(self) -> None:
        """ser: answer an Echo-Request with an Echo-Reply (Echo-Reply and Discard: nothing) (5.8)."""


class BaseLayer:
    """A :class:`Layer` whose every action does nothing; subclass it and override what you need."""

    def this_layer_up(self) -> None:
        """tlu: nothing by default."""

    def this_layer_down(self) -> None:
        """tld: nothing by default."""

    def this_layer_started(self) -> None:
        """tls: nothing by default."""

    def this_layer_finished(self) -> None:
        """tlf: nothing by default."""

    def send_configure_request(self) -> None:
        """scr: nothing by default."""

    def send_configure_ack(self) -> None:
        """sca: nothing by default."""

    def send_configure_nak(self) -> None:
        """scn: nothing by default."""

    def send_terminate_request(self) -> None:
        """str: nothing by default."""

    def send_terminate_ack(self) -> None:
        """sta: nothing by default."""

    def send_code_reject(self) -> None:
        """scj: nothing by default."""

    def send_echo_reply(self) -> None:
        """ser: nothing by default."""


_LAYER_METHODS: dict[Action, str] = {
    Action.TLU: "this_layer_up",
    Action.TLD: "this_layer_down",
    Action.TLS: "this_layer_started",
    Action.TLF: "this_layer_finished",
    Action.SCR: "send_configure_request",
    Action.SCA: "send_configure_ack",
    Action.SCN: "send_configure_nak",
    Action.STR: "send_terminate_request",
    Action.STA: "send_terminate_ack",
    Action.SCJ: "send_code_reject",
    Action.SER: "send_echo_reply",
}


@dataclass(slots=True)
class AutomatonStats:
    """Counters of one automaton; line noise is counted here, never raised (RFC 1661 section 5)."""

    #: Transitions taken (table cells applied).
    transitions: int = 0
    #: Events dropped because their cell is "-" (receive events in Initial/Starting, stale timers).
    ignored: int = 0
    #: Restart-timer expiries (TO+ and TO- together).
    timeouts: int = 0
    #: Configure-Requests and Terminate-Requests sent (scr + str), retransmissions included.
    requests_sent: int = 0
    #: Ignored events by (state, event), for debugging.
    ignored_cells: dict[tuple[State, Event], int] = field(default_factory=dict)


class Automaton:
    """The RFC 1661 section 4 option-negotiation automaton for one control protocol.

    :param layer: the :class:`Layer` whose methods perform the packet and notification actions.
    :param restart_timer: the Restart timer period in seconds (section 4.6: SHOULD default to 3).
    :param max_terminate: Max-Terminate, Terminate-Requests sent before giving up (default 2).
    :param max_configure: Max-Configure, Configure-Requests sent without an Ack (default 10).
    :param max_failure: Max-Failure, Configure-Naks sent before Naks become Rejects (default 5;
        IPCP may use up to 100).
    :param passive: the [p] option (TO- in states 6-8 goes to Stopped without tlf).
    :param restart: the [r] option (Open in states 3, 4, 5, 9 also does Down then Up).
    :param name: prefix of trace lines (``LCP``).
    :param trace: optional callable receiving one line per transition.
    """

    def __init__(
        self,
        layer: Layer,
        *,
        restart_timer: float = 3.0,
        max_terminate: int = 2,
        max_configure: int = 10,
        max_failure: int = 5,
        passive: bool = False,
        restart: bool = False,
        name: str = "FSM",
        trace: Callable[[str], None] | None = None,
    ) -> None:
        if restart_timer <= 0:
            raise ValueError(f"restart_timer must be positive, not {restart_timer!r}")
        for label, value in (("max_terminate", max_terminate), ("max_configure", max_configure),
                             ("max_failure", max_failure)):
            if value < 1:
                raise ValueError(f"{label} must be at least 1, not {value!r}")
        self.layer = layer
        self.restart_timer = restart_timer
        self.max_terminate = max_terminate
        self.max_configure = max_configure
        self.max_failure = max_failure
        self.passive = passive
        self.restart = restart
        self.name = name
        self.trace = trace
        #: The current state (during layer callbacks: the state the event arrived in).
        self.state: State = State.INITIAL
        #: The state the running transition goes to (equals ``state`` outside transitions).
        self.next_state: State = State.INITIAL
        #: The restart counter (section 4.6); never below zero.
        self.restart_count: int = 0
        #: Configure-Naks sent since the last Configure-Ack sent or since negotiation started.
        self.naks_sent: int = 0
        #: The clock value of the event or timer call being processed (or of the last one).
        self.now: float = 0.0
        self.stats = AutomatonStats()
        self._deadline: float | None = None
        self._pending: deque[Event] = deque()
        self._busy = False

    def __repr__(self) -> str:
        return f"<Automaton {self.name} {self.state.label} count={self.restart_count} timer={self._deadline}>"

    # -- inputs -----------------------------------------------------------------------------

    @property
    def nak_exhausted(self) -> bool:
        """True once Max-Failure Configure-Naks were sent: the layer should Reject instead (4.6)."""
        return self.naks_sent >= self.max_failure

    @property
    def is_open(self) -> bool:
        """True in the Opened state."""
        return self.state is State.OPENED

    def get_timer(self) -> float | None:
        """The absolute deadline of the Restart timer on the caller's clock, or None if stopped."""
        return self._deadline

    def handle_timer(self, now: float) -> None:
        """Fire the Restart timer if its deadline has passed: TO+ or TO- (section 4.3).

        An early call (``now`` before the deadline) or a call with no timer running does nothing.
        """
        if self._deadline is None or now < self._deadline:
            return
        self._deadline = None
        self.stats.timeouts += 1
        self.event(Event.TO_PLUS if self.restart_count > 0 else Event.TO_MINUS, now)

    def event(self, event: Event, now: float) -> None:
        """Apply one event at time ``now``: run the table cell's actions and change state.

        :raises LocalProtocolError: for ``Up`` or ``Down`` in a "-" cell (the caller's lower-layer
            bookkeeping is wrong); the state is left as it was. Other "-" cells are counted in
            ``stats.ignored`` and dropped.
        """
        self.now = now
        if self._busy:
            # Run to completion: a callback fed us an event; run it after the current one.
            self._pending.append(event)
            return
        self._busy = True
        try:
            self._step(event)
            while self._pending:
                self._step(self._pending.popleft())
        finally:
            self._busy = False
            self._pending.clear()

    # -- the machine --------------------------------------------------------------------------

    def _step(self, event: Event) -> None:
        """Apply one table cell (and the [r] restart option's Down/Up when enabled)."""
        state = self.state
        cell = TRANSITIONS.get((state, event))
        if cell is None:
            if event in (Event.UP, Event.DOWN):
                raise LocalProtocolError(
                    f"{self.name}: lower layer {event.value} is illegal in state {state.label} (RFC 1661 4.1)"
                )
            self.stats.ignored += 1
            key = (state, event)
            self.stats.ignored_cells[key] = self.stats.ignored_cells.get(key, 0) + 1
            self._trace(f"{self.name}: {event.value} ignored in {state.label}")
            return
        actions, new_state = cell
        footnote = FOOTNOTES.get((state, event))
        if footnote == "p" and self.passive:
            actions = tuple(a for a in actions if a is not Action.TLF)
        self.stats.transitions += 1
        self.next_state = new_state
        self._trace(
            f"{self.name}: {state.label} --{event.value}--> {new_state.label}"
            + (f" [{','.join(a.value for a in actions)}]" if actions else "")
        )
        try:
            for action in actions:
                self._run(action, actions)
        finally:
            self.state = new_state
            self.next_state = new_state
            if new_state not in TIMER_STATES:
                self._deadline = None
        if footnote == "r" and self.restart:
            self._pending.extendleft((Event.UP, Event.DOWN))  # Down first, then Up

    def _run(self, action: Action, cell_actions: tuple[Action, ...]) -> None:
        """Perform one action: counters and timer here, everything else on the layer."""
        if action is Action.IRC:
            self.restart_count = self.max_terminate if Action.STR in cell_actions else self.max_configure
            return
        if action is Action.ZRC:
            self.restart_count = 0
            self._deadline = self.now + self.restart_timer
            return
        if action is Action.SCR or action is Action.STR:
            if action is Action.SCR and self.state not in _NEGOTIATING:
                self.naks_sent = 0  # a fresh negotiation (pppd fsm_sconfreq resets nakloops too)
            self.restart_count = max(self.restart_count - 1, 0)
            self._deadline = self.now + self.restart_timer
            self.stats.requests_sent += 1
        elif action is Action.SCA:
            self.naks_sent = 0
        elif action is Action.SCN:
            self.naks_sent += 1
        getattr(self.layer, _LAYER_METHODS[action])()

    def _trace(self, line: str) -> None:
        if self.trace is not None:
            self.trace(line)
