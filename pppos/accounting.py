"""Data accounting per SIM, a data cap, and a Prometheus textfile of the link's health.

**Accounting.** Byte totals per SIM (its ICCID, read at each bring-up) that survive sessions,
restarts and reboots, with the all-time total and one entry per day and per month (UTC; the last 62
days and 24 months are kept, so a record stays a few KB). Two parts:

- :class:`Accountant`, sans-I/O: the daemon's cumulative counters go in with the wall-clock time
  (:meth:`~Accountant.update`; a counter that goes down means a new session), the totals, the cap's
  verdict (:meth:`~Accountant.cap_state`), the record to store (:meth:`~Accountant.record`) and
  whether a write is due (:meth:`~Accountant.flush_due`: at most every :data:`FLUSH_INTERVAL` seconds
  while bytes move, at once when forced) come out. No clock, no files.
- :class:`AccountingStore`, the tiny store: ``<state dir>/accounting/<ICCID>.json``
  (``$PPPOS_STATE_DIR``, else /var/lib/pppos; directory 0700, files 0600) written atomically
  (temporary file, fsync, rename), so a power cut loses at most one interval. A corrupt record is
  moved aside (``<ICCID>.json.corrupt``) with one warning and counting starts again from zero; the
  store never raises for I/O trouble, it returns one line to log (naming the SIM as
  :func:`sim_label` does, never by its whole ICCID).

Status files and metrics name a SIM by the last four digits of its ICCID only
(:func:`sim_label`), as the IMEI is shown.

**Data cap** (``--data-cap BYTES[/month|/day]``, e.g. ``2G/month``, ``500M/day``; K, M, G, T are powers
of 1000, Ki, Mi, Gi, Ti of 1024): a warning at 90 % of the period's traffic, and at 100 % the link is
stopped: with exit status 15, or with ``--persist`` held down (no dialling) until the period rolls over
(:func:`period_end`: the next UTC midnight or first of the month, :meth:`Accountant.cap_hold`), then
dialled again. A start while the cap is reached does the same before any dial: the store remembers the
SIM last seen on each interface (:meth:`AccountingStore.remember_sim`), so the check needs no modem.

**Test hook**: ``$PPPOS_TEST_CLOCK_SHIFT`` names a file holding a number of seconds that
:func:`wall_clock` (the clock of the accounting's periods and of the cap's hold) adds to the real time.
It is read at each use; unset (the only real-world setting) it costs nothing. The end-to-end tests move
the period boundary with it instead of waiting for a month.

**Metrics** (``--metrics-file PATH``): the node_exporter textfile format
(https://prometheus.io/docs/instrumenting/exposition_formats/), written atomically from the same state
the state file holds: up, reconnects, bytes, echo RTT, consecutive echo failures, signal and its age,
the last failure.
"""

from __future__ import annotations

import calendar
import contextlib
import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pppos.errors import ConfigError

__all__ = ["CAP_WARN", "CLOCK_SHIFT_ENV", "FLUSH_INTERVAL", "Accountant", "AccountingStore", "CapHold", "DataCap",
           "clock_shift", "format_accounting", "parse_data_cap", "period_end", "render_metrics", "sim_label",
           "stored_summaries", "wall_clock", "write_metrics"]

#: Seconds between accounting writes while the counters move.
FLUSH_INTERVAL = 60.0
#: The share of the cap at which a warning is logged.
CAP_WARN = 0.9
#: the test hook (see the module docstring)
CLOCK_SHIFT_ENV = "PPPOS_TEST_CLOCK_SHIFT"
_KEEP_DAYS = 62
_KEEP_MONTHS = 24
_UNITS = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
          "KI": 2**10, "MI": 2**20, "GI": 2**30, "TI": 2**40}
_CAP_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]I?)?B?\s*(?:/\s*(month|day))?\s*$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class DataCap:
    """A cap of ``limit`` bytes (in and out together) per ``period`` (``month`` or ``day``, UTC)."""

    limit: int
    period: str = "month"

    def describe(self) -> str:
        return f"{_human(self.limit)}/{self.period}"


