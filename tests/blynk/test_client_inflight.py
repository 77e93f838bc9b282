"""Nothing in flight is lost, the heartbeat announced is the one kept, and a BlynkLib-style loop idles.

Issue 13 items 2 and 4. A server that stops answering (frozen with SIGSTOP, or one that reads and
drops) leaves the client with writes it handed to a dead connection; the client keeps every
operation until the server's answer to a later request (a PING, a property, an event) proves the
server got it, and resends the rest after the reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from blynk_client import _events as ev
from blynk_client import protocol as proto
from blynk_client.client import BlynkClient
from blynk_client.errors import UsageError
from blynk_client.offline import BackoffPolicy
from blynk_client.server import BlynkServer, ServerLimits
from blynk_client.sync_client import Blynk
from tests.blynk.client_helpers import FaultServer
from tests.blynk.server_helpers import running_server

TOKEN = "InFl1ghtTok3n_0123456789abcdefgh"
FAST = BackoffPolicy(initial=0.05, factor=2.0, maximum=0.5, jitter=0.5)
T = TypeVar("T")


# -- the heartbeat announced is the one kept -------------------------------------------------------


@pytest.mark.parametrize(("heartbeat", "announced"), [(2.0, "2"), (45.0, "45"), (2.5, "3"), (0.3, "1")])
def test_pings_follow_the_announced_heartbeat(heartbeat: float, announced: str) -> None:
    """Idle, the device core made by the session pings every ``heartbeat`` s (was: every 6 s when
    the heartbeat was shorter than the response timeout), and announces at least that."""
    client = Blynk(TOKEN, server="127.0.0.1", port=9, insecure=True, heartbeat=heartbeat)
    device = client._new_connection()
    server = proto.BlynkConnection(proto.Role.SERVER)
    now = 100.0
    device.login(TOKEN, now, info=client.info)
    server.receive_data(device.data_to_send(), now)
    assert isinstance(server.next_event(), proto.LoginRequested)
    server.accept_login(now)
    device.receive_data(server.data_to_send(), now)
    server.receive_data(device.data_to_send(), now)  # the info message
    info = [e for e in iter(server.next_event, None) if isinstance(e, proto.InfoReceived)]
    assert info and dict(info[0].info)["h-beat"] == announced
    pings: list[float] = []
    for _ in range(5):
        now = device.get_timer() or 0.0
        device.handle_timer(now)
        out = device.data_to_send()
        assert out[0] == proto.Command.PING
        pings.append(now)
        server.receive_data(out, now)  # the server answers at once
        list(iter(server.next_event, None))
        device.receive_data(server.data_to_send(), now)
        list(iter(device.next_event, None))
    gaps = [b - a for a, b in itertools.pairwise(pings)]
    assert gaps == pytest.approx([heartbeat] * 4)
    assert heartbeat <= float(announced)


# -- nothing in flight is lost ---------------------------------------------------------------------


def test_writes_to_a_server_that_stops_reading_are_resent_after_the_reconnect(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The server reads and drops everything (a dead peer the kernel still ACKs): the five writes
    made meanwhile were handed to a dead connection; after the heartbeat timeout and the reconnect
    they are stored, and the client says it resent them."""

    async def body() -> None:
        server = await FaultServer(tokens={TOKEN}).start()
        try:
            client = BlynkClient(
                TOKEN, server="127.0.0.1", port=server.port, insecure=True, heartbeat=1.0, backoff=FAST
            )
            runner = asyncio.ensure_future(client.run())
            await client.wait_connected(5)
            client.virtual_write("V9", "confirmed")
            await client.ping()  # proves V9 arrived: it is not resent
            server.silent = True
            for pin in range(1, 6):
                client.virtual_write(pin, f"frozen-{pin}")
                await asyncio.sleep(0.1)
            assert client.unconfirmed == 5
            await server.wait_for(lambda: not client.connected, timeout=10)
            server.silent = False
            await server.wait_for(lambda: all(pin in server.values for pin in range(1, 6)), timeout=10)
            assert {pin: server.values[pin] for pin in range(1, 6)} == {p: (f"frozen-{p}",) for p in range(1, 6)}
            assert server.writes.count((9, ("confirmed",))) == 1
            assert client.stats.resent == 5 and client.stats.logins == 2
            await client.close()
            await asyncio.wait_for(runner, 5)
        finally:
            await server.stop()

    with caplog.at_level(logging.WARNING):
        asyncio.run(asyncio.wait_for(body(), 30))
    assert any("confirmed 5 operation(s)" in r.getMessage() for r in caplog.records)


