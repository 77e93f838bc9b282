"""Real-modem answer vectors from public sources, each citing where it comes from.

Sources:
- MM: ModemManager, src/tests/test-modem-helpers.c (freedesktop/ModemManager, commit 1d4caa92), the
  ``test_creg*`` / ``test_cgreg*`` / ``test_cereg*`` / ``test_c5greg*`` cases (reply text and the
  expected state, LAC, cell id and access technology). Our parser is our own code; only the
  vectors and the "registered" rule (src/mm-iface-modem-3gpp.c) follow ModemManager.
- 27.007: 3GPP TS 27.007 tables (7.2 +CREG <stat> 0-11, 8.5 +CSQ, 8.69 +CESQ, 8.3 +CPIN).
- ISSUE12: the modem logs quoted in pppos issue 12 (SIM7600 AUTOCSQ, SIM7600 ``SMS DONE``,
  ``*ATREADY: 1`` (Sierra/A9G), ``+MSTK``, ``^NDISSTAT`` (Huawei), ``+RXDTMF``, ``^CIEV``).
- MMSP: ModemManager src/mm-serial-parsers.c (``MODEM ERROR: <n>``, ``COMMAND NOT SUPPORT``, ``NA``;
  ``mm_serial_parser_v0_parse``: a V0 result is one digit, an optional NUL and CR, ``(\\d)\\0?\\r$``,
  codes 0 OK, 1 CONNECT, 3 NO CARRIER, 4 ERROR, 6 NO DIALTONE, 7 BUSY, 8 NO ANSWER; its V0 ``+CME
  ERROR:\\s*(\\d+)\\r\\n``).
- V.250: ITU-T V.250 6.2.6 (``ATV0``: ``<numeric code><CR>``, information text ``text<CR><LF>``) and
  6.2.4 (echo ``E1``: the command line comes back before the answer).
- NOTES: the project's modem notes (ppp-and-modems.md section 1.2/1.3: A6/A7 logs).
- ESPM: esp_modem's host-test responder (espressif/esp-protocols,
  components/esp_modem/test/host_test/main/LoopbackTerm.cpp).
"""

from __future__ import annotations

import pytest

