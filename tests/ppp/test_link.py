"""PppLink back to back (tests/ppp/pair.py): phases, LinkUp/LinkDown, loss and the restart timer,
PAP/CHAP, keepalive, terminate both ways, IP both versions, rejects, loopback, framing rules, and every
control frame we emit checked against scapy's dissector (RFC 1661, 1662, 1332, 1877, 1334, 1994, 5072).
"""

from __future__ import annotations

import dataclasses
import random
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.ppp import (
    HDLC,
    PPP,
    PPP_CHAP,
    PPP_IPCP,
    PPP_LCP,
    PPP_PAP,
    PPP_LCP_Configure,
)

from pppos.errors import ConfigError, LocalProtocolError
from pppos.ppp import hdlc
from pppos.ppp.link import (
    AuthResult,
    DownCause,
    EchoRtt,
    LinkConfig,
    LinkDown,
    LinkUp,
    PacketReceived,
    Phase,
    PhaseChanged,
    PppLink,
    Role,
)
from pppos.ppp.packets import Code, ControlPacket, Protocol, decode_options, decode_packet, split_protocol
from tests.ppp.pair import CLIENT, SERVER, LinkPair

UP_DEADLINE = 60.0


def cfg(base: LinkConfig, **changes: object) -> LinkConfig:
    return dataclasses.replace(base, **changes)


def open_pair(**kwargs: object) -> LinkPair:
    pair = LinkPair(**kwargs)  # type: ignore[arg-type]
    pair.open()
    assert pair.run(pair.now + UP_DEADLINE, pair.both_up), "link did not come up"
    return pair


def control_frames(side_frames: list[tuple[float, bool, bytes]], outbound: bool = True) -> list[tuple[int, bytes]]:
    out = []
    for _, direction, frame in side_frames:
        if direction is not outbound:
            continue
        split = split_protocol(frame)
        assert split is not None
        if split[0] in (Protocol.LCP, Protocol.IPCP, Protocol.IPV6CP, Protocol.PAP, Protocol.CHAP):
            out.append(split)
    return out


# -- coming up ----------------------------------------------------------------------------------


def test_client_and_server_come_up_with_addresses_and_dns() -> None:
    pair = open_pair()
    (up,) = pair.client.of(LinkUp)
    assert (up.local_ip, up.peer_ip, up.dns, up.mtu) == ("10.0.2.15", "10.0.2.2", ("10.0.2.3", "10.0.2.4"), 1500)
    assert up.ipv6_local is not None and up.ipv6_local.startswith("fe80::")
    (sup,) = pair.server.of(LinkUp)
    assert (sup.local_ip, sup.peer_ip) == ("10.0.2.2", "10.0.2.15")
    assert sup.ipv6_local == up.ipv6_peer and sup.ipv6_peer == up.ipv6_local
    phases = [e.phase for e in pair.client.of(PhaseChanged)]
    assert phases == [Phase.ESTABLISH, Phase.NETWORK]
    assert pair.now == 1000.0  # no loss: no timer needed
    assert pair.client.link.phase is Phase.NETWORK


def test_trace_lines_are_pppd_style() -> None:
    pair = open_pair()
    first = pair.client.trace[0]
    assert first.startswith("sent [LCP ConfReq id=0x1 <mru 1500> <asyncmap 0x0> <magic 0x")
    assert first.endswith("<pcomp> <accomp>]")
    assert "rcvd [IPCP ConfNak id=0x1 <addr 10.0.2.15> <ms-dns1 10.0.2.3> <ms-dns2 10.0.2.4>]" in pair.client.trace


def test_byte_by_byte_delivery_comes_up() -> None:
    client, server = PppLink(CLIENT), PppLink(SERVER)
    now = 1000.0
    server.open(now)
    client.open(now)
    for _ in range(50):
        for src, dst in ((client, server), (server, client)):
            for b in src.data_to_send():
                dst.receive_data(bytes((b,)), now)
        if client.is_up and server.is_up:
            break
    assert client.is_up and server.is_up


