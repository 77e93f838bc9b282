"""A seeded, grammar-aware fuzzer for the Blynk core, both roles (used by the CI test and bench/fuzz_blynk.py).

Each input is one session: a role and a starting state (server fresh, server logged in, device
waiting for its login answer, device logged in), then a list of steps. A step feeds bytes (well-formed
messages with hostile fields, raw noise, truncated or lying headers, cut at random points), fires
the timer at a random later time, or, like a driver, answers what the core reported (accept,
reject or redirect a login, answer a sync or a property, push a write). The rule checked is the
sans-I/O contract of ``blynk-protocol.md`` section 3 as the core states it: nothing a peer sends
raises out of ``receive_data``/``handle_timer``/``next_event``/``data_to_send``; a session-ending
event is the last event; a closed connection produces no further events. An exception raised by
a *local* call (the driver part of a step) is allowed only as ``LocalProtocolError``.

The field values are the ones that broke the core before (issue 13): GROUP ``t`` with thousands
of digits, ``h-beat 1e308``/``nan``/``inf``, ``buff-in 0.5``, non-ASCII digits (``V`` and an
Arabic-Indic five), ids 0 and 65535, lengths beyond the receive limit, commands >= 100, invalid UTF-8.
"""

from __future__ import annotations

import random
import struct
from collections import Counter
from dataclasses import dataclass, field

from blynk_client import protocol as p
from blynk_client.errors import LocalProtocolError

TOKEN = "FuzzToken0123456789abcdefghijklm"

#: Hostile or borderline field texts (numbers from the wire, pins, names).
NASTY = [
    "",
    "0",
    "1",
    "255",
    "256",
    "-1",
    "007",
    "0007",
    "V1",
    "v255",
    "V\u0665",
    "\u0665",
    "1e308",
    "-1e308",
    "1e999",
    "nan",
    "inf",
    "-inf",
    "0.5",
    "0",
    "1.5",
    " 12 ",
    "9" * 25,
    "9" * 5000,
    "1" * 4301,
    "65535",
    "65536",
    "4294967296",
    "\x00",
    "\ufffd",
    "é" * 50,
    "x" * 300,
    "all",
    "vw",
    "vr",
    "b",
    "e",
    "t",
    "h-beat",
    "buff-in",
    "ver",
    "mcu",
    "rtc",
    "sync",
]
#: Commands by weight: mostly the ones each role handles, a few unknown ones, rarely >= 100 (fatal).
COMMANDS = [0, 2, 6, 15, 16, 16, 17, 17, 17, 19, 19, 20, 20, 20, 21, 21, 29, 41, 55, 64, 64, 65, 12, 50, 99]
INFO = ["ver", "mcu", "h-beat", "buff-in", "dev", "tmpl", "fw", "build"]


@dataclass
class FuzzResult:
    """What one run found."""

    inputs: int = 0
    messages: int = 0
    events: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)

    @property
    def failed(self) -> int:
        return sum(self.failures.values())


def _text(rng: random.Random) -> str:
    if rng.random() < 0.7:
        return rng.choice(NASTY)
    return "".join(rng.choice("abcV0123456789.-e\u0665\x00 ") for _ in range(rng.randrange(0, 12)))


