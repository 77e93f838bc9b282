"""A simulated cellular modem (the DCE side of an AT command line), sans-I/O.

:class:`SimModem` behaves like an AI-Thinker A6/A7 (profile ``a7``) or, more cheaply, like a SIMCom
SIM800, SIM7600/A7670, a Quectel EC2x/BG9x or a generic 3GPP TS 27.007 modem. It takes the host's
bytes and ``now`` in (:meth:`SimModem.receive_data`) and gives bytes for the host
(:meth:`SimModem.data_to_send`), bytes for the network-side PPP peer
(:meth:`SimModem.network_data_to_send`), events and one deadline (:meth:`SimModem.get_timer`). It never
reads a clock, sleeps or touches a file descriptor; the driver is :mod:`pppos.sim.serve`.

Command line syntax (ITU-T V.250 section 5.2)
    A command line ends with CR (S3); LF is ignored; backspace (S5) deletes. Characters before the
    ``AT``/``at`` prefix are ignored (V.250 5.2.1), so line noise, NULs and PPP frames before a command
    do no harm; a line with no prefix gets no answer (counted in :attr:`SimStats.noise_lines`). The A7
    rejects the mixed-case prefixes ``At``/``aT`` with ``ERROR``. Lines longer than
    :data:`MAX_LINE` bytes are discarded and answered with ``ERROR`` when their CR arrives (bounded
    memory). Several commands may share a line: basic ones run together (``ATE0V1``) and extended ones
    are separated by ``;`` (``AT+CMEE=2;+CPIN?``). Responses use V.250 verbose form
    (``<CR><LF>text<CR><LF>``) unless ``ATV0``/``ATQ1`` say otherwise (below).

Result code settings and the stored profile (V.250 6.1.1 ``Z``, 6.1.2 ``&F``, 6.2.4-6.2.6)
    ``ATE``, ``ATQ`` and ``ATV`` take effect at once, so the result of the line that changes them is
    already in the new form (Hayes practice: ``ATV0`` answers ``0<CR>``, ``ATE0Q0V1`` from a ``V0``
    modem answers ``<CR><LF>OK<CR><LF>``). ``V0``: a final result is its number and CR
    (:data:`~pppos.at.engine.NUMERIC_RESULTS`, one table with the host: ``0<CR>`` OK, ``4<CR>``
    ERROR, ``1<CR>`` any CONNECT, ``3<CR>`` NO CARRIER); results without a number (``+CME ERROR:
    <n>``) keep their text and end in CR LF, information lines and URCs lose their leading CR LF
    (``text<CR><LF>``), and the A7's extra blank line is not sent. ``Q1``: no final result codes at
    all (information lines and URCs still come). The stored profile
    (:attr:`SimConfig.stored_profile`, ``pppos-sim --stored-profile V0Q1E1``) is what power-on,
    every reboot and ``ATZ`` restore; ``AT&W`` stores the current E/Q/V settings in it (until the
    simulator stops), ``AT&F`` sets the factory ones (``E1 Q0 V1``) without storing them. The A7's
    ``ATZ`` with no call up answers ``+CME ERROR:58`` and restores nothing (its quirk, below).

The A7 dialect (profile ``a7``; sources in the project's modem notes, section 1)
    - Echo is on at boot (``ATE0``/``ATE1``); echoed characters are sent back as they arrive.
    - One extra blank line (``<CR><LF>``) after each final result code (not after ``CONNECT``).
    - Boot URCs: ``^CINIT: ...`` lines, ``+CREG: 0`` and, once registered, ``+CTZV:yy/mm/dd,...``,
      ``+CREG: 1`` (or 5), ``+CIEV: service,  1`` (two spaces) and ``+CIEV: roam, 0``. Unsolicited
      ``+CREG`` is on by default; ``AT+CREG=0`` turns it off.
    - ``+CME ERROR:<n>`` without a space (others: ``+CME ERROR: <n>``); ``AT+CMEE`` defaults to 1.
    - ``+CPIN: READY``; ``AT+CCID`` answers ``+SCID: SIM Card ID:<iccid>``.
    - ``ATZ``/``ATH`` with no call up answer ``+CME ERROR:58``.
    - ``ATD*99#``, ``ATD*99***<cid>#``, ``ATDT*99***<cid>#`` and ``AT+CGDATA="PPP",<cid>`` answer a bare
      ``CONNECT`` (SIM7600: ``CONNECT 115200``). Dialing needs a ready SIM (``+CME ERROR:11``),
      registration (``NO CARRIER``) and a PDP context with a non-empty APN (``ERROR``).
    - ``AT+CIPSTATUS?`` answers the multi-link table ``+CIPSTATUS:0,<state>`` then ``1,IP INITIAL`` ...
      ``7,IP INITIAL``; the exec form ``AT+CIPSTATUS`` answers ``+IPSTATUS: <state>``. ``<state>`` is
      ``CONNECT OK`` while a data call is up, ``IP GPRSACT`` with an active context, else
      ``IP INITIAL``.
    - ``AT+CMUX`` answers ``+CME ERROR:53`` (no multiplexer).
    - ``AT+CGATT=1`` takes :attr:`SimConfig.attach_delay` seconds and a ``+CTZV`` URC arrives before its
      ``OK``.

PIN handling (3GPP TS 27.007 section 8.3)
    With :attr:`SimConfig.pin` set, ``AT+CPIN?`` says ``SIM PIN`` until ``AT+CPIN="<pin>"``. A wrong
    PIN answers ``+CME ERROR: 16`` and counts down; after three the SIM wants the PUK
    (``+CPIN: SIM PUK``, ``+CME ERROR: 12``) and ``AT+CPIN="<puk>","<new pin>"`` unlocks it. Registration
    starts when the SIM becomes ready. No PIN or PUK ever appears in a repr, event or stat.

Registration (:attr:`SimConfig.registration`)
    ``home`` (stat 1) or ``roaming`` (5) :attr:`SimConfig.registration_delay` seconds after the SIM is
    ready, ``denied`` (3) after that delay, ``searching`` (2) for ever, ``slow:S`` searching until S
    seconds after boot and then home.

Dialects of the other profiles (:data:`pppos.at.profiles.PROFILES`, one registry with the host)
    Boot URCs per profile: SIM800 ``RDY``, ``+CFUN: 1``, ``+CPIN: READY``, ``Call Ready``,
    ``SMS Ready``; SIM7600/A7670 ``*ATREADY: 1``, ``+CPIN: READY``, ``SMS DONE``, ``PB DONE``;
    Quectel ``RDY``, ``+CPIN``, ``+QUSIM: 1``, ``+QIND: SMS DONE``. ``--urc-interval`` repeats the
    profile's periodic URC (SIM7600 AUTOCSQ style ``+CSQ: 24,99``). Registration report mode 2
    (``AT+CREG=2``, ``AT+CEREG=2``) adds LAC/TAC, cell id and, on the LTE profiles, ``<AcT>`` 7, so
    answers have five fields (``+CEREG: 2,1,"1A2B","01C3D4E5",7``) and URCs four. ``AT+COPS=3,2``
    switches the ``+COPS?`` answer to the numeric MCC+MNC (27.007 7.3).

URC noise (:attr:`SimConfig.urc_noise`, ``pppos-sim --urc-noise RATE``)
    The profile's real URCs (:attr:`~pppos.at.profiles.ModemProfile.noise_urcs`) at random moments
    in command mode, ``RATE`` per second on average, and with probability ``RATE / 10`` between a
    command's echo and its answer. Seeded (:attr:`SimConfig.noise_seed`), so runs repeat.

The network
    :attr:`SimConfig.accept_apns` lists the APNs the network accepts; a dial on any other non-empty
    APN answers ``+CME ERROR: 533`` (missing or unknown APN, TS 27.007 9.2.2).

Data mode
    After ``CONNECT`` the host's bytes go to :meth:`SimModem.network_data_to_send` and the peer's bytes
    (:meth:`SimModem.receive_network_data`) go to the host. ``+++`` preceded and followed by the guard
    time (S12, default 1 s) and with less than the guard time between its characters returns to
    command mode with ``OK`` (the call stays up: ``ATO`` resumes, ``ATH`` ends it). When the peer ends
    the call (:meth:`SimModem.network_closed`) the host gets ``NO CARRIER``. An LCP Terminate-Ack from
    the peer (RFC 1661 section 5.5) also ends the call, 0.2 s later, with ``NO CARRIER``: cellular
    modems report the end of the PPP session that way (:attr:`SimConfig.hangup_on_terminate`).

Line rate (``--baud``)
    With :attr:`SimConfig.baud`, bytes in both directions are released at ``baud / 10`` bytes per second
    (8N1); :meth:`SimModem.get_timer` includes the next release time, so the driver paces by sleeping
    until that deadline.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import math
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from pppos.at.engine import NUMERIC_RESULTS
from pppos.at.profiles import PROFILES, ModemProfile
from pppos.errors import ConfigError

__all__ = [
    "MAX_LINE",
    "PROFILES",
    "CallEnded",
    "EnteredDataMode",
    "Event",
    "LeftDataMode",
    "SimConfig",
    "SimModem",
    "SimProfile",
    "SimStats",
    "parse_registration",
    "parse_stored_profile",
]

#: The longest command line kept (V.250 requires at least 40 characters); longer lines get ERROR.
MAX_LINE = 1024
#: Unprocessed input kept while a command is still executing; older bytes are dropped beyond it.
MAX_PENDING_INPUT = 4096
#: Seconds between the peer's LCP Terminate-Ack and NO CARRIER.
TERMINATE_HANGUP_DELAY = 0.2
#: How far ahead of real time the pacer may hand bytes to the driver (seconds).
PACE_WINDOW = 0.02
#: Line time (seconds) a late wake-up may still use, like a UART FIFO that kept sending meanwhile.
PACE_CATCH_UP = 0.05

#: The factory settings of the result-code parameters (V.250 6.2.4-6.2.6): echo on, result codes
#: on, verbose. ``AT&F`` sets them; a ``--stored-profile`` overrides some for power-on and ``ATZ``.
FACTORY_PROFILE: dict[str, int] = {"E": 1, "Q": 0, "V": 1}
#: numeric result code of each verbose word (V.250 6.2.6), from the host's table
_RESULT_NUMBERS = {word: number for number, word in NUMERIC_RESULTS.items()}

#: 3GPP TS 27.007 section 9.2 verbose texts for the codes the simulator uses.
CME_TEXT: dict[int, str] = {
    3: "operation not allowed",
    4: "operation not supported",
    10: "SIM not inserted",
    11: "SIM PIN required",
    12: "SIM PUK required",
    16: "incorrect password",
    30: "no network service",
    50: "incorrect parameters",
    53: "parameter invalid",
    533: "missing or unknown APN",
}


# -- events -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class EnteredDataMode:
    """The modem said CONNECT: from now on host bytes go to the network peer.

    ``resumed`` is True for ``ATO`` (same call, same peer); False for a new call (start a new peer).
    """

    cid: int
    apn: str
    resumed: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class LeftDataMode:
    """The host escaped with ``+++``; the call is still up (``ATO`` resumes it)."""

    reason: str = "escape"


@dataclass(frozen=True, slots=True, kw_only=True)
class CallEnded:
    """The data call is over (``reason``: ``hangup`` for ATH, ``reset`` for ATZ/reboot, ``peer`` when the
    network side ended it, ``dtr`` for :meth:`SimModem.drop_dtr`)."""

    reason: str


Event = EnteredDataMode | LeftDataMode | CallEnded


# -- profiles -----------------------------------------------------------------------------------

#: The simulator speaks the dialects of the one profile registry (:mod:`pppos.at.profiles`).
SimProfile = ModemProfile


# -- configuration ------------------------------------------------------------------------------

_REG_MODES = ("home", "roaming", "denied", "searching")


def parse_registration(text: str) -> tuple[str, float]:
    """Parse ``home|roaming|denied|searching|slow:SECONDS`` into (mode, seconds).

    :raises ConfigError: anything else (one line naming the choices).
    """
    value = text.strip().lower()
    if value in _REG_MODES:
        return value, 0.0
    if value.startswith("slow:"):
        try:
            seconds = float(value[5:])
        except ValueError:
            seconds = -1.0
        if math.isfinite(seconds) and seconds >= 0:
            return "slow", seconds
    raise ConfigError(
        f"bad registration mode {text!r}: use home, roaming, denied, searching or slow:SECONDS (e.g. slow:5)"
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class SimConfig:
    """What the simulated modem is and how its SIM and network behave."""

    profile: str = "a7"
    #: the SIM PIN; None means the SIM needs none
    pin: str | None = field(default=None, repr=False)
    #: the SIM PUK (used after three wrong PINs)
    puk: str = field(default="12345678", repr=False)
    #: False simulates an empty SIM slot (``+CME ERROR: 10``)
    sim_present: bool = True
    #: ``home``, ``roaming``, ``denied``, ``searching`` or ``slow:SECONDS``
    registration: str = "home"
    #: seconds from SIM ready to registration (home/roaming/denied)
    registration_delay: float = 0.5
    #: seconds after power-on before the modem answers AT
    boot_delay: float = 0.0
    #: ``+CSQ`` RSSI (0..31, 99 = unknown)
    csq: int = 24
    #: seconds ``AT+CGATT=1`` takes
    attach_delay: float = 0.2
    #: seconds from a dial command to ``CONNECT`` (the PDP context activation)
    dial_delay: float = 0.0
    #: repeat :attr:`ModemProfile.periodic_urc` this often (None: never)
    urc_interval: float | None = None
    #: line rate for pacing both directions (bits per second, 8N1); None: no pacing
    baud: int | None = None
    #: APN of PDP context 1 at boot ("" = the host must set one with AT+CGDCONT before dialing)
    apn: str = ""
    imei: str = "866123456789012"
    iccid: str = "89860012345678901234"
    operator: str = "PPPOS SIM"
    #: the operator's MCC+MNC (``AT+COPS=3,2``); 001/01 is the 3GPP test network
    operator_code: str = "00101"
    #: the ``+CTZV`` network time text
    network_time: str = "26/01/01,00:00:00,+00"
    #: end the call (NO CARRIER) when the peer acknowledges an LCP Terminate-Request
    hangup_on_terminate: bool = True
    #: unsolicited noise: on average this many of the profile's real URCs per second at random
    #: moments, and before a command's answer (after its echo) with probability ``rate / 10``
    urc_noise: float = 0.0
    #: seed of the noise's random choices (repeatable runs)
    noise_seed: int = 0
    #: the APNs the network accepts (``()``: any non-empty one); a dial on another APN gets
    #: ``+CME ERROR: 533`` ("missing or unknown APN", TS 27.007 9.2.2)
    accept_apns: tuple[str, ...] = ()
    #: the stored profile's result-code settings in V.250 syntax (``V0Q1E1``, ``E0``; "" = factory
    #: ``E1Q0V1``): restored at power-on, reboot and ``ATZ`` (:func:`parse_stored_profile`)
    stored_profile: str = ""

    def __post_init__(self) -> None:
        if self.profile not in PROFILES or self.profile == "auto":
            raise ConfigError(f"unknown modem profile {self.profile!r}: choose one of {', '.join(PROFILES)}")
        parse_registration(self.registration)
        if self.baud is not None and self.baud <= 0:
            raise ConfigError(f"bad baud rate {self.baud}: it must be a positive number of bits per second")
        for name in ("boot_delay", "registration_delay", "attach_delay", "dial_delay"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ConfigError(f"bad {name.replace('_', ' ')} {value}: give a number of seconds >= 0")
        if self.pin is not None and not (self.pin.isascii() and self.pin.isdigit() and 4 <= len(self.pin) <= 8):
            raise ConfigError("the simulated SIM PIN must be 4 to 8 digits")
        if not (math.isfinite(self.urc_noise) and 0 <= self.urc_noise <= 1000):
            raise ConfigError(f"bad URC noise rate {self.urc_noise}: give URCs per second from 0 to 1000")
        parse_stored_profile(self.stored_profile)


def parse_stored_profile(text: str) -> dict[str, int]:
    """``V0Q1E1`` (any order, case-insensitive, spaces allowed) -> ``{"E": 1, "Q": 1, "V": 0}``.

    Each of the V.250 basic commands ``E`` (6.2.4), ``Q`` (6.2.5) and ``V`` (6.2.6) at most once with
    value 0 or 1; the ones not given keep their factory setting (:data:`FACTORY_PROFILE`). Anything
    else is a :class:`~pppos.errors.ConfigError` naming the setting.
    """
    settings = dict(FACTORY_PROFILE)
    seen: set[str] = set()
    body = "".join(text.upper().split())
    if body.startswith("AT"):
        body = body[2:]
    for i in range(0, len(body), 2):
        name, value = body[i], body[i + 1 : i + 2]
        if name not in settings or value not in ("0", "1") or name in seen:
            raise ConfigError(
                f"bad stored profile {text!r}: give E, Q and V settings such as V0Q1E1 (each once, 0 or 1)"
            )
        seen.add(name)
        settings[name] = int(value)
    return settings


@dataclass(slots=True)
class SimStats:
    """Counters (line noise is counted, never raised)."""

    commands: int = 0
    noise_lines: int = 0
    overflows: int = 0
    dropped_input: int = 0
    dropped_network_bytes: int = 0
    escapes: int = 0
    calls: int = 0


# -- pacing -------------------------------------------------------------------------------------


class _Pacer:
    """Releases queued bytes at a line rate; with no rate everything is released at once."""

    __slots__ = ("_busy_until", "_pending", "_rate", "_ready")

    def __init__(self, baud: int | None) -> None:
        self._rate = baud / 10.0 if baud else None
        self._pending = bytearray()
        self._ready = bytearray()
        self._busy_until = 0.0

    def push(self, data: bytes, now: float) -> None:
        if self._rate is None:
            self._ready += data
        else:
            self._pending += data
            self.update(now)

    def update(self, now: float) -> None:
        if self._rate is None or not self._pending:
            return
        base = max(self._busy_until, now - PACE_CATCH_UP)
        budget = int((now + PACE_WINDOW - base) * self._rate)
        if budget > 0:
            chunk = self._pending[:budget]
            del self._pending[:budget]
            self._ready += chunk
            self._busy_until = base + len(chunk) / self._rate

    def deadline(self) -> float | None:
        if self._rate is None or not self._pending:
            return None
        return self._busy_until - PACE_WINDOW / 2

    def take(self) -> bytes:
        out = bytes(self._ready)
        self._ready.clear()
        return out

    def backlog(self) -> int:
        return len(self._pending) + len(self._ready)

    def clear_pending(self) -> None:
        self._pending.clear()


# -- the modem ----------------------------------------------------------------------------------

#: Command-line states: COMMAND (no call), ONLINE_COMMAND (call up, escaped), DATA.
COMMAND, ONLINE_COMMAND, DATA = "command", "online-command", "data"

#: (state, what happened) -> next state: the call/data-mode automaton, tested cell by cell.
CALL_TRANSITIONS: dict[tuple[str, str], str] = {
    (COMMAND, "dial"): DATA,
    (COMMAND, "peer-end"): COMMAND,
    (COMMAND, "hangup"): COMMAND,
    (DATA, "escape"): ONLINE_COMMAND,
    (DATA, "peer-end"): COMMAND,
    (DATA, "hangup"): COMMAND,
    (ONLINE_COMMAND, "resume"): DATA,
    (ONLINE_COMMAND, "hangup"): COMMAND,
    (ONLINE_COMMAND, "peer-end"): COMMAND,
}

_Reply = tuple[list[str], "str | int"]
_Handler = Callable[["SimModem", str, str, float], "_Reply | None"]


class SimModem:
    """The simulated modem (DCE). See the module docstring for the dialect."""

    def __init__(self, config: SimConfig | None = None) -> None:
        self.config = config or SimConfig()
        self.profile = PROFILES[self.config.profile]
        self.stats = SimStats()
        self._reg_mode, self._slow_seconds = parse_registration(self.config.registration)
        self._events: deque[Event] = deque()
        self._noise_rng = random.Random(f"{self.config.noise_seed}/urc-noise")  # noqa: S311 - a simulation
        self._host = _Pacer(self.config.baud)
        self._net = _Pacer(self.config.baud)
        self._schedule: list[tuple[float, int, Callable[[float], None]]] = []
        self._seq = itertools.count()
        self._powered = False
        self._generation = 0
        #: dials still to refuse (the network's PDP rejections survive a modem reboot)
        self._reject_dials = 0
        #: the stored profile's E/Q/V settings (``AT&W`` changes it; it survives reboots)
        self.stored = parse_stored_profile(self.config.stored_profile)
        self._reset_state()

    # -- state -------------------------------------------------------------------------------

    def _reset_state(self) -> None:
        p = self.profile
        self.state = COMMAND
        self.restore_profile()
        self.cmee = p.default_cmee
        self.creg_n = p.default_creg_n
        self.cgreg_n = 0
        self.cereg_n = 0
        self.c5greg_n = 0
        self.cops_format = 0
        self.guard = 1.0
        self._line = bytearray()
        self._overflow = False
        self._pending_in = bytearray()
        self._busy = False
        self._ready_at = 0.0
        self._boot_time = 0.0
        self._sim_ready_at: float | None = None
        self._pin = self.config.pin
        self._pin_tries = 3
        self._puk_needed = False
        self._attached = False
        self._contexts: dict[int, tuple[str, str]] = {1: ("IP", self.config.apn)}
        self._active: set[int] = set()
        self._call: tuple[int, str] | None = None
        self._last_rx = float("-inf")
        self._esc_count = 0
        self._esc_held = bytearray()
        self._continuation: tuple[list[tuple[str, str]], list[str]] = ([], [])
        self._terminating = False
        self._scan_tail = b""
        #: the ``stuck`` fault: dialing answers ERROR until CFUN 0 then 1, or a reset
        self._stuck = False
        self._radio_off = False
        self._cycled_radio = False

    def restore_profile(self) -> None:
        """Echo, quiet and verbose from the stored profile (power-on, reboot, ``ATZ``)."""
        self.echo = bool(self.stored["E"])
        self.quiet = bool(self.stored["Q"])
        self.verbose = bool(self.stored["V"])

    def __repr__(self) -> str:
        return (
            f"<SimModem {self.profile.name} {self.state} sim={self.sim_state} echo={int(self.echo)} "
            f"quiet={int(self.quiet)} verbose={int(self.verbose)} "
            f"call={self._call is not None}>"
        )

    @property
    def sim_state(self) -> str:
        """``READY``, ``SIM PIN``, ``SIM PUK`` or ``NOT INSERTED``."""
        if not self.config.sim_present:
            return "NOT INSERTED"
        if self._puk_needed:
            return "SIM PUK"
        if self._pin is not None and self._sim_ready_at is None:
            return "SIM PIN"
        return "READY"

    @property
    def pin_attempts_left(self) -> int:
        """Wrong PIN entries left before the SIM asks for the PUK."""
        return self._pin_tries

    @property
    def in_call(self) -> bool:
        """True while a data call is up (in data mode or escaped to online command mode)."""
        return self._call is not None

    def registration_stat(self, now: float) -> int:
        """The TS 27.007 7.2 ``<stat>`` now: 0 not registered, 1 home, 2 searching, 3 denied, 5 roaming."""
        if self.sim_state != "READY" or self._sim_ready_at is None or self._radio_off:
            return 0
        if self._reg_mode == "searching":
            return 2
        if now < self._registration_time():
            return 2
        return {"home": 1, "slow": 1, "roaming": 5, "denied": 3}[self._reg_mode]

    def _registration_time(self) -> float:
        if self._reg_mode == "slow":
            return max(self._boot_time + self._slow_seconds, self._sim_ready_at or 0.0)
        return (self._sim_ready_at or 0.0) + self.config.registration_delay

    def _registered(self, now: float) -> bool:
        return self.registration_stat(now) in (1, 5)

    # -- scheduling --------------------------------------------------------------------------

    def _boot_urc(self, line: str, now: float) -> None:
        """One boot URC of the profile (``{cpin}`` filled with the SIM state at that moment)."""
        self._urc(line.format(cpin=self.sim_state), now)

    def _at(self, when: float, action: Callable[[float], None]) -> None:
        gen = self._generation

        def guarded(now: float) -> None:
            if gen == self._generation:
                action(now)

        heapq.heappush(self._schedule, (when, next(self._seq), guarded))

    # -- power -------------------------------------------------------------------------------

    def power_on(self, now: float) -> None:
        """Boot the modem at ``now``: boot URCs, SIM and registration timers start."""
        self._generation += 1
        self._schedule.clear()
        self._reset_state()
        self._powered = True
        self._boot_time = now
        self._ready_at = now + self.config.boot_delay
        for offset, line in self.profile.boot_urcs:
            self._at(self._ready_at + offset, functools.partial(self._boot_urc, line))
        if self.sim_state == "READY":
            self._sim_became_ready(now)
        if self.config.urc_interval:
            self._at(now + self.config.urc_interval, self._periodic)
        if self.config.urc_noise > 0:
            self._at(now + self._noise_rng.expovariate(self.config.urc_noise), self._noise)
        self._update(now)

    def _sim_became_ready(self, now: float) -> None:
        self._sim_ready_at = now
        if self._reg_mode != "searching":
            self._at(max(now, self._registration_time()), self._on_registered)

    def _on_registered(self, now: float) -> None:
        stat = self.registration_stat(now)
        roam = 1 if stat == 5 else 0
        loc = self._location(self.creg_n, stat)
        creg_sent = False
        for template in self.profile.registered_urcs:
            if template.startswith("+CREG"):
                if self.creg_n == 0:
                    continue
                creg_sent = True
            if template.startswith(("+CIEV", "+CTZV")) and stat not in (1, 5):
                continue
            self._urc(template.format(stat=stat, roam=roam, time=self.config.network_time, loc=loc), now)
        self._report_registration(now, skip_creg=creg_sent)

    def _report_registration(self, now: float, *, skip_creg: bool = False) -> None:
        """Registration URCs (27.007 7.2 unsolicited form ``<stat>[,<lac>,<ci>[,<AcT>]]``) of every
        domain whose report mode is on."""
        stat = self.registration_stat(now)
        domains = (
            ("+CREG", self.creg_n), ("+CGREG", self.cgreg_n), ("+CEREG", self.cereg_n), ("+C5GREG", self.c5greg_n)
        )
        for name, n in domains:
            if n and not (skip_creg and name == "+CREG") and self.profile.knows_domain(name[1:]):
                self._urc(f"{name}: {stat}{self._location(n, stat)}", now)

    def _location(self, n: int, stat: int) -> str:
        """The fields after ``<stat>`` in report mode 2 (27.007 7.2): LAC/TAC, cell id, AcT when known."""
        if n < 2 or stat not in (1, 5):
            return ""
        act = f",{self.profile.act}" if self.profile.act is not None else ""
        if self.profile.act is not None and self.profile.act >= 10:  # 5GS: 3-octet TAC, 36-bit NR cell id
            return f',"01A2B3","00C3D4E5F"{act}'
        cell = "01C3D4E5" if self.profile.act == 7 else "00C3D4"
        return f',"1A2B","{cell}"{act}'


    def _noise_line(self) -> str:
        return self._noise_rng.choice(self.profile.noise_urcs).format(csq=self.config.csq)

    def _noise(self, now: float) -> None:
        """``--urc-noise``: one of the profile's real URCs, then the next at a Poisson-distributed delay."""
        if self.state != DATA and not self._busy:
            self._urc(self._noise_line(), now)
        self._at(now + self._noise_rng.expovariate(self.config.urc_noise), self._noise)

    def _periodic(self, now: float) -> None:
        if self.state != DATA:
            self._urc(self.profile.periodic_urc.format(csq=self.config.csq), now)
        if self.config.urc_interval:
            self._at(now + self.config.urc_interval, self._periodic)

    # -- uniform sans-I/O surface -----------------------------------------------------------

    def receive_data(self, data: bytes, now: float) -> None:
        """Bytes from the host (DTE). In command mode they are echoed and parsed; in data mode they go
        to the network peer, except a guarded ``+++``."""
        if not self._powered:
            self.power_on(now)
        self._run_due(now)
        if now < self._ready_at:
            self.stats.dropped_input += len(data)
            return
        if self.state == DATA:
            self._data_from_host(data, now)
        elif self._busy:
            room = MAX_PENDING_INPUT - len(self._pending_in)
            if room < len(data):
                self.stats.dropped_input += len(data) - max(room, 0)
            self._pending_in += data[: max(room, 0)]
        else:
            self._command_bytes(data, now)
        self._update(now)

    def next_event(self) -> Event | None:
        """The next event, or None."""
        return self._events.popleft() if self._events else None

    def data_to_send(self) -> bytes:
        """Bytes for the host (echo, responses, URCs, and the peer's bytes in data mode)."""
        return self._host.take()

    def get_timer(self) -> float | None:
        """The earliest deadline (URCs, delayed replies, ``+++`` guard, line-rate pacing), or None."""
        candidates = [self._schedule[0][0]] if self._schedule else []
        if self._esc_count == 3:
            candidates.append(self._last_rx + self.guard)
        for pacer in (self._host, self._net):
            deadline = pacer.deadline()
            if deadline is not None:
                candidates.append(deadline)
        return min(candidates) if candidates else None

    def handle_timer(self, now: float) -> None:
        """Run whatever is due at ``now``."""
        if not self._powered:
            self.power_on(now)
        self._run_due(now)
        if self._esc_count == 3 and now >= self._last_rx + self.guard:
            self._escape(now)
        self._update(now)

    # -- network side ------------------------------------------------------------------------

    def receive_network_data(self, data: bytes, now: float) -> None:
        """Bytes from the network-side PPP peer; forwarded to the host only in data mode.

        With :attr:`SimConfig.hangup_on_terminate`, an LCP Terminate-Ack from the peer (RFC 1661
        section 5.5: the PPP session is over) ends the call :data:`TERMINATE_HANGUP_DELAY` seconds
        later with ``NO CARRIER``, as cellular modems do when PPP ends.
        """
        self._run_due(now)
        if self.state == DATA:
            self._host.push(data, now)
            if self.config.hangup_on_terminate and self._call is not None and not self._terminating:
                scan = self._scan_tail + data
                self._scan_tail = scan[-16:]
                if _has_lcp_terminate_ack(scan):
                    self._terminating = True
                    self._at(now + TERMINATE_HANGUP_DELAY, self._terminated)
        else:
            self.stats.dropped_network_bytes += len(data)
        self._update(now)

    def _terminated(self, now: float) -> None:
        if self._terminating and self._call is not None:
            self.network_closed(now)

    def network_data_to_send(self) -> bytes:
        """Bytes the host sent in data mode, for the network peer."""
        return self._net.take()

    def network_closed(self, now: float) -> None:
        """The network peer ended the call: ``NO CARRIER`` and back to command mode."""
        self._run_due(now)
        if self._call is not None:
            self._net.clear_pending()
            self._end_call("peer", now)
            self._result("NO CARRIER", now)
        self._update(now)

    def drop_dtr(self, now: float) -> None:
        """The host dropped DTR (V.250 ``&D2`` behaviour): end any call with ``NO CARRIER``."""
        self._run_due(now)
        if self._call is not None:
            self._net.clear_pending()
            self._end_call("dtr", now)
            self._result("NO CARRIER", now)
        self._update(now)

    @property
    def host_backlog(self) -> int:
        """Bytes queued for the host (the driver stops reading the peer while this is large)."""
        return self._host.backlog()

    @property
    def network_backlog(self) -> int:
        """Bytes queued for the network peer."""
        return self._net.backlog()

    # -- internals: timing -------------------------------------------------------------------

    def _run_due(self, now: float) -> None:
        while self._schedule and self._schedule[0][0] <= now:
            _, _, action = heapq.heappop(self._schedule)
            action(now)

    def _update(self, now: float) -> None:
        self._host.update(now)
        self._net.update(now)

    # -- internals: output -------------------------------------------------------------------

    def _send(self, text: str, now: float) -> None:
        self._host.push(text.encode("latin-1"), now)

    def _framed(self, line: str) -> str:
        """An information line or URC: ``<CR><LF>text<CR><LF>``, or ``text<CR><LF>`` in V0 (V.250 6.2.6)."""
        return f"\r\n{line}\r\n" if self.verbose else f"{line}\r\n"

    def _urc(self, line: str, now: float) -> None:
        if self.state != DATA:
            self._send(self._framed(line), now)

    def _format_final(self, final: str | int) -> str:
        if isinstance(final, int):
            if self.cmee == 0:
                return "ERROR"
            sep = " " if self.profile.cme_space else ""
            if self.cmee == 2 and final in CME_TEXT:
                return f"+CME ERROR:{sep}{CME_TEXT[final]}"
            return f"+CME ERROR:{sep}{final}"
        return final

    def _result(self, final: str | int, now: float) -> None:
        """A final result code: verbose, numeric (V0) or none at all (Q1), V.250 6.2.5/6.2.6."""
        if self.quiet:
            return
        text = self._format_final(final)
        if not self.verbose:
            number = _RESULT_NUMBERS.get(text.split(" ", 1)[0] if text.startswith("CONNECT") else text)
            self._send(f"{number}\r" if number is not None else f"{text}\r\n", now)
            return
        extra = "\r\n" if self.profile.extra_blank_line and not text.startswith("CONNECT") else ""
        self._send(f"\r\n{text}\r\n{extra}", now)

    def _reply(self, lines: list[str], final: str | int, now: float) -> None:
        if self.config.urc_noise > 0 and self._noise_rng.random() < self.config.urc_noise / 10:
            # a URC between the echo and the answer: the case that must never become the answer
            self._urc(self._noise_line(), now)
        self._send("".join(self._framed(line) for line in lines), now)
        self._result(final, now)

    # -- internals: data mode ----------------------------------------------------------------

    def _data_from_host(self, data: bytes, now: float) -> None:
        # Fast path: no escape can start inside this chunk unless the line was silent before it.
        silent = now - self._last_rx >= self.guard
        if self._esc_count == 0 and not (silent and data[:1] == b"+"):
            self._net.push(data, now)
            self._last_rx = now
            return
        for i, byte in enumerate(data):
            if byte == 0x2B and (
                (self._esc_count == 0 and now - self._last_rx >= self.guard)
                or (0 < self._esc_count < 3 and now - self._last_rx < self.guard)
            ):
                self._esc_count += 1
                self._esc_held.append(byte)
                self._last_rx = now
                continue
            # Not an escape after all: the held '+' were data.
            self._net.push(bytes(self._esc_held) + data[i:], now)
            self._esc_held.clear()
            self._esc_count = 0
            self._last_rx = now
            return

    def _escape(self, now: float) -> None:
        self._esc_count = 0
        self._esc_held.clear()
        self.stats.escapes += 1
        self.state = CALL_TRANSITIONS[(self.state, "escape")]
        self._events.append(LeftDataMode(reason="escape"))
        self._result("OK", now)

    def _enter_data(self, cid: int, apn: str, *, resumed: bool, now: float) -> None:
        self._result(self.profile.connect, now)
        if not resumed:
            self._terminating = False
            self._scan_tail = b""
        self.state = CALL_TRANSITIONS[(self.state, "resume" if resumed else "dial")]
        self._call = (cid, apn)
        self._last_rx = now
        self._esc_count = 0
        self._esc_held.clear()
        self._line.clear()
        if not resumed:
            self.stats.calls += 1
        self._events.append(EnteredDataMode(cid=cid, apn=apn, resumed=resumed))

    def _end_call(self, reason: str, now: float) -> None:
        if self._call is None:
            return
        self.state = CALL_TRANSITIONS[(self.state, "peer-end" if reason == "peer" else "hangup")]
        self._call = None
        self._esc_count = 0
        self._esc_held.clear()
        self._events.append(CallEnded(reason=reason))

    # -- internals: command line -------------------------------------------------------------

    def _command_bytes(self, data: bytes, now: float) -> None:
        for index, byte in enumerate(data):
            if self.echo:
                self._host.push(bytes((byte,)), now)
            if byte == 0x0D:
                line = bytes(self._line)
                self._line.clear()
                overflow, self._overflow = self._overflow, False
                if overflow:
                    self.stats.overflows += 1
                    self._result("ERROR", now)
                else:
                    self._command_line(line, now)
                if self.state == DATA:
                    # Bytes after the dial command's CR are already PPP data.
                    rest = data[index + 1 :]
                    if rest:
                        self._data_from_host(rest, now)
                    return
                if self._busy:
                    self._pending_in += data[index + 1 : index + 1 + MAX_PENDING_INPUT]
                    return
            elif byte in {10, 0}:
                continue
            elif byte == 0x08:
                if self._line:
                    self._line.pop()
            elif self._overflow:
                continue
            elif len(self._line) >= MAX_LINE:
                self._overflow = True
                self._line.clear()
            else:
                self._line.append(byte)

    def _command_line(self, raw: bytes, now: float) -> None:
        text = raw.decode("latin-1")
        start = _find_prefix(text)
        if start < 0:
            stripped = text.strip()
            if stripped[:2] in ("At", "aT"):
                self._result("ERROR", now)
            elif stripped:
                self.stats.noise_lines += 1
            return
        body = text[start + 2 :]
        commands = _split_commands(body)
        self.stats.commands += 1
        if commands is None:
            self._result("ERROR", now)
            return
        self._execute(commands, [], now)

    def _execute(self, commands: list[tuple[str, str]], lines: list[str], now: float) -> None:
        for position, (name, args) in enumerate(commands):
            handler = self._lookup(name)
            if handler is None:
                self._reply(lines, "ERROR", now)
                return
            outcome = handler(self, name, args, now)
            if outcome is None:
                # The handler produced the whole answer itself (CONNECT, delayed reply, ...).
                if self._busy:
                    rest = commands[position + 1 :]
                    self._continuation = (rest, lines)
                return
            more, final = outcome
            lines = lines + more
            if final != "OK":
                self._reply(lines, final, now)
                return
        self._reply(lines, "OK", now)

    def _lookup(self, name: str) -> _Handler | None:
        handler = _HANDLERS.get(name)
        if handler is not None:
            return handler
        p = self.profile
        if p.lte_signal and name == p.lte_signal[2:].split("=", 1)[0].upper():
            return _lte_signal
        if name in p.ok_commands:
            return _ok
        if name == p.reset_command:
            return _reboot
        if any(name == ccid_name for ccid_name, _ in p.ccid):
            return _ccid
        if any(name == counter for counter, _ in p.pin_counter):
            return _pin_counter
        if name in ("+CEREG", "+C5GREG") and p.knows_domain(name[1:]):
            return _reg_cmd
        if name == "+CIPSTATUS" and p.cipstatus:
            return _cipstatus
        return None

    def _defer(self, delay: float, urc: str | None, result: _Reply, now: float) -> None:
        """Answer after ``delay`` seconds (the command is still executing meanwhile)."""
        self._busy = True
        self._continuation = ([], [])

        def finish(t: float) -> None:
            if urc:
                self._urc(urc, t)
            rest, lines = self._continuation
            self._busy = False
            more, final = result
            if final != "OK" or not rest:
                self._reply(lines + more, final, t)
            else:
                self._execute(rest, lines + more, t)
            if not self._busy and self._pending_in:
                pending = bytes(self._pending_in)
                self._pending_in.clear()
                self._command_bytes(pending, t)

        self._at(now + delay, finish)

    # -- dial ----------------------------------------------------------------------------------

    def _dial(self, cid: int, now: float) -> _Reply | None:
        if self.sim_state == "NOT INSERTED":
            return [], 10
        if self.sim_state == "SIM PIN":
            return [], 11
        if self.sim_state == "SIM PUK":
            return [], 12
        if self._call is not None:
            return [], 3
        if not self._registered(now):
            return [], "NO CARRIER"
        _, apn = self._contexts.get(cid, ("IP", ""))
        if not apn:
            return [], "ERROR"
        if self.config.accept_apns and apn.lower() not in {a.lower() for a in self.config.accept_apns}:
            return [], 533  # the network rejects the PDP context activation (27.007 9.2.2)
        if self._stuck:
            return [], "ERROR"
        if self._reject_dials > 0:
            self._reject_dials -= 1
            return [], "NO CARRIER"
        self._attached = True
        if self.config.dial_delay <= 0:
            self._enter_data(cid, apn, resumed=False, now=now)
            return None
        self._busy = True

        def connect(t: float) -> None:
            self._busy = False
            self._enter_data(cid, apn, resumed=False, now=t)
            pending = bytes(self._pending_in)
            self._pending_in.clear()
            if pending:
                self._data_from_host(pending, t)

        self._at(now + self.config.dial_delay, connect)
        return None

    # -- faults (driven by pppos.sim.faults through the driver) ---------------------------------------

    def reboot(self, now: float) -> None:
        """The modem reboots by itself: the call ends without a result code, then :meth:`power_on`
        (boot latency, boot URCs, the SIM wants its PIN again)."""
        self._run_due(now)
        self._end_call("reset", now)
        self.power_on(now)

    def set_registration(self, mode: str, now: float) -> None:
        """The network changes this modem's registration midway (``searching`` when coverage is lost,
        ``denied``, or back to ``home``/``roaming``). Losing it drops a call with ``NO CARRIER`` and
        detaches (TS 27.007 7.2 ``<stat>`` reported as a ``+CREG`` URC where enabled); regaining it
        registers again after :attr:`SimConfig.registration_delay`."""
        self._run_due(now)
        was = self._registered(now)
        self._reg_mode, self._slow_seconds = parse_registration(mode)
        ready = self.sim_state == "READY" and self._sim_ready_at is not None and not self._radio_off
        if self._reg_mode in ("searching", "denied"):
            self._attached = False
            self._active.clear()
            if was:
                self.network_closed(now)
                if ready:
                    self._on_registered(now)
        elif ready and not was:
            self._sim_became_ready(now)
        self._update(now)

    def reject_dials(self, count: int) -> None:
        """Refuse the next ``count`` dials (PDP context activation rejected: ``NO CARRIER``)."""
        self._reject_dials = max(0, count)

    def make_stuck(self) -> None:
        """Answer ``ERROR`` to every dial until ``AT+CFUN=0`` then ``AT+CFUN=1``, or a reset."""
        self._stuck = True
        self._cycled_radio = False

    @property
    def stuck(self) -> bool:
        """True while the ``stuck`` fault holds."""
        return self._stuck


