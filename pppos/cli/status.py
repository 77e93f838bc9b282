"""``pppos-status [--ifname NAME] [--json]``: what the running ``pppos-up`` is doing.

Reads the daemon's state file (:mod:`pppos.net.status`, under ``/run/pppos`` or ``$PPPOS_RUN_DIR``),
after asking the daemon to rewrite it (SIGUSR1) so that the counters are those of this moment.
Exit status 0 when a daemon is running on the interface, :attr:`~pppos.errors.ExitStatus.LINK_LOST`
(9) when none is (or only a stale file from a dead one remains).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence

from pppos.cli.common import ArgumentParser, run_main

PROG = "pppos-status"


def _main(argv: list[str]) -> int:
    from pppos.config import interface_of
    from pppos.errors import ExitStatus, LinkError
    from pppos.net.status import (
        format_status,
        is_pppos_up,
        pid_alive,
        read_fresh_status,
        read_last_failure,
        read_status,
        state_path,
        state_pid,
    )
    from pppos.net.tun import validate_ifname

    p = ArgumentParser(prog=PROG, description="Show the state of the link run by pppos-up.")
    p.add_argument("name", nargs="?", help="a named peer (pppos-up --call NAME): use its interface")
    p.add_argument("--ifname", help="interface (default ppp0, or the named peer's)")
    p.add_argument("--json", action="store_true", help="print the state as one JSON object")
    p.add_argument("--run-dir", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.ifname = interface_of(args.name, args.ifname)
    validate_ifname(args.ifname)
    try:
        state = read_status(state_path(args.ifname, args.run_dir))
    except LinkError as exc:  # a corrupt state file: one line, as "not running"
        if args.json:
            print(json.dumps({"ifname": args.ifname, "phase": "unknown", "running": False, "error": str(exc)}))
        else:
            print(f"{args.ifname}: not running ({exc}; pppos-down removes it)")
        return int(ExitStatus.LINK_LOST)
    running = state is not None and is_pppos_up(state_pid(state))
    if running:
        state = read_fresh_status(state_path(args.ifname, args.run_dir)) or state
    if state is None or not running:
        from pppos.accounting import format_accounting, stored_summaries

        phase = "down" if state is None else "dead"
        last = read_last_failure(args.ifname, args.run_dir)
        data = stored_summaries(time.time())  # byte totals per SIM survive the daemon
        if args.json:
            record: dict[str, object] = {"ifname": args.ifname, "phase": phase, "running": False}
            if last:
                record["last_failure"] = last
            if data:
                record["accounting"] = data
            print(json.dumps(record))
        else:
            if state is None:
                print(f"{args.ifname}: not running (no pppos-up on this interface)")
            else:
                pid = state_pid(state)
                why = "died" if not pid_alive(pid) else "is not a pppos-up: a stale state file"
                print(f"{args.ifname}: not running (pid {pid} {why}; run pppos-down to clean up)")
            if last:
                print(f"last failure: {last}")
            for summary in data:
                print("\n".join(format_accounting(summary)))
        return int(ExitStatus.LINK_LOST)
    if args.json:
        print(json.dumps({**state, "running": True}, sort_keys=True))
    else:
        print(format_status(state, time.time()))
    return int(ExitStatus.SUCCESS)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``pppos-status``."""
    return run_main(PROG, _main, argv)


if __name__ == "__main__":
    sys.exit(main())
