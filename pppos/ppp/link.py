"""PppLink: a whole PPP session over an asynchronous serial line, sans-I/O (RFC 1661 section 3).

Theory of operation
-------------------
* **Phases** (RFC 1661 section 3.2-3.7, :class:`Phase`): Dead -> Establish (LCP) -> Authenticate
  (PAP/CHAP, only if either side asked for it) -> Network (IPCP, IPv6CP) -> Terminate -> Dead.
* **Control protocols.** :class:`ControlProtocol` glues an option policy (:mod:`pppos.ppp.lcp`,
  :mod:`pppos.ppp.ipcp`, :mod:`pppos.ppp.ipv6cp`) to the RFC 1661 section 4 automaton
  (:class:`pppos.ppp.fsm.Automaton`): it decodes Configure-*/Terminate-*/Code-Reject packets,
  classifies them into automaton events (RCR+/RCR-/RCA/RCN/RTR/RTA/RUC/RXJ+/RXJ-) and performs
  the send actions. :class:`Lcp` adds Protocol-Reject, Echo (keepalive with RTT), Discard and the
  loopback detection of section 6.4. The automaton's tlu/tld/tls/tlf notifications are queued as
  *notes* and handled by the link after each input, so no callback re-enters the link.
* **Framing** (RFC 1662 section 4 via :mod:`pppos.ppp.hdlc`): LCP codes 1-7 always go out with the
  address/control field, a two-octet protocol and the all-ones ACCM (RFC 1662 section 7.1, RFC 1661
  section 5 / 6.5 / 6.6); every other frame uses the peer's ACCM and ACFC/PFC once LCP is Opened.
  Received frames may use ACFC/PFC at any time (we are liberal in what we accept). The receive ACCM
  (raw control characters to drop as line noise) is the map we ask for (``asyncmap``, 0 by default):
  the peer escapes at least those before and after negotiation, so there is no race at LCP open.
* **Inputs**: :meth:`PppLink.open`, :meth:`PppLink.close`, :meth:`PppLink.send_ip`,
  :meth:`PppLink.receive_data` (serial bytes) and :meth:`PppLink.handle_timer`, each with ``now``.
  **Outputs**: :meth:`PppLink.data_to_send` (serial bytes), :meth:`PppLink.next_event` and one
  deadline from :meth:`PppLink.get_timer`. Nothing here reads a clock or does I/O; ``trace`` (one
  pppd-style line per control packet) and ``capture`` (every frame, for the pcap writer) are
  optional injected callables.
* **LinkUp / LinkDown.** LinkUp fires when IPCP opens (IPv6 fields filled if IPv6CP is already
  open; an IPv6CP that opens later gives :class:`Ipv6Up`). LinkDown fires once per session: when
  LCP leaves Opened (This-Layer-Down) or, if it never opened, when LCP finishes (This-Layer-Finished).
  After This-Layer-Finished the link is Dead and stays there until :meth:`PppLink.open` again.
* **Keepalive** (RFC 1661 section 5.8): with ``echo_interval`` > 0 an Echo-Request goes out every
  interval while LCP is Opened; any Echo-Reply resets the count. When ``echo_failures`` requests are
  outstanding at the next tick (``(echo_failures + 1) * echo_interval`` after the last reply, or
  after LCP opened) the link is declared dead: LinkDown(ECHO_TIMEOUT) and LCP is closed.
"""

from __future__ import annotations

import ipaddress
import random
import struct
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum, unique
from typing import TypedDict

from pppos.errors import ConfigError, LocalProtocolError
from pppos.ppp import hdlc
from pppos.ppp.auth import (
    Authenticator,
    ChapAuthenticator,
    ChapPeer,
    PapAuthenticator,
    PapPeer,
)
from pppos.ppp.fsm import Automaton, BaseLayer, Event, State
from pppos.ppp.ipcp import IpcpPolicy
from pppos.ppp.ipv6cp import Ipv6cpPolicy
from pppos.ppp.lcp import AUTH_PROTOCOLS, LcpPolicy, OptionPolicy
from pppos.ppp.limits import DEFAULT_MRU, MAX_MRU, MIN_MRU, frame_bound
from pppos.ppp.packets import (
    ChapCode,
    Code,
    ControlPacket,
    PapCode,
    Protocol,
    decode_options,
    decode_packet,
    encode_options,
)
from pppos.ppp.text import peer_text
from pppos.ppp.trace import format_option, trace_line

__all__ = [
    "AuthResult",
    "ControlProtocol",
    "DownCause",
    "EchoRtt",
    "Ipv6Up",
    "Lcp",
    "LinkConfig",
    "LinkDown",
    "LinkEvent",
    "LinkStats",
    "LinkUp",
    "PacketReceived",
    "Phase",
    "PhaseChanged",
    "PppLink",
    "Role",
]

ALL_ONES = 0xFFFFFFFF
#: lines a modem sends when it has left data mode: the call ended, or it rebooted (its boot messages)
_MODEM_LINES = frozenset({b"NO CARRIER", b"RDY", b"+CFUN: 1", b"Call Ready", b"SMS Ready", b"PB DONE", b"SMS DONE"})
_NEGOTIATING = frozenset({State.REQ_SENT, State.ACK_RCVD, State.ACK_SENT})


# -- configuration ------------------------------------------------------------------------------


class _Timers(TypedDict):
    """RFC 1661 section 4.6 restart timer and counters, shared by LCP and the NCPs."""

    restart_timer: float
    max_terminate: int
    max_configure: int


