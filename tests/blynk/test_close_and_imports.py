"""An orderly close proves delivery; a device process imports only what it uses.

Issue 13: nothing in flight is lost (a ``close()`` asks the server to confirm what it was sent, with
a PING, before the socket closes; what it cannot confirm is kept for the next connect), and the
client's memory stays within 0.5 MiB of BlynkLib's (``bench/blynk_bench.py``), which needs a device
process to leave ``inspect``, ``copy`` and ``typing`` unloaded (``blynk_client._dataclass``).
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from collections.abc import Iterator

import pytest

from blynk_client.client import BlynkClient
from blynk_client.sync_client import Blynk
from tests.blynk.client_helpers import FaultServer
from tests.blynk.test_sync_client import Loop

TOKEN = "C1oseTok3n_0123456789abcdefghijk"


@pytest.fixture
def loop() -> Iterator[Loop]:
    lp = Loop()
    yield lp
    lp.close()


# -- close --------------------------------------------------------------------------------------------


def test_sync_close_confirms_what_it_sent(loop: Loop) -> None:
    """Three writes no PING has confirmed yet: close() sends a PING, its answer confirms them, and
    nothing is kept for a replay."""
    server = loop.run(FaultServer(tokens={TOKEN}).start())
    client = Blynk(TOKEN, server="127.0.0.1", port=server.port, insecure=True, heartbeat=45)
    client.connect(timeout=5, retry=False)
    for pin in (1, 2, 3):
        client.virtual_write(pin, f"v{pin}")
    assert client.unconfirmed == 3
    client.close()
    assert client.unconfirmed == 0
    assert client.stats.resent == 0
    assert {pin: server.values.get(pin) for pin in (1, 2, 3)} == {1: ("v1",), 2: ("v2",), 3: ("v3",)}
    loop.run(server.stop())


def test_sync_close_to_a_silent_server_keeps_the_writes_for_the_next_connect(
    loop: Loop, caplog: pytest.LogCaptureFixture
) -> None:
    """A server that reads and drops: close() returns (bounded), says what it could not confirm and
    keeps it; the next connect() to a live server delivers it."""
    server = loop.run(FaultServer(tokens={TOKEN}).start())
    client = Blynk(TOKEN, server="127.0.0.1", port=server.port, insecure=True, heartbeat=45)
    client.connect(timeout=5, retry=False)
    server.silent = True
    for pin in (4, 5, 6):
        client.virtual_write(pin, f"w{pin}")
    with caplog.at_level(logging.INFO, logger="blynk_client"):
        client.close()
    assert client.stats.resent == 3
    assert len(client.offline) == 3
    assert any("before the server confirmed 3 operation(s)" in r.getMessage() for r in caplog.records)
    assert not any(pin in server.values for pin in (4, 5, 6))
    server.silent = False
    client.connect(timeout=5, retry=False)
    client.close()  # confirms the replay too
    assert {pin: server.values.get(pin) for pin in (4, 5, 6)} == {4: ("w4",), 5: ("w5",), 6: ("w6",)}
    assert client.unconfirmed == 0 and len(client.offline) == 0
    loop.run(server.stop())


def test_asyncio_close_confirms_what_it_sent_and_keeps_what_a_silent_server_dropped() -> None:
    async def body() -> None:
        server = await FaultServer(tokens={TOKEN}).start()
        try:
            client = BlynkClient(TOKEN, server="127.0.0.1", port=server.port, insecure=True, heartbeat=45)
            await client.connect()
            client.virtual_write(1, "a")
            client.virtual_write(2, "b")
            assert client.unconfirmed == 2
            await client.close()
            assert client.unconfirmed == 0 and client.stats.resent == 0
            assert server.values.get(1) == ("a",) and server.values.get(2) == ("b",)

            client = BlynkClient(TOKEN, server="127.0.0.1", port=server.port, insecure=True, heartbeat=45)
            await client.connect()
            server.silent = True
            client.virtual_write(3, "c")
            await client.close()
            assert client.stats.resent == 1 and len(client.offline) == 1
            assert 3 not in server.values
        finally:
            await server.stop()

    asyncio.run(asyncio.wait_for(body(), 30))


# -- imports ------------------------------------------------------------------------------------------

#: Modules a connected device (the blocking client, as scripts use it) must not load.
NOT_IN_A_DEVICE = (
    "inspect", "ast", "dis", "tokenize", "copy", "typing", "asyncio", "ssl", "logging", "random",
    "blynk_client.offline", "blynk_client.timers", "blynk_client._server_role", "blynk_client.protocol",
)  # fmt: skip


def _run(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    return out.stdout.strip()


def test_a_device_process_loads_neither_inspect_nor_copy_nor_typing() -> None:
    code = (
        "import sys, blynk_client.sync_client\n"
        f"print(sorted(m for m in {NOT_IN_A_DEVICE!r} if m in sys.modules))"
    )
    assert _run(code) == "[]"


def test_dataclasses_behave_as_usual_after_the_deferred_import() -> None:
    """A docstring-less dataclass gets its generated ``__doc__`` (``inspect.signature``),
    ``asdict`` deep-copies (``copy.deepcopy``), and ``import inspect`` / ``import copy`` give the
    real modules, which ``dataclasses`` then uses too."""
    code = """
