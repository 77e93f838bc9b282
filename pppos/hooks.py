"""ip-up / ip-down hooks, run the way pppd runs ``/etc/ppp/ip-up`` and Debian's ``ip-up.d`` (pppd(8)
"SCRIPTS"): when the link's IP layer comes up, and when it goes down.

What runs, in this order: the executable files of ``/etc/pppos/ip-up.d/`` (``$PPPOS_HOOK_DIR`` for
``/etc/pppos``) in name order (byte order, as run-parts(8) with ``LC_ALL=C``; names made only of
letters, digits, ``_`` and ``-``, as run-parts accepts, so ``x.dpkg-old`` or ``README~`` never run),
then the ``--ip-up CMD`` command (split like a shell would, but run without one). ip-down likewise.

Each hook gets pppd's six arguments (interface, tty device, speed, local address, remote address,
ipparam = the peer name) and pppd's environment: ``IFNAME``, ``IPLOCAL``, ``IPREMOTE``, ``DNS1``,
``DNS2``, ``DEVICE``, ``SPEED``, ``LINKNAME``, plus Debian's ``PPP_IFACE`` ``PPP_TTY`` ``PPP_SPEED``
``PPP_LOCAL`` ``PPP_REMOTE`` ``PPP_IPPARAM``, and ``PPPOS_PID`` (pppd's ``PPPD_PID``) and
``PPPOS_SESSION`` (how many times the link has come up in this run, 1 first). ``PATH`` is a fixed
system path; nothing else of pppos-up's environment (which may hold ``PPPOS_PIN``) is passed on.

A hook that fails, cannot start or outlives :data:`HOOK_TIMEOUT` (it is killed, with its process
group) is logged in one line and never stops or delays the link: hooks run in the background, one
after the other, ip-down only after the ip-up before it has finished.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shlex
import signal
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DEFAULT_HOOK_DIR", "HOOK_TIMEOUT", "HookFacts", "HookResult", "HookRunner", "hook_commands"]

DEFAULT_HOOK_DIR = "/etc/pppos"
#: Seconds a hook may run before it is killed (pppd waits for ip-up without a limit; a hung hook must
#: not pile up across reconnects here).
HOOK_TIMEOUT = 30.0
#: How many of the latest hook results a runner keeps (a service reconnecting for months must not
#: accumulate one record per hook run).
HOOK_RESULTS_KEPT = 32
_RUN_PARTS_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True, slots=True)
class HookFacts:
    """What a hook is told about the link."""

    ifname: str
    device: str
    speed: int
    local: str
    remote: str
    dns: tuple[str, ...] = ()
    linkname: str = ""
    session: int = 1
    pid: int = 0

    def argv(self) -> list[str]:
        """pppd's six arguments: interface, tty, speed, local, remote, ipparam."""
        return [self.ifname, self.device, str(self.speed), self.local, self.remote, self.linkname]

    def environ(self) -> dict[str, str]:
        """pppd's variables (and Debian's ``PPP_*``), ``PPPOS_PID``, ``PPPOS_SESSION``, a fixed ``PATH``."""
        env = {
            "PATH": _PATH,
            "IFNAME": self.ifname,
            "IPLOCAL": self.local,
            "IPREMOTE": self.remote,
            "DEVICE": self.device,
            "SPEED": str(self.speed),
            "LINKNAME": self.linkname,
            "PPPOS_PID": str(self.pid or os.getpid()),
            "PPPOS_SESSION": str(self.session),
            "PPP_IFACE": self.ifname,
            "PPP_TTY": self.device,
            "PPP_SPEED": str(self.speed),
            "PPP_LOCAL": self.local,
            "PPP_REMOTE": self.remote,
            "PPP_IPPARAM": self.linkname,
        }
        if self.dns:  # pppd sets DNS1/DNS2 only with usepeerdns and when the peer gave them
            env["DNS1"] = self.dns[0]
        if len(self.dns) > 1:
            env["DNS2"] = self.dns[1]
        return env


@dataclass(frozen=True, slots=True)
class HookResult:
    """How one hook ended: ``status`` is its exit status, None when it did not start or was killed."""

    kind: str
    name: str
    status: int | None
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.status == 0


def hook_dir(override: str | None = None) -> Path:
    """``/etc/pppos`` (``$PPPOS_HOOK_DIR``), the parent of ``ip-up.d`` and ``ip-down.d``."""
    return Path(override or os.environ.get("PPPOS_HOOK_DIR") or DEFAULT_HOOK_DIR)


