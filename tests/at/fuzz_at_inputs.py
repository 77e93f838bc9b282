"""Seeded fuzzing of the AT side: the engine, the 27.007 parsers and the bring-up plan.

Inputs are built from the pieces real modems send (registration lines in every form, URCs,
final results (verbose and V.250 numeric), ``+CME ERROR`` with non-ASCII digits, CONNECT, the ``> ``
prompt, PPP flags, NULs, invalid UTF-8, overlong lines, echoes of the in-flight command) glued with random line ends and
fed in random chunks, so that most inputs reach deep paths instead of being dropped as noise.

:func:`fuzz` runs ``n`` inputs and returns a :class:`FuzzReport`; the CI test
(``tests/at/test_fuzz_at.py``) runs about 20,000 and ``bench/fuzz_at.py`` a million. Nothing here
may raise: every exception out of a target is caught, counted and kept (the first few) for the report.
"""

from __future__ import annotations

import random
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

from pppos.at.bringup import Bringup, BringupConfig, Hangup, Verdict
from pppos.at.engine import AtEngine, CommandDone, CommandFailed, CommandTimeout, Connected, Prompt, Urc
from pppos.at.parse import (
    parse_cesq,
    parse_cops,
    parse_cpin,
    parse_csq,
    parse_qcsq,
    parse_registration_line,
)
from pppos.at.profiles import PROFILES
from pppos.sim.modem import SimConfig, SimModem

#: eight digits no generator below produces by chance (its hex fields are at most 8 random digits)
PIN = "73915846"

COMMANDS: tuple[tuple[str, dict[str, object]], ...] = (
    ("AT", {}),
    ("ATI", {}),
    ("AT+CSQ", {}),
    ("AT+CGSN", {}),
    ("AT+CGMM", {}),
    ("AT+CREG?", {}),
    ("AT+CEREG?", {}),
    ("AT+C5GREG?", {}),
    ("AT+CPIN?", {}),
    (f'AT+CPIN="{PIN}"', {"secret": True}),
    ("AT+COPS?", {}),
    ("AT+CESQ", {}),
    ("AT+CMGS=12", {}),
    ("ATD*99#", {}),
    ("ATO", {}),
    ("AT+CGDATA=\"PPP\",1", {}),
    ("+++", {"terminator": b""}),
    ("AT", {"lead": b"\r"}),
    ("ATE0Q0V1", {"lead": b"\r", "numeric": True}),
    ("ATH", {"numeric": True}),
    ("ATD*99#", {"numeric": True}),
    ("AT+CCID", {"prefix": ("+CCID:", "+SCID:")}),
)

LINES: tuple[str, ...] = (
    "OK", "ERROR", "NO CARRIER", "BUSY", "NO ANSWER", "NO DIALTONE", "NO DIAL TONE", "RING", "NA", "ABORTED",
    "COMMAND NO RESPONSE!", "COMMAND NOT SUPPORT", "CONNECT", "CONNECT 115200", "CONNECT 150000000", "CONNECT OK",
    "+CME ERROR: 10", "+CME ERROR:58", "+CME ERROR: SIM PIN required", "+CMS ERROR: 305", "MODEM ERROR: 5",
    "+CSQ: 20,99", "+CSQ: 191,99", "SMS DONE", "SMS Ready", "Call Ready", "PB DONE", "RDY", "*ATREADY: 1",
    "+MSTK: 11,D0", '^NDISSTAT: 0,,,"IPV4"', "+RXDTMF: 5", "^CIEV: 1,0", "+CIEV: service,  1",
    "+CTZV:17/12/04,02:37:58,+04",
    "+CPIN: READY", '+CPIN: "SIM PIN"', "+CPIN: NOT INSERTED", "+CPIN: SIM REMOVED", "+CPIN: NOT READY",
    "+CREG: 1,3", "+CREG: 2,1,\"CE00\",\"01CEAD8F\"", "+CREG:002,001,\"18d8\",\"ffff\"", "+CREG: 2,,",
    "+CEREG: 2, 0001, 00000100, 7", "+CEREG: 2,1, 1F00, 20 ,79D903 ,7", "+C5GREG: 2,1,1F00,79D903,11,6,ABCDEF",
    "+CGREG: 1,\"1422\",\"00000142\",3,\"00\"", "+CREG: 2,1,  0 5, 2715", "+COPS: 0,2,\"26201\",7",
    "+COPS: 0,0,\"Telekom.de\",7", "+CESQ: 99,99,255,255,20,46", '+QCSQ: "LTE",-52,-81,195,-10',
    "+CGATT: 1", '+CGDCONT: 1,"IP","internet","0.0.0.0",0,0', "866123456789012", "SIMCOM_SIM7600E-H",
    "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "0\x00", "ATE0Q0V1",
    f'AT+CPIN="{PIN}"', f"AT+CPIN={PIN}", f"AT+CPIN = {PIN[:2]} {PIN[2:]}", "AT+CSQ", "ATI", "> ",
)
#: digits that str.isdigit() accepts and int() rejects or misreads
ODD_DIGITS = ("\u00b2", "\u0663", "\u0967", "\U0001d7d9", "\u2460", "\u00bd", "\uff11", "\u2155")
PREFIXES = ("+CREG: ", "+CGREG: ", "+CEREG: ", "+C5GREG: ", "+CSQ: ", "+CPIN: ", "+CME ERROR: ", "+CMS ERROR: ",
            "MODEM ERROR: ", "+COPS: ", "+CESQ: ", "+QCSQ: ", "+CGDCONT: ", "+CGATT: ")
