"""The ``pppos-up`` daemon: one asyncio loop drives the modem bring-up, the PPP link and ``ppp0``.

Shape (the data path of the architecture, with the aioquic driver rule "after every wake-up,
transmit and re-arm"):

- **File descriptors**: the serial port (pyserial, non-blocking, ``loop.add_reader``) and the TUN
  device (``loop.add_reader``). Serial readable -> one ``os.read`` -> the active core's
  ``receive_data(chunk, now)`` -> events; a ``PacketReceived`` becomes one ``os.write`` to the TUN fd.
  TUN readable -> one ``os.read`` -> ``link.send_ip(packet, now)``.
- **One timer**: a single ``loop.call_at`` handle, re-armed after every wake-up at the earliest deadline
  of the active core (:class:`~pppos.at.bringup.Bringup`, :class:`~pppos.ppp.link.PppLink` or
  :class:`~pppos.at.bringup.Hangup`) and of the daemon's own deadlines (state file refresh, bounded
  terminate wait).
- **Transmit**: after every wake-up the core's ``data_to_send()`` is written to the serial fd. A
  partial write or EAGAIN keeps the rest (at most one chunk) and arms a writer callback; while it is
  pending the TUN reader is paused, so back-pressure reaches the kernel's queue and TCP instead of
  an unbounded buffer here. No threads, no per-packet tasks, no queues.
- **Signals**: SIGINT, SIGTERM, SIGHUP (and ``pppos-down``, which sends SIGTERM) start the orderly
  teardown: LCP Terminate-Request (RFC 1661 section 5.5) with a bounded wait, then the guarded
  ``+++``/``ATH`` hang-up (V.250 6.3.6/6.3.7), then host state is restored. A second SIGINT skips the
  remaining protocol steps but still restores host state.

Host state is restored on every exit path (``finally``): our default route removed, the resolver
restored byte for byte (:mod:`pppos.net.dns`), the TUN interface deleted, the state file removed.
When the modem vanishes (EOF or EIO on the serial fd) the daemon skips the protocol steps, restores
host state and exits with :attr:`~pppos.errors.ExitStatus.LINK_LOST`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import ipaddress
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from pppos.config import UpOptions
from pppos.errors import ConfigError, ExitStatus, LinkError, ModemError, PpposError

__all__ = ["Daemon", "Reporter", "link_down_verdict", "run_daemon"]

#: How long the orderly LCP Terminate may take before we go on (RFC 1661: Max-Terminate x Restart).
TERMINATE_WAIT = 3.0
#: Upper bound for the guarded +++/ATH hang-up.
HANGUP_WAIT = 8.0
#: The state file is rewritten at most this often while the link runs.
STATUS_INTERVAL = 1.0
READ_SIZE = 65536
#: at most this many TUN packets per wake-up, and no more once this many framed octets wait for the port
TUN_BATCH = 16
TUN_BATCH_BYTES = 8192
#: Bulk serial input (a read of at least HOLDOFF_MIN_READ octets) pauses the serial reader until about
#: HOLDOFF_FILL octets more can have arrived at the rate just seen, at most HOLDOFF_MAX seconds: one
#: wake-up per ~2 KB instead of one per driver chunk, while staying far below the tty's 4 KB buffer at
#: any rate. Only PPP-phase reads are held; short ones (LCP, a lone ACK) and the AT phase never.
HOLDOFF_MIN_READ = 64
HOLDOFF_FILL = 2048
HOLDOFF_MAX = 0.02
#: IPv6 needs a link MTU of at least 1280 octets (RFC 8200 section 5).
IPV6_MIN_MTU = 1280


class Reporter:
    """Progress for people (one line per step on stderr) or machines (``--log-format json``)."""

    def __init__(self, *, prog: str = "pppos-up", quiet: bool = False, json_format: bool = False,
                 stream: TextIO | None = None) -> None:
        self.prog = prog
        self.quiet = quiet
        self.json_format = json_format
        self.stream = stream if stream is not None else sys.stderr

    def _emit(self, level: str, step: str, message: str, fields: dict[str, Any]) -> None:
        from pppos.logline import format_line

        line = format_line(self.prog, level, step, message, fields, json_format=self.json_format, stream=self.stream)
        with contextlib.suppress(OSError, ValueError):
            print(line, file=self.stream, flush=True)

    def step(self, step: str, message: str, **fields: Any) -> None:
        """One progress line (suppressed by ``-q``)."""
        if not self.quiet:
            self._emit("info", step, message, fields)

    def warn(self, message: str, **fields: Any) -> None:
        """A warning (shown even with ``-q``)."""
        self._emit("warning", "warning", message, fields)

    def trace(self, line: str) -> None:
        """A ``--trace`` line (pppd-style packet decode)."""
        self._emit("trace", "trace", line, {})


def link_down_verdict(cause: str, reason: str, protocol: str | None, *, was_up: bool) -> tuple[ExitStatus, str]:
    """Exit status and one line for a LinkDown that we did not ask for.

    ``cause`` is the :class:`pppos.ppp.link.DownCause` name in lower case: authentication failures
    are :attr:`~ExitStatus.AUTH`; anything after IPCP opened is a lost link; anything before is a
    negotiation failure naming the protocol (LCP, IPCP) when the link says which.
    """
    if "auth" in cause:
        return ExitStatus.AUTH, f"PPP authentication failed: {reason}"
    if was_up:
        return ExitStatus.LINK_LOST, f"the link was lost: {reason}"
    return ExitStatus.PPP, f"PPP negotiation failed{f' ({protocol})' if protocol else ''}: {reason}"


def _ev(event: object) -> str:
    return type(event).__name__


def _build(cls: type, values: dict[str, Any]) -> Any:
    """Instantiate a config dataclass with those of ``values`` it has fields for."""
    names = {f.name for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else set(values)
    return cls(**{k: v for k, v in values.items() if k in names and v is not None})


class Daemon:
    """One ``pppos-up`` session. ``await Daemon(options, reporter).run()`` returns the exit status."""

    def __init__(self, options: UpOptions, reporter: Reporter) -> None:
        self.opts = options
        self.rep = reporter
        self.loop: asyncio.AbstractEventLoop | None = None
        self.port: Any = None
        self.serial_fd = -1
        self.tun: Any = None
        self.dns: Any = None
        self.status: Any = None
        self.pcap_file: Any = None
        self.pcap: Any = None
        # the active sans-I/O cores
        self.bringup: Any = None
        self.link: Any = None
        self.hangup: Any = None
        self.phase = "starting"
        self.profile: Any = "generic"
        # output back-pressure
        self._pending = b""
        self._writer_armed = False
        self._tun_reading = False
        self._serial_reading = False
        # serial read holdoff (see HOLDOFF_*): the reader is off until _serial_resume_at
        self._serial_resume_at: float | None = None
        self._last_serial_read = 0.0
        # timer
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._status_due: float | None = None
        self._terminate_deadline: float | None = None
        self._hangup_deadline: float | None = None
        # outcome
        self._done: asyncio.Future[int] | None = None
        self._stopping = False
        self._interrupts = 0
        self._exit_status = int(ExitStatus.SUCCESS)
        self._exit_message: str | None = None
        self._dialed = False
        self._configure_task: asyncio.Task[None] | None = None
        self._pending_ipv6: Any = None
        # facts for pppos-status
        self.started = time.time()
        self._t0 = 0.0
        self._cpu0 = 0.0
        self.up_since: float | None = None
        self.local_ip: str | None = None
        self.peer_ip: str | None = None
        self.mtu: int | None = None
        self.ipv6: tuple[str, str] | None = None
        self.dns_servers: list[str] = []
        self.dns_method: str | None = None
        self.signal: dict[str, Any] | None = None
        self.echo_rtt: float | None = None
        self.last_failure: str | None = None
        self.counters = {"bytes_in": 0, "bytes_out": 0, "packets_in": 0, "packets_out": 0,
                         "serial_in": 0, "serial_out": 0, "tun_drops": 0}

    # ------------------------------------------------------------------ lifetime

    async def run(self) -> int:
        """Bring the link up, move packets until told to stop or the link is lost; return the exit status."""
        self.loop = asyncio.get_running_loop()
        self._done = self.loop.create_future()
        self._t0 = self.loop.time()
        try:
            await self._prepare()
            self._t0 = self.loop.time()  # "up in N s" counts from the first byte to the modem
            self._cpu0 = time.process_time()
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                self.loop.add_signal_handler(sig, self._on_signal, sig)
            self._start_protocol()
            self._after_wakeup()
            status = await self._done
            if status not in (ExitStatus.SUCCESS, ExitStatus.INTERRUPTED) and self._exit_message:
                # One line on stderr from the CLI layer: "pppos-up: error: the link was lost: ..."
                raise PpposError(self._exit_message, exit_status=ExitStatus(status))
            return status
        finally:
            await self._shutdown()

    async def _prepare(self) -> None:
        """Everything that can fail before we touch the modem: state, TUN, port, pcap."""
        from pppos.net import dns as dnsmod
        from pppos.net import status as statusmod
        from pppos.net.tun import TunDevice

        if self.opts.persist:
            raise ConfigError("--persist (redial after a lost link) is only supported with --backend pppd so far")
        ifname = self.opts.ifname
        state = statusmod.state_path(ifname, self.opts.run_dir)
        previous = statusmod.read_status(state)
        other = statusmod.state_pid(previous)
        if other and other != os.getpid() and statusmod.is_pppos_up(other):
            raise PpposError(f"pppos-up is already running on {ifname} (pid {other}); stop it with pppos-down",
                             exit_status=ExitStatus.USAGE)
        backup = statusmod.backup_path(ifname, self.opts.run_dir)
        if dnsmod.restore_backup(backup):
            self.rep.warn(f"restored the resolver left changed by an earlier pppos-up on {ifname}")
        self.status = statusmod.StatusFile(state)
        self.dns = dnsmod.DnsManager(ifname=ifname, backup_path=backup,
                                     resolv_conf=dnsmod.resolv_conf_path(self.opts.resolv_conf))
        from pppos.serial_port import open_port

        self.port = open_port(self.opts.port, self.opts.baud)
        try:
            self.serial_fd = self.port.fileno()
        except Exception as exc:
            raise ModemError(f"{self.opts.port} has no file descriptor to wait on ({exc})") from None
        os.set_blocking(self.serial_fd, False)
        self.tun = TunDevice.create(ifname)
        await self.tun.setup()
        self._set_phase("opening")
        if self.opts.pcap:
            from pppos.ppp.capture import PcapWriter, open_pcap

            self.pcap_file = open_pcap(self.opts.pcap)  # mode 0600; closed in _shutdown
            self.pcap = PcapWriter(self.pcap_file, keep_secrets=self.opts.pcap_secrets)
        # Import what the session needs now, so the bring-up clock measures the session, not imports.
        import pppos.at.bringup
        import pppos.ppp.link  # noqa: F401

        assert self.loop is not None
        self.loop.add_reader(self.serial_fd, self._on_serial_readable)
        self._serial_reading = True

    def _start_protocol(self) -> None:
        now = self._now()
        if self.opts.direct:
            self.rep.step("direct", f"{self.opts.port} is a PPP link (--direct): starting LCP")
            self._start_link(now, b"")
            return
        from pppos.at.bringup import Bringup

        cfg = self.opts.bringup_config()
        self._set_phase("modem")
        self.bringup = Bringup(cfg, trace=self.rep.trace if self.opts.trace else None)
        self.bringup.start(now)

    def _start_link(self, now: float, trailing: bytes) -> None:
        from pppos.net.addresses import host_ipv4_addresses
        from pppos.ppp.link import LinkConfig, PppLink

        values: dict[str, Any] = {
            "username": self.opts.user,
            "password": self.opts.password,
            "mru": self.opts.mtu,
            "request_dns": True,
            # A peer asking for 0.0.0.0 (slirp, some modems) gets this address instead of a reject,
            # after which pppd-derived peers would close IPCP ("Could not determine local IP address").
            "peer_ip": self.opts.peer_ip,
            "ipv6": self.opts.ipv6,
            # The peer may give neither us nor itself an address this host already has, and a
            # loopback name server only when the user named one with --dns (IPCP checks).
            "host_addresses": host_ipv4_addresses(),
            "loopback_dns": any(ipaddress.ip_address(d).is_loopback for d in self.opts.dns),
        }
        if self.opts.lcp_echo is not None:
            values.update(echo_interval=self.opts.lcp_echo[0], echo_failures=self.opts.lcp_echo[1])
        else:
            values.update(echo_interval=0.0)
        cfg = _build(LinkConfig, values)
        wall = time.time() - now
        capture: Callable[[float, bool, bytes], None] | None = None
        if self.pcap is not None:
            pcap = self.pcap

            def capture(t: float, outbound: bool, frame: bytes) -> None:
                pcap.write(t + wall, outbound, frame)

        self.link = PppLink(cfg, trace=self.rep.trace if self.opts.trace else None, capture=capture)
        self._set_phase("establish")
        self.link.open(now)
        if trailing:
            self.counters["serial_in"] += len(trailing)
            self.link.receive_data(trailing, now)

    async def _shutdown(self) -> None:
        """Restore host state on every path; never raises."""
        loop = self.loop
        task, self._configure_task = self._configure_task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        if self._timer is not None:
            self._timer.cancel()
        if self._pending and self.serial_fd >= 0:
            with contextlib.suppress(OSError):  # best effort: a last Terminate-Request or -Ack
                os.write(self.serial_fd, self._pending)
            self._pending = b""
        # Our signal handlers stay installed until host state is restored: a late Ctrl-C must not
        # interrupt the restore with a KeyboardInterrupt.
        if loop is not None:
            if self.serial_fd >= 0:
                with contextlib.suppress(Exception):
                    loop.remove_reader(self.serial_fd)
                    loop.remove_writer(self.serial_fd)
            if self.tun is not None and self.tun.fd >= 0:
                with contextlib.suppress(Exception):
                    loop.remove_reader(self.tun.fd)
        if self.dns is not None:
            try:
                self.dns.restore()
            except PpposError as exc:
                self.rep.warn(f"could not restore the resolver: {exc}")
        if self.tun is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.tun.remove_routes(), 5.0)
            self.tun.close()
        if self.port is not None:
            with contextlib.suppress(Exception):
                self.port.close()
        if self.pcap_file is not None:
            with contextlib.suppress(OSError):
                self.pcap_file.close()
        if self.status is not None:
            self.status.remove()
            self._record_last_failure()
        if loop is not None:
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                with contextlib.suppress(Exception):
                    loop.remove_signal_handler(sig)

    def _record_last_failure(self) -> None:
        """Keep the failure reason for ``pppos-status`` after we are gone (removed by a clean run)."""
        from pppos.net.status import last_failure_path

        path = last_failure_path(self.opts.ifname, self.opts.run_dir)
        with contextlib.suppress(OSError):
            if self.last_failure:
                path.write_text(json.dumps({"ifname": self.opts.ifname, "last_failure": self.last_failure,
                                            "ended": time.time()}) + "\n")
            else:
                path.unlink(missing_ok=True)

    def _finish(self, status: int, message: str | None = None) -> None:
        if self._done is not None and not self._done.done():
            self._exit_status, self._exit_message = status, message
            if message and status != 0:
                self.last_failure = message
            self._done.set_result(status)

    def _fail(self, exc: PpposError) -> None:
        """End with an error (the CLI prints it)."""
        if self._done is not None and not self._done.done():
            self.last_failure = str(exc)
            self._done.set_exception(exc)

    # ------------------------------------------------------------------ wake-ups

    def _now(self) -> float:
        assert self.loop is not None
        return self.loop.time()

    def _guard(self, fn: Callable[[], None]) -> None:
        try:
            fn()
            self._after_wakeup()
        except PpposError as exc:
            self._fail(exc)
        except Exception as exc:  # a bug: end the session, restore host state, report one line
            if self._done is not None and not self._done.done():
                self._done.set_exception(exc)

    def _on_serial_readable(self) -> None:
        self._guard(self._read_serial)

    def _read_serial(self) -> None:
        try:
            chunk = os.read(self.serial_fd, READ_SIZE)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno == errno.EINTR:
                return
            self._modem_gone(f"the serial port failed ({exc.strerror})")
            return
        if not chunk:
            self._modem_gone("the serial port reported end of file")
            return
        now = self._now()
        size = len(chunk)
        self.counters["serial_in"] += size
        core = self._active_core()
        if core is not None:
            core.receive_data(chunk, now)
        since, self._last_serial_read = now - self._last_serial_read, now
        if size >= HOLDOFF_MIN_READ and since > 0 and self._serial_reading and core is not None and core is self.link:
            holdoff = min(HOLDOFF_MAX, HOLDOFF_FILL * since / size)
            if holdoff >= 0.001:
                assert self.loop is not None
                self.loop.remove_reader(self.serial_fd)
                self._serial_resume_at = now + holdoff

    def _resume_serial(self, now: float) -> None:
        """End a read holdoff: watch the port again (its bytes wait in the tty buffer meanwhile)."""
        if self._serial_resume_at is None or now < self._serial_resume_at:
            return
        self._serial_resume_at = None
        if self._serial_reading and self.serial_fd >= 0:
            assert self.loop is not None
            self.loop.add_reader(self.serial_fd, self._on_serial_readable)

    def _modem_gone(self, why: str) -> None:
        assert self.loop is not None
        with contextlib.suppress(Exception):
            self.loop.remove_reader(self.serial_fd)
        self._serial_reading = False
        self._finish(int(ExitStatus.LINK_LOST), f"the modem vanished ({why})")

    def _on_tun_readable(self) -> None:
        self._guard(self._read_tun)

    def _read_tun(self) -> None:
        """Frame the packets waiting on the TUN queue: up to :data:`TUN_BATCH` per wake-up, so a
        burst (a window of TCP segments, a run of ACKs) costs one event-loop turn, and stop early once
        the serial side has a backlog (the rest waits in the TUN queue: backpressure, no copy)."""
        link = self.link
        if link is None:
            return
        now = self._now()
        for _ in range(TUN_BATCH):
            try:
                packet = os.read(self.tun.fd, READ_SIZE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                raise LinkError(f"reading {self.opts.ifname} failed: {exc.strerror}") from None
            if not packet:
                return
            self.counters["packets_out"] += 1
            self.counters["bytes_out"] += len(packet)
            link.send_ip(packet, now)
            if link.pending_output() >= TUN_BATCH_BYTES:
                return

    def _on_serial_writable(self) -> None:
        self._guard(lambda: None)

    def _on_timer(self) -> None:
        self._timer = None
        armed, self._timer_at = self._timer_at, None
        now = max(self._now(), armed or 0.0)

        def expire() -> None:
            self._resume_serial(now)
            core = self._active_core()
            if core is not None:
                deadline = core.get_timer()
                if deadline is not None and deadline <= now:
                    core.handle_timer(now)
            if self._terminate_deadline is not None and now >= self._terminate_deadline:
                self._terminate_deadline = None
                self.rep.warn("the peer did not acknowledge LCP Terminate in time; going on")
                self._after_link_closed()
            if self._hangup_deadline is not None and now >= self._hangup_deadline:
                self._hangup_deadline = None
                self.rep.warn("the modem did not confirm the hang-up in time")
                self._finish(self._exit_status, self._exit_message)
            if self._status_due is not None and now >= self._status_due:
                self._write_status()

        self._guard(expire)

    def _active_core(self) -> Any:
        if self.hangup is not None:
            return self.hangup
        if self.link is not None:
            return self.link
        return self.bringup

    def _after_wakeup(self) -> None:
        """Process events, transmit, re-arm the one timer (after every wake-up)."""
        if self._done is None or self._done.done():
            return
        # Events may switch the active core (DataMode -> PPP, LinkDown -> hang-up): loop until quiet.
        for _ in range(8):
            core = self._active_core()
            if core is None:
                break
            self._drain_events(core)
            if self._done.done():
                return
            if self._active_core() is core:
                break
        self._transmit()
        self._rearm()

    def _transmit(self) -> None:
        assert self.loop is not None
        if self.serial_fd < 0 or not self._serial_reading:
            return
        while True:
            if not self._pending:
                core = self._active_core()
                if core is None:
                    break
                self._pending = core.data_to_send()
                if not self._pending:
                    break
            try:
                n = os.write(self.serial_fd, self._pending)
            except BlockingIOError:
                n = 0
            except OSError as exc:
                self._modem_gone(f"writing to the serial port failed ({exc.strerror})")
                return
            self.counters["serial_out"] += n
            self._pending = self._pending[n:]
            if self._pending:
                break
        if self._pending and not self._writer_armed:
            self.loop.add_writer(self.serial_fd, self._on_serial_writable)
            self._writer_armed = True
        elif not self._pending and self._writer_armed:
            self.loop.remove_writer(self.serial_fd)
            self._writer_armed = False
        self._set_tun_reading(not self._pending and self.up_since is not None and not self._stopping)

    def _set_tun_reading(self, on: bool) -> None:
        assert self.loop is not None
        if self.tun is None or self.tun.fd < 0 or on == self._tun_reading:
            return
        if on:
            self.loop.add_reader(self.tun.fd, self._on_tun_readable)
        else:
            self.loop.remove_reader(self.tun.fd)
        self._tun_reading = on

    def _rearm(self) -> None:
        assert self.loop is not None
        core = self._active_core()
        deadline = core.get_timer() if core is not None else None
        for other in (self._terminate_deadline, self._hangup_deadline, self._status_due, self._serial_resume_at):
            if other is not None and (deadline is None or other < deadline):
                deadline = other
        if deadline == self._timer_at and self._timer is not None:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = deadline
        if deadline is not None:
            self._timer = self.loop.call_at(deadline, self._on_timer)

    # ------------------------------------------------------------------ events

    def _drain_events(self, core: Any) -> None:
        while (event := core.next_event()) is not None:
            if core is self.bringup:
                self._on_bringup_event(event)
            elif core is self.link:
                self._on_link_event(event)
            elif core is self.hangup:
                self._on_hangup_event(event)
            if self._done is not None and self._done.done():
                return
            if self._active_core() is not core:
                return

    def _on_bringup_event(self, event: Any) -> None:
        name = _ev(event)
        if name == "Progress":
            self.rep.step(event.step, event.message)
        elif name == "SetBaud":
            try:
                self.port.baudrate = event.rate
            except Exception as exc:
                raise ModemError(f"cannot switch {self.opts.port} to {event.rate} baud: {exc}") from None
        elif name == "SetDtr":
            with contextlib.suppress(Exception):
                self.port.dtr = event.level
        elif name == "ModemInfo":
            self.profile = event.profile or "generic"
            if event.signal_dbm is not None or event.signal != "unknown":
                self.signal = {"dbm": event.signal_dbm, "word": event.signal, "rssi": event.rssi}
        elif name == "DataMode":
            self._dialed = True
            self.rep.step("connect", "the modem is in data mode: starting PPP")
            trailing = bytes(event.trailing) + self.bringup.take_data()
            bringup, self.bringup = self.bringup, None
            self._start_link(self._now(), trailing)
            # The verdict that follows DataMode is the plan's success line: nothing to do with it.
            while (rest := bringup.next_event()) is not None:
                if _ev(rest) == "ModemInfo":
                    self._on_bringup_event(rest)
        elif name == "Verdict" and not event.ok:
            self._fail(ModemError(event.message, exit_status=event.exit_status))

    def _on_link_event(self, event: Any) -> None:
        name = _ev(event)
        if name == "PacketReceived":
            self._to_tun(event.packet)
        elif name == "PhaseChanged":
            phase = str(getattr(event.phase, "name", event.phase)).lower()
            if phase in ("authenticate", "network") and self.phase == "establish":
                self.rep.step("lcp", "LCP up")
            if phase == "dead" and self._stopping:
                self._after_link_closed()
                return
            if self.up_since is None or phase != "network":
                self._set_phase(phase)
        elif name == "AuthResult":
            protocol = str(getattr(event.protocol, "name", event.protocol))
            if event.ok:
                self.rep.step("auth", f"authenticated ({protocol})")
            else:
                self.last_failure = f"authentication refused ({protocol}): {event.message}"
        elif name == "LinkUp":
            self._link_up(event)
        elif name == "Ipv6Up":
            self._ipv6_up(event)
        elif name == "LinkDown":
            self._link_down(event)
        elif name == "EchoRtt":
            self.echo_rtt = float(event.seconds)

    def _to_tun(self, packet: bytes) -> None:
        if self.tun is None or self.tun.fd < 0 or self.up_since is None:
            self.counters["tun_drops"] += 1
            return
        try:
            os.write(self.tun.fd, packet)
        except OSError:
            # A full or refusing TUN queue drops the packet, like any interface; TCP recovers.
            self.counters["tun_drops"] += 1
            return
        self.counters["packets_in"] += 1
        self.counters["bytes_in"] += len(packet)

    def _link_up(self, event: Any) -> None:
        """IPCP opened: configure the interface (netlink is asynchronous: one task, once per link)."""
        assert self.loop is not None
        if self._configure_task is None:
            self._configure_task = self.loop.create_task(self._configure_interface(event))

    def _ipv6_up(self, event: Any) -> None:
        """IPv6CP opened after IPCP: add the link-local addresses once the interface is configured."""
        assert self.loop is not None
        self._pending_ipv6 = event
        task = self._configure_task
        if task is not None and task.done() and self.up_since is not None:
            self._configure_task = self.loop.create_task(self._configure_ipv6())

    async def _configure_ipv6(self) -> None:
        try:
            await self._maybe_ipv6(self._pending_ipv6)
        except PpposError as exc:
            self._fail(exc)

    async def _configure_interface(self, event: Any) -> None:
        try:
            await self._bring_interface_up(event)
        except PpposError as exc:
            self._fail(exc)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug: end the session, report one line
            if self._done is not None and not self._done.done():
                self._done.set_exception(exc)
        else:
            self._guard(lambda: None)

    async def _bring_interface_up(self, event: Any) -> None:
        from pppos.net.dns import choose_servers

        mtu = int(event.mtu or 1500)
        if self.opts.mtu:
            mtu = min(mtu, self.opts.mtu)
        dns = [str(d) for d in (event.dns or ()) if d]
        self.rep.step("ipcp", f"IPCP: local {event.local_ip} peer {event.peer_ip}"
                      + (f" dns {' '.join(dns)}" if dns else " (no DNS from the peer)"),
                      local_ip=str(event.local_ip), peer_ip=str(event.peer_ip), dns=dns)
        await self.tun.configure(str(event.local_ip), str(event.peer_ip), mtu)
        self.local_ip, self.peer_ip, self.mtu = str(event.local_ip), str(event.peer_ip), mtu
        if mtu < IPV6_MIN_MTU and self.link is not None and self.link.ipv6_enabled:
            self._disable_ipv6(f"the link MTU {mtu} is below IPv6's minimum of {IPV6_MIN_MTU}")
        await self._maybe_ipv6(event)
        if self.opts.default_route:
            route = await self.tun.add_default_route(self.opts.route_metric)
            if route is None:
                self.rep.warn(f"a default route with metric {self.opts.route_metric} already exists; "
                              f"not adding ours (use --route-metric N to add it beside)")
            else:
                self.rep.step("route", f"default route via {self.opts.ifname} metric {route.metric}")
        if self.opts.usepeerdns or self.opts.dns:
            servers = choose_servers(dns if self.opts.usepeerdns else (), self.opts.dns)
            if servers:
                self.dns_method = self.dns.apply(servers)
                self.dns_servers = servers
                self.rep.step("dns", f"DNS {' '.join(servers)} via {self.dns_method}")
            else:
                self.rep.warn("the peer gave no DNS servers and no --dns was given")
        if self._pending_ipv6 is not None:
            await self._maybe_ipv6(self._pending_ipv6)
        if self._stopping:
            return
        now = self._now()
        self.up_since = time.time()
        self._set_phase("running")
        self.rep.step("up", f"{self.opts.ifname} up in {now - self._t0:.2f} s",
                      seconds=round(now - self._t0, 3), cpu_seconds=round(time.process_time() - self._cpu0, 3))

    async def _maybe_ipv6(self, event: Any) -> None:
        if event is None:
            return
        local, peer = getattr(event, "ipv6_local", None), getattr(event, "ipv6_peer", None)
        if local is None or peer is None or self.ipv6 is not None:
            return
        if self.link is None or not self.link.ipv6_enabled:
            return
        try:
            await self.tun.configure_ipv6(local, peer)
        except PpposError as exc:
            self._disable_ipv6(str(exc))  # IPv6 is optional: never take IPv4 down with it
            return
        self.ipv6 = (self.tun.ipv6_local, self.tun.ipv6_peer)
        self.rep.step("ipv6cp", f"IPv6CP: {self.ipv6[0]} peer {self.ipv6[1]}")

    def _disable_ipv6(self, why: str) -> None:
        """Turn IPv6 off for this link with one warning; IPv4 stays up."""
        self.rep.warn(f"IPv6 disabled on this link: {why}; IPv4 continues")
        if self.link is not None:
            self.link.disable_ipv6(self._now(), "IPv6 unusable on this host")
            self._guard(lambda: None)

    def _link_down(self, event: Any) -> None:
        cause = str(getattr(event.cause, "name", event.cause)).lower()
        reason = str(getattr(event, "reason", "") or cause)
        self._set_tun_reading(False)
        if self._stopping:
            self._wait_for_dead()
            return
        status, text = link_down_verdict(cause, reason, getattr(event, "protocol", None),
                                         was_up=self.up_since is not None)
        self.last_failure = text
        self._exit_status, self._exit_message = int(status), text
        self._stopping = True
        self._wait_for_dead()

    def _wait_for_dead(self) -> None:
        """LinkDown comes when LCP leaves Opened; let it finish its Terminate exchange (bounded)."""
        if self.link is None:
            return
        if str(getattr(self.link.phase, "name", self.link.phase)).lower() == "dead":
            self._after_link_closed()
        elif self._terminate_deadline is None:
            self._terminate_deadline = self._now() + TERMINATE_WAIT

    def _after_link_closed(self) -> None:
        """The LCP part is over: hang the modem up (not with --direct), then finish."""
        self._terminate_deadline = None
        if self.link is not None:
            # The link's last words (Terminate-Ack/Request) still go out, before any +++ guard time.
            self._pending += self.link.data_to_send()
        self.link = None
        self._set_phase("hangup")
        if self.opts.direct or not self._dialed or not self._serial_reading:
            self._finish(self._exit_status, self._exit_message)
            return
        from pppos.at.bringup import Hangup

        self.hangup = Hangup(self.profile, trace=self.rep.trace if self.opts.trace else None)
        self.hangup.start(self._now())
        self._hangup_deadline = self._now() + HANGUP_WAIT

    def _on_hangup_event(self, event: Any) -> None:
        name = _ev(event)
        if name == "Progress":
            self.rep.step(event.step, event.message)
        elif name == "SetDtr":
            with contextlib.suppress(Exception):
                self.port.dtr = event.level
        elif name == "Verdict":
            if event.ok:
                self.rep.step("hangup", "the modem hung up")
            else:
                self.rep.warn(event.message)
            self.hangup = None
            self._hangup_deadline = None
            self._finish(self._exit_status, self._exit_message)

    # ------------------------------------------------------------------ stop

    def _on_signal(self, sig: int) -> None:
        if self._done is None or self._done.done():
            return  # already restoring host state; it is quick and must not be interrupted
        self._interrupts += 1
        if sig == signal.SIGINT and self._exit_status == 0:
            self._exit_status = int(ExitStatus.INTERRUPTED)
        if self._stopping and self._interrupts > 1:
            self.rep.warn("second signal: exiting now (host state is still restored)")
            self._finish(int(ExitStatus.INTERRUPTED) if sig == signal.SIGINT else self._exit_status,
                         self._exit_message)
            return
        self.rep.step("stop", f"{signal.Signals(sig).name}: tearing the link down")
        self._guard(self.stop)

    def stop(self) -> None:
        """Start the orderly teardown (LCP Terminate with a bounded wait, then hang-up)."""
        if self._stopping:
            return
        self._stopping = True
        self._set_tun_reading(False)
        now = self._now()
        if self.link is not None and self._serial_reading:
            self._set_phase("terminate")
            self.link.close(now, reason="pppos-up is stopping")
            self._terminate_deadline = now + TERMINATE_WAIT
            return
        self.bringup = None
        self._after_link_closed()

    # ------------------------------------------------------------------ status

    def _set_phase(self, phase: str) -> None:
        if phase != self.phase:
            self.phase = phase
            self._write_status()

    def snapshot(self) -> dict[str, Any]:
        """The state file's content (see :mod:`pppos.net.status`)."""
        stats = getattr(self.link, "stats", None)
        bad = 0
        if stats is not None:
            for attr in ("bad_frames", "bad_fcs", "runts", "too_long", "aborts"):
                value = getattr(stats, attr, None)
                if isinstance(value, int):
                    bad = value if attr == "bad_frames" else bad + value
                    if attr == "bad_frames":
                        break
            rtt = getattr(stats, "echo_rtt", None)
            if isinstance(rtt, int | float) and rtt > 0:
                self.echo_rtt = float(rtt)
        return {
            "ifname": self.opts.ifname,
            "pid": os.getpid(),
            "phase": self.phase,
            "port": self.opts.port,
            "backend": "python",
            "direct": self.opts.direct,
            "started": self.started,
            "up_since": self.up_since,
            "local_ip": self.local_ip,
            "peer_ip": self.peer_ip,
            "mtu": self.mtu,
            "ipv6_local": self.ipv6[0] if self.ipv6 else None,
            "ipv6_peer": self.ipv6[1] if self.ipv6 else None,
            "dns": self.dns_servers,
            "dns_method": self.dns_method,
            "routes": [r.as_dict() for r in (self.tun.added_routes if self.tun is not None else [])],
            "echo_rtt": self.echo_rtt,
            "bad_frames": bad,
            "signal": self.signal,
            "last_failure": self.last_failure,
            "updated": time.time(),
            **self.counters,
        }

    def _write_status(self) -> None:
        if self.status is None:
            return
        try:
            self.status.write(self.snapshot())
        except PpposError as exc:
            self.rep.warn(str(exc))
            self.status = None
            return
        self._status_due = self._now() + STATUS_INTERVAL if self.loop is not None else None


def run_daemon(options: UpOptions, reporter: Reporter | None = None) -> int:
    """Run one session to its end and return the exit status (errors are raised as :class:`PpposError`)."""
    rep = reporter or Reporter(quiet=options.quiet, json_format=options.log_format == "json")
    daemon = Daemon(options, rep)
    return asyncio.run(daemon.run())
