"""The Blynk device protocol as a sans-I/O core, both roles (device and server).

The wire format and the session rules come from the research notes
``../shared/reference/blynk-protocol.md`` (sections 1-3), which were read from the C++ library
(``BlynkProtocol.h``, ``BlynkProtocolDefs.h``), the two Python libraries and the legacy Java server.
Nothing here reads a clock, sleeps, logs or touches a socket: bytes and ``now`` go in, events,
bytes and one deadline come out.

Wire format (notes section 1)
-----------------------------
Every message starts with a 5-byte big-endian header ``!BHH``: command, message id, and either the
body length or, for ``RESPONSE`` (command 0), a status code and no body. Bodies are UTF-8 text
arguments joined by single NULs (no terminator; an empty body has no arguments). Message ids run
1..65535 and wrap back to 1; id 0 is invalid and ends the session, as in every library.

- :class:`Command`, :class:`Status`: the command and status numbers (notes tables 1 and 2).
- :class:`Message`: one frozen message with :meth:`Message.encode`; its ``repr`` hides a login
  token.
- :class:`MessageDecoder`: the header decoder with a commit/rollback buffer. A header announcing a
  body longer than our receive limit (``max_body``), a command number >= 100 or message id 0 raises
  :class:`~blynk_client.errors.RemoteProtocolError` carrying a ``status`` (``ILLEGAL_COMMAND`` for an
  oversized length or a bad command, ``None`` for id 0) *as soon as the header is complete*: we
  never wait for, nor allocate, the announced body.
- :class:`MessageIds`: the id counter (never 0, wraps 65535 -> 1).

The connection (notes section 3)
--------------------------------
``BlynkConnection(Role.DEVICE | Role.SERVER, *, heartbeat, timeout, login_timeout, buffer_in)``
with the uniform sans-I/O surface: ``receive_data(data, now)`` (``b""`` means EOF),
``next_event()``, ``data_to_send()``, ``get_timer()`` and ``handle_timer(now)``. Peer errors never
raise out of ``receive_data``: they become a :class:`ProtocolViolation` event (after queuing a
RESPONSE with its status when one fits) and the state becomes ``CLOSED``; the driver then sends
``data_to_send()`` and closes the socket. Calling a method the state does not allow raises
:class:`~blynk_client.errors.LocalProtocolError`. Line noise that does not end a session (unknown
command numbers below 100, malformed bodies answered with a status) is counted in :attr:`stats`.

Device role::

    conn = BlynkConnection(Role.DEVICE, heartbeat=45.0)
    conn.login(token, now, info={"tmpl": "TMPL123", "fw": "1.2.0"})   # HW_LOGIN 29, id 1
    sock.sendall(conn.data_to_send())
    ...                                        # on RESPONSE 200 (or 4, as C++ does) the core queues
    conn.virtual_write("V1", 42, now=now)      # the INTERNAL info message (id 2) and emits
    conn.sync("V1", "V2", now=now)             # LoginSucceeded; on 9 LoginFailed(status=9); on
                                               # REDIRECT Redirected(host, port).

Methods (each returns the message id it used): ``login(token, now, *, info=None, legacy=False)``,
``virtual_write(pin, *values, now)``, ``sync(*pins, now)`` (none = all pins),
``set_property(pin, name, *values, now)``, ``log_event(code, description=None, *, now)``,
``resolve_event(code, *, all_events=False, now)``, ``group_begin(now, *, timestamp_ms=None)``,
``group_end(now)``, ``internal(*args, now)``, ``ping(now)``. Server PINGs are answered with
RESPONSE 200 and the same id automatically (:class:`PingReceived` tells the driver).

Device heartbeat rule (the C++ rule, notes section 3): with ``h = heartbeat`` and ``t = timeout``,
a PING is sent when nothing was received *or* nothing was sent for ``h`` seconds and the last ping
is at least ``t`` old; when nothing at all was received for ``h + 3 * t`` the core emits
:class:`HeartbeatTimeout` and closes. With no answer to the login for ``login_timeout`` seconds it
emits :class:`LoginTimeout` and closes.

Server role::

    conn = BlynkConnection(Role.SERVER)
    conn.receive_data(data, now)    # -> LoginRequested(token, legacy) (token hidden from repr)
    conn.accept_login(now)          # RESPONSE 200 (or reject_login(Status.INVALID_TOKEN, now=now),
                                    # or redirect(host, port, now=now))

Server methods: ``accept_login(now)``, ``reject_login(status=Status.INVALID_TOKEN, *, now)``,
``redirect(host, port, *, now)``, ``virtual_write(pin, *values, now)`` (a push),
``sync_reply(msg_id, pin, *values, now)`` (HARDWARE ``vw`` reusing the sync request's id),
``respond(msg_id, status, *, now)``, ``debug_print(text, *, now)``, ``ping(now)``. The core answers
PING and the device info message with 200 itself, answers a second login with 4
(``ALREADY_REGISTERED``), a malformed ``vw`` with 2 and a malformed property or event with 11.
Anything but a login before login is a violation answered with 5 (``NOT_AUTHENTICATED``), as the
legacy server closes the socket. Messages that arrive while a login decision is pending wait in
the buffer until ``accept_login``. Server idle rule (legacy server and Blynk 2.0 docs): the session
ends (:class:`HeartbeatTimeout`) after ``ceil(2.3 * h)`` seconds without receiving anything, where
``h`` is the device's ``h-beat`` from its info message, or our ``heartbeat`` before that.

Use one :class:`BlynkConnection` per TCP connection (a reconnect makes a new one; the device's id
counter restarts at 1 with the login). Events are frozen records (:class:`FrozenRecord`); see :data:`__all__`. Every
session-ending event is followed by no further events; :attr:`BlynkConnection.state` is then
``State.CLOSED``.
"""

from __future__ import annotations

import math
import struct
from collections import deque
from collections.abc import Callable, Mapping
from enum import Enum, IntEnum, unique
from typing import TYPE_CHECKING, Any

from blynk_client import __version__
from blynk_client.errors import LocalProtocolError, RemoteProtocolError, redact_token

if TYPE_CHECKING:  # served by the module __getattr__ below, on first use
    from blynk_client._server_role import (
        EventLogged,
        EventResolved,
        GroupMarker,
        InfoReceived,
        LoginRequested,
        PropertySet,
        ServerConnection,
        SyncRequested,
    )

