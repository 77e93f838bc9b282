"""Name servers learned from IPCP, installed for the link and removed exactly (driver).

IPCP hands us the peer's primary and secondary DNS addresses (RFC 1877 sections 1.1 and 1.3, options
129 and 131). With ``--usepeerdns`` they are installed the way the host resolves names:

- **systemd-resolved running** (its varlink socket ``/run/systemd/resolve/io.systemd.Resolve`` exists
  and ``resolvectl`` is installed): per-link servers with ``resolvectl dns IFNAME ADDR...`` plus the
  catch-all routing domain ``~.``; removed with ``resolvectl revert IFNAME`` (and the kernel forgets
  the link anyway when the interface is deleted).
- **otherwise** ``/etc/resolv.conf`` (or ``$PPPOS_RESOLV_CONF``) is rewritten, after a crash-safe
  backup: a JSON file with a marker next to the daemon's state file records whether the path was a
  regular file (bytes, mode, owner), a symlink (its target) or absent, and what we wrote. Restoring
  puts back exactly that: the same bytes, or the symlink itself (never its target's content). The
  backup is removed only after a successful restore, so ``pppos-down`` or the next ``pppos-up``
  restores a stale one left by a killed daemon.

Addresses the peer leaves out or sends as ``0.0.0.0`` are dropped; when none remain the ``--dns``
addresses are used instead.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import hashlib
import ipaddress
import json
import os
import shutil
import stat
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pppos.errors import ConfigError, LinkError, PermissionProblem

__all__ = [
    "BACKUP_MARKER",
    "DEFAULT_RESOLV_CONF",
    "RESOLVED_SOCKET",
    "DnsManager",
    "choose_servers",
    "render_resolv_conf",
    "resolv_conf_path",
    "resolvectl_commands",
    "resolved_running",
    "restore_backup",
]

DEFAULT_RESOLV_CONF = "/etc/resolv.conf"
RESOLVED_SOCKET = "/run/systemd/resolve/io.systemd.Resolve"
#: First key of every backup file; a file without it is never used to overwrite anything.
BACKUP_MARKER = "pppos-resolv-backup-v1"


def resolv_conf_path(override: str | None = None) -> Path:
    """The resolver file to manage: ``override``, else ``$PPPOS_RESOLV_CONF``, else /etc/resolv.conf."""
    return Path(override or os.environ.get("PPPOS_RESOLV_CONF") or DEFAULT_RESOLV_CONF)


def choose_servers(peer: Iterable[object], fallback: Iterable[str] = ()) -> list[str]:
    """The name servers to install: the peer's valid ones, else ``fallback`` (``--dns``).

    ``0.0.0.0``, unspecified, duplicates and anything that is not an IP address are dropped
    (RFC 1877: a peer that has no server leaves the option out or naks with 0.0.0.0).
    """

    def clean(values: Iterable[object]) -> list[str]:
        out: list[str] = []
        for value in values:
            if value is None:
                continue
            try:
                addr = ipaddress.ip_address(str(value))
            except ValueError:
                continue
            if addr.is_unspecified or str(addr) in out:
                continue
            out.append(str(addr))
        return out

    return clean(peer) or clean(fallback)


def render_resolv_conf(servers: Sequence[str], ifname: str) -> bytes:
    """The resolv.conf we write: a comment naming us, then ``nameserver`` lines (at most 3 are used)."""
    lines = [f"# written by pppos-up for {ifname}; restored by pppos-down", *(f"nameserver {s}" for s in servers)]
    return ("\n".join(lines) + "\n").encode()


def resolved_running(socket_path: str = RESOLVED_SOCKET) -> bool:
    """True when systemd-resolved is running here and ``resolvectl`` can talk to it."""
    try:
        is_socket = stat.S_ISSOCK(os.stat(socket_path).st_mode)
    except OSError:
        return False
    return is_socket and shutil.which("resolvectl") is not None


def resolvectl_commands(ifname: str, servers: Sequence[str]) -> tuple[list[list[str]], list[str]]:
    """The ``resolvectl`` argument lists that install ``servers`` on ``ifname``, and the one that undoes them."""
    install = [["resolvectl", "dns", ifname, *servers], ["resolvectl", "domain", ifname, "~."]]
    return install, ["resolvectl", "revert", ifname]


def _write_atomically(path: Path, data: bytes, mode: int = 0o644, owner: tuple[int, int] | None = None) -> None:
    """Replace ``path`` (a file or a symlink: the link itself is replaced) with ``data``.

    Falls back to rewriting in place when ``path`` is a mount point (a bind-mounted resolv.conf in
    a container cannot be renamed over: EBUSY), or when its directory is read-only but the file is
    not (systemd's ``ProtectSystem=full`` with ``ReadWritePaths=/etc/resolv.conf``, as in
    ``pppos@.service``: no temporary file can be created next to it: EROFS).
    """
    tmp = path.with_name(f".{path.name}.pppos-tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode)
        try:
            os.write(fd, data)
            os.fchmod(fd, mode)
            if owner is not None:
                with contextlib.suppress(OSError):
                    os.fchown(fd, *owner)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        err = exc
        if err.errno in (errno.EBUSY, errno.EXDEV, errno.EROFS) and path.is_file() and not path.is_symlink():
            try:
                with open(path, "r+b") as fh:
                    fh.write(data)
                    fh.truncate()
                return
            except OSError as in_place:
                err = in_place
        if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise PermissionProblem(f"cannot write {path}: {err.strerror} (needs root)") from None
        raise LinkError(f"cannot write {path}: {err.strerror}") from None


def _snapshot(path: Path) -> dict[str, Any]:
    """What ``path`` is now: a symlink (target), a regular file (bytes, mode, owner) or absent."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return {"kind": "absent"}
    if stat.S_ISLNK(st.st_mode):
        return {"kind": "symlink", "target": os.readlink(path)}
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError(f"{path} is not a regular file or a symlink; refusing to manage it")
    data = path.read_bytes()
    return {
        "kind": "file",
        "content": base64.b64encode(data).decode(),
        "mode": stat.S_IMODE(st.st_mode),
        "uid": st.st_uid,
        "gid": st.st_gid,
    }


