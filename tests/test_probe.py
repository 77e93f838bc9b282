"""The real ``pppos-probe`` against the real ``pppos-sim`` on a pty (no mocks of the serial port).

Covers the verdicts the issue names: a ready modem (exit 0 with identity, SIM, signal and
registration), a SIM that needs its PIN (one line saying so), the right PIN, registration denied,
registration that never completes (timeout verdict), ``--json``, an empty SIM slot, and a modem
left in a data call (recovered with the guarded ``+++``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pppos.errors import ExitStatus
from tests.sim_helpers import chat, open_link, run_sim

pytestmark = pytest.mark.slow


def probe(link: Path, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pppos.cli.probe", str(link), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def one_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def test_ready_modem_text_json_and_recovery_from_a_data_call(tmp_path: Path) -> None:
    with run_sim(tmp_path, "--profile", "a7", "--network", "none", "--apn", "internet") as link:
        text = probe(link)
        as_json = probe(link, "--json")
        # leave the modem in a data call whose peer is silent, then probe again
        fd = open_link(link)
        try:
            chat(fd, "ATE0")
            time.sleep(0.5)
            assert "CONNECT" in chat(fd, "ATD*99***1#", timeout=5)
        finally:
            os.close(fd)
        recovered = probe(link, "-v")
    assert text.returncode == 0, text.stderr
    out = text.stdout
    assert "Ai-Thinker" in out and "model:" in out and "A7" in out
    assert "firmware:" in out and "unknown" not in out.split("firmware:")[1].splitlines()[0]
    imei = out.split("IMEI:")[1].splitlines()[0].strip()
    assert imei.startswith("*") and imei[-4:].isdigit() and imei.count("*") == len(imei) - 4
    assert "SIM:          ready" in out
    assert "dBm (" in out
    assert "CREG home" in out
    assert '1 IP "internet"' in out
    assert "could dial" in out

    assert as_json.returncode == 0, as_json.stderr
    obj = json.loads(as_json.stdout)
    assert obj["verdict"]["ok"] is True and obj["verdict"]["code"] == "ready"
    assert obj["verdict"]["exit_status"] == 0
    assert obj["profile"] == "a7" and obj["sim"] == "ready" and obj["imei"] == imei
    assert isinstance(obj["signal_dbm"], int) and obj["signal"] in ("excellent", "good", "fair", "poor", "none")
    assert obj["registration"]["CREG"] == "home"
    assert obj["contexts"][0] == {"cid": 1, "type": "IP", "apn": "internet"}

    assert recovered.returncode == 0, recovered.stderr
    assert "+++ answered OK" in recovered.stderr
    assert "could dial" in recovered.stdout


def test_pin_needed_wrong_then_right(tmp_path: Path) -> None:
    pin_file = tmp_path / "pin"
    pin_file.write_text("1234\n")
    pin_file.chmod(0o600)
    with run_sim(tmp_path, "--profile", "a7", "--network", "none", "--pin", "1234") as link:
        needed = probe(link)
        wrong = probe(link, "--pin", "4321")
        right = probe(link, "--pin-file", str(pin_file))
    assert needed.returncode == ExitStatus.SIM
    line = one_line(needed.stderr)
    assert "needs its PIN" in line and "--pin-file" in line

    assert wrong.returncode == ExitStatus.SIM
    lines = [ln for ln in wrong.stderr.splitlines() if ln.strip()]
    assert len(lines) == 2 and "warning" in lines[0]  # the --pin visibility warning, then the verdict
    assert "refused the PIN" in lines[1] and "4321" not in wrong.stderr + wrong.stdout

    assert right.returncode == 0, right.stderr
    assert "SIM:          ready" in right.stdout
    assert "1234" not in right.stdout + right.stderr


def test_registration_denied(tmp_path: Path) -> None:
    with run_sim(tmp_path, "--profile", "a7", "--network", "none", "--registration", "denied") as link:
        result = probe(link)
    assert result.returncode == ExitStatus.NETWORK
    assert "registration was denied" in one_line(result.stderr)


def test_registration_timeout_while_searching(tmp_path: Path) -> None:
    with run_sim(tmp_path, "--profile", "a7", "--network", "none", "--registration", "searching") as link:
        result = probe(link, "--timeout", "2")
    assert result.returncode == ExitStatus.NETWORK
    line = one_line(result.stderr)
    assert "did not register within 2 s" in line and "searching" in line


def test_no_sim(tmp_path: Path) -> None:
    with run_sim(tmp_path, "--profile", "a7", "--network", "none", "--no-sim") as link:
        result = probe(link)
    assert result.returncode == ExitStatus.SIM
    assert "no SIM card" in one_line(result.stderr)


def test_lte_modem_shows_operator_code_technology_area_cell_and_urc_noise_is_harmless(tmp_path: Path) -> None:
    """Issue 12: the probe names MCC/MNC, access technology, LAC/TAC and cell id; the simulator's
    URC noise (between echoes and answers too) changes none of the answers."""
    with run_sim(tmp_path, "--profile", "sim7600", "--network", "none", "--urc-noise", "5", "--seed", "7") as link:
        text = probe(link)
        as_json = probe(link, "--json")
    assert text.returncode == 0, text.stderr
    rows = dict(line.split(":", 1) for line in text.stdout.splitlines() if ":" in line)
    assert rows["operator"].strip() == "PPPOS SIM (MCC 001, MNC 01)"
    assert rows["technology"].strip() == "LTE"
    assert rows["LAC/TAC"].strip() == "1A2B" and rows["cell id"].strip() == "1C3D4E5"
    assert rows["model"].strip() == "SIMCOM_SIM7600E-H" and rows["IMEI"].strip().endswith("9012")
    assert rows["signal"].strip() == "-65 dBm (excellent); RSRP -95 dBm, RSRQ -10 dB"
    obj = json.loads(as_json.stdout)
    network = (obj["mcc"], obj["mnc"], obj["technology"], obj["area"], obj["cell"])
    assert network == ("001", "01", "LTE", "1A2B", "1C3D4E5")
    assert (obj["rsrp_dbm"], obj["rsrq_db"]) == (-95.0, -10.0)
    assert obj["registered"] is True and obj["registration"]["CEREG"] == "home"
