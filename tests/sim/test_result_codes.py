"""The simulator's result-code settings (V.250 6.2.4 ATE, 6.2.5 ATQ, 6.2.6 ATV) and its stored profile
(``--stored-profile``, ``AT&W``, ``AT&F``, ``ATZ``, reboot), byte for byte."""

from __future__ import annotations

import pytest

from pppos.errors import ConfigError
from pppos.sim.modem import SimConfig, SimModem, parse_stored_profile

T0 = 1000.0


def booted(profile: str = "sim800", stored: str = "") -> SimModem:
    """A powered modem in its stored profile, boot URCs and registration drained."""
    modem = SimModem(SimConfig(profile=profile, stored_profile=stored, registration_delay=0.2))
    modem.power_on(T0)
    modem.handle_timer(T0 + 2.0)
    modem.data_to_send()
    return modem


def send(modem: SimModem, line: str, now: float = T0 + 3.0) -> bytes:
    modem.receive_data(line.encode() + b"\r", now)
    return modem.data_to_send()


@pytest.mark.parametrize(
    ("line", "answer"),
    [
        ("AT", b"0\r"),
        ("ATX9Y", b"4\r"),  # an unknown command: ERROR
        ("ATI", b"SIM800 R14.18\r\n0\r"),
        ("AT+CPIN?", b"+CPIN: READY\r\n0\r"),
        ('AT+CPIN="1234"', b"+CME ERROR: 3\r\n"),  # no number of its own: its text, CR LF (ModemManager's V0 form)
        ("ATV1", b"\r\nOK\r\n"),  # the new setting formats its own result
    ],
)
def test_v0_sends_numeric_codes_and_bare_information_text(line: str, answer: bytes) -> None:
    modem = booted(stored="V0E0")
    modem.cmee = 1
    assert send(modem, line) == answer


def test_v0_dial_answers_1_and_escape_0() -> None:
    modem = booted(stored="V0E0")
    assert send(modem, 'AT+CGDCONT=1,"IP","internet"') == b"0\r"
    assert send(modem, "ATD*99#", T0 + 4) == b"1\r"
    modem.receive_data(b"+++", T0 + 6)
    modem.handle_timer(T0 + 7.5)
    assert modem.data_to_send() == b"0\r"
    assert send(modem, "ATH", T0 + 8) == b"0\r"


def test_q1_sends_no_result_codes_but_information_and_urcs() -> None:
    modem = booted(stored="Q1E0")
    assert send(modem, "AT") == b""
    assert send(modem, "ATX9Y") == b""
    assert send(modem, "AT+CSQ") == b"\r\n+CSQ: 24,99\r\n"
    assert send(modem, "ATQ0") == b"\r\nOK\r\n"
    assert send(modem, "ATQ1") == b""


def test_e1_echoes_before_the_answer_in_any_form() -> None:
    assert send(booted(stored="E1"), "AT") == b"AT\r\r\nOK\r\n"
    assert send(booted(stored="V0E1"), "AT") == b"AT\r0\r"
    assert send(booted(stored="Q1E1"), "AT") == b"AT\r"
    assert send(booted(stored="E0"), "AT") == b"\r\nOK\r\n"


def test_the_a7_extra_blank_line_is_verbose_only() -> None:
    assert send(booted("a7", "E0"), "AT") == b"\r\nOK\r\n\r\n"
    assert send(booted("a7", "E0V0"), "AT") == b"0\r"


def test_sync_line_from_the_worst_stored_profile() -> None:
    modem = booted(stored="V0Q1E1")
    assert send(modem, "ATE0Q0V1") == b"ATE0Q0V1\r\r\nOK\r\n"
    assert (modem.echo, modem.quiet, modem.verbose) == (False, False, True)
    assert send(modem, "AT") == b"\r\nOK\r\n"


def test_atz_restores_the_stored_profile_and_at_w_changes_it() -> None:
    modem = booted(stored="V0E0")
    assert send(modem, "ATV1") == b"\r\nOK\r\n"
    assert send(modem, "ATZ") == b"0\r"  # back to the stored V0
    assert send(modem, "ATV1Q1&W") == b""  # quiet now, and stored so
    assert send(modem, "ATZ") == b""
    modem.reboot(T0 + 10)
    modem.handle_timer(T0 + 20)
    modem.data_to_send()
    assert (modem.verbose, modem.quiet) == (True, True)  # the stored profile survives a reboot
    assert send(modem, "AT&F", T0 + 21) == b"\r\nOK\r\n"  # factory: talking, verbose, and echo on now
    assert send(modem, "ATZ", T0 + 22) == b"ATZ\r"  # echoed under E1, then the stored E0 Q1 V1: no result
    assert (modem.echo, modem.quiet, modem.verbose) == (False, True, True)


def test_a7_atz_without_a_call_keeps_its_quirk() -> None:
    modem = booted("a7", "V0E0")
    assert send(modem, "ATV1") == b"\r\nOK\r\n\r\n"
    assert send(modem, "ATZ") == b"\r\n+CME ERROR:58\r\n\r\n"
    assert modem.verbose is True


def test_reboot_fault_restores_the_stored_profile() -> None:
    modem = booted(stored="V0Q1E1")
    send(modem, "ATE0Q0V1")
    modem.reboot(T0 + 10)
    assert (modem.echo, modem.quiet, modem.verbose) == (True, True, False)


@pytest.mark.parametrize(
    ("text", "settings"),
    [
        ("", {"E": 1, "Q": 0, "V": 1}),
        ("V0Q1E1", {"E": 1, "Q": 1, "V": 0}),
        ("v0 q1", {"E": 1, "Q": 1, "V": 0}),
        ("ATE0", {"E": 0, "Q": 0, "V": 1}),
    ],
)
def test_parse_stored_profile(text: str, settings: dict[str, int]) -> None:
    assert parse_stored_profile(text) == settings


@pytest.mark.parametrize("text", ["V2", "V0V1", "X1", "V", "E0Q", "Q1\u00b9", "&W"])
def test_bad_stored_profile_is_a_config_error(text: str) -> None:
    with pytest.raises(ConfigError, match="stored profile"):
        SimConfig(stored_profile=text)


def test_bad_stored_profile_option_is_one_line_and_status_2(capsys: pytest.CaptureFixture[str]) -> None:
    from pppos.cli.sim import main

    assert main(["--network", "none", "--stored-profile", "V7"]) == 2
    err = capsys.readouterr().err
    assert "bad stored profile" in err and "Traceback" not in err
    assert len([line for line in err.splitlines() if "error:" in line]) == 1
