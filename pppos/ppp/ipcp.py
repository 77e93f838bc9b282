"""IPCP option policy: IP-Address (RFC 1332 section 3.3) and DNS (RFC 1877 section 1), both roles.

Client role (the host behind a modem):

- ask for IP-Address 0.0.0.0 (or a configured address) and take the address the peer Naks back;
- ask for Primary-DNS (129) and Secondary-DNS (131) as 0.0.0.0 and take the Nak'ed values; a DNS
  of 0.0.0.0 in the end means "none" (seen with some operators);
- never offer IP-Compression-Protocol (VJ, RFC 1332 section 3.2), reject it and every other option
  we do not run (IP-Addresses (1), NBNS 130/132, unknown);
- accept any non-zero address the peer gives for itself; a peer that gives none gets the pppd
  convention 10.64.64.64 (:data:`DEFAULT_PEER_IP`), and a peer that asks for one with 0.0.0.0 is
  Nak'ed to ``peer_ip`` or 10.64.64.64 (slirp asks so, and closes IPCP if we reject it).

Checks on what the peer gave (client role, :meth:`IpcpPolicy.problem`, run by the link when IPCP
opens, before anything is reported up): our address and the peer's must be unicast host addresses
(not 0.0.0.0/8, loopback 127/8, multicast 224/4, reserved 240/4 or the broadcast address, RFC 1122
section 3.2.1.3, RFC 5735), differ from each other and from every address this host already has
(``host_addresses``: the driver reads them, this core does no I/O); DNS servers (RFC 1877) the same,
except that a loopback name server is accepted only when the user allowed one (``loopback_dns``).
Any failure is one verdict and IPCP is not opened for IP.

Server role (the simulator and the tests): ask for our own address, Nak the peer's request to the
address we assign, and Nak its DNS requests to the configured servers (or reject them when none).

Each option is one :class:`IpcpOptionRule` in :data:`IPCP_OPTIONS`, as LCP's are in
:data:`pppos.ppp.lcp.LCP_OPTIONS`; the trace reads its format from there too.

The RFC 1661 Max-Failure for IPCP is raised to 100 by the link (stalling 3G modems repeat Naks).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field

from pppos.ppp.lcp import ACK, NAK, REJECT, OptionPolicy, Verdict, verdict_of
from pppos.ppp.packets import Code, IpcpOption, Option, Protocol

__all__ = ["DEFAULT_PEER_IP", "IPCP_OPTIONS", "IpcpOptionRule", "IpcpPolicy", "IpcpResult", "address_problem"]

#: Peer address used when the peer does not name one (pppd and lwIP use the same value).
DEFAULT_PEER_IP = "10.64.64.64"
_ZERO = bytes(4)


@dataclass(slots=True)
class IpcpResult:
    """The negotiated IPCP values: addresses as dotted strings, DNS servers without 0.0.0.0."""

    local_ip: str = "0.0.0.0"  # noqa: S104 - an address value, not a bind
    peer_ip: str = DEFAULT_PEER_IP
    dns: tuple[str, ...] = field(default_factory=tuple)


_THIS_NETWORK = ipaddress.IPv4Network("0.0.0.0/8")
_RESERVED = ipaddress.IPv4Network("240.0.0.0/4")
_BROADCAST = ipaddress.IPv4Address("255.255.255.255")


def address_problem(address: str) -> str | None:
    """Why ``address`` cannot be a host's unicast address (RFC 1122 section 3.2.1.3), or None."""
    addr = ipaddress.IPv4Address(address)
    if addr.is_unspecified:
        return "no address"
    if addr in _THIS_NETWORK:
        return "in 0.0.0.0/8 ('this network')"
    if addr.is_loopback:
        return "a loopback address"
    if addr.is_multicast:
        return "a multicast address"
    if addr == _BROADCAST:
        return "the broadcast address"
    if addr in _RESERVED:
        return "a reserved (240/4) address"
    return None


def _ip(value: bytes) -> str:
    return str(ipaddress.IPv4Address(value))


def _packed(address: str | None) -> bytes:
    return ipaddress.IPv4Address(address).packed if address else _ZERO


# -- the option table -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IpcpOptionRule:
    """Everything about one IPCP option (RFC 1332 section 3, RFC 1877), in one place.

    The same shape as :class:`pppos.ppp.lcp.LcpOptionRule` (codec check, trace format, what we ask
    for, how a Nak or Reject of ours is handled, how we judge the peer's value); the values that
    result (our address, the peer's, the DNS servers) are read from the acked options by
    :class:`IpcpPolicy`. Options without a rule, or malformed, are Rejected.
    """

    kind: int
    valid: Callable[[bytes], bool]
    show: Callable[[bytes], str]
    ask: Callable[[IpcpPolicy], bytes | None] = lambda policy: None
    nak: Callable[[IpcpPolicy, bytes | None, bytes], bytes | None] = lambda policy, want, hint: want
    reject: Callable[[IpcpPolicy, bytes], str | None] = lambda policy, want: None
    judge: Callable[[IpcpPolicy, bytes], tuple[str, bytes | None]] = lambda policy, value: (REJECT, None)


