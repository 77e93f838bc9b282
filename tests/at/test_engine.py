"""AtEngine: every decoder path fed whole, one byte at a time and with trailing garbage."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pppos.at.engine import (
    AtEngine,
    CommandDone,
    CommandFailed,
    CommandTimeout,
    Connected,
    Prompt,
    Urc,
    expected_prefix,
    scrub,
)

T0 = 1000.0
MODES = ("whole", "bytewise", "trailing")
GARBAGE = b"\r\n\x00\x01\xfe\xff garbage\x7f\r\n"


def feed(engine: AtEngine, data: bytes, mode: str, now: float = T0) -> list[object]:
    """Feed ``data`` whole or one byte at a time; ``trailing`` adds line noise after it."""
    if mode == "bytewise":
        for i in range(len(data)):
            engine.receive_data(data[i : i + 1], now)
    else:
        engine.receive_data(data, now)
        if mode == "trailing":
            engine.receive_data(GARBAGE, now)
    return drain(engine)


def drain(engine: AtEngine) -> list[object]:
    events = []
    while (event := engine.next_event()) is not None:
        events.append(event)
    return events


def sent(engine: AtEngine, command: str, **kw: object) -> AtEngine:
    engine.send_command(command, T0, **kw)  # type: ignore[arg-type]
    return engine


@pytest.mark.parametrize("mode", MODES)
def test_ok_with_echo_and_a7_blank_lines(mode: str) -> None:
    engine = sent(AtEngine(), "AT+CSQ")
    assert engine.data_to_send() == b"AT+CSQ\r"
    events = feed(engine, b"AT+CSQ\r\r\n+CSQ: 31,99\r\n\r\n\r\nOK\r\n\r\n", mode)
    assert events == [CommandDone(command="AT+CSQ", lines=("+CSQ: 31,99",))]
    assert engine.stats.echo_lines == 1
    assert engine.stats.blank_lines >= 2
    assert engine.get_timer() is None


@pytest.mark.parametrize("mode", MODES)
def test_ok_with_echo_off_and_bare_lf(mode: str) -> None:
    engine = sent(AtEngine(), "ATI")
    events = feed(engine, b"\nAi Thinker Co.LTD\nA7\nV03\nOK\n", mode)
    assert events == [CommandDone(command="ATI", lines=("Ai Thinker Co.LTD", "A7", "V03"))]
    assert engine.stats.echo_lines == 0


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("reply", "result", "code"),
    [
        ("ERROR", "ERROR", None),
        ("+CME ERROR: 10", "+CME ERROR", 10),
        ("+CME ERROR:58", "+CME ERROR", 58),
        ("+CME ERROR: SIM PIN required", "+CME ERROR", 11),
        ("+CME ERROR: incorrect password", "+CME ERROR", 16),
        ("+CME ERROR: something new", "+CME ERROR", None),
        ("+CMS ERROR: 500", "+CMS ERROR", 500),
        ("NO CARRIER", "NO CARRIER", None),
        ("BUSY", "BUSY", None),
        ("NO ANSWER", "NO ANSWER", None),
        ("NO DIALTONE", "NO DIALTONE", None),
        ("COMMAND NO RESPONSE!", "COMMAND NO RESPONSE!", None),
    ],
)
def test_failure_results(mode: str, reply: str, result: str, code: int | None) -> None:
    engine = sent(AtEngine(), "AT+CPIN?")
    events = feed(engine, b"\r\n" + reply.encode() + b"\r\n", mode)
    assert events == [CommandFailed(command="AT+CPIN?", result=result, code=code, text=reply)]


@pytest.mark.parametrize("mode", ["whole", "bytewise"])
@pytest.mark.parametrize("connect", [b"CONNECT", b"CONNECT 115200", b"CONNECT 150000000"])
def test_connect_hands_over_trailing_bytes(mode: str, connect: bytes) -> None:
    ppp = b"\x7e\xff\x7d\x23\xc0\x21\x7d\x21\r\n\x7e"
    engine = sent(AtEngine(), "ATD*99***1#", timeout=30.0)
    assert engine.get_timer() == T0 + 30.0
    events = feed(engine, b"ATD*99***1#\r\r\n" + connect + b"\r\n" + ppp, mode)
    assert len(events) == 1
    event = events[0]
    assert isinstance(event, Connected)
    assert event.text == connect.decode()
    # byte-at-a-time: whatever did not come with the CONNECT line waits in take_data()
    assert event.trailing + engine.take_data() == ppp
    assert engine.in_data_mode
    assert engine.get_timer() is None
    assert "trailing" not in repr(event)
    # data-mode bytes are never parsed as lines
    engine.receive_data(b"OK\r\n", T0)
    assert drain(engine) == []
    assert engine.take_data() == b"OK\r\n"


def test_connect_ok_is_not_a_dial_result() -> None:
    engine = sent(AtEngine(), "AT+CIPSTART")
    events = feed(engine, b"\r\nCONNECT OK\r\nOK\r\n", "whole")
    assert events == [CommandDone(command="AT+CIPSTART", lines=("CONNECT OK",))]
    assert not engine.in_data_mode


def test_connect_rate_prefix_must_end_the_word() -> None:
    engine = sent(AtEngine(), "ATD*99#")
    events = feed(engine, b"\r\nCONNECTION\r\nCONNECT\r\n", "whole")
    assert isinstance(events[-1], Connected)


@pytest.mark.parametrize("mode", MODES)
def test_urcs_between_command_and_answer(mode: str) -> None:
    engine = sent(AtEngine(), "AT+CGATT=1", timeout=60.0)
    data = (
        b"\r\n+CTZV:17/12/04,02:37:58,+04\r\n"
        b"\r\n+CIEV: service,  1\r\n"
        b"\r\n+CREG: 1\r\n"
        b"\r\nRING\r\n"
        b'\r\n+CMTI: "SM",3\r\n'
        b"\r\nOK\r\n"
    )
    events = feed(engine, data, mode)
    urcs = [e.line for e in events if isinstance(e, Urc)]
    assert urcs == ["+CTZV:17/12/04,02:37:58,+04", "+CIEV: service,  1", "+CREG: 1", "RING", '+CMTI: "SM",3']
    assert events[-1] == CommandDone(command="AT+CGATT=1", lines=())


@pytest.mark.parametrize("mode", MODES)
def test_expected_prefix_keeps_registration_lines_with_the_command(mode: str) -> None:
    engine = sent(AtEngine(), "AT+CREG?")
    events = feed(engine, b"\r\n+CGREG: 1\r\n+CREG: 1,5\r\n\r\nOK\r\n", mode)
    assert events == [Urc(line="+CGREG: 1"), CommandDone(command="AT+CREG?", lines=("+CREG: 1,5",))]


@pytest.mark.parametrize("mode", MODES)
def test_idle_urcs_and_boot_lines(mode: str) -> None:
    engine = AtEngine()
    data = b"\r\n^CINIT: 8, 2048, 1\r\n\r\nREADY\r\n\r\nSomething odd\r\n\r\nNO CARRIER\r\n\r\nOK\r\n"
    events = feed(engine, data, mode)
    assert [e.line for e in events if isinstance(e, Urc)] == [
        "^CINIT: 8, 2048, 1",
        "READY",
        "Something odd",
        "NO CARRIER",
    ]
    assert engine.stats.orphan_results == 1  # the stray OK


@pytest.mark.parametrize("mode", ["whole", "bytewise"])
def test_prompt(mode: str) -> None:
    engine = sent(AtEngine(), 'AT+CMGS="+100"', timeout=5.0)
    events = feed(engine, b'AT+CMGS="+100"\r\r\n> ', mode)
    assert events == [Prompt(command='AT+CMGS="+100"')]
    engine.write_raw(b"hello\x1a")
    assert engine.data_to_send() == b'AT+CMGS="+100"\rhello\x1a'
    events = feed(engine, b"\r\n+CMGS: 4\r\n\r\nOK\r\n", mode)
    assert events == [CommandDone(command='AT+CMGS="+100"', lines=("+CMGS: 4",))]


def test_queue_one_in_flight_and_per_command_timeouts() -> None:
    engine = AtEngine()
    engine.send_command("AT", T0, timeout=0.5)
    engine.send_command("ATE0", T0, timeout=2.0)
    assert engine.data_to_send() == b"AT\r"
    assert engine.get_timer() == T0 + 0.5
    engine.handle_timer(T0 + 0.4)
    assert drain(engine) == []
    engine.handle_timer(T0 + 0.5)
    assert drain(engine) == [CommandTimeout(command="AT")]
    assert engine.data_to_send() == b"ATE0\r"
    assert engine.get_timer() == T0 + 2.5
    feed(engine, b"\r\nOK\r\n", "whole", now=T0 + 1.0)
    assert not engine.busy
    assert engine.stats.timeouts == 1 and engine.stats.commands == 2


def test_sync_lead_and_raw_plus_plus_plus() -> None:
    engine = AtEngine()
    engine.send_command("AT", T0, lead=b"\r")
    assert engine.data_to_send() == b"\rAT\r"
    assert feed(engine, b"\rAT\r\r\nOK\r\n", "whole") == [CommandDone(command="AT")]
    engine.send_command("+++", T0, terminator=b"")
    assert engine.data_to_send() == b"+++"


def test_secret_command_is_redacted_everywhere() -> None:
    lines: list[str] = []
    engine = AtEngine(trace=lines.append)
    engine.send_command('AT+CPIN="4321"', T0, secret=True)
    assert engine.data_to_send() == b'AT+CPIN="4321"\r'
    events = feed(engine, b'AT+CPIN="4321"\r\r\n+CME ERROR: incorrect password\r\n', "whole")
    assert events == [
        CommandFailed(command="AT+CPIN=***", result="+CME ERROR", code=16, text="+CME ERROR: incorrect password")
    ]
    assert "4321" not in repr(events) and "4321" not in "\n".join(lines)
    assert engine.stats.echo_lines == 1


def test_mangled_echo_of_a_secret_is_dropped() -> None:
    lines: list[str] = []
    engine = AtEngine(trace=lines.append)
    engine.send_command('AT+CPIN="4321"', T0, secret=True)
    events = feed(engine, b'xxAT+CPIN="4321"\r\r\nOK\r\n', "whole")
    assert events == [CommandDone(command="AT+CPIN=***")]
    assert "4321" not in "\n".join(lines)


def test_data_mode_buffer_is_bounded() -> None:
    engine = sent(AtEngine(max_data=100), "ATD*99#")
    feed(engine, b"\r\nCONNECT\r\n", "whole")
    engine.receive_data(b"x" * 70, T0)
    engine.receive_data(b"y" * 70, T0)
    assert engine.take_data() == b"x" * 70 + b"y" * 30
    assert engine.stats.data_overflow == 40


def test_secret_without_argument_is_redacted() -> None:
    lines: list[str] = []
    engine = AtEngine(trace=lines.append)
    engine.send_command("1234", T0, secret=True)
    events = feed(engine, b"\r\n1234\r\nERROR\r\n", "whole")
    assert events == [CommandFailed(command="***", result="ERROR", text="ERROR")]
    assert "1234" not in "\n".join(lines) + repr(events)


def test_trace_redacts_imei() -> None:
    lines: list[str] = []
    engine = sent(AtEngine(trace=lines.append), "AT+CGSN")
    events = feed(engine, b"\r\n864012345678901\r\nOK\r\n", "whole")
    assert events == [CommandDone(command="AT+CGSN", lines=("864012345678901",))]
    assert "864012345678901" not in "\n".join(lines)
    assert "***********8901" in "\n".join(lines)
    assert scrub("imei 123456789012345 x") == "imei ***********2345 x"


@pytest.mark.parametrize("mode", MODES)
def test_nul_bytes_and_binary_noise_are_counted(mode: str) -> None:
    engine = sent(AtEngine(), "AT")
    data = b"\x00\x00\r\n\x01\x02\x03\xff\xfe\r\nO\x00K\r\n"
    events = feed(engine, data, mode)
    assert events == [CommandDone(command="AT")]
    assert engine.stats.nul_bytes >= 3
    assert engine.stats.noise_lines >= 1


def test_random_noise_never_raises_and_stays_bounded() -> None:
    rng = random.Random(1234)
    engine = AtEngine(max_line=256)
    engine.send_command("AT", T0, timeout=1e9)
    for _ in range(200):
        chunk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
        engine.receive_data(chunk, T0)
        drain(engine)
        assert len(engine._buf) < 256
    assert engine.stats.noise_bytes > 0


@pytest.mark.parametrize("mode", ["whole", "bytewise"])
def test_64k_line_without_newline_is_bounded_and_counted(mode: str) -> None:
    engine = sent(AtEngine(max_line=1024), "AT+CSQ")
    big = b"A" * 65536
    if mode == "whole":
        engine.receive_data(big, T0)
    else:
        for i in range(0, len(big), 1):
            engine.receive_data(big[i : i + 1], T0)
            assert len(engine._buf) < 1024
    assert len(engine._buf) < 1024
    assert engine.stats.overlong_lines == 1
    assert engine.stats.noise_bytes == 65536
    # the rest of that line is discarded; the next lines parse normally
    events = feed(engine, b"BBB\r\n+CSQ: 20,99\r\nOK\r\n", "whole")
    assert events == [CommandDone(command="AT+CSQ", lines=("+CSQ: 20,99",))]


def test_ppp_flags_in_command_mode_are_counted() -> None:
    engine = AtEngine()
    engine.receive_data(b"\x7e\xff\x7d\x23\xc0\x21\x7e", T0)
    assert drain(engine) == []
    assert engine.stats.flag_bytes == 2


def test_enter_command_mode_after_data() -> None:
    engine = sent(AtEngine(), "ATD*99#")
    feed(engine, b"\r\nCONNECT\r\n\x7e\x7e", "whole")
    engine.receive_data(b"\x7exx\x7e", T0)
    engine.enter_command_mode()
    assert engine.take_data() == b""
    engine.send_command("+++", T0, terminator=b"", timeout=3.0)
    assert engine.data_to_send() == b"ATD*99#\r+++"
    assert feed(engine, b"\x7e\r\nOK\r\n", "whole") == [CommandDone(command="+++")]


def test_expected_prefix() -> None:
    assert expected_prefix("AT+CREG?") == "+CREG:"
    assert expected_prefix("at+cgdcont=1,\"IP\",\"x\"") == "+CGDCONT:"
    assert expected_prefix("AT^SYSINFO") == "^SYSINFO:"
    assert expected_prefix("ATI") is None
    assert expected_prefix("ATD*99#") is None


def test_max_line_floor() -> None:
    with pytest.raises(ValueError, match="max_line"):
        AtEngine(max_line=4)


REPLY = (
    b"AT+CSQ\r\r\n+CTZV:17/12/04,02:37:58,+04\r\n+CSQ: 31,99\r\n\r\nOK\r\n\r\n"
    b"\x00junk\xff\r\n+CME ERROR:58\r\n\r\n> \r\n+CMGS: 7\r\n\r\nOK\r\n"
    b"\r\nCONNECT\r\n\x7e\xff\x03\x7e"
)


def _run_split(cuts: list[int]) -> tuple[list[object], bytes]:
    engine = AtEngine()
    engine.send_command("AT+CSQ", T0)
    engine.send_command("ATH", T0)
    engine.send_command('AT+CMGS="+100"', T0)
    engine.send_command("ATD*99#", T0)
    last = 0
    for cut in [*sorted(set(cuts)), len(REPLY)]:
        engine.receive_data(REPLY[last:cut], T0)
        last = cut
    events = drain(engine)
    trailing = b"".join(e.trailing for e in events if isinstance(e, Connected)) + engine.take_data()
    return [e for e in events if not isinstance(e, Connected)] + [
        (e.command, e.text) for e in events if isinstance(e, Connected)
    ], trailing


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(REPLY)), max_size=12))
def test_any_chunking_gives_the_same_events(cuts: list[int]) -> None:
    events, trailing = _run_split(cuts)
    assert (events, trailing) == _run_split([])
    assert Prompt(command='AT+CMGS="+100"') in events
    assert ("ATD*99#", "CONNECT") in events and trailing == b"\x7e\xff\x03\x7e"


@settings(max_examples=50, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=20))
def test_any_bytes_never_raise_and_memory_stays_bounded(chunks: list[bytes]) -> None:
    engine = AtEngine(max_line=64)
    engine.send_command("AT", T0, timeout=1.0)
    for chunk in chunks:
        engine.receive_data(chunk, T0)
        assert len(engine._buf) < 64
    engine.handle_timer(T0 + 2.0)
    drain(engine)
    assert engine.stats.rx_bytes == sum(len(c) for c in chunks)  # no dial: every byte was parsed as text
