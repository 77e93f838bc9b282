"""SimModem, the sans-I/O simulated modem, driven by a float clock (V.250 command lines, TS 27.007 answers)."""

from __future__ import annotations

import random

import pytest

from pppos.errors import ConfigError
from pppos.sim.modem import (
    CALL_TRANSITIONS,
    COMMAND,
    DATA,
    MAX_LINE,
    ONLINE_COMMAND,
    PACE_CATCH_UP,
    PACE_WINDOW,
    CallEnded,
    EnteredDataMode,
    LeftDataMode,
    SimConfig,
    SimModem,
    parse_registration,
)
from tests.sim_helpers import hdlc_frame

T0 = 1000.0


def boot(now: float = T0, **kwargs: object) -> SimModem:
    """A powered modem whose boot URCs and registration are done and drained, echo off."""
    modem = SimModem(SimConfig(**kwargs))  # type: ignore[arg-type]
    modem.power_on(now)
    modem.handle_timer(now + 2.0)
    modem.data_to_send()
    modem.receive_data(b"ATE0\r", now + 2.0)
    modem.data_to_send()
    return modem


def send(modem: SimModem, command: bytes | str, now: float = T0 + 3.0) -> bytes:
    raw = command.encode() if isinstance(command, str) else command
    modem.receive_data(raw + b"\r", now)
    return modem.data_to_send()


def events(modem: SimModem) -> list[object]:
    out = []
    while (event := modem.next_event()) is not None:
        out.append(event)
    return out


def feed(modem: SimModem, data: bytes, how: str, now: float) -> bytes:
    """Feed ``data`` whole or one byte at a time; return everything the modem answered."""
    if how == "whole":
        modem.receive_data(data, now)
    else:
        for i in range(len(data)):
            modem.receive_data(data[i : i + 1], now)
    return modem.data_to_send()


def dialed(profile: str = "a7", **kwargs: object) -> SimModem:
    modem = boot(profile=profile, apn="internet", **kwargs)
    assert b"CONNECT" in send(modem, "ATD*99***1#")
    events(modem)
    return modem


# -- boot, echo, blank line ---------------------------------------------------------------------


def test_a7_boot_urcs_echo_and_registration_urcs() -> None:
    modem = SimModem(SimConfig())
    modem.power_on(T0)
    assert modem.get_timer() == pytest.approx(T0 + 0.05)
    modem.handle_timer(T0 + 0.3)
    out = modem.data_to_send()
    assert out == (
        b"\r\n^CINIT: 1, 32, 41891\r\n\r\n^CINIT: 2, 32, 41891\r\n\r\n^CINIT: 8, 2048, 1\r\n\r\n+CREG: 0\r\n"
    )
    modem.handle_timer(T0 + 0.6)
    out = modem.data_to_send()
    assert b"+CREG: 1\r\n" in out
    assert b"+CIEV: service,  1\r\n" in out  # the A7's double space
    assert b"+CTZV:26/01/01,00:00:00,+00" in out
    # Echo is on at boot; the A7 adds an extra blank line after the final result.
    modem.receive_data(b"AT\r", T0 + 1)
    assert modem.data_to_send() == b"AT\r\r\nOK\r\n\r\n"
    modem.receive_data(b"ATE0\r", T0 + 1)
    assert modem.data_to_send() == b"ATE0\r\r\nOK\r\n\r\n"
    modem.receive_data(b"AT\r", T0 + 1)
    assert modem.data_to_send() == b"\r\nOK\r\n\r\n"
    modem.receive_data(b"ATE1\r", T0 + 1)
    assert modem.data_to_send() == b"\r\nOK\r\n\r\n"
    modem.receive_data(b"AT\r", T0 + 1)
    assert modem.data_to_send() == b"AT\r\r\nOK\r\n\r\n"


def test_sim800_has_no_extra_blank_line_and_boots_with_rdy() -> None:
    modem = SimModem(SimConfig(profile="sim800"))
    modem.power_on(T0)
    modem.handle_timer(T0 + 1)
    assert modem.data_to_send().startswith(b"\r\nRDY\r\n")
    assert send(modem, "AT", T0 + 1) == b"AT\r\r\nOK\r\n"


def test_boot_delay_drops_input_until_ready() -> None:
    modem = SimModem(SimConfig(boot_delay=2.0))
    modem.power_on(T0)
    modem.receive_data(b"AT\r", T0 + 1)
    assert b"OK" not in modem.data_to_send()
    assert modem.stats.dropped_input == 3
    assert b"OK" in send(modem, "AT", T0 + 2.5)


# -- the command dialect table -------------------------------------------------------------------

