"""``pppos-up ... --install-service NAME``: turn a working command line into a service.

Writes, like pppd's ``/etc/ppp/peers/NAME`` plus a unit:

- ``/etc/pppos/peers/NAME.conf`` (``$PPPOS_PEERS_DIR``), mode 0600: every option given, in the INI
  form ``--call NAME`` reads (secrets as values: the file is private, and the unit's ``ProtectHome``
  would hide a PIN file under /root anyway);
- ``/etc/systemd/system/pppos@.service`` and ``blynk-client@.service`` (``$PPPOS_SYSTEMD_DIR``), the
  templates shipped in ``pppos/data`` with the directory of the installed commands filled in;
- ``/etc/pppos/blynk/NAME.env`` with the interface for ``blynk-client@NAME``.

Then, when systemd runs and the units went to its directory, ``systemctl daemon-reload``. The
caller prints what to do next (``systemctl enable --now pppos@NAME``).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import fields
from importlib import resources
from pathlib import Path

from pppos.config import UpOptions, option_table, peers_dir
from pppos.errors import ConfigError, PermissionProblem

__all__ = ["DEFAULT_SYSTEMD_DIR", "UNITS", "install_service", "peer_text", "render_unit"]

DEFAULT_SYSTEMD_DIR = "/etc/systemd/system"
UNITS = ("pppos@.service", "blynk-client@.service")
#: options that describe this invocation, not the peer
_NOT_IN_PEER = {"call", "config", "install_service", "print_config", "resolv_conf", "run_dir", "persist"}


def _ini_value(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "off"
    if isinstance(value, tuple) and value and all(isinstance(v, str) for v in value):
        return " ".join(str(v) for v in value)
    if hasattr(value, "limit") and hasattr(value, "period"):  # a DataCap
        return f"{value.limit}/{value.period}"
    if isinstance(value, tuple):  # (interval, failures)
        return ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
    return str(value)


def peer_text(opts: UpOptions, name: str) -> str:
    """The peer file for ``opts``: the options that differ from their defaults, as INI keys."""
    defaults = {f.name: f.default for f in fields(UpOptions)}
    lines = [f"# pppos peer {name}: pppos-up --call {name} (written by pppos-up --install-service)", "[pppos]"]
    for f, _o in option_table():
        if f.name in _NOT_IN_PEER:
            continue
        value = getattr(opts, f.name)
        if value == defaults.get(f.name) or (f.name == "dns" and not value):
            continue
        text = shlex.join(value) if f.name == "reset_command" else _ini_value(value)
        if "\n" in text:
            raise ConfigError(f"{f.name} cannot be written to a peer file")
        lines.append(f"{f.name.replace('_', '-')} = {text}")
    return "\n".join(lines) + "\n"


def _bindir() -> str:
    """Where the installed ``pppos-up`` and ``blynk-client`` live (this interpreter's scripts)."""
    found = shutil.which("pppos-up")
    here = Path(sys.argv[0]).resolve().parent if sys.argv and sys.argv[0] else None
    for candidate in (here, Path(sys.executable).parent, Path(found).parent if found else None):
        if candidate is not None and (candidate / "pppos-up").exists():
            return str(candidate)
    return "/usr/local/bin"


#: What ``ProtectHome=yes`` in the units hides from the service (systemd.exec(5)).
HIDDEN_HOMES = ("/root", "/home", "/run/user")


def bindir_problem(bindir: str | None = None) -> str | None:
    """Why the units cannot start the commands found in ``bindir`` (None when they can).

    The units run with ``ProtectHome=yes``, so an install under a home directory (``pipx`` as root puts
    it in /root/.local) would fail every start with status 203/EXEC."""
    where = Path(bindir or _bindir())
    for home in HIDDEN_HOMES:
        if where.is_relative_to(home):
            return (f"the units will run {where}/pppos-up, but their ProtectHome=yes hides {home}: install "
                    f"pppos outside home directories (e.g. PIPX_HOME=/opt/pipx PIPX_BIN_DIR=/usr/local/bin "
                    f"pipx install ./pppos) and run --install-service with that pppos-up")
    return None


def render_unit(unit: str, bindir: str | None = None) -> str:
    """A shipped unit with ``@BINDIR@`` filled in."""
    text = resources.files("pppos").joinpath("data", unit).read_text(encoding="utf-8")
    return text.replace("@BINDIR@", bindir or _bindir())


def _write(path: Path, text: str, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)
        os.write(fd, text.encode())
    finally:
        os.close(fd)
    os.replace(tmp, path)


def install_service(opts: UpOptions, name: str, *, environ: dict[str, str] | None = None) -> list[Path]:
    """Write the peer file, the units and the Blynk environment file; returns the paths written."""
    env = dict(os.environ if environ is None else environ)
    from pppos.config import _PEER_NAME_RE

    if not _PEER_NAME_RE.match(name):
        raise ConfigError(f"peer name {name!r}: use letters, digits, '.', '-' and '_' (no '/')")
    unit_dir = Path(env.get("PPPOS_SYSTEMD_DIR") or DEFAULT_SYSTEMD_DIR)
    peers = peers_dir(env)
    written: list[Path] = []
    try:
        peer = peers / f"{name}.conf"
        _write(peer, peer_text(opts, name), 0o600)
        written.append(peer)
        for unit in UNITS:
            path = unit_dir / unit
            _write(path, render_unit(unit), 0o644)
            written.append(path)
        blynk_env = peers.parent / "blynk" / f"{name}.env"
        _write(blynk_env, f"BLYNK_INTERFACE={opts.ifname}\n", 0o644)
        written.append(blynk_env)
    except PermissionError as exc:
        raise PermissionProblem(f"cannot write {exc.filename}: run as root") from None
    except OSError as exc:
        raise ConfigError(f"cannot write {exc.filename}: {exc.strerror}") from None
    if str(unit_dir) == DEFAULT_SYSTEMD_DIR and os.path.isdir("/run/systemd/system") and shutil.which("systemctl"):
        subprocess.run(["systemctl", "daemon-reload"], check=False, capture_output=True, timeout=60)
    return written
