"""RFC 1662 framing: FCS, escaping, encode_frame, Deframer (whole / byte by byte / split / trailing).

Oracles that are not our code: the RFC's bit-serial CRC written out below, zlib, real frames from
public captures (pppd, modems), and scapy's PPP/HDLC layers.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pppos.errors import LocalProtocolError
from pppos.ppp import hdlc
from pppos.ppp.hdlc import (
    ALL_ONES,
    FCS16_GOOD,
    FCS32_GOOD,
    Deframer,
    Frame,
    append_fcs16,
    append_fcs32,
    encode_frame,
    escape,
    fcs16,
    fcs32,
    unescape,
)


def bitwise_fcs(data: bytes, width: int) -> int:
    """RFC 1662 appendix C, bit by bit (no tables): the independent oracle for both FCS sizes."""
    poly, fcs = (0x8408, 0xFFFF) if width == 16 else (0xEDB88320, 0xFFFFFFFF)
    for octet in data:
        fcs ^= octet
        for _ in range(8):
            fcs = (fcs >> 1) ^ poly if fcs & 1 else fcs >> 1
    return fcs


def hx(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


# Captured from Debian's slirp 1.0.17 on a pty (pppos.sim.slirp.SlirpProcess, 2026-11-23): its
# Configure-Request (MRU 1500, magic 0xf0488eae, PFC, ACFC) and its Configure-Ack of our request.
SLIRP_CONF_REQ = (
    "7e ff 7d 23 c0 21 7d 21 7d 21 7d 20 7d 32 7d 21 7d 24 7d 25 dc 7d 25 7d 26 f0 48 8e ae 7d 27 7d 22"
    " 7d 28 7d 22 7d 3f 7d 3a 7e",
    "01 01 00 12 01 04 05 dc 05 06 f0 48 8e ae 07 02 08 02",
)
SLIRP_CONF_ACK = (
    "7e ff 7d 23 c0 21 7d 22 7d 21 7d 20 7d 2a 7d 25 7d 26 7d 32 34 56 78 7d 30 74 7e",
    "02 01 00 0a 05 06 12 34 56 78",
)

# Real frames (all-ones ACCM, as LCP codes 1-7 must be sent), with the de-stuffed LCP packet.
GOLDEN_LCP = [
    SLIRP_CONF_REQ,
    SLIRP_CONF_ACK,
    # pppd ConfReq: ACCM 0, magic 0x0e791a59, PFC, ACFC (a modem log, read in two chunks).
    (
        "7E FF 7D 23 C0 21 7D 21 7D 21 7D 20 7D 34 7D 22 7D 26 7D 20 7D 20 7D 20 7D 20 7D 25 7D 26 7D 2E"
        " 79 7D 3A 59 7D 27 7D 22 7D 28 7D 22 EF 3E 7E",
        "01 01 00 14 02 06 00 00 00 00 05 06 0e 79 1a 59 07 02 08 02",
    ),
    # ConfReq with MRU 1500, ACCM 0, PFC, ACFC and Auth-Protocol PAP.
    (
        "7E FF 7D 23 C0 21 7D 21 7D 21 7D 20 7D 36 7D 21 7D 24 7D 25 DC 7D 22 7D 26 7D 20 7D 20 7D 20"
        " 7D 20 7D 27 7D 22 7D 28 7D 22 7D 23 7D 24 C0 23 26 B4 7E",
        "01 01 00 16 01 04 05 DC 02 06 00 00 00 00 07 02 08 02 03 04 C0 23",
    ),
    # ConfReq with only a zero magic number.
    (
        "7e ff 7d 23 c0 21 7d 21 7d 20 7d 20 7d 2a 7d 25 7d 26 7d 20 7d 20 7d 20 7d 20 74 2a 7e",
        "01 00 00 0a 05 06 00 00 00 00",
    ),
    # ConfReq with CHAP-MD5 and a magic number (a modem asking the host to authenticate).
    (
        "7e ff 7d 23 c0 21 7d 21 7d 21 7d 20 7d 39 7d 22 7d 26 7d 20 7d 20 7d 20 7d 20 7d 23 7d 25 c2 23"
        " 7d 25 7d 25 7d 26 b9 7d 21 af 7d 28 7d 27 7d 22 7d 28 7d 22 59 a7 7e",
        "01 01 00 19 02 06 00 00 00 00 03 05 c2 23 05 05 06 b9 01 af 08 07 02 08 02",
    ),
]


# -- FCS --------------------------------------------------------------------------------------------


def test_fcs_check_values() -> None:
    """The catalogue check values for "123456789": X-25 0x906E and CRC-32 0xCBF43926."""
    assert fcs16(b"123456789") ^ 0xFFFF == 0x906E
    assert fcs32(b"123456789") ^ 0xFFFFFFFF == 0xCBF43926


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=200))
def test_fcs_against_bitwise_rfc_algorithm(data: bytes) -> None:
    assert fcs16(data) == bitwise_fcs(data, 16)
    assert hdlc._fcs16_binascii(data) == bitwise_fcs(data, 16)  # the stdlib fallback agrees
    assert fcs32(data) == bitwise_fcs(data, 32)


def test_fcs_good_residue_and_running_value() -> None:
    data = bytes(range(256)) * 3
    assert fcs16(append_fcs16(data)) == FCS16_GOOD == 0xF0B8
    assert fcs32(append_fcs32(data)) == FCS32_GOOD == 0xDEBB20E3
    assert fcs16(data[100:], fcs16(data[:100])) == fcs16(data)
    assert fcs32(data[100:], fcs32(data[:100])) == fcs32(data)
    assert hdlc._fcs16_binascii(data[100:], fcs16(data[:100])) == fcs16(data)
    broken = bytearray(append_fcs16(data))
    broken[10] ^= 0x01
    assert fcs16(bytes(broken)) != FCS16_GOOD


def test_fcs16_backend_is_reported() -> None:
    assert hdlc.FCS16_BACKEND in ("anycrc", "binascii")


# -- escaping -------------------------------------------------------------------------------------


def test_escape_accm_zero_only_flag_and_escape() -> None:
    data = bytes(range(256))
    out = escape(data, 0)
    assert out == data.replace(b"\x7d", b"\x7d\x5d").replace(b"\x7e", b"\x7d\x5e")
    assert b"\x7e" not in out
    assert len(out) == 258


def test_escape_all_ones_escapes_every_control_character() -> None:
    out = escape(bytes(range(0x80)), ALL_ONES)
    assert out[:4] == b"\x7d\x20\x7d\x21"
    assert all(c >= 0x20 for c in out)
    assert out.count(0x7D) == 32 + 2
    assert out.endswith(b"\x7d\x5d\x7d\x5e\x7f")


def test_escape_sim800_map_escapes_xon_xoff_only() -> None:
    """The SIM800 asks for ACCM 0x000a0000: escape 0x11 (XON) and 0x13 (XOFF)."""
    out = escape(b"\x10\x11\x12\x13\x7e", 0x000A0000)
    assert out == b"\x10\x7d\x31\x12\x7d\x33\x7d\x5e"


def test_extended_accm_never_escapes_into_framing_characters() -> None:
    everything = (1 << 256) - 1
    out = escape(bytes(range(256)), everything)
    assert b"\x7e" not in out
    assert unescape(out) == bytes(range(256))
    # A map containing both 0x01 and 0x21 cannot use chained replaces; the result is still exact.
    crossed = (1 << 0x01) | (1 << 0x21)
    assert escape(b"\x01\x21", crossed) == b"\x7d\x21\x7d\x01"


def test_unescape_any_escaped_octet_including_escaped_0x5d() -> None:
    assert unescape(b"a\x7d\x41b") == b"aab"  # escaping a non-control octet is legal (RFC 1662 4.2)
    assert unescape(b"\x7d\x7d\x7d\x5e") == b"\x5d\x7e"  # 7D 7D is an escaped 0x5D
    assert unescape(b"plain") == b"plain"


def test_unescape_many_escapes_matches_the_exact_reference() -> None:
    data = bytes(range(256)) * 6
    escaped = escape(data, ALL_ONES)
    assert escaped.count(0x7D) > hdlc._MANY_ESCAPES  # the whole-frame integer path
    assert unescape(escaped) == hdlc._unescape_exact(escaped) == data
    assert unescape(escaped + b"\x7d") == data  # a lone trailing escape is dropped
    assert unescape(b"\x00\x00" + escaped) == b"\x00\x00" + data  # leading zero octets survive


def test_stdlib_fcs16_fallback_frames_and_deframes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without anycrc, binascii.crc_hqx carries FCS-16 and the wire format is unchanged."""
    wire = hx(GOLDEN_LCP[3][0])
    monkeypatch.setattr(hdlc, "fcs16_impl", hdlc._fcs16_binascii)
    assert encode_frame(0xC021, hx(GOLDEN_LCP[3][1]), accm=0) == wire
    assert Deframer().feed(wire) == [(0xC021, hx(GOLDEN_LCP[3][1]))]


