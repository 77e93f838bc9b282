"""Modem profiles: what differs between the A6/A7, SIM800, SIM7600/A7670, Quectel and a generic modem.

Frozen data, one registry (:data:`PROFILES`). The facts come from the vendors' AT manuals and the
logs summarised in the project's modem notes (section 1.2 and 1.7): the dial string of
3GPP TS 27.007 section 10.2.1.1 (``ATD*99***<cid>#``), the registration commands of TS 27.007
7.2 (``+CREG``), 10.1.20 (``+CGREG``) and 10.1.22 (``+CEREG``), and each modem's quirks.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PROFILES", "ModemProfile", "detect_profile", "get_profile"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ModemProfile:
    """How to drive one family of modems.

    ``auth_command`` is a ``str.format`` template with ``{cid}``, ``{user}``, ``{password}`` and
    ``{auth}`` (1 = PAP, 2 = CHAP) for modems that take APN credentials by AT command; None means
    the credentials travel in PPP (PAP/CHAP) only.
    """

    #: registry key (``a7``)
    name: str
    #: one line for ``--help`` and the probe's output
    description: str
    #: the dial command (TS 27.007 10.2.1.1)
    dial: str = "ATD*99***1#"
    #: extra commands sent after ``ATE0``/``AT+CMEE=2`` (failures are reported, not fatal)
    init_extras: tuple[str, ...] = ()
    #: registration queries polled until home or roaming
    registration: tuple[str, ...] = ("AT+CREG?", "AT+CGREG?")
    #: the command that restarts the modem (the recovery ladder's modem-reset rung; None: none)
    reset: str | None = "AT+CFUN=1,1"
    #: the recovery ladder may detach and re-attach (``AT+CGATT=0`` / ``=1``, TS 27.007 10.1.9)
    reattach: bool = True
    #: radio off and on for the ladder (TS 27.007 8.2 ``+CFUN``), or None when the modem lacks it
    radio: tuple[str, str] | None = ("AT+CFUN=0", "AT+CFUN=1")
    #: numeric ``+CME ERROR`` codes that ``ATZ``/``ATH`` may answer without it being a failure
    benign_hangup_errors: frozenset[int] = frozenset()
    #: ``+++`` must be sent alone with guard times (never ``+++ATH`` on one line)
    plus_alone: bool = True
    #: GSM 07.10 multiplexing (``AT+CMUX``) works
    cmux: bool = True
    #: the modem sends an extra blank line after each reply
    extra_blank_line: bool = False
    #: the CONNECT line carries a rate (``CONNECT 115200``)
    connect_has_rate: bool = True
    #: seconds an ``AT+CGATT=1`` may take
    attach_timeout: float = 60.0
    #: APN credentials by AT command, or None (see the class docstring)
    auth_command: str | None = None
    #: lower-case substrings of ``ATI`` / ``AT+CGMM`` text that identify this family
    match: tuple[str, ...] = ()
    #: commands that read the SIM's ICCID (tried in order; readable before the PIN is entered)
    iccid: tuple[str, ...] = ("AT+CCID",)
    #: commands that tell the PIN attempts left: 27.007 8.65 ``AT+CPINR``, Quectel ``AT+QPINC``,
    #: SIMCom ``AT+SPIC`` (tried in order; none answering means "unknown")
    pin_attempts: tuple[str, ...] = ('AT+CPINR="SIM PIN"',)


PROFILES: dict[str, ModemProfile] = {
    "a7": ModemProfile(
        name="a7",
        description="AI-Thinker A6/A7/A6C/A20",
        dial="ATD*99***1#",
        init_extras=("AT+GPSRD=0",),
        registration=("AT+CREG?", "AT+CGREG?"),
        reset="AT+RST=1",
        benign_hangup_errors=frozenset({58}),
        plus_alone=True,
        cmux=False,
        extra_blank_line=True,
        connect_has_rate=False,
        match=("ai-thinker", "ai thinker", "a6", "a7", "a9", "a20"),
    ),
    "sim800": ModemProfile(
        name="sim800",
        description="SIMCom SIM800/SIM900 (GSM/GPRS)",
        dial="ATD*99#",
        registration=("AT+CREG?", "AT+CGREG?"),
        reset="AT+CFUN=1,1",
        match=("sim800", "sim900", "sim808"),
        pin_attempts=("AT+SPIC",),
    ),
    "sim7600": ModemProfile(
        name="sim7600",
        description="SIMCom SIM7600/SIM7000/A7670 (LTE)",
        dial="ATD*99#",
        registration=("AT+CREG?", "AT+CGREG?", "AT+CEREG?"),
        reset="AT+CRESET",
        auth_command='AT+CGAUTH={cid},{auth},"{password}","{user}"',
        match=("sim7600", "sim7000", "sim7070", "sim7080", "a7670", "a7672", "a7608"),
        iccid=("AT+CICCID", "AT+CCID"),
        pin_attempts=("AT+SPIC", 'AT+CPINR="SIM PIN"'),
    ),
    "quectel": ModemProfile(
        name="quectel",
        description="Quectel EC2x/EG9x/BG9x",
        dial="ATD*99#",
        registration=("AT+CREG?", "AT+CGREG?", "AT+CEREG?"),
        reset="AT+CFUN=1,1",
        auth_command='AT+QICSGP={cid},1,"","{user}","{password}",{auth}',
        match=("quectel", "ec20", "ec21", "ec25", "eg91", "eg95", "bg95", "bg96", "eg915"),
        iccid=("AT+QCCID", "AT+CCID"),
        pin_attempts=('AT+QPINC="SC"',),
    ),
    "generic": ModemProfile(
        name="generic",
        description="any 3GPP TS 27.007 modem",
        dial="ATD*99***1#",
        registration=("AT+CREG?", "AT+CGREG?"),
        reset="AT+CFUN=1,1",
    ),
}


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

    The model text is tried first (it is the most specific), then the ``ATI`` banner. Short model
    names (``a6``, ``a7``) must match a whole word, and the more specific families are tried before
    the A7, so that an ``A7670`` (SIMCom) is not taken for an AI-Thinker A7.
    """
    texts = [cgmm_text.lower(), ati_text.lower()]
    order = ("sim7600", "sim800", "quectel", "a7")
    for text in texts:
        words = set(_words(text))
        for key in order:
            profile = PROFILES[key]
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
