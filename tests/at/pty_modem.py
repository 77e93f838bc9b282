"""Serve a :class:`~tests.at.scripted.ScriptedModem` on a real pty from a thread (for driver tests).

The scripted modem is the test's peer, not a mock of the port: the code under test opens the pty's
slave path with pyserial exactly as it opens a USB modem.
"""

from __future__ import annotations

import contextlib
import os
import pty
import select
import termios
import threading
import tty
from collections.abc import Iterator

from tests.at.scripted import ScriptedModem

_RATES = {getattr(termios, f"B{rate}"): rate for rate in (9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600)}


def line_rate(fd: int) -> int:
    """The rate the DTE set on the pty (Linux shares termios between the two sides), or 0."""
    return _RATES.get(termios.tcgetattr(fd)[5], 0)


@contextlib.contextmanager
def pty_modem(modem: ScriptedModem) -> Iterator[str]:
    """Yield the slave path of a pty whose master side is answered by ``modem``."""
    master, slave = pty.openpty()
    tty.setraw(slave)
    path = os.ttyname(slave)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            ready, _, _ = select.select([master], [], [], 0.05)
            if not ready:
                continue
            try:
                data = os.read(master, 4096)
            except OSError:
                return
            modem.current_baud = line_rate(master)
            answer = modem.feed(data)
            if answer:
                os.write(master, answer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield path
    finally:
        stop.set()
        thread.join(2)
        os.close(master)
        os.close(slave)