DIALECT = [
    ("a7", "ATI", b"\r\nAi-Thinker Co.,Ltd.\r\n\r\nA7\r\n\r\nV03.03.20170721R\r\n\r\nOK\r\n\r\n"),
    ("a7", "AT+CGMI", b"\r\nAi-Thinker Co.,Ltd.\r\n\r\nOK\r\n\r\n"),
    ("a7", "AT+CGMM", b"\r\nA7\r\n\r\nOK\r\n\r\n"),
    ("a7", "AT+CGMR", b"\r\nV03.03.20170721R\r\n\r\nOK\r\n\r\n"),
    ("a7", "AT+CGSN", b"\r\n866123456789012\r\n\r\nOK\r\n\r\n"),
    ("a7", "AT+CCID", b"\r\n+SCID: SIM Card ID:89860012345678901234\r\n\r\nOK\r\n\r\n"),
    ("a7", "AT+CMEE=2", b"\r\nOK\r\n\r\n"),
    ("a7", "AT+CMEE?", b"\r\n+CMEE: 1\r\n\r\nOK\r\n\r\n"),
    ("a7", "AT+CMEE=7", b"\r\nERROR\r\n\r\n"),
    ("a7", "AT+CPIN?", b"\r\n+CPIN: READY\r\n\r\nOK\r\n\r\n"),
    ("a7", "AT+CSQ", b"\r\n+CSQ: 24,99\r\n\r\nOK\r\n\r\n"),
    ("a7", "AT+COPS?", b'\r\n+COPS: 0,0,"PPPOS SIM"\r\n\r\nOK\r\n\r\n'),
    ("a7", "AT+CREG?", b"\r\n+CREG: 1,1\r\n\r\nOK\r\n\r\n"),
    ("a7", "AT+CGREG?", b"\r\n+CGREG: 0,1\r\n\r\nOK\r\n\r\n"),
    ("a7", "AT+CEREG?", b"\r\nERROR\r\n\r\n"),  # 2G modem: no EPS registration
    ("a7", "AT+CGATT?", b"\r\n+CGATT: 0\r\n\r\nOK\r\n\r\n"),
    ("a7", "AT+CGDCONT?", b'\r\n+CGDCONT: 1,"IP","","0.0.0.0",0,0\r\n\r\nOK\r\n\r\n'),
    ("a7", "AT+CGDCONT=?", b'\r\n+CGDCONT: (1-7),"IP",,,(0-2),(0-4)\r\n\r\n+CGDCONT: (1-7),"IPV6",,,(0-2),(0-4)\r\n'
     b"\r\nOK\r\n\r\n"),
    ("a7", "AT+CGDCONT=9,\"IP\",\"x\"", b"\r\n+CME ERROR:53\r\n\r\n"),
    ("a7", "ATH", b"\r\n+CME ERROR:58\r\n\r\n"),
    ("a7", "ATZ", b"\r\n+CME ERROR:58\r\n\r\n"),
    ("a7", "AT+CMUX=0", b"\r\n+CME ERROR:53\r\n\r\n"),
    ("a7", "ATO", b"\r\nNO CARRIER\r\n\r\n"),
    ("a7", "AT+GPSRD=0", b"\r\nOK\r\n\r\n"),
    ("a7", "AT+NOSUCH", b"\r\nERROR\r\n\r\n"),
    ("a7", "AT#", b"\r\nERROR\r\n\r\n"),
    ("a7", "At", b"\r\nERROR\r\n\r\n"),
    ("a7", "aT+CSQ", b"\r\nERROR\r\n\r\n"),
    ("a7", "at+csq", b"\r\n+CSQ: 24,99\r\n\r\nOK\r\n\r\n"),
    ("a7", "AT", b"\r\nOK\r\n\r\n"),
    ("a7", "AT+CMEE=0;+CPIN?", b"\r\n+CPIN: READY\r\n\r\nOK\r\n\r\n"),
    ("a7", "ATE0V1Q0X4&C1&D2", b"\r\nOK\r\n\r\n"),
    ("a7", "ATS12?", b"\r\n050\r\n\r\nOK\r\n\r\n"),
    ("a7", "AT+CIPSTATUS", b"\r\n+IPSTATUS: IP INITIAL\r\n\r\nOK\r\n\r\n"),
    ("a7", "AT+CIPSTATUS?", b"\r\n+CIPSTATUS:0,IP INITIAL\r\n"
     + b"".join(b"\r\n%d,IP INITIAL\r\n" % i for i in range(1, 8)) + b"\r\nOK\r\n\r\n"),
    ("a7", "garbage without prefix", b""),
    ("sim800", "AT+CIPSTATUS", b"\r\nOK\r\n\r\nSTATE: IP INITIAL\r\n"),
    ("sim800", "AT+CCID", b"\r\n89860012345678901234\r\n\r\nOK\r\n"),
    ("sim800", "ATH", b"\r\nOK\r\n"),
    ("sim800", "AT+CMUX=0", b"\r\nERROR\r\n"),
    ("sim7600", "AT+CEREG?", b"\r\n+CEREG: 0,1\r\n\r\nOK\r\n"),
    ("sim7600", "AT+CICCID", b"\r\n+ICCID: 89860012345678901234\r\n\r\nOK\r\n"),
    ("sim7600", "AT+CIPSTATUS", b"\r\nERROR\r\n"),
    ("quectel", "AT+QCCID", b"\r\n+QCCID: 89860012345678901234\r\n\r\nOK\r\n"),
    ("quectel", "AT+CGMM", b"\r\nEC25\r\n\r\nOK\r\n"),
    ("generic", "AT+CCID", b"\r\n+CCID: 89860012345678901234\r\n\r\nOK\r\n"),
    ("generic", "AT+CPIN?", b"\r\n+CPIN:READY\r\n\r\nOK\r\n"),
]