__all__ = [
    "HEADER",
    "INFO_KEYS",
    "MAX_MSG_ID",
    "TRANSITIONS",
    "BlynkConnection",
    "Command",
    "ConnectionClosed",
    "ConnectionStats",
    "DebugPrint",
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
    "decode_values",
    "format_value",
    "parse_pin",
]

#: The 5-byte header: command (u8), message id (u16), body length or status (u16), big-endian.
HEADER = struct.Struct("!BHH")
#: The largest message id; the counter wraps from here back to 1 (0 is invalid).
MAX_MSG_ID = 0xFFFF
#: The largest body the header can describe.
MAX_BODY = 0xFFFF
#: Command numbers at or above this are rejected, as the legacy server does (``LAST_COMMAND_INDEX``).
COMMAND_LIMIT = 100
#: First keys of the device info message (C++ >= 1.3 starts with ``mcu``, the Python libraries with
#: ``ver``); an INTERNAL message starting with one of these is the info message.
INFO_KEYS = frozenset({"ver", "mcu", "ncp", "h-beat", "buff-in", "dev", "fw-type", "fw", "build", "blynk", "tmpl"})
#: The receive limit the legacy server assumes when the device sends no ``buff-in`` (255 - header).
DEFAULT_PEER_BUFFER = 250


@unique
class Command(IntEnum):
    """Blynk 2.0 device commands (notes section 1, "Command numbers")."""

    RESPONSE = 0  #: no body; the length field carries a :class:`Status`
    LOGIN = 2  #: legacy device login (blynklib 0.2.6 uses it), body = token
    PING = 6  #: empty; answered by RESPONSE 200 with the same id
    BRIDGE = 15  #: legacy device-to-device; handled like HARDWARE
    HARDWARE_SYNC = 16  #: empty = all pins, ``vr\\0p1\\0p2`` = these pins
    INTERNAL = 17  #: info message, ``rtc``, ``utc``, ``meta``, ``ota``, ...
    PROPERTY = 19  #: ``pin\\0property\\0value...``
    HARDWARE = 20  #: ``vw\\0pin\\0value...``
    GROUP = 21  #: ``b``, ``t\\0<ms>``, ``e``
    HW_LOGIN = 29  #: Blynk 2.0 device login, id 1, body = token
    REDIRECT = 41  #: ``host\\0port``
    DEBUG_PRINT = 55  #: server text the device may print
    EVENT_LOG = 64  #: ``code[\\0description]``
    EVENT_CLEAR = 65  #: ``code`` or ``code\\0all``


@unique
class Status(IntEnum):
    """Status codes carried by RESPONSE (notes section 2; union of C++ and the legacy server)."""

    QUOTA_LIMIT = 1
    ILLEGAL_COMMAND = 2
    NOT_REGISTERED = 3
    ALREADY_REGISTERED = 4
    NOT_AUTHENTICATED = 5
    NOT_ALLOWED = 6
    DEVICE_NOT_IN_NETWORK = 7
    NO_ACTIVE_DASHBOARD = 8
    INVALID_TOKEN = 9
    ILLEGAL_COMMAND_BODY = 11
    GET_GRAPH_DATA_EXCEPTION = 12
    NTF_INVALID_BODY = 13
    NTF_NOT_AUTHORIZED = 14
    NTF_EXCEPTION = 15
    TIMEOUT = 16
    NO_DATA = 17
    DEVICE_WENT_OFFLINE = 18
    SERVER_ERROR = 19
    NOT_SUPPORTED_VERSION = 20
    ENERGY_LIMIT = 21
    OPERATION_ACCEPT = 23
    OPERATION_DECLINE = 24
    OK = 200


_PACK_HEADER = HEADER.pack
_UNPACK_HEADER = HEADER.unpack_from
_HARDWARE = 20  # Command.HARDWARE as a plain int (IntEnum arithmetic and hashing are Python-level)

#: int -> Command, a dict lookup instead of the (slow) ``Command(n)`` call on the receive path.
_COMMANDS: dict[int, Command] = {int(c): c for c in Command}


def _command_name(command: int) -> str:
    try:
        return Command(command).name
    except ValueError:
        return str(command)


def format_value(value: object) -> str:
    """Format one argument as the libraries do: ``str()``, except ``bool`` as ``1``/``0``."""
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def parse_pin(pin: str | int) -> int:
    """Turn ``"V5"``, ``"v5"``, ``"5"`` or ``5`` into 5 (0..255); :class:`ValueError` otherwise."""
    if isinstance(pin, bool):
        raise ValueError(f"not a virtual pin: {pin!r}")
    if isinstance(pin, int):
        number = pin
    else:
        text = pin.strip()
        if text[:1] in ("V", "v"):
            text = text[1:]
        if not (text.isascii() and text.isdigit()):
            raise ValueError(f"not a virtual pin: {pin!r} (expected V0..V255)")
        number = int(text)
    if not 0 <= number <= 255:
        raise ValueError(f"virtual pin out of range: {pin!r} (expected V0..V255)")
    return number


def decode_values(raw: bytes) -> tuple[str, ...]:
    """The values of a ``vw`` body from its raw form: the bytes after ``vw\\0pin\\0``.

    UTF-8 with replacement characters, split at NUL, as every received body (``b""`` is one empty
    value). :attr:`BlynkConnection.write_store` holds this raw form.
    """
    return tuple(raw.decode("utf-8", "replace").split("\0"))


# ---------------------------------------------------------------------------------------------
# Records


class _RecordType(type):
    """The metaclass of :class:`Record`: a subclass's field annotations become its ``__slots__``.

    Done while the class is made, so each record class is created once (a class decorator would
    make it twice: slots cannot be added to an existing class). A class that names its own
    ``__slots__`` (the bases below) is left as it is.
    """

    def __new__(mcls, name: str, bases: tuple[type, ...], namespace: dict[str, Any]) -> _RecordType:
        if "__slots__" not in namespace:
            own = namespace.get("__annotations__", {})
            names = tuple(field for field in own if not field.startswith("_"))
            defaults = {field: namespace.pop(field) for field in names if field in namespace}
            base = bases[0] if bases else object
            fields = tuple(field for b in bases for field in getattr(b, "_fields", ())) + names
            namespace["__slots__"] = names
            namespace["_fields"] = fields
            namespace["_defaults"] = {**getattr(base, "_defaults", {}), **defaults}
            kw_only = namespace.get("_kw_only", getattr(base, "_kw_only", False))
            namespace["__match_args__"] = () if kw_only else fields
        return super().__new__(mcls, name, bases, namespace)


