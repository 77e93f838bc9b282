"""The asyncio client and the blocking facade over real loopback sockets.

The peer is :class:`tests.blynk.client_helpers.FaultServer` (the real core in the server role) so
faults can be injected: silence, redirects, restarts. Interplay with the project's own server and
the CLI is in ``test_client_cli.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import ssl
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from blynk_client import protocol as proto
from blynk_client.client import BlynkClient
from blynk_client.errors import ConnectError, InvalidTokenError, TlsError, UsageError
from blynk_client.offline import Backoff, BackoffPolicy, DropReason, OfflineMode, QueuedOp, Values
from blynk_client.sync_client import Blynk
from tests.blynk.client_helpers import FaultServer, TlsFiles, make_tls_files
from tests.helpers import FloatClock

TOKEN = "Tok3nForClientTests0123456789abc"
FAST = BackoffPolicy(initial=0.05, factor=2.0, maximum=0.2, jitter=0.5)
T = TypeVar("T")


def run(coro: Awaitable[T], timeout: float = 20.0) -> T:
    async def bounded() -> T:
        async with asyncio.timeout(timeout):
            return await coro

    return asyncio.run(bounded())


def client_for(server: FaultServer, **options: Any) -> BlynkClient:
    options.setdefault("backoff", FAST)
    return BlynkClient(TOKEN, server="127.0.0.1", port=server.port, insecure=True, **options)


@contextlib.asynccontextmanager
async def serving(**options: Any):  # type: ignore[no-untyped-def]
    server = await FaultServer(tokens={TOKEN}, **options).start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    files = make_tls_files(tmp_path_factory.mktemp("tls"))
    if files is None:
        from tests.helpers import need_tool

        need_tool("openssl")
    assert files is not None
    return files


# -- session basics -----------------------------------------------------------------------------------


def test_login_write_push_sync_ping_plain() -> None:
    async def body() -> None:
        async with serving() as server:
            client = client_for(server)
            got: list[Values] = []
            every: list[Values] = []
            client.on_write("V3")(got.append)
            client.on_write("*")(every.append)
            connects: list[bool] = []
            client.on_connect(lambda: connects.append(client.connected))
            await client.connect()
            assert connects == [True]
            client.virtual_write("V1", 42)
            client.virtual_write(2, 1.5, "x")
            server.push(3, "hi", "there")
            rtt = await client.ping()
            assert rtt >= 0
            await server.wait_for(lambda: len(server.writes) == 2)
            assert server.writes == [(1, ("42",)), (2, ("1.5", "x"))]
            await server.wait_for(lambda: bool(got))
            assert got == [["hi", "there"]]
            assert got[0].str(1) == "there"
            assert [v.pin for v in every] == [3]
            client.sync("V1")
            await client.ping()
            assert [v.pin for v in every] == [3, 1]
            assert every[-1].int() == 42
            client.set_property("V1", "label", "Temp")
            client.log_event("door", "opened")
            client.resolve_event("door")
            await client.ping()
            await server.wait_for(lambda: bool(server.events))
            assert server.properties == [(1, "label", ("Temp",))]
            assert server.events == [("door", "opened")]
            await client.close()
            assert not client.connected

    run(body())


def test_tls_with_private_ca_and_sni(tls: TlsFiles) -> None:
    async def body() -> None:
        async with serving(ssl_context=tls.server_context()) as server:
            client = BlynkClient(TOKEN, server="localhost", port=server.port, ca_file=str(tls.ca_cert))
            assert client.tls
            await client.connect()
            client.virtual_write("V7", "secure")
            await client.ping()
            sock = client.socket
            assert sock is not None
            await server.wait_for(lambda: server.writes == [(7, ("secure",))])
            await client.close()

    run(body())


@pytest.mark.parametrize("case", ["untrusted-ca", "wrong-name"])
def test_tls_failures_are_tls_errors(tls: TlsFiles, case: str) -> None:
    # the certificate names localhost and 127.0.0.1; "127.0.0.2" (also loopback) is neither
    host, ca = ("localhost", tls.other_ca) if case == "untrusted-ca" else ("127.0.0.2", tls.ca_cert)

    async def body() -> None:
        async with serving(ssl_context=tls.server_context(), host=host.replace("localhost", "127.0.0.1")) as server:
            client = BlynkClient(TOKEN, server=host, port=server.port, ca_file=str(ca), connect_timeout=5)
            with pytest.raises(TlsError) as info:
                await client.connect()
            assert "\n" not in str(info.value)
            assert server.logins == 0

    run(body())


def test_tls_is_the_default_and_port_80_or_insecure_is_plain() -> None:
    default = BlynkClient(TOKEN)
    assert default.tls and default.port == 443
    assert not BlynkClient(TOKEN, port=80).tls
    plain = BlynkClient(TOKEN, insecure=True)
    assert not plain.tls and plain.port == 80


def test_missing_ca_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="CA file"):
        BlynkClient(TOKEN, ca_file=str(tmp_path / "nope.pem"))


# -- redirect, invalid token, connect failures ---------------------------------------------------------------


def test_redirect_to_a_second_server() -> None:
    async def body() -> None:
        async with serving() as target, serving() as first:
            first.redirect = ("127.0.0.1", target.port)
            client = client_for(first)
            await client.connect()
            client.virtual_write("V1", "moved")
            await client.ping()
            await target.wait_for(lambda: target.writes == [(1, ("moved",))])
            assert client.stats.redirects == 1
            assert first.logins == 0 and target.logins == 1
            await client.close()

    run(body())


def test_redirect_over_tls_verifies_and_sends_sni_for_the_new_name(tls: TlsFiles) -> None:
    names: list[str | None] = []

    def context_recording_sni() -> ssl.SSLContext:
        context = tls.server_context()
        context.sni_callback = lambda sslobj, name, ctx: names.append(name)  # type: ignore[assignment]
        return context

    async def body() -> None:
        async with serving(ssl_context=context_recording_sni()) as target, serving(
            ssl_context=context_recording_sni()
        ) as first:
            first.redirect = ("localhost", target.port)
            client = BlynkClient(TOKEN, server="127.0.0.1", port=first.port, ca_file=str(tls.ca_cert))
            await client.connect()
            assert target.logins == 1
            assert client.stats.redirects == 1
            await client.close()

    run(body())
    # no SNI for an IP address (RFC 6066 section 3), then the redirect target's name
    assert names == [None, "localhost"]


def test_redirect_to_terminal_escapes_is_refused_without_echoing_them(caplog: pytest.LogCaptureFixture) -> None:
    async def body() -> None:
        async with serving() as hostile:
            hostile.redirect = ("evil\x1b[2J\nhost", 80)
            client = client_for(hostile)
            with pytest.raises(ConnectError, match="invalid host name") as info:
                await client.connect()
            assert "\x1b" not in str(info.value) and hostile.connections == 1

    with caplog.at_level(logging.DEBUG):
        run(body())
    assert all("\x1b" not in r.getMessage() for r in caplog.records)


def test_redirect_loop_gives_up() -> None:
    async def body() -> None:
        async with serving() as looping:
            looping.redirect = ("127.0.0.1", looping.port)
            client = client_for(looping, max_redirects=3)
            with pytest.raises(ConnectError, match="redirects"):
                await client.connect()
            assert looping.connections == 4

    run(body())


def test_invalid_token_stops_without_retry(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    bad = "BadToken_0123456789abcdefghijklm"

    async def body() -> None:
        async with serving() as server:
            client = BlynkClient(bad, server="127.0.0.1", port=server.port, insecure=True, backoff=FAST)
            with pytest.raises(InvalidTokenError) as info:
                await client.run()  # run() reconnects on anything else
            assert server.rejected == 1
            assert server.connections == 1
            assert bad not in str(info.value)
            assert "BadT\u2026" in str(info.value)
            assert bad not in repr(client)

    run(body())
    assert caplog.records
    assert all(bad not in record.getMessage() for record in caplog.records)


def test_refused_connection_is_connect_error_and_run_retries() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    async def body() -> None:
        client = BlynkClient(TOKEN, server="127.0.0.1", port=port, insecure=True, backoff=FAST)
        with pytest.raises(ConnectError, match="cannot connect"):
            await client.connect()
        runner = asyncio.ensure_future(client.run())
        while client.stats.attempts < 4:
            await asyncio.sleep(0.02)
        assert not runner.done()
        await client.close()
        await asyncio.wait_for(runner, 5)

    run(body())


# -- heartbeat, reconnect, offline queue ------------------------------------------------------------------


def test_heartbeat_loss_on_loopback_reconnects() -> None:
    async def body() -> None:
        async with serving() as server:
            client = client_for(server, heartbeat=0.3, response_timeout=0.1)
            downs: list[int] = []
            client.on_disconnect(lambda: downs.append(server.connections))
            runner = asyncio.ensure_future(client.run())
            await client.wait_connected(5)
            server.silent = True  # reads and ignores everything: no PING answers
            await server.wait_for(lambda: bool(downs), timeout=5)
            server.silent = False
            await server.wait_for(lambda: server.logins >= 2, timeout=5)
            await client.wait_connected(5)
            assert client.stats.logins == 2
            await client.close()
            await asyncio.wait_for(runner, 5)

    run(body())


def _logged_in_pair(now: float) -> tuple[proto.BlynkConnection, proto.BlynkConnection]:
    device = proto.BlynkConnection(proto.Role.DEVICE, heartbeat=10.0, timeout=2.0)
    server = proto.BlynkConnection(proto.Role.SERVER)
    device.login(TOKEN, now)
    server.receive_data(device.data_to_send(), now)
    assert isinstance(server.next_event(), proto.LoginRequested)
    server.accept_login(now)
    device.receive_data(server.data_to_send(), now)
    assert isinstance(device.next_event(), proto.LoginSucceeded)
    device.data_to_send()  # the info message
    return device, server


def test_heartbeat_loss_and_reconnect_schedule_on_a_float_clock(clock: FloatClock) -> None:
    """Liveness comes from ``now`` alone: ping at h, give up at h + 3t; then the seeded backoff."""
    device, _ = _logged_in_pair(clock.now)
    assert device.get_timer() == pytest.approx(clock.now + 10.0)
    clock.now = device.get_timer() or 0.0
    device.handle_timer(clock.now)
    assert device.data_to_send()[0] == proto.Command.PING  # the server stays silent from here
    while not device.closed:
        clock.now = device.get_timer() or 0.0
        device.handle_timer(clock.now)
    assert clock.now == pytest.approx(1000.0 + 10.0 + 3 * 2.0)
    events = []
    while (event := device.next_event()) is not None:
        events.append(event)
    assert isinstance(events[-1], proto.HeartbeatTimeout)
    # the driver's reconnect pacing is the pure Backoff: with a seeded RNG the schedule is exact
    backoff = Backoff(BackoffPolicy(initial=1.0, maximum=8.0, jitter=0.5), random.Random(5))
    attempts = [clock.advance(backoff.next_delay()) for _ in range(5)]
    gaps = [b - a for a, b in zip([1016.0, *attempts], attempts, strict=False)]
    assert all(base * 0.5 <= gap <= base for gap, base in zip(gaps, [1.0, 2.0, 4.0, 8.0, 8.0], strict=True))
    # the attempt that succeeds starts a fresh session whose deadlines count from its own login
    device, _ = _logged_in_pair(clock.now)
    assert device.get_timer() == pytest.approx(clock.now + 10.0)
    backoff.reset()
    assert backoff.attempts == 0


def test_offline_writes_arrive_after_server_restart_latest_per_pin() -> None:
    async def body() -> None:
        server = await FaultServer(tokens={TOKEN}).start()
        port = server.port
        drops: list[tuple[QueuedOp, DropReason]] = []
        client = client_for(server, on_drop=lambda item, why: drops.append((item, why)))
        runner = asyncio.ensure_future(client.run())
        await client.wait_connected(5)
        client.virtual_write("V1", "before")
        await client.ping()
        await server.wait_for(lambda: server.writes == [(1, ("before",))])
        await server.stop()
        while client.connected:
            await asyncio.sleep(0.01)
        client.virtual_write("V1", "down-1")
        client.virtual_write("V2", "down-2")
        client.virtual_write("V1", "down-3")
        client.log_event("offline", "went away")
        assert len(client.offline) == 3
        restarted = await FaultServer(tokens={TOKEN}, port=port).start()
        try:
            await restarted.wait_for(lambda: len(restarted.writes) == 2 and bool(restarted.events), timeout=5)
            assert restarted.writes == [(2, ("down-2",)), (1, ("down-3",))]
            assert restarted.events == [("offline", "went away")]
            assert client.stats.replayed == 3
            assert client.offline.superseded == 1
            assert [(item.args, why) for item, why in drops] == [(("1", "down-1"), DropReason.SUPERSEDED)]
        finally:
            await client.close()
            await asyncio.wait_for(runner, 5)
            await restarted.stop()

    run(body())


def test_offline_keep_all_mode_bounded() -> None:
    async def body() -> None:
        async with serving() as server:
            client = client_for(server, offline_mode=OfflineMode.ALL, offline_max=3)
            for i in range(5):
                client.virtual_write("V1", i)
            assert client.offline.dropped == 2
            await client.connect()
            await client.ping()
            await server.wait_for(lambda: len(server.writes) == 3)
            assert [w[1][0] for w in server.writes] == ["2", "3", "4"]
            await client.close()

    run(body())


# -- write coalescing -------------------------------------------------------------------------------------


class CountingClient(BlynkClient):
    """Counts every transport write and its size (the client's single write point)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sends: list[bytes] = []

    def _write(self, writer: asyncio.StreamWriter, data: bytes) -> None:
        self.sends.append(data)
        super()._write(writer, data)


@pytest.mark.parametrize(("window", "expected_sends"), [(0.05, 1), (0.0, 5)])
def test_writes_within_the_window_leave_in_one_send(window: float, expected_sends: int) -> None:
    async def body() -> None:
        async with serving() as server:
            client = CountingClient(TOKEN, server="127.0.0.1", port=server.port, insecure=True, coalesce=window)
            await client.connect()
            await asyncio.sleep(0.1)
            client.sends.clear()
            for i in range(5):
                client.virtual_write("V1", i)
            await server.wait_for(lambda: len(server.writes) == 5)
            assert len(client.sends) == expected_sends
            assert b"".join(client.sends).count(b"vw\x001\x00") == 5
            sock = client.socket
            assert sock is not None
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
            await client.close()

    run(body())


# -- binding ----------------------------------------------------------------------------------------------


def test_bind_to_interface_and_source_address() -> None:
    from tests.helpers import need_root

    need_root()

    async def body() -> None:
        async with serving() as server:
            client = client_for(server, interface="lo", source_address="127.0.0.1")
            await client.connect()
            sock = client.socket
            assert sock is not None
            bound = sock.getsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, 16)
            assert bound.rstrip(b"\0") == b"lo"
            assert sock.getsockname()[0] == "127.0.0.1"
            await client.close()

    run(body())