def test_first_confreq_lost_recovers_by_restart_timer() -> None:
    pair = LinkPair(drop=lambda direction, index, frame: direction == "c2s" and index == 0)
    pair.open()
    assert pair.run(pair.now + UP_DEADLINE, pair.both_up)
    assert pair.now == pytest.approx(1003.0)  # exactly one restart period (RFC 1661 section 4.6)
    confreqs = [line for line in pair.client.trace if line.startswith("sent [LCP ConfReq")]
    assert len(confreqs) == 2
    # The retransmission of unchanged options keeps its identifier (RFC 1661 section 5.1).
    assert confreqs[0].split()[3] == confreqs[1].split()[3] == "id=0x1"


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_random_loss_still_comes_up(seed: int) -> None:
    rng = random.Random(seed)
    pair = LinkPair(drop=lambda direction, index, frame: rng.random() < 0.3)
    pair.open()
    assert pair.run(pair.now + 120.0, pair.both_up)
    assert any(not delivered for _, _, delivered in pair.wire)
    assert pair.client.of(LinkUp)[0].local_ip == "10.0.2.15"


def test_silent_peer_fails_lcp_after_max_configure() -> None:
    link = PppLink(CLIENT)
    now = 1000.0
    link.open(now)
    sent = 0
    while link.get_timer() is not None:
        sent += link.data_to_send().count(b"\x7e\xff\x7d\x23\xc0\x21\x7d\x21") and 1
        now = link.get_timer()
        link.handle_timer(now)
    events = []
    while (e := link.next_event()) is not None:
        events.append(e)
    downs = [e for e in events if isinstance(e, LinkDown)]
    assert downs == [LinkDown(cause=DownCause.NEGOTIATION_FAILED, reason="LCP negotiation failed", protocol="LCP")]
    assert now == pytest.approx(1030.0)  # 10 Configure-Requests, 3 s apart, TO- after the tenth
    assert link.phase is Phase.DEAD
    assert sent == 10


# -- authentication -----------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", ["pap", "chap"])
def test_auth_right_secret(protocol: str) -> None:
    server = cfg(SERVER, require_auth=protocol, auth_secrets={"modem": "s3cret-pw"})
    client = cfg(CLIENT, username="modem", password="s3cret-pw")
    pair = open_pair(client=client, server=server)
    assert pair.client.of(AuthResult) == [
        AuthResult(ok=True, protocol=protocol, message=pair.client.of(AuthResult)[0].message)
    ]
    assert pair.server.of(AuthResult)[0].ok and pair.server.of(AuthResult)[0].authenticator
    phases = [e.phase for e in pair.client.of(PhaseChanged)]
    assert phases == [Phase.ESTABLISH, Phase.AUTHENTICATE, Phase.NETWORK]
    everything = "\n".join(pair.client.trace + pair.server.trace)
    assert "s3cret-pw" not in everything
    assert "s3cret-pw" not in repr(client) and "s3cret-pw" not in repr(server)
    assert "s3cret-pw" not in repr(pair.client.link.__dict__.get("_auth_peer"))
    label = "PAP" if protocol == "pap" else "CHAP"
    assert any(line.startswith(f"sent [{label} ") for line in pair.client.trace)
    if protocol == "pap":
        assert 'sent [PAP AuthReq id=0x1 user="modem" password=<hidden>]' in pair.client.trace
    else:
        assert any(
            line.startswith("sent [CHAP Response id=") and '<hidden>, name = "modem"' in line
            for line in pair.client.trace
        )


