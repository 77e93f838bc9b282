"""The options of ``pppos-up``: command line, INI file and environment merged into one model.

Every option is declared once, as a field of :class:`UpOptions` whose ``metadata["opt"]`` is an
:class:`Opt`: its type, default, help text, flag and INI key all come from that one declaration.
:func:`build_up_parser` makes the argparse flags from it, :func:`load_config_file` the INI keys, and
:func:`parse_up_args` fills the field. :meth:`UpOptions.bringup_config` is the one mapping from these
options to the AT bring-up (both backends use it).

Precedence, lowest first: built-in defaults, the ``--call NAME`` peer file
(``/etc/pppos/peers/NAME.conf``, or ``$PPPOS_PEERS_DIR``), the ``--config FILE`` INI file (section
``[pppos]`` in both), the environment (``PPPOS_PASSWORD``, ``PPPOS_PIN``), the command line. Secrets
never come from the command line unless the user insists (``--password``/``--pin``, with a warning:
the process list shows them to every local user), and a config file holding a secret must not be
readable by others (the rule pppd applies to ``/etc/ppp/*-secrets``). :class:`UpOptions` keeps secrets
out of its ``repr``.

INI keys are the long option names without the leading dashes (``apn = internet``, ``default-route =
yes``, ``dns = 192.0.2.53 192.0.2.54``, ``password-file = /etc/pppos/password``; ``_`` may stand for
``-``); an unknown key is an error, so a typo never silently does nothing.
"""

from __future__ import annotations

import argparse
import configparser
import ipaddress
import math
import os
import re
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import Field, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pppos.at.profiles import PROFILES, profile_help
from pppos.cli.common import ArgumentParser, read_secret_file
from pppos.errors import ConfigError
from pppos.ppp.limits import DEFAULT_MRU, MAX_MRU, MIN_MRU
from pppos.session import MIN_UP

if TYPE_CHECKING:
    from pppos.accounting import DataCap
    from pppos.at.bringup import BringupConfig

__all__ = [
    "BACKENDS",
    "DEFAULT_PEERS_DIR",
    "Opt",
    "UpOptions",
    "build_up_parser",
    "ini_keys",
    "interface_of",
    "load_config_file",
    "option_table",
    "parse_up_args",
    "peer_file",
    "peers_dir",
]

BACKENDS = ("auto", "python", "pppd")
LOG_FORMATS = ("text", "json")
#: Where ``--call NAME`` finds ``NAME.conf`` (pppd's is /etc/ppp/peers); ``$PPPOS_PEERS_DIR`` overrides.
DEFAULT_PEERS_DIR = "/etc/pppos/peers"
_APN_RE = re.compile(r"^[A-Za-z0-9.\-_]{0,100}$")
_PEER_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,63}$")


@dataclass(frozen=True, slots=True)
class Secret:
    """How a secret option is read: ``--NAME-file`` (and INI ``NAME-file``), ``$env``, ``--NAME``."""

    #: the environment variable that may hold it
    env: str
    #: the word used in messages ("PIN")
    what: str
    #: the words used in help ("SIM PIN")
    describe: str


@dataclass(frozen=True, slots=True)
class Opt:
    """The declaration of one option (the metadata of its :class:`UpOptions` field)."""

    help: str
    #: how the command line and the INI file spell a value: str, int, float, bool (a flag), list (repeatable)
    kind: str = "str"
    metavar: str | None = None
    choices: tuple[str, ...] | None = None
    short: str | None = None
    #: a positional argument (the port)
    positional: bool = False
    #: also an INI key (False for --config, --call and the hidden test knobs)
    ini: bool = True
    #: not shown by --help (test knobs)
    hidden: bool = False
    #: a bool that also has a ``--no-NAME`` form (its default is True)
    negatable: bool = False
    #: secrets come from a file, the environment or (warned) the command line
    secret: Secret | None = None
    #: turns the merged raw value (str, int, bool or list of str) into the field's value; raises ConfigError
    convert: Callable[[Any], Any] | None = None

    def flag(self, name: str) -> str:
        return "--" + name.replace("_", "-")


