"""The Blynk device protocol as a sans-I/O core, both roles: the public names in one place.

The core is split the h11/wsproto way; this module only re-exports it (research notes
``blynk-protocol.md`` sections 1-3 are cited in each part):

- :mod:`blynk_client._wire`: the codec (header, :class:`Command`, :class:`Status`,
  :class:`Message`, :class:`MessageDecoder`, :class:`MessageIds`) and the bounded parsers of wire
  numbers (:func:`parse_pin`, :func:`parse_decimal`, :func:`parse_seconds`);
- :mod:`blynk_client._events`: the events both roles and the device role emit;
- :mod:`blynk_client._state`: :class:`Role`, :class:`State`, :class:`Input` and the
  :data:`TRANSITIONS` table;
- :mod:`blynk_client._connection`: :class:`Connection`, the base both roles share;
- :mod:`blynk_client._device`: :class:`DeviceConnection`;
- :mod:`blynk_client._server_role`: :class:`ServerConnection` and the server's events.

A device client imports :mod:`blynk_client._device` (and never the server role); this module
imports everything. ``BlynkConnection(role, **options)`` is a plain factory returning the
connection class of that role.
"""

from __future__ import annotations

from typing import Literal, overload

from blynk_client._connection import Connection, ConnectionStats
from blynk_client._device import DeviceConnection
from blynk_client._events import (
    ConnectionClosed,
    DebugPrint,
    Event,
    Hardware,
    HeartbeatTimeout,
    Internal,
    LoginFailed,
    LoginSucceeded,
    LoginTimeout,
    Malformed,
    PingReceived,
    Pong,
    ProtocolViolation,
    Redirected,
    Response,
    VirtualWrite,
)
from blynk_client._server_role import (
    EventLogged,
    EventResolved,
    GroupMarker,
    InfoReceived,
    LoginRequested,
    PropertySet,
    ServerConnection,
    SyncRequested,
    VirtualWrites,
)
from blynk_client._state import SENDABLE, TRANSITIONS, Input, Role, State
from blynk_client._wire import (
    HEADER,
    INFO_KEYS,
    MAX_BODY,
    MAX_MSG_ID,
    Command,
    Message,
    MessageDecoder,
    MessageIds,
    Status,
    command_name,
    decode_values,
    format_value,
    parse_decimal,
    parse_pin,
    parse_seconds,
)

__all__ = [
    "HEADER",
    "INFO_KEYS",
    "MAX_BODY",
    "MAX_MSG_ID",
    "SENDABLE",
    "TRANSITIONS",
    "BlynkConnection",
    "Command",
    "Connection",
    "ConnectionClosed",
    "ConnectionStats",
    "DebugPrint",
    "DeviceConnection",
    "Event",
    "EventLogged",
    "EventResolved",
    "GroupMarker",
    "Hardware",
    "HeartbeatTimeout",
    "InfoReceived",
    "Input",
    "Internal",
    "LoginFailed",
    "LoginRequested",
    "LoginSucceeded",
    "LoginTimeout",
    "Malformed",
    "Message",
    "MessageDecoder",
    "MessageIds",
    "PingReceived",
    "Pong",
    "PropertySet",
    "ProtocolViolation",
    "Redirected",
    "Response",
    "Role",
    "ServerConnection",
    "State",
    "Status",
    "SyncRequested",
    "VirtualWrite",
    "VirtualWrites",
    "command_name",
    "decode_values",
    "format_value",
    "parse_decimal",
    "parse_pin",
    "parse_seconds",
]


@overload
def BlynkConnection(role: Literal[Role.DEVICE], **options: float) -> DeviceConnection: ...
@overload
def BlynkConnection(role: Literal[Role.SERVER], **options: float) -> ServerConnection: ...
def BlynkConnection(role: Role, **options: float) -> Connection:  # noqa: N802
    """A new connection in ``role``: :class:`DeviceConnection` or :class:`ServerConnection`.

    ``options`` are the role class's keyword arguments (``heartbeat``, ``timeout``,
    ``login_timeout``, ``buffer_in``); ``None`` values take the role's defaults.
    """
    given = {key: value for key, value in options.items() if value is not None}
    buffer_in = given.pop("buffer_in", None)
    if role is Role.DEVICE:
        return DeviceConnection(**given) if buffer_in is None else DeviceConnection(buffer_in=int(buffer_in), **given)
    return ServerConnection(**given) if buffer_in is None else ServerConnection(buffer_in=int(buffer_in), **given)
