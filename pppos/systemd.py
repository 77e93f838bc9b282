"""systemd integration without a dependency: sd_notify(3) over its datagram socket, the watchdog
interval, and journald detection.

The notification protocol (sd_notify(3), "Notes"): the service manager passes ``$NOTIFY_SOCKET``, a
path or an abstract socket name starting with ``@``; the service sends one ``AF_UNIX`` datagram of
newline-separated ``KEY=VALUE`` assignments: ``READY=1`` once the service is up (for ``pppos-up``:
once ``ppp0`` is up), ``STATUS=...`` a line of words ``systemctl status`` shows, ``WATCHDOG=1`` at
least every ``$WATCHDOG_USEC`` microseconds when ``WatchdogSec=`` is set (and ``$WATCHDOG_PID`` names
us), ``STOPPING=1`` when it begins to stop. Outside systemd every call is a no-op.

journald (systemd.exec(5), ``$JOURNAL_STREAM``): when stderr is the journal's stream (its
``device:inode`` matches), each line may start with ``<N>``, a syslog priority (sd-daemon(3)), which
journald strips and records.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Mapping
from typing import TextIO

__all__ = ["PRIORITIES", "Notifier", "journal_stream", "notify", "watchdog_interval"]

#: Reporter level -> syslog priority (sd-daemon(3) ``SD_ERR`` ... ``SD_DEBUG``).
PRIORITIES: dict[str, int] = {"error": 3, "warning": 4, "notice": 5, "info": 6, "trace": 7, "debug": 7}


def _clean(value: str) -> str:
    """One line of printable text (a STATUS= value must not end the assignment early)."""
    return "".join(c if c.isprintable() else " " for c in value)[:400]


def _address(environ: Mapping[str, str]) -> str | None:
    path = environ.get("NOTIFY_SOCKET", "")
    if not path or path[0] not in "/@":
        return None
    return "\0" + path[1:] if path[0] == "@" else path


def notify(assignments: Mapping[str, str | int], environ: Mapping[str, str] | None = None) -> bool:
    """Send one datagram of ``KEY=VALUE`` lines to ``$NOTIFY_SOCKET``; False when there is none or it fails."""
    address = _address(os.environ if environ is None else environ)
    if address is None:
        return False
    payload = "\n".join(f"{k}={_clean(str(v))}" for k, v in assignments.items()).encode()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK) as sock:
            sock.sendto(payload, address)  # never blocks the daemon: a full listener queue drops it
    except OSError:  # BlockingIOError included
        return False
    return True


def watchdog_interval(environ: Mapping[str, str] | None = None, pid: int | None = None) -> float | None:
    """Seconds between ``WATCHDOG=1`` pings (half of ``WatchdogSec=``), or None when no watchdog is set."""
    env = os.environ if environ is None else environ
    usec = env.get("WATCHDOG_USEC", "")
    owner = env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) <= 0:
        return None
    if owner and owner != str(os.getpid() if pid is None else pid):
        return None
    return int(usec) / 2e6


def journal_stream(stream: TextIO | None = None, environ: Mapping[str, str] | None = None) -> bool:
    """True when ``stream`` (stderr) is connected to journald (``$JOURNAL_STREAM`` is its ``dev:inode``)."""
    env = os.environ if environ is None else environ
    value = env.get("JOURNAL_STREAM", "")
    dev, sep, ino = value.partition(":")
    if not sep or not dev.isdigit() or not ino.isdigit():
        return False
    target = stream if stream is not None else __import__("sys").stderr
    try:
        st = os.fstat(target.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return (st.st_dev, st.st_ino) == (int(dev), int(ino))


class Notifier:
    """The daemon's side of sd_notify: READY once, STATUS on every change, the watchdog, STOPPING.

    Cheap to call when not under systemd (every method returns at once).
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = dict(os.environ if environ is None else environ)
        self._env = env
        self.enabled = _address(env) is not None
        #: seconds between watchdog pings, or None
        self.watchdog = watchdog_interval(env) if self.enabled else None
        self.ready_sent = False
        self._last_status = ""

    def ready(self, status: str) -> None:
        """``READY=1`` with a status line: the link is up (sent again after a reconnect, harmless)."""
        if self.enabled:
            self.ready_sent = True
            self._last_status = status
            notify({"READY": 1, "STATUS": status}, self._env)

    def status(self, status: str) -> None:
        """``STATUS=`` when it changed."""
        if self.enabled and status != self._last_status:
            self._last_status = status
            notify({"STATUS": status}, self._env)

    def ping(self) -> None:
        """``WATCHDOG=1``: the event loop is alive."""
        if self.enabled and self.watchdog is not None:
            notify({"WATCHDOG": 1}, self._env)

    def stopping(self, status: str = "stopping") -> None:
        """``STOPPING=1``: cleanup has begun."""
        if self.enabled:
            with contextlib.suppress(Exception):
                notify({"STOPPING": 1, "STATUS": status}, self._env)
