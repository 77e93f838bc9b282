"""Sans-I/O AT command engine: line splitter, command queue, final-result / URC classifier.

Implements the command-line conventions of ITU-T V.250 (section 5.2: a command line ends in
``S3`` = CR; section 5.7: responses are framed ``<CR><LF>text<CR><LF>``; section 5.7.1: the final
result codes OK, CONNECT, RING, NO CARRIER, ERROR, NO DIALTONE, BUSY, NO ANSWER) and the extended
error results of 3GPP TS 27.007 section 9.2 (``+CME ERROR: <err>``, numeric or verbose after
``AT+CMEE=2``) and TS 27.005 section 3.2.5 (``+CMS ERROR: <err>``).

Theory of operation
-------------------
* One command is in flight at a time; others wait in a FIFO queue. A command is written when it
  reaches the head of the queue and its deadline (``now + timeout``) starts then.
  :meth:`AtEngine.get_timer` is that deadline; :meth:`AtEngine.handle_timer` turns an expired one into
  a :class:`CommandTimeout` event and starts the next command.
* Received bytes are split into lines on CR or LF. Blank lines (the A7 sends an extra one after each
  reply) are counted and dropped. NUL bytes are dropped and counted. A line with control characters
  or bytes that are not UTF-8 is line noise: counted, never raised, never emitted; so is a line with
  a PPP flag byte (0x7E), the residue of a PPP stream.
* A line is bounded: once the partial line reaches ``max_line`` bytes it is discarded up to the next
  line end and counted in :attr:`AtStats.overlong_lines`, so memory stays bounded whatever arrives.
* A line equal to the in-flight command is its echo and is dropped (echo may be on or off).
* Final results end the command (:data:`FINAL_FAILURES` give :class:`CommandFailed`). ``CONNECT``
  is matched as a prefix (``CONNECT``, ``CONNECT 115200``, ``CONNECT 150000000``) but only while a
  dial-type command (``ATD``, ``ATO``, ``ATA``, ``AT+CGDATA``) is in flight, because the A7's modem
  TCP stack prints a ``CONNECT OK`` line too. It yields :class:`Connected` with the bytes that
  followed the CONNECT line in the same chunk (PPP's first bytes, like h11's ``trailing_data``);
  the engine is then in data mode and keeps any later bytes for :meth:`AtEngine.take_data`.
* Solicited answers are matched by the command's expected prefix, as ModemManager and esp_modem
  do: a line that starts with it (``+CREG:`` for ``AT+CREG?``) is an intermediate line of that
  command; a line with a known URC prefix (:data:`URC_PREFIXES`: ``RING``, ``SMS DONE``, ...) or
  that starts like any other extended or vendor response (``+CSQ: 20,99`` during ``AT+CGSN``,
  ``*ATREADY: 1``, ``^NDISSTAT:``, ``+MSTK``) is an unsolicited result (:class:`Urc`); any other
  line belongs to the in-flight command (``AT+CGSN``'s bare IMEI), or is a URC when no command is
  in flight.
* Final results: ``OK``, the failures of :data:`FINAL_FAILURES` and the numbered errors of
  :data:`ERROR_PREFIXES`; error numbers are read as ASCII digits only (``+CME ERROR: ²`` is an
  error without a number, never an exception).
* Secret arguments (``AT+CPIN="..."``) never reach an event or the trace, whatever form the
  modem's echo takes (quoted or not, with spaces, late).
* Numeric result codes (V.250 6.2.6, ``ATV0``: ``0<CR>`` for OK, ``4<CR>`` for ERROR, see
  :data:`NUMERIC_RESULTS`) are final results only for a command sent with ``numeric=True``: the
  sync line, which has to reach a modem whose stored profile has ``V0`` (see
  :mod:`pppos.at.bringup`), and the hang-up's ``+++`` and ``ATH``. Everywhere else a bare digit is
  an ordinary line (``ATS0?`` answers ``000``, an ``AT+CGSN`` reply is all digits). A numeric code
  needs no LF: the CR alone ends the line, so a ``0<CR>`` never waits for more bytes. ``1``
  (CONNECT) counts only for a dial-type command, ``2`` (RING) is unsolicited. This is how
  ModemManager's V0 parser reads them (``mm_serial_parser_v0_parse`` in src/mm-serial-parsers.c:
  one digit, an optional NUL, CR).
* The SMS / socket-send prompt ``> `` (no line end) gives :class:`Prompt`.
* PPP flag bytes (0x7E) seen in command mode are counted in :attr:`AtStats.flag_bytes`: that is how
  the bring-up notices a modem that is still in data mode.

The engine never reads a clock, sleeps or logs to handlers; an optional ``trace`` callable gets
one line per command and reply, with secrets and IMEIs redacted.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from pppos.at.parse import ascii_int

__all__ = [
    "ANSWER_PREFIXES",
    "CME_TEXT_CODES",
    "ERROR_PREFIXES",
    "FINAL_FAILURES",
    "NUMERIC_RESULTS",
    "URC_PREFIXES",
    "AtEngine",
    "AtEvent",
    "AtStats",
    "CommandDone",
    "CommandFailed",
    "CommandTimeout",
    "Connected",
    "Prompt",
    "Urc",
    "expected_prefix",
    "expected_prefixes",
    "scrub",
]

#: Final results that end a command as a failure: V.250 5.7.1 (ERROR, NO CARRIER, BUSY, NO ANSWER,
#: NO DIALTONE) and those seen in the wild: ``NO DIAL TONE`` (older spelling), ``COMMAND NO RESPONSE!``
#: (A6/A7 manual, appendix E), ``COMMAND NOT SUPPORT`` and Samsung's ``NA`` (both in ModemManager's
#: src/mm-serial-parsers.c), ``ABORTED`` (u-blox AT commands manual: a command aborted by a key press).
FINAL_FAILURES: tuple[str, ...] = (
    "ERROR",
    "NO CARRIER",
    "BUSY",
    "NO ANSWER",
    "NO DIALTONE",
    "NO DIAL TONE",
    "COMMAND NO RESPONSE!",
    "COMMAND NOT SUPPORT",
    "ABORTED",
    "NA",
)

#: The numeric form of the basic result codes (V.250 5.7.1 table 1), which a DCE sends as
#: ``<digit><CR>`` (no header, no LF) while ``ATV0`` is in force (6.2.6). 5 (Hayes' CONNECT 1200)
#: is not in the table; ModemManager's V0 parser (``mm_serial_parser_v0_parse``,
#: src/mm-serial-parsers.c) maps the same eight.
NUMERIC_RESULTS: dict[str, str] = {
    "0": "OK",
    "1": "CONNECT",
    "2": "RING",
    "3": "NO CARRIER",
    "4": "ERROR",
    "6": "NO DIALTONE",
    "7": "BUSY",
    "8": "NO ANSWER",
}

#: Final-result prefixes followed by a numeric or verbose error: TS 27.007 9.2 (``+CME ERROR``),
#: TS 27.005 3.2.5 (``+CMS ERROR``), Motorola EZX's ``MODEM ERROR: <n>`` (ModemManager's
#: src/mm-serial-parsers.c).
ERROR_PREFIXES: tuple[str, ...] = ("+CME ERROR", "+CMS ERROR", "MODEM ERROR")

#: Verbose ``+CME ERROR`` texts (after ``AT+CMEE=2``) mapped to their TS 27.007 9.2.1 numbers.
CME_TEXT_CODES: dict[str, int] = {
    "phone failure": 0,
    "operation not allowed": 3,
    "operation not supported": 4,
    "ph-sim pin required": 5,
    "sim not inserted": 10,
    "sim pin required": 11,
    "sim puk required": 12,
    "sim failure": 13,
    "sim busy": 14,
    "sim wrong": 15,
    "incorrect password": 16,
    "sim pin2 required": 17,
    "sim puk2 required": 18,
    "memory full": 20,
    "not found": 22,
    "no network service": 30,
    "network timeout": 31,
    "network not allowed - emergency calls only": 32,
    "unknown": 100,
    "gprs services not allowed": 107,
    "plmn not allowed": 111,
    "unspecified gprs error": 148,
    "pdp authentication failure": 149,
    "missing or unknown apn": 533,
}

#: Line prefixes that are unsolicited result codes on the modems we know (TS 27.007, A6/A7 manual
#: section 1.3 of the project's modem notes, SIMCom and Quectel manuals). Besides these, any line
#: that starts like an extended or vendor response (``+NAME``, ``^NAME``, ``*NAME``, ``$NAME``,
#: ``%NAME``, ``#NAME``) other than the in-flight command's own prefix is unsolicited.
URC_PREFIXES: tuple[str, ...] = (
    "+CREG:",
    "+CGREG:",
    "+CEREG:",
    "+CIEV:",
    "CIEV:",
    "+CTZV:",
    "+CTZE:",
    "^CINIT:",
    "RING",
    "+CRING:",
    "+CLIP:",
    "+CMTI:",
    "+CMT:",
    "+CBM:",
    "+CDS:",
    "+CUSD:",
    "+CGEV:",
    "+CPIN:",
    "+CFUN:",
    "+QIND:",
    "*PSUTTZ:",
    "+PACSP",
    "READY",
    "RDY",
    "SMS Ready",
    "SMS DONE",
    "Call Ready",
    "PB DONE",
    "NORMAL POWER DOWN",
    "POWER DOWN",
    "UNDER-VOLTAGE",
    "OVER-VOLTAGE",
)

_URC_UPPER = tuple(p.upper() for p in URC_PREFIXES)
#: how an extended / vendor information line starts (TS 27.007 4.1; ``^`` Huawei, ``*`` Sierra/A9G,
#: ``$`` and ``%`` Qualcomm and Telit, ``#`` Telit)
_VENDOR_LINE = re.compile(r"[+^*$%#][A-Z]")
_DIAL_COMMANDS = ("ATD", "ATO", "ATA", "AT+CGDATA")
_PREFIX_RE = re.compile(r"^AT([+^$%*#&][A-Z0-9]+)", re.IGNORECASE)
_SPECIAL = re.compile(rb"[\r\n\x00]")
#: control characters (tab excepted), DEL, and the PPP flag 0x7E make a line noise
_NOISE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7e\x7f]")
_LONG_DIGITS = re.compile(r"\d{14,17}")


#: Commands whose answers carry another prefix than their own name, on the modems we know: the A7
#: answers ``AT+CCID`` with ``+SCID: SIM Card ID:...`` (modem notes 1.1), the SIM7600 ``AT+CICCID``
#: with ``+ICCID:``, SIMCom ``AT+CGMR`` with ``Revision:``, the A7 ``AT+CIPSTATUS`` with ``+IPSTATUS:``.
ANSWER_PREFIXES: dict[str, tuple[str, ...]] = {
    "+CCID:": ("+CCID:", "+SCID:", "+ICCID:"),
    "+CICCID:": ("+ICCID:", "+CICCID:"),
    "+CGMR:": ("+CGMR:", "REVISION:"),
    "+CIPSTATUS:": ("+CIPSTATUS:", "+IPSTATUS:", "STATE:"),
}


def expected_prefix(command: str) -> str | None:
    """Return the response prefix of an extended command (``AT+CREG?`` -> ``+CREG:``), else None.

    TS 27.007 section 4.1: extended commands answer ``+NAME: ...`` information responses.
    """
    match = _PREFIX_RE.match(command.strip())
    if match is None:
        return None
    return match.group(1).upper() + ":"


def expected_prefixes(command: str) -> tuple[str, ...]:
    """Every prefix an answer to ``command`` may carry (:data:`ANSWER_PREFIXES`), or () for a basic command."""
    prefix = expected_prefix(command)
    if prefix is None:
        return ()
    return ANSWER_PREFIXES.get(prefix, (prefix,))


def scrub(text: str) -> str:
    """Redact IMEI-like digit runs (14 to 17 digits) to their last 4 digits, for traces and messages."""
    return _LONG_DIGITS.sub(lambda m: "*" * (len(m.group(0)) - 4) + m.group(0)[-4:], text)


# --------------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandDone:
    """The in-flight command ended in ``OK``.

    ``command`` is the command as shown to people (secret arguments redacted); ``lines`` are its
    intermediate lines (information responses, V.250 5.7.2) in arrival order.
    """

    command: str
    lines: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandFailed:
    """The in-flight command ended in a failure result.

    ``result`` is the result word (``ERROR``, ``+CME ERROR``, ``+CMS ERROR``, ``NO CARRIER``, ``BUSY``,
    ``NO ANSWER``, ``NO DIALTONE``, ``COMMAND NO RESPONSE!``); ``code`` the numeric TS 27.007 9.2 /
    TS 27.005 3.2.5 error when known (verbose CME texts are mapped through :data:`CME_TEXT_CODES`);
    ``text`` the whole final line.
    """

    command: str
    result: str
    code: int | None = None
    text: str = ""
    lines: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandTimeout:
    """The in-flight command got no final result before its deadline."""

    command: str
    lines: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Urc:
    """An unsolicited result code line (``+CREG: 1``, ``RING``, ``+CTZV:...``, ``NO CARRIER`` when idle)."""

    line: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Prompt:
    """The modem printed the ``> `` prompt for the in-flight command (``AT+CMGS``, ``AT+CIPSEND``)."""

    command: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Connected:
    """A dial-type command answered ``CONNECT`` (V.250 5.7.1, matched as a prefix).

    ``text`` is the CONNECT line (``CONNECT`` or ``CONNECT 115200``); ``trailing`` the bytes that
    followed it in the same chunk: the start of the PPP stream, to be fed to the PPP link first.
    The engine is now in data mode; later bytes are kept for :meth:`AtEngine.take_data`.
    """

    command: str
    text: str
    trailing: bytes = field(default=b"", repr=False)


AtEvent = CommandDone | CommandFailed | CommandTimeout | Urc | Prompt | Connected


@dataclass(slots=True)
class AtStats:
    """Counters of what the engine saw. Line noise is counted here, never raised."""

    #: bytes received in command mode
    rx_bytes: int = 0
    #: bytes queued for the modem
    tx_bytes: int = 0
    #: complete non-blank lines
    lines: int = 0
    blank_lines: int = 0
    echo_lines: int = 0
    nul_bytes: int = 0
    #: lines dropped as line noise (control characters, invalid UTF-8, stray echo)
    noise_lines: int = 0
    #: bytes dropped as noise (noise lines and the discarded part of overlong lines)
    noise_bytes: int = 0
    #: partial lines that reached ``max_line`` and were discarded
    overlong_lines: int = 0
    #: PPP flag bytes (0x7E) seen in command mode: a modem still in data mode
    flag_bytes: int = 0
    urcs: int = 0
    commands: int = 0
    timeouts: int = 0
    #: final results that arrived while no command was in flight (late answers)
    orphan_results: int = 0
    #: data-mode bytes dropped because nobody called take_data() (bounded at ``max_data``)
    data_overflow: int = 0


@dataclass(slots=True)
class _Command:
    text: str
    label: str
    timeout: float
    prefixes: tuple[str, ...]
    dial: bool
    lead: bytes
    terminator: bytes
    #: V.250 numeric result codes (:data:`NUMERIC_RESULTS`) end this command too
    numeric: bool = False
    #: the secret argument, spaces and quotes removed, upper case ("" when the command holds none)
    secret: str = ""
    lines: list[str] = field(default_factory=list)
    deadline: float = 0.0


class AtEngine:
    """Sans-I/O AT command engine (see the module docstring for the rules).

    :param max_line: the longest line kept, in bytes; longer lines are discarded and counted.
    :param max_data: the most data-mode bytes kept for :meth:`take_data` (the rest is counted).
    :param trace: optional callable receiving one human-readable line per command and response.
    """

    def __init__(
        self, *, max_line: int = 1024, max_data: int = 65536, trace: Callable[[str], None] | None = None
    ) -> None:
        if max_line < 16:
            raise ValueError("max_line must be at least 16")
        self.max_line = max_line
        self.max_data = max_data
        self.stats = AtStats()
        self._trace = trace
        self._queue: deque[_Command] = deque()
        self._current: _Command | None = None
        self._events: deque[AtEvent] = deque()
        self._out = bytearray()
        self._buf = bytearray()
        self._discarding = False
        self._data_mode = False
        self._data = bytearray()
        self._skip_lf = False
        self._connect: Connected | None = None
        self._prev_cr = False
        #: the last few secret arguments (compacted): a late or mangled echo of one is dropped
        self._secrets: deque[str] = deque(maxlen=4)

    # ------------------------------------------------------------------ commands

    def send_command(
        self,
        command: str,
        now: float,
        *,
        timeout: float = 1.0,
        prefix: str | tuple[str, ...] | None = None,
        secret: bool = False,
        lead: bytes = b"",
        terminator: bytes = b"\r",
        numeric: bool = False,
    ) -> None:
        """Queue ``command`` (without its CR); it is written when no other command is in flight.

        :param now: the caller's clock; starts the deadline if the command goes out at once.
        :param timeout: seconds to wait for a final result once the command is written.
        :param prefix: the information-response prefix (or several: the A7 answers ``AT+CCID`` with
            ``+SCID:``); by default derived from the command (``AT+CSQ`` -> ``+CSQ:``). A line that
            looks like an extended or vendor response but has none of these prefixes is a URC.
        :param secret: the command carries a secret (``AT+CPIN="..."``): events and traces show
            only the part before ``=``.
        :param lead: bytes written before the command (``b"\\r"`` for the sync ``\\rAT``).
        :param terminator: the command-line end; ``b""`` for ``+++`` which must stand alone.
        :param numeric: a V.250 numeric result code (``0<CR>``, ``4<CR>``, :data:`NUMERIC_RESULTS`)
            also ends this command, as a modem with ``V0`` in force answers: for the sync line and
            the hang-up, which may meet a modem in whatever state its stored profile left it.
        """
        name, sep, argument = command.partition("=")
        label = (name + "=***" if sep else "***") if secret else command
        if prefix is None:
            prefixes: tuple[str, ...] = expected_prefixes(command)
        else:
            prefixes = (prefix,) if isinstance(prefix, str) else tuple(prefix)
        hidden = _compact(argument or command) if secret else ""
        if hidden:
            self._secrets.append(hidden)
        upper = command.strip().upper()
        dial = upper.startswith(_DIAL_COMMANDS) and not upper.startswith("ATDS")
        self._queue.append(
            _Command(
                text=command,
                label=label,
                timeout=timeout,
                prefixes=tuple(p.upper() for p in prefixes),
                dial=dial,
                lead=lead,
                terminator=terminator,
                numeric=numeric,
                secret=hidden,
            )
        )
        self._start_next(now)

    def write_raw(self, data: bytes) -> None:
        """Queue raw bytes for the modem (``+++`` with guard times, a Ctrl-Z after a prompt, a probe frame)."""
        self._out += data
        self.stats.tx_bytes += len(data)

    def cancel_all(self) -> None:
        """Forget the in-flight and queued commands without events (a hang-up or restart follows)."""
        self._queue.clear()
        self._current = None

    @property
    def busy(self) -> bool:
        """True while a command is in flight or queued."""
        return self._current is not None or bool(self._queue)

    @property
    def in_data_mode(self) -> bool:
        """True after :class:`Connected` until :meth:`enter_command_mode`."""
        return self._data_mode

    def take_data(self) -> bytes:
        """Return and forget the bytes received in data mode after the :class:`Connected` event."""
        data = bytes(self._data)
        self._data.clear()
        return data

    def enter_command_mode(self) -> None:
        """Parse lines again (after ``+++`` or when a modem left in data mode is being recovered).

        Bytes kept in data mode are dropped and counted as noise.
        """
        self._data_mode = False
        self.stats.noise_bytes += len(self._data)
        self._data.clear()
        self._buf.clear()
        self._discarding = False
        self._skip_lf = False
        self._prev_cr = False

    # ------------------------------------------------------------------ uniform surface

    def receive_data(self, data: bytes, now: float) -> None:
        """Feed bytes from the modem. ``now`` is the caller's clock (used to start queued commands)."""
        if self._data_mode:
            self._keep_data(data)
            return
        i = 0
        n = len(data)
        while i < n:
            if self._data_mode:
                self._keep_data(data[i:])
                break
            match = _SPECIAL.search(data, i)
            j = match.start() if match is not None else n
            if j > i:  # a run of ordinary text: handled in bulk
                self._prev_cr = False
                self._add_text(data[i:j])
                i = j
                continue
            byte = data[i]
            i += 1
            if byte == 0x00:
                self.stats.nul_bytes += 1
                continue
            if byte == 0x0A and self._prev_cr:
                self._prev_cr = False  # the LF of a CR LF pair
                continue
            self._prev_cr = byte == 0x0D
            self._end_line(now)
            if self._data_mode:
                self._skip_lf = True
        self.stats.rx_bytes += i
        if self._connect is not None:
            # h11-style handover: the bytes after the CONNECT line are the first PPP bytes
            connect, self._connect = self._connect, None
            self._events.append(Connected(command=connect.command, text=connect.text, trailing=self.take_data()))

    def next_event(self) -> AtEvent | None:
        """Return the next event, or None when there is none."""
        return self._events.popleft() if self._events else None

    def data_to_send(self) -> bytes:
        """Return and forget the bytes queued for the modem."""
        out = bytes(self._out)
        self._out.clear()
        return out

    def get_timer(self) -> float | None:
        """The in-flight command's deadline on the caller's clock, or None."""
        return self._current.deadline if self._current is not None else None

    def handle_timer(self, now: float) -> None:
        """Expire the in-flight command if its deadline has passed."""
        cmd = self._current
        if cmd is None or now < cmd.deadline:
            return
        self.stats.timeouts += 1
        self._log(f"-- {cmd.label}: no answer in {cmd.timeout:g} s")
        self._finish(CommandTimeout(command=cmd.label, lines=tuple(cmd.lines)), now)

    # ------------------------------------------------------------------ internals

    def _add_text(self, chunk: bytes) -> None:
        self.stats.flag_bytes += chunk.count(0x7E)
        if self._discarding:
            self.stats.noise_bytes += len(chunk)
            return
        if len(self._buf) + len(chunk) >= self.max_line:
            # bounded memory: the partial line is dropped and the rest of it discarded up to its end
            self.stats.overlong_lines += 1
            self.stats.noise_bytes += len(self._buf) + len(chunk)
            self._buf.clear()
            self._discarding = True
            return
        short = len(self._buf) < 2
        self._buf += chunk
        if short and self._buf.startswith(b"> ") and self._current is not None:
            # the prompt has no line end (27.005 3.5.1); whatever follows it starts a new line
            del self._buf[:2]
            self._events.append(Prompt(command=self._current.label))
            self._log(f"<< > (prompt for {self._current.label})")

    def _keep_data(self, data: bytes) -> None:
        if self._skip_lf:
            # line ends (and the A7's extra blank line) between CONNECT and the first PPP byte
            data = data.lstrip(b"\r\n")
            if data:
                self._skip_lf = False
        room = self.max_data - len(self._data)
        if len(data) > room:
            # a driver that keeps feeding us after Connected: keep the start, count the rest
            self.stats.data_overflow += len(data) - max(room, 0)
            data = data[: max(room, 0)]
        self._data += data

    def _log(self, text: str) -> None:
        if self._trace is not None:
            self._trace(scrub(text))

    def _hide_secrets(self, line: str, cmd: _Command | None) -> str | None:
        """``line`` with any secret argument hidden, or None when the line must be dropped.

        A line holding a secret that the engine was given (``AT+CPIN="..."``), however the modem
        echoed it (quoted or not, with spaces, late, cut short to ``PIN=4711``), is an echo and is
        dropped: always while the secret command is in flight, and afterwards when it looks like a
        command (``AT``, ``CPIN`` or ``=`` in it). Any other line that holds the secret keeps its
        other text with the secret replaced by ``***``.
        """
        if not self._secrets:
            return line
        compact = _compact(line)
        hits = [secret for secret in self._secrets if secret in compact]
        if not hits:
            return line
        if (cmd is not None and cmd.secret and cmd.secret in compact) or any(
            mark in compact for mark in ("AT", "CPIN", "=")
        ):
            return None
        for secret in hits:
            line = re.sub(re.escape(secret), "***", line, flags=re.IGNORECASE)
        return None if any(secret in _compact(line) for secret in hits) else line

    def _start_next(self, now: float) -> None:
        if self._current is not None or not self._queue or self._data_mode:
            return
        cmd = self._queue.popleft()
        cmd.deadline = now + cmd.timeout
        self._current = cmd
        self.stats.commands += 1
        wire = cmd.lead + cmd.text.encode("ascii", "replace") + cmd.terminator
        self._out += wire
        self.stats.tx_bytes += len(wire)
        self._log(f">> {cmd.label}")

    def _finish(self, event: AtEvent, now: float) -> None:
        self._current = None
        self._events.append(event)
        self._start_next(now)

    def _end_line(self, now: float) -> None:
        if self._discarding:
            self._discarding = False
            self._buf.clear()
            return
        raw = bytes(self._buf)
        self._buf.clear()
        if not raw.strip(b" \t"):
            self.stats.blank_lines += 1
            return
        try:
            line = "" if _NOISE.search(raw) else raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            line = ""
        if not line:
            self.stats.noise_lines += 1
            self.stats.noise_bytes += len(raw)
            return
        if not line.isprintable():
            # C1 controls, bidi overrides, zero-width characters: peer text that reaches a terminal
            line = "".join(ch if ch.isprintable() else "?" for ch in line)
        self.stats.lines += 1
        self._classify(line, now)

    def _classify(self, line: str, now: float) -> None:
        cmd = self._current
        upper = line.upper()
        if cmd is not None and upper == (cmd.lead.decode("ascii", "replace") + cmd.text).strip().upper():
            self.stats.echo_lines += 1
            return
        hidden = self._hide_secrets(line, cmd)
        if hidden is None:
            # an echo of a secret command (mangled, unquoted, late): never let the secret reach an event
            self.stats.echo_lines += 1
            return
        if hidden is not line:
            line, upper = hidden, hidden.upper()
        if cmd is not None and cmd.numeric and upper in NUMERIC_RESULTS and (upper != "1" or cmd.dial):
            # V.250 6.2.6: a V0 modem's result code, matched below as its verbose word (2, RING, is
            # then a URC like the verbose one; 1, CONNECT, only ends a dial-type command)
            self._log(f"<< {line} (numeric result code)")
            line = upper = NUMERIC_RESULTS[upper]
        final = self._final(line, upper, cmd)
        if final is not None:
            if cmd is None:
                if final in {"CONNECT-URC", "NO CARRIER", "RING"}:
                    self._urc(line)
                else:
                    self.stats.orphan_results += 1
                    self._log(f"<< {line} (no command in flight)")
                return
            self._log(f"<< {line}")
            if final == "OK":
                self._finish(CommandDone(command=cmd.label, lines=tuple(cmd.lines)), now)
            elif final == "CONNECT":
                self._data_mode = True
                self._current = None
                self._connect = Connected(command=cmd.label, text=line)
            else:
                code = _error_code(line, final)
                self._finish(
                    CommandFailed(command=cmd.label, result=final, code=code, text=line, lines=tuple(cmd.lines)),
                    now,
                )
            return
        if cmd is not None and cmd.prefixes and upper.startswith(cmd.prefixes):
            cmd.lines.append(line)
            self._log(f"<< {line}")
            return
        if upper.startswith(_URC_UPPER) or _VENDOR_LINE.match(upper):
            # solicited answers are matched by the command's prefix (as ModemManager and esp_modem
            # do): an AUTOCSQ "+CSQ: 20,99" before an AT+CGSN answer is never the IMEI
            self._urc(line)
            return
        if cmd is None:
            if upper.startswith("AT"):
                # a stray echo of a command that already ended (or of our own sync bytes)
                self.stats.echo_lines += 1
                return
            self._urc(line)
            return
        cmd.lines.append(line)
        self._log(f"<< {line}")

    def _urc(self, line: str) -> None:
        self.stats.urcs += 1
        self._log(f"<< {line} (unsolicited)")
        self._events.append(Urc(line=line))

    @staticmethod
    def _final(line: str, upper: str, cmd: _Command | None) -> str | None:
        if upper == "OK":
            return "OK"
        for prefix in ERROR_PREFIXES:
            if upper.startswith(prefix) and upper[len(prefix) : len(prefix) + 1] in ("", ":", " "):
                return prefix
        if upper.startswith("CONNECT") and (cmd is None or cmd.dial):
            rest = upper[7:]
            if not rest or rest[0] in " :/":
                return "CONNECT" if cmd is not None else "CONNECT-URC"
            return None
        if upper in FINAL_FAILURES:
            return upper
        if upper == "RING" and cmd is None:
            return "RING"
        return None


def _compact(text: str) -> str:
    """``text`` upper case without spaces, tabs and quotes (how a secret is looked for in echoes)."""
    return "".join(text.upper().replace('"', "").split())


def _error_code(line: str, final: str) -> int | None:
    """The number of an error result (strict ASCII digits), or the number of a verbose CME text."""
    if final not in ERROR_PREFIXES:
        return None
    rest = line.split(":", 1)[1].strip() if ":" in line else ""
    code = ascii_int(rest)
    if code is not None:
        return code
    return CME_TEXT_CODES.get(rest.lower()) if final == "+CME ERROR" else None