@unique
class Role(Enum):
    """Which end of the link we are: the host behind a modem (client) or the network side (server)."""

    CLIENT = "client"
    SERVER = "server"


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkConfig:
    """Everything a :class:`PppLink` needs; secrets are excluded from ``repr``.

    Client defaults follow what cellular modems need (docs: ppp-and-modems section 5): ask for ACCM 0,
    accept PAP or CHAP-MD5 as authenticatee, never demand that the peer authenticate, ask for the
    address and both DNS servers as 0.0.0.0, RFC 1661 timers 3 s / 2 / 10 / 5, IPCP Max-Failure 100.
    """

    role: Role = Role.CLIENT
    #: MRU we ask for (RFC 1661 section 6.1), within :data:`pppos.ppp.limits.MIN_MRU` .. ``MAX_MRU``.
    mru: int = DEFAULT_MRU
    #: Receive ACCM we ask for (RFC 1662 section 7.1); None = do not ask (all-ones stays).
    asyncmap: int | None = 0
    pfc: bool = True
    acfc: bool = True
    magic: bool = True
    #: Authenticatee: the name sent in PAP/CHAP and the password / CHAP secret.
    username: str = ""
    password: str = field(default="", repr=False)
    #: Authentication protocols we accept to run as authenticatee, in order of preference.
    accept_auth: tuple[str, ...] = ("chap", "pap")
    #: Authenticator: ask the peer to authenticate with this protocol ("pap" or "chap"); None = never.
    require_auth: str | None = None
    #: Authenticator: user name -> password/secret.
    auth_secrets: Mapping[str, str] = field(default_factory=dict, repr=False)
    #: Our CHAP system name (sent in Challenges).
    auth_name: str = "pppos"
    #: Authenticator: re-challenge every this many seconds after success (CHAP only); None = never.
    chap_rechallenge: float | None = None
    #: Client: address to ask for (None = 0.0.0.0, let the peer assign). Server: our address.
    local_ip: str | None = None
    #: Server: the address we assign to the peer. Client: the address we offer if the peer asks.
    peer_ip: str | None = None
    #: Client: ask for DNS servers (RFC 1877).
    request_dns: bool = True
    #: Server: DNS servers to hand out.
    dns: tuple[str, ...] = ()
    #: Client: the addresses this host already has (the driver reads them): the peer may give
    #: neither us nor itself one of them (see :meth:`pppos.ppp.ipcp.IpcpPolicy.problem`).
    host_addresses: frozenset[str] = frozenset()
    #: Client: accept a loopback DNS server from the peer (only when the user asked for one).
    loopback_dns: bool = False
    #: Run IPv6CP (RFC 5072).
    ipv6: bool = True
    #: Our IPv6 interface identifier (None = random).
    ipv6_identifier: int | None = None
    #: LCP Echo-Request interval in seconds (0 = keepalive off) and unanswered requests tolerated.
    echo_interval: float = 30.0
    echo_failures: int = 4
    #: RFC 1661 section 4.6 timers and counters.
    restart_timer: float = 3.0
    max_terminate: int = 2
    max_configure: int = 10
    max_failure: int = 5
    #: Max-Failure for IPCP and received-Nak tolerance (stalling 3G modems NAK repeatedly).
    ipcp_max_failure: int = 100
    #: Configure-Naks/Rejects received in one negotiation before we give up.
    max_nak_loops: int = 100
    #: Magic-number collisions before we declare the line looped back (RFC 1661 section 6.4).
    loopback_limit: int = 10
    #: Authentication: retransmit timeout, transmissions, and how long to wait for the peer.
    auth_timeout: float = 3.0
    auth_max_transmits: int = 10
    auth_wait: float = 30.0
    #: Overall deadlines in seconds: LCP must open within ``lcp_timeout`` of :meth:`PppLink.open`, and
    #: each NCP within ``ncp_timeout`` of the Network phase, whatever the peer keeps sending (a peer
    #: that insists on an unacceptable option must not keep us negotiating forever). IPCP missing
    #: its deadline ends the session; IPv6CP missing it is closed and the link stays IPv4-only.
    lcp_timeout: float = 45.0
    ncp_timeout: float = 60.0
    #: Seed for magic numbers, CHAP challenges and IPv6 identifiers (tests); None = random.
    seed: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.role, Role):
            raise ConfigError(f"role must be client or server, not {self.role!r}")
        if not MIN_MRU <= self.mru <= MAX_MRU:
            raise ConfigError(f"mru must be between {MIN_MRU} and {MAX_MRU}, not {self.mru}")
        if self.lcp_timeout <= 0 or self.ncp_timeout <= 0:
            raise ConfigError("lcp_timeout and ncp_timeout must be positive")
        for host in self.host_addresses:
            try:
                ipaddress.ip_address(host)
            except ValueError:
                raise ConfigError(f"host_addresses holds a non-address: {host!r}") from None
        if self.require_auth is not None and self.require_auth not in AUTH_PROTOCOLS:
            raise ConfigError(f"require_auth must be 'pap' or 'chap', not {self.require_auth!r}")
        bad = [a for a in self.accept_auth if a not in AUTH_PROTOCOLS]
        if bad:
            raise ConfigError(f"accept_auth may only list 'pap' and 'chap', not {bad[0]!r}")
        if self.role is Role.SERVER and (not self.local_ip or not self.peer_ip):
            raise ConfigError("a server-role link needs local_ip and peer_ip")
        if self.echo_interval < 0 or self.echo_failures < 1:
            raise ConfigError("echo_interval must be >= 0 and echo_failures >= 1")
        if self.asyncmap is not None and not 0 <= self.asyncmap <= 0xFFFFFFFF:
            raise ConfigError(f"asyncmap must be a 32-bit map, not {self.asyncmap!r}")
        for label, value in (("local_ip", self.local_ip), ("peer_ip", self.peer_ip), *(("dns", d) for d in self.dns)):
            if value is None:
                continue
            try:
                ipaddress.IPv4Address(value)
            except ValueError:
                raise ConfigError(f"{label} is not an IPv4 address: {value!r}") from None


# -- events -------------------------------------------------------------------------------------


@unique
class Phase(Enum):
    """Link phases of RFC 1661 section 3.2."""

    DEAD = "dead"
    ESTABLISH = "establish"
    AUTHENTICATE = "authenticate"
    NETWORK = "network"
    TERMINATE = "terminate"


@unique
class DownCause(Enum):
    """Why a link went down (the daemon maps these to exit statuses and log lines)."""

    AUTH_FAILED = "auth failed"
    PEER_TERMINATED = "peer terminated"
    LOCAL_CLOSE = "local close"
    NEGOTIATION_FAILED = "negotiation failed"
    ECHO_TIMEOUT = "echo timeout"
    LOOPED_BACK = "looped back"


@dataclass(frozen=True, slots=True, kw_only=True)
class PhaseChanged:
    """The link entered ``phase`` (RFC 1661 section 3.2)."""

    phase: Phase


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkUp:
    """IPCP opened: IPv4 packets may flow. ``dns`` excludes 0.0.0.0; ``mtu`` is what we may send."""

    local_ip: str
    peer_ip: str
    dns: tuple[str, ...]
    mtu: int
    ipv6_local: str | None = None
    ipv6_peer: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Ipv6Up:
    """IPv6CP opened after LinkUp was reported: the link-local addresses (RFC 5072 section 5)."""

    ipv6_local: str
    ipv6_peer: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkDown:
    """The session ended (or never came up): ``cause``, a human ``reason``, and for
    NEGOTIATION_FAILED the ``protocol`` that failed (``"LCP"``, ``"IPCP"``)."""

    cause: DownCause
    reason: str
    protocol: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PacketReceived:
    """An IP datagram arrived: ``version`` is 4 or 6."""

    packet: bytes
    version: int


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthResult:
    """An authentication exchange finished (RFC 1334 / RFC 1994). ``authenticator`` is True when we
    checked the peer; ``message`` is the text exchanged (never a secret)."""

    ok: bool
    protocol: str
    message: str
    authenticator: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class EchoRtt:
    """An LCP Echo-Reply arrived ``seconds`` after its Echo-Request (RFC 1661 section 5.8)."""

    seconds: float


LinkEvent = PhaseChanged | LinkUp | Ipv6Up | LinkDown | PacketReceived | AuthResult | EchoRtt


