"""Serial port driver: open any pyserial URL, and a blocking select() loop that feeds a sans-I/O core.

``open_port`` goes through :func:`serial.serial_for_url`, so a device path, ``/dev/serial/by-id/...``,
``socket://host:port`` and ``loop://`` all work with no code change. ``run_blocking`` is the small
driver used by ``pppos-probe``: receive -> process events -> transmit -> re-arm one timer, every time
(the aioquic driver rule). The daemon has its own asyncio loop over the same core API.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import termios
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import serial

from pppos.errors import ConfigError, LinkError, ModemError

if TYPE_CHECKING:
    from pppos.portlock import PortLock

__all__ = ["SansIoCore", "open_port", "run_blocking"]


class SansIoCore(Protocol):
    """The uniform surface of every pppos core (see docs/design.md)."""

    def receive_data(self, data: bytes, now: float) -> None:
        """Feed bytes."""

    def next_event(self) -> object | None:
        """Pop one event."""

    def data_to_send(self) -> bytes:
        """Bytes to write."""

    def get_timer(self) -> float | None:
        """The next deadline."""

    def handle_timer(self, now: float) -> None:
        """Expire deadlines."""


_URL_SCHEMES = ("socket://", "loop://", "rfc2217://", "spy://", "alt://", "hwgrep://", "cp2110://")


def open_port(url: str, baud: int = 115200, *, lock: bool = True) -> serial.Serial:
    """Open ``url`` at ``baud`` for non-blocking use (``timeout=0``), owning it when it is a device.

    A device path is locked first (the UUCP lock file of :mod:`pppos.portlock`, as pppd's ``lock``),
    then opened and made exclusive (``TIOCEXCL``, tty_ioctl(4)): a port another live process holds is
    refused before it is opened, so that process's link is never disturbed. ``port.close()`` drops both.

    :raises ConfigError: the URL or rate is malformed.
    :raises PortBusy: another live process holds the port's lock (the message names its pid).
    :raises ModemError: the port cannot be opened (missing, busy, no permission); the message says
        what to check.
    """
    if baud <= 0:
        raise ConfigError(f"invalid baud rate {baud}: use a rate such as 115200")
    if "://" in url and not url.startswith(_URL_SCHEMES):
        raise ConfigError(f"unsupported port URL {url!r}: use a device path, socket://HOST:PORT or loop://")
    held = None
    if lock and "://" not in url and os.path.exists(url):
        from pppos.portlock import acquire

        held = acquire(url)
    try:
        port = serial.serial_for_url(url, baudrate=baud, timeout=0, write_timeout=5, exclusive=None)
    except ValueError as exc:
        _release(held)
        raise ConfigError(f"cannot use port {url}: {exc}") from None
    except serial.SerialException as exc:
        _release(held)
        raise ModemError(_open_failure(url, exc)) from None
    except OSError as exc:  # pragma: no cover - pyserial wraps most of these
        _release(held)
        raise ModemError(f"cannot open {url}: {exc.strerror or exc}") from None
    if "://" not in url:
        _own(port, held)
    return port


def _release(held: PortLock | None) -> None:
    if held is not None:
        held.release()


def _own(port: serial.Serial, held: PortLock | None) -> None:
    """Set ``TIOCEXCL`` on the open tty and make ``port.close()`` undo it and drop the lock file."""
    fd = _fileno(port)
    exclusive = False
    if fd is not None:
        try:
            fcntl.ioctl(fd, termios.TIOCEXCL)
            exclusive = True
        except OSError:  # not a tty after all: nothing to make exclusive
            pass
    close = port.close

    def close_and_release() -> None:
        if exclusive and port.is_open:
            with contextlib.suppress(OSError, ValueError, serial.SerialException):
                fcntl.ioctl(port.fileno(), termios.TIOCNXCL)
        try:
            close()
        finally:
            _release(held)

    port.close = close_and_release


def _open_failure(url: str, exc: serial.SerialException) -> str:
    errno = getattr(exc, "errno", None)
    text = str(exc)
    if errno == 2 or "No such file" in text:
        return f"cannot open {url}: no such port (list ports with: ls /dev/serial/by-id/ /dev/ttyUSB* /dev/ttyACM*)"
    if errno == 13 or "Permission denied" in text:
        return f"cannot open {url}: permission denied (add yourself to the dialout group or run as root)"
    if errno == 16 or "busy" in text.lower():
        return f"cannot open {url}: the port is busy (another program, ModemManager or pppd, has it open)"
    if "Inappropriate ioctl" in text or errno == 25:
        return f"cannot open {url}: it is not a serial port (a tty, pty or by-id link is needed)"
    if "Is a directory" in text or errno == 21:
        return f"cannot open {url}: it is a directory, not a serial port"
    if "Connection refused" in text or errno == 111:
        return f"cannot open {url}: connection refused (is the simulator or ser2net running?)"
    return f"cannot open {url}: {text}"


def _apply(port: serial.Serial, event: object) -> None:
    """Apply driver-level events (SetBaud, SetDtr) duck-typed by class name."""
    name = type(event).__name__
    if name == "SetBaud":
        try:
            port.baudrate = event.rate  # type: ignore[attr-defined]
        except (ValueError, serial.SerialException, OSError) as exc:
            raise ModemError(f"cannot switch the port to {event.rate} baud: {exc}") from None  # type: ignore[attr-defined]
    elif name == "SetDtr":
        # ptys, sockets and many USB adapters have no DTR line: the +++ path follows anyway
        with contextlib.suppress(serial.SerialException, OSError, NotImplementedError, AttributeError):
            port.dtr = event.level  # type: ignore[attr-defined]


def _fileno(port: serial.Serial) -> int | None:
    try:
        fd: int = port.fileno()
        return fd
    except (OSError, AttributeError, ValueError, serial.SerialException):
        return None


def _write_all(port: serial.Serial, data: bytes) -> None:
    try:
        port.write(data)
        port.flush()
    except (serial.SerialException, OSError) as exc:
        raise LinkError(f"writing to the modem failed: {exc}") from None


def _read_some(port: serial.Serial) -> bytes:
    try:
        waiting = port.in_waiting
        data: bytes = port.read(max(waiting, 1))
        return data
    except (serial.SerialException, OSError) as exc:
        raise LinkError(f"the modem went away (read failed: {exc})") from None


def run_blocking(
    port: serial.Serial,
    core: SansIoCore,
    *,
    until: Callable[[Any], bool],
    deadline: float | None = None,
    on_event: Callable[[Any], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Any | None:
    """Drive ``core`` over ``port`` until an event satisfies ``until``; return that event.

    Returns None when ``deadline`` (on ``clock``) passes first. Each wake-up: read what is there,
    feed it with ``now``, hand every event to ``on_event`` (after applying ``SetBaud``/``SetDtr``),
    write ``data_to_send()``, and sleep in select() until the port is readable or the earliest of the
    core's timer and ``deadline``.

    :raises LinkError: the port failed (device unplugged, pty closed).
    """
    fd = _fileno(port)
    while True:
        while (event := core.next_event()) is not None:
            _apply(port, event)
            if on_event is not None:
                on_event(event)
            if until(event):
                out = core.data_to_send()
                if out:
                    _write_all(port, out)
                return event
        out = core.data_to_send()
        if out:
            _write_all(port, out)
        now = clock()
        timer = core.get_timer()
        if timer is not None and now >= timer:
            core.handle_timer(now)
            continue
        if deadline is not None and now >= deadline:
            return None
        wakes = [t for t in (timer, deadline) if t is not None]
        wait = max(min(wakes) - now, 0.0) if wakes else 1.0
        if fd is not None:
            try:
                readable, _, _ = select.select([fd], [], [], wait)
            except InterruptedError:  # pragma: no cover - PEP 475 retries for us
                continue
            data = _read_some(port) if readable else b""
            if readable and not data and _is_tty_gone(fd):
                raise LinkError("the modem went away (the port reports end of file)")
        else:
            data = _read_some(port)
            if not data:
                time.sleep(min(wait, 0.01))
        if data:
            core.receive_data(data, clock())


def _is_tty_gone(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return True
    return False