def parse_data_cap(text: str) -> DataCap:
    """``2G/month``, ``500MiB/day``, ``1000000`` (per month) -> :class:`DataCap`.

    :raises ConfigError: anything else (one line).
    """
    m = _CAP_RE.match(str(text))
    if not m:
        raise ConfigError(f"--data-cap wants BYTES[/month|/day] such as 2G/month or 500M/day, got {text!r}")
    value = float(m.group(1)) * _UNITS[(m.group(2) or "").upper()]
    if value < 1:
        raise ConfigError(f"--data-cap {text}: the cap must be at least 1 byte")
    return DataCap(int(value), (m.group(3) or "month").lower())


def _human(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"  # pragma: no cover


def clock_shift() -> float:
    """The test hook's shift in seconds (see the module docstring); 0.0 when it is not set."""
    shift_file = os.environ.get(CLOCK_SHIFT_ENV)
    if shift_file:
        with contextlib.suppress(OSError, ValueError):
            return float(Path(shift_file).read_text(encoding="ascii").strip() or 0)
    return 0.0


def wall_clock() -> float:
    """The wall-clock time of the accounting and the cap: ``time.time()`` plus :func:`clock_shift`."""
    return time.time() + clock_shift()


def period_end(period: str, wall: float) -> float:
    """When the ``day`` or ``month`` (UTC, as the accounting counts) that contains ``wall`` ends: the
    next midnight, or 00:00 on the first of the next month (December rolls over into January)."""
    t = time.gmtime(wall)
    if period == "day":
        return calendar.timegm((t.tm_year, t.tm_mon, t.tm_mday, 0, 0, 0)) + 86400.0
    year, month = (t.tm_year + 1, 1) if t.tm_mon == 12 else (t.tm_year, t.tm_mon + 1)
    return float(calendar.timegm((year, month, 1, 0, 0, 0)))


@dataclass(frozen=True, slots=True)
class CapHold:
    """The cap of this period is used up: ``used`` in words (``101.0 kB of 100.0 kB/day``), the period's
    end ``until`` (wall clock) and in words (``2026-12-08 00:00 UTC``), and seconds ``left`` until then."""

    used: str
    until: float
    until_words: str
    left: float

    @property
    def exit_line(self) -> str:
        """The one line of a run that ends at the cap (the supervisor's own words for it are the same)."""
        return f"data cap reached ({self.used}): the link stays down until {self.until_words}"


def _periods(wall: float) -> tuple[str, str]:
    t = time.gmtime(wall)
    return time.strftime("%Y-%m-%d", t), time.strftime("%Y-%m", t)


def accounting_dir(directory: str | None = None) -> Path:
    from pppos.pinguard import state_dir

    return state_dir(directory) / "accounting"


def sim_label(iccid: str) -> str:
    """How status files, metrics and logs name a SIM: ``...1234`` (the ICCID's last four digits)."""
    digits = re.sub(r"[^0-9A-Za-z]", "", iccid)
    return f"...{digits[-4:]}" if digits else "unknown"


def _pair(value: object) -> list[int]:
    if (isinstance(value, list) and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value)):
        return [value[0], value[1]]
    raise ValueError("a total is [bytes in, bytes out]")


