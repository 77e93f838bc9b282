"""A restart loop with a wrong PIN file cannot lock the SIM: through the simulator (a SIMCom SIM7600
that tells its PIN attempts by AT+SPIC), three starts with a wrong PIN cost one attempt only, and the
right PIN then brings the link up."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from pppos.errors import ExitStatus
from tests.e2e.harness import UpProcess
from tests.helpers import need_tool
from tests.sim_helpers import chat, open_link, run_sim

pytestmark = [pytest.mark.root, pytest.mark.slirp, pytest.mark.slow]


def _attempts_left(link: Path) -> int:
    fd = open_link(link)
    try:
        reply = chat(fd, "AT+SPIC")
    finally:
        os.close(fd)
    m = re.search(r"\+SPIC: (\d+),", reply)
    assert m, reply
    return int(m.group(1))


def _pin_file(tmp_path: Path, name: str, pin: str) -> Path:
    path = tmp_path / name
    path.write_text(pin + "\n")
    path.chmod(0o600)
    return path


def test_three_starts_with_a_wrong_pin_cost_one_attempt(netns, tmp_path: Path) -> None:
    need_tool("slirp", "gcc", "ip")
    wrong = _pin_file(tmp_path, "wrong", "9999")
    right = _pin_file(tmp_path, "right", "4321")
    with run_sim(tmp_path, "--profile", "sim7600", "--pin", "4321", "--network", "slirp") as link:
        assert _attempts_left(link) == 3
        statuses, errors = [], []
        for _ in range(3):
            up = UpProcess(netns, tmp_path, str(link), "--apn", "internet", "--pin-file", str(wrong))
            try:
                statuses.append(up.wait(timeout=60))
                errors.append(up.log.strip().splitlines()[-1])
            finally:
                up.close()
        assert statuses == [ExitStatus.SIM, ExitStatus.PIN_REFUSED, ExitStatus.PIN_REFUSED], errors
        assert errors[0].startswith("pppos-up: error: the SIM refused the PIN")
        assert "refused this PIN before, so it was not sent again" in errors[1] and errors[1] == errors[2]
        assert all("9999" not in e for e in errors)
        assert _attempts_left(link) == 2  # the first refusal only
        up = UpProcess(netns, tmp_path, str(link), "--apn", "internet", "--pin-file", str(right))
        try:
            log = up.wait_up()
            assert "sending the PIN" in log or "SIM ready" in log
            down = up.run_cli("down")
            assert down.returncode == 0, down.stderr
            assert up.wait() == 0
        finally:
            up.close()
        assert "4321" not in up.log and "9999" not in up.log