#: LCP Terminate-Ack with the RFC 1662 address/control field (LCP never uses ACFC).
_LCP_TERMACK = b"\xff\x03\xc0\x21\x06"


def _has_lcp_terminate_ack(stream: bytes) -> bool:
    """True when an HDLC frame in ``stream`` starts with an LCP Terminate-Ack (RFC 1662 section 4.2
    escaping undone on the first bytes only; the FCS is not checked: this is a sniffer)."""
    start = stream.find(b"\x7e")
    while start >= 0:
        head = bytearray()
        i = start + 1
        while i < len(stream) and len(head) < len(_LCP_TERMACK):
            byte = stream[i]
            if byte == 0x7E:
                break
            if byte == 0x7D and i + 1 < len(stream):
                i += 1
                byte = stream[i] ^ 0x20
            head.append(byte)
            i += 1
        if bytes(head) == _LCP_TERMACK:
            return True
        start = stream.find(b"\x7e", start + 1)
    return False


def _find_prefix(text: str) -> int:
    """Index of the first ``AT`` or ``at`` (V.250 5.2.1: characters before it are ignored), or -1."""
    upper = text.find("AT")
    lower = text.find("at")
    found = [i for i in (upper, lower) if i >= 0]
    return min(found) if found else -1


def _split_commands(body: str) -> list[tuple[str, str]] | None:
    """Split the text after ``AT`` into (NAME, arguments) pairs; None when it cannot be parsed.

    Basic commands: ``E0``, ``&F``, ``S12=50``, ``D...`` (takes the rest of the line). Extended
    commands: ``+NAME`` followed by ``?``, ``=?``, ``=args`` or nothing, separated by ``;``.
    """
    out: list[tuple[str, str]] = []
    i, n = 0, len(body)
    while i < n:
        c = body[i]
        if c in " ;":
            i += 1
        elif c in "+^$%":
            j = i + 1
            while j < n and (body[j].isalnum() or body[j] in "_-.!%&"):
                j += 1
            name = body[i:j].upper()
            k, quoted = j, False
            while k < n and (quoted or body[k] != ";"):
                if body[k] == '"':
                    quoted = not quoted
                k += 1
            if len(name) < 2:
                return None
            out.append((name, body[j:k].strip()))
            i = k
        elif c in "Dd":
            out.append(("D", body[i + 1 :].strip()))
            return out
        elif c == "&":
            if i + 1 >= n or not body[i + 1].isalpha():
                return None
            j = i + 2
            while j < n and body[j].isdigit():
                j += 1
            out.append(("&" + body[i + 1].upper(), body[i + 2 : j]))
            i = j
        elif c in "Ss":
            j = i + 1
            while j < n and body[j].isdigit():
                j += 1
            if j < n and body[j] == "?":
                j += 1
            elif j < n and body[j] == "=":
                j += 1
                while j < n and body[j].isdigit():
                    j += 1
            out.append(("S", body[i + 1 : j]))
            i = j
        elif c.isalpha():
            j = i + 1
            while j < n and body[j].isdigit():
                j += 1
            out.append((c.upper(), body[i + 1 : j]))
            i = j
        else:
            return None
    return out