def opt(default: Any, help: str, **kw: Any) -> Any:
    """A :class:`UpOptions` field declared with its option (see :class:`Opt`)."""
    secret = kw.get("secret") is not None
    return field(default=default, repr=not secret, metadata={"opt": Opt(help, **kw)})


def _parse_lcp_echo(text: str) -> tuple[float, int] | None:
    text = str(text)
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


def _parse_data_cap(text: str) -> DataCap:
    from pppos.accounting import parse_data_cap

    return parse_data_cap(text)


def _parse_reset_command(text: str) -> tuple[str, ...]:
    try:
        argv = shlex.split(str(text))
    except ValueError as exc:
        raise ConfigError(f"--reset-command: {exc}") from None
    if not argv:
        raise ConfigError("--reset-command is empty")
    return tuple(argv)


def _parse_dns(values: list[str]) -> tuple[str, ...]:
    checked: list[str] = []
    for addr in values or []:
        try:
            checked.append(str(ipaddress.ip_address(addr)))
        except ValueError:
            raise ConfigError(f"--dns {addr!r} is not an IP address") from None
    return tuple(checked)


@dataclass(slots=True, kw_only=True)
class UpOptions:
    """Everything ``pppos-up`` needs, validated. Secrets are excluded from ``repr``.

    The fields with an ``opt(...)`` declaration are the options, in ``--help`` order.
    """

    port: str = opt("", "serial port: a device path or any pyserial URL (socket://host:port)", positional=True)
    baud: int = opt(115200, "serial speed (default 115200)", kind="int")
    apn: str | None = opt(None, "access point name for the PDP context")
    user: str | None = opt(None, "PPP user name (PAP/CHAP)")
    password: str | None = opt(None, "", secret=Secret("PPPOS_PASSWORD", "password", "PPP password"))
    pin: str | None = opt(None, "", secret=Secret("PPPOS_PIN", "PIN", "SIM PIN"))
    profile: str | None = opt(
        None, "modem profile: " + profile_help() + "; default: auto (detect)", choices=("auto", *PROFILES)
    )
    ifname: str = opt("ppp0", "interface name (default ppp0)")
    #: The address we give the peer if it asks us for one (its Configure-Request carries 0.0.0.0).
    peer_ip: str = opt("10.64.64.64", "address to give a peer that asks for one (default 10.64.64.64)")
    default_route: bool = opt(False, "add a default route via the link", kind="bool")
    route_metric: int = opt(0, "metric of that default route (default 0)", kind="int")
    usepeerdns: bool = opt(False, "use the name servers the peer announces", kind="bool")
    dns: tuple[str, ...] = opt((), "name server when the peer gives none (repeatable)", kind="list",
                               convert=_parse_dns)
    mtu: int | None = opt(None, f"MRU/MTU to ask for, {MIN_MRU}..{MAX_MRU} (default {DEFAULT_MRU})", kind="int")
    #: Run IPv6CP (RFC 5072); ``--no-ipv6`` keeps the link IPv4-only.
    ipv6: bool = opt(True, "negotiate IPv6 (IPv6CP) besides IPv4 (default; --no-ipv6: IPv4 only)", kind="bool",
                     negatable=True)
    #: How long the bring-up waits for the modem to register (27.007 7.2/10.1.19/10.1.22) before it
    #: gives up with "the modem did not register" (exit 5).
    registration_timeout: float = opt(60.0, "how long to wait for the modem to register (default 60 s)",
                                      kind="float", metavar="S")
    #: (interval seconds, failures) for LCP Echo-Request keepalives (RFC 1661 section 5.8); None = off.
    lcp_echo: tuple[float, int] | None = opt((30.0, 4), "LCP echo keepalive (default 30,4; 'off')",
                                             metavar="INTERVAL,FAILURES", convert=_parse_lcp_echo)
    pcap: str | None = opt(None, "write every PPP frame to a pcap file (LINKTYPE_PPP_WITH_DIR; mode 600, "
                           "PAP password and CHAP response masked)", metavar="FILE")
    #: Keep PAP passwords and CHAP responses in clear in the pcap (masked with ``*`` by default).
    pcap_secrets: bool = opt(False, "keep the PAP password and the CHAP response in clear in the --pcap file",
                             kind="bool")
    trace: bool = opt(False, "print a pppd-style line per PPP packet", kind="bool")
    #: The INI file that was read (``--config``).
    config: str | None = opt(None, "INI file with these options in a [pppos] section", metavar="FILE", ini=False)
    #: The peer name (``--call NAME``), also the LINKNAME of hooks.
    call: str | None = opt(None, "read the options from the peer file NAME.conf in /etc/pppos/peers "
                           "(as pppd's call)", metavar="NAME", ini=False)
    backend: str = opt("auto", "python (TUN), pppd (kernel PPP) or auto (default)", choices=BACKENDS)
    direct: bool = opt(False, "the port is already a PPP link: skip the AT phase", kind="bool")
    persist: bool = opt(False, "supervise the session: notice a lost call at once, recover and redial",
                        kind="bool")
    #: ``--persist``: consecutive failed attempts before giving up (0: never).
    maxfail: int = opt(0, "with --persist: give up after N consecutive failed attempts (default 0: never)",
                       kind="int", metavar="N")
    #: ``--persist``: the first wait after a failed attempt, doubling (with jitter) up to ``holdoff_max``
    #: per consecutive failure. A session that stayed up ``pppos.session.MIN_UP`` (10 s) redials at once
    #: (pppd instead skips its holdoff after any modem hang-up, however short the call: see pppos.session).
    holdoff: float = opt(1.0, "with --persist: wait before retrying a failed attempt (default 1 s, doubling "
                              f"with jitter per consecutive failure); a session that stayed up {MIN_UP:g} s "
                              "redials at once (with --backend pppd: pppd's own rule)",
                         kind="float", metavar="S")
    holdoff_max: float = opt(300.0, "with --persist: longest wait between attempts (default 300 s)",
                             kind="float", metavar="S")
    #: ``--persist``: seconds to wait for a vanished port (None: forever).
    port_wait: float | None = opt(None, "with --persist: how long to wait for a vanished port (default: forever)",
                                  kind="float", metavar="S")
    #: The user's power-cycle hook as an argv (run without a shell), the recovery ladder's last resort.
    reset_command: tuple[str, ...] | None = opt(
        None, "with --persist: power-cycle hook (uhubctl, a GPIO toggle) run without a shell when the modem "
        "does not recover by itself", metavar="CMD", convert=_parse_reset_command)
    #: Show the generated pppd configuration (secrets masked) and exit (``--backend pppd``).
    print_config: bool = opt(False, "show the files the pppd backend would generate (secrets masked) and exit",
                             kind="bool")
    #: Write the peer file and the systemd units for this peer name, then exit (:mod:`pppos.service`).
    install_service: str | None = opt(None, "write /etc/pppos/peers/NAME.conf (mode 600) from these options and "
                                      "the units pppos@.service and blynk-client@.service, then exit",
                                      metavar="NAME", ini=False)
    quiet: bool = opt(False, "no progress lines, only errors", kind="bool", short="-q")
    log_format: str = opt("text", "progress as text (default) or JSON lines", choices=LOG_FORMATS)
    #: Run after /etc/pppos/ip-up.d/ when the link is up (:mod:`pppos.hooks`; no shell).
    ip_up: str | None = opt(None, "command to run when the link is up, after /etc/pppos/ip-up.d/ (no shell; "
                            "pppd's arguments and variables)", metavar="CMD")
    #: Run after /etc/pppos/ip-down.d/ when the link goes down.
    ip_down: str | None = opt(None, "command to run when the link goes down, after /etc/pppos/ip-down.d/",
                              metavar="CMD")
    #: Stop the link when this SIM's traffic of the period reaches the cap (:mod:`pppos.accounting`):
    #: exit 15, or with ``--persist`` hold without dialling until the period rolls over.
    data_cap: DataCap | None = opt(  # noqa: RUF009 - opt() is field() with the option's declaration
        None, "stop at this much traffic per SIM (in+out) per UTC month or day, warn at 90 %%: e.g. 2G/month "
              "or 500M/day; exit 15, or with --persist hold until the next period",
        metavar="BYTES[/month]", convert=_parse_data_cap)
    #: Write a Prometheus textfile (node_exporter's textfile collector) with the link's health.
    metrics_file: str | None = opt(None, "write link metrics to this Prometheus textfile (atomically)",
                                   metavar="PATH")
    #: Hidden: the resolver file to manage (tests; also ``$PPPOS_RESOLV_CONF``).
    resolv_conf: str | None = opt(None, "", hidden=True, ini=False)
    #: Hidden: the run directory (tests; also ``$PPPOS_RUN_DIR``).
    run_dir: str | None = opt(None, "", hidden=True, ini=False)
    #: Things the user should hear about (insecure choices), printed by the CLI.
    warnings: list[str] = field(default_factory=list)

    def resolved_backend(self) -> str:
        """``auto`` becomes ``pppd`` only where ``/dev/ppp`` and pppd both exist, else ``python``."""
        if self.backend != "auto":
            return self.backend
        from pppos.backends.pppd import backend_available

        return "pppd" if backend_available() else "python"

    def bringup_config(self, **overrides: Any) -> BringupConfig:
        """The AT bring-up these options ask for (the one mapping; both backends use it)."""
        from pppos.at.bringup import BringupConfig

        values: dict[str, Any] = {
            "profile": self.profile or "auto",
            "baud": self.baud,
            "pin": self.pin,
            "apn": self.apn,
            "user": self.user,
            "password": self.password,
            "registration_timeout": self.registration_timeout,
        }
        # SIM safety: never resend a PIN a SIM refused; remember each refusal (pppos.pinguard).
        from pppos.pinguard import bringup_fields

        values.update(bringup_fields(self.pin))
        values.update(overrides)
        names = {f.name for f in fields(BringupConfig)}
        return BringupConfig(**{k: v for k, v in values.items() if k in names and v is not None})


