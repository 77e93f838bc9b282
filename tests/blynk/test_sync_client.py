"""The blocking selectors driver (:class:`blynk_client.sync_client.Blynk`) against the project's server.

The server (``blynk_client.server.BlynkServer``) runs on its own event loop in a thread; the
driver under test runs in the test thread, as a script would. Every test is bounded in time.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import subprocess
import sys
import threading
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from blynk_client import protocol as proto
from blynk_client.errors import ConnectError, InvalidTokenError, TlsError, UsageError
from blynk_client.offline import BackoffPolicy, Values
from blynk_client.server import BlynkServer
from blynk_client.sync_client import Blynk, _literal_address
from tests.blynk.client_helpers import TlsFiles, make_tls_files

TOKEN = "SyncTok3n_0123456789abcdefghijk"
FAST = BackoffPolicy(initial=0.05, maximum=0.2)
T = TypeVar("T")


class Loop:
    """An event loop in a background thread for the server side."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def server(self, **options: Any) -> BlynkServer:
        server = BlynkServer(host="127.0.0.1", http_port=None, **options)
        self.run(server.start())
        return server

    def stored(self, server: BlynkServer, pin: int) -> tuple[str, ...] | None:
        async def get() -> tuple[str, ...] | None:
            return server.stored(TOKEN, pin)

        return self.run(get())

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture
def loop() -> Iterator[Loop]:
    lp = Loop()
    yield lp
    lp.close()


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    files = make_tls_files(tmp_path_factory.mktemp("tls"))
    if files is None:
        from tests.helpers import need_tool

        need_tool("openssl")
    assert files is not None
    return files


def run_until(blynk: Blynk, predicate: Any, timeout: float = 5.0) -> None:
    """Serve ``blynk`` in short rounds until ``predicate()`` holds (bounded)."""
    for _ in range(int(timeout / 0.02)):
        if predicate():
            return
        blynk.run(0.02)
    assert predicate()


@pytest.mark.parametrize("use_tls", [False, True])
def test_login_and_writes_both_ways(loop: Loop, tls: TlsFiles, use_tls: bool) -> None:
    server = loop.server(tokens=[TOKEN], ssl_context=tls.server_context() if use_tls else None)
    try:
        if use_tls:  # verified against our CA, with the name the certificate carries (SNI)
            blynk = Blynk(TOKEN, server="localhost", port=server.port, ca_file=str(tls.ca_cert))
        else:
            blynk = Blynk(TOKEN, server="127.0.0.1", port=server.port, insecure=True)
        got: list[Values] = []
        blynk.on_write("V5")(got.append)
        with blynk:
            blynk.connect(timeout=5)
            assert blynk.connected and blynk.tls is use_tls
            blynk.virtual_write("V1", 42)
            blynk.virtual_write(2, 1.5, "x")
            blynk.flush()
            run_until(blynk, lambda: loop.stored(server, 2) is not None)
            assert loop.stored(server, 1) == ("42",)
            assert loop.stored(server, 2) == ("1.5", "x")
            assert loop.run(server.push_write(TOKEN, 5, "17")) == 1
            run_until(blynk, lambda: bool(got))
            assert got[0].int() == 17 and got[0].pin == 5
            assert blynk.ping() >= 0
            assert TOKEN not in repr(blynk) and "Sync" in repr(blynk)
        assert not blynk.connected
    finally:
        loop.run(server.stop())


def test_tls_refuses_an_unknown_ca(loop: Loop, tls: TlsFiles) -> None:
    server = loop.server(tokens=[TOKEN], ssl_context=tls.server_context())
    try:
        blynk = Blynk(TOKEN, server="localhost", port=server.port)  # system CAs only
        with pytest.raises(TlsError):
            blynk.connect(timeout=5, retry=False)
        blynk.close()
    finally:
        loop.run(server.stop())


def test_coalescing_puts_close_writes_in_one_send(loop: Loop) -> None:
    server = loop.server(tokens=[TOKEN])
    try:
        with Blynk(TOKEN, server="127.0.0.1", port=server.port, insecure=True, coalesce=0.5) as blynk:
            blynk.connect(timeout=5)
            before = blynk.stats.socket_writes
            for i in range(10):
                blynk.virtual_write("V3", i)
            assert blynk.stats.socket_writes == before  # held by the window
            blynk.flush()
            assert blynk.stats.socket_writes == before + 1
            run_until(blynk, lambda: loop.stored(server, 3) == ("9",))
        with Blynk(TOKEN, server="127.0.0.1", port=server.port, insecure=True, coalesce=0) as blynk:
            blynk.connect(timeout=5)
            before = blynk.stats.socket_writes
            for i in range(3):
                blynk.virtual_write("V3", i)
            assert blynk.stats.socket_writes == before + 3  # no window: one send each
    finally:
        loop.run(server.stop())