@pytest.mark.parametrize("how", ["whole", "bytewise", "trailing"])
@pytest.mark.parametrize(("profile", "command", "expected"), DIALECT)
def test_command_dialect(profile: str, command: str, expected: bytes, how: str) -> None:
    modem = boot(profile=profile)
    line = command.encode() + b"\r"
    if how == "trailing":
        # The answer to the first line is complete before the next command's CR arrives.
        assert feed(modem, line + b"AT+CS", "whole", T0 + 3) == expected
        assert feed(modem, b"Q\r", "whole", T0 + 3).startswith(b"\r\n+CSQ: 24,99\r\n")
    else:
        assert feed(modem, line, how, T0 + 3) == expected


def test_cme_spacing_differs_between_a7_and_others() -> None:
    a7 = boot(pin="1234", registration="home")
    sim800 = boot(profile="sim800", pin="1234")
    assert send(a7, 'AT+CPIN="0000"') == b"\r\n+CME ERROR:16\r\n\r\n"
    send(sim800, "AT+CMEE=1")
    assert send(sim800, 'AT+CPIN="0000"') == b"\r\n+CME ERROR: 16\r\n"
    send(sim800, "AT+CMEE=2")
    assert send(sim800, 'AT+CPIN="0000"') == b"\r\n+CME ERROR: incorrect password\r\n"
    send(sim800, "AT+CMEE=0")
    assert send(sim800, 'AT+CPIN="0000"') == b"\r\nERROR\r\n"
    assert send(sim800, "AT+CPIN?") == b"\r\n+CPIN: SIM PUK\r\n\r\nOK\r\n"


def test_s12_sets_the_guard_time() -> None:
    modem = boot()
    assert send(modem, "ATS12=25") == b"\r\nOK\r\n\r\n"
    assert modem.guard == 0.5
    assert send(modem, "ATS12?") == b"\r\n025\r\n\r\nOK\r\n\r\n"


def test_line_editing_and_lf_and_nul_are_ignored() -> None:
    modem = boot()
    assert send(modem, b"\nA\x00T+CSX\x08Q") == b"\r\n+CSQ: 24,99\r\n\r\nOK\r\n\r\n"


def test_noise_before_the_prefix_is_ignored() -> None:
    modem = boot()
    frame = hdlc_frame(bytes.fromhex("ff03c0210901000c12345678"))
    assert send(modem, frame + b"AT+CSQ") == b"\r\n+CSQ: 24,99\r\n\r\nOK\r\n\r\n"
    assert send(modem, b"\x01\x02\x03") == b""
    assert modem.stats.noise_lines == 1


# -- PIN and PUK -----------------------------------------------------------------------------------


def test_pin_countdown_puk_and_unlock() -> None:
    modem = boot(pin="1234", apn="internet")
    assert send(modem, "AT+CPIN?") == b"\r\n+CPIN: SIM PIN\r\n\r\nOK\r\n\r\n"
    assert send(modem, "AT+CREG?") == b"\r\n+CREG: 1,0\r\n\r\nOK\r\n\r\n"
    assert send(modem, "ATD*99#") == b"\r\n+CME ERROR:11\r\n\r\n"
    for left in (2, 1, 0):
        assert send(modem, 'AT+CPIN="9999"') == b"\r\n+CME ERROR:16\r\n\r\n"
        assert modem.pin_attempts_left == left
    assert send(modem, "AT+CPIN?") == b"\r\n+CPIN: SIM PUK\r\n\r\nOK\r\n\r\n"
    # The right PIN no longer helps once the PUK is needed.
    assert send(modem, 'AT+CPIN="1234"') == b"\r\n+CME ERROR:16\r\n\r\n"
    assert send(modem, "ATD*99#") == b"\r\n+CME ERROR:12\r\n\r\n"
    assert send(modem, 'AT+CPIN="00000000","4321"') == b"\r\n+CME ERROR:16\r\n\r\n"
    assert send(modem, 'AT+CPIN="12345678","4321"', T0 + 10) == b"\r\nOK\r\n\r\n"
    assert send(modem, "AT+CPIN?", T0 + 10) == b"\r\n+CPIN: READY\r\n\r\nOK\r\n\r\n"
    # Registration starts when the SIM is ready: searching first, home after the delay.
    assert send(modem, "AT+CREG?", T0 + 10.1) == b"\r\n+CREG: 1,2\r\n\r\nOK\r\n\r\n"
    modem.handle_timer(T0 + 10.5)
    assert b"+CREG: 1\r\n" in modem.data_to_send()
    assert send(modem, "AT+CREG?", T0 + 10.6) == b"\r\n+CREG: 1,1\r\n\r\nOK\r\n\r\n"