def option_table() -> tuple[tuple[Field[Any], Opt], ...]:
    """Every declared option: its :class:`UpOptions` field and its :class:`Opt`, in ``--help`` order."""
    return tuple((f, f.metadata["opt"]) for f in fields(UpOptions) if "opt" in f.metadata)


def ini_keys() -> dict[str, tuple[str, Opt]]:
    """INI key -> (argparse destination, declaration); secrets add their ``-file`` key."""
    keys: dict[str, tuple[str, Opt]] = {}
    for f, o in option_table():
        if not o.ini:
            continue
        key = f.name.replace("_", "-")
        keys[key] = (f.name, o)
        if o.secret is not None:
            keys[f"{key}-file"] = (f"{f.name}_file", o)
    return keys


def build_up_parser() -> ArgumentParser:
    """The ``pppos-up`` argument parser. Defaults are suppressed so the INI file can fill them."""
    p = ArgumentParser(
        prog="pppos-up",
        description="Bring a modem up and run PPP over it; the IP link appears as a TUN interface (ppp0).",
        argument_default=argparse.SUPPRESS,
    )
    for f, o in option_table():
        flag = o.flag(f.name)
        if o.positional:
            p.add_argument(f.name, nargs="?", help=o.help)
            continue
        if o.secret is not None:
            s = o.secret
            p.add_argument(f"{flag}-file", help=f"file holding the {s.describe} (mode 600); or set {s.env}")
            p.add_argument(flag, help=f"the {s.describe} on the command line (insecure: shows in ps)")
            continue
        names = [o.short, flag] if o.short else [flag]
        kw: dict[str, Any] = {"help": argparse.SUPPRESS if o.hidden else o.help}
        if o.metavar:
            kw["metavar"] = o.metavar
        if o.choices:
            kw["choices"] = o.choices
        if o.kind == "bool":
            kw["action"] = argparse.BooleanOptionalAction if o.negatable else "store_true"
        elif o.kind == "int":
            kw["type"] = int
        elif o.kind == "float":
            kw["type"] = float
        elif o.kind == "list":
            kw["action"] = "append"
        p.add_argument(*names, **kw)
    return p