@dataclass(slots=True)
class Accountant:
    """Byte totals of one SIM across sessions and restarts, sans-I/O (see the module docstring)."""

    iccid: str
    cap: DataCap | None = None
    total: list[int] = field(default_factory=lambda: [0, 0])
    days: dict[str, list[int]] = field(default_factory=dict)
    months: dict[str, list[int]] = field(default_factory=dict)
    _seen: tuple[int, int] = (0, 0)
    _dirty: bool = False
    _flushed_at: float | None = None
    _warned: str = ""

    @classmethod
    def from_record(cls, iccid: str, record: object, cap: DataCap | None = None) -> Accountant:
        """Rebuild the totals from a stored record. :raises ValueError: not a record of this module."""
        if not isinstance(record, dict):
            raise ValueError("an accounting record is an object")
        days, months = record.get("days", {}), record.get("months", {})
        if not isinstance(days, dict) or not isinstance(months, dict):
            raise ValueError("days and months are objects")
        acc = cls(iccid, cap)
        acc.total = _pair(record.get("total"))
        acc.days = {str(k): _pair(v) for k, v in days.items()}
        acc.months = {str(k): _pair(v) for k, v in months.items()}
        return acc

    def new_session(self, bytes_in: int = 0, bytes_out: int = 0) -> None:
        """Count from these values of the daemon's counters on (zero: they start again)."""
        self._seen = (bytes_in, bytes_out)

    def update(self, bytes_in: int, bytes_out: int, wall: float) -> None:
        """Account the session counters ``bytes_in``/``bytes_out`` (cumulative) as of ``wall``."""
        last_in, last_out = self._seen
        d_in = bytes_in - last_in if bytes_in >= last_in else bytes_in
        d_out = bytes_out - last_out if bytes_out >= last_out else bytes_out
        self._seen = (bytes_in, bytes_out)
        if d_in <= 0 and d_out <= 0:
            return
        day, month = _periods(wall)
        for bucket in (self.total, self.days.setdefault(day, [0, 0]), self.months.setdefault(month, [0, 0])):
            bucket[0] += d_in
            bucket[1] += d_out
        self._dirty = True

    def used(self, period: str, wall: float) -> int:
        """Bytes (in + out) in the current ``day`` or ``month`` (UTC)."""
        day, month = _periods(wall)
        bucket = self.days.get(day) if period == "day" else self.months.get(month)
        return sum(bucket) if bucket else 0

    def cap_state(self, wall: float) -> tuple[str, str]:
        """``("ok"|"warn"|"over", message)``; ``warn`` is returned once per period."""
        if self.cap is None:
            return "ok", ""
        used = self.used(self.cap.period, wall)
        share = used / self.cap.limit
        words = f"{_human(used)} of the {self.cap.describe()} data cap used ({share:.0%})"
        if share >= 1.0:
            return "over", f"data cap reached: {words}; the link stays down until the next {self.cap.period}"
        period = _periods(wall)[0 if self.cap.period == "day" else 1]
        if share >= CAP_WARN and self._warned != period:
            self._warned = period
            return "warn", words
        return "ok", words

    def cap_hold(self, wall: float) -> CapHold | None:
        """The hold while the cap of the period containing ``wall`` is used up (None: it is not, or no cap)."""
        if self.cap is None:
            return None
        used = self.used(self.cap.period, wall)
        if used < self.cap.limit:
            return None
        until = period_end(self.cap.period, wall)
        return CapHold(used=f"{_human(used)} of {self.cap.describe()}", until=until,
                       until_words=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(until)), left=until - wall)

    def flush_due(self, wall: float, *, force: bool = False) -> bool:
        """True when the record should be stored: something changed, and :data:`FLUSH_INTERVAL` passed
        since the last store (or this is the first change, or ``force``)."""
        if not self._dirty:
            return False
        return force or self._flushed_at is None or wall - self._flushed_at >= FLUSH_INTERVAL

    def record(self, wall: float) -> dict[str, Any]:
        """The record to store (old days and months pruned)."""
        for keep, table in ((_KEEP_DAYS, self.days), (_KEEP_MONTHS, self.months)):
            for old in sorted(table)[:-keep]:
                del table[old]
        return {"iccid": self.iccid, "total": self.total, "days": self.days, "months": self.months,
                "updated": round(wall, 3)}

    def flushed(self, wall: float) -> None:
        """The store wrote :meth:`record` at ``wall``."""
        self._dirty = False
        self._flushed_at = wall

    def summary(self, wall: float) -> dict[str, Any]:
        """For the state file and ``pppos-status``: this SIM's day, month and all-time totals."""
        day, month = _periods(wall)
        out: dict[str, Any] = {
            "sim": sim_label(self.iccid),
            "day": self.days.get(day, [0, 0]),
            "month": self.months.get(month, [0, 0]),
            "total": self.total,
        }
        if self.cap is not None:
            out["cap"] = {"limit": self.cap.limit, "period": self.cap.period,
                          "used": self.used(self.cap.period, wall)}
        return out


