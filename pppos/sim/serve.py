"""The ``pppos-sim`` driver: a :class:`~pppos.sim.modem.SimModem` on a pty, slirp as its network side.

One ``selectors`` loop, no threads: the pty master (the host opens the slave through the symlink),
the current slirp's pty (one fresh ``slirp -P`` per data call), a self-pipe for SIGTERM/SIGINT, and
one timer (the modem's :meth:`~pppos.sim.modem.SimModem.get_timer`, which includes the ``--baud``
pacing deadline). Bytes flow host -> modem core -> slirp and back; the core decides what is a command,
what is data and when ``+++`` escapes (ITU-T V.250 and the A7 dialect in :mod:`pppos.sim.modem`).

Faults (:mod:`pppos.sim.faults`) arrive on a unix socket next to the link (``<link>.ctl``, mode 0600)
or from a ``--faults`` schedule; the driver applies them here: the ones about the serial line (mute,
USB vanish, noise) and the network peer (carrier loss, LCP Terminate-Request) itself, the ones about
the modem (reboot, registration, PDP rejections, a stuck modem) through the core's fault methods.

Without ``--baud`` nothing throttles: slirp's own rate limit (its built-in 115200 unless ``-b``) and
its per-turn tty write cap are lifted (:func:`slirp_arguments`).

The pty is raw (no echo, no line discipline). When the host closes it the master reports a hang-up;
the driver then stops writing (modem output is discarded, as on an unplugged serial line) and checks
every :data:`RECONNECT_POLL` seconds for the next open, so a later open works again. The modem's
state (echo setting, a call in data mode) survives a close, as on a modem whose DTR is not wired.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import random
import select
import selectors
import signal
import socket
import sys
import time
import tty
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TextIO

from pppos.errors import ConfigError, LinkError, PpposError
from pppos.sim.faults import (
    CTL_MAX_LINE,
    TERMINATE_WAIT,
    Fault,
    LineNoise,
    ScheduledFault,
    Timers,
    ctl_path,
    lcp_terminate_request,
    parse_fault,
)
from pppos.sim.modem import (
    DATA,
    TERMINATE_HANGUP_DELAY,
    CallEnded,
    EnteredDataMode,
    LeftDataMode,
    SimConfig,
    SimModem,
    _has_lcp_terminate_ack,
)
from pppos.sim.slirp import SlirpProcess, build_shim, clean_stale_homes, find_slirp

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
#: Unpaced (no ``--baud``): slirp's rate (``-b``, bits per second; its built-in default is 115200,
#: which held "unpaced" runs to 11 KB/s) and per-turn tty write cap, both out of the way.
SLIRP_UNPACED_RATE = 1_000_000_000
SLIRP_UNPACED_TOWRITE_MAX = 65536


def slirp_arguments(baud: int | None, extra: tuple[str, ...] = ()) -> list[str]:
    """slirp's options after ``-P``: its rate throttle (``-b``) at the line rate and a larger per-turn
    tty write cap (:data:`SLIRP_TOWRITE_MAX`); unpaced, both lifted (:data:`SLIRP_UNPACED_RATE`,
    :data:`SLIRP_UNPACED_TOWRITE_MAX`); then the caller's ``extra`` options (later wins)."""
    if baud:
        return ["-b", str(baud), f"towrite_max {SLIRP_TOWRITE_MAX}", *extra]
    return ["-b", str(SLIRP_UNPACED_RATE), f"towrite_max {SLIRP_UNPACED_TOWRITE_MAX}", *extra]


def default_link(profile: str) -> Path:
    """The default link path for a profile: ``/tmp/pppos-sim-<profile>``."""
    return Path(f"/tmp/pppos-sim-{profile}")


#: The address slirp gives the host (its pppd-style secrets line must name it: with ``*`` slirp's
#: pppd-derived auth code refuses the address and closes IPCP right after it opened).
SLIRP_CLIENT_IP = "10.0.2.15"


