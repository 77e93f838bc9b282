"""The pppd backend: run Debian's (or any distribution's) pppd on the modem port, safely.

For hosts whose kernel has PPP (``/dev/ppp``): our AT engine does the bring-up (same verdicts and
messages as the Python backend), then pppd(8) runs on the same, still open port (handed to it as its
standard input, so DTR never drops between the two) with a generated options file. Alternatively
pppd's own ``chat`` can dial (:attr:`PppdOptions.use_chat`), with a generated chat script.

Safety rules (see pppd(8) "OPTIONS FILES" and chat(8) "CHAT SCRIPT"):

* no shell is involved in starting pppd (argument vector, ``close_fds``), and nothing the user typed
  is ever part of a shell command: pppd runs its ``connect`` program through ``/bin/sh -c``, so that
  string holds only the chat path and the generated script's path (both shell-quoted);
* the chat script is a file of quoted expect/send pairs, never a command-line string; the APN and
  dial string are checked against strict character sets first (TS 23.003 section 9.1: an APN is
  dot-separated labels of letters, digits and hyphens), so no chat escape (``\\``, ``^``) or quote can
  reach it;
* the user name and password go to a 0600 file in a private ``mkdtemp`` directory (0700) that is
  removed when pppd exits. pppd reads ``pap-secrets``/``chap-secrets`` only from ``/etc/ppp``, so
  the private file is an options file holding ``user``/``password`` (pppd uses ``password`` as the
  secret for both PAP and CHAP-MD5 when it authenticates itself, RFC 1334 section 2 / RFC 1994
  section 4), included with ``file`` and marked ``hide-password``;
* option values are double-quoted with pppd's escapes (backslash, double quote) and control
  characters are refused.

pppd's log goes to a pipe (``logfd N``); :class:`PppdOutput` reads the addresses and DNS from it
(``local  IP address``, ``remote IP address``, ``primary   DNS address``), and :data:`EXIT_STATUSES`
maps pppd(8)'s "EXIT STATUS" list to our messages and :class:`~pppos.errors.ExitStatus`.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import select
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from pppos.errors import ConfigError, ExitStatus, MissingTool, PpposError

__all__ = [
    "EXIT_STATUSES",
    "PppdOptions",
    "PppdOutput",
    "PppdResult",
    "PppdUp",
    "backend_available",
    "find_pppd",
    "map_exit_status",
    "options_from_up",
    "print_config",
    "print_up_config",
    "render_config",
    "run_pppd",
    "run_up",
    "validate_apn",
]

#: TS 23.003 section 9.1 APN network identifier: labels of letters, digits and hyphens joined by
#: dots (we also allow ``_``, which some operators use). At most 100 characters.
_APN_RE = re.compile(r"^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*$")
#: V.250 / TS 27.007 10.2.1.1 dial strings: ``ATD*99#``, ``ATD*99***1#``, ``ATDT*99#``.
_DIAL_RE = re.compile(r"^AT[DdTt]{1,2}[0-9*#+]{1,40}$")
#: PAP/CHAP names: printable, no quotes or backslashes needed but allowed (escaped).
_CTRL_RE = re.compile(r"[\x00-\x1f\x7f]")
_IFNAME_RE = re.compile(r"^ppp[0-9]{1,3}$")
_MASK = "********"
#: The redial helper's settings, in the private directory (0600; it may hold the PIN and password).
REDIAL_FILE = "redial.json"
#: seconds between the data cap's re-checks while holding (--persist; the wall clock may step)
CAP_RECHECK = 60.0


# --------------------------------------------------------------------------- options


@dataclass(frozen=True, slots=True, kw_only=True)
class PppdOptions:
    """What the pppd backend needs. The password is kept out of ``repr``.

    ``port`` is the device pppd opens; when :func:`run_pppd` is given ``port_fd`` (the port our AT
    engine already has open), the device name is left out and pppd uses its standard input.
    """

    port: str
    baud: int = 115200
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    usepeerdns: bool = True
    default_route: bool = False
    #: Metric of the default route (``defaultroute-metric``, Debian's pppd 2.4.9 and pppd >= 2.5).
    route_metric: int | None = None
    #: (interval seconds, failures) for ``lcp-echo-interval``/``lcp-echo-failure``; None = off.
    lcp_echo: tuple[int, int] | None = (30, 4)
    persist: bool = False
    #: ``maxfail`` (pppd's default is 10; 0 = unlimited), only written when persist is on.
    maxfail: int | None = None
    #: ``holdoff`` seconds between redials when persist is on.
    holdoff: int | None = None
    mtu: int | None = None
    mru: int | None = None
    crtscts: bool = False
    #: ``unit N`` (the kernel interface becomes ``pppN``).
    unit: int | None = None
    #: Ask pppd for packet-level debug lines (``debug``).
    debug: bool = False
    #: Let pppd's ``chat`` do the AT dialogue (instead of our AT engine).
    use_chat: bool = False
    apn: str | None = None
    cid: int = 1
    dial: str = "ATD*99#"
    #: Seconds chat waits for each expected reply (``TIMEOUT``) and for ``CONNECT``.
    chat_timeout: int = 12
    connect_timeout: int = 30
    #: Paths of the programs (the VM tests use the guest's).
    chat_path: str = "/usr/sbin/chat"
    #: The redial helper (``--persist``): pppd's ``connect`` program re-runs our AT bring-up
    #: (:mod:`pppos.backends.connect`) with the settings file ``redial.json`` of the private
    #: directory. pppd runs ``connect`` through ``/bin/sh -c``: the command is built only from this
    #: argv (absolute paths and module names) and that path, each shell-quoted; never from user text.
    redial_helper: tuple[str, ...] | None = None
    #: Run ``/etc/ppp/ip-up`` and ``ip-down`` (pppd's default). ``pppos-up`` turns them off
    #: (``ip-up-script``/``ip-down-script`` ``/bin/true``): it manages DNS itself, as the python
    #: backend does, and Debian's ``0000usepeerdns`` would rewrite /etc/resolv.conf beside it.
    ip_scripts: bool = True

    def validate(self) -> None:
        """Raise :class:`ConfigError` for any value that could not be written safely."""
        if not self.port or _CTRL_RE.search(self.port) or not self.port.startswith("/"):
            raise ConfigError(f"the pppd backend needs a device path for the port, not {self.port!r}")
        if not 50 <= self.baud <= 4_000_000:
            raise ConfigError(f"baud rate {self.baud} is out of range")
        if self.user is not None and (not self.user or _CTRL_RE.search(self.user) or len(self.user) > 255):
            raise ConfigError("the PPP user name must be 1-255 printable characters")
        if self.password is not None and (_CTRL_RE.search(self.password) or len(self.password) > 255):
            raise ConfigError("the PPP password must be at most 255 printable characters")
        if self.route_metric is not None and not 0 <= self.route_metric <= 0xFFFFFFFF:
            raise ConfigError(f"route metric {self.route_metric} is out of range")
        if self.lcp_echo is not None:
            interval, failures = self.lcp_echo
            if not (1 <= interval <= 3600 and 1 <= failures <= 100):
                raise ConfigError("lcp echo needs an interval of 1-3600 s and 1-100 failures")
        for name in ("mtu", "mru"):
            value = getattr(self, name)
            if value is not None and not 128 <= value <= 16384:
                raise ConfigError(f"{name} {value} is out of range (128-16384)")
        if self.unit is not None and not 0 <= self.unit <= 999:
            raise ConfigError(f"unit {self.unit} is out of range")
        for name in ("maxfail", "holdoff"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= 86400:
                raise ConfigError(f"{name} {value} is out of range")
        if self.use_chat:
            if self.apn is not None:
                validate_apn(self.apn)
            if not _DIAL_RE.match(self.dial):
                raise ConfigError(f"dial command {self.dial!r} is not of the form ATD*99# (digits, *, #, +)")
            if not 1 <= self.cid <= 24:
                raise ConfigError(f"PDP context id {self.cid} is out of range (1-24)")
            if not (1 <= self.chat_timeout <= 600 and 1 <= self.connect_timeout <= 600):
                raise ConfigError("chat timeouts must be 1-600 s")
            if _CTRL_RE.search(self.chat_path) or not self.chat_path.startswith("/"):
                raise ConfigError("the chat path must be absolute")
        if self.redial_helper is not None:
            if self.use_chat:
                raise ConfigError("the redial helper and chat exclude each other")
            if not self.redial_helper or any(_CTRL_RE.search(a) or not a for a in self.redial_helper) \
                    or not self.redial_helper[0].startswith("/"):
                raise ConfigError("the redial helper must be an absolute path")


def validate_apn(apn: str) -> str:
    """Return ``apn`` if it is a valid APN (TS 23.003 section 9.1), else raise :class:`ConfigError`."""
    if len(apn) > 100 or not _APN_RE.match(apn):
        raise ConfigError(
            "the APN may only hold letters, digits, '-', '_' and dots between labels (TS 23.003 9.1); "
            f"got {apn!r}"
        )
    return apn


def _quote(value: str) -> str:
    """A pppd options-file word: double-quoted, with ``\\`` and ``"`` escaped (pppd(8) OPTIONS FILES)."""
    if _CTRL_RE.search(value):
        raise ConfigError("option values may not contain control characters")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _chat_quote(value: str) -> str:
    """A chat(8) script string in single quotes. Only called with validated text (no quote, no ``\\``)."""
    if "'" in value or "\\" in value or "^" in value or _CTRL_RE.search(value):
        raise ConfigError(f"unsafe characters in chat string {value!r}")
    return f"'{value}'"