def _args(rng: random.Random, command: int) -> list[str]:
    """Arguments shaped like the command's grammar, with hostile fields."""
    roll = rng.random()
    if command in (20, 15):
        head = rng.choice(["vw", "vw", "vw", "vr", "dw", "pm", "", "x"])
        return [head, _text(rng), *(_text(rng) for _ in range(rng.randrange(0, 3)))]
    if command == 17 and roll < 0.6:
        out: list[str] = []
        for _ in range(rng.randrange(1, 6)):
            out += [rng.choice(INFO), _text(rng)]
        if rng.random() < 0.2:
            out.append(rng.choice(INFO))  # an odd count: a key without value
        return out
    if command == 21:
        return rng.choice([["b"], ["e"], ["t", _text(rng)], ["t"], [_text(rng)], ["t", "1", "2"]])
    if command == 16:
        return rng.choice([[], ["vr", *(_text(rng) for _ in range(rng.randrange(0, 4)))], [_text(rng)]])
    if command == 19:
        return [_text(rng) for _ in range(rng.randrange(0, 5))]
    if command in (64, 65):
        return [_text(rng) for _ in range(rng.randrange(0, 4))]
    if command == 41:
        return [_text(rng) for _ in range(rng.randrange(0, 3))]
    if command in (2, 29):
        return rng.choice([[TOKEN], [], [TOKEN, "x"], [_text(rng)]])
    return [_text(rng) for _ in range(rng.randrange(0, 4))]


def _message(rng: random.Random) -> bytes:
    command = rng.choice(COMMANDS) if rng.random() < 0.98 else rng.choice([100, 255])
    msg_id = rng.choice([1, 2, 3, 7, 65535, rng.randrange(1, 65536)]) if rng.random() < 0.98 else 0
    if command == 0:
        return struct.pack("!BHH", 0, msg_id, rng.choice([200, 4, 9, 2, 0, 65535, rng.randrange(0, 65536)]))
    body = "\0".join(_args(rng, command)).encode("utf-8", "surrogatepass")
    roll = rng.random()
    if roll < 0.05:
        body += bytes([0xFF, 0xC3])  # invalid UTF-8
    length = len(body)
    if roll > 0.98:
        length = rng.choice([0, length + 1, max(0, length - 1), 65535, 9000, 1025])  # a lying header
    return struct.pack("!BHH", command, msg_id, length & 0xFFFF) + body


def _stream(rng: random.Random) -> bytes:
    parts = []
    for _ in range(rng.randrange(1, 6)):
        if rng.random() < 0.03:
            parts.append(rng.randbytes(rng.randrange(0, 24)))
        else:
            parts.append(_message(rng))
    return b"".join(parts)


def _chunks(rng: random.Random, data: bytes) -> list[bytes]:
    if len(data) < 2 or rng.random() < 0.5:
        return [data]
    cuts = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, rng.randrange(1, 4))))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


_CLOSING = (
    p.ProtocolViolation,
    p.ConnectionClosed,
    p.LoginFailed,
    p.Redirected,
    p.HeartbeatTimeout,
    p.LoginTimeout,
)


