"""Blynk on top of a supervised PPP link (issue 10, item 8): nothing lost across carrier losses.

The simulator (``pppos-sim``, faults through ``pppos-sim ctl``) and ``pppos-up --persist`` in a
throwaway namespace (:class:`tests.e2e.fault_rig.FaultRig`); ``blynk-server`` on the host's
loopback, reached from the namespace as 10.0.2.2 through slirp. Inside the namespace an application
on :class:`blynk_client.sync_client.Blynk`, bound to ppp0, writes a value every second; the call is
dropped five times. Afterwards the server holds the last value the application wrote to every pin,
and a push from the server reaches the application's handler again.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.helpers import need_tool
from tests.netns import make_netns

TOKEN = "PppTok3n_0123456789abcdefghijklm"

APP = r"""
import json, sys, time
from pathlib import Path
from blynk_client.offline import BackoffPolicy
from blynk_client.sync_client import Blynk

port, out, stop = int(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
blynk = Blynk(sys.argv[4], server="10.0.2.2", port=port, insecure=True, interface="ppp0", heartbeat=2,
              backoff=BackoffPolicy(initial=0.2, maximum=2.0))
last = {}
pushes = []
count = [0]

def tick():
    count[0] += 1
    pin = 1 + count[0] % 3
    blynk.virtual_write(pin, count[0])
    last[pin] = str(count[0])

blynk.on("V9", lambda value: pushes.append(value[0]))
blynk.on("connected", lambda: print("logged in", flush=True))
writer = blynk.set_interval(1.0, tick)
while not stop.exists():
    blynk.run(0.2)
writer.cancel()
while not blynk.connected:
    blynk.run(0.2)
blynk.ping()
pushed_at = time.monotonic()
print("ready for a push", flush=True)
while not pushes and time.monotonic() - pushed_at < 30:
    blynk.run(0.2)
out.write_text(json.dumps({"last": last, "pushes": pushes, "resent": blynk.stats.resent,
                           "logins": blynk.stats.logins}))
blynk.close()
"""


def _http(port: int, path: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/external/api/{path}", timeout=10) as resp:
        return str(resp.read().decode())


def test_blynk_over_ppp0_loses_nothing_across_five_carrier_losses(tmp_path: Path) -> None:
    need_tool("slirp")
    from tests.e2e.fault_rig import FaultRig
    from tests.e2e.harness import HostServers

    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    server = subprocess.Popen(
        [sys.executable, "-m", "blynk_client.cli", "--port", "0", "--http-port", "0", "--token-file", str(token_file)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    rig = None
    try:
        assert server.stdout is not None
        port, http_port = map(int, re.findall(r"127\.0\.0\.1:(\d+)", server.stdout.readline()))
        with HostServers() as servers, make_netns() as netns:
            rig = FaultRig(netns, tmp_path, servers.echo_port)
            rig.usable()
            (tmp_path / "app.py").write_text(APP)
            out, stop = tmp_path / "app.json", tmp_path / "stop"
            app = netns.popen(
                [sys.executable, str(tmp_path / "app.py"), str(port), str(out), str(stop), TOKEN],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )
            assert app.stdout is not None
            assert app.stdout.readline().strip() == "logged in"
            for _ in range(5):
                time.sleep(3.0)  # a few writes on a good link
                rig.fault("carrier")
                rig.usable()
                assert app.stdout.readline().strip() == "logged in", app.stderr.read() if app.stderr else ""
            time.sleep(3.0)
            stop.touch()
            assert app.stdout.readline().strip() == "ready for a push"
            _http(http_port, f"update?token={TOKEN}&V9=after-five-losses")
            assert app.wait(timeout=60) == 0, app.stderr.read() if app.stderr else ""
            result = json.loads(out.read_text())
            assert result["logins"] >= 6
            assert result["pushes"] == ["after-five-losses"]
            stored = {pin: _http(http_port, f"get?token={TOKEN}&V{pin}") for pin in result["last"]}
            assert stored == result["last"]
    finally:
        if rig is not None:
            rig.close()
        server.send_signal(signal.SIGTERM)
        try:
            server.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.communicate()
