"""pppd-style trace lines (RFC 1661/1332/1877/1334/1994/5072 decodes), secrets hidden, never raising."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pppos.ppp.packets import ControlPacket, Protocol
from pppos.ppp.trace import describe, trace_line


def cp(code: int, ident: int, data: bytes = b"") -> bytes:
    return ControlPacket(code, ident, data).encode()


@pytest.mark.parametrize(
    ("outbound", "protocol", "payload", "line"),
    [
        (
            True,
            Protocol.LCP,
            cp(1, 1, bytes.fromhex("010405dc 020600000000 050612345678 0304c023 0702 0802".replace(" ", ""))),
            "sent [LCP ConfReq id=0x1 <mru 1500> <asyncmap 0x0> <magic 0x12345678> <auth pap> <pcomp> <accomp>]",
        ),
        (
            False,
            Protocol.LCP,
            cp(1, 2, bytes.fromhex("0206000a00000305c22305")),
            "rcvd [LCP ConfReq id=0x2 <asyncmap 0xa0000> <auth chap MD5>]",
        ),
        (False, Protocol.IPCP, cp(3, 2, bytes.fromhex("03060a00020f")), "rcvd [IPCP ConfNak id=0x2 <addr 10.0.2.15>]"),
        (
            True,
            Protocol.IPCP,
            cp(4, 1, bytes.fromhex("0206002d0f0182060a000203")),
            "sent [IPCP ConfRej id=0x1 <compress VJ 0f 01> <ms-wins 10.0.2.3>]",
        ),
        (
            True,
            Protocol.IPCP,
            cp(1, 3, bytes.fromhex("810600000000830600000000")),
            "sent [IPCP ConfReq id=0x3 <ms-dns1 0.0.0.0> <ms-dns2 0.0.0.0>]",
        ),
        (
            True,
            Protocol.IPV6CP,
            cp(1, 1, bytes.fromhex("010a0200000000000001")),
            "sent [IPV6CP ConfReq id=0x1 <addr fe80::200:0:0:1>]",
        ),
        (True, Protocol.LCP, cp(5, 3, b"User request"), 'sent [LCP TermReq id=0x3 "User request"]'),
        (False, Protocol.LCP, cp(6, 3), "rcvd [LCP TermAck id=0x3]"),
        (True, Protocol.LCP, cp(9, 1, bytes.fromhex("0badcafe")), "sent [LCP EchoReq id=0x1 magic=0xbadcafe]"),
        (True, Protocol.LCP, cp(8, 4, bytes.fromhex("80fd0101")), "sent [LCP ProtRej id=0x4 proto=0x80fd]"),
        (True, Protocol.LCP, cp(7, 5, cp(42, 1)), "sent [LCP CodeRej id=0x5 code=0x2a]"),
        (True, Protocol.LCP, cp(1, 1, b"\x01"), "sent [LCP ConfReq id=0x1 <malformed options 01>]"),
        (False, Protocol.LCP, b"\x01\x01", "rcvd [LCP <malformed 01 01>]"),
        (False, Protocol.CCP, cp(1, 1), "rcvd [CCP ConfReq id=0x1]"),
        (False, 0x4021, b"abc", "rcvd [proto=0x4021 3 bytes]"),
        (True, Protocol.PAP, cp(2, 1, b"\x08Login ok"), 'sent [PAP AuthAck id=0x1 "Login ok"]'),
        (
            False,
            Protocol.CHAP,
            cp(1, 7, b"\x04\x01\x02\x03\x04slirp"),
            'rcvd [CHAP Challenge id=0x7 <01020304>, name = "slirp"]',
        ),
        (False, Protocol.CHAP, cp(3, 7, b"Welcome"), 'rcvd [CHAP Success id=0x7 "Welcome"]'),
        (False, Protocol.CHAP, cp(3, 7, b'"\n'), 'rcvd [CHAP Success id=0x7 "\\"\\x0a"]'),
    ],
)
def test_lines(outbound: bool, protocol: int, payload: bytes, line: str) -> None:
    assert trace_line(outbound, protocol, payload) == line


def test_pap_password_is_hidden() -> None:
    line = trace_line(True, Protocol.PAP, cp(1, 1, b"\x01x\x0bSuperSecret"))
    assert line == 'sent [PAP AuthReq id=0x1 user="x" password=<hidden>]'
    assert "Super" not in line


def test_chap_response_value_is_hidden_name_shown() -> None:
    value = bytes.fromhex("00112233445566778899aabbccddeeff")
    line = trace_line(True, Protocol.CHAP, cp(2, 9, b"\x10" + value + b"modem"))
    assert line == 'sent [CHAP Response id=0x9 <hidden>, name = "modem"]'
    assert "0011" not in line


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(list(Protocol)), st.binary(max_size=40))
def test_describe_never_raises_and_is_one_line(protocol: Protocol, payload: bytes) -> None:
    text = describe(protocol, payload)
    assert "\n" not in text and "\r" not in text
