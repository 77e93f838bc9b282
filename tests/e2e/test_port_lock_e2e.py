"""A live link's port is owned: pppos-probe and a second pppos-up on it are refused with the holder's
pid, and the link keeps carrying traffic (simulator + slirp, pppos-up in a namespace)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from pppos.errors import ExitStatus
from pppos.portlock import lock_path
from tests.e2e.harness import HostServers, UpProcess, echo_roundtrip
from tests.helpers import need_tool
from tests.sim_helpers import run_sim

pytestmark = [pytest.mark.root, pytest.mark.slirp, pytest.mark.slow]


def test_probe_and_second_up_refuse_a_live_port(netns, tmp_path: Path) -> None:
    need_tool("slirp", "gcc", "ip")
    with HostServers() as servers, run_sim(tmp_path, "--profile", "a7", "--network", "slirp") as link:
        up = UpProcess(netns, tmp_path, str(link), "--apn", "internet", "--default-route")
        try:
            up.wait_up()
            assert echo_roundtrip(netns, "10.0.2.2", servers.echo_port, 20000)
            holder = lock_path(str(link)).read_text().strip()
            assert holder.isdigit()
            probe = netns.run([sys.executable, "-m", "pppos.cli.probe", str(link)], env=up.env, timeout=60)
            assert probe.returncode == ExitStatus.NO_MODEM, probe.stderr
            assert probe.stderr.count("\n") == 1 and f"in use by pppos-up (pid {holder}" in probe.stderr
            second = up.run_cli("up", str(link), "--ifname", "ppp1", "--apn", "internet")
            assert second.returncode == ExitStatus.NO_MODEM, second.stderr
            assert f"(pid {holder}" in second.stderr and "Traceback" not in second.stderr
            # The live link is untouched: still up, still carrying traffic, still holding its lock.
            assert up.proc.poll() is None
            assert echo_roundtrip(netns, "10.0.2.2", servers.echo_port, 20000)
            assert "ppp1" not in netns.ip("link")
            assert lock_path(str(link)).read_text().strip() == holder
            down = up.run_cli("down")
            assert down.returncode == 0, down.stderr
            assert up.wait() == 0
            assert not lock_path(str(link)).exists()
        finally:
            up.close()
