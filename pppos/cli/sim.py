"""``pppos-sim``: a simulated GSM/LTE modem on a pty, with slirp as the network-side PPP peer.

    pppos-sim [--profile a7] [--link PATH] [--pin PIN] [--registration home|roaming|denied|searching|slow:S]
              [--network slirp|none] [--baud N] [--fast] [--boot-delay S] [--registration-delay S]
              [--attach-delay S] [--dial-delay S] [--faults FILE] [--seed N]
              [--urc-noise RATE] [--accept-apn APN]... [--pap USER:SECRET_FILE | --chap USER:SECRET_FILE]
              [--stored-profile SETTINGS]
    pppos-sim ctl --link PATH FAULT [ARG]

It prints one line naming the link (``pppos-sim: a7 modem on /tmp/a7 (pty /dev/pts/5), network slirp``)
and serves until SIGTERM or SIGINT, then removes the link and stops slirp. The AT dialect is
documented in :mod:`pppos.sim.modem`, the faults in :mod:`pppos.sim.faults`.

Latencies: the defaults (:data:`LATENCIES`) are those of a real modem in good coverage; ``--fast``
(:data:`FAST_LATENCIES`) shortens them for tests, and each ``--*-delay`` option overrides one.
``--urc-noise RATE`` mixes the profile's real URCs into the line (also between a command's echo and
its answer), ``--accept-apn`` makes the network reject any other APN, and ``--pap`` / ``--chap``
make slirp require that authentication from the host (the secret is read from the file, mode 600).
``--stored-profile V0Q1E1`` starts the modem with that stored profile (V.250 6.2.4-6.2.6: numeric
result codes, quiet, echo; any of the three), as a modem left so by ``AT&W`` or another program; a
reboot (the ``reboot`` fault, a reset command) and ``ATZ`` restore it.

The simulator starts with a modem that is already booted; the boot latency is paid by a reboot (the
``reboot`` fault, ``AT+CFUN=1,1`` or the profile's reset command) and by a USB ``vanish``.

``pppos-sim ctl`` injects one fault into the simulator serving ``--link``. Its errors are one line
with a distinct exit status: 2 for an unknown fault or a bad argument, 3 when no simulator answers on
the link's control socket, 10 when the socket belongs to another user.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pppos.cli.common import ArgumentParser, run_main

if TYPE_CHECKING:
    from pppos.sim.serve import SlirpAuth

PROG = "pppos-sim"

#: Seconds a real modem takes: boot to first AT answer, SIM ready to registered, AT+CGATT=1, dial to
#: CONNECT (a PDP context activation).
LATENCIES = {"boot": 3.0, "registration": 2.0, "attach": 0.5, "dial": 0.5}
#: ``--fast``: the same steps, shortened for tests.
FAST_LATENCIES = {"boot": 0.2, "registration": 0.1, "attach": 0.05, "dial": 0.05}


def build_parser() -> ArgumentParser:
    """The argument parser (also used by the tests)."""
    from pppos.at.profiles import PROFILES, profile_help

    parser = ArgumentParser(prog=PROG, description="Simulate a cellular modem on a pty (slirp is the network side).")
    parser.add_argument(
        "--profile", default="a7", choices=list(PROFILES), help="modem dialect: " + profile_help() + " (default a7)"
    )
    parser.add_argument("--link", type=Path, help="symlink to the pty (default /tmp/pppos-sim-<profile>)")
    parser.add_argument("--pin", help="the SIM needs this PIN (4-8 digits); AT+CPIN? says SIM PIN until it is given")
    parser.add_argument("--puk", default="12345678", help="the SIM's PUK after three wrong PINs (default 12345678)")
    parser.add_argument("--no-sim", action="store_true", help="simulate an empty SIM slot")
    parser.add_argument(
        "--registration",
        default="home",
        metavar="MODE",
        help="home, roaming, denied, searching or slow:SECONDS (searching until then, then home)",
    )
    parser.add_argument("--network", default="slirp", choices=("slirp", "none"), help="the data call's peer")
    parser.add_argument("--baud", type=int, help="pace bytes to this line rate (bits per second, 8N1)")
    parser.add_argument("--apn", default="", help="APN of PDP context 1 at boot (default: empty)")
    parser.add_argument("--signal", type=int, default=24, metavar="CSQ", help="AT+CSQ RSSI 0-31 or 99 (default 24)")
    parser.add_argument("--urc-interval", type=float, metavar="SECONDS", help="repeat the profile's URC this often")
    parser.add_argument("--urc-noise", type=float, default=0.0, metavar="RATE",
                        help="insert the profile's real URCs at random moments, RATE per second on average, "
                        "and before an answer (after its echo) with probability RATE/10 (default 0: none)")
    parser.add_argument("--accept-apn", action="append", default=[], metavar="APN",
                        help="an APN the network accepts (repeatable; default: any non-empty APN); dialing "
                        "another one answers +CME ERROR: 533")
    auth = parser.add_mutually_exclusive_group()
    auth.add_argument("--pap", metavar="USER:SECRET_FILE",
                      help="slirp requires PAP from the host with this user and the secret in SECRET_FILE")
    auth.add_argument("--chap", metavar="USER:SECRET_FILE",
                      help="slirp requires CHAP from the host with this user and the secret in SECRET_FILE")
    parser.add_argument("--stored-profile", default="", metavar="SETTINGS",
                        help="the modem's stored E/Q/V settings, restored at boot, reboot and ATZ, e.g. V0Q1E1 "
                        "(numeric result codes, quiet, echo on; default: factory E1Q0V1)")
    parser.add_argument("--slirp-option", action="append", default=[], metavar="OPT", help="extra slirp option")
    parser.add_argument("--fast", action="store_true", help="short latencies for tests (boot 0.2 s, registration "
                        "0.1 s, attach and dial 0.05 s)")
    for name, seconds in LATENCIES.items():
        parser.add_argument(f"--{name}-delay", type=float, metavar="S",
                            help=f"seconds the {name} takes (default {seconds:g}, --fast {FAST_LATENCIES[name]:g})")
    parser.add_argument("--faults", type=Path, metavar="FILE", help="inject faults on a schedule: lines of "
                        "'SECONDS FAULT [ARG]' (seconds after start)")
    parser.add_argument("--seed", type=int, help="seed of every random choice (line noise), for repeatable runs")
    parser.add_argument("-v", "--verbose", action="store_true", help="log call events to stderr")
    return parser


def build_ctl_parser() -> ArgumentParser:
    """The parser of ``pppos-sim ctl``."""
    from pppos.sim.faults import FAULTS

    lines = "; ".join(f"{name}{' ' + spec.arg if spec.arg else ''}: {spec.help}" for name, spec in FAULTS.items())
    parser = ArgumentParser(prog=f"{PROG} ctl", description="Inject a fault into a running pppos-sim. "
                            f"Faults: {lines}.")
    parser.add_argument("--link", type=Path, required=True, help="the simulator's link path")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for the answer (default 5)")
    parser.add_argument("fault", metavar="FAULT", help=f"one of {', '.join(FAULTS)}")
    parser.add_argument("args", nargs="*", metavar="ARG", help="the fault's argument")
    return parser


def _ctl(argv: list[str]) -> int:
    from pppos.errors import ConfigError
    from pppos.sim.faults import parse_fault, send_fault

    args = build_ctl_parser().parse_args(argv)
    if not args.timeout > 0:
        raise ConfigError("bad --timeout: give a positive number of seconds")
    fault = parse_fault([args.fault, *args.args])
    print(f"{PROG}: {fault}: {send_fault(args.link, fault, timeout=args.timeout)}")
    return 0


def _main(argv: list[str]) -> int:
    from pppos.errors import ConfigError
    from pppos.sim.faults import ScheduledFault, parse_schedule
    from pppos.sim.modem import SimConfig
    from pppos.sim.serve import ServeOptions, serve

    if argv[:1] == ["ctl"]:
        return _ctl(argv[1:])
    args = build_parser().parse_args(argv)
    if args.baud is not None and args.baud <= 0:
        raise ConfigError(f"bad --baud {args.baud}: give a positive line rate such as 115200")
    if not (0 <= args.signal <= 31 or args.signal == 99):
        raise ConfigError(f"bad --signal {args.signal}: use 0-31, or 99 for unknown")
    if args.urc_interval is not None and not args.urc_interval > 0:
        raise ConfigError("bad --urc-interval: give a positive number of seconds")
    if not (math.isfinite(args.urc_noise) and 0 <= args.urc_noise <= 1000):
        raise ConfigError("bad --urc-noise: give URCs per second from 0 to 1000")
    auth = _auth(args.pap, args.chap)
    latency = dict(FAST_LATENCIES if args.fast else LATENCIES)
    for name in LATENCIES:
        value = getattr(args, f"{name}_delay")
        if value is not None:
            if not (math.isfinite(value) and value >= 0):
                raise ConfigError(f"bad --{name}-delay {value}: give a number of seconds >= 0")
            latency[name] = value
    schedule: list[ScheduledFault] = []
    if args.faults is not None:
        try:
            text = args.faults.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read --faults {args.faults}: {getattr(exc, 'strerror', None) or exc}") from None
        schedule = parse_schedule(text, str(args.faults))
    config = SimConfig(
        profile=args.profile,
        pin=args.pin,
        puk=args.puk,
        sim_present=not args.no_sim,
        registration=args.registration,
        baud=args.baud,
        apn=args.apn,
        csq=args.signal,
        urc_interval=args.urc_interval,
        boot_delay=latency["boot"],
        registration_delay=latency["registration"],
        attach_delay=latency["attach"],
        dial_delay=latency["dial"],
        urc_noise=args.urc_noise,
        noise_seed=args.seed if args.seed is not None else 0,
        accept_apns=tuple(args.accept_apn),
        stored_profile=args.stored_profile,
    )
    options = ServeOptions(
        sim=config,
        link=args.link,
        network=args.network,
        slirp_args=tuple(args.slirp_option),
        auth=auth,
        verbose=args.verbose,
        faults=tuple(schedule),
        seed=args.seed,
    )
    return serve(options)


def _auth(pap: str | None, chap: str | None) -> SlirpAuth | None:
    """``--pap USER:SECRET_FILE`` / ``--chap USER:SECRET_FILE`` -> the slirp authentication, or None.

    The secret file is read like every secret file (mode 600 expected); errors name the option,
    never the path or the secret.
    """
    from pppos.cli.common import read_secret_file
    from pppos.errors import ConfigError
    from pppos.sim.serve import SlirpAuth

    for protocol, value in (("pap", pap), ("chap", chap)):
        if value is None:
            continue
        user, sep, path = value.partition(":")
        if not sep or not user or not path:
            raise ConfigError(f"bad --{protocol}: give USER:SECRET_FILE (a file holding the secret)")
        return SlirpAuth(protocol=protocol, user=user, secret=read_secret_file(path, f"--{protocol} secret"))
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``pppos-sim``."""
    return run_main(PROG, _main, argv)


if __name__ == "__main__":
    sys.exit(main())
