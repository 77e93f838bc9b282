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

The RFC 1661 Max-Failure for IPCP is raised to 100 by the link (stalling 3G modems repeat Naks).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from pppos.ppp.lcp import OptionPolicy, Verdict, verdict_of
from pppos.ppp.packets import Code, IpcpOption, Option

__all__ = ["DEFAULT_PEER_IP", "IpcpPolicy", "IpcpResult", "address_problem"]

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


class IpcpPolicy(OptionPolicy):
    """IPCP option negotiation (see the module docstring for the rules of each role)."""

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
        self.reset()

    def reset(self) -> None:
        """Want our address (0.0.0.0 to be told) and both DNS servers again."""
        self.failure = None
        self._want_addr: bytes | None = _packed(self.local_ip)
        self._want_dns: dict[int, bytes] = (
            {IpcpOption.PRIMARY_DNS: _ZERO, IpcpOption.SECONDARY_DNS: _ZERO} if self.request_dns else {}
        )
        # Our side starts over; the peer's acked address stays until its next request is judged.
        self.result.local_ip = "0.0.0.0"  # noqa: S104 - an address value, not a bind
        self.result.dns = ()

    def request(self) -> list[Option]:
        """IP-Address, then Primary and Secondary DNS (client role only)."""
        opts: list[Option] = []
        if self._want_addr is not None:
            opts.append(Option(IpcpOption.IP_ADDRESS, self._want_addr))
        opts.extend(Option(kind, value) for kind, value in self._want_dns.items())
        return opts

    def on_ack(self, options: list[Option]) -> bool:
        """Accept an Ack that echoes our request; a still-zero address is not acceptable."""
        if not super().on_ack(options):
            return False
        r = self.result
        r.local_ip = _ip(self._want_addr) if self._want_addr is not None else "0.0.0.0"  # noqa: S104
        r.dns = tuple(_ip(v) for v in self._want_dns.values() if v != _ZERO)
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
        """Take the address and DNS servers the peer Naks to."""
        for opt in options:
            if len(opt.value) != 4:
                continue
            if opt.type == IpcpOption.IP_ADDRESS and self._want_addr is not None:
                if not self.server or opt.value != _ZERO:
                    self._want_addr = opt.value
            elif opt.type in self._want_dns:
                self._want_dns[opt.type] = opt.value

    def on_reject(self, options: list[Option]) -> None:
        """Stop asking for rejected options; a rejected IP-Address leaves us without one."""
        for opt in options:
            if opt.type == IpcpOption.IP_ADDRESS:
                if self._want_addr == _ZERO:
                    self.failure = "peer rejected the IP-Address option: no address for us"
                self._want_addr = None
            else:
                self._want_dns.pop(opt.type, None)

    def on_request(self, options: list[Option]) -> Verdict:
        """Judge the peer's request: its address, DNS requests (server role), reject the rest."""
        acks: list[Option] = []
        naks: list[Option] = []
        rejects: list[Option] = []
        his_addr: bytes | None = None
        for opt in options:
            v = opt.value
            if opt.type == IpcpOption.IP_ADDRESS and len(v) == 4:
                if self.server:
                    assigned = _packed(self.peer_ip)
                    if v != assigned:
                        naks.append(Option(opt.type, assigned))
                    else:
                        his_addr = v
                        acks.append(opt)
                elif v == _ZERO:
                    # The peer wants us to name its address (slirp does; it closes IPCP on a reject):
                    # offer the configured peer address or the 10.64.64.64 convention.
                    naks.append(Option(opt.type, _packed(self.peer_ip or DEFAULT_PEER_IP)))
                else:
                    his_addr = v
                    acks.append(opt)
            elif opt.type in (IpcpOption.PRIMARY_DNS, IpcpOption.SECONDARY_DNS) and len(v) == 4 and self.server:
                index = 0 if opt.type == IpcpOption.PRIMARY_DNS else 1
                if index >= len(self.dns):
                    rejects.append(opt)
                    continue
                server_dns = _packed(self.dns[index])
                if v != server_dns:
                    naks.append(Option(opt.type, server_dns))
                else:
                    acks.append(opt)
            else:
                rejects.append(opt)  # VJ (2), IP-Addresses (1), NBNS (130/132), unknown
        verdict = verdict_of(acks, naks, rejects)
        if verdict.code == Code.CONFIGURE_ACK:
            self.result.peer_ip = _ip(his_addr) if his_addr else (self.peer_ip or DEFAULT_PEER_IP)
        return verdict
