"""The daemon's shape (issue 10): the wiring class stays small, cores are dispatched by type."""

from __future__ import annotations

import inspect
from pathlib import Path

import pppos.daemon
import pppos.session


def test_the_wiring_class_is_under_300_lines() -> None:
    lines, _ = inspect.getsourcelines(pppos.daemon.Daemon)
    assert len(lines) < 300, f"Daemon has {len(lines)} lines: move helpers to DataPath, Modem, Host or Facts"


def test_events_are_dispatched_by_type_and_the_supervisor_is_typed() -> None:
    daemon = Path(pppos.daemon.__file__).read_text()
    assert "__name__" not in daemon and "_ev(" not in daemon  # no class-name strings
    assert daemon.count("match ") >= 2  # supervisor commands and core events
    session = Path(pppos.session.__file__).read_text()
    assert "Any" not in session and "import asyncio" not in session and "time.time" not in session
