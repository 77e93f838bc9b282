"""A blocking Blynk device client for scripts: ``socket`` + ``selectors`` around the sans-I/O core.

The second thin driver of :class:`blynk_client.protocol.BlynkConnection` (the first is the asyncio
:class:`blynk_client.client.BlynkClient`). Same protocol rules (research notes ``blynk-protocol.md``
sections 1 to 4) and the same features, without asyncio (which alone costs about 8 MiB of RSS on a
small device):

- bytes read from the socket go to ``receive_data(data, now)``; the one deadline of the core
  (``get_timer()``: login timeout, heartbeat PING, liveness, section 3) bounds every ``select`` and
  is served by ``handle_timer(now)``; ``data_to_send()`` leaves in one ``send``;
- TLS by default (port 443, system CA store, hostname check and SNI, TLS >= 1.2, section 4); plain
  TCP only with ``insecure=True`` or port 80; ``ca_file`` or ``ssl_context`` for a private CA;
  :mod:`ssl` is imported only when TLS is used;
- REDIRECT (section 3 "Redirect") to the new host and port, at most ``max_redirects`` hops; a hard
  stop on INVALID_TOKEN (status 9) as :class:`~blynk_client.errors.InvalidTokenError`; reconnect with
  the same :class:`~blynk_client.offline.BackoffPolicy` as the asyncio client;
- the offline queue (:class:`~blynk_client.offline.OfflineQueue`): operations made while
  disconnected, and those a dead session sent without the server confirming them (its RESPONSE to
  a later PING, property or event, any status, :class:`blynk_client._session.InFlight`), are
  replayed after the next login;
- ``set_interval`` / ``set_timeout`` timers (like ``BlynkTimer``) served by the same wait, and a
  ``run()`` that waits for the next deadline, so ``while True: blynk.run()`` does not spin;
- write coalescing: operations made within ``coalesce`` seconds leave in one ``send`` (TCP_NODELAY
  on, so the window is ours, not Nagle's); a window's worth of ``coalesce_bytes`` leaves at once.
  The default (5 ms) adds no visible latency; on a metered link ``coalesce=0.25`` (``blynk-client
  --coalesce 0.25``) merges writes made 100 ms apart, see :class:`blynk_client.client.BlynkClient`.
  A blocking driver has no timer of its own: a window is closed by the next operation made after
  it expired, by :meth:`Blynk.run`, :meth:`Blynk.flush` or :meth:`Blynk.close`. Scripts call
  ``run()`` in their loop anyway (as with BlynkLib), which keeps the heartbeat going;
- optional ``SO_BINDTODEVICE`` (socket(7)) to an interface, or a source address, so the traffic
  takes ppp0 even when another default route exists.

The token never appears in logs, reprs or errors (:func:`blynk_client.errors.redact_token`). Debug
and info lines go to :mod:`logging` only when the application already imported it (its import
costs about 3 MiB; without configuration those levels are dropped anyway); warnings always do.
"""

from __future__ import annotations

import selectors
import socket
import sys
import time
from collections.abc import Callable

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
from blynk_client._session import WARNING as _WARNING
from blynk_client._session import Redirect as _Redirect
from blynk_client.errors import (
    BlynkError,
    ConnectError,
    InvalidTokenError,
    ProtocolError,
    TlsError,
    redact_token,
)

#: ``typing.TYPE_CHECKING`` without importing ``typing`` (0.45 MiB in a device process, see
#: ``blynk_client._dataclass``); type checkers take any ``TYPE_CHECKING`` as true.
TYPE_CHECKING = False

if TYPE_CHECKING:
    import logging
    from typing import Any

#: ``socket.socket`` for annotations inside the class, whose ``socket`` property shadows the module.
_Socket = socket.socket

__all__ = ["DEFAULT_SERVER", "Blynk", "ClientStats", "SyncStats", "make_ssl_context"]