# -- encode_frame ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("wire", "packet"), GOLDEN_LCP)
def test_encode_matches_real_lcp_frames(wire: str, packet: str) -> None:
    assert encode_frame(0xC021, hx(packet), accm=0, acfc=True) == hx(wire)


@pytest.mark.parametrize(("wire", "packet"), GOLDEN_LCP)
def test_deframer_decodes_real_lcp_frames(wire: str, packet: str) -> None:
    assert Deframer().feed(hx(wire)) == [Frame(0xC021, hx(packet))]
    assert Deframer(0).feed(hx(wire)) == [(0xC021, hx(packet))]


def test_lcp_codes_1_to_7_always_full_header_and_all_ones() -> None:
    conf_req = hx("01 01 00 08 02 06 00 00 00 00")  # ACCM option holds zero octets
    frame = encode_frame(0xC021, conf_req, accm=0, acfc=True, pfc=True)
    assert frame.startswith(b"\x7e\xff\x7d\x23\xc0\x21\x7d\x21")
    assert all(c >= 0x20 for c in frame)
    echo = hx("09 01 00 08 00 00 00 01")  # Echo-Request: negotiated ACCM applies, still no ACFC
    frame = encode_frame(0xC021, echo, accm=0, acfc=True)
    assert frame.startswith(b"\x7e\xff\x03\xc0\x21\x09\x01\x00")


