"""The redial helper of the pppd backend: pppd's ``connect`` program re-runs our AT bring-up.

``pppos-up --backend pppd --persist`` dials the first time itself and then lets pppd redial after a
lost call (pppd(8) ``persist``). pppd runs its ``connect`` program with the serial port as standard
input and output and its log as standard error, so this helper drives the same
:class:`~pppos.at.bringup.Bringup` (same profiles, same verdicts, the same SIM safety of
:mod:`pppos.pinguard`) over file descriptors 0 and 1, and both backends redial alike::

    python -m pppos.backends.connect /tmp/pppos-pppd-XXXX/redial.json

The settings file (JSON, 0600 in pppos-up's private 0700 directory, removed when pppd exits) holds
the bring-up options (``port`` only for messages, ``baud``, ``profile``, ``apn``, ``user``,
``password``, ``pin``), ``state_dir`` (where PIN refusals are remembered), ``skip_once`` (a marker
file: while it exists the modem is already in data mode from pppos-up's own bring-up, so the first
call removes it and succeeds at once) and ``verdict`` (where the bring-up's verdict is written as
``{"ok", "exit_status", "message"}``, so ``pppos-up`` can stop at once on a verdict that a redial
cannot fix, such as a SIM problem).

Progress goes to standard error as ``pppos-connect: STEP: MESSAGE`` lines, which pppd copies to its
log and ``pppos-up`` shows. Exit status 0 means the modem is in data mode (V.250 6.3.1 ``CONNECT``);
anything else makes pppd count a failed attempt (``maxfail``).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import struct
import sys
import termios
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    import serial

__all__ = ["FdPort", "main"]

PREFIX = "pppos-connect"
#: The whole bring-up (sync, SIM, registration, attach, dial) must end within this many seconds.
BRINGUP_DEADLINE = 300.0
_BAUDS = {rate: getattr(termios, f"B{rate}") for rate in (9600, 19200, 38400, 57600, 115200, 230400, 460800,
                                                             921600) if hasattr(termios, f"B{rate}")}


class FdPort:
    """The few pyserial ``Serial`` members :func:`pppos.serial_port.run_blocking` uses, over the file
    descriptors pppd hands its connect program (0: read, 1: write; both the serial port)."""

    def __init__(self, rfd: int = 0, wfd: int = 1) -> None:
        self.rfd, self.wfd = rfd, wfd

    def fileno(self) -> int:
        return self.rfd

    @property
    def in_waiting(self) -> int:
        try:
            raw = fcntl.ioctl(self.rfd, termios.FIONREAD, b"\0\0\0\0")
        except OSError:
            return 0
        return int(struct.unpack("i", raw)[0])

    def read(self, size: int) -> bytes:
        return os.read(self.rfd, max(size, 1))

    def write(self, data: bytes) -> int:
        view = memoryview(data)
        while view:
            n = os.write(self.wfd, view)
            view = view[n:]
        return len(data)

    def flush(self) -> None:
        with contextlib.suppress(OSError):
            termios.tcdrain(self.wfd)

    @property
    def baudrate(self) -> int:
        return 0

    @baudrate.setter
    def baudrate(self, rate: int) -> None:
        speed = _BAUDS.get(rate)
        if speed is None:
            raise ValueError(f"unsupported rate {rate}")
        with contextlib.suppress(termios.error):
            attrs = termios.tcgetattr(self.rfd)
            attrs[4] = attrs[5] = speed
            termios.tcsetattr(self.rfd, termios.TCSADRAIN, attrs)

    @property
    def dtr(self) -> bool:
        return True

    @dtr.setter
    def dtr(self, level: bool) -> None:
        with contextlib.suppress(OSError):
            fcntl.ioctl(self.rfd, termios.TIOCMBIS if level else termios.TIOCMBIC, struct.pack("i", termios.TIOCM_DTR))


def _say(step: str, message: str) -> None:
    from pppos.ppp.text import peer_text

    with contextlib.suppress(OSError, ValueError):
        print(f"{PREFIX}: {step}: {peer_text(message)}", file=sys.stderr, flush=True)


def _write_verdict(path: str | None, ok: bool, status: int, message: str) -> None:
    if not path:
        return
    with contextlib.suppress(OSError):
        tmp = f"{path}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"ok": ok, "exit_status": status, "message": message}, fh)
        os.replace(tmp, path)


def read_verdict(path: str) -> tuple[bool, int, str] | None:
    """The last verdict the helper wrote (for ``pppos-up``), or None."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return bool(data["ok"]), int(data["exit_status"]), str(data["message"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def run(settings: dict[str, object], port: FdPort) -> int:
    """One bring-up over ``port``; returns 0 when the modem is in data mode."""
    from pppos.at.bringup import Bringup, DataMode, PinRefused, Progress, Verdict
    from pppos.config import UpOptions
    from pppos.errors import ExitStatus, PpposError
    from pppos.pinguard import remember_pin_refusal
    from pppos.serial_port import run_blocking

    verdict_path = str(settings.get("verdict") or "") or None
    skip = str(settings.get("skip_once") or "")
    if skip and os.path.exists(skip):
        with contextlib.suppress(OSError):
            os.unlink(skip)
        return 0
    if settings.get("state_dir"):
        os.environ["PPPOS_STATE_DIR"] = str(settings["state_dir"])

    def text(key: str) -> str | None:
        value = settings.get(key)
        return None if value is None else str(value)

    baud = settings.get("baud")
    up = UpOptions(port=str(settings.get("port") or "the port"), baud=baud if isinstance(baud, int) else 115200,
                   apn=text("apn"), user=text("user"), password=text("password"), pin=text("pin"),
                   profile=text("profile"))
    bringup = Bringup(up.bringup_config())
    bringup.start(time.monotonic())

    def on_event(ev: object) -> None:
        if isinstance(ev, Progress):
            _say(ev.step, ev.message)
        elif isinstance(ev, PinRefused):
            remember_pin_refusal(up.pin, ev.iccid)

    try:
        ev = run_blocking(cast("serial.Serial", port), bringup, until=lambda e: isinstance(e, DataMode | Verdict),
                          on_event=on_event, deadline=time.monotonic() + BRINGUP_DEADLINE)
    except PpposError as exc:
        _say("error", str(exc))
        _write_verdict(verdict_path, False, int(exc.exit_status), str(exc))
        return 1
    if isinstance(ev, DataMode):
        _say("connect", "the modem is in data mode: pppd takes over")
        _write_verdict(verdict_path, True, 0, "connected")
        return 0
    if isinstance(ev, Verdict):
        _say("error", ev.message)
        _write_verdict(verdict_path, False, int(ev.exit_status), ev.message)
        return 1
    message = f"the bring-up did not finish within {BRINGUP_DEADLINE:.0f} s"
    _say("error", message)
    _write_verdict(verdict_path, False, int(ExitStatus.NO_MODEM), message)
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pppos.backends.connect SETTINGS``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print(f"usage: {PREFIX} SETTINGS.json (run by pppd as its connect program)", file=sys.stderr)
        return 2
    try:
        settings = json.loads(Path(args[0]).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"{PREFIX}: cannot read {args[0]}: {exc}", file=sys.stderr)
        return 2
    if not isinstance(settings, dict):
        print(f"{PREFIX}: {args[0]} is not a settings object", file=sys.stderr)
        return 2
    try:
        return run(settings, FdPort())
    except Exception as exc:  # the last line of defence: one line into pppd's log
        print(f"{PREFIX}: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