# --------------------------------------------------------------------------- files


def _options_text(opts: PppdOptions, directory: str, *, device: bool) -> str:
    lines = ["# generated by pppos: pppd(8) options"]
    if device:
        lines.append(_quote(opts.port))
    lines.append(str(opts.baud))
    lines += ["nodetach", "noauth", "noipdefault", "ipcp-accept-local", "ipcp-accept-remote",
              "novj", "novjccomp", "noccp", "nobsdcomp", "nodeflate", "local"]
    lines.append("crtscts" if opts.crtscts else "nocrtscts")
    if opts.usepeerdns:
        lines.append("usepeerdns")
    if opts.default_route:
        lines.append("defaultroute")
        if opts.route_metric is not None:
            lines.append(f"defaultroute-metric {opts.route_metric}")
    else:
        lines.append("nodefaultroute")
    if opts.lcp_echo is not None:
        lines.append(f"lcp-echo-interval {opts.lcp_echo[0]}")
        lines.append(f"lcp-echo-failure {opts.lcp_echo[1]}")
    if opts.persist:
        lines.append("persist")
        if opts.maxfail is not None:
            lines.append(f"maxfail {opts.maxfail}")
        if opts.holdoff is not None:
            lines.append(f"holdoff {opts.holdoff}")
    if opts.mtu is not None:
        lines.append(f"mtu {opts.mtu}")
    if opts.mru is not None:
        lines.append(f"mru {opts.mru}")
    if opts.unit is not None:
        lines.append(f"unit {opts.unit}")
    if opts.debug:
        lines.append("debug")
    if opts.use_chat:
        script = os.path.join(directory, "chat")
        command = f"{shlex.quote(opts.chat_path)} -v -s -f {shlex.quote(script)}"
        lines.append(f"connect {_quote(command)}")
    elif opts.redial_helper is not None:
        command = shlex.join((*opts.redial_helper, os.path.join(directory, REDIAL_FILE)))
        lines.append(f"connect {_quote(command)}")
    if not opts.ip_scripts:
        lines.append("ip-up-script /bin/true")
        lines.append("ip-down-script /bin/true")
    if opts.user is not None or opts.password is not None:
        lines.append(f"file {_quote(os.path.join(directory, 'secrets'))}")
    return "\n".join(lines) + "\n"


