"""The ``pppos-sim`` driver: a :class:`~pppos.sim.modem.SimModem` on a pty, slirp as its network side.

One ``selectors`` loop, no threads: the pty master (the host opens the slave through the symlink),
the current slirp's pty (one fresh ``slirp -P`` per data call), a self-pipe for SIGTERM/SIGINT, and
one timer (the modem's :meth:`~pppos.sim.modem.SimModem.get_timer`, which includes the ``--baud``
pacing deadline). Bytes flow host -> modem core -> slirp and back; the core decides what is a command,
what is data and when ``+++`` escapes (ITU-T V.250 and the A7 dialect in :mod:`pppos.sim.modem`).

The pty is raw (no echo, no line discipline). When the host closes it the master reports a hang-up;
the driver then stops writing (modem output is discarded, as on an unplugged serial line) and checks
every :data:`RECONNECT_POLL` seconds for the next open, so a later open works again. The modem's
state (echo setting, a call in data mode) survives a close, as on a modem whose DTR is not wired.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import selectors
import signal
import sys
import time
import tty
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TextIO

from pppos.errors import ConfigError, LinkError
from pppos.sim.modem import CallEnded, EnteredDataMode, LeftDataMode, SimConfig, SimModem
from pppos.sim.slirp import SlirpProcess, build_shim, find_slirp

__all__ = ["RECONNECT_POLL", "ServeOptions", "SimServer", "default_link", "serve", "slirp_arguments"]

#: How often (seconds) to look for the host re-opening the pty after it closed it.
RECONNECT_POLL = 0.1
#: Stop reading from one side while this many bytes wait for the other side.
HIGH_WATER = 64 * 1024
#: Bytes kept for a host that does not read; beyond this output is dropped.
HOST_OUT_LIMIT = 256 * 1024
#: slirp's per-turn cap on bytes written to its tty (its ``towrite_max``; the built-in 512 held
#: 921600-baud downloads to ~70 % of the line rate; 4096 gives ~91 %, see bench/results/goodput.txt).
SLIRP_TOWRITE_MAX = 4096


def slirp_arguments(baud: int | None, extra: tuple[str, ...] = ()) -> list[str]:
    """slirp's options after ``-P``: its rate throttle (``-b``) at the line rate, a larger per-turn
    tty write cap (:data:`SLIRP_TOWRITE_MAX`), then the caller's ``extra`` options (later wins)."""
    args = ["-b", str(baud)] if baud else []
    return [*args, f"towrite_max {SLIRP_TOWRITE_MAX}", *extra]


def default_link(profile: str) -> Path:
    """The default link path for a profile: ``/tmp/pppos-sim-<profile>``."""
    return Path(f"/tmp/pppos-sim-{profile}")


@dataclass(frozen=True, slots=True, kw_only=True)
class ServeOptions:
    """What ``pppos-sim`` serves, and where."""

    sim: SimConfig = field(default_factory=SimConfig)
    link: Path | None = None
    #: ``slirp`` (a fresh slirp per call) or ``none`` (data mode with no peer: bytes are dropped)
    network: str = "slirp"
    #: extra slirp options
    slirp_args: tuple[str, ...] = ()
    #: print call events to the log stream
    verbose: bool = False