def test_correct_pin_resets_the_counter_and_is_then_not_allowed() -> None:
    modem = boot(pin="1234")
    send(modem, 'AT+CPIN="1111"')
    assert send(modem, 'AT+CPIN="1234"') == b"\r\nOK\r\n\r\n"
    assert modem.pin_attempts_left == 3
    assert send(modem, 'AT+CPIN="1234"') == b"\r\n+CME ERROR:3\r\n\r\n"


def test_secrets_stay_out_of_reprs() -> None:
    config = SimConfig(pin="8642", puk="97531864")
    assert "8642" not in repr(config) and "97531864" not in repr(config)
    modem = SimModem(config)
    assert "8642" not in repr(modem) and "8642" not in repr(modem.stats)


def test_no_sim() -> None:
    modem = boot(sim_present=False, apn="internet")
    assert send(modem, "AT+CPIN?") == b"\r\n+CME ERROR:10\r\n\r\n"
    assert send(modem, "AT+CCID") == b"\r\n+CME ERROR:10\r\n\r\n"
    assert send(modem, "ATD*99#") == b"\r\n+CME ERROR:10\r\n\r\n"


# -- registration --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "before", "after"),
    [("home", 2, 1), ("roaming", 2, 5), ("denied", 2, 3), ("searching", 2, 2)],
)
def test_registration_modes(mode: str, before: int, after: int) -> None:
    modem = SimModem(SimConfig(registration=mode, registration_delay=1.0))
    modem.power_on(T0)
    assert modem.registration_stat(T0 + 0.99) == before
    assert modem.registration_stat(T0 + 1.0) == after
    assert modem.registration_stat(T0 + 1000) == after
    modem.handle_timer(T0 + 1.0)
    out = modem.data_to_send()
    assert (b"+CREG: %d\r\n" % after in out) == (mode != "searching")
    assert (b"+CIEV: service,  1" in out) == (after in (1, 5))


def test_slow_registration() -> None:
    modem = SimModem(SimConfig(registration="slow:5"))
    modem.power_on(T0)
    modem.handle_timer(T0 + 1)
    modem.data_to_send()
    modem.receive_data(b"ATE0\r", T0 + 1)
    modem.data_to_send()
    assert send(modem, "AT+CGREG?", T0 + 4.9) == b"\r\n+CGREG: 0,2\r\n\r\nOK\r\n\r\n"
    assert modem.get_timer() == pytest.approx(T0 + 5)
    modem.handle_timer(T0 + 5)
    assert b"+CREG: 1\r\n" in modem.data_to_send()
    assert send(modem, "AT+CGREG?", T0 + 5) == b"\r\n+CGREG: 0,1\r\n\r\nOK\r\n\r\n"


def test_creg_0_silences_unsolicited_registration_and_creg_2_adds_location() -> None:
    modem = SimModem(SimConfig())
    modem.power_on(T0)
    modem.receive_data(b"ATE0;+CREG=0\r", T0 + 0.01)
    modem.handle_timer(T0 + 2)
    out = modem.data_to_send()
    assert b"+CREG: 1\r\n" not in out and b"+CIEV: service,  1" in out
    assert send(modem, "AT+CREG=2;+CREG?", T0 + 2) == b'\r\n+CREG: 2,1,"1A2B","00C3D4"\r\n\r\nOK\r\n\r\n'


def test_parse_registration() -> None:
    assert parse_registration("home") == ("home", 0.0)
    assert parse_registration("slow:2.5") == ("slow", 2.5)
    for bad in ("slow:", "slow:-1", "slow:nan", "slow:inf", "offline", ""):
        with pytest.raises(ConfigError, match="registration"):
            parse_registration(bad)


