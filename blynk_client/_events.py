"""Events of the Blynk core shared by both roles and those of the device role.

Every event is a frozen, slotted, keyword-only dataclass. :meth:`Connection.next_event
<blynk_client._connection.Connection.next_event>` returns them; a driver dispatches on their type
with ``match``. The server role's own events (login request, sync request, property, ...) live with
it in :mod:`blynk_client._server_role`, which a device never imports. Session-ending events
(:class:`LoginFailed`, :class:`LoginTimeout`, :class:`Redirected`, :class:`HeartbeatTimeout`,
:class:`ConnectionClosed`, :class:`ProtocolViolation`) are the last event of a connection.
Sections refer to the research notes ``blynk-protocol.md``.
"""

from __future__ import annotations

from blynk_client._dataclass import dataclass

__all__ = [
    "ConnectionClosed",
    "DebugPrint",
    "Event",
    "Hardware",
    "HeartbeatTimeout",
    "Internal",
    "LoginFailed",
    "LoginSucceeded",
    "LoginTimeout",
    "Malformed",
    "PingReceived",
    "Pong",
    "ProtocolViolation",
    "Redirected",
    "Response",
    "VirtualWrite",
]


@dataclass(frozen=True, slots=True)
class Event:
    """Base class of every event."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LoginSucceeded(Event):
    """Device: the server accepted the login (status 200, or 4 as C++ accepts); info was queued."""

    status: int = 200


@dataclass(frozen=True, slots=True, kw_only=True)
class LoginFailed(Event):
    """Device: the server refused the login; ``status`` 9 means the token is invalid. Closed."""

    status: int


@dataclass(frozen=True, slots=True, kw_only=True)
class LoginTimeout(Event):
    """No login answer (device) or no login message (server) within ``login_timeout``. Closed."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Redirected(Event):
    """Device: the server sent REDIRECT; connect to ``host:port`` (TLS to the new name). Closed."""

    host: str
    port: int


@dataclass(frozen=True, slots=True, kw_only=True)
class VirtualWrite(Event):
    """A HARDWARE (or BRIDGE) ``vw`` message: values written to virtual pin ``pin`` (0..255)."""

    pin: int
    values: tuple[str, ...]
    msg_id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Hardware(Event):
    """A HARDWARE or BRIDGE message other than ``vw`` (legacy ``pm``, ``dw``, ``vr``...)."""

    command: int
    args: tuple[str, ...]
    msg_id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PingReceived(Event):
    """The peer sent PING; the core already queued RESPONSE 200 with the same id."""

    msg_id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Pong(Event):
    """The answer to one of our PINGs arrived ``rtt`` seconds after we queued it."""

    msg_id: int
    status: int
    rtt: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Response(Event):
    """A RESPONSE to something other than the login or a ping (info, property, event...)."""

    msg_id: int
    status: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Internal(Event):
    """An INTERNAL message other than the device info (``rtc``, ``utc``, ``meta``, ``ota``...)."""

    args: tuple[str, ...]
    msg_id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class DebugPrint(Event):
    """DEBUG_PRINT (55): text the peer wants printed (tolerated, unlike BlynkLib)."""

    text: str
    msg_id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Malformed(Event):
    """The peer sent a message we could not use; the session goes on.

    ``status`` (when not ``None``) was queued as the RESPONSE for ``msg_id`` (the server role
    answers, notes section 3: 2 for a bad ``vw``, 11 for a bad property or event); ``reason`` is
    one line for a log (peer text in it is ``repr``-quoted and cut short).
    """

    reason: str
    status: int | None
    msg_id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class HeartbeatTimeout(Event):
    """Nothing received for too long (device: ``h + 3t``; server: ``ceil(2.3 h)``). Closed."""

    idle: float


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionClosed(Event):
    """The peer closed the stream (``receive_data(b"", now)``). Closed.

    ``trailing`` counts the bytes of an unfinished message the peer left behind (0 for a clean close).
    """

    trailing: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ProtocolViolation(Event):
    """The peer broke the protocol; ``status`` (if any) was queued as a RESPONSE. Closed."""

    reason: str
    status: int | None