def _bool(value: str, key: str) -> bool:
    v = value.strip().lower()
    if v in {"1", "yes", "true", "on"}:
        return True
    if v in {"0", "no", "false", "off"}:
        return False
    raise ConfigError(f"config key {key}: expected yes or no, got {value!r}")


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
    table = ini_keys()
    out: dict[str, Any] = {}
    for raw_key, value in parser.items("pppos"):
        key = raw_key.replace("_", "-")
        entry = table.get(key)
        if entry is None:
            raise ConfigError(f"config file {path}: unknown key {raw_key!r}")
        name, o = entry
        if o.secret is not None and not name.endswith("_file") and st.st_mode & 0o077:
            raise ConfigError(
                f"config file {path} holds a {key} but is readable by others "
                f"(mode {st.st_mode & 0o777:o}); run: chmod 600 {path}"
            )
        kind = "str" if name.endswith("_file") else o.kind
        if kind == "int":
            try:
                out[name] = int(value)
            except ValueError:
                raise ConfigError(f"config file {path}: {key} must be a number, got {value!r}") from None
        elif kind == "float":
            try:
                out[name] = float(value)
            except ValueError:
                raise ConfigError(f"config file {path}: {key} must be a number, got {value!r}") from None
        elif kind == "bool":
            out[name] = _bool(value, key)
        elif kind == "list":
            out[name] = [v for v in re.split(r"[\s,]+", value) if v]
        else:
            out[name] = value
    return out