def _kind(args: str) -> tuple[str, str]:
    """Classify extended-command arguments: (``exec``|``read``|``test``|``set``, value)."""
    if not args:
        return "exec", ""
    if args == "?":
        return "read", ""
    if args == "=?":
        return "test", ""
    if args.startswith("="):
        return "set", args[1:].strip()
    return "bad", args


def _params(value: str) -> list[str]:
    """Split ``1,"IP","apn"`` into unquoted parameters."""
    params: list[str] = []
    current: list[str] = []
    quoted = False
    for ch in value:
        if ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            params.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    params.append("".join(current).strip())
    return params


def _int(text: str, default: int | None = None) -> int | None:
    try:
        return int(text)
    except ValueError:
        return default


# -- handlers (name, args, now) -> (info lines, final) or None when the handler answered itself ----


def _ok(m: SimModem, name: str, args: str, now: float) -> _Reply:
    return [], "OK"


def _basic_e(m: SimModem, name: str, args: str, now: float) -> _Reply:
    if args not in ("", "0", "1"):
        return [], "ERROR"
    m.echo = args == "1"
    return [], "OK"


def _basic_q(m: SimModem, name: str, args: str, now: float) -> _Reply:
    """``ATQ<n>`` (V.250 6.2.5): 1 suppresses result codes, 0 (or no value) transmits them."""
    if args not in ("", "0", "1"):
        return [], "ERROR"
    m.quiet = args == "1"
    return [], "OK"


