"""Throwaway network namespaces for the daemon's tests (root only).

``netns`` (pytest fixture) / :func:`make_netns` (context manager) create a fresh namespace named
``pppos-<random>`` with only ``lo`` (up), and delete it afterwards, after killing every process still
running inside it (all of them were started by the test). Nothing touches the host's interfaces,
routes or resolver: programs run inside with ``ns.popen([...])`` / ``ns.run([...])`` (``ip netns exec``),
and the test process itself can step in for a moment with ``with ns.entered(): ...`` (``setns(2)`` on
this thread), e.g. to create a TUN device with :class:`pppos.net.tun.TunDevice`.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from tests.helpers import need_root, need_tool

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


class NetNs:
    """A network namespace this test made; see the module docstring."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._procs: list[subprocess.Popen[Any]] = []

    def argv(self, argv: Sequence[str]) -> list[str]:
        """``argv`` wrapped in ``ip netns exec NAME``."""
        return ["ip", "netns", "exec", self.name, *argv]

    def run(self, argv: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[Any]:
        """Run ``argv`` inside the namespace and wait (``timeout`` defaults to 60 s)."""
        kwargs.setdefault("timeout", 60)
        kwargs.setdefault("capture_output", True)
        kwargs.setdefault("text", True)
        return subprocess.run(self.argv(argv), **kwargs)

    def ip(self, *args: str) -> str:
        """``ip ARGS`` inside the namespace; returns stdout, fails the test on error."""
        proc = subprocess.run(["ip", "-n", self.name, *args], capture_output=True, text=True, timeout=30)
        assert proc.returncode == 0, f"ip {' '.join(args)}: {proc.stderr}"
        return proc.stdout

    def popen(self, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
        """Start ``argv`` inside the namespace; it is killed at teardown if still running."""
        proc = subprocess.Popen(self.argv(argv), **kwargs)
        self._procs.append(proc)
        return proc

    @contextlib.contextmanager
    def entered(self) -> Iterator[None]:
        """Run the ``with`` body (this thread) inside the namespace."""
        home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        target = os.open(f"/run/netns/{self.name}", os.O_RDONLY)
        try:
            _setns(target)
            try:
                yield
            finally:
                _setns(home)
        finally:
            os.close(home)
            os.close(target)

    def pids(self) -> list[int]:
        """Processes running inside the namespace."""
        proc = subprocess.run(["ip", "netns", "pids", self.name], capture_output=True, text=True, timeout=30)
        return [int(p) for p in proc.stdout.split()]

    def destroy(self) -> None:
        """Stop what runs inside (all started by this test), then delete the namespace."""
        for proc in self._procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=5)
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while self.pids() and time.monotonic() < deadline:
            time.sleep(0.05)
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True, timeout=30)


@contextlib.contextmanager
def make_netns(prefix: str = "pppos") -> Iterator[NetNs]:
    """A fresh namespace with ``lo`` up, deleted on exit (needs root and ``ip``)."""
    need_root()
    need_tool("ip")
    name = f"{prefix}-{secrets.token_hex(4)}"
    created = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True, timeout=30)
    assert created.returncode == 0, f"ip netns add {name}: {created.stderr}"
    ns = NetNs(name)
    try:
        ns.ip("link", "set", "lo", "up")
        yield ns
    finally:
        ns.destroy()


@pytest.fixture
def netns() -> Iterator[NetNs]:
    """A throwaway network namespace (see :class:`NetNs`)."""
    with make_netns() as ns:
        yield ns
