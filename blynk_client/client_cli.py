"""``blynk-client``: talk to a Blynk server as a device from the shell.

::

    blynk-client [--server HOST] [--port N] [--insecure] [--ca-file F] [--interface IFNAME]
                 [--source-address ADDR] [--token-file F] [--heartbeat S] [--coalesce S]
                 [--template-id T] [--firmware VERSION] COMMAND ...

    run [--json]                  stay connected; print each incoming write ("V1 42") and reconnect
    write V0 VALUE [VALUE ...]    one virtual write (HARDWARE vw)
    sync V0 [V1 ...]              print the stored values the server sends back (HARDWARE_SYNC)
    event CODE [DESCRIPTION]      log an event (EVENT_LOG 64)
    resolve CODE [--all]          resolve the latest event CODE, or all of them (EVENT_CLEAR 65)
    property V0 NAME VALUE...     set a widget property (PROPERTY 19)
    ping                          log in and print the round-trip time of a PING

The token comes from ``--token-file`` or ``BLYNK_AUTH_TOKEN``; ``--token`` works but warns (the
process list shows it). ``--template-id`` and ``--firmware`` go into the device info message
(``tmpl``/``fw-type`` and ``fw``, section 3). With ``--interface``, ``run`` waits for the interface
to appear (and to come back), printing one line each time; a one-shot command (an ip-up hook or a
cron job on a flaky link) waits up to ``--timeout`` seconds for it to appear, then connects; if it
never does, one line and status 3.
Exit statuses are :class:`blynk_client.errors.ExitStatus`: 2 usage, 3 cannot connect, 4 TLS
failure, 5 bad token, 6 protocol or session lost, 130 interrupted.
Protocol references: ``blynk-protocol.md`` sections 1 and 3.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import os
import signal
import socket
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TextIO

from blynk_client.cli import ArgumentParser, run_main
from blynk_client.errors import ExitStatus, UsageError

if TYPE_CHECKING:
    from blynk_client.client import BlynkClient
    from blynk_client.offline import Values

PROG = "blynk-client"
log = logging.getLogger("blynk_client.cli")
TOKEN_ENV = "BLYNK_AUTH_TOKEN"  # noqa: S105 - the variable name, not a secret


def build_parser() -> ArgumentParser:
    """Return the ``blynk-client`` argument parser."""
    parser = ArgumentParser(prog=PROG, description="A Blynk device on the command line.")
    parser.add_argument("--server", default="blynk.cloud", help="server host (default blynk.cloud)")
    parser.add_argument("--port", type=int, help="server port (default 443 with TLS, 80 with --insecure)")
    parser.add_argument("--insecure", action="store_true", help="plain TCP, no TLS")
    parser.add_argument("--ca-file", help="PEM file of the CA(s) to trust instead of the system store")
    parser.add_argument("--interface", help="send through this interface only (SO_BINDTODEVICE, e.g. ppp0)")
    parser.add_argument("--source-address", help="bind to this local address before connecting")
    parser.add_argument("--token-file", help=f"file whose first line is the auth token (or set {TOKEN_ENV})")
    parser.add_argument("--token", help=argparse.SUPPRESS)
    parser.add_argument(
        "--timeout", type=float, default=15.0,
        help="connect and login timeout in seconds (default 15); one-shot commands with --interface also "
        "wait this long for the interface to appear",
    )
    parser.add_argument(
        "--heartbeat", type=float, default=45.0, help="heartbeat interval in seconds, announced and kept (45)"
    )
    parser.add_argument("--template-id", help="template id sent in the device info (tmpl, fw-type)")
    parser.add_argument("--firmware", metavar="VERSION", help="firmware version sent in the device info (fw)")
    parser.add_argument(
        "--coalesce", type=float, default=0.005, metavar="SECONDS",
        help="writes within this window share one TCP segment (default 0.005; 0 = off; 0.25 on a metered link: "
        "writes 100 ms apart then share segments)",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log progress to stderr (-vv: debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = sub.add_parser("run", help="stay connected and print incoming writes")
    run.add_argument("--json", action="store_true", help="one JSON object per line")
    run.add_argument("--sync", action="store_true", help="ask for all stored values after each login")

    write = sub.add_parser("write", help="write a virtual pin")
    write.add_argument("pin", help="V0..V255")
    write.add_argument("values", nargs="+", help="one or more values")

    sync = sub.add_parser("sync", help="print the stored values of pins")
    sync.add_argument("pins", nargs="+", help="V0..V255")
    sync.add_argument("--json", action="store_true", help="one JSON object per line")

    event = sub.add_parser("event", help="log an event")
    event.add_argument("code")
    event.add_argument("description", nargs="?")

    resolve = sub.add_parser("resolve", help="resolve an event")
    resolve.add_argument("code")
    resolve.add_argument("--all", action="store_true", help="resolve every open event with this code")

    prop = sub.add_parser("property", help="set a widget property")
    prop.add_argument("pin")
    prop.add_argument("name", help="label, color, min, max, isDisabled, ...")
    prop.add_argument("values", nargs="+")

    ping = sub.add_parser("ping", help="log in and measure the round-trip time")
    ping.add_argument("--count", type=int, default=1, help="number of PINGs (default 1)")
    return parser


def read_token(args: argparse.Namespace, *, environ: dict[str, str] | None = None, err: TextIO | None = None) -> str:
    """Return the token from ``--token-file``, ``$BLYNK_AUTH_TOKEN`` or ``--token`` (warned), in that order."""
    env = os.environ if environ is None else environ
    stream = err if err is not None else sys.stderr
    if args.token_file:
        path = args.token_file
        try:
            with open(path, encoding="utf-8") as fh:
                token = fh.readline().strip()
            mode = os.stat(path).st_mode
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or type(exc).__name__
            raise UsageError(f"cannot read the token file {path}: {reason}") from None
        if not token:
            raise UsageError(f"the token file {path} is empty")
        if mode & 0o077:
            print(f"{PROG}: warning: the token file {path} is readable by others; run: chmod 600 {path}", file=stream)
        return token
    token = env.get(TOKEN_ENV, "").strip()
    if token:
        return token
    if args.token:
        print(
            f"{PROG}: warning: --token shows the token in the process list; use --token-file or {TOKEN_ENV}",
            file=stream,
        )
        return str(args.token).strip()
    raise UsageError(f"no auth token: give --token-file FILE or set {TOKEN_ENV}")


def make_client(args: argparse.Namespace, token: str) -> BlynkClient:
    """Build the client from the common options."""
    from blynk_client.client import BlynkClient

    if args.insecure and args.ca_file:
        raise UsageError("--ca-file makes no sense with --insecure")
    for name, value, low in (("timeout", args.timeout, 0.0), ("heartbeat", args.heartbeat, 0.0)):
        if not (value > low and math.isfinite(value)):
            raise UsageError(f"--{name} must be a finite number > 0")
    if not (args.coalesce >= 0 and math.isfinite(args.coalesce)):
        raise UsageError("--coalesce must be a finite number >= 0")
    return BlynkClient(
        token,
        server=args.server,
        port=args.port,
        insecure=args.insecure,
        ca_file=args.ca_file,
        interface=args.interface,
        source_address=args.source_address,
        heartbeat=args.heartbeat,
        template_id=args.template_id,
        firmware=args.firmware,
        connect_timeout=args.timeout,
        login_timeout=args.timeout,
        coalesce=args.coalesce,
    )


def _printable(text: str) -> str:
    """Server text for a terminal: control characters (escapes, newlines) shown as ``\\x1b``, ``\\n``."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _format(values: Values, as_json: bool) -> str:
    """One output line per write: ``V1 a b`` (values from the server made printable) or JSON."""
    if as_json:
        return json.dumps({"pin": f"V{values.pin}", "values": list(values)})
    return " ".join([f"V{values.pin}", *(_printable(v) for v in values)])