def test_config_validation() -> None:
    with pytest.raises(ConfigError, match="profile"):
        SimConfig(profile="nokia")
    with pytest.raises(ConfigError, match="PIN") as info:
        SimConfig(pin="12ab")
    assert "12ab" not in str(info.value)
    with pytest.raises(ConfigError, match="baud"):
        SimConfig(baud=0)


# -- attach, contexts, dial ---------------------------------------------------------------------


def test_cgatt_takes_time_and_a_ctzv_arrives_before_ok() -> None:
    modem = boot()
    assert send(modem, "AT+CGATT=1", T0 + 3) == b""
    # A command sent while CGATT runs is answered after it.
    assert send(modem, "AT+CSQ", T0 + 3.1) == b""
    assert modem.get_timer() == pytest.approx(T0 + 3.2)
    modem.handle_timer(T0 + 3.2)
    assert modem.data_to_send() == (
        b"\r\n+CTZV:26/01/01,00:00:00,+00\r\n\r\nOK\r\n\r\n\r\n+CSQ: 24,99\r\n\r\nOK\r\n\r\n"
    )
    assert send(modem, "AT+CGATT?", T0 + 4) == b"\r\n+CGATT: 1\r\n\r\nOK\r\n\r\n"


def test_cgatt_fails_without_registration() -> None:
    modem = boot(registration="denied")
    send(modem, "AT+CGATT=1")
    modem.handle_timer(T0 + 4)
    assert modem.data_to_send() == b"\r\n+CME ERROR:30\r\n\r\n"


def test_dial_needs_an_apn() -> None:
    modem = boot()
    assert send(modem, "ATD*99***1#") == b"\r\nERROR\r\n\r\n"
    assert send(modem, 'AT+CGDCONT=1,"IP",""') == b"\r\nOK\r\n\r\n"
    assert send(modem, "ATD*99#") == b"\r\nERROR\r\n\r\n"
    assert events(modem) == []
    assert send(modem, 'AT+CGDCONT=1,"IP","internet"') == b"\r\nOK\r\n\r\n"
    assert send(modem, "AT+CGDCONT?") == b'\r\n+CGDCONT: 1,"IP","internet","0.0.0.0",0,0\r\n\r\nOK\r\n\r\n'
    assert send(modem, "ATDT*99***1#") == b"\r\nCONNECT\r\n"  # bare CONNECT, no blank line after it
    assert events(modem) == [EnteredDataMode(cid=1, apn="internet", resumed=False)]


def test_dial_other_cid_and_cgdata() -> None:
    modem = boot()
    send(modem, 'AT+CGDCONT=3,"IP","apn3"')
    assert send(modem, "ATD*99***3#") == b"\r\nCONNECT\r\n"
    assert events(modem) == [EnteredDataMode(cid=3, apn="apn3", resumed=False)]
    modem.network_closed(T0 + 4)
    modem.data_to_send()
    events(modem)
    assert send(modem, 'AT+CGDATA="PPP",3', T0 + 5) == b"\r\nCONNECT\r\n"


@pytest.mark.parametrize("mode", ["searching", "denied"])
def test_dial_without_registration_is_no_carrier(mode: str) -> None:
    modem = boot(registration=mode, apn="internet")
    assert send(modem, "ATD*99#") == b"\r\nNO CARRIER\r\n\r\n"


def test_voice_dial_is_no_carrier() -> None:
    modem = boot(apn="internet")
    assert send(modem, "ATD+441234567;") == b"\r\nNO CARRIER\r\n\r\n"


def test_sim7600_connect_has_a_rate() -> None:
    modem = boot(profile="sim7600", apn="internet")
    assert send(modem, "ATD*99#") == b"\r\nCONNECT 115200\r\n"


def test_bytes_after_the_dial_line_are_data() -> None:
    modem = boot(apn="internet")
    modem.receive_data(b"ATD*99#\r\x7e\xff\x7d\x23", T0 + 3)
    assert modem.data_to_send() == b"\r\nCONNECT\r\n"
    assert modem.network_data_to_send() == b"\x7e\xff\x7d\x23"


def test_cgact_and_cipstatus_states() -> None:
    modem = boot(apn="internet")
    assert send(modem, "AT+CGACT=1,1") == b"\r\nOK\r\n\r\n"
    assert send(modem, "AT+CGACT?") == b"\r\n+CGACT: 1,1\r\n\r\nOK\r\n\r\n"
    assert send(modem, "AT+CIPSTATUS") == b"\r\n+IPSTATUS: IP GPRSACT\r\n\r\nOK\r\n\r\n"
    send(modem, "ATD*99#")
    modem.receive_data(b"+++", T0 + 5)
    modem.handle_timer(T0 + 6)
    modem.data_to_send()
    out = send(modem, "AT+CIPSTATUS?", T0 + 6)
    assert out.startswith(b"\r\n+CIPSTATUS:0,CONNECT OK\r\n\r\n1,IP INITIAL\r\n")
    assert out.endswith(b"\r\n7,IP INITIAL\r\n\r\nOK\r\n\r\n")


