"""A pcap writer for PPP frames with their direction: LINKTYPE_PPP_WITH_DIR (204).

File format: the classic libpcap format (tcpdump.org "pcap(5)"/ draft-ietf-opsawg-pcap): a 24-octet
global header (magic ``0xA1B2C3D4`` for microsecond timestamps, version 2.4, zone 0, sigfigs 0,
snaplen, link type) then one 16-octet record header (seconds, microseconds, captured length,
original length) before each record. Everything is written little-endian; readers detect the byte
order from the magic number.

Link type 204, LINKTYPE_PPP_WITH_DIR (tcpdump.org link-layer header types): every record is one
octet of direction, 0 for a frame *received* by this host and 1 for a frame *sent* by it, then the
PPP frame as RFC 1661 section 2 / RFC 1662 section 3.1 show it without flags, escaping or FCS:
address 0xFF, control 0x03, protocol, information (:meth:`pppos.ppp.hdlc.Frame.to_ppp` gives that
form). Wireshark dissects it as "PPP with direction"; scapy's ``rdpcap`` returns ``DIR_PPP``
packets once :mod:`scapy.layers.ppp` is imported (``scapy.all`` does; the module registers DLT 204
in ``conf.l2types`` itself, no configuration is needed), with ``HDLC``/``PPP`` and the LCP, IPCP or
IP layers underneath. (scapy 2.5+ gives every packet a ``direction`` attribute of its own, so read
the field as ``pkt[DIR_PPP].getfieldval("direction")``.)

The writer is a plain callable for :class:`pppos.ppp.link.PppLink`'s ``capture`` hook
(``capture=writer.write`` or ``capture=writer``): ``(now, outbound, frame)``. It does not own the
file object and never closes it. ``now`` is written as given, so a driver that wants wall-clock
dates in Wireshark passes a wall-clock timestamp.

Secrets: a pcap is a file people attach to bug reports. Unless ``keep_secrets`` is set
(``pppos-up --pcap-secrets``), the password of every PAP Authenticate-Request (RFC 1334 section
2.2.1) and the value of every CHAP Response (RFC 1994 section 4.1, which with its Challenge would
allow an offline guess of the secret) are replaced by as many ``*`` as they had octets (see
:func:`mask_secrets`), so lengths and everything else still dissect
(the records carry no HDLC FCS, so there is no checksum to recompute). :func:`open_pcap` creates the
file mode 0600 and refuses an existing file that others can read, and a symbolic link.
"""

from __future__ import annotations

import errno
import os
import stat
import struct
from typing import BinaryIO

from pppos.errors import ConfigError

__all__ = ["LINKTYPE_PPP_WITH_DIR", "PCAP_MAGIC", "PcapWriter", "mask_secrets", "open_pcap"]

#: The link-layer header type for PPP frames preceded by a direction octet.
LINKTYPE_PPP_WITH_DIR = 204
#: The microsecond-resolution pcap magic number.
PCAP_MAGIC = 0xA1B2C3D4
_GLOBAL = struct.Struct("<IHHiIII")
_RECORD = struct.Struct("<IIII")
_PAP = 0xC023
_PAP_AUTHENTICATE_REQUEST = 1
_CHAP = 0xC223
_CHAP_RESPONSE = 2


def mask_secrets(frame: bytes) -> bytes:
    """``frame`` (address/control optional, 1- or 2-octet protocol, information) with its secret
    replaced by ``*`` of the same length; any other frame unchanged:

    - the password of a PAP Authenticate-Request (RFC 1334 section 2.2.1: code 1, identifier,
      length, peer-id length, peer-id, passwd length, password);
    - the value of a CHAP Response (RFC 1994 section 4.1: code 2, identifier, length, value-size,
      value, name). With the Challenge beside it in the same capture, the MD5 value is what an
      offline dictionary attack on the CHAP secret needs (RFC 1994 section 5).
    """
    i = 2 if frame[:2] == b"\xff\x03" else 0
    if len(frame) < i + 2 or frame[i] & 1:  # a compressed (odd) protocol octet: not PAP or CHAP
        return frame
    protocol = frame[i] << 8 | frame[i + 1]
    body = i + 2
    if protocol == _PAP and len(frame) >= body + 5 and frame[body] == _PAP_AUTHENTICATE_REQUEST:
        size_at = body + 5 + frame[body + 4]
    elif protocol == _CHAP and len(frame) >= body + 5 and frame[body] == _CHAP_RESPONSE:
        size_at = body + 4
    else:
        return frame
    if size_at >= len(frame):
        return frame
    start = size_at + 1
    end = min(start + frame[size_at], len(frame))
    return frame[:start] + b"*" * (end - start) + frame[end:]


def open_pcap(path: str) -> BinaryIO:
    """Create (or truncate) ``path`` for a capture, mode 0600; refuse a file others can read.

    :raises ConfigError: the file exists and its mode lets others read it, or it cannot be created.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise ConfigError(f"cannot write the pcap file {path}: {exc.strerror}") from None
    if st is not None and stat.S_ISREG(st.st_mode) and st.st_mode & 0o077:
        raise ConfigError(
            f"the pcap file {path} exists and others can read it (mode {st.st_mode & 0o777:o}); "
            f"remove it or run: chmod 600 {path}"
        )
    try:
        # O_NOFOLLOW: a symlink planted at the path (in /tmp, say) cannot redirect a root-owned write.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ConfigError(f"the pcap file {path} is a symbolic link; give the real path") from None
        raise ConfigError(f"cannot write the pcap file {path}: {exc.strerror}") from None
    return os.fdopen(fd, "wb")


class PcapWriter:
    """Write PPP frames to ``fileobj`` as a pcap file with LINKTYPE_PPP_WITH_DIR (204).

    :param fileobj: a binary file opened for writing; the global header is written at once.
    :param snaplen: the largest record stored; longer frames are cut and keep their original length.
    :param flush: flush after every record so a capture in progress can be read (default True).
    :param keep_secrets: keep PAP passwords and CHAP responses in clear (default: masked, see the
        module docstring).
    """

    def __init__(
        self, fileobj: BinaryIO, *, snaplen: int = 262144, flush: bool = True, keep_secrets: bool = False
    ) -> None:
        if snaplen < 2:
            raise ValueError(f"snaplen must be at least 2, not {snaplen!r}")
        self.fileobj = fileobj
        self.snaplen = snaplen
        self.flush = flush
        self.keep_secrets = keep_secrets
        #: Records written so far.
        self.records = 0
        fileobj.write(_GLOBAL.pack(PCAP_MAGIC, 2, 4, 0, 0, snaplen, LINKTYPE_PPP_WITH_DIR))
        if flush:
            fileobj.flush()

    def write(self, ts: float, outbound: bool, frame: bytes) -> None:
        """Append one record: ``frame`` (FF 03, protocol, information) sent or received at ``ts``.

        :param ts: timestamp in seconds (written as seconds and microseconds; negative is clamped
            to zero).
        :param outbound: True for a frame this host sent, False for one it received.
        :param frame: the PPP frame without HDLC flags, escaping or FCS.
        """
        micros = max(round(ts * 1_000_000), 0)
        seconds, micros = divmod(micros, 1_000_000)
        if not self.keep_secrets:
            frame = mask_secrets(bytes(frame))
        data = (b"\x01" if outbound else b"\x00") + bytes(frame)
        kept = data[: self.snaplen]
        self.fileobj.write(_RECORD.pack(seconds & 0xFFFFFFFF, micros, len(kept), len(data)) + kept)
        self.records += 1
        if self.flush:
            self.fileobj.flush()

    __call__ = write