@pytest.mark.parametrize("protocol", ["pap", "chap"])
def test_auth_wrong_secret_fails_both_sides(protocol: str) -> None:
    server = cfg(SERVER, require_auth=protocol, auth_secrets={"modem": "right"})
    client = cfg(CLIENT, username="modem", password="wrong")
    pair = LinkPair(client=client, server=server)
    pair.open()
    pair.run(pair.now + 30.0)
    assert not pair.client.link.is_up
    (result,) = pair.client.of(AuthResult)
    assert not result.ok and result.protocol == protocol
    (down,) = pair.client.of(LinkDown)
    assert down.cause in (DownCause.AUTH_FAILED, DownCause.PEER_TERMINATED)
    (sdown,) = pair.server.of(LinkDown)
    assert sdown.cause is DownCause.AUTH_FAILED
    assert pair.client.link.phase is Phase.DEAD and pair.server.link.phase is Phase.DEAD
    assert "right" not in "\n".join(pair.server.trace) and "wrong" not in "\n".join(pair.client.trace)


def test_client_never_asks_the_modem_to_authenticate() -> None:
    pair = open_pair()
    confreqs = 0
    for protocol, payload in control_frames(pair.client.frames):
        pkt = decode_packet(payload)
        if protocol == Protocol.LCP and pkt is not None and pkt.code == Code.CONFIGURE_REQUEST:
            confreqs += 1
            assert all(o.type != 3 for o in decode_options(pkt.data) or [])
    assert confreqs == 1


def test_chap_rechallenge_keeps_the_link_up() -> None:
    server = cfg(SERVER, require_auth="chap", auth_secrets={"modem": "pw"}, chap_rechallenge=10.0)
    client = cfg(CLIENT, username="modem", password="pw")
    pair = open_pair(client=client, server=server)
    pair.run_for(35.0)
    assert pair.client.link.is_up
    assert len([r for r in pair.server.of(AuthResult) if r.ok]) == 4  # initial + 3 re-challenges
    assert not pair.client.of(LinkDown)


# -- keepalive ----------------------------------------------------------------------------------


def test_echo_measures_rtt_while_the_peer_answers() -> None:
    pair = open_pair(client=cfg(CLIENT, echo_interval=5.0, echo_failures=3))
    pair.run_for(16.0)
    rtts = pair.client.of(EchoRtt)
    assert len(rtts) == 3 and all(r.seconds == 0.0 for r in rtts)
    assert pair.client.link.stats.echo_replies == 3
    assert any(line.startswith("sent [LCP EchoReq id=0x1 magic=0x") for line in pair.client.trace)
    assert pair.client.link.is_up


def test_echo_timeout_declares_the_link_dead() -> None:
    cut = {"at": None}

    def drop(direction: str, index: int, frame: bytes) -> bool:
        return cut["at"] is not None and direction == "s2c"

    pair = open_pair(client=cfg(CLIENT, echo_interval=5.0, echo_failures=3), drop=drop)
    start = pair.now
    cut["at"] = start
    pair.run(start + 60.0, lambda: bool(pair.client.of(LinkDown)))
    (down,) = pair.client.of(LinkDown)
    assert down.cause is DownCause.ECHO_TIMEOUT
    assert "3 LCP Echo-Requests" in down.reason
    # Requests at +5, +10, +15 go unanswered; the tick at +20 = (3 + 1) x 5 declares the link dead.
    assert pair.now == pytest.approx(start + 20.0)
    assert pair.client.link.stats.echo_requests == 3


# -- terminate ----------------------------------------------------------------------------------


def test_client_close_terminates_both_sides() -> None:
    pair = open_pair()
    pair.client.link.close(pair.now, "User request")
    pair.run_for(10.0)
    assert pair.client.of(LinkDown) == [LinkDown(cause=DownCause.LOCAL_CLOSE, reason="User request")]
    (sdown,) = pair.server.of(LinkDown)
    assert sdown.cause is DownCause.PEER_TERMINATED
    assert pair.client.link.phase is Phase.DEAD and pair.server.link.phase is Phase.DEAD
    assert 'sent [LCP TermReq id=0x2 "User request"]' in pair.client.trace
    assert any(line.startswith("sent [LCP TermAck") for line in pair.server.trace)
    assert pair.client.link.send_ip(bytes(IP(dst="10.0.2.2") / UDP()), pair.now) is False


