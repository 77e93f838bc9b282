"""Control-packet and option codecs (RFC 1661 sections 5 and 6): whole, trailing padding, malformed."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.ppp import PPP, PPP_IPCP, PPP_LCP_Configure

from pppos.ppp.packets import (
    Code,
    ControlPacket,
    IpcpOption,
    LcpOption,
    Option,
    Protocol,
    decode_options,
    decode_packet,
    encode_options,
    split_protocol,
)

# slirp's first LCP Configure-Request as captured from Debian's slirp 1.0.17 on this machine (golden
# vector, the information field after ff 03 c0 21): mru 1500, magic, pcomp, accomp (no asyncmap).
SLIRP_CONFREQ = bytes.fromhex("01010012" "010405dc" "0506a8eac937" "0702" "0802")


def test_protocol_and_code_numbers_match_the_rfcs() -> None:
    assert Protocol.LCP == 0xC021 and Protocol.PAP == 0xC023 and Protocol.CHAP == 0xC223
    assert Protocol.IPCP == 0x8021 and Protocol.IPV6CP == 0x8057 and Protocol.CCP == 0x80FD
    assert Protocol.IP == 0x21 and Protocol.IPV6 == 0x57 and Protocol.LQR == 0xC025
    assert [c.value for c in Code] == list(range(1, 12))
    assert IpcpOption.PRIMARY_DNS == 129 and IpcpOption.SECONDARY_DNS == 131
    assert LcpOption.ACCM == 2 and LcpOption.ACFC == 8


def test_decode_slirp_confreq_whole() -> None:
    pkt = decode_packet(SLIRP_CONFREQ)
    assert pkt == ControlPacket(1, 1, SLIRP_CONFREQ[4:])
    opts = decode_options(pkt.data)
    assert opts is not None
    assert [o.type for o in opts] == [1, 5, 7, 8]
    assert opts[0].value == b"\x05\xdc"
    assert pkt.encode() == SLIRP_CONFREQ
    assert encode_options(opts) == SLIRP_CONFREQ[4:]


def test_decode_ignores_trailing_padding() -> None:
    # RFC 1661 section 5: octets outside Length are padding.
    pkt = decode_packet(SLIRP_CONFREQ + b"\x00\x00\xff")
    assert pkt is not None and pkt.encode() == SLIRP_CONFREQ


def test_every_truncation_is_rejected_without_exception() -> None:
    # Byte by byte: every proper prefix is an incomplete packet and decodes to None.
    for n in range(len(SLIRP_CONFREQ)):
        assert decode_packet(SLIRP_CONFREQ[:n]) is None


@pytest.mark.parametrize(
    "payload",
    [b"", b"\x01", b"\x01\x01\x00", b"\x01\x01\x00\x03", b"\x01\x01\x00\x05\x00\x00"[:4], b"\x09\x01\xff\xff abc"],
)
def test_malformed_packets_decode_to_none(payload: bytes) -> None:
    assert decode_packet(payload) is None


@pytest.mark.parametrize(
    "data",
    [b"\x01", b"\x01\x00", b"\x01\x01", b"\x01\x05\x00", b"\x07\x02\x01\x09\x00"],
)
def test_malformed_option_lists_decode_to_none(data: bytes) -> None:
    assert decode_options(data) is None


def test_empty_option_list() -> None:
    assert decode_options(b"") == []


def test_split_protocol_full_and_compressed() -> None:
    assert split_protocol(b"\xff\x03\xc0\x21\x01") == (0xC021, b"\x01")
    assert split_protocol(b"\xc0\x21\x01") == (0xC021, b"\x01")  # ACFC
    assert split_protocol(b"\xff\x03\x21E") == (0x21, b"E")  # PFC
    assert split_protocol(b"\x21E") == (0x21, b"E")  # ACFC + PFC
    assert split_protocol(b"\x00\x21E") == (0x21, b"E")
    assert split_protocol(b"") is None
    assert split_protocol(b"\xff\x03") is None
    assert split_protocol(b"\x00") is None
    assert split_protocol(b"\x00\x20") is None  # even last octet: invalid protocol


def test_encoded_confreq_dissects_in_scapy() -> None:
    opts = [Option(LcpOption.MRU, b"\x05\xdc"), Option(LcpOption.MAGIC_NUMBER, b"\x12\x34\x56\x78")]
    wire = ControlPacket(Code.CONFIGURE_REQUEST, 7, encode_options(opts)).encode()
    pkt = PPP(b"\xc0\x21" + wire)
    lcp = pkt[PPP_LCP_Configure]
    assert lcp.code == 1 and lcp.id == 7 and lcp.len == len(wire)
    assert lcp.options[0].max_recv_unit == 1500
    assert lcp.options[1].magic_number == 0x12345678
    ipcp = PPP(b"\x80\x21" + ControlPacket(1, 2, Option(3, bytes(4)).encode()).encode())[PPP_IPCP]
    assert ipcp.options[0].data == "0.0.0.0"


options_strategy = st.lists(st.builds(Option, st.integers(0, 255), st.binary(max_size=20)), max_size=8)


@settings(max_examples=60, deadline=None)
@given(options_strategy, st.integers(0, 255), st.integers(1, 11))
def test_round_trip(options: list[Option], ident: int, code: int) -> None:
    wire = ControlPacket(code, ident, encode_options(options)).encode()
    pkt = decode_packet(wire)
    assert pkt is not None and pkt.code == code and pkt.identifier == ident
    assert decode_options(pkt.data) == options


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=64))
def test_decoders_never_raise(data: bytes) -> None:
    pkt = decode_packet(data)
    if pkt is not None:
        decode_options(pkt.data)
    decode_options(data)
    split_protocol(data)
