"""Interop: Blynk clients that no one here wrote log in to our server and exchange virtual writes.

- BlynkLib 0.2.0 (PyPI ``blynk-library-python``): HW_LOGIN 29, plain TCP only.
- blynklib 0.2.6 (PyPI ``blynklib``): the legacy LOGIN 2, plain TCP or TLS with a CA file.

Both are in the ``test`` extra of setup.cfg, so a missing one is a failure, not a skip. Each is
driven in the test thread (their ``run()`` polls a socket with a 50 ms timeout) against our server
running in a background thread (:func:`tests.blynk.server_helpers.running_server`), with a bounded
deadline for every wait. Both directions are checked: a device write shows up in our HTTP ``get``,
an HTTP ``update`` fires the library's handler, and a sync is answered from stored values.
"""

from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.blynk.server_helpers import ServerHandle, running_server
from tests.blynk.tls_helpers import make_tls_files

TOKEN = "interop0123456789abcdef01234567"
DEADLINE = 15.0  # generous bound on a loaded CI machine; the exchange takes milliseconds


def pump(step: Callable[[], object], until: Callable[[], object], what: str) -> None:
    """Call ``step()`` (a library's ``run``) until ``until()`` holds, or fail after DEADLINE."""
    end = time.monotonic() + DEADLINE
    while not until():
        if time.monotonic() > end:
            pytest.fail(f"timed out waiting for {what}")
        step()


def quietly_import(name: str) -> Any:
    """Import a library that prints a banner at import time, without the banner."""
    with contextlib.redirect_stdout(io.StringIO()):
        return __import__(name)


def http_value(srv: ServerHandle, pin: str) -> bytes | None:
    status, body = srv.http_get(f"/external/api/get?token={TOKEN}&{pin}")
    return body if status == 200 else None


# ---------------------------------------------------------------------------------------------
# BlynkLib 0.2.0


def test_blynklib_0_2_0_vshymanskyy_both_directions() -> None:
    BlynkLib = quietly_import("BlynkLib")  # noqa: N806 - the module's own name
    assert BlynkLib._VERSION == "0.2.0"
    with running_server(tokens=[TOKEN]) as srv:
        with contextlib.redirect_stdout(io.StringIO()):
            blynk = BlynkLib.Blynk(TOKEN, server="127.0.0.1", port=srv.port)
        received: list[list[str]] = []
        connected: list[bool] = []
        blynk.on("connected", lambda *a, **kw: connected.append(True))
        blynk.on("V5", lambda values: received.append(list(values)))
        blynk.on("V6", lambda values: received.append(["V6", *values]))
        try:
            pump(blynk.run, lambda: connected, "BlynkLib to log in")
            assert srv.is_connected(TOKEN)
            srv.wait_for(lambda s: s.record(TOKEN).info.get("ver") == "0.2.0")
            assert srv.server.record(TOKEN).info["dev"] == "python"

            # device -> server: visible through our HTTP API
            blynk.virtual_write(1, 42)
            blynk.virtual_write(2, "hello", 3.5)
            pump(blynk.run, lambda: http_value(srv, "V2") is not None, "the device write to reach the server")
            assert http_value(srv, "V1") == b"42"
            assert srv.stored(TOKEN, 2) == ("hello", "3.5")

            # server -> device: an HTTP update fires BlynkLib's handler
            assert srv.http_get(f"/external/api/update?token={TOKEN}&V5=from%20http") == (200, b"")
            pump(blynk.run, lambda: received, "BlynkLib's V5 handler")
            assert received == [["from http"]]

            # sync: the stored value of V6 comes back to the device
            srv.push_write(TOKEN, 6, "stored")
            pump(blynk.run, lambda: len(received) >= 2, "the pushed V6")
            received.clear()
            blynk.sync_virtual(6)
            pump(blynk.run, lambda: received, "the V6 sync reply")
            assert received == [["V6", "stored"]]
        finally:
            blynk.conn.close()


def test_blynklib_0_2_0_invalid_token_is_refused() -> None:
    BlynkLib = quietly_import("BlynkLib")  # noqa: N806
    with running_server(tokens=[TOKEN]) as srv:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            blynk = BlynkLib.Blynk("wrong" + TOKEN[5:], server="127.0.0.1", port=srv.port)
            disconnected: list[bool] = []
            blynk.on("disconnected", lambda *a: disconnected.append(True))
            try:
                pump(blynk.run, lambda: disconnected, "BlynkLib to give up")
            finally:
                blynk.conn.close()
        assert "Invalid auth token" in out.getvalue()
        assert srv.server.stats.rejected_logins == 1


# ---------------------------------------------------------------------------------------------
# blynklib 0.2.6


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_blynklib_0_2_6_legacy_login_both_directions(tls: bool, tmp_path: Path) -> None:
    blynklib = quietly_import("blynklib")
    assert blynklib.__version__ == "0.2.6"
    files = make_tls_files(tmp_path) if tls else None
    with running_server(tokens=[TOKEN], tls=files) as srv:
        received: list[tuple[int, list[str]]] = []
        with contextlib.redirect_stdout(io.StringIO()):
            blynk = blynklib.Blynk(
                TOKEN,
                server="127.0.0.1",
                port=srv.port,
                heartbeat=10,
                ssl_cert=str(files.ca) if files else None,  # verifies 127.0.0.1 against our CA
            )
        # blynklib keeps handlers in a class-level dict: register, and remove at the end
        blynklib.Blynk._events.pop("write v7", None)
        blynk.handle_event("write V7")(lambda pin, values: received.append((pin, list(values))))
        try:
            assert blynk.connect(timeout=DEADLINE) is True
            assert srv.is_connected(TOKEN)
            srv.wait_for(lambda s: s.record(TOKEN).info.get("ver") == "0.2.6")
            if files is not None:
                assert blynk._socket.version() in ("TLSv1.2", "TLSv1.3")

            blynk.virtual_write(3, 99)
            pump(blynk.run, lambda: http_value(srv, "V3") is not None, "the device write to reach the server")
            assert http_value(srv, "V3") == b"99"

            assert srv.http_get(f"/external/api/update?token={TOKEN}&V7=on") == (200, b"")
            pump(blynk.run, lambda: received, "blynklib's write V7 handler")
            assert received == [(7, ["on"])]

            received.clear()
            blynk.virtual_sync(7)
            pump(blynk.run, lambda: received, "the V7 sync reply")
            assert received == [(7, ["on"])]
        finally:
            blynklib.Blynk._events.pop("write v7", None)
            if blynk._socket is not None:
                blynk._socket.close()


def test_blynklib_0_2_6_follows_our_redirect() -> None:
    blynklib = quietly_import("blynklib")
    with (
        running_server(tokens=[TOKEN], http=False) as target,
        running_server(redirects={TOKEN: ("127.0.0.1", target.port)}, http=False) as first,
    ):
        with contextlib.redirect_stdout(io.StringIO()):
            blynk = blynklib.Blynk(TOKEN, server="127.0.0.1", port=first.port, heartbeat=10)
        try:
            assert blynk.connect(timeout=DEADLINE) is True  # REDIRECT, then a login at the target
            assert (blynk.server, int(blynk.port)) == ("127.0.0.1", target.port)
            assert first.server.stats.redirects == 1
            assert target.is_connected(TOKEN)
        finally:
            if blynk._socket is not None:
                blynk._socket.close()
