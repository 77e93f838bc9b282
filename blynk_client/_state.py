"""The session state table of the Blynk core, both roles (research notes ``blynk-protocol.md`` section 3).

``TRANSITIONS[(role, state, input)]`` is the next state; a missing key is an illegal move (a local
input raises :class:`~blynk_client.errors.LocalProtocolError` and leaves the state alone).
``SENDABLE[role]`` lists the commands a role may send once logged in.
"""

from __future__ import annotations

from enum import Enum

from blynk_client._wire import Command

__all__ = ["SENDABLE", "TRANSITIONS", "Input", "Role", "State"]


class Role(Enum):
    """Which side of the session a connection plays."""

    DEVICE = "device"
    SERVER = "server"


class State(Enum):
    """Session states (see :data:`TRANSITIONS`)."""

    IDLE = "idle"  #: device before ``login()``
    AWAIT_LOGIN = "await-login"  #: device: login sent; server: waiting for the login message
    AUTHORIZING = "authorizing"  #: server: LoginRequested emitted, waiting for accept/reject/redirect
    READY = "ready"  #: logged in
    CLOSED = "closed"  #: over; the driver closes the socket after sending ``data_to_send()``


class Input(Enum):
    """What moves the session from one state to another."""

    SEND_LOGIN = "send-login"
    RECV_LOGIN_OK = "recv-login-ok"
    RECV_LOGIN_REFUSED = "recv-login-refused"
    RECV_REDIRECT = "recv-redirect"
    RECV_LOGIN = "recv-login"
    ACCEPT = "accept"
    REJECT = "reject"
    REDIRECT = "redirect"
    TIMEOUT = "timeout"
    PEER_CLOSED = "peer-closed"
    VIOLATION = "violation"
    CLOSE = "close"


_D, _S = Role.DEVICE, Role.SERVER
#: ``(role, state, input) -> next state``.
TRANSITIONS: dict[tuple[Role, State, Input], State] = {
    (_D, State.IDLE, Input.SEND_LOGIN): State.AWAIT_LOGIN,
    (_D, State.IDLE, Input.VIOLATION): State.CLOSED,
    (_D, State.IDLE, Input.CLOSE): State.CLOSED,
    (_D, State.AWAIT_LOGIN, Input.RECV_LOGIN_OK): State.READY,
    (_D, State.AWAIT_LOGIN, Input.RECV_LOGIN_REFUSED): State.CLOSED,
    (_D, State.AWAIT_LOGIN, Input.RECV_REDIRECT): State.CLOSED,
    (_D, State.AWAIT_LOGIN, Input.TIMEOUT): State.CLOSED,
    (_D, State.AWAIT_LOGIN, Input.PEER_CLOSED): State.CLOSED,
    (_D, State.AWAIT_LOGIN, Input.VIOLATION): State.CLOSED,
    (_D, State.AWAIT_LOGIN, Input.CLOSE): State.CLOSED,
    (_D, State.READY, Input.RECV_REDIRECT): State.CLOSED,
    (_D, State.READY, Input.TIMEOUT): State.CLOSED,
    (_D, State.READY, Input.PEER_CLOSED): State.CLOSED,
    (_D, State.READY, Input.VIOLATION): State.CLOSED,
    (_D, State.READY, Input.CLOSE): State.CLOSED,
    (_S, State.AWAIT_LOGIN, Input.RECV_LOGIN): State.AUTHORIZING,
    (_S, State.AWAIT_LOGIN, Input.TIMEOUT): State.CLOSED,
    (_S, State.AWAIT_LOGIN, Input.PEER_CLOSED): State.CLOSED,
    (_S, State.AWAIT_LOGIN, Input.VIOLATION): State.CLOSED,
    (_S, State.AWAIT_LOGIN, Input.CLOSE): State.CLOSED,
    (_S, State.AUTHORIZING, Input.ACCEPT): State.READY,
    (_S, State.AUTHORIZING, Input.REJECT): State.CLOSED,
    (_S, State.AUTHORIZING, Input.REDIRECT): State.CLOSED,
    (_S, State.AUTHORIZING, Input.TIMEOUT): State.CLOSED,
    (_S, State.AUTHORIZING, Input.PEER_CLOSED): State.CLOSED,
    (_S, State.AUTHORIZING, Input.VIOLATION): State.CLOSED,
    (_S, State.AUTHORIZING, Input.CLOSE): State.CLOSED,
    (_S, State.READY, Input.TIMEOUT): State.CLOSED,
    (_S, State.READY, Input.PEER_CLOSED): State.CLOSED,
    (_S, State.READY, Input.VIOLATION): State.CLOSED,
    (_S, State.READY, Input.CLOSE): State.CLOSED,
}

#: Commands each role may send in READY (either role also sends PING and RESPONSE in AWAIT_LOGIN).
SENDABLE: dict[Role, frozenset[int]] = {
    Role.DEVICE: frozenset(
        int(c)
        for c in (
            Command.RESPONSE,
            Command.PING,
            Command.BRIDGE,
            Command.HARDWARE_SYNC,
            Command.INTERNAL,
            Command.PROPERTY,
            Command.HARDWARE,
            Command.GROUP,
            Command.EVENT_LOG,
            Command.EVENT_CLEAR,
        )
    ),
    Role.SERVER: frozenset(
        int(c)
        for c in (
            Command.RESPONSE,
            Command.PING,
            Command.HARDWARE,
            Command.BRIDGE,
            Command.INTERNAL,
            Command.DEBUG_PRINT,
        )
    ),
}