def _chat_text(opts: PppdOptions) -> str:
    from pppos.at.bringup import SYNC_COMMAND

    pairs: list[tuple[str, str]] = [
        ("ABORT", "BUSY"), ("ABORT", "NO CARRIER"), ("ABORT", "NO DIALTONE"), ("ABORT", "NO DIAL TONE"),
        ("ABORT", "NO ANSWER"), ("ABORT", "DELAYED"), ("ABORT", "ERROR"), ("ABORT", "+CGATT: 0"),
        ("TIMEOUT", str(opts.chat_timeout)),
        # the bring-up's sync line (pppos.at.bringup.SYNC_COMMAND): a modem whose stored profile has
        # numeric (V0) or no (Q1) result codes would never send chat the OK a bare AT waits for
        ("", SYNC_COMMAND), ("OK", "ATE0"), ("OK", "AT+CMEE=0"),
    ]
    if opts.apn is not None:
        pairs.append(("OK", f'AT+CGDCONT={opts.cid},"IP","{validate_apn(opts.apn)}"'))
    pairs += [("OK", opts.dial), ("TIMEOUT", str(opts.connect_timeout)), ("CONNECT", "")]
    lines = ["# generated by pppos: chat(8) script, one expect/send pair per line"]
    for expect, send in pairs:
        keyword = expect in {"ABORT", "TIMEOUT"} and send != ""
        lines.append(f"{expect if keyword else _chat_quote(expect)} {_chat_quote(send)}")
    return "\n".join(lines) + "\n"


def _secrets_text(opts: PppdOptions, *, mask: bool) -> str:
    lines = ["# generated by pppos: pppd options holding the PPP credentials (mode 0600)"]
    if opts.user is not None:
        lines.append(f"user {_quote(opts.user)}")
    if opts.password is not None:
        lines.append(f"password {_MASK if mask else _quote(opts.password)}")
        lines.append("hide-password")
    return "\n".join(lines) + "\n"


def render_config(opts: PppdOptions, directory: str = "/run/pppos/pppd", *, device: bool = True,
                  mask: bool = False) -> dict[str, str]:
    """The generated files, ``{path: text}``, for files placed in ``directory``.

    ``options`` (pppd's ``file``), ``chat`` when :attr:`PppdOptions.use_chat`, ``secrets`` when a user
    or password is set (masked when ``mask``). ``device=False`` leaves the port name out (pppd then
    uses its standard input). Raises :class:`ConfigError` for unsafe values.
    """
    opts.validate()
    files = {os.path.join(directory, "options"): _options_text(opts, directory, device=device)}
    if opts.use_chat:
        files[os.path.join(directory, "chat")] = _chat_text(opts)
    if opts.user is not None or opts.password is not None:
        files[os.path.join(directory, "secrets")] = _secrets_text(opts, mask=mask)
    return files


def print_config(opts: PppdOptions, out: TextIO | None = None, directory: str = "<private dir>") -> None:
    """Show the generated files (secrets masked), for ``pppos-up --backend pppd --print-config``."""
    stream = out if out is not None else sys.stdout
    for path, text in render_config(opts, directory, mask=True).items():
        print(f"# ---- {path}", file=stream)
        stream.write(text)


@contextlib.contextmanager
def private_config(opts: PppdOptions, *, device: bool = True,
                   extra: Mapping[str, str] | None = None) -> Iterator[str]:
    """Write the files into a fresh 0700 ``mkdtemp`` directory (secrets 0600); remove it on exit.

    ``extra`` maps more file names to their text (also 0600), e.g. the redial helper's settings."""
    directory = tempfile.mkdtemp(prefix="pppos-pppd-")
    try:
        os.chmod(directory, 0o700)
        files = render_config(opts, directory, device=device)
        files.update({os.path.join(directory, name): text for name, text in (extra or {}).items()})
        for path, text in files.items():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


# --------------------------------------------------------------------------- exit statuses

#: pppd(8) "EXIT STATUS" -> (our exit status, message).
EXIT_STATUSES: dict[int, tuple[ExitStatus, str]] = {
    0: (ExitStatus.LINK_LOST, "the peer terminated the link"),
    1: (ExitStatus.ERROR, "pppd hit a fatal error (see its log above)"),
    2: (ExitStatus.USAGE, "pppd rejected its options (is this pppd too old for them?)"),
    3: (ExitStatus.PERMISSION, "pppd must run as root"),
    4: (ExitStatus.MISSING_TOOL, "the kernel has no PPP support (no /dev/ppp or ppp_async); use --backend python"),
    5: (ExitStatus.INTERRUPTED, "pppd was stopped by a signal"),
    6: (ExitStatus.NO_MODEM, "the serial port is locked by another program"),
    7: (ExitStatus.NO_MODEM, "pppd could not open the serial port"),
    8: (ExitStatus.DIAL, "the chat script failed: the modem did not connect"),
    9: (ExitStatus.ERROR, "the pty command could not be run"),
    10: (ExitStatus.PPP, "PPP negotiation failed (LCP or IPCP did not open)"),
    11: (ExitStatus.AUTH, "the peer failed to authenticate itself"),
    12: (ExitStatus.LINK_LOST, "the link was idle and pppd closed it"),
    13: (ExitStatus.LINK_LOST, "the connect time limit was reached"),
    14: (ExitStatus.ERROR, "callback was negotiated (not supported)"),
    15: (ExitStatus.LINK_LOST, "the peer stopped answering LCP echo requests"),
    16: (ExitStatus.LINK_LOST, "the modem hung up (carrier lost)"),
    17: (ExitStatus.PPP, "serial loopback detected: the modem echoes our frames (is it in command mode?)"),
    18: (ExitStatus.NO_MODEM, "the init script failed"),
    19: (ExitStatus.AUTH, "authentication failed: the peer refused our user name or password"),
}


def map_exit_status(code: int, *, stopped_by_us: bool = False) -> tuple[ExitStatus, str]:
    """Our exit status and message for pppd's exit ``code`` (negative: killed by that signal)."""
    if stopped_by_us and code in (0, 5, -signal.SIGTERM):
        return ExitStatus.SUCCESS, "pppd stopped on request"
    if code < 0:
        return ExitStatus.ERROR, f"pppd was killed by signal {signal.Signals(-code).name}"
    return EXIT_STATUSES.get(code, (ExitStatus.ERROR, f"pppd exited with unknown status {code}"))


# --------------------------------------------------------------------------- output parsing


@dataclass(frozen=True, slots=True, kw_only=True)
class PppdUp:
    """IPCP opened: the addresses and name servers pppd logged."""

    local_ip: str
    peer_ip: str
    dns: tuple[str, ...]
    ifname: str | None


