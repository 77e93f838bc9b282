"""The Blynk wire codec: header, commands, status codes, messages, and bounded text parsers.

Research notes ``blynk-protocol.md`` section 1 ("Message framing"): every message starts with a
5-byte big-endian header ``!BHH``: command, message id, and either the body length or, for
``RESPONSE`` (command 0), a status code and no body. Bodies are UTF-8 text arguments joined by
single NULs (no terminator; an empty body has no arguments). Message ids run 1..65535 and wrap back
to 1; id 0 is invalid.

Nothing here knows about sessions (see :mod:`blynk_client._connection`). Every number taken from
the wire goes through a bounded parser (:func:`parse_pin`, :func:`parse_decimal`,
:func:`parse_seconds`) that checks ASCII digits and a length before ``int``/``float`` run, so no
peer text can reach ``int``'s 4,300-digit limit, an overflow, or a non-finite float.
"""

from __future__ import annotations

import math
import struct
from enum import IntEnum, unique

from blynk_client._dataclass import dataclass
from blynk_client.errors import LocalProtocolError, RemoteProtocolError, redact_token

__all__ = [
    "COMMAND_LIMIT",
    "DEFAULT_PEER_BUFFER",
    "HEADER",
    "INFO_KEYS",
    "MAX_BODY",
    "MAX_MSG_ID",
    "Command",
    "Message",
    "MessageDecoder",
    "MessageIds",
    "Status",
    "command_name",
    "decode_values",
    "format_value",
    "parse_decimal",
    "parse_pin",
    "parse_seconds",
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
#: ``ver``); an INTERNAL message starting with one of these is the info message (notes section 3).
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


#: int -> Command, a dict lookup instead of the (slow) ``Command(n)`` call on the receive path.
_COMMANDS: dict[int, Command] = {int(c): c for c in Command}


def command_name(command: int) -> str:
    """The name of a command number (``HARDWARE``), or the number itself for unknown ones."""
    known = _COMMANDS.get(command)
    return known.name if known is not None else str(command)


def format_value(value: object) -> str:
    """Format one argument as the libraries do: ``str()``, except ``bool`` as ``1``/``0``."""
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def parse_pin(pin: str | int) -> int:
    """Turn ``"V5"``, ``"v5"``, ``"5"``, ``"005"`` or ``5`` into 5 (0..255); :class:`ValueError` otherwise.

    The one pin parser of the package (core, server, HTTP API, client): ASCII digits only (``V`` and an
    Arabic-Indic digit is refused, though ``str.isdigit`` would take it), at most three of them, so no peer text
    reaches ``int`` unbounded.
    """
    if isinstance(pin, bool):
        raise ValueError(f"not a virtual pin: {pin!r}")
    if isinstance(pin, int):
        number = pin
    else:
        text = pin.strip()
        if text[:1] in ("V", "v"):
            text = text[1:]
        if not (0 < len(text) <= 3 and text.isascii() and text.isdigit()):
            raise ValueError(f"not a virtual pin: {pin[:16]!r} (expected V0..V255)")
        number = int(text)
    if not 0 <= number <= 255:
        raise ValueError(f"virtual pin out of range: {pin!r} (expected V0..V255)")
    return number


def parse_decimal(text: str, low: int, high: int) -> int | None:
    """``text`` as an integer in ``low..high`` when it is 1-20 ASCII digits, else ``None``."""
    if not (0 < len(text) <= 20 and text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if low <= value <= high else None


def parse_seconds(text: str, high: float) -> float | None:
    """``text`` as a finite number of seconds in ``(0, high]`` (at most 32 ASCII characters), else ``None``."""
    if not (0 < len(text) <= 32 and text.isascii()):
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) and 0 < value <= high else None


def decode_values(raw: bytes) -> tuple[str, ...]:
    """The values of a ``vw`` body from its raw form: the bytes after ``vw\\0pin\\0``.

    UTF-8 with replacement characters, split at NUL, as every received body (``b""`` is one empty
    value). The server role's :class:`~blynk_client._server_role.VirtualWrites` carries this form.
    """
    return tuple(raw.decode("utf-8", "replace").split("\0"))


@dataclass(frozen=True, slots=True, repr=False)
class Message:
    """One Blynk message.

    :param command: the command number (a :class:`Command` when known).
    :param msg_id: 1..65535.
    :param args: the NUL-separated text arguments (empty for RESPONSE).
    :param status: the status of a RESPONSE (``None`` for every other command).

    ``args == ("",)`` and ``args == ()`` encode to the same empty body, which decodes to ``()``.
    The ``repr`` hides a login token.
    """

    command: int
    msg_id: int
    args: tuple[str, ...] = ()
    status: int | None = None

    def __repr__(self) -> str:
        args: tuple[str, ...] = self.args
        if self.command in (Command.LOGIN, Command.HW_LOGIN):
            args = tuple(redact_token(a) for a in args)
        if self.command == Command.RESPONSE:
            return f"Message(RESPONSE, id={self.msg_id}, status={self.status})"
        return f"Message({command_name(self.command)}, id={self.msg_id}, args={args!r})"

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
            raise LocalProtocolError(f"a {command_name(self.command)} body of {len(body)} bytes exceeds 65535")
        return HEADER.pack(self.command, self.msg_id, len(body)) + body


class MessageDecoder:
    """Split a byte stream into :class:`Message` objects (commit/rollback over one buffer).

    ``feed()`` appends bytes; ``next_message()`` returns the next complete message or ``None``
    without consuming anything when the header or body is incomplete. A complete header that
    announces a body above ``max_body`` or a command >= 100 raises :class:`RemoteProtocolError`
    with ``status`` 2 (``ILLEGAL_COMMAND``), message id 0 with ``status`` ``None``, before the body
    arrives (we never wait for, nor allocate, the announced body); the header stays unconsumed and
    the decoder is then unusable by design.
    """

    __slots__ = ("_buf", "_pos", "max_body")

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
        command, msg_id, length = HEADER.unpack_from(self._buf, self._pos)
        return command, msg_id, length

    def next_message(self) -> Message | None:
        """Return the next complete message, or ``None`` when more bytes are needed."""
        header = self.peek_header()
        if header is None:
            return None
        command, msg_id, length = header
        if msg_id == 0:
            raise RemoteProtocolError(f"message id 0 in a {command_name(command)} header", status=None)
        if command >= COMMAND_LIMIT:
            raise RemoteProtocolError(f"command {command} is not a Blynk command", status=Status.ILLEGAL_COMMAND)
        if command == Command.RESPONSE:
            self._pos += HEADER.size
            return Message(Command.RESPONSE, msg_id, (), length)
        if length > self.max_body:
            raise RemoteProtocolError(
                f"a {command_name(command)} body of {length} bytes exceeds our receive limit of {self.max_body}",
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

    __slots__ = ("last",)

    def __init__(self, last: int = 0) -> None:
        #: The id handed out last (0 before the first).
        self.last = last

    def next(self) -> int:
        """Return the next id."""
        self.last = 1 if self.last >= MAX_MSG_ID else self.last + 1
        return self.last

    def reset(self) -> None:
        """Start again at 1 (every session starts with the login at id 1)."""
        self.last = 0
