"""The pure-Python, sans-I/O PPP stack.

* :mod:`pppos.ppp.hdlc`: RFC 1662 asynchronous HDLC-like framing (FCS-16/32, ACCM, deframer).
* :mod:`pppos.ppp.fsm`: the RFC 1661 section 4 option-negotiation automaton as a table.
* :mod:`pppos.ppp.capture`: pcap writer with LINKTYPE_PPP_WITH_DIR (204).
* packets, LCP, IPCP, IPv6CP, PAP/CHAP, trace and :class:`PppLink` build on these.
"""