def test_server_close_terminates_both_sides() -> None:
    pair = open_pair()
    pair.server.link.close(pair.now, "bye")
    pair.run_for(10.0)
    assert pair.server.of(LinkDown)[0].cause is DownCause.LOCAL_CLOSE
    assert pair.client.of(LinkDown) == [
        LinkDown(cause=DownCause.PEER_TERMINATED, reason="peer terminated the link: bye")
    ]
    assert [e.phase for e in pair.client.of(PhaseChanged)][-2:] == [Phase.TERMINATE, Phase.DEAD]


def test_link_can_reopen_after_dead() -> None:
    pair = open_pair()
    pair.client.link.close(pair.now)
    pair.run_for(10.0)
    pair.open()
    assert pair.run(pair.now + UP_DEADLINE, pair.both_up)
    assert len(pair.client.of(LinkUp)) == 2


# -- data ---------------------------------------------------------------------------------------


def test_ip_packets_flow_both_ways_v4_and_v6() -> None:
    pair = open_pair()
    v4 = bytes(IP(src="10.0.2.15", dst="10.0.2.2") / UDP(sport=1000, dport=2000) / b"hello \x7e\x7d\x11")
    assert pair.client.link.send_ip(v4, pair.now)
    up = pair.client.of(LinkUp)[0]
    v6 = bytes(IPv6(src=up.ipv6_local, dst=up.ipv6_peer) / UDP(sport=1, dport=2) / b"six")
    assert pair.client.link.send_ip(v6, pair.now)
    back = bytes(IP(src="10.0.2.2", dst="10.0.2.15") / UDP(sport=2000, dport=1000) / b"reply")
    assert pair.server.link.send_ip(back, pair.now)
    pair.transfer()
    assert pair.server.of(PacketReceived) == [
        PacketReceived(packet=v4, version=4),
        PacketReceived(packet=v6, version=6),
    ]
    assert pair.client.of(PacketReceived) == [PacketReceived(packet=back, version=4)]
    stats = pair.client.link.stats
    assert (stats.packets_out, stats.packets_in, stats.ip_bytes_out) == (2, 1, len(v4) + len(v6))
    assert stats.bad_frames == 0


def test_send_ip_before_up_is_dropped_and_counted() -> None:
    link = PppLink(CLIENT)
    link.open(0.0)
    assert link.send_ip(bytes(IP() / UDP()), 0.0) is False
    assert link.send_ip(b"", 0.0) is False
    assert link.stats.dropped_out == 2


def test_ip_frames_use_negotiated_compression_and_lcp_config_frames_do_not() -> None:
    pair = open_pair()
    pair.client.link.send_ip(bytes(IP(dst="10.0.2.2") / UDP()), pair.now)
    pair.client.link.close(pair.now)
    pair.transfer()
    ip_frames = [f for _, out, f in pair.client.frames if out and split_protocol(f)[0] == Protocol.IP]
    assert ip_frames and ip_frames[0][0] == 0x21  # ACFC and PFC: the frame starts with the 1-octet protocol
    term = [
        f for _, out, f in pair.client.frames if out and f[:4] == b"\xff\x03\xc0\x21" and f[4] == Code.TERMINATE_REQUEST
    ]
    assert term  # codes 1-7 keep the full header (RFC 1661 section 5 / RFC 1662 section 7.1)
    # On the wire: the IP frame uses ACCM 0 (no escaped control characters), LCP codes 1-7 use all-ones.
    ip_wire = hdlc.encode_frame(Protocol.IP, bytes(IP(dst="10.0.2.2") / UDP()), accm=0, acfc=True, pfc=True)
    assert ip_wire in b"".join(f for d, f, _ in pair.wire if d == "c2s")


