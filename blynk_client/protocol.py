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
def BlynkConnection(
    role: Literal[Role.DEVICE],
    *,
    heartbeat: float | None = None,
    timeout: float = 6.0,
    login_timeout: float = 10.0,
    buffer_in: int | None = None,
) -> DeviceConnection: ...
@overload
def BlynkConnection(
    role: Literal[Role.SERVER],
    *,
    heartbeat: float | None = None,
    timeout: float = 6.0,
    login_timeout: float = 10.0,
    buffer_in: int | None = None,
) -> ServerConnection: ...
def BlynkConnection(  # noqa: N802 - named as the class it stood for
    role: Role,
    *,
    heartbeat: float | None = None,
    timeout: float = 6.0,
    login_timeout: float = 10.0,
    buffer_in: int | None = None,
) -> Connection:
    """A new connection in ``role``: :class:`DeviceConnection` or :class:`ServerConnection`.

    ``heartbeat`` and ``buffer_in`` default per role (device 45 s and 1024 bytes, server 10 s and
    8192 bytes).
    """
    if role is Role.DEVICE:
        return DeviceConnection(
            heartbeat=45.0 if heartbeat is None else heartbeat,
            timeout=timeout,
            login_timeout=login_timeout,
            buffer_in=1024 if buffer_in is None else buffer_in,
        )
    return ServerConnection(
        heartbeat=10.0 if heartbeat is None else heartbeat,
        timeout=timeout,
        login_timeout=login_timeout,
        buffer_in=8192 if buffer_in is None else buffer_in,
    )
