"""End-to-end harness: servers on the host's loopback, pppos-up in a namespace, a pty bridge to slirp.

- :class:`HostServers`: an HTTP server and a TCP echo server on 127.0.0.1 (threads of the test
  process). Through slirp they are reached at ``10.0.2.2:PORT`` (slirp maps its 10.0.2.x alias
  addresses, except the DNS alias .3, to the host's loopback).
- :class:`UpProcess`: ``python -m pppos.cli.up`` started with ``ip netns exec`` in the test's
  namespace, with a private run directory and resolver file; waits for ``ppp0 up in N s``.
- :class:`PtyBridge`: a fresh pty whose slave path is handed to ``pppos-up --direct``, with a
  thread copying bytes between its master and a bare :class:`~pppos.sim.slirp.SlirpProcess`; it can
  pause (the peer goes silent) and cut the line (the modem vanishes).
"""

from __future__ import annotations

import contextlib
import http.server
import os
import select
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
import tty
from pathlib import Path
from typing import Any

from tests.netns import NetNs

BODY = b"hello from the host over ppp0\n"


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(65536):
            self.request.sendall(data)


class _EchoServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class HostServers:
    """HTTP and TCP echo servers on 127.0.0.1 (ephemeral ports) for the life of a ``with`` block."""

    def __enter__(self) -> HostServers:
        self.http = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.http.daemon_threads = True
        self.echo = _EchoServer(("127.0.0.1", 0), _Echo)
        self.http_port = self.http.server_address[1]
        self.echo_port = self.echo.server_address[1]
        self._threads = [threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
                         for s in (self.http, self.echo)]
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for s in (self.http, self.echo):
            s.shutdown()
            s.server_close()


def echo_roundtrip(ns: NetNs, host: str, port: int, size: int) -> bool:
    """A plain socket client created inside ``ns`` (this thread steps in with setns): send, read back."""
    payload = bytes(i % 251 for i in range(size))
    with ns.entered():
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with sock:
        sock.settimeout(30)
        sock.connect((host, port))
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        got = b""
        while chunk := sock.recv(65536):
            got += chunk
    return got == payload


class UpProcess:
    """``pppos-up`` running inside ``ns``; stderr goes to a file the test can read."""

    def __init__(self, ns: NetNs, tmp_path: Path, port: str, *args: str, resolv: Path | None = None) -> None:
        self.ns = ns
        self.run_dir = tmp_path / "run"
        self.resolv = resolv if resolv is not None else tmp_path / "resolv.conf"
        self.env = {**os.environ, "PPPOS_RUN_DIR": str(self.run_dir), "PPPOS_RESOLV_CONF": str(self.resolv)}
        # PIN refusals and per-SIM byte totals stay out of the host's /var/lib/pppos (benches too)
        self.env.setdefault("PPPOS_STATE_DIR", str(tmp_path / "state"))
        self.log_path = tmp_path / "pppos-up.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in close()
        self.proc = ns.popen([sys.executable, "-m", "pppos.cli.up", port, *args],
                             stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT, env=self.env)

    @property
    def log(self) -> str:
        """Everything pppos-up printed so far."""
        return self.log_path.read_text(errors="replace")

    def wait_up(self, timeout: float = 90.0) -> str:
        """Wait for the ``<ifname> up in N s`` line; fail with the log if the daemon exits first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log
            if " up in " in text:
                return text
            if self.proc.poll() is not None:
                raise AssertionError(f"pppos-up exited with {self.proc.returncode}:\n{text}")
            time.sleep(0.1)
        raise AssertionError(f"pppos-up did not come up in {timeout} s:\n{self.log}")

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the daemon."""
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 30.0) -> int:
        """Wait for the daemon to exit and return its status."""
        return self.proc.wait(timeout=timeout)

    def run_cli(self, module: str, *args: str) -> subprocess.CompletedProcess[str]:
        """Run ``python -m pppos.cli.<module> ARGS`` in the same namespace and environment."""
        return self.ns.run([sys.executable, "-m", f"pppos.cli.{module}", *args], env=self.env)

    def close(self) -> None:
        """Stop the daemon if it still runs (SIGTERM, then SIGKILL)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


class PtyBridge:
    """A pty for ``pppos-up --direct`` bridged to a bare slirp (see the module docstring)."""

    def __init__(self) -> None:
        from pppos.sim.slirp import SlirpProcess

        self.slirp = SlirpProcess()
        self.master, slave = os.openpty()
        tty.setraw(self.master)
        tty.setraw(slave)
        self.path = os.ttyname(slave)
        self._slave = slave  # kept open so the pty exists before pppos-up opens it
        os.set_blocking(self.master, False)
        self.paused = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        a, b = self.master, self.slirp.fd
        while not self._stop.is_set():
            ready, _, _ = select.select([a, b], [], [], 0.1)
            if self.paused.is_set():
                # The peer is silent: drain and drop what the daemon sends, forward nothing.
                with contextlib.suppress(OSError):
                    if a in ready:
                        os.read(a, 65536)
                continue
            for src, dst in ((a, b), (b, a)):
                if src in ready:
                    try:
                        data = os.read(src, 65536)
                    except BlockingIOError:
                        continue
                    except OSError:
                        return
                    if not data:
                        return
                    self._write_all(dst, data)

    def _write_all(self, fd: int, data: bytes) -> None:
        view = memoryview(data)
        while view and not self._stop.is_set():
            try:
                n = os.write(fd, view)
            except BlockingIOError:
                select.select([], [fd], [], 0.1)
                continue
            except OSError:
                return
            view = view[n:]

    def cut(self) -> None:
        """The modem vanishes: stop bridging and close the pty master (the daemon sees EIO/EOF)."""
        self._stop.set()
        self._thread.join(timeout=5)
        for fd in (self.master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.master = self._slave = -1

    def close(self) -> None:
        """Stop the bridge, close the pty and stop slirp."""
        self.cut()
        self.slirp.close()


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    """Poll ``predicate()`` every 0.1 s until true; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def tcp_reachable(host: str, port: int) -> bool:
    """True when a TCP connection to (host, port) succeeds within 2 s (host side helper)."""
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False