@dataclass(slots=True)
class LinkStats:
    """Counters of one link (noise is counted here, never raised)."""

    #: Serial octets received / sent.
    bytes_in: int = 0
    bytes_out: int = 0
    #: PPP frames received (FCS good) / sent.
    frames_in: int = 0
    frames_out: int = 0
    #: IP packets and their octets received / sent.
    packets_in: int = 0
    packets_out: int = 0
    ip_bytes_in: int = 0
    ip_bytes_out: int = 0
    #: Frames the deframer dropped (bad FCS, runts, too long, aborts).
    bad_frames: int = 0
    #: Frames or packets that decoded badly (short protocol field, bad length, bad options).
    malformed: int = 0
    #: Frames of protocols we do not run (answered with Protocol-Reject when LCP is Opened).
    unknown_protocols: int = 0
    #: Packets discarded because their protocol was not in a state to take them.
    discarded: int = 0
    #: IP packets we could not send (network protocol not open, or larger than the peer's MRU).
    dropped_out: int = 0
    #: Echo-Requests sent and Echo-Replies received, and the last round-trip time.
    echo_requests: int = 0
    echo_replies: int = 0
    echo_rtt: float | None = None


# -- control protocols --------------------------------------------------------------------------


class ControlProtocol(BaseLayer):
    """One control protocol (LCP, IPCP, IPv6CP): packets <-> automaton events <-> option policy.

    Outgoing packets (information fields) collect in :attr:`out`; automaton notifications (``up``,
    ``down``, ``started``, ``finished``) collect in :attr:`notes` for the link to act on.
    Implements RFC 1661 section 5.1-5.7 packet handling shared by every control protocol.
    """

    #: Codes this protocol understands (others get a Code-Reject).
    known_codes: frozenset[int] = frozenset(range(1, 8))

    def __init__(
        self,
        protocol: Protocol,
        name: str,
        policy: OptionPolicy,
        *,
        restart_timer: float = 3.0,
        max_terminate: int = 2,
        max_configure: int = 10,
        max_failure: int = 5,
        max_nak_loops: int = 100,
        mru: Callable[[], int] = lambda: 1500,
    ) -> None:
        self.protocol = protocol
        self.name = name
        self.policy = policy
        self.fsm = Automaton(
            self,
            restart_timer=restart_timer,
            max_terminate=max_terminate,
            max_configure=max_configure,
            max_failure=max_failure,
            name=name,
        )
        self.max_nak_loops = max_nak_loops
        self._peer_mru = mru
        self.out: list[bytes] = []
        self.notes: list[str] = []
        self._next_id = 1
        self._req_id: int | None = None
        self._req_data = b""
        self._reply_seen = True
        self._rx: ControlPacket | None = None
        self._reply_code = Code.CONFIGURE_ACK
        self._reply_options = b""
        self._term_reason = b""
        self._naks_received = 0
        self._forced_rejects = 0
        #: The text of the peer's last Terminate-Request (RFC 1661 section 5.5 Data), for LinkDown.
        self.peer_reason = ""
        #: Why negotiation cannot succeed (set by the policy or by too many Naks), else None.
        self.failure: str | None = None
        #: Packets dropped as malformed or stale.
        self.discarded = 0

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} {self.fsm.state.label}>"

    # -- administrative and lower-layer inputs --------------------------------------------------

    def _new_id(self) -> int:
        ident = self._next_id
        self._next_id = (self._next_id + 1) & 0xFF
        return ident

    def up(self, now: float) -> None:
        """The lower layer is up (RFC 1661 Up event)."""
        if self.fsm.state in (State.INITIAL, State.STARTING):
            self.fsm.event(Event.UP, now)

    def down(self, now: float) -> None:
        """The lower layer went down (RFC 1661 Down event)."""
        if self.fsm.state not in (State.INITIAL, State.STARTING):
            self.fsm.event(Event.DOWN, now)

    def open(self, now: float) -> None:
        """Administrative Open."""
        self.failure = None
        self._naks_received = 0
        self._forced_rejects = 0
        self.fsm.event(Event.OPEN, now)

    def close(self, now: float, reason: str = "") -> None:
        """Administrative Close; ``reason`` goes into the Terminate-Request."""
        self._term_reason = reason.encode("utf-8", "replace")[:200]
        self.fsm.event(Event.CLOSE, now)

    @property
    def is_open(self) -> bool:
        """True when the automaton is Opened."""
        return self.fsm.is_open

    def get_timer(self) -> float | None:
        """The Restart timer deadline, or None."""
        return self.fsm.get_timer()

    def handle_timer(self, now: float) -> None:
        """Run the Restart timer if due."""
        self.fsm.handle_timer(now)

    # -- packets from the peer ------------------------------------------------------------------

    def receive(self, pkt: ControlPacket, now: float) -> None:
        """Classify one packet from the peer into an automaton event (RFC 1661 sections 4.3, 5)."""
        code = pkt.code
        if code == Code.CONFIGURE_REQUEST:
            options = decode_options(pkt.data)
            if options is None:
                self.discarded += 1
                return
            verdict = self.policy.on_request(options)
            reply_code, reply = verdict.code, verdict.options
            if reply_code == Code.CONFIGURE_NAK and self.fsm.nak_exhausted:
                # Max-Failure reached: the options we would Nak are Rejected instead (section 4.6),
                # except those the policy only ever Naks (LCP's Magic-Number, for loop detection).
                kinds = {o.type for o in reply if o.type not in self.policy.nak_only}
                if kinds:
                    reply_code, reply = Code.CONFIGURE_REJECT, [o for o in options if o.type in kinds]
                    self._forced_rejects += 1
                    if self._forced_rejects > self.fsm.max_failure:
                        # Section 5.4: a Configure-Request after a Reject must not carry the rejected
                        # options again. This peer keeps insisting: negotiation cannot converge.
                        shown = " ".join(format_option(self.protocol, o) for o in reply)
                        self.failure = f"the peer insists on {shown}, which we cannot accept"
            elif reply_code == Code.CONFIGURE_ACK:
                self._forced_rejects = 0
            self._rx = pkt
            self._reply_code = reply_code
            self._reply_options = encode_options(reply)
            self.fsm.event(Event.RCR_GOOD if reply_code == Code.CONFIGURE_ACK else Event.RCR_BAD, now)
        elif code in (Code.CONFIGURE_ACK, Code.CONFIGURE_NAK, Code.CONFIGURE_REJECT):
            options = decode_options(pkt.data)
            if pkt.identifier != self._req_id or options is None:
                self.discarded += 1
                return
            if code == Code.CONFIGURE_ACK:
                if not self.policy.on_ack(options):
                    self.discarded += 1
                    return
                self._reply_seen = True
                self.fsm.event(Event.RCA, now)
                return
            self._reply_seen = True
            self._naks_received += 1
            if code == Code.CONFIGURE_NAK:
                self.policy.on_nak(options)
            else:
                self.policy.on_reject(options)
            if self._naks_received > self.max_nak_loops:
                self.failure = f"{self._naks_received} Configure-Naks/Rejects without agreement"
            elif self.policy.failure:
                self.failure = self.policy.failure
            self.fsm.event(Event.RCN, now)
        elif code == Code.TERMINATE_REQUEST:
            self._rx = pkt
            self.peer_reason = peer_text(pkt.data)
            self.fsm.event(Event.RTR, now)
        elif code == Code.TERMINATE_ACK:
            self.fsm.event(Event.RTA, now)
        elif code == Code.CODE_REJECT:
            inner = pkt.data[0] if pkt.data else 0
            # Rejecting a code we need to negotiate (1-7) makes the protocol unusable (section 5.6).
            self.fsm.event(Event.RXJ_BAD if 1 <= inner <= 7 else Event.RXJ_GOOD, now)
        elif not self.receive_other(pkt, now):
            self._rx = pkt
            self.fsm.event(Event.RUC, now)

    def receive_other(self, pkt: ControlPacket, now: float) -> bool:
        """Handle codes beyond 7 (LCP overrides); return False for an unknown code (Code-Reject)."""
        return False

    # -- automaton actions (RFC 1661 section 4.4) ----------------------------------------------

    def this_layer_up(self) -> None:
        """tlu: tell the link."""
        self.notes.append("up")

    def this_layer_down(self) -> None:
        """tld: tell the link."""
        self.notes.append("down")

    def this_layer_started(self) -> None:
        """tls: tell the link."""
        self.notes.append("started")

    def this_layer_finished(self) -> None:
        """tlf: tell the link."""
        self.notes.append("finished")

    def send_configure_request(self) -> None:
        """scr: our options; a retransmission of unchanged options keeps its identifier (5.1)."""
        if self.fsm.state not in _NEGOTIATING:
            self.policy.reset()  # a fresh negotiation (pppd's resetci)
            self._naks_received = 0
            self._forced_rejects = 0
        data = encode_options(self.policy.request())
        if self._req_id is None or data != self._req_data or self._reply_seen:
            self._req_id = self._new_id()
        self._req_data = data
        self._reply_seen = False
        self.out.append(ControlPacket(Code.CONFIGURE_REQUEST, self._req_id, data).encode())

    def send_configure_ack(self) -> None:
        """sca: Ack the received request with its options (section 5.2)."""
        assert self._rx is not None
        self.out.append(ControlPacket(Code.CONFIGURE_ACK, self._rx.identifier, self._rx.data).encode())

    def send_configure_nak(self) -> None:
        """scn: Nak or Reject the received request (sections 5.3, 5.4)."""
        assert self._rx is not None
        self.out.append(ControlPacket(self._reply_code, self._rx.identifier, self._reply_options).encode())

    def send_terminate_request(self) -> None:
        """str: Terminate-Request carrying the close reason (section 5.5)."""
        self.out.append(ControlPacket(Code.TERMINATE_REQUEST, self._new_id(), self._term_reason).encode())

    def send_terminate_ack(self) -> None:
        """sta: Terminate-Ack echoing the received identifier (section 5.5)."""
        ident = self._rx.identifier if self._rx is not None else self._new_id()
        self.out.append(ControlPacket(Code.TERMINATE_ACK, ident).encode())

    def send_code_reject(self) -> None:
        """scj: Code-Reject carrying the unknown packet, truncated to the peer's MRU (section 5.6)."""
        assert self._rx is not None
        rejected = self._rx.encode()[: max(self._peer_mru() - 4, 0)]
        self.out.append(ControlPacket(Code.CODE_REJECT, self._new_id(), rejected).encode())


