"""LCP option policy (RFC 1661 section 6, RFC 1662 section 7.1) and the shared option-policy interface.

An *option policy* decides, for one control protocol, what we ask for (our Configure-Request), how
we answer the peer's Configure-Request (Ack, Nak or Reject, RFC 1661 section 5.1-5.4) and how we
adapt to the peer's Nak and Reject. It is pure: no timers, no packets, no automaton. The automaton
(:mod:`pppos.ppp.fsm`) and the packet plumbing live in :mod:`pppos.ppp.link`.

LCP policy (what real cellular modems need, see docs and RFC 1661 section 6):

- MRU (1): we ask for ``mru`` (1500 default); the peer's MRU bounds what we send.
- ACCM (2, RFC 1662 section 7.1): we ask for ``asyncmap`` (0 by default); any map the peer asks for
  is accepted (the SIM800 asks for 0xa0000). A Nak of ours is answered by asking for the union.
- Authentication-Protocol (3): as authenticatee we accept PAP (0xc023) or CHAP with MD5 (0xc223,
  algorithm 5) when allowed, and Nak anything else toward CHAP-MD5 (or PAP). As authenticator we ask
  for the configured protocol only (never by default: the modem is not asked to authenticate).
- Quality-Protocol (4), Callback (13) and unknown options are rejected.
- Magic-Number (5): a random non-zero number. A peer request carrying *our* number is Nak'ed with a
  fresh one (section 6.4); a Nak carrying a number makes us pick a new one. Each equal-number sighting
  counts toward ``loopback_limit``, after which :attr:`LcpPolicy.looped_back` is set.
- PFC (7) and ACFC (8): requested and accepted.

Each option is one :class:`LcpOptionRule` in :data:`LCP_OPTIONS` (codec check, what we ask for, how
we judge the peer's value, how a Nak or Reject of ours is handled, the trace format and the result
field), in the manner of h2's settings table or wsproto's extensions: the policy only walks the
table, so adding an option is one rule plus its tests. An option without a rule, or with a value
its rule finds malformed, is Rejected.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable
from dataclasses import dataclass

from pppos.ppp.limits import DEFAULT_MRU, MIN_MRU
from pppos.ppp.packets import AuthAlgorithm, Code, LcpOption, Option, Protocol

__all__ = [
    "AUTH_PROTOCOLS",
    "LCP_OPTIONS",
    "LcpOptionRule",
    "LcpPolicy",
    "LcpResult",
    "OptionPolicy",
    "Verdict",
    "verdict_of",
]

#: Authentication protocol names and their LCP option values (RFC 1334 section 3, RFC 1994 section 3).
AUTH_PROTOCOLS: dict[str, bytes] = {
    "pap": struct.pack("!H", Protocol.PAP),
    "chap": struct.pack("!HB", Protocol.CHAP, AuthAlgorithm.MD5),
}



@dataclass(frozen=True, slots=True)
class Verdict:
    """How to answer a Configure-Request: ``code`` (Ack, Nak or Reject) and the options to send back."""

    code: Code
    options: list[Option]


class OptionPolicy:
    """Interface shared by the LCP, IPCP and IPv6CP option policies (RFC 1661 section 5.1-5.4)."""

    #: Set to a short reason when negotiation cannot succeed (a required option was rejected).
    failure: str | None = None
    #: Option types whose Configure-Nak is never turned into a Configure-Reject after Max-Failure
    #: (RFC 1661 section 4.6): LCP's Magic-Number, so a looped-back line keeps being detected
    #: (section 6.4; pppd exempts it the same way) instead of dropping the option and opening.
    nak_only: frozenset[int] = frozenset()

    def reset(self) -> None:
        """Start a new negotiation (This-Layer-Started): restore the wanted values."""

    def request(self) -> list[Option]:
        """Options for our next Configure-Request."""
        return []

    def on_request(self, options: list[Option]) -> Verdict:
        """Judge the peer's Configure-Request (reject beats nak beats ack, RFC 1661 section 5.2-5.4)."""
        return Verdict(Code.CONFIGURE_ACK, options)

    def on_ack(self, options: list[Option]) -> bool:
        """The peer acked ``options``; return False if they do not match our request (then discard)."""
        return [o.encode() for o in options] == [o.encode() for o in self.request()]

    def on_nak(self, options: list[Option]) -> None:
        """Adapt our wishes to the peer's Configure-Nak."""

    def on_reject(self, options: list[Option]) -> None:
        """Drop the options the peer rejected."""


