"""SIM safety: a PIN the SIM refused is never sent to that SIM again automatically.

A SIM locks itself after three wrong PINs and then needs its PUK; a service restarted in a loop with
a wrong PIN file would get there in three starts. So the driver remembers each refusal under the
state directory (``$PPPOS_STATE_DIR``, else /var/lib/pppos): one file per SIM, named by its ICCID,
holding fingerprints of the PINs it refused. Before a bring-up the driver computes which SIMs refused
*this* PIN (:func:`refused_for`) and the bring-up core (:class:`pppos.at.bringup.BringupConfig`
``pin_refused_for``) stops before sending it to any of them, with exit status 14 and a line that says
what to do. A different PIN is sent (once), so fixing the PIN file is all a user has to do.

The fingerprint is scrypt (RFC 7914) of the PIN with a random per-installation salt kept in the same
directory; the directory is 0700 and its files 0600 (the PIN itself is never written).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import time
from pathlib import Path

__all__ = [
    "DEFAULT_STATE_DIR",
    "bringup_fields",
    "fingerprint",
    "refused_for",
    "remember_pin_refusal",
    "remember_refusal",
    "state_dir",
]

DEFAULT_STATE_DIR = "/var/lib/pppos"
_SALT_FILE = "pin-salt"
_DIR = "pin-refused"
_UNKNOWN = "unknown-iccid"


def state_dir(override: str | None = None) -> Path:
    """pppos's persistent state directory: ``override``, else ``$PPPOS_STATE_DIR``, else /var/lib/pppos."""
    return Path(override or os.environ.get("PPPOS_STATE_DIR") or DEFAULT_STATE_DIR)


def _private_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(OSError):
        os.chmod(path, 0o700)


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically with mode 0600."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _salt(directory: Path, *, create: bool) -> bytes | None:
    path = directory / _SALT_FILE
    try:
        return path.read_bytes()
    except FileNotFoundError:
        if not create:
            return None
    _private_dir(directory)
    _write_private(path, os.urandom(16))
    return path.read_bytes()


def fingerprint(pin: str, salt: bytes) -> str:
    """scrypt(PIN, salt) as hex: a PIN's identity that does not hold the PIN (RFC 7914, N=2^14)."""
    return hashlib.scrypt(pin.encode(), salt=salt, n=1 << 14, r=8, p=1, dklen=16).hex()


def _record_name(iccid: str) -> str:
    return (re.sub(r"[^0-9A-Za-z]", "", iccid) or _UNKNOWN) + ".json"


def record_path(iccid: str, directory: str | None = None) -> Path:
    """The file that remembers the PINs ``iccid`` refused."""
    return state_dir(directory) / _DIR / _record_name(iccid)


def refused_for(pin: str | None, directory: str | None = None) -> frozenset[str]:
    """The ICCIDs (``""`` for a SIM whose ICCID was unknown) that refused ``pin`` before."""
    if pin is None:
        return frozenset()
    base = state_dir(directory)
    try:
        records = sorted((base / _DIR).glob("*.json"))
    except OSError:
        return frozenset()
    if not records:
        return frozenset()
    try:
        salt = _salt(base, create=False)
    except OSError:
        return frozenset()
    if salt is None:
        return frozenset()
    mine = fingerprint(pin, salt)
    out: set[str] = set()
    for path in records:
        try:
            data = json.loads(path.read_bytes())
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and mine in data.get("refused", []):
            out.add(str(data.get("iccid", "")))
    return frozenset(out)


def remember_refusal(pin: str, iccid: str, directory: str | None = None) -> Path | None:
    """Record that the SIM ``iccid`` refused ``pin``; returns the record, or None when it cannot be written."""
    base = state_dir(directory)
    try:
        salt = _salt(base, create=True)
        assert salt is not None
        _private_dir(base / _DIR)
        path = base / _DIR / _record_name(iccid)
        try:
            data = json.loads(path.read_bytes())
        except (OSError, ValueError):
            data = {}
        refused = [str(x) for x in data.get("refused", [])] if isinstance(data, dict) else []
        mark = fingerprint(pin, salt)
        if mark not in refused:
            refused.append(mark)
        record = {"iccid": iccid, "refused": refused, "last": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        _write_private(path, (json.dumps(record, sort_keys=True) + "\n").encode())
        return path
    except OSError:
        return None


def bringup_fields(pin: str | None) -> dict[str, frozenset[str]]:
    """The :class:`~pppos.at.bringup.BringupConfig` field that makes a bring-up with ``pin`` safe:
    ``pin_refused_for``, the SIMs that refused this PIN before (read now). Empty without a PIN.
    Each driver records a new refusal when the bring-up reports :class:`~pppos.at.bringup.PinRefused`
    (:func:`remember_refusal`)."""
    if pin is None:
        return {}
    return {"pin_refused_for": refused_for(pin)}


def remember_pin_refusal(pin: str | None, iccid: str) -> None:
    """A driver's answer to :class:`~pppos.at.bringup.PinRefused`: record the refusal of ``pin`` (if one
    was sent) for the SIM ``iccid``. Best effort: a state directory that cannot be written is no reason
    to fail the run, whose verdict already says the PIN was refused."""
    if pin is not None:
        remember_refusal(pin, iccid)
