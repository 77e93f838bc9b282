"""``pppos-demo`` (the README's first quick-start command) runs its whole story and exits 0."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.helpers import need_root, need_tool

pytestmark = [pytest.mark.root, pytest.mark.slirp, pytest.mark.slow]


def test_demo_runs_end_to_end() -> None:
    need_root()
    need_tool("ip", "slirp", "gcc")
    done = subprocess.run(
        [sys.executable, "-m", "pppos.cli.demo", "--timeout", "60"],
        capture_output=True, text=True, timeout=280, stdin=subprocess.DEVNULL,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-3000:]
    # The link came up on our stack with slirp's client address...
    assert re.search(r"IPCP: local 10\.0\.2\.15\b", out), out[-3000:]
    assert re.search(r"ppp0 up in [\d.]+ s", out)
    # ...the value written over ppp0 was read back through the host's HTTP API...
    written = re.search(r"blynk-client write V1 (\d+)", out)
    assert written is not None
    assert f"GET /external/api/get?V1 -> '{written.group(1)}'" in out
    # ...and a server-side update reached the device inside the namespace.
    assert "V2 hello-over-ppp0" in out
    assert re.search(r"bytes_in=[1-9]\d*, bytes_out=[1-9]\d*", out)
    # The token never shows in the demo's output.
    assert "token=" not in out