def verdict_of(acks: list[Option], naks: list[Option], rejects: list[Option]) -> Verdict:
    """Reject beats Nak beats Ack (RFC 1661 sections 5.2-5.4): the reply carries only that class."""
    if rejects:
        return Verdict(Code.CONFIGURE_REJECT, rejects)
    if naks:
        return Verdict(Code.CONFIGURE_NAK, naks)
    return Verdict(Code.CONFIGURE_ACK, acks)


@dataclass(slots=True)
class LcpResult:
    """The negotiated LCP values (valid once LCP is Opened).

    "ours" is what the peer acked (how the peer sends to us), "his" what we acked (how we send).
    """

    #: Largest frame the peer may send us.
    our_mru: int = DEFAULT_MRU
    #: Receive ACCM: characters the peer escapes for us (RFC 1662 section 7.1).
    our_accm: int = 0xFFFFFFFF
    our_pfc: bool = False
    our_acfc: bool = False
    our_magic: int = 0
    #: Authentication we demand of the peer (``"pap"``, ``"chap"`` or None).
    our_auth: str | None = None
    #: Largest frame we may send (the peer's MRU).
    his_mru: int = DEFAULT_MRU
    #: Send ACCM: characters we must escape (the peer's map).
    his_accm: int = 0xFFFFFFFF
    his_pfc: bool = False
    his_acfc: bool = False
    his_magic: int = 0
    #: Authentication the peer demands of us (``"pap"``, ``"chap"`` or None).
    his_auth: str | None = None


# -- the option table -----------------------------------------------------------------------------

#: What a rule says about one option of the peer's Configure-Request (RFC 1661 sections 5.2-5.4).
ACK, NAK, REJECT = "ack", "nak", "reject"


def _u16(v: bytes) -> int:
    return int(struct.unpack("!H", v)[0])


def _u32(v: bytes) -> int:
    return int(struct.unpack("!I", v)[0])


def _auth_name(v: bytes) -> str | None:
    return next((name for name, val in AUTH_PROTOCOLS.items() if val == v), None)


_AUTH_LABELS = {Protocol.PAP: "pap", Protocol.CHAP: "chap", 0xC227: "eap"}
_CHAP_ALGORITHMS = {AuthAlgorithm.MD5: "MD5", 0x80: "MS", 0x81: "MS-v2"}


def _show_auth(v: bytes) -> str:
    proto = _u16(v[:2])
    name = _AUTH_LABELS.get(proto, f"0x{proto:x}")
    if proto == Protocol.CHAP and len(v) == 3:
        return f"<auth chap {_CHAP_ALGORITHMS.get(v[2], f'0x{v[2]:x}')}>"
    if len(v) > 2:
        return f"<auth {name} {' '.join(f'{b:02x}' for b in v[2:])}>"
    return f"<auth {name}>"