_LOCAL_RE = re.compile(r"local\s+IP address (\S+)")
_REMOTE_RE = re.compile(r"remote IP address (\S+)")
_DNS_RE = re.compile(r"(?:primary|secondary)\s+DNS address (\S+)")
_IFACE_RE = re.compile(r"Using interface (\S+)")
#: pppd's session totals (main.c ``print_link_stats``): "Sent 1234 bytes, received 5678 bytes."
_STATS_RE = re.compile(r"Sent (\d+) bytes, received (\d+) bytes")


class PppdOutput:
    """Reads pppd's log lines and notices when the link is up (sans-I/O: lines in, events out).

    pppd (ipcp.c ``ipcp_up``) logs ``local  IP address``, ``remote IP address`` then ``primary   DNS
    address``/``secondary DNS address``; the link counts as up at the first line after the remote
    address that is not a DNS line, or when :meth:`flush` is called (the log went quiet).
    """

    def __init__(self) -> None:
        self.local_ip: str | None = None
        self.peer_ip: str | None = None
        self.dns: list[str] = []
        self.ifname: str | None = None
        self.auth_failed = False
        self.last_error: str | None = None
        self._up_sent = False
        self._events: list[PppdUp] = []

    def feed(self, line: str) -> None:
        """Take one log line (without the newline)."""
        if (m := _IFACE_RE.search(line)) is not None:
            self.ifname = m.group(1)
        if (m := _LOCAL_RE.search(line)) is not None:
            self.local_ip, self.peer_ip, self.dns, self._up_sent = m.group(1), None, [], False
            return
        if (m := _REMOTE_RE.search(line)) is not None:
            self.peer_ip = m.group(1)
            return
        if (m := _DNS_RE.search(line)) is not None:
            self.dns.append(m.group(1))
            return
        if "authentication failed" in line.lower() or "Failed to authenticate ourselves" in line:
            self.auth_failed = True
            self.last_error = line.strip()
        self.flush()

    def flush(self) -> None:
        """The log went quiet: if the addresses are known, the link is up."""
        if self.local_ip and self.peer_ip and not self._up_sent:
            self._up_sent = True
            self._events.append(PppdUp(local_ip=self.local_ip, peer_ip=self.peer_ip, dns=tuple(self.dns),
                                       ifname=self.ifname))

    def next_event(self) -> PppdUp | None:
        """The next :class:`PppdUp`, or None."""
        return self._events.pop(0) if self._events else None


# --------------------------------------------------------------------------- running


@dataclass(frozen=True, slots=True, kw_only=True)
class PppdResult:
    """How a pppd run ended."""

    returncode: int
    exit_status: ExitStatus
    message: str
    up: PppdUp | None

    def error(self) -> PpposError | None:
        """The error to raise for a failed run (None for success)."""
        if self.exit_status == ExitStatus.SUCCESS:
            return None
        return PpposError(self.message, exit_status=self.exit_status)


def find_pppd() -> str | None:
    """The pppd executable (PATH, then /usr/sbin and /sbin), or None."""
    found = shutil.which("pppd")
    if found:
        return found
    for cand in ("/usr/sbin/pppd", "/sbin/pppd"):
        if os.access(cand, os.X_OK):
            return cand
    return None


def backend_available() -> bool:
    """True only where the kernel has PPP (``/dev/ppp``) and pppd is installed (``--backend auto``)."""
    return os.path.exists("/dev/ppp") and find_pppd() is not None


