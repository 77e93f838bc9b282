"""The server role of the Blynk core and its events (research notes ``blynk-protocol.md`` section 3).

::

    conn = ServerConnection()
    conn.start(now)                 # accepted: arms the login timeout
    conn.receive_data(data, now)    # -> LoginRequested(token, legacy) (token hidden from repr)
    conn.accept_login(now)          # RESPONSE 200 (or reject_login(Status.INVALID_TOKEN, now=now),
                                    # or redirect(host, port, now=now))

Server methods: ``accept_login(now)``, ``reject_login(status=Status.INVALID_TOKEN, *, now)``,
``redirect(host, port, *, now)``, ``virtual_write(pin, *values, now)`` (a push),
``sync_reply(msg_id, pin, *values, now)`` (HARDWARE ``vw`` reusing the sync request's id),
``respond(msg_id, status, *, now)``, ``debug_print(text, *, now)``, ``internal(*args, now)``,
``ping(now)``. The core answers PING and the device info message with 200 itself, answers a second
login with 4 (``ALREADY_REGISTERED``), a malformed ``vw`` or GROUP with 2 and a malformed property
or event with 11 (each also a :class:`~blynk_client._events.Malformed` event, for one log line).
Anything but a login before login is a violation answered with 5 (``NOT_AUTHENTICATED``), as the
legacy server closes the socket. Messages that arrive while a login decision is pending wait in the
buffer until ``accept_login``.

Device writes come as :class:`VirtualWrites`, one event per run of consecutive ``vw`` messages
(the receive fast path: raw value bytes, no per-write object), or as
:class:`~blynk_client._events.VirtualWrite` when a write is taken by the general path.

Numbers from the device are bounded before use: ``h-beat`` must be a finite number of seconds in
``(0, 3600]`` (the C++ library's own range tops out at 3600) and ``buff-in`` an integer in
``32..65535``; a value outside is ignored and reported as :class:`~blynk_client._events.Malformed`.
Idle rule (legacy server and Blynk 2.0 docs): the session ends
(:class:`~blynk_client._events.HeartbeatTimeout`) after ``ceil(2.3 * h)`` seconds without receiving
anything, where ``h`` is the device's ``h-beat``, or our ``heartbeat`` before its info arrives.
"""

from __future__ import annotations

import math

from blynk_client._connection import Connection
from blynk_client._dataclass import dataclass, field
from blynk_client._events import Event, HeartbeatTimeout, LoginTimeout, Malformed
from blynk_client._state import Input, Role, State
from blynk_client._wire import (
    DEFAULT_PEER_BUFFER,
    INFO_KEYS,
    MAX_BODY,
    Command,
    Message,
    Status,
    format_value,
    parse_decimal,
    parse_pin,
    parse_seconds,
)
from blynk_client.errors import LocalProtocolError, RemoteProtocolError

__all__ = [
    "MAX_PEER_HEARTBEAT",
    "MIN_PEER_BUFFER",
    "EventLogged",
    "EventResolved",
    "GroupMarker",
    "InfoReceived",
    "LoginRequested",
    "PropertySet",
    "ServerConnection",
    "SyncRequested",
    "VirtualWrites",
]

#: The largest ``h-beat`` (seconds) a device may announce; C++ refuses to build above 3600.
MAX_PEER_HEARTBEAT = 3600.0
#: The smallest ``buff-in`` a device may announce (a ``vw`` with a short value still fits).
MIN_PEER_BUFFER = 32
#: The legacy server's idle factor: a device is gone after ``ceil(2.3 * h-beat)`` silent seconds.
IDLE_FACTOR = 2.3


@dataclass(frozen=True, slots=True, kw_only=True)
class InfoReceived(Event):
    """The device info message (``ver``/``h-beat``/``buff-in``/``dev``...); answered 200."""

    info: tuple[tuple[str, str], ...]
    msg_id: int

    def as_dict(self) -> dict[str, str]:
        """The info pairs as a dict."""
        return dict(self.info)


@dataclass(frozen=True, slots=True, kw_only=True)
class LoginRequested(Event):
    """A device sent HW_LOGIN (or LOGIN 2 when ``legacy``); call accept/reject/redirect."""

    token: str = field(repr=False)
    legacy: bool
    msg_id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class SyncRequested(Event):
    """HARDWARE_SYNC for ``pins`` (empty = every stored pin); answer with ``sync_reply``."""

    pins: tuple[int, ...]
    msg_id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PropertySet(Event):
    """PROPERTY ``pin``, ``name``, ``values``; answer with ``respond(msg_id, 200 or a status)``."""

    pin: int
    name: str
    values: tuple[str, ...]
    msg_id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class EventLogged(Event):
    """EVENT_LOG ``code`` with an optional ``description``; answer with ``respond``."""

    code: str
    description: str | None
    msg_id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class EventResolved(Event):
    """EVENT_CLEAR ``code`` (the latest one, or all when ``all_events``)."""

    code: str
    all_events: bool
    msg_id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupMarker(Event):
    """GROUP ``begin`` (optionally with ``timestamp_ms``) or ``end``."""

    action: str
    timestamp_ms: int | None
    msg_id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class VirtualWrites(Event):
    """A run of device ``vw`` writes: ``(pin, raw values, msg_id)`` each, in arrival order.

    ``raw`` is the body after ``vw\\0pin\\0``; :func:`~blynk_client._wire.decode_values` turns it
    into the values a :class:`~blynk_client._events.VirtualWrite` carries.
    """

    writes: tuple[tuple[int, bytes, int], ...]