@dataclass(frozen=True, slots=True)
class LcpOptionRule:
    """Everything about one LCP option, in one place (RFC 1661 section 6, RFC 1662 section 7.1).

    Values are the option's raw value octets; ``want`` is what we currently ask for (None = not
    asking). The callables get the policy for its configuration and counters. A new option is one
    more rule in :data:`LCP_OPTIONS` plus its tests; the policy, the trace and the result follow.
    """

    kind: int
    #: codec: does a value of this shape make sense (a wrong length is Rejected, not guessed at)
    valid: Callable[[bytes], bool]
    #: trace format, pppd's (``<mru 1500>``)
    show: Callable[[bytes], str]
    #: the field of :class:`LcpResult` (``our_<field>`` / ``his_<field>``), the value it takes from
    #: an acked option, and its value when the option was not negotiated
    field: str | None = None
    value: Callable[[bytes], object] = bytes
    default: object = None
    #: what we ask for at the start of a negotiation (None: we do not ask)
    ask: Callable[[LcpPolicy], bytes | None] = lambda policy: None
    #: the peer Nak'ed with ``hint``: what we ask for next (None: stop asking)
    nak: Callable[[LcpPolicy, bytes | None, bytes], bytes | None] = lambda policy, want, hint: want
    #: the peer Rejected our option: a failure reason if we cannot do without it
    reject: Callable[[LcpPolicy, bytes], str | None] = lambda policy, want: None
    #: our answer to the peer asking for ``value``: (ACK, None), (NAK, hint) or (REJECT, None)
    judge: Callable[[LcpPolicy, bytes], tuple[str, bytes | None]] = lambda policy, value: (REJECT, None)


def _nak_mru(policy: LcpPolicy, want: bytes | None, hint: bytes) -> bytes | None:
    # Never below the floor (pppos.ppp.limits), never above what we were configured to ask for.
    return struct.pack("!H", max(MIN_MRU, min(_u16(hint), policy.mru or DEFAULT_MRU)))


def _judge_mru(policy: LcpPolicy, value: bytes) -> tuple[str, bytes | None]:
    if _u16(value) < MIN_MRU:
        return NAK, struct.pack("!H", MIN_MRU)  # and never accepted: after Max-Failure, a Reject
    return ACK, None


def _nak_auth(policy: LcpPolicy, want: bytes | None, hint: bytes) -> bytes | None:
    if want is None:
        return None  # we do not ask the peer to authenticate: its hint changes nothing
    alt = _auth_name(hint)
    if alt is None:
        policy.failure = "peer refuses to authenticate with PAP or CHAP-MD5"
        return want
    return AUTH_PROTOCOLS[alt]


def _judge_auth(policy: LcpPolicy, value: bytes) -> tuple[str, bytes | None]:
    chosen = _auth_name(value)
    if chosen is not None and chosen in policy.accept_auth:
        return ACK, None
    if policy.accept_auth:
        return NAK, AUTH_PROTOCOLS[policy.accept_auth[0]]  # section 6.2: the one we prefer
    return REJECT, None


def _ask_magic(policy: LcpPolicy) -> bytes | None:
    return struct.pack("!I", policy.new_magic()) if policy.magic else None


def _nak_magic(policy: LcpPolicy, want: bytes | None, hint: bytes) -> bytes | None:
    if want is None:
        return None
    # A Nak of our magic number is how a looped line shows itself from our side (section 6.4;
    # pppd counts it the same way).
    policy.count_loop()
    return struct.pack("!I", policy.new_magic())


def _judge_magic(policy: LcpPolicy, value: bytes) -> tuple[str, bytes | None]:
    number = _u32(value)
    ours = policy.want_magic
    if number == 0 or (ours and number == ours):
        if number:
            policy.count_loop()  # our own number came back (section 6.4)
        return NAK, struct.pack("!I", policy.new_magic())
    return ACK, None


def _ack(policy: LcpPolicy, value: bytes) -> tuple[str, bytes | None]:
    return ACK, None


