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
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass

from pppos.ppp.limits import DEFAULT_MRU, MIN_MRU
from pppos.ppp.packets import AuthAlgorithm, Code, LcpOption, Option, Protocol

__all__ = ["AUTH_PROTOCOLS", "LcpPolicy", "LcpResult", "OptionPolicy", "Verdict", "verdict_of"]

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


class LcpPolicy(OptionPolicy):
    """LCP option negotiation for either role (see the module docstring for the rules)."""

    nak_only = frozenset({LcpOption.MAGIC_NUMBER})

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
        self.reset()

    def _new_magic(self) -> int:
        value = 0
        while value == 0 or value == getattr(self, "_want_magic", 0):
            value = self.rng.getrandbits(32)
        return value

    def reset(self) -> None:
        """Start over: want every configured option again (keeps the loopback count)."""
        self.failure = None
        self._want_mru: int | None = self.mru if self.mru else None
        self._want_accm: int | None = self.asyncmap
        self._want_auth: str | None = self.require_auth
        self._want_magic: int = 0
        self._want_magic = self._new_magic() if self.magic else 0
        self._want_pfc = self.pfc
        self._want_acfc = self.acfc
        # Our side starts over; the peer's acked values stay until its next request is judged
        # (scr can run right after the peer's request was acked in the same transition).
        r = self.result
        r.our_mru, r.our_accm, r.our_pfc, r.our_acfc, r.our_magic, r.our_auth = (
            DEFAULT_MRU, 0xFFFFFFFF, False, False, 0, None
        )

    def _count_loop(self) -> None:
        """One more sign that the line is looped back (RFC 1661 section 6.4)."""
        self.loopback_count += 1
        if self.loopback_count >= self.loopback_limit:
            self.looped_back = True

    # -- our Configure-Request ------------------------------------------------------------------

    def request(self) -> list[Option]:
        """MRU, ACCM, auth (authenticator only), magic, PFC, ACFC: in pppd's order."""
        opts: list[Option] = []
        if self._want_mru is not None:
            opts.append(Option(LcpOption.MRU, struct.pack("!H", self._want_mru)))
        if self._want_accm is not None:
            opts.append(Option(LcpOption.ACCM, struct.pack("!I", self._want_accm)))
        if self._want_auth is not None:
            opts.append(Option(LcpOption.AUTH_PROTOCOL, AUTH_PROTOCOLS[self._want_auth]))
        if self._want_magic:
            opts.append(Option(LcpOption.MAGIC_NUMBER, struct.pack("!I", self._want_magic)))
        if self._want_pfc:
            opts.append(Option(LcpOption.PFC))
        if self._want_acfc:
            opts.append(Option(LcpOption.ACFC))
        return opts

    def on_ack(self, options: list[Option]) -> bool:
        """Record what the peer accepted (RFC 1661 section 5.2: it must echo our request exactly)."""
        if not super().on_ack(options):
            return False
        r = self.result
        r.our_mru = self._want_mru if self._want_mru is not None else DEFAULT_MRU
        r.our_accm = self._want_accm if self._want_accm is not None else 0xFFFFFFFF
        r.our_auth = self._want_auth
        r.our_magic = self._want_magic
        r.our_pfc = self._want_pfc
        r.our_acfc = self._want_acfc
        return True

    def on_nak(self, options: list[Option]) -> None:
        """Take the peer's hints (RFC 1661 section 5.3)."""
        for opt in options:
            v = opt.value
            if opt.type == LcpOption.MRU and len(v) == 2:
                (value,) = struct.unpack("!H", v)
                self._want_mru = max(MIN_MRU, min(value, self.mru or DEFAULT_MRU))
            elif opt.type == LcpOption.ACCM and len(v) == 4:
                (value,) = struct.unpack("!I", v)
                self._want_accm = (self._want_accm or 0) | value
            elif opt.type == LcpOption.MAGIC_NUMBER and len(v) == 4:
                if self._want_magic:
                    # A Nak of our magic number is how a looped line shows itself from our side
                    # (RFC 1661 section 6.4; pppd counts it the same way).
                    self._count_loop()
                    self._want_magic = self._new_magic()
            elif opt.type == LcpOption.AUTH_PROTOCOL and self._want_auth is not None:
                # The peer proposes another protocol: switch if it is one we can run as authenticator.
                alt = next((name for name, val in AUTH_PROTOCOLS.items() if val == v), None)
                if alt is not None:
                    self._want_auth = alt
                else:
                    self.failure = "peer refuses to authenticate with PAP or CHAP-MD5"

    def on_reject(self, options: list[Option]) -> None:
        """Stop asking for what the peer rejected; a rejected required auth is fatal."""
        for opt in options:
            if opt.type == LcpOption.MRU:
                self._want_mru = None
            elif opt.type == LcpOption.ACCM:
                self._want_accm = None
            elif opt.type == LcpOption.MAGIC_NUMBER:
                self._want_magic = 0
            elif opt.type == LcpOption.PFC:
                self._want_pfc = False
            elif opt.type == LcpOption.ACFC:
                self._want_acfc = False
            elif opt.type == LcpOption.AUTH_PROTOCOL and self._want_auth is not None:
                self.failure = "peer refuses to authenticate"

    # -- the peer's Configure-Request -----------------------------------------------------------

    def on_request(self, options: list[Option]) -> Verdict:
        """Ack, Nak or Reject the peer's options; records the acked values in :attr:`result`."""
        acks: list[Option] = []
        naks: list[Option] = []
        rejects: list[Option] = []
        his = LcpResult()
        for opt in options:
            v = opt.value
            t = opt.type
            if t == LcpOption.MRU and len(v) == 2:
                (value,) = struct.unpack("!H", v)
                if value < MIN_MRU:
                    naks.append(Option(t, struct.pack("!H", MIN_MRU)))
                else:
                    his.his_mru = value
                    acks.append(opt)
            elif t == LcpOption.ACCM and len(v) == 4:
                (his.his_accm,) = struct.unpack("!I", v)
                acks.append(opt)
            elif t == LcpOption.AUTH_PROTOCOL and len(v) >= 2:
                chosen = next((name for name, val in AUTH_PROTOCOLS.items() if val == v), None)
                if chosen is not None and chosen in self.accept_auth:
                    his.his_auth = chosen
                    acks.append(opt)
                elif self.accept_auth:
                    # RFC 1661 section 6.2: Nak with the protocol we prefer (CHAP-MD5, else PAP).
                    naks.append(Option(t, AUTH_PROTOCOLS[self.accept_auth[0]]))
                else:
                    rejects.append(opt)
            elif t == LcpOption.MAGIC_NUMBER and len(v) == 4:
                (value,) = struct.unpack("!I", v)
                if value == 0 or (self._want_magic and value == self._want_magic):
                    if value:
                        self._count_loop()
                    naks.append(Option(t, struct.pack("!I", self._new_magic())))
                else:
                    his.his_magic = value
                    acks.append(opt)
            elif t == LcpOption.PFC and not v:
                his.his_pfc = True
                acks.append(opt)
            elif t == LcpOption.ACFC and not v:
                his.his_acfc = True
                acks.append(opt)
            else:
                rejects.append(opt)
        verdict = verdict_of(acks, naks, rejects)
        if verdict.code == Code.CONFIGURE_ACK:
            r = self.result
            r.his_mru, r.his_accm, r.his_auth = his.his_mru, his.his_accm, his.his_auth
            r.his_magic, r.his_pfc, r.his_acfc = his.his_magic, his.his_pfc, his.his_acfc
        return verdict
