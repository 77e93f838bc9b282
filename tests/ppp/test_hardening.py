"""A hostile or broken peer at the packet level: every case ends in one clear verdict (issue 12).

Addresses (RFC 1332 / RFC 1122), loopback detection (RFC 1661 section 6.4), overall negotiation
deadlines, MRU floors (RFC 1661 section 6.1), peer text made safe, and the deframer sized from the MRU.
"""

from __future__ import annotations

import dataclasses
import struct

import pytest

from pppos.ppp import hdlc
from pppos.ppp.limits import DEFAULT_MRU, MIN_MRU, frame_bound
from pppos.ppp.link import (
    AuthResult,
    DownCause,
    LinkConfig,
    LinkDown,
    LinkEvent,
    LinkUp,
    PacketReceived,
    PppLink,
)
from pppos.ppp.packets import Code, ControlPacket, LcpOption, Option, PapCode, Protocol
from tests.ppp.pair import CLIENT, SERVER, LinkPair


def cfg(base: LinkConfig, **changes: object) -> LinkConfig:
    return dataclasses.replace(base, **changes)


def run_pair(pair: LinkPair, seconds: float = 300.0) -> None:
    pair.open()
    pair.run(pair.now + seconds, lambda: bool(pair.client.of(LinkDown)) or pair.both_up())


def loop_alone(link: PppLink, now: float = 1000.0) -> list[LinkEvent]:
    """Run ``link`` with its output fed straight back into it: a looped-back line."""
    link.open(now)
    events: list[LinkEvent] = []
    for _ in range(2000):
        data = link.data_to_send()
        if data:
            link.receive_data(data, now)
        elif (deadline := link.get_timer()) is not None:
            now = deadline
            link.handle_timer(now)
        else:
            break
        while (e := link.next_event()) is not None:
            events.append(e)
    return events


# -- loopback -----------------------------------------------------------------------------------


@pytest.mark.parametrize("changes", [{}, {"max_failure": 2}, {"loopback_limit": 30}])
def test_a_looped_line_is_detected_with_default_limits(changes: dict[str, object]) -> None:
    """The Magic-Number Nak is never turned into a Reject, so the option cannot be dropped and the
    line open on itself (it used to come up as 10.64.64.64 <-> 10.64.64.64)."""
    events = loop_alone(PppLink(cfg(CLIENT, **changes)))
    downs = [e for e in events if isinstance(e, LinkDown)]
    assert [e for e in events if isinstance(e, LinkUp)] == []
    assert downs and downs[0].cause is DownCause.LOOPED_BACK
    assert downs[0].reason == "the line is looped back"


def test_a_peer_rejecting_magic_still_comes_up() -> None:
    pair = LinkPair(server=cfg(SERVER, magic=False))
    pair.server.link.lcp_policy.nak_only = frozenset()
    run_pair(pair)
    assert pair.both_up()


# -- addresses ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("server", "client", "verdict"),
    [
        ({"peer_ip": "0.0.0.0"}, {}, "the peer gave us no IP address (0.0.0.0)"),
        ({"peer_ip": "127.0.0.1"}, {}, "127.0.0.1 as our address, a loopback address"),
        ({"peer_ip": "255.255.255.255"}, {}, "the broadcast address"),
        ({"peer_ip": "224.0.0.1"}, {}, "a multicast address"),
        ({"peer_ip": "192.0.2.9"}, {"host_addresses": frozenset({"192.0.2.9", "::1"})}, "this host already has"),
        ({"peer_ip": "10.0.2.2"}, {}, "its own address 10.0.2.2"),
        ({"dns": ("127.0.0.1",)}, {}, "DNS server 127.0.0.1, a loopback address"),
    ],
)
def test_unusable_addresses_fail_ipcp_with_one_verdict(
    server: dict[str, object], client: dict[str, object], verdict: str
) -> None:
    pair = LinkPair(client=cfg(CLIENT, **client), server=cfg(SERVER, **server))
    run_pair(pair)
    assert pair.client.of(LinkUp) == []
    (down,) = pair.client.of(LinkDown)
    assert down.cause is DownCause.NEGOTIATION_FAILED and down.protocol == "IPCP"
    assert verdict in down.reason


def test_a_loopback_dns_is_taken_when_the_user_allowed_it() -> None:
    pair = LinkPair(client=cfg(CLIENT, loopback_dns=True), server=cfg(SERVER, dns=("127.0.0.53",)))
    run_pair(pair)
    assert pair.client.of(LinkUp)[0].dns == ("127.0.0.53",)


# -- MRU and deadlines --------------------------------------------------------------------------


@pytest.mark.parametrize("mru", [0, 1, 64, MIN_MRU - 1])
def test_a_peer_insisting_on_a_tiny_mru_fails_quickly(mru: int) -> None:
    pair = LinkPair()
    insisting = [Option(LcpOption.MRU, struct.pack("!H", mru))]
    pair.server.link.lcp_policy.request = lambda: list(insisting)  # type: ignore[method-assign]
    pair.server.link.lcp_policy.on_reject = lambda options: None  # type: ignore[method-assign]
    pair.server.link.lcp_policy.on_nak = lambda options: None  # type: ignore[method-assign]
    run_pair(pair, 10.0)  # well within the Restart timer: the verdict needs no timeout
    (down,) = pair.client.of(LinkDown)
    assert down.cause is DownCause.NEGOTIATION_FAILED and down.protocol == "LCP"
    assert f"the peer insists on <mru {mru}>" in down.reason
    assert pair.client.link.lcp_policy.result.his_mru >= MIN_MRU  # never accepted