def test_bad_source_address_is_a_clear_usage_error() -> None:
    async def body() -> None:
        async with serving() as server:
            client = client_for(server, source_address="192.0.2.77")
            with pytest.raises(UsageError, match="source"):
                await client.connect()
            assert server.connections == 0

    run(body())


def test_a_missing_interface_is_waited_for_not_a_usage_error(caplog: pytest.LogCaptureFixture) -> None:
    """The boot race (issue 10 item 8): ppp0 does not exist yet. One attempt says so (exit 3 in the
    CLI); ``run()`` waits for it with one progress line and no connection attempts."""

    async def body() -> None:
        async with serving() as server:
            client = client_for(server, interface="nosuchif0")
            with pytest.raises(ConnectError, match="nosuchif0 is not present"):
                await client.connect()
            runner = asyncio.ensure_future(client.run())
            await asyncio.sleep(2.5)  # a few interface polls
            assert not runner.done()
            await client.close()
            await asyncio.wait_for(runner, 5)
            assert server.connections == 0 and client.stats.attempts == 0

    with caplog.at_level(logging.INFO):
        run(body())
    waiting = [r.getMessage() for r in caplog.records if "nosuchif0" in r.getMessage()]
    assert waiting == ["waiting for network interface nosuchif0 to appear"]


