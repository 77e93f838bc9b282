"""A modem whose stored profile is the worst for a host, numeric result codes, quiet mode and echo on
(``pppos-sim --stored-profile V0Q1E1``; V.250 6.2.4-6.2.6), through the real programs: ``pppos-probe``
says it is ready, ``pppos-up --persist`` brings ppp0 up and carries a TCP round trip, and after a
modem reboot (which restores the stored profile) the recovery ladder gets it back.

The simulator runs on the host (a pty, ``--fast`` latencies) and ``pppos-up`` in a throwaway network
namespace; the only peer reached is an echo server on the host's 127.0.0.1 (10.0.2.2 through slirp).
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from pppos.cli.probe import main as probe_main
from pppos.errors import ExitStatus
from pppos.serial_port import open_port
from tests.e2e.fault_rig import FaultRig
from tests.e2e.harness import HostServers, UpProcess, wait_for
from tests.helpers import need_tool

pytestmark = [pytest.mark.root, pytest.mark.slirp, pytest.mark.slow]

WORST = "V0Q1E1"


def _bare_at(link: Path) -> bytes:
    """What the modem answers a bare ``AT`` right now (a stored V0Q1E1 profile: its echo, no result)."""
    port = open_port(str(link), 115200)
    try:
        for write in (b"", b"AT\r"):  # first let the boot URCs (^CINIT, +CREG) go by
            port.write(write)
            got = b""
            end = time.monotonic() + 1.0
            while time.monotonic() < end:
                got += port.read(256)
                time.sleep(0.02)
        return got
    finally:
        port.close()


def test_probe_and_up_through_a_v0_q1_e1_modem_and_its_reboot(netns, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    need_tool("slirp", "gcc", "ip")
    with HostServers() as servers:
        rig = FaultRig(netns, tmp_path, servers.echo_port, sim_args=("--fast", "--stored-profile", WORST),
                       start_up=False)
        try:
            # the stored profile is in force: a bare AT gets its echo and no result code at all
            assert _bare_at(rig.link) == b"AT\r"

            assert probe_main([str(rig.link), "--json"]) == 0
            report = json.loads(capsys.readouterr().out)
            assert report["verdict"]["code"] == "ready", report

            rig.fault("reboot")  # back to V0Q1E1, as a power cycle would
            wait_for(lambda: _bare_at(rig.link) == b"AT\r", 10, "the rebooted modem to answer in its stored profile")

            rig.up = UpProcess(netns, tmp_path, str(rig.link), "--apn", "internet", "--persist", "--default-route",
                               "--log-format", "json", "--holdoff", "0.2", "--holdoff-max", "1",
                               "--lcp-echo", "1,3")
            rig.usable(timeout=60)
            ups = rig.up.log.count(" up in ")

            # a reboot mid-call: the modem comes back numeric, quiet and echoing; the ladder recovers
            rig.fault("reboot")
            wait_for(lambda: rig.up is not None and rig.up.log.count(" up in ") > ups, 90,
                     "ppp0 up again after the reboot")
            rig.usable(timeout=60)

            rig.up.signal(signal.SIGTERM)
            assert rig.up.wait() == ExitStatus.SUCCESS, rig.up.log
            assert "Traceback" not in rig.up.log
            assert "ppp0" not in netns.ip("link")
        finally:
            rig.close()