def run_pppd(
    opts: PppdOptions,
    *,
    port_fd: int | None = None,
    pppd: str | None = None,
    on_line: Callable[[str], None] | None = None,
    on_up: Callable[[PppdUp], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_tick: Callable[[], None] | None = None,
    extra_args: tuple[str, ...] = (),
    extra_files: Mapping[str, str] | None = None,
    directory: Callable[[str], None] | None = None,
) -> PppdResult:
    """Run pppd until it exits; return how it ended (see :data:`EXIT_STATUSES`).

    ``port_fd``: the already-open port (after our AT bring-up); it becomes pppd's standard input and
    the options name no device. ``on_line`` gets each log line, ``on_up`` the addresses once IPCP is
    up. ``should_stop`` is polled about every 0.2 s; when it returns True (or on Ctrl-C) pppd gets
    SIGTERM, which makes it terminate the link cleanly (LCP Terminate-Request), and the run counts as
    a success. ``on_tick`` is called at every wake-up (at least every 0.2 s), ``directory`` once with
    the private directory of the generated files before pppd starts; ``extra_files`` are written
    there too (mode 0600).
    """
    exe = pppd or find_pppd()
    if exe is None:
        raise MissingTool("pppd is not installed (Debian: apt-get install ppp); use --backend python")
    opts.validate()
    parser = PppdOutput()
    stopped = False
    with private_config(opts, device=port_fd is None, extra=extra_files) as private:
        if directory is not None:
            directory(private)
        rfd, wfd = os.pipe()
        argv = [exe, "file", os.path.join(private, "options"), "logfd", str(wfd), *extra_args]
        try:
            proc = subprocess.Popen(
                argv,
                stdin=port_fd if port_fd is not None else subprocess.DEVNULL,
                stdout=wfd,
                stderr=wfd,
                pass_fds=(wfd,),
                close_fds=True,
            )
        except OSError as exc:
            os.close(rfd)
            os.close(wfd)
            raise MissingTool(f"cannot run {exe}: {exc.strerror}") from None
        os.close(wfd)
        buf = b""
        term_sent_at: float | None = None
        try:
            while True:
                try:
                    readable, _, _ = select.select([rfd], [], [], 0.2)
                except KeyboardInterrupt:
                    readable = []
                    stopped = True
                chunk = os.read(rfd, 4096) if readable else b""
                if readable and not chunk:
                    break  # pppd (and anything it started) closed the log pipe
                buf += chunk
                *lines, buf = buf.split(b"\n")
                for raw in lines:
                    line = raw.decode("utf-8", errors="replace").rstrip("\r")
                    if on_line is not None:
                        on_line(line)
                    parser.feed(line)
                if not readable:
                    parser.flush()
                while (ev := parser.next_event()) is not None:
                    if on_up is not None:
                        on_up(ev)
                if on_tick is not None:
                    on_tick()
                if should_stop is not None and should_stop():
                    stopped = True
                if stopped and term_sent_at is None:
                    term_sent_at = time.monotonic()
                    with contextlib.suppress(ProcessLookupError):
                        proc.send_signal(signal.SIGTERM)
                if term_sent_at is not None and time.monotonic() - term_sent_at > 10 and proc.poll() is None:
                    proc.kill()
                if not readable and proc.poll() is not None:
                    break
        finally:
            os.close(rfd)
            if proc.poll() is None:
                proc.kill()
            code = proc.wait()
    status, message = map_exit_status(code, stopped_by_us=stopped)
    if code == 0 and parser.local_ip is None and not stopped:
        status, message = ExitStatus.PPP, "pppd ended before the link came up"
    up = None
    if parser.local_ip and parser.peer_ip:
        up = PppdUp(local_ip=parser.local_ip, peer_ip=parser.peer_ip, dns=tuple(parser.dns), ifname=parser.ifname)
    return PppdResult(returncode=code, exit_status=status, message=message, up=up)


def redial_helper() -> tuple[str, ...]:
    """The argv prefix of the redial helper (this interpreter running :mod:`pppos.backends.connect`).

    The interpreter's path is kept as it is (not resolved): a virtual environment's ``python`` is a
    symlink whose location selects the environment's packages."""
    return (os.path.abspath(sys.executable), "-m", "pppos.backends.connect")


def options_from_up(up: Any) -> PppdOptions:
    """Translate ``pppos-up``'s :class:`pppos.config.UpOptions` into :class:`PppdOptions`.

    As the python backend: pppd asks the peer for name servers only with ``--usepeerdns`` and
    ``pppos-up`` itself installs them (and ``--dns``), so pppd's ``/etc/ppp/ip-up`` scripts are off;
    ``--persist`` redials through the same AT bring-up (pppd's ``connect`` runs the redial helper),
    with ``--maxfail`` and ``--holdoff`` (rounded to whole seconds) as pppd's.
    """
    echo = None
    if up.lcp_echo is not None:
        echo = (max(1, round(up.lcp_echo[0])), int(up.lcp_echo[1]))
    unit = None
    if up.ifname and up.ifname != "ppp0":
        if not _IFNAME_RE.match(up.ifname):
            raise ConfigError(f"with --backend pppd the interface must be named pppN, not {up.ifname!r}")
        unit = int(up.ifname[3:])
    persist = bool(up.persist)
    maxfail = getattr(up, "maxfail", None)
    holdoff = getattr(up, "holdoff", None)
    return PppdOptions(
        port=up.port,
        baud=up.baud,
        user=up.user,
        password=up.password,
        usepeerdns=bool(up.usepeerdns),
        default_route=up.default_route,
        route_metric=up.route_metric if up.default_route and up.route_metric else None,
        lcp_echo=echo,
        persist=persist,
        maxfail=int(maxfail) if persist and maxfail is not None else (0 if persist else None),
        holdoff=max(0, round(float(holdoff))) if persist and holdoff is not None else None,
        mtu=up.mtu,
        mru=up.mtu,
        unit=unit,
        debug=bool(up.trace),
        redial_helper=redial_helper() if persist and not up.direct else None,
        ip_scripts=False,
    )


def _sysfs_int(ifname: str, name: str) -> int | None:
    try:
        with open(f"/sys/class/net/{ifname}/{name}", encoding="ascii") as fh:
            return int(fh.read().strip())
    except (OSError, ValueError):
        return None


class _Stopped(Exception):
    """A stop (signal, data cap) arrived during our own bring-up, before pppd ran."""


class _PppdSession:
    """``pppos-up --backend pppd``'s driver state, kept on the asyncio loop's thread: the state file
    (the same file and fields as the python backend's, :mod:`pppos.net.status`), the resolver, the
    sidecar (:mod:`pppos.sidecar`: systemd readiness and status, ip-up/ip-down hooks, accounting, the
    data cap, the metrics file), stop requests and the redial helper's verdicts. The worker thread
    that drives the port and pppd reaches it only through ``loop.call_soon_threadsafe``."""

    def __init__(self, up: Any, reporter: Any) -> None:
        from pppos.net import dns as dnsmod
        from pppos.net import status as statusmod
        from pppos.sidecar import Sidecar

        self.up, self.rep = up, reporter
        self.ifname: str = up.ifname
        state = statusmod.state_path(up.ifname, up.run_dir)
        other = statusmod.state_pid(statusmod.read_status(state))
        if other and other != os.getpid() and statusmod.is_pppos_up(other):
            raise PpposError(f"pppos-up is already running on {up.ifname} (pid {other}); stop it with pppos-down",
                             exit_status=ExitStatus.USAGE)
        backup = statusmod.backup_path(up.ifname, up.run_dir)
        if dnsmod.restore_backup(backup):
            reporter.warn(f"restored the resolver left changed by an earlier pppos-up on {up.ifname}")
        self.status: statusmod.StatusFile | None = statusmod.StatusFile(state)
        self.dns = dnsmod.DnsManager(ifname=up.ifname, backup_path=backup,
                                     resolv_conf=dnsmod.resolv_conf_path(up.resolv_conf))
        # without --persist a used-up cap ends the run (side.fatal); with it the run holds (cap_hold)
        self.side = Sidecar(up, reporter, fatal_cap=not up.persist)
        self.phase = "starting"
        self.started = time.time()
        self.up_since: float | None = None
        self.local_ip: str | None = None
        self.peer_ip: str | None = None
        self.dns_servers: list[str] = []
        self.dns_method: str | None = None
        self.signal: dict[str, Any] | None = None
        self.last_failure: str | None = None
        self.profile = "generic"
        self.reconnects = 0
        self.sessions = 0
        #: read by the worker thread (a plain attribute: set here, polled there)
        self.stop_requested = False
        self.interrupted = False
        self.verdict_path: str | None = None
        #: (exit status, message) that ends the run: a redial verdict no redial can fix, the data cap
        self.fatal: tuple[ExitStatus, str] | None = None
        self._verdict_seen: float = 0.0
        self._status_due = 0.0
        #: (received, sent) octets pppd logged for the session that just ended
        self._final: tuple[int, int] | None = None
        self._stops = 0
        #: --persist: the data cap ended the call (pppd is stopped, then the run holds)
        self.capped = False
        #: the hold's words while holding (``supervisor`` in the state file, systemd's Status)
        self.holding: str | None = None
        self._wake: Any = None  # an asyncio.Event while holding: a stop or SIGUSR1 ends the wait early

    # -- stop
    def on_signal(self, sig: int) -> None:
        self._stops += 1
        if sig == signal.SIGINT:
            self.interrupted = True
        if self._stops == 1:
            self.rep.step("stop", f"{signal.Signals(sig).name}: tearing the link down")
        self.stop_requested = True
        self.wake()

    def wake(self) -> None:
        """A stop or a refresh (SIGUSR1): end the hold's wait now (it re-checks the cap)."""
        if self._wake is not None:
            self._wake.set()

    def refresh(self) -> None:
        """SIGUSR1 (``pppos-status``): rewrite the state file now, and re-check the cap while holding."""
        self.write_status()
        self.wake()

    @property
    def user_stopped(self) -> bool:
        """A signal asked pppos-up to stop (not the data cap)."""
        return self._stops > 0

    def _cap_check(self) -> None:
        """--persist: a used-up cap ends the call (pppd is stopped); the run then holds (:meth:`hold`)."""
        if (self.up.persist and self.side.cap_hold is not None and not self.capped and self.holding is None
                and not self.user_stopped):
            self.capped = True
            self.stop_requested = True
            self.rep.step("data-cap", f"data cap reached ({self.side.cap_hold.used}): ending the call")

    async def hold(self, hold: Any) -> bool:
        """Hold without dialling until the cap's period rolls over (re-checked every :data:`CAP_RECHECK`
        seconds, at the period's end if sooner, and at SIGUSR1). True: dial again; False: stopped."""
        import asyncio

        self.rep.warn(f"data cap reached ({hold.used}): holding until {hold.until_words}; "
                      f"nothing is dialled until then")
        self._wake = asyncio.Event()
        try:
            while True:
                self.holding = f"data cap reached ({hold.used}): holding until {hold.until_words}"
                self.set_phase("cap-hold")
                self.write_status()
                if self.user_stopped:
                    return False
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), max(0.0, min(float(hold.left), CAP_RECHECK)))
                self._wake.clear()
                if self.user_stopped:
                    return False
                nxt = self.side.check_cap()
                if nxt is None:
                    self.rep.step("data-cap", "the data cap's period is over: dialling again")
                    return True
                hold = nxt
        finally:
            self.holding = None
            self._wake = None
    def _fatal(self, status: ExitStatus, message: str) -> None:
        if self.fatal is None:
            self.fatal = (status, message)
            self.last_failure = message
            self.rep.warn(message)
        self.stop_requested = True

    # -- state file
    def set_phase(self, phase: str) -> None:
        if phase != self.phase:
            self.phase = phase
            self.write_status()

    def snapshot(self) -> dict[str, Any]:
        running = self.up_since is not None
        stats = {name: (_sysfs_int(self.ifname, f"statistics/{key}") or 0) if running else 0 for name, key in (
            ("bytes_in", "rx_bytes"), ("bytes_out", "tx_bytes"), ("packets_in", "rx_packets"),
            ("packets_out", "tx_packets"))}
        if self._final is not None:  # pppd's own count at the end of a session (its "Sent ... received" line)
            stats["bytes_in"] = max(stats["bytes_in"], self._final[0])
            stats["bytes_out"] = max(stats["bytes_out"], self._final[1])
        return {
            "ifname": self.ifname,
            "pid": os.getpid(),
            "phase": self.phase,
            "supervisor": self.holding or self.phase,
            "refresh_signal": "SIGUSR1",
            "port": self.up.port,
            "backend": "pppd",
            "direct": bool(self.up.direct),
            "persist": bool(self.up.persist),
            "started": self.started,
            "up_since": self.up_since,
            "local_ip": self.local_ip,
            "peer_ip": self.peer_ip,
            "mtu": _sysfs_int(self.ifname, "mtu") if running else None,
            "ipv6_local": None,
            "ipv6_peer": None,
            "dns": self.dns_servers,
            "dns_method": self.dns_method,
            "routes": [],
            "echo_rtt": None,
            "bad_frames": 0,
            "signal": self.signal,
            "last_failure": self.last_failure,
            "reconnects": self.reconnects,
            "updated": time.time(),
            **stats,
        }

    def write_status(self) -> None:
        state = self.snapshot()
        self.side.status(state)  # STATUS=, accounting (into the state), the data cap, the metrics file
        if self.side.fatal is not None:
            self._fatal(*self.side.fatal)
        self._cap_check()
        self._status_due = time.monotonic() + 1.0
        if self.status is None:
            return
        try:
            self.status.write(state)
        except PpposError as exc:
            self.rep.warn(str(exc))
            self.status = None

    def tick(self) -> None:
        if time.monotonic() >= self._status_due:
            self.write_status()
        self._check_verdict()

    def _check_verdict(self) -> None:
        """A redial verdict that another redial cannot fix (SIM, PIN, usage) ends pppos-up at once."""
        if self.verdict_path is None:
            return
        try:
            mtime = os.stat(self.verdict_path).st_mtime
        except OSError:
            return
        if mtime == self._verdict_seen:
            return
        self._verdict_seen = mtime
        from pppos.backends.connect import read_verdict

        verdict = read_verdict(self.verdict_path)
        if verdict is None or verdict[0]:
            return
        status = ExitStatus(verdict[1]) if verdict[1] in ExitStatus._value2member_map_ else ExitStatus.ERROR
        self.last_failure = verdict[2]
        if status in (ExitStatus.SIM, ExitStatus.PIN_REFUSED, ExitStatus.USAGE, ExitStatus.PERMISSION):
            self._fatal(status, verdict[2])
        else:
            self.rep.warn(f"redial failed: {verdict[2]}")

    # -- the bring-up's and pppd's view of the link
    def modem_info(self, profile: str, iccid: str, signal_: dict[str, Any] | None) -> None:
        self.profile = profile or self.profile
        if signal_ is not None:
            self.signal = signal_
        self.side.modem_info(iccid)  # accounting per SIM; a cap already used up ends the run
        if self.side.fatal is not None:
            self._fatal(*self.side.fatal)
        self._cap_check()

    def sim_identified(self, iccid: str) -> None:
        """The bring-up read the ICCID (before the dial): a used-up cap stops it there."""
        self.side.modem_info(iccid)
        if self.side.fatal is not None:
            self._fatal(*self.side.fatal)
        self._cap_check()

    def on_line(self, line: str) -> None:
        from pppos.backends.connect import PREFIX

        if line.startswith(f"{PREFIX}: "):
            step, _, message = line[len(PREFIX) + 2:].partition(": ")
            if step in ("error", "internal error"):
                self.rep.warn(f"redial: {message}")
            else:
                self.rep.step(step or "redial", message)
            self.set_phase("establish" if step == "connect" else "modem")
            return
        if self.up.trace:
            self.rep.trace(line)
        if (m := _STATS_RE.search(line)) is not None:
            # the session's last octets (ppp0 may be gone already) reach the accounting now
            self._final = (int(m.group(2)), int(m.group(1)))
            self.write_status()
            self._final = None
        elif "Connection terminated" in line or "Modem hangup" in line:
            self.link_lost(line.strip())
        elif line.startswith("Connect: ") and self.phase in ("pppd", "modem", "holdoff"):
            self.set_phase("establish")

    def link_up(self, ev: PppdUp) -> None:
        from pppos.net.dns import choose_servers

        if ev.ifname:
            self.ifname = ev.ifname
        self.sessions += 1
        if self.sessions > 1:
            self.reconnects += 1
        dns = ", ".join(ev.dns) or "none"
        self.rep.step("up", f"link up: local {ev.local_ip}, peer {ev.peer_ip}, DNS {dns}",
                      local_ip=ev.local_ip, peer_ip=ev.peer_ip, dns=list(ev.dns))
        self.local_ip, self.peer_ip, self.up_since = ev.local_ip, ev.peer_ip, time.time()
        if self.up.usepeerdns or self.up.dns:
            servers = choose_servers(ev.dns if self.up.usepeerdns else (), self.up.dns)
            if servers:
                try:
                    self.dns_method = self.dns.apply(servers)
                except PpposError as exc:
                    self.rep.warn(f"could not install the name servers: {exc}")
                else:
                    self.dns_servers = servers
                    self.rep.step("dns", f"DNS {' '.join(servers)} via {self.dns_method}")
            else:
                self.rep.warn("the peer gave no DNS servers and no --dns was given")
        self.side.link_up(local=self.local_ip, remote=self.peer_ip, dns=self.dns_servers)  # READY=1, ip-up
        self.set_phase("running")

    def link_lost(self, why: str) -> None:
        if self.up_since is None:
            return
        self.write_status()  # the session's last counters reach the accounting
        self.up_since, self.local_ip, self.peer_ip = None, None, None
        self.last_failure = self.last_failure if self.stop_requested else f"the link was lost: {why}"
        self.side.link_down()  # ip-down
        self._restore_dns()
        self.set_phase("holdoff" if self.up.persist and not self.stop_requested else "terminate")

    def _restore_dns(self) -> None:
        try:
            self.dns.restore()
        except PpposError as exc:
            self.rep.warn(f"could not restore the resolver: {exc}")
        self.dns_servers, self.dns_method = [], None

    async def close(self, failure: str | None) -> None:
        """Restore host state, finish the sidecar (ip-down, accounting), leave the last failure."""
        from pppos.net.status import record_last_failure

        if self.up_since is not None:
            self.write_status()
            self.up_since = None
        self._restore_dns()
        with contextlib.suppress(Exception):
            await self.side.close()
        if self.status is not None:
            self.status.remove()
        record_last_failure(self.up.ifname, self.up.run_dir, failure)