def test_a_nak_of_our_mru_below_the_floor_is_clamped() -> None:
    link = PppLink(CLIENT)
    link.lcp_policy.on_nak([Option(LcpOption.MRU, b"\x00\x01")])
    assert link.lcp_policy.request()[0] == Option(LcpOption.MRU, struct.pack("!H", MIN_MRU))


def test_lcp_has_an_overall_deadline() -> None:
    pair = LinkPair(client=cfg(CLIENT, lcp_timeout=5.0))
    pair.server.link.lcp.receive = lambda pkt, now: None  # type: ignore[method-assign]
    run_pair(pair, 100.0)
    (down,) = pair.client.of(LinkDown)
    assert down.reason == "no agreement within 5 s" and down.protocol == "LCP"


def test_ipcp_has_an_overall_deadline() -> None:
    pair = LinkPair(client=cfg(CLIENT, ncp_timeout=5.0))
    pair.server.link.ipcp.receive = lambda pkt, now: None  # type: ignore[method-assign]
    run_pair(pair, 100.0)
    (down,) = pair.client.of(LinkDown)
    assert down.reason == "no agreement within 5 s" and down.protocol == "IPCP"
    assert pair.client.of(LinkUp) == []


def test_ipv6cp_missing_its_deadline_leaves_ipv4_up() -> None:
    pair = LinkPair(client=cfg(CLIENT, ncp_timeout=5.0))
    pair.server.link.ipv6cp.receive = lambda pkt, now: None  # type: ignore[method-assign]
    pair.open()
    pair.run(pair.now + 100.0)
    assert pair.client.of(LinkDown) == [] and pair.client.link.is_up
    (up,) = pair.client.of(LinkUp)
    assert up.ipv6_local is None
    assert not pair.client.link.ipv6cp.is_open


# -- frame sizes --------------------------------------------------------------------------------


def test_the_deframer_follows_the_negotiated_mru() -> None:
    big = cfg(CLIENT, mru=4000)
    pair = LinkPair(client=big, server=cfg(SERVER, mru=4000))
    run_pair(pair)
    assert pair.both_up()
    assert pair.client.link._deframer.max_frame == frame_bound(4000)
    packet = bytes([0x45]) + bytes(3999)
    assert pair.server.link.send_ip(packet, pair.now)
    assert pair.client.link.send_ip(packet, pair.now)
    pair.transfer()
    got = [e.packet for e in pair.client.of(PacketReceived)]
    assert got == [packet]
    assert [e.packet for e in pair.server.of(PacketReceived)] == [packet]


def test_frames_over_our_mru_are_dropped_and_counted() -> None:
    pair = LinkPair()
    run_pair(pair)
    assert pair.client.link._deframer.max_frame == frame_bound(DEFAULT_MRU)
    frame = hdlc.encode_frame(Protocol.IP, bytes([0x45]) + bytes(DEFAULT_MRU + 100))
    pair.client.link.receive_data(frame, pair.now)
    assert pair.client.link.stats.bad_frames == 1


# -- peer text ----------------------------------------------------------------------------------

HOSTILE = b"\x1b[2J\x1b]0;pwned\x07no\r\nfake line\xe2\x80\xae\xff"


def _assert_safe(text: str) -> None:
    assert text.isprintable(), text
    assert "\x1b" not in text and "\n" not in text and "\u202e" not in text


def test_pap_refusal_text_is_made_safe() -> None:
    pair = LinkPair(client=cfg(CLIENT, username="u", password="wrong"),
                    server=cfg(SERVER, require_auth="pap", auth_secrets={"u": "right"}))
    server = pair.server.link
    original = server._flush

    def hostile_flush(now: float) -> None:
        if server._auth_server is not None:
            out = server._auth_server._out
            for i, payload in enumerate(out):
                if payload[0] == PapCode.AUTHENTICATE_NAK:
                    out[i] = ControlPacket(PapCode.AUTHENTICATE_NAK, payload[1],
                                           bytes([len(HOSTILE)]) + HOSTILE).encode()
        original(now)

    server._flush = hostile_flush  # type: ignore[method-assign]
    run_pair(pair)
    (result,) = [r for r in pair.client.of(AuthResult) if not r.authenticator]
    _assert_safe(result.message)
    assert "\\x1b[2J" in result.message
    (down,) = pair.client.of(LinkDown)
    _assert_safe(down.reason)
    assert down.cause is DownCause.AUTH_FAILED


def test_terminate_reason_is_made_safe() -> None:
    pair = LinkPair()
    run_pair(pair)
    term = ControlPacket(Code.TERMINATE_REQUEST, 77, HOSTILE).encode()
    pair.client.link.receive_data(hdlc.encode_frame(Protocol.LCP, term), pair.now)
    pair.transfer()
    (down,) = pair.client.of(LinkDown)
    _assert_safe(down.reason)
    assert down.reason.startswith("peer terminated the link: \\x1b[2J")
    assert any("TermReq" in line and "\\x1b" in line for line in pair.client.trace)