def test_pfc_and_acfc_for_ip() -> None:
    frame = encode_frame(0x0021, b"\x45", accm=0, acfc=True, pfc=True, leading_flag=False)
    body = unescape(frame[:-1])
    assert body[:2] == b"\x21\x45"
    assert fcs16(body) == FCS16_GOOD
    wide = encode_frame(0x8021, b"\x01", accm=0, acfc=True, pfc=True)  # IPCP is never compressed
    assert wide[1:4] == b"\x80\x21\x01"


def test_encode_fcs32() -> None:
    frame = encode_frame(0x0021, b"data", accm=0, fcs32=True)
    assert fcs32(unescape(frame[1:-1])) == FCS32_GOOD
    assert Deframer(0, fcs32=True).feed(frame) == [(0x21, b"data")]
    assert Deframer(0).feed(frame) == []  # as FCS-16 the same octets are a bad frame


def test_encode_rejects_bad_protocol_numbers() -> None:
    with pytest.raises(LocalProtocolError, match="out of range"):
        encode_frame(0x10000, b"")


# -- scapy as an oracle -----------------------------------------------------------------------------


def test_scapy_dissects_our_lcp_and_ip_frames() -> None:
    from scapy.layers.inet import IP, UDP
    from scapy.layers.ppp import HDLC, PPP, PPP_LCP_Configure

    decoded = unescape(hx(SLIRP_CONF_REQ[0])[1:-1])  # slirp's own frame, dissected by scapy
    assert fcs16(decoded) == FCS16_GOOD
    slirp = HDLC(decoded[:-2])[PPP_LCP_Configure]
    assert [o.type for o in slirp.options] == [1, 5, 7, 8]
    assert (slirp.options[0].max_recv_unit, slirp.options[1].magic_number) == (1500, 0xF0488EAE)

    frame = encode_frame(0xC021, hx(GOLDEN_LCP[2][1]), accm=0)
    decoded = unescape(frame[1:-1])
    assert fcs16(decoded) == FCS16_GOOD
    pkt = HDLC(decoded[:-2])
    assert pkt[PPP].proto == 0xC021
    lcp = pkt[PPP_LCP_Configure]
    assert (lcp.code, lcp.id, lcp.len) == (1, 1, 20)
    assert [o.type for o in lcp.options] == [2, 5, 7, 8]
    assert lcp.options[1].magic_number == 0x0E791A59

    ip = bytes(IP(src="10.0.2.15", dst="10.0.2.2") / UDP(sport=1000, dport=2000) / b"~}hello\x11")
    frame = encode_frame(0x0021, ip, accm=0x000A0000)
    (protocol, info), = Deframer(0x000A0000).feed(frame)
    assert protocol == 0x21
    pkt = PPP(protocol.to_bytes(2, "big") + info)
    assert pkt[IP].dst == "10.0.2.2"
    assert bytes(pkt[UDP].payload) == b"~}hello\x11"