def run_up(up: Any, reporter: Any, *, pppd: str | None = None, dev_ppp: str = "/dev/ppp") -> int:
    """``pppos-up --backend pppd``: AT bring-up with our engine, then pppd on the same open port.

    Behaves as the python backend under ``pppos-up``: the same state file (``pppos-status``,
    ``pppos-down``), ``--dns``/``--usepeerdns`` installed the same way, the same sidecar (systemd
    ``READY=1``/``STATUS=``/watchdog, ip-up/ip-down hooks, accounting, ``--data-cap``,
    ``--metrics-file``), and ``--persist`` redials through the same bring-up
    (:mod:`pppos.backends.connect`). SIGTERM, SIGHUP and SIGINT stop pppd cleanly. Returns the exit
    status; failures raise :class:`PpposError` children with their exit status.

    Shape: the asyncio loop (signals, sidecar, state file) runs in the main thread; the blocking
    work (our bring-up over the port, then :func:`run_pppd`) runs in one worker thread that hands
    every event to the loop with ``call_soon_threadsafe`` and polls the loop's stop flag.
    """
    opts = options_from_up(up)
    opts.validate()
    if not os.path.exists(dev_ppp):
        raise MissingTool("the kernel has no PPP support (/dev/ppp is missing); use --backend python")
    if (pppd or find_pppd()) is None:
        raise MissingTool("pppd is not installed (Debian: apt-get install ppp); use --backend python")
    import asyncio

    return asyncio.run(_run_up(up, reporter, opts, pppd))


