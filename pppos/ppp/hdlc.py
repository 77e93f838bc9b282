"""RFC 1662 asynchronous HDLC-like framing for PPP: FCS-16/32, ACCM escaping, a bounded deframer.

What is implemented (RFC 1662 sections in brackets):

* **FCS** [C.2, C.3]: :func:`fcs16` and :func:`fcs32` return the CRC *register* exactly like the RFC's
  ``pppfcs16()``/``pppfcs32()`` (initial value ``0xFFFF``/``0xFFFFFFFF``, reflected polynomials, not
  complemented). A sender appends the complemented register least significant octet first
  (:func:`append_fcs16`); a receiver runs the register over the frame *including* its FCS and
  compares with the good residue :data:`FCS16_GOOD` (``0xF0B8``) or :data:`FCS32_GOOD`
  (``0xDEBB20E3``). Both run at C speed: FCS-32 is :func:`zlib.crc32`; FCS-16 uses the ``anycrc``
  package (CRC-16/MCRF4XX, table-sliced C) when it is installed and otherwise
  :func:`binascii.crc_hqx` over bit-reversed octets (``bytes.translate``), which gives the same
  value. :data:`FCS16_BACKEND` says which one is in use.
* **Transparency** [4.2]: Flag ``0x7E``, Control Escape ``0x7D``, escaped octets XORed with
  ``0x20``. :func:`escape` always escapes 0x7E and 0x7D plus every octet in the send ACCM (the
  *peer's* map; bit *n* set means octet *n* is escaped; maps wider than 32 bits are accepted, as the
  extended ACCM of section 7.1 allows). With ACCM 0 this is two ``bytes.replace`` calls; with a
  32-bit map it is one ``replace`` per octet value present. :func:`unescape` undoes any escaping
  with a fixed number of C-level list operations per frame (split on 0x7D, map the first octet of
  each piece through a table, interleave), never a per-octet Python loop.
* **Frames** [3.1, 3.2]: :func:`encode_frame` builds ``flag, [FF 03], protocol (1 or 2 octets),
  information, FCS, flag``. Address-and-Control-Field-Compression and Protocol-Field-Compression
  are applied when asked (PFC only for protocols below 0x100). RFC 1661 section 6.6 and RFC 1662
  section 7.1 rules are enforced here so no caller can get them wrong: LCP is never sent with ACFC,
  and LCP codes 1-7 (Configure-* , Terminate-*, Code-Reject) always go out with the all-ones ACCM.
* **Deframer** [4.3, 4.4.1, 6]: :class:`Deframer` splits the octet stream on flags (any number of
  flags between frames), drops received control octets that are set in *our* receive ACCM
  ("inserted by DCE equipment"), undoes escaping, and silently discards, while counting in
  :class:`DeframerStats`: frames ending in ``7D 7E`` (abort), runts (fewer than 4 octets with
  FCS-16, or too short for a header), frames longer than ``max_frame`` (also while they arrive: the
  partial frame is never kept beyond ``2 * max_frame + 2`` raw octets, so memory stays bounded
  whatever the line sends), bad FCS and a malformed address/control field. The address/control
  field and the 1-or-2-octet protocol field are parsed in every frame, so ACFC and PFC are accepted
  on receive at any time. Nothing here ever raises on peer data.

Everything is sans-I/O and stateless except :class:`Deframer`, which keeps at most one partial frame.
"""

from __future__ import annotations

import binascii
import operator
import zlib
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from pppos.errors import LocalProtocolError
from pppos.ppp.limits import DEFAULT_MRU, frame_bound

try:  # optional accelerator: a C CRC engine that is ~50x faster than binascii.crc_hqx for FCS-16
    import anycrc as _anycrc
except ImportError:  # pragma: no cover - exercised when the package is absent
    _anycrc = None

__all__ = [
    "ALL_ONES",
    "ESCAPE",
    "FCS16_BACKEND",
    "FCS16_GOOD",
    "FCS16_INIT",
    "FCS32_GOOD",
    "FCS32_INIT",
    "FLAG",
    "LCP_PROTOCOL",
    "Deframer",
    "DeframerStats",
    "Frame",
    "append_fcs16",
    "append_fcs32",
    "encode_frame",
    "escape",
    "fcs16",
    "fcs32",
    "unescape",
]

