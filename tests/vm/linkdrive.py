"""Drive a sans-I/O :class:`~pppos.ppp.link.PppLink` over a socket (the VM's serial line), and a
tiny TCP client on top of it, built and parsed with scapy (RFC 793 section 3.4: three-way handshake,
in-order data with cumulative acknowledgements, FIN close). Good enough for a test against a peer on
a lossless line; the only loss is the VM dropping packets before its ppp0 is configured, which the
SYN retransmission covers (real-peers.md section 2).
"""

from __future__ import annotations

import random
import select
import socket
import time
from collections.abc import Callable
from typing import Any

from pppos.ppp.link import PacketReceived, PppLink


class LinkDriver:
    """The one loop: socket readable -> ``receive_data``; timer -> ``handle_timer``; write output."""

    def __init__(self, link: PppLink, sock: socket.socket, clock: Callable[[], float] = time.monotonic) -> None:
        self.link = link
        self.sock = sock
        self.clock = clock
        self.events: list[Any] = []
        self.packets: list[bytes] = []
        self.trace: list[str] = []
        sock.setblocking(False)

    def _flush(self) -> None:
        out = self.link.data_to_send()
        if out:
            self.sock.setblocking(True)
            try:
                self.sock.sendall(out)
            finally:
                self.sock.setblocking(False)

    def pump(self, until: Callable[[Any], bool] | None = None, timeout: float = 30.0) -> Any:
        """Run until an event satisfies ``until`` (returned) or ``timeout`` passes (returns None)."""
        deadline = self.clock() + timeout
        while True:
            while (ev := self.link.next_event()) is not None:
                if isinstance(ev, PacketReceived):
                    self.packets.append(ev.packet)
                else:
                    self.events.append(ev)
                if until is not None and until(ev):
                    self._flush()
                    return ev
            self._flush()
            now = self.clock()
            timer = self.link.get_timer()
            if timer is not None and now >= timer:
                self.link.handle_timer(now)
                continue
            if now >= deadline:
                return None
            wait = min(deadline, timer if timer is not None else deadline) - now
            readable, _, _ = select.select([self.sock], [], [], max(min(wait, 0.5), 0.0))
            if readable:
                try:
                    data = self.sock.recv(65536)
                except BlockingIOError:
                    continue
                if not data:
                    raise ConnectionError("the VM closed the serial line")
                self.link.receive_data(data, self.clock())

    def send_ip(self, packet: bytes) -> None:
        """Queue an IP packet and flush it."""
        self.link.send_ip(packet, self.clock())
        self._flush()

    def take_packet(self, match: Callable[[bytes], bool], timeout: float) -> bytes | None:
        """The first received IP packet satisfying ``match`` (waiting up to ``timeout``)."""
        deadline = self.clock() + timeout
        while True:
            for i, pkt in enumerate(self.packets):
                if match(pkt):
                    return self.packets.pop(i)
            left = deadline - self.clock()
            if left <= 0:
                return None
            self.pump(lambda ev: isinstance(ev, PacketReceived), timeout=min(left, 0.5))


class MiniTcp:
    """One TCP connection from ``src`` to ``dst:dport`` over a :class:`LinkDriver` (scapy codecs)."""

    def __init__(self, drv: LinkDriver, src: str, dst: str, dport: int) -> None:
        self.drv = drv
        self.src, self.dst, self.dport = src, dst, dport
        self.sport = random.randint(20000, 60000)
        self.seq = random.randint(0, 2**31)
        self.ack = 0
        self.received = bytearray()
        self.fin = False

    def _pkt(self, flags: str, payload: bytes = b"") -> bytes:
        from scapy.layers.inet import IP, TCP

        return bytes(IP(src=self.src, dst=self.dst) / TCP(sport=self.sport, dport=self.dport, seq=self.seq,
                                                          ack=self.ack, flags=flags, window=65535) / payload)

    def _mine(self, raw: bytes) -> bool:
        from scapy.layers.inet import IP, TCP

        ip = IP(raw)
        return ip.haslayer(TCP) and ip.src == self.dst and ip[TCP].dport == self.sport

    def connect(self, timeout: float = 60.0, retry: float = 2.0) -> None:
        """Three-way handshake; the SYN is resent every ``retry`` s (first packets may be dropped)."""
        from scapy.layers.inet import IP, TCP

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.drv.send_ip(self._pkt("S"))
            raw = self.drv.take_packet(self._mine, retry)
            if raw is None:
                continue
            tcp = IP(raw)[TCP]
            if "R" in tcp.flags:
                raise ConnectionRefusedError(f"{self.dst}:{self.dport} refused")
            if "S" in tcp.flags and "A" in tcp.flags:
                self.seq += 1
                self.ack = tcp.seq + 1
                self.drv.send_ip(self._pkt("A"))
                return
        raise TimeoutError(f"no SYN-ACK from {self.dst}:{self.dport}")

    def send(self, data: bytes, mss: int = 1000) -> None:
        """Send ``data`` in segments (no retransmission: the line is lossless once up)."""
        for i in range(0, len(data), mss):
            chunk = data[i:i + mss]
            self.drv.send_ip(self._pkt("PA", chunk))
            self.seq += len(chunk)

    def recv_until(self, done: Callable[[bytes], bool], timeout: float = 30.0) -> bytes:
        """Collect in-order data (acknowledging it) until ``done(received)`` or FIN."""
        from scapy.layers.inet import IP, TCP

        deadline = time.monotonic() + timeout
        while not done(bytes(self.received)) and not self.fin:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"got {len(self.received)} bytes, then nothing")
            raw = self.drv.take_packet(self._mine, min(left, 1.0))
            if raw is None:
                continue
            tcp = IP(raw)[TCP]
            payload = bytes(tcp.payload)
            if tcp.seq == self.ack and payload:
                self.received += payload
                self.ack += len(payload)
            if "F" in tcp.flags and tcp.seq + len(payload) == self.ack:
                self.ack += 1
                self.fin = True
            if payload or "F" in tcp.flags:
                self.drv.send_ip(self._pkt("A"))
        return bytes(self.received)

    def close(self) -> None:
        """Send FIN (best effort)."""
        self.drv.send_ip(self._pkt("FA"))
        self.seq += 1