class SimServer:
    """Owns the pty, the symlink, the modem core and the current slirp. Use :meth:`open`, :meth:`run`,
    :meth:`close` (or ``with``)."""

    def __init__(self, options: ServeOptions, *, log: TextIO | None = None) -> None:
        if options.network not in ("slirp", "none"):
            raise ConfigError(f"bad network {options.network!r}: use slirp or none")
        self.options = options
        self.link = options.link or default_link(options.sim.profile)
        self.modem = SimModem(options.sim)
        self._log = log if log is not None else sys.stderr
        self._master = -1
        self.pty_name = ""
        self._connected = False
        self._host_out = bytearray()
        self._net_out = bytearray()
        self._slirp: SlirpProcess | None = None
        self._stop = False
        self._wake_r = -1
        self._wake_w = -1
        self._selector: selectors.BaseSelector | None = None
        self._registered: dict[int, int] = {}
        self._link_made = False

    # -- set-up ----------------------------------------------------------------------------

    def open(self) -> str:
        """Check the tools, create the pty and the symlink; return the one start-up line."""
        if self.options.network == "slirp":
            find_slirp()
            build_shim()
        parent = self.link.parent
        if not parent.is_dir():
            raise ConfigError(f"cannot create the link {self.link}: directory {parent} does not exist")
        if self.link.exists() and not self.link.is_symlink():
            raise ConfigError(f"{self.link} exists and is not a symlink; remove it or choose another --link")
        master, slave = os.openpty()
        try:
            tty.setraw(slave)
            self.pty_name = os.ttyname(slave)
        finally:
            os.close(slave)
        os.set_blocking(master, False)
        self._master = master
        tmp = self.link.with_name(f".{self.link.name}.{os.getpid()}.tmp")
        try:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            os.symlink(self.pty_name, tmp)
            os.replace(tmp, self.link)
        except OSError as exc:
            raise ConfigError(f"cannot create the link {self.link}: {exc.strerror}") from None
        self._link_made = True
        self._wake_r, self._wake_w = os.pipe()
        for fd in (self._wake_r, self._wake_w):
            os.set_blocking(fd, False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        self.modem.power_on(time.monotonic())
        return (
            f"pppos-sim: {self.options.sim.profile} modem on {self.link} (pty {self.pty_name}), "
            f"network {self.options.network}"
        )

    def close(self) -> None:
        """Stop slirp, remove the symlink (if it is still ours), close the pty."""
        self._stop_slirp()
        if self._link_made:
            with contextlib.suppress(OSError):
                if os.readlink(self.link) == self.pty_name:
                    self.link.unlink()
            self._link_made = False
        if self._selector is not None:
            self._selector.close()
            self._selector = None
        for name in ("_master", "_wake_r", "_wake_w"):
            fd = getattr(self, name)
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
                setattr(self, name, -1)

    def __enter__(self) -> SimServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- signals -----------------------------------------------------------------------------

    def request_stop(self) -> None:
        """Ask the loop to end (safe from a signal handler)."""
        self._stop = True
        if self._wake_w >= 0:
            with contextlib.suppress(OSError):
                os.write(self._wake_w, b"\0")

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.request_stop()

    # -- the loop ----------------------------------------------------------------------------

    def run(self) -> int:
        """Serve until :meth:`request_stop` (SIGTERM/SIGINT in :func:`serve`); return 0."""
        assert self._selector is not None, "call open() first"
        while not self._stop:
            now = time.monotonic()
            if not self._connected:
                self._check_reconnect()
            self._arm()
            deadline = self.modem.get_timer()
            timeout = None if deadline is None else max(0.0, deadline - now)
            if not self._connected:
                timeout = RECONNECT_POLL if timeout is None else min(timeout, RECONNECT_POLL)
            for key, mask in self._selector.select(timeout):
                now = time.monotonic()
                fd = key.fd
                if fd == self._wake_r:
                    with contextlib.suppress(OSError):
                        os.read(self._wake_r, 512)
                elif fd == self._master:
                    if mask & selectors.EVENT_READ:
                        self._read_host(now)
                    if mask & selectors.EVENT_WRITE and self._connected:
                        self._flush_host()
                elif self._slirp is not None and fd == self._slirp.fd:
                    if mask & selectors.EVENT_READ:
                        self._read_slirp(now)
                    if mask & selectors.EVENT_WRITE and self._slirp is not None:
                        self._flush_net(now)
            now = time.monotonic()
            self.modem.handle_timer(now)
            self._pump(now)
        return 0

    def _want(self, fd: int, mask: int) -> None:
        assert self._selector is not None
        current = self._registered.get(fd, 0)
        if mask == current:
            return
        if current == 0:
            self._selector.register(fd, mask)
        elif mask == 0:
            self._selector.unregister(fd)
        else:
            self._selector.modify(fd, mask)
        if mask:
            self._registered[fd] = mask
        else:
            self._registered.pop(fd, None)

    def _forget(self, fd: int) -> None:
        if fd in self._registered:
            self._want(fd, 0)

    def _arm(self) -> None:
        host_mask = 0
        if self._connected:
            if len(self._net_out) + self.modem.network_backlog < HIGH_WATER:
                host_mask |= selectors.EVENT_READ
            if self._host_out:
                host_mask |= selectors.EVENT_WRITE
        self._want(self._master, host_mask)
        if self._slirp is not None:
            slirp_mask = 0
            if len(self._host_out) + self.modem.host_backlog < HIGH_WATER:
                slirp_mask |= selectors.EVENT_READ
            if self._net_out:
                slirp_mask |= selectors.EVENT_WRITE
            self._want(self._slirp.fd, slirp_mask)

    # -- host side ---------------------------------------------------------------------------

    def _check_reconnect(self) -> None:
        poller = select.poll()
        poller.register(self._master, select.POLLIN)
        events = poller.poll(0)
        if not any(ev & select.POLLHUP for _, ev in events):
            self._connected = True
            self._say("host opened the port")

    def _disconnected(self) -> None:
        if self._connected:
            self._say("host closed the port")
        self._connected = False
        self._host_out.clear()
        self._forget(self._master)

    def _read_host(self, now: float) -> None:
        try:
            data = os.read(self._master, 65536)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno == errno.EIO:
                self._disconnected()
                return
            raise
        if not data:
            self._disconnected()
            return
        self.modem.receive_data(data, now)
        self._pump(now)

    def _flush_host(self) -> None:
        if not self._host_out:
            return
        try:
            written = os.write(self._master, self._host_out)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno == errno.EIO:
                self._disconnected()
                return
            raise
        del self._host_out[:written]

    # -- network side ------------------------------------------------------------------------

    def _start_slirp(self, now: float) -> None:
        self._stop_slirp()
        args = slirp_arguments(self.options.sim.baud, self.options.slirp_args)
        try:
            self._slirp = SlirpProcess(args)
        except (LinkError, OSError) as exc:
            self._say(f"cannot start slirp: {exc}")
            self.modem.network_closed(now)
            return
        self._say(f"slirp started (pid {self._slirp.pid})")

    def _stop_slirp(self) -> None:
        slirp, self._slirp = self._slirp, None
        self._net_out.clear()
        if slirp is not None:
            self._forget(slirp.fd)
            slirp.close()
            self._say("slirp stopped")

    def _read_slirp(self, now: float) -> None:
        assert self._slirp is not None
        try:
            data = self._slirp.read()
        except LinkError as exc:
            self._say(str(exc))
            self._stop_slirp()
            self.modem.network_closed(now)
            return
        if data:
            self.modem.receive_network_data(data, now)

    def _flush_net(self, now: float) -> None:
        if self._slirp is None or not self._net_out:
            return
        try:
            written = self._slirp.write(bytes(self._net_out))
        except LinkError as exc:
            self._say(str(exc))
            self._stop_slirp()
            self.modem.network_closed(now)
            return
        del self._net_out[:written]

    # -- glue --------------------------------------------------------------------------------

    def _pump(self, now: float) -> None:
        """Move the core's output and events to the file descriptors (repeat until quiet)."""
        while True:
            event = self.modem.next_event()
            if event is None:
                break
            if isinstance(event, EnteredDataMode):
                self._say(f"CONNECT (cid {event.cid}{', resumed' if event.resumed else ''})")
                if not event.resumed and self.options.network == "slirp":
                    self._start_slirp(now)
            elif isinstance(event, LeftDataMode):
                self._say("back in command mode (+++); the call is still up")
            elif isinstance(event, CallEnded):
                self._say(f"call ended ({event.reason})")
                self._stop_slirp()
        out = self.modem.data_to_send()
        if out and self._connected:
            room = HOST_OUT_LIMIT - len(self._host_out)
            self._host_out += out[: max(room, 0)]
            self._flush_host()
        net = self.modem.network_data_to_send()
        if net and self._slirp is not None:
            self._net_out += net
            self._flush_net(now)

    def _say(self, message: str) -> None:
        if self.options.verbose:
            print(f"pppos-sim: {message}", file=self._log, flush=True)


def serve(options: ServeOptions, *, out: TextIO | None = None) -> int:
    """Run the simulator until SIGTERM or SIGINT: print the start-up line, serve, clean up."""
    stream = out if out is not None else sys.stdout
    server = SimServer(options)
    previous: dict[signal.Signals, object] = {}
    try:
        line = server.open()
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            previous[signum] = signal.signal(signum, server._on_signal)
        print(line, file=stream, flush=True)
        return server.run()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]  # typeshed: the handler signal.signal returned
        server.close()