#: The LCP options, in the order of our Configure-Request (pppd's).
LCP_OPTIONS: dict[int, LcpOptionRule] = {
    rule.kind: rule
    for rule in (
        LcpOptionRule(
            LcpOption.MRU, valid=lambda v: len(v) == 2, show=lambda v: f"<mru {_u16(v)}>",
            field="mru", value=_u16, default=DEFAULT_MRU,
            ask=lambda p: struct.pack("!H", p.mru) if p.mru else None, nak=_nak_mru, judge=_judge_mru,
        ),
        LcpOptionRule(
            LcpOption.ACCM, valid=lambda v: len(v) == 4, show=lambda v: f"<asyncmap 0x{_u32(v):x}>",
            field="accm", value=_u32, default=0xFFFFFFFF,
            ask=lambda p: struct.pack("!I", p.asyncmap) if p.asyncmap is not None else None,
            # RFC 1662 section 7.1: the peer wants more characters escaped: ask for the union.
            nak=lambda p, want, hint: struct.pack("!I", (_u32(want) if want else 0) | _u32(hint)),
            judge=_ack,  # any map the peer asks for (the SIM800 asks for 0xa0000)
        ),
        LcpOptionRule(
            LcpOption.AUTH_PROTOCOL, valid=lambda v: len(v) >= 2, show=_show_auth,
            field="auth", value=_auth_name, default=None,
            ask=lambda p: AUTH_PROTOCOLS[p.require_auth] if p.require_auth else None, nak=_nak_auth,
            reject=lambda p, want: "peer refuses to authenticate", judge=_judge_auth,
        ),
        LcpOptionRule(
            LcpOption.QUALITY_PROTOCOL, valid=lambda v: len(v) >= 2,
            show=lambda v: f"<quality 0x{_u16(v[:2]):x}>",  # LQR is not run: Rejected
        ),
        LcpOptionRule(
            LcpOption.MAGIC_NUMBER, valid=lambda v: len(v) == 4, show=lambda v: f"<magic 0x{_u32(v):x}>",
            field="magic", value=_u32, default=0, ask=_ask_magic, nak=_nak_magic,
            reject=lambda p, want: None, judge=_judge_magic,
        ),
        LcpOptionRule(
            LcpOption.PFC, valid=lambda v: not v, show=lambda v: "<pcomp>", field="pfc", value=lambda v: True,
            default=False, ask=lambda p: b"" if p.pfc else None, judge=_ack,
        ),
        LcpOptionRule(
            LcpOption.ACFC, valid=lambda v: not v, show=lambda v: "<accomp>", field="acfc", value=lambda v: True,
            default=False, ask=lambda p: b"" if p.acfc else None, judge=_ack,
        ),
        LcpOptionRule(
            LcpOption.CALLBACK, valid=lambda v: True,  # not run: Rejected
            show=lambda v: f"<callback {' '.join(f'{b:02x}' for b in v)}>".replace(" >", ">"),
        ),
    )
}