class Record(metaclass=_RecordType):
    """Base of the small slotted records of this package (events, messages, counters).

    What ``@dataclass(slots=True)`` gives (``__init__`` by field name, ``__eq__``, ``__repr__``,
    ``__post_init__``), without importing :mod:`dataclasses`: that import and its generated code
    cost about 1 MiB of peak RSS, which matters for a device client. Declare the fields of a
    subclass as class annotations and defaults as class attributes; the metaclass makes the slots.
    ``_hidden`` names fields left out of the repr (a login token); ``_kw_only`` refuses positional
    arguments.
    """

    __slots__ = ()
    __hash__ = None  # type: ignore[assignment]  # mutable records are unhashable, as dataclasses
    _fields: tuple[str, ...] = ()
    _defaults: dict[str, object] = {}  # replaced per class by the metaclass
    _hidden: frozenset[str] = frozenset()
    _kw_only = False

    def __init__(self, *args: object, **kwargs: object) -> None:
        fields = self._fields
        if args:
            if self._kw_only or len(args) > len(fields):
                raise TypeError(f"{type(self).__name__}() takes keyword arguments for {', '.join(fields)}")
            for name, value in zip(fields, args, strict=False):
                if name in kwargs:
                    raise TypeError(f"{type(self).__name__}() got multiple values for {name!r}")
                kwargs[name] = value
        defaults = self._defaults
        for name in fields:
            if name in kwargs:
                value = kwargs.pop(name)
            elif name in defaults:
                value = defaults[name]
                if callable(value) and isinstance(value, type):
                    value = value()  # a factory (dict, list, OrderedDict) makes a fresh default
            else:
                raise TypeError(f"{type(self).__name__}() missing required argument {name!r}")
            object.__setattr__(self, name, value)
        if kwargs:
            raise TypeError(f"{type(self).__name__}() got unexpected arguments {', '.join(kwargs)}")
        post = getattr(self, "__post_init__", None)
        if post is not None:
            post()

    def _values(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self._fields)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is self.__class__:
            return self._values() == other._values()  # type: ignore[attr-defined]
        return NotImplemented

    def __repr__(self) -> str:
        shown = ", ".join(f"{n}={getattr(self, n)!r}" for n in self._fields if n not in self._hidden)
        return f"{type(self).__name__}({shown})"


class FrozenRecord(Record):
    """A :class:`Record` whose fields cannot change after ``__init__`` (hashable)."""

    __slots__ = ()

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r} of a frozen {type(self).__name__}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r} of a frozen {type(self).__name__}")

    def __hash__(self) -> int:
        return hash(self._values())


# ---------------------------------------------------------------------------------------------
# Codec


class Message(FrozenRecord):
    """One Blynk message.

    :param command: the command number (a :class:`Command` when known).
    :param msg_id: 1..65535.
    :param args: the NUL-separated text arguments (empty for RESPONSE).
    :param status: the status of a RESPONSE (``None`` for every other command).

    ``args == ("",)`` and ``args == ()`` encode to the same empty body, which decodes to ``()``.
    """

    command: int
    msg_id: int
    args: tuple[str, ...] = ()
    status: int | None = None

    def __init__(self, command: int, msg_id: int, args: tuple[str, ...] = (), status: int | None = None) -> None:
        # written out: the decoder makes one per received message
        _set = object.__setattr__
        _set(self, "command", command)
        _set(self, "msg_id", msg_id)
        _set(self, "args", args)
        _set(self, "status", status)

    def __repr__(self) -> str:
        args: tuple[str, ...] = self.args
        if self.command in (Command.LOGIN, Command.HW_LOGIN):
            args = tuple(redact_token(a) for a in args)
        if self.command == Command.RESPONSE:
            return f"Message(RESPONSE, id={self.msg_id}, status={self.status})"
        return f"Message({_command_name(self.command)}, id={self.msg_id}, args={args!r})"

    @property
    def body(self) -> bytes:
        """The encoded body (``b""`` for RESPONSE)."""
        if self.command == Command.RESPONSE:
            return b""
        return "\0".join(self.args).encode("utf-8")

    def encode(self) -> bytes:
        """Return header and body; :class:`LocalProtocolError` for values the header cannot carry."""
        if not 0 <= self.command <= 0xFF:
            raise LocalProtocolError(f"command {self.command} does not fit in one byte")
        if not 1 <= self.msg_id <= MAX_MSG_ID:
            raise LocalProtocolError(f"message id {self.msg_id} is outside 1..65535")
        if self.command == Command.RESPONSE:
            if self.status is None or not 0 <= self.status <= 0xFFFF:
                raise LocalProtocolError(f"a RESPONSE needs a status in 0..65535, not {self.status}")
            return HEADER.pack(self.command, self.msg_id, self.status)
        body = self.body
        if len(body) > MAX_BODY:
            raise LocalProtocolError(f"a {_command_name(self.command)} body of {len(body)} bytes exceeds 65535")
        return HEADER.pack(self.command, self.msg_id, len(body)) + body


