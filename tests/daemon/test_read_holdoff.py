"""Bulk serial input pauses the reader briefly (fewer wake-ups); small reads are never held."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest

from pppos import daemon as daemon_mod
from pppos.config import UpOptions
from pppos.daemon import Daemon, Reporter


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

    def get_timer(self) -> float | None:
        return None


class _Handle:
    def cancel(self) -> None:
        pass


@pytest.fixture
def setup() -> Any:
    r, w = os.pipe()
    os.set_blocking(r, False)
    d = Daemon(UpOptions(port="/dev/null"), Reporter(quiet=True))
    loop = FakeLoop()
    d.loop = loop  # type: ignore[assignment]
    d.serial_fd = r
    d._serial_reading = True
    d.link = _NullLink()  # the PPP phase: the only one whose reads are held
    loop.add_reader(r, d._on_serial_readable)
    yield d, loop, r, w
    os.close(r)
    os.close(w)


def test_small_reads_are_never_held(setup: Any) -> None:
    d, loop, r, w = setup
    for _ in range(5):
        loop.now += 0.01
        os.write(w, b"x" * (daemon_mod.HOLDOFF_MIN_READ - 1))
        d._read_serial()
        assert r in loop.readers and d._serial_resume_at is None


def test_the_at_phase_is_never_held(setup: Any) -> None:
    d, loop, r, w = setup
    d.link = None  # bring-up: an ATI reply or a banner must not delay the next command
    d._last_serial_read = loop.now
    loop.now += 0.01
    os.write(w, b"x" * 1024)
    d._read_serial()
    assert r in loop.readers and d._serial_resume_at is None


def test_bulk_read_pauses_until_about_2k_more_can_have_arrived(setup: Any) -> None:
    d, loop, r, w = setup
    d._last_serial_read = loop.now
    loop.now += 0.01
    os.write(w, b"x" * 1024)  # 1024 octets in 10 ms: 2048 more take 20 ms at that rate
    d._read_serial()
    assert r not in loop.readers
    assert d._serial_resume_at == pytest.approx(loop.now + min(daemon_mod.HOLDOFF_MAX, 0.02))
    d._rearm()
    assert loop.timers[-1] == pytest.approx(d._serial_resume_at)  # the one timer covers the resume
    d._resume_serial(loop.now + 0.005)  # early: nothing happens
    assert r not in loop.readers
    d._resume_serial(loop.now + 0.02)
    assert r in loop.readers and d._serial_resume_at is None


def test_fast_input_gets_a_short_holdoff(setup: Any) -> None:
    d, loop, _r, w = setup
    d._last_serial_read = loop.now
    loop.now += 0.003
    os.write(w, b"x" * 4096)  # ~1.4 MB/s (a USB modem): 2048 more octets take 1.5 ms
    d._read_serial()
    assert d._serial_resume_at == pytest.approx(loop.now + 0.0015)


def test_very_fast_input_is_not_held_at_all(setup: Any) -> None:
    d, loop, r, w = setup
    d._last_serial_read = loop.now
    loop.now += 0.001
    os.write(w, b"x" * 4096)  # 4 MB/s: a holdoff under 1 ms would cost more than it saves
    d._read_serial()
    assert r in loop.readers and d._serial_resume_at is None


def test_no_resume_after_the_port_is_gone(setup: Any) -> None:
    d, loop, r, w = setup
    d._last_serial_read = loop.now
    loop.now += 0.01
    os.write(w, b"x" * 1024)
    d._read_serial()
    d._serial_reading = False  # what _modem_gone does
    d._resume_serial(loop.now + 1.0)
    assert r not in loop.readers
