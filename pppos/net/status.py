"""The daemon's state file: what ``pppos-status`` shows and what ``pppos-down`` acts on (driver).

One JSON file per interface, ``<run dir>/<ifname>.json`` (run dir ``/run/pppos``, or
``$PPPOS_RUN_DIR``), rewritten atomically (temporary file + ``rename``) by the daemon at most about
once a second and at every phase change. Next to it lives the resolver backup
(``<ifname>.resolv-backup``, see :mod:`pppos.net.dns`). Readers never see a half-written file.

Fields (all optional except ``ifname``, ``pid``, ``phase``): ``port``, ``backend``, ``started``
(wall-clock seconds), ``up_since``, ``local_ip``, ``peer_ip``, ``dns``, ``dns_method``, ``mtu``,
``ipv6_local``, ``ipv6_peer``, ``routes`` (exactly those we added), ``bytes_in``, ``bytes_out``,
``packets_in``, ``packets_out``, ``echo_rtt`` (seconds, RFC 1661 section 5.8 Echo-Request/Reply),
``bad_frames`` (RFC 1662 section 4.3 bad FCS and other discarded frames), ``signal``
(``{"dbm": int, "word": str, "at": wall-clock seconds}``, plus ``rsrp_dbm``/``rsrq_db`` on LTE),
``network`` (``{"text": "Telekom.de (262/01), LTE, TAC 1A2B, cell 1C3D4E5", "operator", "mcc",
"mnc", "technology", "area", "cell"}``, from the bring-up), ``last_failure`` (words), ``updated``
(wall-clock seconds). From the session supervisor (:mod:`pppos.session`): ``supervisor`` (the state
in words: ``holdoff 12 s, attempt 3, next: radio off/on``), ``persist``, ``attempts``,
``reconnects``, ``failures`` (consecutive), ``recoveries`` (ladder rungs run, by name),
``echo_failures`` (consecutive unanswered LCP Echo-Requests). For leak checks: ``tasks`` (the daemon's
asyncio task count when the file was written).

Fresh counters: a daemon that names a ``refresh_signal`` (``SIGUSR1``) rewrites the file as soon as it
gets that signal; :func:`read_fresh_status` sends it and waits (briefly) for the new file, so
``pppos-status`` shows the byte counters of the moment it is asked, not of the last periodic write.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import time
from pathlib import Path
from typing import Any

from pppos.errors import LinkError, PermissionProblem
from pppos.portlock import pid_alive

__all__ = [
    "DEFAULT_RUN_DIR",
    "StatusFile",
    "backup_path",
    "format_status",
    "is_pppos_up",
    "last_failure_path",
    "pid_alive",
    "read_fresh_status",
    "read_last_failure",
    "read_status",
    "record_last_failure",
    "run_dir",
    "state_path",
    "state_pid",
]

DEFAULT_RUN_DIR = "/run/pppos"


def run_dir(override: str | None = None) -> Path:
    """The run directory: ``override``, else ``$PPPOS_RUN_DIR``, else /run/pppos."""
    return Path(override or os.environ.get("PPPOS_RUN_DIR") or DEFAULT_RUN_DIR)


def state_path(ifname: str, directory: str | Path | None = None) -> Path:
    """``<run dir>/<ifname>.json``."""
    return run_dir(str(directory) if directory else None) / f"{ifname}.json"


def backup_path(ifname: str, directory: str | Path | None = None) -> Path:
    """``<run dir>/<ifname>.resolv-backup``: the resolver backup of :mod:`pppos.net.dns`."""
    return run_dir(str(directory) if directory else None) / f"{ifname}.resolv-backup"


def record_last_failure(ifname: str, directory: str | Path | None, failure: str | None) -> None:
    """Keep a run's failure for ``pppos-status`` after it is gone, or remove the old one after a clean
    run (both backends call this at exit; best effort)."""
    path = last_failure_path(ifname, directory)
    with contextlib.suppress(OSError):
        if failure:
            path.write_text(json.dumps({"ifname": ifname, "last_failure": failure, "ended": time.time()}) + "\n")
        else:
            path.unlink(missing_ok=True)


def last_failure_path(ifname: str, directory: str | Path | None = None) -> Path:
    """``<run dir>/<ifname>.last.json``: why the last session on ``ifname`` ended badly."""
    return run_dir(str(directory) if directory else None) / f"{ifname}.last.json"


def read_last_failure(ifname: str, directory: str | Path | None = None) -> str | None:
    """The last failure recorded for ``ifname`` (words), or None."""
    try:
        data = json.loads(last_failure_path(ifname, directory).read_bytes())
    except (OSError, ValueError):
        return None
    value = data.get("last_failure") if isinstance(data, dict) else None
    return str(value) if value else None


def is_pppos_up(pid: int) -> bool:
    """True when ``pid`` is alive and is a ``pppos-up`` (its /proc/PID/cmdline says so).

    A state file left by a dead daemon can name a pid the kernel has since given to an unrelated
    process; that process must never be signalled or reported as the daemon.
    """
    from pppos.portlock import process_name

    return pid_alive(pid) and process_name(pid) == "pppos-up"


def state_pid(state: dict[str, Any] | None) -> int:
    """The pid a state file names, or 0 when it names none (missing, not a number)."""
    if state is None:
        return 0
    value = state.get("pid")
    if isinstance(value, bool) or not isinstance(value, int | str):
        return 0
    try:
        pid = int(value)
    except ValueError:
        return 0
    return pid if pid > 0 else 0


def read_status(path: Path) -> dict[str, Any] | None:
    """The state in ``path``, or None when there is no such file.

    :raises LinkError: the file exists but is not a pppos state file.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise LinkError(f"cannot read {path}: {exc.strerror}") from None
    try:
        data = json.loads(raw)
    except ValueError:
        raise LinkError(f"{path} is not a pppos state file") from None
    if not isinstance(data, dict) or "phase" not in data:
        raise LinkError(f"{path} is not a pppos state file")
    return data