# -- data mode, +++ and NO CARRIER ------------------------------------------------------------------


def test_data_flows_both_ways_only_in_data_mode() -> None:
    modem = boot(apn="internet")
    modem.receive_network_data(b"early", T0 + 3)
    assert modem.data_to_send() == b"" and modem.stats.dropped_network_bytes == 5
    send(modem, "ATD*99#")
    modem.receive_data(b"\x7eframe\x7e", T0 + 3.1)
    assert modem.network_data_to_send() == b"\x7eframe\x7e"
    assert modem.data_to_send() == b""  # no echo in data mode
    modem.receive_network_data(b"\x7ereply\x7e", T0 + 3.2)
    assert modem.data_to_send() == b"\x7ereply\x7e"


@pytest.mark.parametrize("how", ["together", "spaced"])
def test_guarded_escape_returns_ok(how: str) -> None:
    modem = dialed()
    modem.receive_data(b"\x7edata\x7e", T0 + 3.5)
    if how == "together":
        modem.receive_data(b"+++", T0 + 4.6)
        last = T0 + 4.6
    else:
        for i in range(3):
            modem.receive_data(b"+", T0 + 4.6 + 0.3 * i)
        last = T0 + 5.2
    assert modem.get_timer() == pytest.approx(last + 1.0)
    modem.handle_timer(last + 0.99)
    assert modem.data_to_send() == b"" and modem.state == DATA
    modem.handle_timer(last + 1.0)
    assert modem.data_to_send() == b"\r\nOK\r\n\r\n"
    assert modem.state == ONLINE_COMMAND
    assert events(modem) == [LeftDataMode(reason="escape")]
    assert modem.network_data_to_send() == b"\x7edata\x7e"  # the '+' never reached the network
    assert send(modem, "ATO", last + 2) == b"\r\nCONNECT\r\n"
    assert events(modem) == [EnteredDataMode(cid=1, apn="internet", resumed=True)]


def test_plus_without_leading_guard_is_data() -> None:
    modem = dialed()
    modem.receive_data(b"x", T0 + 3.5)
    modem.receive_data(b"+++", T0 + 4.0)  # only 0.5 s of silence before
    modem.handle_timer(T0 + 6)
    assert modem.state == DATA
    assert modem.network_data_to_send() == b"x+++"


def test_data_after_plus_cancels_escape() -> None:
    modem = dialed()
    modem.receive_data(b"++", T0 + 5)
    modem.receive_data(b"+", T0 + 5.1)
    modem.receive_data(b"z", T0 + 5.5)  # inside the trailing guard time
    modem.handle_timer(T0 + 7)
    assert modem.state == DATA
    assert modem.network_data_to_send() == b"+++z"


def test_slow_pluses_are_data() -> None:
    modem = dialed()
    modem.receive_data(b"+", T0 + 5)
    modem.receive_data(b"+", T0 + 6.5)  # more than the guard time between the characters
    modem.receive_data(b"+", T0 + 6.6)
    modem.handle_timer(T0 + 9)
    assert modem.state == DATA
    assert modem.network_data_to_send() == b"+++"


def test_four_pluses_are_data() -> None:
    modem = dialed()
    modem.receive_data(b"++++", T0 + 5)
    modem.handle_timer(T0 + 9)
    assert modem.state == DATA and modem.network_data_to_send() == b"++++"


def test_no_carrier_when_the_peer_ends_the_call() -> None:
    modem = dialed()
    modem.network_closed(T0 + 4)
    assert modem.data_to_send() == b"\r\nNO CARRIER\r\n\r\n"
    assert events(modem) == [CallEnded(reason="peer")]
    assert modem.state == COMMAND and not modem.in_call
    assert send(modem, "AT", T0 + 5) == b"\r\nOK\r\n\r\n"
    modem.network_closed(T0 + 6)  # no call: nothing happens
    assert modem.data_to_send() == b"" and events(modem) == []


def test_no_carrier_in_online_command_mode() -> None:
    modem = dialed()
    modem.receive_data(b"+++", T0 + 5)
    modem.handle_timer(T0 + 6)
    modem.data_to_send()
    events(modem)
    modem.network_closed(T0 + 7)
    assert modem.data_to_send() == b"\r\nNO CARRIER\r\n\r\n"
    assert events(modem) == [CallEnded(reason="peer")]
    assert send(modem, "ATO", T0 + 8) == b"\r\nNO CARRIER\r\n\r\n"


