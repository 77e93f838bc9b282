"""``python -m blynk_client [ARGS]`` is ``blynk-client [ARGS]``; ``python -m blynk_client server [ARGS]``
is ``blynk-server [ARGS]``. The console scripts enter here too, so that ``--version`` answers on both."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from blynk_client.cli import client_main, server_main


def _version(prog: str, args: list[str]) -> bool:
    if args[:1] != ["--version"]:
        return False
    from pppos import __version__

    print(f"{prog} {__version__}")
    return True


def client(argv: Sequence[str] | None = None) -> int:
    """``blynk-client``: :func:`blynk_client.cli.client_main`, plus ``--version``."""
    args = list(sys.argv[1:] if argv is None else argv)
    return 0 if _version("blynk-client", args) else client_main(args)


def server(argv: Sequence[str] | None = None) -> int:
    """``blynk-server``: :func:`blynk_client.cli.server_main`, plus ``--version``."""
    args = list(sys.argv[1:] if argv is None else argv)
    return 0 if _version("blynk-server", args) else server_main(args)


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch to the client, or to the server when the first argument is ``server``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["server"]:
        return server(args[1:])
    return client(args)


if __name__ == "__main__":
    sys.exit(main())