class MessageDecoder:
    """Split a byte stream into :class:`Message` objects (commit/rollback over one buffer).

    ``feed()`` appends bytes; ``next_message()`` returns the next complete message or ``None``
    without consuming anything when the header or body is incomplete. A complete header that
    announces a body above ``max_body``, a command >= 100 or message id 0 raises
    :class:`RemoteProtocolError` with ``status`` set (see the module docstring) before the body
    arrives, and the header stays unconsumed (the decoder is then unusable by design).
    """

    def __init__(self, *, max_body: int = 1024) -> None:
        if not 0 <= max_body <= MAX_BODY:
            raise ValueError("max_body must be in 0..65535")
        self.max_body = max_body
        # Immutable bytes, not a bytearray: the receive fast paths slice it into hashable,
        # splittable bytes without a copy per field, and a chunk that starts on a message boundary
        # (the usual case) becomes the buffer as it is.
        self._buf = b""
        self._pos = 0

    def feed(self, data: bytes) -> None:
        """Append received bytes (only the unconsumed tail, at most one message, is copied)."""
        if self._pos >= len(self._buf):
            self._buf = bytes(data)  # no copy for bytes
        else:
            self._buf = self._buf[self._pos :] + data
        self._pos = 0

    @property
    def buffered(self) -> bytes:
        """The bytes received but not yet returned as messages (trailing data)."""
        return self._buf[self._pos :]

    def peek_header(self) -> tuple[int, int, int] | None:
        """The next header ``(command, msg_id, length_or_status)`` without consuming it."""
        if len(self._buf) - self._pos < HEADER.size:
            return None
        return HEADER.unpack_from(self._buf, self._pos)

    def next_message(self) -> Message | None:
        """Return the next complete message, or ``None`` when more bytes are needed."""
        header = self.peek_header()
        if header is None:
            return None
        command, msg_id, length = header
        if msg_id == 0:
            raise RemoteProtocolError(f"message id 0 in a {_command_name(command)} header", status=None)
        if command >= COMMAND_LIMIT:
            raise RemoteProtocolError(f"command {command} is not a Blynk command", status=Status.ILLEGAL_COMMAND)
        if command == Command.RESPONSE:
            self._pos += HEADER.size
            return Message(Command.RESPONSE, msg_id, (), length)
        if length > self.max_body:
            raise RemoteProtocolError(
                f"a {_command_name(command)} body of {length} bytes exceeds our receive limit of {self.max_body}",
                status=Status.ILLEGAL_COMMAND,
            )
        end = self._pos + HEADER.size + length
        if len(self._buf) < end:
            return None
        body = self._buf[self._pos + HEADER.size : end]
        self._pos = end
        args = tuple(body.decode("utf-8", errors="replace").split("\0")) if body else ()
        return Message(_COMMANDS.get(command, command), msg_id, args)


class MessageIds:
    """Message id counter: 1, 2, ... 65535, 1, ... (never 0; notes section 1)."""

    __slots__ = ("_last",)

    def __init__(self, last: int = 0) -> None:
        self._last = last

    def next(self) -> int:
        """Return the next id."""
        self._last = 1 if self._last >= MAX_MSG_ID else self._last + 1
        return self._last

    def reset(self) -> None:
        """Start again at 1 (every session starts with the login at id 1)."""
        self._last = 0


# ---------------------------------------------------------------------------------------------
# Events


class Event(FrozenRecord):
    """Base class of every event :meth:`BlynkConnection.next_event` returns (keyword-only fields)."""

    __slots__ = ()
    _kw_only = True


class LoginSucceeded(Event):
    """Device: the server accepted the login (status 200, or 4 as C++ accepts); info was queued."""

    status: int = Status.OK


class LoginFailed(Event):
    """Device: the server refused the login; ``status`` 9 means the token is invalid. Closed."""

    status: int


class LoginTimeout(Event):
    """No login answer (device) or no login message (server) within ``login_timeout``. Closed."""


class Redirected(Event):
    """Device: the server sent REDIRECT; connect to ``host:port`` (TLS to the new name). Closed."""

    host: str
    port: int


class VirtualWrite(Event):
    """A HARDWARE (or BRIDGE) ``vw`` message: values written to virtual pin ``pin`` (0..255)."""

    pin: int
    values: tuple[str, ...]
    msg_id: int

    def __init__(self, *, pin: int, values: tuple[str, ...], msg_id: int) -> None:
        # written out: the receive hot path makes one per write
        _set = object.__setattr__
        _set(self, "pin", pin)
        _set(self, "values", values)
        _set(self, "msg_id", msg_id)


class Hardware(Event):
    """A HARDWARE or BRIDGE message other than ``vw`` (legacy ``pm``, ``dw``, ``vr``...)."""

    command: int
    args: tuple[str, ...]
    msg_id: int


class PingReceived(Event):
    """The peer sent PING; the core already queued RESPONSE 200 with the same id."""

    msg_id: int


class Pong(Event):
    """The answer to one of our PINGs arrived ``rtt`` seconds after we queued it."""

    msg_id: int
    status: int
    rtt: float


class Response(Event):
    """A RESPONSE to something other than the login or a ping (info, property, event...)."""

    msg_id: int
    status: int


class Internal(Event):
    """An INTERNAL message other than the device info (``rtc``, ``utc``, ``meta``, ``ota``...)."""

    args: tuple[str, ...]
    msg_id: int


class DebugPrint(Event):
    """DEBUG_PRINT (55): text the peer wants printed (tolerated, unlike BlynkLib)."""

    text: str
    msg_id: int


class HeartbeatTimeout(Event):
    """Nothing received for too long (device: ``h + 3t``; server: ``ceil(2.3 h)``). Closed."""

    idle: float


class ConnectionClosed(Event):
    """The peer closed the stream (``receive_data(b"", now)``). Closed."""


class ProtocolViolation(Event):
    """The peer broke the protocol; ``status`` (if any) was queued as a RESPONSE. Closed."""

    reason: str
    status: int | None


# ---------------------------------------------------------------------------------------------
# State machine


class Role(Enum):
    """Which side of the session this connection plays."""

    DEVICE = "device"
    SERVER = "server"


class State(Enum):
    """Session states (see :data:`TRANSITIONS`)."""

    IDLE = "idle"  #: device before ``login()``
    AWAIT_LOGIN = "await-login"  #: device: login sent; server: waiting for the login message
    AUTHORIZING = "authorizing"  #: server: LoginRequested emitted, waiting for accept/reject/redirect
    READY = "ready"  #: logged in
    CLOSED = "closed"  #: over; the driver closes the socket after sending ``data_to_send()``


_READY = State.READY  # one global load on the send fast path instead of two lookups


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
#: ``(role, state, input) -> next state``. A missing key is an illegal move: a local input raises
#: :class:`LocalProtocolError` and leaves the state alone.
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
    (_S, State.AUTHORIZING, Input.PEER_CLOSED): State.CLOSED,
    (_S, State.AUTHORIZING, Input.VIOLATION): State.CLOSED,
    (_S, State.AUTHORIZING, Input.CLOSE): State.CLOSED,
    (_S, State.READY, Input.TIMEOUT): State.CLOSED,
    (_S, State.READY, Input.PEER_CLOSED): State.CLOSED,
    (_S, State.READY, Input.VIOLATION): State.CLOSED,
    (_S, State.READY, Input.CLOSE): State.CLOSED,
}