def _basic_v(m: SimModem, name: str, args: str, now: float) -> _Reply:
    """``ATV<n>`` (V.250 6.2.6): 0 numeric result codes, 1 verbose; no value is 0."""
    if args not in ("", "0", "1"):
        return [], "ERROR"
    m.verbose = args == "1"
    return [], "OK"


def _basic_w(m: SimModem, name: str, args: str, now: float) -> _Reply:
    """``AT&W``: store the active E/Q/V settings (not in V.250; the SIMCom and Quectel AT manuals)."""
    if args not in ("", "0"):
        return [], "ERROR"
    m.stored = {"E": int(m.echo), "Q": int(m.quiet), "V": int(m.verbose)}
    return [], "OK"


def _basic_f(m: SimModem, name: str, args: str, now: float) -> _Reply:
    """``AT&F`` (V.250 6.1.2): the factory settings, not stored (the result is already verbose)."""
    if args not in ("", "0"):
        return [], "ERROR"
    m.echo, m.quiet, m.verbose = (bool(FACTORY_PROFILE[k]) for k in ("E", "Q", "V"))
    return [], "OK"


def _basic_flag(m: SimModem, name: str, args: str, now: float) -> _Reply:
    """X, &C, &D, L, M: accepted, no effect on the simulation."""
    return ([], "OK") if args == "" or args.isdigit() else ([], "ERROR")


