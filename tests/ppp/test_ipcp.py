"""IPCP (RFC 1332, RFC 1877) and IPv6CP (RFC 5072) option policies, and a stalling-NAK peer on a link."""

from __future__ import annotations

import dataclasses
import ipaddress
import random

import pytest

from pppos.ppp.ipcp import DEFAULT_PEER_IP, IpcpPolicy
from pppos.ppp.ipv6cp import Ipv6cpPolicy, link_local
from pppos.ppp.link import LinkUp
from pppos.ppp.packets import Code, IpcpOption, Ipv6cpOption, Option
from tests.ppp.pair import CLIENT, SERVER, LinkPair


def ip(kind: int, address: str) -> Option:
    return Option(kind, ipaddress.IPv4Address(address).packed)


ADDR = IpcpOption.IP_ADDRESS
DNS1 = IpcpOption.PRIMARY_DNS
DNS2 = IpcpOption.SECONDARY_DNS
VJ = Option(IpcpOption.IP_COMPRESSION, b"\x00\x2d\x0f\x01")


def test_client_asks_zero_address_and_both_dns() -> None:
    assert IpcpPolicy().request() == [ip(ADDR, "0.0.0.0"), ip(DNS1, "0.0.0.0"), ip(DNS2, "0.0.0.0")]
    assert IpcpPolicy(request_dns=False).request() == [ip(ADDR, "0.0.0.0")]
    assert IpcpPolicy(local_ip="192.0.2.7").request()[0] == ip(ADDR, "192.0.2.7")


def test_client_takes_the_nak_and_drops_zero_dns() -> None:
    p = IpcpPolicy()
    p.on_nak([ip(ADDR, "100.64.1.2"), ip(DNS1, "151.5.216.30"), ip(DNS2, "0.0.0.0")])
    req = p.request()
    assert req == [ip(ADDR, "100.64.1.2"), ip(DNS1, "151.5.216.30"), ip(DNS2, "0.0.0.0")]
    assert p.on_ack(req)
    assert p.result.local_ip == "100.64.1.2" and p.result.dns == ("151.5.216.30",)
    assert p.failure is None


def test_client_without_dns_from_peer() -> None:
    p = IpcpPolicy()
    p.on_nak([ip(ADDR, "10.1.2.3")])
    p.on_reject([ip(DNS1, "0.0.0.0"), ip(DNS2, "0.0.0.0")])
    assert p.request() == [ip(ADDR, "10.1.2.3")]
    assert p.on_ack(p.request()) and p.result.dns == ()


def test_acked_zero_address_or_rejected_address_is_a_failure() -> None:
    p = IpcpPolicy()
    assert p.on_ack(p.request()) and p.problem() == "the peer gave us no IP address (0.0.0.0)"
    q = IpcpPolicy()
    q.on_reject([ip(ADDR, "0.0.0.0")])
    assert q.failure


@pytest.mark.parametrize(
    ("options", "code", "reply"),
    [
        ([ip(ADDR, "192.168.254.254")], Code.CONFIGURE_ACK, None),  # SIM800L names itself
        ([ip(ADDR, "0.0.0.0"), VJ], Code.CONFIGURE_REJECT, [VJ]),  # slirp: VJ never accepted
        ([ip(ADDR, "0.0.0.0")], Code.CONFIGURE_NAK, [ip(ADDR, DEFAULT_PEER_IP)]),
        ([ip(130, "0.0.0.0"), ip(132, "0.0.0.0")], Code.CONFIGURE_REJECT, [ip(130, "0.0.0.0"), ip(132, "0.0.0.0")]),
        ([ip(DNS1, "0.0.0.0")], Code.CONFIGURE_REJECT, [ip(DNS1, "0.0.0.0")]),  # we serve no DNS as a client
        ([Option(1, bytes(8))], Code.CONFIGURE_REJECT, [Option(1, bytes(8))]),
        ([], Code.CONFIGURE_ACK, None),
    ],
)
def test_client_judges_peer_requests(options: list[Option], code: Code, reply: list[Option] | None) -> None:
    p = IpcpPolicy()
    verdict = p.on_request(options)
    assert verdict.code == code
    assert verdict.options == (options if reply is None else reply)


def test_peer_without_address_gets_the_pppd_convention() -> None:
    p = IpcpPolicy()
    p.on_request([])
    assert p.result.peer_ip == "10.64.64.64"
    p.on_request([ip(ADDR, "192.168.254.254")])
    assert p.result.peer_ip == "192.168.254.254"