def test_unknown_protocol_gets_protocol_reject_and_unknown_code_gets_code_reject() -> None:
    pair = open_pair()
    ccp = hdlc.encode_frame(Protocol.CCP, ControlPacket(1, 1, b"\x12\x06\x00\x00\x00\x01").encode())
    pair.client.link.receive_data(ccp, pair.now)
    weird = hdlc.encode_frame(Protocol.LCP, ControlPacket(42, 9, b"xyz").encode())
    pair.client.link.receive_data(weird, pair.now)
    assert pair.client.link.stats.unknown_protocols == 1
    assert any(line.startswith("sent [LCP ProtRej id=") and "proto=0x80fd" in line for line in pair.client.trace)
    assert any(line.startswith("sent [LCP CodeRej id=") and "code=0x2a" in line for line in pair.client.trace)
    assert pair.client.link.is_up


def test_peer_without_ipv6cp_leaves_an_ipv4_only_link() -> None:
    pair = open_pair(server=cfg(SERVER, ipv6=False))
    up = pair.client.of(LinkUp)[0]
    assert up.local_ip == "10.0.2.15" and up.ipv6_local is None
    assert any(line.startswith("sent [LCP ProtRej") and "0x8057" in line for line in pair.server.trace)
    assert pair.client.link.send_ip(bytes(IPv6() / UDP()), pair.now) is False


def test_looped_back_line_is_detected() -> None:
    link = PppLink(cfg(CLIENT, loopback_limit=3))
    now = 1000.0
    link.open(now)
    events = []
    for _ in range(200):
        data = link.data_to_send()
        if data:
            link.receive_data(data, now)
        elif link.get_timer() is not None:
            now = link.get_timer()
            link.handle_timer(now)
        else:
            break
        while (e := link.next_event()) is not None:
            events.append(e)
        if any(isinstance(e, LinkDown) for e in events):
            break
    downs = [e for e in events if isinstance(e, LinkDown)]
    assert downs and downs[0].cause is DownCause.LOOPED_BACK


def test_open_twice_is_a_local_error_and_bad_config_is_a_config_error() -> None:
    pair = open_pair()
    with pytest.raises(LocalProtocolError):
        pair.client.link.open(pair.now)
    with pytest.raises(ConfigError):
        LinkConfig(role=Role.SERVER)
    with pytest.raises(ConfigError):
        LinkConfig(require_auth="mschap")
    with pytest.raises(ConfigError):
        LinkConfig(mru=10)
    with pytest.raises(ConfigError, match="peer_ip is not an IPv4 address"):
        LinkConfig(peer_ip="10.64.64")
    with pytest.raises(ConfigError, match="dns"):
        LinkConfig(role=Role.SERVER, local_ip="10.0.0.1", peer_ip="10.0.0.2", dns=("x",))


def test_asyncmap_none_does_not_ask_for_accm() -> None:
    pair = open_pair(client=cfg(CLIENT, asyncmap=None))
    assert "<asyncmap" not in pair.client.trace[0]
    assert pair.server.link.lcp_policy.result.his_accm == 0xFFFFFFFF  # server keeps escaping everything


def test_garbage_on_the_line_is_counted_not_raised() -> None:
    pair = open_pair()
    link = pair.client.link
    link.receive_data(b"\x7e\x01\x02\x03\x04\x05\x06\x7e\x7eAT\r\nOK\r\n\x7e", pair.now)
    link.receive_data(hdlc.encode_frame(Protocol.LCP, b"\x01\x01\x00"), pair.now)  # short packet
    assert link.is_up
    assert link.stats.malformed >= 1


# -- scapy oracle -------------------------------------------------------------------------------


def _dissect(frame: bytes) -> PPP:
    return HDLC(frame)[PPP] if frame[:2] == b"\xff\x03" else PPP(frame)