async def _cmd_run(client: BlynkClient, args: argparse.Namespace, out: TextIO) -> int:
    @client.on_write("*")
    def show(values: Values) -> None:
        out.write(_format(values, args.json) + "\n")
        out.flush()

    if args.sync:

        @client.on_connect
        def ask() -> None:
            client.sync()

    loop = asyncio.get_running_loop()
    stop = loop.create_future()

    def request_stop() -> None:
        if not stop.done():
            stop.set_result(None)

    with _signal(loop, signal.SIGTERM, request_stop):
        runner = asyncio.ensure_future(client.run())
        done, _ = await asyncio.wait({runner, stop}, return_when=asyncio.FIRST_COMPLETED)
        if runner in done:
            runner.result()
            return int(ExitStatus.SUCCESS)
        await client.close()
        runner.cancel()
        return int(ExitStatus.SUCCESS)


async def _connect(client: BlynkClient, args: argparse.Namespace) -> None:
    """Connect once for a one-shot command, after waiting up to ``--timeout`` for ``--interface``.

    ``run`` waits for the interface as long as it takes (the client's reconnect loop); a one-shot
    command run from an ip-up hook or cron may start just before ppp0 exists, so it waits too, but
    bounded, and then fails with one line and status 3 (:class:`InterfaceMissing`).
    """
    if args.interface:
        await _wait_for_interface(args.interface, args.timeout)
    await client.connect()