SEPARATORS = (b"\r\n", b"\r\n", b"\r", b"\n", b"\r\n\r\n", b"", b"\n\r")


def _field(rng: random.Random) -> str:
    kind = rng.randrange(9)
    if kind == 0:
        return str(rng.randrange(256))
    if kind == 1:
        return f'"{rng.randrange(1 << 32):X}"'
    if kind == 2:
        return f"{rng.randrange(1 << 16):04X}"
    if kind == 3:
        return rng.choice(ODD_DIGITS) * rng.randrange(1, 3)
    if kind == 4:
        return ""
    if kind == 5:
        return " " * rng.randrange(3) + str(rng.randrange(12)) + " " * rng.randrange(3)
    if kind == 6:
        return '"' + "".join(rng.choice("0123456789ABCDEF\"' ,") for _ in range(rng.randrange(8)))
    if kind == 7:
        return "9" * rng.randrange(1, 40)
    return "-" + str(rng.randrange(200))


def _line(rng: random.Random) -> bytes:
    kind = rng.randrange(10)
    if kind <= 3:
        text = rng.choice(LINES)
    elif kind <= 6:
        text = rng.choice(PREFIXES) + ",".join(_field(rng) for _ in range(rng.randrange(1, 9)))
    elif kind == 7:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 24)))
    elif kind == 8:
        line = bytearray(rng.choice(LINES).encode())
        for _ in range(rng.randrange(1, 4)):
            if line:
                line[rng.randrange(len(line))] = rng.randrange(256)
        return bytes(line)
    else:
        text = rng.choice(("A", "+", "9", "\u00b2", "x")) * rng.choice((1, 200, 1100, 5000))
    return text.encode("utf-8", "replace")


def generate(rng: random.Random) -> bytes:
    """One fuzz input: 1-12 lines, glued with random line ends, sometimes PPP bytes after them."""
    out = bytearray()
    for _ in range(rng.randrange(1, 13)):
        out += rng.choice(SEPARATORS) + _line(rng) + rng.choice(SEPARATORS)
    if rng.randrange(8) == 0:
        out += b"\x7e\xff\x7d\x23\xc0\x21" + bytes(rng.randrange(256) for _ in range(rng.randrange(40))) + b"\x7e"
    return bytes(out)


# --------------------------------------------------------------------------- targets


def _chunks(rng: random.Random, data: bytes) -> list[bytes]:
    cuts = sorted(rng.randrange(len(data) + 1) for _ in range(rng.randrange(4))) if data else []
    pieces, last = [], 0
    for cut in [*cuts, len(data)]:
        pieces.append(data[last:cut])
        last = cut
    return pieces


def run_engine(rng: random.Random, data: bytes) -> None:
    """Feed ``data`` to an engine with random commands in flight; check the invariants."""
    traces: list[str] = []
    engine = AtEngine(max_line=rng.choice((16, 256, 1024)), max_data=4096, trace=traces.append)
    now = 0.0
    secret_sent = False
    for _ in range(rng.randrange(1, 4)):
        command, kw = rng.choice(COMMANDS)
        secret_sent = secret_sent or bool(kw.get("secret"))
        engine.send_command(command, now, timeout=rng.choice((0.5, 1.0, 5.0)), **kw)  # type: ignore[arg-type]
    events: list[object] = []
    for piece in _chunks(rng, data):
        engine.receive_data(piece, now)
        now += rng.random()
        if rng.randrange(3) == 0:
            engine.handle_timer(now)
        if engine.in_data_mode and rng.randrange(2) == 0:
            engine.take_data()
            engine.enter_command_mode()
        while (event := engine.next_event()) is not None:
            events.append(event)
    engine.data_to_send()
    # invariants: bounded memory, events well formed, and once the engine knows the secret (the
    # command was sent) none of its echoes reaches an event or the trace
    assert len(engine._buf) < engine.max_line and len(engine._data) <= engine.max_data
    for event in events:
        assert isinstance(event, CommandDone | CommandFailed | CommandTimeout | Urc | Prompt | Connected)
        assert not secret_sent or PIN not in repr(event), event
    assert not secret_sent or not any(PIN in t for t in traces)


