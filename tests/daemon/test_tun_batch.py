"""The daemon frames a burst of TUN packets in one wake-up, bounded by count and by serial backlog."""

from __future__ import annotations

import socket
from types import SimpleNamespace

from pppos import daemon as daemon_mod
from pppos.daemon import DataPath


class FakeLink:
    """Records send_ip calls; reports a backlog of ``per_packet`` octets per packet sent."""

    def __init__(self, per_packet: int) -> None:
        self.sent: list[bytes] = []
        self.per_packet = per_packet

    def send_ip(self, packet: bytes, now: float) -> bool:
        self.sent.append(packet)
        return True

    def pending_output(self) -> int:
        return self.per_packet * len(self.sent)


def _daemon(fd: int, link: FakeLink) -> DataPath:
    d = DataPath(SimpleNamespace(time=lambda: 5.0), lambda fn: fn(), lambda why: None)  # type: ignore[arg-type]
    d.tun_fd = fd
    d.link = link  # type: ignore[assignment]
    return d


def _queue(n: int) -> tuple[socket.socket, socket.socket]:
    # SOCK_SEQPACKET keeps datagram boundaries, like a TUN fd (one packet per read)
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    ours.setblocking(False)
    for i in range(n):
        theirs.send(bytes([0x45, i]) + b"\0" * 38)
    return ours, theirs


def test_a_burst_is_framed_in_one_wakeup_up_to_the_batch_size() -> None:
    ours, theirs = _queue(daemon_mod.TUN_BATCH + 4)
    with ours, theirs:
        link = FakeLink(per_packet=40)
        d = _daemon(ours.fileno(), link)
        d.read_tun()
        assert [p[1] for p in link.sent] == list(range(daemon_mod.TUN_BATCH))
        assert d.counters["packets_out"] == daemon_mod.TUN_BATCH
        assert d.counters["bytes_out"] == 40 * daemon_mod.TUN_BATCH
        d.read_tun()  # the next wake-up takes the rest and stops at the empty queue
        assert len(link.sent) == daemon_mod.TUN_BATCH + 4


def test_a_serial_backlog_stops_the_batch() -> None:
    ours, theirs = _queue(10)
    with ours, theirs:
        link = FakeLink(per_packet=daemon_mod.TUN_BATCH_BYTES // 3 + 1)
        d = _daemon(ours.fileno(), link)
        d.read_tun()
        assert len(link.sent) == 3  # the rest waits in the TUN queue (backpressure, no copy)