def _basic_s(m: SimModem, name: str, args: str, now: float) -> _Reply:
    register, _, value = args.partition("=")
    if register.endswith("?"):
        reg = _int(register[:-1])
        if reg == 12:
            return [f"{round(m.guard * 50):03d}"], "OK"
        return (["000"], "OK") if reg is not None else ([], "ERROR")
    reg, val = _int(register), _int(value)
    if reg is None or val is None:
        return [], "ERROR"
    if reg == 12:
        m.guard = val / 50.0
    return [], "OK"


def _basic_i(m: SimModem, name: str, args: str, now: float) -> _Reply:
    return list(m.profile.ati), "OK"


def _basic_h(m: SimModem, name: str, args: str, now: float) -> _Reply:
    if m.in_call:
        m._end_call("hangup", now)
        return [], "OK"
    code = m.profile.no_call_hangup_error
    return ([], code) if code is not None else ([], "OK")


def _basic_z(m: SimModem, name: str, args: str, now: float) -> _Reply:
    if m.in_call:
        m._end_call("reset", now)
    elif m.profile.no_call_hangup_error is not None:
        return [], m.profile.no_call_hangup_error
    m.restore_profile()
    m.cmee = m.profile.default_cmee
    m.creg_n = m.profile.default_creg_n
    m.guard = 1.0
    return [], "OK"


