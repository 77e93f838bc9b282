"""Port ownership: the UUCP lock file (pppd's ``lock``), TIOCEXCL, and state files naming a real pppos-up."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pppos.errors import ExitStatus, ModemError
from pppos.net.status import StatusFile, is_pppos_up, state_pid
from pppos.portlock import PortBusy, acquire, lock_path, process_name

TIOCGEXCL = 0x80045440  # linux/asm-generic/ioctls.h: _IOR('T', 0x40, int)


@pytest.fixture
def lock_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "lock"
    d.mkdir()
    monkeypatch.setenv("PPPOS_LOCK_DIR", str(d))
    return d


@pytest.fixture
def fake_up() -> Iterator[subprocess.Popen[bytes]]:
    """A live process whose command line says pppos-up (what /proc shows for the real one)."""
    proc = subprocess.Popen(["bash", "-c", "exec -a pppos-up sleep 120"])
    try:
        for _ in range(200):
            if process_name(proc.pid) == "pppos-up":
                break
            subprocess.run(["sleep", "0.01"], check=False)
        yield proc
    finally:
        proc.kill()
        proc.wait()


@pytest.fixture
def other_process() -> Iterator[subprocess.Popen[bytes]]:
    """A live process that is not a pppos-up (what a recycled pid points to)."""
    proc = subprocess.Popen(["sleep", "120"])
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    return int(done.stdout)


@pytest.fixture
def tty() -> Iterator[str]:
    master, slave = pty.openpty()
    path = os.ttyname(slave)
    os.close(slave)
    try:
        yield path
    finally:
        os.close(master)


def test_lock_file_format_names_and_release(lock_dir: Path, tmp_path: Path, tty: str) -> None:
    link = tmp_path / "modem"
    link.symlink_to(tty)
    # A by-id style symlink and the device itself take the same lock, named as pppd names it.
    assert lock_path(str(link)) == lock_path(tty) == lock_dir / ("LCK.." + tty[5:].replace("/", "_"))
    held = acquire(str(link))
    assert held is not None and held.took_over is None
    assert held.path.read_bytes() == f"{os.getpid():10d}\n".encode()  # HDB UUCP: ten digits and a newline
    held.release()
    assert not held.path.exists()


def test_live_holder_is_refused_with_its_pid(lock_dir: Path, tty: str, fake_up: subprocess.Popen[bytes]) -> None:
    lock_path(tty).write_text(f"{fake_up.pid:10d}\n")
    with pytest.raises(PortBusy) as info:
        acquire(tty)
    assert info.value.pid == fake_up.pid and info.value.exit_status == ExitStatus.NO_MODEM
    assert f"in use by pppos-up (pid {fake_up.pid}" in str(info.value) and "\n" not in str(info.value)
    assert lock_path(tty).read_text().strip() == str(fake_up.pid)  # untouched


@pytest.mark.parametrize("content", ["dead", b"garbage\x00\n", b""])
def test_stale_lock_is_taken_over(lock_dir: Path, tty: str, content: str | bytes) -> None:
    stale = _dead_pid() if content == "dead" else None
    raw = f"{stale:10d}\n".encode() if stale is not None else content
    assert isinstance(raw, bytes)
    lock_path(tty).write_bytes(raw)
    held = acquire(tty)
    assert held is not None and held.took_over == (stale if stale is not None else 0)
    assert held.path.read_text().strip() == str(os.getpid())
    held.release()


def test_release_never_removes_someone_elses_lock(lock_dir: Path, tty: str,
                                                  fake_up: subprocess.Popen[bytes]) -> None:
    held = acquire(tty)
    assert held is not None
    held.path.write_text(f"{fake_up.pid:10d}\n")  # someone took it over meanwhile
    held.release()
    assert held.path.exists()


def test_unwritable_lock_dir_means_no_lock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tty: str) -> None:
    monkeypatch.setenv("PPPOS_LOCK_DIR", str(tmp_path / "missing"))
    assert acquire(tty) is None


def test_open_port_locks_and_sets_tiocexcl(lock_dir: Path, tty: str, fake_up: subprocess.Popen[bytes]) -> None:
    from pppos.serial_port import open_port

    port = open_port(tty)
    try:
        assert lock_path(tty).read_text().strip() == str(os.getpid())
        buf = fcntl.ioctl(port.fileno(), TIOCGEXCL, struct.pack("i", 0))
        assert struct.unpack("i", buf)[0] == 1
    finally:
        port.close()
    assert not lock_path(tty).exists()
    # Held by a live pppos-up: refused before the port is even opened.
    lock_path(tty).write_text(f"{fake_up.pid:10d}\n")
    with pytest.raises(ModemError, match=f"pid {fake_up.pid}"):
        open_port(tty)


def test_state_pid_tolerates_garbage() -> None:
    assert state_pid({"pid": 42}) == 42 and state_pid({"pid": "42"}) == 42
    for bad in ({"pid": "abc"}, {"pid": None}, {}, {"pid": -3}, {"pid": True}, {"pid": [1]}, None):
        assert state_pid(bad) == 0


def test_is_pppos_up_reads_the_command_line(fake_up: subprocess.Popen[bytes],
                                            other_process: subprocess.Popen[bytes]) -> None:
    assert is_pppos_up(fake_up.pid)
    assert not is_pppos_up(other_process.pid) and not is_pppos_up(os.getpid()) and not is_pppos_up(_dead_pid())


def test_down_never_signals_an_unrelated_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str],
                                                 other_process: subprocess.Popen[bytes]) -> None:
    from pppos.cli import down, status

    monkeypatch.setenv("PPPOS_RUN_DIR", str(tmp_path))
    StatusFile(tmp_path / "ppp0.json").write({"ifname": "ppp0", "pid": other_process.pid, "phase": "running"})
    assert status.main([]) == ExitStatus.LINK_LOST
    assert "is not a pppos-up" in capsys.readouterr().out
    assert down.main([]) == ExitStatus.SUCCESS
    assert "now another program" in capsys.readouterr().err
    assert other_process.poll() is None  # still alive: never signalled
    assert not (tmp_path / "ppp0.json").exists()


@pytest.mark.parametrize("content", ['{"ifname": "ppp0", "pid": "abc", "phase": "running"}', "{not json"])
def test_corrupt_state_file_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str], content: str) -> None:
    from pppos.cli import down, status

    monkeypatch.setenv("PPPOS_RUN_DIR", str(tmp_path))
    (tmp_path / "ppp0.json").write_text(content)
    assert status.main([]) == ExitStatus.LINK_LOST
    assert status.main(["--json"]) == ExitStatus.LINK_LOST
    out, err = capsys.readouterr()
    assert "internal error" not in out + err and out.count("\n") == 2
    assert json.loads(out.splitlines()[1])["running"] is False
    assert down.main([]) == ExitStatus.SUCCESS
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error" not in err
    assert not (tmp_path / "ppp0.json").exists()


def test_status_shows_a_real_pppos_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str], fake_up: subprocess.Popen[bytes]) -> None:
    from pppos.cli import status

    monkeypatch.setenv("PPPOS_RUN_DIR", str(tmp_path))
    StatusFile(tmp_path / "ppp0.json").write({"ifname": "ppp0", "pid": fake_up.pid, "phase": "running"})
    assert status.main(["--json"]) == ExitStatus.SUCCESS
    assert json.loads(capsys.readouterr().out)["running"] is True
