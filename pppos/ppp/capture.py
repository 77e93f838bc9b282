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
"""

from __future__ import annotations

import struct
from typing import BinaryIO

__all__ = ["LINKTYPE_PPP_WITH_DIR", "PCAP_MAGIC", "PcapWriter"]

#: The link-layer header type for PPP frames preceded by a direction octet.
LINKTYPE_PPP_WITH_DIR = 204
#: The microsecond-resolution pcap magic number.
PCAP_MAGIC = 0xA1B2C3D4
_GLOBAL = struct.Struct("<IHHiIII")
_RECORD = struct.Struct("<IIII")


class PcapWriter:
    """Write PPP frames to ``fileobj`` as a pcap file with LINKTYPE_PPP_WITH_DIR (204).

    :param fileobj: a binary file opened for writing; the global header is written at once.
    :param snaplen: the largest record stored; longer frames are cut and keep their original length.
    :param flush: flush after every record so a capture in progress can be read (default True).
    """

    def __init__(self, fileobj: BinaryIO, *, snaplen: int = 262144, flush: bool = True) -> None:
        if snaplen < 2:
            raise ValueError(f"snaplen must be at least 2, not {snaplen!r}")
        self.fileobj = fileobj
        self.snaplen = snaplen
        self.flush = flush
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
        data = (b"\x01" if outbound else b"\x00") + bytes(frame)
        kept = data[: self.snaplen]
        self.fileobj.write(_RECORD.pack(seconds & 0xFFFFFFFF, micros, len(kept), len(data)) + kept)
        self.records += 1
        if self.flush:
            self.fileobj.flush()

    __call__ = write