#: Commands each role may send in READY (the device also sends PING and RESPONSE in AWAIT_LOGIN).
SENDABLE: dict[Role, frozenset[int]] = {
    Role.DEVICE: frozenset(
        {
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
        }
    ),
    Role.SERVER: frozenset(
        {Command.RESPONSE, Command.PING, Command.HARDWARE, Command.BRIDGE, Command.INTERNAL, Command.DEBUG_PRINT}
    ),
}


class ConnectionStats(Record):
    """Counters of one connection (peer noise is counted here, never raised)."""

    messages_in: int = 0
    messages_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    unknown_commands: int = 0  #: command numbers < 100 we do not handle (ignored, as the legacy server)
    malformed: int = 0  #: bodies we could not parse (answered with a status where the role allows)
    ignored_after_close: int = 0  #: bytes received after the session ended
    writes_stored: int = 0  #: server role: ``vw`` writes put into :attr:`BlynkConnection.write_store`


#: The server role's operations (``ServerConnection``); asked of a device they raise.
_SERVER_OPERATIONS = frozenset({"accept_login", "reject_login", "redirect", "sync_reply", "debug_print"})
#: Names this module serves from :mod:`blynk_client._server_role` on first use (module ``__getattr__``).
_SERVER_NAMES = frozenset(
    {
        "EventLogged",
        "EventResolved",
        "GroupMarker",
        "InfoReceived",
        "LoginRequested",
        "PropertySet",
        "ServerConnection",
        "SyncRequested",
    }
)


