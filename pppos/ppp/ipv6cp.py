"""IPv6CP option policy: Interface-Identifier negotiation (RFC 5072 section 4.1) and link-local addresses.

- We propose a random non-zero 64-bit identifier.
- A peer proposing zero, or our own identifier (a collision), is Nak'ed with a fresh random non-zero
  identifier different from ours (RFC 5072 section 4.1).
- A Nak of ours carrying a usable identifier is adopted; otherwise we pick a new random one.
- Any other option (IPv6-Compression-Protocol, unknown) is rejected.
- Once opened the link-local addresses are ``fe80::/64`` plus each identifier (RFC 5072 section 5).

A peer that Protocol-Rejects IPv6CP (an IPv4-only modem or slirp) simply leaves the link IPv4-only;
that is decided in :mod:`pppos.ppp.link`.
"""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass

from pppos.ppp.lcp import OptionPolicy, Verdict, verdict_of
from pppos.ppp.packets import Code, Ipv6cpOption, Option

__all__ = ["Ipv6cpPolicy", "Ipv6cpResult", "link_local"]


def link_local(identifier: int) -> str:
    """The link-local address ``fe80::/64`` + ``identifier`` (RFC 5072 section 5)."""
    return str(ipaddress.IPv6Address((0xFE80 << 112) | (identifier & 0xFFFFFFFFFFFFFFFF)))


@dataclass(slots=True)
class Ipv6cpResult:
    """The negotiated identifiers (0 = not negotiated)."""

    local_id: int = 0
    peer_id: int = 0

    @property
    def local_address(self) -> str | None:
        """Our link-local address, or None."""
        return link_local(self.local_id) if self.local_id else None

    @property
    def peer_address(self) -> str | None:
        """The peer's link-local address, or None."""
        return link_local(self.peer_id) if self.peer_id else None


class Ipv6cpPolicy(OptionPolicy):
    """IPv6CP Interface-Identifier negotiation (RFC 5072 section 4.1)."""

    def __init__(self, *, identifier: int | None = None, rng: random.Random | None = None) -> None:
        self.rng = rng if rng is not None else random.Random()  # noqa: S311 - identifiers, not crypto
        self.identifier = identifier
        self.result = Ipv6cpResult()
        self.reset()

    def _random_id(self, avoid: int = 0) -> int:
        value = 0
        while value in (0, avoid):
            value = self.rng.getrandbits(64)
        return value

    def reset(self) -> None:
        """Propose the configured identifier or a fresh random one."""
        self.failure = None
        self._want_id: int | None = self.identifier or self._random_id()
        self.result.local_id = 0

    def request(self) -> list[Option]:
        """One Interface-Identifier option."""
        if self._want_id is None:
            return []
        return [Option(Ipv6cpOption.INTERFACE_IDENTIFIER, self._want_id.to_bytes(8, "big"))]

    def on_ack(self, options: list[Option]) -> bool:
        """Record our identifier once acked."""
        if not super().on_ack(options):
            return False
        self.result.local_id = self._want_id or 0
        if not self._want_id:
            self.failure = "peer rejected the Interface-Identifier option"
        return True

    def on_nak(self, options: list[Option]) -> None:
        """Adopt a usable suggested identifier, else choose a new one."""
        for opt in options:
            if opt.type == Ipv6cpOption.INTERFACE_IDENTIFIER and len(opt.value) == 8:
                suggested = int.from_bytes(opt.value, "big")
                if suggested and suggested != self.result.peer_id:
                    self._want_id = suggested
                else:
                    self._want_id = self._random_id(avoid=self.result.peer_id)

    def on_reject(self, options: list[Option]) -> None:
        """A rejected Interface-Identifier leaves no link-local identifier: negotiation fails."""
        for opt in options:
            if opt.type == Ipv6cpOption.INTERFACE_IDENTIFIER:
                self._want_id = None
                self.failure = "peer rejected the Interface-Identifier option"

    def on_request(self, options: list[Option]) -> Verdict:
        """Ack a usable identifier; Nak zero or a collision with ours; reject anything else."""
        acks: list[Option] = []
        naks: list[Option] = []
        rejects: list[Option] = []
        peer_id = 0
        for opt in options:
            if opt.type == Ipv6cpOption.INTERFACE_IDENTIFIER and len(opt.value) == 8:
                value = int.from_bytes(opt.value, "big")
                if value in (0, self._want_id):
                    naks.append(Option(opt.type, self._random_id(avoid=self._want_id or 0).to_bytes(8, "big")))
                else:
                    peer_id = value
                    acks.append(opt)
            else:
                rejects.append(opt)
        verdict = verdict_of(acks, naks, rejects)
        if verdict.code == Code.CONFIGURE_ACK:
            self.result.peer_id = peer_id
        return verdict