class Lcp(ControlProtocol):
    """LCP: the shared control-protocol handling plus Protocol-Reject, Echo and Discard (RFC 1661 5.7-5.9).

    Notes added beyond the automaton's: ``("protrej", number)`` for a Protocol-Reject received,
    ``"echo-timeout"``, ``"looped-back"``, and :attr:`rtts` collects Echo round-trip times.
    """

    known_codes = frozenset(range(1, 12))

    def __init__(
        self,
        policy: LcpPolicy,
        *,
        echo_interval: float = 0.0,
        echo_failures: int = 4,
        **kwargs: object,
    ) -> None:
        super().__init__(Protocol.LCP, "LCP", policy, mru=lambda: policy.result.his_mru, **kwargs)  # type: ignore[arg-type]
        self.lcp_policy = policy
        self.echo_interval = echo_interval
        self.echo_failures = echo_failures
        self._echo_deadline: float | None = None
        self._echo_pending = 0
        self._echo_sent: dict[int, float] = {}
        self._echo_id = 0
        #: Protocol-Rejects received, as protocol numbers (for the link).
        self.rejected_protocols: list[int] = []
        #: Echo round-trip times measured since the link last collected them.
        self.rtts: list[float] = []
        self.echo_requests = 0
        self.echo_replies = 0

    # -- timers ---------------------------------------------------------------------------------

    def get_timer(self) -> float | None:
        """The earlier of the Restart timer and the next keepalive tick."""
        deadlines = [d for d in (self.fsm.get_timer(), self._echo_deadline) if d is not None]
        return min(deadlines) if deadlines else None

    def handle_timer(self, now: float) -> None:
        """Restart timer, then the keepalive tick (RFC 1661 section 5.8)."""
        self.fsm.handle_timer(now)
        if self._echo_deadline is not None and now >= self._echo_deadline:
            if self._echo_pending >= self.echo_failures:
                self._echo_deadline = None
                self.notes.append("echo-timeout")
                return
            self.send_echo_request(now)
            self._echo_deadline = now + self.echo_interval

    def send_echo_request(self, now: float) -> None:
        """Send one Echo-Request carrying our magic number and remember when (for the RTT)."""
        self._echo_id = (self._echo_id + 1) & 0xFF
        self._echo_pending += 1
        self._echo_sent[self._echo_id] = now
        self.echo_requests += 1
        magic = self.lcp_policy.result.our_magic
        self.out.append(ControlPacket(Code.ECHO_REQUEST, self._echo_id, struct.pack("!I", magic)).encode())

    def _start_keepalive(self, now: float) -> None:
        self._echo_pending = 0
        self._echo_sent.clear()
        self._echo_deadline = now + self.echo_interval if self.echo_interval > 0 else None

    def this_layer_up(self) -> None:
        """tlu: start the keepalive."""
        self._start_keepalive(self.fsm.now)
        super().this_layer_up()

    def this_layer_down(self) -> None:
        """tld: stop the keepalive."""
        self._echo_deadline = None
        super().this_layer_down()

    # -- codes 8-11 -----------------------------------------------------------------------------

    def receive_other(self, pkt: ControlPacket, now: float) -> bool:
        """Protocol-Reject (5.7), Echo-Request/Reply and Discard-Request (5.8, 5.9)."""
        if pkt.code == Code.PROTOCOL_REJECT:
            if len(pkt.data) < 2:
                self.discarded += 1
                return True
            (number,) = struct.unpack("!H", pkt.data[:2])
            self.rejected_protocols.append(number)
            self.fsm.event(Event.RXJ_BAD if number == Protocol.LCP else Event.RXJ_GOOD, now)
            return True
        if pkt.code in (Code.ECHO_REQUEST, Code.ECHO_REPLY, Code.DISCARD_REQUEST):
            if not self.fsm.is_open:
                self.discarded += 1  # section 5.8: only in the Opened state
                return True
            ours = self.lcp_policy.result.our_magic
            if len(pkt.data) >= 4 and ours and struct.unpack("!I", pkt.data[:4])[0] == ours:
                # Our own magic number came back: the line may be looped (section 6.4).
                self.lcp_policy.loopback_count += 1
                if self.lcp_policy.loopback_count >= self.lcp_policy.loopback_limit:
                    self.notes.append("looped-back")
                return True
            self._rx = pkt
            if pkt.code == Code.ECHO_REPLY:
                sent = self._echo_sent.pop(pkt.identifier, None)
                if sent is not None:
                    self.rtts.append(now - sent)
                    self.echo_replies += 1
                    self._echo_pending = 0
                    self._echo_sent.clear()
            self.fsm.event(Event.RXR, now)
            return True
        return False

    def send_echo_reply(self) -> None:
        """ser: answer an Echo-Request with our magic and the same data (section 5.8)."""
        if self._rx is None or self._rx.code != Code.ECHO_REQUEST:
            return
        magic = struct.pack("!I", self.lcp_policy.result.our_magic)
        data = magic + self._rx.data[4:]
        self.out.append(ControlPacket(Code.ECHO_REPLY, self._rx.identifier, data[: self._peer_mru() - 4]).encode())

    def send_protocol_reject(self, protocol: int, information: bytes) -> None:
        """Protocol-Reject a frame of a protocol we do not run (section 5.7), truncated to the MRU."""
        data = struct.pack("!H", protocol) + information
        self.out.append(ControlPacket(Code.PROTOCOL_REJECT, self._new_id(), data[: self._peer_mru() - 4]).encode())