class ServerConnection(Connection):
    """One Blynk session in the server role (see the module docstring).

    :param heartbeat: the idle unit until the device's info message names its own ``h-beat``
        (default 10, the legacy ``hard.socket.idle.timeout``).
    :param timeout: kept for symmetry with the device role.
    :param login_timeout: how long a new connection has to send its login.
    :param buffer_in: our receive limit for one body (default 8192).
    """

    role = Role.SERVER

    def __init__(
        self, *, heartbeat: float = 10.0, timeout: float = 6.0, login_timeout: float = 10.0, buffer_in: int = 8192
    ) -> None:
        super().__init__(heartbeat=heartbeat, timeout=timeout, login_timeout=login_timeout, buffer_in=buffer_in)
        self._state = State.AWAIT_LOGIN
        self._started: float | None = None
        self._peer_heartbeat: float | None = None
        #: The device's receive limit: its ``buff-in``, else the legacy default 250.
        self.peer_buffer_in = DEFAULT_PEER_BUFFER
        #: The device's info message as a dict, once received.
        self.peer_info: dict[str, str] = {}

    def start(self, now: float) -> None:
        """The connection was accepted at ``now`` (arms the login timeout)."""
        if self._started is None:
            self._started = now
            self._last_rx = now

    @property
    def idle_timeout(self) -> float:
        """Seconds without receiving anything after which the session ends (``ceil(2.3 h)``)."""
        return float(math.ceil(IDLE_FACTOR * (self._peer_heartbeat or self.heartbeat)))

    # -- server API -----------------------------------------------------------------------------

    def accept_login(self, now: float) -> None:
        """Answer the pending login with 200 and process any messages that were waiting."""
        self._move(Input.ACCEPT)
        self._queue_response(self._login_id, Status.OK)
        self._last_tx = now
        self._process(now)

    def reject_login(self, status: int = Status.INVALID_TOKEN, *, now: float) -> None:
        """Answer the pending login with ``status`` (9 = invalid token) and close."""
        self._move(Input.REJECT)
        self._queue_response(self._login_id, int(status))
        self._last_tx = now

    def redirect(self, host: str, port: int, *, now: float) -> None:
        """Answer the pending login with REDIRECT ``host\\0port`` (login's id) and close."""
        if not host or "\0" in host or not 0 < port <= 0xFFFF:
            raise LocalProtocolError("redirect needs a host and a port in 1..65535")
        self._move(Input.REDIRECT)
        self._queue(Message(Command.REDIRECT, self._login_id, (host, str(port))))
        self._last_tx = now

    def sync_reply(self, msg_id: int, pin: str | int, *values: object, now: float) -> None:
        """Queue HARDWARE ``vw\\0pin\\0values`` reusing the sync request's id."""
        args = ("vw", str(self._pin(pin)), *(format_value(v) for v in values))
        self._send(Command.HARDWARE, args, now, msg_id=msg_id)

    def debug_print(self, text: str, *, now: float) -> int:
        """Queue DEBUG_PRINT ``text``."""
        return self._send(Command.DEBUG_PRINT, (text,), now)

    # -- timers ---------------------------------------------------------------------------------

    def get_timer(self) -> float | None:
        """The next absolute deadline (login, then idle), or ``None``."""
        if self._state is State.READY:
            return self._last_rx + self.idle_timeout
        if self._state is State.CLOSED or self._started is None:
            return None
        return self._started + self.login_timeout

    def handle_timer(self, now: float) -> None:
        """Act on the deadline due at ``now`` (login timeout, idle rule)."""
        deadline = self.get_timer()
        if deadline is None or now < deadline:
            return
        ready = self._state is State.READY
        self._move(Input.TIMEOUT)
        self._events.append(HeartbeatTimeout(idle=now - self._last_rx) if ready else LoginTimeout())

    # -- receiving ------------------------------------------------------------------------------

    def _accepting(self, now: float) -> bool:
        self.start(now)
        return True

    def _answers_malformed(self) -> bool:
        return self._state is State.READY

    def _violation_status(self, exc: RemoteProtocolError) -> int | None:
        return exc.status

    def _fast_writes(self) -> None:
        writes = self._take_writes()
        if writes:
            self._events.append(VirtualWrites(writes=tuple(writes)))

    def _dispatch(self, message: Message, now: float) -> None:
        command = message.command
        if command in (Command.LOGIN, Command.HW_LOGIN):
            self._on_login(message, now)
            return
        if self._state is State.AWAIT_LOGIN:
            name = command.name if isinstance(command, Command) else str(command)
            self._violation(f"{name} before login", Status.NOT_AUTHENTICATED, message.msg_id)
            return
        match command:
            case Command.RESPONSE:
                self._on_response(message, now)
            case Command.PING:
                self._on_ping(message, now)
            case Command.HARDWARE | Command.BRIDGE:
                self._on_hardware(message, now)
            case Command.INTERNAL:
                self._on_info_or_internal(message, now)
            case Command.HARDWARE_SYNC:
                self._on_sync(message)
            case Command.PROPERTY:
                self._on_property(message)
            case Command.EVENT_LOG:
                self._on_event_log(message)
            case Command.EVENT_CLEAR:
                self._on_event_clear(message)
            case Command.GROUP:
                self._on_group(message)
            case Command.DEBUG_PRINT:
                self._on_debug_print(message, now)
            case _:
                self.stats.unknown_commands += 1

    def _on_login(self, message: Message, now: float) -> None:
        if self._state is State.READY:
            self._queue_response(message.msg_id, Status.ALREADY_REGISTERED)
            self._last_tx = now
            return
        token = message.args[0] if message.args else ""
        if not token or len(message.args) > 1:
            self._violation("a login without exactly one token", Status.INVALID_TOKEN, message.msg_id)
            return
        self._login_id = message.msg_id
        self._move(Input.RECV_LOGIN)
        self._events.append(LoginRequested(token=token, legacy=message.command == Command.LOGIN, msg_id=message.msg_id))

    def _on_info_or_internal(self, message: Message, now: float) -> None:
        args = message.args
        if not (args[:1] and args[0] in INFO_KEYS):
            self._on_internal(message, now)
            return
        pairs = tuple(zip(args[0::2], args[1::2], strict=False))
        info = dict(pairs)
        self.peer_info = info
        bad: list[str] = []
        if "h-beat" in info:
            heartbeat = parse_seconds(info["h-beat"], MAX_PEER_HEARTBEAT)
            if heartbeat is None:
                bad.append(f"h-beat {info['h-beat'][:16]!r}")
            else:
                self._peer_heartbeat = heartbeat
        if "buff-in" in info:
            buffer_in = parse_decimal(info["buff-in"], MIN_PEER_BUFFER, MAX_BODY)
            if buffer_in is None:
                bad.append(f"buff-in {info['buff-in'][:16]!r}")
            else:
                self.peer_buffer_in = buffer_in
        self._queue_response(message.msg_id, Status.OK)
        self._last_tx = now
        if bad:  # the info is still taken (and answered 200), the bad numbers are not
            self.stats.malformed += 1
            reason = f"INTERNAL: ignored {', '.join(bad)}"
            self._events.append(Malformed(reason=reason, status=None, msg_id=message.msg_id))
        self._events.append(InfoReceived(info=pairs, msg_id=message.msg_id))

    def _on_sync(self, message: Message) -> None:
        args = message.args
        if args and args[0] != "vr":
            self._malformed(message, Status.ILLEGAL_COMMAND, f"not a vr sync: {args[0][:16]!r}")
            return
        try:
            pins = tuple(parse_pin(a) for a in args[1:])
        except ValueError as exc:
            self._malformed(message, Status.ILLEGAL_COMMAND, str(exc))
            return
        self._events.append(SyncRequested(pins=pins, msg_id=message.msg_id))

    def _on_property(self, message: Message) -> None:
        args = message.args
        if len(args) < 3 or not args[1]:
            self._malformed(message, Status.ILLEGAL_COMMAND_BODY, "a property needs pin, name and value")
            return
        try:
            pin = parse_pin(args[0])
        except ValueError as exc:
            self._malformed(message, Status.ILLEGAL_COMMAND_BODY, str(exc))
            return
        self._events.append(PropertySet(pin=pin, name=args[1], values=args[2:], msg_id=message.msg_id))

    def _on_event_log(self, message: Message) -> None:
        args = message.args
        if not args or not args[0] or len(args) > 2:
            self._malformed(message, Status.ILLEGAL_COMMAND_BODY, "an event needs a code and at most a description")
            return
        description = args[1] if len(args) > 1 else None
        self._events.append(EventLogged(code=args[0], description=description, msg_id=message.msg_id))

    def _on_event_clear(self, message: Message) -> None:
        args = message.args
        if not args or not args[0] or len(args) > 2 or (len(args) == 2 and args[1] != "all"):
            self._malformed(message, Status.ILLEGAL_COMMAND_BODY, "a resolve needs a code and at most 'all'")
            return
        self._events.append(EventResolved(code=args[0], all_events=len(args) == 2, msg_id=message.msg_id))

    def _on_group(self, message: Message) -> None:
        args = message.args
        if args == ("b",):
            self._events.append(GroupMarker(action="begin", timestamp_ms=None, msg_id=message.msg_id))
            return
        if args == ("e",):
            self._events.append(GroupMarker(action="end", timestamp_ms=None, msg_id=message.msg_id))
            return
        stamp = parse_decimal(args[1], 0, 2**63 - 1) if len(args) == 2 and args[0] == "t" else None
        if stamp is None:
            self._malformed(message, Status.ILLEGAL_COMMAND, "not b, e or t<ms>")
            return
        self._events.append(GroupMarker(action="begin", timestamp_ms=stamp, msg_id=message.msg_id))
