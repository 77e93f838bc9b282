"""A live ``blynk-server`` process under abuse keeps serving a real client in bounded memory (issue 13).

One server process (``python -m blynk_client.cli -v``, plain TCP and the HTTP API on 127.0.0.1)
takes, in turn: 300 connections of seeded junk; 10,000 malformed messages in one logged-in session
(bad pins, ``V`` with an Arabic-Indic digit, GROUP ``t`` with 5,000 digits, ``h-beat 1e308``,
``buff-in 0.5``, bad bodies of every kind); an event followed by a protocol violation in one
segment; a flood of 20,000 unique property names; 600 idle device sockets and 200 idle or
slowloris HTTP sockets held open while a real client (BlynkLib 0.2.0, which no one here wrote)
logs in and an HTTP request is served; HTTP requests with a non-ASCII, a 5,000-digit or a negative
Content-Length, oversized headers, and bad request lines. Asserted: each malformed message got
exactly one log line and a status, over-limit properties got QUOTA_LIMIT, the server never logged
a traceback or an internal error, the real client is served before and after, and the server's
resident memory grew by less than 8 MiB (the numbers are printed with ``-s``).
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import re
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from blynk_client.protocol import Command, Message, MessageDecoder, Status

TOKEN = "abuse0123456789abcdef0123456789a"
DEADLINE = 20.0
#: The most the server's RSS may grow over the whole abuse (KiB).
RSS_GROWTH_LIMIT_KIB = 8 * 1024

pytestmark = pytest.mark.slow


def rss_kib(pid: int) -> int:
    """Resident set size of a process (``VmRSS``, KiB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


class LiveServer:
    """``blynk-server -v`` in a child process; its log collected by a thread."""

    def __init__(self, tmp: Path) -> None:
        token_file = tmp / "tokens"
        token_file.write_text(TOKEN + "\n")
        token_file.chmod(0o600)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "blynk_client.cli", "--host", "127.0.0.1", "--port", "0", "--http-port", "0",
             "--token-file", str(token_file), "-v"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        assert self.proc.stdout is not None and self.proc.stderr is not None
        banner = self.proc.stdout.readline()
        found = re.findall(r"127\.0\.0\.1:(\d+)", banner)
        assert len(found) == 2, banner
        self.port, self.http_port = int(found[0]), int(found[1])
        self.log: list[str] = []
        self._reader = threading.Thread(target=self._collect, daemon=True)
        self._reader.start()

    def _collect(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.log.append(line.rstrip("\n"))

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        self._reader.join(10)

    def lines(self, needle: str) -> int:
        return sum(needle in line for line in self.log)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path)
    try:
        yield live
    finally:
        live.stop()


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
    return sock


def read_responses(sock: socket.socket, count: int) -> list[Message]:
    """Read until ``count`` RESPONSE messages arrived (other messages are kept too)."""
    dec = MessageDecoder(max_body=65535)
    got: list[Message] = []
    while sum(m.command == Command.RESPONSE for m in got) < count:
        data = sock.recv(65536)
        assert data, f"closed after {len(got)} messages"
        dec.feed(data)
        while (m := dec.next_message()) is not None:
            got.append(m)
    return got


def login(port: int) -> socket.socket:
    sock = connect(port)
    sock.sendall(Message(Command.HW_LOGIN, 1, (TOKEN,)).encode())
    (ok,) = read_responses(sock, 1)
    assert ok.status == Status.OK
    return sock


def http_get(port: int, target: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{target}", timeout=DEADLINE) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def raw_http(port: int, request: bytes) -> bytes:
    with connect(port) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while data := sock.recv(65536):
            chunks.append(data)
        return b"".join(chunks)


def real_client_round(live: LiveServer, pin: int, value: str) -> None:
    """BlynkLib 0.2.0 logs in, writes ``value`` to ``pin``; the HTTP API reads it back; then it leaves."""
    with contextlib.redirect_stdout(io.StringIO()):
        import BlynkLib  # type: ignore[import-untyped]

        blynk = BlynkLib.Blynk(TOKEN, server="127.0.0.1", port=live.port)
        connected: list[bool] = []
        blynk.on("connected", lambda *a, **kw: connected.append(True))
        end = time.monotonic() + DEADLINE
        while not connected:
            assert time.monotonic() < end, "BlynkLib did not log in"
            blynk.run()
        blynk.virtual_write(pin, value)
        end = time.monotonic() + DEADLINE
        while http_get(live.http_port, f"/external/api/get?token={TOKEN}&V{pin}") != (200, value.encode()):
            assert time.monotonic() < end, "the write never arrived"
            blynk.run()
        blynk.disconnect()
        blynk.conn.close()


def malformed_messages(count: int) -> list[bytes]:
    """``count`` messages a logged-in server must answer with a status (or 200 for a bad info)."""
    kinds = [
        Message(Command.HARDWARE, 9, ("vw", "V\u0665", "1")),
        Message(Command.HARDWARE, 9, ("vw", "256", "1")),
        Message(Command.HARDWARE, 9, ("vw", "9" * 5000, "1")),
        Message(Command.HARDWARE, 9, ()),
        Message(Command.GROUP, 9, ("t", "9" * 5000)),
        Message(Command.GROUP, 9, ("q",)),
        Message(Command.INTERNAL, 9, ("ver", "1", "h-beat", "1e308")),
        Message(Command.INTERNAL, 9, ("ver", "1", "buff-in", "0.5")),
        Message(Command.PROPERTY, 9, ("V1", "label")),
        Message(Command.PROPERTY, 9, ("V\u0665", "label", "x")),
        Message(Command.EVENT_LOG, 9, ()),
        Message(Command.EVENT_CLEAR, 9, ("c", "some")),
        Message(Command.HARDWARE_SYNC, 9, ("vr", "x")),
    ]
    return [kinds[i % len(kinds)].encode() for i in range(count)]


def test_live_server_survives_abuse_and_keeps_serving(server: LiveServer) -> None:
    live = server
    rng = random.Random(13)
    real_client_round(live, 1, "before")
    before = rss_kib(live.proc.pid)

    # 1. malformed connections: junk (sometimes after a good login), then EOF
    for i in range(300):
        junk = rng.randbytes(rng.randint(1, 300))
        if i % 3 == 0:
            junk = Message(Command.HW_LOGIN, 1, (TOKEN,)).encode() + junk
        with contextlib.suppress(ConnectionError), connect(live.port) as sock:
            sock.sendall(junk)
            sock.shutdown(socket.SHUT_WR)
            while sock.recv(65536):
                pass

    # 2. 10,000 malformed messages in one logged-in session: one status and one log line each
    sock = login(live.port)
    bad = malformed_messages(10_000)
    for start in range(0, len(bad), 1000):
        sock.sendall(b"".join(bad[start : start + 1000]))
        replies = read_responses(sock, 1000)
        assert all(m.status in (Status.ILLEGAL_COMMAND, Status.ILLEGAL_COMMAND_BODY, Status.OK) for m in replies)
    sock.close()

    # 3. an event and a protocol violation in the same segment: the connection closes, nothing raises
    sock = login(live.port)
    sock.sendall(Message(Command.PROPERTY, 2, ("1", "label", "x")).encode() + struct.pack("!BHH", 20, 0, 0))
    with contextlib.suppress(ConnectionError):
        while sock.recv(65536):
            pass
    sock.close()

    # 4. 20,000 unique property names from one device: the first ones fit, the rest get QUOTA_LIMIT
    sock = login(live.port)
    statuses: list[int | None] = []
    for start in range(0, 20_000, 1000):
        sock.sendall(b"".join(Message(Command.PROPERTY, 3, ("1", f"p{i}", "v")).encode()
                              for i in range(start, start + 1000)))
        statuses += [m.status for m in read_responses(sock, 1000)]
    sock.close()
    fits = 256 - 1  # ServerLimits.max_properties, less the one stored in step 3
    assert statuses.count(Status.OK) == fits
    assert statuses.count(Status.QUOTA_LIMIT) == 20_000 - fits

    # 5. HTTP abuse: a 4xx and a closed connection each
    for request in (
        b"GET /external/api/get?token=x&V1 HTTP/1.1\r\nContent-Length: \xd9\xa5\r\n\r\n",
        b"GET /external/api/get?token=x&V1 HTTP/1.1\r\nContent-Length: " + b"9" * 5000 + b"\r\n\r\n",
        b"GET /external/api/get?token=x&V1 HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        b"GET /x HTTP/1.1\r\n" + b"X-Big: " + b"a" * 20000 + b"\r\n\r\n",
        b"\xff\xfe GARBAGE\r\n\r\n",
        b"GET /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
    ):
        reply = raw_http(live.http_port, request)
        assert re.match(rb"HTTP/1\.1 4\d\d |HTTP/1\.1 50[15] ", reply), reply[:80]

    # 6. slowloris: idle device and HTTP sockets held open do not lock a real client out
    idle: list[socket.socket] = []
    try:
        for _ in range(600):
            with contextlib.suppress(OSError):
                idle.append(connect(live.port))
        for i in range(200):
            with contextlib.suppress(OSError):
                s = connect(live.http_port)
                if i % 2:
                    s.sendall(b"GET /external/api/get?token=")  # a request that never ends
                idle.append(s)
        real_client_round(live, 2, "during")
        assert http_get(live.http_port, f"/external/api/get?token={TOKEN}&V1") == (200, b"before")
    finally:
        for s in idle:
            s.close()

    real_client_round(live, 3, "after")
    after = rss_kib(live.proc.pid)
    print(f"\nblynk-server RSS before the abuse {before} KiB, after {after} KiB ({after - before:+d} KiB)")
    log_text = "\n".join(live.log)
    assert "Traceback" not in log_text and "internal error" not in log_text
    assert live.lines("malformed message from") == 10_000  # one line per malformed message
    assert live.lines("over the device's limit") == 20_000 - fits
    assert after - before < RSS_GROWTH_LIMIT_KIB, (before, after)
    assert os.path.exists(f"/proc/{live.proc.pid}")  # still running
