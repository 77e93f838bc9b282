"""Two :class:`~pppos.ppp.link.PppLink` objects back to back over an in-memory serial line.

The line is driven by a float clock (no sleeping): :meth:`LinkPair.run` moves bytes both ways,
and when nothing is in flight advances the clock to the earliest deadline of either link and fires
it (the aioquic ``roundtrip`` pattern). Loss is simulated per HDLC frame by a ``drop`` callable that
sees ``(direction, index, frame)`` and returns True to lose that frame.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from pppos.ppp.link import LinkConfig, LinkEvent, PppLink, Role

DropRule = Callable[[str, int, bytes], bool]

_FRAME = re.compile(rb"[^\x7e]+")

CLIENT = LinkConfig(echo_interval=0.0, seed=1)
SERVER = LinkConfig(
    role=Role.SERVER,
    local_ip="10.0.2.2",
    peer_ip="10.0.2.15",
    dns=("10.0.2.3", "10.0.2.4"),
    echo_interval=0.0,
    seed=2,
)


@dataclass
class Side:
    """One end: the link, every event it produced, its trace lines and captured frames."""

    link: PppLink
    events: list[LinkEvent] = field(default_factory=list)
    trace: list[str] = field(default_factory=list)
    frames: list[tuple[float, bool, bytes]] = field(default_factory=list)
    sent_index: int = 0

    def of(self, kind: type) -> list:
        """Events of one type, in order."""
        return [e for e in self.events if isinstance(e, kind)]


class LinkPair:
    """A client and a server link joined by a lossy in-memory line, on a float clock."""

    def __init__(
        self,
        client: LinkConfig = CLIENT,
        server: LinkConfig = SERVER,
        *,
        now: float = 1000.0,
        drop: DropRule | None = None,
    ) -> None:
        self.now = now
        self.drop = drop
        self.client = self._side(client)
        self.server = self._side(server)
        #: Every HDLC frame put on the line: (direction "c2s"/"s2c", frame bytes, delivered?).
        self.wire: list[tuple[str, bytes, bool]] = []

    @staticmethod
    def _side(config: LinkConfig) -> Side:
        side = Side(PppLink(config))
        side.link = PppLink(
            config, trace=side.trace.append, capture=lambda now, out, frame: side.frames.append((now, out, frame))
        )
        return side

    def open(self) -> None:
        """Open both links at the current time."""
        self.server.link.open(self.now)
        self.client.link.open(self.now)
        self._collect()

    def _collect(self) -> None:
        for side in (self.client, self.server):
            while (event := side.link.next_event()) is not None:
                side.events.append(event)

    def _move(self, src: Side, dst: Side, direction: str) -> bool:
        data = src.link.data_to_send()
        if not data:
            return False
        kept = bytearray()
        for match in _FRAME.finditer(data):
            frame = b"\x7e" + match.group() + b"\x7e"
            lost = self.drop is not None and self.drop(direction, src.sent_index, frame)
            src.sent_index += 1
            self.wire.append((direction, frame, not lost))
            if not lost:
                kept += frame
        if kept:
            dst.link.receive_data(bytes(kept), self.now)
        return True

    def transfer(self) -> bool:
        """Deliver what each side has queued (once each way); True if anything moved."""
        moved = self._move(self.client, self.server, "c2s")
        moved |= self._move(self.server, self.client, "s2c")
        self._collect()
        return moved

    def run(self, until: float, stop: Callable[[], bool] | None = None) -> bool:
        """Run until ``stop()`` is true (returns True) or the clock passes ``until`` (returns False)."""
        for _ in range(100_000):
            moved = self.transfer()
            if stop is not None and stop():
                return True
            if moved:
                continue
            deadlines = [d for d in (self.client.link.get_timer(), self.server.link.get_timer()) if d is not None]
            if not deadlines or min(deadlines) > until:
                self.now = max(self.now, until)
                return stop() if stop is not None else False
            self.now = max(self.now, min(deadlines))
            self.client.link.handle_timer(self.now)
            self.server.link.handle_timer(self.now)
            self._collect()
        raise AssertionError("the pair did not settle (livelock)")

    def run_for(self, seconds: float) -> None:
        """Advance the clock by ``seconds``, delivering everything on the way."""
        self.run(self.now + seconds)

    def both_up(self) -> bool:
        """True once both links report IPCP open."""
        return self.client.link.is_up and self.server.link.is_up