def __getattr__(name: str) -> Any:
    """The server-role names load :mod:`blynk_client._server_role` on first use (a device never does)."""
    if name in _SERVER_NAMES:
        from blynk_client import _server_role

        return getattr(_server_role, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class BlynkConnection:
    """One Blynk session, device or server role, without I/O (see the module docstring).

    :param role: :attr:`Role.DEVICE` or :attr:`Role.SERVER`.
    :param heartbeat: device: the ``h-beat`` we announce and ping by (seconds, default 45 as C++
        1.0-1.3); server: the idle unit used until the device's info message names its own (default
        10, the legacy ``hard.socket.idle.timeout``).
    :param timeout: device: the C++ ``BLYNK_TIMEOUT_MS`` in seconds (ping spacing, liveness grace).
    :param login_timeout: how long the login exchange may take (device: answer; server: message).
    :param buffer_in: our receive limit for one body (device default 1024, server default 8192);
        the device announces it as ``buff-in``.
    """

    #: Receive dispatch, command -> handler: the device's (the server role's is its own class's).
    _handler_table: dict[int, Callable[[BlynkConnection, Message, float], None]]

    def __new__(cls, role: Role, **options: Any) -> BlynkConnection:
        """``BlynkConnection(Role.SERVER, ...)`` makes a ``ServerConnection`` (the same API).

        The server role lives in :mod:`blynk_client._server_role`, which a device never imports.
        """
        if role is Role.SERVER and cls is BlynkConnection:
            from blynk_client._server_role import ServerConnection

            return super().__new__(ServerConnection)
        return super().__new__(cls)

    def __getattr__(self, name: str) -> Any:
        """Only reached for a missing attribute: a server operation asked of a device connection."""
        if name in _SERVER_OPERATIONS:
            raise LocalProtocolError(f"{name} is a server operation")
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __init__(
        self,
        role: Role,
        *,
        heartbeat: float | None = None,
        timeout: float = 6.0,
        login_timeout: float = 10.0,
        buffer_in: int | None = None,
    ) -> None:
        self.role = role
        self.heartbeat = float(heartbeat if heartbeat is not None else (45.0 if role is Role.DEVICE else 10.0))
        if self.heartbeat <= 0 or timeout <= 0 or login_timeout <= 0:
            raise ValueError("heartbeat, timeout and login_timeout must be positive")
        self.timeout = float(timeout)
        self.login_timeout = float(login_timeout)
        self.buffer_in = buffer_in if buffer_in is not None else (1024 if role is Role.DEVICE else 8192)
        self.stats = ConnectionStats()
        #: The device's info message as a dict (server role, once received).
        self.peer_info: dict[str, str] = {}
        #: The peer's receive limit: server role from ``buff-in``, else the legacy default 250.
        self.peer_buffer_in = DEFAULT_PEER_BUFFER if role is Role.SERVER else MAX_BODY
        #: Server role: where the receive fast path stores ``vw`` writes, ``store[pin] = raw`` (the
        #: value bytes, read with :func:`decode_values`), instead of emitting :class:`VirtualWrite`
        #: events (counted in ``stats.writes_stored``). ``None`` (the default): events only.
        self.write_store: dict[int, bytes | tuple[str, ...]] | None = None
        self._decoder = MessageDecoder(max_body=self.buffer_in)
        # per-role table keyed by plain ints: IntEnum hashing is a Python-level call
        self._handlers = self._handler_table
        self._sendable = frozenset(int(c) for c in SENDABLE[role])
        self._ids = MessageIds()
        self._events: deque[Event] = deque()
        self._out = bytearray()
        self._state = State.IDLE if role is Role.DEVICE else State.AWAIT_LOGIN
        self._started: float | None = None  # server: first receive_data/start; device: login time
        self._last_rx = 0.0
        self._last_tx = 0.0
        self._last_ping = -math.inf
        self._pings: dict[int, float] = {}
        self._login_id = 1
        self._info: dict[str, str] = {}
        self._peer_heartbeat: float | None = None

    # -- properties ---------------------------------------------------------------------------

    @property
    def state(self) -> State:
        """The current :class:`State`."""
        return self._state

    @property
    def closed(self) -> bool:
        """True once the session is over."""
        return self._state is State.CLOSED

    def __repr__(self) -> str:
        return f"<BlynkConnection {self.role.value} {self._state.value}>"

    # -- uniform sans-I/O surface ---------------------------------------------------------------

    def start(self, now: float) -> None:
        """Server role: the connection was accepted at ``now`` (arms the login timeout)."""
        if self._started is None:
            self._started = now
            self._last_rx = now

    def receive_data(self, data: bytes, now: float) -> None:
        """Feed received bytes; ``b""`` means the peer closed the stream."""
        if self._state is State.CLOSED:
            self.stats.ignored_after_close += len(data)
            return
        self.start(now)
        if self._state is State.IDLE:
            self._violation("data from the server before login", None, 0)
            return
        if not data:
            self._move(Input.PEER_CLOSED)
            self._events.append(ConnectionClosed())
            return
        self.stats.bytes_in += len(data)
        self._last_rx = now
        self._decoder.feed(data)
        self._process(now)

    def next_event(self) -> Event | None:
        """Return the next event, or ``None``."""
        return self._events.popleft() if self._events else None

    def data_to_send(self) -> bytes:
        """Return (and forget) the bytes to write to the peer."""
        out = bytes(self._out)
        self._out.clear()
        return out

    def pending_bytes(self) -> int:
        """How many bytes :meth:`data_to_send` would return now (drivers use it to coalesce)."""
        return len(self._out)

    def get_timer(self) -> float | None:
        """The next absolute deadline on the caller's clock, or ``None``."""
        if self._state is State.AWAIT_LOGIN:
            if self.role is Role.DEVICE:
                return min(self._login_deadline(), self._ping_deadline(), self._liveness_deadline())
            return self._login_deadline() if self._started is not None else None
        if self._state is State.READY:
            if self.role is Role.DEVICE:
                return min(self._ping_deadline(), self._liveness_deadline())
            return self._liveness_deadline()
        return None

    def handle_timer(self, now: float) -> None:
        """Act on every deadline that is due at ``now`` (ping, liveness, login timeout)."""
        if self._state is State.AWAIT_LOGIN and self._started is not None and now >= self._login_deadline():
            self._move(Input.TIMEOUT)
            self._events.append(LoginTimeout())
            return
        if self._state not in (State.READY, State.AWAIT_LOGIN):
            return
        if now >= self._liveness_deadline():
            self._move(Input.TIMEOUT)
            self._events.append(HeartbeatTimeout(idle=now - self._last_rx))
            return
        if self.role is Role.DEVICE and now >= self._ping_deadline():
            self.ping(now)

    # -- deadlines ------------------------------------------------------------------------------

    def _login_deadline(self) -> float:
        assert self._started is not None
        return self._started + self.login_timeout

    def _ping_deadline(self) -> float:
        idle_since = min(self._last_rx, self._last_tx)
        return max(idle_since + self.heartbeat, self._last_ping + self.timeout)

    def _liveness_deadline(self) -> float:
        if self.role is Role.DEVICE:
            return self._last_rx + self.heartbeat + 3 * self.timeout
        return self._last_rx + math.ceil(2.3 * (self._peer_heartbeat or self.heartbeat))

    # -- state machine --------------------------------------------------------------------------

    def _move(self, event: Input) -> None:
        try:
            self._state = TRANSITIONS[(self.role, self._state, event)]
        except KeyError:
            raise LocalProtocolError(
                f"{event.value} is not allowed for a {self.role.value} in state {self._state.value}"
            ) from None

    def close(self) -> None:
        """End the session locally (no wire message exists for this in Blynk)."""
        if self._state is not State.CLOSED:
            self._move(Input.CLOSE)

    def _violation(self, reason: str, status: int | None, msg_id: int) -> None:
        if status is not None and 1 <= msg_id <= MAX_MSG_ID:
            self._queue(Message(Command.RESPONSE, msg_id, (), status))
        self._move(Input.VIOLATION)
        self._events.append(ProtocolViolation(reason=reason, status=status))

    # -- sending --------------------------------------------------------------------------------

    def _queue(self, message: Message) -> None:
        data = message.encode()
        self._out += data
        self.stats.messages_out += 1
        self.stats.bytes_out += len(data)

    def _send(self, command: Command, args: tuple[str, ...], now: float, *, msg_id: int | None = None) -> int:
        allowed = self._state is State.READY or (
            self._state is State.AWAIT_LOGIN and command in (Command.PING, Command.RESPONSE)
        )
        if not allowed:
            raise LocalProtocolError(f"cannot send {command.name} in state {self._state.value}")
        if command not in self._sendable:
            raise LocalProtocolError(f"a {self.role.value} does not send {command.name}")
        body = "\0".join(args).encode("utf-8")
        if len(body) > self.peer_buffer_in:
            raise LocalProtocolError(
                f"a {command.name} body of {len(body)} bytes exceeds the peer's receive limit of {self.peer_buffer_in}"
            )
        mid = self._ids.next() if msg_id is None else msg_id
        if not 1 <= mid <= MAX_MSG_ID:
            raise LocalProtocolError(f"message id {mid} is outside 1..65535")
        # the hot path of every write: pack directly (Message.encode would build the body again)
        data = HEADER.pack(command, mid, len(body)) + body
        self._out += data
        self.stats.messages_out += 1
        self.stats.bytes_out += len(data)
        self._last_tx = now
        return mid

    def ping(self, now: float) -> int:
        """Queue a PING; its answer becomes a :class:`Pong` event. Returns the message id."""
        mid = self._send(Command.PING, (), now)
        self._last_ping = now
        self._pings[mid] = now
        if len(self._pings) > 16:  # unanswered pings: keep only the newest
            del self._pings[next(iter(self._pings))]
        return mid

    def virtual_write(self, pin: str | int, *values: object, now: float) -> int:
        """Queue HARDWARE ``vw\\0pin\\0values...`` (device: a write; server: a push).

        See :meth:`virtual_write_values`, which takes the values as one tuple.
        """
        return self.virtual_write_values(pin, values, now)

    def virtual_write_values(self, pin: str | int, values: tuple[object, ...], now: float) -> int:
        """:meth:`virtual_write` with ``values`` as one tuple (drivers pass theirs on unpacked).

        The hot path of every client (notes section 1, "HARDWARE"): for one ``int``, ``str`` or
        ``float`` value on a pin given as a number, the body is formatted as bytes in one step and
        packed with :data:`HEADER` straight into the output buffer, without an intermediate
        :class:`Message`. Anything else (several values, other types, a pin as text, a state that
        forbids it, no values, an oversized body) takes the general path of :meth:`_send` and its
        errors.
        """
        if self._state is _READY and len(values) == 1 and type(pin) is int and 0 <= pin <= 255:
            value = values[0]
            kind = type(value)
            if kind is int:
                body = b"vw\0%d\0%d" % (pin, value)
            elif kind is str:
                if "\0" in value:
                    raise LocalProtocolError("a value must not contain NUL characters")
                body = b"vw\0%d\0%b" % (pin, value.encode())
            elif kind is float:
                body = b"vw\0%d\0%r" % (pin, value)  # repr() is str() for a float
            else:
                body = b""
            size = len(body)
            if body and size <= self.peer_buffer_in:
                ids = self._ids
                mid = ids._last = 1 if ids._last >= MAX_MSG_ID else ids._last + 1
                out = self._out
                out += _PACK_HEADER(_HARDWARE, mid, size)
                out += body
                stats = self.stats
                stats.messages_out += 1
                stats.bytes_out += size + 5
                self._last_tx = now
                return mid
        if self._state is State.READY and values:
            texts = [format_value(v) for v in values]
            for text in texts:
                if "\0" in text:
                    raise LocalProtocolError("a value must not contain NUL characters")
            return self._send(Command.HARDWARE, ("vw", str(self._pin(pin)), *texts), now)
        args = ("vw", str(self._pin(pin)), *(format_value(v) for v in values))
        return self._send(Command.HARDWARE, args, now)

    def internal(self, *args: object, now: float) -> int:
        """Queue an INTERNAL message with these arguments (``rtc``, ``utc``, ``meta``...)."""
        return self._send(Command.INTERNAL, tuple(format_value(a) for a in args), now)

    @staticmethod
    def _pin(pin: str | int) -> int:
        if type(pin) is int and 0 <= pin <= 255:
            return pin
        try:
            return parse_pin(pin)
        except ValueError as exc:
            raise LocalProtocolError(str(exc)) from None

    # -- device API -----------------------------------------------------------------------------

    def _device_only(self, what: str) -> None:
        if self.role is not Role.DEVICE:
            raise LocalProtocolError(f"{what} is a device operation")

    def login(self, token: str, now: float, *, info: Mapping[str, object] | None = None, legacy: bool = False) -> None:
        """Queue HW_LOGIN (or LOGIN 2 with ``legacy``) with id 1; arm the login timeout.

        ``info`` adds to or overrides the info message sent after a successful login; the keys
        default to ``ver``, ``h-beat``, ``buff-in``, ``dev`` (then ``tmpl``, ``fw-type``, ``fw``,
        ``build`` when given), in the order of notes section 3.
        """
        self._device_only("login")
        if not token or "\0" in token:
            raise LocalProtocolError("the auth token is empty or contains NUL")
        self._move(Input.SEND_LOGIN)
        self._ids.reset()
        self._login_id = self._ids.next()
        self._started = now
        self._last_rx = now
        self._last_tx = now
        self._last_ping = -math.inf
        self._pings.clear()
        merged: dict[str, str] = {
            "ver": __version__,
            "h-beat": str(round(self.heartbeat)),
            "buff-in": str(self.buffer_in),
            "dev": "python",
        }
        for key, value in (info or {}).items():
            merged[key] = format_value(value)
        self._info = merged
        command = Command.LOGIN if legacy else Command.HW_LOGIN
        self._queue(Message(command, self._login_id, (token,)))

    def sync(self, *pins: str | int, now: float) -> int:
        """Queue HARDWARE_SYNC for these pins (``vr\\0p1\\0p2``), or for all pins when none given."""
        self._device_only("sync")
        args = ("vr", *(str(self._pin(p)) for p in pins)) if pins else ()
        return self._send(Command.HARDWARE_SYNC, args, now)

    def set_property(self, pin: str | int, name: str, *values: object, now: float) -> int:
        """Queue PROPERTY ``pin\\0name\\0values...`` (label, color, min, max, isDisabled...)."""
        self._device_only("set_property")
        if not name:
            raise LocalProtocolError("a property needs a name")
        args = (str(self._pin(pin)), name, *(format_value(v) for v in values))
        return self._send(Command.PROPERTY, args, now)

    def log_event(self, code: str, description: str | None = None, *, now: float) -> int:
        """Queue EVENT_LOG ``code[\\0description]``."""
        self._device_only("log_event")
        if not code:
            raise LocalProtocolError("an event needs a code")
        args = (code,) if description is None else (code, description)
        return self._send(Command.EVENT_LOG, args, now)

    def resolve_event(self, code: str, *, all_events: bool = False, now: float) -> int:
        """Queue EVENT_CLEAR ``code`` (the latest) or ``code\\0all``."""
        self._device_only("resolve_event")
        if not code:
            raise LocalProtocolError("an event needs a code")
        return self._send(Command.EVENT_CLEAR, (code, "all") if all_events else (code,), now)

    def group_begin(self, now: float, *, timestamp_ms: int | None = None) -> int:
        """Queue GROUP ``b`` (or ``t\\0<ms>`` with a timestamp): the following writes form a batch."""
        self._device_only("group_begin")
        args = ("b",) if timestamp_ms is None else ("t", str(int(timestamp_ms)))
        return self._send(Command.GROUP, args, now)

    def group_end(self, now: float) -> int:
        """Queue GROUP ``e``."""
        self._device_only("group_end")
        return self._send(Command.GROUP, ("e",), now)

    def respond(self, msg_id: int, status: int, *, now: float) -> None:
        """Queue RESPONSE ``status`` for message ``msg_id``."""
        if self._state is not State.READY:
            raise LocalProtocolError(f"cannot respond in state {self._state.value}")
        self._queue(Message(Command.RESPONSE, msg_id, (), int(status)))
        self._last_tx = now

    # -- receiving ------------------------------------------------------------------------------

    def _process(self, now: float) -> None:
        while self._state not in (State.CLOSED, State.AUTHORIZING):
            if self._state is State.READY:
                self._fast_virtual_writes()
            try:
                message = self._decoder.next_message()
            except RemoteProtocolError as exc:
                header = self._decoder.peek_header()
                mid = header[1] if header else 0
                status = exc.status if self.role is Role.SERVER else None
                self._violation(str(exc), status, mid)
                return
            if message is None:
                return
            self.stats.messages_in += 1
            handler = self._handlers.get(message.command)
            if handler is None:
                self.stats.unknown_commands += 1
                continue
            handler(self, message, now)

    def _fast_virtual_writes(self) -> None:
        """Take the run of well-formed HARDWARE ``vw`` messages at the buffer head (READY only).

        The receive hot path (notes section 1): each header is unpacked in place and each body
        split once as bytes, with no :class:`Message`. With :attr:`write_store` set (server role)
        and no other event waiting, a write costs one dict store of its raw values
        (:func:`decode_values` reads them) and no event; otherwise it becomes one
        :class:`VirtualWrite`. It stops, without consuming, at the first message that is anything
        else (another command, id 0, an oversized or incomplete body, a malformed pin, a ``vw``
        without values); the general path of :meth:`_process` then takes that one with all its
        checks and answers. Storing only while no event waits keeps the order a later sync needs.
        """
        decoder = self._decoder
        buf = decoder._buf
        pos = decoder._pos
        size = len(buf)
        limit = decoder.max_body
        events = self._events
        store = self.write_store
        unpack = _UNPACK_HEADER
        start = pos
        stored = count = 0
        storing = store is not None and not events
        while size - pos >= 5:
            command, mid, length = unpack(buf, pos)
            end = pos + 5 + length
            if command != _HARDWARE or not mid or length > limit or end > size:
                break
            parts = buf[pos + 5 : end].split(b"\0", 2)
            if len(parts) != 3 or parts[0] != b"vw" or not 0 < len(parts[1]) < 4 or not parts[1].isdigit():
                break
            pin = int(parts[1])
            if pin > 255:
                break
            if storing:
                store[pin] = parts[2]  # type: ignore[index]
                stored += 1
            else:
                events.append(VirtualWrite(pin=pin, values=decode_values(parts[2]), msg_id=mid))
                count += 1
            pos = end
        if pos != start:
            decoder._pos = pos
            stats = self.stats
            stats.messages_in += stored + count
            stats.writes_stored += stored

    # device handlers

    def _d_response(self, message: Message, now: float) -> None:
        status = message.status if message.status is not None else 0
        if self._state is State.AWAIT_LOGIN and message.msg_id == self._login_id:
            if status in (Status.OK, Status.ALREADY_REGISTERED):
                self._move(Input.RECV_LOGIN_OK)
                self._send(Command.INTERNAL, tuple(x for kv in self._info.items() for x in kv), now)
                self._events.append(LoginSucceeded(status=status))
            else:
                self._move(Input.RECV_LOGIN_REFUSED)
                self._events.append(LoginFailed(status=status))
            return
        sent = self._pings.pop(message.msg_id, None)
        if sent is not None:
            self._events.append(Pong(msg_id=message.msg_id, status=status, rtt=now - sent))
        else:
            self._events.append(Response(msg_id=message.msg_id, status=status))

    def _d_redirect(self, message: Message, now: float) -> None:
        if not message.args or not message.args[0]:
            self._violation("REDIRECT without a host", None, message.msg_id)
            return
        port = 80
        if len(message.args) > 1 and message.args[1]:
            try:
                port = int(message.args[1])
            except ValueError:
                port = -1
            if not 0 < port <= 0xFFFF:
                self._violation(f"REDIRECT with a bad port {message.args[1]!r}", None, message.msg_id)
                return
        self._move(Input.RECV_REDIRECT)
        self._events.append(Redirected(host=message.args[0], port=port))

    def _d_debug_print(self, message: Message, now: float) -> None:
        self._events.append(DebugPrint(text="\0".join(message.args), msg_id=message.msg_id))

    def _both_ping(self, message: Message, now: float) -> None:
        if self._state is State.AWAIT_LOGIN and self.role is Role.SERVER:
            self._before_login(message, now)
            return
        self._queue(Message(Command.RESPONSE, message.msg_id, (), Status.OK))
        self._last_tx = now
        self._events.append(PingReceived(msg_id=message.msg_id))

    def _both_hardware(self, message: Message, now: float) -> None:
        if self._state is State.AWAIT_LOGIN and self.role is Role.SERVER:
            self._before_login(message, now)
            return
        args = message.args
        if args[:1] == ("vw",):
            pin = -1
            if len(args) >= 2:
                text = args[1]
                if text.isdigit() and len(text) <= 3 and text.isascii():
                    pin = int(text) if int(text) <= 255 else -1
                else:
                    try:
                        pin = parse_pin(text)
                    except ValueError:
                        pin = -1
            if pin < 0:
                self._malformed(message, Status.ILLEGAL_COMMAND, now)
                return
            self._events.append(VirtualWrite(pin=pin, values=args[2:], msg_id=message.msg_id))
            return
        if not args:
            self._malformed(message, Status.ILLEGAL_COMMAND, now)
            return
        self._events.append(Hardware(command=message.command, args=args, msg_id=message.msg_id))

    def _both_internal(self, message: Message, now: float) -> None:
        self._events.append(Internal(args=message.args, msg_id=message.msg_id))

    def _malformed(self, message: Message, status: int, now: float) -> None:
        self.stats.malformed += 1
        if self.role is Role.SERVER and self._state is State.READY:
            self._queue(Message(Command.RESPONSE, message.msg_id, (), status))
            self._last_tx = now

    def _before_login(self, message: Message, now: float) -> None:
        self._violation(f"{_command_name(message.command)} before login", Status.NOT_AUTHENTICATED, message.msg_id)


def _positive_number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) and value > 0 else None


#: Receive dispatch of the device role: command -> handler. Commands not listed are counted and
#: ignored. (The server role's table is in :mod:`blynk_client._server_role`.)
_DEVICE_HANDLERS: dict[int, Callable[[BlynkConnection, Message, float], None]] = {
    int(Command.RESPONSE): BlynkConnection._d_response,
    int(Command.PING): BlynkConnection._both_ping,
    int(Command.HARDWARE): BlynkConnection._both_hardware,
    int(Command.BRIDGE): BlynkConnection._both_hardware,
    int(Command.INTERNAL): BlynkConnection._both_internal,
    int(Command.REDIRECT): BlynkConnection._d_redirect,
    int(Command.DEBUG_PRINT): BlynkConnection._d_debug_print,
}
BlynkConnection._handler_table = _DEVICE_HANDLERS
