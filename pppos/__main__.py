"""``python -m pppos COMMAND [ARGS]``: the ``pppos-*`` commands without their console scripts.

``python -m pppos up /dev/ttyUSB0 --apn internet`` is ``pppos-up /dev/ttyUSB0 --apn internet``;
the commands are up, down, status, probe, sim and demo. ``python -m pppos --version`` prints the
version.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

from pppos import __version__
from pppos.errors import ExitStatus

COMMANDS = ("up", "down", "status", "probe", "sim", "demo")
_USAGE = f"usage: python -m pppos {{{','.join(COMMANDS)}}} [ARGS...] (each takes --help)"


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``pppos-<argv[0]>`` with the rest of ``argv``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in {"-h", "--help"}:
        print(_USAGE, file=sys.stdout if args else sys.stderr)
        return int(ExitStatus.SUCCESS if args else ExitStatus.USAGE)
    if args[0] == "--version":
        print(f"pppos {__version__}")
        return int(ExitStatus.SUCCESS)
    if args[0] not in COMMANDS:
        print(f"pppos: error: unknown command {args[0]!r}\n{_USAGE}", file=sys.stderr)
        return int(ExitStatus.USAGE)
    module = importlib.import_module(f"pppos.cli.{args[0]}")
    return int(module.main(args[1:]))


if __name__ == "__main__":
    sys.exit(main())
