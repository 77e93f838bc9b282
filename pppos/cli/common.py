"""The one place that turns ``pppos`` errors into a one-line message and an exit status.

Every command's ``main(argv=None) -> int`` calls :func:`run_main` with its implementation. A
:class:`~pppos.errors.PpposError` becomes ``<prog>: error: <message>`` on stderr and its
``exit_status``; Ctrl-C becomes status 130; an unexpected exception becomes one line naming the bug
(with the traceback only when ``PPPOS_DEBUG=1``), never a raw traceback for a user.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, TextIO

from pppos.errors import ExitStatus, PpposError


class _HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, except that the ``exit status:`` epilog keeps its one-status-per-line layout."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith("exit status:"):
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


class ArgumentParser(argparse.ArgumentParser):
    """argparse that exits with :attr:`ExitStatus.USAGE` and a one-line error, like every pppos command.

    Every command gets ``--version`` and the table of exit statuses at the end of its ``--help``.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from pppos import __version__
        from pppos.errors import exit_status_help

        kwargs.setdefault("epilog", exit_status_help())
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)
        self.add_argument("--version", action="version", version=f"%(prog)s {__version__}",
                          help="show the version and exit")

    def error(self, message: str) -> NoReturn:
        from pppos.logline import format_line, style

        if style().json:  # --log-format json: this line too is JSON
            line = format_line(self.prog, "error", "fatal", message, {"exit_status": int(ExitStatus.USAGE)})
            self.exit(int(ExitStatus.USAGE), line + "\n")
        self.print_usage(sys.stderr)
        self.exit(int(ExitStatus.USAGE), f"{self.prog}: error: {message}\n")


def run_main(
    prog: str,
    impl: Callable[[list[str]], int],
    argv: Sequence[str] | None = None,
    *,
    stderr: TextIO | None = None,
) -> int:
    """Run ``impl(argv)`` and map the error root to one line and an exit status.

    :param prog: the command name used as the message prefix (``pppos-probe``).
    :param impl: the command body; returns an exit status.
    :param argv: arguments without the program name; ``sys.argv[1:]`` when None.
    """
    err = stderr if stderr is not None else sys.stderr
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        return int(impl(args))
    except SystemExit as exc:
        # argparse's --help and usage errors: return the status instead of raising past main().
        code = exc.code
        if code is None:
            return int(ExitStatus.SUCCESS)
        return code if isinstance(code, int) else int(ExitStatus.USAGE)
    except PpposError as exc:
        from pppos.logline import format_line

        print(format_line(prog, "error", "fatal", str(exc), {"exit_status": int(exc.exit_status)}, stream=err),
              file=err)
        return int(exc.exit_status)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=err)
        return int(ExitStatus.INTERRUPTED)
    except BrokenPipeError:
        # Output went to a closed pipe (``| head``): not an error worth a message.
        return int(ExitStatus.SUCCESS)
    except Exception as exc:  # the last line of defence: one line, never a raw traceback
        if os.environ.get("PPPOS_DEBUG") == "1":
            traceback.print_exc(file=err)
        print(f"{prog}: internal error: {type(exc).__name__}: {exc} (set PPPOS_DEBUG=1 for details)", file=err)
        return int(ExitStatus.ERROR)


def read_secret_file(path: str, what: str) -> str:
    """Read one secret (PIN, password, token) from ``path``: first line, stripped.

    Refuses a file that others can read (mode bits 0o077), as pppd does for its secrets files.
    Neither the secret nor the path appears in an error message: people sometimes type the secret
    itself where the file name belongs, and the message would then show it.
    """
    from pppos.errors import ConfigError

    try:
        st = os.stat(path)
    except OSError as exc:
        raise ConfigError(f"cannot read the {what} file (path not shown): {exc.strerror}") from None
    if st.st_mode & 0o077:
        raise ConfigError(
            f"the {what} file is readable by others (mode {st.st_mode & 0o777:o}); run chmod 600 on it"
        )
    try:
        with open(path, encoding="utf-8") as fh:
            value = fh.readline().strip()
    except OSError as exc:
        raise ConfigError(f"cannot read the {what} file (path not shown): {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"the {what} file is not UTF-8 text") from None
    if not value:
        raise ConfigError(f"the {what} file is empty")
    return value