def peers_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The directory of named peers: ``$PPPOS_PEERS_DIR``, else /etc/pppos/peers."""
    env = os.environ if environ is None else environ
    return Path(env.get("PPPOS_PEERS_DIR") or DEFAULT_PEERS_DIR)


def peer_file(name: str, environ: Mapping[str, str] | None = None) -> Path:
    """The file of the named peer ``name`` (``NAME.conf`` in :func:`peers_dir`).

    :raises ConfigError: a name that is not a plain file name, or no such peer.
    """
    if not _PEER_NAME_RE.match(name):
        raise ConfigError(f"peer name {name!r}: use letters, digits, '.', '-' and '_' (no '/')")
    path = peers_dir(environ) / f"{name}.conf"
    if not path.exists():
        raise ConfigError(f"no peer named {name}: {path} does not exist")
    return path


def interface_of(name: str | None, ifname: str | None, environ: Mapping[str, str] | None = None) -> str:
    """The interface ``pppos-down``/``pppos-status`` look at: ``--ifname``, else the named peer's, else ppp0."""
    default = str(UpOptions.__dataclass_fields__["ifname"].default)
    if ifname:
        return ifname
    if name is None:
        return default
    values = load_config_file(str(peer_file(name, environ)))
    return str(values.get("ifname") or default)


def _secret(
    cli: dict[str, Any], merged: dict[str, Any], env: Mapping[str, str], *, key: str, secret: Secret,
    warnings: list[str],
) -> str | None:
    """Pick one secret (and remove its keys from ``merged``); see :func:`parse_up_args` for the order."""
    file_key = f"{key}_file"
    from_file, value = merged.pop(file_key, None), merged.pop(key, None)
    if file_key in cli:
        return read_secret_file(cli[file_key], secret.what)
    if key in cli:
        warnings.append(
            f"--{key} puts the {secret.what} where every local user can see it (ps); "
            f"use --{key}-file or {secret.env}"
        )
        return str(cli[key])
    if env.get(secret.env):
        return str(env[secret.env])
    if from_file is not None:
        return read_secret_file(from_file, secret.what)
    return None if value is None else str(value)


