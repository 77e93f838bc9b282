"""pppos.net.dns: server choice, resolv.conf backup and byte-for-byte restore (files, symlinks, crashes)."""

from __future__ import annotations

import builtins
import errno
import json
import os
import socket
import stat
from pathlib import Path
from typing import Any

import pytest

from pppos.errors import LinkError, PermissionProblem
from pppos.net.dns import (
    BACKUP_MARKER,
    DnsManager,
    choose_servers,
    render_resolv_conf,
    resolv_conf_path,
    resolvectl_commands,
    resolved_running,
    restore_backup,
)

ORIGINAL = b"# host resolver\nnameserver 192.0.2.53\nsearch example.test\n\xff no trailing newline"


def _manager(tmp_path: Path, resolv: Path) -> DnsManager:
    return DnsManager(ifname="ppp0", backup_path=tmp_path / "run" / "ppp0.resolv-backup", resolv_conf=resolv,
                      use_resolved=False)


def test_choose_servers_drops_zero_and_junk_and_falls_back() -> None:
    assert choose_servers(["10.0.2.3", "0.0.0.0"], ["192.0.2.1"]) == ["10.0.2.3"]
    assert choose_servers(["0.0.0.0", None, "bogus", "0.0.0.0"], ["192.0.2.1", "192.0.2.1"]) == ["192.0.2.1"]
    assert choose_servers([], ["192.0.2.1", "2001:db8::1"]) == ["192.0.2.1", "2001:db8::1"]
    assert choose_servers(["10.0.2.3", "10.0.2.3", "10.0.2.4"]) == ["10.0.2.3", "10.0.2.4"]
    assert choose_servers([], []) == []


def test_render_and_resolvectl_commands() -> None:
    text = render_resolv_conf(["10.0.2.3", "192.0.2.9"], "ppp0").decode()
    assert text.splitlines()[1:] == ["nameserver 10.0.2.3", "nameserver 192.0.2.9"]
    assert text.startswith("#") and text.endswith("\n")
    install, revert = resolvectl_commands("ppp0", ["10.0.2.3"])
    assert install == [["resolvectl", "dns", "ppp0", "10.0.2.3"], ["resolvectl", "domain", "ppp0", "~."]]
    assert revert == ["resolvectl", "revert", "ppp0"]


def test_resolv_conf_path_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PPPOS_RESOLV_CONF", raising=False)
    assert resolv_conf_path() == Path("/etc/resolv.conf")
    monkeypatch.setenv("PPPOS_RESOLV_CONF", "/tmp/x/resolv.conf")
    assert resolv_conf_path() == Path("/tmp/x/resolv.conf")
    assert resolv_conf_path("/tmp/y") == Path("/tmp/y")


def test_resolved_detection_needs_a_socket(tmp_path: Path) -> None:
    plain = tmp_path / "not-a-socket"
    plain.write_text("")
    assert resolved_running(str(tmp_path / "missing")) is False
    assert resolved_running(str(plain)) is False
    sock_path = tmp_path / "io.systemd.Resolve"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(sock_path))
        import shutil

        assert resolved_running(str(sock_path)) is (shutil.which("resolvectl") is not None)


def test_regular_file_is_restored_byte_for_byte_with_mode(tmp_path: Path) -> None:
    resolv = tmp_path / "resolv.conf"
    resolv.write_bytes(ORIGINAL)
    os.chmod(resolv, 0o640)
    mgr = _manager(tmp_path, resolv)
    assert mgr.apply(["10.0.2.3"]) == "resolv.conf"
    assert b"nameserver 10.0.2.3\n" in resolv.read_bytes()
    backup = json.loads(mgr.backup_path.read_bytes())
    assert backup["marker"] == BACKUP_MARKER and backup["before"]["kind"] == "file"
    assert stat.S_IMODE(os.stat(mgr.backup_path).st_mode) == 0o600
    mgr.restore()
    assert resolv.read_bytes() == ORIGINAL
    assert stat.S_IMODE(os.stat(resolv).st_mode) == 0o640
    assert not mgr.backup_path.exists()
    mgr.restore()  # twice is harmless
    assert resolv.read_bytes() == ORIGINAL


def test_symlink_is_restored_as_the_same_symlink_and_target_untouched(tmp_path: Path) -> None:
    target = tmp_path / "stub-resolv.conf"
    target.write_bytes(ORIGINAL)
    resolv = tmp_path / "resolv.conf"
    resolv.symlink_to("stub-resolv.conf")
    mgr = _manager(tmp_path, resolv)
    mgr.apply(["10.0.2.3"])
    assert not resolv.is_symlink() and b"10.0.2.3" in resolv.read_bytes()
    assert target.read_bytes() == ORIGINAL
    mgr.restore()
    assert resolv.is_symlink() and os.readlink(resolv) == "stub-resolv.conf"
    assert target.read_bytes() == ORIGINAL