def _four(v: bytes) -> bool:
    return len(v) == 4


def _nak_address(policy: IpcpPolicy, want: bytes | None, hint: bytes) -> bytes | None:
    if want is None:
        return None
    if policy.server and hint == _ZERO:
        return want  # a server keeps its own address
    return hint  # the client takes the address it is told (checked when IPCP opens)


def _reject_address(policy: IpcpPolicy, want: bytes) -> str | None:
    if want == _ZERO:
        return "peer rejected the IP-Address option: no address for us"
    return None


def _judge_address(policy: IpcpPolicy, value: bytes) -> tuple[str, bytes | None]:
    if policy.server:
        assigned = _packed(policy.peer_ip)
        return (ACK, None) if value == assigned else (NAK, assigned)
    if value == _ZERO:
        # The peer wants us to name its address (slirp does; it closes IPCP on a reject): offer
        # the configured peer address or the 10.64.64.64 convention.
        return NAK, _packed(policy.peer_ip or DEFAULT_PEER_IP)
    return ACK, None


def _judge_dns(index: int) -> Callable[[IpcpPolicy, bytes], tuple[str, bytes | None]]:
    def judge(policy: IpcpPolicy, value: bytes) -> tuple[str, bytes | None]:
        if not policy.server or index >= len(policy.dns):
            return REJECT, None  # a client names no servers; a server without them rejects
        server_dns = _packed(policy.dns[index])
        return (ACK, None) if value == server_dns else (NAK, server_dns)

    return judge


def _show_compression(v: bytes) -> str:
    proto = int.from_bytes(v[:2], "big")
    label = "VJ" if proto == Protocol.VJ_COMP else f"0x{proto:x}"
    return f"<compress {label} {' '.join(f'{b:02x}' for b in v[2:])}>".replace(" >", ">")


#: The IPCP options we know, in the order of our Configure-Request.
IPCP_OPTIONS: dict[int, IpcpOptionRule] = {
    rule.kind: rule
    for rule in (
        IpcpOptionRule(
            IpcpOption.IP_ADDRESS, valid=_four, show=lambda v: f"<addr {_ip(v)}>",
            ask=lambda p: _packed(p.local_ip), nak=_nak_address, reject=_reject_address, judge=_judge_address,
        ),
        IpcpOptionRule(
            IpcpOption.PRIMARY_DNS, valid=_four, show=lambda v: f"<ms-dns1 {_ip(v)}>",
            ask=lambda p: _ZERO if p.request_dns else None, nak=lambda p, want, hint: hint if want else None,
            judge=_judge_dns(0),
        ),
        IpcpOptionRule(
            IpcpOption.SECONDARY_DNS, valid=_four, show=lambda v: f"<ms-dns2 {_ip(v)}>",
            ask=lambda p: _ZERO if p.request_dns else None, nak=lambda p, want, hint: hint if want else None,
            judge=_judge_dns(1),
        ),
        # Never run, always Rejected; here for the trace: VJ (RFC 1332 section 3.2), the old
        # IP-Addresses (RFC 1172) and NBNS (RFC 1877).
        IpcpOptionRule(IpcpOption.IP_COMPRESSION, valid=lambda v: len(v) >= 2, show=_show_compression),
        IpcpOptionRule(IpcpOption.IP_ADDRESSES, valid=lambda v: len(v) == 8,
                       show=lambda v: f"<addrs {_ip(v[:4])} {_ip(v[4:])}>"),
        IpcpOptionRule(IpcpOption.PRIMARY_NBNS, valid=_four, show=lambda v: f"<ms-wins {_ip(v)}>"),
        IpcpOptionRule(IpcpOption.SECONDARY_NBNS, valid=_four, show=lambda v: f"<ms-wins {_ip(v)}>"),
    )
}
_DNS_KINDS = (IpcpOption.PRIMARY_DNS, IpcpOption.SECONDARY_DNS)


