"""The part of a Blynk session both roles share: buffers, state moves, sending, receive loop, pings.

A sans-I/O core (research notes ``blynk-protocol.md`` sections 1 and 3): bytes and ``now`` go in,
events, bytes and one deadline come out; nothing here reads a clock, sleeps, logs or touches a
socket. :class:`Connection` is the base of :class:`~blynk_client._device.DeviceConnection` and
:class:`~blynk_client._server_role.ServerConnection`; it imports neither.

The uniform surface: ``receive_data(data, now)`` (``b""`` means EOF), ``next_event()``,
``data_to_send()``, ``get_timer()`` and ``handle_timer(now)``. Peer errors never raise out of
``receive_data``: a message we cannot use becomes a :class:`~blynk_client._events.Malformed` event
(answered with a status where the role answers), one that ends the session a
:class:`~blynk_client._events.ProtocolViolation` (after queuing a RESPONSE with its status when one
fits) and the state becomes ``CLOSED``. Calling a method the state does not allow raises
:class:`~blynk_client.errors.LocalProtocolError`.
"""

from __future__ import annotations

import math
from collections import deque

from blynk_client._dataclass import dataclass
from blynk_client._events import (
    ConnectionClosed,
    DebugPrint,
    Event,
    Hardware,
    Internal,
    Malformed,
    PingReceived,
    Pong,
    ProtocolViolation,
    Response,
    VirtualWrite,
)
from blynk_client._state import SENDABLE, TRANSITIONS, Input, Role, State
from blynk_client._wire import (
    HEADER,
    MAX_BODY,
    MAX_MSG_ID,
    Command,
    Message,
    MessageDecoder,
    MessageIds,
    Status,
    command_name,
    format_value,
    parse_pin,
)
from blynk_client.errors import LocalProtocolError, RemoteProtocolError

__all__ = ["Connection", "ConnectionStats"]

_PACK_HEADER = HEADER.pack
_UNPACK_HEADER = HEADER.unpack_from
_HARDWARE = 20  # Command.HARDWARE as a plain int (IntEnum arithmetic and hashing are Python-level)
_READY = State.READY  # one global load on the send fast path instead of two lookups
#: Unanswered pings remembered for their round-trip time (the oldest is forgotten).
_MAX_PINGS = 16


@dataclass(slots=True)
class ConnectionStats:
    """Counters of one connection (peer noise is counted here, never raised)."""

    messages_in: int = 0
    messages_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    unknown_commands: int = 0  #: command numbers < 100 we do not handle (ignored, as the legacy server)
    malformed: int = 0  #: messages we could not use (a :class:`Malformed` event each)
    ignored_after_close: int = 0  #: bytes received after the session ended


def _quote(text: str) -> str:
    """Peer text for a log line: ``repr``-quoted (no control characters) and cut to 40 characters."""
    return repr(text[:40]) + ("..." if len(text) > 40 else "")


