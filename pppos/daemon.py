"""The ``pppos-up`` daemon: the driver of the session supervisor (:mod:`pppos.session`).

Every decision (when to dial, hang up, hold off, climb the recovery ladder, wait for the port, give
up, stop) is the supervisor's; this module executes its commands and reports back what happened.

Shape (the data path of the architecture, with the aioquic driver rule "after every wake-up,
transmit and re-arm"):

- **File descriptors** (:class:`DataPath`): the serial port (pyserial, non-blocking,
  ``loop.add_reader``) and the TUN device. Serial readable -> one ``os.read`` -> the active core's
  ``receive_data(chunk, now)`` -> events; a ``PacketReceived`` becomes one ``os.write`` to the TUN fd.
  TUN readable -> up to :data:`TUN_BATCH` ``os.read`` -> ``link.send_ip(packet, now)``. Bulk serial
  input pauses the reader briefly (the read holdoff, :data:`HOLDOFF_FILL`).
- **Cores** (:class:`Modem`): one active sans-I/O core at a time: the AT bring-up, the PPP link, the
  guarded hang-up or a recovery rung (:class:`~pppos.at.recovery.RecoveryPlan`); their events are
  dispatched by type with ``match`` and what matters becomes a supervisor event.
- **The wiring** (:class:`Daemon`): supervisor commands dispatched by type with ``match``, the one
  timer, signals, the asynchronous netlink work (:class:`Host`) and the state file (:class:`Facts`).
- **One timer**: a single ``loop.call_at`` handle, re-armed after every wake-up at the earliest of
  the active core's deadline, the supervisor's, the read holdoff's end, the NO CARRIER confirmation,
  the DCD poll, the bounded LCP Terminate wait and the state-file refresh.
- **Transmit**: after every wake-up the core's ``data_to_send()`` is written to the serial fd. A
  partial write or EAGAIN keeps the rest and arms a writer callback; while it is pending the TUN
  reader is paused (back-pressure reaches the kernel's queue and TCP). No threads, no queues.
- **Carrier**: ``NO CARRIER`` or a boot message after the last frame (:meth:`pppos.ppp.link.PppLink.modem_text`,
  confirmed :data:`CARRIER_CONFIRM` later, so that the same text ending a chunk inside a frame is
  not taken for it) and a DCD drop (polled every :data:`DCD_POLL` while PPP runs, only on ports that
  report DCD and after it was seen high) become :class:`~pppos.session.CarrierLost`.
- **Signals**: SIGINT, SIGTERM, SIGHUP (and ``pppos-down``) are a :class:`~pppos.session.StopRequest`;
  a second one exits at once (host state is still restored). SIGUSR1 rewrites the state file at
  once (``pppos-status`` asks for fresh counters that way).

Host state (:class:`Host`): ``ppp0`` is created once and kept across sessions, with its carrier
down between them, so sockets bound to it survive a redial; our routes and the resolver change are
removed while the link is down and re-added on the next up. On every exit path (``finally``) the
routes are removed, the resolver restored byte for byte, the TUN interface deleted and the state
file removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import ipaddress
import os
import signal
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, BinaryIO, TextIO

from pppos import session as ses
from pppos.accounting import CapHold
from pppos.at.bringup import (
    Bringup,
    DataMode,
    Hangup,
    ModemInfo,
    PinRefused,
    Progress,
    SetBaud,
    SetDtr,
    SimIdentified,
    Verdict,
)
from pppos.at.profiles import PROFILES, ModemProfile
from pppos.at.recovery import RecoveryPlan, profile_rungs
from pppos.config import UpOptions
from pppos.errors import ExitStatus, LinkError, ModemError, PpposError
from pppos.pinguard import remember_pin_refusal
from pppos.ppp.link import (
    AuthResult,
    EchoRtt,
    Ipv6Up,
    LinkConfig,
    LinkDown,
    LinkUp,
    PacketReceived,
    Phase,
    PhaseChanged,
    PppLink,
)
from pppos.session import link_down_verdict
from pppos.sidecar import Sidecar

if TYPE_CHECKING:
    import serial

    from pppos.net.dns import DnsManager
    from pppos.net.status import StatusFile
    from pppos.net.tun import TunDevice
    from pppos.ppp.capture import PcapWriter

__all__ = ["Daemon", "DataPath", "Host", "Reporter", "link_down_verdict", "run_daemon", "session_config"]

#: How long the orderly LCP Terminate may take before we go on (RFC 1661: Max-Terminate x Restart).
TERMINATE_WAIT = 3.0
#: The state file is rewritten at most this often while the link runs (and at once on SIGUSR1).
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
#: NO CARRIER seen after the last frame is acted on if it is still the line's last text this much later
CARRIER_CONFIRM = 0.03
#: after the link ended by itself, wait this long for the modem's NO CARRIER before the guarded +++
CALL_END_GRACE = 0.5
#: DCD is polled this often while PPP runs, on ports that report it
DCD_POLL = 0.05
#: IPv6 needs a link MTU of at least 1280 octets (RFC 8200 section 5).
IPV6_MIN_MTU = 1280
#: the ``--reset-command`` may run this long
RESET_COMMAND_TIMEOUT = 120.0

Core = Bringup | Hangup | RecoveryPlan | PppLink


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


def session_config(opts: UpOptions, profile: ModemProfile | None = None) -> ses.SessionConfig:
    """The supervisor's settings from the options and (once known) the modem profile."""
    if profile is None:
        profile = PROFILES.get(opts.profile or "", PROFILES["generic"])
    rungs = ses.ladder(profile_rungs=profile_rungs(profile), reset_command=opts.reset_command is not None,
                       direct=opts.direct)
    return ses.SessionConfig(persist=opts.persist, maxfail=opts.maxfail, holdoff=opts.holdoff,
                             holdoff_max=opts.holdoff_max, port_wait=opts.port_wait, direct=opts.direct,
                             rungs=rungs)


