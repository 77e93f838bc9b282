"""The options of ``pppos-up``: command line, INI file and environment merged into one model.

Precedence, lowest first: built-in defaults, the ``--config FILE`` INI file (section ``[pppos]``),
the environment (``PPPOS_PASSWORD``, ``PPPOS_PIN``), the command line. Secrets never come from the
command line unless the user insists (``--password``/``--pin``, with a warning: the process list shows
them to every local user), and a config file holding a secret must not be readable by others (the
rule pppd applies to ``/etc/ppp/*-secrets``). :class:`UpOptions` keeps secrets out of its ``repr``.

INI keys are the long option names without dashes' prefix (``apn = internet``, ``default-route =
yes``, ``dns = 192.0.2.53 192.0.2.54``, ``password-file = /etc/pppos/password``); an unknown key is
an error, so a typo never silently does nothing.
"""

from __future__ import annotations

import argparse
import configparser
import ipaddress
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from pppos.at.profiles import PROFILES, profile_help
from pppos.cli.common import ArgumentParser, read_secret_file
from pppos.errors import ConfigError

__all__ = ["BACKENDS", "UpOptions", "build_up_parser", "load_config_file", "parse_up_args"]

BACKENDS = ("auto", "python", "pppd")
LOG_FORMATS = ("text", "json")
_APN_RE = re.compile(r"^[A-Za-z0-9.\-_]{0,100}$")
_SECRET_KEYS = {"password", "pin"}


@dataclass(slots=True, kw_only=True)
class UpOptions:
    """Everything ``pppos-up`` needs, validated. Secrets are excluded from ``repr``."""

    port: str
    baud: int = 115200
    apn: str | None = None
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    pin: str | None = field(default=None, repr=False)
    profile: str | None = None
    ifname: str = "ppp0"
    #: The address we give the peer if it asks us for one (its Configure-Request carries 0.0.0.0).
    peer_ip: str = "10.64.64.64"
    default_route: bool = False
    route_metric: int = 0
    usepeerdns: bool = False
    dns: tuple[str, ...] = ()
    mtu: int | None = None
    #: (interval seconds, failures) for LCP Echo-Request keepalives (RFC 1661 section 5.8); None = off.
    lcp_echo: tuple[float, int] | None = (30.0, 4)
    pcap: str | None = None
    trace: bool = False
    backend: str = "auto"
    direct: bool = False
    persist: bool = False
    #: Show the generated pppd configuration (secrets masked) and exit (``--backend pppd``).
    print_config: bool = False
    quiet: bool = False
    log_format: str = "text"
    #: Hidden: the resolver file to manage (tests; also ``$PPPOS_RESOLV_CONF``).
    resolv_conf: str | None = None
    #: Hidden: the run directory (tests; also ``$PPPOS_RUN_DIR``).
    run_dir: str | None = None
    #: Things the user should hear about (insecure choices), printed by the CLI.
    warnings: list[str] = field(default_factory=list)

    def resolved_backend(self) -> str:
        """``auto`` becomes ``pppd`` only where ``/dev/ppp`` and pppd both exist, else ``python``."""
        if self.backend != "auto":
            return self.backend
        from pppos.backends.pppd import backend_available

        return "pppd" if backend_available() else "python"


