"""pcap with LINKTYPE_PPP_WITH_DIR: header byte for byte, and scapy's rdpcap dissects the records."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from pppos.errors import ConfigError
from pppos.ppp.capture import LINKTYPE_PPP_WITH_DIR, PcapWriter, mask_secrets, open_pcap
from pppos.ppp.hdlc import Deframer, encode_frame

LCP_CONF_REQ = bytes.fromhex("01 01 00 14 02 06 00 00 00 00 05 06 0e 79 1a 59 07 02 08 02".replace(" ", ""))
IPCP_CONF_NAK = bytes.fromhex("03 01 00 0a 03 06 0a 00 02 0f".replace(" ", ""))


def test_global_header_and_record_byte_for_byte() -> None:
    out = io.BytesIO()
    writer = PcapWriter(out)
    assert out.getvalue() == bytes.fromhex(
        "d4c3b2a1"  # magic 0xa1b2c3d4, little-endian, microseconds
        "0200" "0400"  # version 2.4
        "00000000" "00000000"  # thiszone, sigfigs
        "00000400"  # snaplen 262144
        "cc000000"  # link type 204
    )
    writer.write(1700000000.25, True, b"\xff\x03\xc0\x21" + LCP_CONF_REQ)
    record = out.getvalue()[24:]
    assert record[:16] == bytes.fromhex("00f15365" "90d00300" "19000000" "19000000")
    assert record[16:] == b"\x01\xff\x03\xc0\x21" + LCP_CONF_REQ
    writer(2.9999999, False, b"\xff\x03\x00\x21")  # rounds up into the next second
    assert out.getvalue()[24 + 41 :][:8] == bytes.fromhex("03000000" "00000000")
    assert out.getvalue()[-5:] == b"\x00\xff\x03\x00\x21"
    assert writer.records == 2
    assert LINKTYPE_PPP_WITH_DIR == 204


def test_snaplen_cuts_but_keeps_original_length() -> None:
    out = io.BytesIO()
    writer = PcapWriter(out, snaplen=8, flush=False)
    writer.write(0.0, True, bytes(20))
    header = out.getvalue()[24:40]
    assert header[8:] == bytes.fromhex("08000000" "15000000")
    assert len(out.getvalue()) == 24 + 16 + 8
    with pytest.raises(ValueError, match="snaplen"):
        PcapWriter(io.BytesIO(), snaplen=1)


def test_scapy_reads_and_dissects_the_capture(tmp_path: Path) -> None:
    from scapy.layers.inet import IP, UDP
    from scapy.layers.ppp import DIR_PPP, PPP, PPP_IPCP, PPP_LCP_Configure
    from scapy.utils import rdpcap

    ip = bytes(IP(src="10.0.2.15", dst="10.0.2.2") / UDP(sport=4000, dport=5000) / b"ping")
    wire = (
        encode_frame(0xC021, LCP_CONF_REQ)
        + encode_frame(0x8021, IPCP_CONF_NAK)
        + encode_frame(0x0021, ip, accm=0, acfc=True, pfc=True)
    )
    path = tmp_path / "ppp.pcap"
    with path.open("wb") as fileobj:
        writer = PcapWriter(fileobj)
        for i, frame in enumerate(Deframer(0).feed(wire)):
            writer.write(100.0 + i, i == 0, frame.to_ppp())
    packets = rdpcap(str(path))
    assert len(packets) == 3
    assert [float(p.time) for p in packets] == [100.0, 101.0, 102.0]
    # scapy >= 2.5 has a Packet.direction attribute of its own: read the field explicitly.
    assert [p[DIR_PPP].getfieldval("direction") for p in packets] == [1, 0, 0]
    assert [p[PPP].proto for p in packets] == [0xC021, 0x8021, 0x0021]
    lcp = packets[0][PPP_LCP_Configure]
    assert (lcp.code, lcp.id, [o.type for o in lcp.options]) == (1, 1, [2, 5, 7, 8])
    ipcp = packets[1][PPP_IPCP]
    assert (ipcp.code, ipcp.options[0].data) == (3, "10.0.2.15")
    assert packets[2][IP].dst == "10.0.2.2"
    assert bytes(packets[2][UDP].payload) == b"ping"


# -- secrets (issue 12) ---------------------------------------------------------------------------


def _pap_request(user: bytes, password: bytes, *, header: bytes = b"\xff\x03") -> bytes:
    body = bytes([len(user)]) + user + bytes([len(password)]) + password
    return header + b"\xc0\x23" + bytes([1, 7]) + (4 + len(body)).to_bytes(2, "big") + body


@pytest.mark.parametrize("header", [b"\xff\x03", b""])
def test_pap_passwords_are_masked_with_their_length_kept(header: bytes) -> None:
    frame = _pap_request(b"user", b"s3cret!", header=header)
    masked = mask_secrets(frame)
    assert masked == _pap_request(b"user", b"*******", header=header)
    out = io.BytesIO()
    PcapWriter(out, flush=False).write(1.0, True, frame)
    assert b"s3cret!" not in out.getvalue() and b"*******" in out.getvalue()
    kept = io.BytesIO()
    PcapWriter(kept, flush=False, keep_secrets=True).write(1.0, True, frame)
    assert b"s3cret!" in kept.getvalue()


@pytest.mark.parametrize(
    "frame",
    [
        b"\xff\x03\xc0\x21\x01\x01\x00\x04",  # LCP
        b"\xff\x03\xc0\x23\x02\x07\x00\x05\x00",  # PAP Authenticate-Ack
        b"\xff\x03\xc0\x23\x01\x07\x00\x09\x09ab",  # truncated Authenticate-Request
        b"\x21\x45\x00",  # compressed protocol field (IP)
        b"",
    ],
)
def test_other_frames_pass_unchanged(frame: bytes) -> None:
    assert mask_secrets(frame) == frame


def test_pcap_files_are_private(tmp_path: Path) -> None:
    path = tmp_path / "new.pcap"
    with open_pcap(str(path)) as fileobj:
        PcapWriter(fileobj)
    assert path.stat().st_mode & 0o777 == 0o600
    public = tmp_path / "public.pcap"
    public.write_bytes(b"old")
    public.chmod(0o644)
    with pytest.raises(ConfigError, match="others can read it"):
        open_pcap(str(public))
    assert public.read_bytes() == b"old"
    private = tmp_path / "private.pcap"
    private.write_bytes(b"old")
    private.chmod(0o600)
    with open_pcap(str(private)) as fileobj:
        fileobj.write(b"new")
    assert private.read_bytes() == b"new"
    with pytest.raises(ConfigError, match="cannot write the pcap file"):
        open_pcap(str(tmp_path / "missing-dir" / "x.pcap"))
    link = tmp_path / "link.pcap"
    link.symlink_to(private)
    with pytest.raises(ConfigError, match="is a symbolic link"):
        open_pcap(str(link))
    assert private.read_bytes() == b"new"


def _chap(code: int, value: bytes, name: bytes, *, header: bytes = b"\xff\x03") -> bytes:
    body = bytes([len(value)]) + value + name
    return header + b"\xc2\x23" + bytes([code, 9]) + (4 + len(body)).to_bytes(2, "big") + body


@pytest.mark.parametrize("header", [b"\xff\x03", b""])
def test_chap_response_values_are_masked_and_challenges_kept(header: bytes) -> None:
    """RFC 1994 section 4.1: the Response's value (MD5 of id, secret, challenge) is masked, its name
    and the Challenge are kept (they carry no secret), and scapy still dissects the masked frame."""
    digest = bytes(range(16))
    response = _chap(2, digest, b"pi", header=header)
    assert mask_secrets(response) == _chap(2, b"*" * 16, b"pi", header=header)
    challenge = _chap(1, b"\x55" * 16, b"peer", header=header)
    assert mask_secrets(challenge) == challenge
    out = io.BytesIO()
    writer = PcapWriter(out, flush=False)
    writer.write(1.0, False, challenge)
    writer.write(1.1, True, response)
    assert digest not in out.getvalue() and b"\x55" * 16 in out.getvalue()
    kept = io.BytesIO()
    PcapWriter(kept, flush=False, keep_secrets=True).write(1.0, True, response)
    assert digest in kept.getvalue()
    from scapy.layers.ppp import PPP, PPP_CHAP_ChallengeResponse

    pkt = PPP(mask_secrets(response)[len(header):])
    assert pkt[PPP_CHAP_ChallengeResponse].value == b"*" * 16
    assert pkt[PPP_CHAP_ChallengeResponse].optional_name == b"pi"


@pytest.mark.parametrize(
    "frame",
    [
        b"\xff\x03\xc2\x23\x02\x09\x00\x04",  # CHAP Response without a value-size
        b"\xff\x03\xc2\x23\x03\x09\x00\x04",  # CHAP Success
        b"\xff\x03\xc2\x23\x02\x09\x00\x05\x10ab",  # truncated value: masked up to the end
    ],
)
def test_short_chap_frames_never_raise(frame: bytes) -> None:
    masked = mask_secrets(frame)
    assert len(masked) == len(frame) and masked[:8] == frame[:8]


def test_mask_secrets_fuzz_never_raises_and_keeps_lengths() -> None:
    """20,000 random frames, biased towards PAP and CHAP headers of every code and length: the
    masker never raises, keeps every length, and only ever turns octets after the header into ``*``."""
    import random

    rng = random.Random(1994)
    heads = [b"\xff\x03\xc0\x23", b"\xc0\x23", b"\xff\x03\xc2\x23", b"\xc2\x23", b"\xff\x03", b""]
    for _ in range(20_000):
        body = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 40)))
        if body and rng.random() < 0.7:
            body = bytes([rng.choice((1, 2, 3, 4)), *body[1:]])
        frame = rng.choice(heads) + body
        masked = mask_secrets(frame)
        assert len(masked) == len(frame)
        assert masked[:7] == frame[:7]  # the protocol, code, identifier, length and size stay
        assert all(m == o or m == ord("*") for m, o in zip(masked, frame, strict=True))