def restore_backup(backup: Path) -> bool:
    """Restore the resolver file recorded in ``backup`` byte for byte, then delete ``backup``.

    Returns False when there is no backup (nothing to do). A file without the marker is left alone.

    :raises LinkError: the backup is damaged or the restore failed (the backup is kept for a retry).
    """
    try:
        raw = backup.read_bytes()
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise LinkError(f"cannot read resolver backup {backup}: {exc.strerror}") from None
    try:
        record = json.loads(raw)
        if not isinstance(record, dict) or record.get("marker") != BACKUP_MARKER:
            raise ValueError("no marker")
        path = Path(record["path"])
        before = record["before"]
        kind = before["kind"]
    except (ValueError, KeyError, TypeError):
        raise LinkError(f"{backup} is not a pppos resolver backup; left it alone") from None
    try:
        if kind == "file":
            data = base64.b64decode(before["content"])
            _write_atomically(path, data, int(before["mode"]), (int(before["uid"]), int(before["gid"])))
        elif kind == "symlink":
            tmp = path.with_name(f".{path.name}.pppos-link")
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            os.symlink(before["target"], tmp)
            os.replace(tmp, path)
        elif kind == "absent":
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        else:
            raise LinkError(f"{backup}: unknown kind {kind!r}")
    except OSError as exc:
        raise LinkError(f"restoring {path} from {backup} failed: {exc.strerror}") from None
    with contextlib.suppress(FileNotFoundError):
        os.unlink(backup)
    return True


@dataclass(slots=True)
class DnsManager:
    """Installs name servers for one link and removes them again.

    :param ifname: the interface (``ppp0``).
    :param backup_path: where the resolv.conf backup lives (next to the state file).
    :param resolv_conf: the resolver file (see :func:`resolv_conf_path`).
    :param use_resolved: force (True/False) or detect (None) systemd-resolved.
    """

    ifname: str
    backup_path: Path
    resolv_conf: Path
    use_resolved: bool | None = None
    method: str | None = None
    servers: tuple[str, ...] = ()

    def apply(self, servers: Sequence[str]) -> str:
        """Install ``servers``; return the method used (``resolved`` or ``resolv.conf``)."""
        if not servers:
            return "none"
        resolved = resolved_running() if self.use_resolved is None else self.use_resolved
        if resolved:
            install, _ = resolvectl_commands(self.ifname, servers)
            for argv in install:
                proc = subprocess.run(argv, capture_output=True, text=True, timeout=10)
                if proc.returncode != 0:
                    raise LinkError(f"{' '.join(argv[:2])} failed: {proc.stderr.strip()[:200]}")
            self.method, self.servers = "resolved", tuple(servers)
            return "resolved"
        # A stale backup from a killed daemon holds the true original: restore it first.
        restore_backup(self.backup_path)
        before = _snapshot(self.resolv_conf)
        data = render_resolv_conf(servers, self.ifname)
        record = {
            "marker": BACKUP_MARKER,
            "path": str(self.resolv_conf),
            "ifname": self.ifname,
            "before": before,
            "written_sha256": hashlib.sha256(data).hexdigest(),
        }
        self.backup_path.parent.mkdir(parents=True, exist_ok=True)
        _write_atomically(self.backup_path, json.dumps(record).encode(), 0o600)
        mode = int(before.get("mode", 0o644))
        try:
            _write_atomically(self.resolv_conf, data, mode)
        except BaseException:
            restore_backup(self.backup_path)
            raise
        self.method, self.servers = "resolv.conf", tuple(servers)
        return "resolv.conf"

    def restore(self) -> None:
        """Undo :meth:`apply` (safe to call more than once, and when nothing was applied)."""
        method, self.method = self.method, None
        if method == "resolved":
            _, revert = resolvectl_commands(self.ifname, self.servers)
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                subprocess.run(revert, capture_output=True, timeout=10)
            return
        restore_backup(self.backup_path)
