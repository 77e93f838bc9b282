"""A rig for fault tests and the recovery bench: ``pppos-sim`` on the host (faults through
``pppos-sim ctl``), ``pppos-up --persist`` in a namespace, and a TCP echo round trip through ppp0 to the
host's 127.0.0.1 (reached as 10.0.2.2 through slirp) as the proof that ppp0 is usable.

Used by tests/e2e/test_faults.py and bench/recovery_bench.py. Every process it starts it stops; the
simulator can be killed and restarted on the same link path (the modem-reboot / USB-unplug case).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from pppos.net.status import read_status
from pppos.sim.faults import parse_fault, send_fault
from tests.e2e.harness import UpProcess, wait_for
from tests.netns import NetNs

#: The mixed-fault soak's mix, (weight, fault words): tests/e2e/test_faults.py's CI soak and
#: bench/soak_bench.py. "kill-slirp" is done by :meth:`FaultRig.kill_slirp`; a "pdp-reject" arms the
#: rejection and then drops the carrier, so the redial meets it.
SOAK_MIX: tuple[tuple[int, tuple[str, ...]], ...] = (
    (4, ("carrier",)),
    (2, ("terminate",)),
    (2, ("kill-slirp",)),
    (1, ("vanish", "0.3")),
    (1, ("reg-lost", "0.3")),
    (1, ("pdp-reject", "1")),
)

#: A payload that crosses ppp0 both ways (the echo server sends it back).
PROBE = bytes(i % 251 for i in range(1000))


def round_trip(ns: NetNs, port: int, timeout: float = 3.0, host: str = "10.0.2.2") -> bool:
    """One TCP connection from inside ``ns`` to the host's echo server through ppp0: send, read back.
    False (never an exception) when it fails or takes longer than ``timeout``."""
    try:
        with ns.entered():
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        with sock:
            sock.settimeout(timeout)
            sock.connect((host, port))
            sock.sendall(PROBE)
            sock.shutdown(socket.SHUT_WR)
            got = b""
            while chunk := sock.recv(65536):
                got += chunk
        return got == PROBE
    except OSError:
        return False


class FaultRig:
    """The simulator, pppos-up --persist and the echo server's port; see the module docstring.

    :param sim_args: extra ``pppos-sim`` arguments (default ``--fast``: shortened latencies).
    :param up_args: extra ``pppos-up`` arguments after ``--apn internet --persist --default-route``.
    """

    def __init__(self, ns: NetNs, tmp_path: Path, echo_port: int, *, sim_args: tuple[str, ...] = ("--fast",),
                 up_args: tuple[str, ...] = (), link: Path | None = None, start_up: bool = True) -> None:
        self.ns = ns
        self.tmp = tmp_path
        self.echo_port = echo_port
        self.link = link or tmp_path / "modem"
        self.sim_args = sim_args
        self.sim_log = tmp_path / "sim.log"
        self.sim: subprocess.Popen[bytes] | None = None
        self.start_sim()
        self.up: UpProcess | None = None
        if start_up:
            self.up = UpProcess(ns, tmp_path, str(self.link), "--apn", "internet", "--persist", "--default-route",
                                "--log-format", "json", *up_args)

    # -- the simulator --------------------------------------------------------------------------

    def start_sim(self) -> None:
        """Start ``pppos-sim`` on :attr:`link` (again, after :meth:`kill_sim`) and wait for its line."""
        log = open(self.sim_log, "ab")  # noqa: SIM115 - handed to the child, closed below
        try:
            self.sim = subprocess.Popen(
                [sys.executable, "-m", "pppos.cli.sim", "--profile", "a7", "--link", str(self.link),
                 "--seed", "1", "-v", *self.sim_args],
                stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
        finally:
            log.close()
        assert self.sim.stdout is not None
        line = self.sim.stdout.readline()
        if str(self.link).encode() not in line:
            raise AssertionError(f"pppos-sim did not start: {line!r} {self.sim_log.read_text()[-2000:]}")

    def kill_sim(self, sig: int = signal.SIGKILL) -> None:
        """End the simulator with ``sig`` (SIGKILL: the USB-unplug case, nothing cleaned up) and reap it."""
        if self.sim is not None and self.sim.poll() is None:
            self.sim.send_signal(sig)
            try:
                self.sim.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.sim.kill()
                self.sim.wait()
        if self.sim is not None and self.sim.stdout is not None:
            self.sim.stdout.close()

    def slirp_pids(self) -> list[int]:
        """The simulator's slirp processes (its children)."""
        if self.sim is None:
            return []
        with contextlib.suppress(OSError), open(f"/proc/{self.sim.pid}/task/{self.sim.pid}/children",
                                                encoding="ascii") as fh:
            return [int(x) for x in fh.read().split()]
        return []

    def kill_slirp(self) -> int:
        """SIGKILL the current slirp (the network side dies mid-call); return its pid."""
        deadline = time.monotonic() + 10
        while not (pids := self.slirp_pids()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pids, "no slirp is running"
        os.kill(pids[0], signal.SIGKILL)
        return pids[0]

    def fault(self, *words: str) -> float:
        """Inject a fault over the control socket (what ``pppos-sim ctl`` does, without a process start);
        return the wall-clock time just before it was sent."""
        fault = parse_fault(list(words))
        t = time.time()
        send_fault(self.link, fault)
        return t

    # -- the daemon -------------------------------------------------------------------------------

    @property
    def state_file(self) -> Path:
        assert self.up is not None
        return self.up.run_dir / "ppp0.json"

    def state(self) -> dict[str, Any]:
        """The daemon's state file ({} while there is none)."""
        return read_status(self.state_file) or {}

    def records(self) -> list[dict[str, Any]]:
        """The daemon's JSON log records so far."""
        assert self.up is not None
        out = []
        for line in self.up.log.splitlines():
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if isinstance(record, dict):
                    out.append(record)
        return out

    def usable(self, timeout: float = 60.0) -> float:
        """Wait until a TCP round trip through ppp0 succeeds; return the wall time it did. Fails with
        the daemon's log when the daemon exits or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.up is not None and self.up.proc.poll() is not None:
                raise AssertionError(f"pppos-up exited with {self.up.proc.returncode}:\n{self.up.log[-4000:]}")
            if self.state().get("phase") == "running" and round_trip(self.ns, self.echo_port, timeout=2.0):
                return time.time()
            time.sleep(0.05)
        raise AssertionError(f"ppp0 not usable within {timeout} s:\n{self.up.log[-4000:] if self.up else ''}\n"
                             f"simulator:\n{self.sim_log.read_text()[-2000:]}")

    def wait_phase(self, *phases: str, timeout: float = 30.0) -> str:
        """Wait until the state file shows one of ``phases``; return it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            phase = self.state().get("phase")
            if phase in phases:
                return str(phase)
            if self.up is not None and self.up.proc.poll() is not None:
                raise AssertionError(f"pppos-up exited with {self.up.proc.returncode}:\n{self.up.log[-4000:]}")
            time.sleep(0.02)
        log = self.up.log[-3000:] if self.up else ""
        raise AssertionError(f"phase never became {phases}; state {self.state()}\n{log}")

    def settled(self) -> None:
        """Wait for two more rewrites of the state file (about a second each while running), so that
        the session's start-up work is over and counts such as the task count are the steady ones."""
        for _ in range(2):
            last = self.state().get("updated")
            wait_for(lambda last=last: self.state().get("updated") != last, 10, "a state file rewrite")

    def first_record_after(self, t: float, predicate: Any) -> dict[str, Any] | None:
        """The first log record at or after wall time ``t`` for which ``predicate(record)`` holds."""
        for record in self.records():
            if record.get("ts", 0) >= t and predicate(record):
                return record
        return None

    def fd_count(self) -> int:
        assert self.up is not None
        return len(os.listdir(f"/proc/{self.up.proc.pid}/fd"))

    def children(self) -> list[int]:
        assert self.up is not None
        pid = self.up.proc.pid
        with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as fh:
            return [int(x) for x in fh.read().split()]
        return []

    def close(self) -> int | None:
        """Stop the daemon (SIGTERM) and the simulator; return the daemon's exit status."""
        status = None
        if self.up is not None:
            self.up.close()
            status = self.up.proc.returncode
        self.kill_sim(signal.SIGTERM)
        return status