class IpcpPolicy(OptionPolicy):
    """IPCP option negotiation, driven by :data:`IPCP_OPTIONS` (see the module docstring for the roles)."""

    # declared for the rules above, which read them
    server: bool
    local_ip: str | None
    peer_ip: str | None
    request_dns: bool
    dns: tuple[str, ...]

    def __init__(
        self,
        *,
        server: bool = False,
        local_ip: str | None = None,
        peer_ip: str | None = None,
        request_dns: bool = True,
        dns: tuple[str, ...] = (),
        host_addresses: frozenset[str] = frozenset(),
        loopback_dns: bool = False,
    ) -> None:
        self.server = server
        self.host_addresses = frozenset(str(ipaddress.ip_address(a)) for a in host_addresses)
        self.loopback_dns = loopback_dns
        self.local_ip = local_ip
        self.peer_ip = peer_ip
        self.request_dns = request_dns and not server
        self.dns = tuple(dns)
        if server and (not local_ip or not peer_ip):
            raise ValueError("the IPCP server role needs local_ip and peer_ip")
        self.result = IpcpResult()
        self._want: dict[int, bytes] = {}
        self.reset()

    def reset(self) -> None:
        """Want our address (0.0.0.0 to be told) and both DNS servers again."""
        self.failure = None
        self._want = {}
        for kind, rule in IPCP_OPTIONS.items():
            value = rule.ask(self)
            if value is not None:
                self._want[kind] = value
        # Our side starts over; the peer's acked address stays until its next request is judged.
        self.result.local_ip = "0.0.0.0"  # noqa: S104 - an address value, not a bind
        self.result.dns = ()

    def request(self) -> list[Option]:
        """IP-Address, then Primary and Secondary DNS (client role only), in table order."""
        return [Option(kind, value) for kind, value in self._want.items()]

    def on_ack(self, options: list[Option]) -> bool:
        """Accept an Ack that echoes our request; record our address and the DNS servers."""
        if not super().on_ack(options):
            return False
        r = self.result
        addr = self._want.get(IpcpOption.IP_ADDRESS)
        r.local_ip = _ip(addr) if addr is not None else "0.0.0.0"  # noqa: S104
        r.dns = tuple(_ip(v) for kind in _DNS_KINDS if (v := self._want.get(kind)) is not None and v != _ZERO)
        return True

    def problem(self) -> str | None:
        """Why the negotiated addresses cannot be used (client role; see the module docstring), or None."""
        if self.server:
            return None
        r = self.result
        local, peer = r.local_ip, r.peer_ip
        why = address_problem(local)
        if why == "no address":
            return "the peer gave us no IP address (0.0.0.0)"
        if why is not None:
            return f"the peer gave us {local} as our address, {why}"
        if local in self.host_addresses:
            return f"the peer gave us {local} as our address, which this host already has"
        why = address_problem(peer)
        if why is not None:
            return f"the peer's own address {peer} is {why}"
        if peer == local:
            return f"the peer gave us its own address {peer}"
        if peer in self.host_addresses:
            return f"the peer's own address {peer} is an address this host already has"
        for server in r.dns:
            why = address_problem(server)
            if why == "a loopback address" and self.loopback_dns:
                continue
            if why is not None:
                hint = " (a loopback name server is used only when given with --dns)" if "loopback" in why else ""
                return f"the peer named the DNS server {server}, {why}{hint}"
        return None

    def on_nak(self, options: list[Option]) -> None:
        """Take the hints of the peer's Nak (its address for us, the DNS servers), each by its rule."""
        wanted = dict(self._want)
        for opt in options:
            rule = IPCP_OPTIONS.get(opt.type)
            if rule is None or not rule.valid(opt.value):
                continue
            new = rule.nak(self, wanted.get(opt.type), opt.value)
            if new is None:
                wanted.pop(opt.type, None)
            else:
                wanted[opt.type] = new
        self._want = {kind: wanted[kind] for kind in IPCP_OPTIONS if kind in wanted}

    def on_reject(self, options: list[Option]) -> None:
        """Stop asking for rejected options; a rejected IP-Address leaves us without one."""
        for opt in options:
            rule = IPCP_OPTIONS.get(opt.type)
            want = self._want.pop(opt.type, None)
            if rule is not None and want is not None:
                reason = rule.reject(self, want)
                if reason is not None:
                    self.failure = reason

    def on_request(self, options: list[Option]) -> Verdict:
        """Judge the peer's request option by option (reject beats nak beats ack)."""
        acks: list[Option] = []
        naks: list[Option] = []
        rejects: list[Option] = []
        his_addr: bytes | None = None
        for opt in options:
            rule = IPCP_OPTIONS.get(opt.type)
            if rule is None or not rule.valid(opt.value):
                rejects.append(opt)
                continue
            answer, hint = rule.judge(self, opt.value)
            if answer == ACK:
                acks.append(opt)
                if opt.type == IpcpOption.IP_ADDRESS:
                    his_addr = opt.value
            elif answer == NAK and hint is not None:
                naks.append(Option(opt.type, hint))
            else:
                rejects.append(opt)
        verdict = verdict_of(acks, naks, rejects)
        if verdict.code == Code.CONFIGURE_ACK:
            self.result.peer_ip = _ip(his_addr) if his_addr else (self.peer_ip or DEFAULT_PEER_IP)
        return verdict
