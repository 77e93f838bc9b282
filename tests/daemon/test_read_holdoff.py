"""Bulk serial input pauses the reader briefly (fewer wake-ups); small reads are never held."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest

from pppos import daemon as daemon_mod
from pppos.daemon import DataPath


class FakeLoop:
    """The few loop methods the serial path uses, on a float clock."""

    def __init__(self) -> None:
        self.now = 100.0
        self.readers: dict[int, Callable[[], None]] = {}
        self.timers: list[float] = []

    def time(self) -> float:
        return self.now

    def add_reader(self, fd: int, cb: Callable[[], None]) -> None:
        self.readers[fd] = cb

    def remove_reader(self, fd: int) -> bool:
        return self.readers.pop(fd, None) is not None

    def call_at(self, when: float, cb: Callable[[], None]) -> Any:
        self.timers.append(when)
        return _Handle()


class _NullLink:
    def receive_data(self, data: bytes, now: float) -> None:
        pass

    def modem_text(self) -> str | None:
        return None

    def get_timer(self) -> float | None:
        return None


class _Handle:
    def cancel(self) -> None:
        pass


@pytest.fixture
def setup() -> Any:
    r, w = os.pipe()
    os.set_blocking(r, False)
    loop = FakeLoop()
    d = DataPath(loop, lambda fn: fn(), lambda why: None)  # type: ignore[arg-type]
    d.fd = r
    d.serial_reading = True
    d.core = d.link = _NullLink()  # type: ignore[assignment]  # the PPP phase: the only one held
    loop.add_reader(r, d.on_serial_readable)
    yield d, loop, r, w
    os.close(r)
    os.close(w)


def test_small_reads_are_never_held(setup: Any) -> None:
    d, loop, r, w = setup
    for _ in range(5):
        loop.now += 0.01
        os.write(w, b"x" * (daemon_mod.HOLDOFF_MIN_READ - 1))
        d.read_serial()
        assert r in loop.readers and d.resume_at is None


def test_the_at_phase_is_never_held(setup: Any) -> None:
    d, loop, r, w = setup
    d.link = None  # bring-up: an ATI reply or a banner must not delay the next command
    d.last_read = loop.now
    loop.now += 0.01
    os.write(w, b"x" * 1024)
    d.read_serial()
    assert r in loop.readers and d.resume_at is None


def test_bulk_read_pauses_until_about_2k_more_can_have_arrived(setup: Any) -> None:
    d, loop, r, w = setup
    d.last_read = loop.now
    loop.now += 0.01
    os.write(w, b"x" * 1024)  # 1024 octets in 10 ms: 2048 more take 20 ms at that rate
    d.read_serial()
    assert r not in loop.readers
    assert d.resume_at == pytest.approx(loop.now + min(daemon_mod.HOLDOFF_MAX, 0.02))
    assert d.resume_at in _daemon_deadlines(d)  # the one timer covers the resume
    d.resume(loop.now + 0.005)  # early: nothing happens
    assert r not in loop.readers
    d.resume(loop.now + 0.02)
    assert r in loop.readers and d.resume_at is None


def test_fast_input_gets_a_short_holdoff(setup: Any) -> None:
    d, loop, _r, w = setup
    d.last_read = loop.now
    loop.now += 0.003
    os.write(w, b"x" * 4096)  # ~1.4 MB/s (a USB modem): 2048 more octets take 1.5 ms
    d.read_serial()
    assert d.resume_at == pytest.approx(loop.now + 0.0015)


def test_very_fast_input_is_not_held_at_all(setup: Any) -> None:
    d, loop, r, w = setup
    d.last_read = loop.now
    loop.now += 0.001
    os.write(w, b"x" * 4096)  # 4 MB/s: a holdoff under 1 ms would cost more than it saves
    d.read_serial()
    assert r in loop.readers and d.resume_at is None


def test_no_resume_after_the_port_is_gone(setup: Any) -> None:
    d, loop, r, w = setup
    d.last_read = loop.now
    loop.now += 0.01
    os.write(w, b"x" * 1024)
    d.read_serial()
    d.serial_reading = False  # what a lost port does
    d.resume(loop.now + 1.0)
    assert r not in loop.readers


def _daemon_deadlines(io: DataPath) -> list[float | None]:
    """What Daemon._rearm takes the minimum of, from the data path."""
    return [io.resume_at, io.carrier_check_at]
