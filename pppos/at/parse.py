"""Pure parsers for the information responses of 3GPP TS 27.007 (registration, signal, SIM, operator).

Every function takes text as a modem sent it and returns plain data; none raises on peer input
(an unparsable field becomes None / "unknown"). Numbers are read with :func:`ascii_int`, which
accepts only the ASCII digits 0-9: ``str.isdigit`` also accepts ``²`` or ``٣``, which ``int()``
then rejects or reads as a number no modem meant.

Registration (:func:`parse_registration_line`)
    ``+CREG`` (TS 27.007 7.2), ``+CGREG`` (10.1.20), ``+CEREG`` (10.1.22) and ``+C5GREG`` (10.1.19 in
    Rel-15+ numbering), solicited ``<n>,<stat>[,<lac>,<ci>[,<AcT>[,...]]]`` and unsolicited
    ``<stat>[,<lac>,<ci>[,<AcT>[,...]]]``, with quoted or unquoted hexadecimal LAC/TAC and cell id,
    spaces anywhere, leading zeros (Iridium's ``+CREG:002,001,...``) and the older forms that carry a
    routing area code. Which field is ``<n>`` and which is ``<stat>`` is decided the way
    ModemManager does (``item_is_lac_not_stat`` in ``src/mm-modem-helpers.c``): a ``<stat>`` is a bare
    number of one digit (or zero-padded to the width of ``<n>``); anything quoted, longer or hex is a
    LAC. So ``+CEREG: 2, 0001, 00000100, 7`` is ``searching`` on TAC 0001, not home.

"Registered" (:func:`consolidate`)
    As ModemManager's ``get_consolidated_reg_state`` and ``REG_STATE_IS_REGISTERED``
    (``src/mm-iface-modem-3gpp.c``): home or roaming in any domain (CS, PS, EPS, 5GS, in that order)
    wins; then searching in any domain; then denied, only when every other domain is idle, unknown or
    denied; then emergency only; then the LTE circuit-switched states of ``+CREG`` (6/7 "SMS only",
    9/10 "CSFB not preferred"), which count as registered: the packet domain is usable; then idle.
    State 8 (emergency only) and 11 (attached for RLOS) do not carry user data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "ACT_NAMES",
    "REGISTERED_STATES",
    "REG_STATES",
    "LteSignal",
    "Registration",
    "ascii_int",
    "consolidate",
    "parse_cesq",
    "parse_cops",
    "parse_cpin",
    "parse_csq",
    "parse_qcsq",
    "parse_registration_line",
    "signal_quality",
]

#: ``<stat>`` of ``+CREG``/``+CGREG``/``+CEREG``/``+C5GREG`` (TS 27.007 7.2 and 10.1.20/22) in words.
REG_STATES: dict[int, str] = {
    0: "not registered, not searching",
    1: "home",
    2: "searching",
    3: "denied",
    4: "unknown",
    5: "roaming",
    6: "home, SMS only",
    7: "roaming, SMS only",
    8: "emergency services only",
    9: "home, CSFB not preferred",
    10: "roaming, CSFB not preferred",
    11: "attached for restricted local operator services",
}

#: States that count as registered for data (ModemManager's ``REG_STATE_IS_REGISTERED``).
REGISTERED_STATES: frozenset[int] = frozenset({1, 5, 6, 7, 9, 10})

#: ``<AcT>`` (TS 27.007 7.3 / 7.2) in the short names people know.
ACT_NAMES: dict[int, str] = {
    0: "GSM",
    1: "GSM compact",
    2: "UMTS",
    3: "EDGE",
    4: "HSDPA",
    5: "HSUPA",
    6: "HSPA",
    7: "LTE",
    8: "EC-GSM-IoT",
    9: "NB-IoT",
    10: "LTE (5G core)",
    11: "5G NR",
    12: "NG-RAN",
    13: "EN-DC (LTE+NR)",
}

_ASCII_DIGITS = re.compile(r"[0-9]+")
_HEX = re.compile(r"[0-9A-Fa-f]+")
_PREFIX = re.compile(r"\s*\+?(C5GREG|CEREG|CGREG|CREG)\s*:", re.IGNORECASE)
#: the longest number any parser here reads: bounds int() on hostile input
_MAX_DIGITS = 20


def ascii_int(text: str) -> int | None:
    """``text`` (spaces around it allowed) as a non-negative int if it is 1-20 ASCII digits, else None."""
    text = text.strip()
    if len(text) > _MAX_DIGITS or _ASCII_DIGITS.fullmatch(text) is None:
        return None
    return int(text)


def _hex(text: str) -> int | None:
    text = _unquote(text).strip()
    if text[:2].lower() == "0x":
        text = text[2:]
    if len(text) > 16 or _HEX.fullmatch(text) is None:
        return None
    return int(text, 16)


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1]
    return text


def _split(body: str) -> list[str]:
    return [f.strip() for f in body.split(",")]


@dataclass(frozen=True, slots=True, kw_only=True)
class Registration:
    """One registration report: the domain (``CREG``, ``CGREG``, ``CEREG``, ``C5GREG``) and its fields.

    ``solicited`` is True for the ``<n>,<stat>,...`` form (the answer to ``AT+CREG?``); ``lac`` is the
    location or tracking area code, ``ci`` the cell id, ``act`` the TS 27.007 access technology.
    """

    domain: str
    stat: int
    solicited: bool = False
    n: int | None = None
    lac: int | None = None
    ci: int | None = None
    act: int | None = None

    @property
    def state(self) -> str:
        """``stat`` in words (``home``, ``searching``, ...)."""
        return REG_STATES.get(self.stat, f"state {self.stat}")

    @property
    def registered(self) -> bool:
        """True when this domain alone counts as registered (ModemManager's rule)."""
        return self.stat in REGISTERED_STATES

    @property
    def technology(self) -> str:
        """The access technology's name, or '' when the report has none."""
        if self.act is None:
            return ""
        return ACT_NAMES.get(self.act, f"AcT {self.act}")


def _stat_like(field: str, n_field: str) -> bool:
    """True if ``field`` (the one after the first) is a ``<stat>``, not a LAC (see the module docstring)."""
    if not field or _ASCII_DIGITS.fullmatch(field) is None:
        return False
    return len(field) == 1 or (len(field) <= 3 and len(field) == len(n_field))


def parse_registration_line(line: str) -> Registration | None:
    """Parse one ``+CREG``/``+CGREG``/``+CEREG``/``+C5GREG`` line (either form); None if it is not one.

    Field layouts after ``<stat>`` (TS 27.007; the routing-area forms are those of older releases
    that ModemManager's vectors show on real modems):

    * ``+CREG``: ``<lac>,<ci>,<AcT>[,<cause_type>,<reject_cause>]``
    * ``+CGREG``: ``<lac>,<ci>,<AcT>,<rac>[,...]``
    * ``+CEREG``: ``<tac>,<ci>,<AcT>[,...]``, or ``<tac>,<rac>,<ci>,<AcT>`` when exactly four follow
    * ``+C5GREG``: ``<tac>,<ci>,<AcT>,<Allowed_NSSAI_length>,<Allowed_NSSAI>[,...]``
    """
    match = _PREFIX.match(line)
    if match is None:
        return None
    domain = match.group(1).upper()
    fields = _split(line[match.end() :])
    if not fields or not fields[0]:
        return None
    solicited = len(fields) == 2 or (len(fields) >= 3 and _stat_like(fields[1], fields[0]))
    n: int | None = None
    if solicited:
        n = ascii_int(fields[0])
        rest = fields[1:]
    else:
        rest = fields
    stat = ascii_int(rest[0])
    if stat is None:
        return None
    if stat > 11:
        stat = 4  # unknown (ModemManager does the same for values past the last defined one)
    after = rest[1:]
    lac = ci = act = None
    if domain == "CEREG" and len(after) == 4:
        lac, ci, act = _hex(after[0]), _hex(after[2]), ascii_int(after[3])
    elif after:
        lac = _hex(after[0])
        ci = _hex(after[1]) if len(after) > 1 else None
        act = ascii_int(after[2]) if len(after) > 2 else None
    return Registration(domain=domain, stat=stat, solicited=solicited, n=n, lac=lac, ci=ci, act=act)


_DOMAIN_ORDER = ("CREG", "CGREG", "CEREG", "C5GREG")


def consolidate(reports: dict[str, int]) -> int:
    """One state from the per-domain ``<stat>`` values, as ModemManager consolidates them.

    ``reports`` maps ``CREG``/``CGREG``/``CEREG``/``C5GREG`` to the domain's state; a missing domain
    counts as unknown (4). The result is registered for data iff it is in :data:`REGISTERED_STATES`.
    """
    states = [reports.get(d, 4) for d in _DOMAIN_ORDER]
    for stat in states:
        if stat in (1, 5):
            return stat
    if 2 in states:
        return 2
    if 3 in states and all(s in (0, 3, 4) for s in states):
        return 3
    if 8 in states:
        return 8
    cs = states[0]
    if cs in (6, 7, 9, 10):
        return cs
    if 0 in states:
        return 0
    return 4


# --------------------------------------------------------------------------- signal


def signal_quality(rssi: int | None) -> tuple[int | None, str]:
    """``+CSQ`` ``<rssi>`` (TS 27.007 8.5) -> (dBm, word); 99, None or out of range is unknown.

    0 is -113 dBm or less, 1 is -111, 2..30 are -109..-53 in 2 dB steps, 31 is -51 or more. The
    extended range 100..191 (TD-SCDMA, same table) is -116 dBm or less .. -25 dBm or more in 1 dB
    steps. Words: none (at the floor), poor (< -93), fair (< -83), good (< -73), excellent.
    """
    if rssi is None:
        return None, "unknown"
    if 0 <= rssi <= 31:
        dbm = -113 + 2 * rssi
        floor = rssi == 0
    elif 100 <= rssi <= 191:
        dbm = rssi - 216
        floor = rssi == 100
    else:
        return None, "unknown"
    if floor:
        word = "none"
    elif dbm < -93:
        word = "poor"
    elif dbm < -83:
        word = "fair"
    elif dbm < -73:
        word = "good"
    else:
        word = "excellent"
    return dbm, word


def _body(line: str, prefix: str) -> str | None:
    stripped = line.strip()
    if not stripped.upper().startswith(prefix):
        return None
    return stripped[len(prefix) :]


def parse_csq(line: str) -> int | None:
    """The ``<rssi>`` of a ``+CSQ: <rssi>,<ber>`` line (TS 27.007 8.5), or None."""
    body = _body(line, "+CSQ:")
    if body is None:
        return None
    return ascii_int(_split(body)[0])


@dataclass(frozen=True, slots=True, kw_only=True)
class LteSignal:
    """LTE reference-signal readings: RSRP in dBm, RSRQ in dB (None when the modem did not say)."""

    rsrp_dbm: float | None = None
    rsrq_db: float | None = None
    sinr_db: float | None = None

    @property
    def text(self) -> str:
        """``RSRP -95 dBm, RSRQ -11 dB`` (only the known parts), or ''."""
        parts = []
        if self.rsrp_dbm is not None:
            parts.append(f"RSRP {self.rsrp_dbm:g} dBm")
        if self.rsrq_db is not None:
            parts.append(f"RSRQ {self.rsrq_db:g} dB")
        if self.sinr_db is not None:
            parts.append(f"SINR {self.sinr_db:g} dB")
        return ", ".join(parts)


def parse_cesq(line: str) -> LteSignal | None:
    """``+CESQ: <rxlev>,<ber>,<rscp>,<ecno>,<rsrq>,<rsrp>`` (TS 27.007 8.69): the LTE part, or None.

    ``<rsrq>`` 0..34 is -20 dB (``< -19.5``) .. -3 dB in 0.5 dB steps; ``<rsrp>`` 0..97 is -141 dBm
    (``< -140``) .. -44 dBm in 1 dB steps; 255 is "not known or not detectable".
    """
    body = _body(line, "+CESQ:")
    if body is None:
        return None
    fields = _split(body)
    if len(fields) < 6:
        return None
    rsrq, rsrp = ascii_int(fields[4]), ascii_int(fields[5])
    rsrq_db = rsrq / 2 - 20 if rsrq is not None and rsrq <= 34 else None
    rsrp_dbm = float(rsrp - 141) if rsrp is not None and rsrp <= 97 else None
    if rsrq_db is None and rsrp_dbm is None:
        return None
    return LteSignal(rsrp_dbm=rsrp_dbm, rsrq_db=rsrq_db)


_SIGNED = re.compile(r"-?[0-9]{1,6}")


def _signed(text: str) -> int | None:
    text = text.strip()
    return int(text) if _SIGNED.fullmatch(text) else None


def parse_qcsq(line: str) -> LteSignal | None:
    """Quectel ``+QCSQ: "LTE",<rssi>,<rsrp>,<sinr>,<rsrq>`` (Quectel EC2x AT manual, AT+QCSQ), or None.

    ``<sinr>`` is reported in 1/5 dB steps above -20 dB (``sinr/5 - 20``) on the EC2x.
    """
    body = _body(line, "+QCSQ:")
    if body is None:
        return None
    fields = _split(body)
    if len(fields) < 5 or _unquote(fields[0]).upper() not in ("LTE", "CAT-M", "CAT-NB", "EMTC", "NBIOT"):
        return None
    rsrp, sinr, rsrq = _signed(fields[2]), _signed(fields[3]), _signed(fields[4])
    if rsrp is None and rsrq is None:
        return None
    return LteSignal(
        rsrp_dbm=float(rsrp) if rsrp is not None else None,
        rsrq_db=float(rsrq) if rsrq is not None else None,
        sinr_db=sinr / 5 - 20 if sinr is not None else None,
    )


# --------------------------------------------------------------------------- SIM


#: ``+CPIN`` codes (TS 27.007 8.3) and the vendor texts for a missing card, in one normal form.
_CPIN_MISSING = ("NOT INSERTED", "SIM NOT INSERTED", "SIM REMOVED", "NO SIM", "SIM ABSENT", "NOT PRESENT")
_CPIN_NOT_READY = ("NOT READY", "SIM NOT READY", "SIM BUSY", "BUSY", "INITIALIZING")


def parse_cpin(line: str) -> str | None:
    """The SIM state of a ``+CPIN:`` line (TS 27.007 8.3), normalised, or None if the line is not one.

    ``READY``, ``SIM PIN``, ``SIM PUK``, ``SIM PIN2``, ``PH-SIM PIN``, ... as 27.007 spells them,
    whether or not the modem quotes them (``+CPIN: "SIM PIN"``) or leaves out the space; ``MISSING``
    for ``NOT INSERTED`` / ``SIM REMOVED`` and friends; ``NOT READY`` for a SIM still initialising.
    """
    stripped = line.strip()
    if not stripped.upper().startswith("+CPIN:"):
        return None
    value = " ".join(_unquote(stripped[6:]).upper().split())
    if value in _CPIN_MISSING:
        return "MISSING"
    if value in _CPIN_NOT_READY:
        return "NOT READY"
    return value


# --------------------------------------------------------------------------- operator


_QUOTED = re.compile(r'"([^"]*)"')


def parse_cops(line: str) -> tuple[int | None, str, int | None]:
    """``+COPS: <mode>[,<format>,<oper>[,<AcT>]]`` (TS 27.007 7.3) -> (format, operator, AcT).

    ``format`` 0 is the long name, 1 the short name, 2 the numeric MCC+MNC (``"26201"``). Returns
    (None, '', None) for a line that is not a ``+COPS`` read answer.
    """
    body = _body(line, "+COPS:")
    if body is None:
        return None, "", None
    names = _QUOTED.findall(body)
    fields = _split(body)
    fmt = ascii_int(fields[1]) if len(fields) > 1 else None
    operator = names[0] if names else (fields[2] if len(fields) > 2 else "")
    act = ascii_int(fields[-1]) if len(fields) > 3 else None
    return fmt, operator, act