#: The Flag Sequence that opens and closes every frame (RFC 1662 section 3.1).
FLAG = 0x7E
#: The Control Escape octet (RFC 1662 section 4.2).
ESCAPE = 0x7D
#: The all-ones ACCM: every control character escaped; the default before LCP opens (section 7.1).
ALL_ONES = 0xFFFFFFFF
#: Initial FCS-16 register value (RFC 1662 C.2 ``PPPINITFCS16``).
FCS16_INIT = 0xFFFF
#: FCS-16 register after a frame with a correct FCS (RFC 1662 C.2 ``PPPGOODFCS16``).
FCS16_GOOD = 0xF0B8
#: Initial FCS-32 register value (RFC 1662 C.3 ``PPPINITFCS32``).
FCS32_INIT = 0xFFFFFFFF
#: FCS-32 register after a frame with a correct FCS (RFC 1662 C.3 ``PPPGOODFCS32``).
FCS32_GOOD = 0xDEBB20E3
#: The PPP protocol number of LCP (RFC 1661 section 2).
LCP_PROTOCOL = 0xC021
#: Default bound on a de-stuffed frame (header, information and FCS) for the default MRU; the link
#: sizes its deframer from the MRU it asks for and resizes it when LCP opens (:mod:`pppos.ppp.limits`).
DEFAULT_MAX_FRAME = frame_bound(DEFAULT_MRU)

_FLAG_BYTE = b"\x7e"
_ESCAPE_BYTE = b"\x7d"
_HEADER = b"\xff\x03"

# -- FCS ----------------------------------------------------------------------------------------

#: Octet bit reversal, for running the reflected PPP CRC through the MSB-first ``crc_hqx``.
_REVERSE = bytes(int(f"{i:08b}"[::-1], 2) for i in range(256))


def _reverse16(value: int) -> int:
    return (_REVERSE[value & 0xFF] << 8) | _REVERSE[value >> 8]


def _fcs16_binascii(data: bytes, fcs: int = FCS16_INIT) -> int:
    """FCS-16 register through :func:`binascii.crc_hqx` (CRC-CCITT, MSB first) on reversed octets."""
    return _reverse16(binascii.crc_hqx(bytes(data).translate(_REVERSE), _reverse16(fcs)))


if _anycrc is not None:
    _MCRF4XX = _anycrc.Model("CRC16-MCRF4XX")  # reflected 0x1021, init 0xFFFF, no final XOR

    def _fcs16_anycrc(data: bytes, fcs: int = FCS16_INIT) -> int:
        """FCS-16 register through anycrc's CRC-16/MCRF4XX, which is exactly RFC 1662's pppfcs16."""
        return int(_MCRF4XX.calc(data, fcs))

    fcs16_impl = _fcs16_anycrc
    #: Which C engine computes FCS-16: ``"anycrc"`` or ``"binascii"``.
    FCS16_BACKEND = "anycrc"
else:  # pragma: no cover - depends on the environment
    fcs16_impl = _fcs16_binascii
    FCS16_BACKEND = "binascii"


def fcs16(data: bytes, fcs: int = FCS16_INIT) -> int:
    """Run the 16-bit FCS register over ``data`` (RFC 1662 appendix C.2 ``pppfcs16``).

    Returns the register, not complemented. Over a frame that includes its own FCS the result is
    :data:`FCS16_GOOD` when the frame is intact. Pass ``fcs`` to continue a running computation.
    """
    return fcs16_impl(data, fcs)


def fcs32(data: bytes, fcs: int = FCS32_INIT) -> int:
    """Run the 32-bit FCS register over ``data`` (RFC 1662 appendix C.3 ``pppfcs32``; RFC 1570).

    Returns the register, not complemented; :data:`FCS32_GOOD` over an intact frame with its FCS.
    """
    return zlib.crc32(data, fcs ^ 0xFFFFFFFF) ^ 0xFFFFFFFF


def append_fcs16(data: bytes) -> bytes:
    """``data`` followed by its FCS-16: the complemented register, least significant octet first (C.2)."""
    return data + (fcs16_impl(data, FCS16_INIT) ^ 0xFFFF).to_bytes(2, "little")


def append_fcs32(data: bytes) -> bytes:
    """``data`` followed by its FCS-32, least significant octet first (RFC 1662 C.3)."""
    return data + zlib.crc32(data).to_bytes(4, "little")


# -- escaping -----------------------------------------------------------------------------------


#: Octets no map can make us escape: the two always escaped, and 0x5D/0x5E, whose escaped forms
#: would be the Control Escape and the Flag themselves.
_NEVER_ESCAPED = frozenset({ESCAPE, FLAG, ESCAPE ^ 0x20, FLAG ^ 0x20})


