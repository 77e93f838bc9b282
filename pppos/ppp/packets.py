"""PPP protocol numbers, control-packet codes and the control-packet / option codecs.

Implements the packet formats shared by every PPP control protocol:

- RFC 1661 section 5: the control packet ``Code | Identifier | Length | Data``; octets beyond
  ``Length`` are padding and ignored, a packet whose ``Length`` exceeds what was received (or is below
  4) is silently discarded.
- RFC 1661 section 6: the configuration option ``Type | Length | Data`` (``Length`` counts the two
  header octets, so it is at least 2).
- Protocol numbers from RFC 1661 section 2 / the IANA PPP DLL registry, LCP codes 1-11 (RFC 1661
  section 5), IPCP (RFC 1332) with the DNS/NBNS options of RFC 1877, PAP (RFC 1334 section 2.2), CHAP
  (RFC 1994 section 4) and IPv6CP (RFC 5072).

The decoders never raise on peer input: a malformed packet or option list decodes to ``None`` and
the caller counts and drops it (RFC 1661 section 5, "silently discard").
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum, unique

__all__ = [
    "AuthAlgorithm",
    "ChapCode",
    "Code",
    "ControlPacket",
    "IpcpOption",
    "Ipv6cpOption",
    "LcpOption",
    "Option",
    "PapCode",
    "Protocol",
    "decode_options",
    "decode_packet",
    "encode_options",
    "split_protocol",
]


@unique
class Protocol(IntEnum):
    """PPP protocol field values (RFC 1661 section 2, IANA "PPP DLL Protocol Numbers")."""

    #: Internet Protocol version 4 (RFC 1332).
    IP = 0x0021
    #: Novell IPX (never run by us: Protocol-Rejected).
    IPX = 0x002B
    #: Van Jacobson compressed TCP/IP (RFC 1144), never negotiated by us.
    VJ_COMP = 0x002D
    #: Van Jacobson uncompressed TCP/IP (RFC 1144), never negotiated by us.
    VJ_UNCOMP = 0x002F
    #: Internet Protocol version 6 (RFC 5072).
    IPV6 = 0x0057
    #: IP Control Protocol (RFC 1332).
    IPCP = 0x8021
    #: IPX Control Protocol (RFC 1552).
    IPXCP = 0x802B
    #: IPv6 Control Protocol (RFC 5072).
    IPV6CP = 0x8057
    #: Compression Control Protocol (RFC 1962): Protocol-Rejected.
    CCP = 0x80FD
    #: Encryption Control Protocol (RFC 1968): Protocol-Rejected.
    ECP = 0x8053
    #: Link Control Protocol (RFC 1661).
    LCP = 0xC021
    #: Password Authentication Protocol (RFC 1334).
    PAP = 0xC023
    #: Link Quality Report (RFC 1989): Protocol-Rejected.
    LQR = 0xC025
    #: Challenge-Handshake Authentication Protocol (RFC 1994).
    CHAP = 0xC223


@unique
class Code(IntEnum):
    """LCP packet codes (RFC 1661 section 5); IPCP and IPv6CP use codes 1-7 (RFC 1332 section 2)."""

    CONFIGURE_REQUEST = 1
    CONFIGURE_ACK = 2
    CONFIGURE_NAK = 3
    CONFIGURE_REJECT = 4
    TERMINATE_REQUEST = 5
    TERMINATE_ACK = 6
    CODE_REJECT = 7
    PROTOCOL_REJECT = 8
    ECHO_REQUEST = 9
    ECHO_REPLY = 10
    DISCARD_REQUEST = 11


@unique
class PapCode(IntEnum):
    """PAP packet codes (RFC 1334 section 2.2)."""

    AUTHENTICATE_REQUEST = 1
    AUTHENTICATE_ACK = 2
    AUTHENTICATE_NAK = 3


@unique
class ChapCode(IntEnum):
    """CHAP packet codes (RFC 1994 section 4)."""

    CHALLENGE = 1
    RESPONSE = 2
    SUCCESS = 3
    FAILURE = 4


@unique
class AuthAlgorithm(IntEnum):
    """CHAP algorithm octets in the LCP Authentication-Protocol option (RFC 1994 section 3)."""

    MD5 = 5
    MSCHAP = 0x80
    MSCHAP_V2 = 0x81


@unique
class LcpOption(IntEnum):
    """LCP configuration option types (RFC 1661 section 6, RFC 1662 section 7.1 for ACCM)."""

    MRU = 1
    ACCM = 2
    AUTH_PROTOCOL = 3
    QUALITY_PROTOCOL = 4
    MAGIC_NUMBER = 5
    PFC = 7
    ACFC = 8
    CALLBACK = 13


@unique
class IpcpOption(IntEnum):
    """IPCP configuration option types (RFC 1332 section 3, RFC 1877 section 1)."""

    IP_ADDRESSES = 1
    IP_COMPRESSION = 2
    IP_ADDRESS = 3
    PRIMARY_DNS = 129
    PRIMARY_NBNS = 130
    SECONDARY_DNS = 131
    SECONDARY_NBNS = 132


@unique
class Ipv6cpOption(IntEnum):
    """IPv6CP configuration option types (RFC 5072 section 4)."""

    INTERFACE_IDENTIFIER = 1
    IPV6_COMPRESSION = 2


_HEADER = struct.Struct("!BBH")


@dataclass(frozen=True, slots=True)
class ControlPacket:
    """One control packet (RFC 1661 section 5): ``code``, ``identifier`` and the ``data`` after the length.

    The same layout carries LCP, IPCP, IPv6CP, PAP (RFC 1334 section 2.2) and CHAP (RFC 1994
    section 4) packets; ``code`` is kept as a plain int so unknown codes survive decoding (they are
    answered with Code-Reject).
    """

    code: int
    identifier: int
    data: bytes = b""

    def encode(self) -> bytes:
        """Return the packet's wire form (header plus data)."""
        return _HEADER.pack(self.code, self.identifier & 0xFF, 4 + len(self.data)) + self.data


