"""A scripted hostile PPP peer on a pty, for ``pppos-up --direct`` (tests/e2e/test_hostile_peer.py).

:class:`HostilePeer` owns a pty whose slave path is handed to ``pppos-up --direct``. A thread reads
the master, deframes (RFC 1662) and answers like a PPP server that agrees to everything we ask but
hands out what its :class:`Script` says: our address (RFC 1332 section 3.3, Nak'ed to us), its own
address, DNS servers (RFC 1877), an MRU it insists on, an authentication demand it always refuses
with a message of its choosing, and, once IPCP is open both ways, an ICMP echo request of a given
size to our address (the kernel in the namespace answers it; the reply is recorded). It never
Naks or Rejects our options, answers Echo-Requests and Terminate-Requests, and Protocol-Rejects
IPv6CP (an IPv4-only peer).

:class:`LoopedLine` is the other hostile line: everything written into the pty comes back out of it.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import select
import struct
import threading
import tty
from dataclasses import dataclass, field

from pppos.ppp import hdlc
from pppos.ppp.packets import (
    ChapCode,
    Code,
    ControlPacket,
    IpcpOption,
    LcpOption,
    Option,
    PapCode,
    Protocol,
    decode_options,
    decode_packet,
    encode_options,
)

__all__ = ["HostilePeer", "LoopedLine", "Script", "icmp_echo"]


@dataclass
class Script:
    """What the hostile peer does (see the module docstring)."""

    #: the address we are given (Nak'ed to our 0.0.0.0 request; "0.0.0.0" means Ack our 0.0.0.0)
    local: str = "10.0.2.15"
    #: the peer's own address (its IPCP Configure-Request)
    peer: str = "10.64.64.1"
    #: the DNS servers we are Nak'ed to
    dns: tuple[str, ...] = ("192.0.2.53",)
    #: the MRU the peer asks for; with ``insist`` it sends it again whatever we answer
    mru: int | None = None
    insist: bool = False
    #: "pap" or "chap": demand it, then refuse whatever we send with ``auth_message``
    auth: str | None = None
    auth_message: bytes = b"access denied"
    #: once IPCP is open both ways, send an ICMP echo request of this many octets (IP total length)
    ping_size: int | None = None
    #: run IPv6CP (RFC 5072: Ack ours, ask for an interface identifier) instead of Protocol-Rejecting it
    ipv6: bool = False


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def icmp_echo(src: str, dst: str, size: int, ident: int = 0x4242) -> bytes:
    """An IPv4 ICMP echo request of ``size`` octets in all (RFC 791, RFC 792), checksums computed."""
    payload = bytes(i % 251 for i in range(size - 28))
    icmp = struct.pack("!BBHHH", 8, 0, 0, ident, 1) + payload
    icmp = icmp[:2] + struct.pack("!H", _checksum(icmp)) + icmp[4:]
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, size, 1, 0, 64, 1, 0,
                         ipaddress.IPv4Address(src).packed, ipaddress.IPv4Address(dst).packed)
    header = header[:10] + struct.pack("!H", _checksum(header)) + header[12:]
    return header + icmp


class _Pty:
    def __init__(self) -> None:
        self.master, slave = os.openpty()
        tty.setraw(self.master)
        tty.setraw(slave)
        self.path = os.ttyname(slave)
        self._slave = slave  # kept open so the pty exists before pppos-up opens it
        os.set_blocking(self.master, False)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if not ready:
                continue
            try:
                data = os.read(self.master, 65536)
            except BlockingIOError:
                continue
            except OSError:
                return
            if not data:
                return
            self.on_data(data)

    def on_data(self, data: bytes) -> None:
        raise NotImplementedError

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view and not self._stop.is_set():
            try:
                n = os.write(self.master, view)
            except BlockingIOError:
                select.select([], [self.master], [], 0.1)
                continue
            except OSError:
                return
            view = view[n:]

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        for fd in (self.master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)


class LoopedLine(_Pty):
    """A serial line looped back on itself: every octet pppos-up writes, it reads back."""

    def __init__(self) -> None:
        super().__init__()
        self.echoed = 0
        self.start()

    def on_data(self, data: bytes) -> None:
        self.echoed += len(data)
        self.write(data)


@dataclass
class _Seen:
    lcp_requests: list[list[Option]] = field(default_factory=list)
    auth_requests: int = 0
    ipcp_requests: list[list[Option]] = field(default_factory=list)
    ip_packets: list[bytes] = field(default_factory=list)
    terminate_requests: list[bytes] = field(default_factory=list)
    ipv6cp_requests: int = 0
    ipv6cp_terminated: bool = False


class HostilePeer(_Pty):
    """The scripted peer (see the module docstring); :attr:`seen` records what pppos-up sent."""

    def __init__(self, script: Script) -> None:
        super().__init__()
        self.script = script
        self.seen = _Seen()
        self._deframer = hdlc.Deframer(accm=0, max_frame=hdlc.DEFAULT_MAX_FRAME * 12)
        self._ident = 0
        self._lock = threading.Lock()
        self._lcp_ours_acked = self._lcp_his_acked = False
        self._ipcp_ours_acked = self._ipcp_his_acked = False
        self._lcp_open = self._ipcp_open = False
        self._magic = 0x5EED1234
        self.start()

    # -- sending ------------------------------------------------------------------------------

    def _next_id(self) -> int:
        self._ident = (self._ident + 1) & 0xFF
        return self._ident

    def _send(self, protocol: int, payload: bytes) -> None:
        lcp_default = protocol == Protocol.LCP and 1 <= payload[0] <= 7
        accm = 0xFFFFFFFF if lcp_default or not self._lcp_open else 0
        self.write(hdlc.encode_frame(protocol, payload, accm=accm))

    def _lcp_request(self) -> None:
        s = self.script
        options = []
        if s.mru is not None:
            options.append(Option(LcpOption.MRU, struct.pack("!H", s.mru)))
        if s.auth == "pap":
            options.append(Option(LcpOption.AUTH_PROTOCOL, struct.pack("!H", Protocol.PAP)))
        elif s.auth == "chap":
            options.append(Option(LcpOption.AUTH_PROTOCOL, struct.pack("!HB", Protocol.CHAP, 5)))
        options.append(Option(LcpOption.MAGIC_NUMBER, struct.pack("!I", self._magic)))
        self._lcp_options = options
        self._send(Protocol.LCP, ControlPacket(Code.CONFIGURE_REQUEST, self._next_id(),
                                               encode_options(options)).encode())

    def _ipcp_request(self) -> None:
        addr = ipaddress.IPv4Address(self.script.peer).packed
        self._send(Protocol.IPCP, ControlPacket(Code.CONFIGURE_REQUEST, self._next_id(),
                                                encode_options([Option(IpcpOption.IP_ADDRESS, addr)])).encode())

    # -- receiving ----------------------------------------------------------------------------

    def on_data(self, data: bytes) -> None:
        with self._lock:
            for protocol, info in self._deframer.feed(data):
                self._on_frame(protocol, info)

    def _on_frame(self, protocol: int, info: bytes) -> None:
        if protocol == Protocol.IP:
            self.seen.ip_packets.append(info)
            return
        pkt = decode_packet(info)
        if pkt is None:
            return
        if protocol == Protocol.LCP:
            self._on_lcp(pkt)
        elif protocol == Protocol.PAP and pkt.code == PapCode.AUTHENTICATE_REQUEST:
            self.seen.auth_requests += 1
            msg = self.script.auth_message[:255]
            self._send(Protocol.PAP, ControlPacket(PapCode.AUTHENTICATE_NAK, pkt.identifier,
                                                   bytes([len(msg)]) + msg).encode())
        elif protocol == Protocol.CHAP and pkt.code == ChapCode.RESPONSE:
            self.seen.auth_requests += 1
            self._send(Protocol.CHAP, ControlPacket(ChapCode.FAILURE, pkt.identifier,
                                                    self.script.auth_message).encode())
        elif protocol == Protocol.IPCP:
            self._on_ipcp(pkt)
        elif protocol == Protocol.IPV6CP and self.script.ipv6:
            if pkt.code == Code.CONFIGURE_REQUEST:
                self.seen.ipv6cp_requests += 1
                self._send(Protocol.IPV6CP, ControlPacket(Code.CONFIGURE_ACK, pkt.identifier, pkt.data).encode())
                identifier = Option(1, (0x0200000000000001).to_bytes(8, "big"))
                self._send(Protocol.IPV6CP, ControlPacket(Code.CONFIGURE_REQUEST, self._next_id(),
                                                          encode_options([identifier])).encode())
            elif pkt.code == Code.TERMINATE_REQUEST:
                self.seen.ipv6cp_terminated = True
                self._send(Protocol.IPV6CP, ControlPacket(Code.TERMINATE_ACK, pkt.identifier).encode())
        elif protocol == Protocol.IPV6CP and self._lcp_open:
            data = struct.pack("!H", protocol) + info
            self._send(Protocol.LCP, ControlPacket(Code.PROTOCOL_REJECT, self._next_id(), data).encode())

    def _on_lcp(self, pkt: ControlPacket) -> None:
        code = pkt.code
        if code == Code.CONFIGURE_REQUEST:
            self.seen.lcp_requests.append(decode_options(pkt.data) or [])
            if not self._lcp_his_acked and not self._lcp_ours_acked:
                self._lcp_request()
            self._send(Protocol.LCP, ControlPacket(Code.CONFIGURE_ACK, pkt.identifier, pkt.data).encode())
            self._lcp_his_acked = True
        elif code == Code.CONFIGURE_ACK:
            self._lcp_ours_acked = True
        elif code in (Code.CONFIGURE_NAK, Code.CONFIGURE_REJECT):
            self._lcp_request()  # an insisting peer asks again for the same thing
        elif code == Code.TERMINATE_REQUEST:
            self.seen.terminate_requests.append(pkt.data)
            self._send(Protocol.LCP, ControlPacket(Code.TERMINATE_ACK, pkt.identifier).encode())
            self._lcp_open = self._lcp_his_acked = self._lcp_ours_acked = False
            return
        elif code == Code.ECHO_REQUEST:
            self._send(Protocol.LCP, ControlPacket(Code.ECHO_REPLY, pkt.identifier,
                                                   struct.pack("!I", self._magic) + pkt.data[4:]).encode())
        if self._lcp_his_acked and self._lcp_ours_acked and not self._lcp_open:
            self._lcp_open = True
            if self.script.auth == "chap":
                challenge = bytes(range(16))
                self._send(Protocol.CHAP, ControlPacket(ChapCode.CHALLENGE, self._next_id(),
                                                        bytes([16]) + challenge + b"hostile").encode())
            elif self.script.auth is None:
                self._ipcp_request()

    def _on_ipcp(self, pkt: ControlPacket) -> None:
        s = self.script
        if pkt.code == Code.CONFIGURE_REQUEST:
            self.seen.ipcp_requests.append(decode_options(pkt.data) or [])
            wanted = {IpcpOption.IP_ADDRESS: ipaddress.IPv4Address(s.local).packed}
            for kind, server in zip((IpcpOption.PRIMARY_DNS, IpcpOption.SECONDARY_DNS), s.dns, strict=False):
                wanted[kind] = ipaddress.IPv4Address(server).packed
            naks, rejects = [], []
            for opt in decode_options(pkt.data) or []:
                if opt.type in wanted:
                    if opt.value != wanted[opt.type]:
                        naks.append(Option(opt.type, wanted[opt.type]))
                else:
                    rejects.append(opt)
            if rejects:
                reply = ControlPacket(Code.CONFIGURE_REJECT, pkt.identifier, encode_options(rejects))
            elif naks:
                reply = ControlPacket(Code.CONFIGURE_NAK, pkt.identifier, encode_options(naks))
            else:
                reply = ControlPacket(Code.CONFIGURE_ACK, pkt.identifier, pkt.data)
                self._ipcp_his_acked = True
            self._send(Protocol.IPCP, reply.encode())
        elif pkt.code == Code.CONFIGURE_ACK:
            self._ipcp_ours_acked = True
        elif pkt.code == Code.TERMINATE_REQUEST:
            self._send(Protocol.IPCP, ControlPacket(Code.TERMINATE_ACK, pkt.identifier).encode())
        if self._ipcp_his_acked and self._ipcp_ours_acked and not self._ipcp_open:
            self._ipcp_open = True
            if s.ping_size:
                self._send(Protocol.IP, icmp_echo(s.peer, s.local, s.ping_size))

    def send_ping(self) -> None:
        """Send the scripted ICMP echo request again (the first may beat the interface's address)."""
        with self._lock:
            assert self.script.ping_size
            self._send(Protocol.IP, icmp_echo(self.script.peer, self.script.local, self.script.ping_size))
