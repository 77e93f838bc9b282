"""``pppos-sim``: a simulated GSM/LTE modem on a pty, with slirp as the network-side PPP peer.

    pppos-sim [--profile a7] [--link PATH] [--pin PIN] [--registration home|roaming|denied|searching|slow:S]
              [--network slirp|none] [--baud N]

It prints one line naming the link (``pppos-sim: a7 modem on /tmp/a7 (pty /dev/pts/5), network slirp``)
and serves until SIGTERM or SIGINT, then removes the link and stops slirp. The AT dialect is
documented in :mod:`pppos.sim.modem`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from pppos.cli.common import ArgumentParser, run_main

PROG = "pppos-sim"


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
    parser.add_argument("--slirp-option", action="append", default=[], metavar="OPT", help="extra slirp option")
    parser.add_argument("-v", "--verbose", action="store_true", help="log call events to stderr")
    return parser


def _main(argv: list[str]) -> int:
    from pppos.errors import ConfigError
    from pppos.sim.modem import SimConfig
    from pppos.sim.serve import ServeOptions, serve

    args = build_parser().parse_args(argv)
    if args.baud is not None and args.baud <= 0:
        raise ConfigError(f"bad --baud {args.baud}: give a positive line rate such as 115200")
    if not (0 <= args.signal <= 31 or args.signal == 99):
        raise ConfigError(f"bad --signal {args.signal}: use 0-31, or 99 for unknown")
    if args.urc_interval is not None and not args.urc_interval > 0:
        raise ConfigError("bad --urc-interval: give a positive number of seconds")
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
    )
    options = ServeOptions(
        sim=config,
        link=args.link,
        network=args.network,
        slirp_args=tuple(args.slirp_option),
        verbose=args.verbose,
    )
    return serve(options)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``pppos-sim``."""
    return run_main(PROG, _main, argv)


if __name__ == "__main__":
    sys.exit(main())