async def _wait_for_interface(name: str, timeout: float) -> None:
    """Return once interface ``name`` exists (checked every ``INTERFACE_POLL`` s), or raise after ``timeout`` s."""
    from blynk_client._session import INTERFACE_POLL, InterfaceMissing

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    waited = False
    while True:
        try:
            socket.if_nametoindex(name)
        except OSError:
            pass
        else:
            if waited:
                log.info("network interface %s is present; connecting", name)
            return
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise InterfaceMissing(f"network interface {name} did not appear within {timeout:g} s")
        if not waited:
            waited = True
            log.info("waiting up to %g s for network interface %s to appear", timeout, name)
        await asyncio.sleep(min(INTERFACE_POLL, remaining))


async def _cmd_write(client: BlynkClient, args: argparse.Namespace, out: TextIO) -> int:
    client.virtual_write(args.pin, *args.values)  # validates before connecting
    await _connect(client, args)
    await _settle(client)
    return int(ExitStatus.SUCCESS)


async def _cmd_sync(client: BlynkClient, args: argparse.Namespace, out: TextIO) -> int:
    got: dict[int, Values] = {}

    @client.on_write("*")
    def collect(values: Values) -> None:
        got[values.pin] = values

    pins = [client._pin(p) for p in args.pins]
    await _connect(client, args)
    client.sync(*pins)
    # The server answers in order: once the PING answer is in, every sync reply is too.
    await client.ping()
    for pin in pins:
        if pin in got:
            out.write(_format(got[pin], args.json) + "\n")
        elif args.json:
            out.write(json.dumps({"pin": f"V{pin}", "values": None}) + "\n")
        else:
            out.write(f"V{pin}\n")
    out.flush()
    await client.close()
    return int(ExitStatus.SUCCESS)


async def _cmd_event(client: BlynkClient, args: argparse.Namespace, out: TextIO) -> int:
    client.log_event(args.code, args.description)
    await _connect(client, args)
    await _settle(client)
    return int(ExitStatus.SUCCESS)


async def _cmd_resolve(client: BlynkClient, args: argparse.Namespace, out: TextIO) -> int:
    client.resolve_event(args.code, all_events=args.all)
    await _connect(client, args)
    await _settle(client)
    return int(ExitStatus.SUCCESS)


async def _cmd_property(client: BlynkClient, args: argparse.Namespace, out: TextIO) -> int:
    client.set_property(args.pin, args.name, *args.values)
    await _connect(client, args)
    await _settle(client)
    return int(ExitStatus.SUCCESS)


async def _cmd_ping(client: BlynkClient, args: argparse.Namespace, out: TextIO) -> int:
    if args.count < 1:
        raise UsageError("--count must be >= 1")
    loop = asyncio.get_running_loop()
    if args.interface:
        await _wait_for_interface(args.interface, args.timeout)
    started = loop.time()
    await client.connect()
    login = loop.time() - started
    out.write(f"login {login * 1000:.1f} ms\n")
    for _ in range(args.count):
        rtt = await client.ping()
        out.write(f"ping {rtt * 1000:.1f} ms\n")
        out.flush()
    await client.close()
    return int(ExitStatus.SUCCESS)


async def _settle(client: BlynkClient) -> None:
    """Make sure the server processed what we sent (a PING answer follows it), then close."""
    await client.ping()
    await client.close()


COMMANDS: dict[str, Callable[[BlynkClient, argparse.Namespace, TextIO], object]] = {
    "run": _cmd_run,
    "write": _cmd_write,
    "sync": _cmd_sync,
    "event": _cmd_event,
    "resolve": _cmd_resolve,
    "property": _cmd_property,
    "ping": _cmd_ping,
}


class _signal:  # noqa: N801 - a small context manager used like a function
    def __init__(self, loop: asyncio.AbstractEventLoop, signum: int, handler: Callable[[], None]) -> None:
        self.loop, self.signum, self.handler = loop, signum, handler
        self.installed = False

    def __enter__(self) -> None:
        try:
            self.loop.add_signal_handler(self.signum, self.handler)
            self.installed = True
        except (NotImplementedError, RuntimeError, ValueError):
            self.installed = False

    def __exit__(self, *exc: object) -> None:
        if self.installed:
            self.loop.remove_signal_handler(self.signum)


def _impl(argv: list[str], out: TextIO, err: TextIO) -> int:
    args = build_parser().parse_args(argv)
    level = logging.WARNING if args.verbose == 0 else logging.INFO if args.verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, stream=err, format=f"{PROG}: %(message)s")
    token = read_token(args, err=err)
    client = make_client(args, token)
    command = COMMANDS[args.command]

    async def body() -> int:
        try:
            return int(await command(client, args, out))  # type: ignore[misc]
        finally:
            await client.close()

    return asyncio.run(body())


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Entry point of ``blynk-client``: returns an :class:`ExitStatus`; errors are one line."""
    stdout = out if out is not None else sys.stdout
    stderr = err if err is not None else sys.stderr
    return run_main(PROG, lambda args: _impl(args, stdout, stderr), argv, stderr=stderr)


if __name__ == "__main__":
    sys.exit(main())