def test_lcp_terminate_ack_from_the_peer_ends_the_call() -> None:
    modem = dialed()
    term_ack = hdlc_frame(bytes.fromhex("ff03c02106020004"))
    modem.receive_network_data(term_ack[:5], T0 + 4)
    modem.receive_network_data(term_ack[5:], T0 + 4)
    assert modem.data_to_send() == term_ack  # the host sees the Terminate-Ack first
    assert modem.get_timer() == pytest.approx(T0 + 4.2)
    modem.handle_timer(T0 + 4.2)
    assert modem.data_to_send() == b"\r\nNO CARRIER\r\n\r\n"
    assert events(modem) == [CallEnded(reason="peer")]


def test_other_lcp_frames_do_not_end_the_call() -> None:
    modem = dialed()
    modem.receive_network_data(hdlc_frame(bytes.fromhex("ff03c02105020004")), T0 + 4)  # Terminate-Request
    modem.receive_network_data(hdlc_frame(bytes.fromhex("ff03c0210a0100081234abcd")), T0 + 4)
    modem.handle_timer(T0 + 9)
    assert modem.state == DATA


def test_ath_in_online_command_mode_hangs_up() -> None:
    modem = dialed()
    modem.receive_data(b"+++", T0 + 5)
    modem.handle_timer(T0 + 6)
    modem.data_to_send()
    events(modem)
    assert send(modem, "ATH", T0 + 7) == b"\r\nOK\r\n\r\n"
    assert events(modem) == [CallEnded(reason="hangup")]
    assert send(modem, "ATH", T0 + 7) == b"\r\n+CME ERROR:58\r\n\r\n"


def test_reboot_command_restarts_the_modem() -> None:
    modem = boot()
    assert send(modem, "AT+RST=1", T0 + 5) == b"\r\nOK\r\n\r\n"
    modem.handle_timer(T0 + 5.3)
    assert b"^CINIT: 1" in modem.data_to_send()
    assert send(modem, "AT", T0 + 6).endswith(b"AT\r\r\nOK\r\n\r\n")  # echo is back on


# -- the call automaton, cell by cell -------------------------------------------------------------


def _in_state(state: str) -> SimModem:
    modem = boot(apn="internet")
    if state in (DATA, ONLINE_COMMAND):
        send(modem, "ATD*99#", T0 + 3)
    if state == ONLINE_COMMAND:
        modem.receive_data(b"+++", T0 + 5)
        modem.handle_timer(T0 + 6)
    modem.data_to_send()
    events(modem)
    assert modem.state == state
    return modem


def _apply(modem: SimModem, what: str) -> None:
    now = T0 + 10
    if what == "dial":
        send(modem, "ATD*99#", now)
    elif what == "escape":
        modem.receive_data(b"+++", now)
        modem.handle_timer(now + 1)
    elif what == "resume":
        send(modem, "ATO", now)
    elif what == "hangup" and modem.state == DATA:
        modem.drop_dtr(now)
    elif what == "hangup":
        send(modem, "ATH", now)
    elif what == "peer-end":
        modem.network_closed(now)


@pytest.mark.parametrize(("cell", "target"), sorted(CALL_TRANSITIONS.items()))
def test_call_transition_cells(cell: tuple[str, str], target: str) -> None:
    state, what = cell
    modem = _in_state(state)
    _apply(modem, what)
    assert modem.state == target


# -- line rate pacing -----------------------------------------------------------------------------


def settle(modem: SimModem, now: float, limit: int = 10000) -> tuple[bytes, float]:
    """Run the modem's timers until it has none left; return its output and the final time."""
    out = modem.data_to_send()
    for _ in range(limit):
        deadline = modem.get_timer()
        if deadline is None:
            return out, now
        assert deadline >= now - 1e-9
        now = max(now, deadline)
        modem.handle_timer(now)
        out += modem.data_to_send()
    raise AssertionError("timers never settle")


def test_baud_pacing_releases_bytes_at_the_line_rate() -> None:
    modem = SimModem(SimConfig(baud=9600, apn="internet"))  # 960 bytes per second
    modem.power_on(T0)
    _, now = settle(modem, T0)
    modem.receive_data(b"ATE0\r", now)
    modem.receive_data(b"ATD*99#\r", now)
    out, now = settle(modem, now)
    assert out.endswith(b"\r\nCONNECT\r\n")
    start = now + 1
    payload = bytes(range(256)) * 8  # 2048 bytes: a bit over 2 s of line time
    modem.receive_network_data(payload, start)
    got = modem.data_to_send()
    burst = 960 * (PACE_WINDOW + PACE_CATCH_UP) + 1
    assert 0 < len(got) <= burst
    now = start
    steps = 0
    while (deadline := modem.get_timer()) is not None:
        assert deadline >= now
        now = deadline
        modem.handle_timer(now)
        got += modem.data_to_send()
        # never ahead of the line rate (plus the small release window)
        assert len(got) <= (now - start) * 960 + burst
        steps += 1
    assert steps < 500  # released in chunks, not byte by byte
    assert got == payload
    assert now - start == pytest.approx(len(payload) / 960, abs=0.1)
    # The host-to-network direction is paced too.
    modem.receive_data(b"y" * 960, now)
    sent = modem.network_data_to_send()
    assert len(sent) < 960
    _, end = settle(modem, now)
    assert len(sent + modem.network_data_to_send()) == 960
    assert end - now == pytest.approx(1.0, abs=0.1)