import sys, blynk_client.sync_client, dataclasses
assert "inspect" not in sys.modules and "copy" not in sys.modules
import inspect, copy
assert inspect.signature is not None and copy.deepcopy is not None
@dataclasses.dataclass
class Point:
    xs: list
p = Point([1, 2])
d = dataclasses.asdict(p)
assert d == {"xs": [1, 2]} and d["xs"] is not p.xs
assert dataclasses.inspect is sys.modules["inspect"] is inspect
assert dataclasses.copy is sys.modules["copy"] is copy
print(Point.__doc__)
"""
    assert _run(code) == "Point(xs: list)"


def test_the_stand_ins_load_the_real_modules_on_first_use() -> None:
    """Without anybody importing them, the first use through ``dataclasses`` loads the real modules."""
    code = """
import sys, blynk_client._dataclass, dataclasses
@dataclasses.dataclass
class Q:
    n: int
assert "inspect" in sys.modules and dataclasses.inspect is sys.modules["inspect"]
assert dataclasses.astuple(Q(3)) == (3,) and dataclasses.copy is sys.modules["copy"]
print(Q.__doc__)
"""
    assert _run(code) == "Q(n: int)"


def test_nothing_is_deferred_when_inspect_is_already_loaded() -> None:
    code = """
import sys, inspect, blynk_client._dataclass, dataclasses
print(dataclasses.inspect is inspect, type(dataclasses.copy).__name__)
"""
    assert _run(code) == "True module"


def test_a_host_name_is_resolved_without_the_idna_codec() -> None:
    """``getaddrinfo`` gets an ASCII name as bytes (the same name to the resolver), so Python's
    ``idna`` codec, 0.33 MiB of imports, is not loaded; a non-ASCII name still goes through it."""
    code = """
import socket, sys
from blynk_client._session import resolver_host
assert resolver_host("blynk.cloud") == b"blynk.cloud" and resolver_host("bücher.example") == "bücher.example"
infos = socket.getaddrinfo(resolver_host("localhost"), 80, type=socket.SOCK_STREAM)
assert infos and all(info[4][1] == 80 for info in infos)
print(sorted(m for m in ("encodings.idna", "stringprep", "unicodedata") if m in sys.modules))
"""
    assert _run(code) == "[]"


def test_a_device_that_went_offline_still_loads_no_random_nor_typing() -> None:
    """After a lost connection the offline queue and the backoff are loaded; their jitter comes
    from ``os.urandom`` (as ``random.SystemRandom`` draws it), so ``random`` stays unloaded, and the
    delays stay within the policy's jitter band."""
    code = """
import sys, blynk_client.sync_client
from blynk_client.offline import Backoff, BackoffPolicy, OfflineQueue
policy = BackoffPolicy(initial=1.0, factor=2.0, maximum=8.0, jitter=0.5)
backoff = Backoff(policy)
delays = [backoff.next_delay() for _ in range(200)]
bands = [policy.base(min(i, 3)) for i in range(200)]
assert all(b * 0.5 <= d <= b for d, b in zip(delays, bands)), delays
assert len(set(delays[10:])) > 150  # jittered, not constant
OfflineQueue().put
print(sorted(m for m in ("random", "typing", "inspect", "copy") if m in sys.modules))
"""
    assert _run(code) == "[]"


def test_without_logging_a_warning_is_printed_as_logging_would_and_logging_stays_unloaded() -> None:
    """No application logging: a warning goes to stderr as logging's last-resort handler writes
    it (the message alone), INFO is dropped, and ``logging`` is not imported; once the application
    imports and configures logging, records go through it."""
    code = """
import sys
from blynk_client.sync_client import Blynk
b = Blynk("T0ken_0123456789abcdefghijklmnop", server="127.0.0.1", port=9, insecure=True)
b._log(30, "lost %s; reconnecting in %.1f s", "127.0.0.1:9", 1.0)
b._log(20, "not shown")
print("logging" in sys.modules)
import logging
logging.basicConfig(format="via logging: %(levelname)s %(message)s", stream=sys.stdout)
b._log(30, "second")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stderr == "lost 127.0.0.1:9; reconnecting in 1.0 s\n"
    assert out.stdout.splitlines() == ["False", "via logging: WARNING second"]
