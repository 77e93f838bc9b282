"""The values of one server-to-device virtual write, with typed accessors (:class:`Values`).

What a write handler receives (``blynk-protocol.md`` section 3, "Server -> device virtual-pin
write"). A module of its own so that a device client dispatches writes without importing the
offline-queue and backoff policies of :mod:`blynk_client.offline` (which re-exports it) until it
needs them.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence

__all__ = ["Values"]


class Values(Sequence[str]):
    """The values of one virtual-pin write, with typed accessors (like the C++ ``BlynkParam``).

    ``values[0]`` and iteration give strings; ``int()``, ``float()`` and ``str()`` convert the
    value at an index (default 0) and raise :class:`ValueError` with a one-line message.
    """

    __slots__ = ("_items", "pin")

    def __init__(self, pin: int, items: Sequence[str]) -> None:
        #: The virtual pin number the values were written to.
        self.pin = pin
        self._items = tuple(items)

    def __getitem__(self, index: int) -> str:  # type: ignore[override]
        return self._items[index]

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Values):
            return self.pin == other.pin and self._items == other._items
        if isinstance(other, (list, tuple)):
            return list(self._items) == list(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.pin, self._items))

    def __repr__(self) -> str:
        return f"Values(V{self.pin}, {list(self._items)!r})"

    def int(self, index: int = 0) -> int:
        """Return the value at ``index`` as an int (a float text like ``"3.0"`` is accepted)."""
        text = self._at(index)
        try:
            return int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                raise ValueError(f"V{self.pin}[{index}] is not a number: {text!r}") from None
            if not number.is_integer():
                raise ValueError(f"V{self.pin}[{index}] is not an integer: {text!r}") from None
            return int(number)

    def float(self, index: builtins.int = 0) -> builtins.float:
        """Return the value at ``index`` as a float."""
        text = self._at(index)
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"V{self.pin}[{index}] is not a number: {text!r}") from None

    def str(self, index: builtins.int = 0) -> builtins.str:
        """Return the value at ``index`` as text."""
        return self._at(index)

    def _at(self, index: builtins.int) -> builtins.str:
        try:
            return self._items[index]
        except IndexError:
            raise ValueError(f"V{self.pin} has no value at index {index} ({len(self._items)} given)") from None