def test_scapy_built_frame_decodes() -> None:
    from scapy.layers.ppp import HDLC, PPP, PPP_IPCP, PPP_IPCP_Option_IPAddress

    raw = bytes(HDLC() / PPP() / PPP_IPCP(code=1, id=7, options=[PPP_IPCP_Option_IPAddress(data="0.0.0.0")]))
    wire = b"\x7e" + escape(append_fcs16(raw), ALL_ONES) + b"\x7e"
    (protocol, info), = Deframer().feed(wire)
    assert protocol == 0x8021
    assert info == raw[4:]
    assert encode_frame(0x8021, info) == wire


# -- the deframer: whole, byte by byte, split everywhere, trailing bytes ---------------------------

STREAM_FRAMES = [
    (0xC021, hx("01 01 00 0a 05 06 12 34 56 78")),
    (0x0021, bytes(range(256))),
    (0x8021, hx("03 02 00 0a 03 06 0a 00 02 0f")),
    (0x0057, b"\x7e\x7d" * 20),
]


def stream(accm: int = ALL_ONES, **kwargs: bool) -> bytes:
    return b"".join(encode_frame(p, info, accm=accm, **kwargs) for p, info in STREAM_FRAMES)


def test_deframer_whole_buffer() -> None:
    deframer = Deframer()
    assert deframer.feed(stream()) == STREAM_FRAMES
    assert deframer.stats.frames == 4
    assert deframer.pending == 0


def test_deframer_one_byte_at_a_time() -> None:
    deframer = Deframer()
    data = stream()
    got = []
    for i in range(len(data)):
        got += deframer.feed(data[i : i + 1])
    assert got == STREAM_FRAMES


def test_deframer_split_at_every_position() -> None:
    data = stream(0, acfc=True, pfc=True)
    for cut in range(len(data) + 1):
        deframer = Deframer(0)
        assert deframer.feed(data[:cut]) + deframer.feed(data[cut:]) == STREAM_FRAMES, cut


def test_deframer_accepts_bytearray_and_memoryview() -> None:
    data = stream()
    assert Deframer().feed(bytearray(data)) == STREAM_FRAMES
    frames = Deframer().feed(memoryview(data))
    assert frames == STREAM_FRAMES
    assert all(type(info) is bytes for _, info in frames)
    assert encode_frame(0x21, memoryview(b"abc"), accm=0) == encode_frame(0x21, b"abc", accm=0)


def test_deframer_trailing_bytes_wait_for_the_next_flag() -> None:
    deframer = Deframer()
    tail = encode_frame(0x21, b"next")
    data = stream() + tail[:-3]
    assert deframer.feed(data) == STREAM_FRAMES
    assert deframer.pending == len(tail) - 4  # the partial frame, without its opening flag
    assert deframer.feed(tail[-3:]) == [(0x21, b"next")]


def test_deframer_shared_flags_and_idle_flags() -> None:
    a = encode_frame(0x21, b"one", accm=0, leading_flag=True)
    b = encode_frame(0x21, b"two", accm=0, leading_flag=False)
    deframer = Deframer(0)
    assert deframer.feed(b"\x7e\x7e\x7e" + a + b + b"\x7e\x7e") == [(0x21, b"one"), (0x21, b"two")]
    assert deframer.stats.runts == 0


