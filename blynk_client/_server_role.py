"""The server role of the Blynk protocol core, kept out of a device client's imports.

:class:`ServerConnection` is :class:`blynk_client.protocol.BlynkConnection` in the server role
(research notes ``blynk-protocol.md`` section 3, "Server role"): ``BlynkConnection(Role.SERVER)``
returns one, and the server events (:class:`LoginRequested`, :class:`SyncRequested`,
:class:`InfoReceived`, :class:`PropertySet`, :class:`EventLogged`, :class:`EventResolved`,
:class:`GroupMarker`) are importable from :mod:`blynk_client.protocol` as well; it loads this module
on first use. A device client never does, so it does not pay for this code in RSS.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from blynk_client.errors import LocalProtocolError
from blynk_client.protocol import (
    INFO_KEYS,
    MAX_BODY,
    BlynkConnection,
    Command,
    Event,
    Input,
    Message,
    Pong,
    Response,
    Role,
    State,
    Status,
    _positive_number,
    format_value,
    parse_pin,
)

__all__ = [
    "EventLogged",
    "EventResolved",
    "GroupMarker",
    "InfoReceived",
    "LoginRequested",
    "PropertySet",
    "ServerConnection",
    "SyncRequested",
]


class InfoReceived(Event):
    """Server: the device info message (``ver``/``h-beat``/``buff-in``/``dev``...); answered 200."""

    info: tuple[tuple[str, str], ...]
    msg_id: int

    def as_dict(self) -> dict[str, str]:
        """The info pairs as a dict."""
        return dict(self.info)


class LoginRequested(Event):
    """Server: a device sent HW_LOGIN (or LOGIN 2 when ``legacy``); call accept/reject/redirect."""

    _hidden = frozenset({"token"})

    token: str
    legacy: bool
    msg_id: int


class SyncRequested(Event):
    """Server: HARDWARE_SYNC for ``pins`` (empty = every stored pin); answer with ``sync_reply``."""

    pins: tuple[int, ...]
    msg_id: int


class PropertySet(Event):
    """Server: PROPERTY ``pin``, ``name``, ``values``; answer with ``respond(msg_id, 200 or 11)``."""

    pin: int
    name: str
    values: tuple[str, ...]
    msg_id: int


class EventLogged(Event):
    """Server: EVENT_LOG ``code`` with an optional ``description``."""

    code: str
    description: str | None
    msg_id: int


class EventResolved(Event):
    """Server: EVENT_CLEAR ``code`` (the latest one, or all when ``all_events``)."""

    code: str
    all_events: bool
    msg_id: int


class GroupMarker(Event):
    """Server: GROUP ``begin`` (optionally with ``timestamp_ms``) or ``end``."""

    action: str
    timestamp_ms: int | None
    msg_id: int


class ServerConnection(BlynkConnection):
    """:class:`~blynk_client.protocol.BlynkConnection` in the server role (see the module docstring)."""

    def __init__(self, role: Role = Role.SERVER, **options: Any) -> None:
        if role is not Role.SERVER:
            raise ValueError("a ServerConnection plays the server role")
        super().__init__(role, **options)

    # -- server API -----------------------------------------------------------------------------

    def accept_login(self, now: float) -> None:
        """Answer the pending login with 200 and process any messages that were waiting."""
        self._move(Input.ACCEPT)
        self._queue(Message(Command.RESPONSE, self._login_id, (), Status.OK))
        self._last_tx = now
        self._process(now)

    def reject_login(self, status: int = Status.INVALID_TOKEN, *, now: float) -> None:
        """Answer the pending login with ``status`` (9 = invalid token) and close."""
        self._move(Input.REJECT)
        self._queue(Message(Command.RESPONSE, self._login_id, (), int(status)))
        self._last_tx = now

    def redirect(self, host: str, port: int, *, now: float) -> None:
        """Answer the pending login with REDIRECT ``host\\0port`` (login's id) and close."""
        if not host or "\0" in host or not 0 < port <= 0xFFFF:
            raise LocalProtocolError("redirect needs a host and a port in 1..65535")
        self._move(Input.REDIRECT)
        self._queue(Message(Command.REDIRECT, self._login_id, (host, str(port))))
        self._last_tx = now

    def sync_reply(self, msg_id: int, pin: str | int, *values: object, now: float) -> None:
        """Server: queue HARDWARE ``vw\\0pin\\0values`` reusing the sync request's id."""
        args = ("vw", str(self._pin(pin)), *(format_value(v) for v in values))
        self._send(Command.HARDWARE, args, now, msg_id=msg_id)

    def debug_print(self, text: str, *, now: float) -> int:
        """Server: queue DEBUG_PRINT ``text``."""
        return self._send(Command.DEBUG_PRINT, (text,), now)

    # -- receive handlers -------------------------------------------------------------------------

    def _s_internal(self, message: Message, now: float) -> None:
        if self._state is State.AWAIT_LOGIN:
            self._before_login(message, now)
            return
        args = message.args
        if not (args[:1] and args[0] in INFO_KEYS):
            self._both_internal(message, now)
            return
        pairs = tuple(zip(args[0::2], args[1::2], strict=False))
        self._info = dict(pairs)
        self.peer_info = dict(pairs)
        hb = _positive_number(self.peer_info.get("h-beat"))
        if hb is not None:
            self._peer_heartbeat = hb
        buf = _positive_number(self.peer_info.get("buff-in"))
        if buf is not None:
            self.peer_buffer_in = min(int(buf), MAX_BODY)
        self._queue(Message(Command.RESPONSE, message.msg_id, (), Status.OK))
        self._last_tx = now
        self._events.append(InfoReceived(info=pairs, msg_id=message.msg_id))

    def _s_login(self, message: Message, now: float) -> None:
        if self._state is State.READY:
            self._queue(Message(Command.RESPONSE, message.msg_id, (), Status.ALREADY_REGISTERED))
            self._last_tx = now
            return
        token = message.args[0] if message.args else ""
        if not token or len(message.args) > 1:
            self._violation("a login without exactly one token", Status.INVALID_TOKEN, message.msg_id)
            return
        self._login_id = message.msg_id
        self._move(Input.RECV_LOGIN)
        self._events.append(LoginRequested(token=token, legacy=message.command == Command.LOGIN, msg_id=message.msg_id))

    def _s_response(self, message: Message, now: float) -> None:
        if self._state is State.AWAIT_LOGIN:
            self._before_login(message, now)
            return
        status = message.status if message.status is not None else 0
        sent = self._pings.pop(message.msg_id, None)
        if sent is not None:
            self._events.append(Pong(msg_id=message.msg_id, status=status, rtt=now - sent))
        else:
            self._events.append(Response(msg_id=message.msg_id, status=status))

    def _s_ready_only(self, message: Message, now: float) -> bool:
        if self._state is State.AWAIT_LOGIN:
            self._before_login(message, now)
            return False
        return True

    def _s_sync(self, message: Message, now: float) -> None:
        if not self._s_ready_only(message, now):
            return
        args = message.args
        if args and args[0] != "vr":
            self._malformed(message, Status.ILLEGAL_COMMAND, now)
            return
        try:
            pins = tuple(parse_pin(a) for a in args[1:])
        except ValueError:
            self._malformed(message, Status.ILLEGAL_COMMAND, now)
            return
        self._events.append(SyncRequested(pins=pins, msg_id=message.msg_id))

    def _s_property(self, message: Message, now: float) -> None:
        if not self._s_ready_only(message, now):
            return
        args = message.args
        try:
            pin = parse_pin(args[0]) if len(args) >= 3 and args[1] else -1
        except ValueError:
            pin = -1
        if pin < 0:
            self._malformed(message, Status.ILLEGAL_COMMAND_BODY, now)
            return
        self._events.append(PropertySet(pin=pin, name=args[1], values=args[2:], msg_id=message.msg_id))

    def _s_event_log(self, message: Message, now: float) -> None:
        if not self._s_ready_only(message, now):
            return
        args = message.args
        if not args or not args[0] or len(args) > 2:
            self._malformed(message, Status.ILLEGAL_COMMAND_BODY, now)
            return
        self._events.append(
            EventLogged(code=args[0], description=args[1] if len(args) > 1 else None, msg_id=message.msg_id)
        )

    def _s_event_clear(self, message: Message, now: float) -> None:
        if not self._s_ready_only(message, now):
            return
        args = message.args
        if not args or not args[0] or len(args) > 2 or (len(args) == 2 and args[1] != "all"):
            self._malformed(message, Status.ILLEGAL_COMMAND_BODY, now)
            return
        self._events.append(EventResolved(code=args[0], all_events=len(args) == 2, msg_id=message.msg_id))

    def _s_group(self, message: Message, now: float) -> None:
        if not self._s_ready_only(message, now):
            return
        args = message.args
        if args == ("b",):
            self._events.append(GroupMarker(action="begin", timestamp_ms=None, msg_id=message.msg_id))
        elif args == ("e",):
            self._events.append(GroupMarker(action="end", timestamp_ms=None, msg_id=message.msg_id))
        elif len(args) == 2 and args[0] == "t" and args[1].isascii() and args[1].isdigit():
            self._events.append(GroupMarker(action="begin", timestamp_ms=int(args[1]), msg_id=message.msg_id))
        else:
            self._malformed(message, Status.ILLEGAL_COMMAND, now)

    def _s_other(self, message: Message, now: float) -> None:
        if not self._s_ready_only(message, now):
            return
        if message.command == Command.DEBUG_PRINT:
            self._d_debug_print(message, now)
        else:
            self.stats.unknown_commands += 1


#: Receive dispatch of the server role: command -> handler. Commands not listed are counted and
#: ignored, as the legacy server does.
_SERVER_HANDLERS: dict[int, Callable[[BlynkConnection, Message, float], None]] = {
    int(Command.LOGIN): ServerConnection._s_login,  # type: ignore[dict-item]
    int(Command.HW_LOGIN): ServerConnection._s_login,  # type: ignore[dict-item]
    int(Command.RESPONSE): ServerConnection._s_response,  # type: ignore[dict-item]
    int(Command.PING): BlynkConnection._both_ping,
    int(Command.HARDWARE): BlynkConnection._both_hardware,
    int(Command.BRIDGE): BlynkConnection._both_hardware,
    int(Command.INTERNAL): ServerConnection._s_internal,  # type: ignore[dict-item]
    int(Command.HARDWARE_SYNC): ServerConnection._s_sync,  # type: ignore[dict-item]
    int(Command.PROPERTY): ServerConnection._s_property,  # type: ignore[dict-item]
    int(Command.EVENT_LOG): ServerConnection._s_event_log,  # type: ignore[dict-item]
    int(Command.EVENT_CLEAR): ServerConnection._s_event_clear,  # type: ignore[dict-item]
    int(Command.GROUP): ServerConnection._s_group,  # type: ignore[dict-item]
    int(Command.DEBUG_PRINT): ServerConnection._s_other,  # type: ignore[dict-item]
}
ServerConnection._handler_table = _SERVER_HANDLERS
