"""What the two Blynk device drivers share: options, handlers, the write API, timers and policies.

:class:`blynk_client.client.BlynkClient` (asyncio) and :class:`blynk_client.sync_client.Blynk`
(blocking, ``selectors``) both drive the sans-I/O device core (research notes ``blynk-protocol.md``
sections 1 to 4). Everything that does not move bytes or wait lives here, written once:

- :class:`SessionBase`: options and their checks, handlers (``on_write``/``on_connect``/... and the
  BlynkLib 1.0 spellings ``on("V1")``, ``on("connected")``, ``sync_virtual``), the operations
  (``virtual_write`` with its validation and hot path, ``sync``, ``set_property``, events), the
  core's events, redirects, the offline queue and replay, the interface wait;
- :class:`Coalescer`: the pure write-coalescing decision (hold an operation, or send now);
- :class:`InFlight`: the pure bookkeeping of operations the server has not yet proven it received
  (section 1 "Response form": the answer to a later request that carries its id, a PING's or a
  property's, proves everything sent before that request arrived), so a connection that dies
  silently loses nothing: its unconfirmed operations are replayed after the next login;
- ``set_interval`` / ``set_timeout`` (like the C++ ``BlynkTimer``) on the pure
  :class:`blynk_client.timers.Timers`, imported with the first timer; the driver's one wait also
  waits for the next timer;
- :class:`ClientStats`: the counters of either driver.

A driver supplies its clock (``self._now``), its logging (:meth:`SessionBase._log`), the transmit
(:meth:`SessionBase._transmit`), what a held operation needs (:meth:`SessionBase._hold`), the PONG
sink and the hook run after a login. This module imports neither asyncio nor :mod:`logging` nor
:mod:`ssl` at import time, so the blocking driver stays small.
"""

from __future__ import annotations

import errno
import math
import socket
from collections import deque
from collections.abc import Callable, Iterable, Mapping

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

#: ``typing.TYPE_CHECKING`` without importing ``typing`` (0.45 MiB in a device process, see
#: ``blynk_client._dataclass``); type checkers take any ``TYPE_CHECKING`` as true.
TYPE_CHECKING = False

if TYPE_CHECKING:
    import random
    import ssl
    from collections.abc import Hashable
    from typing import Any

    from blynk_client.offline import Backoff, BackoffPolicy, DropReason, OfflineMode, OfflineQueue, QueuedOp
    from blynk_client.timers import Timer, Timers

__all__ = [
    "CLOSE_TIMEOUT",
    "DEFAULT_PLAIN_PORT",
    "DEFAULT_SERVER",
    "DEFAULT_TLS_PORT",
    "INTERFACE_POLL",
    "MAX_REDIRECTS",
    "ClientStats",
    "Coalescer",
    "InFlight",
    "InterfaceMissing",
    "Redirect",
    "SessionBase",
    "make_ssl_context",
    "resolver_host",
]

#: blynk.cloud routes a device to its region with REDIRECT (``blynk-protocol.md`` section 3).
DEFAULT_SERVER = "blynk.cloud"
DEFAULT_TLS_PORT = 443
DEFAULT_PLAIN_PORT = 80
#: A redirect loop ends the attempt after this many hops.
MAX_REDIRECTS = 5
#: While the bound interface (``interface=``) is missing, look for it this often (seconds).
INTERFACE_POLL = 1.0
#: An orderly close waits at most this long (seconds) to send what is pending and for the server
#: to confirm what was sent (the answer to a PING sent at close); what it did not confirm is kept.
CLOSE_TIMEOUT = 2.0
#: Generations of unconfirmed operations kept apart (one per answered request in flight: a PING, a
#: property, an event); older ones merge.
MAX_GENERATIONS = 32

DEBUG, INFO, WARNING, ERROR = 10, 20, 30, 40

