"""systemd integration: sd_notify over its socket, the watchdog interval, journald priorities, JSON for
every line, and the installer's peer file and units (checked by systemd-analyze verify)."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pppos.errors import ExitStatus
from pppos.systemd import Notifier, journal_stream, notify, watchdog_interval
from tests.helpers import need_tool


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(tmp_path / "notify")
    sock.bind(path)
    sock.settimeout(2)
    try:
        yield sock, path
    finally:
        sock.close()


def _messages(sock: socket.socket) -> list[str]:
    out = []
    sock.setblocking(False)
    try:
        while True:
            out.append(sock.recv(4096).decode())
    except BlockingIOError:
        pass
    return out


def test_notify_path_and_abstract_socket(listener: tuple[socket.socket, str]) -> None:
    sock, path = listener
    assert notify({"READY": 1, "STATUS": "ppp0 up\nsecond line"}, {"NOTIFY_SOCKET": path})
    assert sock.recv(4096) == b"READY=1\nSTATUS=ppp0 up second line"
    abstract = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    name = f"pppos-test-{os.getpid()}"
    abstract.bind("\0" + name)
    try:
        assert notify({"STATUS": "x"}, {"NOTIFY_SOCKET": "@" + name})
        assert abstract.recv(100) == b"STATUS=x"
    finally:
        abstract.close()
    assert not notify({"READY": 1}, {}) and not notify({"READY": 1}, {"NOTIFY_SOCKET": "relative"})
    assert not notify({"READY": 1}, {"NOTIFY_SOCKET": path + ".missing"})
    # A listener that does not read: its queue fills and notify() returns False instead of blocking.
    results = [notify({"WATCHDOG": 1}, {"NOTIFY_SOCKET": path}) for _ in range(2000)]
    assert results[0] and not results[-1]


def test_notifier_ready_status_watchdog_stopping(listener: tuple[socket.socket, str]) -> None:
    sock, path = listener
    n = Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "20000000", "WATCHDOG_PID": str(os.getpid())})
    assert n.enabled and n.watchdog == 10.0
    n.status("bring-up")
    n.status("bring-up")  # unchanged: not sent again
    n.ready("ppp0 up: 10.0.2.15")
    n.status("running")
    n.ping()
    n.stopping()
    assert _messages(sock) == ["STATUS=bring-up", "READY=1\nSTATUS=ppp0 up: 10.0.2.15", "STATUS=running",
                               "WATCHDOG=1", "STOPPING=1\nSTATUS=stopping"]
    quiet = Notifier({})
    quiet.ready("x")
    quiet.ping()
    assert not quiet.enabled and quiet.watchdog is None


def test_watchdog_interval() -> None:
    assert watchdog_interval({"WATCHDOG_USEC": "4000000"}) == 2.0
    assert watchdog_interval({"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": "1"}, pid=2) is None
    assert watchdog_interval({"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": "2"}, pid=2) == 2.0
    assert watchdog_interval({}) is None and watchdog_interval({"WATCHDOG_USEC": "x"}) is None


def test_journal_detection_and_priorities(tmp_path: Path) -> None:
    from pppos.logline import format_line

    with open(tmp_path / "stream", "w") as fh:
        st = os.fstat(fh.fileno())
        env = {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}
        assert journal_stream(fh, env)
        assert not journal_stream(fh, {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino + 1}"})
        assert not journal_stream(fh, {})
        os.environ["JOURNAL_STREAM"] = env["JOURNAL_STREAM"]
        try:
            assert format_line("pppos-up", "info", "up", "ppp0 up", stream=fh) == "<6>pppos-up: ppp0 up"
            assert format_line("pppos-up", "warning", "w", "careful", stream=fh) == "<4>pppos-up: warning: careful"
            line = format_line("pppos-up", "error", "fatal", "gone", {"exit_status": 9}, json_format=True, stream=fh)
            assert line.startswith("<3>{") and json.loads(line[3:])["exit_status"] == 9
        finally:
            del os.environ["JOURNAL_STREAM"]
        assert format_line("pppos-up", "info", "up", "ppp0 up", stream=fh) == "pppos-up: ppp0 up"


def test_json_log_format_makes_the_fatal_line_json(capsys: pytest.CaptureFixture[str]) -> None:
    from pppos.cli import up

    assert up.main(["/nonexistent/tty9", "--log-format", "json", "--backend", "python"]) == ExitStatus.NO_MODEM
    lines = capsys.readouterr().err.strip().splitlines()
    records = [json.loads(line) for line in lines]
    assert records[-1]["level"] == "error" and records[-1]["exit_status"] == ExitStatus.NO_MODEM
    assert "no such port" in records[-1]["message"]
    # Usage errors too, and the process-wide style is reset afterwards.
    assert up.main(["--log-format", "json", "--no-such-flag"]) == ExitStatus.USAGE
    assert json.loads(capsys.readouterr().err)["exit_status"] == ExitStatus.USAGE
    assert up.main(["p", "--mtu", "5"]) == ExitStatus.USAGE
    assert capsys.readouterr().err.startswith("pppos-up: error: --mtu 5")


def test_install_service_writes_a_private_peer_and_units_that_verify(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    from pppos.cli import up
    from pppos.config import parse_up_args

    monkeypatch.setenv("PPPOS_PEERS_DIR", str(tmp_path / "etc/pppos/peers"))
    monkeypatch.setenv("PPPOS_SYSTEMD_DIR", str(tmp_path / "units"))
    pin = tmp_path / "pin"
    pin.write_text("4321\n")
    pin.chmod(0o600)
    argv = ["/dev/ttyUSB3", "--apn", "internet", "--pin-file", str(pin), "--default-route", "--route-metric", "600",
            "--dns", "192.0.2.1", "--lcp-echo", "10,3", "--ifname", "ppp2", "--profile", "sim7600"]
    assert up.main([*argv, "--install-service", "lte"]) == 0
    assert "systemctl enable --now pppos@lte" in capsys.readouterr().err
    peer = tmp_path / "etc/pppos/peers/lte.conf"
    assert stat.S_IMODE(peer.stat().st_mode) == 0o600
    # The peer file says what the command line said: --call gives the same options back.
    called = parse_up_args(["--call", "lte"], environ={"PPPOS_PEERS_DIR": str(peer.parent)})
    direct = parse_up_args(argv, environ={})
    for name in ("port", "apn", "pin", "default_route", "route_metric", "dns", "lcp_echo", "ifname", "profile"):
        assert getattr(called, name) == getattr(direct, name), name
    assert (tmp_path / "etc/pppos/blynk/lte.env").read_text() == "BLYNK_INTERFACE=ppp2\n"
    units = tmp_path / "units"
    text = (units / "pppos@.service").read_text()
    assert "@BINDIR@" not in text and "Type=notify" in text and "RestartPreventExitStatus=2 4 10 11 14 15" in text
    need_tool("systemd-analyze")
    done = subprocess.run(["systemd-analyze", "verify", "--man=no", str(units / "pppos@lte.service"),
                           str(units / "blynk-client@lte.service")], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and done.stderr.strip() == "", done.stderr


def test_restart_prevent_statuses_are_the_unfixable_ones() -> None:
    from pppos.service import render_unit

    line = next(ln for ln in render_unit("pppos@.service", "/x").splitlines()
                if ln.startswith("RestartPreventExitStatus="))
    codes = {int(c) for c in line.split("=", 1)[1].split()}
    assert codes == {ExitStatus.USAGE, ExitStatus.SIM, ExitStatus.PERMISSION, ExitStatus.MISSING_TOOL,
                     ExitStatus.PIN_REFUSED, ExitStatus.DATA_CAP}



def test_install_service_warns_about_a_pppos_up_the_units_cannot_see() -> None:
    from pppos.service import bindir_problem

    problem = bindir_problem("/root/.local/pipx/venvs/pppos/bin")
    assert problem is not None and "ProtectHome=yes hides /root" in problem and "PIPX_HOME=/opt/pipx" in problem
    assert bindir_problem("/home/pi/.local/bin") is not None
    assert bindir_problem("/usr/local/bin") is None and bindir_problem("/opt/pppos/bin") is None
    # the unit really has the setting this warns about
    from pppos.service import render_unit

    assert "ProtectHome=yes" in render_unit("pppos@.service", "/usr/local/bin").splitlines()