def _basic_o(m: SimModem, name: str, args: str, now: float) -> _Reply | None:
    if m._call is None or m.state != ONLINE_COMMAND:
        return [], "NO CARRIER"
    cid, apn = m._call
    m._enter_data(cid, apn, resumed=True, now=now)
    return None


def _basic_d(m: SimModem, name: str, args: str, now: float) -> _Reply | None:
    number = args.upper().lstrip("TP").strip()
    if number.startswith("*99") and number.endswith("#"):
        inner = number[3:-1].strip("*")
        cid = _int(inner.split("*")[-1], 1) if inner else 1
        return m._dial(cid if cid is not None else 1, now)
    return [], "NO CARRIER"


def _cmee(m: SimModem, name: str, args: str, now: float) -> _Reply:
    kind, value = _kind(args)
    if kind == "read":
        return [f"+CMEE: {m.cmee}"], "OK"
    if kind == "test":
        return ["+CMEE: (0-2)"], "OK"
    if kind == "set" and value in ("0", "1", "2"):
        m.cmee = int(value)
        return [], "OK"
    return [], "ERROR"


def _cpin(m: SimModem, name: str, args: str, now: float) -> _Reply:
    kind, value = _kind(args)
    sep = " " if m.profile.cpin_space else ""
    state = m.sim_state
    if state == "NOT INSERTED":
        return [], 10
    if kind == "read":
        return [f"+CPIN:{sep}{state}"], "OK"
    if kind == "test":
        return [], "OK"
    if kind != "set":
        return [], "ERROR"
    params = _params(value)
    if state == "READY":
        return [], 3
    if state == "SIM PIN":
        if params[0] == m._pin:
            m._pin_tries = 3
            m._sim_became_ready(now)
            return [], "OK"
        m._pin_tries -= 1
        if m._pin_tries <= 0:
            m._puk_needed = True
        return [], 16
    # SIM PUK: AT+CPIN="<puk>","<new pin>"
    if len(params) == 2 and params[0] == m.config.puk and params[1].isdigit() and 4 <= len(params[1]) <= 8:
        m._pin = params[1]
        m._puk_needed = False
        m._pin_tries = 3
        m._sim_became_ready(now)
        return [], "OK"
    return [], 16