def test_every_control_frame_we_emit_dissects_in_scapy() -> None:
    server = cfg(SERVER, require_auth="chap", auth_secrets={"u": "p"})
    pair = open_pair(client=cfg(CLIENT, username="u", password="p", echo_interval=3.0), server=server)
    pair.run_for(4.0)
    ccp = hdlc.encode_frame(Protocol.CCP, ControlPacket(1, 1, b"\x12\x06\x00\x00\x00\x01").encode())
    pair.client.link.receive_data(ccp, pair.now)  # -> Protocol-Reject
    pair.client.link.receive_data(hdlc.encode_frame(Protocol.LCP, ControlPacket(42, 9, b"xyz").encode()), pair.now)
    pair.client.link.close(pair.now)
    pair.run_for(10.0)
    pap_pair = open_pair(
        client=cfg(CLIENT, username="u", password="p"), server=cfg(SERVER, require_auth="pap", auth_secrets={"u": "p"})
    )
    frames = [
        f
        for _, out, f in pair.client.frames + pair.server.frames + pap_pair.client.frames + pap_pair.server.frames
        if out
    ]
    seen = set()
    for frame in frames:
        protocol, info = split_protocol(frame)
        if protocol in (Protocol.IP, Protocol.IPV6):
            continue
        pkt = decode_packet(info)
        assert pkt is not None
        ppp = _dissect(frame)
        assert ppp.proto == protocol
        seen.add((protocol, pkt.code))
        if protocol == Protocol.LCP:
            lcp = ppp.payload  # scapy dispatches on the code: Configure, Terminate, Echo, ... classes
            assert lcp.name.startswith("PPP Link Control Protocol") or isinstance(lcp, PPP_LCP)
            assert (lcp.code, lcp.id, lcp.len) == (pkt.code, pkt.identifier, len(info))
            if pkt.code in (1, 2, 3, 4):
                conf = ppp[PPP_LCP_Configure]
                ours = decode_options(pkt.data)
                assert [o.type for o in conf.options] == [o.type for o in ours]
                for opt, mine in zip(conf.options, ours, strict=True):
                    if mine.type == 1:
                        assert opt.max_recv_unit == struct.unpack("!H", mine.value)[0]
                    if mine.type == 5:
                        assert opt.magic_number == struct.unpack("!I", mine.value)[0]
                    if mine.type == 3:
                        assert opt.auth_protocol == struct.unpack("!H", mine.value[:2])[0]
            if pkt.code == Code.PROTOCOL_REJECT:
                assert lcp.rejected_protocol == Protocol.CCP
                assert bytes(lcp.rejected_information) == b"\x01\x01\x00\x0a\x12\x06\x00\x00\x00\x01"
            if pkt.code == Code.CODE_REJECT:
                assert bytes(lcp.rejected_packet) == b"\x2a\x09\x00\x07xyz"
            if pkt.code in (5, 6):
                assert bytes(lcp.data) == pkt.data
            if pkt.code in (9, 10):
                assert lcp.magic_number == struct.unpack("!I", pkt.data[:4])[0]
        elif protocol == Protocol.IPCP:
            ipcp = ppp.payload
            assert isinstance(ipcp, PPP_IPCP)
            assert (ipcp.code, ipcp.id, ipcp.len) == (pkt.code, pkt.identifier, len(info))
            ours = decode_options(pkt.data)
            assert [o.type for o in ipcp.options] == [o.type for o in ours]
            for opt, mine in zip(ipcp.options, ours, strict=True):
                assert opt.data == ".".join(str(b) for b in mine.value)
        elif protocol == Protocol.PAP:
            pap = ppp.payload
            assert isinstance(pap, PPP_PAP) or "Password" in pap.name
            assert (pap.code, pap.id) == (pkt.code, pkt.identifier)
            if pkt.code == 1:
                assert pap.username == b"u" and pap.password == b"p"
        elif protocol == Protocol.CHAP:
            chap = ppp.payload
            assert isinstance(chap, PPP_CHAP) or chap.name.startswith("PPP Challenge")
            assert (chap.code, chap.id) == (pkt.code, pkt.identifier)
            if pkt.code in (1, 2):
                assert chap.value == pkt.data[1 : 1 + pkt.data[0]]
                assert chap.optional_name == pkt.data[1 + pkt.data[0] :]
    for wanted in [(Protocol.LCP, c) for c in (1, 2, 5, 6, 7, 8, 9, 10)] + [
        (Protocol.IPCP, 1),
        (Protocol.IPCP, 2),
        (Protocol.IPCP, 3),
        (Protocol.CHAP, 1),
        (Protocol.CHAP, 2),
        (Protocol.CHAP, 3),
        (Protocol.PAP, 1),
        (Protocol.PAP, 2),
    ]:
        assert wanted in seen, wanted