def test_server_assigns_address_and_dns() -> None:
    s = IpcpPolicy(server=True, local_ip="10.0.2.2", peer_ip="10.0.2.15", dns=("10.0.2.3",))
    assert s.request() == [ip(ADDR, "10.0.2.2")]
    v = s.on_request([ip(ADDR, "0.0.0.0"), ip(DNS1, "0.0.0.0"), ip(DNS2, "0.0.0.0")])
    assert v.code == Code.CONFIGURE_REJECT and v.options == [ip(DNS2, "0.0.0.0")]  # only one DNS configured
    v = s.on_request([ip(ADDR, "0.0.0.0"), ip(DNS1, "0.0.0.0")])
    assert v.code == Code.CONFIGURE_NAK and v.options == [ip(ADDR, "10.0.2.15"), ip(DNS1, "10.0.2.3")]
    v = s.on_request([ip(ADDR, "10.0.2.15"), ip(DNS1, "10.0.2.3")])
    assert v.code == Code.CONFIGURE_ACK and s.result.peer_ip == "10.0.2.15"
    with pytest.raises(ValueError, match="server"):
        IpcpPolicy(server=True)


def test_stalling_modem_naks_sixty_times_then_the_link_comes_up() -> None:
    # Some 3G modems repeat IPCP Naks until the network answers (pppd/lwIP allow 100 loops).
    pair = LinkPair(client=CLIENT, server=dataclasses.replace(SERVER, ipv6=False))
    server_ipcp = pair.server.link.ipcp_policy
    original = server_ipcp.on_request
    stalls = {"left": 60}

    def stalling(options: list[Option]):
        if stalls["left"] > 0:
            stalls["left"] -= 1
            return original([ip(ADDR, "1.1.1.1")])  # a Nak back to 0.0.0.0-style "not yet"
        return original(options)

    server_ipcp.on_request = stalling  # type: ignore[method-assign]
    pair.open()
    assert pair.run(pair.now + 60.0, pair.both_up)
    assert stalls["left"] == 0
    assert pair.client.of(LinkUp)[0].local_ip == "10.0.2.15"


# -- IPv6CP -------------------------------------------------------------------------------------


def iid(value: int) -> Option:
    return Option(Ipv6cpOption.INTERFACE_IDENTIFIER, value.to_bytes(8, "big"))


def test_ipv6cp_proposes_random_nonzero_identifier() -> None:
    p = Ipv6cpPolicy(rng=random.Random(1))
    (opt,) = p.request()
    assert opt.type == 1 and int.from_bytes(opt.value, "big") != 0
    assert Ipv6cpPolicy(identifier=0x1234).request() == [iid(0x1234)]


def test_ipv6cp_collision_and_zero_are_naked_with_a_different_value() -> None:
    p = Ipv6cpPolicy(identifier=0x1111, rng=random.Random(2))
    for proposal in (0, 0x1111):
        v = p.on_request([iid(proposal)])
        assert v.code == Code.CONFIGURE_NAK
        suggested = int.from_bytes(v.options[0].value, "big")
        assert suggested not in (0, 0x1111)
    v = p.on_request([iid(0x2222), Option(2, b"\x00\x4f")])
    assert v.code == Code.CONFIGURE_REJECT and v.options == [Option(2, b"\x00\x4f")]
    assert p.on_request([iid(0x2222)]).code == Code.CONFIGURE_ACK
    assert p.result.peer_id == 0x2222


def test_ipv6cp_nak_adopts_suggestion_and_addresses_are_link_local() -> None:
    p = Ipv6cpPolicy(identifier=0x1111, rng=random.Random(3))
    p.on_nak([iid(0xABCD)])
    assert p.request() == [iid(0xABCD)]
    assert p.on_ack([iid(0xABCD)])
    p.on_request([iid(0x0200_5EFF_FE00_5301)])
    assert p.result.local_address == "fe80::abcd"
    assert p.result.peer_address == "fe80::200:5eff:fe00:5301"
    assert link_local(1) == "fe80::1"


def test_ipv6cp_rejected_identifier_fails() -> None:
    p = Ipv6cpPolicy()
    p.on_reject(p.request())
    assert p.failure and p.request() == []