if TYPE_CHECKING:  # annotations only: no typing objects at run time
    from typing import TypeAlias, TypeVar

    WriteHandler: TypeAlias = Callable[[Values], Any]
    StateHandler: TypeAlias = Callable[[], Any]
    F = TypeVar("F", bound=Callable[..., Any])


def resolver_host(host: str) -> str | bytes:
    """``host`` as :func:`socket.getaddrinfo` should get it: an ASCII name as bytes.

    ``getaddrinfo`` encodes a ``str`` host with the ``idna`` codec, whose first use imports
    ``encodings.idna``, ``stringprep`` and ``unicodedata``: 0.33 MiB of resident memory in a device
    process, for a name such as ``blynk.cloud`` that IDNA leaves as it is (ToASCII of an all-ASCII
    label is the label, RFC 3490 section 4.1). A non-ASCII name still goes through the codec.
    """
    return host.encode("ascii") if host.isascii() else host


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


#: Appended to TLS handshake failures that a plain (non-TLS) server causes: it reads our
#: ClientHello as a Blynk header and waits or closes (``blynk-protocol.md`` section 4).
TLS_HINT = "is it a plain TCP server? then use insecure=True (blynk-client --insecure)"


class Redirect(Exception):
    """The server answered the login with REDIRECT (section 3 "Redirect"): the driver reconnects."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(f"redirect to {host}:{port}")
        self.host = host
        self.port = port


class InterfaceMissing(ConnectError):
    """The interface the client is bound to (``interface=``) does not exist (yet, or any more)."""


class ClientStats:
    """Counters of one client over its lifetime (all sessions), either driver."""

    __slots__ = (
        "attempts",
        "bytes_in",
        "bytes_out",
        "logins",
        "redirects",
        "replayed",
        "resent",
        "socket_writes",
    )

    def __init__(self) -> None:
        #: Socket writes that moved bytes.
        self.socket_writes = 0
        #: Payload bytes written (plaintext, before TLS).
        self.bytes_out = 0
        #: Payload bytes received.
        self.bytes_in = 0
        #: Sessions that reached a successful login.
        self.logins = 0
        #: Connection attempts (each TCP connect, including redirect hops).
        self.attempts = 0
        #: Redirects followed.
        self.redirects = 0
        #: Operations replayed after a login (made offline, or unconfirmed when a session ended).
        self.replayed = 0
        #: Of those, operations sent in a session that ended before the server confirmed them.
        self.resent = 0

    def __repr__(self) -> str:
        return "ClientStats(" + ", ".join(f"{k}={getattr(self, k)}" for k in self.__slots__) + ")"


class Coalescer:
    """The write-coalescing decision, pure: operations made within ``window`` seconds leave together.

    :meth:`hold` is asked after every operation went into the core; ``True`` means "keep it, the
    window is open until :attr:`flush_at`", ``False`` means "transmit now". A window's worth of
    ``limit`` bytes (about one TCP segment) never waits. The driver calls :meth:`sent` after every
    transmit and makes sure something happens at :attr:`flush_at` (a timer, or its wait's deadline).
    """

    __slots__ = ("flush_at", "limit", "window")

    def __init__(self, window: float, limit: int) -> None:
        self.window = window
        self.limit = limit
        #: The end of the open window, or None.
        self.flush_at: float | None = None

    def hold(self, now: float, pending: int) -> bool:
        """An operation was queued at ``now`` with ``pending`` bytes waiting: keep holding?"""
        flush_at = self.flush_at
        if flush_at is None:
            if self.window <= 0 or pending >= self.limit:
                return False
            self.flush_at = now + self.window  # the first held operation opens the window
            return True
        return now < flush_at and pending < self.limit

    def sent(self) -> None:
        """Everything held left: close the window."""
        self.flush_at = None


class InFlight:
    """Operations sent since the last proof that the server received them, pure.

    TCP delivers in order and a Blynk server answers in order, so an answer carrying the id of one
    of our requests proves that everything sent before (and with) that request arrived
    (``blynk-protocol.md`` section 1 "Response form": a RESPONSE echoes the request's id; section 3
    "Device -> server operations": PING, PROPERTY and the info message get one). The driver puts
    every operation into :attr:`current` (latest per key: a pin's value, a widget property; events
    under a key of their own), calls :meth:`cut` with the id of every request that expects a reply
    when it leaves (a PING, a property, an event) and :meth:`confirm` when a RESPONSE with such an
    id arrives, whatever its status (an error such as 2, 11 or 1 still proves receipt); when a
    session ends, :meth:`take` returns what the server never confirmed, oldest first, for replay
    after the next login.

    Only ids given to :meth:`cut` count: an answer to an id never cut (or one merged away, below)
    confirms nothing, so traffic that is not a correlated answer (a server push, a RESPONSE to a
    write) is never taken for proof. The session confirms on RESPONSE only: a sync's HARDWARE
    answer reuses the request's id (legacy server, ours), but a server push is HARDWARE too and
    carries the server's own counter, which starts at 1 like ours, so the two cannot be told
    apart; an INTERNAL answer (``rtc``, ``utc``, ``meta``) is not tied to the request's id either
    (our server answers ``rtc sync`` with a fresh one), and the client sends none.

    A request that the server does not answer (blynk.cloud may not answer every property or
    event) costs one generation; the answer to a later one confirms it too. At most
    :data:`MAX_GENERATIONS` generations are kept apart: beyond that the two oldest merge under the
    newer id (bounded by merging, never by dropping; the older id then proves nothing on its own,
    which only delays a confirmation).
    """

    __slots__ = ("_generations", "current")

    def __init__(self) -> None:
        #: Operations sent since the last cut: key -> the values (a write) or a queued operation.
        self.current: dict[object, object] = {}
        self._generations: deque[tuple[int, dict[object, object]]] = deque()

    def __len__(self) -> int:
        return len(self.current) + sum(len(gen) for _, gen in self._generations)

    def cut(self, msg_id: int) -> None:
        """Request ``msg_id``, which expects a reply, left: what was sent up to it waits for that reply."""
        generations = self._generations
        generations.append((msg_id, self.current))
        self.current = {}
        if len(generations) > MAX_GENERATIONS:  # answers lost track of: merge, never drop
            _, oldest = generations.popleft()
            newer, second = generations.popleft()
            oldest.update(second)
            generations.appendleft((newer, oldest))

    def confirm(self, msg_id: int) -> bool:
        """A reply to request ``msg_id`` arrived: forget everything sent up to that request.

        Returns whether ``msg_id`` was a cut still waiting (an unknown id changes nothing).
        """
        generations = self._generations
        for index, (cut_id, _) in enumerate(generations):
            if cut_id == msg_id:
                for _ in range(index + 1):
                    generations.popleft()
                return True
        return False

    def take(self) -> list[tuple[object, object]]:
        """Return every unconfirmed ``(key, item)``, latest per key, oldest first; forget them."""
        merged: dict[object, object] = {}
        for _, gen in self._generations:
            for key, item in gen.items():
                merged.pop(key, None)
                merged[key] = item
        for key, item in self.current.items():
            merged.pop(key, None)
            merged[key] = item
        self._generations.clear()
        self.current = {}
        return list(merged.items())


def _arity(func: Callable[..., Any]) -> int:
    """How many positional arguments ``func`` takes at most (BlynkLib handlers vary), 0..2."""
    code = getattr(func, "__code__", None)
    if code is None:
        call = getattr(func, "__call__", None)  # noqa: B004 - a callable object's own method
        code = getattr(getattr(call, "__func__", None), "__code__", None)
        if code is None:
            return 1
        return max(0, code.co_argcount - 1) if not code.co_flags & 0x04 else 2
    if code.co_flags & 0x04:  # *args
        return 2
    count = int(code.co_argcount)
    if getattr(func, "__self__", None) is not None:  # a bound method
        count -= 1
    return count


class SessionBase:
    """The driver-independent half of a Blynk device client (see the module docstring).

    Holds the keyword arguments both drivers take (documented on
    :class:`blynk_client.client.BlynkClient`) and their defaults; owns ``self._conn`` (the
    current core, or None) and ``self.stats`` (:class:`ClientStats`).
    """

    _conn: DeviceConnection | None
    _now: Callable[[], float]
    #: Set by ``close()``: the session ends on purpose.
    _stopping = False

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
        template_id: str | None = None,
        firmware: str | None = None,
        tmpl_id: str | None = None,
        fw_ver: str | None = None,
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
        if not (coalesce >= 0 and math.isfinite(coalesce)):
            raise UsageError("the coalescing window must be a finite number >= 0")
        for name, value in (
            ("heartbeat", heartbeat),
            ("response_timeout", response_timeout),
            ("connect_timeout", connect_timeout),
            ("login_timeout", login_timeout),
        ):
            if not (value > 0 and math.isfinite(value)):
                raise UsageError(f"{name} must be a finite number > 0")
        if port is None:
            port = DEFAULT_PLAIN_PORT if insecure else DEFAULT_TLS_PORT
        if not 0 < port < 65536:
            raise UsageError(f"port out of range: {port}")
        if offline_max < 1:
            raise UsageError("the offline queue needs offline_max >= 1")
        self.stats = ClientStats()
        self._token = token
        self.server = server
        self.port = port
        self.tls = not insecure and port != DEFAULT_PLAIN_PORT
        self._ssl: ssl.SSLContext | None = (ssl_context or make_ssl_context(ca_file)) if self.tls else None
        self.interface = interface
        self.source_address = source_address
        self.heartbeat = float(heartbeat)
        self.response_timeout = float(response_timeout)
        #: Keys of the device info message (notes section 3): ``tmpl``, ``fw-type``, ``fw``... and
        #: ``h-beat``, the whole seconds we promise to ping within (we ping every ``heartbeat``).
        self.info: dict[str, object] = {"h-beat": str(max(1, math.ceil(self.heartbeat)))}
        template = template_id if template_id is not None else tmpl_id
        version = firmware if firmware is not None else fw_ver
        for key, text in (("template_id", template), ("firmware", version)):
            if text is not None and (not text or any(c in text for c in "\0\r\n")):
                raise UsageError(f"{key} must be non-empty text without control characters")
        if template is not None:
            self.info.update({"tmpl": template, "fw-type": template})  # as BlynkLib 1.0 and C++ do
        if version is not None:
            self.info["fw"] = version
        self.info.update(info or {})
        self.connect_timeout = connect_timeout
        self.login_timeout = login_timeout
        self.coalesce = coalesce
        self.coalesce_bytes = coalesce_bytes
        self._coalescer = Coalescer(coalesce, coalesce_bytes)
        self.max_redirects = max_redirects
        # The backoff and the offline queue are made on first use (see :mod:`blynk_client.offline`).
        self._backoff_options = (backoff, rng)
        self._backoff_state: Backoff | None = None
        self._offline_options = (offline_mode, offline_max)
        self._offline: OfflineQueue | None = None
        self._user_on_drop = on_drop
        self._inflight = InFlight()
        #: Operations other than writes queued since the last PING (see :meth:`_apply_op`).
        self._unpinged = 0
        self._timers: Timers | None = None  # made with the first timer (blynk_client.timers)
        self._write_handlers: dict[int | None, list[WriteHandler]] = {}
        self._connect_handlers: list[StateHandler] = []
        self._disconnect_handlers: list[StateHandler] = []
        self._logged_in = False
        self._interface_wait = False  # a "waiting for the interface" line was logged
        self._login_sent = 0.0  # when the current session's login left (driver clock)
        self._login_rtt_ms = 0  # the last login's round trip (BlynkLib's ``ping`` of "connected")
        # Where the next attempt goes (a redirect changes it until the client is re-created,
        # like the C++ library keeps the new host in RAM), and the hops followed so far.
        self._target = (server, port)
        self._redirects = 0

    def _describe(self, name: str) -> str:
        state = "connected" if self._logged_in else "disconnected"
        host, port = self._target
        return f"<{name} token={redact_token(self._token)} server={host}:{port} tls={self.tls} {state}>"

    # -- what a driver supplies ---------------------------------------------------------------------

    def _log(self, level: int, msg: str, *args: object, exc_info: bool = False) -> None:
        raise NotImplementedError

    def _transmit(self) -> None:
        """Hand everything the core has to the socket now (and close the coalescing window)."""
        raise NotImplementedError

    def _flush(self) -> None:
        """An operation must leave now (the blocking driver adds its back-pressure here)."""
        self._transmit()

    def _hold(self) -> None:
        """An operation is held in an open coalescing window (the asyncio driver arms a timer)."""

    def _timers_changed(self) -> None:
        """A timer was added (the asyncio driver re-arms its timer handle)."""

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

    def on(self, event: str, func: Callable[..., Any] | None = None) -> Any:
        """BlynkLib 1.0's registration: ``@blynk.on("V1")``, ``"V*"``, ``"connected"``, ``"disconnected"``.

        As in BlynkLib, a ``"V1"`` handler gets the values (a :class:`Values`, a sequence of
        strings), a ``"V*"`` handler gets ``(pin, values)`` with the pin number as text, and a
        ``"connected"`` handler may take no argument or one (the login round trip in ms, BlynkLib's
        ``ping``). Works as a decorator or as ``blynk.on("V1", func)``.
        """

        def register(handler: Callable[..., Any]) -> Callable[..., Any]:
            if event == "V*":
                self.on_write("*")(lambda values: handler(str(values.pin), values))
            elif event[:1] in ("V", "v") and event[1:].isascii() and event[1:].isdigit():
                self.on_write(event)(handler)
            elif event == "connected":
                if _arity(handler) >= 1:
                    self.on_connect(lambda: handler(self._login_rtt_ms))
                else:
                    self.on_connect(handler)
            elif event == "disconnected":
                self.on_disconnect(handler)
            else:
                raise UsageError(f"unsupported event {event!r}: use 'V<n>', 'V*', 'connected' or 'disconnected'")
            return handler

        return register if func is None else register(func)

    @property
    def connected(self) -> bool:
        """True while a session is logged in."""
        return self._logged_in

    @property
    def offline(self) -> OfflineQueue:
        """The :class:`~blynk_client.offline.OfflineQueue` of operations waiting for the next login.

        Holds what the application did while disconnected and what a session that ended had sent
        without confirmation. Made on first use, like the backoff: :mod:`blynk_client.offline` is
        imported only when a client goes offline (or an application looks at the queue).
        """
        if self._offline is None:
            from blynk_client.offline import OfflineMode, OfflineQueue

            mode, max_items = self._offline_options
            self._offline = OfflineQueue(mode=mode or OfflineMode.LATEST, max_items=max_items, on_drop=self._on_drop)
        return self._offline

    @property
    def unconfirmed(self) -> int:
        """How many operations of this session the server has not yet confirmed.

        An operation is confirmed by the server's answer to a request sent after it (a PING, a
        property, an event: any RESPONSE carrying that request's id, whatever its status).
        """
        return len(self._inflight)

    @property
    def _backoff(self) -> Backoff:
        """The reconnect pacing (made at the first failed attempt)."""
        if self._backoff_state is None:
            from blynk_client.offline import Backoff

            self._backoff_state = Backoff(*self._backoff_options)
        return self._backoff_state

    # -- timers (BlynkTimer) ---------------------------------------------------------------------------

    def set_interval(self, seconds: float, func: Callable[[], Any]) -> Timer:
        """Call ``func()`` every ``seconds`` from the client's loop (like ``BlynkTimer.setInterval``).

        Runs while the driver runs (``run()``, ``run_forever()``, or the asyncio client's task),
        connected or not. Returns a :class:`Timer`; ``timer.cancel()`` stops it.
        """
        return self._add_timer(seconds, seconds, func)

    def set_timeout(self, seconds: float, func: Callable[[], Any]) -> Timer:
        """Call ``func()`` once, ``seconds`` from now (like ``BlynkTimer.setTimeout``)."""
        return self._add_timer(seconds, None, func)

    def _add_timer(self, seconds: float, interval: float | None, func: Callable[[], Any]) -> Timer:
        if not (seconds >= 0 and math.isfinite(seconds)) or (interval is not None and seconds <= 0):
            raise UsageError("a timer needs a finite number of seconds (> 0 for an interval)")
        if not callable(func):
            raise UsageError("a timer needs a function")
        from blynk_client.timers import Timer, Timers

        if self._timers is None:
            self._timers = Timers()
        timer = self._timers.add(Timer(self._now() + seconds, interval, func))
        self._timers_changed()
        return timer

    def _next_timer(self) -> float | None:
        """The deadline of the next user timer, or None."""
        return None if self._timers is None else self._timers.next_deadline()

    def _run_timers(self, now: float) -> None:
        if self._timers is None:
            return
        for timer in self._timers.due(now):
            self._call(timer.func)

    # -- operations (queued while offline) ------------------------------------------------------------

    def virtual_write(self, pin: str | int, *values: object) -> None:
        """Write ``values`` to virtual pin ``pin`` (HARDWARE ``vw``). Queued while offline.

        Raises :class:`UsageError` for a bad pin, no value, or a value containing NUL. The write is
        kept (latest per pin) until the server proves it got it (its answer to a later PING,
        property or event) and resent after a reconnect if the session ends first.
        """
        conn = self._conn
        if conn is not None and self._logged_in and values:
            # The hot path: the core checks the pin and the values, formats and queues.
            now = self._now()
            try:
                conn.virtual_write_values(pin, values, now)
            except LocalProtocolError as exc:
                raise UsageError(str(exc)) from None
            self._inflight.current[pin if type(pin) is int else self._pin(pin)] = values
            if self._coalescer.hold(now, conn.pending_bytes()):
                self._hold()
            else:
                self._flush()
            return
        if not values:
            raise UsageError("virtual_write needs at least one value")
        number = self._pin(pin)
        texts = tuple(self._text(v) for v in values)
        self._submit("virtual_write", (str(number), *texts), ("vw", number))

    def sync(self, *pins: str | int) -> None:
        """Ask the server to send back the stored values of ``pins`` (all pins when none given)."""
        numbers = tuple(str(self._pin(p)) for p in pins)
        self._submit("sync", numbers, ("sync", numbers))

    def sync_virtual(self, *pins: str | int) -> None:
        """BlynkLib's name of :meth:`sync`."""
        self.sync(*pins)

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
        self._apply_op(kind, args, key)
        if self._coalescer.hold(self._now(), self._conn.pending_bytes()):
            self._hold()
        else:
            self._flush()

    def _apply_op(self, kind: str, args: tuple[str, ...], key: Hashable | None) -> None:
        """Queue one operation in the core and remember it until the server confirms it."""
        conn = self._conn
        assert conn is not None
        now = self._now()
        if kind == "virtual_write":
            conn.virtual_write(int(args[0]), *args[1:], now=now)
            self._inflight.current[int(args[0])] = args[1:]
            return
        if kind == "sync":
            # A question for this session only: never replayed. Nor a cut: its answer is HARDWARE,
            # which a server push looks exactly like (the server's ids are its own counter).
            conn.sync(*(int(a) for a in args), now=now)
            return
        answered: int | None = None  # the id of a request the server answers with a RESPONSE
        if kind == "set_property":
            answered = conn.set_property(int(args[0]), args[1], *args[2:], now=now)
        elif kind == "log_event":
            answered = conn.log_event(args[0], args[1] if len(args) > 1 else None, now=now)
        elif kind == "resolve_event":  # EVENT_CLEAR: no reply (section 3)
            conn.resolve_event(args[0], all_events=len(args) > 1, now=now)
        else:  # pragma: no cover - kinds are ours
            raise LocalProtocolError(f"unknown queued operation {kind}")
        from blynk_client.offline import QueuedOp

        item = QueuedOp(kind=kind, args=args, key=key)
        inflight = self._inflight
        inflight.current[key if key is not None else ("seq", id(item))] = item
        if answered is not None:
            # PROPERTY gets 200 (or 11), EVENT_LOG 200 from our server: that RESPONSE proves this
            # operation and everything before it arrived (section 1 "Response form").
            inflight.cut(answered)
        self._unpinged += 1
        if self._unpinged >= self._offline_options[1] and len(inflight) >= self._offline_options[1]:
            # A burst of events or properties the server does not answer: ask for the proof now
            # (one PING) rather than at the next heartbeat, so what waits for confirmation stays
            # within ``offline_max`` operations per PING.
            self._ping_now(conn)

    # -- pings and the core's timer ------------------------------------------------------------------

    def _ping_now(self, conn: DeviceConnection) -> int:
        """Send PING now (an explicit ``ping()``): its answer confirms what was sent before it."""
        msg_id = conn.ping(self._now())
        self._inflight.cut(msg_id)
        self._unpinged = 0
        return msg_id

    def _core_timer(self, conn: DeviceConnection, now: float) -> None:
        """Serve the core's deadline; a heartbeat PING it sends cuts the unconfirmed operations."""
        before = conn.stats.messages_out
        conn.handle_timer(now)
        if conn.stats.messages_out != before:  # the only message a timer sends is the PING
            self._inflight.cut(conn.last_id)
            self._unpinged = 0

    # -- sessions -------------------------------------------------------------------------------------

    def _new_connection(self) -> DeviceConnection:
        """A fresh device core that pings every ``heartbeat`` seconds when idle, as announced.

        The core spaces PINGs at least ``timeout`` apart (the C++ ``BLYNK_TIMEOUT_MS``); a heartbeat
        shorter than that would otherwise be announced but not kept, and the server (which allows
        2.3 announced heartbeats, section 3) would drop us.
        """
        return DeviceConnection(
            heartbeat=self.heartbeat,
            timeout=min(self.response_timeout, self.heartbeat),
            login_timeout=self.login_timeout,
        )

    def _handle_event(self, event: ev.Event) -> None:
        """One core event: dispatch writes and PONGs, log in, or raise why the session ends."""
        match event:
            case ev.VirtualWrite(pin=pin, values=values):
                self._dispatch_write(pin, values)
            case ev.Pong(msg_id=msg_id, rtt=rtt):
                self._inflight.confirm(msg_id)
                self._on_pong(msg_id, rtt)
            case ev.Response(msg_id=msg_id):
                # Any status proves receipt (2, 11, 1 too); an id we never cut proves nothing.
                self._inflight.confirm(msg_id)
            case ev.LoginSucceeded():
                self._on_login()
            case ev.LoginFailed(status=status):
                if status == Status.INVALID_TOKEN:
                    raise InvalidTokenError(f"the server rejected the auth token {redact_token(self._token)}")
                raise ConnectError(f"the server refused the login with status {status}")
            case ev.Redirected(host=host, port=port):
                raise Redirect(host, port)
            case ev.LoginTimeout():
                raise ConnectError(f"no login answer within {self.login_timeout:g} s")
            case ev.HeartbeatTimeout(idle=idle):
                raise ConnectError(f"heartbeat timeout: nothing received for {idle:.0f} s")
            case ev.ProtocolViolation(reason=reason, status=status):
                raise RemoteProtocolError(f"the server broke the protocol: {reason}", status=status)
            case ev.ConnectionClosed():
                raise ConnectError("the server closed the connection")
            case ev.DebugPrint(text=text):
                self._log(INFO, "server: %r", text)
            case _:
                self._log(DEBUG, "ignored %s", type(event).__name__)

    def _on_login(self) -> None:
        self._logged_in = True
        self.stats.logins += 1
        self._login_rtt_ms = round((self._now() - self._login_sent) * 1000)
        if self._backoff_state is not None:
            self._backoff_state.reset()
        host, port = self._target
        self._log(INFO, "logged in to %s:%d as %s", host, port, redact_token(self._token))
        replay = self._offline.drain() if self._offline is not None else []
        for item in replay:
            self._apply_op(item.kind, item.args, item.key)
        self.stats.replayed += len(replay)
        if replay:
            self._log(INFO, "sent %d operation(s) queued while offline or unconfirmed", len(replay))
        self._after_login()
        self._fire(self._connect_handlers)

    def _login(self, conn: DeviceConnection) -> None:
        """Queue the login of a fresh connection (the driver transmits it)."""
        self._login_sent = self._now()
        conn.login(self._token, self._login_sent, info=self.info)

    def _session_ended(self, was_logged_in: bool) -> None:
        """A session is over: keep what the server never confirmed for the next login; say so."""
        self._coalescer.sent()
        self._unpinged = 0
        items = self._inflight.take()
        if not items:
            return
        from blynk_client.offline import QueuedOp

        queue = self.offline
        waiting = list(queue.drain())  # made while offline after this session's end: newer
        for key, item in items:
            if isinstance(item, QueuedOp):
                queue.put(item)
            else:
                values = tuple(self._text(v) for v in item)  # type: ignore[attr-defined]
                queue.put(QueuedOp(kind="virtual_write", args=(str(key), *values), key=("vw", key)))
        for op in waiting:
            queue.put(op)
        self.stats.resent += len(items)
        if was_logged_in:
            self._log(
                INFO if self._stopping else WARNING,  # an orderly close cannot prove delivery either
                "the connection ended before the server confirmed %d operation(s); resending them after the next login",
                len(items),
            )

    def _follow_redirect(self, hop: Redirect) -> ConnectError | None:
        """Count a hop and aim the next attempt at it; past ``max_redirects``, the error to report."""
        self._redirects += 1
        self.stats.redirects += 1
        host = hop.host
        if not (0 < len(host) <= 253 and host.isascii() and host.isprintable() and " " not in host):
            # Peer text that is no host name never reaches a log line or a terminal (nor DNS).
            self._redirects = 0
            self._target = (self.server, self.port)
            return ConnectError(f"the server redirected to an invalid host name ({len(host)} characters)")
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

    def _retry_delay(self, failure: ConnectError | RemoteProtocolError | Exception) -> float:
        """Seconds before the next attempt after ``failure``: backoff, or the interface poll."""
        if isinstance(failure, InterfaceMissing):
            if not self._interface_wait:
                self._interface_wait = True
                self._log(WARNING, "waiting for network interface %s to appear", self.interface)
            return INTERFACE_POLL
        return self._backoff.next_delay()

    def _closed_error(self, host: str, port: int) -> ConnectError:
        """The peer closed the connection (EOF)."""
        if not self._logged_in:
            return ConnectError(f"{host}:{port} closed the connection during login")
        return ConnectError(f"{host}:{port} closed the connection")

    def _check_interface(self) -> None:
        """Before an attempt: the bound interface must exist (it may come and go, e.g. ppp0)."""
        if not self.interface:
            return
        try:
            socket.if_nametoindex(self.interface)
        except OSError:
            raise InterfaceMissing(f"network interface {self.interface} is not present") from None
        if self._interface_wait:
            self._interface_wait = False
            self._log(WARNING, "network interface %s is present; connecting", self.interface)

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
                    raise InterfaceMissing(f"network interface {self.interface} is not present") from None
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
