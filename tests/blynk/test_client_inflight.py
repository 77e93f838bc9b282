"""Nothing in flight is lost, the heartbeat announced is the one kept, and a BlynkLib-style loop idles.

Issue 13 items 2 and 4. A server that stops answering (frozen with SIGSTOP, or one that reads and
drops) leaves the client with writes it handed to a dead connection; the client keeps every
operation until a PING answer proves the server got it, and resends the rest after the reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from blynk_client import protocol as proto
from blynk_client.client import BlynkClient
from blynk_client.errors import UsageError
from blynk_client.offline import BackoffPolicy
from blynk_client.sync_client import Blynk
from tests.blynk.client_helpers import FaultServer

TOKEN = "InFl1ghtTok3n_0123456789abcdefgh"
FAST = BackoffPolicy(initial=0.05, factor=2.0, maximum=0.5, jitter=0.5)


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