#: Above this many bytes waiting for the socket, an operation blocks until the socket drains
#: (the back-pressure BlynkLib gets from ``sendall``), so memory stays bounded.
SEND_HIGH_WATER = 1 << 14
#: One ``recv`` at most (the core's decoder reassembles messages across reads).
RECV_SIZE = 1 << 14
_LOG_NAME = "blynk_client.sync_client"


def _literal_address(host: str, port: int) -> list[tuple[Any, ...]] | None:
    """``getaddrinfo``'s answer for a literal IPv4 or IPv6 address, without asking the resolver.

    As :mod:`asyncio` does (``base_events._ipaddr_info``): ``getaddrinfo`` costs about 0.4 MiB of
    resident memory even for ``127.0.0.1`` (Python's ``idna`` codec, 0.33 MiB, see
    :func:`~blynk_client._session.resolver_host`, and glibc's NSS and ``gai.conf`` machinery), which a
    device client need not pay when its server is configured by address. Host names (and scoped
    IPv6 addresses) go to ``getaddrinfo``.
    """
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
        except (OSError, ValueError):
            continue
        address = (host, port) if family == socket.AF_INET else (host, port, 0, 0)
        return [(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", address)]
    return None


#: The counters of this driver are the shared ones (one stats type for both drivers).
SyncStats = ClientStats


class Blynk(SessionBase):
    """A blocking Blynk device client (no threads, no asyncio)::

        blynk = Blynk(token, server="127.0.0.1", port=8080, insecure=True)

        @blynk.on("V0")                 # or @blynk.on_write("V0")
        def v0(values): print(values.int())

        blynk.set_interval(5, lambda: blynk.virtual_write("V1", read_sensor()))
        while True:
            blynk.run()                 # waits for I/O or the next deadline, then acts

    Takes the keyword arguments of :class:`blynk_client.client.BlynkClient` (``server``, ``port``,
    ``insecure``, ``ca_file``, ``ssl_context``, ``interface``, ``source_address``, ``heartbeat``,
    ``response_timeout``, ``info``, ``template_id``, ``firmware``, ``connect_timeout``,
    ``login_timeout``, ``coalesce``, ``coalesce_bytes``, ``backoff``, ``rng``, ``offline_mode``,
    ``offline_max``, ``on_drop``, ``max_redirects``, ``logger``) plus ``clock`` (a monotonic clock
    in seconds, for tests). Handlers and timers are plain functions run from :meth:`run`; an
    exception in one is logged and never ends the session.
    """

    def __init__(
        self,
        token: str,
        *,
        logger: logging.Logger | None = None,
        clock: Callable[[], float] = time.monotonic,
        **options: Any,
    ) -> None:
        self._logger = logger
        self._clock = clock
        self._now = clock  # the session's clock: an attribute, not a method call on the hot path
        super().__init__(token, **options)
        # Session state.
        self._sock: socket.socket | None = None
        self._sel: selectors.BaseSelector | None = None
        self._conn: DeviceConnection | None = None
        self._out = bytearray()  # bytes the socket did not take yet
        self._retry_at: float | None = None  # next connection attempt after a failure
        self._pongs: dict[int, float] = {}
        self._stopping = False
        self._closed = False
        self._in_call = False
        self._fatal: BlynkError | None = None

    def __repr__(self) -> str:
        return self._describe("Blynk")

    def __enter__(self) -> Blynk:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- state ------------------------------------------------------------------------------------

    @property
    def socket(self) -> socket.socket | None:
        """The connected socket of the current session (for accounting such as TCP_INFO), or None."""
        return self._sock

    # -- blocking calls ---------------------------------------------------------------------------

    def connect(self, timeout: float | None = 30.0, *, retry: bool = True) -> None:
        """Block until logged in (following redirects; with ``retry``, reconnecting with backoff).

        Raises :class:`InvalidTokenError` on a rejected token, the attempt's error without
        ``retry``, and :class:`ConnectError` when ``timeout`` passes first.
        """
        self._reopen()
        end = None if timeout is None else self._clock() + timeout
        while not self._logged_in:
            if self._stopping:
                raise ConnectError("the client was closed before it connected")
            now = self._clock()
            if end is not None and now >= end:
                raise ConnectError(f"not connected within {timeout:g} s")
            self._step(end, retry=retry)

    def run(self, duration: float | None = None) -> None:
        """Serve the connection, timers and reconnects; BlynkLib's ``while True: blynk.run()``.

        Without ``duration``: one round. It waits until something is due (incoming data, the
        heartbeat, a coalescing window, a timer of :meth:`set_interval`, the next reconnect
        attempt), acts on it and returns, so a loop around it sleeps while idle instead of
        spinning. Put periodic work in :meth:`set_interval`; a loop that must also poll something
        else uses ``poll(0.05)``, which waits at most that long. With ``duration`` (seconds):
        serve for that long (0: only what is ready now).

        Raises the error that stops the client (:class:`InvalidTokenError`).
        """
        self._reopen()
        if duration is None:
            self._step(None, retry=True)
            return
        end = self._clock() + max(0.0, duration)
        self._step(end, retry=True)
        while not self._stopping and self._clock() < end:
            self._step(end, retry=True)

    def poll(self, timeout: float = 0.05) -> None:
        """One round: wait at most ``timeout`` seconds for I/O or a deadline, act, and return.

        Like BlynkLib 0.2's ``run()`` (a 50 ms socket timeout): it returns as soon as something
        was processed, or after ``timeout``.
        """
        self._reopen()
        self._step(self._clock() + max(0.0, timeout), retry=True)

    def run_forever(self) -> None:
        """Stay connected until :meth:`close` (from a handler or timer) or Ctrl-C."""
        self._reopen()
        while not self._stopping:
            self._step(None, retry=True)

    def ping(self, timeout: float = 10.0) -> float:
        """Send PING and return the round-trip time in seconds (needs a logged-in session)."""
        if not self._logged_in or self._conn is None:
            raise ConnectError("not connected")
        conn = self._conn
        msg_id = self._ping_now(conn)
        self._transmit()
        end = self._clock() + timeout
        try:
            while msg_id not in self._pongs:
                if self._conn is not conn or not self._logged_in:
                    raise ConnectError("the connection ended before the PING answer")
                if self._clock() >= end:
                    raise ConnectError(f"no answer to PING within {timeout:g} s")
                self._step(end, retry=False, reconnect=False)
            return self._pongs[msg_id]
        finally:
            self._pongs.pop(msg_id, None)

    def flush(self, timeout: float = 10.0) -> None:
        """Send everything pending now; block until the socket took it (at most ``timeout``)."""
        self._transmit()
        end = self._clock() + timeout
        while self._out and self._sock is not None and self._clock() < end:
            self._step(end, retry=False, reconnect=False)

    def close(self) -> None:
        """Send what is pending, close the session and stop reconnecting (safe from a handler)."""
        self._stopping = True
        if self._in_call:
            return  # the blocking call returns and closes
        self._shutdown()

    #: BlynkLib's name of :meth:`close`.
    disconnect = close

    # -- the loop -----------------------------------------------------------------------------------

    def _reopen(self) -> None:
        if self._fatal is not None:
            raise self._fatal
        if self._closed:
            self._closed = self._stopping = False

    def _step(self, end: float | None, *, retry: bool, reconnect: bool = True) -> None:
        """One wait-and-act round: connect when due, else wait until the earliest deadline, act.

        A connection attempt (which blocks already) or a wait for the next attempt is a round too.
        """
        self._in_call = True
        try:
            try:
                if self._conn is None:
                    if reconnect:
                        self._attempt(end, retry)
                    else:
                        self._wait(end)
                else:
                    self._serve(end)
            except _Redirect as hop:
                self._follow(hop)
            except InvalidTokenError as exc:
                self._end_session()
                self._fatal = exc
                self._stopping = True
                self._log(20, "the server rejected the auth token %s: not retrying", redact_token(self._token))
                raise
            except (ConnectError, ProtocolError) as exc:
                self._end_session()
                self._failed(exc, retry)
            self._run_timers(self._clock())
        finally:
            self._in_call = False
            if self._stopping and not self._closed and self._fatal is None:
                self._shutdown()

    def _attempt(self, end: float | None, retry: bool) -> None:
        now = self._clock()
        if self._retry_at is not None and now < self._retry_at:
            self._wait(self._retry_at if end is None else min(end, self._retry_at))
            return
        self._retry_at = None
        host, port = self._target
        self._open(host, port)

    def _wait(self, until: float | None) -> None:
        """Sleep until ``until`` or the next timer (at most 0.25 s at a time, so close() is seen)."""
        timer = self._next_timer()
        if timer is not None and (until is None or timer < until):
            until = timer
        delay = 0.25 if until is None else max(0.0, min(0.25, until - self._clock()))
        time.sleep(delay)

    def _failed(self, exc: BlynkError, retry: bool) -> None:
        self._reset_target()
        if self._stopping:
            return
        if not retry:
            raise exc
        delay = self._retry_delay(exc)
        self._retry_at = self._clock() + delay
        if not isinstance(exc, InterfaceMissing):
            self._log(_WARNING, "%s; reconnecting in %.1f s", exc, delay)

    def _follow(self, hop: _Redirect) -> None:
        self._end_session()
        too_many = self._follow_redirect(hop)
        if too_many is not None:
            raise too_many

    def _serve(self, end: float | None) -> None:
        conn, sock, sel = self._conn, self._sock, self._sel
        assert conn is not None and sock is not None and sel is not None
        now = self._clock()
        flush_at = self._coalescer.flush_at
        if flush_at is not None and now >= flush_at:
            self._transmit()
            flush_at = None
        deadline = conn.get_timer()
        for candidate in (end, flush_at, self._next_timer()):
            if candidate is not None and (deadline is None or candidate < deadline):
                deadline = candidate
        pending_tls = getattr(sock, "pending", None)
        buffered = pending_tls is not None and pending_tls() > 0  # TLS bytes select cannot see
        if buffered:
            timeout: float | None = 0.0
        else:
            timeout = None if deadline is None else max(0.0, deadline - now)
        ready = sel.select(timeout)
        now = self._clock()
        mask = ready[0][1] if ready else 0
        if mask & selectors.EVENT_WRITE:
            self._send_out()
        if mask & selectors.EVENT_READ or buffered:
            self._read(conn, sock, now)
        if self._conn is conn:
            timer = conn.get_timer()
            if timer is not None and now >= timer:
                self._core_timer(conn, now)
                self._process()
            flush_at = self._coalescer.flush_at
            if flush_at is None or now >= flush_at:
                self._transmit()  # an open window holds what the core queued too (at most ``coalesce``)

    def _read(self, conn: DeviceConnection, sock: _Socket, now: float) -> None:
        host, port = self._target
        try:
            data = sock.recv(RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            if type(exc).__name__ in ("SSLWantReadError", "SSLWantWriteError"):
                return
            raise ConnectError(f"connection to {host}:{port} lost: {exc}") from None
        if not data:
            raise self._closed_error(host, port)
        self.stats.bytes_in += len(data)
        conn.receive_data(data, now)
        try:
            self._process()
        except (BlynkError, _Redirect):
            self._transmit()  # a status the core queued for the peer before closing
            raise

    def _process(self) -> None:
        conn = self._conn
        assert conn is not None
        event = conn.next_event()
        while event is not None:
            self._handle_event(event)
            if self._conn is not conn:
                return
            event = conn.next_event()

    def _on_pong(self, msg_id: int, rtt: float) -> None:
        self._pongs[msg_id] = rtt
        if len(self._pongs) > 16:
            del self._pongs[next(iter(self._pongs))]

    def _after_login(self) -> None:
        self._redirects = 0
        self._transmit()

    # -- connection -----------------------------------------------------------------------------

    def _open(self, host: str, port: int) -> None:
        """Resolve, bind, connect and (with TLS) handshake within ``connect_timeout``; log in."""
        self._check_interface()
        self.stats.attempts += 1
        self._log(20, "connecting to %s:%d (%s)", host, port, "TLS" if self.tls else "plain TCP")
        end = self._clock() + self.connect_timeout
        infos = _literal_address(host, port)
        if infos is None:
            try:
                infos = socket.getaddrinfo(resolver_host(host), port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
            except socket.gaierror as exc:
                raise ConnectError(f"cannot resolve {host}: {exc.strerror}") from None
        last: OSError | None = None
        sock: socket.socket | None = None
        for family, kind, proto_num, _, address in infos:
            candidate = socket.socket(family, kind, proto_num)
            try:
                self._prepare_socket(candidate, family)
                candidate.settimeout(max(0.001, end - self._clock()))
                candidate.connect(address)
            except BlynkError:
                candidate.close()
                raise
            except OSError as exc:
                candidate.close()
                last = exc
                continue
            sock = candidate
            break
        if sock is None:
            if isinstance(last, TimeoutError):
                raise ConnectError(f"cannot connect to {host}:{port}: timed out after {self.connect_timeout:g} s")
            reason = last.strerror if last is not None and last.strerror else str(last)
            raise ConnectError(f"cannot connect to {host}:{port}: {reason}")
        if self._ssl is not None:
            sock = self._handshake(sock, host, port, end)
        sock.setblocking(False)
        conn = self._new_connection()
        sel = selectors.DefaultSelector()
        sel.register(sock, selectors.EVENT_READ)
        self._sock, self._sel, self._conn = sock, sel, conn
        self._out.clear()
        self._coalescer.sent()
        self._login(conn)
        self._transmit()

    def _handshake(self, sock: _Socket, host: str, port: int, end: float) -> _Socket:
        import ssl

        assert self._ssl is not None
        try:
            sock.settimeout(max(0.001, end - self._clock()))
            tls = self._ssl.wrap_socket(sock, server_hostname=host)
        except ssl.SSLCertVerificationError as exc:
            sock.close()
            raise TlsError(f"TLS with {host}:{port} failed: {exc.reason or exc}") from None
        except ssl.SSLError as exc:
            sock.close()
            raise TlsError(f"TLS with {host}:{port} failed: {exc.reason or exc} ({TLS_HINT})") from None
        except TimeoutError:
            sock.close()
            raise TlsError(
                f"TLS with {host}:{port} failed: no handshake answer within {self.connect_timeout:g} s ({TLS_HINT})"
            ) from None
        except OSError as exc:
            sock.close()
            raise TlsError(f"TLS with {host}:{port} failed: {exc} ({TLS_HINT})") from None
        return tls

    def _end_session(self) -> None:
        conn, sock, sel = self._conn, self._sock, self._sel
        was_logged_in = self._logged_in
        self._logged_in = False
        self._conn = self._sock = self._sel = None
        self._pongs.clear()
        self._out.clear()
        if conn is not None:
            conn.data_to_send()
            self._session_ended(was_logged_in)
        if sel is not None:
            sel.close()
        if sock is not None:
            sock.close()
        if was_logged_in:
            self._fire(self._disconnect_handlers)

    def _shutdown(self) -> None:
        """Close the session in order, used by :meth:`close`: within :data:`CLOSE_TIMEOUT`, send
        what is pending and, if the server has not yet confirmed everything this session sent, a
        PING, whose answer proves it all arrived (TCP delivers in order and the server answers in
        order, ``blynk-protocol.md`` section 3). What stays unconfirmed is logged and kept in
        :attr:`offline` for the next :meth:`connect`.
        """
        self._closed = True
        conn = self._conn
        if conn is not None and self._sock is not None:
            end = self._clock() + CLOSE_TIMEOUT
            proof = self._ping_now(conn) if self._logged_in and len(self._inflight) else None
            self._transmit()
            self._in_call = True  # a handler run meanwhile that calls close() again just returns
            try:
                while (
                    self._conn is conn
                    and self._clock() < end
                    and (self._out or (proof is not None and proof not in self._pongs))
                ):
                    self._serve(end)
            except (ConnectError, ProtocolError):
                pass  # the session ends below either way; what it did not confirm is kept
            finally:
                self._in_call = False
            if self._conn is conn:
                conn.close()
        self._end_session()

    # -- transmit -----------------------------------------------------------------------------------

    def _flush(self) -> None:
        """An operation must leave now; above the high-water mark, wait for the socket (back-pressure)."""
        self._transmit()
        if len(self._out) > SEND_HIGH_WATER:
            self._drain_to(SEND_HIGH_WATER // 2)

    def _transmit(self) -> None:
        """Move everything the core has into the socket (one ``send``); the rest waits for EVENT_WRITE."""
        self._coalescer.flush_at = None
        conn = self._conn
        if conn is None:
            return
        data = conn.data_to_send()
        if not data:
            return
        if self._out:
            self._out += data
            return  # EVENT_WRITE is armed already
        try:
            self._send_first(data)
        except ConnectError as exc:
            self._abort(exc)

    def _send(self, data: bytes | bytearray) -> int:
        """One ``send``; returns the bytes the socket took (0 when it is full)."""
        sock = self._sock
        assert sock is not None
        try:
            sent = sock.send(data)
        except (BlockingIOError, InterruptedError):
            return 0
        except OSError as exc:
            if type(exc).__name__ in ("SSLWantReadError", "SSLWantWriteError"):
                return 0
            raise ConnectError(f"connection to {self._target[0]}:{self._target[1]} lost: {exc}") from None
        if sent:
            self.stats.socket_writes += 1
            self.stats.bytes_out += sent
        return sent

    def _send_first(self, data: bytes) -> None:
        """Send ``data`` with nothing waiting before it; keep the rest and watch for EVENT_WRITE."""
        sent = self._send(data)
        if sent < len(data):
            self._out += memoryview(data)[sent:]
            assert self._sel is not None and self._sock is not None
            self._sel.modify(self._sock, selectors.EVENT_READ | selectors.EVENT_WRITE)

    def _send_out(self) -> None:
        """The socket is writable: send what waits in our buffer (no copy of it)."""
        if not self._out or self._sock is None:
            return
        sent = self._send(self._out)
        del self._out[:sent]
        if not self._out and self._sel is not None and self._sock is not None:
            self._sel.modify(self._sock, selectors.EVENT_READ)

    def _drain_to(self, limit: int) -> None:
        """Back-pressure: serve the socket until at most ``limit`` bytes wait (operations block here)."""
        while len(self._out) > limit and self._conn is not None:
            self._step(None, retry=True)

    def _abort(self, exc: BlynkError) -> None:
        """A send failed outside :meth:`_step`: end the session; the next blocking call reconnects."""
        self._log(_WARNING, "%s", exc)
        self._end_session()
        self._retry_at = self._clock() + self._backoff.next_delay()

    # -- helpers --------------------------------------------------------------------------------------

    def _log(self, level: int, msg: str, *args: object, exc_info: bool = False) -> None:
        logger = self._logger
        if logger is None:
            if "logging" not in sys.modules and not exc_info:
                # Nobody imported logging, so nobody configured it: a record would reach logging's
                # last-resort handler, which drops levels below WARNING and writes the message
                # alone to stderr. Do the same without importing logging (and the threading,
                # traceback and tokenize it pulls in: about 1 MiB of resident memory).
                if level >= _WARNING:
                    sys.stderr.write(f"{msg % args if args else msg}\n")
                return
            import logging

            logger = self._logger = logging.getLogger(_LOG_NAME)
        logger.log(level, msg, *args, exc_info=exc_info)