@dataclass(frozen=True, slots=True, kw_only=True)
class SlirpAuth:
    """slirp authenticates the host (RFC 1334 PAP or RFC 1994 CHAP) with this user and secret."""

    protocol: str
    user: str
    secret: str = field(repr=False)

    def __post_init__(self) -> None:
        if self.protocol not in ("pap", "chap"):
            raise ConfigError(f"bad authentication protocol {self.protocol!r}: use pap or chap")
        for what, value in (("user name", self.user), ("secret", self.secret)):
            if not value or any(ch.isspace() or ch in '"#\\' or not ch.isprintable() for ch in value):
                shown = "the secret" if what == "secret" else f"the user name {value!r}"
                raise ConfigError(f"{shown} must be non-empty printable text without spaces, quotes, # or \\")

    def slirp_args(self) -> list[str]:
        """slirp's pppd-style options that make it require this protocol."""
        return ["auth", f"+{self.protocol}"]

    def secrets(self) -> tuple[str | None, str | None]:
        """The contents of slirp's ``~/.pap-secrets`` and ``~/.chap-secrets`` (written mode 0600)."""
        line = f"{self.user} * {self.secret} {SLIRP_CLIENT_IP}\n"
        return (line, None) if self.protocol == "pap" else (None, line)


@dataclass(frozen=True, slots=True, kw_only=True)
class ServeOptions:
    """What ``pppos-sim`` serves, and where."""

    sim: SimConfig = field(default_factory=SimConfig)
    link: Path | None = None
    #: ``slirp`` (a fresh slirp per call) or ``none`` (data mode with no peer: bytes are dropped)
    network: str = "slirp"
    #: extra slirp options
    slirp_args: tuple[str, ...] = ()
    #: slirp requires PAP or CHAP from the host (``--pap`` / ``--chap``), or None
    auth: SlirpAuth | None = None
    #: print call events to the log stream
    verbose: bool = False
    #: faults to inject, in seconds after start (``--faults FILE``)
    faults: tuple[ScheduledFault, ...] = ()
    #: seed of every random choice (line noise, identifiers); None: a fresh one
    seed: int | None = None
    #: listen for faults on ``<link>.ctl``
    control: bool = True


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
        seed = options.seed if options.seed is not None else random.SystemRandom().randrange(2**32)
        # One generator per use, so that what one direction carries never changes the other's errors.
        self._rng = random.Random(f"{seed}/faults")  # noqa: S311 - a simulation, not cryptography
        self.noise_up = LineNoise(random.Random(f"{seed}/to-modem"))  # noqa: S311
        self.noise_down = LineNoise(random.Random(f"{seed}/to-host"))  # noqa: S311
        self._timers = Timers()
        self._muted_until = float("-inf")
        self._vanished = False
        self._vanish_generation = 0
        self._terminate_watch = False
        self._terminate_tail = b""
        self._ctl: socket.socket | None = None
        self._ctl_path: Path | None = None
        self._ctl_ino = -1
        self._ctl_clients: dict[int, tuple[socket.socket, bytearray]] = {}
        #: faults applied so far (name -> count)
        self.fault_counts: dict[str, int] = {}

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
        clean_stale_homes()
        self._wake_r, self._wake_w = os.pipe()
        for fd in (self._wake_r, self._wake_w):
            os.set_blocking(fd, False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        if self.options.control:
            self._open_control()
        self._new_pty()
        start = time.monotonic()
        # The modem was switched on before the simulator opened its port: it is booted already.
        self.modem.power_on(start - self.options.sim.boot_delay)
        for item in self.options.faults:
            self._timers.add(start + item.at, functools.partial(self._scheduled, item.fault))
        return (
            f"pppos-sim: {self.options.sim.profile} modem on {self.link} (pty {self.pty_name}), "
            f"network {self.options.network}"
        )

    def _new_pty(self) -> None:
        """A fresh pty, linked at :attr:`link` (atomically replacing an old link)."""
        master, slave = os.openpty()
        try:
            tty.setraw(slave)
            self.pty_name = os.ttyname(slave)
        finally:
            os.close(slave)
        os.set_blocking(master, False)
        self._master = master
        self._connected = False
        tmp = self.link.with_name(f".{self.link.name}.{os.getpid()}.tmp")
        try:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            os.symlink(self.pty_name, tmp)
            os.replace(tmp, self.link)
        except OSError as exc:
            os.close(master)
            self._master = -1
            raise ConfigError(f"cannot create the link {self.link}: {exc.strerror}") from None
        self._link_made = True

    def _remove_link(self) -> None:
        if self._link_made:
            with contextlib.suppress(OSError):
                if os.readlink(self.link) == self.pty_name:
                    self.link.unlink()
            self._link_made = False

    def _open_control(self) -> None:
        """Listen on ``<link>.ctl`` (mode 0600); a stale socket from a killed simulator is replaced,
        a live one means another simulator serves this link."""
        path = ctl_path(self.link)
        if path.exists() or path.is_symlink():
            if not path.is_socket():
                raise ConfigError(f"{path} exists and is not a socket; remove it or choose another --link")
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                probe.settimeout(1.0)
                try:
                    probe.connect(str(path))
                except OSError:
                    path.unlink()
                else:
                    raise ConfigError(f"another pppos-sim serves {self.link} (its control socket {path} answers)")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            sock.bind(str(path))
        except OSError as exc:
            sock.close()
            raise ConfigError(f"cannot create the control socket {path}: {exc.strerror}") from None
        finally:
            os.umask(old)
        os.chmod(path, 0o600)
        self._ctl_ino = path.stat().st_ino
        sock.listen(8)
        sock.setblocking(False)
        self._ctl, self._ctl_path = sock, path
        assert self._selector is not None
        self._selector.register(sock.fileno(), selectors.EVENT_READ)

    def close(self) -> None:
        """Stop slirp, remove the symlink (if it is still ours) and the control socket, close the pty."""
        self._stop_slirp()
        self._remove_link()
        for conn, _ in self._ctl_clients.values():
            conn.close()
        self._ctl_clients.clear()
        if self._ctl is not None:
            with contextlib.suppress(OSError):
                if self._ctl_path is not None and self._ctl_path.stat().st_ino == self._ctl_ino:
                    self._ctl_path.unlink()
            self._ctl.close()
            self._ctl = None
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
            deadlines = [d for d in (self.modem.get_timer(), self._timers.deadline()) if d is not None]
            timeout = max(0.0, min(deadlines) - now) if deadlines else None
            if not self._connected and self._master >= 0:
                timeout = RECONNECT_POLL if timeout is None else min(timeout, RECONNECT_POLL)
            for key, mask in self._selector.select(timeout):
                now = time.monotonic()
                fd = key.fd
                if fd == self._wake_r:
                    with contextlib.suppress(OSError):
                        os.read(self._wake_r, 512)
                elif self._ctl is not None and fd == self._ctl.fileno():
                    self._accept_control()
                elif fd in self._ctl_clients:
                    self._read_control(fd, time.monotonic())
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
            self._timers.run_due(now)
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
        if self._connected and self._master >= 0:
            if len(self._net_out) + self.modem.network_backlog < HIGH_WATER:
                host_mask |= selectors.EVENT_READ
            if self._host_out:
                host_mask |= selectors.EVENT_WRITE
        if self._master >= 0:
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
        if self._master < 0:
            return
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
        if now < self._muted_until:
            return  # a frozen modem: nothing it was sent has any effect
        self.modem.receive_data(self.noise_up.apply(data), now)
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
        auth = self.options.auth
        extra = (*auth.slirp_args(), *self.options.slirp_args) if auth else self.options.slirp_args
        args = slirp_arguments(self.options.sim.baud, extra)
        try:
            pap, chap = auth.secrets() if auth else (None, None)
            self._slirp = SlirpProcess(args, pap_secrets=pap, chap_secrets=chap)
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
        if data and now >= self._muted_until:
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
        if out and now >= self._muted_until:
            self._to_host(self.noise_down.apply(out))
        net = self.modem.network_data_to_send()
        if net and self._terminate_watch:
            scan = self._terminate_tail + net
            self._terminate_tail = scan[-16:]
            if _has_lcp_terminate_ack(scan):
                # The host acked the network's Terminate-Request: the network hangs up (RFC 1661 5.5).
                self._terminate_watch = False
                calls = self.modem.stats.calls
                self._timers.add(now + TERMINATE_HANGUP_DELAY, lambda t: self._terminate_hangup(calls, t))
        if net and self._slirp is not None:
            self._net_out += net
            self._flush_net(now)

    def _to_host(self, data: bytes) -> None:
        if data and self._connected:
            room = HOST_OUT_LIMIT - len(self._host_out)
            self._host_out += data[: max(room, 0)]
            self._flush_host()

    # -- faults ------------------------------------------------------------------------------

    def _accept_control(self) -> None:
        assert self._ctl is not None and self._selector is not None
        try:
            conn, _ = self._ctl.accept()
        except (BlockingIOError, InterruptedError):
            return
        conn.setblocking(False)
        self._ctl_clients[conn.fileno()] = (conn, bytearray())
        self._selector.register(conn.fileno(), selectors.EVENT_READ)

    def _drop_control(self, fd: int) -> None:
        conn, _ = self._ctl_clients.pop(fd)
        if self._selector is not None:
            self._selector.unregister(fd)
        conn.close()

    def _read_control(self, fd: int, now: float) -> None:
        conn, buf = self._ctl_clients[fd]
        try:
            data = conn.recv(CTL_MAX_LINE)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        buf += data
        if b"\n" not in buf and len(buf) < CTL_MAX_LINE and data:
            return
        line = bytes(buf).split(b"\n", 1)[0].decode("ascii", "replace")
        if not data and not buf:
            self._drop_control(fd)
            return
        try:
            reply = "ok " + self.inject(parse_fault(line.split()), now)
        except PpposError as exc:
            reply = f"error {exc}"
        with contextlib.suppress(OSError):
            conn.send(reply.encode("ascii", "replace")[: CTL_MAX_LINE - 1] + b"\n")
        self._drop_control(fd)

    def _scheduled(self, fault: Fault, now: float) -> None:
        self.inject(fault, now)

    def inject(self, fault: Fault, now: float) -> str:
        """Apply ``fault`` now (see :mod:`pppos.sim.faults`); return what happened, in words."""
        self.fault_counts[fault.name] = self.fault_counts.get(fault.name, 0) + 1
        value = fault.value if fault.value is not None else 0.0
        modem = self.modem
        match fault.name:
            case "carrier":
                if modem.in_call:
                    modem.network_closed(now)
                    result = "call dropped (NO CARRIER)"
                else:
                    result = "no call was up"
            case "mute":
                self._muted_until = max(self._muted_until, now + value)
                self._timers.add(self._muted_until, lambda t: self._say("answering again"))
                result = f"modem mute for {value:g} s"
            case "reboot":
                modem.reboot(now)
                result = f"modem rebooting (boot takes {modem.config.boot_delay:g} s)"
            case "vanish":
                self._vanish()
                self._vanish_generation += 1
                generation = self._vanish_generation
                self._timers.add(now + value, lambda t: self._reappear(generation, t))
                result = f"port gone; back at {self.link} in {value:g} s"
            case "noise":
                self.noise_up.set_rate(value)
                self.noise_down.set_rate(value)
                result = f"bit error rate {value:g}" if value else "line clean"
            case "terminate":
                if modem.in_call and modem.state == DATA:
                    self._to_host(lcp_terminate_request(self._rng.randrange(256)))
                    self._terminate_watch = True
                    self._terminate_tail = b""
                    calls = modem.stats.calls
                    self._timers.add(now + TERMINATE_WAIT, lambda t: self._terminate_hangup(calls, t))
                    result = "LCP Terminate-Request sent"
                else:
                    result = "no call in data mode: nothing sent"
            case "reg-lost" | "reg-denied":
                modem.set_registration("searching" if fault.name == "reg-lost" else "denied", now)
                self._timers.add(now + value, lambda t: modem.set_registration(modem.config.registration, t))
                result = f"registration {'lost' if fault.name == 'reg-lost' else 'denied'} for {value:g} s"
            case "pdp-reject":
                modem.reject_dials(int(value))
                result = f"the next {int(value)} dials are rejected"
            case "stuck":
                modem.make_stuck()
                result = "dial answers ERROR until AT+CFUN=0 then 1, or a reset"
            case "profile-reset":
                modem.restore_profile()
                settings = "".join(f"{name}{value}" for name, value in sorted(modem.stored.items()))
                result = f"echo and result codes back to the stored {settings}"
            case _:  # parse_fault admits only the names above
                raise ConfigError(f"unknown fault {fault.name!r}")
        self._say(f"fault {fault}: {result}")
        self._pump(now)
        return result

    def _terminate_hangup(self, calls: int, now: float) -> None:
        """The network ends the call it asked to terminate (not a later call: ``calls`` counts them)."""
        if self.modem.in_call and self.modem.stats.calls == calls:
            self._terminate_watch = False
            self.modem.network_closed(now)
            self._pump(now)

    def _vanish(self) -> None:
        """The USB device is gone: slirp with it, the pty closed (the host sees EIO), the link removed."""
        if self._vanished:
            return
        self._vanished = True
        self._stop_slirp()
        self._remove_link()
        if self._master >= 0:
            self._forget(self._master)
            with contextlib.suppress(OSError):
                os.close(self._master)
            self._master = -1
        self._connected = False
        self._host_out.clear()

    def _reappear(self, generation: int, now: float) -> None:
        if generation != self._vanish_generation or not self._vanished:
            return
        self._vanished = False
        self._new_pty()
        self.modem.reboot(now)
        self._say(f"port back at {self.link} (pty {self.pty_name})")
        self._pump(now)

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
