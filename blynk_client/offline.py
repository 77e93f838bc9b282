"""Pure policies of the Blynk client driver: reconnect backoff, the offline queue, typed pin values.

Nothing here touches a socket or reads a clock; the asyncio driver in :mod:`blynk_client.client`
feeds them. They exist because the libraries users run today get these wrong (see the research
notes, section 6): BlynkLib never reconnects and swallows writes made while offline, the C++
library retries on a fixed 5 s period. The Blynk protocol itself says nothing about either; the
heartbeat and login rules we follow are in ``blynk-protocol.md`` section 3.

- :class:`Backoff`: exponential backoff with jitter ("equal jitter": a delay drawn uniformly from
  ``[base * (1 - jitter), base]`` with ``base = min(maximum, initial * factor ** attempt)``),
  driven by an injected :class:`random.Random` so tests are deterministic (by default the
  jitter comes from :func:`os.urandom`, as :class:`random.SystemRandom` draws it, so a client
  does not import :mod:`random`: 0.15 MiB of resident memory).
- :class:`OfflineQueue`: operations the application made while disconnected, replayed after the
  next login. Latest value per key (a virtual pin) by default, or every item up to a bound. Items
  that are superseded or pushed out are counted and reported through a callback, never silently lost.
Pin names are parsed by the core alone (:func:`blynk_client._wire.parse_pin`, re-exported here).

- :class:`Values`: the arguments of a server-to-device virtual write (HARDWARE ``vw``,
  ``blynk-protocol.md`` section 3 "Server → device virtual-pin write") with typed accessors;
  defined in :mod:`blynk_client.values` and re-exported here.

The drivers import this module only when it is needed (the first failed attempt, the first
operation made offline), so a device client that stays connected does not pay for it in RSS.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from enum import Enum

from blynk_client._dataclass import dataclass
from blynk_client._wire import parse_pin
from blynk_client.values import Values

#: ``typing.TYPE_CHECKING`` without importing ``typing`` (see ``blynk_client._dataclass``).
TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import Protocol

    class Uniform(Protocol):
        """What the backoff needs of a random source: :meth:`random.Random.random`."""

        def random(self) -> float: ...

__all__ = [
    "Backoff",
    "BackoffPolicy",
    "DropReason",
    "OfflineMode",
    "OfflineQueue",
    "QueuedOp",
    "Values",
    "format_pin",
    "parse_pin",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class BackoffPolicy:
    """Parameters of the reconnect backoff.

    :param initial: the base delay before the second attempt (seconds).
    :param factor: the growth factor per failed attempt.
    :param maximum: the cap of the base delay (seconds).
    :param jitter: the fraction of the base delay that is randomised, 0 (none) to 1 (full jitter).
    """

    initial: float = 1.0
    factor: float = 2.0
    maximum: float = 60.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if self.initial < 0 or self.maximum < self.initial:
            raise ValueError("backoff needs 0 <= initial <= maximum")
        if self.factor < 1.0:
            raise ValueError("backoff factor must be >= 1")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError("backoff jitter must be within 0..1")

    def base(self, attempt: int) -> float:
        """Return the un-jittered delay after ``attempt`` failures (0 = the first failure)."""
        if attempt < 0:
            raise ValueError("attempt must be >= 0")
        # Cap the exponent so a long outage never overflows a float.
        value = self.initial * self.factor ** min(attempt, 64)
        return min(self.maximum, value)

    def delay(self, attempt: int, rng: Uniform) -> float:
        """Return the jittered delay after ``attempt`` failures, within ``[base*(1-jitter), base]``."""
        base = self.base(attempt)
        return base - base * self.jitter * rng.random()


class _Urandom:
    """Floats in ``[0, 1)`` from :func:`os.urandom`, drawn as :meth:`random.SystemRandom.random` does."""

    __slots__ = ()

    def random(self) -> float:
        return (int.from_bytes(os.urandom(7), "big") >> 3) * 2.0**-53


_URANDOM = _Urandom()


class Backoff:
    """Stateful reconnect pacing over a :class:`BackoffPolicy`.

    ``next_delay()`` after every failed attempt, ``reset()`` after a successful login.
    """

    def __init__(self, policy: BackoffPolicy | None = None, rng: Uniform | None = None) -> None:
        self.policy = policy if policy is not None else BackoffPolicy()
        self._rng: Uniform = rng if rng is not None else _URANDOM
        #: Failed attempts since the last success.
        self.attempts = 0

    def next_delay(self) -> float:
        """Return the delay before the next attempt and count one more failure."""
        delay = self.policy.delay(self.attempts, self._rng)
        self.attempts += 1
        return delay

    def reset(self) -> None:
        """Forget past failures (call after a successful login)."""
        self.attempts = 0


class OfflineMode(Enum):
    """How the offline queue keeps operations made while disconnected."""

    #: Keep only the latest value per key (per virtual pin, per pin property); the default.
    LATEST = "latest"
    #: Keep every operation in order, up to the bound.
    ALL = "all"


class DropReason(Enum):
    """Why the offline queue let go of an item."""

    #: A newer value for the same key replaced it (``OfflineMode.LATEST``).
    SUPERSEDED = "superseded"
    #: The queue was full and this, the oldest item, was pushed out.
    OVERFLOW = "overflow"


@dataclass(frozen=True, slots=True, kw_only=True)
class QueuedOp:
    """One operation the application made while offline.

    :param kind: the client method to replay (``virtual_write``, ``set_property``, ``log_event``...).
    :param args: its positional arguments, already converted to text.
    :param key: the identity used by ``OfflineMode.LATEST``; ``None`` means never coalesced.
    """

    kind: str
    args: tuple[str, ...]
    key: Hashable | None = None


class OfflineQueue:
    """Bounded store of operations made while disconnected, drained after the next login.

    :param mode: :class:`OfflineMode`.
    :param max_items: the bound; the oldest item is dropped (and reported) when it is exceeded.
    :param on_drop: called with ``(item, reason)`` for every item let go.
    """

    __slots__ = ("_keyed", "_seq", "dropped", "max_items", "mode", "on_drop", "superseded")

    def __init__(
        self,
        mode: OfflineMode = OfflineMode.LATEST,
        max_items: int = 256,
        on_drop: Callable[[QueuedOp, DropReason], None] | None = None,
    ) -> None:
        self.mode = mode
        self.max_items = max_items
        self.on_drop = on_drop
        #: Items pushed out because the queue was full.
        self.dropped = 0
        #: Items replaced by a newer value for the same key.
        self.superseded = 0
        self._keyed: OrderedDict[object, QueuedOp] = OrderedDict()
        self._seq = 0
        self.__post_init__()

    def __repr__(self) -> str:
        return (
            f"OfflineQueue(mode={self.mode!r}, max_items={self.max_items}, items={len(self._keyed)}, "
            f"dropped={self.dropped}, superseded={self.superseded})"
        )

    def __post_init__(self) -> None:
        if self.max_items < 1:
            raise ValueError("the offline queue needs max_items >= 1")

    def __len__(self) -> int:
        return len(self._keyed)

    def put(self, item: QueuedOp) -> None:
        """Queue ``item``; may report a superseded or overflowed older item through ``on_drop``."""
        if self.mode is OfflineMode.LATEST and item.key is not None:
            slot: object = ("key", item.key)
            old = self._keyed.pop(slot, None)
            if old is not None:
                self.superseded += 1
                self._report(old, DropReason.SUPERSEDED)
        else:
            self._seq += 1
            slot = ("seq", self._seq)
        self._keyed[slot] = item
        while len(self._keyed) > self.max_items:
            _, oldest = self._keyed.popitem(last=False)
            self.dropped += 1
            self._report(oldest, DropReason.OVERFLOW)

    def drain(self) -> list[QueuedOp]:
        """Return every queued item in the order it was (last) queued and empty the queue."""
        items = list(self._keyed.values())
        self._keyed.clear()
        return items

    def __iter__(self) -> Iterator[QueuedOp]:
        return iter(list(self._keyed.values()))

    def _report(self, item: QueuedOp, reason: DropReason) -> None:
        if self.on_drop is not None:
            self.on_drop(item, reason)


def format_pin(pin: str | int) -> str:
    """Return the canonical name ``"V<n>"`` of a pin given in any form :func:`parse_pin` accepts."""
    return f"V{parse_pin(pin)}"