def parse_up_args(argv: Sequence[str], environ: Mapping[str, str] | None = None) -> UpOptions:
    """Parse ``pppos-up`` arguments (plus ``--call``, ``--config`` and the environment) into :class:`UpOptions`.

    :raises ConfigError: any invalid value (one line, no secret in it). argparse's own errors exit
        with :attr:`~pppos.errors.ExitStatus.USAGE`.
    """
    env = os.environ if environ is None else environ
    cli = vars(build_up_parser().parse_args(list(argv)))
    merged: dict[str, Any] = {}
    if "call" in cli:
        merged.update(load_config_file(str(peer_file(cli["call"], env))))
    if "config" in cli:
        merged.update(load_config_file(cli["config"]))
    merged.update(cli)
    warnings: list[str] = []

    if not merged.get("port"):
        raise ConfigError("no serial port given (pppos-up PORT, e.g. /dev/ttyUSB0 or socket://127.0.0.1:7000)")
    opts = UpOptions(warnings=warnings)
    # Secrets, first found wins: command-line file, command-line value (warned), environment,
    # config-file file, config-file value (the config file is then private, checked above).
    for f, o in option_table():
        if o.secret is not None:
            setattr(opts, f.name, _secret(cli, merged, env, key=f.name, secret=o.secret, warnings=warnings))
        elif f.name in merged:
            value = merged.pop(f.name)
            setattr(opts, f.name, o.convert(value) if o.convert is not None else value)
    opts.port = str(opts.port)
    _validate(opts)
    return opts


def _validate(opts: UpOptions) -> None:
    """The checks that involve a field's value range (one line each, never a secret in it)."""
    from pppos.net.tun import validate_ifname

    if opts.pin is not None and not re.fullmatch(r"\d{4,8}", opts.pin):
        raise ConfigError("the SIM PIN must be 4 to 8 digits")
    validate_ifname(opts.ifname)
    try:
        opts.peer_ip = str(ipaddress.IPv4Address(opts.peer_ip))
    except ValueError:
        raise ConfigError(f"--peer-ip {opts.peer_ip!r} is not an IPv4 address") from None
    if opts.baud <= 0 or opts.baud > 4_000_000:
        raise ConfigError(f"--baud {opts.baud} is not a serial speed")
    if opts.apn is not None and not _APN_RE.match(opts.apn):
        raise ConfigError("--apn may hold only letters, digits, '.', '-' and '_' (at most 100)")
    if opts.mtu is not None and not MIN_MRU <= opts.mtu <= MAX_MRU:
        raise ConfigError(f"--mtu {opts.mtu} is outside {MIN_MRU}..{MAX_MRU}")
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
    if not (math.isfinite(opts.registration_timeout) and 1 <= opts.registration_timeout <= 3600):
        raise ConfigError(f"--registration-timeout {opts.registration_timeout:g} is outside 1..3600 seconds")
    if opts.maxfail < 0:
        raise ConfigError(f"--maxfail {opts.maxfail}: give 0 (never give up) or more")
    for name, value in (("--holdoff", opts.holdoff), ("--holdoff-max", opts.holdoff_max)):
        if not (math.isfinite(value) and 0 <= value <= 86400):
            raise ConfigError(f"{name} {value:g} is outside 0..86400 seconds")
    if opts.holdoff_max < opts.holdoff:
        raise ConfigError(f"--holdoff-max {opts.holdoff_max:g} is below --holdoff {opts.holdoff:g}")
    if opts.port_wait is not None and not (math.isfinite(opts.port_wait) and 0 <= opts.port_wait <= 864000):
        raise ConfigError(f"--port-wait {opts.port_wait:g} is outside 0..864000 seconds")