def read_fresh_status(path: Path, timeout: float = 1.0) -> dict[str, Any] | None:
    """Ask the daemon for a fresh state file (its ``refresh_signal``) and read it; the current file
    if the daemon cannot be asked or does not answer within ``timeout`` seconds."""
    import signal
    import time

    try:
        state = read_status(path)
    except LinkError:
        return None
    if state is None or state.get("refresh_signal") != "SIGUSR1":
        return state
    pid = state_pid(state)
    before = float(state.get("updated", 0.0))
    if pid <= 0:
        return state
    try:
        os.kill(pid, signal.SIGUSR1)
    except OSError:
        return state  # not ours to signal (another user), or gone: show what there is
    deadline = time.monotonic() + timeout
    fresh: dict[str, Any] | None = state
    while time.monotonic() < deadline:
        time.sleep(0.01)
        with contextlib.suppress(LinkError):  # caught mid-rename or corrupt: try again
            fresh = read_status(path)
            if fresh is None or float(fresh.get("updated", 0.0)) > before:
                return fresh
    return fresh


class StatusFile:
    """Writes the state file atomically; :meth:`remove` deletes it at exit."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._tmp = path.with_name(f".{path.name}.tmp")

    def write(self, state: dict[str, Any]) -> None:
        """Replace the file with ``state`` as JSON (temporary file, then rename)."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
            with open(self._tmp, "w", encoding="utf-8") as fh:
                json.dump(state, fh, sort_keys=True)
                fh.write("\n")
            os.replace(self._tmp, self.path)
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
                raise PermissionProblem(f"cannot write the state file {self.path}: {exc.strerror}") from None
            raise LinkError(f"cannot write the state file {self.path}: {exc.strerror}") from None

    def remove(self) -> None:
        """Delete the state file (missing is fine)."""
        for p in (self._tmp, self.path):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(p)


def _human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"  # pragma: no cover


def format_status(state: dict[str, Any], now: float) -> str:
    """The human form of ``pppos-status``: one ``key: value`` line per fact."""
    ifname, pid, backend = state.get("ifname", "?"), state.get("pid", "?"), state.get("backend", "?")
    lines = [f"interface: {ifname} (pid {pid}, backend {backend})"]
    lines.append(f"phase: {state.get('phase', '?')}")
    if state.get("supervisor") and state.get("supervisor") != state.get("phase"):
        lines.append(f"supervisor: {state['supervisor']}")
    if state.get("persist"):
        recoveries = state.get("recoveries") or {}
        done = ", ".join(f"{k} {v}" for k, v in sorted(recoveries.items()))
        lines.append(f"reconnects: {state.get('reconnects', 0)}; attempts: {state.get('attempts', 0)}; "
                     f"consecutive failures: {state.get('failures', 0)}" + (f"; recoveries: {done}" if done else ""))
    if state.get("port"):
        lines.append(f"port: {state['port']}")
    if state.get("local_ip"):
        lines.append(f"addresses: {state['local_ip']} peer {state.get('peer_ip')} mtu {state.get('mtu')}")
    if state.get("ipv6_local"):
        lines.append(f"ipv6: {state['ipv6_local']} peer {state.get('ipv6_peer')}")
    if state.get("dns"):
        lines.append(f"dns: {' '.join(state['dns'])} ({state.get('dns_method', '?')})")
    if state.get("up_since"):
        lines.append(f"uptime: {max(0.0, now - float(state['up_since'])):.0f} s")
    if state.get("started") and state.get("persist"):
        lines.append(f"service uptime: {max(0.0, now - float(state['started'])):.0f} s")
    if "bytes_in" in state:
        lines.append(
            f"received: {_human_bytes(state.get('bytes_in', 0))} in {state.get('packets_in', 0)} packets; "
            f"sent: {_human_bytes(state.get('bytes_out', 0))} in {state.get('packets_out', 0)} packets"
        )
    if state.get("echo_rtt") is not None:
        lines.append(f"lcp echo rtt: {float(state['echo_rtt']) * 1000:.0f} ms")
    if state.get("echo_failures"):
        lines.append(f"unanswered lcp echoes: {state['echo_failures']}")
    if "bad_frames" in state:
        lines.append(f"bad frames: {state['bad_frames']}")
    sig = state.get("signal")
    if isinstance(sig, dict) and sig.get("dbm") is not None:
        age = f", {max(0.0, now - float(sig['at'])):.0f} s ago" if sig.get("at") else ""
        lte = ", ".join(
            f"{name} {sig[key]:g} {unit}"
            for key, name, unit in (("rsrp_dbm", "RSRP", "dBm"), ("rsrq_db", "RSRQ", "dB"))
            if isinstance(sig.get(key), int | float)
        )
        lines.append(f"signal: {sig['dbm']} dBm ({sig.get('word', '?')}{age})" + (f"; {lte}" if lte else ""))
    net = state.get("network")
    if isinstance(net, dict) and net.get("text"):
        lines.append(f"network: {net['text']}")
    if isinstance(state.get("accounting"), dict):
        from pppos.accounting import format_accounting

        lines.extend(format_accounting(state["accounting"]))
    if state.get("last_failure"):
        lines.append(f"last failure: {state['last_failure']}")
    return "\n".join(lines)