class AccountingStore:
    """The accounting records on disk (see the module docstring). Never raises for I/O trouble."""

    def __init__(self, directory: str | None = None) -> None:
        self.directory = accounting_dir(directory)

    def path(self, iccid: str) -> Path:
        return self.directory / f"{re.sub(r'[^0-9A-Za-z]', '', iccid)[:32] or 'unknown-sim'}.json"

    def open(self, iccid: str, cap: DataCap | None = None) -> tuple[Accountant, str | None]:
        """The SIM's totals so far and a warning (None when all went well). A missing record starts
        from zero; a corrupt one is moved aside and counting starts from zero."""
        path = self.path(iccid)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return Accountant(iccid, cap), None
        except OSError as exc:
            return Accountant(iccid, cap), (f"cannot read the record of SIM {sim_label(iccid)} in {self.directory}: "
                                            f"{exc.strerror}; counting from zero")
        try:
            return Accountant.from_record(iccid, json.loads(raw), cap), None
        except (ValueError, UnicodeDecodeError):
            aside = path.with_name(path.name + ".corrupt")
            with contextlib.suppress(OSError):
                os.replace(path, aside)
            return Accountant(iccid, cap), (f"the record of SIM {sim_label(iccid)} in {self.directory} was corrupt "
                                            f"(kept as .corrupt beside it); counting from zero")

    def _last_sim_path(self, ifname: str) -> Path:
        return self.directory / f"last-sim.{re.sub(r'[^0-9A-Za-z_.-]', '', ifname)[:32] or 'if'}"

    def remember_sim(self, ifname: str, iccid: str) -> None:
        """The SIM ``iccid`` was seen on ``ifname``: the next start checks its cap before dialling."""
        if not iccid or self.last_sim(ifname) == iccid:
            return
        with contextlib.suppress(OSError):
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            path = self._last_sim_path(ifname)
            tmp = path.with_name(f".{path.name}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, (iccid + "\n").encode())
            finally:
                os.close(fd)
            os.replace(tmp, path)

    def last_sim(self, ifname: str) -> str | None:
        """The ICCID last seen on ``ifname`` (:meth:`remember_sim`), None when none is known."""
        try:
            text = self._last_sim_path(ifname).read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            return None
        return text if re.fullmatch(r"[0-9A-Fa-f]{1,32}", text) else None

    def save(self, acc: Accountant, wall: float, *, force: bool = False) -> tuple[bool, str | None]:
        """Store ``acc`` when :meth:`Accountant.flush_due`; returns (written, warning)."""
        if not acc.flush_due(wall, force=force):
            return False, None
        path = self.path(acc.iccid)
        try:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            tmp = path.with_name(f".{path.name}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, (json.dumps(acc.record(wall), sort_keys=True) + "\n").encode())
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
        except OSError as exc:
            return False, (f"cannot write the record of SIM {sim_label(acc.iccid)} in {self.directory}: "
                           f"{exc.strerror}; the totals are kept for the next try")
        acc.flushed(wall)
        return True, None


def stored_summaries(wall: float, directory: str | None = None) -> list[dict[str, Any]]:
    """:meth:`Accountant.summary` of every SIM with a readable record (``pppos-status`` while nothing runs)."""
    store = AccountingStore(directory)
    try:
        paths = sorted(store.directory.glob("*.json"))
    except OSError:
        return []
    out = []
    for path in paths:
        try:
            record = json.loads(path.read_bytes())
            out.append(Accountant.from_record(str(record.get("iccid", "")), record).summary(wall))
        except (OSError, ValueError, AttributeError, TypeError, UnicodeDecodeError):
            continue
    return out


def format_accounting(summary: dict[str, Any]) -> list[str]:
    """``pppos-status`` lines for :meth:`Accountant.summary`."""
    label = str(summary.get("sim") or sim_label(str(summary.get("iccid") or "")))

    def pair(v: Any) -> str:
        try:
            return f"{_human(int(v[0]))} in, {_human(int(v[1]))} out"
        except (TypeError, ValueError, IndexError):
            return "?"

    lines = [f"data (SIM {label}): today {pair(summary.get('day'))}; this month {pair(summary.get('month'))}; "
             f"all time {pair(summary.get('total'))}"]
    cap = summary.get("cap")
    if isinstance(cap, dict) and cap.get("limit"):
        used, limit = int(cap.get("used", 0)), int(cap["limit"])
        lines.append(f"data cap: {_human(used)} of {_human(limit)}/{cap.get('period', 'month')} "
                     f"({used / limit:.0%})")
    return lines


def _label(value: object) -> str:
    text = "".join(c if c.isprintable() else " " for c in str(value))[:200]
    return text.replace("\\", "\\\\").replace('"', '\\"')


def render_metrics(state: dict[str, Any], now: float | None = None) -> str:
    """The state file's facts as Prometheus text exposition (version 0.0.4)."""
    wall = time.time() if now is None else now
    ifname = _label(state.get("ifname", "ppp0"))
    base = f'ifname="{ifname}"'
    out: list[str] = []

    def metric(name: str, kind: str, help_text: str, samples: list[tuple[str, float]]) -> None:
        out.append(f"# HELP {name} {help_text}")
        out.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            out.append(f"{name}{{{base}{',' + labels if labels else ''}}} {value:g}")

    up = 1 if state.get("phase") == "running" and state.get("local_ip") else 0
    metric("pppos_up", "gauge", "1 while the link is up and carries IP", [("", up)])
    metric("pppos_reconnects_total", "counter", "times the link came back after a loss",
           [("", float(state.get("reconnects") or 0))])
    metric("pppos_session_bytes_total", "counter", "bytes through the interface in this session",
           [('direction="in"', float(state.get("bytes_in") or 0)),
            ('direction="out"', float(state.get("bytes_out") or 0))])
    acct = state.get("accounting")
    if isinstance(acct, dict):
        sim = f'sim="{_label(acct.get("sim") or sim_label(str(acct.get("iccid") or "")))}"'
        samples = []
        for period in ("day", "month", "total"):
            pair = acct.get(period) or [0, 0]
            samples += [(f'{sim},period="{period}",direction="in"', float(pair[0])),
                        (f'{sim},period="{period}",direction="out"', float(pair[1]))]
        metric("pppos_sim_bytes", "gauge", "bytes through this SIM per UTC day, month and all time", samples)
    if state.get("echo_rtt") is not None:
        metric("pppos_echo_rtt_seconds", "gauge", "last LCP echo round trip", [("", float(state["echo_rtt"]))])
    metric("pppos_echo_failures", "gauge", "consecutive unanswered LCP echo requests",
           [("", float(state.get("echo_failures") or 0))])
    sig = state.get("signal")
    if isinstance(sig, dict) and sig.get("dbm") is not None:
        metric("pppos_signal_dbm", "gauge", "signal strength (AT+CSQ)", [("", float(sig["dbm"]))])
        if sig.get("at"):
            metric("pppos_signal_age_seconds", "gauge", "age of the signal reading",
                   [("", max(0.0, wall - float(sig["at"])))])
    if state.get("last_failure"):
        metric("pppos_last_failure_info", "gauge", "the last failure in words",
               [(f'reason="{_label(state["last_failure"])}"', 1)])
    metric("pppos_metrics_updated_seconds", "gauge", "when this file was written", [("", round(wall, 3))])
    return "\n".join(out) + "\n"


def write_metrics(path: str, state: dict[str, Any], now: float | None = None) -> bool:
    """Write :func:`render_metrics` to ``path`` atomically (same directory, then rename); False on error."""
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(render_metrics(state, now))
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()
        return False
    return True