def run_parsers(data: bytes) -> None:
    """Every line of ``data`` through every parser."""
    for raw in data.replace(b"\r", b"\n").split(b"\n"):
        line = raw.decode("utf-8", "replace")
        parse_registration_line(line)
        parse_cpin(line)
        parse_csq(line)
        parse_cesq(line)
        parse_qcsq(line)
        parse_cops(line)


def run_bringup(rng: random.Random) -> None:
    """A bring-up (or hang-up) plan against a modem that answers each command with a fuzz input."""
    config = BringupConfig(
        profile=rng.choice(("auto", *PROFILES)),
        pin=PIN if rng.randrange(2) else None,
        apn="internet" if rng.randrange(2) else None,
        dial=bool(rng.randrange(2)),
        registration_timeout=3.0,
        sim_ready_timeout=2.0,
        autobaud=False,
    )
    plan: Bringup | Hangup = Bringup(config) if rng.randrange(6) else Hangup("a7", guard=0.1)
    now = 0.0
    plan.start(now)
    known = False  # the secret counts as leaked only in events made after the plan sent it
    for _ in range(200):
        while (event := plan.next_event()) is not None:
            assert not known or PIN not in repr(event), event
            if isinstance(event, Verdict):
                return
        if plan.done:
            return
        known = bool(plan.engine._secrets)
        out = plan.data_to_send()
        if out and rng.randrange(4):
            plan.receive_data(generate(rng), now)
            continue
        timer = plan.get_timer()
        if timer is None:
            return
        now = max(now, timer)
        plan.handle_timer(now)


def run_simulator(rng: random.Random, data: bytes) -> None:
    """The simulated modem (the other side of the line) fed the same garbage as host input."""
    stored = rng.choice(("", "V0", "Q1", "E0", "V0Q1E1", "V0E1"))
    modem = SimModem(SimConfig(profile=rng.choice(list(PROFILES)), stored_profile=stored))
    now = 0.0
    for piece in _chunks(rng, data + b"\rAT+CREG=2;+CEREG?\r"):
        modem.receive_data(piece, now)
        now += 0.05
        modem.handle_timer(now)
        modem.data_to_send()
        modem.network_data_to_send()
        while modem.next_event() is not None:
            pass


@dataclass
class FuzzReport:
    """What a fuzz run did: inputs per target, unhandled exceptions and the first tracebacks."""

    inputs: int = 0
    per_target: dict[str, int] = field(default_factory=dict)
    exceptions: int = 0
    first: list[str] = field(default_factory=list)

    @property
    def failures(self) -> list[tuple[int, str, str]]:
        """``(index, traceback, input)`` rows in bench/fuzz.py's shape (the index is not kept here)."""
        return [(0, trace, "") for trace in self.first]


def fuzz(
    n: int, seed: int = 12, *, bringup_every: int = 25, progress: Callable[[int], None] | None = None
) -> FuzzReport:
    """Run ``n`` inputs (each through the engine and the parsers; every ``bringup_every``-th also
    through a bring-up plan and the simulator)."""
    rng = random.Random(seed)
    report = FuzzReport()

    def attempt(name: str, target: Callable[..., None], *args: object) -> None:
        report.per_target[name] = report.per_target.get(name, 0) + 1
        try:
            target(*args)
        except Exception:
            report.exceptions += 1
            if len(report.first) < 5:
                report.first.append(f"{name}: {traceback.format_exc()}")

    for i in range(n):
        data = generate(rng)
        report.inputs += 1
        attempt("engine", run_engine, rng, data)
        attempt("parsers", run_parsers, data)
        if i % bringup_every == 0:
            attempt("bringup", run_bringup, rng)
            attempt("simulator", run_simulator, rng, data)
        if progress is not None and i % 10000 == 0:
            progress(i)
    return report