def test_a_full_window_leaves_without_waiting(loop: Loop) -> None:
    server = loop.server(tokens=[TOKEN])
    try:
        with Blynk(
            TOKEN, server="127.0.0.1", port=server.port, insecure=True, coalesce=30.0, coalesce_bytes=100
        ) as blynk:
            blynk.connect(timeout=5)
            before = blynk.stats.socket_writes
            for i in range(30):  # 13-14 bytes each: several 100-byte batches
                blynk.virtual_write("V1", i)
            assert 3 <= blynk.stats.socket_writes - before <= 5
    finally:
        loop.run(server.stop())


def test_redirect_to_a_second_server(loop: Loop) -> None:
    target = loop.server(tokens=[TOKEN])
    first = loop.server(redirects={TOKEN: ("127.0.0.1", target.port)})
    try:
        with Blynk(TOKEN, server="127.0.0.1", port=first.port, insecure=True) as blynk:
            blynk.connect(timeout=5, retry=False)
            assert blynk.stats.redirects == 1 and blynk.stats.attempts == 2
            assert f":{target.port}" in repr(blynk)
            blynk.virtual_write("V7", "here")
            blynk.flush()
            run_until(blynk, lambda: loop.stored(target, 7) == ("here",))
    finally:
        loop.run(first.stop())
        loop.run(target.stop())


def test_invalid_token_stops_for_good(loop: Loop) -> None:
    server = loop.server(tokens=[TOKEN])
    try:
        blynk = Blynk("Wrong" + TOKEN[5:], server="127.0.0.1", port=server.port, insecure=True, backoff=FAST)
        with pytest.raises(InvalidTokenError) as info:
            blynk.connect(timeout=5)  # retry=True: still no second attempt
        assert TOKEN[5:] not in str(info.value)
        assert blynk.stats.attempts == 1
        with pytest.raises(InvalidTokenError):
            blynk.run(0.1)
        blynk.close()
    finally:
        loop.run(server.stop())


def test_connect_failure_without_retry_is_one_clear_error(loop: Loop) -> None:
    server = loop.server(tokens=[TOKEN])
    port = server.port
    loop.run(server.stop())
    blynk = Blynk(TOKEN, server="127.0.0.1", port=port, insecure=True)
    with pytest.raises(ConnectError, match=f"cannot connect to 127.0.0.1:{port}"):
        blynk.connect(timeout=5, retry=False)
    blynk.close()


def test_reconnect_with_backoff_and_offline_queue(loop: Loop) -> None:
    server = loop.server(tokens=[TOKEN])
    port = server.port
    downs: list[int] = []
    blynk = Blynk(
        TOKEN, server="127.0.0.1", port=port, insecure=True, backoff=FAST, rng=random.Random(1), heartbeat=5
    )
    blynk.on_disconnect(lambda: downs.append(1))
    try:
        blynk.connect(timeout=5)
        loop.run(server.stop())
        run_until(blynk, lambda: not blynk.connected)
        assert downs == [1]
        for value in ("a", "b", "c"):  # offline: the latest value per pin is kept
            blynk.virtual_write("V1", value)
        blynk.log_event("door", "opened")
        assert len(blynk.offline) == 2 and blynk.offline.superseded == 2
        second = loop.server(tokens=[TOKEN], port=port)
        try:
            run_until(blynk, lambda: blynk.connected, timeout=10)
            assert blynk.stats.logins == 2 and blynk.stats.replayed == 2
            blynk.flush()
            run_until(blynk, lambda: loop.stored(second, 1) == ("c",))
        finally:
            blynk.close()
            loop.run(second.stop())
    finally:
        blynk.close()


def test_run_forever_until_a_handler_closes(loop: Loop) -> None:
    server = loop.server(tokens=[TOKEN])
    try:
        blynk = Blynk(TOKEN, server="127.0.0.1", port=server.port, insecure=True)
        seen: list[str] = []

        @blynk.on_connect
        def ready() -> None:
            asyncio.run_coroutine_threadsafe(server.push_write(TOKEN, 9, "stop"), loop.loop)

        @blynk.on_write("V9")
        def stop(values: Values) -> None:
            seen.append(values.str())
            blynk.close()

        blynk.run_forever()
        assert seen == ["stop"] and not blynk.connected
        blynk.close()
    finally:
        loop.run(server.stop())


def test_heartbeat_pings_come_from_the_core_timer(loop: Loop) -> None:
    server = loop.server(tokens=[TOKEN], heartbeat=10)
    try:
        with Blynk(
            TOKEN, server="127.0.0.1", port=server.port, insecure=True, heartbeat=0.2, response_timeout=0.1
        ) as blynk:
            blynk.connect(timeout=5)
            conn = blynk._conn
            assert conn is not None
            sent = conn.stats.messages_out
            blynk.run(0.7)  # idle: the core's get_timer() asks for PINGs, the driver sends them
            assert blynk.connected and blynk._conn is conn
            assert conn.stats.messages_out >= sent + 2
    finally:
        loop.run(server.stop())