def _build(cls: type, values: dict[str, Any]) -> Any:
    """Instantiate a config dataclass with those of ``values`` it has fields for."""
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in values.items() if k in names and v is not None})


class DataPath:
    """The serial port and TUN descriptors, the active core, transmit with back-pressure, read holdoff.

    ``wakeup`` wraps every callback (the daemon's guard: events, transmit, re-arm); ``lost`` is told
    when the port fails (EOF, EIO).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, wakeup: Callable[[Callable[[], None]], None],
                 lost: Callable[[str], None]) -> None:
        self.loop = loop
        self.wakeup = wakeup
        self.lost = lost
        self.port: serial.Serial | None = None
        self.fd = -1
        self.tun_fd = -1
        self.core: Core | None = None
        self.link: PppLink | None = None
        #: the interface is configured: packets go to and come from the TUN device
        self.up = False
        self.pending = b""
        self.writer_armed = False
        self.tun_reading = False
        self.serial_reading = False
        self.resume_at: float | None = None
        self.last_read = 0.0
        self.carrier_check_at: float | None = None
        #: DCD poll deadline (only on ports that report DCD, while PPP runs) and whether it was seen high
        self.dcd_at: float | None = None
        self.dcd_seen = False
        self.counters = {"bytes_in": 0, "bytes_out": 0, "packets_in": 0, "packets_out": 0,
                         "serial_in": 0, "serial_out": 0, "tun_drops": 0}

    # -- port lifetime

    def attach(self, port: serial.Serial) -> None:
        """Use the freshly opened ``port`` (non-blocking, watched for input)."""
        self.port = port
        self.fd = port.fileno()
        os.set_blocking(self.fd, False)
        self.loop.add_reader(self.fd, self.on_serial_readable)
        self.serial_reading = True
        self.last_read = self.loop.time()

    def detach(self) -> None:
        """Drop the core and close the port (nothing more is written)."""
        self.set_core(None)
        if self.fd >= 0:
            with contextlib.suppress(Exception):
                self.loop.remove_reader(self.fd)
            if self.writer_armed:
                with contextlib.suppress(Exception):
                    self.loop.remove_writer(self.fd)
        if self.port is not None:
            with contextlib.suppress(Exception):
                self.port.close()
        self.port, self.fd = None, -1
        self.serial_reading = self.writer_armed = False
        self.pending = b""
        self.resume_at = None

    def set_core(self, core: Core | None) -> None:
        """Make ``core`` the one the serial bytes go to (None: drop the active one)."""
        self.core = core
        self.link = core if isinstance(core, PppLink) else None
        self.carrier_check_at = self.dcd_at = None
        if self.link is None:
            self.set_up(False)

    def set_up(self, up: bool) -> None:
        """Route packets between the link and the TUN device (or stop doing so)."""
        self.up = up and self.link is not None
        self.set_tun_reading(self.up and not self.pending)

    # -- carrier

    def dcd(self) -> bool | None:
        """The port's DCD, or None where it cannot say (a pty, a socket)."""
        try:
            return bool(self.port.cd) if self.port is not None else None
        except Exception:
            return None

    def watch_carrier(self, now: float) -> None:
        """PPP started: poll DCD from now on where the port reports it."""
        self.dcd_seen = False
        self.dcd_at = now + DCD_POLL if self.dcd() is not None else None

    def carrier_gone(self, now: float) -> str | None:
        """At a timer: ``NO CARRIER`` still the line's last text after :data:`CARRIER_CONFIRM`, or DCD
        dropped after it was seen high; None otherwise."""
        if self.carrier_check_at is not None and now >= self.carrier_check_at:
            self.carrier_check_at = None
            text = self.link.modem_text() if self.link is not None else None
            if text is not None:
                return text if text == "NO CARRIER" else f"{text!r} in command mode (the call is gone)"
        if self.dcd_at is not None and now >= self.dcd_at:
            cd = self.dcd()
            self.dcd_at = now + DCD_POLL
            self.dcd_seen = self.dcd_seen or bool(cd)
            if self.dcd_seen and cd is False:
                self.dcd_at = None
                return "a DCD drop"
        return None

    # -- serial input

    def on_serial_readable(self) -> None:
        self.wakeup(self.read_serial)

    def read_serial(self) -> None:
        try:
            chunk = os.read(self.fd, READ_SIZE)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno == errno.EINTR:
                return
            self._gone(f"the serial port failed ({exc.strerror})")
            return
        if not chunk:
            self._gone("the serial port reported end of file")
            return
        now = self.loop.time()
        size = len(chunk)
        self.counters["serial_in"] += size
        core = self.core
        if core is None:
            return  # between attempts: URCs and noise are not needed
        core.receive_data(chunk, now)
        since, self.last_read = now - self.last_read, now
        link = self.link
        if link is not None:
            if self.carrier_check_at is None and link.modem_text() is not None:
                self.carrier_check_at = now + CARRIER_CONFIRM
            if size >= HOLDOFF_MIN_READ and since > 0 and self.serial_reading:
                holdoff = min(HOLDOFF_MAX, HOLDOFF_FILL * since / size)
                if holdoff >= 0.001:
                    self.loop.remove_reader(self.fd)
                    self.resume_at = now + holdoff

    def resume(self, now: float) -> None:
        """End a read holdoff: watch the port again (its bytes wait in the tty buffer meanwhile)."""
        if self.resume_at is None or now < self.resume_at:
            return
        self.resume_at = None
        if self.serial_reading and self.fd >= 0:
            self.loop.add_reader(self.fd, self.on_serial_readable)

    def _gone(self, why: str) -> None:
        with contextlib.suppress(Exception):
            self.loop.remove_reader(self.fd)
        self.serial_reading = False
        self.lost(why)

    # -- TUN

    def to_tun(self, packet: bytes) -> None:
        if not self.up or self.tun_fd < 0:
            self.counters["tun_drops"] += 1
            return
        try:
            os.write(self.tun_fd, packet)
        except OSError:
            # A full or refusing TUN queue drops the packet, like any interface; TCP recovers.
            self.counters["tun_drops"] += 1
            return
        self.counters["packets_in"] += 1
        self.counters["bytes_in"] += len(packet)

    def on_tun_readable(self) -> None:
        self.wakeup(self.read_tun)

    def read_tun(self) -> None:
        """Frame the packets waiting on the TUN queue: up to :data:`TUN_BATCH` per wake-up, so a
        burst (a window of TCP segments, a run of ACKs) costs one event-loop turn, and stop early once
        the serial side has a backlog (the rest waits in the TUN queue: backpressure, no copy)."""
        link = self.link
        if link is None:
            return
        now = self.loop.time()
        counters = self.counters
        for _ in range(TUN_BATCH):
            try:
                packet = os.read(self.tun_fd, READ_SIZE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                raise LinkError(f"reading the TUN device failed: {exc.strerror}") from None
            if not packet:
                return
            counters["packets_out"] += 1
            counters["bytes_out"] += len(packet)
            link.send_ip(packet, now)
            if link.pending_output() >= TUN_BATCH_BYTES:
                return

    def set_tun_reading(self, on: bool) -> None:
        if self.tun_fd < 0 or on == self.tun_reading:
            return
        if on:
            self.loop.add_reader(self.tun_fd, self.on_tun_readable)
        else:
            self.loop.remove_reader(self.tun_fd)
        self.tun_reading = on

    # -- output

    def on_serial_writable(self) -> None:
        self.wakeup(lambda: None)

    def transmit(self) -> None:
        """Write the core's output; keep a partial write's rest and pause the TUN reader meanwhile."""
        if self.fd < 0 or not self.serial_reading:
            return
        while True:
            if not self.pending:
                core = self.core
                if core is None:
                    break
                self.pending = core.data_to_send()
                if not self.pending:
                    break
            try:
                n = os.write(self.fd, self.pending)
            except BlockingIOError:
                n = 0
            except OSError as exc:
                self._gone(f"writing to the serial port failed ({exc.strerror})")
                return
            self.counters["serial_out"] += n
            self.pending = self.pending[n:]
            if self.pending:
                break
        if self.pending and not self.writer_armed:
            self.loop.add_writer(self.fd, self.on_serial_writable)
            self.writer_armed = True
        elif not self.pending and self.writer_armed:
            self.loop.remove_writer(self.fd)
            self.writer_armed = False
        self.set_tun_reading(not self.pending and self.up)


class Host:
    """``ppp0`` across sessions, the resolver and the state file (see the module docstring)."""

    def __init__(self, opts: UpOptions, rep: Reporter, wake: Callable[[], None]) -> None:
        self.opts = opts
        self.rep = rep
        #: a driver wake-up (transmit what a core queued, re-arm)
        self.wake = wake
        self.tun: TunDevice | None = None
        self.dns: DnsManager | None = None
        self.status: StatusFile | None = None
        self.lock = asyncio.Lock()
        self.local_ip: str | None = None
        self.peer_ip: str | None = None
        self.mtu: int | None = None
        self.ipv6: tuple[str, str] | None = None
        self.dns_servers: list[str] = []
        self.dns_method: str | None = None

    async def prepare(self) -> None:
        """Refuse a second daemon, restore a resolver left by a killed one, create the TUN device."""
        from pppos.net import dns as dnsmod
        from pppos.net import status as statusmod
        from pppos.net.tun import TunDevice

        ifname = self.opts.ifname
        previous = statusmod.read_status(statusmod.state_path(ifname, self.opts.run_dir))
        other = statusmod.state_pid(previous)
        if other and other != os.getpid() and statusmod.is_pppos_up(other):
            raise PpposError(f"pppos-up is already running on {ifname} (pid {other}); stop it with pppos-down",
                             exit_status=ExitStatus.USAGE)
        backup = statusmod.backup_path(ifname, self.opts.run_dir)
        if dnsmod.restore_backup(backup):
            self.rep.warn(f"restored the resolver left changed by an earlier pppos-up on {ifname}")
        self.status = statusmod.StatusFile(statusmod.state_path(ifname, self.opts.run_dir))
        self.dns = dnsmod.DnsManager(ifname=ifname, backup_path=backup,
                                     resolv_conf=dnsmod.resolv_conf_path(self.opts.resolv_conf))
        self.tun = TunDevice.create(ifname)
        await self.tun.setup()

    async def configure(self, event: LinkUp, ipv6: Ipv6Up | None, link: PppLink | None) -> None:
        """Address, MTU, IPv6 link-local, default route and DNS for the session that just came up."""
        from pppos.net.dns import choose_servers

        assert self.tun is not None and self.dns is not None
        opts = self.opts
        mtu = min(int(event.mtu or 1500), opts.mtu or 65535)
        dns = [str(d) for d in event.dns if d]
        self.rep.step("ipcp", f"IPCP: local {event.local_ip} peer {event.peer_ip}"
                      + (f" dns {' '.join(dns)}" if dns else " (no DNS from the peer)"),
                      local_ip=str(event.local_ip), peer_ip=str(event.peer_ip), dns=dns)
        async with self.lock:
            self.tun.set_carrier(True)
            await self.tun.configure(str(event.local_ip), str(event.peer_ip), mtu)
            self.local_ip, self.peer_ip, self.mtu = str(event.local_ip), str(event.peer_ip), mtu
            if mtu < IPV6_MIN_MTU and link is not None and link.ipv6_enabled:
                self._disable_ipv6(link, f"the link MTU {mtu} is below IPv6's minimum of {IPV6_MIN_MTU}")
            local6, peer6 = (ipv6.ipv6_local, ipv6.ipv6_peer) if ipv6 else (event.ipv6_local, event.ipv6_peer)
            await self._ipv6(local6, peer6, link)
            if opts.default_route:
                route = await self.tun.add_default_route(opts.route_metric)
                if route is None:
                    self.rep.warn(f"a default route with metric {opts.route_metric} already exists; "
                                  f"not adding ours (use --route-metric N to add it beside)")
                else:
                    self.rep.step("route", f"default route via {opts.ifname} metric {route.metric}")
            if opts.usepeerdns or opts.dns:
                servers = choose_servers(dns if opts.usepeerdns else (), opts.dns)
                if servers:
                    self.dns_method = self.dns.apply(servers)
                    self.dns_servers = servers
                    self.rep.step("dns", f"DNS {' '.join(servers)} via {self.dns_method}")
                else:
                    self.rep.warn("the peer gave no DNS servers and no --dns was given")

    async def ipv6_up(self, event: Ipv6Up, link: PppLink | None) -> None:
        """IPv6CP opened after IPCP: add the link-local addresses."""
        async with self.lock:
            await self._ipv6(event.ipv6_local, event.ipv6_peer, link)

    async def _ipv6(self, local: str | None, peer: str | None, link: PppLink | None) -> None:
        if local is None or peer is None or self.tun is None or self.ipv6 is not None:
            return
        if link is None or not link.ipv6_enabled:
            return
        try:
            await self.tun.configure_ipv6(local, peer)
        except PpposError as exc:
            self._disable_ipv6(link, str(exc))  # IPv6 is optional: never take IPv4 down with it
            return
        assert self.tun.ipv6_local is not None and self.tun.ipv6_peer is not None
        self.ipv6 = (self.tun.ipv6_local, self.tun.ipv6_peer)
        self.rep.step("ipv6cp", f"IPv6CP: {self.ipv6[0]} peer {self.ipv6[1]}")

    def _disable_ipv6(self, link: PppLink, why: str) -> None:
        """Turn IPv6 off for this link with one warning; IPv4 stays up."""
        self.rep.warn(f"IPv6 disabled on this link: {why}; IPv4 continues")
        link.disable_ipv6(asyncio.get_running_loop().time(), "IPv6 unusable on this host")
        self.wake()

    async def unconfigure(self) -> None:
        """The link is down: our routes go, the resolver is restored, the carrier is down (ppp0 stays)."""
        async with self.lock:
            self.restore_dns()
            if self.tun is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self.tun.remove_routes(), 5.0)
                self.tun.set_carrier(False)

    def restore_dns(self) -> None:
        if self.dns is not None:
            try:
                self.dns.restore()
            except PpposError as exc:
                self.rep.warn(f"could not restore the resolver: {exc}")
        self.dns_servers, self.dns_method = [], None

    async def close(self) -> None:
        """Restore host state (every exit path; never raises)."""
        self.restore_dns()
        if self.tun is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.tun.remove_routes(), 5.0)
            self.tun.close()

    def write_status(self, state: dict[str, Any]) -> None:
        if self.status is None:
            return
        try:
            self.status.write(state)
        except PpposError as exc:
            self.rep.warn(str(exc))
            self.status = None

    def record_last_failure(self, last_failure: str | None) -> None:
        """Keep the failure reason for ``pppos-status`` after we are gone (removed by a clean run)."""
        from pppos.net.status import record_last_failure

        if self.status is not None:
            self.status.remove()
        record_last_failure(self.opts.ifname, self.opts.run_dir, last_failure)


