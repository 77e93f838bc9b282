"""LCP option policy tables (RFC 1661 section 6, RFC 1662 section 7.1) against what real modems send,
plus the same requests fed to a whole PppLink and the replies checked on the wire."""

from __future__ import annotations

import random
import struct

import pytest

from pppos.ppp import hdlc
from pppos.ppp.lcp import LcpPolicy
from pppos.ppp.link import LinkConfig, PppLink
from pppos.ppp.packets import Code, ControlPacket, LcpOption, Option, Protocol, decode_options, encode_options

MRU = Option(LcpOption.MRU, b"\x05\xdc")
PFC = Option(LcpOption.PFC)
ACFC = Option(LcpOption.ACFC)
PAP = Option(LcpOption.AUTH_PROTOCOL, b"\xc0\x23")
CHAP_MD5 = Option(LcpOption.AUTH_PROTOCOL, b"\xc2\x23\x05")
MSCHAP2 = Option(LcpOption.AUTH_PROTOCOL, b"\xc2\x23\x81")
EAP = Option(LcpOption.AUTH_PROTOCOL, b"\xc2\x27")
QUALITY = Option(LcpOption.QUALITY_PROTOCOL, b"\xc0\x25\x00\x00\x00\x0a")


def accm(value: int) -> Option:
    return Option(LcpOption.ACCM, struct.pack("!I", value))


def magic(value: int) -> Option:
    return Option(LcpOption.MAGIC_NUMBER, struct.pack("!I", value))


def policy(**kwargs: object) -> LcpPolicy:
    return LcpPolicy(rng=random.Random(5), **kwargs)  # type: ignore[arg-type]


# (modem, its Configure-Request options, expected code, expected reply options, send ACCM, auth we run)
MODEM_TABLE = [
    ("SIM800", [accm(0xA0000), PAP, magic(0x1234), PFC, ACFC], Code.CONFIGURE_ACK, None, 0xA0000, "pap"),
    ("BG96", [accm(0), CHAP_MD5, magic(0x99), PFC, ACFC], Code.CONFIGURE_ACK, None, 0, "chap"),
    ("A7670E", [accm(0), PAP, magic(0x77), PFC, ACFC], Code.CONFIGURE_ACK, None, 0, "pap"),
    ("slirp", [MRU, magic(0xA7A9252D), PFC, ACFC], Code.CONFIGURE_ACK, None, 0xFFFFFFFF, None),
    ("MS-CHAPv2 modem", [MSCHAP2, magic(1)], Code.CONFIGURE_NAK, [CHAP_MD5], None, None),
    ("EAP peer", [EAP, magic(1)], Code.CONFIGURE_NAK, [CHAP_MD5], None, None),
    ("LQR asker", [QUALITY, magic(1)], Code.CONFIGURE_REJECT, [QUALITY], None, None),
    (
        "callback + unknown",
        [Option(13, b"\x06"), Option(99, b"zz"), PFC],
        Code.CONFIGURE_REJECT,
        [Option(13, b"\x06"), Option(99, b"zz")],
        None,
        None,
    ),
    (
        "tiny MRU",
        [Option(LcpOption.MRU, b"\x00\x40")],
        Code.CONFIGURE_NAK,
        [Option(LcpOption.MRU, b"\x00\x80")],
        None,
        None,
    ),
    (
        "bad PFC length",
        [Option(LcpOption.PFC, b"\x00")],
        Code.CONFIGURE_REJECT,
        [Option(LcpOption.PFC, b"\x00")],
        None,
        None,
    ),
]


@pytest.mark.parametrize("row", MODEM_TABLE, ids=[row[0] for row in MODEM_TABLE])
def test_modem_requests(row: tuple) -> None:
    _, request_, code, reply, send_accm, auth = row
    p = policy()
    verdict = p.on_request(request_)
    assert verdict.code == code
    assert verdict.options == (request_ if reply is None else reply)
    if code == Code.CONFIGURE_ACK:
        assert p.result.his_accm == send_accm
        assert p.result.his_auth == auth


