"""The local Blynk server over loopback (plain and TLS), its HTTP API, malformed input, and the CLI."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import re
import signal
import ssl
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from blynk_client import protocol as proto
from blynk_client.cli import parse_redirect, server_main
from blynk_client.errors import UsageError
from blynk_client.protocol import BlynkConnection, Command, Message, Role, Status
from blynk_client.server import BlynkServer, ServerLimits, load_tokens
from tests.blynk.server_helpers import running_server
from tests.blynk.tls_helpers import make_tls_files

TOKEN = "tok0123456789abcdef0123456789abc"
OTHER = "other3456789abcdef0123456789abcd"
WAIT = 10.0  # upper bound for anything that should happen at once on loopback


class Device:
    """Our device core over a real asyncio connection (for driving the server in tests)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, **opts: object) -> None:
        self.reader, self.writer = reader, writer
        self.conn = BlynkConnection(Role.DEVICE, **opts)  # type: ignore[arg-type]
        self.loop = asyncio.get_running_loop()

    @classmethod
    async def open(cls, port: int, *, tls: ssl.SSLContext | None = None, **opts: object) -> Device:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=tls, server_hostname="localhost" if tls else None
        )
        return cls(reader, writer, **opts)

    def flush(self) -> None:
        self.writer.write(self.conn.data_to_send())

    async def next(self, want: type | tuple[type, ...] = proto.Event) -> proto.Event:
        """The next event of type ``want`` (others are skipped)."""
        async with asyncio.timeout(WAIT):
            while True:
                while (ev := self.conn.next_event()) is not None:
                    if isinstance(ev, want):
                        self.flush()
                        return ev
                self.flush()
                data = await self.reader.read(65536)
                self.conn.receive_data(data, self.loop.time())

    async def login(self, token: str = TOKEN, **kw: object) -> proto.Event:
        self.conn.login(token, self.loop.time(), **kw)  # type: ignore[arg-type]
        self.flush()
        return await self.next((proto.LoginSucceeded, proto.LoginFailed, proto.Redirected, proto.ProtocolViolation))

    async def close(self) -> None:
        self.writer.close()
        with contextlib_suppress():
            await self.writer.wait_closed()


class contextlib_suppress:  # noqa: N801 - a tiny local helper
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return True


async def read_until_eof(reader: asyncio.StreamReader) -> bytes:
    async with asyncio.timeout(WAIT):
        return await reader.read()  # until EOF


def run(coro_factory: Callable[[], object]) -> None:
    asyncio.run(coro_factory())  # type: ignore[arg-type]