def test_deframer_drops_control_characters_in_receive_accm() -> None:
    frame = encode_frame(0x21, b"\x11payload\x13", accm=0x000A0000)
    noisy = frame[:5] + b"\x11" + frame[5:9] + b"\x13\x13" + frame[9:]
    deframer = Deframer(0x000A0000)
    assert deframer.feed(noisy + b"\x11\x7e") == [(0x21, b"\x11payload\x13")]
    assert deframer.stats.accm_dropped == 4
    assert deframer.stats.runts == 0
    deframer.accm = 0  # after LCP asked for 0: 0x11 is data again, so the noise breaks the FCS
    assert deframer.feed(noisy) == []
    assert deframer.stats.bad_fcs == 1


def test_deframer_counts_and_drops_bad_frames() -> None:
    good = encode_frame(0x21, b"good", accm=0)
    bad = bytearray(good)
    bad[5] ^= 0x01
    abort = good[:-3] + b"\x7d\x7e"
    runt = b"\x7e\x21\x00\x7e"
    bad_header = b"\x7e" + escape(append_fcs16(b"\xff\x05\x00\x21x"), 0) + b"\x7e"
    no_protocol = b"\x7e" + escape(append_fcs16(b"\xff\x03"), 0) + b"\x7e"
    short_protocol = b"\x7e" + escape(append_fcs16(b"\xff\x03\xc0"), 0) + b"\x7e"
    deframer = Deframer(0)
    frames = deframer.feed(bytes(bad) + abort + runt + bad_header + no_protocol + short_protocol + good)
    assert frames == [(0x21, b"good")]
    stats = deframer.stats
    assert (stats.bad_fcs, stats.aborts, stats.runts, stats.bad_header) == (1, 1, 3, 1)


def test_deframer_bounds_frame_length_and_memory() -> None:
    deframer = Deframer(0, max_frame=100)
    assert deframer.feed(encode_frame(0x21, b"a" * 95, accm=0)) == []
    assert deframer.stats.too_long == 1  # 2 + 2 + 95 + 2 = 101 octets de-stuffed > 100
    assert deframer.feed(encode_frame(0x21, b"a" * 94, accm=0)) == [(0x21, b"a" * 94)]
    # An endless frame: memory stays bounded and it is counted once.
    deframer.feed(b"\x7e")
    for _ in range(50):
        deframer.feed(b"\x00" * 97)
        assert deframer.pending <= 202
    assert deframer.stats.too_long == 2
    # Escaped octets count at their de-stuffed size: 60 escaped flags fit in 100.
    assert deframer.feed(encode_frame(0x21, b"\x7e" * 60, accm=0)) == [(0x21, b"\x7e" * 60)]


def test_deframer_rejects_silly_bound() -> None:
    with pytest.raises(ValueError, match="max_frame"):
        Deframer(max_frame=3)


def test_frame_to_ppp_for_capture() -> None:
    assert Frame(0x21, b"x").to_ppp() == b"\xff\x03\x00\x21x"


@settings(max_examples=80, deadline=None)
@given(
    payloads=st.lists(st.binary(min_size=1, max_size=300), min_size=1, max_size=4),
    accm=st.one_of(st.sampled_from([0, ALL_ONES, 0x000A0000]), st.integers(0, ALL_ONES)),
    protocol=st.sampled_from([0x0021, 0x0057, 0x8021, 0xC223, 0x002D]),
    acfc=st.booleans(),
    pfc=st.booleans(),
    fcs32=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_round_trip_any_payload_any_accm(
    *,
    payloads: list[bytes], accm: int, protocol: int, acfc: bool, pfc: bool, fcs32: bool, seed: int
) -> None:
    data = b"".join(encode_frame(protocol, p, accm=accm, acfc=acfc, pfc=pfc, fcs32=fcs32) for p in payloads)
    raw = data.replace(b"\x7d\x5e", b"").replace(b"\x7d\x5d", b"")
    assert not any(c < 0x20 and (accm >> c) & 1 for c in raw)  # the peer's map is honoured
    expected = [(protocol, p) for p in payloads]
    assert Deframer(accm, fcs32=fcs32).feed(data) == expected
    # The same stream cut at random places.
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(len(data) + 1), k=min(5, len(data) + 1)))
    deframer = Deframer(accm, fcs32=fcs32)
    got = []
    for start, stop in zip([0, *cuts], [*cuts, len(data)], strict=True):
        got += deframer.feed(data[start:stop])
    assert got == expected
