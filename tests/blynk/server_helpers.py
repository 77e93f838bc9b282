"""Run our :class:`blynk_client.server.BlynkServer` in-process on 127.0.0.1 with ephemeral ports.

Two ways:

- in an ``async`` test: ``async with BlynkServer(tokens=[...]) as server:`` (plain asyncio);
- from synchronous code (blocking third-party clients, the client's blocking facade):
  ``with running_server(tokens=[...], tls=files) as srv:`` runs the server on its own event loop
  in a background thread and returns a :class:`ServerHandle` with ``host``, ``port``,
  ``http_port``, ``stored()``, ``push_write()``, ``wait_for()`` and ``http_get()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import threading
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from blynk_client.server import BlynkServer, ServerLimits
from tests.blynk.tls_helpers import TlsFiles

T = TypeVar("T")


@dataclass
class ServerHandle:
    """A server running on a background event loop; every method is safe to call from the test thread."""

    server: BlynkServer
    loop: asyncio.AbstractEventLoop
    host: str
    port: int
    http_port: int | None
    tls: TlsFiles | None

    def call(self, factory: Callable[[], Coroutine[Any, Any, T]], timeout: float = 10.0) -> T:
        """Run ``factory()`` on the server's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(factory(), self.loop).result(timeout)

    def stored(self, token: str, pin: str | int) -> tuple[str, ...] | None:
        """The values stored for ``pin`` (read on the server's loop)."""

        async def get() -> tuple[str, ...] | None:
            return self.server.stored(token, pin)

        return self.call(get)

    def push_write(self, token: str, pin: str | int, *values: object) -> int:
        """Store and push a write to the device(s) of ``token``; the number of connections written."""
        return self.call(lambda: self.server.push_write(token, pin, *values))

    def wait_for(self, predicate: Callable[[BlynkServer], object], timeout: float = 10.0) -> None:
        """Block until ``predicate(server)`` holds (checked on the server's loop after each change)."""
        self.call(lambda: self.server.wait_for(lambda: predicate(self.server), timeout), timeout + 2.0)

    def is_connected(self, token: str) -> bool:
        """True when a device with ``token`` is logged in."""

        async def get() -> bool:
            return self.server.is_connected(token)

        return self.call(get)

    def http_get(self, path: str, timeout: float = 10.0) -> tuple[int, bytes]:
        """GET ``path`` (e.g. ``/external/api/get?token=T&V1``) from the HTTP API: (status, body)."""
        assert self.http_port is not None, "the server runs without an HTTP API"
        conn = http.client.HTTPConnection(self.host, self.http_port, timeout=timeout)
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()


@contextlib.contextmanager
def running_server(
    *,
    tokens: Iterable[str] = (),
    redirects: Mapping[str, tuple[str, int]] | None = None,
    tls: TlsFiles | None = None,
    http: bool = True,
    heartbeat: float = 10.0,
    login_timeout: float = 10.0,
    limits: ServerLimits | None = None,
) -> Iterator[ServerHandle]:
    """Start a server on 127.0.0.1 (ephemeral ports) in a thread; stop it on exit."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    server = BlynkServer(
        tokens=tokens,
        redirects=redirects,
        host="127.0.0.1",
        port=0,
        http_port=0 if http else None,
        ssl_context=tls.server_context() if tls is not None else None,
        heartbeat=heartbeat,
        login_timeout=login_timeout,
        limits=limits,
    )
    thread = threading.Thread(target=_run_loop, args=(loop, started), name="blynk-test-server", daemon=True)
    thread.start()
    started.wait(10.0)
    try:
        asyncio.run_coroutine_threadsafe(server.start(), loop).result(10.0)
        yield ServerHandle(server, loop, "127.0.0.1", server.port, server.http_port, tls)
    finally:
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10.0)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10.0)
        loop.close()


def _run_loop(loop: asyncio.AbstractEventLoop, started: threading.Event) -> None:
    asyncio.set_event_loop(loop)
    loop.call_soon(started.set)
    loop.run_forever()