def build_up_parser() -> ArgumentParser:
    """The ``pppos-up`` argument parser. Defaults are suppressed so the INI file can fill them."""
    p = ArgumentParser(
        prog="pppos-up",
        description="Bring a modem up and run PPP over it; the IP link appears as a TUN interface (ppp0).",
        argument_default=argparse.SUPPRESS,
    )
    p.add_argument("port", nargs="?", help="serial port: a device path or any pyserial URL (socket://host:port)")
    p.add_argument("--baud", type=int, help="serial speed (default 115200)")
    p.add_argument("--apn", help="access point name for the PDP context")
    p.add_argument("--user", help="PPP user name (PAP/CHAP)")
    p.add_argument("--password-file", help="file holding the PPP password (mode 600); or set PPPOS_PASSWORD")
    p.add_argument("--password", help="the PPP password on the command line (insecure: shows in ps)")
    p.add_argument("--pin-file", help="file holding the SIM PIN (mode 600); or set PPPOS_PIN")
    p.add_argument("--pin", help="the SIM PIN on the command line (insecure: shows in ps)")
    p.add_argument(
        "--profile", choices=["auto", *PROFILES], help="modem profile: " + profile_help() + "; default: auto (detect)"
    )
    p.add_argument("--ifname", help="interface name (default ppp0)")
    p.add_argument("--peer-ip", help="address to give a peer that asks for one (default 10.64.64.64)")
    p.add_argument("--default-route", action="store_true", help="add a default route via the link")
    p.add_argument("--route-metric", type=int, help="metric of that default route (default 0)")
    p.add_argument("--usepeerdns", action="store_true", help="use the name servers the peer announces")
    p.add_argument("--dns", action="append", help="name server when the peer gives none (repeatable)")
    p.add_argument("--mtu", type=int, help="MRU/MTU to ask for (default 1500)")
    p.add_argument("--lcp-echo", metavar="INTERVAL,FAILURES", help="LCP echo keepalive (default 30,4; 'off')")
    p.add_argument("--pcap", metavar="FILE", help="write every PPP frame to a pcap file (LINKTYPE_PPP_WITH_DIR)")
    p.add_argument("--trace", action="store_true", help="print a pppd-style line per PPP packet")
    p.add_argument("--config", metavar="FILE", help="INI file with these options in a [pppos] section")
    p.add_argument("--backend", choices=BACKENDS, help="python (TUN), pppd (kernel PPP) or auto (default)")
    p.add_argument("--direct", action="store_true", help="the port is already a PPP link: skip the AT phase")
    p.add_argument("--persist", action="store_true", help="redial after the link is lost")
    p.add_argument("--print-config", action="store_true",
                   help="show the files the pppd backend would generate (secrets masked) and exit")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines, only errors")
    p.add_argument("--log-format", choices=LOG_FORMATS, help="progress as text (default) or JSON lines")
    p.add_argument("--resolv-conf", help=argparse.SUPPRESS)
    p.add_argument("--run-dir", help=argparse.SUPPRESS)
    return p


def _bool(value: str, key: str) -> bool:
    v = value.strip().lower()
    if v in {"1", "yes", "true", "on"}:
        return True
    if v in {"0", "no", "false", "off"}:
        return False
    raise ConfigError(f"config key {key}: expected yes or no, got {value!r}")


_INI_KEYS: dict[str, str] = {
    "port": "str",
    "baud": "int",
    "apn": "str",
    "user": "str",
    "password": "str",
    "password-file": "str",
    "pin": "str",
    "pin-file": "str",
    "profile": "str",
    "ifname": "str",
    "peer-ip": "str",
    "default-route": "bool",
    "route-metric": "int",
    "usepeerdns": "bool",
    "dns": "list",
    "mtu": "int",
    "lcp-echo": "str",
    "pcap": "str",
    "trace": "bool",
    "backend": "str",
    "direct": "bool",
    "persist": "bool",
    "print_config": "bool",
    "quiet": "bool",
    "log-format": "str",
}


def load_config_file(path: str) -> dict[str, Any]:
    """Read ``[pppos]`` from the INI file ``path`` into argparse-style keys (``default_route``).

    :raises ConfigError: unreadable, malformed, unknown key, or a secret in a file others can read.
    """
    try:
        st = os.stat(path)
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not UTF-8 text") from None
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text, source=path)
    except configparser.Error as exc:
        first = str(exc).splitlines()[0]
        raise ConfigError(f"config file {path}: {first}") from None
    if not parser.has_section("pppos"):
        raise ConfigError(f"config file {path} has no [pppos] section")
    out: dict[str, Any] = {}
    for key, value in parser.items("pppos"):
        kind = _INI_KEYS.get(key)
        if kind is None:
            raise ConfigError(f"config file {path}: unknown key {key!r}")
        if key in _SECRET_KEYS and st.st_mode & 0o077:
            raise ConfigError(
                f"config file {path} holds a {key} but is readable by others "
                f"(mode {st.st_mode & 0o777:o}); run: chmod 600 {path}"
            )
        name = key.replace("-", "_")
        if kind == "int":
            try:
                out[name] = int(value)
            except ValueError:
                raise ConfigError(f"config file {path}: {key} must be a number, got {value!r}") from None
        elif kind == "bool":
            out[name] = _bool(value, key)
        elif kind == "list":
            out[name] = [v for v in re.split(r"[\s,]+", value) if v]
        else:
            out[name] = value
    return out


def _parse_lcp_echo(text: str) -> tuple[float, int] | None:
    if text.strip().lower() in {"off", "0", "none", "no"}:
        return None
    parts = text.split(",")
    try:
        if len(parts) != 2:
            raise ValueError
        interval, failures = float(parts[0]), int(parts[1])
    except ValueError:
        raise ConfigError(f"--lcp-echo wants INTERVAL,FAILURES such as 30,4 (or off), got {text!r}") from None
    if not (0.1 <= interval <= 3600 and 1 <= failures <= 100):
        raise ConfigError(f"--lcp-echo {text}: interval 0.1..3600 s, failures 1..100")
    return interval, failures


