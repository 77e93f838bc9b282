"""Our client against the project's own server (``blynk_client.server``), in-process and as commands.

The "done when" of issue 4: ``blynk-server --token-file t`` and ``blynk-client ... run`` talk; a
``blynk-client ... write V1 42`` shows up in the server's HTTP ``get``; an HTTP ``update`` reaches
``run``'s output; a bad token exits with status 5.
"""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Awaitable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from blynk_client.client import BlynkClient
from blynk_client.errors import ExitStatus, InvalidTokenError
from blynk_client.offline import BackoffPolicy, Values
from blynk_client.server import BlynkServer
from tests.blynk.client_helpers import TlsFiles, make_tls_files

TOKEN = "SrvTok3n_0123456789abcdefghijklm"
FAST = BackoffPolicy(initial=0.05, maximum=0.2)
T = TypeVar("T")


def run(coro: Awaitable[T], timeout: float = 20.0) -> T:
    async def bounded() -> T:
        async with asyncio.timeout(timeout):
            return await coro

    return asyncio.run(bounded())


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    files = make_tls_files(tmp_path_factory.mktemp("tls"))
    if files is None:
        from tests.helpers import need_tool

        need_tool("openssl")
    assert files is not None
    return files


# -- in-process ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("use_tls", [False, True])
def test_client_and_server_exchange_both_ways(use_tls: bool, tls: TlsFiles) -> None:
    async def body() -> None:
        context = tls.server_context() if use_tls else None
        async with BlynkServer(tokens=[TOKEN], http_port=None, ssl_context=context) as server:
            if use_tls:
                client = BlynkClient(TOKEN, server="localhost", port=server.port, ca_file=str(tls.ca_cert))
            else:
                client = BlynkClient(TOKEN, server="127.0.0.1", port=server.port, insecure=True)
            got: list[Values] = []
            client.on_write("V2")(got.append)
            await client.connect()
            assert server.is_connected(TOKEN)
            client.virtual_write("V1", 42)
            await client.ping()
            assert server.stored(TOKEN, "V1") == ("42",)
            assert await server.push_write(TOKEN, "V2", "on") == 1
            await client.ping()
            assert got == [["on"]]
            client.sync("V1", "V2")
            await client.ping()
            assert [v.pin for v in got] == [2, 2]  # the V2 sync answer; V1 has no handler
            await client.close()
            await server.wait_for(lambda: not server.is_connected(TOKEN))

    run(body())


def test_redirect_between_two_project_servers() -> None:
    async def body() -> None:
        async with BlynkServer(tokens=[TOKEN], http_port=None) as target:
            first = BlynkServer(redirects={TOKEN: ("127.0.0.1", target.port)}, http_port=None)
            async with first:
                client = BlynkClient(TOKEN, server="127.0.0.1", port=first.port, insecure=True)
                await client.connect()
                assert client.stats.redirects == 1
                client.virtual_write("V5", "there")
                await client.ping()
                assert target.stored(TOKEN, 5) == ("there",)
                await client.close()

    run(body())


def test_invalid_token_against_project_server() -> None:
    async def body() -> None:
        async with BlynkServer(tokens=[TOKEN], http_port=None) as server:
            client = BlynkClient("Nope" + TOKEN[4:], server="127.0.0.1", port=server.port, insecure=True, backoff=FAST)
            with pytest.raises(InvalidTokenError):
                await client.run()

    run(body())


def test_offline_writes_reach_restarted_project_server() -> None:
    async def body() -> None:
        server = BlynkServer(tokens=[TOKEN], http_port=None)
        await server.start()
        port = server.port
        client = BlynkClient(TOKEN, server="127.0.0.1", port=port, insecure=True, backoff=FAST)
        runner = asyncio.ensure_future(client.run())
        await client.wait_connected(5)
        await server.stop()
        while client.connected:
            await asyncio.sleep(0.01)
        for value in ("a", "b", "c"):
            client.virtual_write("V1", value)
        second = BlynkServer(tokens=[TOKEN], port=port, http_port=None)
        await second.start()
        try:
            await second.wait_for(lambda: second.stored(TOKEN, 1) is not None)
            assert second.stored(TOKEN, 1) == ("c",)
            assert client.offline.superseded == 2
        finally:
            await client.close()
            await asyncio.wait_for(runner, 5)
            await second.stop()

    run(body())


# -- the commands, end to end -----------------------------------------------------------------------------


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "t"
    path.write_text(TOKEN + "\n")
    path.chmod(0o600)
    return path


@pytest.fixture
def blynk_server(token_file: Path) -> Iterator[tuple[int, int]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "blynk_client.cli", "--port", "0", "--http-port", "0", "--token-file", str(token_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()
        ports = re.findall(r"127\.0\.0\.1:(\d+)", banner)
        assert len(ports) == 2, banner + (proc.stderr.read() if proc.stderr and proc.poll() is not None else "")
        yield int(ports[0]), int(ports[1])
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


def http(port: int, path: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/external/api/{path}", timeout=10) as resp:
        return resp.read().decode()


def wait_http(port: int, path: str, want: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while (got := http(port, path)) != want:
        assert time.monotonic() < deadline, f"{path}: {got!r} != {want!r}"
        time.sleep(0.05)


def test_done_when_server_and_client_commands_talk(blynk_server: tuple[int, int], token_file: Path) -> None:
    port, http_port = blynk_server
    common = ["--server", "127.0.0.1", "--port", str(port), "--insecure", "--token-file", str(token_file)]
    runner = subprocess.Popen(
        [sys.executable, "-m", "blynk_client.client_cli", *common, "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_http(http_port, f"isHardwareConnected?token={TOKEN}", "true")

        write = subprocess.run(
            [sys.executable, "-m", "blynk_client.client_cli", *common, "write", "V1", "42"],
            capture_output=True, text=True, timeout=30,
        )
        assert write.returncode == 0, write.stderr
        assert http(http_port, f"get?token={TOKEN}&V1") == "42"

        http(http_port, f"update?token={TOKEN}&V2=hello")
        assert runner.stdout is not None
        assert runner.stdout.readline().strip() == "V2 hello"

        bad = token_file.with_name("bad")
        bad.write_text("Bad_" + TOKEN[4:] + "\n")
        bad.chmod(0o600)
        refused = subprocess.run(
            [sys.executable, "-m", "blynk_client.client_cli", *common[:-1], str(bad), "ping"],
            capture_output=True, text=True, timeout=30,
        )
        assert refused.returncode == ExitStatus.BAD_TOKEN
        assert refused.stderr.count("\n") == 1
    finally:
        runner.send_signal(signal.SIGTERM)
        _, err = runner.communicate(timeout=10)
    assert runner.returncode == 0, err
    assert TOKEN not in err
