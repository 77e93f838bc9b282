"""``pppos-up PORT``: bring the modem up, run PPP and put the link on ``ppp0`` (see :mod:`pppos.daemon`).

Options are described by ``pppos-up --help`` and modelled in :mod:`pppos.config`. Exit statuses are
:class:`pppos.errors.ExitStatus`: 2 usage, 3-6 modem verdicts, 7 PPP negotiation, 8 authentication,
9 link lost, 10 permission, 11 missing tool (pyroute2 missing or too old), 14 PIN not sent,
130 interrupted (also listed by ``pppos-up --help``).
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Sequence

from pppos.cli.common import run_main

PROG = "pppos-up"


def _main(argv: list[str]) -> int:
    from pppos.config import parse_up_args
    from pppos.daemon import Reporter, run_daemon
    from pppos.errors import MissingTool
    from pppos.logline import configure

    opts = parse_up_args(argv)
    configure(json_format=opts.log_format == "json")
    reporter = Reporter(prog=PROG, quiet=opts.quiet, json_format=opts.log_format == "json")
    for warning in opts.warnings:
        reporter.warn(warning)
    if opts.install_service is not None:
        from pppos.service import bindir_problem, install_service

        written = install_service(opts, opts.install_service)
        if (problem := bindir_problem()) is not None:
            reporter.warn(problem)
        for path in written:
            print(f"{PROG}: wrote {path}", file=sys.stderr)
        name = opts.install_service
        print(f"{PROG}: now run: systemctl enable --now pppos@{name}   (and blynk-client@{name} once "
              f"/etc/pppos/blynk/{name}.token holds the device token, mode 600)", file=sys.stderr)
        return 0
    backend = opts.resolved_backend()
    if opts.print_config:
        from pppos.backends.pppd import print_up_config

        return int(print_up_config(opts))
    if backend == "pppd":
        try:
            from pppos.backends import pppd
        except ImportError:
            raise MissingTool("the pppd backend is not available in this build; use --backend python") from None
        runner = getattr(pppd, "run_up", None)
        if runner is None:
            raise MissingTool("the pppd backend has no run_up() entry point yet; use --backend python")
        return int(runner(opts, reporter))
    from pppos.net.tun import require_pyroute2

    require_pyroute2()
    return run_daemon(opts, reporter)


def _follows(argv: list[str], flag: str, value: str) -> bool:
    return any(a == flag and b == value for a, b in itertools.pairwise(argv))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``pppos-up``."""
    from pppos.logline import configure

    args = list(sys.argv[1:] if argv is None else argv)
    # The JSON log format covers every line, also an error found while parsing the rest (the
    # config file's log-format is known once parsed: _main sets it then).
    configure(json_format="--log-format=json" in args or _follows(args, "--log-format", "json"))
    try:
        return run_main(PROG, _main, args)
    finally:
        configure(json_format=False)


if __name__ == "__main__":
    sys.exit(main())