class Modem:
    """Runs the sans-I/O cores on the data path (bring-up, PPP, hang-up, recovery rungs), dispatches
    their events by type and reports what matters to the supervisor through ``feed``."""

    def __init__(self, opts: UpOptions, rep: Reporter, io: DataPath, *, sup: ses.Supervisor, host: Host,
                 facts: Facts, feed: Callable[[ses.SessionEvent], None], spawn: Callable[[Any], None],
                 guard: Callable[[Callable[[], None]], None], done: Callable[[], bool],
                 on_modem_info: Callable[[ModemInfo], None], on_sim: Callable[[str], None]) -> None:
        self.opts, self.rep, self.io, self.sup, self.host, self.facts = opts, rep, io, sup, host, facts
        self.feed, self.spawn, self.guard, self.done = feed, spawn, guard, done
        self.on_modem_info, self.on_sim = on_modem_info, on_sim
        self.pcap_file: BinaryIO | None = None
        self.pcap: PcapWriter | None = None
        self.profile: ModemProfile = PROFILES.get(opts.profile or "", PROFILES["generic"])
        #: the bounded wait for the peer's Terminate-Ack (RFC 1661 section 5.5), or (``grace``) for the
        #: modem's NO CARRIER after the link ended itself
        self.terminate_at: float | None = None
        self.grace = False
        #: PPP bytes that came with CONNECT; IPCP's results for the interface
        self.trailing = b""
        self.link_up: LinkUp | None = None
        self.ipv6_up: Ipv6Up | None = None
        #: when the attempt started (bring-up, or PPP with --direct): the "up in N s" clock
        self.t0 = self.cpu0 = 0.0

    def open_pcap(self) -> None:
        """``--pcap FILE`` (mode 0600), kept open across sessions."""
        if self.opts.pcap:
            from pppos.ppp.capture import PcapWriter, open_pcap

            self.pcap_file = open_pcap(self.opts.pcap)
            self.pcap = PcapWriter(self.pcap_file, keep_secrets=self.opts.pcap_secrets)

    def close(self) -> None:
        if self.pcap_file is not None:
            with contextlib.suppress(OSError):
                self.pcap_file.close()

    def trace(self) -> Callable[[str], None] | None:
        return self.rep.trace if self.opts.trace else None

    def start_bringup(self, now: float) -> None:
        self.t0, self.cpu0 = now, time.process_time()
        self.start_core(Bringup(self.opts.bringup_config(), trace=self.trace()), now)

    def quiesce(self) -> None:
        self.terminate_at = None
        self.io.set_core(None)

    async def reset_command(self) -> None:
        event = await run_reset_command(self.opts.reset_command or (), self.rep)
        self.guard(lambda: self.feed(event))

    def expire(self, now: float) -> None:
        """The bounded Terminate wait is over: go on with the hang-up."""
        if self.terminate_at is not None and now >= self.terminate_at:
            if not self.grace:
                self.rep.warn("the peer did not acknowledge LCP Terminate in time; going on")
            self.after_terminate(now)

    def build_link(self, now: float, own_addresses: set[str | None]) -> PppLink:
        """A PPP link for one session. ``own_addresses``: ppp0's from the previous session (ours to reuse)."""
        from pppos.net.addresses import host_ipv4_addresses

        opts = self.opts
        values: dict[str, Any] = {
            "username": opts.user, "password": opts.password, "mru": opts.mtu, "request_dns": True,
            # A peer asking for 0.0.0.0 (slirp, some modems) gets this address instead of a reject.
            "peer_ip": opts.peer_ip, "ipv6": opts.ipv6,
            # The peer may give neither us nor itself an address this host already has, and a
            # loopback name server only when the user named one with --dns (IPCP checks).
            "host_addresses": host_ipv4_addresses() - own_addresses,
            "loopback_dns": any(ipaddress.ip_address(d).is_loopback for d in opts.dns),
        }
        if opts.lcp_echo is not None:
            values.update(echo_interval=opts.lcp_echo[0], echo_failures=opts.lcp_echo[1])
        else:
            values.update(echo_interval=0.0)
        capture: Callable[[float, bool, bytes], None] | None = None
        if self.pcap is not None:
            pcap, wall = self.pcap, time.time() - now

            def capture(t: float, outbound: bool, frame: bytes) -> None:
                pcap.write(t + wall, outbound, frame)

        return PppLink(_build(LinkConfig, values), trace=self.trace(), capture=capture)

    def start_core(self, core: Bringup | Hangup | RecoveryPlan, now: float) -> None:
        self.io.set_core(core)
        core.start(now)

    def start_ppp(self, now: float) -> None:
        if self.opts.direct:
            self.t0, self.cpu0 = now, time.process_time()
            self.rep.step("direct", f"{self.opts.port} is a PPP link (--direct): starting LCP")
        link = self.build_link(now, {self.host.local_ip, self.host.peer_ip})
        self.link_up = self.ipv6_up = None
        self.facts.echo_base = 0
        self.io.set_core(link)
        link.open(now)
        trailing, self.trailing = self.trailing, b""
        if trailing:
            self.io.counters["serial_in"] += len(trailing)
            link.receive_data(trailing, now)
        self.io.watch_carrier(now)

    def hang_up(self, terminate: bool, now: float) -> None:
        """LCP Terminate (bounded, if asked and the link runs), then the guarded +++/ATH (not --direct)."""
        io = self.io
        io.dcd_at = None
        io.set_up(False)
        link = io.link
        if terminate and link is not None and io.serial_reading and link.phase is not Phase.DEAD:
            self.rep.step("terminate", "sending LCP Terminate-Request")
            link.close(now, reason="pppos-up is stopping")
            self.terminate_at, self.grace = now + TERMINATE_WAIT, False
            return
        if link is not None and io.serial_reading and not self.opts.direct:
            # The link ended itself (the peer's Terminate-Request, echo failures): the modem usually
            # ends the call a moment later with NO CARRIER, which saves the guarded +++ (seconds).
            self.terminate_at, self.grace = now + CALL_END_GRACE, True
            return
        self.after_terminate(now)

    def after_terminate(self, now: float) -> None:
        io = self.io
        grace, self.grace = self.terminate_at is not None and self.grace, False
        self.terminate_at = None
        last = io.link.data_to_send() if io.link is not None else b""
        io.pending += last  # the link's last words (Terminate-Ack) go out first
        if self.opts.direct or not io.serial_reading:
            io.set_core(None)
            self.feed(ses.HangupDone())
            return
        # after the grace for the modem's NO CARRIER nothing was written for CALL_END_GRACE: that silence
        # counts toward the guard time before +++ (V.250 6.3.7)
        silent = CALL_END_GRACE if grace and not last and not io.pending else 0.0
        self.start_core(Hangup(self.profile, trace=self.trace(), silent_for=silent), now)

    def run_rung(self, rung: ses.Rung, now: float) -> None:
        if rung is ses.Rung.RESET_COMMAND:
            self.io.set_core(None)
            self.spawn(self.reset_command())
            return
        if rung not in profile_rungs(self.profile):
            self.feed(ses.RungFailed(f"the {self.profile.name} profile has no such step"))
            return
        self.start_core(RecoveryPlan(rung, self.profile, trace=self.trace()), now)

    def drain(self) -> None:
        """Dispatch the active core's events by type until it is quiet or replaced."""
        io = self.io
        core = io.core
        while core is not None and (event := core.next_event()) is not None:
            match event:
                case PacketReceived(packet=packet):
                    io.to_tun(packet)
                    continue
                case Progress(step=step, message=message):
                    self.rep.step(step, message)
                case SetBaud(rate=rate):
                    self.set_baud(rate)
                case SetDtr(level=level):
                    with contextlib.suppress(Exception):
                        if io.port is not None:
                            io.port.dtr = level
                case ModemInfo():
                    self.modem_info(event)
                case DataMode(trailing=trailing):
                    assert isinstance(core, Bringup)
                    self.trailing = bytes(trailing) + core.take_data()
                    while (rest := core.next_event()) is not None:  # the plan's ModemInfo and verdict
                        if isinstance(rest, ModemInfo):
                            self.modem_info(rest)
                    self.rep.step("connect", "the modem is in data mode: starting PPP")
                    self.feed(ses.DataMode())
                case Verdict():
                    self.verdict(core, event)
                case PinRefused(iccid=iccid):
                    remember_pin_refusal(self.opts.pin, iccid)
                case SimIdentified(iccid=iccid):
                    self.on_sim(iccid)  # the data cap of this SIM, checked before the dial
                case PhaseChanged(phase=phase):
                    if phase in (Phase.AUTHENTICATE, Phase.NETWORK) and self.sup.phase is ses.Phase.PPP:
                        self.rep.step("lcp", "LCP up")
                    if phase is Phase.DEAD and self.terminate_at is not None:
                        self.after_terminate(self.io.loop.time())
                case AuthResult(ok=ok, protocol=protocol, message=message):
                    if ok:
                        self.rep.step("auth", f"authenticated ({protocol})")
                    else:
                        self.facts.last_failure = f"authentication refused ({protocol}): {message}"
                case LinkUp():
                    self.link_up = event
                    self.feed(ses.LinkUp())
                case Ipv6Up():
                    self.ipv6_up = event
                    if self.sup.running:
                        self.spawn(self.host.ipv6_up(event, io.link))
                case LinkDown(cause=cause, reason=reason, protocol=protocol):
                    if self.terminate_at is None:  # not the end of our own Terminate
                        self.feed(ses.LinkDown(cause.name.lower(), reason, protocol))
                case EchoRtt(seconds=seconds):
                    self.facts.echo_rtt = seconds
                    if isinstance(core, PppLink):
                        self.facts.echo_base = core.stats.echo_requests
            if io.core is not core or self.done():
                return

    def verdict(self, core: Core, verdict: Verdict) -> None:
        self.io.set_core(None)
        if isinstance(core, Bringup):
            self.feed(ses.BringupFailed(verdict.exit_status, verdict.message))
        elif isinstance(core, Hangup):
            if verdict.ok:
                self.rep.step("hangup", "the modem hung up")
            else:
                self.rep.warn(verdict.message)
            self.feed(ses.HangupDone())
        elif verdict.ok:
            self.feed(ses.RungDone())
        else:
            self.feed(ses.RungFailed(verdict.message))

    def modem_info(self, info: ModemInfo) -> None:
        if info.profile and info.profile in PROFILES and PROFILES[info.profile] is not self.profile:
            self.profile = PROFILES[info.profile]
            self.sup.config = session_config(self.opts, self.profile)
        if info.signal_dbm is not None or info.signal != "unknown":
            self.facts.signal = {"dbm": info.signal_dbm, "word": info.signal, "rssi": info.rssi, "at": time.time(),
                                 "rsrp_dbm": info.rsrp_dbm, "rsrq_db": info.rsrq_db}
        if info.network_text:
            self.facts.network = {"text": info.network_text, "operator": info.operator, "mcc": info.mcc,
                                  "mnc": info.mnc, "technology": info.technology, "area": info.area, "cell": info.cell}
        self.on_modem_info(info)

    def set_baud(self, rate: int) -> None:
        assert self.io is not None and self.io.port is not None
        try:
            self.io.port.baudrate = rate
        except Exception as exc:
            raise ModemError(f"cannot switch {self.opts.port} to {rate} baud: {exc}") from None


