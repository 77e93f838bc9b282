"""serial_port: open_port errors and the blocking loop over real ptys, sockets and loop://."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from pppos.at.bringup import Bringup, BringupConfig, Hangup, SetBaud, SetDtr, Verdict, VerdictCode
from pppos.at.engine import AtEngine, CommandDone, CommandTimeout
from pppos.errors import ConfigError, ExitStatus, LinkError, ModemError
from pppos.serial_port import open_port, run_blocking
from tests.at.pty_modem import pty_modem
from tests.at.scripted import ScriptedModem


def test_missing_device_is_a_one_line_modem_error(tmp_path: object) -> None:
    with pytest.raises(ModemError) as info:
        open_port(f"{tmp_path}/ttyUSB9", 115200)
    assert info.value.exit_status is ExitStatus.NO_MODEM
    assert "no such port" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("url", ["gopher://x", "socket://", "socket://localhost:notaport"])
def test_bad_urls_are_config_errors(url: str) -> None:
    with pytest.raises((ConfigError, ModemError)) as info:
        open_port(url, 115200)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(("path", "words"), [("/dev/null", "not a serial port"), ("/", "directory")])
def test_not_a_serial_port(path: str, words: str) -> None:
    with pytest.raises(ModemError) as info:
        open_port(path, 115200)
    assert words in str(info.value)


def test_bad_baud_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        open_port("loop://", 0)


def test_refused_socket() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ModemError) as info:
        open_port(f"socket://127.0.0.1:{port}", 115200)
    assert "refused" in str(info.value)


def test_loop_url_without_fileno_times_out_cleanly() -> None:
    port = open_port("loop://", 115200)
    try:
        engine = AtEngine()
        engine.send_command("AT", time.monotonic(), timeout=0.3)
        event = run_blocking(port, engine, until=lambda e: True, deadline=time.monotonic() + 5)
    finally:
        port.close()
    # loop:// sends our own bytes back: that is an echo, not an answer
    assert isinstance(event, CommandTimeout)
    assert engine.stats.echo_lines == 1


def test_deadline_returns_none() -> None:
    port = open_port("loop://", 115200)
    try:
        start = time.monotonic()
        result = run_blocking(port, AtEngine(), until=lambda e: True, deadline=start + 0.2)
    finally:
        port.close()
    assert result is None
    assert time.monotonic() - start >= 0.2


def _run(url: str, plan: object) -> tuple[Verdict, list[object]]:
    port = open_port(url, 115200)
    seen: list[object] = []
    try:
        plan.start(time.monotonic())  # type: ignore[attr-defined]
        verdict = run_blocking(
            port, plan, until=lambda e: isinstance(e, Verdict), deadline=time.monotonic() + 30, on_event=seen.append
        )
    finally:
        port.close()
    assert isinstance(verdict, Verdict)
    return verdict, seen


def test_bringup_over_a_real_pty() -> None:
    with pty_modem(ScriptedModem()) as path:
        verdict, _ = _run(path, Bringup(BringupConfig(dial=False)))
    assert verdict.code is VerdictCode.READY


def test_autobaud_over_a_real_pty_applies_set_baud() -> None:
    modem = ScriptedModem(baud=57600)
    with pty_modem(modem) as path:
        verdict, seen = _run(path, Bringup(BringupConfig(dial=False, detect_data_mode=False, sync_tries=1)))
    assert verdict.code is VerdictCode.READY, verdict.message
    assert [e.rate for e in seen if isinstance(e, SetBaud)] == [9600, 57600]
    assert modem.current_baud == 57600


def test_hangup_over_a_real_pty_where_dtr_cannot_be_set() -> None:
    modem = ScriptedModem(data_mode=True, echo=False)
    with pty_modem(modem) as path:
        verdict, seen = _run(path, Hangup("a7", guard=0.2))
    assert verdict.code is VerdictCode.HUNG_UP
    assert [e.level for e in seen if isinstance(e, SetDtr)] == [False, True]
    assert bytes(modem.raw) == b"+++ATH\r"


@contextlib.contextmanager
def tcp_modem(modem: ScriptedModem) -> Iterator[int]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            while True:
                data = conn.recv(4096)
                if not data:
                    return
                answer = modem.feed(data)
                if answer:
                    conn.sendall(answer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        server.close()
        thread.join(2)


def test_bringup_over_socket_url() -> None:
    with tcp_modem(ScriptedModem()) as port:
        verdict, _ = _run(f"socket://127.0.0.1:{port}", Bringup(BringupConfig(dial=True)))
    assert verdict.code is VerdictCode.CONNECTED


def test_vanished_pty_is_a_link_error() -> None:
    import pty

    master, slave = pty.openpty()
    path = os.ttyname(slave)
    port = open_port(path, 115200)
    os.close(slave)
    os.close(master)
    engine = AtEngine()
    engine.send_command("AT", time.monotonic(), timeout=5)
    try:
        with pytest.raises(LinkError) as info:
            run_blocking(port, engine, until=lambda e: isinstance(e, CommandDone), deadline=time.monotonic() + 5)
    finally:
        port.close()
    assert "went away" in str(info.value) or "failed" in str(info.value)