def _csq(m: SimModem, name: str, args: str, now: float) -> _Reply:
    kind, _ = _kind(args)
    if kind == "exec":
        return [f"+CSQ: {m.config.csq},99"], "OK"
    if kind == "test":
        return ["+CSQ: (0-31,99),(0-7,99)"], "OK"
    return [], "ERROR"


def _cops(m: SimModem, name: str, args: str, now: float) -> _Reply:
    """27.007 7.3: ``AT+COPS=3,<format>`` picks the read form (0 long name, 1 short, 2 MCC+MNC)."""
    kind, value = _kind(args)
    act = f",{m.profile.act}" if m.profile.act is not None else ""
    if kind == "read":
        if m._registered(now):
            oper = {0: m.config.operator, 1: "PPPOS", 2: m.config.operator_code}[m.cops_format]
            return [f'+COPS: 0,{m.cops_format},"{oper}"{act}'], "OK"
        return ["+COPS: 0"], "OK"
    if kind == "test":
        return [f'+COPS: (2,"{m.config.operator}","PPPOS","{m.config.operator_code}"),,(0-4),(0-2)'], "OK"
    if kind == "set":
        params = _params(value)
        if params[0] == "3" and len(params) == 2 and params[1] in ("0", "1", "2"):
            m.cops_format = int(params[1])
        return [], "OK"
    return [], "ERROR"


def _reg_cmd(m: SimModem, name: str, args: str, now: float) -> _Reply:
    attr = {"+CREG": "creg_n", "+CGREG": "cgreg_n", "+CEREG": "cereg_n", "+C5GREG": "c5greg_n"}[name]
    kind, value = _kind(args)
    if kind == "read":
        n = getattr(m, attr)
        stat = m.registration_stat(now)
        return [f"{name}: {n},{stat}{m._location(n, stat)}"], "OK"
    if kind == "test":
        return [f"{name}: (0-2)"], "OK"
    if kind == "set" and value in ("0", "1", "2"):
        setattr(m, attr, int(value))
        return [], "OK"
    return [], "ERROR"


def _cgatt(m: SimModem, name: str, args: str, now: float) -> _Reply | None:
    kind, value = _kind(args)
    if kind == "read":
        return [f"+CGATT: {int(m._attached)}"], "OK"
    if kind == "test":
        return ["+CGATT: (0,1)"], "OK"
    if kind != "set" or value not in ("0", "1"):
        return [], "ERROR"
    if value == "0":
        m._attached = False
        m._active.clear()
        return [], "OK"
    if m.sim_state != "READY":
        return [], {"SIM PIN": 11, "SIM PUK": 12}.get(m.sim_state, 10)
    result: _Reply
    if m._registered(now):
        m._attached = True
        result = ([], "OK")
    else:
        result = ([], 30)
    urc = m.profile.attach_urc.format(time=m.config.network_time) if m.profile.attach_urc else None
    m._defer(m.config.attach_delay, urc if result[1] == "OK" else None, result, now)
    return None


def _cgdcont(m: SimModem, name: str, args: str, now: float) -> _Reply:
    kind, value = _kind(args)
    if kind == "read":
        return [f'+CGDCONT: {cid},"{t}","{apn}","0.0.0.0",0,0' for cid, (t, apn) in sorted(m._contexts.items())], "OK"
    if kind == "test":
        return ['+CGDCONT: (1-7),"IP",,,(0-2),(0-4)', '+CGDCONT: (1-7),"IPV6",,,(0-2),(0-4)'], "OK"
    if kind != "set":
        return [], "ERROR"
    params = _params(value)
    cid = _int(params[0])
    if cid is None or not 1 <= cid <= 7:
        return [], 53 if m.profile.name == "a7" else "ERROR"
    if len(params) == 1:
        m._contexts.pop(cid, None)
        return [], "OK"
    pdp_type = params[1].upper() or "IP"
    if pdp_type not in ("IP", "IPV6", "IPV4V6", "PPP"):
        return [], "ERROR"
    m._contexts[cid] = (pdp_type, params[2] if len(params) > 2 else "")
    return [], "OK"