async def run_reset_command(argv: tuple[str, ...], rep: Reporter) -> ses.RungDone | ses.RungFailed:
    """``--reset-command``: run ``argv`` without a shell, bounded by :data:`RESET_COMMAND_TIMEOUT`;
    its exit status is logged."""
    rep.step("recovery", f"running the reset command: {' '.join(argv)}")
    try:
        proc = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.DEVNULL,
                                                    stdout=asyncio.subprocess.DEVNULL,
                                                    stderr=asyncio.subprocess.DEVNULL)
    except OSError as exc:
        return ses.RungFailed(f"cannot run {argv[0] if argv else 'the reset command'}: {exc.strerror}")
    try:
        code = await asyncio.wait_for(proc.wait(), RESET_COMMAND_TIMEOUT)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return ses.RungFailed(f"the reset command ran over {RESET_COMMAND_TIMEOUT:g} s and was killed")
    except asyncio.CancelledError:  # pppos-up is stopping: leave no child behind
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        with contextlib.suppress(BaseException):
            await asyncio.shield(proc.wait())
        raise
    rep.step("recovery", f"the reset command exited with status {code}")
    return ses.RungDone() if code == 0 else ses.RungFailed(f"the reset command exited with status {code}")


@dataclasses.dataclass(slots=True)
class Facts:
    """What ``pppos-status`` shows beyond the supervisor's and the data path's own state."""

    started: float = dataclasses.field(default_factory=time.time)
    signal: dict[str, Any] | None = None
    #: where the modem is registered (operator, MCC/MNC, technology, LAC/TAC, cell), from ModemInfo
    network: dict[str, Any] | None = None
    echo_rtt: float | None = None
    #: the link's Echo-Request count at the last reply (consecutive failures = requests since - 1)
    echo_base: int = 0
    last_failure: str | None = None

    def snapshot(self, opts: UpOptions, sup: ses.Supervisor, io: DataPath, host: Host, now: float) -> dict[str, Any]:
        """The state file's content (see :mod:`pppos.net.status`)."""
        link = io.link
        wall = time.time()
        running = sup.up_since is not None and sup.running
        up_since = wall - (now - sup.up_since) if running and sup.up_since is not None else None
        echo_failures = bad = 0
        if link is not None:
            bad = link.stats.bad_frames
            echo_failures = max(0, link.stats.echo_requests - self.echo_base - 1)
            if link.stats.echo_rtt is not None:
                self.echo_rtt = link.stats.echo_rtt
        tun = host.tun
        return {
            "ifname": opts.ifname, "pid": os.getpid(), "phase": sup.phase.word,
            "supervisor": sup.describe(now), "port": opts.port, "backend": "python",
            "direct": opts.direct, "persist": opts.persist, "started": self.started,
            "up_since": up_since, "attempts": sup.stats.attempts, "reconnects": sup.stats.reconnects,
            "failures": sup.stats.failures, "recoveries": dict(sup.stats.rungs),
            "local_ip": host.local_ip, "peer_ip": host.peer_ip, "mtu": host.mtu,
            "ipv6_local": host.ipv6[0] if host.ipv6 else None, "ipv6_peer": host.ipv6[1] if host.ipv6 else None,
            "dns": host.dns_servers, "dns_method": host.dns_method,
            "routes": [r.as_dict() for r in (tun.added_routes if tun is not None else [])],
            "echo_rtt": self.echo_rtt, "echo_failures": echo_failures, "bad_frames": bad, "tasks": _task_count(),
            # live Python objects: a leak check for bench/soak_bench.py that, unlike RSS, allocator
            # fragmentation does not blur
            "py_blocks": sys.getallocatedblocks(),
            "signal": self.signal, "network": self.network,
            "last_failure": self.last_failure or sup.last_message, "updated": wall,
            "refresh_signal": "SIGUSR1", **io.counters,
        }