@lru_cache(maxsize=32)
def _escape_plan(accm: int) -> tuple[tuple[tuple[bytes, bytes], ...], dict[int, str] | None]:
    """The replace pairs for ``accm`` (0x7D first), or a str.translate table when replace is unsafe.

    Chained ``replace`` is only correct when no escaped octet (c ^ 0x20) is itself in the map; that
    holds for every 32-bit ACCM, and an extended map that breaks it gets an exact translate table.
    """
    chars = [ESCAPE, FLAG] + [c for c in range(256) if c not in _NEVER_ESCAPED and (accm >> c) & 1]
    charset = set(chars)
    if any(c ^ 0x20 in charset for c in chars):
        return (), {c: chr(ESCAPE) + chr(c ^ 0x20) for c in chars}
    return tuple((bytes([c]), bytes([ESCAPE, c ^ 0x20])) for c in chars), None


def escape(data: bytes, accm: int = ALL_ONES) -> bytes:
    """Apply RFC 1662 section 4.2 transparency for a peer whose receive ACCM is ``accm``.

    0x7E and 0x7D are always escaped; octet *n* is escaped too when bit *n* of ``accm`` is set,
    except 0x5D and 0x5E in an extended map (their escaped forms would be 0x7D and 0x7E).
    """
    data = bytes(data)
    if accm == 0:
        return data.replace(b"\x7d", b"\x7d\x5d").replace(b"\x7e", b"\x7d\x5e")
    pairs, table = _escape_plan(accm)
    if table is not None:
        return data.decode("latin-1").translate(table).encode("latin-1")
    for plain, escaped in pairs:
        if plain in data:
            data = data.replace(plain, escaped)
    return data


_XOR_ONE = {bytes([i]): bytes([i ^ 0x20]) for i in range(256)}
_XOR_ONE_GET = _XOR_ONE.__getitem__
_HEAD = operator.itemgetter(slice(0, 1))
_TAIL = operator.itemgetter(slice(1, None))


def _unescape_exact(data: bytes) -> bytes:
    """Reference unescape, octet by octet; used only for ``7D 7D`` (an escaped 0x5D), which is rare."""
    out = bytearray()
    pending = False
    for octet in data:
        if pending:
            out.append(octet ^ 0x20)
            pending = False
        elif octet == ESCAPE:
            pending = True
        else:
            out.append(octet)
    return bytes(out)


#: Above this many escapes per frame, :func:`unescape` switches to whole-frame integer arithmetic.
_MANY_ESCAPES = 40
#: Translate tables marking Control Escape octets with 0x01 (position) and 0x20 (bit to flip).
_MARK_ESCAPE = bytes(0x01 if i == ESCAPE else 0 for i in range(256))
_MARK_FLIP = bytes(0x20 if i == ESCAPE else 0 for i in range(256))


def _unescape_many(data: bytes) -> bytes:
    """Unescape with a constant number of C-level whole-frame operations (for many escapes).

    Every 0x7D is an escape (0x7D 0x7D excluded by the caller), so: mark escapes with 0x01 and the
    octet after each escape with 0x20 (a second mark shifted by one octet through a big-integer
    shift), delete escapes from both the data and the mark string, and XOR the two as integers.
    """
    size = len(data)
    from_bytes = int.from_bytes
    marks = from_bytes(data.translate(_MARK_ESCAPE), "big") ^ (from_bytes(data.translate(_MARK_FLIP), "big") >> 8)
    flips = marks.to_bytes(size, "big").translate(None, b"\x01")
    kept = data.translate(None, _ESCAPE_BYTE)
    return (from_bytes(kept, "big") ^ from_bytes(flips, "big")).to_bytes(len(kept), "big")


def unescape(data: bytes) -> bytes:
    """Undo RFC 1662 section 4.2 transparency: each ``7D x`` becomes ``x ^ 0x20``.

    Any octet may have been escaped, whatever the ACCM. A trailing lone 0x7D is dropped (the
    deframer treats it as an abort before calling this). Few escapes (ACCM 0 traffic): split on
    0x7D and map the first octet of each piece through a table; many (all-ones ACCM): whole-frame
    integer arithmetic. Neither loops over octets in Python.
    """
    data = bytes(data)
    if _ESCAPE_BYTE not in data:
        return data
    if data[-1] == ESCAPE:
        return _unescape_exact(data)  # a lone trailing escape, or an escaped 0x5D at the very end
    parts = data.split(_ESCAPE_BYTE)
    if b"" in parts and (parts[0] or parts.count(b"") > 1):
        return _unescape_exact(data)  # 7D 7D: an escaped 0x5D, which only an extended ACCM asks for
    if len(parts) > _MANY_ESCAPES:
        return _unescape_many(data)
    first = parts[0]
    del parts[0]
    out: list[bytes] = [b""] * (2 * len(parts) + 1)
    out[0] = first
    out[1::2] = map(_XOR_ONE_GET, map(_HEAD, parts))
    out[2::2] = map(_TAIL, parts)
    return b"".join(out)