async def _run_up(up: Any, reporter: Any, opts: PppdOptions, pppd: str | None) -> int:
    import asyncio

    loop = asyncio.get_running_loop()
    session = _PppdSession(up, reporter)
    signals = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
    for sig in signals:
        loop.add_signal_handler(sig, session.on_signal, sig)
    loop.add_signal_handler(signal.SIGUSR1, session.refresh)
    session.side.start(loop)
    failure: str | None = None

    def call(fn: Callable[..., None], *args: Any) -> None:
        loop.call_soon_threadsafe(fn, *args)

    try:
        session.write_status()
        # the data cap of the SIM last seen on this interface, before the modem is touched
        hold = session.side.precheck()
        while True:
            if hold is not None:
                if not up.persist:
                    raise PpposError(hold.exit_line, exit_status=ExitStatus.DATA_CAP)
                if not await session.hold(hold):
                    reporter.step("stop", "stopped while holding at the data cap")
                    return int(ExitStatus.INTERRUPTED if session.interrupted else ExitStatus.SUCCESS)
                session.stop_requested = session.capped = False
            try:
                work = functools.partial(_worker, up, reporter, opts=opts, pppd=pppd, session=session, call=call)
                result = await loop.run_in_executor(None, work)
            except _Stopped:
                result = None
            await asyncio.sleep(0)  # run what the worker handed over last
            if not (session.capped and not session.user_stopped and session.fatal is None):
                break
            # --persist and the cap ended the call: hold, then dial again (a fresh bring-up and pppd)
            hold = session.side.check_cap()
        if session.fatal is not None:
            failure = session.fatal[1]
            raise PpposError(session.fatal[1], exit_status=session.fatal[0])
        if result is None:
            reporter.step("stop", "stopped before pppd ran")
            return int(ExitStatus.INTERRUPTED if session.interrupted else ExitStatus.SUCCESS)
        err = result.error()
        if err is not None:
            failure = result.message
            raise err
        reporter.step("down", result.message)
        return int(ExitStatus.INTERRUPTED if session.interrupted else ExitStatus.SUCCESS)
    except PpposError as exc:
        failure = failure or str(exc)
        raise
    finally:
        await session.close(failure)
        for sig in (*signals, signal.SIGUSR1):
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)


