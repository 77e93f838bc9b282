"""The one source of the PPP size limits: MRU bounds and the deframer's frame bound.

``pppos-up --mtu``, :class:`pppos.ppp.link.LinkConfig`, the LCP option policy and the HDLC deframer
all read these, so no two layers can disagree about which frames fit.

* :data:`DEFAULT_MRU` 1500 is RFC 1661 section 6.1's default. The same section says an
  implementation must always be able to receive frames of that size, whatever MRU was negotiated,
  so our receive bound never goes below it.
* :data:`MIN_MRU` 128: RFC 1661 sets no floor, but a link must carry a 68-octet IPv4 datagram
  without fragmentation (RFC 791 section 3.2) and LCP itself needs room: a Code-Reject or
  Protocol-Reject quotes the rejected packet, truncated to the MRU (sections 5.6, 5.7), and a full
  LCP Configure-Request with every option we send is 30 octets. pppd uses the same floor
  (``MINMRU`` 128). A peer asking for less is Nak'ed to it (and never accepted); a Nak of ours to
  less is clamped to it.
* :data:`MAX_MRU` 16384: the largest MRU we ask for (``--mtu``). Bigger buys nothing on a serial line
  and every octet of it is memory the deframer may hold for a partial frame.
* :func:`frame_bound`: the deframer's bound for a receive MRU: the information field plus
  address/control (2), protocol (2) and the largest FCS (4, RFC 1662 section C.3).
"""

from __future__ import annotations

__all__ = ["DEFAULT_MRU", "FRAME_OVERHEAD", "MAX_MRU", "MIN_MRU", "frame_bound"]

DEFAULT_MRU = 1500
MIN_MRU = 128
MAX_MRU = 16384
#: Address and control (2), a two-octet protocol field (2) and an FCS-32 (4).
FRAME_OVERHEAD = 8


def frame_bound(mru: int) -> int:
    """The largest de-stuffed frame to accept when our MRU is ``mru`` (never below the default)."""
    return max(mru, DEFAULT_MRU) + FRAME_OVERHEAD
