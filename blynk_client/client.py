"""The asyncio Blynk device client, a driver around the sans-I/O core (the blocking one is :mod:`.sync_client`).

Protocol rules come from :mod:`blynk_client.protocol` (the research notes ``blynk-protocol.md``,
sections 1 to 4); this module only moves bytes and time:

- one reader (``reader.read`` feeds ``receive_data(data, now)``), one timer re-armed at
  ``conn.get_timer()`` (heartbeat PINGs and the liveness timeout live in the core), and a transmit
  after every wake-up (``data_to_send()`` written in one ``write``);
- TLS on port 443 by default with the system CA store, hostname check and SNI (section 4); plain TCP
  only with ``insecure=True`` or port 80; ``ca_file`` for a private CA;
- a bounded connect (DNS + TCP + TLS) and login (section 3, step 3), REDIRECT to a new host and port
  with TLS to the new name (section 3 "Redirect"), reconnect with exponential backoff and jitter
  (:class:`blynk_client.offline.Backoff`), and a hard stop on INVALID_TOKEN (status 9);
- an offline queue (:class:`blynk_client.offline.OfflineQueue`) so writes made while disconnected,
  and those a dead session sent without the server confirming them (its RESPONSE to a later PING,
  property or event, any status: :class:`blynk_client._session.InFlight`), are sent after the
  next login; write coalescing (:class:`blynk_client._session.Coalescer`): operations made
  within ``coalesce`` seconds leave in one socket write (TCP_NODELAY on), which saves header
  bytes on a metered cellular link; ``set_interval`` / ``set_timeout`` timers on the loop;
- optional binding to an interface (``SO_BINDTODEVICE``, see socket(7)) or a source address, so the
  traffic takes ppp0 even when another default route exists.

The token never appears in logs, reprs or errors (:func:`blynk_client.errors.redact_token`).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Any

from blynk_client._device import DeviceConnection
from blynk_client._session import (
    CLOSE_TIMEOUT,
    DEFAULT_PLAIN_PORT,  # noqa: F401 - re-exported
    DEFAULT_SERVER,
    DEFAULT_TLS_PORT,  # noqa: F401 - re-exported
    MAX_REDIRECTS,  # noqa: F401 - re-exported
    TLS_HINT,
    ClientStats,
    InterfaceMissing,
    SessionBase,
    make_ssl_context,
    resolver_host,
)
from blynk_client._session import Redirect as _Redirect
from blynk_client.errors import (
    BlynkError,
    ConnectError,
    InvalidTokenError,
    LocalProtocolError,
    ProtocolError,
    TlsError,
    redact_token,
)

#: ``socket.socket`` for annotations inside the class, whose ``socket`` property shadows the module.
_Socket = socket.socket

__all__ = ["DEFAULT_SERVER", "BlynkClient", "ClientStats", "make_ssl_context"]

LOG = logging.getLogger("blynk_client.client")


class BlynkClient(SessionBase):
    """An asyncio Blynk device client.

    Typical use::

        client = BlynkClient(token, server="127.0.0.1", port=8080, insecure=True)

        @client.on_write("V1")
        def v1(values: Values) -> None:
            print(values.int())

        await client.run()          # stays connected, reconnects, raises InvalidTokenError

    :param token: the device auth token (kept out of every log line and repr).
    :param server: host name or address; TLS is verified against this name (SNI).
    :param port: default 443 with TLS, 80 when ``insecure``.
    :param insecure: plain TCP (also implied by ``port=80``).
    :param ca_file: PEM file of the CAs to trust instead of the system store.
    :param ssl_context: a ready TLS context (overrides ``ca_file``).
    :param source_address: bind the socket to this local address before connecting.
    :param heartbeat: seconds between heartbeats: announced in the info message (rounded up to whole
        seconds) and kept (a PING after that long idle).
    :param response_timeout: the C++ ``BLYNK_TIMEOUT_MS`` in seconds, at most ``heartbeat``
        (liveness is ``heartbeat + 3 * response_timeout`` without receiving anything, the C++ rule).
    :param interface: bind the socket to this interface (``SO_BINDTODEVICE``; root or CAP_NET_RAW);
        while it does not exist the client waits for it (``run()``) instead of failing.
    :param info: extra device info keys, sent after login (section 3, step 4).
    :param template_id: the template id (info keys ``tmpl`` and ``fw-type``; BlynkLib's ``tmpl_id``).
    :param firmware: the firmware version (info key ``fw``; BlynkLib's ``fw_ver``).
    :param connect_timeout: bound of DNS + TCP connect + TLS handshake (seconds).
    :param login_timeout: bound of the wait for the login answer (seconds).
    :param coalesce: operations made within this window (seconds, default 0.005) leave in one socket
        write; 0 disables. On a metered link choose about 2.5 write periods: at 10 writes/s,
        ``coalesce=0.25`` puts three writes in a segment, about 43 % of BlynkLib's IP bytes per
        write (``bench/results/blynk.txt``); the default only merges writes made within a few ms,
        at the cost of no visible latency.
    :param coalesce_bytes: send at once when this much is waiting (about one TCP segment).
    :param backoff: the reconnect :class:`BackoffPolicy`; ``rng`` seeds its jitter.
    :param offline_mode: :class:`OfflineMode` of the offline queue (default ``LATEST``); ``offline_max``
        bounds it. The queue and the backoff are made on first use.
    :param on_drop: called for every offline item let go (superseded or overflowed).
    """

    def __init__(
        self,
        token: str,
        *,
        logger: logging.Logger | None = None,
        **options: Any,
    ) -> None:
        self.log = logger or LOG
        self._now = time.monotonic  # asyncio's default clock; the running loop's once started
        super().__init__(token, **options)
        # Session state (valid while a session runs).
        self._loop: asyncio.AbstractEventLoop | None = None
        self._conn: DeviceConnection | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._flush_handle: asyncio.TimerHandle | None = None
        self._user_timer: asyncio.TimerHandle | None = None
        self._user_timer_at: float | None = None
        self._abort_exc: BaseException | None = None
        self._pings: dict[int, asyncio.Future[float]] = {}
        self._connected = asyncio.Event()
        self._stopping = False
        self._runner: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    def __repr__(self) -> str:
        return self._describe("BlynkClient")

    # -- application operations (never block; queued while offline) -----------------------------

    @property
    def socket(self) -> socket.socket | None:
        """The connected socket of the current session (for accounting such as TCP_INFO), or None."""
        if self._writer is None:
            return None
        return self._writer.get_extra_info("socket")  # type: ignore[no-any-return]

    async def ping(self, timeout: float = 10.0) -> float:
        """Send PING and return the round-trip time in seconds (needs a logged-in session)."""
        if not self._logged_in or self._conn is None or self._loop is None:
            raise ConnectError("not connected")
        loop = self._loop
        msg_id = self._ping_now(self._conn)
        future: asyncio.Future[float] = loop.create_future()
        self._pings[msg_id] = future
        self._transmit()
        try:
            async with asyncio.timeout(timeout):
                return await future
        except TimeoutError:
            raise ConnectError(f"no answer to PING within {timeout:g} s") from None
        finally:
            self._pings.pop(msg_id, None)

    async def flush(self) -> None:
        """Send everything queued now and wait until the socket buffer has drained."""
        self._transmit()
        if self._writer is not None:
            with contextlib.suppress(ConnectionError, OSError):
                await self._writer.drain()

    # -- lifecycle -----------------------------------------------------------------------------

    async def run(self) -> None:
        """Stay connected until :meth:`close`: reconnect with backoff; raise InvalidTokenError."""
        self._start(retry=True)
        assert self._runner is not None
        await self._runner

    async def connect(self, *, retry: bool = False) -> None:
        """Connect and log in (following redirects); return once logged in.

        The session keeps running in a background task until :meth:`close`. Without ``retry``
        a failed attempt raises (ConnectError, TlsError, InvalidTokenError...); with it the client
        keeps trying with backoff (only an invalid token ends it).
        """
        self._start(retry=retry)
        await self.wait_connected()

    async def wait_connected(self, timeout: float | None = None) -> None:
        """Wait until logged in; raise the error that ended the client if it ended first."""
        if self._runner is None:
            await asyncio.sleep(0)  # let a just-scheduled ``run()`` task start the client
        runner = self._runner
        if runner is None:
            raise LocalProtocolError("the client is not started: call run(), start() or connect() first")
        waiter = asyncio.ensure_future(self._connected.wait())
        try:
            async with asyncio.timeout(timeout):
                done, _ = await asyncio.wait({waiter, runner}, return_when=asyncio.FIRST_COMPLETED)
        except TimeoutError:
            raise ConnectError(f"not connected within {timeout:g} s") from None
        finally:
            waiter.cancel()
        if waiter not in done or not self._connected.is_set():
            if runner.done() and not runner.cancelled() and runner.exception() is not None:
                raise runner.exception()  # type: ignore[misc]
            if not self._connected.is_set():
                raise ConnectError("the client stopped before it connected")

    async def close(self) -> None:
        """Close the session in order and stop reconnecting.

        Within :data:`CLOSE_TIMEOUT`, what is pending is sent and, if the server has not yet
        confirmed everything this session sent, a PING goes out, whose answer proves it all arrived
        (``blynk-protocol.md`` section 3); what stays unconfirmed is logged and kept in
        :attr:`offline` for the next :meth:`connect`.
        """
        self._stopping = True
        self._transmit()
        writer = self._writer
        if writer is not None:
            with contextlib.suppress(ConnectionError, OSError, TimeoutError):
                async with asyncio.timeout(CLOSE_TIMEOUT):
                    await writer.drain()
                    if self._logged_in and self.unconfirmed:
                        with contextlib.suppress(ConnectError):
                            await self.ping(timeout=CLOSE_TIMEOUT)
            writer.close()
        runner = self._runner
        if runner is not None and not runner.done():
            try:
                async with asyncio.timeout(5.0):
                    await asyncio.wait({runner})
            except TimeoutError:
                runner.cancel()
        if runner is not None and runner.done() and not runner.cancelled():
            runner.exception()  # retrieved here; run()/connect() callers saw it already
        for task in list(self._tasks):
            task.cancel()

    def start(self, *, retry: bool = True) -> None:
        """Start connecting in the background (from a coroutine); see :meth:`wait_connected`."""
        self._start(retry=retry)

    def _start(self, *, retry: bool) -> None:
        if self._runner is not None and not self._runner.done():
            return
        self._loop = asyncio.get_running_loop()
        self._now = self._loop.time
        self._stopping = False
        self._runner = self._loop.create_task(self._supervise(retry))
        self._runner.add_done_callback(lambda _: self._cancel_user_timer())
        self._timers_changed()

    async def _supervise(self, retry: bool) -> None:
        """Run sessions: follow redirects at once, back off after failures, stop on a bad token."""
        loop = asyncio.get_running_loop()
        self._redirects = 0
        while not self._stopping:
            host, port = self._target
            failure: BlynkError
            try:
                await self._session(host, port)
                if self._stopping:
                    return
                failure = ConnectError(f"{host}:{port} closed the connection")
            except _Redirect as hop:
                too_many = self._follow_redirect(hop)
                if too_many is None:
                    continue
                failure = too_many
            except InvalidTokenError:
                self.log.info("the server rejected the auth token %s: not retrying", redact_token(self._token))
                raise
            except (ConnectError, ProtocolError) as exc:
                failure = exc
            self._reset_target()
            if self._stopping:
                return
            if not retry:
                raise failure
            delay = self._retry_delay(failure)
            if not isinstance(failure, InterfaceMissing):
                self.log.warning("%s; reconnecting in %.1f s", failure, delay)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(loop.time() + delay):
                    while not self._stopping:
                        await asyncio.sleep(min(0.25, delay))

    # -- one session -----------------------------------------------------------------------------

    async def _session(self, host: str, port: int) -> None:
        """Connect, log in and serve until the connection ends; raise why it ended."""
        loop = asyncio.get_running_loop()
        self._check_interface()
        self.stats.attempts += 1
        self.log.info("connecting to %s:%d (%s)", host, port, "TLS" if self.tls else "plain TCP")
        reader, writer = await self._open(host, port)
        conn = self._new_connection()
        self._conn, self._writer, self._abort_exc = conn, writer, None
        was_logged_in = False
        try:
            self._login(conn)
            self._transmit()
            while True:
                try:
                    data = await reader.read(65536)
                except (ConnectionError, OSError, ssl.SSLError) as exc:
                    if self._abort_exc is not None:
                        raise self._abort_exc from None
                    raise ConnectError(f"connection to {host}:{port} lost: {exc}") from None
                if self._abort_exc is not None:
                    raise self._abort_exc
                if not data:
                    if self._stopping:
                        return
                    raise self._closed_error(host, port)
                self.stats.bytes_in += len(data)
                try:
                    conn.receive_data(data, loop.time())
                    self._process_events()
                except (BlynkError, _Redirect):
                    self._transmit()  # a status the core queued for the peer before closing
                    raise
                was_logged_in = was_logged_in or self._logged_in
                self._transmit()
        finally:
            was_logged_in = was_logged_in or self._logged_in
            self._end_session(writer)
            if was_logged_in:
                self._fire(self._disconnect_handlers)

    async def _open(self, host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Resolve, bind, connect and (with TLS) handshake within ``connect_timeout``."""
        loop = asyncio.get_running_loop()
        handshaking = False
        try:
            async with asyncio.timeout(self.connect_timeout):
                try:
                    infos = await loop.getaddrinfo(
                        resolver_host(host), port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
                    )
                except socket.gaierror as exc:
                    raise ConnectError(f"cannot resolve {host}: {exc.strerror}") from None
                last: OSError | None = None
                sock: socket.socket | None = None
                for family, kind, proto_num, _, address in infos:
                    candidate = socket.socket(family, kind, proto_num)
                    try:
                        self._prepare_socket(candidate, family)
                        await loop.sock_connect(candidate, address)
                    except BlynkError:
                        candidate.close()
                        raise
                    except OSError as exc:
                        candidate.close()
                        last = exc
                        continue
                    except BaseException:
                        candidate.close()
                        raise
                    sock = candidate
                    break
                if sock is None:
                    reason = last.strerror if last is not None and last.strerror else str(last)
                    raise ConnectError(f"cannot connect to {host}:{port}: {reason}")
                handshaking = self._ssl is not None
                try:
                    return await asyncio.open_connection(
                        sock=sock,
                        ssl=self._ssl,
                        server_hostname=host if self._ssl is not None else None,
                        ssl_handshake_timeout=self.connect_timeout if self._ssl is not None else None,
                        limit=1 << 17,
                    )
                except ssl.SSLCertVerificationError as exc:
                    sock.close()
                    raise TlsError(f"TLS with {host}:{port} failed: {exc.reason or exc}") from None
                except ssl.SSLError as exc:
                    sock.close()
                    raise TlsError(f"TLS with {host}:{port} failed: {exc.reason or exc} ({TLS_HINT})") from None
                except (ConnectionError, OSError) as exc:
                    sock.close()
                    if self._ssl is not None:
                        raise TlsError(f"TLS with {host}:{port} failed: {exc} ({TLS_HINT})") from None
                    raise ConnectError(f"cannot connect to {host}:{port}: {exc}") from None
                except BaseException:
                    sock.close()
                    raise
        except TimeoutError:
            if handshaking:
                raise TlsError(
                    f"TLS with {host}:{port} failed: no handshake answer within {self.connect_timeout:g} s ({TLS_HINT})"
                ) from None
            raise ConnectError(f"cannot connect to {host}:{port}: timed out after {self.connect_timeout:g} s") from None

    def _prepare_socket(self, sock: _Socket, family: int) -> None:
        """Non-blocking, then TCP_NODELAY and the optional interface/source binding."""
        sock.setblocking(False)
        super()._prepare_socket(sock, family)

    def _process_events(self) -> None:
        conn = self._conn
        assert conn is not None
        while True:
            event = conn.next_event()
            if event is None:
                return
            self._handle_event(event)

    def _on_pong(self, msg_id: int, rtt: float) -> None:
        waiter = self._pings.get(msg_id)
        if waiter is not None and not waiter.done():
            waiter.set_result(rtt)

    def _after_login(self) -> None:
        self._connected.set()

    def _abort(self, exc: BaseException) -> None:
        """End the session from a callback: remember why and reset the transport."""
        if self._abort_exc is None:
            self._abort_exc = exc
        if self._writer is not None:
            self._writer.transport.abort()

    def _end_session(self, writer: asyncio.StreamWriter) -> None:
        conn_left = self._conn
        was_logged_in = self._logged_in
        self._logged_in = False
        self._connected.clear()
        for handle in (self._timer, self._flush_handle):
            if handle is not None:
                handle.cancel()
        self._timer = self._timer_at = self._flush_handle = None
        for future in self._pings.values():
            if not future.done():
                future.set_exception(ConnectError("the connection ended before the PING answer"))
        self._pings.clear()
        # What the core still holds, and everything the server never confirmed, is replayed later.
        if conn_left is not None:
            conn_left.data_to_send()
            self._session_ended(was_logged_in)
        self._conn = None
        self._writer = None
        if not writer.is_closing():
            writer.close()

    # -- transmit and timer ------------------------------------------------------------------------

    def _hold(self) -> None:
        """An operation waits in an open coalescing window: make sure the window closes on time."""
        if self._flush_handle is None and self._loop is not None and self._coalescer.flush_at is not None:
            self._flush_handle = self._loop.call_at(self._coalescer.flush_at, self._transmit)

    def _transmit(self) -> None:
        """Write everything the core has in one ``write`` and re-arm the one timer."""
        self._coalescer.flush_at = None
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        conn, writer = self._conn, self._writer
        if conn is None or writer is None:
            return
        data = conn.data_to_send()
        if data and not writer.is_closing():
            self._write(writer, data)
        self._arm_timer()

    def _write(self, writer: asyncio.StreamWriter, data: bytes) -> None:
        """The single place bytes leave the client (tests count calls here)."""
        writer.write(data)
        self.stats.socket_writes += 1
        self.stats.bytes_out += len(data)

    def _arm_timer(self) -> None:
        conn, loop = self._conn, self._loop
        if conn is None or loop is None:
            return
        deadline = conn.get_timer()
        if deadline == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = deadline
        self._timer = None if deadline is None else loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        conn, loop = self._conn, self._loop
        self._timer = self._timer_at = None
        if conn is None or loop is None:
            return
        try:
            self._core_timer(conn, loop.time())
            self._process_events()
        except (BlynkError, _Redirect) as exc:
            self._abort(exc)
            return
        self._transmit()

    # -- user timers ---------------------------------------------------------------------------------

    def _timers_changed(self) -> None:
        """Arm the one loop timer of :meth:`set_interval` / :meth:`set_timeout` at their next deadline."""
        loop = self._loop
        if loop is None or self._runner is None or self._runner.done():
            return  # armed when the client starts
        deadline = self._next_timer()
        if deadline == self._user_timer_at:
            return
        self._cancel_user_timer()
        if deadline is not None:
            self._user_timer_at = deadline
            self._user_timer = loop.call_at(deadline, self._on_user_timer)

    def _cancel_user_timer(self) -> None:
        if self._user_timer is not None:
            self._user_timer.cancel()
        self._user_timer = self._user_timer_at = None

    def _on_user_timer(self) -> None:
        self._user_timer = self._user_timer_at = None
        if self._loop is not None:
            self._run_timers(self._loop.time())
        self._timers_changed()

    # -- helpers ------------------------------------------------------------------------------------

    def _log(self, level: int, msg: str, *args: object, exc_info: bool = False) -> None:
        self.log.log(level, msg, *args, exc_info=exc_info)

    def _call(self, handler: Callable[..., Any], *args: Any) -> None:
        """Call a handler; a coroutine function's result runs as a task (errors logged)."""
        result = super()._call(handler, *args)
        if inspect.isawaitable(result) and self._loop is not None:
            task = self._loop.create_task(self._guard(result, handler))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _guard(self, awaitable: Awaitable[Any], handler: Callable[..., Any]) -> None:
        try:
            await awaitable
        except Exception:
            self.log.exception("handler %s failed", getattr(handler, "__name__", handler))
