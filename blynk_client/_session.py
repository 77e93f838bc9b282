"""What the two Blynk device drivers share: options, handlers, the write API, events and redirects.

:class:`blynk_client.client.BlynkClient` (asyncio) and :class:`blynk_client.sync_client.Blynk`
(``selectors``) both drive :class:`blynk_client.protocol.BlynkConnection` (research notes
``blynk-protocol.md`` sections 1 to 4). Everything that does not move bytes or time lives here in
:class:`SessionBase`; a driver supplies its clock (:meth:`SessionBase._now`), its logging
(:meth:`SessionBase._log`), its transmit policy (:meth:`SessionBase._kick`), the PONG sink and
the hook run after a login. This module imports neither asyncio nor :mod:`logging` nor :mod:`ssl`
at import time, so the blocking driver stays small.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from blynk_client import _events as ev
from blynk_client._device import DeviceConnection
from blynk_client._wire import Status, format_value, parse_pin
from blynk_client.errors import (
    ConnectError,
    InvalidTokenError,
    LocalProtocolError,
    RemoteProtocolError,
    UsageError,
    redact_token,
)
from blynk_client.values import Values

if TYPE_CHECKING:
    import random
    import ssl
    from collections.abc import Hashable

    from blynk_client.offline import Backoff, BackoffPolicy, DropReason, OfflineMode, OfflineQueue, QueuedOp

__all__ = [
    "DEFAULT_PLAIN_PORT",
    "DEFAULT_SERVER",
    "DEFAULT_TLS_PORT",
    "MAX_REDIRECTS",
    "Redirect",
    "SessionBase",
    "make_ssl_context",
]

#: blynk.cloud routes a device to its region with REDIRECT (``blynk-protocol.md`` section 3).
DEFAULT_SERVER = "blynk.cloud"
DEFAULT_TLS_PORT = 443
DEFAULT_PLAIN_PORT = 80
#: A redirect loop ends the attempt after this many hops.
MAX_REDIRECTS = 5

DEBUG, INFO, WARNING, ERROR = 10, 20, 30, 40

if TYPE_CHECKING:  # annotations only: no typing objects at run time
    from typing import TypeAlias, TypeVar

    WriteHandler: TypeAlias = Callable[[Values], Any]
    StateHandler: TypeAlias = Callable[[], Any]
    F = TypeVar("F", bound=Callable[..., Any])


def make_ssl_context(ca_file: str | None = None) -> ssl.SSLContext:
    """Return the client TLS context: system CAs (or ``ca_file`` only), hostname check, TLS >= 1.2.

    blynk.cloud refuses TLS 1.0/1.1 (``blynk-protocol.md`` section 4).
    """
    import ssl

    try:
        context = ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise UsageError(f"cannot load the CA file {ca_file}: {getattr(exc, 'strerror', None) or exc}") from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


class Redirect(Exception):
    """The server answered the login with REDIRECT (section 3 "Redirect"): the driver reconnects."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(f"redirect to {host}:{port}")
        self.host = host
        self.port = port


