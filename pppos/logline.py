"""How every ``pppos-up`` line looks: text (``pppos-up: ...``) or JSON (one object per line), with a
``<N>`` syslog priority in front when stderr is journald's stream (:func:`pppos.systemd.journal_stream`).

The progress lines (:class:`pppos.daemon.Reporter`) and the final error line
(:func:`pppos.cli.common.run_main`) both come through :func:`format_line`, so ``--log-format json``
makes *every* line JSON, the fatal one included.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, TextIO

from pppos.systemd import PRIORITIES, journal_stream

__all__ = ["LogStyle", "configure", "format_line", "style"]


@dataclass(slots=True)
class LogStyle:
    """``json``: one JSON object per line; ``journal``: prefix ``<N>`` (None: detect from the stream)."""

    json: bool = False
    journal: bool | None = None


_STYLE = LogStyle()


def configure(*, json_format: bool | None = None, journal: bool | None = None) -> LogStyle:
    """Set the process-wide style (the command line's ``--log-format``); returns it."""
    if json_format is not None:
        _STYLE.json = json_format
    if journal is not None:
        _STYLE.journal = journal
    return _STYLE


def style() -> LogStyle:
    """The process-wide style."""
    return _STYLE


def format_line(prog: str, level: str, step: str, message: str, fields: dict[str, Any] | None = None, *,
                json_format: bool | None = None, stream: TextIO | None = None) -> str:
    """One line (no newline) in the configured style; ``json_format`` overrides the process-wide one."""
    as_json = _STYLE.json if json_format is None else json_format
    if as_json:
        record = {"ts": round(time.time(), 6), "level": level, "step": step, "message": message, **(fields or {})}
        line = json.dumps(record, default=str)
    elif level == "info":
        line = f"{prog}: {message}"
    else:
        line = f"{prog}: {level}: {message}"
    journal = _STYLE.journal if _STYLE.journal is not None else journal_stream(stream)
    if journal:
        line = f"<{PRIORITIES.get(level, 6)}>{line}"
    return line