def _cgact(m: SimModem, name: str, args: str, now: float) -> _Reply:
    kind, value = _kind(args)
    if kind == "read":
        return [f"+CGACT: {cid},{int(cid in m._active)}" for cid in sorted(m._contexts)], "OK"
    if kind == "test":
        return ["+CGACT: (0,1)"], "OK"
    if kind != "set":
        return [], "ERROR"
    params = _params(value)
    state = _int(params[0])
    cids = [c for c in (_int(p) for p in params[1:]) if c is not None] or sorted(m._contexts)
    if state == 0:
        m._active.difference_update(cids)
        return [], "OK"
    if state != 1:
        return [], "ERROR"
    if not m._registered(now):
        return [], 30
    if any(c not in m._contexts for c in cids):
        return [], 3
    m._attached = True
    m._active.update(cids)
    return [], "OK"


def _cgdata(m: SimModem, name: str, args: str, now: float) -> _Reply | None:
    kind, value = _kind(args)
    if kind == "test":
        return ['+CGDATA: ("PPP")'], "OK"
    if kind != "set":
        return [], "ERROR"
    params = _params(value)
    if params[0].upper() not in ("PPP", ""):
        return [], "ERROR"
    cid = _int(params[1]) if len(params) > 1 else 1
    return m._dial(cid if cid is not None else 1, now)


def _identity(m: SimModem, name: str, args: str, now: float) -> _Reply:
    kind, _ = _kind(args)
    if kind == "test":
        return [], "OK"
    if kind != "exec":
        return [], "ERROR"
    p = m.profile
    value = {
        "+CGMI": p.manufacturer,
        "+GMI": p.manufacturer,
        "+CGMM": p.model,
        "+GMM": p.model,
        "+CGMR": p.revision,
        "+GMR": p.revision,
        "+CGSN": m.config.imei,
        "+GSN": m.config.imei,
    }[name]
    return [value], "OK"


def _ccid(m: SimModem, name: str, args: str, now: float) -> _Reply:
    kind, _ = _kind(args)
    if kind not in ("exec", "read"):
        return ([], "OK") if kind == "test" else ([], "ERROR")
    if not m.config.sim_present:
        return [], 10
    template = dict(m.profile.ccid)[name]
    return [template.format(iccid=m.config.iccid)], "OK"


def _pin_counter(m: SimModem, name: str, args: str, now: float) -> _Reply:
    """PIN attempts left: ``+CPINR`` (27.007 8.65), ``+QPINC="SC"`` (Quectel), ``+SPIC`` (SIMCom)."""
    kind, value = _kind(args)
    if kind == "test":
        return [], "OK"
    if not m.config.sim_present:
        return [], 10
    if name == "+QPINC" and (kind != "set" or _params(value)[:1] != ["SC"]):
        return [], "ERROR"
    if name == "+CPINR" and kind == "set" and "SIM PIN" not in value.upper():
        return [], "OK"
    puk = 0 if m._puk_needed else 10
    return [dict(m.profile.pin_counter)[name].format(pin=m._pin_tries, puk=puk)], "OK"


def _cipstatus(m: SimModem, name: str, args: str, now: float) -> _Reply | None:
    kind, _ = _kind(args)
    if m.in_call:
        state = "CONNECT OK"
    elif m._active:
        state = "IP GPRSACT"
    else:
        state = "IP INITIAL"
    if m.profile.cipstatus == "sim800":
        if kind != "exec":
            return [], "ERROR"
        # SIM800: OK first, then the state line.
        m._reply([], "OK", now)
        m._send(f"\r\nSTATE: {state}\r\n", now)
        return None
    if kind == "exec":
        return [f"+IPSTATUS: {state}"], "OK"
    if kind == "read":
        return [f"+CIPSTATUS:0,{state}"] + [f"{i},IP INITIAL" for i in range(1, 8)], "OK"
    if kind == "test":
        return [], "OK"
    return [], "ERROR"


def _lte_signal(m: SimModem, name: str, args: str, now: float) -> _Reply:
    """The LTE signal of the profile's command: ``+CESQ`` (27.007 8.69: rsrq 20 = -10 dB, rsrp 46 =
    -95 dBm) or Quectel's ``+QCSQ: "LTE",<rssi>,<rsrp>,<sinr>,<rsrq>``."""
    kind, _ = _kind(args)
    if kind == "test":
        return [], "OK"
    if kind != "exec":
        return [], "ERROR"
    if name == "+QCSQ":
        return [f'+QCSQ: "LTE",{-113 + 2 * m.config.csq},-95,150,-10'], "OK"
    return ["+CESQ: 99,99,255,255,20,46"], "OK"


def _cmux(m: SimModem, name: str, args: str, now: float) -> _Reply:
    code = m.profile.cmux_error
    return ([], code) if code is not None else ([], "ERROR")


def _cfun(m: SimModem, name: str, args: str, now: float) -> _Reply | None:
    """TS 27.007 8.2: ``<fun>`` 0 or 4 turns the radio off (deregistered, call and contexts gone), 1 on
    again (registers anew); ``<fun>,1`` resets (a reboot where it is the profile's reset command).
    Radio off then on, or the reset, clears the ``stuck`` fault."""
    kind, value = _kind(args)
    if kind == "read":
        return [f"+CFUN: {0 if m._radio_off else 1}"], "OK"
    if kind == "test":
        return ["+CFUN: (0,1,4),(0,1)"], "OK"
    if kind != "set":
        return [], "ERROR"
    params = _params(value)
    if len(params) > 1 and params[1] == "1":
        m._stuck = False
        if m.profile.reset_command == "+CFUN":
            return _reboot(m, name, args, now)
    fun = params[0]
    if fun in ("0", "4"):
        if not m._radio_off and m.in_call:
            m._end_call("hangup", now)
        m._radio_off = True
        m._attached = False
        m._active.clear()
        m._cycled_radio = True
    elif fun == "1":
        if m._radio_off:
            m._radio_off = False
            if m._cycled_radio:
                m._stuck = False
            if m.sim_state == "READY" and m._sim_ready_at is not None:
                m._sim_became_ready(now)
    else:
        return [], "ERROR"
    return [], "OK"


def _reboot(m: SimModem, name: str, args: str, now: float) -> _Reply | None:
    if m.in_call:
        m._end_call("reset", now)
    m._reply([], "OK", now)
    m.power_on(now)
    return None


def _ipr(m: SimModem, name: str, args: str, now: float) -> _Reply:
    kind, value = _kind(args)
    if kind == "read":
        return [f"+IPR: {m.config.baud or 115200}"], "OK"
    if kind == "test":
        return ["+IPR: (),(0,2400,4800,9600,19200,38400,57600,115200,230400,460800,921600)"], "OK"
    return ([], "OK") if kind == "set" and value.isdigit() else ([], "ERROR")


_HANDLERS: dict[str, _Handler] = {
    "E": _basic_e,
    "V": _basic_v,
    "Q": _basic_q,
    "X": _basic_flag,
    "L": _basic_flag,
    "M": _basic_flag,
    "&C": _basic_flag,
    "&D": _basic_flag,
    "&F": _basic_f,
    "&W": _basic_w,
    "S": _basic_s,
    "I": _basic_i,
    "H": _basic_h,
    "Z": _basic_z,
    "O": _basic_o,
    "D": _basic_d,
    "+CMEE": _cmee,
    "+CPIN": _cpin,
    "+CSQ": _csq,
    "+COPS": _cops,
    "+CREG": _reg_cmd,
    "+CGREG": _reg_cmd,
    "+CGATT": _cgatt,
    "+CGDCONT": _cgdcont,
    "+CGACT": _cgact,
    "+CGDATA": _cgdata,
    "+CGMI": _identity,
    "+CGMM": _identity,
    "+CGMR": _identity,
    "+CGSN": _identity,
    "+GMI": _identity,
    "+GMM": _identity,
    "+GMR": _identity,
    "+GSN": _identity,
    "+CMUX": _cmux,
    "+CFUN": _cfun,
    "+IPR": _ipr,
}