def test_only_the_latest_value_per_pin_is_resent_and_the_bound_reports_drops() -> None:
    async def body() -> None:
        server = await FaultServer(tokens={TOKEN}).start()
        drops: list[object] = []
        try:
            client = BlynkClient(
                TOKEN, server="127.0.0.1", port=server.port, insecure=True, heartbeat=1.0, backoff=FAST,
                offline_max=3, on_drop=lambda item, why: drops.append((item.args, why.value)),
            )
            runner = asyncio.ensure_future(client.run())
            await client.wait_connected(5)
            server.silent = True
            for i in range(3):
                client.virtual_write(1, f"v1-{i}")
            for pin in (2, 3, 4):
                client.virtual_write(pin, "x")
            await server.wait_for(lambda: not client.connected, timeout=10)
            server.silent = False
            await server.wait_for(lambda: client.stats.logins == 2, timeout=10)
            await client.ping()
            # four pins unconfirmed, the queue holds three: the oldest (V1) is dropped and reported
            assert drops == [(("1", "v1-2"), "overflow")]
            assert {p: server.values.get(p) for p in (2, 3, 4)} == {2: ("x",), 3: ("x",), 4: ("x",)}
            await client.close()
            await asyncio.wait_for(runner, 5)
        finally:
            await server.stop()

    asyncio.run(asyncio.wait_for(body(), 30))