def _secret(
    cli: dict[str, Any], merged: dict[str, Any], env: Any, *, key: str, env_key: str, what: str, warnings: list[str]
) -> str | None:
    """Pick one secret (and remove its keys from ``merged``); see :func:`parse_up_args` for the order."""
    file_key = f"{key}_file"
    from_file, value = merged.pop(file_key, None), merged.pop(key, None)
    if file_key in cli:
        return read_secret_file(cli[file_key], what)
    if key in cli:
        warnings.append(
            f"--{key} puts the {what} where every local user can see it (ps); use --{key}-file or {env_key}"
        )
        return str(cli[key])
    if env.get(env_key):
        return str(env[env_key])
    if from_file is not None:
        return read_secret_file(from_file, what)
    return None if value is None else str(value)


def parse_up_args(argv: Sequence[str], environ: dict[str, str] | None = None) -> UpOptions:
    """Parse ``pppos-up`` arguments (plus ``--config`` and the environment) into :class:`UpOptions`.

    :raises ConfigError: any invalid value (one line, no secret in it). argparse's own errors exit
        with :attr:`~pppos.errors.ExitStatus.USAGE`.
    """
    env = os.environ if environ is None else environ
    cli = vars(build_up_parser().parse_args(list(argv)))
    merged: dict[str, Any] = {}
    if "config" in cli:
        merged.update(load_config_file(cli.pop("config")))
    merged.update(cli)
    warnings: list[str] = []

    port = merged.pop("port", None)
    if not port:
        raise ConfigError("no serial port given (pppos-up PORT, e.g. /dev/ttyUSB0 or socket://127.0.0.1:7000)")
    opts = UpOptions(port=str(port), warnings=warnings)

    # Secrets, first found wins: command-line file, command-line value (warned), environment,
    # config-file file, config-file value (the config file is then private, checked above).
    opts.password = _secret(
        cli, merged, env, key="password", env_key="PPPOS_PASSWORD", what="password", warnings=warnings
    )
    opts.pin = _secret(cli, merged, env, key="pin", env_key="PPPOS_PIN", what="PIN", warnings=warnings)
    if opts.pin is not None and not re.fullmatch(r"\d{4,8}", opts.pin):
        raise ConfigError("the SIM PIN must be 4 to 8 digits")

    lcp_echo = merged.pop("lcp_echo", None)
    if lcp_echo is not None:
        opts.lcp_echo = _parse_lcp_echo(str(lcp_echo))
    dns = merged.pop("dns", None) or []
    checked: list[str] = []
    for addr in dns:
        try:
            checked.append(str(ipaddress.ip_address(addr)))
        except ValueError:
            raise ConfigError(f"--dns {addr!r} is not an IP address") from None
    opts.dns = tuple(checked)

    names = {f.name for f in fields(UpOptions)}
    for key, value in merged.items():
        if key not in names:  # pragma: no cover - parser and INI table list only known keys
            raise ConfigError(f"unknown option {key}")
        setattr(opts, key, value)

    from pppos.net.tun import validate_ifname

    validate_ifname(opts.ifname)
    try:
        opts.peer_ip = str(ipaddress.IPv4Address(opts.peer_ip))
    except ValueError:
        raise ConfigError(f"--peer-ip {opts.peer_ip!r} is not an IPv4 address") from None
    if opts.baud <= 0 or opts.baud > 4_000_000:
        raise ConfigError(f"--baud {opts.baud} is not a serial speed")
    if opts.apn is not None and not _APN_RE.match(opts.apn):
        raise ConfigError("--apn may hold only letters, digits, '.', '-' and '_' (at most 100)")
    if opts.mtu is not None and not 128 <= opts.mtu <= 16384:
        raise ConfigError(f"--mtu {opts.mtu} is outside 128..16384")
    if not 0 <= opts.route_metric <= 0xFFFFFFFF:
        raise ConfigError(f"--route-metric {opts.route_metric} is outside 0..4294967295")
    if opts.backend not in BACKENDS:
        raise ConfigError(f"backend {opts.backend!r}: choose one of {', '.join(BACKENDS)}")
    if opts.log_format not in LOG_FORMATS:
        raise ConfigError(f"log-format {opts.log_format!r}: choose text or json")
    if opts.user is not None and ("\n" in opts.user or len(opts.user) > 255):
        raise ConfigError("--user must be one line of at most 255 characters")
    if opts.password is not None and len(opts.password) > 255:
        raise ConfigError("the password is longer than 255 characters (PAP limit)")
    return opts
