"""``pppos-probe PORT``: ask a modem who it is and whether it could dial, and say what to fix if not.

Runs the bring-up plan (:mod:`pppos.at.bringup`) with ``dial=False`` over the port: sync and
autobaud, identity, SIM, signal, operator, registration (3GPP TS 27.007 7.2 / 10.1.20), attach and
PDP contexts. Exit status 0 when the modem could dial; otherwise the verdict's
:class:`~pppos.errors.ExitStatus` and one line on stderr naming the problem and what to do.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

from pppos.cli.common import ArgumentParser, read_secret_file, run_main
from pppos.errors import ConfigError, ExitStatus, PpposError

PROG = "pppos-probe"


def _parser() -> ArgumentParser:
    from pppos.at.profiles import PROFILES, profile_help

    parser = ArgumentParser(
        prog=PROG,
        description="Probe a GSM/LTE modem: identity, SIM, signal, registration, PDP contexts.",
    )
    parser.add_argument("port", metavar="PORT", help="device path, /dev/serial/by-id/..., or socket://HOST:PORT")
    parser.add_argument("--baud", type=int, default=115200, help="first baud rate to try (default 115200)")
    parser.add_argument(
        "--no-autobaud", action="store_true", help="only try --baud instead of the common rates too"
    )
    pin = parser.add_mutually_exclusive_group()
    pin.add_argument("--pin", help="SIM PIN (visible in ps: prefer --pin-file)")
    pin.add_argument("--pin-file", metavar="FILE", help="file holding the SIM PIN (mode 600)")
    parser.add_argument(
        "--profile",
        default="auto",
        choices=["auto", *PROFILES],
        help="modem profile: " + profile_help() + " (default auto: detect from ATI / AT+CGMM)",
    )
    parser.add_argument("--apn", help="set PDP context 1 to this APN before checking")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--timeout", type=float, default=60.0, metavar="S", help="seconds to wait for registration (default 60)"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="print each step and the AT trace on stderr")
    return parser


def _info_dict(info: Any) -> dict[str, Any]:
    return dict(info.as_dict())


def _text_report(port: str, info: Any) -> str:
    reg = ", ".join(f"{name} {state}" for name, state in info.registration) or "unknown"
    contexts = "; ".join(f'{c.cid} {c.pdp_type} "{c.apn}"' for c in info.contexts) or "none"
    attached = {True: "yes", False: "no", None: "unknown"}[info.attached]
    operator = info.operator or "unknown"
    if info.mcc:
        operator += f" (MCC {info.mcc}, MNC {info.mnc})"
    rows = [
        ("port", f"{port} ({info.baud} baud)" if info.baud else port),
        ("profile", info.profile),
        ("maker", info.manufacturer or "unknown"),
        ("model", info.model or "unknown"),
        ("firmware", info.revision or "unknown"),
        ("IMEI", info.imei or "unknown"),
        ("SIM", info.sim),
        ("operator", operator),
        ("technology", info.technology or "unknown"),
        ("LAC/TAC", info.area or "unknown"),
        ("cell id", info.cell or "unknown"),
        ("signal", info.signal_text),
        ("registration", reg),
        ("attached", attached),
        ("PDP contexts", contexts),
    ]
    return "\n".join(f"{key + ':':<14}{value}" for key, value in rows)


def _probe(argv: list[str]) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse already printed usage or help; keep main() returning a status
        return int(exc.code) if isinstance(exc.code, int) else int(ExitStatus.USAGE)
    if args.timeout <= 0:
        raise ConfigError("--timeout must be a positive number of seconds")
    pin: str | None = None
    if args.pin is not None:
        print(
            f"{PROG}: warning: --pin is visible to other users in ps; prefer --pin-file FILE", file=sys.stderr
        )
        pin = args.pin
    elif args.pin_file is not None:
        pin = read_secret_file(args.pin_file, "PIN")
    if pin is not None and not (pin.isascii() and pin.isdigit() and 4 <= len(pin) <= 8):
        raise ConfigError("a SIM PIN is 4 to 8 digits")

    from pppos.at.bringup import Bringup, BringupConfig, ModemInfo, PinRefused, Progress, Verdict
    from pppos.pinguard import refused_for, remember_pin_refusal
    from pppos.serial_port import open_port, run_blocking

    trace = (lambda line: print(f"  {line}", file=sys.stderr)) if args.verbose else None
    config = BringupConfig(
        profile=args.profile,
        baud=args.baud,
        autobaud=not args.no_autobaud,
        pin=pin,
        apn=args.apn,
        dial=False,
        registration_timeout=args.timeout,
        pin_refused_for=refused_for(pin) if pin is not None else frozenset(),
    )
    plan = Bringup(config, trace=trace)
    infos: list[ModemInfo] = []

    def on_event(event: object) -> None:
        if isinstance(event, ModemInfo):
            infos.append(event)
        elif isinstance(event, PinRefused):
            remember_pin_refusal(pin, event.iccid)
        elif isinstance(event, Progress) and args.verbose:
            print(f"{PROG}: {event.step}: {event.message}", file=sys.stderr)

    import time

    port = open_port(args.port, args.baud)
    try:
        plan.start(time.monotonic())
        # generous: every step has its own timeout; this only bounds a modem that babbles forever
        budget = args.timeout + 300.0
        verdict = run_blocking(
            port,
            plan,
            until=lambda e: isinstance(e, Verdict),
            deadline=time.monotonic() + budget,
            on_event=on_event,
        )
    finally:
        port.close()
    if verdict is None:
        raise PpposError(f"the probe did not finish within {budget:g} s", exit_status=ExitStatus.NO_MODEM)
    info = infos[-1] if infos else plan.info
    if args.json:
        obj = {
            "port": args.port,
            **_info_dict(info),
            "verdict": {
                "ok": verdict.ok,
                "code": verdict.code.value,
                "message": verdict.message,
                "exit_status": int(verdict.exit_status),
            },
        }
        print(json.dumps(obj, sort_keys=False))
    elif verdict.ok or info.baud:
        print(_text_report(args.port, info))
        if verdict.ok:
            print(f"{'verdict:':<14}ok: {verdict.message}")
            if not any(c.apn for c in info.contexts):
                print(f"{'note:':<14}no PDP context has an APN yet: give pppos-up --apn APN (or probe with --apn)")
    if not verdict.ok:
        print(f"{PROG}: {verdict.message}", file=sys.stderr)
    return int(verdict.exit_status)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``pppos-probe``; returns the exit status."""
    return run_main(PROG, _probe, argv)


if __name__ == "__main__":
    sys.exit(main())
