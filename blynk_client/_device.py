"""The device role of the Blynk core (research notes ``blynk-protocol.md`` section 3, "Login sequence").

::

    conn = DeviceConnection(heartbeat=45.0)
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
RESPONSE 200 and the same id automatically (:class:`~blynk_client._events.PingReceived` tells the
driver).

Heartbeat (the C++ rule, notes section 3, "Heartbeat and timeouts"): with ``h = heartbeat`` and
``t = timeout``, a PING is sent when nothing was received *or* nothing was sent for ``h`` seconds
and the last ping is at least ``min(t, h)`` old (C++ requires ``h >= 10 s > t``, where this is its
rule; a shorter ``h`` is kept as announced instead of stretched to ``t``, so a server that grants
``2.3 h`` never drops us); when nothing at all was received for ``h + 3 t`` the core emits
:class:`~blynk_client._events.HeartbeatTimeout` and closes. With no answer to the login for
``login_timeout`` seconds it emits :class:`~blynk_client._events.LoginTimeout` and closes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from blynk_client import __version__
from blynk_client._connection import Connection
from blynk_client._events import HeartbeatTimeout, LoginFailed, LoginSucceeded, LoginTimeout, Redirected, VirtualWrite
from blynk_client._state import Input, Role, State
from blynk_client._wire import Command, Message, Status, decode_values, format_value, parse_decimal
from blynk_client.errors import LocalProtocolError

__all__ = ["DeviceConnection"]


class DeviceConnection(Connection):
    """One Blynk session in the device role (see the module docstring).

    :param heartbeat: the ``h-beat`` we announce and ping by (seconds, default 45 as C++ 1.0-1.3).
    :param timeout: the C++ ``BLYNK_TIMEOUT_MS`` in seconds (ping spacing, liveness grace).
    :param login_timeout: how long the server may take to answer the login.
    :param buffer_in: our receive limit for one body, announced as ``buff-in`` (default 1024).
    """

    role = Role.DEVICE

    def __init__(
        self, *, heartbeat: float = 45.0, timeout: float = 6.0, login_timeout: float = 10.0, buffer_in: int = 1024
    ) -> None:
        super().__init__(heartbeat=heartbeat, timeout=timeout, login_timeout=login_timeout, buffer_in=buffer_in)
        self._started = 0.0
        self._info: dict[str, str] = {}

    # -- device API -----------------------------------------------------------------------------

    def login(self, token: str, now: float, *, info: Mapping[str, object] | None = None, legacy: bool = False) -> None:
        """Queue HW_LOGIN (or LOGIN 2 with ``legacy``) with id 1; arm the login timeout.

        ``info`` adds to or overrides the info message sent after a successful login; the keys
        default to ``ver``, ``h-beat``, ``buff-in``, ``dev`` (then ``tmpl``, ``fw-type``, ``fw``,
        ``build`` when given), in the order of notes section 3.
        """
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
            "h-beat": str(max(1, round(self.heartbeat))),
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
        args = ("vr", *(str(self._pin(p)) for p in pins)) if pins else ()
        return self._send(Command.HARDWARE_SYNC, args, now)

    def set_property(self, pin: str | int, name: str, *values: object, now: float) -> int:
        """Queue PROPERTY ``pin\\0name\\0values...`` (label, color, min, max, isDisabled...)."""
        if not name:
            raise LocalProtocolError("a property needs a name")
        args = (str(self._pin(pin)), name, *(format_value(v) for v in values))
        return self._send(Command.PROPERTY, args, now)

    def log_event(self, code: str, description: str | None = None, *, now: float) -> int:
        """Queue EVENT_LOG ``code[\\0description]``."""
        if not code:
            raise LocalProtocolError("an event needs a code")
        args = (code,) if description is None else (code, description)
        return self._send(Command.EVENT_LOG, args, now)

    def resolve_event(self, code: str, *, all_events: bool = False, now: float) -> int:
        """Queue EVENT_CLEAR ``code`` (the latest) or ``code\\0all``."""
        if not code:
            raise LocalProtocolError("an event needs a code")
        return self._send(Command.EVENT_CLEAR, (code, "all") if all_events else (code,), now)

    def group_begin(self, now: float, *, timestamp_ms: int | None = None) -> int:
        """Queue GROUP ``b`` (or ``t\\0<ms>`` with a timestamp): the following writes form a batch."""
        args = ("b",) if timestamp_ms is None else ("t", str(int(timestamp_ms)))
        return self._send(Command.GROUP, args, now)

    def group_end(self, now: float) -> int:
        """Queue GROUP ``e``."""
        return self._send(Command.GROUP, ("e",), now)

    # -- timers ---------------------------------------------------------------------------------

    def get_timer(self) -> float | None:
        """The next absolute deadline (login answer, ping, liveness), or ``None``."""
        if self._state is State.AWAIT_LOGIN:
            return min(self._started + self.login_timeout, self._ping_deadline(), self._liveness_deadline())
        if self._state is State.READY:
            return min(self._ping_deadline(), self._liveness_deadline())
        return None

    def handle_timer(self, now: float) -> None:
        """Act on every deadline that is due at ``now`` (ping, liveness, login timeout)."""
        if self._state is State.AWAIT_LOGIN and now >= self._started + self.login_timeout:
            self._move(Input.TIMEOUT)
            self._events.append(LoginTimeout())
            return
        if self._state is not State.READY and self._state is not State.AWAIT_LOGIN:
            return
        if now >= self._liveness_deadline():
            self._move(Input.TIMEOUT)
            self._events.append(HeartbeatTimeout(idle=now - self._last_rx))
            return
        if now >= self._ping_deadline():
            self.ping(now)

    def _ping_deadline(self) -> float:
        idle_since = min(self._last_rx, self._last_tx)
        return max(idle_since + self.heartbeat, self._last_ping + min(self.timeout, self.heartbeat))

    def _liveness_deadline(self) -> float:
        return self._last_rx + self.heartbeat + 3 * self.timeout

    # -- receiving ------------------------------------------------------------------------------

    def _accepting(self, now: float) -> bool:
        if self._state is State.IDLE:
            self._violation("data from the server before login", None, 0)
            return False
        return True

    def _fast_writes(self) -> None:
        events = self._events
        for pin, raw, mid in self._take_writes():
            events.append(VirtualWrite(pin=pin, values=decode_values(raw), msg_id=mid))

    def _dispatch(self, message: Message, now: float) -> None:
        match message.command:
            case Command.RESPONSE:
                self._on_login_or_response(message, now)
            case Command.PING:
                self._on_ping(message, now)
            case Command.HARDWARE | Command.BRIDGE:
                self._on_hardware(message, now)
            case Command.INTERNAL:
                self._on_internal(message, now)
            case Command.REDIRECT:
                self._on_redirect(message)
            case Command.DEBUG_PRINT:
                self._on_debug_print(message, now)
            case _:
                self.stats.unknown_commands += 1

    def _on_login_or_response(self, message: Message, now: float) -> None:
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
        self._on_response(message, now)

    def _on_redirect(self, message: Message) -> None:
        args = message.args
        if not args or not args[0]:
            self._violation("REDIRECT without a host", None, message.msg_id)
            return
        port = parse_decimal(args[1], 1, 0xFFFF) if len(args) > 1 and args[1] else 80
        if port is None:
            self._violation(f"REDIRECT with a bad port {args[1][:16]!r}", None, message.msg_id)
            return
        self._move(Input.RECV_REDIRECT)
        self._events.append(Redirected(host=args[0], port=port))
