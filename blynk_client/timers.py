"""User timers for the Blynk device clients, pure: ``set_interval`` / ``set_timeout`` like ``BlynkTimer``.

:meth:`blynk_client._session.SessionBase.set_interval` and ``set_timeout`` put a :class:`Timer` on
a :class:`Timers` heap; the driver's one wait also waits for :meth:`Timers.next_deadline` and runs
:meth:`Timers.due` from its loop (no thread, no clock here: ``now`` comes from the driver). A module
of its own, imported with the first timer, so a client without timers does not pay for it in RSS.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable

#: ``typing.TYPE_CHECKING`` without importing ``typing`` (0.45 MiB in a device process, see
#: ``blynk_client._dataclass``); type checkers take any ``TYPE_CHECKING`` as true.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import Any

__all__ = ["Timer", "Timers"]


class Timer:
    """One :meth:`SessionBase.set_interval` / :meth:`SessionBase.set_timeout` timer."""

    __slots__ = ("active", "at", "func", "interval")

    def __init__(self, at: float, interval: float | None, func: Callable[[], Any]) -> None:
        self.at = at
        self.interval = interval
        self.func = func
        #: False once cancelled (or, for a timeout, once it ran).
        self.active = True

    def cancel(self) -> None:
        """Stop the timer (safe from its own callback)."""
        self.active = False

    def __repr__(self) -> str:
        kind = "interval" if self.interval is not None else "timeout"
        return f"<Timer {kind} {getattr(self.func, '__name__', self.func)} active={self.active}>"


class Timers:
    """User timers on the driver's clock, pure: a heap of deadlines, like the C++ ``BlynkTimer``.

    An interval keeps its phase (the next deadline is the previous one plus the interval) unless it
    fell a whole interval behind, then it restarts from ``now`` instead of firing in a burst.
    """

    __slots__ = ("_heap", "_seq")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Timer]] = []
        self._seq = 0

    def add(self, timer: Timer) -> Timer:
        self._seq += 1
        heapq.heappush(self._heap, (timer.at, self._seq, timer))
        return timer

    def next_deadline(self) -> float | None:
        """The earliest deadline of an active timer, or None."""
        heap = self._heap
        while heap and not heap[0][2].active:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def due(self, now: float) -> list[Timer]:
        """Pop and return the timers due at ``now`` (intervals are re-armed first)."""
        heap = self._heap
        fired: list[Timer] = []
        while heap and heap[0][0] <= now:
            _, _, timer = heapq.heappop(heap)
            if not timer.active:
                continue
            fired.append(timer)
            if timer.interval is None:
                timer.active = False
            else:
                timer.at += timer.interval
                if timer.at <= now:
                    timer.at = now + timer.interval
                self.add(timer)
        return fired