class LcpPolicy(OptionPolicy):
    """LCP option negotiation for either role, driven by :data:`LCP_OPTIONS` (see the module docstring)."""

    nak_only = frozenset({LcpOption.MAGIC_NUMBER})
    # declared here for the rules above, which read them
    mru: int
    asyncmap: int | None
    pfc: bool
    acfc: bool
    magic: bool
    accept_auth: tuple[str, ...]
    require_auth: str | None

    def __init__(
        self,
        *,
        mru: int = DEFAULT_MRU,
        asyncmap: int | None = 0,
        pfc: bool = True,
        acfc: bool = True,
        magic: bool = True,
        accept_auth: tuple[str, ...] = ("chap", "pap"),
        require_auth: str | None = None,
        loopback_limit: int = 10,
        rng: random.Random | None = None,
    ) -> None:
        if require_auth is not None and require_auth not in AUTH_PROTOCOLS:
            raise ValueError(f"require_auth must be one of {sorted(AUTH_PROTOCOLS)}, not {require_auth!r}")
        self.mru = mru
        self.asyncmap = asyncmap
        self.pfc = pfc
        self.acfc = acfc
        self.magic = magic
        self.accept_auth = tuple(a for a in accept_auth if a in AUTH_PROTOCOLS)
        self.require_auth = require_auth
        self.loopback_limit = loopback_limit
        self.rng = rng if rng is not None else random.Random()  # noqa: S311 - magic numbers, not crypto
        #: Times the peer's magic number equalled ours (RFC 1661 section 6.4).
        self.loopback_count = 0
        #: Set once ``loopback_count`` reached ``loopback_limit``.
        self.looped_back = False
        #: The negotiated values (meaningful once LCP is Opened).
        self.result = LcpResult()
        #: What we ask for now: option type -> value octets, in table order.
        self._want: dict[int, bytes] = {}
        self.reset()

    # -- helpers for the rules ------------------------------------------------------------------

    @property
    def want_magic(self) -> int:
        """The magic number we ask for now (0: none)."""
        value = self._want.get(LcpOption.MAGIC_NUMBER)
        return _u32(value) if value is not None else 0

    def new_magic(self) -> int:
        """A fresh random non-zero magic number, different from the one we ask for now."""
        current = self.want_magic
        value = 0
        while value in (0, current):
            value = self.rng.getrandbits(32)
        return value

    def count_loop(self) -> None:
        """One more sign that the line is looped back (RFC 1661 section 6.4)."""
        self.loopback_count += 1
        if self.loopback_count >= self.loopback_limit:
            self.looped_back = True

    # -- negotiation ----------------------------------------------------------------------------

    def reset(self) -> None:
        """Start over: want every configured option again (keeps the loopback count)."""
        self.failure = None
        self._want = {}
        for kind, rule in LCP_OPTIONS.items():
            value = rule.ask(self)
            if value is not None:
                self._want[kind] = value
        # Our side starts over; the peer's acked values stay until its next request is judged
        # (scr can run right after the peer's request was acked in the same transition).
        for rule in LCP_OPTIONS.values():
            if rule.field is not None:
                setattr(self.result, f"our_{rule.field}", rule.default)

    def request(self) -> list[Option]:
        """Our Configure-Request: what we want, in table order (MRU, ACCM, auth, magic, PFC, ACFC)."""
        return [Option(kind, value) for kind, value in self._want.items()]

    def on_ack(self, options: list[Option]) -> bool:
        """Record what the peer accepted (RFC 1661 section 5.2: it must echo our request exactly)."""
        if not super().on_ack(options):
            return False
        for kind, rule in LCP_OPTIONS.items():
            if rule.field is not None:
                want = self._want.get(kind)
                setattr(self.result, f"our_{rule.field}", rule.value(want) if want is not None else rule.default)
        return True

    def on_nak(self, options: list[Option]) -> None:
        """Take the peer's hints (RFC 1661 section 5.3), each through its option's rule."""
        wanted = dict(self._want)
        for opt in options:
            rule = LCP_OPTIONS.get(opt.type)
            if rule is None or not rule.valid(opt.value):
                continue
            new = rule.nak(self, wanted.get(opt.type), opt.value)
            if new is None:
                wanted.pop(opt.type, None)
            else:
                wanted[opt.type] = new
        self._want = {kind: wanted[kind] for kind in LCP_OPTIONS if kind in wanted}

    def on_reject(self, options: list[Option]) -> None:
        """Stop asking for what the peer rejected; an option we cannot do without is a failure."""
        for opt in options:
            rule = LCP_OPTIONS.get(opt.type)
            want = self._want.pop(opt.type, None)
            if rule is not None and want is not None:
                reason = rule.reject(self, want)
                if reason is not None:
                    self.failure = reason

    def on_request(self, options: list[Option]) -> Verdict:
        """Ack, Nak or Reject the peer's options; records the acked values in :attr:`result`."""
        acks: list[Option] = []
        naks: list[Option] = []
        rejects: list[Option] = []
        his: dict[str, object] = {}
        for opt in options:
            rule = LCP_OPTIONS.get(opt.type)
            if rule is None or not rule.valid(opt.value):
                rejects.append(opt)
                continue
            answer, hint = rule.judge(self, opt.value)
            if answer == ACK:
                acks.append(opt)
                if rule.field is not None:
                    his[rule.field] = rule.value(opt.value)
            elif answer == NAK and hint is not None:
                naks.append(Option(opt.type, hint))
            else:
                rejects.append(opt)
        verdict = verdict_of(acks, naks, rejects)
        if verdict.code == Code.CONFIGURE_ACK:
            for rule in LCP_OPTIONS.values():
                if rule.field is not None:
                    setattr(self.result, f"his_{rule.field}", his.get(rule.field, rule.default))
        return verdict
