"""A small fault-injecting Blynk server for the client tests, on the real core in the server role.

The project's server (``blynk_client.server``) is the reference peer; this one exists to do what a
good server never does on purpose: stop answering (heartbeat loss), redirect every login, or count
exactly what arrives per ``recv``. It speaks through :class:`blynk_client.protocol.BlynkConnection`
(``Role.SERVER``), so the bytes on the wire are the core's.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import ssl
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from blynk_client import protocol as proto


@dataclass
class Session:
    """One accepted device connection."""

    conn: proto.BlynkConnection
    writer: asyncio.StreamWriter
    token: str | None = None


@dataclass
class FaultServer:
    """Plain-TCP Blynk server on 127.0.0.1 with knobs for faults.

    :param tokens: accepted tokens; others get INVALID_TOKEN (9).
    :param redirect: when set, every login is answered with REDIRECT to this ``(host, port)``.
    :param silent: when True, received bytes are read and dropped (no answers, no pings).
    """

    tokens: set[str]
    redirect: tuple[str, int] | None = None
    silent: bool = False
    heartbeat: float = 10.0
    port: int = 0
    values: dict[int, tuple[str, ...]] = field(default_factory=dict)
    writes: list[tuple[int, tuple[str, ...]]] = field(default_factory=list)
    logins: int = 0
    rejected: int = 0
    connections: int = 0
    events: list[tuple[str, str | None]] = field(default_factory=list)
    properties: list[tuple[int, str, tuple[str, ...]]] = field(default_factory=list)
    resolved: list[tuple[str, bool]] = field(default_factory=list)
    #: The device info message of the last login (``h-beat``, ``tmpl``, ``fw``...).
    info: dict[str, str] = field(default_factory=dict)
    sessions: list[Session] = field(default_factory=list)
    ssl_context: ssl.SSLContext | None = None
    host: str = "127.0.0.1"
    _server: asyncio.base_events.Server | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> FaultServer:
        self._server = await asyncio.start_server(self._serve, self.host, self.port, ssl=self.ssl_context)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        """Stop listening and drop every connection (a server crash, as the client sees it)."""
        if self._server is not None:
            self._server.close()
            for session in list(self.sessions):
                session.writer.transport.abort()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None

    def push(self, pin: int, *values: object) -> None:
        """Send a server-initiated virtual write to every logged-in device."""
        loop = asyncio.get_running_loop()
        for session in self.sessions:
            if session.conn.state is proto.State.READY:
                session.conn.virtual_write(pin, *values, now=loop.time())
                session.writer.write(session.conn.data_to_send())

    async def wait_for(self, predicate: object, timeout: float = 5.0) -> None:
        """Wait until ``predicate()`` is true (re-checked whenever something arrives)."""
        async with asyncio.timeout(timeout):
            while not predicate():  # type: ignore[operator]
                self._changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), 0.05)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        conn = proto.BlynkConnection(proto.Role.SERVER, heartbeat=self.heartbeat)
        conn.start(loop.time())
        session = Session(conn, writer)
        self.sessions.append(session)
        self.connections += 1
        self._changed.set()
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                if self.silent:
                    continue
                conn.receive_data(data, loop.time())
                while (event := conn.next_event()) is not None:
                    self._handle(session, event, loop.time())
                writer.write(conn.data_to_send())
                self._changed.set()
                if conn.closed:
                    break
        except (ConnectionError, OSError):
            pass
        finally:
            self.sessions.remove(session)
            writer.close()
            self._changed.set()

    def _handle(self, session: Session, event: proto.Event, now: float) -> None:
        conn = session.conn
        if isinstance(event, proto.LoginRequested):
            if self.redirect is not None:
                conn.redirect(*self.redirect, now=now)
            elif event.token in self.tokens:
                session.token = event.token
                self.logins += 1
                conn.accept_login(now)
            else:
                self.rejected += 1
                conn.reject_login(proto.Status.INVALID_TOKEN, now=now)
        elif isinstance(event, proto.VirtualWrite):
            self.values[event.pin] = event.values
            self.writes.append((event.pin, event.values))
        elif isinstance(event, proto.VirtualWrites):
            for pin, raw, _mid in event.writes:
                self.values[pin] = proto.decode_values(raw)
                self.writes.append((pin, self.values[pin]))
        elif isinstance(event, proto.SyncRequested):
            for pin in event.pins or tuple(self.values):
                if pin in self.values:
                    conn.sync_reply(event.msg_id, pin, *self.values[pin], now=now)
        elif isinstance(event, proto.PropertySet):
            self.properties.append((event.pin, event.name, event.values))
            conn.respond(event.msg_id, proto.Status.OK, now=now)
        elif isinstance(event, proto.EventLogged):
            self.events.append((event.code, event.description))
        elif isinstance(event, proto.EventResolved):
            self.resolved.append((event.code, event.all_events))
        elif isinstance(event, proto.InfoReceived):
            self.info = dict(event.info)


@dataclass(frozen=True)
class TlsFiles:
    """A throwaway CA and a server certificate for ``localhost`` and ``127.0.0.1``."""

    ca_cert: Path
    cert: Path
    key: Path
    #: A second, unrelated CA (verification against it must fail).
    other_ca: Path

    def server_context(self) -> ssl.SSLContext:
        """A server-side TLS context with the certificate."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_tls_files(directory: Path) -> TlsFiles | None:
    """Make a CA and a server certificate with the ``openssl`` tool; None when it is missing."""
    if shutil.which("openssl") is None:
        return None
    d = directory
    for name in ("ca", "other"):
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                 "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2", "-subj", f"/CN=pppos test {name} CA",
                 "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                 cwd=d)
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "server.key",
             "-out", "server.csr", "-subj", "/CN=localhost", cwd=d)
    (d / "ext.cnf").write_text(
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
    )
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf", cwd=d)
    return TlsFiles(ca_cert=d / "ca.pem", cert=d / "server.pem", key=d / "server.key", other_ca=d / "other.pem")
