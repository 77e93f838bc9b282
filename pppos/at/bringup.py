"""Sans-I/O bring-up plan: from a silent serial line to PPP data mode, with plain-language verdicts.

The steps follow 3GPP TS 27.007 and ITU-T V.250: sync (``\\rATE0Q0V1``, V.250 5.2.1 and 5.3, with
autobaud over common rates; see "The sync line" below), ``ATE0`` (V.250 6.2.4), ``AT+CMEE=2``
(27.007 9.1), identity (``ATI``, ``+CGMI``, ``+CGMM``, ``+CGMR``, ``+CGSN``: 27.007 5.1-5.4), SIM
(``+CPIN``: 27.007 8.3), signal (``+CSQ``: 27.007 8.5, dBm = -113 + 2 * rssi), operator (``+COPS?``:
27.007 7.3), registration (``+CREG`` 7.2, ``+CGREG`` 10.1.20, ``+CEREG`` 10.1.22), ``AT+CREG=0``
before dialling, attach (``+CGATT`` 10.1.9), PDP context (``+CGDCONT`` 10.1.1), dial
(``ATD*99***<cid>#``, 27.007 10.2.1.1, falling back to ``ATO``, V.250 6.3.7) and CONNECT, which
hands over the bytes after it (:class:`DataMode`).

Before the sync the plan checks for a modem left in data mode, as esp_modem does: it sends an LCP
Echo-Request (RFC 1661 section 5.8) in an RFC 1662 HDLC-like frame (FCS-16, section C.2; every
control character escaped, section 7.1), followed by an LCP Terminate-Request (section 5.5), which
a peer still negotiating answers too (an Echo-Request is answered only in the Opened state), and
then the sync line. A modem in command mode answers that line at once (OK, or ERROR for the
probe's bytes), which ends the check without a fixed wait; in data mode the line is noise between frames for the
peer (RFC 1662 section 4.3) and the check waits ``detect_wait`` (0.3 s) for the peer's answer. If
PPP flag bytes (0x7E) other than an echo of our own frames come back, it runs the :class:`Hangup`
procedure (DTR drop, 1 s guard, ``+++`` alone, 1 s guard, ``ATH``) and continues. A modem whose
data call has a silent peer answers nothing at all: when the first rate gets no answer to the sync,
the plan tries the guarded ``+++`` once before moving on to other rates.

The sync line
-------------
A modem answers as its stored profile (``AT&W``, or whatever program used it last) says: with
numeric result codes (``V0``, V.250 6.2.6) a bare ``AT`` gets ``0<CR>``, never ``OK``; in quiet mode
(``Q1``, V.250 6.2.5) it gets nothing at all; with echo on (``E1``, 6.2.4) the line comes back
first. So the sync does not send a bare ``AT`` but :data:`SYNC_COMMAND`, ``ATE0Q0V1``: three basic
commands on one line (V.250 5.3.1), echo off, result codes on, verbose form, which is valid in every
stored state and puts the modem in the one this plan reads. ModemManager sends ``E0 V1`` right
after its ``ATZ`` (``modem_init_sequence`` in src/mm-broadband-modem.c), which a ``Q1`` modem would
still leave unanswered, hence the ``Q0`` here; esp_modem's ``sync()`` (components/esp_modem, a
bare ``AT`` before ``set_echo(false)``) gets no ``OK`` from a ``V0`` or ``Q1`` modem. The other way, a bare ``AT``
whose ``0<CR>`` means "alive, in V0" and then ``ATQ0V1``, cannot reach a ``Q1`` modem, which
answers nothing at all, and costs a second step.

Whether the modem formats the result of that line in the old or the new setting is its choice
(Hayes-style modems use the new one), so the sync command is sent with ``numeric=True``: the
engine then also takes V.250 numeric result codes (``0<CR>`` OK, ``4<CR>`` ERROR) as its answer;
a ``Q1`` modem that suppresses this one result answers the next try. The detection step's line is
the same command, and so are the hang-up's ``+++``/``ATH`` and the recovery rungs' checks
(:mod:`pppos.at.recovery`): a modem that rebooted into its stored profile is met the same way. A
modem that refuses the combined line (``ERROR``) is tried once more with a plain ``AT``.

Theory of operation
-------------------
The plan is a generator (a coroutine) over an :class:`~pppos.at.engine.AtEngine`: it yields a
command (or a wait) and is resumed with the command's result event when the engine produces it.
That keeps the long, mostly linear script readable while the object keeps the uniform sans-I/O
surface (``receive_data(data, now)``, ``next_event()``, ``data_to_send()``, ``get_timer()``,
``handle_timer(now)``). Every failure ends in one :class:`Verdict` whose code, exit status and
message come from the :data:`VERDICTS` table. A driver must apply :class:`SetBaud` and
:class:`SetDtr` events before it writes the bytes from the next :meth:`Bringup.data_to_send`.

Secrets (PIN, APN password) never appear in events, reprs or messages; IMEIs are shown with all
but their last 4 digits redacted.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Generator, Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum, unique

from pppos.at.engine import (
    AtEngine,
    CommandDone,
    CommandFailed,
    CommandTimeout,
    Connected,
    Urc,
    scrub,
)
from pppos.at.parse import (
    REG_STATES,
    REGISTERED_STATES,
    Registration,
    ascii_int,
    consolidate,
    parse_cesq,
    parse_cops,
    parse_cpin,
    parse_csq,
    parse_qcsq,
    parse_registration_line,
    signal_quality,
)
from pppos.at.profiles import PROFILES, ModemProfile, detect_profile, get_profile
from pppos.errors import ExitStatus

__all__ = [
    "COMMON_BAUDS",
    "REG_STATES",
    "SYNC_COMMAND",
    "VERDICTS",
    "Bringup",
    "BringupConfig",
    "BringupEvent",
    "DataMode",
    "Hangup",
    "ModemInfo",
    "PdpContext",
    "PinRefused",
    "Progress",
    "SetBaud",
    "SetDtr",
    "SimIdentified",
    "Verdict",
    "VerdictCode",
    "fcs16",
    "lcp_echo_request_frame",
    "lcp_frame",
    "lcp_terminate_request_frame",
    "parse_iccid",
    "parse_pin_attempts",
    "parse_registration",
    "redact_imei",
    "signal_quality",
]

#: The sync line (see "The sync line" in the module docstring): echo off, result codes on, verbose.
SYNC_COMMAND = "ATE0Q0V1"

#: The rates tried by autobaud, most common first (the A6/A7 libraries try 115200 and 9600 first).
COMMON_BAUDS: tuple[int, ...] = (115200, 9600, 57600, 19200, 38400, 230400, 460800, 921600)

# --------------------------------------------------------------------------- events


@unique
class VerdictCode(Enum):
    """How a bring-up (or hang-up) ended. Messages and exit statuses are in :data:`VERDICTS`."""

    READY = "ready"
    CONNECTED = "connected"
    HUNG_UP = "hung-up"
    NO_RESPONSE = "no-response"
    MODEM_SILENT = "modem-silent"
    PIN_NEEDED = "pin-needed"
    PIN_WRONG = "pin-wrong"
    PUK_NEEDED = "puk-needed"
    PIN_REFUSED_BEFORE = "pin-refused-before"
    PIN_ATTEMPTS_LOW = "pin-attempts-low"
    SIM_MISSING = "sim-missing"
    SIM_ERROR = "sim-error"
    REG_DENIED = "registration-denied"
    REG_TIMEOUT = "registration-timeout"
    ATTACH_FAILED = "attach-failed"
    PDP_FAILED = "pdp-failed"
    DIAL_FAILED = "dial-failed"
    HANGUP_FAILED = "hangup-failed"


#: code -> (success, exit status, message template). Templates are filled with str.format.
VERDICTS: dict[VerdictCode, tuple[bool, ExitStatus, str]] = {
    VerdictCode.READY: (
        True,
        ExitStatus.SUCCESS,
        "the modem is registered ({registration}) and could dial",
    ),
    VerdictCode.CONNECTED: (True, ExitStatus.SUCCESS, "the modem answered {text} to {command}: PPP can start"),
    VerdictCode.HUNG_UP: (True, ExitStatus.SUCCESS, "the modem is back in command mode and the call is ended"),
    VerdictCode.NO_RESPONSE: (
        False,
        ExitStatus.NO_MODEM,
        "nothing answered AT at {bauds} baud: check the port, the cable (TX/RX crossed, common ground) "
        "and the modem's power (an A7 needs 2 A peaks)",
    ),
    VerdictCode.MODEM_SILENT: (
        False,
        ExitStatus.NO_MODEM,
        "the modem stopped answering ({command} got no reply in {timeout:g} s): power-cycle it and try again",
    ),
    VerdictCode.PIN_NEEDED: (
        False,
        ExitStatus.SIM,
        "the SIM needs its PIN: run again with --pin-file FILE (a file holding the PIN, mode 600)",
    ),
    VerdictCode.PIN_WRONG: (
        False,
        ExitStatus.SIM,
        "the SIM refused the PIN ({text}): check the PIN; it was tried once and will not be retried "
        "automatically (never again on this SIM), because a SIM locks itself after 3 wrong PINs",
    ),
    VerdictCode.PIN_REFUSED_BEFORE: (
        False,
        ExitStatus.PIN_REFUSED,
        "this SIM ({iccid}) refused this PIN before, so it was not sent again (a SIM locks itself after 3 "
        "wrong PINs): put the right PIN in the PIN file; if it was right after all, delete this SIM's "
        "record in the pin-refused directory of pppos's state directory (/var/lib/pppos)",
    ),
    VerdictCode.PIN_ATTEMPTS_LOW: (
        False,
        ExitStatus.PIN_REFUSED,
        "the SIM has only {attempts} PIN attempt(s) left, so no PIN was sent (pppos never risks the "
        "last ones): check the PIN and enter it by hand (AT+CPIN) or in a phone",
    ),
    VerdictCode.PUK_NEEDED: (
        False,
        ExitStatus.SIM,
        "the SIM is locked and needs its PUK (too many wrong PINs): unlock it in a phone; no PIN was sent",
    ),
    VerdictCode.SIM_MISSING: (
        False,
        ExitStatus.SIM,
        "no SIM card is inserted (or it is not making contact): insert it with the power off",
    ),
    VerdictCode.SIM_ERROR: (False, ExitStatus.SIM, "the SIM is not usable ({text}): check the card"),
    VerdictCode.REG_DENIED: (
        False,
        ExitStatus.NETWORK,
        "registration was denied by the network ({registration}): the SIM may be inactive, barred "
        "or out of credit; ask the operator",
    ),
    VerdictCode.REG_TIMEOUT: (
        False,
        ExitStatus.NETWORK,
        "the modem did not register within {timeout:g} s ({registration}; signal {signal}): "
        "check the antenna and coverage, or give it longer (pppos-up --registration-timeout, "
        "pppos-probe --timeout)",
    ),
    VerdictCode.ATTACH_FAILED: (
        False,
        ExitStatus.NETWORK,
        "the modem could not attach to the packet network ({text}): the SIM may have no data plan",
    ),
    VerdictCode.PDP_FAILED: (
        False,
        ExitStatus.DIAL,
        "the modem refused the PDP context ({command} -> {text}): check the APN",
    ),
    VerdictCode.DIAL_FAILED: (
        False,
        ExitStatus.DIAL,
        "the modem would not dial ({command} -> {text}): check the APN (--apn) and that the SIM has data",
    ),
    VerdictCode.HANGUP_FAILED: (
        False,
        ExitStatus.NO_MODEM,
        "the modem did not leave data mode ({text}): power-cycle it",
    ),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Progress:
    """A step started or finished: ``step`` is a short key (``sync``, ``sim``), ``message`` one line."""

    step: str
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SetBaud:
    """The driver must switch the port to ``rate`` before writing the next bytes (autobaud)."""

    rate: int


@dataclass(frozen=True, slots=True, kw_only=True)
class SetDtr:
    """The driver should set DTR to ``level`` where the port supports it (dropping DTR hangs up, V.250 6.2.9)."""

    level: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class PdpContext:
    """One ``+CGDCONT`` entry (TS 27.007 10.1.1)."""

    cid: int
    pdp_type: str
    apn: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ModemInfo:
    """What the bring-up learnt about the modem (fields are empty / None when unknown).

    ``imei`` is already redacted to its last 4 digits. ``registration`` pairs each queried
    domain (``CREG``, ``CGREG``, ``CEREG``, ``C5GREG``) with its state in words; ``registered`` is
    the consolidated verdict (ModemManager's rule, :func:`pppos.at.parse.consolidate`).
    ``technology`` (``LTE``, ``EDGE``), ``area`` (LAC or TAC) and ``cell`` (cell id, both in
    hexadecimal as 27.007 gives them) come from the registration reports (``AT+CREG=2`` forms);
    ``operator_code`` is the MCC+MNC from ``AT+COPS=3,2`` / ``AT+COPS?`` (27.007 7.3); ``rsrp_dbm`` and
    ``rsrq_db`` the LTE signal from ``AT+CESQ`` (27.007 8.69) or the profile's vendor command.
    """

    profile: str = ""
    baud: int | None = None
    manufacturer: str = ""
    model: str = ""
    revision: str = ""
    ati: str = ""
    imei: str = ""
    sim: str = "unknown"
    rssi: int | None = None
    signal_dbm: int | None = None
    signal: str = "unknown"
    operator: str = ""
    operator_code: str = ""
    registration: tuple[tuple[str, str], ...] = ()
    registered: bool | None = None
    technology: str = ""
    area: str = ""
    cell: str = ""
    rsrp_dbm: float | None = None
    rsrq_db: float | None = None
    attached: bool | None = None
    contexts: tuple[PdpContext, ...] = ()
    #: the SIM's ICCID (read before a PIN is sent: refusals are remembered per SIM)
    iccid: str = ""
    #: PIN attempts left, where the modem tells (``AT+CPINR``, ``AT+QPINC``, ``AT+SPIC``)
    pin_attempts: int | None = None

    @property
    def mcc(self) -> str:
        """The mobile country code (first 3 digits of ``operator_code``), or ''."""
        return self.operator_code[:3] if len(self.operator_code) in (5, 6) else ""

    @property
    def mnc(self) -> str:
        """The mobile network code (the 2 or 3 digits after the MCC), or ''."""
        return self.operator_code[3:] if len(self.operator_code) in (5, 6) else ""

    @property
    def network_text(self) -> str:
        """One line about the network: ``Telekom.de (262/01), LTE, TAC 1A2B, cell 01C3D4``, or ''."""
        parts = []
        name = self.operator or ""
        if self.mcc:
            name = f"{name} ({self.mcc}/{self.mnc})" if name else f"{self.mcc}/{self.mnc}"
        if name:
            parts.append(name)
        if self.technology:
            parts.append(self.technology)
        if self.area:
            kind = "TAC" if self.technology.startswith(("LTE", "NB-IoT", "5G", "NG", "EN-DC")) else "LAC"
            parts.append(f"{kind} {self.area}")
        if self.cell:
            parts.append(f"cell {self.cell}")
        return ", ".join(parts)

    @property
    def signal_text(self) -> str:
        """``-65 dBm (excellent)`` plus the LTE readings when known, or the word alone."""
        text = f"{self.signal_dbm} dBm ({self.signal})" if self.signal_dbm is not None else self.signal
        lte = []
        if self.rsrp_dbm is not None:
            lte.append(f"RSRP {self.rsrp_dbm:g} dBm")
        if self.rsrq_db is not None:
            lte.append(f"RSRQ {self.rsrq_db:g} dB")
        return f"{text}; {', '.join(lte)}" if lte else text

    def as_dict(self) -> dict[str, object]:
        """The fields as plain JSON-able data (for ``pppos-probe --json`` and the status file)."""
        return {
            "profile": self.profile,
            "baud": self.baud,
            "manufacturer": self.manufacturer,
            "model": self.model,
            "revision": self.revision,
            "imei": self.imei,
            "sim": self.sim,
            "rssi": self.rssi,
            "signal_dbm": self.signal_dbm,
            "signal": self.signal,
            "rsrp_dbm": self.rsrp_dbm,
            "rsrq_db": self.rsrq_db,
            "operator": self.operator,
            "operator_code": self.operator_code,
            "mcc": self.mcc,
            "mnc": self.mnc,
            "technology": self.technology,
            "area": self.area,
            "cell": self.cell,
            "registration": dict(self.registration),
            "registered": self.registered,
            "attached": self.attached,
            "contexts": [{"cid": c.cid, "type": c.pdp_type, "apn": c.apn} for c in self.contexts],
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    """How the plan ended: ``ok``, a :class:`VerdictCode`, one line for a person, an exit status."""

    ok: bool
    code: VerdictCode
    message: str
    exit_status: ExitStatus


@dataclass(frozen=True, slots=True, kw_only=True)
class DataMode:
    """The modem is in data mode; ``trailing`` are the first PPP bytes (feed them to the link first)."""

    trailing: bytes = field(default=b"", repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class PinRefused:
    """The SIM refused the PIN (27.007 8.3 ``+CPIN``): the driver remembers it for this SIM
    (:func:`pppos.pinguard.remember_refusal`) and feeds it back as ``BringupConfig.pin_refused_for``
    on every later start, so that a wrong PIN is never sent twice and the SIM never locks itself.
    ``iccid`` is "" when the SIM's ICCID could not be read."""

    iccid: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SimIdentified:
    """The SIM's ICCID (ITU-T E.118, by ``AT+CCID`` or the profile's vendor command) was just read, long
    before any dial: the driver checks that SIM's ``--data-cap`` here and drops the bring-up (no ATD)
    when it is used up. Emitted once per bring-up, and only when an ICCID was read."""

    iccid: str


BringupEvent = Progress | SetBaud | SetDtr | ModemInfo | Verdict | DataMode | PinRefused | SimIdentified


@dataclass(frozen=True, slots=True, kw_only=True)
class BringupConfig:
    """Settings of one bring-up. ``pin`` and ``password`` are secrets (never shown)."""

    #: a key of :data:`~pppos.at.profiles.PROFILES` or ``auto`` (detect from ATI / AT+CGMM)
    profile: str = "auto"
    #: the port's configured rate (tried first)
    baud: int = 115200
    #: also try :data:`COMMON_BAUDS` when nothing answers at ``baud``
    autobaud: bool = True
    pin: str | None = field(default=None, repr=False)
    #: ICCIDs of the SIMs that refused this very PIN before ("" stands for a SIM whose ICCID could
    #: not be read): the PIN is never sent to them again (the driver remembers each refusal that a
    #: :class:`PinRefused` event reports)
    pin_refused_for: frozenset[str] = frozenset()
    #: never send a PIN when the modem says fewer attempts than this remain
    min_pin_attempts: int = 2
    #: set the PDP context to this APN (None: leave the modem's contexts as they are)
    apn: str | None = None
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    #: 1 = PAP, 2 = CHAP for profiles that take credentials by AT command
    auth: int = 1
    cid: int = 1
    pdp_type: str = "IP"
    #: False for the probe: stop after registration/attach/PDP with a READY verdict
    dial: bool = True
    #: check for a modem left in data mode before the sync
    detect_data_mode: bool = True
    detect_wait: float = 0.3
    sync_timeout: float = 0.5
    sync_tries: int = 3
    command_timeout: float = 2.0
    registration_timeout: float = 60.0
    #: seconds between registration polls when the modem cannot send registration URCs
    registration_poll: float = 1.0
    #: seconds between the fallback polls while registration URCs (``AT+CREG=2``) are on: a URC
    #: saying registered ends the wait at once
    registration_fallback_poll: float = 5.0
    attach_timeout: float = 60.0
    dial_timeout: float = 30.0
    #: V.250 S12-style guard time around ``+++``
    guard: float = 1.0
    #: seconds to wait for the SIM to become READY after the PIN is accepted
    sim_ready_timeout: float = 10.0

    def __post_init__(self) -> None:
        """Refuse values that would break (or inject into) an AT command line; secrets are not echoed."""
        from pppos.errors import ConfigError

        if self.pin is not None and not (ascii_int(self.pin) is not None and 4 <= len(self.pin) <= 8):
            raise ConfigError("a SIM PIN is 4 to 8 digits")
        for name in ("apn", "user", "password"):
            value = getattr(self, name)
            if value is not None and not _at_safe(value):
                shown = "the APN password" if name == "password" else f"the {name} {value!r}"
                raise ConfigError(f"{shown} must be printable ASCII without double quotes")
        if self.profile != "auto" and self.profile not in PROFILES:
            get_profile(self.profile)  # raises the ConfigError that lists the choices
        if self.baud <= 0:
            raise ConfigError(f"invalid baud rate {self.baud}")
        if not 1 <= self.cid <= 24:
            raise ConfigError(f"PDP context id {self.cid} is out of range (1-24)")


# --------------------------------------------------------------------------- helpers


def fcs16(data: bytes, fcs: int = 0xFFFF) -> int:
    """RFC 1662 appendix C.2 FCS-16 (x**0 + x**5 + x**12 + x**16, reflected 0x8408), not complemented."""
    for byte in data:
        fcs ^= byte
        for _ in range(8):
            fcs = (fcs >> 1) ^ 0x8408 if fcs & 1 else fcs >> 1
    return fcs


def lcp_frame(code: int, identifier: int, data: bytes = b"") -> bytes:
    """An LCP packet (RFC 1661 5) in an RFC 1662 frame: ff 03 c0 21, FCS-16, every control char escaped.

    LCP codes 1-7 always go out with the default ACCM and the full header (RFC 1661 5 / RFC 1662 7),
    which is what a peer in any state can read.
    """
    lcp = bytes([code & 0xFF, identifier & 0xFF]) + (4 + len(data)).to_bytes(2, "big") + data
    body = b"\xff\x03\xc0\x21" + lcp
    fcs = fcs16(body) ^ 0xFFFF
    body += bytes([fcs & 0xFF, fcs >> 8])  # least significant octet first (RFC 1662 C.2)
    out = bytearray(b"\x7e")
    for byte in body:
        if byte < 0x20 or byte in (0x7D, 0x7E):
            out += bytes([0x7D, byte ^ 0x20])
        else:
            out.append(byte)
    out.append(0x7E)
    return bytes(out)


def lcp_echo_request_frame(identifier: int = 1, magic: int = 0) -> bytes:
    """An LCP Echo-Request (RFC 1661 5.8, code 9) with ``magic``: what esp_modem probes with."""
    return lcp_frame(9, identifier, magic.to_bytes(4, "big"))


def lcp_terminate_request_frame(identifier: int = 2) -> bytes:
    """An LCP Terminate-Request (RFC 1661 5.5, code 5).

    A peer in any state from Closed to Opened answers it with a Terminate-Ack (RFC 1661 4.1, event
    RTR, action sta), whereas an Echo-Request is only answered in the Opened state. The bring-up
    sends it after the Echo-Request so that a peer stuck in negotiation also shows itself.
    """
    return lcp_frame(5, identifier)


def _at_safe(value: str) -> bool:
    return all(0x20 <= ord(ch) < 0x7F and ch != '"' for ch in value)


_ICCID_RE = re.compile(r"\b([0-9]{18,20}[0-9Ff]?)\b", re.ASCII)


def parse_iccid(lines: Sequence[str]) -> str:
    """The ICCID (ITU-T E.118: 18-20 digits, maybe an ``F`` pad) in an answer of any profile's form:
    ``+CCID: ...``, ``+ICCID: ...``, ``+QCCID: ...``, ``+SCID: SIM Card ID:...`` or the bare number."""
    for line in lines:
        m = _ICCID_RE.search(line.replace('"', " "))
        if m:
            return m.group(1).upper().rstrip("F")
    return ""


def parse_pin_attempts(lines: Sequence[str]) -> int | None:
    """PIN1 attempts left from ``+CPINR: SIM PIN,<n>,<max>`` (27.007 8.65), ``+QPINC: "SC",<pin>,<puk>``
    (Quectel) or ``+SPIC: <pin1>,...`` (SIMCom); None when no line says."""
    for line in lines:
        head, _, rest = line.partition(":")
        fields = [f.strip().strip('"').upper() for f in rest.split(",")]
        head = head.strip().upper()
        value = None
        if len(fields) >= 2 and (head, fields[0]) in (("+CPINR", "SIM PIN"), ("+QPINC", "SC")):
            value = ascii_int(fields[1])
        elif head == "+SPIC" and fields and fields[0]:
            value = ascii_int(fields[0])
        if value is not None:
            return value
    return None


def redact_imei(text: str) -> str:
    """Keep only the last 4 digits of an IMEI (``***********1234``); '' when there are no digits."""
    digits = "".join(ch for ch in text if ch.isdigit())
    if not digits:
        return ""
    return "*" * max(len(digits) - 4, 0) + digits[-4:]


def _fields(line: str) -> list[str]:
    body = line.split(":", 1)[1] if ":" in line else line
    return [f.strip() for f in body.split(",")]


def parse_registration(lines: tuple[str, ...] | list[str], prefix: str) -> int | None:
    """The ``<stat>`` from the ``prefix`` lines of a registration answer (either form, any layout).

    The last solicited (``<n>,<stat>,...``) line wins; an unsolicited line is used only when there
    is no solicited one. See :func:`pppos.at.parse.parse_registration_line`.
    """
    report = _pick_registration(lines, prefix)
    return report.stat if report is not None else None


def _pick_registration(lines: tuple[str, ...] | list[str], prefix: str) -> Registration | None:
    unsolicited: Registration | None = None
    domain = prefix.strip().lstrip("+").rstrip(":").upper()
    for line in reversed(lines):
        report = parse_registration_line(line)
        if report is None or report.domain != domain:
            continue
        if report.solicited:
            return report
        if unsolicited is None:
            unsolicited = report
    return unsolicited


def _printable(text: str, limit: int = 64) -> str:
    """Peer text made safe for a terminal or a status file: printable characters only, bounded."""
    return "".join(ch for ch in text if ch.isprintable())[:limit].strip()


def _strip_prefix(line: str, *prefixes: str) -> str:
    for prefix in prefixes:
        if line.upper().startswith(prefix.upper()):
            return line[len(prefix) :].strip()
    return line.strip()


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1]
    return text