def _worker(up: Any, reporter: Any, *, opts: PppdOptions, pppd: str | None, session: _PppdSession,
            call: Callable[..., None]) -> PppdResult:
    """The worker thread: open the port, our bring-up, then pppd on the same open port."""
    from pppos.serial_port import open_port, run_blocking

    port = open_port(up.port, up.baud)
    try:
        if not up.direct:
            from pppos.at.bringup import (
                Bringup,
                DataMode,
                Hangup,
                ModemInfo,
                PinRefused,
                Progress,
                SimIdentified,
                Verdict,
            )
            from pppos.pinguard import remember_pin_refusal

            call(session.set_phase, "modem")
            bringup = Bringup(up.bringup_config())
            bringup.start(time.monotonic())

            def on_event(ev: object) -> None:
                if isinstance(ev, Progress):
                    call(reporter.step, ev.step, ev.message)
                elif isinstance(ev, PinRefused):
                    remember_pin_refusal(up.pin, ev.iccid)
                elif isinstance(ev, SimIdentified):
                    # the data cap of this SIM, before registration and the dial: wait for the loop's verdict
                    checked = threading.Event()
                    call(session.sim_identified, ev.iccid)
                    call(checked.set)
                    checked.wait(5.0)
                    if session.stop_requested:
                        raise _Stopped()  # nothing dialled: the port is simply closed
                elif isinstance(ev, ModemInfo):
                    sig = None
                    if ev.signal_dbm is not None or ev.signal != "unknown":
                        sig = {"dbm": ev.signal_dbm, "word": ev.signal, "rssi": ev.rssi, "at": time.time()}
                    call(session.modem_info, ev.profile, ev.iccid, sig)

            while True:  # in slices, so that a stop is noticed within a quarter second
                ev = run_blocking(port, bringup, until=lambda e: isinstance(e, DataMode | Verdict),
                                  on_event=on_event, deadline=time.monotonic() + 0.25)
                if isinstance(ev, Verdict) and not ev.ok:
                    raise PpposError(ev.message, exit_status=ev.exit_status)
                if ev is not None:
                    break
                if session.stop_requested:
                    raise _Stopped()
            # let the loop take the ModemInfo first (the data cap may already be used up)
            done = threading.Event()
            call(done.set)
            done.wait(5.0)
            if session.stop_requested:
                # the call is up but pppd will not run: hang the modem up (V.250 +++ then ATH)
                hangup = Hangup(session.profile)
                hangup.start(time.monotonic())
                with contextlib.suppress(PpposError):
                    run_blocking(port, hangup, until=lambda e: isinstance(e, Verdict),
                                 deadline=time.monotonic() + 10.0)
                raise _Stopped()
        call(reporter.step, "pppd", f"starting pppd on {up.port}")
        call(session.set_phase, "pppd")
        extra: dict[str, str] = {}
        if opts.redial_helper is not None:
            from pppos.pinguard import state_dir

            extra[REDIAL_FILE] = json.dumps({
                "port": up.port, "baud": up.baud, "profile": up.profile, "apn": up.apn, "user": up.user,
                "password": up.password, "pin": up.pin, "state_dir": str(state_dir()),
                "skip_once": None, "verdict": None,
            })

        def on_directory(private: str) -> None:
            if opts.redial_helper is None:
                return
            # fill in the paths now that the private directory exists (the file stays 0600)
            path = os.path.join(private, REDIAL_FILE)
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            data["skip_once"] = os.path.join(private, "dialled")
            data["verdict"] = session.verdict_path = os.path.join(private, "verdict.json")
            fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_NOFOLLOW)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh)
            if not up.direct:  # the modem is in data mode already: pppd's first connect is a no-op
                os.close(os.open(data["skip_once"], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))

        return run_pppd(opts, port_fd=port.fileno(), pppd=pppd, on_line=lambda line: call(session.on_line, line),
                        on_up=lambda ev: call(session.link_up, ev), should_stop=lambda: session.stop_requested,
                        on_tick=lambda: call(session.tick), extra_files=extra, directory=on_directory)
    finally:
        with contextlib.suppress(Exception):
            port.close()


def print_up_config(up: Any, out: TextIO | None = None) -> int:
    """``pppos-up --backend pppd --print-config``: show what pppd would get (secrets masked); exit 0."""
    print_config(options_from_up(up), out)
    return int(ExitStatus.SUCCESS)


def describe(files: Mapping[str, str]) -> str:
    """The rendered files as one text (for logs and tests)."""
    return "".join(f"# ---- {p}\n{t}" for p, t in files.items())