def test_pap_only_authenticatee_naks_chap_toward_pap() -> None:
    p = policy(accept_auth=("pap",))
    assert p.on_request([CHAP_MD5]).options == [PAP]
    assert p.on_request([PAP]).code == Code.CONFIGURE_ACK


def test_no_auth_accepted_rejects_the_option() -> None:
    assert policy(accept_auth=()).on_request([PAP]).code == Code.CONFIGURE_REJECT


def test_our_request_asks_asyncmap_0_and_never_auth_by_default() -> None:
    opts = policy().request()
    kinds = [o.type for o in opts]
    assert kinds == [LcpOption.MRU, LcpOption.ACCM, LcpOption.MAGIC_NUMBER, LcpOption.PFC, LcpOption.ACFC]
    assert opts[1].value == b"\x00\x00\x00\x00"
    assert struct.unpack("!I", opts[2].value)[0] != 0


def test_authenticator_asks_for_the_configured_protocol() -> None:
    assert CHAP_MD5 in policy(require_auth="chap").request()
    assert PAP in policy(require_auth="pap").request()
    with pytest.raises(ValueError, match="require_auth"):
        policy(require_auth="eap")


def test_peer_naks_our_asyncmap_to_sim800_value() -> None:
    p = policy()
    p.on_nak([accm(0xA0000)])
    assert accm(0xA0000) in p.request()
    assert p.on_ack(p.request())
    assert p.result.our_accm == 0xA0000


def test_nak_and_reject_adapt_the_request() -> None:
    p = policy()
    first_magic = next(o for o in p.request() if o.type == LcpOption.MAGIC_NUMBER)
    p.on_nak([first_magic, Option(LcpOption.MRU, b"\x05\x78")])
    req = p.request()
    assert next(o for o in req if o.type == LcpOption.MAGIC_NUMBER) != first_magic
    assert Option(LcpOption.MRU, b"\x05\x78") in req
    p.on_reject([accm(0), PFC, ACFC])
    assert [o.type for o in p.request()] == [LcpOption.MRU, LcpOption.MAGIC_NUMBER]
    assert p.on_ack(p.request())
    assert (p.result.our_pfc, p.result.our_acfc, p.result.our_accm, p.result.our_mru) == (
        False,
        False,
        0xFFFFFFFF,
        1400,
    )


def test_ack_must_match_our_request() -> None:
    p = policy()
    assert not p.on_ack([MRU])
    assert p.on_ack(p.request())


def test_rejected_required_auth_is_fatal() -> None:
    p = policy(require_auth="chap")
    p.on_nak([Option(LcpOption.AUTH_PROTOCOL, b"\xc0\x23")])
    assert PAP in p.request() and p.failure is None
    p.on_reject([PAP])
    assert p.failure is not None


def test_equal_magic_is_naked_and_counts_toward_loopback() -> None:
    p = policy(loopback_limit=2)
    ours = next(o for o in p.request() if o.type == LcpOption.MAGIC_NUMBER)
    v = p.on_request([ours])
    assert v.code == Code.CONFIGURE_NAK and v.options[0].type == LcpOption.MAGIC_NUMBER
    assert v.options[0] != ours and p.loopback_count == 1 and not p.looped_back
    p.on_request([ours])
    assert p.looped_back
    assert p.on_request([magic(0)]).code == Code.CONFIGURE_NAK


def _link_reply(request_options: list[Option], **config: object) -> tuple[int, list[Option]]:
    """Feed one LCP Configure-Request to a fresh PppLink; return the code and options of its answer."""
    link = PppLink(LinkConfig(echo_interval=0.0, seed=3, **config))  # type: ignore[arg-type]
    link.open(0.0)
    link.data_to_send()
    link.receive_data(
        hdlc.encode_frame(Protocol.LCP, ControlPacket(1, 0x42, encode_options(request_options)).encode()), 0.0
    )
    frames = hdlc.Deframer().feed(link.data_to_send())
    (frame,) = frames
    assert frame.protocol == Protocol.LCP
    pkt = ControlPacket(frame.information[0], frame.information[1], frame.information[4:])
    assert pkt.identifier == 0x42
    return pkt.code, decode_options(pkt.data) or []