class Daemon:
    """Executes the supervisor's commands. ``await Daemon(options, reporter).run()`` returns the exit status."""

    def __init__(self, options: UpOptions, reporter: Reporter) -> None:
        self.opts = options
        self.rep = reporter
        self.sup = ses.Supervisor(session_config(options))
        # systemd, hooks, accounting, metrics; the data cap is the supervisor's to act on (CapReached)
        self.side = Sidecar(options, reporter, fatal_cap=False)
        self.host = Host(options, reporter, lambda: self._guard(lambda: None))
        self.loop: asyncio.AbstractEventLoop | None = None
        self.io: DataPath | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._status_due: float | None = None
        self._done: asyncio.Future[int] | None = None
        self._inbox: list[ses.SessionEvent] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._stops = 0
        self.modem: Modem | None = None
        self.facts = Facts()

    # ------------------------------------------------------------------ lifetime

    async def run(self) -> int:
        """Supervise sessions until told to stop or the supervisor gives up; return the exit status."""
        loop = self.loop = asyncio.get_running_loop()
        self._done = loop.create_future()
        self.io = DataPath(loop, self._guard, lambda why: self._feed(ses.PortLost(why)))
        self.modem = Modem(self.opts, self.rep, self.io, sup=self.sup, host=self.host, facts=self.facts,
                           feed=self._feed, spawn=self._spawn, guard=self._guard, done=self._done.done,
                           on_modem_info=lambda info: self.side.modem_info(info.iccid), on_sim=self._sim_identified)
        try:
            await self.host.prepare()
            self.io.tun_fd = self.host.tun.fd if self.host.tun is not None else -1
            self.modem.open_pcap()
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                loop.add_signal_handler(sig, self._on_signal, sig)
            loop.add_signal_handler(signal.SIGUSR1, self._guard, self._write_status)
            self.side.start(loop)
            self._guard(self._begin)
            status = await self._done
            if status not in (ExitStatus.SUCCESS, ExitStatus.INTERRUPTED) and self.sup.message:
                # One line on stderr from the CLI layer: "pppos-up: error: the link was lost: ..."
                raise PpposError(self.sup.message, exit_status=ExitStatus(status))
            return status
        finally:
            await self._shutdown()

    async def _shutdown(self) -> None:
        """Restore host state on every path; never raises. Signal handlers stay until it is done."""
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        if self._timer is not None:
            self._timer.cancel()
        if self.io is not None:
            if self.io.pending and self.io.fd >= 0:
                with contextlib.suppress(OSError):  # best effort: a last Terminate-Request or -Ack
                    os.write(self.io.fd, self.io.pending)
            self.io.set_tun_reading(False)
            self.io.detach()
        await self.host.close()
        await self.side.close()  # ip-down hooks (if the link was up), accounting, STOPPING=1
        if self.modem is not None:
            self.modem.close()
        self.host.record_last_failure(self.facts.last_failure)
        if self.loop is not None:
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1):
                with contextlib.suppress(Exception):
                    self.loop.remove_signal_handler(sig)

    # ------------------------------------------------------------------ supervisor

    def _feed(self, event: ses.SessionEvent) -> None:
        """Hand ``event`` to the supervisor and execute its commands (events they cause queue up)."""
        self._inbox.append(event)
        if len(self._inbox) > 1:
            return  # the outer call runs it
        while self._inbox:
            assert self.loop is not None
            self.sup.handle(self._inbox[0], self.loop.time())
            while (command := self.sup.next_command()) is not None:
                self._execute(command)
            del self._inbox[0]
        self._write_status()

    def _begin(self) -> None:
        """The data cap of the SIM last seen here is checked before the port is opened: used up, the
        supervisor exits 15 or holds (--persist) without touching the modem."""
        hold = self.side.precheck()
        if hold is not None:
            self._feed(_cap_reached(hold))
        if self.sup.phase is ses.Phase.IDLE:
            self._feed(ses.Start())

    def _sim_identified(self, iccid: str) -> None:
        """The bring-up read the SIM's ICCID: a used-up cap ends the attempt here, before the dial."""
        self.side.modem_info(iccid)
        hold = self.side.cap_hold
        if hold is not None and self.sup.cap is None:
            self._feed(_cap_reached(hold))

    def _execute(self, command: ses.Command) -> None:
        io, modem, now = self.io, self.modem, self._now()
        assert io is not None and modem is not None
        match command:
            case ses.OpenPort():
                self._open_port()
            case ses.ClosePort():
                modem.quiesce()
                io.detach()
            case ses.StartBringup():
                modem.start_bringup(now)
            case ses.StartPpp():
                modem.start_ppp(now)
            case ses.HangUp(terminate=terminate):
                modem.hang_up(terminate, now)
            case ses.Quiesce():
                modem.quiesce()
            case ses.RunRung(rung=rung):
                modem.run_rung(rung, now)
            case ses.ConfigureInterface():
                assert modem.link_up is not None
                self._spawn(self._configure(modem.link_up, modem.ipv6_up, io.link))
            case ses.UnconfigureInterface():
                io.set_up(False)
                self.side.link_down()
                self._spawn(self.host.unconfigure())
            case ses.ArmTimer():
                pass  # read in _rearm
            case ses.CheckCap():
                hold = self.side.check_cap()
                self._feed(ses.CapCleared() if hold is None else _cap_reached(hold))
            case ses.Report(step=step, line=line, warn=warn):
                if warn:
                    self.rep.warn(line)
                else:
                    self.rep.step(step, line)
            case ses.Exit(status=status, message=message):
                if message and status not in (ExitStatus.SUCCESS, ExitStatus.INTERRUPTED):
                    self.facts.last_failure = message
                if self._done is not None and not self._done.done():
                    self._done.set_result(int(status))

    # ------------------------------------------------------------------ commands

    def _open_port(self) -> None:
        from pppos.serial_port import open_port

        assert self.io is not None
        try:
            port = open_port(self.opts.port, self.opts.baud)
            self.io.attach(port)
        except PpposError as exc:
            self._feed(ses.PortFailed(exc.exit_status, str(exc)))
            return
        except (OSError, ValueError) as exc:
            self._feed(ses.PortFailed(ExitStatus.NO_MODEM, f"cannot use {self.opts.port}: {exc}"))
            return
        self._feed(ses.PortOpened())

    def _spawn(self, coro: Any) -> None:
        assert self.loop is not None
        task = self.loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _configure(self, event: LinkUp, ipv6: Ipv6Up | None, link: PppLink | None) -> None:
        try:
            await self.host.configure(event, ipv6, link)
        except PpposError as exc:
            failed = ses.InterfaceFailed(exc.exit_status, str(exc))
            self._guard(lambda: self._feed(failed))
            return
        self._guard(lambda: self._feed(ses.InterfaceConfigured()))
        if self.sup.running and self.io is not None and self.modem is not None:
            self.io.set_up(True)
            took, cpu = self._now() - self.modem.t0, time.process_time() - self.modem.cpu0
            self.rep.step("up", f"{self.opts.ifname} up in {took:.2f} s", seconds=round(took, 3),
                          cpu_seconds=round(cpu, 3))
            self.side.link_up(local=self.host.local_ip, remote=self.host.peer_ip, dns=self.host.dns_servers)
            self._guard(lambda: None)

    # ------------------------------------------------------------------ wake-ups

    def _now(self) -> float:
        assert self.loop is not None
        return self.loop.time()

    def _guard(self, fn: Callable[[], None]) -> None:
        """Run one wake-up: ``fn``, then events, transmit, re-arm. A bug ends the run with one line."""
        if self._done is None or self._done.done():
            return
        try:
            fn()
            assert self.modem is not None
            self.modem.drain()
            if self._done.done():
                return
            assert self.io is not None
            self.io.transmit()
            self._rearm()
        except PpposError as exc:
            self.facts.last_failure = str(exc)
            if not self._done.done():
                self._done.set_exception(exc)
        except Exception as exc:  # a bug: end the session, restore host state, report one line
            if not self._done.done():
                self._done.set_exception(exc)

    def _on_timer(self) -> None:
        self._timer = None
        armed, self._timer_at = self._timer_at, None
        now = max(self._now(), armed or 0.0)
        self._guard(lambda: self._expire(now))

    def _expire(self, now: float) -> None:
        io = self.io
        assert io is not None
        io.resume(now)
        core = io.core
        if core is not None:
            deadline = core.get_timer()
            if deadline is not None and deadline <= now:
                core.handle_timer(now)
        if (how := io.carrier_gone(now)) is not None:
            self._feed(ses.CarrierLost(how))
        assert self.modem is not None
        self.modem.expire(now)
        deadline = self.sup.get_timer()
        if deadline is not None and now >= deadline:
            self._feed(ses.Timer())
        if self._status_due is not None and now >= self._status_due:
            self._write_status()

    def _rearm(self) -> None:
        assert self.loop is not None and self.io is not None and self.modem is not None
        io = self.io
        core = io.core
        deadline = core.get_timer() if core is not None else None
        for other in (self.sup.get_timer(), io.resume_at, io.carrier_check_at, io.dcd_at,
                      self.modem.terminate_at, self._status_due):
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

    def _on_signal(self, sig: int) -> None:
        if self._done is None or self._done.done():
            return  # already restoring host state; it is quick and must not be interrupted
        self._stops += 1
        if self._stops > 1:
            self.rep.warn("second signal: exiting now (host state is still restored)")
        else:
            self.rep.step("stop", f"{signal.Signals(sig).name}: tearing the link down")
        self._guard(lambda: self._feed(ses.StopRequest(interrupt=sig == signal.SIGINT)))

    # ------------------------------------------------------------------ status

    def _write_status(self) -> None:
        if self.loop is None:
            return
        assert self.io is not None
        state = self.facts.snapshot(self.opts, self.sup, self.io, self.host, self._now())
        self.side.status(state)  # STATUS=, accounting (into the state), the data cap, the metrics file
        self.host.write_status(state)
        hold, phase = self.side.cap_hold, self.sup.phase
        if hold is not None and self.sup.cap is None and phase not in (ses.Phase.STOPPING, ses.Phase.STOPPED):
            self._feed(_cap_reached(hold))  # the supervisor ends the session and holds (or exits 15)
        elif hold is None and phase is ses.Phase.CAP_HOLD:
            self._feed(ses.CapCleared())  # the period rolled over (noticed at a SIGUSR1 refresh)
        self._status_due = self._now() + STATUS_INTERVAL if sup_running(self.sup) else None


def _cap_reached(hold: CapHold) -> ses.CapReached:
    return ses.CapReached(hold.used, hold.until_words, hold.left)


def _task_count() -> int | None:
    """The running loop's asyncio task count (a leak check for the soak test), None outside a loop."""
    try:
        return len(asyncio.all_tasks())
    except RuntimeError:
        return None


def sup_running(sup: ses.Supervisor) -> bool:
    """The state file is refreshed periodically only while the link runs (counters move)."""
    return sup.running


def run_daemon(options: UpOptions, reporter: Reporter | None = None) -> int:
    """Run the supervised session to its end and return the exit status (errors raise :class:`PpposError`)."""
    rep = reporter or Reporter(quiet=options.quiet, json_format=options.log_format == "json")
    return asyncio.run(Daemon(options, rep).run())