def _without_echo(seen: bytes, sent: bytes) -> bytes:
    """``seen`` without an echo of ``sent`` (whole or cut short) at its start: echo is on at boot."""
    common = 0
    for a, b in zip(seen, sent, strict=False):
        if a != b:
            break
        common += 1
    return seen[common:] if common >= 2 else seen


_QUOTED = re.compile(r'"([^"]*)"')
_DOMAINS = ("CREG", "CGREG", "CEREG", "C5GREG")


# --------------------------------------------------------------------------- the plan runner


@dataclass(frozen=True, slots=True)
class _Cmd:
    text: str
    timeout: float
    secret: bool = False
    lead: bytes = b""
    terminator: bytes = b"\r"
    prefix: str | None = None
    #: give up on the reply when :meth:`_Plan._on_urc` says a URC matters (the modem spoke: a booting
    #: modem's first words); the script resumes with :class:`_Woken`
    wake_on_urc: bool = False
    #: V.250 numeric result codes end the command too (the sync line, the hang-up)
    numeric: bool = False


@dataclass(frozen=True, slots=True)
class _Wait:
    seconds: float
    #: end the wait early when :meth:`_Plan._on_urc` says a URC answers what the script waits for
    wake_on_urc: bool = False


@dataclass(frozen=True, slots=True)
class _Woken:
    """What a :class:`_Wait` or :class:`_Cmd` with ``wake_on_urc`` resumes with when a URC ended it early."""

    line: str