def test_link_acks_sim800_request_on_the_wire() -> None:
    req = [accm(0xA0000), PAP, magic(0x5A5A5A5A), PFC, ACFC]
    assert _link_reply(req) == (Code.CONFIGURE_ACK, req)


def test_link_rejects_quality_protocol_on_the_wire() -> None:
    assert _link_reply([QUALITY, magic(3)]) == (Code.CONFIGURE_REJECT, [QUALITY])


def test_link_turns_naks_into_rejects_after_max_failure() -> None:
    link = PppLink(LinkConfig(echo_interval=0.0, seed=3, max_failure=2))
    link.open(0.0)
    link.data_to_send()
    codes = []
    for ident in range(4):
        frame = hdlc.encode_frame(Protocol.LCP, ControlPacket(1, ident, encode_options([MSCHAP2])).encode())
        link.receive_data(frame, 0.0)
        codes += [f.information[0] for f in hdlc.Deframer().feed(link.data_to_send())]
    assert codes == [Code.CONFIGURE_NAK, Code.CONFIGURE_NAK, Code.CONFIGURE_REJECT, Code.CONFIGURE_REJECT]


# -- the option table (issue 12: one rule per option) ----------------------------------------------


@pytest.mark.parametrize(
    ("kind", "good", "bad"),
    [
        (LcpOption.MRU, b"\x05\xdc", b"\x05"),
        (LcpOption.ACCM, b"\x00\x00\x00\x00", b"\x00\x00\x00"),
        (LcpOption.AUTH_PROTOCOL, b"\xc0\x23", b"\xc0"),
        (LcpOption.MAGIC_NUMBER, b"\x00\x00\x12\x34", b"\x12\x34"),
        (LcpOption.PFC, b"", b"\x00"),
        (LcpOption.ACFC, b"", b"\x01\x02"),
    ],
)
def test_each_rule_acks_a_well_formed_value_and_rejects_a_malformed_one(kind: int, good: bytes, bad: bytes) -> None:
    from pppos.ppp.lcp import LCP_OPTIONS

    rule = LCP_OPTIONS[kind]
    assert rule.valid(good) and not rule.valid(bad)
    assert policy().on_request([Option(kind, good)]).code == Code.CONFIGURE_ACK
    verdict = policy().on_request([Option(kind, bad)])
    assert (verdict.code, verdict.options) == (Code.CONFIGURE_REJECT, [Option(kind, bad)])


def test_a_new_option_is_one_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    """Adding a rule is enough for the policy to ask for it, judge it, and for the trace to show it."""
    from pppos.ppp import lcp
    from pppos.ppp.trace import format_options

    rule = lcp.LcpOptionRule(
        99, valid=lambda v: len(v) == 1, show=lambda v: f"<new {v[0]}>",
        ask=lambda p: b"\x07", nak=lambda p, want, hint: hint,
        judge=lambda p, v: (lcp.ACK, None) if v[0] < 10 else (lcp.NAK, b"\x09"),
    )
    monkeypatch.setitem(lcp.LCP_OPTIONS, 99, rule)
    p = policy()
    assert Option(99, b"\x07") in p.request()
    assert p.on_request([Option(99, b"\x03")]).code == Code.CONFIGURE_ACK
    assert p.on_request([Option(99, b"\x0b")]).options == [Option(99, b"\x09")]
    p.on_nak([Option(99, b"\x05")])
    assert Option(99, b"\x05") in p.request()
    assert format_options(Protocol.LCP, encode_options([Option(99, b"\x05")])) == "<new 5>"


def test_a_nak_may_add_an_accm_we_did_not_ask_for_but_not_auth_or_magic() -> None:
    p = policy(asyncmap=None, magic=False)
    p.on_nak([accm(0xA0000), CHAP_MD5, magic(5)])
    assert p.request() == [MRU, accm(0xA0000), PFC, ACFC]  # in table order