def _negotiated(local: str, peer: str = "10.64.64.1", dns: tuple[str, ...] = (), **kw: object) -> IpcpPolicy:
    p = IpcpPolicy(**kw)  # type: ignore[arg-type]
    p.on_nak([ip(ADDR, local), *(ip(kind, d) for kind, d in zip((DNS1, DNS2), dns, strict=False))])
    if len(dns) < 2:
        p.on_reject([ip(kind, "0.0.0.0") for kind in (DNS1, DNS2)[len(dns):]])
    assert p.on_ack(p.request())
    assert p.on_request([ip(ADDR, peer)]).code == Code.CONFIGURE_ACK
    return p


@pytest.mark.parametrize(
    ("local", "peer", "dns", "kw", "verdict"),
    [
        ("10.1.2.3", "10.64.64.1", ("192.0.2.53",), {}, None),
        ("127.0.0.1", "10.64.64.1", (), {}, "the peer gave us 127.0.0.1 as our address, a loopback address"),
        ("255.255.255.255", "10.64.64.1", (), {}, "255.255.255.255 as our address, the broadcast address"),
        ("224.0.0.1", "10.64.64.1", (), {}, "224.0.0.1 as our address, a multicast address"),
        ("240.0.0.9", "10.64.64.1", (), {}, "a reserved (240/4) address"),
        ("0.1.2.3", "10.64.64.1", (), {}, "in 0.0.0.0/8"),
        ("192.0.2.7", "10.64.64.1", (), {"host_addresses": frozenset({"192.0.2.7"})}, "which this host already has"),
        ("10.1.2.3", "10.1.2.3", (), {}, "the peer gave us its own address 10.1.2.3"),
        ("10.1.2.3", "127.0.0.2", (), {}, "the peer's own address 127.0.0.2 is a loopback address"),
        ("10.1.2.3", "192.0.2.7", (), {"host_addresses": frozenset({"192.0.2.7"})}, "this host already has"),
        ("10.1.2.3", "10.64.64.1", ("127.0.0.1",), {}, "DNS server 127.0.0.1, a loopback address"),
        ("10.1.2.3", "10.64.64.1", ("127.0.0.53",), {"loopback_dns": True}, None),
        ("10.1.2.3", "10.64.64.1", ("192.0.2.53", "224.0.0.251"), {}, "DNS server 224.0.0.251, a multicast"),
    ],
)
def test_addresses_from_the_peer_must_be_usable_unicast(
    local: str, peer: str, dns: tuple[str, ...], kw: dict[str, object], verdict: str | None
) -> None:
    problem = _negotiated(local, peer, dns, **kw).problem()
    if verdict is None:
        assert problem is None
    else:
        assert problem is not None and verdict in problem


def test_the_server_role_trusts_its_own_configuration() -> None:
    p = IpcpPolicy(server=True, local_ip="10.0.0.1", peer_ip="10.0.0.2")
    assert p.problem() is None


@pytest.mark.parametrize("kind", [ADDR, DNS1, DNS2])
@pytest.mark.parametrize("server", [False, True])
def test_a_malformed_known_option_is_rejected(kind: int, server: bool) -> None:
    from pppos.ppp.packets import Option

    p = IpcpPolicy(server=server, local_ip="10.0.0.1", peer_ip="10.0.0.2", dns=("10.0.0.3", "10.0.0.4"))
    bad = Option(kind, b"\x0a\x00\x00")
    verdict = p.on_request([bad])
    assert (verdict.code, verdict.options) == (Code.CONFIGURE_REJECT, [bad])
    p.on_nak([bad])  # a malformed hint changes nothing
    assert p.request() == IpcpPolicy(server=server, local_ip="10.0.0.1", peer_ip="10.0.0.2").request()


def test_every_ipcp_rule_has_a_trace_format() -> None:
    from pppos.ppp.ipcp import IPCP_OPTIONS
    from pppos.ppp.packets import Option, Protocol, encode_options
    from pppos.ppp.trace import format_options

    shown = format_options(Protocol.IPCP, encode_options([Option(k, bytes(8 if k == 1 else 4)) for k in IPCP_OPTIONS]))
    assert shown == ("<addr 0.0.0.0> <ms-dns1 0.0.0.0> <ms-dns2 0.0.0.0> <compress 0x0 00 00> "
                     "<addrs 0.0.0.0 0.0.0.0> <ms-wins 0.0.0.0> <ms-wins 0.0.0.0>")