class SessionBase:
    """The driver-independent half of a Blynk device client (see the module docstring).

    Holds the keyword arguments both drivers take (documented on
    :class:`blynk_client.client.BlynkClient`) and their defaults; a subclass sets ``self.stats``
    (with ``logins``, ``replayed`` and ``redirects`` counters) before calling ``__init__``, and
    owns ``self._conn`` (the current core, or None).
    """

    stats: Any
    _conn: DeviceConnection | None

    def __init__(
        self,
        token: str,
        *,
        server: str = DEFAULT_SERVER,
        port: int | None = None,
        insecure: bool = False,
        ca_file: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        interface: str | None = None,
        source_address: str | None = None,
        heartbeat: float = 45.0,
        response_timeout: float = 6.0,
        info: Mapping[str, object] | None = None,
        connect_timeout: float = 15.0,
        login_timeout: float = 10.0,
        coalesce: float = 0.005,
        coalesce_bytes: int = 1400,
        backoff: BackoffPolicy | None = None,
        rng: random.Random | None = None,
        offline_mode: OfflineMode | None = None,
        offline_max: int = 256,
        on_drop: Callable[[QueuedOp, DropReason], None] | None = None,
        max_redirects: int = MAX_REDIRECTS,
    ) -> None:
        if not token or any(c in token for c in "\0\r\n"):
            raise UsageError("the auth token is empty or contains control characters")
        if coalesce < 0:
            raise UsageError("the coalescing window must be >= 0")
        if port is None:
            port = DEFAULT_PLAIN_PORT if insecure else DEFAULT_TLS_PORT
        if not 0 < port < 65536:
            raise UsageError(f"port out of range: {port}")
        self._token = token
        self.server = server
        self.port = port
        self.tls = not insecure and port != DEFAULT_PLAIN_PORT
        self._ssl: ssl.SSLContext | None = (ssl_context or make_ssl_context(ca_file)) if self.tls else None
        self.interface = interface
        self.source_address = source_address
        self.heartbeat = heartbeat
        self.response_timeout = response_timeout
        #: Extra keys of the device info message (``tmpl``, ``fw-type``, ``fw``...).
        self.info = dict(info or {})
        self.connect_timeout = connect_timeout
        self.login_timeout = login_timeout
        self.coalesce = coalesce
        self.coalesce_bytes = coalesce_bytes
        self.max_redirects = max_redirects
        if offline_max < 1:
            raise ValueError("the offline queue needs max_items >= 1")
        # The backoff and the offline queue are made on first use (see :mod:`blynk_client.offline`).
        self._backoff_options = (backoff, rng)
        self._backoff_state: Backoff | None = None
        self._offline_options = (offline_mode, offline_max)
        self._offline: OfflineQueue | None = None
        self._user_on_drop = on_drop
        self._write_handlers: dict[int | None, list[WriteHandler]] = {}
        self._connect_handlers: list[StateHandler] = []
        self._disconnect_handlers: list[StateHandler] = []
        self._logged_in = False
        # Where the next attempt goes (a redirect changes it until the client is re-created,
        # like the C++ library keeps the new host in RAM), and the hops followed so far.
        self._target = (server, port)
        self._redirects = 0

    def _describe(self, name: str) -> str:
        state = "connected" if self._logged_in else "disconnected"
        host, port = self._target
        return f"<{name} token={redact_token(self._token)} server={host}:{port} tls={self.tls} {state}>"

    # -- what a driver supplies ---------------------------------------------------------------------

    def _now(self) -> float:
        """The driver's monotonic clock (seconds), as handed to the core."""
        raise NotImplementedError

    def _log(self, level: int, msg: str, *args: object, exc_info: bool = False) -> None:
        raise NotImplementedError

    def _kick(self) -> None:
        """An operation went into the core: transmit now or within the coalescing window."""
        raise NotImplementedError

    def _on_pong(self, msg_id: int, rtt: float) -> None:
        raise NotImplementedError

    def _after_login(self) -> None:
        """Runs after the offline replay and before the connect handlers."""

    # -- handlers -----------------------------------------------------------------------------

    def on_write(self, pin: str | int) -> Callable[[F], F]:
        """Decorator: call the function with :class:`Values` when the server writes ``pin``.

        ``pin`` is ``"V3"``, ``3`` or ``"*"`` (every pin; ``values.pin`` tells which).
        Exceptions are logged, never end the session.
        """
        key = None if pin == "*" else self._pin(pin)

        def register(func: F) -> F:
            self._write_handlers.setdefault(key, []).append(func)
            return func

        return register

    def on_connect(self, func: F) -> F:
        """Decorator: call ``func()`` after every successful login (after the offline replay)."""
        self._connect_handlers.append(func)
        return func

    def on_disconnect(self, func: F) -> F:
        """Decorator: call ``func()`` when a logged-in session ends."""
        self._disconnect_handlers.append(func)
        return func

    @property
    def connected(self) -> bool:
        """True while a session is logged in."""
        return self._logged_in

    @property
    def offline(self) -> OfflineQueue:
        """The :class:`~blynk_client.offline.OfflineQueue` of operations made while disconnected.

        Made on first use, like the backoff: :mod:`blynk_client.offline` is imported only when a
        client goes offline (or an application looks at the queue).
        """
        if self._offline is None:
            from blynk_client.offline import OfflineMode, OfflineQueue

            mode, max_items = self._offline_options
            self._offline = OfflineQueue(mode=mode or OfflineMode.LATEST, max_items=max_items, on_drop=self._on_drop)
        return self._offline

    @property
    def _backoff(self) -> Backoff:
        """The reconnect pacing (made at the first failed attempt)."""
        if self._backoff_state is None:
            from blynk_client.offline import Backoff

            self._backoff_state = Backoff(*self._backoff_options)
        return self._backoff_state

    # -- operations (queued while offline) ------------------------------------------------------------

    def _queue_virtual_write(self, pin: str | int, values: tuple[object, ...]) -> None:
        """The offline path of ``virtual_write``: check and format now, send after the next login."""
        number = self._pin(pin)
        texts = tuple(self._text(v) for v in values)
        self._submit("virtual_write", (str(number), *texts), ("vw", number))

    def sync(self, *pins: str | int) -> None:
        """Ask the server to send back the stored values of ``pins`` (all pins when none given)."""
        numbers = tuple(str(self._pin(p)) for p in pins)
        self._submit("sync", numbers, ("sync", numbers))

    def set_property(self, pin: str | int, name: str, *values: object) -> None:
        """Set a widget property (PROPERTY 19: ``pin\\0name\\0value...``), e.g. ``label``."""
        number = self._pin(pin)
        if not name or "\0" in name:
            raise UsageError("a property name must be non-empty text")
        texts = tuple(self._text(v) for v in values)
        self._submit("set_property", (str(number), name, *texts), ("prop", number, name))

    def log_event(self, code: str, description: str | None = None) -> None:
        """Log an event (EVENT_LOG 64). Events are never coalesced in the offline queue."""
        if not code or "\0" in code:
            raise UsageError("an event code must be non-empty text")
        args = (code,) if description is None else (code, self._text(description))
        self._submit("log_event", args)

    def resolve_event(self, code: str, *, all_events: bool = False) -> None:
        """Resolve the latest event ``code`` (EVENT_CLEAR 65), or every one with ``all_events``."""
        if not code or "\0" in code:
            raise UsageError("an event code must be non-empty text")
        args = (code, "all") if all_events else (code,)
        self._submit("resolve_event", args, ("resolve", args))

    def _submit(self, kind: str, args: tuple[str, ...], key: Hashable | None = None) -> None:
        """Apply an operation now, or queue it (as a :class:`QueuedOp`) while offline."""
        if not self._logged_in or self._conn is None:
            from blynk_client.offline import QueuedOp

            self.offline.put(QueuedOp(kind=kind, args=args, key=key))
            return
        self._apply_op(kind, args)
        self._kick()

    def _apply(self, item: QueuedOp) -> None:
        self._apply_op(item.kind, item.args)

    def _apply_op(self, kind: str, args: tuple[str, ...]) -> None:
        conn = self._conn
        assert conn is not None
        now = self._now()
        if kind == "virtual_write":
            conn.virtual_write(int(args[0]), *args[1:], now=now)
        elif kind == "sync":
            conn.sync(*(int(a) for a in args), now=now)
        elif kind == "set_property":
            conn.set_property(int(args[0]), args[1], *args[2:], now=now)
        elif kind == "log_event":
            conn.log_event(args[0], args[1] if len(args) > 1 else None, now=now)
        elif kind == "resolve_event":
            conn.resolve_event(args[0], all_events=len(args) > 1, now=now)
        else:  # pragma: no cover - kinds are ours
            raise LocalProtocolError(f"unknown queued operation {kind}")

    # -- sessions -------------------------------------------------------------------------------------

    def _new_connection(self) -> DeviceConnection:
        """A fresh device core with this client's heartbeat and timeouts."""
        return DeviceConnection(
            heartbeat=self.heartbeat,
            timeout=self.response_timeout,
            login_timeout=self.login_timeout,
        )

    def _handle_event(self, event: ev.Event) -> None:
        """One core event: dispatch writes and PONGs, log in, or raise why the session ends."""
        kind = type(event)
        if kind is ev.VirtualWrite:
            self._dispatch_write(event.pin, event.values)  # type: ignore[attr-defined]
        elif kind is ev.LoginSucceeded:
            self._on_login()
        elif kind is ev.Pong:
            self._on_pong(event.msg_id, event.rtt)  # type: ignore[attr-defined]
        elif kind is ev.LoginFailed:
            status = event.status  # type: ignore[attr-defined]
            if status == Status.INVALID_TOKEN:
                raise InvalidTokenError(f"the server rejected the auth token {redact_token(self._token)}")
            raise ConnectError(f"the server refused the login with status {status}")
        elif kind is ev.Redirected:
            raise Redirect(event.host, event.port)  # type: ignore[attr-defined]
        elif kind is ev.LoginTimeout:
            raise ConnectError(f"no login answer within {self.login_timeout:g} s")
        elif kind is ev.HeartbeatTimeout:
            raise ConnectError(f"heartbeat timeout: nothing received for {event.idle:.0f} s")  # type: ignore[attr-defined]
        elif kind is ev.ProtocolViolation:
            raise RemoteProtocolError(
                f"the server broke the protocol: {event.reason}",  # type: ignore[attr-defined]
                status=event.status,  # type: ignore[attr-defined]
            )
        elif kind is ev.ConnectionClosed:
            raise ConnectError("the server closed the connection")
        elif kind is ev.DebugPrint:
            self._log(INFO, "server: %s", event.text)  # type: ignore[attr-defined]
        else:
            self._log(DEBUG, "ignored %s", kind.__name__)

    def _on_login(self) -> None:
        self._logged_in = True
        self.stats.logins += 1
        if self._backoff_state is not None:
            self._backoff_state.reset()
        host, port = self._target
        self._log(INFO, "logged in to %s:%d as %s", host, port, redact_token(self._token))
        replay = self._offline.drain() if self._offline is not None else []
        for item in replay:
            self._apply(item)
        self.stats.replayed += len(replay)
        if replay:
            self._log(INFO, "sent %d operation(s) queued while offline", len(replay))
        self._after_login()
        self._fire(self._connect_handlers)

    def _follow_redirect(self, hop: Redirect) -> ConnectError | None:
        """Count a hop and aim the next attempt at it; past ``max_redirects``, the error to report."""
        self._redirects += 1
        self.stats.redirects += 1
        if self._redirects > self.max_redirects:
            self._redirects = 0
            self._target = (self.server, self.port)
            return ConnectError(f"more than {self.max_redirects} redirects")
        self._log(INFO, "redirected to %s:%d", hop.host, hop.port)
        self._target = (hop.host, hop.port)
        return None

    def _reset_target(self) -> None:
        """After a failure: forget the redirect and ask the original server again next time (it
        redirects again if the device still belongs elsewhere)."""
        self._redirects = 0
        self._target = (self.server, self.port)

    def _closed_error(self, host: str, port: int) -> ConnectError:
        """The peer closed the connection (EOF)."""
        if not self._logged_in:
            return ConnectError(f"{host}:{port} closed the connection during login")
        return ConnectError(f"{host}:{port} closed the connection")

    def _prepare_socket(self, sock: socket.socket, family: int) -> None:
        """TCP_NODELAY (coalescing is ours), and the optional interface (socket(7)) or source binding."""
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.interface:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, self.interface.encode() + b"\0")
            except OSError as exc:
                if exc.errno in (errno.EPERM, errno.EACCES):
                    raise UsageError(f"binding to interface {self.interface} needs root or CAP_NET_RAW") from None
                if exc.errno == errno.ENODEV:
                    raise UsageError(f"no such network interface: {self.interface}") from None
                raise UsageError(f"cannot bind to interface {self.interface}: {exc.strerror}") from None
        if self.source_address:
            try:
                sock.bind((self.source_address, 0) if family == socket.AF_INET else (self.source_address, 0, 0, 0))
            except OSError as exc:
                raise UsageError(f"cannot bind to source address {self.source_address}: {exc.strerror}") from None

    # -- handlers and helpers -----------------------------------------------------------------------

    def _dispatch_write(self, pin: int, values: tuple[str, ...]) -> None:
        handlers = self._write_handlers.get(pin)
        every = self._write_handlers.get(None)
        if handlers is None and every is None:
            return
        args = Values(pin, values)
        for handler in (handlers or []) + (every or []):
            self._call(handler, args)

    def _fire(self, handlers: Iterable[StateHandler]) -> None:
        for handler in list(handlers):
            self._call(handler)

    def _call(self, handler: Callable[..., Any], *args: Any) -> Any:
        """Call one handler; an exception is logged, never ends the session. Returns its result."""
        try:
            return handler(*args)
        except Exception:
            self._log(ERROR, "handler %s failed", getattr(handler, "__name__", handler), exc_info=True)
            return None

    def _on_drop(self, item: QueuedOp, reason: DropReason) -> None:
        from blynk_client.offline import DropReason

        if reason is DropReason.OVERFLOW:
            self._log(WARNING, "offline queue full: dropped %s %s", item.kind, item.args[:1])
        if self._user_on_drop is not None:
            self._user_on_drop(item, reason)

    @staticmethod
    def _pin(pin: str | int) -> int:
        try:
            return parse_pin(pin)
        except ValueError as exc:
            raise UsageError(str(exc)) from None

    @staticmethod
    def _text(value: object) -> str:
        text = format_value(value)
        if "\0" in text:
            raise UsageError("a value must not contain NUL characters")
        return text
