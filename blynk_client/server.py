"""A local Blynk server: the device protocol (plain or TLS) and a blynk.cloud-style HTTP API subset.

It runs the sans-I/O core of :mod:`blynk_client.protocol` in the server role, one
:class:`~blynk_client.protocol.BlynkConnection` per TCP connection, driven by an
:class:`asyncio.Protocol` (receive -> process events -> transmit -> re-arm the one timer, the aioquic
driver pattern). Behaviour follows the legacy Java server and the Blynk 2.0 docs as summarised in
``blynk-protocol.md`` section 3 ("Session behaviour", "Legacy server: other facts", "Blynk 2.0
HTTPS device API"):

- login with HW_LOGIN 29 or the legacy LOGIN 2: a known token gets 200, a token mapped to another
  server gets REDIRECT ``host\\0port``, anything else gets 9 (INVALID_TOKEN) and the socket closes;
- device ``vw`` writes are stored per token and pin; HARDWARE_SYNC is answered with one HARDWARE
  ``vw`` per stored pin, reusing the request's id; PROPERTY and EVENT_LOG are stored and answered
  with 200; PING and the info message are answered with 200 by the core;
- :meth:`BlynkServer.push_write` (and the HTTP ``update``) store a value and push it to every
  logged-in connection of that token;
- malformed input gets the protocol's status codes or a closed connection and one log line (never
  a traceback); limits per connection: the receive limit (``buffer_in``), the bytes queued for a
  device that does not read (``max_pending``), the login timeout and the 2.3 x heartbeat idle rule;
- limits per device (:class:`ServerLimits`): value bytes per pin, properties (count and bytes),
  events (count, code and description size); a message over a limit is answered with status 1
  (``QUOTA_LIMIT``) and not stored;
- connection caps that idle sockets cannot use to lock devices out: a connection that has not
  logged in counts against its source address (``max_prelogin_per_address``) and, when a cap is
  reached, the oldest such connection (of that address, or of any when the server is full) is
  closed to make room; logged-in devices are never evicted. The HTTP API does the same with its
  connections that wait for a request.

HTTP API (GET, on its own port; paths as blynk.cloud's ``/external/api/``)::

    update?token=T&V1=42            (also pin=V1&value=42; repeat a key for a multi-value pin)
    batch/update?token=T&V1=1&V2=2
    get?token=T&V1                  -> the plain value (several pins -> a JSON object)
    isHardwareConnected?token=T     -> true / false
    logEvent?token=T&code=C[&description=D]
    update/property?token=T&pin=V1&label=Text

Errors are HTTP 400 with ``{"error":{"message":"Invalid token."}}`` (or another message). The HTTP
parser is a minimal hand-written HTTP/1.1 reader over asyncio streams with limits on the request
line, header size, body size and idle time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import ssl
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from urllib.parse import parse_qsl, unquote, urlsplit

from blynk_client import _events as ev
from blynk_client._dataclass import dataclass, field
from blynk_client._server_role import (
    EventLogged,
    EventResolved,
    InfoReceived,
    LoginRequested,
    PropertySet,
    ServerConnection,
    SyncRequested,
    VirtualWrites,
)
from blynk_client._wire import Status, decode_values, format_value, parse_pin
from blynk_client.errors import LocalProtocolError, UsageError, redact_token

__all__ = ["BlynkServer", "DeviceRecord", "LoggedEvent", "ServerLimits", "ServerStats", "load_tokens"]

log = logging.getLogger("blynk_client.server")

#: The HTTP API's path prefix, as on blynk.cloud.
API_PREFIX = "/external/api/"
#: The largest heartbeat or login timeout (seconds) the server accepts as an option.
MAX_SECONDS = 3600.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerLimits:
    """Per-connection and per-server limits.

    :param buffer_in: the largest message body we accept from a device (bytes).
    :param max_pending: bytes queued for a device that does not read before we drop it.
    :param max_connections: device connections served at once (more are closed at once).
    :param http_max_line: the longest HTTP request line or header line.
    :param http_max_headers: the total size of an HTTP request's headers.
    :param http_max_body: the largest HTTP request body read (and ignored) before 413.
    :param http_idle_timeout: seconds an HTTP connection may stay silent.
    :param http_max_connections: HTTP connections served at once.
    :param max_prelogin_per_address: device connections from one address that have not logged in;
        one more closes that address's oldest.
    :param http_max_per_address: HTTP connections from one address; one more closes its oldest idle one.
    :param max_value_bytes: the bytes of one pin's value(s) (Blynk 2.0: 1024 for a string).
    :param max_properties: properties stored per device (pin and name pairs).
    :param max_property_bytes: bytes of property names and values stored per device.
    :param max_events: logged events kept per token (oldest dropped).
    :param max_event_code: characters of an event code.
    :param max_event_description: characters of an event description (Blynk 2.0 docs: 300).
    """

    buffer_in: int = 8192
    max_pending: int = 256 * 1024
    max_connections: int = 512
    http_max_line: int = 8192
    http_max_headers: int = 16384
    http_max_body: int = 65536
    http_idle_timeout: float = 15.0
    http_max_connections: int = 128
    max_prelogin_per_address: int = 8
    http_max_per_address: int = 16
    max_value_bytes: int = 1024
    max_properties: int = 256
    max_property_bytes: int = 64 * 1024
    max_events: int = 1000
    max_event_code: int = 64
    max_event_description: int = 300


@dataclass(frozen=True, slots=True, kw_only=True)
class LoggedEvent:
    """One EVENT_LOG (or HTTP ``logEvent``) kept by the server."""

    code: str
    description: str | None


@dataclass(slots=True)
class DeviceRecord:
    """What the server keeps per token: pin values, properties, events, device info.

    ``pins`` holds a pin's values as a tuple, or as the raw bytes a device wrote (the core's receive
    fast path hands them over undecoded, see :class:`~blynk_client._server_role.VirtualWrites`);
    :meth:`values` reads either.
    """

    pins: dict[int, bytes | tuple[str, ...]] = field(default_factory=dict)
    properties: dict[tuple[int, str], tuple[str, ...]] = field(default_factory=dict)
    events: deque[LoggedEvent] = field(default_factory=deque)
    resolved: list[tuple[str, bool]] = field(default_factory=list)
    info: dict[str, str] = field(default_factory=dict)
    #: Bytes of property names and values in :attr:`properties` (bounded by ``max_property_bytes``).
    property_bytes: int = 0

    def set_property(self, pin: int, name: str, values: tuple[str, ...], limits: ServerLimits) -> bool:
        """Store one property unless it would exceed the device's limits (then ``False``)."""
        key = (pin, name)
        size = _size(name, values)
        old = self.properties.get(key)
        grown = self.property_bytes + size - (_size(name, old) if old is not None else 0)
        if (old is None and len(self.properties) >= limits.max_properties) or grown > limits.max_property_bytes:
            return False
        self.properties[key] = values
        self.property_bytes = grown
        return True

    def values(self, pin: int) -> tuple[str, ...] | None:
        """The values stored on ``pin`` (decoded once, on first read), or ``None``."""
        stored = self.pins.get(pin)
        if stored is None or isinstance(stored, tuple):
            return stored
        values = decode_values(stored)
        self.pins[pin] = values
        return values