def test_bad_values_are_usage_errors(loop: Loop) -> None:
    server = loop.server(tokens=[TOKEN])
    try:
        with Blynk(TOKEN, server="127.0.0.1", port=server.port, insecure=True) as blynk:
            for call in (lambda: blynk.virtual_write("V1"), lambda: blynk.virtual_write("V999", 1)):
                with pytest.raises(UsageError):
                    call()
            blynk.connect(timeout=5)
            for call in (
                lambda: blynk.virtual_write("V1"),
                lambda: blynk.virtual_write("V999", 1),
                lambda: blynk.virtual_write("V1", "a\0b"),
                lambda: blynk.virtual_write(1, 2, "a\0b"),
            ):
                with pytest.raises(UsageError):
                    call()
            assert blynk.connected
    finally:
        loop.run(server.stop())


def test_a_missing_interface_fails_one_attempt_and_is_waited_for_with_retry(
    caplog: pytest.LogCaptureFixture,
) -> None:
    blynk = Blynk(TOKEN, server="127.0.0.1", port=9, insecure=True, interface="no-such-if0")
    with pytest.raises(ConnectError, match="no-such-if0 is not present"):
        blynk.connect(timeout=2, retry=False)
    with caplog.at_level(logging.INFO), pytest.raises(ConnectError, match="not connected within"):
        blynk.connect(timeout=1.5, retry=True)  # waits for the interface, one progress line
    waiting = [r.getMessage() for r in caplog.records if "waiting for network interface" in r.getMessage()]
    assert waiting == ["waiting for network interface no-such-if0 to appear"]
    assert blynk.stats.attempts == 0  # no DNS, no socket while the interface is missing
    blynk.close()


def test_core_fast_path_matches_the_general_encoder() -> None:
    conn = proto.BlynkConnection(proto.Role.DEVICE)
    conn._state = proto.State.READY
    conn.virtual_write(3, 7, now=0.0)
    conn.virtual_write("V4", True, 2.5, "x", now=0.0)
    expect = proto.Message(proto.Command.HARDWARE, 1, ("vw", "3", "7")).encode()
    expect += proto.Message(proto.Command.HARDWARE, 2, ("vw", "4", "1", "2.5", "x")).encode()
    assert conn.data_to_send() == expect
    server = proto.BlynkConnection(proto.Role.SERVER)
    server._state = proto.State.READY
    server.receive_data(expect + proto.Message(proto.Command.HARDWARE, 3, ("vw", "007", "z")).encode(), 0.0)
    assert server.next_event() == proto.VirtualWrites(  # one batch from the receive fast path
        writes=((3, b"7", 1), (4, b"1\x002.5\x00x", 2), (7, b"z", 3))  # "007" is pin 7, as parse_pin says
    )
    assert server.next_event() is None


def test_import_pulls_in_neither_asyncio_nor_ssl_nor_logging() -> None:
    heavy = "{'asyncio', 'ssl', 'logging', 'blynk_client.protocol', 'blynk_client._server_role',"
    heavy += " 'blynk_client.offline', 'blynk_client.timers', 'heapq'}"
    # (records are dataclasses now: 'dataclasses' is no longer on the list)
    code = f"import sys, blynk_client.sync_client; print(sorted({heavy} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True)
    assert out.stdout.strip() == "[]"


def test_warnings_reach_logging_and_never_the_token(loop: Loop, caplog: pytest.LogCaptureFixture) -> None:
    server = loop.server(tokens=[TOKEN])
    port = server.port
    loop.run(server.stop())
    blynk = Blynk(TOKEN, server="127.0.0.1", port=port, insecure=True, backoff=FAST, logger=logging.getLogger("t"))
    with caplog.at_level(logging.INFO, logger="t"), pytest.raises(ConnectError):
        blynk.connect(timeout=0.5)
    assert "reconnecting in" in caplog.text and TOKEN not in caplog.text
    blynk.close()


def test_script_process_exits_cleanly(tmp_path: Path, loop: Loop) -> None:
    server = loop.server(tokens=[TOKEN])
    try:
        script = tmp_path / "s.py"
        script.write_text(
            "import sys\n"
            "from blynk_client.sync_client import Blynk\n"
            f"b = Blynk({TOKEN!r}, server='127.0.0.1', port={server.port}, insecure=True)\n"
            "b.connect(timeout=5)\n"
            "b.virtual_write('V6', 'script')\n"
            "b.close()\n"
        )
        subprocess.run([sys.executable, str(script)], check=True, timeout=30)
        assert loop.stored(server, 6) == ("script",)
    finally:
        loop.run(server.stop())


def test_literal_addresses_skip_the_resolver() -> None:
    assert _literal_address("127.0.0.1", 80) == [
        (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("127.0.0.1", 80))
    ]
    assert _literal_address("::1", 443) == [
        (socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("::1", 443, 0, 0))
    ]
    for name in ("localhost", "blynk.cloud", "127.1", "fe80::1%lo", "", "1.2.3.4 "):
        assert _literal_address(name, 80) is None  # these go to getaddrinfo


def test_tls_to_a_plain_server_hints_at_insecure(loop: Loop) -> None:
    server = loop.server(tokens=[TOKEN])
    try:
        blynk = Blynk(TOKEN, server="127.0.0.1", port=server.port, connect_timeout=2)
        with pytest.raises(TlsError, match=r"plain TCP server.*--insecure"):
            blynk.connect(timeout=5, retry=False)
        blynk.close()
    finally:
        loop.run(server.stop())
