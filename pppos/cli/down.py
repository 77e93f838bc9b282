"""``pppos-down [--ifname NAME]``: stop the ``pppos-up`` running on an interface and wait for it.

Sends SIGTERM to the daemon named in the state file (:mod:`pppos.net.status`); the daemon terminates
LCP, hangs the modem up and restores routes and resolver. When the daemon is already dead (killed,
crashed), ``pppos-down`` restores a resolver backup it left behind and removes its state file; the
kernel has already deleted its TUN interface and the routes on it.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Sequence

from pppos.cli.common import ArgumentParser, run_main

PROG = "pppos-down"


def _main(argv: list[str]) -> int:
    from pppos.config import interface_of
    from pppos.errors import ExitStatus, LinkError, PermissionProblem
    from pppos.net.dns import restore_backup
    from pppos.net.status import backup_path, is_pppos_up, pid_alive, read_status, state_path, state_pid
    from pppos.net.tun import validate_ifname

    p = ArgumentParser(prog=PROG, description="Tear down the link run by pppos-up and restore routes and DNS.")
    p.add_argument("name", nargs="?", help="a named peer (pppos-up --call NAME): use its interface")
    p.add_argument("--ifname", help="interface (default ppp0, or the named peer's)")
    p.add_argument("--timeout", type=float, default=20.0, help="seconds to wait for the daemon (default 20)")
    p.add_argument("--run-dir", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.ifname = interface_of(args.name, args.ifname)
    validate_ifname(args.ifname)
    path = state_path(args.ifname, args.run_dir)
    backup = backup_path(args.ifname, args.run_dir)
    try:
        state = read_status(path)
    except LinkError as exc:  # a corrupt state file: nothing to signal, clean up after it
        cleaned = restore_backup(backup)
        path.unlink(missing_ok=True)
        print(f"{PROG}: {exc}; removed it" + (" (resolver restored)" if cleaned else ""), file=sys.stderr)
        return int(ExitStatus.SUCCESS)
    pid = state_pid(state)
    if state is None or not is_pppos_up(pid):
        cleaned = restore_backup(backup)
        if state is not None:
            path.unlink(missing_ok=True)
            why = "had died" if not pid_alive(pid) else "is gone (that pid is now another program)"
            if not pid:
                why = "left a state file naming no pid"
            print(f"{PROG}: pppos-up on {args.ifname} (pid {pid}) {why}; cleaned up after it"
                  + (" (resolver restored)" if cleaned else ""), file=sys.stderr)
            return int(ExitStatus.SUCCESS)
        if cleaned:
            print(f"{PROG}: restored the resolver left changed on {args.ifname}", file=sys.stderr)
            return int(ExitStatus.SUCCESS)
        raise LinkError(f"no pppos-up is running on {args.ifname}")
    try:
        os.kill(pid, signal.SIGTERM)
    except PermissionError:
        raise PermissionProblem(f"not allowed to stop pid {pid} (run as root)") from None
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid) or read_status(path) is None:
            break
        time.sleep(0.05)
    else:
        raise LinkError(f"pppos-up (pid {pid}) did not stop within {args.timeout:g} s")
    # The daemon removes its state file as its last step; wait for the process itself too.
    while pid_alive(pid) and time.monotonic() < deadline:
        if _is_zombie(pid):
            break
        time.sleep(0.05)
    print(f"{PROG}: {args.ifname} is down", file=sys.stderr)
    return int(ExitStatus.SUCCESS)


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``pppos-down``."""
    return run_main(PROG, _main, argv)


if __name__ == "__main__":
    sys.exit(main())
