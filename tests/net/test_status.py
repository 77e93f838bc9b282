"""pppos.net.status: atomic state file, run directory, human formatting."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pppos.errors import LinkError
from pppos.net.status import StatusFile, backup_path, format_status, pid_alive, read_status, run_dir, state_path


def test_paths_follow_the_run_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("PPPOS_RUN_DIR", raising=False)
    assert state_path("ppp0") == Path("/run/pppos/ppp0.json")
    monkeypatch.setenv("PPPOS_RUN_DIR", str(tmp_path))
    assert run_dir() == tmp_path
    assert state_path("wwan0") == tmp_path / "wwan0.json"
    assert backup_path("wwan0") == tmp_path / "wwan0.resolv-backup"


def test_write_read_remove(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "ppp0.json"
    status = StatusFile(path)
    assert read_status(path) is None
    status.write({"ifname": "ppp0", "pid": os.getpid(), "phase": "network", "bytes_in": 5})
    status.write({"ifname": "ppp0", "pid": os.getpid(), "phase": "running", "bytes_in": 7})
    assert read_status(path) == {"ifname": "ppp0", "pid": os.getpid(), "phase": "running", "bytes_in": 7}
    assert [p.name for p in path.parent.iterdir()] == ["ppp0.json"]  # no temporary file left
    status.remove()
    assert read_status(path) is None
    status.remove()


@pytest.mark.parametrize("content", [b"not json", b"[1, 2]", b'{"ifname": "ppp0"}'])
def test_garbage_is_a_clear_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "ppp0.json"
    path.write_bytes(content)
    with pytest.raises(LinkError, match="not a pppos state file"):
        read_status(path)


def test_pid_alive() -> None:
    assert pid_alive(os.getpid())
    assert not pid_alive(0)
    assert not pid_alive(2**22 + 12345)


def test_format_status_lines() -> None:
    state = {
        "ifname": "ppp0", "pid": 42, "backend": "python", "phase": "running", "port": "/dev/ttyUSB0",
        "local_ip": "10.0.2.15", "peer_ip": "10.0.2.2", "mtu": 1500, "dns": ["10.0.2.3"],
        "dns_method": "resolv.conf", "up_since": 1000.0, "bytes_in": 2048, "bytes_out": 10,
        "packets_in": 3, "packets_out": 1, "echo_rtt": 0.0421, "bad_frames": 2,
        "signal": {"dbm": -73, "word": "good"}, "last_failure": "peer terminated the link",
    }
    text = format_status(state, now=1065.0)
    assert "phase: running" in text
    assert "addresses: 10.0.2.15 peer 10.0.2.2 mtu 1500" in text
    assert "dns: 10.0.2.3 (resolv.conf)" in text
    assert "uptime: 65 s" in text
    assert "received: 2.0 KiB in 3 packets; sent: 10 B in 1 packets" in text
    assert "lcp echo rtt: 42 ms" in text
    assert "bad frames: 2" in text
    assert "signal: -73 dBm (good)" in text
    assert "last failure: peer terminated the link" in text
    assert format_status({"ifname": "ppp0", "pid": 1, "phase": "establish"}, 0).splitlines()[1] == "phase: establish"


def test_format_status_shows_the_network_and_lte_signal() -> None:
    """Issue 12: operator with MCC/MNC, technology, LAC/TAC and cell id, RSRP/RSRQ from the bring-up."""
    from pppos.at.bringup import ModemInfo

    info = ModemInfo(operator="Telekom.de", operator_code="26201", technology="LTE", area="1A2B", cell="1C3D4E5",
                     signal_dbm=-73, signal="good", rsrp_dbm=-95.0, rsrq_db=-10.5)
    state = {
        "ifname": "ppp0", "pid": 42, "phase": "running",
        "signal": {"dbm": -73, "word": "good", "rsrp_dbm": info.rsrp_dbm, "rsrq_db": info.rsrq_db},
        "network": {"text": info.network_text},
    }
    text = format_status(state, now=0.0)
    assert "signal: -73 dBm (good); RSRP -95 dBm, RSRQ -10.5 dB" in text
    assert "network: Telekom.de (262/01), LTE, TAC 1A2B, cell 1C3D4E5" in text