class _Session:
    """One fuzzed session and the driver logic around it."""

    def __init__(self, rng: random.Random, result: FuzzResult) -> None:
        self.rng = rng
        self.result = result
        self.now = 1000.0
        self.start = rng.choice(["server-fresh", "server-ready", "device-waiting", "device-ready"])
        self.closed_seen = False
        self.stored: dict[int, tuple[str, ...]] = {}
        self.conn: p.Connection
        if self.start.startswith("server"):
            server = p.ServerConnection(heartbeat=rng.choice([10.0, 0.5, 3600.0]))
            server.start(self.now)
            if self.start == "server-ready":
                server.receive_data(p.Message(p.Command.HW_LOGIN, 1, (TOKEN,)).encode(), self.now)
                server.next_event()
                server.accept_login(self.now)
            self.conn = server
        else:
            device = p.DeviceConnection(heartbeat=rng.choice([45.0, 2.0, 10.0]), buffer_in=rng.choice([1024, 64]))
            device.login(TOKEN, self.now)
            if self.start == "device-ready":
                device.receive_data(p.Message(p.Command.RESPONSE, 1, (), 200).encode(), self.now)
                device.next_event()
            self.conn = device
        self.conn.data_to_send()

    def drain(self) -> None:
        conn = self.conn
        while True:
            event = conn.next_event()
            if event is None:
                return
            self.result.events[type(event).__name__] += 1
            if self.closed_seen:
                raise AssertionError(f"{type(event).__name__} after the session ended")
            if isinstance(event, _CLOSING):
                self.closed_seen = True
                if not conn.closed:
                    raise AssertionError(f"{type(event).__name__} but the state is {conn.state}")
            self.react(event)

    def react(self, event: p.Event) -> None:
        """Act as a driver would; local misuse (LocalProtocolError) is allowed here only."""
        conn, rng, now = self.conn, self.rng, self.now
        try:
            match event:
                case p.LoginRequested() if isinstance(conn, p.ServerConnection):
                    choice = rng.random()
                    if choice < 0.8:
                        conn.accept_login(now)
                    elif choice < 0.9:
                        conn.reject_login(now=now)
                    else:
                        conn.redirect("other.example", 443, now=now)
                case p.VirtualWrites(writes=writes):
                    for pin, raw, _mid in writes:
                        self.stored[pin] = p.decode_values(raw)
                case p.VirtualWrite(pin=pin, values=values):
                    self.stored[pin] = values
                case p.SyncRequested(pins=pins, msg_id=msg_id) if isinstance(conn, p.ServerConnection):
                    for pin in pins or tuple(self.stored):
                        if pin in self.stored:
                            conn.sync_reply(msg_id, pin, *self.stored[pin], now=now)
                case p.PropertySet(msg_id=msg_id) | p.EventLogged(msg_id=msg_id):
                    conn.respond(msg_id, p.Status.OK, now=now)
                case p.InfoReceived() if isinstance(conn, p.ServerConnection):
                    if self.stored and rng.random() < 0.5:
                        pin = next(iter(self.stored))
                        conn.virtual_write(pin, *self.stored[pin], now=now)
                case p.Internal() if rng.random() < 0.3:
                    conn.internal("rtc", 1700000000, now=now)
                case _:
                    pass
        except LocalProtocolError:
            pass

    def local(self) -> None:
        """A device application or server pushing while the session runs (local errors allowed)."""
        conn, rng, now = self.conn, self.rng, self.now
        try:
            if isinstance(conn, p.DeviceConnection):
                rng.choice(
                    [
                        lambda: conn.virtual_write(rng.randrange(0, 256), rng.choice([1, 2.5, "x", "é" * 40]), now=now),
                        lambda: conn.sync(now=now),
                        lambda: conn.ping(now),
                        lambda: conn.set_property(1, "label", "t", now=now),
                    ]
                )()
            elif isinstance(conn, p.ServerConnection):
                conn.virtual_write(rng.randrange(0, 256), "v" * rng.choice([1, 40, 300]), now=now)
        except LocalProtocolError:
            pass

    def step(self) -> None:
        rng, conn = self.rng, self.conn
        roll = rng.random()
        if roll < 0.75:
            data = _stream(rng)
            self.result.messages += 1
            for chunk in _chunks(rng, data):
                conn.receive_data(chunk, self.now)
                self.drain()
        elif roll < 0.85:
            deadline = conn.get_timer()
            self.now = max(self.now, deadline if deadline is not None and rng.random() < 0.5 else self.now + 1.0)
            conn.handle_timer(self.now)
            self.drain()
        elif roll < 0.95:
            self.local()
            self.drain()
        else:
            conn.receive_data(b"", self.now)
            self.drain()
        conn.data_to_send()


def run(count: int, seed: int = 13) -> FuzzResult:
    """Fuzz ``count`` sessions (inputs); deterministic for a seed."""
    rng = random.Random(seed)
    result = FuzzResult()
    for _ in range(count):
        result.inputs += 1
        session = _Session(rng, result)
        try:
            for _ in range(rng.randrange(1, 8)):
                session.step()
        except Exception as exc:  # counting every escape is the point
            name = f"{type(exc).__name__} ({session.start})"
            result.failures[name] += 1
            result.examples.setdefault(name, f"{exc}"[:200])
    return result
