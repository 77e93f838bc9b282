"""``blynk-client``: options, token sources, exit statuses, and each subcommand against a real server.

In-process calls of :func:`blynk_client.client_cli.main` cover parsing and error mapping; the
subcommands run as subprocesses (``python -m blynk_client.client_cli``) against
:class:`tests.blynk.client_helpers.FaultServer` on a thread, so output buffering and signals are
the real ones.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from blynk_client.client_cli import main
from blynk_client.errors import ExitStatus
from tests.blynk.client_helpers import FaultServer, TlsFiles, make_tls_files

TOKEN = "CliTok3n_0123456789abcdefghijklm"


class ThreadedServer:
    """A FaultServer on its own loop in a thread."""

    def __init__(self, **options: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.options = options
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._main, daemon=True)
        self.server: FaultServer

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(FaultServer(tokens={TOKEN}, **self.options).start())
        self.ready.set()
        self.loop.run_forever()

    def start(self) -> FaultServer:
        self.thread.start()
        assert self.ready.wait(5)
        return self.server

    def call(self, func: Callable[[], Any]) -> None:
        self.loop.call_soon_threadsafe(func)

    def wait(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, "timed out waiting for the server"
            time.sleep(0.02)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def server() -> Iterator[ThreadedServer]:
    threaded = ThreadedServer()
    threaded.start()
    yield threaded
    threaded.stop()


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    path.chmod(0o600)
    return path


def call(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = main(list(argv), out=out, err=err)
    return status, out.getvalue(), err.getvalue()


def cli(*argv: str, timeout: float = 30, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "blynk_client.client_cli", *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def common(port: int, token_file: Path) -> list[str]:
    return ["--server", "127.0.0.1", "--port", str(port), "--insecure", "--token-file", str(token_file)]


def closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# -- parsing, token sources, exit statuses ------------------------------------------------------------


def test_no_token_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BLYNK_AUTH_TOKEN", raising=False)
    status, _out, err = call("--server", "127.0.0.1", "--insecure", "ping")
    assert status == ExitStatus.USAGE
    assert err.strip().count("\n") == 0
    assert "BLYNK_AUTH_TOKEN" in err and "--token-file" in err


def test_unreadable_token_file(tmp_path: Path) -> None:
    status, _, err = call("--token-file", str(tmp_path / "missing"), "ping")
    assert status == ExitStatus.USAGE
    assert "cannot read the token file" in err


def test_empty_token_file(tmp_path: Path) -> None:
    path = tmp_path / "t"
    path.write_text("\n")
    status, _, err = call("--token-file", str(path), "ping")
    assert status == ExitStatus.USAGE
    assert "empty" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["write", "X1", "1"],
        ["write", "V300", "1"],
        ["bogus"],
        ["write", "V1"],
        ["--port", "x", "ping"],
        ["--heartbeat", "nan", "ping"],
        ["--heartbeat", "0", "ping"],
        ["--timeout", "inf", "ping"],
        ["--coalesce", "nan", "ping"],
        ["--template-id", "", "ping"],
        ["resolve"],
    ],
)
def test_usage_errors_exit_2_before_connecting(argv: list[str], token_file: Path) -> None:
    status, _, err = call("--server", "127.0.0.1", "--port", str(closed_port()), "--insecure",
                          "--token-file", str(token_file), *argv)
    assert status == ExitStatus.USAGE, err
    assert "Traceback" not in err


def test_refused_is_exit_3(token_file: Path) -> None:
    status, _, err = call(*common(closed_port(), token_file), "ping")
    assert status == ExitStatus.CONNECT
    assert err.startswith("blynk-client: error: cannot connect")
    assert err.count("\n") == 1


def test_token_from_environment_and_warned_flag(monkeypatch: pytest.MonkeyPatch, server: ThreadedServer) -> None:
    port = str(server.server.port)
    monkeypatch.setenv("BLYNK_AUTH_TOKEN", TOKEN)
    status, out, err = call("--server", "127.0.0.1", "--port", port, "--insecure", "ping")
    assert status == 0, err
    assert "ping" in out
    monkeypatch.delenv("BLYNK_AUTH_TOKEN")
    status, out, err = call("--server", "127.0.0.1", "--port", port, "--insecure", "--token", TOKEN, "ping")
    assert status == 0
    assert "warning: --token" in err
    assert TOKEN not in err


def test_bad_token_is_exit_5_without_retry(tmp_path: Path, server: ThreadedServer) -> None:
    bad = tmp_path / "bad"
    bad.write_text("WrongTok_0123456789abcdefghijklm\n")
    bad.chmod(0o600)
    result = cli(*common(server.server.port, bad), "-vv", "run")
    assert result.returncode == ExitStatus.BAD_TOKEN
    assert "rejected the auth token Wron\u2026" in result.stderr
    assert "WrongTok_0123456789abcdefghijklm" not in result.stderr + result.stdout
    assert server.server.connections == 1


def test_tls_to_a_plain_server_hints_at_insecure(server: ThreadedServer, token_file: Path) -> None:
    """A plain server reads a TLS ClientHello as a Blynk header and waits or closes: the one line
    names the likely cause (it used to say only "timed out")."""
    argv = ["--server", "127.0.0.1", "--port", str(server.server.port), "--token-file", str(token_file)]
    status, _, err = call(*argv, "--timeout", "2", "ping")
    assert status == ExitStatus.TLS, err
    assert err.count("\n") == 1 and "--insecure" in err and "plain TCP server" in err


def test_tls_failure_is_exit_4(tmp_path: Path, token_file: Path) -> None:
    files: TlsFiles | None = make_tls_files(tmp_path)
    if files is None:
        from tests.helpers import need_tool

        need_tool("openssl")
    assert files is not None
    threaded = ThreadedServer(ssl_context=files.server_context())
    threaded.start()
    try:
        port = str(threaded.server.port)
        argv = ["--server", "localhost", "--port", port, "--token-file", str(token_file)]
        status, _, err = call(*argv, "--ca-file", str(files.other_ca), "ping")
        assert status == ExitStatus.TLS, err
        assert "TLS" in err
        status, out, err = call(*argv, "--ca-file", str(files.ca_cert), "ping")
        assert status == 0, err
        assert out.startswith("login ")
    finally:
        threaded.stop()


# -- subcommands ---------------------------------------------------------------------------------------


def test_write_sync_event_property_ping(server: ThreadedServer, token_file: Path) -> None:
    base = common(server.server.port, token_file)
    result = cli(*base, "write", "V1", "42", "43")
    assert result.returncode == 0, result.stderr
    assert server.server.values[1] == ("42", "43")

    # the rest in-process: the same main(), without paying an interpreter start each
    status, out, err = call(*base, "sync", "V1", "V9")
    assert status == 0, err
    assert out.splitlines() == ["V1 42 43", "V9"]
    status, out, err = call(*base, "sync", "--json", "V1")
    assert json.loads(out) == {"pin": "V1", "values": ["42", "43"]}

    server.server.values[3] = ("\x1b[2Jhi\nthere",)  # a hostile value never reaches the terminal raw
    status, out, err = call(*base, "sync", "V3")
    assert status == 0, err
    assert out == "V3 \\x1b[2Jhi\\nthere\n"

    status, out, err = call(*base, "event", "door", "front door opened")
    assert status == 0, err
    assert server.server.events == [("door", "front door opened")]

    status, out, err = call(*base, "resolve", "door")
    assert status == 0, err
    status, out, err = call(*base, "resolve", "door", "--all")
    assert status == 0, err
    assert server.server.resolved == [("door", False), ("door", True)]

    status, out, err = call(*base, "--template-id", "TMPLxyz", "--firmware", "2.0.1", "--heartbeat", "20", "ping")
    assert status == 0, err
    assert {k: server.server.info.get(k) for k in ("tmpl", "fw-type", "fw", "h-beat")} == {
        "tmpl": "TMPLxyz", "fw-type": "TMPLxyz", "fw": "2.0.1", "h-beat": "20"
    }

    status, out, err = call(*base, "property", "V1", "label", "Room temp")
    assert status == 0, err
    assert server.server.properties == [(1, "label", ("Room temp",))]

    status, out, err = call(*base, "ping", "--count", "2")
    assert status == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("login ") and lines[0].endswith(" ms")
    assert [line.split()[0] for line in lines[1:]] == ["ping", "ping"]


def test_run_prints_incoming_writes_and_stops_on_sigterm(server: ThreadedServer, token_file: Path) -> None:
    # the plain "V2 hello" line format is checked end to end in test_client_server.py
    argv = [sys.executable, "-m", "blynk_client.client_cli", *common(server.server.port, token_file), "run", "--json"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        server.wait(lambda: server.server.logins == 1)
        server.call(lambda: server.server.push(3, "hello", "world"))
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()  # arrives unbuffered: run flushes each line
        assert json.loads(line) == {"pin": "V3", "values": ["hello", "world"]}
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
        assert proc.returncode == 0, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_run_reconnects_after_server_restart(token_file: Path) -> None:
    first = ThreadedServer()
    first.start()
    port = first.server.port
    env = dict(os.environ)
    proc = subprocess.Popen(
        [sys.executable, "-m", "blynk_client.client_cli", *common(port, token_file), "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    second: ThreadedServer | None = None
    try:
        first.wait(lambda: first.server.logins == 1)
        first.stop()
        second = ThreadedServer(port=port)
        second.start()
        second.wait(lambda: second.server.logins == 1 if second else False, timeout=15)
        second.call(lambda: second.server.push(4, "back") if second else None)
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "V4 back"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=10)
        if second is not None:
            second.stop()


# -- --interface: the boot race and an interface that goes away (issue 10, item 8) ---------------------


def test_run_waits_for_the_interface_to_appear_and_to_come_back(token_file: Path) -> None:
    """``blynk-client --interface bk0 run`` started before bk0 exists (ppp0 at boot) waits with one
    progress line instead of exiting 2, logs in once bk0 appears, and waits again while it is gone.
    Two throwaway namespaces joined by a veth pair stand in for the host and the network."""
    import queue

    from tests.netns import make_netns

    with make_netns("bkc") as client_ns, make_netns("bks") as server_ns:
        srv = server_ns.popen(
            [sys.executable, "-m", "blynk_client.cli", "--host", "0.0.0.0", "--port", "0",
             "--token-file", str(token_file)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        assert srv.stdout is not None
        banner = srv.stdout.readline()
        port = banner.split("device protocol on 0.0.0.0:", 1)[1].split()[0]
        runner = client_ns.popen(
            [sys.executable, "-m", "blynk_client.client_cli", "--server", "10.77.0.2", "--port", port, "--insecure",
             "--token-file", str(token_file), "--interface", "bk0", "--heartbeat", "1", "-v", "run"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        lines: queue.Queue[str] = queue.Queue()
        assert runner.stderr is not None
        stderr = runner.stderr
        threading.Thread(target=lambda: [lines.put(line) for line in stderr], daemon=True).start()

        def expect(text: str, timeout: float = 20.0) -> list[str]:
            seen: list[str] = []
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                try:
                    line = lines.get(timeout=0.2)
                except queue.Empty:
                    assert runner.poll() is None, f"blynk-client exited {runner.returncode}: {seen}"
                    continue
                seen.append(line)
                if text in line:
                    return seen
            raise AssertionError(f"no {text!r} in {seen}")

        def link_up() -> None:
            subprocess.run(["ip", "link", "add", "bk0", "netns", client_ns.name, "type", "veth",
                            "peer", "name", "bk1", "netns", server_ns.name], check=True, timeout=30)
            client_ns.ip("addr", "add", "10.77.0.1/24", "dev", "bk0")
            client_ns.ip("link", "set", "bk0", "up")
            server_ns.ip("addr", "add", "10.77.0.2/24", "dev", "bk1")
            server_ns.ip("link", "set", "bk1", "up")

        seen = expect("waiting for network interface bk0 to appear")
        time.sleep(1.5)  # a few polls: still waiting, still running, nothing more said
        assert runner.poll() is None and lines.empty(), seen
        link_up()
        expect("logged in to 10.77.0.2")
        client_ns.ip("link", "del", "bk0")  # takes bk1 with it
        expect("waiting for network interface bk0 to appear")
        link_up()
        expect("logged in to 10.77.0.2")
        runner.send_signal(signal.SIGTERM)
        assert runner.wait(timeout=10) == 0


ONE_SHOTS = [
    ["write", "V1", "42"],
    ["sync", "V1"],
    ["event", "boot"],
    ["resolve", "boot"],
    ["property", "V1", "label", "x"],
    ["ping"],
]


@pytest.mark.parametrize("argv", ONE_SHOTS, ids=lambda argv: argv[0])
def test_a_one_shot_command_waits_for_the_interface_then_gives_up_with_status_3(
    argv: list[str], token_file: Path
) -> None:
    """A one-shot command no longer fails at once when ``--interface`` is missing: it waits up to
    ``--timeout``, then says so in one line with the connect status (3). No connection is tried:
    the port is closed, and "refused" would be a different line."""
    started = time.monotonic()
    status, out, err = call(*common(closed_port(), token_file), "--interface", "nosuchif0", "--timeout", "0.4", *argv)
    assert status == ExitStatus.CONNECT, err
    assert err == "blynk-client: error: network interface nosuchif0 did not appear within 0.4 s\n"
    assert out == ""
    assert time.monotonic() - started >= 0.4  # it did wait


@pytest.mark.parametrize("argv", [["write", "V1", "42"], ["ping"]], ids=lambda argv: argv[0])
def test_a_one_shot_command_waits_for_an_interface_that_appears_late(argv: list[str], token_file: Path) -> None:
    """``blynk-client --interface bk0 write V1 42`` started from an ip-up hook just before bk0
    exists: it waits (one -v line), connects once bk0 appears, and exits 0; the write is stored.
    Two throwaway namespaces joined by a veth pair stand in for the host and the network."""
    from tests.netns import make_netns

    with make_netns("bkc") as client_ns, make_netns("bks") as server_ns:
        srv = server_ns.popen(
            [sys.executable, "-m", "blynk_client.cli", "--host", "0.0.0.0", "--port", "0", "--http-port", "0",
             "--token-file", str(token_file)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        assert srv.stdout is not None
        banner = srv.stdout.readline()
        port = banner.split("device protocol on 0.0.0.0:", 1)[1].split()[0]
        base = ["--server", "10.77.0.2", "--port", port, "--insecure", "--token-file", str(token_file),
                "--interface", "bk0", "--timeout", "30"]
        oneshot = client_ns.popen(
            [sys.executable, "-m", "blynk_client.client_cli", *base, "-v", *argv],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        assert oneshot.stderr is not None
        first = oneshot.stderr.readline()
        assert "waiting up to 30 s for network interface bk0 to appear" in first, first
        assert oneshot.poll() is None
        subprocess.run(["ip", "link", "add", "bk0", "netns", client_ns.name, "type", "veth",
                        "peer", "name", "bk1", "netns", server_ns.name], check=True, timeout=30)
        client_ns.ip("addr", "add", "10.77.0.1/24", "dev", "bk0")
        client_ns.ip("link", "set", "bk0", "up")
        server_ns.ip("addr", "add", "10.77.0.2/24", "dev", "bk1")
        server_ns.ip("link", "set", "bk1", "up")
        out, err = oneshot.communicate(timeout=40)
        assert oneshot.returncode == 0, first + err
        assert "network interface bk0 is present; connecting" in err
        if argv[0] == "ping":
            assert out.startswith("login ") and "ping " in out
        else:  # the write arrived: a second one-shot (no wait now) reads it back
            check = client_ns.run([sys.executable, "-m", "blynk_client.client_cli", *base, "sync", "V1"])
            assert check.returncode == 0, check.stderr
            assert check.stdout == "V1 42\n"


def test_help_is_status_0_and_lists_the_new_options_and_commands(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = call("--help")  # argparse prints help on sys.stdout
    assert status == 0, err
    out = capsys.readouterr().out
    assert "--template-id" in out and "--firmware" in out and "resolve" in out


def test_one_runner_for_both_commands() -> None:
    """``run_main`` and ``ArgumentParser`` are written once (blynk_client.cli) for both commands."""
    import inspect

    from blynk_client import cli, client_cli

    assert client_cli.ArgumentParser is cli.ArgumentParser
    assert "run_main(" in inspect.getsource(client_cli.main)
    assert cli.run_main("x", lambda argv: __import__("sys").exit(None), []) == 0
