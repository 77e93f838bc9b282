"""Modem profiles: what differs between the A6/A7, SIM800, SIM7600/A7670, Quectel and a generic modem.

Frozen data, one registry (:data:`PROFILES`). The facts come from the vendors' AT manuals and the
logs summarised in the project's modem notes (section 1.2 and 1.7): the dial string of
3GPP TS 27.007 section 10.2.1.1 (``ATD*99***<cid>#``), the registration commands of TS 27.007
7.2 (``+CREG``), 10.1.20 (``+CGREG``) and 10.1.22 (``+CEREG``), and each modem's quirks.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PROFILES", "ModemProfile", "detect_profile", "get_profile", "profile_help"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ModemProfile:
    """Everything pppos knows about one family of modems: how to drive it and how it answers.

    One entry serves both sides: the host's bring-up (:mod:`pppos.at.bringup`) reads the first group
    of fields, the simulator (:mod:`pppos.sim.modem`) speaks the dialect the second group describes,
    and the facts both need (the CONNECT line, the extra blank line, the error ``ATH`` gives with no
    call up, the reset command, the registration domains) are stated once.

    ``auth_command`` is a ``str.format`` template with ``{cid}``, ``{user}``, ``{password}`` and
    ``{auth}`` (1 = PAP, 2 = CHAP) for modems that take APN credentials by AT command; None means
    the credentials travel in PPP (PAP/CHAP) only.
    """

    #: registry key (``a7``)
    name: str
    #: one line for ``--help`` and the probe's output
    description: str

    # -- how the host drives it
    #: the dial command (TS 27.007 10.2.1.1)
    dial: str = "ATD*99***1#"
    #: extra commands sent after ``ATE0``/``AT+CMEE=2`` (failures are reported, not fatal)
    init_extras: tuple[str, ...] = ()
    #: registration queries (27.007 7.2 / 10.1.20 / 10.1.22 / 10.1.19); their report modes are
    #: turned on (``AT+CREG=2``) while the bring-up waits for registration
    registration: tuple[str, ...] = ("AT+CREG?", "AT+CGREG?")
    #: the command that restarts the modem (the recovery ladder's modem-reset rung, and the simulator
    #: reboots on it; None: none)
    reset: str | None = "AT+CFUN=1,1"
    #: the recovery ladder may detach and re-attach (``AT+CGATT=0`` / ``=1``, TS 27.007 10.1.9)
    reattach: bool = True
    #: radio off and on for the ladder (TS 27.007 8.2 ``+CFUN``), or None when the modem lacks it
    radio: tuple[str, str] | None = ("AT+CFUN=0", "AT+CFUN=1")
    #: seconds an ``AT+CGATT=1`` may take
    attach_timeout: float = 60.0
    #: APN credentials by AT command, or None (see the class docstring)
    auth_command: str | None = None
    #: lower-case substrings of ``ATI`` / ``AT+CGMM`` text that identify this family (``--profile
    #: auto`` tries the registry's entries in order; names of 3 characters or less match whole words)
    match: tuple[str, ...] = ()
    #: the LTE signal command (``AT+CESQ``, TS 27.007 8.69, or a vendor one such as Quectel's
    #: ``AT+QCSQ``); None when the modem has no LTE
    lte_signal: str | None = None
    #: commands that read the SIM's ICCID (tried in order; readable before the PIN is entered)
    iccid: tuple[str, ...] = ("AT+CCID",)
    #: commands that tell the PIN attempts left: 27.007 8.65 ``AT+CPINR``, Quectel ``AT+QPINC``,
    #: SIMCom ``AT+SPIC`` (tried in order; none answering means "unknown")
    pin_attempts: tuple[str, ...] = ('AT+CPINR="SIM PIN"',)

    # -- facts both sides use
    #: the CONNECT line (``CONNECT`` on the A7; ``CONNECT 115200`` on the A7670E)
    connect: str = "CONNECT"
    #: the modem sends an extra blank line after each final result (the A7)
    extra_blank_line: bool = False
    #: the ``+CME ERROR`` that ``ATH``/``ATZ`` answer with no call up (A7: 58), None for OK
    no_call_hangup_error: int | None = None

    # -- how it answers (the simulator's dialect; sources in pppos.sim.modem's docstring)
    manufacturer: str = "pppos"
    model: str = "generic 27.007 modem"
    revision: str = "pppos-sim 0.1"
    #: the lines ``ATI`` answers
    ati: tuple[str, ...] = ("pppos", "generic 27.007 modem", "pppos-sim 0.1")
    #: ``+CPIN: READY`` (True) or ``+CPIN:READY``
    cpin_space: bool = True
    #: ``+CME ERROR: 58`` (True) or ``+CME ERROR:58``
    cme_space: bool = True
    #: ``AT+CMEE`` at boot
    default_cmee: int = 0
    #: ``AT+CREG`` report mode at boot (1: unsolicited ``+CREG: <stat>``)
    default_creg_n: int = 0
    #: the ``<AcT>`` the registration reports carry in mode 2 (27.007 7.3: 0 GSM, 7 LTE), or None
    #: for firmware that reports only LAC and cell id
    act: int | None = None
    #: extended command name -> format of its ICCID answer (``{iccid}``)
    ccid: tuple[tuple[str, str], ...] = (("+CCID", "+CCID: {iccid}"),)
    #: (seconds after boot, line) URCs at boot; ``{cpin}`` is the SIM state
    boot_urcs: tuple[tuple[float, str], ...] = ()
    #: URCs when registration completes; ``{stat}``, ``{roam}``, ``{time}`` and ``{loc}`` (the
    #: report-mode-2 fields after ``<stat>``) are filled in; other domains follow their report modes
    registered_urcs: tuple[str, ...] = ()
    #: the URC repeated every ``--urc-interval`` seconds (``{csq}``: SIM7600 AUTOCSQ style)
    periodic_urc: str = "+CSQ: {csq},99"
    #: a URC sent in the middle of ``AT+CGATT=1`` (before its OK), or None
    attach_urc: str | None = None
    #: URCs this modem sends unprompted, for ``pppos-sim --urc-noise`` (``{csq}`` filled in)
    noise_urcs: tuple[str, ...] = ("+CSQ: {csq},99",)
    #: ``AT+CIPSTATUS`` dialect: ``a7``, ``sim800`` or None (not supported)
    cipstatus: str | None = None
    #: ``AT+CMUX`` answer: a CME code (A7: 53) or None for plain ERROR
    cmux_error: int | None = None
    #: vendor commands answered with a plain OK
    ok_commands: frozenset[str] = frozenset()
    #: extended command name -> its answer giving the PIN attempts left (``{pin}``, ``{puk}``):
    #: 27.007 8.65 ``+CPINR``, Quectel ``+QPINC``, SIMCom ``+SPIC``; empty: the modem does not tell
    pin_counter: tuple[tuple[str, str], ...] = (("+CPINR", "+CPINR: SIM PIN,{pin},3"),)

    @property
    def benign_hangup_errors(self) -> frozenset[int]:
        """``+CME ERROR`` codes that ``ATZ``/``ATH``/``AT`` may answer without it being a failure."""
        code = self.no_call_hangup_error
        return frozenset({code}) if code is not None else frozenset()

    @property
    def reset_command(self) -> str:
        """The extended command name of :attr:`reset` (``AT+CFUN=1,1`` -> ``+CFUN``), '' without one."""
        if not self.reset:
            return ""
        body = self.reset[2:] if self.reset[:2].upper() == "AT" else self.reset
        return body.split("=", 1)[0].split("?", 1)[0].upper()

    @property
    def has_cereg(self) -> bool:
        """The modem knows ``AT+CEREG`` (an LTE modem)."""
        return self.knows_domain("CEREG")

    def knows_domain(self, domain: str) -> bool:
        """The modem answers the registration command of ``domain`` (``CEREG``, ``C5GREG``, ...)."""
        return any(q.upper().startswith(f"AT+{domain.upper()}?") for q in self.registration)


def _entries(*profiles: ModemProfile) -> dict[str, ModemProfile]:
    return {p.name: p for p in profiles}


#: The registry, in ``--profile auto`` detection order (the more specific families first, so that
#: an A7670 is taken for a SIMCom LTE modem and not for an AI-Thinker A7; ``generic`` last).
PROFILES: dict[str, ModemProfile] = _entries(
    ModemProfile(
        name="sim7600",
        description="SIMCom SIM7600/SIM7000/A7670 (LTE)",
        dial="ATD*99#",
        registration=("AT+CREG?", "AT+CGREG?", "AT+CEREG?"),
        reset="AT+CRESET",
        auth_command='AT+CGAUTH={cid},{auth},"{password}","{user}"',
        lte_signal="AT+CESQ",
        match=("sim7600", "sim7000", "sim7070", "sim7080", "a7670", "a7672", "a7608"),
        connect="CONNECT 115200",
        manufacturer="SIMCOM INCORPORATED",
        model="SIMCOM_SIM7600E-H",
        revision="SIM7600M22_V1.1",
        ati=("Manufacturer: SIMCOM INCORPORATED", "Model: SIMCOM_SIM7600E-H", "Revision: SIM7600M22_V1.1"),
        act=7,
        ccid=(("+CICCID", "+ICCID: {iccid}"), ("+CCID", "+CCID: {iccid}")),
        # A7670E boot log (LilyGo-Modem-Series#520): *ATREADY, +CPIN, SMS DONE, PB DONE
        boot_urcs=((0.05, "*ATREADY: 1"), (0.10, "+CPIN: {cpin}"), (0.30, "SMS DONE"), (0.35, "PB DONE")),
        noise_urcs=("+CSQ: {csq},99", "+CPIN: READY", "SMS DONE", "PB DONE", "*ATREADY: 1", "+CGEV: NW PDN DEACT 2"),
        ok_commands=frozenset({"+CGAUTH", "+CMER", "+CNMI", "+CMGF", "+AUTOCSQ"}),
        iccid=("AT+CICCID", "AT+CCID"),
        pin_attempts=("AT+SPIC", 'AT+CPINR="SIM PIN"'),
        pin_counter=(("+SPIC", "+SPIC: {pin},{puk},3,10"), ("+CPINR", "+CPINR: SIM PIN,{pin},3")),
    ),
    ModemProfile(
        name="sim800",
        description="SIMCom SIM800/SIM900 (GSM/GPRS)",
        dial="ATD*99#",
        registration=("AT+CREG?", "AT+CGREG?"),
        reset="AT+CFUN=1,1",
        match=("sim800", "sim900", "sim808"),
        manufacturer="SIMCOM_Ltd",
        model="SIMCOM_SIM800L",
        revision="Revision:1418B04SIM800L24",
        ati=("SIM800 R14.18",),
        act=0,
        ccid=(("+CCID", "{iccid}"),),
        boot_urcs=(
            (0.05, "RDY"), (0.10, "+CFUN: 1"), (0.15, "+CPIN: {cpin}"), (0.30, "Call Ready"), (0.35, "SMS Ready"),
        ),
        noise_urcs=("Call Ready", "SMS Ready", "+CPIN: READY", "+CFUN: 1", "RDY", "+PACSP0"),
        cipstatus="sim800",
        ok_commands=frozenset({"+CMER", "+CNMI", "+CMGF", "+CSCLK"}),
        pin_attempts=("AT+SPIC",),
        pin_counter=(("+SPIC", "+SPIC: {pin},10,{puk},10"),),
    ),
    ModemProfile(
        name="quectel5g",
        description="Quectel RM500Q/RM502Q/RM520N (5G NR)",
        dial="ATD*99#",
        registration=("AT+CREG?", "AT+CGREG?", "AT+CEREG?", "AT+C5GREG?"),
        reset="AT+CFUN=1,1",
        auth_command='AT+QICSGP={cid},1,"","{user}","{password}",{auth}',
        lte_signal="AT+CESQ",
        match=("rm500q", "rm502q", "rm505q", "rm510q", "rm520n", "rm530n"),
        manufacturer="Quectel",
        model="RM500Q-GL",
        revision="RM500QGLABR11A06M4G",
        ati=("Quectel", "RM500Q-GL", "Revision: RM500QGLABR11A06M4G"),
        act=11,
        ccid=(("+QCCID", "+QCCID: {iccid}"), ("+CCID", "+CCID: {iccid}")),
        boot_urcs=((0.05, "RDY"), (0.10, "+CPIN: {cpin}"), (0.20, "+QUSIM: 1"), (0.30, "+QIND: SMS DONE"),
                   (0.35, "+QIND: PB DONE")),
        noise_urcs=("+QIND: SMS DONE", "+QIND: PB DONE", "+QUSIM: 1", "+CPIN: READY", '+QIND: "csq",{csq},99'),
        ok_commands=frozenset({"+QICSGP", "+CMER", "+CNMI", "+CMGF"}),
        iccid=("AT+QCCID", "AT+CCID"),
        pin_attempts=('AT+QPINC="SC"',),
        pin_counter=(("+QPINC", '+QPINC: "SC",{pin},{puk}'),),
    ),
    ModemProfile(
        name="quectel",
        description="Quectel EC2x/EG9x/BG9x",
        dial="ATD*99#",
        registration=("AT+CREG?", "AT+CGREG?", "AT+CEREG?"),
        reset="AT+CFUN=1,1",
        auth_command='AT+QICSGP={cid},1,"","{user}","{password}",{auth}',
        lte_signal="AT+QCSQ",
        match=("quectel", "ec20", "ec21", "ec25", "eg91", "eg95", "bg95", "bg96", "eg915"),
        manufacturer="Quectel",
        model="EC25",
        revision="EC25EFAR06A06M4G",
        ati=("Quectel", "EC25", "Revision: EC25EFAR06A06M4G"),
        act=7,
        ccid=(("+QCCID", "+QCCID: {iccid}"), ("+CCID", "+CCID: {iccid}")),
        boot_urcs=((0.05, "RDY"), (0.10, "+CFUN: 1"), (0.15, "+CPIN: {cpin}"), (0.20, "+QUSIM: 1"),
                   (0.30, "+QIND: SMS DONE"), (0.35, "+QIND: PB DONE")),
        noise_urcs=('+QIND: "csq",{csq},99', "+QIND: SMS DONE", "+QIND: PB DONE", "+QUSIM: 1", "+CPIN: READY"),
        ok_commands=frozenset({"+QICSGP", "+CMER", "+CNMI", "+CMGF"}),
        iccid=("AT+QCCID", "AT+CCID"),
        pin_attempts=('AT+QPINC="SC"',),
        pin_counter=(("+QPINC", '+QPINC: "SC",{pin},{puk}'),),
    ),
    ModemProfile(
        name="a7",
        description="AI-Thinker A6/A7/A6C/A20",
        dial="ATD*99***1#",
        init_extras=("AT+GPSRD=0",),
        registration=("AT+CREG?", "AT+CGREG?"),
        reset="AT+RST=1",
        match=("ai-thinker", "ai thinker", "a6", "a7", "a9", "a20"),
        connect="CONNECT",
        extra_blank_line=True,
        no_call_hangup_error=58,
        manufacturer="Ai-Thinker Co.,Ltd.",
        model="A7",
        revision="V03.03.20170721R",
        ati=("Ai-Thinker Co.,Ltd.", "A7", "V03.03.20170721R"),
        cme_space=False,
        default_cmee=1,
        default_creg_n=1,
        ccid=(("+CCID", "+SCID: SIM Card ID:{iccid}"),),
        boot_urcs=(
            (0.05, "^CINIT: 1, 32, 41891"),
            (0.10, "^CINIT: 2, 32, 41891"),
            (0.15, "^CINIT: 8, 2048, 1"),
            (0.20, "+CREG: 0"),
        ),
        registered_urcs=("+CTZV:{time}", "+CREG: {stat}{loc}", "+CIEV: service,  1", "+CIEV: roam, {roam}"),
        periodic_urc="+CIEV: service,  1",
        attach_urc="+CTZV:{time}",
        noise_urcs=("+CIEV: service,  1", "+CIEV: roam, 0", "+CTZV:26/01/01,00:00:00,+00", "^CINIT: 8, 2048, 1",
                    "+CIEV:signal,{csq}"),
        cipstatus="a7",
        cmux_error=53,
        ok_commands=frozenset({"+GPSRD", "+GPS", "+AGPS", "+CMER", "+CNMI", "+CMGF"}),
        pin_counter=(),
    ),
    # A plain 27.007 modem whose firmware writes "+CPIN:READY" without the space (as the A6/A7 manual
    # does), so hosts meet both spellings.
    ModemProfile(
        name="generic",
        description="any 3GPP TS 27.007 modem",
        dial="ATD*99***1#",
        # every domain: a GSM-only modem answers ERROR to the LTE/5G ones, which are then skipped
        registration=("AT+CREG?", "AT+CGREG?", "AT+CEREG?", "AT+C5GREG?"),
        reset="AT+CFUN=1,1",
        cpin_space=False,
        noise_urcs=("+CSQ: {csq},99", "RING", "+CGEV: ME DETACH"),
    ),
)


def profile_help() -> str:
    """``a7 (AI-Thinker A6/A7/A6C/A20), sim800 (...)``: the ``--profile`` choices for help texts."""
    return ", ".join(f"{p.name} ({p.description})" for p in PROFILES.values())


def get_profile(name: str) -> ModemProfile:
    """Return the profile called ``name``; raise :class:`~pppos.errors.ConfigError` naming the choices."""
    try:
        return PROFILES[name]
    except KeyError:
        from pppos.errors import ConfigError

        raise ConfigError(
            f"unknown modem profile {name!r}: choose one of {', '.join(sorted(PROFILES))} or auto"
        ) from None


def detect_profile(ati_text: str, cgmm_text: str = "") -> ModemProfile:
    """Pick a profile from the ``ATI`` and ``AT+CGMM`` answers (``--profile auto``); ``generic`` if unknown.

    The model text is tried first (it is the most specific), then the ``ATI`` banner; the profiles
    are tried in registry order. Short model names (``a6``, ``a7``) must match a whole word, and the
    more specific families come before the A7 in the registry, so that an ``A7670`` (SIMCom) is not
    taken for an AI-Thinker A7.
    """
    texts = [cgmm_text.lower(), ati_text.lower()]
    for text in texts:
        words = set(_words(text))
        for profile in PROFILES.values():
            for needle in profile.match:
                if (len(needle) <= 3 and needle in words) or (len(needle) > 3 and needle in text):
                    return profile
    return PROFILES["generic"]


def _words(text: str) -> list[str]:
    out: list[str] = []
    word = []
    for ch in text:
        if ch.isalnum():
            word.append(ch)
        elif word:
            out.append("".join(word))
            word = []
    if word:
        out.append("".join(word))
    return out
