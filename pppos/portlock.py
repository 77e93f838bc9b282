"""Port ownership: a UUCP lock file (``/var/lock/LCK..ttyUSB0``) as pppd's ``lock`` option takes it.

The lock is the HDB UUCP convention pppd, minicom and uucp share (pppd ``main.c``/``utils.c``
``lock()``): a file ``LCK..<device>`` in the lock directory holding the owner's pid as ten ASCII digits
and a newline, created with ``O_EXCL``. A lock whose pid no longer exists (or holds no pid at all) is
stale and is removed; a live one makes the open fail with one line naming the pid, before the port is
opened, so a live link on that port is never disturbed. The device is named after its real path, so
``/dev/serial/by-id/...`` and ``/dev/ttyUSB0`` (or a simulator's link and its ``/dev/pts/N``) take the
same lock; ``/dev/pts/3`` becomes ``LCK..pts_3``.

The lock directory is ``$PPPOS_LOCK_DIR`` (tests) or /var/lock. Where it cannot be written (an
unprivileged user on a system whose /var/lock is root's), the port is used without a lock file and the
caller is told so; ``TIOCEXCL`` on the open port (see :func:`pppos.serial_port.open_port`) still keeps
other unprivileged processes out.
"""

from __future__ import annotations

import contextlib
import errno
import os
from dataclasses import dataclass
from pathlib import Path

from pppos.errors import ModemError

__all__ = ["DEFAULT_LOCK_DIR", "PortBusy", "PortLock", "acquire", "lock_dir", "lock_path", "pid_alive", "process_name"]

DEFAULT_LOCK_DIR = "/var/lock"


class PortBusy(ModemError):
    """Another live process holds the port's lock."""

    def __init__(self, message: str, *, pid: int) -> None:
        super().__init__(message)
        #: The lock holder's pid.
        self.pid = pid


def lock_dir(override: str | None = None) -> Path:
    """The lock directory: ``override``, else ``$PPPOS_LOCK_DIR``, else /var/lock."""
    return Path(override or os.environ.get("PPPOS_LOCK_DIR") or DEFAULT_LOCK_DIR)


def lock_path(device: str, directory: str | None = None) -> Path:
    """``LCK..<name>`` for ``device`` after symlinks are resolved (``/dev/`` stripped, ``/`` as ``_``)."""
    real = os.path.realpath(device)
    name = real[5:] if real.startswith("/dev/") else real.lstrip("/")
    return lock_dir(directory) / f"LCK..{name.replace('/', '_')}"


def process_name(pid: int) -> str | None:
    """The command name of ``pid`` for messages (``pppos-up``, ``pppd``, ``minicom``), or None."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    args = [a.decode("utf-8", "replace") for a in raw.split(b"\0") if a]
    if not args:
        return None
    for i, arg in enumerate(args[:4]):
        base = os.path.basename(arg)
        if base.startswith("pppos-"):
            return base
        if arg in {"-m"} and i + 1 < len(args):
            module = args[i + 1]
            if module.startswith("pppos.cli."):
                return "pppos-" + module.rsplit(".", 1)[1]
            if module == "pppos" and i + 2 < len(args):
                return "pppos-" + args[i + 2]
    name = os.path.basename(args[0])
    return "".join(c if c.isprintable() else "?" for c in name)[:40]


def pid_alive(pid: int) -> bool:
    """True when a process with this pid exists (signal 0; EPERM means it exists under another user)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_pid(path: Path) -> int | None:
    """The pid in a lock file (ASCII, HDB style; also the old 4-byte binary form), or None."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise
    except OSError:
        return None
    text = raw.strip()
    if text.isdigit():
        return int(text)
    if len(raw) == 4:  # the old binary (Version 2 UUCP) form
        return int.from_bytes(raw, "little")
    return None


@dataclass(slots=True)
class PortLock:
    """A held lock; :meth:`release` removes the file if it is still ours."""

    path: Path
    pid: int
    #: a stale lock (its pid was dead) was removed to take this one
    took_over: int | None = None

    def release(self) -> None:
        """Remove the lock file when it still names our pid (never someone else's)."""
        with contextlib.suppress(OSError):
            if _read_pid(self.path) == self.pid:
                self.path.unlink()


def acquire(device: str, *, directory: str | None = None, pid: int | None = None) -> PortLock | None:
    """Take the UUCP lock of ``device``.

    Returns the lock, or None when the lock directory cannot be written (no lock is taken then).

    :raises PortBusy: a live process holds the lock; the message names it and its pid.
    """
    me = os.getpid() if pid is None else pid
    path = lock_path(device, directory)
    took_over: int | None = None
    for _attempt in range(5):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            try:
                holder = _read_pid(path)
            except FileNotFoundError:
                continue  # released between our open and our read: try again
            if holder == me:
                return PortLock(path, me, took_over)
            if holder is not None and pid_alive(holder):
                who = process_name(holder) or "another program"
                raise PortBusy(
                    f"the port {device} is in use by {who} (pid {holder}, lock {path}); "
                    "stop it first (pppos-down, or end that program)",
                    pid=holder,
                ) from None
            # Stale: its owner is gone (or it names nobody). Remove and retry, as pppd does.
            took_over = holder if holder is not None else 0
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            continue
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EPERM, errno.ENOENT, errno.EROFS):
                return None
            raise ModemError(f"cannot take the lock {path}: {exc.strerror}") from None
        try:
            os.write(fd, f"{me:10d}\n".encode("ascii"))
        finally:
            os.close(fd)
        return PortLock(path, me, took_over)
    raise ModemError(f"cannot take the lock {path}: it keeps changing hands")