# -- handlers ---------------------------------------------------------------------------------------------


def test_handler_errors_are_logged_not_fatal(caplog: pytest.LogCaptureFixture) -> None:
    async def body() -> None:
        async with serving() as server:
            client = client_for(server)
            seen: list[str] = []

            @client.on_write("V1")
            def broken(values: Values) -> None:
                raise RuntimeError("boom")

            @client.on_write("V1")
            async def fine(values: Values) -> None:
                await asyncio.sleep(0)
                seen.append(values.str())

            await client.connect()
            server.push(1, "a")
            await client.ping()
            await asyncio.sleep(0.05)
            assert seen == ["a"]
            assert client.connected
            await client.close()

    run(body())
    assert any("boom" in (r.exc_text or "") or r.exc_info for r in caplog.records)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c: c.virtual_write("X1", 1), "pin"),
        (lambda c: c.virtual_write("V1"), "at least one value"),
        (lambda c: c.virtual_write("V1", "a\0b"), "NUL"),
        (lambda c: c.log_event(""), "event code"),
        (lambda c: c.set_property("V1", "", 1), "property"),
    ],
)
def test_bad_calls_are_usage_errors(call: Callable[[BlynkClient], None], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        call(BlynkClient(TOKEN, insecure=True))


# -- blocking facade --------------------------------------------------------------------------------------


class ThreadedServer:
    """A FaultServer on its own event loop in a thread (the facade owns the main thread's loop)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._main, daemon=True)
        self.server: FaultServer | None = None

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(FaultServer(tokens={TOKEN}).start())
        self.ready.set()
        self.loop.run_forever()

    def __enter__(self) -> FaultServer:
        self.thread.start()
        self.ready.wait(5)
        assert self.server is not None
        return self.server

    def call(self, func: Callable[[], Any]) -> None:
        self.loop.call_soon_threadsafe(func)

    def __exit__(self, *exc: object) -> None:
        assert self.server is not None
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def test_blocking_facade() -> None:
    threaded = ThreadedServer()
    with threaded as server, Blynk(TOKEN, server="127.0.0.1", port=server.port, insecure=True, backoff=FAST) as blynk:
        got: list[int] = []
        blynk.on_write("V5")(lambda values: got.append(values.int()))
        blynk.virtual_write("V1", "early")  # queued: not connected yet
        blynk.connect(timeout=5)
        assert blynk.connected
        blynk.virtual_write("V2", 2)
        threaded.call(lambda: server.push(5, "17"))
        for _ in range(50):
            blynk.run(0.02)
            if got and len(server.writes) == 2:
                break
        assert got == [17]
        assert server.writes == [(1, ("early",)), (2, ("2",))]
        assert blynk.ping() >= 0
        assert "Tok3" in repr(blynk) and TOKEN not in repr(blynk)


def test_facade_raises_invalid_token() -> None:
    threaded = ThreadedServer()
    with threaded as server:
        blynk = Blynk("Wrong" + TOKEN[5:], server="127.0.0.1", port=server.port, insecure=True, backoff=FAST)
        with pytest.raises(InvalidTokenError):
            blynk.connect(timeout=5)
        blynk.close()


def test_a_full_segment_does_not_wait_for_the_window() -> None:
    async def body() -> None:
        async with serving() as server:
            client = CountingClient(
                TOKEN, server="127.0.0.1", port=server.port, insecure=True, coalesce=30.0, coalesce_bytes=100
            )
            await client.connect()
            await client.ping()
            client.sends.clear()
            for i in range(30):  # 30 frames of 13-14 bytes: several 100-byte batches, no timer needed
                client.virtual_write("V1", i)
            await server.wait_for(lambda: len(server.writes) >= 28)
            assert 3 <= len(client.sends) <= 5
            assert all(len(chunk) >= 100 for chunk in client.sends)
            await client.close()  # flushes the remainder
            await server.wait_for(lambda: len(server.writes) == 30)

    run(body())


def test_facade_run_forever_until_a_handler_closes() -> None:
    threaded = ThreadedServer()
    with threaded as server:
        blynk = Blynk(TOKEN, server="127.0.0.1", port=server.port, insecure=True, backoff=FAST)
        seen: list[str] = []

        @blynk.on_connect
        def ready() -> None:
            threaded.call(lambda: server.push(9, "stop"))

        @blynk.on_write("V9")
        def stop(values: Values) -> None:
            seen.append(values.str())
            blynk.close()

        blynk.run_forever()  # returns once the handler closed the client
        assert seen == ["stop"]
        assert not blynk.connected
        blynk.close()
