"""Modem profiles: the registry, the A7 quirks, and ``--profile auto`` detection."""

from __future__ import annotations

import dataclasses

import pytest

from pppos.at.profiles import PROFILES, detect_profile, get_profile
from pppos.errors import ConfigError, ExitStatus


def test_registry_has_the_six_profiles() -> None:
    assert set(PROFILES) == {"a7", "sim800", "sim7600", "quectel5g", "quectel", "generic"}
    for name, profile in PROFILES.items():
        assert profile.name == name
        assert profile.dial.startswith("ATD")
        assert profile.registration and all(c.endswith("?") for c in profile.registration)


def test_profiles_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        PROFILES["a7"].dial = "ATD*99#"  # type: ignore[misc]


def test_a7_quirks() -> None:
    a7 = PROFILES["a7"]
    assert 58 in a7.benign_hangup_errors
    assert a7.extra_blank_line and a7.connect == "CONNECT" and a7.cmux_error == 53
    assert a7.reset_command == "+RST" and PROFILES["sim7600"].reset_command == "+CRESET"
    assert PROFILES["sim7600"].connect == "CONNECT 115200" and PROFILES["sim7600"].has_cereg and not a7.has_cereg
    assert a7.dial == "ATD*99***1#"
    assert 58 not in PROFILES["generic"].benign_hangup_errors
    assert "AT+CEREG?" in PROFILES["sim7600"].registration


@pytest.mark.parametrize(
    ("ati", "cgmm", "expected"),
    [
        ("Ai Thinker Co.LTD\nA7\nV03.03.20161229013H", "A7", "a7"),
        ("AI-THINKER A6", "", "a7"),
        ("", "A9G", "generic"),
        ("SIM800 R14.18", "SIMCOM_SIM800L", "sim800"),
        ("Manufacturer: SIMCOM INCORPORATED\nModel: SIMCOM_SIM7600E-H", "SIMCOM_SIM7600E-H", "sim7600"),
        ("", "A7670E-LASE", "sim7600"),
        ("Quectel\nEC25\nRevision: EC25EFAR06A06M4G", "EC25", "quectel"),
        ("", "BG96", "quectel"),
        ("Telit\nLE910", "LE910", "generic"),
        ("", "", "generic"),
    ],
)
def test_detect_profile(ati: str, cgmm: str, expected: str) -> None:
    assert detect_profile(ati, cgmm).name == expected


def test_a7670_is_not_taken_for_an_a7() -> None:
    assert detect_profile("A7670E", "A7670E").name == "sim7600"


def test_get_profile_unknown_is_a_config_error() -> None:
    assert get_profile("a7") is PROFILES["a7"]
    with pytest.raises(ConfigError) as info:
        get_profile("nokia")
    assert info.value.exit_status is ExitStatus.USAGE
    assert "a7" in str(info.value) and "auto" in str(info.value)


def test_one_registry_serves_host_simulator_and_clis() -> None:
    """Issue 12: the simulator's dialects, the CLIs' --profile choices and help come from PROFILES."""
    from pppos.at.profiles import profile_help
    from pppos.cli.probe import _parser as probe_parser
    from pppos.cli.sim import build_parser as sim_parser
    from pppos.sim import modem as sim

    assert sim.PROFILES is PROFILES
    assert list(PROFILES)[-1] == "generic"  # detection order: generic is the fallback
    for name, profile in PROFILES.items():
        assert name in profile_help() and profile.description in profile_help()
    for parser, extra in ((probe_parser(), ["auto"]), (sim_parser(), [])):
        action = next(a for a in parser._actions if "--profile" in a.option_strings)
        assert list(action.choices or []) == [*extra, *PROFILES]
        assert "sim7600" in (action.help or "")


@pytest.mark.parametrize("name", list(PROFILES))
def test_each_profile_detects_its_own_simulated_banner(name: str) -> None:
    profile = PROFILES[name]
    assert detect_profile("\n".join(profile.ati), f"{profile.manufacturer} {profile.model}").name == name


def test_a_5g_modem_is_one_entry() -> None:
    """Issue 12: adding a modem is one registry entry; the Quectel RM500Q asks +C5GREG too."""
    rm500q = PROFILES["quectel5g"]
    assert "AT+C5GREG?" in rm500q.registration and rm500q.knows_domain("C5GREG")
    assert detect_profile("Quectel\nRM500Q-GL\nRevision: RM500QGLABR11A06M4G", "RM500Q-GL").name == "quectel5g"
    assert detect_profile("Quectel\nEC25", "EC25").name == "quectel"
    assert "AT+C5GREG?" in PROFILES["generic"].registration