async def http(port: int, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    async with asyncio.timeout(WAIT):
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        body = await reader.readexactly(int(headers.get("content-length", "0")))
    writer.close()
    return status, headers, body


async def get(port: int, target: str) -> tuple[int, bytes]:
    status, _, body = await http(port, f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    return status, body


# ---------------------------------------------------------------------------------------------
# Device protocol


def test_login_write_and_http_get_plain() -> None:
    async def main() -> None:
        async with BlynkServer(tokens=[TOKEN]) as server:
            dev = await Device.open(server.port, heartbeat=30.0)
            assert await dev.login(info={"tmpl": "TMPL9"}) == proto.LoginSucceeded(status=200)
            await server.wait_for(lambda: server.record(TOKEN).info.get("tmpl") == "TMPL9")
            assert server.record(TOKEN).info["h-beat"] == "30"
            assert server.is_connected(TOKEN)
            dev.conn.virtual_write("V1", 42, now=dev.loop.time())
            dev.conn.virtual_write(2, "a", "b", now=dev.loop.time())
            dev.flush()
            await server.wait_for(lambda: server.stored(TOKEN, 2) is not None)
            assert server.stored(TOKEN, "V1") == ("42",)
            assert await get(server.http_port, f"/external/api/get?token={TOKEN}&V1") == (200, b"42")
            assert await get(server.http_port, f"/external/api/get?token={TOKEN}&v2") == (200, b'["a", "b"]')
            status, body = await get(server.http_port, f"/external/api/get?token={TOKEN}&V1&V2")
            assert status == 200 and json.loads(body) == {"V1": "42", "V2": ["a", "b"]}
            await dev.close()
            await server.wait_for(lambda: not server.is_connected(TOKEN))

    run(main)


def test_tls_login_with_a_throwaway_ca(tmp_path: Path) -> None:
    files = make_tls_files(tmp_path)

    async def main() -> None:
        async with BlynkServer(tokens=[TOKEN], ssl_context=files.server_context()) as server:
            dev = await Device.open(server.port, tls=files.client_context())
            assert isinstance(await dev.login(), proto.LoginSucceeded)
            assert dev.writer.get_extra_info("ssl_object").version() in ("TLSv1.2", "TLSv1.3")
            server.add_token(OTHER)
            assert await server.push_write(TOKEN, "V7", "tls") == 1
            assert await dev.next(proto.VirtualWrite) == proto.VirtualWrite(pin=7, values=("tls",), msg_id=1)
            # a client that does not trust our CA fails the handshake; the server keeps serving
            with pytest.raises(ssl.SSLError):
                await Device.open(server.port, tls=ssl.create_default_context())
            dev2 = await Device.open(server.port, tls=files.client_context())
            assert isinstance(await dev2.login(OTHER), proto.LoginSucceeded)

    run(main)


def test_tls_files_made_with_the_openssl_cli(tmp_path: Path) -> None:
    """The fallback used when the ``cryptography`` package is not installed."""
    from tests.blynk.tls_helpers import _with_openssl

    files = _with_openssl(tmp_path, "localhost")

    async def main() -> None:
        async with BlynkServer(tokens=[TOKEN], ssl_context=files.server_context(), http_port=None) as server:
            assert server.http_port is None
            dev = await Device.open(server.port, tls=files.client_context())
            assert isinstance(await dev.login(), proto.LoginSucceeded)

    run(main)


def test_invalid_token_gets_9_and_the_socket_closes() -> None:
    async def main() -> None:
        async with BlynkServer(tokens=[TOKEN]) as server:
            dev = await Device.open(server.port)
            assert await dev.login(OTHER) == proto.LoginFailed(status=Status.INVALID_TOKEN)
            assert await read_until_eof(dev.reader) == b""
            assert server.stats.rejected_logins == 1

    run(main)


def test_redirect() -> None:
    async def main() -> None:
        async with BlynkServer(tokens=[TOKEN], redirects={OTHER: ("127.0.0.1", 9443)}) as server:
            dev = await Device.open(server.port)
            assert await dev.login(OTHER) == proto.Redirected(host="127.0.0.1", port=9443)
            assert await read_until_eof(dev.reader) == b""

    run(main)


def test_legacy_login_2_is_accepted() -> None:
    async def main() -> None:
        async with BlynkServer(tokens=[TOKEN]) as server:
            dev = await Device.open(server.port)
            assert await dev.login(legacy=True) == proto.LoginSucceeded(status=200)
            assert server.is_connected(TOKEN)

    run(main)


def test_sync_property_event_ping() -> None:
    async def main() -> None:
        async with BlynkServer(tokens=[TOKEN]) as server:
            await server.push_write(TOKEN, 1, "10")  # stored while offline
            await server.push_write(TOKEN, 3, "30", "31")
            dev = await Device.open(server.port)
            await dev.login()
            now = dev.loop.time()
            sid = dev.conn.sync(now=now)
            dev.flush()
            first = await dev.next(proto.VirtualWrite)
            second = await dev.next(proto.VirtualWrite)
            assert (first, second) == (
                proto.VirtualWrite(pin=1, values=("10",), msg_id=sid),
                proto.VirtualWrite(pin=3, values=("30", "31"), msg_id=sid),
            )
            sid = dev.conn.sync("V3", "V99", now=now)  # V99 has no value: nothing for it
            pid = dev.conn.set_property("V1", "label", "Temp", now=now)
            eid = dev.conn.log_event("overheat", "92 C", now=now)
            ping = dev.conn.ping(now)
            dev.flush()
            got = [await dev.next((proto.VirtualWrite, proto.Response, proto.Pong)) for _ in range(4)]
            # replies the core makes itself (PING) may overtake those of the server logic: match by id
            pong = next(e for e in got if isinstance(e, proto.Pong))
            assert pong.msg_id == ping and pong.status == 200
            assert [e for e in got if not isinstance(e, proto.Pong)] == [
                proto.VirtualWrite(pin=3, values=("30", "31"), msg_id=sid),
                proto.Response(msg_id=pid, status=200),
                proto.Response(msg_id=eid, status=200),
            ]
            record = server.record(TOKEN)
            assert record.properties[(1, "label")] == ("Temp",)
            assert [(e.code, e.description) for e in record.events] == [("overheat", "92 C")]

    run(main)


def test_device_writes_in_one_chunk_are_stored_in_order_around_a_sync() -> None:
    """The core stores most writes straight into the record; a sync in the same chunk sees exactly
    the writes before it, and every write is counted, readable by stored(), the HTTP API and a sync."""

    async def main() -> None:
        async with BlynkServer(tokens=[TOKEN]) as server:
            dev = await Device.open(server.port)
            await dev.login()
            now = dev.loop.time()
            for i in range(200):
                dev.conn.virtual_write(1, i, now=now)
            dev.conn.virtual_write(2, "a", "b c", now=now)
            sid = dev.conn.sync(1, now=now)
            dev.conn.virtual_write(1, "after", now=now)
            dev.flush()  # one write(): the server sees them in one or a few chunks
            assert await dev.next(proto.VirtualWrite) == proto.VirtualWrite(pin=1, values=("199",), msg_id=sid)
            await server.wait_for(lambda: server.stats.writes_in == 202)
            assert server.stored(TOKEN, 1) == ("after",)
            assert server.stored(TOKEN, "V2") == ("a", "b c")
            assert await get(server.http_port, f"/external/api/get?token={TOKEN}&V2") == (200, b'["a", "b c"]')
            assert await get(server.http_port, f"/external/api/get?token={TOKEN}&V1") == (200, b"after")
            sid = dev.conn.sync(now=now)
            dev.flush()
            got = [await dev.next(proto.VirtualWrite) for _ in range(2)]
            assert got == [
                proto.VirtualWrite(pin=1, values=("after",), msg_id=sid),
                proto.VirtualWrite(pin=2, values=("a", "b c"), msg_id=sid),
            ]

    run(main)


def test_http_update_reaches_the_device_in_all_forms() -> None:
    async def main() -> None:
        async with BlynkServer(tokens=[TOKEN]) as server:
            dev = await Device.open(server.port)
            await dev.login()
            assert await get(server.http_port, f"/external/api/update?token={TOKEN}&V1=42") == (200, b"")
            assert await dev.next(proto.VirtualWrite) == proto.VirtualWrite(pin=1, values=("42",), msg_id=1)
            assert await get(server.http_port, f"/external/api/update?token={TOKEN}&pin=V2&value=a&value=b%20c") == (
                200,
                b"",
            )
            assert await dev.next(proto.VirtualWrite) == proto.VirtualWrite(pin=2, values=("a", "b c"), msg_id=2)
            assert await get(server.http_port, f"/external/api/batch/update?token={TOKEN}&V4=x&V5=y") == (200, b"")
            assert (await dev.next(proto.VirtualWrite)).pin == 4  # type: ignore[attr-defined]
            assert (await dev.next(proto.VirtualWrite)).pin == 5  # type: ignore[attr-defined]
            assert server.stored(TOKEN, 2) == ("a", "b c")
            assert await get(server.http_port, f"/external/api/isHardwareConnected?token={TOKEN}") == (200, b"true")
            await dev.close()
            await server.wait_for(lambda: not server.is_connected(TOKEN))
            assert await get(server.http_port, f"/external/api/isHardwareConnected?token={TOKEN}") == (200, b"false")
            assert await get(server.http_port, f"/external/api/update?token={TOKEN}&V6=offline") == (200, b"")
            assert server.stored(TOKEN, "V6") == ("offline",)

    run(main)


def test_two_devices_same_token_both_get_pushes() -> None:
    async def main() -> None:
        async with BlynkServer(tokens=[TOKEN]) as server:
            a = await Device.open(server.port)
            b = await Device.open(server.port)
            await a.login()
            await b.login()
            assert await server.push_write(TOKEN, 0, 1) == 2
            assert (await a.next(proto.VirtualWrite)).values == ("1",)  # type: ignore[attr-defined]
            assert (await b.next(proto.VirtualWrite)).values == ("1",)  # type: ignore[attr-defined]

    run(main)


def test_push_longer_than_the_device_buffer_is_refused() -> None:
    async def main() -> None:
        async with BlynkServer(tokens=[TOKEN]) as server:
            dev = await Device.open(server.port, buffer_in=64)
            await dev.login()
            await server.wait_for(lambda: "buff-in" in server.record(TOKEN).info)
            with pytest.raises(UsageError):
                await server.push_write(TOKEN, 1, "x" * 100)
            status, body = await get(server.http_port, f"/external/api/update?token={TOKEN}&V1={'x' * 100}")
            assert status == 400 and b"at most 64" in body
            assert server.stored(TOKEN, 1) is None

    run(main)


# ---------------------------------------------------------------------------------------------
# Malformed input: a status or a closed connection, never a crash; others keep being served


async def assert_still_serving(server: BlynkServer, pin: int) -> None:
    dev = await Device.open(server.port)
    assert isinstance(await dev.login(), proto.LoginSucceeded)
    dev.conn.virtual_write(pin, "alive", now=dev.loop.time())
    dev.flush()
    await server.wait_for(lambda: server.stored(TOKEN, pin) == ("alive",))
    await dev.close()


async def raw_exchange(port: int, data: bytes, *, eof: bool = False) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    if eof:  # junk usually ends inside a frame: without EOF the server would rightly wait for the rest
        writer.write_eof()
    with contextlib_suppress():
        await writer.drain()
    try:
        return await read_until_eof(reader)
    except ConnectionResetError:
        return b"<reset>"
    finally:
        writer.close()


def login_bytes(token: str = TOKEN) -> bytes:
    return Message(Command.HW_LOGIN, 1, (token,)).encode()


MALFORMED = {
    "oversized length": (
        login_bytes() + bytes.fromhex("140007ffff"),
        Message(Command.RESPONSE, 1, (), 200).encode() + Message(Command.RESPONSE, 7, (), 2).encode(),
    ),
    "command 100": (
        login_bytes() + bytes.fromhex("6400050000"),
        Message(Command.RESPONSE, 1, (), 200).encode() + Message(Command.RESPONSE, 5, (), 2).encode(),
    ),
    "id 0": (login_bytes() + bytes.fromhex("0600000000"), Message(Command.RESPONSE, 1, (), 200).encode()),
    "login with a 40-byte token": (login_bytes("x" * 40), Message(Command.RESPONSE, 1, (), 9).encode()),
    "login with an empty body": (bytes.fromhex("1d00010000"), Message(Command.RESPONSE, 1, (), 9).encode()),
    "hardware before login": (
        Message(Command.HARDWARE, 3, ("vw", "1", "1")).encode(),
        Message(Command.RESPONSE, 3, (), 5).encode(),
    ),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_frames(case: str) -> None:
    sent, expected = MALFORMED[case]

    async def main() -> None:
        async with BlynkServer(tokens=[TOKEN]) as server:
            assert await raw_exchange(server.port, sent) == expected  # answered, then closed
            await assert_still_serving(server, 9)

    run(main)


def test_random_bytes_never_crash_the_server() -> None:
    rng = random.Random(1234)

    async def main() -> None:
        async with BlynkServer(tokens=[TOKEN]) as server:
            for i in range(40):
                junk = rng.randbytes(rng.randint(1, 300))
                if i % 2:
                    junk = login_bytes() + junk  # garbage after a good login
                reply = await raw_exchange(server.port, junk, eof=True)
                # every reply is whole RESPONSE frames (a status), or nothing at all
                dec = proto.MessageDecoder()
                dec.feed(reply if reply != b"<reset>" else b"")
                while (m := dec.next_message()) is not None:
                    assert m.command in (Command.RESPONSE, Command.HARDWARE)
                assert dec.buffered == b""
            assert server.stats.internal_errors == 0
            await assert_still_serving(server, 8)

    run(main)


def test_connection_cap_evicts_the_oldest_idle_and_the_login_timeout_closes() -> None:
    async def main() -> None:
        limits = ServerLimits(max_connections=1)
        async with BlynkServer(tokens=[TOKEN], login_timeout=0.3, limits=limits) as server:
            r1, w1 = await asyncio.open_connection("127.0.0.1", server.port)
            await asyncio.sleep(0.05)
            r2, w2 = await asyncio.open_connection("127.0.0.1", server.port)
            with contextlib.suppress(ConnectionResetError):
                assert await read_until_eof(r1) == b""  # the idle one makes room at once
            assert server.stats.evicted == 1
            assert await read_until_eof(r2) == b""  # silent past the login timeout: closed
            w2.close()
            # a logged-in device is never evicted: with the room taken, a newcomer is refused
            _r3, w3 = await asyncio.open_connection("127.0.0.1", server.port)
            w3.write(login_bytes())
            await server.wait_for(lambda: server.is_connected(TOKEN))
            r4, w4 = await asyncio.open_connection("127.0.0.1", server.port)
            with contextlib.suppress(ConnectionResetError):
                assert await read_until_eof(r4) == b""
            assert server.stats.refused_connections == 1
            assert server.is_connected(TOKEN)
            for w in (w1, w3, w4):
                w.close()

    run(main)


def test_a_device_that_does_not_read_is_dropped_at_max_pending() -> None:
    import socket

    async def main() -> None:
        async with BlynkServer(tokens=[TOKEN], limits=ServerLimits(max_pending=4096)) as server:
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window fills fast
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", server.port))
            _reader, writer = await asyncio.open_connection(sock=sock)
            info = Message(Command.INTERNAL, 2, ("ver", "x", "buff-in", "8192")).encode()
            writer.write(login_bytes() + info)
            await server.wait_for(lambda: "buff-in" in server.record(TOKEN).info)
            value = "v" * 4000
            pushes = 0
            while await server.push_write(TOKEN, 1, value) == 1:  # the device never reads
                pushes += 1
                assert pushes < 20000, "the unread backlog was never bounded"
            assert server.stats.slow_readers_dropped == 1
            await server.wait_for(lambda: not server.is_connected(TOKEN))
            await assert_still_serving(server, 5)
            writer.close()

    run(main)


# ---------------------------------------------------------------------------------------------
# HTTP API


def test_http_errors() -> None:
    async def main() -> None:
        async with BlynkServer(tokens=[TOKEN]) as server:
            port = server.http_port
            assert port is not None
            assert await get(port, "/external/api/get?token=nope&V1") == (
                400,
                b'{"error":{"message":"Invalid token."}}',
            )
            assert (await get(port, f"/external/api/get?token={TOKEN}&V1"))[0] == 400  # no value yet
            assert (await get(port, f"/external/api/update?token={TOKEN}&V300=1"))[0] == 400
            assert (await get(port, f"/external/api/update?token={TOKEN}"))[0] == 400
            assert (await get(port, "/external/api/nothing?token=x"))[0] == 404
            assert (await get(port, "/"))[0] == 404
            status, _, _ = await http(port, b"POST /external/api/update HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc")
            assert status == 405
            assert (await http(port, b"GARBAGE\r\n\r\n"))[0] == 400
            assert (await http(port, b"\r\n" * 3 + b"GET / HTTP/1.1\r\n\r\n"))[0] == 404  # leading CRLFs ok
            assert (await http(port, b"\r\n" * 20))[0] == 400  # but not forever
            assert (await http(port, b"GET / HTTP/2.0\r\n\r\n"))[0] == 505
            assert (await http(port, b"GET / HTTP/1.1\r\nX: " + b"a" * 20000 + b"\r\n\r\n"))[0] == 431
            assert (await http(port, b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\n\r\n"))[0] == 414
            big = b"POST / HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n"
            assert (await http(port, big))[0] == 413
            assert (await http(port, b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"))[0] == 501
            assert json.loads((await get(port, "/external/api/get?token=nope"))[1])["error"]["message"]
            assert server.stats.internal_errors == 0

    run(main)


def test_http_keep_alive_log_event_and_property() -> None:
    async def main() -> None:
        async with BlynkServer(tokens=[TOKEN]) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.http_port)
            targets = [
                f"/external/api/logEvent?token={TOKEN}&code=door&description=open%20now",
                f"/external/api/update/property?token={TOKEN}&pin=V3&label=Door",
                f"/external/api/logEvent?token={TOKEN}",
            ]
            statuses = []
            for target in targets:  # three requests on one keep-alive connection
                writer.write(f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(re.search(rb"Content-Length: (\d+)", head).group(1))  # type: ignore[union-attr]
                await reader.readexactly(length)
                statuses.append(int(head.split(b" ")[1]))
            writer.close()
            assert statuses == [200, 200, 400]
            record = server.record(TOKEN)
            assert [(e.code, e.description) for e in record.events] == [("door", "open now")]
            assert record.properties[(3, "label")] == ("Door",)

    run(main)


def test_http_idle_connection_is_closed() -> None:
    async def main() -> None:
        async with BlynkServer(tokens=[TOKEN], limits=ServerLimits(http_idle_timeout=0.2)) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.http_port)
            writer.write(b"GET /external/api/get")  # never finished
            assert await read_until_eof(reader) == b""
            writer.close()

    run(main)


def test_threaded_helper_and_blocking_http() -> None:
    with running_server(tokens=[TOKEN]) as srv:
        assert srv.http_get(f"/external/api/update?token={TOKEN}&V5=7") == (200, b"")
        assert srv.stored(TOKEN, 5) == ("7",)
        assert srv.push_write(TOKEN, 6, "x") == 0
        assert srv.http_get(f"/external/api/get?token={TOKEN}&V6") == (200, b"x")
        assert not srv.is_connected(TOKEN)


# ---------------------------------------------------------------------------------------------
# Tokens and CLI


def test_load_tokens(tmp_path: Path) -> None:
    f = tmp_path / "tokens"
    f.write_text(f"# devices\n{TOKEN}\n\n  {OTHER}  \n")
    f.chmod(0o644)
    with pytest.raises(UsageError, match="readable by others") as info:
        load_tokens(str(f))
    assert TOKEN[:4] not in str(info.value)
    f.chmod(0o600)
    assert load_tokens(str(f)) == [TOKEN, OTHER]
    f.write_text("# nothing\n")
    with pytest.raises(UsageError, match="holds no token"):
        load_tokens(str(f))
    with pytest.raises(UsageError, match="cannot read"):
        load_tokens(str(tmp_path / "missing"))


def test_parse_redirect() -> None:
    assert parse_redirect("T=host.example:8080") == ("T", "host.example", 8080)
    assert parse_redirect("T=[::1]:443") == ("T", "::1", 443)
    for bad in ("T", "T=host", "T=host:0", "=h:1", "T=:1", "T=h:x"):
        with pytest.raises(UsageError):
            parse_redirect(bad)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        ((), "give at least one token"),
        (("--token-file", "/nonexistent/t"), "cannot read the token file"),
        (("--token", "t", "--tls-cert", "c.pem"), "go together"),
        (
            ("--token", "t", "--tls-cert", "/nonexistent/c", "--tls-key", "/nonexistent/k"),
            "cannot read the TLS certificate file /nonexistent/c: No such file",
        ),
        (("--token", "t", "--heartbeat", "nan"), "--heartbeat must be a number of seconds in (0, 3600], not nan"),
        (("--token", "t", "--heartbeat", "inf"), "--heartbeat must be"),
        (("--token", "t", "--heartbeat", "0"), "--heartbeat must be"),
        (("--token", "t", "--login-timeout", "-1"), "--login-timeout must be"),
        (("--token", "t", "--redirect", "bad"), "TOKEN=HOST:PORT"),
        (("--token", "t", "--port", "70000"), "0..65535"),
        (("--port", "x"), "invalid int value"),
    ],
)
def test_cli_usage_errors(args: tuple[str, ...], needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    """In-process (the same code path as the console script, without a Python start-up per case)."""
    try:
        code = server_main(list(args))
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code  # type: ignore[assignment]
    err = capsys.readouterr().err
    assert code == 2, err
    assert needle in err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("blynk-server: error:")


def test_cli_usage_error_as_a_process() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "blynk_client.cli", "--token-file", "/nonexistent/t"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert (
        proc.stderr.strip()
        == "blynk-server: error: cannot read the token file /nonexistent/t: No such file or directory"
    )


def test_cli_serves_until_sigterm(tmp_path: Path) -> None:
    token_file = tmp_path / "tokens"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "blynk_client.cli",
            "--port",
            "0",
            "--http-port",
            "0",
            "--token-file",
            str(token_file),
            "-v",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"on 127\.0\.0\.1:(\d+) \(plain TCP\), HTTP API on 127\.0\.0\.1:(\d+)", line)
        assert match, line
        port, http_port = int(match.group(1)), int(match.group(2))

        async def main() -> None:
            dev = await Device.open(port)
            assert isinstance(await dev.login(), proto.LoginSucceeded)
            dev.conn.virtual_write(1, 42, now=dev.loop.time())
            dev.flush()
            for _ in range(100):
                status, body = await get(http_port, f"/external/api/get?token={TOKEN}&V1")
                if status == 200:
                    break
                await asyncio.sleep(0.05)
            assert (status, body) == (200, b"42")
            await get(http_port, f"/external/api/update?token={TOKEN}&V2=7")
            assert await dev.next(proto.VirtualWrite) == proto.VirtualWrite(pin=2, values=("7",), msg_id=1)
            await dev.close()

        asyncio.run(main())
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0
        assert TOKEN not in err and TOKEN not in line  # only the redacted form is logged
        assert TOKEN[:4] + "\u2026" in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
