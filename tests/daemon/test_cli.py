"""pppos-up / pppos-down / pppos-status as commands: usage, modem verdicts, stale state, status output.

The runs that create a TUN device happen inside a throwaway network namespace (``netns`` fixture);
the resolver file and the run directory are per-test paths (``PPPOS_RESOLV_CONF``, ``PPPOS_RUN_DIR``).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pppos.cli import down as down_cli
from pppos.cli import status as status_cli
from pppos.cli import up as up_cli
from pppos.daemon import Reporter
from pppos.errors import ExitStatus
from pppos.net.dns import DnsManager
from pppos.net.status import StatusFile
from tests.sim_helpers import need_slirp, run_sim

ORIGINAL = b"nameserver 192.0.2.53\n# the host's own file\n"


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "PPPOS_RUN_DIR": str(tmp_path / "run"), "PPPOS_RESOLV_CONF": str(tmp_path / "resolv.conf")}


def test_up_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert up_cli.main([]) == ExitStatus.USAGE
    assert "no serial port given" in capsys.readouterr().err
    assert up_cli.main(["/dev/null", "--mtu", "5"]) == ExitStatus.USAGE
    err = capsys.readouterr().err
    assert err.startswith("pppos-up: error: --mtu 5") and err.count("\n") == 1
    assert up_cli.main(["/dev/null", "--no-such-option"]) == ExitStatus.USAGE
    err = capsys.readouterr().err
    assert "pppos-up: error: unrecognized arguments: --no-such-option" in err


def test_status_and_down_with_nothing_running(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PPPOS_RUN_DIR", str(tmp_path))
    assert status_cli.main(["--json"]) == ExitStatus.LINK_LOST
    assert json.loads(capsys.readouterr().out) == {"ifname": "ppp0", "phase": "down", "running": False}
    assert status_cli.main([]) == ExitStatus.LINK_LOST
    assert "not running" in capsys.readouterr().out
    assert down_cli.main([]) == ExitStatus.LINK_LOST
    assert capsys.readouterr().err.strip() == "pppos-down: error: no pppos-up is running on ppp0"
    assert status_cli.main(["--ifname", "bad/name"]) == ExitStatus.USAGE


@pytest.fixture
def fake_up() -> Iterator[int]:
    """The pid of a live process whose command line is a pppos-up's (the state file's pid is checked)."""
    from pppos.portlock import process_name

    proc = subprocess.Popen(["bash", "-c", "exec -a pppos-up sleep 120"])
    try:
        for _ in range(200):
            if process_name(proc.pid) == "pppos-up":
                break
            subprocess.run(["sleep", "0.01"], check=False)
        yield proc.pid
    finally:
        proc.kill()
        proc.wait()


def test_status_shows_a_running_daemon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str], fake_up: int) -> None:
    monkeypatch.setenv("PPPOS_RUN_DIR", str(tmp_path))
    state = {"ifname": "wwan0", "pid": fake_up, "phase": "running", "local_ip": "10.0.2.15",
             "peer_ip": "10.0.2.2", "mtu": 1500, "bytes_in": 10, "bytes_out": 20, "packets_in": 1, "packets_out": 2}
    StatusFile(tmp_path / "wwan0.json").write(state)
    assert status_cli.main(["--ifname", "wwan0", "--json"]) == ExitStatus.SUCCESS
    shown = json.loads(capsys.readouterr().out)
    assert shown["phase"] == "running" and shown["running"] is True and shown["bytes_out"] == 20
    assert status_cli.main(["--ifname", "wwan0"]) == ExitStatus.SUCCESS
    assert "addresses: 10.0.2.15 peer 10.0.2.2 mtu 1500" in capsys.readouterr().out


def test_down_cleans_up_after_a_dead_daemon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    resolv = tmp_path / "resolv.conf"
    resolv.write_bytes(ORIGINAL)
    monkeypatch.setenv("PPPOS_RUN_DIR", str(run))
    # A daemon that changed the resolver and then died without restoring it:
    DnsManager(ifname="ppp0", backup_path=run / "ppp0.resolv-backup", resolv_conf=resolv,
               use_resolved=False).apply(["10.0.2.3"])
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    StatusFile(run / "ppp0.json").write({"ifname": "ppp0", "pid": int(dead.stdout), "phase": "running"})
    assert resolv.read_bytes() != ORIGINAL
    assert status_cli.main([]) == ExitStatus.LINK_LOST
    assert "died" in capsys.readouterr().out
    assert down_cli.main([]) == ExitStatus.SUCCESS
    assert "cleaned up" in capsys.readouterr().err
    assert resolv.read_bytes() == ORIGINAL
    assert not (run / "ppp0.json").exists() and not (run / "ppp0.resolv-backup").exists()


def test_reporter_text_quiet_and_json() -> None:
    out = io.StringIO()
    Reporter(stream=out).step("lcp", "LCP up")
    Reporter(stream=out, quiet=True).step("lcp", "hidden")
    Reporter(stream=out, quiet=True).warn("shown")
    assert out.getvalue() == "pppos-up: LCP up\npppos-up: warning: shown\n"
    out = io.StringIO()
    Reporter(stream=out, json_format=True).step("up", "ppp0 up in 0.50 s", seconds=0.5)
    record = json.loads(out.getvalue())
    assert record["step"] == "up" and record["seconds"] == 0.5 and record["level"] == "info" and "ts" in record


def _up(ns, tmp_path: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return ns.run([sys.executable, "-m", "pppos.cli.up", *args], env=_env(tmp_path), timeout=timeout)


@pytest.mark.root
def test_missing_port_is_no_modem_and_leaves_nothing(netns, tmp_path: Path) -> None:
    result = _up(netns, tmp_path, str(tmp_path / "no-such-tty"))
    assert result.returncode == ExitStatus.NO_MODEM, result.stderr
    assert "no such port" in result.stderr and "Traceback" not in result.stderr
    assert "ppp0" not in netns.ip("link")
    assert not (tmp_path / "run" / "ppp0.json").exists()


@pytest.mark.root
def test_already_running_is_refused(netns, tmp_path: Path, fake_up: int) -> None:
    StatusFile(tmp_path / "run" / "ppp0.json").write({"ifname": "ppp0", "pid": fake_up, "phase": "running"})
    result = _up(netns, tmp_path, "/dev/null")
    assert result.returncode == ExitStatus.USAGE
    assert "already running" in result.stderr


@pytest.mark.root
@pytest.mark.slirp
def test_sim_verdicts_pin_needed_then_wrong_pin(netns, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    need_slirp()
    (tmp_path / "resolv.conf").write_bytes(ORIGINAL)
    pin = tmp_path / "pin"
    pin.write_text("9999\n")
    os.chmod(pin, 0o600)
    with run_sim(tmp_path, "--profile", "a7", "--pin", "4321", "--network", "none") as link:
        needed = _up(netns, tmp_path, str(link), "--usepeerdns", "--default-route")
        wrong = _up(netns, tmp_path, str(link), "--pin-file", str(pin), "--log-format", "json")
    assert needed.returncode == ExitStatus.SIM, needed.stderr
    assert needed.stderr.strip().splitlines()[-1].startswith("pppos-up: error: the SIM needs its PIN")
    assert "A7" in needed.stderr  # the identity progress line
    assert wrong.returncode == ExitStatus.SIM, wrong.stderr
    assert "9999" not in wrong.stderr
    lines = wrong.stderr.strip().splitlines()
    # --log-format json: every line is JSON, the fatal one included.
    fatal = json.loads(lines[-1])
    assert fatal["level"] == "error" and fatal["message"].startswith("the SIM refused the PIN")
    assert fatal["exit_status"] == ExitStatus.SIM
    assert all(json.loads(line)["level"] for line in lines[:-1])
    assert "ppp0" not in netns.ip("link")
    assert (tmp_path / "resolv.conf").read_bytes() == ORIGINAL
    assert not (tmp_path / "run" / "ppp0.json").exists()
    # pppos-status remembers why the last session ended.
    monkeypatch.setenv("PPPOS_RUN_DIR", str(tmp_path / "run"))
    assert status_cli.main(["--json"]) == ExitStatus.LINK_LOST
    shown = json.loads(capsys.readouterr().out)
    assert shown["phase"] == "down" and shown["last_failure"].startswith("the SIM refused the PIN")


def test_backend_choice(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from pppos.config import parse_up_args

    real_exists = os.path.exists
    for present, expected in ((False, "python"), (True, "pppd")):
        monkeypatch.setattr(os.path, "exists", lambda p, v=present: v if p == "/dev/ppp" else real_exists(p))
        assert parse_up_args(["/dev/null"], environ={}).resolved_backend() == expected
        assert parse_up_args(["/dev/null", "--backend", "python"], environ={}).resolved_backend() == "python"
    # --backend pppd without kernel PPP: a clear one-line MISSING_TOOL error, before touching the port.
    monkeypatch.setattr(os.path, "exists", lambda p: False if p == "/dev/ppp" else real_exists(p))
    assert up_cli.main(["/dev/null", "--backend", "pppd"]) == ExitStatus.MISSING_TOOL
    err = capsys.readouterr().err
    assert err.startswith("pppos-up: error: ") and "/dev/ppp" in err and err.count("\n") == 1


def test_link_down_verdicts_name_the_cause() -> None:
    from pppos.daemon import link_down_verdict
    from pppos.ppp.link import DownCause

    def verdict(cause: DownCause, reason: str, protocol: str | None = None, *, was_up: bool = False):
        return link_down_verdict(cause.name.lower(), reason, protocol, was_up=was_up)

    assert verdict(DownCause.AUTH_FAILED, "PAP refused: bad password") == (
        ExitStatus.AUTH, "PPP authentication failed: PAP refused: bad password")
    assert verdict(DownCause.NEGOTIATION_FAILED, "peer rejected IPCP", "IPCP") == (
        ExitStatus.PPP, "PPP negotiation failed (IPCP): peer rejected IPCP")
    assert verdict(DownCause.NEGOTIATION_FAILED, "no answer to 10 Configure-Requests", "LCP")[0] == ExitStatus.PPP
    assert verdict(DownCause.ECHO_TIMEOUT, "no LCP echo reply", was_up=True) == (
        ExitStatus.LINK_LOST, "the link was lost: no LCP echo reply")
    assert verdict(DownCause.PEER_TERMINATED, "peer closed IPCP", was_up=True)[0] == ExitStatus.LINK_LOST