def test_absent_file_is_absent_again(tmp_path: Path) -> None:
    resolv = tmp_path / "resolv.conf"
    mgr = _manager(tmp_path, resolv)
    mgr.apply(["10.0.2.3"])
    assert resolv.exists()
    mgr.restore()
    assert not resolv.exists()


def test_crash_leaves_a_backup_that_the_next_run_restores_first(tmp_path: Path) -> None:
    resolv = tmp_path / "resolv.conf"
    resolv.write_bytes(ORIGINAL)
    crashed = _manager(tmp_path, resolv)
    crashed.apply(["10.0.2.3"])
    # The daemon is killed here: no restore. The next run must not back up *our* file as "original".
    again = _manager(tmp_path, resolv)
    again.apply(["10.0.2.4"])
    assert b"10.0.2.4" in resolv.read_bytes()
    again.restore()
    assert resolv.read_bytes() == ORIGINAL
    # And pppos-down's path: a stale backup alone is restored by restore_backup().
    _manager(tmp_path, resolv).apply(["10.0.2.3"])
    assert restore_backup(tmp_path / "run" / "ppp0.resolv-backup") is True
    assert resolv.read_bytes() == ORIGINAL
    assert restore_backup(tmp_path / "run" / "ppp0.resolv-backup") is False


def test_a_file_without_the_marker_is_never_used(tmp_path: Path) -> None:
    resolv = tmp_path / "resolv.conf"
    resolv.write_bytes(ORIGINAL)
    fake = tmp_path / "fake-backup"
    fake.write_text(json.dumps({"path": str(resolv), "before": {"kind": "absent"}}))
    with pytest.raises(LinkError, match="not a pppos resolver backup"):
        restore_backup(fake)
    assert resolv.read_bytes() == ORIGINAL and fake.exists()


def test_no_servers_means_no_change(tmp_path: Path) -> None:
    resolv = tmp_path / "resolv.conf"
    resolv.write_bytes(ORIGINAL)
    mgr = _manager(tmp_path, resolv)
    assert mgr.apply([]) == "none"
    assert resolv.read_bytes() == ORIGINAL


def _read_only_dir(monkeypatch: pytest.MonkeyPatch, directory: Path, file_too: bool = False) -> None:
    """``directory`` behaves as a read-only mount (no file can be created in it: EROFS), as /etc under
    systemd's ``ProtectSystem=full``; its files stay writable (``ReadWritePaths=``) unless ``file_too``."""
    real_open = os.open

    def fake_open(path: str | os.PathLike[str], flags: int, *args: int, **kwargs: int) -> int:
        p = Path(path)
        writes = flags & (os.O_WRONLY | os.O_RDWR)
        if p.parent == directory and (p.name.endswith(".pppos-tmp") or (file_too and writes)):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(p))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", fake_open)
    if file_too:
        real_builtin_open = builtins.open

        def fake_builtin_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
            if isinstance(file, (str, Path)) and Path(file).parent == directory and ("+" in mode or "w" in mode):
                raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(file))
            return real_builtin_open(file, mode, *args, **kwargs)

        monkeypatch.setattr(builtins, "open", fake_builtin_open)


def test_read_only_etc_with_a_writable_resolv_conf_is_rewritten_in_place(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    etc = tmp_path / "etc"
    etc.mkdir()
    resolv = etc / "resolv.conf"
    resolv.write_bytes(ORIGINAL)
    inode = resolv.stat().st_ino
    _read_only_dir(monkeypatch, etc)
    mgr = _manager(tmp_path, resolv)
    assert mgr.apply(["10.0.2.3"]) == "resolv.conf"
    assert b"nameserver 10.0.2.3\n" in resolv.read_bytes() and resolv.stat().st_ino == inode
    mgr.restore()
    assert resolv.read_bytes() == ORIGINAL and resolv.stat().st_ino == inode
    assert not mgr.backup_path.exists()


def test_read_only_resolv_conf_is_a_permission_problem_and_left_alone(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    etc = tmp_path / "etc"
    etc.mkdir()
    resolv = etc / "resolv.conf"
    resolv.write_bytes(ORIGINAL)
    _read_only_dir(monkeypatch, etc, file_too=True)
    mgr = _manager(tmp_path, resolv)
    with pytest.raises(PermissionProblem, match=r"cannot write .*resolv\.conf"):
        mgr.apply(["10.0.2.3"])
    assert resolv.read_bytes() == ORIGINAL