# -- the link -----------------------------------------------------------------------------------


_CONTROL = frozenset({Protocol.LCP, Protocol.PAP, Protocol.CHAP, Protocol.IPCP, Protocol.IPV6CP})
_DATA = frozenset({Protocol.IP, Protocol.IPV6})
class _Unknown(Enum):
    """"Not computed" marker for PppLink's cached timer (None is a valid answer: no timer running).

    An enum member, so it stays itself through ``copy.deepcopy`` (a plain ``object()`` would not)."""

    TOKEN = 0


_UNKNOWN = _Unknown.TOKEN


class PppLink:
    """A PPP session over an asynchronous HDLC-like serial line (see the module docstring).

    :param config: the :class:`LinkConfig`.
    :param trace: optional ``Callable[[str], None]`` receiving one pppd-style line per control packet.
    :param capture: optional ``Callable[[now, outbound, frame], None]`` receiving every PPP frame
        (address/control if present, protocol, information; no flags, no FCS).
    """

    def __init__(
        self,
        config: LinkConfig,
        *,
        trace: Callable[[str], None] | None = None,
        capture: Callable[[float, bool, bytes], None] | None = None,
    ) -> None:
        self.config = config
        self._trace = trace
        self._capture = capture
        rng = random.Random(config.seed)  # noqa: S311 - magic numbers, challenges, identifiers
        self._rng = rng
        self.stats = LinkStats()
        self.phase = Phase.DEAD
        self._events: deque[LinkEvent] = deque()
        self._out = bytearray()
        self._timer_cache: float | _Unknown | None = _UNKNOWN
        # Receive ACCM: the characters we ask the peer to escape. Before negotiation the peer
        # escapes every control character (a superset) and after it exactly these, so dropping raw
        # ones from this set is right at all times, with no race around LCP opening.
        # Sized from the MRU we ask for (never below the RFC 1661 default) and resized to the MRU
        # the peer acked when LCP opens (pppos.ppp.limits is the one source of the bound).
        self._deframer = hdlc.Deframer(accm=config.asyncmap or 0, max_frame=frame_bound(config.mru))
        timers: _Timers = {
            "restart_timer": config.restart_timer,
            "max_terminate": config.max_terminate,
            "max_configure": config.max_configure,
        }
        self.lcp_policy = LcpPolicy(
            mru=config.mru,
            asyncmap=config.asyncmap,
            pfc=config.pfc,
            acfc=config.acfc,
            magic=config.magic,
            accept_auth=config.accept_auth,
            require_auth=config.require_auth,
            loopback_limit=config.loopback_limit,
            rng=rng,
        )
        self.lcp = Lcp(
            self.lcp_policy,
            echo_interval=config.echo_interval,
            echo_failures=config.echo_failures,
            max_failure=config.max_failure,
            max_nak_loops=config.max_nak_loops,
            **timers,
        )
        server = config.role is Role.SERVER
        self.ipcp_policy = IpcpPolicy(
            server=server,
            local_ip=config.local_ip,
            peer_ip=config.peer_ip,
            request_dns=config.request_dns,
            dns=config.dns,
            host_addresses=config.host_addresses,
            loopback_dns=config.loopback_dns,
        )
        his_mru = self._his_mru
        self.ipcp = ControlProtocol(
            Protocol.IPCP,
            "IPCP",
            self.ipcp_policy,
            max_failure=config.ipcp_max_failure,
            max_nak_loops=max(config.max_nak_loops, config.ipcp_max_failure),
            mru=his_mru,
            **timers,
        )
        self.ipv6cp_policy = Ipv6cpPolicy(identifier=config.ipv6_identifier, rng=rng)
        self.ipv6cp = ControlProtocol(
            Protocol.IPV6CP,
            "IPV6CP",
            self.ipv6cp_policy,
            max_failure=config.max_failure,
            max_nak_loops=config.max_nak_loops,
            mru=his_mru,
            **timers,
        )
        self._ncps: list[ControlProtocol] = [self.ipcp, self.ipv6cp] if config.ipv6 else [self.ipcp]
        self._auth_peer: Authenticator | None = None
        self._auth_server: Authenticator | None = None
        self._cause: DownCause | None = None
        self._reason = ""
        self._failed_protocol: str | None = None
        self._down_reported = True
        self._up_reported = False
        self._ipv6_reported = False
        self._lcp_was_open = False
        self._park = False
        self._loop_handled = False
        #: Overall negotiation deadlines (absolute): LCP, and each NCP by protocol object.
        self._lcp_deadline: float | None = None
        self._ipv6_off = False
        self._ncp_deadlines: dict[ControlProtocol, float] = {}

    def __repr__(self) -> str:
        return f"<PppLink {self.config.role.value} {self.phase.value} lcp={self.lcp.fsm.state.label}>"

    # -- helpers --------------------------------------------------------------------------------

    def _his_mru(self) -> int:
        return self.lcp_policy.result.his_mru

    def _set_phase(self, phase: Phase) -> None:
        if phase is not self.phase:
            self.phase = phase
            self._events.append(PhaseChanged(phase=phase))

    def _emit_frame(self, protocol: int, payload: bytes, now: float, *, control_default: bool = False) -> None:
        """Frame and queue one packet; ``control_default`` forces RFC 1662 section 7.1 defaults."""
        r = self.lcp_policy.result
        if control_default or not self.lcp.is_open:
            accm, acfc, pfc = ALL_ONES, False, False
        else:
            accm, acfc, pfc = r.his_accm, r.his_acfc, r.his_pfc and protocol < 0x100
        frame = hdlc.encode_frame(protocol, payload, accm=accm, acfc=acfc, pfc=pfc)
        self._out += frame
        self.stats.frames_out += 1
        self.stats.bytes_out += len(frame)
        if self._capture is not None:
            header = b"" if acfc and protocol != Protocol.LCP else b"\xff\x03"
            proto = bytes((protocol,)) if pfc and protocol < 0x100 else struct.pack("!H", protocol)
            self._capture(now, True, header + proto + payload)
        if self._trace is not None and protocol in _CONTROL:
            self._trace(trace_line(True, protocol, payload))

    def _flush(self, now: float) -> None:
        """Frame everything the protocols queued and act on their notes until quiet."""
        for _ in range(64):  # bounded: each round handles what the previous one produced
            busy = False
            for payload in self.lcp.out:
                code = payload[0] if payload else 0
                self._emit_frame(Protocol.LCP, payload, now, control_default=1 <= code <= 7)
            busy |= bool(self.lcp.out)
            self.lcp.out.clear()
            for auth in (self._auth_peer, self._auth_server):
                if auth is not None:
                    for payload in auth.take_output():
                        self._emit_frame(auth.protocol, payload, now)
                        busy = True
            for cp in (self.ipcp, self.ipv6cp):
                for payload in cp.out:
                    self._emit_frame(cp.protocol, payload, now)
                busy |= bool(cp.out)
                cp.out.clear()
            busy |= self._handle_notes(now)
            if not busy:
                return

    # -- notes from the protocols ---------------------------------------------------------------

    def _handle_notes(self, now: float) -> bool:
        busy = False
        if self.lcp.rtts:
            for rtt in self.lcp.rtts:
                self.stats.echo_rtt = rtt
                self._events.append(EchoRtt(seconds=rtt))
            self.lcp.rtts.clear()
        self.stats.echo_requests = self.lcp.echo_requests
        self.stats.echo_replies = self.lcp.echo_replies
        while self.lcp.rejected_protocols:
            busy = True
            self._on_protocol_reject(self.lcp.rejected_protocols.pop(0), now)
        while self.lcp.notes:
            busy = True
            self._on_lcp_note(self.lcp.notes.pop(0), now)
        for auth in (self._auth_peer, self._auth_server):
            if auth is not None:
                for outcome in auth.take_outcomes():
                    busy = True
                    self._on_auth(outcome.ok, outcome.protocol, outcome.message, outcome.authenticator, now)
        for cp in (self.ipcp, self.ipv6cp):
            while cp.notes:
                busy = True
                self._on_ncp_note(cp, cp.notes.pop(0), now)
            if cp.failure and cp.fsm.state in _NEGOTIATING:
                busy = True
                reason, cp.failure = cp.failure, None
                if cp is self.ipcp:
                    self._fail(DownCause.NEGOTIATION_FAILED, reason, now, protocol="IPCP")
                else:
                    cp.close(now, reason)
        if self.lcp.failure and self.lcp.fsm.state in _NEGOTIATING:
            busy = True
            reason, self.lcp.failure = self.lcp.failure, None
            self._fail(DownCause.NEGOTIATION_FAILED, reason, now, protocol="LCP")
        if self.lcp_policy.looped_back and not self._loop_handled:
            busy = True
            self._loop_handled = True
            self._fail(DownCause.LOOPED_BACK, "the line is looped back", now)
        return busy

    def _fail(self, cause: DownCause, reason: str, now: float, *, protocol: str | None = None) -> None:
        """Record why we end the session and close LCP (Terminate-Request, RFC 1661 section 3.7)."""
        if self._cause is None:
            self._cause, self._reason, self._failed_protocol = cause, reason, protocol
        self._lcp_deadline = None
        self._ncp_deadlines.clear()
        self.lcp.close(now, reason)

    def _report_down(self, default_cause: DownCause, default_reason: str, protocol: str | None = None) -> None:
        if self._down_reported:
            return
        self._down_reported = True
        cause = self._cause or default_cause
        reason = self._reason or default_reason
        proto = self._failed_protocol if self._cause is not None else protocol
        self._events.append(LinkDown(cause=cause, reason=reason, protocol=proto))

    def _on_lcp_note(self, note: str, now: float) -> None:
        if note == "up":
            self._lcp_was_open = True
            self._lcp_deadline = None
            self._deframer.max_frame = frame_bound(self.lcp_policy.result.our_mru)
            self._down_reported = False  # a new session (also after the peer renegotiated LCP)
            self._start_auth(now)
        elif note == "down":
            self._stop_upper(now)
            if self.lcp.fsm.state in (State.CLOSING, State.STOPPING) or self.lcp.fsm.next_state in (
                State.CLOSING,
                State.STOPPING,
            ):
                self._set_phase(Phase.TERMINATE)
                self._report_down(DownCause.PEER_TERMINATED, self._peer_terminated_reason())
            else:
                self._set_phase(Phase.ESTABLISH)
                self._report_down(DownCause.PEER_TERMINATED, "peer restarted LCP negotiation")
        elif note == "finished":
            self._lcp_deadline = None
            self._stop_upper(now)
            self._set_phase(Phase.DEAD)
            if self._lcp_was_open:
                self._report_down(DownCause.PEER_TERMINATED, self._peer_terminated_reason())
            else:
                self._report_down(DownCause.NEGOTIATION_FAILED, "LCP negotiation failed", protocol="LCP")
            # Park LCP in Initial: the session is over until open() is called again.
            if self.lcp.fsm.state is State.STOPPED or self.lcp.fsm.next_state is State.STOPPED:
                self._park = True
        elif note == "echo-timeout":
            n = self.config.echo_failures
            self._fail(DownCause.ECHO_TIMEOUT, f"no reply to {n} LCP Echo-Requests", now)
            self._report_down(DownCause.ECHO_TIMEOUT, "echo timeout")
        elif note == "looped-back":
            self.lcp_policy.looped_back = True

    def _peer_terminated_reason(self) -> str:
        text = self.lcp.peer_reason  # already made safe by peer_text
        return f"peer terminated the link: {text}" if text else "peer terminated the link"

    def _stop_upper(self, now: float) -> None:
        for cp in self._ncps:
            cp.down(now)
            if cp.fsm.state is not State.INITIAL:
                cp.fsm.event(Event.CLOSE, now)
        for auth in (self._auth_peer, self._auth_server):
            if auth is not None:
                auth.stop()
        self._ncp_deadlines.clear()
        self._up_reported = False
        self._ipv6_reported = False

    def _on_protocol_reject(self, number: int, now: float) -> None:
        if number == Protocol.IPCP:
            self.ipcp.fsm.event(Event.RXJ_BAD, now)
        elif number == Protocol.IPV6CP:
            self.ipv6cp.fsm.event(Event.RXJ_BAD, now)  # IPv4-only peer: fine
        elif number in (Protocol.PAP, Protocol.CHAP) and self.phase is Phase.AUTHENTICATE:
            self._on_auth(False, "pap" if number == Protocol.PAP else "chap", "peer rejected the protocol", False, now)

    # -- authentication phase -------------------------------------------------------------------

    def _start_auth(self, now: float) -> None:
        r = self.lcp_policy.result
        cfg = self.config
        self._auth_peer = self._auth_server = None
        if r.his_auth == "pap":
            self._auth_peer = PapPeer(
                cfg.username, cfg.password, timeout=cfg.auth_timeout, max_transmits=cfg.auth_max_transmits
            )
        elif r.his_auth == "chap":
            self._auth_peer = ChapPeer(cfg.username, cfg.password, wait=cfg.auth_wait)
        if r.our_auth == "pap":
            self._auth_server = PapAuthenticator(cfg.auth_secrets, wait=cfg.auth_wait)
        elif r.our_auth == "chap":
            self._auth_server = ChapAuthenticator(
                cfg.auth_secrets,
                name=cfg.auth_name,
                timeout=cfg.auth_timeout,
                max_transmits=cfg.auth_max_transmits,
                rechallenge=cfg.chap_rechallenge,
                rng=self._rng,
            )
        if self._auth_peer is None and self._auth_server is None:
            self._start_network(now)
            return
        self._set_phase(Phase.AUTHENTICATE)
        for auth in (self._auth_peer, self._auth_server):
            if auth is not None:
                auth.start(now)

    def _on_auth(self, ok: bool, protocol: str, message: str, authenticator: bool, now: float) -> None:
        self._events.append(AuthResult(ok=ok, protocol=protocol, message=message, authenticator=authenticator))
        if not ok:
            name = protocol.upper()
            text = f"the peer failed our {name} authentication" if authenticator else f"{name} authentication refused"
            self._fail(DownCause.AUTH_FAILED, f"{text}: {message}" if message else text, now)
            return
        if self.phase is Phase.AUTHENTICATE:
            pending = [a for a in (self._auth_peer, self._auth_server) if a is not None]
            if all(a.outcome is not None and a.outcome.ok for a in pending):
                self._start_network(now)

    def _start_network(self, now: float) -> None:
        self._set_phase(Phase.NETWORK)
        ncps = [cp for cp in self._ncps if cp is not self.ipv6cp or not self._ipv6_off]
        self._ncp_deadlines = {cp: now + self.config.ncp_timeout for cp in ncps}
        for cp in ncps:
            cp.open(now)
            cp.up(now)

    def _on_ncp_note(self, cp: ControlProtocol, note: str, now: float) -> None:
        if note == "up":
            self._ncp_deadlines.pop(cp, None)
            problem = self.ipcp_policy.problem() if cp is self.ipcp and not self._up_reported else None
            if problem is not None:
                self._fail(DownCause.NEGOTIATION_FAILED, problem, now, protocol="IPCP")
            elif cp is self.ipcp and not self._up_reported:
                self._up_reported = True
                v6 = self.ipv6cp_policy.result if self.ipv6cp.is_open else None
                self._ipv6_reported = v6 is not None
                res = self.ipcp_policy.result
                dns = res.dns if self.config.role is Role.CLIENT else tuple(self.config.dns)
                self._events.append(
                    LinkUp(
                        local_ip=res.local_ip,
                        peer_ip=res.peer_ip,
                        dns=dns,
                        mtu=min(self.lcp_policy.result.his_mru, self.config.mru),
                        ipv6_local=v6.local_address if v6 else None,
                        ipv6_peer=v6.peer_address if v6 else None,
                    )
                )
            elif cp is self.ipv6cp and self._up_reported and not self._ipv6_reported:
                self._ipv6_reported = True
                res6 = self.ipv6cp_policy.result
                if res6.local_address and res6.peer_address:
                    self._events.append(Ipv6Up(ipv6_local=res6.local_address, ipv6_peer=res6.peer_address))
        elif note == "finished" and cp is self.ipcp and self.lcp.is_open:
            if self._up_reported:
                self._fail(DownCause.PEER_TERMINATED, "peer closed IPCP", now)
            else:
                self._fail(DownCause.NEGOTIATION_FAILED, "IPCP negotiation failed", now, protocol="IPCP")

    # -- public API -----------------------------------------------------------------------------

    def open(self, now: float) -> None:
        """Start a session: the serial line is connected, begin LCP (Establish phase)."""
        if self.lcp.fsm.state not in (State.INITIAL, State.STARTING, State.CLOSED, State.STOPPED):
            raise LocalProtocolError(f"open() while the link is in the {self.phase.value} phase")
        self.lcp.peer_reason = ""
        self._cause = None
        self._reason = ""
        self._failed_protocol = None
        self._down_reported = False
        self._lcp_was_open = False
        self._park = False
        self._loop_handled = False
        self.lcp_policy.loopback_count = 0
        self.lcp_policy.looped_back = False
        self._lcp_deadline = now + self.config.lcp_timeout
        self._ncp_deadlines.clear()
        self._set_phase(Phase.ESTABLISH)
        self.lcp.open(now)
        self.lcp.up(now)
        self._after(now)

    def close(self, now: float, reason: str = "User request") -> None:
        """End the session: Terminate-Request, then Dead after the Ack or Max-Terminate timeouts."""
        if self.phase is Phase.DEAD:
            return
        if self._cause is None:
            self._cause, self._reason = DownCause.LOCAL_CLOSE, reason
        self.lcp.close(now, reason)
        self._after(now)

    def disable_ipv6(self, now: float, reason: str) -> None:
        """The host cannot use IPv6 on this link (an MTU below 1280, RFC 8200 section 5, or the
        interface refused the address): close IPv6CP with ``reason`` and keep IPv4 running."""
        if self._ipv6_off:
            return
        self._ipv6_off = True
        self._ncp_deadlines.pop(self.ipv6cp, None)
        if self.ipv6cp.fsm.state is not State.INITIAL:
            self.ipv6cp.close(now, reason)
        self._after(now)

    @property
    def ipv6_enabled(self) -> bool:
        """True unless IPv6 was turned off by configuration or :meth:`disable_ipv6`."""
        return self.config.ipv6 and not self._ipv6_off

    def send_ip(self, packet: bytes, now: float) -> bool:
        """Send one IP datagram (version from its first nibble); False (counted) if it cannot go now."""
        version = packet[0] >> 4 if packet else 0
        if version == 4 and self.ipcp.is_open:
            protocol = Protocol.IP
        elif version == 6 and self.ipv6cp.is_open and self.ipv6_enabled:
            protocol = Protocol.IPV6
        else:
            self.stats.dropped_out += 1
            return False
        if len(packet) > self.lcp_policy.result.his_mru:
            self.stats.dropped_out += 1
            return False
        self.stats.packets_out += 1
        self.stats.ip_bytes_out += len(packet)
        self._emit_frame(protocol, packet, now)
        return True

    def receive_data(self, data: bytes, now: float) -> None:
        """Feed serial bytes (any chunking); frames are handled as they complete."""
        self.stats.bytes_in += len(data)
        control = False
        for protocol, information in self._deframer.feed(data):
            self._handle_frame(protocol, information, now)
            if protocol not in _DATA:
                control = True
                self._flush(now)  # act on a control frame (phase changes) before the next frame
        d = self._deframer.stats
        self.stats.bad_frames = d.bad_fcs + d.runts + d.too_long + d.aborts + d.bad_header
        if control or self._park:
            self._after(now)  # data frames alone change no protocol state: nothing to flush

    def modem_text(self) -> str | None:
        """The modem's words if the line after the last frame is a result code or boot message:
        ``NO CARRIER`` (V.250 5.7.1), a reboot's ``RDY``/``Call Ready`` or any ``+XXX:`` URC (TS 27.007
        section 9.2), which a modem sends only in command mode: the modem left data
        mode, as pppd's modem hang-up assumes. Cheap after every read; the driver confirms it a moment
        later (the same text could end a chunk inside a frame)."""
        line = self._deframer.last_line()
        if not line:
            return None
        if line in _MODEM_LINES or (line[:1] in (b"+", b"^") and line[1:2].isalpha() and b":" in line[:16]):
            return line.decode("ascii", "replace")  # a result code, a boot message or a URC (27.007 9.2)
        return None

    def next_event(self) -> LinkEvent | None:
        """The next event, or None."""
        return self._events.popleft() if self._events else None

    def pending_output(self) -> int:
        """How many framed octets wait for :meth:`data_to_send` (a driver's backpressure signal)."""
        return len(self._out)

    def data_to_send(self) -> bytes:
        """Serial bytes to write now (drains the buffer)."""
        out = bytes(self._out)
        self._out.clear()
        return out

    def get_timer(self) -> float | None:
        """The earliest deadline of LCP, the NCPs and authentication (absolute), or None.

        Cached between calls: deadlines change only where protocol state does (control frames,
        timers, open/close), and every such path ends in ``_after``, which drops the cache. A driver
        asks after every wake-up, and a wake-up that carried only data frames changes nothing.
        """
        cached = self._timer_cache
        if cached is not _UNKNOWN:
            return cached
        deadlines = [self.lcp.get_timer(), self.ipcp.get_timer(), self.ipv6cp.get_timer()]
        deadlines += [a.get_timer() for a in (self._auth_peer, self._auth_server) if a is not None]
        deadlines += [self._lcp_deadline, *self._ncp_deadlines.values()]
        live = [d for d in deadlines if d is not None]
        result = min(live) if live else None
        self._timer_cache = result
        return result

    def handle_timer(self, now: float) -> None:
        """Run every timer that is due at ``now``."""
        self._timer_cache = _UNKNOWN
        self.lcp.handle_timer(now)
        for cp in self._ncps:
            cp.handle_timer(now)
        for auth in (self._auth_peer, self._auth_server):
            if auth is not None:
                auth.handle_timer(now)
        self._check_deadlines(now)
        self._after(now)

    def _check_deadlines(self, now: float) -> None:
        """Overall negotiation deadlines (see :attr:`LinkConfig.lcp_timeout`)."""
        if self._lcp_deadline is not None and now >= self._lcp_deadline:
            self._lcp_deadline = None
            if not self.lcp.is_open and self.phase is not Phase.DEAD:
                seconds = self.config.lcp_timeout
                self._fail(DownCause.NEGOTIATION_FAILED, f"no agreement within {seconds:g} s", now,
                           protocol="LCP")
        for cp, deadline in list(self._ncp_deadlines.items()):
            if now < deadline:
                continue
            del self._ncp_deadlines[cp]
            if cp.is_open or not self.lcp.is_open:
                continue
            reason = f"no agreement within {self.config.ncp_timeout:g} s"
            if cp is self.ipcp:
                self._fail(DownCause.NEGOTIATION_FAILED, reason, now, protocol="IPCP")
            else:
                cp.close(now, reason)  # IPv6 is optional: the link stays IPv4-only

    @property
    def is_up(self) -> bool:
        """True while IPCP is Opened (IPv4 packets can flow)."""
        return self.ipcp.is_open

    # -- internals ------------------------------------------------------------------------------

    def _after(self, now: float) -> None:
        self._timer_cache = _UNKNOWN
        self._flush(now)
        if self._park:
            self._park = False
            if self.lcp.fsm.state is State.STOPPED:
                self.lcp.fsm.event(Event.CLOSE, now)
            if self.lcp.fsm.state is State.CLOSED:
                self.lcp.fsm.event(Event.DOWN, now)
            self._flush(now)

    def _handle_frame(self, protocol: int, info: bytes, now: float) -> None:
        self.stats.frames_in += 1
        if self._capture is not None:
            self._capture(now, False, b"\xff\x03" + struct.pack("!H", protocol) + info)
        if protocol in (Protocol.IP, Protocol.IPV6):
            cp = self.ipcp if protocol == Protocol.IP else self.ipv6cp
            if cp.is_open and (protocol == Protocol.IP or self.ipv6_enabled):
                self.stats.packets_in += 1
                self.stats.ip_bytes_in += len(info)
                self._events.append(PacketReceived(packet=info, version=4 if protocol == Protocol.IP else 6))
            else:
                self.stats.discarded += 1
            return
        if self._trace is not None and protocol in _CONTROL:
            self._trace(trace_line(False, protocol, info))
        if protocol in _CONTROL:
            pkt = decode_packet(info)
            if pkt is None:
                self.stats.malformed += 1
                return
            if protocol == Protocol.LCP:
                self.lcp.receive(pkt, now)
            elif protocol in (Protocol.PAP, Protocol.CHAP):
                self._receive_auth(protocol, pkt, now)
            elif protocol == Protocol.IPV6CP and not self.config.ipv6:
                self._protocol_reject(protocol, info)
            elif self.phase is Phase.NETWORK:
                (self.ipcp if protocol == Protocol.IPCP else self.ipv6cp).receive(pkt, now)
            else:
                self.stats.discarded += 1  # RFC 1661 section 3.5/3.6: NCPs wait for the Network phase
            return
        self.stats.unknown_protocols += 1
        self._protocol_reject(protocol, info)

    def _protocol_reject(self, protocol: int, info: bytes) -> None:
        if self.lcp.is_open:  # section 5.7: only in the Opened state
            self.lcp.send_protocol_reject(protocol, info)
        else:
            self.stats.discarded += 1

    def _receive_auth(self, protocol: int, pkt: ControlPacket, now: float) -> None:
        if protocol == Protocol.PAP:
            to_server = pkt.code == PapCode.AUTHENTICATE_REQUEST
        else:
            to_server = pkt.code == ChapCode.RESPONSE
        target = self._auth_server if to_server else self._auth_peer
        if target is None or target.protocol != protocol or self.phase not in (Phase.AUTHENTICATE, Phase.NETWORK):
            self.stats.discarded += 1
            return
        target.receive(pkt, now)
