"""Entry points ``blynk-client`` and ``blynk-server`` and the one runner they share.

:func:`run_main` and :class:`ArgumentParser` are written once here: every command of the package
runs through them, so a user mistake is one line and :attr:`ExitStatus.USAGE`, an error is one line
and its exit status, and a traceback appears only with ``BLYNK_DEBUG=1``. ``client_main`` is a thin
lazy import of :mod:`blynk_client.client_cli` (which holds the client command). ``server_main``
runs :class:`blynk_client.server.BlynkServer` (device protocol per ``blynk-protocol.md`` section 3,
HTTP API shaped like blynk.cloud's ``/external/api/``)::

    blynk-server [--host H] [--port N] [--http-port M] [--token T | --token-file F]
                 [--tls-cert C --tls-key K] [--redirect TOKEN=HOST:PORT]

It prints one line naming the ports it listens on (``--port 0`` / ``--http-port 0`` pick free
ports and the line shows the real ones), then serves until SIGINT or SIGTERM. Errors are one line
on stderr with an exit status from :class:`blynk_client.errors.ExitStatus`; tokens never appear
in messages (:func:`blynk_client.errors.redact_token`).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import NoReturn, TextIO

from blynk_client.errors import BlynkError, ExitStatus, UsageError

__all__ = ["ArgumentParser", "client_main", "parse_redirect", "run_main", "server_main"]


class ArgumentParser(argparse.ArgumentParser):
    """argparse that exits with :attr:`ExitStatus.USAGE` and a one-line error."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(int(ExitStatus.USAGE), f"{self.prog}: error: {message}\n")


def run_main(
    prog: str,
    impl: Callable[[list[str]], int],
    argv: Sequence[str] | None = None,
    *,
    stderr: TextIO | None = None,
) -> int:
    """Run ``impl(argv)``; map :class:`BlynkError` to one line and its exit status.

    Ctrl-C gives 130; argparse's exits (``--help``, a usage error) give their status; an
    unexpected exception gives one line naming it (the traceback only with ``BLYNK_DEBUG=1``),
    never a raw traceback.
    """
    err = stderr if stderr is not None else sys.stderr
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        return int(impl(args))
    except BlynkError as exc:
        print(f"{prog}: error: {exc}", file=err)
        return int(exc.exit_status)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=err)
        return int(ExitStatus.INTERRUPTED)
    except BrokenPipeError:
        return int(ExitStatus.SUCCESS)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2, already printed)
        code = exc.code
        if code is None:
            return int(ExitStatus.SUCCESS)
        return code if isinstance(code, int) else int(ExitStatus.USAGE)
    except Exception as exc:  # the last line of defence
        if os.environ.get("BLYNK_DEBUG") == "1":
            traceback.print_exc(file=err)
        print(f"{prog}: internal error: {type(exc).__name__}: {exc} (set BLYNK_DEBUG=1 for details)", file=err)
        return int(ExitStatus.ERROR)


def client_main(argv: Sequence[str] | None = None) -> int:
    """``blynk-client``: see :mod:`blynk_client.client_cli`."""
    from blynk_client.client_cli import main

    return main(argv)


def parse_redirect(text: str) -> tuple[str, str, int]:
    """Parse ``TOKEN=HOST:PORT`` (``[v6addr]:PORT`` too) into (token, host, port)."""
    token, sep, target = text.partition("=")
    host, colon, port_text = target.rpartition(":")
    host = host.strip("[]")
    if not sep or not token or not colon or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise UsageError("--redirect wants TOKEN=HOST:PORT with a port in 1..65535")
    return token, host, int(port_text)


def _server_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="blynk-server",
        description="A local Blynk server: the device protocol (plain or TLS) and a blynk.cloud-style HTTP API.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="device protocol port, 0 = any free port (8080)")
    parser.add_argument("--http-port", type=int, default=None, help="HTTP API port, 0 = any free port (off)")
    tokens = parser.add_mutually_exclusive_group()
    tokens.add_argument("--token", action="append", default=[], help="an accepted auth token (repeatable)")
    tokens.add_argument("--token-file", help="a file with accepted tokens, one per line")
    parser.add_argument("--tls-cert", help="PEM certificate chain: serve the device port over TLS")
    parser.add_argument("--tls-key", help="PEM private key for --tls-cert")
    parser.add_argument(
        "--redirect", action="append", default=[], metavar="TOKEN=HOST:PORT", help="answer TOKEN's login with REDIRECT"
    )
    parser.add_argument("--heartbeat", type=float, default=10.0, help="idle unit before a device names its own (10)")
    parser.add_argument("--login-timeout", type=float, default=5.0, help="seconds to log in (5)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log connections and logins")
    return parser


def _server(argv: list[str]) -> int:
    import asyncio
    import signal

    from blynk_client.server import BlynkServer, check_seconds, load_tls_context, load_tokens

    args = _server_parser().parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        raise UsageError("--tls-cert and --tls-key go together")
    for name in ("port", "http_port"):
        value = getattr(args, name)
        if value is not None and not 0 <= value <= 65535:
            raise UsageError(f"--{name.replace('_', '-')} must be in 0..65535")
    check_seconds("--heartbeat", args.heartbeat)  # finite and positive: nan and inf are refused
    check_seconds("--login-timeout", args.login_timeout)
    if args.token_file:
        token_list = load_tokens(args.token_file)
    else:
        token_list = list(args.token)
        env = os.environ.get("BLYNK_AUTH_TOKEN", "").strip()
        if not token_list and env:
            token_list = [env]
    redirects: dict[str, tuple[str, int]] = {}
    for item in args.redirect:
        token, host, port = parse_redirect(item)
        redirects[token] = (host, port)
    if not token_list and not redirects:
        raise UsageError("give at least one token (--token, --token-file or BLYNK_AUTH_TOKEN)")
    ssl_context = load_tls_context(args.tls_cert, args.tls_key) if args.tls_cert else None
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="blynk-server: %(message)s", stream=sys.stderr
    )
    server = BlynkServer(
        tokens=token_list,
        redirects=redirects,
        host=args.host,
        port=args.port,
        http_port=args.http_port,
        ssl_context=ssl_context,
        heartbeat=args.heartbeat,
        login_timeout=args.login_timeout,
    )

    async def serve() -> None:
        await server.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        http = f", HTTP API on {server.host}:{server.http_port}" if server.http_port is not None else ""
        kind = "TLS" if ssl_context is not None else "plain TCP"
        print(
            f"blynk-server: device protocol on {server.host}:{server.port} ({kind}){http}; "
            f"{len(token_list)} token(s), {len(redirects)} redirect(s)",
            flush=True,
        )
        try:
            await stop.wait()
        finally:
            await server.stop()

    asyncio.run(serve())
    return int(ExitStatus.SUCCESS)


def server_main(argv: Sequence[str] | None = None) -> int:
    """``blynk-server``: run the local Blynk server until SIGINT/SIGTERM."""
    return run_main("blynk-server", _server, argv)


if __name__ == "__main__":
    sys.exit(server_main())