# -- frames -------------------------------------------------------------------------------------


def encode_frame(
    protocol: int,
    payload: bytes,
    *,
    accm: int = ALL_ONES,
    acfc: bool = False,
    pfc: bool = False,
    fcs32: bool = False,
    leading_flag: bool = True,
) -> bytes:
    """One complete async-HDLC frame: flag, header, ``payload``, FCS, escaping, closing flag.

    :param protocol: the PPP protocol number (0x0021 IPv4, 0xC021 LCP, ...).
    :param payload: the information field (for control protocols: code, id, length, data).
    :param accm: the send ACCM, i.e. the map the peer asked for (section 7.1); 0 escapes only 0x7E
        and 0x7D. Forced to all-ones for LCP codes 1-7.
    :param acfc: omit the ``FF 03`` address and control fields (never for LCP, RFC 1661 6.6).
    :param pfc: send protocols below 0x100 in one octet (RFC 1661 section 6.5).
    :param fcs32: use the 32-bit FCS (RFC 1570) instead of FCS-16.
    :param leading_flag: start with a flag; a sender may omit it right after a previous frame's
        closing flag (section 3.1, one flag may end one frame and begin the next).
    :raises LocalProtocolError: for a protocol number outside 0..0xFFFF.
    """
    if not 0 <= protocol <= 0xFFFF:
        raise LocalProtocolError(f"PPP protocol number out of range: {protocol!r}")
    if protocol == LCP_PROTOCOL:
        acfc = False
        if payload and 1 <= payload[0] <= 7:
            accm = ALL_ONES
    header = b"" if acfc else _HEADER
    if pfc and protocol < 0x100:
        frame = header + bytes((protocol,)) + payload
    else:
        frame = header + protocol.to_bytes(2, "big") + payload
    if fcs32:
        frame += zlib.crc32(frame).to_bytes(4, "little")
    else:
        frame += (fcs16_impl(frame, FCS16_INIT) ^ 0xFFFF).to_bytes(2, "little")
    return b"".join((_FLAG_BYTE if leading_flag else b"", escape(frame, accm), _FLAG_BYTE))


class Frame(NamedTuple):
    """One received PPP frame: the protocol number and the information field (RFC 1661 section 2).

    A tuple, so ``for protocol, information in deframer.feed(data)`` works.
    """

    protocol: int
    information: bytes

    def to_ppp(self) -> bytes:
        """The frame as pcap's LINKTYPE_PPP wants it: ``FF 03``, two-octet protocol, information."""
        return _HEADER + self.protocol.to_bytes(2, "big") + self.information


@dataclass(slots=True)
class DeframerStats:
    """Counters of a :class:`Deframer`: what arrived and what was silently discarded (RFC 1662 4.3)."""

    #: Octets fed in.
    octets: int = 0
    #: Good frames returned.
    frames: int = 0
    #: Frames with a bad FCS.
    bad_fcs: int = 0
    #: Frames too short to hold a header and an FCS.
    runts: int = 0
    #: Frames longer than ``max_frame`` (counted once each, also when cut off while arriving).
    too_long: int = 0
    #: Frames ended by the abort sequence ``7D 7E``.
    aborts: int = 0
    #: Frames whose first octet is 0xFF but whose second is not 0x03.
    bad_header: int = 0
    #: Unescaped control octets dropped because they are in our receive ACCM.
    accm_dropped: int = 0