def sync_command(timeout: float, text: str = SYNC_COMMAND, *, wake_on_urc: bool = False) -> _Cmd:
    """The sync line (``\\r`` lead, V.250 5.2.1), answered in verbose or numeric form (V.250 6.2.6)."""
    return _Cmd(text, timeout, lead=b"\r", numeric=True, wake_on_urc=wake_on_urc)


_Result = CommandDone | CommandFailed | CommandTimeout | Connected | _Woken

#: :meth:`_Plan._hangup_steps` ended because the modem said something while we escaped (it is in command mode)
MODEM_SPOKE = "the modem spoke"
#: :meth:`_Plan._hangup_steps` (``need_escape_reply``) got no answer to ``+++``
NO_ESCAPE_REPLY = "no answer to +++"
#: how often one sync may be woken by the modem's lines before its ``AT`` waits out its timeout
SYNC_WAKES = 8
_Script = Generator[_Cmd | _Wait, _Result | None, None]


class _Plan:
    """Runs a generator script over an :class:`AtEngine` behind the uniform sans-I/O surface."""

    def __init__(self, *, engine: AtEngine | None = None, trace: Callable[[str], None] | None = None) -> None:
        self.engine = engine if engine is not None else AtEngine(trace=trace)
        self._events: deque[BringupEvent] = deque()
        self._script: _Script | None = None
        self._awaiting = False
        self._wait_until: float | None = None
        self._wake_on_urc = False
        self._now = 0.0
        self._done = False
        #: the final verdict, once there is one
        self.verdict: Verdict | None = None
        #: URC lines seen while the plan ran (bounded)
        self.urcs: deque[str] = deque(maxlen=64)

    # -- uniform surface

    def start(self, now: float) -> None:
        """Begin the plan at ``now``."""
        if self._script is not None:
            from pppos.errors import LocalProtocolError

            raise LocalProtocolError("the plan was already started")
        self._now = now
        self._script = self._steps()
        self._resume(None)

    @property
    def done(self) -> bool:
        """True once the :class:`Verdict` has been emitted."""
        return self._done

    def receive_data(self, data: bytes, now: float) -> None:
        """Feed bytes from the modem."""
        self._now = now
        self._on_bytes(data)
        self.engine.receive_data(data, now)
        self._pump()

    def next_event(self) -> BringupEvent | None:
        """Return the next event, or None."""
        return self._events.popleft() if self._events else None

    def data_to_send(self) -> bytes:
        """Bytes for the modem (apply pending SetBaud/SetDtr events first)."""
        return self.engine.data_to_send()

    def get_timer(self) -> float | None:
        """The earliest deadline (a command's timeout or a guard/poll wait), or None."""
        if self._done:
            return None
        deadlines = [t for t in (self.engine.get_timer(), self._wait_until) if t is not None]
        return min(deadlines) if deadlines else None

    def handle_timer(self, now: float) -> None:
        """Expire whatever is due at ``now``."""
        self._now = now
        self.engine.handle_timer(now)
        self._pump()
        if self._wait_until is not None and now >= self._wait_until:
            self._wait_until = None
            self._wake_on_urc = False
            self._resume(None)

    def take_data(self) -> bytes:
        """Bytes received after :class:`DataMode` (for a driver that kept feeding this object)."""
        return self.engine.take_data()

    # -- internals

    def _steps(self) -> _Script:  # pragma: no cover - overridden
        raise NotImplementedError
        yield

    def _on_bytes(self, data: bytes) -> None:
        """Hook: raw bytes before the engine sees them."""

    def _on_urc(self, line: str) -> bool:
        """Hook: a URC arrived; True if it ends a :class:`_Wait` with ``wake_on_urc``."""
        return False

    def _pump(self) -> None:
        while (event := self.engine.next_event()) is not None:
            if isinstance(event, Urc):
                self.urcs.append(event.line)
                if self._on_urc(event.line) and self._wake_on_urc:
                    if self._wait_until is not None:
                        self._wait_until = None
                        self._wake_on_urc = False
                        self._resume(_Woken(event.line))
                    elif self._awaiting:
                        self.engine.cancel_all()  # a late reply to it is an orphan, counted by the engine
                        self._awaiting = self._wake_on_urc = False
                        self._resume(_Woken(event.line))
                continue
            if isinstance(event, CommandDone | CommandFailed | CommandTimeout | Connected) and self._awaiting:
                self._awaiting = self._wake_on_urc = False
                self._resume(event)

    def _resume(self, value: _Result | None) -> None:
        if self._script is None or self._done:
            return
        while True:
            try:
                request = self._script.send(value)
            except StopIteration:
                self._done = True
                return
            if isinstance(request, _Cmd):
                self._awaiting = True
                self._wake_on_urc = request.wake_on_urc
                self.engine.send_command(
                    request.text,
                    self._now,
                    timeout=request.timeout,
                    secret=request.secret,
                    lead=request.lead,
                    terminator=request.terminator,
                    prefix=request.prefix,
                    numeric=request.numeric,
                )
                return
            if request.seconds <= 0:
                value = None
                continue
            self._wait_until = self._now + request.seconds
            self._wake_on_urc = request.wake_on_urc
            return

    def _emit(self, event: BringupEvent) -> None:
        self._events.append(event)

    def _progress(self, step: str, message: str) -> None:
        self._emit(Progress(step=step, message=scrub(message)))

    def _verdict(self, code: VerdictCode, **details: object) -> Verdict:
        ok, status, template = VERDICTS[code]
        values: dict[str, object] = {
            "text": "",
            "command": "",
            "timeout": 0.0,
            "registration": "unknown",
            "signal": "unknown",
            "bauds": "",
        }
        values.update(details)
        verdict = Verdict(ok=ok, code=code, message=scrub(template.format(**values)), exit_status=status)
        self.verdict = verdict
        return verdict

    def _hangup_steps(
        self, benign: frozenset[int], guard: float, timeout: float, *, need_escape_reply: bool = False,
        wake_on_urc: bool = False, escape_wait: float = 2.0, pre_guard: float | None = None,
    ) -> Generator[_Cmd | _Wait, _Result | None, tuple[bool, str]]:
        """The guarded hang-up: DTR drop, 1 s guard, ``+++`` alone, 1 s guard, OK/NO CARRIER, ATH.

        With ``need_escape_reply`` (a blind escape attempt) a ``+++`` that gets no answer ends the
        procedure without ``ATH`` (text :data:`NO_ESCAPE_REPLY`). With ``wake_on_urc`` a line from the
        modem (a booting modem's first words, which mean it is in command mode) ends it at once, DTR
        restored, with the text :data:`MODEM_SPOKE`. ``escape_wait``: seconds after the post-``+++``
        guard to wait for its OK. ``pre_guard``: the silence still needed before ``+++`` (default
        ``guard``; less when the line has been silent for a while already).
        """
        self._progress("hangup", "leaving data mode: DTR drop, then +++ between 1 s guard times")
        self._emit(SetDtr(level=False))
        woken = yield _Wait(guard if pre_guard is None else pre_guard, wake_on_urc=wake_on_urc)
        self._emit(SetDtr(level=True))
        if isinstance(woken, _Woken):
            return False, MODEM_SPOKE
        self.engine.enter_command_mode()
        reply = yield _Cmd("+++", timeout=guard + escape_wait, terminator=b"", wake_on_urc=wake_on_urc, numeric=True)
        if isinstance(reply, _Woken):
            return False, MODEM_SPOKE
        if isinstance(reply, CommandDone | CommandFailed):
            self._progress("hangup", f"+++ answered {_printable(getattr(reply, 'text', '')) or 'OK'}")
        elif need_escape_reply:
            return False, NO_ESCAPE_REPLY
        reply = yield _Cmd("ATH", timeout=timeout, numeric=True)
        if isinstance(reply, CommandDone):
            return True, "OK"
        if isinstance(reply, CommandFailed):
            if reply.result == "NO CARRIER" or (reply.code is not None and reply.code in benign):
                return True, reply.text
            return False, f"ATH answered {reply.text}"
        return False, f"ATH got no answer in {timeout:g} s"