def test_peer_restarting_lcp_takes_the_link_down_and_up_again() -> None:
    pair = open_pair()
    # A Configure-Request in Opened restarts negotiation (RFC 1661 section 4.1: tld, scr, sca/scn).
    request = ControlPacket(Code.CONFIGURE_REQUEST, 0x77, bytes.fromhex("0506cafebabe")).encode()
    pair.client.link.receive_data(hdlc.encode_frame(Protocol.LCP, request), pair.now)
    pair.run(pair.now + UP_DEADLINE, lambda: len(pair.client.of(LinkUp)) == 2 and pair.both_up())
    (down,) = pair.client.of(LinkDown)
    assert down == LinkDown(cause=DownCause.PEER_TERMINATED, reason="peer restarted LCP negotiation")
    assert len(pair.client.of(LinkUp)) == 2 and pair.both_up()
    assert [e.phase for e in pair.client.of(PhaseChanged)] == [
        Phase.ESTABLISH,
        Phase.NETWORK,
        Phase.ESTABLISH,
        Phase.NETWORK,
    ]


_UP_PAIR: list[LinkPair] = []


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.binary(min_size=0, max_size=60), max_size=6))
def test_line_noise_never_raises_and_keeps_the_link_up(chunks: list[bytes]) -> None:
    if not _UP_PAIR:
        _UP_PAIR.append(open_pair())
    pair = _UP_PAIR[0]
    link = pair.client.link
    for chunk in chunks:
        # Random octets, some wrapped in flags so they reach the frame decoder as (bad) frames.
        link.receive_data(b"\x7e" + chunk + b"\x7e" + chunk, pair.now)
    assert link.is_up
    while link.next_event() is not None:
        pass
    link.data_to_send()


# -- the cached timer -----------------------------------------------------------------------------


def test_timer_is_cached_across_data_and_refreshed_by_echo_ticks() -> None:
    """get_timer() is cached between protocol changes: data frames keep it, an echo tick moves it."""
    pair = open_pair(client=cfg(CLIENT, echo_interval=10.0))
    client, server = pair.client.link, pair.server.link
    deadline = client.get_timer()
    assert deadline is not None and deadline > pair.now  # the next LCP Echo-Request (RFC 1661 5.8)
    packet = bytes(IP(src="10.0.2.2", dst="10.0.2.15") / UDP(sport=1, dport=2) / (b"x" * 100))
    for _ in range(5):
        assert server.send_ip(packet, pair.now)
    client.receive_data(server.data_to_send(), pair.now)
    assert len([e for e in iter(client.next_event, None) if isinstance(e, PacketReceived)]) == 5
    assert client.get_timer() == deadline  # five data frames: the keepalive schedule is unchanged
    client.handle_timer(deadline)
    assert client.get_timer() == pytest.approx(deadline + 10.0)  # the Echo-Request went; next tick
    assert b"\xc0\x21\x09" in client.data_to_send().replace(b"\x7d\x29", b"\x09")  # LCP code 9