class Deframer:
    """Turn an async-HDLC octet stream into PPP frames (RFC 1662 sections 3, 4 and 6).

    :param accm: our *receive* ACCM: unescaped control octets whose bit is set are dropped as
        noise inserted by the line. All-ones until LCP negotiates (section 7.1); assign
        :attr:`accm` when LCP opens.
    :param max_frame: the largest de-stuffed frame (address/control, protocol, information and
        FCS) accepted; longer ones are counted in ``stats.too_long`` and dropped.
    :param fcs32: check a 32-bit FCS instead of FCS-16 (RFC 1570); may be changed at any time.
    """

    def __init__(self, accm: int = ALL_ONES, *, max_frame: int = DEFAULT_MAX_FRAME, fcs32: bool = False) -> None:
        if max_frame < 8:
            raise ValueError(f"max_frame must be at least 8, not {max_frame!r}")
        self.stats = DeframerStats()
        self.max_frame = max_frame
        self.fcs32 = fcs32
        self._delete = b""
        self._accm = 0
        self.accm = accm
        self._partial = bytearray()
        self._discarding = False

    @property
    def accm(self) -> int:
        """Our receive ACCM (only bits 0-31 matter for dropping, as RFC 1662 section 7.1 says)."""
        return self._accm

    @accm.setter
    def accm(self, value: int) -> None:
        self._accm = value
        self._delete = bytes(c for c in range(32) if (value >> c) & 1)

    @property
    def pending(self) -> int:
        """Octets of the partial frame kept between calls (bounded by ``2 * max_frame + 2``)."""
        return len(self._partial)

    def last_line(self, limit: int = 32) -> bytes:
        """The last complete text line after the last flag (CR/LF-terminated, at most ``limit``
        octets looked at), or b"": where a modem's result code or URC lands when it leaves data mode
        between frames (``NO CARRIER``, V.250 5.7.1; a reboot's ``RDY``). Cheap after every read."""
        tail = bytes(self._partial[-limit:])
        if not tail.endswith((b"\r", b"\n")):
            return b""
        return tail.rstrip(b"\r\n").rsplit(b"\n", 1)[-1].strip(b"\r")

    def reset(self) -> None:
        """Forget any partial frame (for example after the line was reset); counters stay."""
        self._partial.clear()
        self._discarding = False

    def feed(self, data: bytes) -> list[Frame]:
        """Consume octets from the line; return the complete good frames they finish, in order."""
        if not data:
            return []
        if type(data) is not bytes:
            data = bytes(data)  # bytearray / memoryview from a driver: frames must hold bytes
        self.stats.octets += len(data)
        if self._discarding:
            start = data.find(_FLAG_BYTE)
            if start < 0:
                return []
            self._discarding = False
            data = data[start:]
        if self._partial:
            if _FLAG_BYTE not in data:
                self._partial += data
                self._check_partial()
                return []
            data = bytes(self._partial) + data
            self._partial.clear()
        pieces = data.split(_FLAG_BYTE)
        tail = pieces.pop()
        if tail:
            self._partial += tail
            self._check_partial()
        decode = self._decode
        return [frame for frame in map(decode, filter(None, pieces)) if frame is not None]

    def _check_partial(self) -> None:
        """Keep memory bounded: a partial frame past the raw bound is dropped up to the next flag."""
        if len(self._partial) > 2 * self.max_frame + 2:
            self.stats.too_long += 1
            self._partial.clear()
            self._discarding = True

    def _decode(self, piece: bytes) -> Frame | None:
        """Decode the octets between two flags; count and drop anything that is not a good frame."""
        stats = self.stats
        if self._delete:
            kept = piece.translate(None, self._delete)
            if len(kept) != len(piece):
                stats.accm_dropped += len(piece) - len(kept)
                if not kept:
                    return None  # only flow-control noise between two flags
                piece = kept
        if piece[-1] == ESCAPE:
            stats.aborts += 1
            return None
        if len(piece) > 2 * self.max_frame + 2:
            stats.too_long += 1
            return None
        if ESCAPE in piece:
            piece = unescape(piece)
        size = len(piece)
        fcs_len = 4 if self.fcs32 else 2
        if size < fcs_len + 2:
            stats.runts += 1
            return None
        if size > self.max_frame:
            stats.too_long += 1
            return None
        if self.fcs32:
            if zlib.crc32(piece) != FCS32_GOOD ^ 0xFFFFFFFF:
                stats.bad_fcs += 1
                return None
        elif fcs16_impl(piece, FCS16_INIT) != FCS16_GOOD:
            stats.bad_fcs += 1
            return None
        end = size - fcs_len
        start = 0
        if piece[0] == 0xFF:
            if piece[1] != 0x03:
                stats.bad_header += 1
                return None
            start = 2
        if start >= end:
            stats.runts += 1
            return None
        first = piece[start]
        if first & 1:
            protocol = first
            start += 1
        else:
            if start + 2 > end:
                stats.runts += 1
                return None
            protocol = (first << 8) | piece[start + 1]
            start += 2
        stats.frames += 1
        return Frame(protocol, piece[start:end])