class Hangup(_Plan):
    """Leave data mode and end the call: the guarded ``+++``/``ATH`` procedure (V.250 6.3.7, 6.3.6).

    Start it while the modem is in data mode (after the PPP link has terminated). Ends with a
    :class:`Verdict` ``HUNG_UP`` or ``HANGUP_FAILED``.

    A modem that does not answer ``+++`` (within ``escape_wait`` after the guard time that follows it,
    where V.250 6.3.7 gives its OK) is frozen, or already in command mode. Instead of an ``ATH`` with
    a long timeout into a modem that may pass it to the network as data, the plan then *probes* every
    ``probe_every`` seconds (0.1), for at most ``probe_for``: an LCP Terminate-Request frame (RFC 1661 5.5;
    a network peer acknowledges it in any state and ends the call, the modem then says ``NO CARRIER``)
    and ``AT``. A frozen modem that thaws is hung up within one probe interval: ``NO CARRIER`` ends the
    plan, an answer to ``AT`` (command mode) is followed by ``ATH``, and PPP bytes without a ``NO
    CARRIER`` soon after (a modem in data mode again, a peer that keeps the call) bring the guarded
    ``+++`` once more.
    """

    def __init__(
        self,
        profile: ModemProfile | str = "generic",
        *,
        guard: float = 1.0,
        command_timeout: float = 5.0,
        escape_wait: float = 0.5,
        probe_every: float = 0.1,
        probe_for: float = 9.0,
        silent_for: float = 0.0,
        engine: AtEngine | None = None,
        trace: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(engine=engine, trace=trace)
        self.profile = get_profile(profile) if isinstance(profile, str) else profile
        self.guard = guard
        self.command_timeout = command_timeout
        self.escape_wait = escape_wait
        self.probe_every = probe_every
        self.probe_for = probe_for
        #: the driver wrote nothing to the modem for this long before the plan starts: it counts toward
        #: the V.250 guard time before ``+++`` (the DTR drop still lasts at least a tenth of the guard)
        self.silent_for = silent_for

    def _steps(self) -> _Script:
        benign = self.profile.benign_hangup_errors
        pre_guard = max(self.guard / 10, self.guard - self.silent_for)
        ok, text = yield from self._hangup_steps(benign, self.guard, self.command_timeout, need_escape_reply=True,
                                                 escape_wait=self.escape_wait, pre_guard=pre_guard)
        if not ok and text == NO_ESCAPE_REPLY:
            ok, text = yield from self._probe(benign)
        self._emit(self._verdict(VerdictCode.HUNG_UP if ok else VerdictCode.HANGUP_FAILED, text=text))

    def _probe(self, benign: frozenset[int]) -> Generator[_Cmd | _Wait, _Result | None, tuple[bool, str]]:
        """Terminate-Request + ``AT`` every ``probe_every`` until the modem shows itself (see the class)."""
        self._progress("hangup", f"no answer to +++: probing the modem every {self.probe_every:g} s")
        frame = lcp_terminate_request_frame()
        end = self._now + self.probe_for
        flags_at: float | None = None
        flags = self.engine.stats.flag_bytes
        while self._now < end:
            self.engine.write_raw(frame)
            reply = yield sync_command(self.probe_every, text="AT")
            if isinstance(reply, CommandFailed) and reply.result == "NO CARRIER":
                return True, reply.text
            if isinstance(reply, CommandDone | CommandFailed):
                self._progress("hangup", "the modem answers again (command mode)")
                reply = yield _Cmd("ATH", timeout=self.command_timeout, numeric=True)
                if isinstance(reply, CommandDone):
                    return True, "OK"
                if isinstance(reply, CommandFailed) and (reply.result == "NO CARRIER" or reply.code in benign):
                    return True, reply.text
                return False, f"ATH answered {reply.text}" if isinstance(reply, CommandFailed) else "no answer to ATH"
            if self.engine.stats.flag_bytes != flags and flags_at is None:
                flags_at = self._now  # the modem passes data again; its NO CARRIER should follow
            if flags_at is not None and self._now - flags_at >= 2 * self.guard:
                self._progress("hangup", "the modem passes data again but keeps the call")
                return (yield from self._hangup_steps(benign, self.guard, self.command_timeout))
        return False, f"the modem did not answer for {self.probe_for + self.guard * 2 + self.escape_wait:g} s"


class Bringup(_Plan):
    """The bring-up plan (see the module docstring). ``Bringup(config).start(now)``, then the uniform surface.

    Events: :class:`Progress`, :class:`SetBaud`, :class:`SetDtr`, :class:`SimIdentified` (once the ICCID
    is read, before registration and the dial), :class:`ModemInfo` (once, just before the verdict),
    :class:`Verdict`, and :class:`DataMode` after a successful dial (before the verdict).
    """

    def __init__(
        self,
        config: BringupConfig | None = None,
        *,
        engine: AtEngine | None = None,
        trace: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(engine=engine, trace=trace)
        self.config = config if config is not None else BringupConfig()
        if self.config.profile != "auto":
            self.profile = get_profile(self.config.profile)
        else:
            self.profile = PROFILES["generic"]
        self._info: dict[str, object] = {"profile": self.profile.name}
        self._detect_frame = lcp_echo_request_frame() + lcp_terminate_request_frame()
        self._detect_buf: bytearray | None = None
        self._reg_reports: dict[str, Registration] | None = None
        self._reg_domains: set[str] = set()
        #: the sync runs (:meth:`_sync_tries`) or the blind escape: any line from the modem wakes it
        self._syncing = False

    # -- data-mode detection tap

    def _on_bytes(self, data: bytes) -> None:
        if self._detect_buf is not None and len(self._detect_buf) < 4096:
            self._detect_buf += data[: 4096 - len(self._detect_buf)]

    @property
    def info(self) -> ModemInfo:
        """What is known so far about the modem."""
        return ModemInfo(**self._info)  # type: ignore[arg-type]

    def _conclude(self, code: VerdictCode, **details: object) -> None:
        self._emit(self.info)
        self._emit(self._verdict(code, **details))

    def _registration_text(self) -> str:
        reg = self._info.get("registration")
        pairs: Iterable[tuple[str, str]] = reg if isinstance(reg, tuple | list) else ()
        return ", ".join(f"{name} {state}" for name, state in pairs) or "no answer"

    def _cmd(self, text: str, timeout: float | None = None, **kw: object) -> _Cmd:
        return _Cmd(text, timeout if timeout is not None else self.config.command_timeout, **kw)  # type: ignore[arg-type]

    # -- the script

    def _steps(self) -> _Script:
        cfg = self.config
        answered_ok = False
        # 1. a modem still in data mode?
        if cfg.detect_data_mode:
            self._detect_buf = bytearray()
            self.engine.write_raw(self._detect_frame)
            # the sync line right behind the probe ends the wait as soon as a modem in command mode answers: OK
            # or ERROR is a text line, which no PPP peer sends. A modem in data mode passes these bytes
            # to its peer as noise between frames, which the peer discards (RFC 1662 section 4.3), and
            # the wait runs its full length so the peer's reply to the probe can arrive.
            reply = yield sync_command(cfg.detect_wait)
            seen = bytes(self._detect_buf)
            self._detect_buf = None
            answered = isinstance(reply, CommandDone | CommandFailed)
            answered_ok = isinstance(reply, CommandDone)
            if not answered and 0x7E in _without_echo(seen, self._detect_frame):
                self._progress("detect", "the modem answered with PPP bytes: it is still in data mode")
                ok, text = yield from self._hangup_steps(
                    self.profile.benign_hangup_errors | frozenset({58}), cfg.guard, cfg.command_timeout
                )
                if not ok:
                    self._conclude(VerdictCode.HANGUP_FAILED, text=text)
                    return
            self.engine.enter_command_mode()
        # 2. sync, with autobaud
        rates = [cfg.baud] + ([r for r in COMMON_BAUDS if r != cfg.baud] if cfg.autobaud else [])
        synced = False
        for index, rate in enumerate(rates):
            if index:
                self._emit(SetBaud(rate=rate))
            self._progress("sync", f"sending {SYNC_COMMAND} at {rate} baud")
            # the OK to the detection step's AT already is the sync at the first rate
            synced = (index == 0 and answered_ok) or (yield from self._sync_tries())
            if not synced and index == 0 and cfg.detect_data_mode:
                # a data call whose peer is silent does not answer the LCP probe: escape blindly once.
                # A modem that is booting is silent too: its first words (boot URCs) end the escape at
                # once, and the sync goes on at this rate (it is in command mode and listening now).
                self._progress("sync", "no answer: trying +++ in case the modem is in a silent data call")
                self._syncing = True
                escaped, text = yield from self._hangup_steps(
                    self.profile.benign_hangup_errors | frozenset({58}),
                    cfg.guard,
                    cfg.command_timeout,
                    need_escape_reply=True,
                    wake_on_urc=True,
                )
                self._syncing = False
                if text == MODEM_SPOKE:
                    self._progress("sync", "the modem spoke (it has booted): sending AT again")
                if escaped or text == MODEM_SPOKE:
                    synced = yield from self._sync_tries()
            if synced:
                self._info["baud"] = rate
                break
        if not synced:
            self._conclude(VerdictCode.NO_RESPONSE, bauds=", ".join(str(r) for r in rates))
            return
        self._progress("sync", f"the modem answers at {self._info['baud']} baud")
        # 3. echo off, verbose errors
        for command in ("ATE0", "AT+CMEE=2"):
            reply = yield self._cmd(command)
            if isinstance(reply, CommandTimeout):
                self._conclude(VerdictCode.MODEM_SILENT, command=command, timeout=cfg.command_timeout)
                return
        # 4. identity
        yield from self._identity()
        for command in self.profile.init_extras:
            reply = yield self._cmd(command)
            if not isinstance(reply, CommandDone):
                self._progress("init", f"{command} was not accepted; continuing")
        # 5. SIM
        if not (yield from self._sim()):
            return
        # 6. signal
        yield from self._signal()
        # 7. registration (URC-driven, with a slower poll as the fallback), then the operator
        if not (yield from self._registration()):
            return
        yield from self._operator()
        # 8. attach
        if not (yield from self._attach()):
            return
        # 9. PDP context
        if not (yield from self._pdp()):
            return
        if not cfg.dial:
            self._conclude(VerdictCode.READY, registration=self._registration_text())
            return
        # 10. dial, falling back to ATO (esp_modem does the same for a modem that is still online)
        self._progress("dial", f"dialling {self.profile.dial}")
        reply = yield self._cmd(self.profile.dial, cfg.dial_timeout)
        if not isinstance(reply, Connected):
            first = reply
            self._progress("dial", f"{self.profile.dial} failed; trying ATO")
            reply = yield self._cmd("ATO", cfg.dial_timeout)
            if not isinstance(reply, Connected):
                text = first.text if isinstance(first, CommandFailed) else f"no answer in {cfg.dial_timeout:g} s"
                self._conclude(VerdictCode.DIAL_FAILED, command=self.profile.dial, text=text)
                return
        self._emit(self.info)
        self._emit(DataMode(trailing=reply.trailing))
        self._emit(self._verdict(VerdictCode.CONNECTED, text=reply.text, command=reply.command))

    def _sync_tries(self) -> Generator[_Cmd | _Wait, _Result | None, bool]:
        """Up to ``sync_tries`` times :data:`SYNC_COMMAND`; True once the modem answers it.

        A failure result other than a benign one means a modem that is there but refuses the
        combined line: one plain ``AT`` decides then (the ``ATE0`` step follows anyway).

        A booting modem drops what it is sent until it is ready and then says so (``RDY``,
        ``^CINIT``, ``+CPIN: READY``...): such a line while the sync line waits means the modem listens
        now, so the line is sent again at once instead of waiting out a timeout started against a
        silent modem (at most :data:`SYNC_WAKES` times, so a modem that only ever talks cannot hold
        the sync).
        """
        benign = self.profile.benign_hangup_errors | {58}
        tries = wakes = 0
        self._syncing = True
        try:
            while tries < self.config.sync_tries:
                reply = yield sync_command(self.config.sync_timeout, wake_on_urc=wakes < SYNC_WAKES)
                if isinstance(reply, _Woken):
                    wakes += 1
                    continue
                if isinstance(reply, CommandFailed) and reply.code not in benign:
                    self._progress("sync", f"{SYNC_COMMAND} answered {_printable(reply.text)}: trying a plain AT")
                    reply = yield sync_command(self.config.sync_timeout, text="AT")
                if isinstance(reply, CommandDone) or (isinstance(reply, CommandFailed) and reply.code in benign):
                    return True
                tries += 1
            return False
        finally:
            self._syncing = False

    def _signal_text(self) -> str:
        return self.info.signal_text

    def _signal(self) -> Generator[_Cmd | _Wait, _Result | None, None]:
        """``AT+CSQ`` (27.007 8.5), then the profile's LTE signal command (``AT+CESQ``, ``AT+QCSQ``)."""
        reply = yield self._cmd("AT+CSQ")
        if isinstance(reply, CommandDone):
            for line in reply.lines:
                rssi = parse_csq(line)
                if rssi is not None:
                    dbm, word = signal_quality(rssi)
                    self._info.update(rssi=rssi, signal_dbm=dbm, signal=word)
        if self.profile.lte_signal:
            reply = yield self._cmd(self.profile.lte_signal)
            if isinstance(reply, CommandDone):
                for line in reply.lines:
                    lte = parse_cesq(line) or parse_qcsq(line)
                    if lte is not None:
                        self._info.update(rsrp_dbm=lte.rsrp_dbm, rsrq_db=lte.rsrq_db)
        self._progress("signal", self._signal_text())

    def _operator(self) -> Generator[_Cmd | _Wait, _Result | None, None]:
        """The operator's MCC/MNC (``AT+COPS=3,2``, then ``AT+COPS?``) and long name (``AT+COPS=3,0``,
        which also leaves the modem in its usual format), TS 27.007 7.3."""
        for fmt in (2, 0):
            reply = yield self._cmd(f"AT+COPS=3,{fmt}")
            if fmt == 2 and not isinstance(reply, CommandDone):
                continue
            reply = yield self._cmd("AT+COPS?", 10.0)
            if not isinstance(reply, CommandDone):
                continue
            for line in reply.lines:
                got, name, _act = parse_cops(line)
                name = scrub(_printable(name))
                if not name:
                    continue
                if got == 2:
                    if ascii_int(name) is not None and len(name) in (5, 6):
                        self._info["operator_code"] = name
                else:
                    self._info["operator"] = name
        if self.info.network_text:
            self._progress("network", self.info.network_text)

    def _identity(self) -> Generator[_Cmd | _Wait, _Result | None, None]:
        cfg = self.config
        ati = ""
        queries = (
            ("ATI", "ati", ()),
            ("AT+CGMI", "manufacturer", ("+CGMI:",)),
            ("AT+CGMM", "model", ("+CGMM:",)),
            ("AT+CGMR", "revision", ("+CGMR:", "Revision:")),
            ("AT+CGSN", "imei", ("+CGSN:",)),
        )
        for command, key, prefixes in queries:
            reply = yield self._cmd(command)
            if not isinstance(reply, CommandDone) or not reply.lines:
                continue
            if key == "ati":
                ati = " / ".join(reply.lines)
                self._info["ati"] = scrub(ati)
            elif key == "imei":
                digits = [ln for ln in reply.lines if any(ch.isdigit() for ch in ln)]
                if digits:
                    self._info["imei"] = redact_imei(_unquote(_strip_prefix(digits[0], *prefixes)))
            else:
                self._info[key] = scrub(_unquote(_strip_prefix(reply.lines[0], *prefixes)))
        if cfg.profile == "auto":
            self.profile = detect_profile(ati, f"{self._info.get('manufacturer', '')} {self._info.get('model', '')}")
            self._info["profile"] = self.profile.name
        self._progress(
            "identity",
            f"{self._info.get('manufacturer', '?')} {self._info.get('model', '?')} (profile {self.profile.name})",
        )

    def _sim_state(self, reply: _Result | None) -> str:
        """'READY', 'SIM PIN', 'SIM PUK', 'MISSING', 'BUSY', 'ERROR:<text>' or 'TIMEOUT'.

        ``+CPIN`` in every form (:func:`pppos.at.parse.parse_cpin`: quoted, without the space,
        ``NOT INSERTED`` / ``SIM REMOVED`` as missing, ``NOT READY`` as busy) and the 27.007 9.2
        errors 10 (not inserted), 11 (PIN), 12 (PUK), 14 (busy).
        """
        if isinstance(reply, CommandDone):
            for line in reversed(reply.lines):
                state = parse_cpin(line)
                if state is not None:
                    return "BUSY" if state == "NOT READY" else state
            return "ERROR:no +CPIN line"
        if isinstance(reply, CommandFailed):
            code = reply.code
            if code == 10:
                return "MISSING"
            if code == 11:
                return "SIM PIN"
            if code == 12:
                return "SIM PUK"
            if code == 14:
                return "BUSY"
            state = parse_cpin(reply.text.replace("+CME ERROR:", "+CPIN:", 1))
            if state in ("MISSING", "NOT READY"):
                return "MISSING" if state == "MISSING" else "BUSY"
            return f"ERROR:{_printable(reply.text)}"
        return "TIMEOUT"

    def _sim(self) -> Generator[_Cmd | _Wait, _Result | None, bool]:
        cfg = self.config
        pin_sent = False
        deadline = self._now + cfg.sim_ready_timeout
        while True:
            state = self._sim_state((yield self._cmd("AT+CPIN?", 5.0)))
            if state == "READY":
                self._info["sim"] = "ready"
                self._progress("sim", "SIM ready")
                yield from self._read_iccid()  # data accounting is per SIM
                return True
            if state == "SIM PUK":
                self._info["sim"] = "PUK needed"
                self._conclude(VerdictCode.PUK_NEEDED)
                return False
            if state == "MISSING":
                self._info["sim"] = "not inserted"
                self._conclude(VerdictCode.SIM_MISSING)
                return False
            if state == "SIM PIN":
                self._info["sim"] = "PIN needed"
                if pin_sent:
                    # the modem still asks after a PIN it said OK to: never send it again
                    self._pin_refused()
                    self._conclude(VerdictCode.PIN_WRONG, text="the SIM still asks for its PIN")
                    return False
                if cfg.pin is None:
                    self._conclude(VerdictCode.PIN_NEEDED)
                    return False
                if not (yield from self._pin_guard()):
                    return False
                self._progress("sim", "sending the PIN (once)")
                reply = yield self._cmd(f'AT+CPIN="{cfg.pin}"', 10.0, secret=True)
                pin_sent = True
                if isinstance(reply, CommandFailed):
                    self._info["sim"] = "PIN rejected"
                    self._pin_refused()
                    self._conclude(VerdictCode.PIN_WRONG, text=reply.text)
                    return False
                if isinstance(reply, CommandTimeout):
                    self._conclude(VerdictCode.MODEM_SILENT, command="AT+CPIN=***", timeout=10.0)
                    return False
                continue
            if state == "TIMEOUT":
                self._conclude(VerdictCode.MODEM_SILENT, command="AT+CPIN?", timeout=5.0)
                return False
            if state != "BUSY" and not state.startswith("ERROR:"):
                # PH-SIM PIN, SIM PIN2, ...: a lock this tool does not handle
                self._info["sim"] = state.lower()
                self._conclude(VerdictCode.SIM_ERROR, text=f"+CPIN: {state}")
                return False
            if self._now >= deadline:
                self._info["sim"] = "error"
                self._conclude(VerdictCode.SIM_ERROR, text=state.removeprefix("ERROR:") or "SIM busy")
                return False
            yield _Wait(1.0)  # SIM busy or still initialising after the PIN

    def _read_iccid(self) -> Generator[_Cmd | _Wait, _Result | None, str]:
        """The SIM's ICCID by the profile's commands (once per bring-up; "" when none answers)."""
        if "iccid" in self._info:
            return str(self._info["iccid"])
        iccid = ""
        for command in self.profile.iccid:
            reply = yield self._cmd(command, 5.0)
            if isinstance(reply, CommandDone) and (iccid := parse_iccid(reply.lines)):
                break
        self._info["iccid"] = iccid
        if iccid:
            self._emit(SimIdentified(iccid=iccid))
        return iccid

    def _pin_refused(self) -> None:
        self._emit(PinRefused(iccid=str(self._info.get("iccid") or "")))

    def _pin_guard(self) -> Generator[_Cmd | _Wait, _Result | None, bool]:
        """Before a PIN goes out: which SIM is this (ICCID), did it refuse this PIN before, and how
        many attempts remain (27.007 8.65 ``+CPINR`` or the profile's vendor command)? False: stop."""
        cfg = self.config
        iccid = yield from self._read_iccid()
        if iccid in cfg.pin_refused_for:
            self._conclude(VerdictCode.PIN_REFUSED_BEFORE, iccid=f"ICCID {iccid}" if iccid else "ICCID unknown")
            return False
        attempts = None
        for command in self.profile.pin_attempts:
            reply = yield self._cmd(command, 5.0)
            if isinstance(reply, CommandDone) and (attempts := parse_pin_attempts(reply.lines)) is not None:
                break
        self._info["pin_attempts"] = attempts
        if attempts is not None and attempts < cfg.min_pin_attempts:
            self._conclude(VerdictCode.PIN_ATTEMPTS_LOW, attempts=attempts)
            return False
        return True

    def _on_urc(self, line: str) -> bool:
        """While syncing any line from the modem wakes the wait (it listens now); a registration URC
        during the registration step updates its domain and wakes the wait."""
        if self._syncing:
            return True
        if self._reg_reports is None:
            return False
        report = parse_registration_line(line)
        if report is None or report.domain not in self._reg_domains:
            return False
        self._reg_reports[report.domain] = report
        return True

    def _registration(self) -> Generator[_Cmd | _Wait, _Result | None, bool]:
        """Wait until registered for data (ModemManager's rule, :func:`pppos.at.parse.consolidate`).

        Registration URCs are asked for first (``AT+CREG=2`` etc., 27.007 7.2 / 10.1.20 / 10.1.22 /
        10.1.19: ``<n>`` = 2 also reports LAC/TAC, cell id and access technology); each domain is read
        once, and then the plan waits for a URC that says registered, polling again only every
        ``registration_fallback_poll`` seconds (``registration_poll`` when the modem accepted none
        of the report modes). Afterwards the reports are turned off again (``AT+CREG=0``, as
        mongoose-os pppos does), so no URC lands in the data stream.
        """
        cfg = self.config
        deadline = self._now + cfg.registration_timeout
        queries = [(q, q[3:].split("?", 1)[0].lstrip("+").upper()) for q in self.profile.registration]
        self._reg_domains = {domain for _, domain in queries}
        reports: dict[str, Registration] = {}
        self._reg_reports = reports
        unsupported: set[str] = set()
        reporting: list[str] = []
        for _, domain in queries:
            reply = yield self._cmd(f"AT+{domain}=2")
            if isinstance(reply, CommandDone):
                reporting.append(domain)
        announced = False
        poll = True
        while True:
            if poll:
                for command, domain in queries:
                    if command in unsupported:
                        continue
                    reply = yield self._cmd(command)
                    if isinstance(reply, CommandDone):
                        report = _pick_registration(reply.lines, f"+{domain}:")
                        if report is not None:
                            reports[domain] = report
                    elif isinstance(reply, CommandFailed):
                        unsupported.add(command)
            self._note_registration(queries, reports)
            state = consolidate({d: r.stat for d, r in reports.items()})
            if state in REGISTERED_STATES:
                self._progress("registration", f"registered: {self._registration_text()}")
                for domain in ["CREG", *(d for d in reporting if d != "CREG")]:
                    yield self._cmd(f"AT+{domain}=0")
                # the other domains' URCs that came with the first one are in by now
                self._reg_reports = None
                self._note_registration(queries, reports)
                return True
            if state == 3:
                self._conclude(VerdictCode.REG_DENIED, registration=self._registration_text())
                return False
            if self._now >= deadline:
                self._conclude(
                    VerdictCode.REG_TIMEOUT,
                    registration=self._registration_text(),
                    timeout=cfg.registration_timeout,
                    signal=self._signal_text(),
                )
                return False
            if not announced:
                how = "registration reports on" if reporting else "polling"
                self._progress("registration", f"waiting for registration ({self._registration_text()}; {how})")
                announced = True
            period = cfg.registration_fallback_poll if reporting else cfg.registration_poll
            woken = yield _Wait(min(period, max(deadline - self._now, 0.0)), wake_on_urc=True)
            poll = not isinstance(woken, _Woken)

    def _note_registration(self, queries: list[tuple[str, str]], reports: dict[str, Registration]) -> None:
        """Copy the reports into the ModemInfo fields (states, technology, LAC/TAC, cell)."""
        known = [reports[d] for _, d in queries if d in reports]
        self._info["registration"] = tuple((r.domain, r.state) for r in known)
        state = consolidate({r.domain: r.stat for r in known})
        self._info["registered"] = state in REGISTERED_STATES if known else None
        # the most specific registered domain tells where the data goes: 5GS, EPS, PS, CS
        for report in sorted(known, key=lambda r: (not r.registered, -_DOMAINS.index(r.domain))):
            if report.act is not None or report.lac is not None:
                if report.act is not None:
                    self._info["technology"] = report.technology
                if report.lac is not None:
                    self._info["area"] = f"{report.lac:04X}" if report.lac <= 0xFFFF else f"{report.lac:06X}"
                if report.ci is not None:
                    self._info["cell"] = f"{report.ci:X}"
                break

    def _attach(self) -> Generator[_Cmd | _Wait, _Result | None, bool]:
        cfg = self.config
        reply = yield self._cmd("AT+CGATT?", 10.0)
        if isinstance(reply, CommandDone) and any(
            ln.upper().startswith("+CGATT") and _fields(ln)[0] == "1" for ln in reply.lines
        ):
            self._info["attached"] = True
            return True
        timeout = min(cfg.attach_timeout, self.profile.attach_timeout)
        self._progress("attach", f"attaching to the packet network (up to {timeout:g} s)")
        reply = yield self._cmd("AT+CGATT=1", timeout)
        if isinstance(reply, CommandDone):
            self._info["attached"] = True
            return True
        self._info["attached"] = False
        text = reply.text if isinstance(reply, CommandFailed) else f"no answer in {timeout:g} s"
        self._conclude(VerdictCode.ATTACH_FAILED, text=text)
        return False

    def _pdp(self) -> Generator[_Cmd | _Wait, _Result | None, bool]:
        cfg = self.config
        if cfg.apn is not None:
            command = f'AT+CGDCONT={cfg.cid},"{cfg.pdp_type}","{cfg.apn}"'
            reply = yield self._cmd(command, 5.0)
            if not isinstance(reply, CommandDone):
                text = reply.text if isinstance(reply, CommandFailed) else "no answer"
                self._conclude(VerdictCode.PDP_FAILED, command=command, text=text)
                return False
            if (cfg.user or cfg.password) and self.profile.auth_command:
                auth = self.profile.auth_command.format(
                    cid=cfg.cid, auth=cfg.auth, user=cfg.user or "", password=cfg.password or ""
                )
                reply = yield self._cmd(auth, 5.0, secret=True)
                if not isinstance(reply, CommandDone):
                    text = reply.text if isinstance(reply, CommandFailed) else "no answer"
                    self._conclude(VerdictCode.PDP_FAILED, command=auth.split("=", 1)[0] + "=***", text=text)
                    return False
        reply = yield self._cmd("AT+CGDCONT?", 5.0)
        if isinstance(reply, CommandDone):
            contexts = []
            for line in reply.lines:
                fields = _fields(line)
                cid = ascii_int(fields[0]) if fields else None
                if line.upper().startswith("+CGDCONT") and len(fields) >= 3 and cid is not None:
                    contexts.append(
                        PdpContext(
                            cid=cid, pdp_type=_printable(_unquote(fields[1])), apn=_printable(_unquote(fields[2]))
                        )
                    )
            self._info["contexts"] = tuple(contexts)
        return True