def hook_commands(kind: str, command: str | None, directory: str | None = None) -> list[list[str]]:
    """The argv of every hook of ``kind`` (``ip-up``/``ip-down``), in the order they run."""
    out: list[list[str]] = []
    d = hook_dir(directory) / f"{kind}.d"
    try:
        entries = sorted(os.listdir(d), key=os.fsencode)
    except OSError:
        entries = []
    for name in entries:
        path = d / name
        if _RUN_PARTS_NAME.match(name) and path.is_file() and os.access(path, os.X_OK):
            out.append([str(path)])
    if command:
        out.append(shlex.split(command))
    return out


def _one_line(data: bytes) -> str:
    text = data.decode("utf-8", "replace").strip().splitlines()
    last = text[-1] if text else ""
    return "".join(c if c.isprintable() else "?" for c in last)[:200]


class HookRunner:
    """Runs hooks in the background on the daemon's loop, one after the other; never raises.

    :param log: one line per hook that failed, was killed or could not start (and one per success at
        the ``info`` level): ``log(level, message)``.
    """

    def __init__(self, *, ip_up: str | None = None, ip_down: str | None = None, directory: str | None = None,
                 timeout: float = HOOK_TIMEOUT, log: Callable[[str, str], None] | None = None) -> None:
        self.commands = {"ip-up": ip_up, "ip-down": ip_down}
        self.directory = directory
        self.timeout = timeout
        self.log = log or (lambda level, message: None)
        #: The latest :data:`HOOK_RESULTS_KEPT` results, oldest first.
        self.results: deque[HookResult] = deque(maxlen=HOOK_RESULTS_KEPT)
        self._chain: asyncio.Task[None] | None = None
        self._running: tuple[str, int] | None = None  # (kind, pid) of the hook running now

    def fire(self, kind: str, facts: HookFacts) -> None:
        """Queue the ``kind`` hooks with ``facts`` (returns at once; they run after those queued before)."""
        commands = hook_commands(kind, self.commands.get(kind), self.directory)
        if not commands:
            return
        previous = self._chain
        self._chain = asyncio.get_running_loop().create_task(self._run_after(previous, kind, commands, facts))

    async def _run_after(self, previous: asyncio.Task[None] | None, kind: str, commands: Sequence[list[str]],
                         facts: HookFacts) -> None:
        if previous is not None:
            with contextlib.suppress(BaseException):
                await previous
        for argv in commands:
            result = await self._run(kind, argv, facts)
            self.results.append(result)

    async def _run(self, kind: str, argv: list[str], facts: HookFacts) -> HookResult:
        name = os.path.basename(argv[0]) if argv else "?"
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, *facts.argv(), env=facts.environ(), stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, start_new_session=True,
                cwd="/",
            )
        except OSError as exc:
            self.log("warning", f"{kind} hook {name} could not start: {exc.strerror or exc}")
            return HookResult(kind, name, None, "could not start")
        self._running = (kind, proc.pid)
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), self.timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(Exception):
                await proc.wait()
            self.log("warning", f"{kind} hook {name} did not finish within {self.timeout:g} s: killed")
            return HookResult(kind, name, None, "killed")
        except asyncio.CancelledError:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(Exception):
                await asyncio.shield(proc.wait())
            raise
        finally:
            self._running = None
        status = proc.returncode if proc.returncode is not None else -1
        if status < 0:
            self.log("warning", f"{kind} hook {name} was killed (signal {-status})")
            return HookResult(kind, name, None, "killed")
        if status == 0:
            self.log("info", f"{kind} hook {name} ran")
        else:
            last = _one_line(out or b"")
            self.log("warning", f"{kind} hook {name} exited with status {status}" + (f": {last}" if last else ""))
        return HookResult(kind, name, status)

    def kill_running(self, kind: str) -> None:
        """Kill the ``kind`` hook running now, if any (at exit: a hung ip-up must not hold up ip-down)."""
        running = self._running
        if running is not None and running[0] == kind:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(running[1], signal.SIGKILL)

    async def drain(self, timeout: float | None = None) -> None:
        """Wait for the queued hooks (at exit, so ip-down runs); gives up after ``timeout`` seconds."""
        chain = self._chain
        if chain is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(chain), timeout if timeout is not None else self.timeout + 1)
        except (TimeoutError, asyncio.CancelledError):
            chain.cancel()
            with contextlib.suppress(BaseException):
                await chain