from pppos.at.engine import NUMERIC_RESULTS, AtEngine, CommandDone, CommandFailed, Connected, Urc
from pppos.at.parse import (
    REG_STATES,
    REGISTERED_STATES,
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

# (source, line, domain, solicited, stat, lac, ci, act)
REGISTRATION_VECTORS = [
    ("MM test_creg1_solicited", "+CREG: 1,3", "CREG", True, 3, None, None, None),
    ("MM test_creg1_unsolicited", "+CREG: 3", "CREG", False, 3, None, None, None),
    ("MM test_creg2_mercury_solicited", "+CREG: 1,1,84CD,00D30173", "CREG", True, 1, 0x84CD, 0xD30173, None),
    ("MM test_creg2_mercury_unsolicited", "+CREG: 1,84CD,00D30156", "CREG", False, 1, 0x84CD, 0xD30156, None),
    ("MM test_creg2_sek850i_solicited", '+CREG: 2,1,"CE00","01CEAD8F"', "CREG", True, 1, 0xCE00, 0x01CEAD8F, None),
    ("MM test_creg2_sek850i_unsolicited", '+CREG: 1,"CE00","00005449"', "CREG", False, 1, 0xCE00, 0x5449, None),
    ("MM test_creg2_e160g_solicited_unregistered", "+CREG: 2,0,00,0", "CREG", True, 0, 0, 0, None),
    ("MM test_creg2_e160g_solicited", "+CREG: 2,1,8BE3,2BAF", "CREG", True, 1, 0x8BE3, 0x2BAF, None),
    ("MM test_creg2_e160g_unsolicited", "+CREG: 1,8BE3,2BAF", "CREG", False, 1, 0x8BE3, 0x2BAF, None),
    ("MM test_creg2_tm506_solicited", '+CREG: 2,1,"8BE3","00002BAF"', "CREG", True, 1, 0x8BE3, 0x2BAF, None),
    ("MM test_creg2_xu870_unsolicited_unregistered", "+CREG: 2,,", "CREG", False, 2, None, None, None),
    ("MM test_creg2_iridium_solicited", '+CREG:002,001,"18d8","ffff"', "CREG", True, 1, 0x18D8, 0xFFFF, None),
    ("MM test_creg2_no_leading_zeros_solicited", "+CREG:2,1,0001,0010", "CREG", True, 1, 1, 0x10, None),
    ("MM test_creg2_leading_zeros_solicited", '+CREG:002,001,"0001","0010"', "CREG", True, 1, 1, 0x10, None),
    ("MM test_creg2_no_leading_zeros_unsolicited", "+CREG: 1,0001,0010,0", "CREG", False, 1, 1, 0x10, 0),
    ("MM test_creg2_leading_zeros_unsolicited", '+CREG: 001,"0001","0010",000', "CREG", False, 1, 1, 0x10, 0),
    ("MM test_creg2_ublox_solicited", '+CREG: 2,6,"8B37","0A265185",7', "CREG", True, 6, 0x8B37, 0x0A265185, 7),
    ("MM test_creg2_ublox_unsolicited", '+CREG: 6,"8B37","0A265185",7', "CREG", False, 6, 0x8B37, 0x0A265185, 7),
    ("MM test_cgreg1_solicited", "+CGREG: 1,3", "CGREG", True, 3, None, None, None),
    ("MM test_cgreg1_unsolicited", "+CGREG: 3", "CGREG", False, 3, None, None, None),
    ("MM test_cgreg2_f3607gw_solicited", '+CGREG: 2,1,"8BE3","00002B5D",3', "CGREG", True, 1, 0x8BE3, 0x2B5D, 3),
    ("MM test_cgreg2_f3607gw_unsolicited", '+CGREG: 1,"8BE3","00002B5D",3', "CGREG", False, 1, 0x8BE3, 0x2B5D, 3),
    ("MM test_creg2_md400_unsolicited", '+CREG: 2,5,"0502","0404736D"', "CREG", True, 5, 0x0502, 0x0404736D, None),
    ("MM test_cgreg2_md400_unsolicited", '+CGREG: 5,"0502","0404736D",2', "CGREG", False, 5, 0x0502, 0x0404736D, 2),
    ("MM test_cgreg2_x220_unsolicited", "+CGREG: 2,1, 81ED, 1A9CEB", "CGREG", True, 1, 0x81ED, 0x1A9CEB, None),
    ("MM test_creg2_s8500_wave_unsolicited", "+CREG: 2,1,000B,2816, B, C2816", "CREG", True, 1, 0xB, 0x2816, None),
    ("MM test_creg2_gobi_weird_solicited", "+CREG: 2,1,  0 5, 2715", "CREG", True, 1, None, 0x2715, None),
    ("MM test_cgreg2_unsolicited_with_rac", '+CGREG: 1,"1422","00000142",3,"00"', "CGREG", False, 1, 0x1422, 0x142, 3),
    ("MM test_cereg1_solicited", "+CEREG: 1,3", "CEREG", True, 3, None, None, None),
    ("MM test_cereg1_unsolicited", "+CEREG: 3", "CEREG", False, 3, None, None, None),
    ("MM test_cereg2_solicited", "+CEREG: 2,1, 1F00, 79D903 ,7", "CEREG", True, 1, 0x1F00, 0x79D903, 7),
    ("MM test_cereg2_unsolicited", "+CEREG: 1, 1F00, 79D903 ,7", "CEREG", False, 1, 0x1F00, 0x79D903, 7),
    ("MM test_cereg2_altair_lte_solicited", "+CEREG: 1, 2, 0001, 00000100, 7", "CEREG", True, 2, 1, 0x100, 7),
    ("MM test_cereg2_altair_lte_unsolicited", "+CEREG: 2, 0001, 00000100, 7", "CEREG", False, 2, 1, 0x100, 7),
    ("MM test_cereg2_novatel_lte_solicited", "+CEREG: 2,1, 1F00, 20 ,79D903 ,7", "CEREG", True, 1, 0x1F00,
     0x79D903, 7),
    ("MM test_cereg2_novatel_lte_unsolicited", "+CEREG: 1, 1F00, 20 ,79D903 ,7", "CEREG", False, 1, 0x1F00,
     0x79D903, 7),
    ("MM test_cgreg2_thuraya_solicited", '+CGREG: 2, 1, "0426", "F00F"', "CGREG", True, 1, 0x0426, 0xF00F, None),
    ("MM test_cgreg2_thuraya_unsolicited", '+CGREG: 1, "0426", "F00F"', "CGREG", False, 1, 0x0426, 0xF00F, None),
    ("MM test_c5greg1_solicited", "+C5GREG: 1,3", "C5GREG", True, 3, None, None, None),
    ("MM test_c5greg1_unsolicited", "+C5GREG: 3", "C5GREG", False, 3, None, None, None),
    ("MM test_c5greg2_solicited", "+C5GREG: 2,1,1F00,79D903,11,6,ABCDEF", "C5GREG", True, 1, 0x1F00, 0x79D903, 11),
    ("MM test_c5greg2_unsolicited", "+C5GREG: 1,1F00,79D903,11,6,ABCDEF", "C5GREG", False, 1, 0x1F00, 0x79D903, 11),
    # 27.007 10.1.22 with n=3: cause type and reject cause after AcT
    ("27.007 10.1.22 n=3", '+CEREG: 3,3,"00C3","0012ABCD",7,0,15', "CEREG", True, 3, 0xC3, 0x12ABCD, 7),
    ("27.007 7.2 n=0", "+CREG: 0,4", "CREG", True, 4, None, None, None),
    ("NOTES A7 boot", "+CREG: 5", "CREG", False, 5, None, None, None),
]


@pytest.mark.parametrize("vector", REGISTRATION_VECTORS, ids=[v[0] for v in REGISTRATION_VECTORS])
def test_registration_vectors(vector: tuple[object, ...]) -> None:
    source, line, domain, solicited, stat, lac, ci, act = vector
    assert isinstance(line, str)
    report = parse_registration_line(line)
    assert report is not None, source
    assert (report.domain, report.solicited, report.stat) == (domain, solicited, stat)
    assert (report.lac, report.ci, report.act) == (lac, ci, act)


def test_all_digit_lac_is_not_the_state() -> None:
    """ISSUE12: ``+CEREG: 2, 0001, 00000100, 7`` was read as home; it is searching on TAC 0001."""
    report = parse_registration_line("+CEREG: 2, 0001, 00000100, 7")
    assert report is not None and report.state == "searching" and not report.registered
    assert report.technology == "LTE"


def test_every_state_is_named() -> None:
    """27.007 7.2: <stat> 0..11 all have words; out-of-range values are 'unknown' as in MM."""
    assert sorted(REG_STATES) == list(range(12))
    report = parse_registration_line("+CREG: 0,42")
    assert report is not None and report.stat == 4 and report.state == "unknown"


@pytest.mark.parametrize(
    ("reports", "expected"),
    [
        ({"CREG": 1}, 1),
        ({"CREG": 0, "CGREG": 5}, 5),
        ({"CREG": 3, "CEREG": 2}, 2),  # denied only when nothing else is searching (MM)
        ({"CREG": 3, "CGREG": 0}, 3),
        ({"CREG": 9, "CEREG": 0}, 9),  # CSFB not preferred counts as registered (MM REG_STATE_IS_REGISTERED)
        ({"CREG": 10}, 10),
        ({"CREG": 6}, 6),
        ({"CREG": 7, "CGREG": 4}, 7),
        ({"CREG": 8}, 8),
        ({"CEREG": 11}, 4),
        ({"CREG": 0}, 0),
        ({}, 4),
    ],
)
def test_consolidation_as_modemmanager(reports: dict[str, int], expected: int) -> None:
    """MM src/mm-iface-modem-3gpp.c get_consolidated_reg_state."""
    assert consolidate(reports) == expected


def test_registered_states_are_modemmanagers() -> None:
    assert {1, 5, 6, 7, 9, 10} == REGISTERED_STATES


@pytest.mark.parametrize(
    ("rssi", "dbm", "word"),
    [
        (0, -113, "none"),
        (1, -111, "poor"),
        (2, -109, "poor"),
        (10, -93, "fair"),
        (15, -83, "good"),
        (20, -73, "excellent"),
        (30, -53, "excellent"),
        (31, -51, "excellent"),
        (99, None, "unknown"),
        (32, None, "unknown"),
        (100, -116, "none"),
        (101, -115, "poor"),
        (150, -66, "excellent"),
        (191, -25, "excellent"),
        (192, None, "unknown"),
        (199, None, "unknown"),
    ],
)
def test_csq_table(rssi: int, dbm: int | None, word: str) -> None:
    """27.007 8.5: 0..31 and 99, and the extended 100..191 range."""
    assert signal_quality(rssi) == (dbm, word)


@pytest.mark.parametrize(
    ("line", "rssi"),
    [("+CSQ: 31,99", 31), ("+CSQ:20,99", 20), ("+CSQ: 99,99", 99), ("+CSQ: ²,99", None), ("+CSQ: ,", None)],
)
def test_parse_csq(line: str, rssi: int | None) -> None:
    assert parse_csq(line) == rssi


def test_cesq_lte_part() -> None:
    """27.007 8.69: rsrq 0..34 -> -20..-3 dB, rsrp 0..97 -> -141..-44 dBm, 255 unknown."""
    lte = parse_cesq("+CESQ: 99,99,255,255,20,46")
    assert lte is not None and (lte.rsrq_db, lte.rsrp_dbm) == (-10.0, -95.0)
    assert parse_cesq("+CESQ: 99,99,255,255,255,255") is None
    assert parse_cesq("+CESQ: 1,2") is None


def test_qcsq() -> None:
    """Quectel EC25 AT manual, AT+QCSQ example ``+QCSQ: "LTE",-52,-81,195,-10``."""
    lte = parse_qcsq('+QCSQ: "LTE",-52,-81,195,-10')
    assert lte is not None and (lte.rsrp_dbm, lte.rsrq_db, lte.sinr_db) == (-81.0, -10.0, 19.0)
    assert parse_qcsq('+QCSQ: "NOSERVICE"') is None


@pytest.mark.parametrize(
    ("line", "state"),
    [
        ("+CPIN: READY", "READY"),
        ("+CPIN:READY", "READY"),  # NOTES: A6/A7 manual
        ('+CPIN: "SIM PIN"', "SIM PIN"),  # ISSUE12
        ('+CPIN: "READY"', "READY"),
        ("+CPIN: SIM PUK", "SIM PUK"),
        ("+CPIN: PH-SIM PIN", "PH-SIM PIN"),
        ("+CPIN: NOT INSERTED", "MISSING"),  # ISSUE12 (SIM800, SIM7600)
        ("+CPIN: SIM REMOVED", "MISSING"),  # ISSUE12 (Quectel URC)
        ("+CPIN: NOT READY", "NOT READY"),  # ISSUE12 (SIM7600 after boot)
        ("+CSQ: 1,2", None),
    ],
)
def test_cpin_forms(line: str, state: str | None) -> None:
    assert parse_cpin(line) == state


def test_cops_formats() -> None:
    """27.007 7.3: format 0 long name, 2 numeric."""
    assert parse_cops('+COPS: 0,0,"Telekom.de",7') == (0, "Telekom.de", 7)
    assert parse_cops('+COPS: 0,2,"26201",7') == (2, "26201", 7)
    assert parse_cops("+COPS: 0") == (None, "", None)
    assert parse_cops("+CSQ: 1,2") == (None, "", None)


@pytest.mark.parametrize("text", ["²", "٣", "1²", "", " ", "-1", "1e3", "0x10", "1" * 21])
def test_ascii_int_refuses_what_is_not_ascii_digits(text: str) -> None:
    assert ascii_int(text) is None


# --------------------------------------------------------------------------- the engine


def answer(command: str, reply: bytes, **kw: object) -> tuple[list[object], AtEngine]:
    engine = AtEngine()
    engine.send_command(command, 0.0, **kw)  # type: ignore[arg-type]
    engine.receive_data(reply, 0.0)
    events = []
    while (event := engine.next_event()) is not None:
        events.append(event)
    return events, engine


@pytest.mark.parametrize(
    ("source", "command", "reply", "answer_lines", "urc"),
    [
        ("ISSUE12 SIM7600 AUTOCSQ", "AT+CGSN", b"\r\n+CSQ: 20,99\r\n\r\n866123456789012\r\n\r\nOK\r\n",
         ("866123456789012",), "+CSQ: 20,99"),
        ("ISSUE12 SIM7600 boot", "AT+CGMM", b"\r\nSMS DONE\r\n\r\nSIMCOM_SIM7600E-H\r\n\r\nOK\r\n",
         ("SIMCOM_SIM7600E-H",), "SMS DONE"),
        ("ISSUE12 *ATREADY", "AT+CGMI", b"\r\n*ATREADY: 1\r\n\r\nSierra Wireless\r\n\r\nOK\r\n",
         ("Sierra Wireless",), "*ATREADY: 1"),
        ("ISSUE12 +MSTK", "AT+CSQ", b"\r\n+MSTK: 11,D0\r\n+CSQ: 18,99\r\nOK\r\n", ("+CSQ: 18,99",), "+MSTK: 11,D0"),
        ("ISSUE12 ^NDISSTAT", "AT+CGMR", b"\r\n^NDISSTAT: 0,,,\"IPV4\"\r\n11.617.01\r\nOK\r\n",
         ("11.617.01",), '^NDISSTAT: 0,,,"IPV4"'),
        ("ISSUE12 +RXDTMF", "ATI", b"\r\n+RXDTMF: 5\r\nQuectel\r\nEC25\r\nOK\r\n", ("Quectel", "EC25"), "+RXDTMF: 5"),
        ("ISSUE12 ^CIEV", "AT+CPIN?", b"\r\n^CIEV: 1,0\r\n+CPIN: READY\r\nOK\r\n", ("+CPIN: READY",), "^CIEV: 1,0"),
        ("NOTES A7 +CTZV", "AT+CGATT=1", b"\r\n+CTZV:17/12/04,02:37:58,+04\r\n\r\nOK\r\n\r\n", (),
         "+CTZV:17/12/04,02:37:58,+04"),
        ("ISSUE12 unsolicited +CPIN", "AT+CSQ", b"\r\n+CPIN: READY\r\n+CSQ: 9,99\r\nOK\r\n", ("+CSQ: 9,99",),
         "+CPIN: READY"),
    ],
)
def test_urcs_never_become_answers(
    source: str, command: str, reply: bytes, answer_lines: tuple[str, ...], urc: str
) -> None:
    events, _ = answer(command, reply)
    assert Urc(line=urc) in events, source
    done = [e for e in events if isinstance(e, CommandDone)]
    assert done == [CommandDone(command=command, lines=answer_lines)], source


def test_a7_scid_answer_with_an_explicit_prefix() -> None:
    """NOTES 1.1: the A7 answers AT+CCID with +SCID; a caller names that prefix."""
    events, _ = answer("AT+CCID", b"\r\n+SCID: SIM Card ID:8986\r\nOK\r\n", prefix=("+CCID:", "+SCID:"))
    assert events == [CommandDone(command="AT+CCID", lines=("+SCID: SIM Card ID:8986",))]


@pytest.mark.parametrize(
    ("source", "line", "result", "code"),
    [
        ("MMSP", "MODEM ERROR: 5", "MODEM ERROR", 5),
        ("MMSP", "COMMAND NOT SUPPORT", "COMMAND NOT SUPPORT", None),
        ("MMSP Samsung Z810", "NA", "NA", None),
        ("NOTES A7", "COMMAND NO RESPONSE!", "COMMAND NO RESPONSE!", None),
        ("V.250 5.7.1", "NO DIALTONE", "NO DIALTONE", None),
        ("V.250 5.7.1", "BUSY", "BUSY", None),
        ("V.250 5.7.1", "NO ANSWER", "NO ANSWER", None),
        ("V.250 5.7.1", "NO CARRIER", "NO CARRIER", None),
        ("27.007 9.2", "+CME ERROR: 10", "+CME ERROR", 10),
        ("NOTES A7", "+CME ERROR:58", "+CME ERROR", 58),
        ("27.005 3.2.5", "+CMS ERROR: 305", "+CMS ERROR", 305),
        ("ISSUE12 crash", "+CME ERROR: \u00b2", "+CME ERROR", None),
        ("fuzz", "+CME ERROR: \u0663", "+CME ERROR", None),
        ("fuzz", "MODEM ERROR: 1\u00b2", "MODEM ERROR", None),
        ("u-blox", "ABORTED", "ABORTED", None),
    ],
)
def test_every_final_result(source: str, line: str, result: str, code: int | None) -> None:
    events, _ = answer("AT+CFUN=1", b"\r\n" + line.encode() + b"\r\n")
    assert len(events) == 1 and isinstance(events[0], CommandFailed), source
    assert (events[0].result, events[0].code) == (result, code)


@pytest.mark.parametrize(
    "echo",
    [
        b'AT+CPIN="4711"\r',
        b"AT+CPIN=4711\r",  # ISSUE12: the echo without quotes
        b"AT+CPIN= 4711\r",
        b'AT+CPIN = "47 11"\r',
        b"at+cpin=4711\r",
        b"+CPIN=4711\r",
    ],
)
def test_pin_redacted_however_echoed(echo: bytes) -> None:
    traces: list[str] = []
    engine = AtEngine(trace=traces.append)
    engine.send_command('AT+CPIN="4711"', 0.0, secret=True)
    engine.receive_data(echo + b"\r\nOK\r\n", 0.0)
    engine.receive_data(b"\r\n" + echo + b"\r\n", 0.0)  # a late echo after the answer
    events = []
    while (event := engine.next_event()) is not None:
        events.append(event)
    assert events == [CommandDone(command="AT+CPIN=***", lines=())]
    assert "4711" not in repr(events) and not any("4711" in t or "47 11" in t for t in traces)


@pytest.mark.parametrize(
    ("command", "line"),
    [
        ("AT+CCID", "+SCID: SIM Card ID:89860012345678901234"),  # NOTES 1.1: the A7
        ("AT+CICCID", "+ICCID: 89860012345678901234"),  # SIM7600
        ("AT+CGMR", "Revision:1418B04SIM800L24"),  # SIM800
    ],
)
def test_answers_with_another_prefix_are_answers(command: str, line: str) -> None:
    events, _ = answer(command, b"\r\n" + line.encode() + b"\r\nOK\r\n")
    assert events == [CommandDone(command=command, lines=(line,))]


# ESPM: esp_modem's host test responder, espressif/esp-protocols
# components/esp_modem/test/host_test/main/LoopbackTerm.cpp (the odd line ends are theirs)
@pytest.mark.parametrize(
    ("command", "reply", "lines"),
    [
        ("AT+CSQ", b"+CSQ: 123,456\n\r\nOK\r\n", ("+CSQ: 123,456",)),
        ("AT+CGMM", b"0G Dummy Model\n\r\nOK\r\n", ("0G Dummy Model",)),
        ("AT+CBC", b"+CBC: 1,20,123456\r\r\n\r\nOK\r\n\n\r\n", ("+CBC: 1,20,123456",)),
        ("AT+CBC", b"+CBC: 123.456V\r\r\n\r\nOK\r\n\n\r\n", ("+CBC: 123.456V",)),
        ("AT+CPIN?", b"+CPIN: SIM PIN\r\nOK\r\n", ("+CPIN: SIM PIN",)),
    ],
)
def test_esp_modem_host_test_answers(command: str, reply: bytes, lines: tuple[str, ...]) -> None:
    events, _ = answer(command, reply)
    assert events == [CommandDone(command=command, lines=lines)]


def test_esp_modem_csq_123_is_in_the_extended_range() -> None:
    """ESPM answers ``+CSQ: 123,456``: 27.007 8.5's extended range, -93 dBm (ber 456 is out of range)."""
    assert parse_csq("+CSQ: 123,456") == 123
    assert signal_quality(123) == (-93, "fair")


# --------------------------------------------------------------------------- V0 (numeric) results


@pytest.mark.parametrize(
    ("source", "command", "reply", "expected"),
    [
        ("MMSP v0 0 OK", "ATE0Q0V1", b"0\r", CommandDone(command="ATE0Q0V1")),
        ("MMSP v0 0 OK with NUL", "ATE0Q0V1", b"0\x00\r", CommandDone(command="ATE0Q0V1")),
        ("MMSP v0 4 ERROR", "ATE0Q0V1", b"4\r", CommandFailed(command="ATE0Q0V1", result="ERROR", text="ERROR")),
        ("V.250 6.2.4 E1 + 6.2.6 V0", "ATE0Q0V1", b"\rATE0Q0V1\r0\r", CommandDone(command="ATE0Q0V1")),
        ("MMSP v0 3 NO CARRIER", "ATH", b"3\r",
         CommandFailed(command="ATH", result="NO CARRIER", text="NO CARRIER")),
        ("MMSP v0 7 BUSY", "ATH", b"7\r", CommandFailed(command="ATH", result="BUSY", text="BUSY")),
        ("MMSP v0 +CME ERROR", "ATH", b"+CME ERROR: 3\r\n",
         CommandFailed(command="ATH", result="+CME ERROR", code=3, text="+CME ERROR: 3")),
        ("V.250 6.2.6 info then 0", "ATI", b"SIMCOM_Ltd\r\nSIMCOM_SIM800\r\n0\r",
         CommandDone(command="ATI", lines=("SIMCOM_Ltd", "SIMCOM_SIM800"))),
        ("V.250 6.2.6 verbose still read", "ATE0Q0V1", b"\r\nOK\r\n", CommandDone(command="ATE0Q0V1")),
    ],
)
def test_numeric_results_end_a_command_that_allows_them(source: str, command: str, reply: bytes,
                                                        expected: object) -> None:
    events, engine = answer(command, reply, numeric=True)
    assert events == [expected], source
    assert not engine.busy


def test_numeric_results_need_no_line_feed() -> None:
    """A bare ``0<CR>`` ends the command at once, byte by byte: nothing waits for an LF that never comes."""
    engine = AtEngine()
    engine.send_command("ATE0Q0V1", 0.0, lead=b"\r", numeric=True)
    for byte in b"0\r":
        assert engine.next_event() is None
        engine.receive_data(bytes((byte,)), 0.0)
    assert engine.next_event() == CommandDone(command="ATE0Q0V1")


def test_numeric_connect_only_for_a_dial_and_ring_is_unsolicited() -> None:
    events, engine = answer("ATD*99#", b"2\r1\r\x7e\xff\x03", numeric=True)
    assert events[0] == Urc(line="RING")
    assert isinstance(events[1], Connected) and events[1].trailing == b"\x7e\xff\x03"
    assert engine.in_data_mode
    # "1" to a command that cannot connect is not CONNECT: the 0 after it ends the command
    events, _ = answer("ATE0Q0V1", b"1\r0\r", numeric=True)
    assert events == [CommandDone(command="ATE0Q0V1", lines=("1",))]


@pytest.mark.parametrize("code", sorted(NUMERIC_RESULTS))
def test_digits_are_ordinary_lines_without_numeric(code: str) -> None:
    """Without ``numeric`` (V1 in force) a bare digit is an answer line (``ATS0?``, an IMEI): never a result."""
    events, engine = answer("AT+CGSN", code.encode() + b"\r")
    assert events == [] and engine.busy
    engine.receive_data(b"\r\nOK\r\n", 0.0)
    assert engine.next_event() == CommandDone(command="AT+CGSN", lines=(code,))


def test_numeric_table_is_v250s() -> None:
    assert NUMERIC_RESULTS == {"0": "OK", "1": "CONNECT", "2": "RING", "3": "NO CARRIER", "4": "ERROR",
                               "6": "NO DIALTONE", "7": "BUSY", "8": "NO ANSWER"}
