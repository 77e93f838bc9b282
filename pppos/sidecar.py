"""What ``pppos-up`` does around the link for a service: systemd readiness and status, ip-up/ip-down
hooks, data accounting with its cap, and the metrics file.

The daemon (:mod:`pppos.daemon`) tells a :class:`Sidecar` what happens, in a few calls:
:meth:`~Sidecar.start` (the loop runs), :meth:`~Sidecar.modem_info` (the bring-up learnt the SIM),
:meth:`~Sidecar.link_up` / :meth:`~Sidecar.link_down` (the interface is configured / unconfigured),
:meth:`~Sidecar.status` (each state-file write) and :meth:`~Sidecar.close` (at exit). The data cap:
:meth:`~Sidecar.precheck` (before the modem is touched: the SIM last seen on this interface),
:attr:`~Sidecar.cap_hold` (after each check) and :meth:`~Sidecar.check_cap`; with ``fatal_cap`` (the
pppd backend) a used-up cap also sets :attr:`~Sidecar.fatal`. The accounting's clock is
:func:`pppos.accounting.wall_clock`. Everything here
runs on the daemon's loop without blocking it: hooks are subprocesses awaited in the background,
notifications are one datagram, accounting writes a small file at most every minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from typing import Any

from pppos.accounting import Accountant, AccountingStore, CapHold, clock_shift, sim_label, wall_clock, write_metrics
from pppos.config import UpOptions
from pppos.errors import ExitStatus
from pppos.hooks import HookFacts, HookRunner
from pppos.systemd import Notifier

__all__ = ["CLOSE_WAIT", "Sidecar"]

#: Seconds pppos-up waits at exit for the ip-down hooks (systemd's stop timeout is 30 s).
CLOSE_WAIT = 10.0
#: The metrics file is rewritten at most this often (and at every phase change, and at exit).
METRICS_INTERVAL = 1.0


class Sidecar:
    """systemd notifications, hooks, accounting and metrics for one ``pppos-up`` run."""

    def __init__(self, opts: UpOptions, log: Any, *, fatal_cap: bool = True) -> None:
        self.opts = opts
        self.log = log  # the Reporter
        self.notifier = Notifier()
        self.hooks = HookRunner(ip_up=opts.ip_up, ip_down=opts.ip_down, log=self._hook_log)
        self.accountant: Accountant | None = None
        self.store = AccountingStore()
        self._store_warned = False
        self._metrics_due = 0.0
        self._metrics_phase: object = None
        self._last_state: dict[str, Any] | None = None
        self.sessions = 0
        self.up_facts: HookFacts | None = None
        #: (exit status, message) when the sidecar wants the run to end (the data cap)
        self.fatal: tuple[ExitStatus, str] | None = None
        self.fatal_cap = fatal_cap
        #: the data cap of this period is used up (as of the last check), None while it is not
        self.cap_hold: CapHold | None = None
        self._hold_words = ""
        self._counters = (0, 0)
        self._watchdog: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- lifetime

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Begin the watchdog pings (when ``WatchdogSec=`` is set) and say what is going on."""
        self._loop = loop
        self.notifier.status("starting")
        if self.notifier.watchdog is not None:
            self._ping()

    def _ping(self) -> None:
        self.notifier.ping()
        if self._loop is not None and self.notifier.watchdog is not None:
            self._watchdog = self._loop.call_later(self.notifier.watchdog, self._ping)

    async def close(self, wall: float | None = None) -> None:
        """At exit: ip-down if the link was up, wait for the hooks, write the accounting, stop pinging."""
        self.notifier.stopping()
        self.hooks.kill_running("ip-up")  # the link is going: a hung ip-up must not hold up ip-down
        if self.up_facts is not None:
            self.link_down()
        with contextlib.suppress(Exception):
            await self.hooks.drain(timeout=CLOSE_WAIT)
        if self.accountant is not None:
            self._save(wall_clock() if wall is None else wall, force=True)
        if self.opts.metrics_file and self._last_state is not None:  # the link is gone: pppos_up 0
            write_metrics(self.opts.metrics_file, {**self._last_state, "phase": "stopped", "local_ip": None},
                          wall_clock() if wall is None else wall)
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None

    # -- events

    def precheck(self) -> CapHold | None:
        """Before the modem is touched: the cap of the SIM last seen on this interface, if used up
        (None: not, no cap, or no SIM known yet). Loads that SIM's totals (the bring-up confirms it)."""
        if self.opts.data_cap is None:
            return None
        iccid = self.store.last_sim(self.opts.ifname)
        if iccid is None:
            return None
        if self.accountant is None:
            self.accountant, warning = self.store.open(iccid, self.opts.data_cap)
            if warning is not None:
                self.log.warn(f"accounting: {warning}")
        return self.check_cap()

    def check_cap(self) -> CapHold | None:
        """Check the cap now (:attr:`cap_hold`, also returned)."""
        self._check_cap(wall_clock())
        return self.cap_hold

    def modem_info(self, iccid: str) -> None:
        """The bring-up read the SIM's ICCID: remember the SIM for this interface, load its totals and
        check its cap (:attr:`cap_hold`; with ``fatal_cap`` a used-up cap sets :attr:`fatal`)."""
        if not iccid and self.opts.data_cap is None:
            return
        self.store.remember_sim(self.opts.ifname, iccid)
        if self.accountant is None or self.accountant.iccid != iccid:
            if self.accountant is not None:
                self._save(wall_clock(), force=True)
            self.accountant, warning = self.store.open(iccid, self.opts.data_cap)
            if warning is not None:
                self.log.warn(f"accounting: {warning}")
            self.log.step("accounting", f"counting this SIM's traffic (SIM {sim_label(iccid)})"
                          + (f", cap {self.opts.data_cap.describe()}" if self.opts.data_cap else ""))
            self.accountant.new_session(*self._counters)  # the daemon's counters run across sessions
        self._check_cap(wall_clock())

    def link_up(self, *, local: str | None, remote: str | None, dns: list[str]) -> None:
        """The interface is configured: READY=1, the ip-up hooks, a new accounting session."""
        self.sessions += 1
        self.up_facts = HookFacts(
            ifname=self.opts.ifname, device=self.opts.port, speed=self.opts.baud, local=local or "",
            remote=remote or "", dns=tuple(dns), linkname=self.opts.call or "", session=self.sessions,
            pid=os.getpid(),
        )
        self.notifier.ready(f"{self.opts.ifname} up: {local} peer {remote}")
        self._fire("ip-up", self.up_facts)

    def link_down(self) -> None:
        """The interface lost its addresses (or the run ends): the ip-down hooks."""
        facts, self.up_facts = self.up_facts, None
        if facts is not None:
            self._fire("ip-down", facts)

    def status(self, state: dict[str, Any]) -> None:
        """Each state-file write: STATUS= in words, accounting (into ``state``), the cap, the metrics file."""
        wall = float(state.get("updated") or time.time()) + clock_shift()
        words = str(state.get("supervisor") or state.get("phase") or "")
        if state.get("phase") == "running" and state.get("local_ip"):
            words = f"{self.opts.ifname} up: {state['local_ip']} peer {state.get('peer_ip')}; {words}"
        if state.get("phase") == "cap-hold" and words != self._hold_words:
            # holding is where --persist means to be until the period rolls over: the service is up
            # (a `systemctl start` must not block for a month), its Status says why ppp0 is not
            self._hold_words = words
            self.notifier.ready(words)
        else:
            self.notifier.status(words)
        acc = self.accountant
        self._counters = (int(state.get("bytes_in") or 0), int(state.get("bytes_out") or 0))
        if acc is not None:
            acc.update(*self._counters, wall)
            self._save(wall)
            state["accounting"] = acc.summary(wall)
            self._check_cap(wall)
        self._last_state = state
        phase = state.get("phase")
        if self.opts.metrics_file and (wall >= self._metrics_due or phase != self._metrics_phase):
            self._metrics_due, self._metrics_phase = wall + METRICS_INTERVAL, phase
            write_metrics(self.opts.metrics_file, state, wall)

    # -- helpers

    def _save(self, wall: float, *, force: bool = False) -> None:
        """Store the SIM's totals when due; a failing store is said once (the totals stay in memory)."""
        if self.accountant is None:
            return
        written, warning = self.store.save(self.accountant, wall, force=force)
        if warning is not None and not self._store_warned:
            self._store_warned = True
            self.log.warn(f"accounting: {warning}")
        elif written:
            self._store_warned = False

    def _check_cap(self, wall: float) -> None:
        if self.accountant is None or self.fatal is not None:
            return
        verdict, words = self.accountant.cap_state(wall)
        self.cap_hold = self.accountant.cap_hold(wall)
        if verdict == "warn":
            self.log.warn(f"{words}: the link stops at 100 %")
        elif verdict == "over" and self.fatal_cap and self.cap_hold is not None:
            self.fatal = (ExitStatus.DATA_CAP, self.cap_hold.exit_line)

    def _fire(self, kind: str, facts: HookFacts) -> None:
        with contextlib.suppress(RuntimeError):  # no running loop (not from the daemon): best effort
            self.hooks.fire(kind, facts)

    def _hook_log(self, level: str, message: str) -> None:
        if level == "info":
            self.log.step("hook", message)
        else:
            self.log.warn(message)