class Connection:
    """One Blynk session without I/O; the roles subclass it (see the module docstring).

    :param role: set by the subclass.
    :param heartbeat: device: the ``h-beat`` we announce and ping by; server: the idle unit used
        until the device's info message names its own.
    :param timeout: the C++ ``BLYNK_TIMEOUT_MS`` in seconds (device ping spacing and liveness grace).
    :param login_timeout: how long the login exchange may take (device: answer; server: message).
    :param buffer_in: our receive limit for one body (bytes, 0..65535).
    """

    role: Role

    def __init__(self, *, heartbeat: float, timeout: float, login_timeout: float, buffer_in: int) -> None:
        for name, value in (("heartbeat", heartbeat), ("timeout", timeout), ("login_timeout", login_timeout)):
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a finite positive number of seconds, not {value!r}")
        self.heartbeat = float(heartbeat)
        self.timeout = float(timeout)
        self.login_timeout = float(login_timeout)
        self.buffer_in = buffer_in
        self.stats = ConnectionStats()
        #: The peer's receive limit (the largest body we may send it).
        self.peer_buffer_in = MAX_BODY
        self._decoder = MessageDecoder(max_body=buffer_in)
        self._sendable = SENDABLE[self.role]
        self._ids = MessageIds()
        self._events: deque[Event] = deque()
        self._out = bytearray()
        self._state = State.IDLE
        self._last_rx = 0.0
        self._last_tx = 0.0
        self._last_ping = -math.inf
        self._pings: dict[int, float] = {}
        self._login_id = 1

    # -- properties ---------------------------------------------------------------------------

    @property
    def state(self) -> State:
        """The current :class:`~blynk_client._state.State`."""
        return self._state

    @property
    def closed(self) -> bool:
        """True once the session is over."""
        return self._state is State.CLOSED

    @property
    def last_id(self) -> int:
        """The message id this side used last (0 before the first; notes section 1 "Message ids")."""
        return self._ids.last

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._state.value}>"

    # -- uniform sans-I/O surface ---------------------------------------------------------------

    def receive_data(self, data: bytes, now: float) -> None:
        """Feed received bytes; ``b""`` means the peer closed the stream."""
        if self._state is State.CLOSED:
            self.stats.ignored_after_close += len(data)
            return
        if not self._accepting(now):
            return
        if not data:
            self._move(Input.PEER_CLOSED)
            self._events.append(ConnectionClosed(trailing=len(self._decoder.buffered)))
            return
        self.stats.bytes_in += len(data)
        self._last_rx = now
        self._decoder.feed(data)
        self._process(now)

    def _accepting(self, now: float) -> bool:
        """Whether received bytes may be processed now (the roles refine this)."""
        return True

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

    def get_timer(self) -> float | None:  # pragma: no cover - every role overrides it
        """The next absolute deadline on the caller's clock, or ``None``."""
        raise NotImplementedError

    def handle_timer(self, now: float) -> None:  # pragma: no cover - every role overrides it
        """Act on every deadline that is due at ``now``."""
        raise NotImplementedError

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
            self._queue_response(msg_id, status)
        self._move(Input.VIOLATION)
        self._events.append(ProtocolViolation(reason=reason, status=status))

    def _malformed(self, message: Message, status: int | None, reason: str) -> None:
        """Count and report a message we cannot use; the server role answers it with ``status``."""
        self.stats.malformed += 1
        answer = status if self._answers_malformed() else None
        if answer is not None:
            self._queue_response(message.msg_id, answer)
        reason = f"{command_name(message.command)}: {reason}"
        self._events.append(Malformed(reason=reason, status=answer, msg_id=message.msg_id))

    def _answers_malformed(self) -> bool:
        """Whether this role answers a malformed message with a status (the server role does)."""
        return False

    # -- sending --------------------------------------------------------------------------------

    def _queue_response(self, msg_id: int, status: int) -> None:
        self._out += _PACK_HEADER(0, msg_id, status)
        self.stats.messages_out += 1
        self.stats.bytes_out += 5

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
        data = _PACK_HEADER(command, mid, len(body)) + body
        self._out += data
        self.stats.messages_out += 1
        self.stats.bytes_out += len(data)
        self._last_tx = now
        return mid

    def ping(self, now: float) -> int:
        """Queue a PING; its answer becomes a :class:`~blynk_client._events.Pong` event. Returns the id."""
        mid = self._send(Command.PING, (), now)
        self._last_ping = now
        self._pings[mid] = now
        if len(self._pings) > _MAX_PINGS:
            del self._pings[next(iter(self._pings))]
        return mid

    def respond(self, msg_id: int, status: int, *, now: float) -> None:
        """Queue RESPONSE ``status`` for message ``msg_id``."""
        if self._state is not State.READY:
            raise LocalProtocolError(f"cannot respond in state {self._state.value}")
        if not (1 <= msg_id <= MAX_MSG_ID and 0 <= status <= 0xFFFF):
            raise LocalProtocolError(f"cannot respond {status} to message id {msg_id}")
        self._queue_response(msg_id, int(status))
        self._last_tx = now

    def virtual_write(self, pin: str | int, *values: object, now: float) -> int:
        """Queue HARDWARE ``vw\\0pin\\0values...`` (device: a write; server: a push).

        See :meth:`virtual_write_values`, which takes the values as one tuple.
        """
        return self.virtual_write_values(pin, values, now)

    def virtual_write_values(self, pin: str | int, values: tuple[object, ...], now: float) -> int:
        """:meth:`virtual_write` with ``values`` as one tuple (drivers pass theirs on unpacked).

        The hot path of every client (notes section 1, "HARDWARE"): for one ``int``, ``str`` or
        ``float`` value on a pin given as a number, the body is formatted as bytes in one step and
        packed with :data:`~blynk_client._wire.HEADER` straight into the output buffer. Anything
        else (several values, other types, a pin as text, a state that forbids it, no values, an
        oversized body) takes the general path of :meth:`_send` and its errors.
        """
        if self._state is _READY and len(values) == 1 and type(pin) is int and 0 <= pin <= 255:
            value = values[0]
            if type(value) is int:
                body = b"vw\0%d\0%d" % (pin, value)
            elif type(value) is str:
                if "\0" in value:
                    raise LocalProtocolError("a value must not contain NUL characters")
                body = b"vw\0%d\0%b" % (pin, value.encode())
            elif type(value) is float:
                body = b"vw\0%d\0%r" % (pin, value)  # repr() is str() for a float
            else:
                body = b""
            size = len(body)
            if body and size <= self.peer_buffer_in:
                ids = self._ids
                mid = ids.last = 1 if ids.last >= MAX_MSG_ID else ids.last + 1
                out = self._out
                out += _PACK_HEADER(_HARDWARE, mid, size)
                out += body
                stats = self.stats
                stats.messages_out += 1
                stats.bytes_out += size + 5
                self._last_tx = now
                return mid
        texts = [format_value(v) for v in values]
        if self._state is State.READY and texts:
            for text in texts:
                if "\0" in text:
                    raise LocalProtocolError("a value must not contain NUL characters")
        return self._send(Command.HARDWARE, ("vw", str(self._pin(pin)), *texts), now)

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

    # -- receiving ------------------------------------------------------------------------------

    def _process(self, now: float) -> None:
        """Decode and dispatch every complete message while the state allows it."""
        while self._state is State.READY or self._state is State.AWAIT_LOGIN:
            if self._state is State.READY:
                self._fast_writes()
            try:
                message = self._decoder.next_message()
            except RemoteProtocolError as exc:
                header = self._decoder.peek_header()
                self._violation(str(exc), self._violation_status(exc), header[1] if header else 0)
                return
            if message is None:
                return
            self.stats.messages_in += 1
            self._dispatch(message, now)

    def _violation_status(self, exc: RemoteProtocolError) -> int | None:
        """The status to answer a decoder error with (the device role answers none)."""
        return None

    def _dispatch(self, message: Message, now: float) -> None:  # pragma: no cover - every role overrides it
        raise NotImplementedError

    def _take_writes(self) -> list[tuple[int, bytes, int]]:
        """Take the run of well-formed HARDWARE ``vw`` messages at the buffer head (READY only).

        The receive hot path (notes section 1): each header is unpacked in place and each body
        split once as bytes, with no :class:`~blynk_client._wire.Message`; returns ``(pin, raw
        values, msg_id)`` per write (:func:`~blynk_client._wire.decode_values` reads the raw form).
        It stops, without consuming, at the first message that is anything else (another command,
        id 0, an oversized or incomplete body, a malformed pin, a ``vw`` without values); the
        general path of :meth:`_process` then takes that one with all its checks and answers.
        """
        decoder = self._decoder
        buf = decoder._buf
        pos = decoder._pos
        size = len(buf)
        limit = decoder.max_body
        unpack = _UNPACK_HEADER
        writes: list[tuple[int, bytes, int]] = []
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
            writes.append((pin, parts[2], mid))
            pos = end
        if writes:
            decoder._pos = pos
            self.stats.messages_in += len(writes)
        return writes

    def _fast_writes(self) -> None:  # pragma: no cover - every role overrides it
        raise NotImplementedError

    # -- handlers both roles use ----------------------------------------------------------------

    def _on_ping(self, message: Message, now: float) -> None:
        self._queue_response(message.msg_id, Status.OK)
        self._last_tx = now
        self._events.append(PingReceived(msg_id=message.msg_id))

    def _on_hardware(self, message: Message, now: float) -> None:
        args = message.args
        if args[:1] == ("vw",):
            try:
                pin = parse_pin(args[1]) if len(args) >= 2 else -1
            except ValueError:
                pin = -1
            if pin < 0:
                shown = _quote(args[1]) if len(args) >= 2 else "none"
                self._malformed(message, Status.ILLEGAL_COMMAND, f"bad pin {shown}")
                return
            self._events.append(VirtualWrite(pin=pin, values=args[2:], msg_id=message.msg_id))
            return
        if not args:
            self._malformed(message, Status.ILLEGAL_COMMAND, "empty body")
            return
        self._events.append(Hardware(command=message.command, args=args, msg_id=message.msg_id))

    def _on_internal(self, message: Message, now: float) -> None:
        self._events.append(Internal(args=message.args, msg_id=message.msg_id))

    def _on_response(self, message: Message, now: float) -> None:
        status = message.status if message.status is not None else 0
        sent = self._pings.pop(message.msg_id, None)
        if sent is not None:
            self._events.append(Pong(msg_id=message.msg_id, status=status, rtt=now - sent))
        else:
            self._events.append(Response(msg_id=message.msg_id, status=status))

    def _on_debug_print(self, message: Message, now: float) -> None:
        self._events.append(DebugPrint(text="\0".join(message.args), msg_id=message.msg_id))