def decode_packet(payload: bytes) -> ControlPacket | None:
    """Decode one control packet from a PPP information field.

    Returns ``None`` (the caller counts and drops it) when fewer than 4 octets arrived, when the
    Length field is below 4 or larger than the octets received. Octets past Length are padding and
    ignored (RFC 1661 section 5).
    """
    if len(payload) < 4:
        return None
    code, identifier, length = _HEADER.unpack_from(payload)
    if length < 4 or length > len(payload):
        return None
    return ControlPacket(code, identifier, bytes(payload[4:length]))


@dataclass(frozen=True, slots=True)
class Option:
    """One configuration option (RFC 1661 section 6): ``type`` and its ``value`` (the octets after Length)."""

    type: int
    value: bytes = b""

    def encode(self) -> bytes:
        """Return ``Type | Length | value``."""
        return bytes((self.type, 2 + len(self.value))) + self.value


def encode_options(options: Iterable[Option]) -> bytes:
    """Concatenate the wire forms of ``options`` (the Data of a Configure-* packet)."""
    return b"".join(opt.encode() for opt in options)


def decode_options(data: bytes) -> list[Option] | None:
    """Split the Data of a Configure-* packet into options.

    Returns ``None`` when any option's Length is below 2 or runs past the end of ``data``: such a
    packet is malformed and must be discarded as a whole (RFC 1661 section 6).
    """
    options: list[Option] = []
    pos = 0
    end = len(data)
    while pos < end:
        if end - pos < 2:
            return None
        kind = data[pos]
        length = data[pos + 1]
        if length < 2 or pos + length > end:
            return None
        options.append(Option(kind, bytes(data[pos + 2 : pos + length])))
        pos += length
    return options


def split_protocol(frame: bytes) -> tuple[int, bytes] | None:
    """Split a de-framed PPP frame into ``(protocol, information)``.

    Strips the ``ff 03`` address/control pair when present (absent after ACFC, RFC 1661 section 6.6)
    and reads a one- or two-octet protocol field (one octet after PFC: an odd first octet, RFC 1661
    section 6.5). Returns ``None`` for a frame too short to hold a protocol or with an even last
    protocol octet (RFC 1661 section 2: protocol values are odd).
    """
    pos = 2 if frame[:2] == b"\xff\x03" else 0
    if len(frame) <= pos:
        return None
    first = frame[pos]
    if first & 1:
        return first, bytes(frame[pos + 1 :])
    if len(frame) < pos + 2:
        return None
    second = frame[pos + 1]
    if not second & 1:
        return None
    return (first << 8) | second, bytes(frame[pos + 2 :])