@pytest.fixture
def server_process(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int, int]]:
    token_file = tmp_path / "t"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    proc = subprocess.Popen(
        [sys.executable, "-m", "blynk_client.cli", "--port", "0", "--http-port", "0", "--token-file", str(token_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        ports = re.findall(r"127\.0\.0\.1:(\d+)", proc.stdout.readline())
        assert len(ports) == 2
        yield proc, int(ports[0]), int(ports[1])
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGCONT)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


def _get(http_port: int, pin: int) -> str:
    url = f"http://127.0.0.1:{http_port}/external/api/get?token={TOKEN}&V{pin}"
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return str(resp.read().decode())
    except urllib.error.HTTPError:
        return ""


def test_server_frozen_with_sigstop_loses_no_write(server_process: tuple[subprocess.Popen[str], int, int]) -> None:
    """The issue's case, scaled down: heartbeat 2 s, the server process stopped for longer than the
    client's liveness allowance, five writes made during the freeze: stored after recovery."""
    proc, port, http_port = server_process
    blynk = Blynk(TOKEN, server="127.0.0.1", port=port, insecure=True, heartbeat=2.0, login_timeout=2.0, backoff=FAST)
    try:
        blynk.connect(timeout=10)
        blynk.virtual_write("V8", "before")
        blynk.ping()
        os.kill(proc.pid, signal.SIGSTOP)
        frozen_at = time.monotonic()
        for pin in range(1, 6):
            blynk.virtual_write(pin, f"frozen-{pin}")
            blynk.run(0.2)
        while blynk.connected:  # the heartbeat timeout (2 + 3 * 2 s without an answer)
            blynk.run(0.2)
        while time.monotonic() - frozen_at < 10.0:
            blynk.run(0.2)  # reconnect attempts meet a frozen server: login timeouts
        os.kill(proc.pid, signal.SIGCONT)
        deadline = time.monotonic() + 20
        while blynk.stats.logins < 2 and time.monotonic() < deadline:
            blynk.run(0.1)
        assert blynk.stats.logins >= 2
        blynk.ping()  # the server processed everything sent before this
        assert [_get(http_port, pin) for pin in range(1, 6)] == [f"frozen-{p}" for p in range(1, 6)]
        assert blynk.stats.resent >= 5
    finally:
        blynk.close()


# -- a BlynkLib-style loop ---------------------------------------------------------------------------


def test_blynklib_1_0_spellings_and_timers(server_process: tuple[subprocess.Popen[str], int, int]) -> None:
    """A BlynkLib 1.0 script's calls work unchanged: ``on("V1")``, ``on("V*")``, ``on("connected")``
    with its ``ping`` argument, ``virtual_write``, ``sync_virtual``, ``run()``; plus the timers."""
    _, port, http_port = server_process
    blynk = Blynk(TOKEN, server="127.0.0.1", port=port, insecure=True, tmpl_id="TMPL1234", fw_ver="1.2.3")
    assert blynk.info["tmpl"] == "TMPL1234" and blynk.info["fw"] == "1.2.3"
    seen: dict[str, object] = {}

    @blynk.on("connected")
    def blynk_connected(ping: int) -> None:
        seen["ping"] = ping
        blynk.sync_virtual(4)

    @blynk.on("V4")
    def v4_write_handler(value: list[str]) -> None:
        seen["V4"] = list(value)

    blynk.on("V*", lambda pin, value: seen.setdefault("any", (pin, list(value))))
    ticks: list[float] = []
    timer = blynk.set_interval(0.1, lambda: ticks.append(time.monotonic()))
    blynk.set_timeout(0.25, lambda: blynk.virtual_write(4, "from-timer"))
    urllib.request.urlopen(f"http://127.0.0.1:{http_port}/external/api/update?token={TOKEN}&V4=stored", timeout=10)
    deadline = time.monotonic() + 10
    while ("V4" not in seen or len(ticks) < 5) and time.monotonic() < deadline:
        blynk.run()
    assert isinstance(seen["ping"], int) and seen["V4"] == ["stored"] and seen["any"] == ("4", ["stored"])
    timer.cancel()
    while _get(http_port, 4) != "from-timer" and time.monotonic() < deadline:
        blynk.run(0.05)
    assert _get(http_port, 4) == "from-timer"
    count = len(ticks)
    blynk.run(0.3)
    assert len(ticks) == count  # cancelled
    blynk.close()


def test_an_idle_run_loop_does_not_spin(server_process: tuple[subprocess.Popen[str], int, int]) -> None:
    """``while True: blynk.run()`` sleeps until the next deadline (BlynkLib 0.2: 50 ms polls; ours
    used to return at once and burn a core). A behaviour check with a generous bound: a spinning
    loop uses about the whole window, a waiting one almost nothing."""
    _, port, _ = server_process
    blynk = Blynk(TOKEN, server="127.0.0.1", port=port, insecure=True, heartbeat=1.0)
    blynk.set_interval(0.2, lambda: None)
    blynk.connect(timeout=10)
    window = 2.0
    rounds = 0
    cpu = time.process_time()
    end = time.monotonic() + window
    while time.monotonic() < end:
        blynk.run()
        rounds += 1
    used = time.process_time() - cpu
    assert blynk.connected
    assert used < 0.25 * window, f"{used:.2f} CPU-s in {window} s over {rounds} rounds"
    assert rounds < 200  # one round per deadline (timer, heartbeat), not a busy loop
    blynk.close()


def test_the_readme_port_of_a_blynklib_script_runs(
    server_process: tuple[subprocess.Popen[str], int, int], capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's ported script, as printed, against the local server (only the server address,
    the interval and the endless loop are adjusted for a test)."""
    _, port, http_port = server_process
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("The same script on `blynk_client`", 1)[1]
    script = section.split("```python\n", 1)[1].split("```", 1)[0]
    assert "import BlynkLib" not in script and "timer.run()" not in script
    script = script.replace("Blynk(BLYNK_AUTH, ", f"Blynk(BLYNK_AUTH, server='127.0.0.1', port={port}, insecure=True, ")
    script = script.replace("set_interval(5,", "set_interval(0.1,")
    script = script.replace("while True:", "for _ in range(ROUNDS):")
    urllib.request.urlopen(f"http://127.0.0.1:{http_port}/external/api/update?token={TOKEN}&V3=17", timeout=10)
    namespace: dict[str, object] = {"BLYNK_AUTH": TOKEN, "read_sensor": lambda: 42, "ROUNDS": 40}
    exec(compile(script, "README.md", "exec"), namespace)
    blynk = namespace["blynk"]
    assert isinstance(blynk, Blynk) and blynk.info["tmpl"] == "TMPL1234"
    blynk.close()
    assert "slider: 17" in capsys.readouterr().out
    assert _get(http_port, 5) == "42"


def test_a_two_second_heartbeat_keeps_the_session_with_our_server(
    server_process: tuple[subprocess.Popen[str], int, int],
) -> None:
    """``--heartbeat 2`` used to announce 2 s and ping every 6 s; the server (2.3 announced
    heartbeats of silence) dropped the device every 5 s. Idle for 7 s now: still the first session."""
    _, port, _ = server_process
    blynk = Blynk(TOKEN, server="127.0.0.1", port=port, insecure=True, heartbeat=2.0)
    blynk.connect(timeout=10)
    blynk.run(7.0)
    assert blynk.connected and blynk.stats.logins == 1 and blynk.stats.attempts == 1
    blynk.close()


def test_asyncio_client_timers_and_blynklib_spellings() -> None:
    async def body() -> None:
        server = await FaultServer(tokens={TOKEN}).start()
        try:
            client = BlynkClient(TOKEN, server="127.0.0.1", port=server.port, insecure=True, template_id="TMPLa")
            got: list[tuple[str, list[str]]] = []
            connected: list[bool] = []
            client.on("connected", lambda: connected.append(True))
            client.on("V*", lambda pin, value: got.append((pin, list(value))))
            ticks: list[int] = []
            client.set_interval(0.05, lambda: ticks.append(1))
            once = client.set_timeout(0.1, lambda: client.virtual_write("V2", "timer"))
            runner = asyncio.ensure_future(client.run())
            await client.wait_connected(5)
            server.push(7, "x")
            await server.wait_for(lambda: server.values.get(2) == ("timer",) and len(ticks) >= 3 and bool(got))
            assert connected == [True] and got == [("7", ["x"])] and not once.active
            assert server.info["tmpl"] == "TMPLa" and server.info["fw-type"] == "TMPLa"
            with pytest.raises(UsageError, match="unsupported event"):
                client.on("readV1", lambda: None)
            await client.close()
            await asyncio.wait_for(runner, 5)
            count = len(ticks)
            await asyncio.sleep(0.2)
            assert len(ticks) == count  # the loop timer stops with the client
        finally:
            await server.stop()

    asyncio.run(asyncio.wait_for(body(), 20))


def test_a_burst_of_events_is_confirmed_by_an_early_ping() -> None:
    """Writes are bounded by the pin count; events are not, so ``offline_max`` of them waiting
    for confirmation send a PING at once instead of waiting for the heartbeat."""

    async def body() -> None:
        server = await FaultServer(tokens={TOKEN}).start()
        try:
            client = BlynkClient(TOKEN, server="127.0.0.1", port=server.port, insecure=True, offline_max=10)
            await client.connect()
            for i in range(25):
                client.log_event("burst", str(i))
            await server.wait_for(lambda: len(server.events) == 25)
            await server.wait_for(lambda: client.unconfirmed == 5)  # two early PINGs answered
            await client.ping()
            assert client.unconfirmed == 0
            await client.close()
        finally:
            await server.stop()

    asyncio.run(asyncio.wait_for(body(), 20))


# -- any answer to a later request is proof, not only a PING's --------------------------------------


@pytest.mark.parametrize("status", [200, 2, 11, 1])
@pytest.mark.parametrize("driver", [Blynk, BlynkClient])
def test_any_response_to_a_cut_id_is_proof_and_uncorrelated_traffic_is_not(
    driver: type[Blynk] | type[BlynkClient], status: int
) -> None:
    """A RESPONSE with the id of a request that expects a reply proves receipt whatever its status
    (an error too); a push that happens to carry the same id (HARDWARE, INTERNAL: the server's ids
    are its own counter, so a sync answer and a push look alike), a server PING, or a RESPONSE to
    an id never cut (an answer to a write) prove nothing."""
    client = driver(TOKEN, server="127.0.0.1", port=9, insecure=True)
    client._inflight.current[1] = ("a",)
    client._inflight.cut(5)
    for event in (
        ev.VirtualWrite(pin=1, values=("pushed",), msg_id=5),
        ev.Hardware(command=proto.Command.HARDWARE, args=("dw", "1", "1"), msg_id=5),
        ev.Internal(args=("rtc", "1700000000"), msg_id=5),
        ev.PingReceived(msg_id=5),
        ev.Response(msg_id=4, status=2),
        ev.Response(msg_id=6, status=200),
    ):
        client._handle_event(event)
    assert client.unconfirmed == 1
    client._handle_event(ev.Response(msg_id=5, status=status))
    assert client.unconfirmed == 0


def _logged_in_pair(client: Blynk, now: float) -> tuple[proto.BlynkConnection, proto.BlynkConnection]:
    """A device core made by ``client`` logged in to a server core, in memory."""
    device = client._new_connection()
    server = proto.BlynkConnection(proto.Role.SERVER)
    device.login(TOKEN, now, info=client.info)
    server.receive_data(device.data_to_send(), now)
    assert isinstance(server.next_event(), proto.LoginRequested)
    server.accept_login(now)
    device.receive_data(server.data_to_send(), now)
    assert isinstance(device.next_event(), proto.LoginSucceeded)
    server.receive_data(device.data_to_send(), now)  # the info message, answered 200
    list(iter(server.next_event, None))
    device.receive_data(server.data_to_send(), now)
    for event in iter(device.next_event, None):
        client._handle_event(event)  # the info's RESPONSE (id 2, never cut): nothing to confirm
    return device, server


def test_the_cores_heartbeat_ping_is_cut_with_its_own_id() -> None:
    """The PING the core sends on its timer is cut with its real id (was: an anonymous cut that
    any unknown answer confirmed), and only its answer confirms the write before it."""
    client = Blynk(TOKEN, server="127.0.0.1", port=9, insecure=True, heartbeat=2.0)
    device, server = _logged_in_pair(client, 100.0)
    device.virtual_write(3, "x", now=100.0)
    client._inflight.current[3] = ("x",)
    server.receive_data(device.data_to_send(), 100.0)
    now = device.get_timer() or 0.0
    client._core_timer(device, now)
    out = device.data_to_send()
    assert out[0] == proto.Command.PING
    ping_id = int.from_bytes(out[1:3], "big")
    assert [cut for cut, _ in client._inflight._generations] == [ping_id]
    client._handle_event(ev.Response(msg_id=ping_id - 1, status=200))
    assert client.unconfirmed == 1
    server.receive_data(out, now)
    list(iter(server.next_event, None))
    device.receive_data(server.data_to_send(), now)
    events = list(iter(device.next_event, None))
    assert [type(e) for e in events] == [proto.Pong]
    for event in events:
        client._handle_event(event)
    assert client.unconfirmed == 0


#: What our server (blynk_client.server) answers to the request made between the two writes: the
#: property 200, the event 200, a property without a value 11 (ILLEGAL_COMMAND_BODY), a property
#: over the device's limit 1 (QUOTA_LIMIT). Every one is a RESPONSE carrying the request's id.
PROOFS = {
    "property-200": (ServerLimits(), lambda c: c.set_property("V1", "label", "Temp")),
    "event-200": (ServerLimits(), lambda c: c.log_event("note", "hello")),
    "property-11": (ServerLimits(), lambda c: c.set_property("V1", "label")),
    "property-1": (ServerLimits(max_properties=0), lambda c: c.set_property("V1", "label", "Temp")),
}


def _check_answer(server: BlynkServer, proof: str) -> None:
    """The server really answered the request the way :data:`PROOFS` says."""
    record = server.record(TOKEN)
    if proof == "property-200":
        assert record.properties == {(1, "label"): ("Temp",)}
    elif proof == "event-200":
        assert [e.code for e in record.events] == ["note"]
    elif proof == "property-11":
        assert server.stats.malformed == 1 and not record.properties
    else:
        assert server.stats.over_limit == 1 and not record.properties


def _kill(server: BlynkServer) -> None:
    """Abort the device's connection on the server side (no PING, no goodbye)."""
    for session in list(server._by_token.get(TOKEN, ())):
        assert session.transport is not None
        session.transport.abort()


@pytest.mark.parametrize("proof", sorted(PROOFS))
def test_asyncio_a_write_proven_by_a_later_answer_is_not_resent(proof: str, caplog: pytest.LogCaptureFixture) -> None:
    """V1 is written, then a request our server answers (no PING anywhere: heartbeat 45 s): its
    answer proves V1 arrived. V2 is written after it; the connection is killed. After the
    reconnect only V2 is resent."""
    limits, request = PROOFS[proof]

    async def until(predicate: Callable[[], object]) -> None:
        while not predicate():
            await asyncio.sleep(0.01)

    async def body() -> None:
        async with BlynkServer(tokens=[TOKEN], http_port=None, limits=limits) as server:
            client = BlynkClient(TOKEN, server="127.0.0.1", port=server.port, insecure=True, backoff=FAST)
            runner = asyncio.ensure_future(client.run())
            await client.wait_connected(5)
            client.virtual_write("V1", "proven")
            request(client)
            assert client.unconfirmed == 2
            await until(lambda: client.unconfirmed == 0)  # the answer arrived
            core = client._conn
            assert core is not None and core._last_ping == -math.inf  # no PING was ever sent
            _check_answer(server, proof)
            client.virtual_write("V2", "unproven")
            await server.wait_for(lambda: server.stored(TOKEN, "V2") == ("unproven",))
            assert server.stats.writes_in == 2 and client.unconfirmed == 1
            _kill(server)
            await until(lambda: client.stats.logins == 2)
            await client.ping()  # everything replayed arrived
            assert client.stats.resent == 1
            assert server.stats.writes_in == 3  # V2 once more; V1 (and the request) not
            assert server.stored(TOKEN, "V1") == ("proven",) and server.stored(TOKEN, "V2") == ("unproven",)
            await client.close()
            await asyncio.wait_for(runner, 5)

    with caplog.at_level(logging.WARNING):
        asyncio.run(asyncio.wait_for(body(), 30))
    assert any("confirmed 1 operation(s)" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("proof", sorted(PROOFS))
def test_blocking_a_write_proven_by_a_later_answer_is_not_resent(proof: str) -> None:
    """The same with the blocking client and our server on a background loop."""
    limits, request = PROOFS[proof]
    with running_server(tokens=[TOKEN], http=False, limits=limits) as srv:
        server = srv.server
        blynk = Blynk(TOKEN, server="127.0.0.1", port=srv.port, insecure=True, backoff=FAST)

        def until(predicate: Callable[[], object]) -> None:
            deadline = time.monotonic() + 10
            while not predicate():
                assert time.monotonic() < deadline, "gave up waiting"
                blynk.run(0.02)

        try:
            blynk.connect(timeout=10)
            blynk.virtual_write("V1", "proven")
            request(blynk)
            assert blynk.unconfirmed == 2
            until(lambda: blynk.unconfirmed == 0)
            core = blynk._conn
            assert core is not None and core._last_ping == -math.inf
            srv.call(_async(lambda: _check_answer(server, proof)))
            blynk.virtual_write("V2", "unproven")
            blynk.flush()
            srv.wait_for(lambda s: s.stored(TOKEN, "V2") == ("unproven",))
            assert blynk.unconfirmed == 1
            srv.call(_async(lambda: _kill(server)))
            until(lambda: blynk.stats.logins == 2)
            blynk.ping()
            assert blynk.stats.resent == 1
            assert srv.call(_async(lambda: server.stats.writes_in)) == 3
            assert srv.stored(TOKEN, "V1") == ("proven",) and srv.stored(TOKEN, "V2") == ("unproven",)
        finally:
            blynk.close()


def _async(func: Callable[[], T]) -> Callable[[], Coroutine[Any, Any, T]]:
    """``func`` as a coroutine factory for :meth:`ServerHandle.call` (runs on the server's loop)."""

    async def run() -> T:
        return func()

    return run