@dataclass(slots=True)
class ServerStats:
    """Counters of one server (for tests and the benchmark)."""

    connections: int = 0
    logins: int = 0
    rejected_logins: int = 0
    redirects: int = 0
    violations: int = 0
    refused_connections: int = 0
    slow_readers_dropped: int = 0
    writes_in: int = 0
    pushes: int = 0
    http_requests: int = 0
    http_errors: int = 0
    internal_errors: int = 0
    malformed: int = 0  #: messages answered with a status (bad body) and logged
    over_limit: int = 0  #: writes, properties or events refused with QUOTA_LIMIT
    evicted: int = 0  #: connections closed to make room (not logged in / idle HTTP)


def _size(name: str, values: tuple[str, ...]) -> int:
    return len(name.encode()) + sum(len(v.encode()) for v in values)


def load_tokens(path: str) -> list[str]:
    """Read tokens from a file, one per line (blank lines and ``#`` comments skipped).

    Refuses a file that others can read (mode bits 0o077), as pppd does for its secrets. Raises
    :class:`UsageError` with a one-line message (never a token) when the file is unusable.
    """
    try:
        mode = os.stat(path).st_mode
        if mode & 0o077:
            raise UsageError(
                f"the token file {path} is readable by others (mode {mode & 0o777:o}); run: chmod 600 {path}"
            )
        with open(path, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise UsageError(f"cannot read the token file {path}: {reason}") from None
    tokens = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not tokens:
        raise UsageError(f"the token file {path} holds no token")
    for token in tokens:
        _check_token(token, f"a token in {path}")
    return tokens


def check_seconds(what: str, value: float) -> None:
    """Refuse a duration option that is not a finite number of seconds in ``(0, 3600]`` (``nan`` too)."""
    if not (isinstance(value, int | float) and math.isfinite(value) and 0 < value <= MAX_SECONDS):
        raise UsageError(f"{what} must be a number of seconds in (0, {MAX_SECONDS:g}], not {value!r}")


def load_tls_context(cert: str, key: str) -> ssl.SSLContext:
    """A server TLS context (TLS 1.2 or newer, as blynk.cloud) from PEM files; errors name the file."""
    for what, path in (("certificate", cert), ("key", key)):
        try:
            with open(path, "rb"):
                pass
        except OSError as exc:
            raise UsageError(f"cannot read the TLS {what} file {path}: {exc.strerror or exc}") from None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2  # blynk.cloud refuses TLS 1.0/1.1 (notes section 4)
    try:
        ctx.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise UsageError(f"cannot load the TLS certificate {cert} with the key {key}: {exc}") from None
    return ctx


def _check_token(token: str, where: str) -> None:
    if "\0" in token or any(c.isspace() for c in token) or len(token) > 256:
        raise UsageError(f"{where} is not a valid token (no spaces or NUL, at most 256 characters)")


class _DeviceSession(asyncio.Protocol):
    """The asyncio driver of one device connection (thin: all protocol logic is in the core)."""

    def __init__(self, server: BlynkServer) -> None:
        self.server = server
        self.loop = asyncio.get_running_loop()
        self.conn = ServerConnection(
            heartbeat=server.heartbeat,
            login_timeout=server.login_timeout,
            buffer_in=server.limits.buffer_in,
        )
        self.transport: asyncio.Transport | None = None
        self.token: str | None = None
        self.peer = "?"
        self.address = "?"
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None

    # -- asyncio.Protocol ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        self.address = str(peer[0]) if isinstance(peer, tuple) else self.peer
        server = self.server
        server.stats.connections += 1
        if not server._admit(self):
            server.stats.refused_connections += 1
            log.warning("refusing a device connection from %s: %d devices logged in", self.peer, len(server._sessions))
            transport.abort()
            return
        self.conn.start(self.loop.time())
        self._rearm()

    def evict(self) -> None:
        """Close this (not logged-in) connection to make room for a new one."""
        log.info("closing %s: not logged in, and its room is needed", self.peer)
        self.conn.close()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.transport is not None:
            self.transport.abort()

    def data_received(self, data: bytes) -> None:
        try:
            self.conn.receive_data(data, self.loop.time())
            self._pump()
        except Exception:
            self._internal_error()

    def eof_received(self) -> bool:
        self._guarded(lambda: self.conn.receive_data(b"", self.loop.time()))
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.server._detach(self)

    # -- driving the core ------------------------------------------------------------------------

    def _guarded(self, step: Callable[[], None]) -> None:
        """Run one step then pump; a bug in our code drops this connection, never the server."""
        try:
            step()
            self._pump()
        except Exception:
            self._internal_error()

    def _internal_error(self) -> None:
        """A bug of ours, not the peer's: one error line (the traceback at debug level), then close."""
        self.server.stats.internal_errors += 1
        log.error("internal error on the connection from %s; closing it", self.peer)
        log.debug("internal error details", exc_info=True)
        if self.transport is not None:
            self.transport.abort()

    def _pump(self) -> None:
        conn, server = self.conn, self.server
        try:
            while (event := conn.next_event()) is not None:
                try:
                    server._on_event(self, event)
                except LocalProtocolError as exc:  # an answer the session no longer takes (it closed)
                    log.debug("no answer to %s from %s: %s", type(event).__name__, self.peer, exc)
        finally:
            server._notify_writes()  # once per received chunk, not once per write in it
        self._transmit()
        if conn.closed:
            if self.transport is not None and not self.transport.is_closing():
                self.transport.close()  # flushes what was queued (a status, a redirect)
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            return
        self._rearm()

    def _transmit(self) -> None:
        data = self.conn.data_to_send()
        if not data or self.transport is None or self.transport.is_closing():
            return
        self.transport.write(data)
        if self.transport.get_write_buffer_size() > self.server.limits.max_pending:
            self.server.stats.slow_readers_dropped += 1
            log.warning("dropping %s: more than %d bytes queued and unread", self.peer, self.server.limits.max_pending)
            self.conn.close()
            self.transport.abort()

    def _rearm(self) -> None:
        deadline = self.conn.get_timer()
        if deadline == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = deadline
        self._timer = None if deadline is None else self.loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        deadline = self._timer_at
        self._timer = self._timer_at = None
        now = self.loop.time()
        self._guarded(lambda: self.conn.handle_timer(max(now, deadline or now)))

    def push(self, pin: int, values: tuple[str, ...]) -> None:
        """Send a server-initiated write to this device (the caller checked the size)."""
        self.conn.virtual_write(pin, *values, now=self.loop.time())
        self._transmit()
        self._rearm()


class BlynkServer:
    """The local Blynk server (device protocol + optional HTTP API), usable in-process by tests.

    :param tokens: the auth tokens this server accepts.
    :param redirects: token -> (host, port): answer that token's login with REDIRECT.
    :param host: the address to listen on (``127.0.0.1`` by default).
    :param port: the device-protocol port (0 = an ephemeral port; see :attr:`port`).
    :param http_port: the HTTP API port (0 = ephemeral, ``None`` = no HTTP API).
    :param ssl_context: a server-side TLS context for the device port (``None`` = plain TCP).
    :param heartbeat: the idle unit before a device's info names its own ``h-beat`` (the idle
        rule is then ``ceil(2.3 * h-beat)``, see :mod:`blynk_client._server_role`).
    :param login_timeout: seconds a new connection has to log in (short: a device sends its
        login right after connecting, and an idle socket should not hold room for long).
    """

    def __init__(
        self,
        *,
        tokens: Iterable[str] = (),
        redirects: Mapping[str, tuple[str, int]] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        http_port: int | None = 0,
        ssl_context: ssl.SSLContext | None = None,
        heartbeat: float = 10.0,
        login_timeout: float = 5.0,
        limits: ServerLimits | None = None,
    ) -> None:
        check_seconds("the heartbeat", heartbeat)
        check_seconds("the login timeout", login_timeout)
        self.host = host
        self._want_port = port
        self._want_http_port = http_port
        self.ssl_context = ssl_context
        self.heartbeat = heartbeat
        self.login_timeout = login_timeout
        self.limits = limits or ServerLimits()
        self.stats = ServerStats()
        self._records: dict[str, DeviceRecord] = {}
        for token in tokens:
            _check_token(token, "a token")
            self._records[token] = DeviceRecord()
        self.redirects: dict[str, tuple[str, int]] = dict(redirects or {})
        self._sessions: set[_DeviceSession] = set()
        #: Connections not logged in yet, oldest first, and the same per source address.
        self._prelogin: dict[_DeviceSession, None] = {}
        self._prelogin_by_address: dict[str, dict[_DeviceSession, None]] = {}
        self._by_token: dict[str, set[_DeviceSession]] = {}
        self._server: asyncio.Server | None = None
        self._http_server: asyncio.Server | None = None
        self._http_tasks: set[asyncio.Task[None]] = set()
        #: HTTP connections waiting for a request (evictable), oldest first, and per address.
        self._http_idle: dict[asyncio.StreamWriter, str] = {}
        self._http_by_address: dict[str, dict[asyncio.StreamWriter, None]] = {}
        self._waiters: set[asyncio.Future[None]] = set()
        self._writes_pending = False  # device writes stored since the last wake-up of the waiters
        self.port = 0
        self.http_port: int | None = None

    def __repr__(self) -> str:
        return f"<BlynkServer {self.host}:{self.port} http={self.http_port} tokens={len(self._records)}>"

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen on the device port (and the HTTP port); :attr:`port`/:attr:`http_port` are then set."""
        loop = asyncio.get_running_loop()
        try:
            self._server = await loop.create_server(
                lambda: _DeviceSession(self),
                self.host,
                self._want_port,
                ssl=self.ssl_context,
                ssl_handshake_timeout=self.login_timeout if self.ssl_context is not None else None,
                reuse_address=True,
            )
            self.port = self._server.sockets[0].getsockname()[1]
            if self._want_http_port is not None:
                self._http_server = await asyncio.start_server(
                    self._http_client,
                    self.host,
                    self._want_http_port,
                    limit=self.limits.http_max_line,
                    reuse_address=True,
                )
                self.http_port = self._http_server.sockets[0].getsockname()[1]
        except OSError as exc:
            await self.stop()
            raise UsageError(f"cannot listen on {self.host}: {exc.strerror or exc}") from None
        log.info("listening on %s:%d%s", self.host, self.port, " (TLS)" if self.ssl_context else "")

    async def stop(self) -> None:
        """Stop listening and close every connection."""
        for srv in (self._server, self._http_server):
            if srv is not None:
                srv.close()
        for session in list(self._sessions):
            if session.transport is not None:
                session.transport.abort()
        for task in list(self._http_tasks):
            task.cancel()
        for srv in (self._server, self._http_server):
            if srv is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(srv.wait_closed(), 5.0)
        if self._http_tasks:
            await asyncio.gather(*self._http_tasks, return_exceptions=True)
        self._server = self._http_server = None

    async def __aenter__(self) -> BlynkServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- in-process API --------------------------------------------------------------------------

    def add_token(self, token: str) -> None:
        """Accept one more token."""
        _check_token(token, "a token")
        self._records.setdefault(token, DeviceRecord())

    def record(self, token: str) -> DeviceRecord:
        """The stored state of ``token`` (``KeyError`` for an unknown token)."""
        return self._records[token]

    def stored(self, token: str, pin: str | int) -> tuple[str, ...] | None:
        """The values last written to ``pin`` of ``token`` (by the device or the API), or ``None``."""
        record = self._records.get(token)
        if record is None:
            return None
        return record.values(parse_pin(pin))

    def is_connected(self, token: str) -> bool:
        """True when a device with ``token`` is logged in."""
        return bool(self._by_token.get(token))

    async def push_write(self, token: str, pin: str | int, *values: object) -> int:
        """Store ``values`` on ``pin`` and push them to every logged-in device of ``token``.

        Returns the number of connections written to. Raises :class:`UsageError` for an unknown
        token, a bad pin, or values longer than a connected device's receive limit.
        """
        if token not in self._records:
            raise UsageError(f"unknown token {redact_token(token)}")
        try:
            number = parse_pin(pin)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        texts = tuple(format_value(v) for v in values)
        return self._store_and_push(token, number, texts)

    async def wait_for(self, predicate: Callable[[], object], timeout: float = 5.0) -> None:
        """Wait until ``predicate()`` is true (re-checked after every change), or TimeoutError."""
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(timeout):
            while not predicate():
                waiter: asyncio.Future[None] = loop.create_future()
                self._waiters.add(waiter)
                try:
                    await waiter
                finally:
                    self._waiters.discard(waiter)

    # -- internals -------------------------------------------------------------------------------

    def _notify(self) -> None:
        """Wake every :meth:`wait_for` (free when nobody waits)."""
        if self._waiters:
            for waiter in self._waiters:
                if not waiter.done():
                    waiter.set_result(None)

    def _notify_writes(self) -> None:
        """Wake the waiters once for all the device writes of one received chunk."""
        if self._writes_pending:
            self._writes_pending = False
            self._notify()

    def _store_and_push(self, token: str, pin: int, values: tuple[str, ...]) -> int:
        body = len("\0".join(("vw", str(pin), *values)).encode("utf-8"))
        sessions = list(self._by_token.get(token, ()))
        for session in sessions:
            if body > session.conn.peer_buffer_in:
                raise UsageError(f"the value is {body} bytes; the device accepts at most {session.conn.peer_buffer_in}")
        self._records[token].pins[pin] = values
        delivered = 0
        for session in sessions:
            try:
                session.push(pin, values)
                delivered += 1
            except LocalProtocolError as exc:  # the session ended meanwhile
                log.debug("push to %s skipped: %s", session.peer, exc)
        self.stats.pushes += delivered
        self._notify()
        return delivered

    def _admit(self, session: _DeviceSession) -> bool:
        """Make room for a new connection (evicting not-logged-in ones) or refuse it."""
        limits = self.limits
        mine = self._prelogin_by_address.setdefault(session.address, {})
        if len(mine) >= limits.max_prelogin_per_address:
            self._evict(next(iter(mine)))
        if len(self._sessions) >= limits.max_connections:
            if not self._prelogin:
                return False
            self._evict(next(iter(self._prelogin)))
        self._sessions.add(session)
        self._prelogin[session] = None
        self._prelogin_by_address.setdefault(session.address, {})[session] = None
        return True

    def _evict(self, session: _DeviceSession) -> None:
        self.stats.evicted += 1
        self._logged_in(session)
        self._sessions.discard(session)
        session.evict()

    def _logged_in(self, session: _DeviceSession) -> None:
        """``session`` no longer counts as a not-logged-in connection."""
        self._prelogin.pop(session, None)
        mine = self._prelogin_by_address.get(session.address)
        if mine is not None:
            mine.pop(session, None)
            if not mine:
                del self._prelogin_by_address[session.address]

    def _detach(self, session: _DeviceSession) -> None:
        self._logged_in(session)
        self._sessions.discard(session)
        if session.token is not None:
            group = self._by_token.get(session.token)
            if group is not None:
                group.discard(session)
                if not group:
                    del self._by_token[session.token]
            log.info("device %s from %s disconnected", redact_token(session.token), session.peer)
            session.token = None
            self._notify()

    def _on_event(self, session: _DeviceSession, event: ev.Event) -> None:
        """Server logic for one core event (token check, storage, sync replies)."""
        token = session.token
        record = self._records.get(token) if token is not None else None
        conn = session.conn
        now = session.loop.time()
        match event:
            case VirtualWrites(writes=writes):
                if record is not None:
                    pins = record.pins
                    largest = self.limits.max_value_bytes
                    for pin, raw, mid in writes:
                        if len(raw) > largest:
                            self._over_limit(session, mid, f"a V{pin} value of {len(raw)} bytes")
                        else:
                            pins[pin] = raw
                    self.stats.writes_in += len(writes)
                    self._writes_pending = True
            case ev.VirtualWrite(pin=pin, values=values, msg_id=msg_id):
                if record is not None:
                    size = _size("", values) + max(0, len(values) - 1)
                    if size > self.limits.max_value_bytes:
                        self._over_limit(session, msg_id, f"a V{pin} value of {size} bytes")
                    else:
                        record.pins[pin] = values
                    self.stats.writes_in += 1
                    self._writes_pending = True
            case LoginRequested():
                self._login(session, event, now)
            case SyncRequested(pins=wanted, msg_id=msg_id):
                if record is not None:
                    for pin in wanted or tuple(sorted(record.pins)):
                        stored = record.values(pin)
                        if stored is not None:
                            try:
                                conn.sync_reply(msg_id, pin, *stored, now=now)
                            except LocalProtocolError as exc:  # a stored value too long for this device
                                log.debug("sync of V%d to %s skipped: %s", pin, session.peer, exc)
            case PropertySet(pin=pin, name=name, values=values, msg_id=msg_id):
                if record is not None and not record.set_property(pin, name, values, self.limits):
                    self._over_limit(session, msg_id, f"property {name[:32]!r} of V{pin}")
                    return
                conn.respond(msg_id, Status.OK, now=now)
                self._notify()
            case EventLogged(code=code, description=description, msg_id=msg_id):
                limits = self.limits
                if len(code) > limits.max_event_code or len(description or "") > limits.max_event_description:
                    self._over_limit(session, msg_id, f"event {code[:32]!r}")
                    return
                if record is not None:
                    self._log_event(record, code, description)
                conn.respond(msg_id, Status.OK, now=now)
            case EventResolved(code=code, all_events=all_events):
                if record is not None and len(code) <= self.limits.max_event_code:
                    record.resolved.append((code, all_events))
                    del record.resolved[: -self.limits.max_events]
                    self._notify()
            case InfoReceived():
                if record is not None:
                    record.info = event.as_dict()
                    self._notify()
            case ev.Internal():
                self._internal(session, event, now)
            case ev.Malformed(reason=reason, status=status):
                self.stats.malformed += 1
                log.info("malformed message from %s (answered %s): %s", session.peer, status, reason)
            case ev.ProtocolViolation(reason=reason):
                self.stats.violations += 1
                log.info("closing %s: %s", session.peer, reason)
            case ev.HeartbeatTimeout() | ev.LoginTimeout():
                log.info("closing %s: %s", session.peer, type(event).__name__)
            case ev.ConnectionClosed(trailing=trailing) if trailing:
                self.stats.violations += 1
                log.info("%s closed the connection inside a message (%d bytes left unread)", session.peer, trailing)
            case _:
                pass

    def _over_limit(self, session: _DeviceSession, msg_id: int, what: str) -> None:
        """Refuse one message over a per-device limit: QUOTA_LIMIT and one log line."""
        self.stats.over_limit += 1
        log.info("refusing %s from %s: over the device's limit (answered QUOTA_LIMIT)", what, session.peer)
        if not session.conn.closed:
            session.conn.respond(msg_id, Status.QUOTA_LIMIT, now=session.loop.time())

    def _login(self, session: _DeviceSession, event: LoginRequested, now: float) -> None:
        conn = session.conn
        token = event.token
        if token in self._records:
            self._logged_in(session)
            conn.accept_login(now)
            session.token = token
            self._by_token.setdefault(token, set()).add(session)
            self.stats.logins += 1
            log.info(
                "device %s logged in from %s%s", redact_token(token), session.peer, " (legacy)" if event.legacy else ""
            )
            self._notify()
        elif token in self.redirects:
            host, port = self.redirects[token]
            conn.redirect(host, port, now=now)
            self.stats.redirects += 1
            log.info("redirecting %s from %s to %s:%d", redact_token(token), session.peer, host, port)
        else:
            conn.reject_login(Status.INVALID_TOKEN, now=now)
            self.stats.rejected_logins += 1
            log.info("invalid token %s from %s", redact_token(token), session.peer)

    def _internal(self, session: _DeviceSession, event: ev.Internal, now: float) -> None:
        """Answer ``rtc sync`` (legacy time); other internals are ignored, as the legacy server does."""
        if event.args[:2] == ("rtc", "sync"):
            session.conn.internal("rtc", int(time.time()), now=now)

    def _log_event(self, record: DeviceRecord, code: str, description: str | None) -> None:
        record.events.append(LoggedEvent(code=code, description=description))
        while len(record.events) > self.limits.max_events:
            record.events.popleft()
        self._notify()

    # -- HTTP API --------------------------------------------------------------------------------

    async def _http_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        peer = writer.get_extra_info("peername")
        address = str(peer[0]) if isinstance(peer, tuple) else str(peer)
        limits = self.limits
        mine = self._http_by_address.setdefault(address, {})
        if len(mine) >= limits.http_max_per_address:
            self._http_evict([w for w in mine if w in self._http_idle][:1])
        if len(self._http_tasks) >= limits.http_max_connections:
            self._http_evict(list(self._http_idle)[:1])
        if len(self._http_tasks) >= limits.http_max_connections or len(mine) >= limits.http_max_per_address:
            self.stats.refused_connections += 1
            if not mine:
                del self._http_by_address[address]
            writer.close()
            return
        self._http_tasks.add(task)
        mine[writer] = None
        try:
            await self._http_serve(reader, writer)
        except (ConnectionError, OSError, asyncio.IncompleteReadError, TimeoutError):
            pass
        except Exception as exc:  # a bug of ours: one line, the traceback at debug level
            self.stats.internal_errors += 1
            log.error("internal error in the HTTP API: %s", type(exc).__name__)
            log.debug("internal error details", exc_info=True)
        finally:
            self._http_tasks.discard(task)
            self._http_idle.pop(writer, None)
            mine.pop(writer, None)
            if not mine:
                self._http_by_address.pop(address, None)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def _http_evict(self, writers: list[asyncio.StreamWriter]) -> None:
        """Close HTTP connections that wait for a request, to make room for a new one."""
        for writer in writers:
            self.stats.evicted += 1
            self._http_idle.pop(writer, None)
            log.info("closing an idle HTTP connection from %s: its room is needed", writer.get_extra_info("peername"))
            transport = writer.transport
            if isinstance(transport, asyncio.Transport):
                transport.abort()

    async def _http_serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        limits = self.limits
        while True:
            self._http_idle[writer] = ""
            async with asyncio.timeout(limits.http_idle_timeout):
                request = await _read_request(reader, limits)
            self._http_idle.pop(writer, None)
            if request is None:
                return
            if isinstance(request, _HttpError):
                self.stats.http_errors += 1
                writer.write(_response(request.code, _error_json(request.message), close=True))
                await writer.drain()
                return
            self.stats.http_requests += 1
            code, body, ctype = self._http_route(request)
            if code >= 400:
                self.stats.http_errors += 1
            writer.write(_response(code, body, ctype=ctype, close=request.close, head=request.method == "HEAD"))
            await writer.drain()
            if request.close:
                return

    def _http_route(self, request: _HttpRequest) -> tuple[int, bytes, str]:
        if request.method not in ("GET", "HEAD"):
            return 405, _error_json("Only GET is supported."), "application/json"
        parts = urlsplit(request.target)
        path = unquote(parts.path)
        if not path.startswith(API_PREFIX):
            return 404, _error_json("Not found."), "application/json"
        endpoint = path[len(API_PREFIX) :]
        handler = _HTTP_ROUTES.get(endpoint)
        if handler is None:
            return 404, _error_json("Not found."), "application/json"
        try:
            query = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=False, max_num_fields=300)
        except ValueError:
            return 400, _error_json("Malformed query."), "application/json"
        token = next((v for k, v in query if k == "token"), None)
        if not token or token not in self._records:
            return 400, _error_json("Invalid token."), "application/json"
        params = [(k, v) for k, v in query if k != "token"]
        try:
            return handler(self, token, params)
        except _HttpError as exc:
            return exc.code, _error_json(exc.message), "application/json"

    def _api_update(self, token: str, params: list[tuple[str, str]]) -> tuple[int, bytes, str]:
        writes: dict[int, list[str]] = {}
        pin_param = next((v for k, v in params if k == "pin"), None)
        if pin_param is not None:
            writes[_http_pin(pin_param)] = [v for k, v in params if k == "value"]
        for key, value in params:
            if key[:1] in ("V", "v") and key[1:].isascii() and key[1:].isdigit():
                writes.setdefault(_http_pin(key), []).append(value)
        if not writes:
            raise _HttpError(400, "No pin to update.")
        for pin, values in writes.items():
            if not values:
                raise _HttpError(400, f"No value for V{pin}.")
            if _size("", tuple(values)) + len(values) - 1 > self.limits.max_value_bytes:
                raise _HttpError(400, f"Value for V{pin} is longer than {self.limits.max_value_bytes} bytes.")
        for pin, values in writes.items():
            try:
                self._store_and_push(token, pin, tuple(values))
            except UsageError as exc:
                raise _HttpError(400, f"{exc}.") from None
        return 200, b"", "text/plain"

    def _api_get(self, token: str, params: list[tuple[str, str]]) -> tuple[int, bytes, str]:
        pins: list[int] = []
        for key, value in params:
            if key == "pin":
                pins.append(_http_pin(value))
            elif key[:1] in ("V", "v"):
                pins.append(_http_pin(key))
        if not pins:
            raise _HttpError(400, "No pin to get.")
        record = self._records[token]
        found: dict[str, object] = {}
        for pin in pins:
            values = record.values(pin)
            if values is None:
                raise _HttpError(400, f"Requested pin V{pin} has no value.")
            found[f"V{pin}"] = values[0] if len(values) == 1 else list(values)
        if len(pins) == 1:
            only = next(iter(found.values()))
            if isinstance(only, str):
                return 200, only.encode("utf-8"), "text/plain; charset=utf-8"
            return 200, json.dumps(only).encode(), "application/json"
        return 200, json.dumps(found).encode(), "application/json"

    def _api_connected(self, token: str, params: list[tuple[str, str]]) -> tuple[int, bytes, str]:
        return 200, (b"true" if self.is_connected(token) else b"false"), "text/plain"

    def _api_log_event(self, token: str, params: list[tuple[str, str]]) -> tuple[int, bytes, str]:
        args = dict(params)
        code = args.get("code") or args.get("event")
        if not code:
            raise _HttpError(400, "Event code is required.")
        description = args.get("description")
        limits = self.limits
        if len(code) > limits.max_event_code:
            raise _HttpError(400, f"Event code is longer than {limits.max_event_code} characters.")
        if description is not None and len(description) > limits.max_event_description:
            raise _HttpError(400, f"Description is longer than {limits.max_event_description} characters.")
        self._log_event(self._records[token], code, description)
        return 200, b"", "text/plain"

    def _api_property(self, token: str, params: list[tuple[str, str]]) -> tuple[int, bytes, str]:
        args = dict(params)
        if "pin" not in args:
            raise _HttpError(400, "No pin.")
        pin = _http_pin(args["pin"])
        props = [(k, v) for k, v in params if k != "pin"]
        if not props:
            raise _HttpError(400, "No property.")
        record = self._records[token]
        for name, value in props:
            if not record.set_property(pin, name, (value,), self.limits):
                self.stats.over_limit += 1
                raise _HttpError(400, "Too many properties for this device.")
        self._notify()
        return 200, b"", "text/plain"


_HTTP_ROUTES = {
    "update": BlynkServer._api_update,
    "batch/update": BlynkServer._api_update,
    "get": BlynkServer._api_get,
    "isHardwareConnected": BlynkServer._api_connected,
    "logEvent": BlynkServer._api_log_event,
    "update/property": BlynkServer._api_property,
}


# ---------------------------------------------------------------------------------------------
# Minimal HTTP/1.1 (RFC 9112): request line, headers, Content-Length body; no chunked uploads.


@dataclass(slots=True)
class _HttpRequest:
    method: str
    target: str
    close: bool


class _HttpError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    413: "Content Too Large",
    414: "URI Too Long",
    431: "Request Header Fields Too Large",
    501: "Not Implemented",
    505: "HTTP Version Not Supported",
}


def _error_json(message: str) -> bytes:
    return json.dumps({"error": {"message": message}}, separators=(",", ":")).encode()


def _http_pin(text: str) -> int:
    try:
        return parse_pin(text)
    except ValueError:
        raise _HttpError(400, f"Invalid pin {text[:16]!r}.") from None


def _response(code: int, body: bytes, *, ctype: str = "application/json", close: bool, head: bool = False) -> bytes:
    lines = [
        f"HTTP/1.1 {code} {_REASONS.get(code, 'Error')}",
        f"Content-Type: {ctype}",
        f"Content-Length: {len(body)}",
        "Access-Control-Allow-Origin: *",
    ]
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (b"" if head else body)


async def _read_line(reader: asyncio.StreamReader, what: str, code: int) -> bytes:
    try:
        return await reader.readuntil(b"\n")
    except asyncio.LimitOverrunError:
        raise _HttpError(code, f"{what} too long.") from None


async def _read_request(reader: asyncio.StreamReader, limits: ServerLimits) -> _HttpRequest | _HttpError | None:
    """Read one request; ``None`` at a clean EOF between requests; an error to answer and close."""
    try:
        line = await _read_line(reader, "Request line", 414)
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            return _HttpError(400, "Incomplete request.")
        return None
    except _HttpError as exc:
        return exc
    for _ in range(8):  # RFC 9112 section 2.2: ignore (a few) empty lines before a request
        if line not in (b"\r\n", b"\n"):
            break
        try:
            line = await _read_line(reader, "Request line", 414)
        except _HttpError as exc:
            return exc
    try:
        text = line.decode("ascii").rstrip("\r\n")
    except UnicodeDecodeError:
        return _HttpError(400, "Request line is not ASCII.")
    parts = text.split(" ")
    if len(parts) != 3 or not parts[0].isalpha() or not parts[1]:
        return _HttpError(400, "Malformed request line.")
    method, target, version = parts
    if version not in ("HTTP/1.1", "HTTP/1.0"):
        return _HttpError(505, "Only HTTP/1.x is supported.")
    headers: dict[str, str] = {}
    total = 0
    while True:
        try:
            raw = await _read_line(reader, "Header", 431)
        except _HttpError as exc:
            return exc
        total += len(raw)
        if total > limits.http_max_headers:
            return _HttpError(431, "Headers too large.")
        if raw in (b"\r\n", b"\n"):
            break
        try:
            name, sep, value = raw.decode("latin-1").rstrip("\r\n").partition(":")
        except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes every byte
            return _HttpError(400, "Malformed header.")
        if not sep or not name or name != name.strip():
            return _HttpError(400, "Malformed header.")
        headers[name.lower()] = value.strip()
    if "transfer-encoding" in headers:
        return _HttpError(501, "Transfer-Encoding is not supported.")
    length_text = headers.get("content-length", "0")
    if not (0 < len(length_text) <= 10 and length_text.isascii() and length_text.isdigit()):
        return _HttpError(400, "Bad Content-Length.")
    length = int(length_text)
    if length > limits.http_max_body:
        return _HttpError(413, "Body too large.")
    if length:
        await reader.readexactly(length)  # bodies are read and ignored (the API is GET only)
    connection = headers.get("connection", "").lower()
    close = connection == "close" or (version == "HTTP/1.0" and connection != "keep-alive")
    return _HttpRequest(method=method, target=target, close=close)