def test_drop_dtr_hangs_up() -> None:
    modem = dialed()
    modem.drop_dtr(T0 + 4)
    assert modem.data_to_send() == b"\r\nNO CARRIER\r\n\r\n"
    assert events(modem) == [CallEnded(reason="dtr")]
    modem.drop_dtr(T0 + 5)
    assert modem.data_to_send() == b""


def test_late_wakeups_keep_the_line_busy_but_never_exceed_the_rate() -> None:
    modem = dialed(baud=96000)  # 9600 bytes per second
    modem.handle_timer(T0 + 10)
    modem.data_to_send()
    payload = b"z" * 96000  # 10 s of line time
    start = T0 + 20
    modem.receive_network_data(payload, start)
    got = modem.data_to_send()
    now = start
    while len(got) < len(payload):
        now += 0.03  # the driver always wakes 30 ms later than asked (a loaded machine)
        modem.handle_timer(now)
        got += modem.data_to_send()
        assert len(got) <= (now - start) * 9600 + 9600 * (PACE_WINDOW + PACE_CATCH_UP) + 1
    assert now - start == pytest.approx(10.0, abs=0.1)  # late wake-ups cost no throughput


def test_without_baud_everything_is_released_at_once() -> None:
    modem = dialed()
    modem.receive_network_data(b"x" * 100000, T0 + 10)
    assert len(modem.data_to_send()) == 100000
    assert modem.get_timer() is None


# -- bad input ------------------------------------------------------------------------------------


def test_64k_line_without_newline_is_bounded_then_error() -> None:
    modem = boot()
    modem.receive_data(b"A" * 65536, T0 + 3)
    assert len(modem._line) <= MAX_LINE
    assert modem.data_to_send() == b""
    assert send(modem, b"") == b"\r\nERROR\r\n\r\n"
    assert modem.stats.overflows == 1
    assert send(modem, "AT") == b"\r\nOK\r\n\r\n"


def test_binary_noise_and_nuls_do_not_break_the_modem() -> None:
    rng = random.Random(1234)
    modem = boot(apn="internet")
    for i in range(200):
        chunk = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 300)))
        modem.receive_data(chunk, T0 + 3 + i * 0.001)
        modem.handle_timer(T0 + 3 + i * 0.001)
        modem.data_to_send()
        if modem.state != COMMAND:  # noise may even contain a valid dial; hang up and go on
            modem.network_closed(T0 + 3 + i * 0.001)
            modem.data_to_send()
        assert len(modem._line) <= MAX_LINE
        assert len(modem._pending_in) <= 4096
    modem.receive_data(b"\x00" * 1000, T0 + 4)
    modem.handle_timer(T0 + 9)
    modem.data_to_send()
    assert send(modem, b"\rATE0", T0 + 9).endswith(b"\r\nOK\r\n\r\n")
    assert send(modem, b"\rAT+CSQ", T0 + 9).endswith(b"\r\n+CSQ: 24,99\r\n\r\nOK\r\n\r\n")


def test_periodic_urc() -> None:
    modem = boot(urc_interval=10.0)
    modem.handle_timer(T0 + 10)
    assert modem.data_to_send() == b"\r\n+CIEV: service,  1\r\n"
    assert modem.get_timer() == pytest.approx(T0 + 20)


@pytest.mark.parametrize("profile", ["a7", "sim800", "sim7600", "quectel", "generic"])
def test_host_side_detects_each_simulated_identity(profile: str) -> None:
    """The host's ``--profile auto`` (pppos.at.profiles.detect_profile) recognises every simulated modem."""
    from pppos.at.profiles import detect_profile

    modem = boot(profile=profile)
    ati = send(modem, "ATI").decode()
    cgmm = send(modem, "AT+CGMM").decode()
    strip = [line for line in ati.split("\r\n") if line and line != "OK"]
    model = [line for line in cgmm.split("\r\n") if line and line != "OK"]
    assert detect_profile("\n".join(strip), "\n".join(model)).name == profile
