"""Simulator faults (``pppos.sim.faults``): parsing, the seeded line noise, the modem core's fault
methods cell by cell, and every fault through the real ``pppos-sim`` on a pty with ``pppos-sim ctl``."""

from __future__ import annotations

import glob
import os
import random
import re
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pppos.errors import ConfigError, ExitStatus
from pppos.sim.faults import (
    FAULTS,
    TERMINATE_WAIT,
    Fault,
    LineNoise,
    Timers,
    ctl_path,
    lcp_terminate_request,
    parse_fault,
    parse_schedule,
)
from pppos.sim.modem import SimConfig, SimModem
from tests.sim_helpers import chat, hdlc_frame, hdlc_frames, need_slirp, open_link, read_until, start_sim, stop_sim

# -- parsing --------------------------------------------------------------------------------------


def test_every_fault_parses_with_its_argument() -> None:
    for name, spec in FAULTS.items():
        number = "0.25" if name == "noise" else "2"
        words = [name] if spec.arg is None else [name, number]
        fault = parse_fault(words)
        assert fault.name == name
        assert fault.value == (None if spec.arg is None else float(number))
        assert parse_fault(str(fault).split()) == fault  # the wire form round-trips


@pytest.mark.parametrize(
    ("words", "message"),
    [
        ([], "no fault given"),
        (["explode"], "unknown fault 'explode'"),
        (["carrier", "3"], "takes no argument"),
        (["mute"], "takes one argument"),
        (["mute", "soon"], "bad SECONDS"),
        (["mute", "-1"], "bad SECONDS"),
        (["mute", "inf"], "bad SECONDS"),
        (["noise", "1.5"], "below 1"),
        (["pdp-reject", "0"], "bad N"),
        (["pdp-reject", "1.5"], "whole number"),
    ],
)
def test_bad_faults_are_one_line_config_errors(words: list[str], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_fault(words)
    assert message in str(info.value) and "\n" not in str(info.value)
    assert info.value.exit_status == ExitStatus.USAGE


def test_unknown_fault_names_list_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="choose one of carrier, mute, reboot"):
        parse_fault(["Carrier-Loss"])


def test_schedule_sorted_with_comments_and_line_numbers() -> None:
    text = "# faults\n\n5 carrier   # drop it\n1.5 mute 2\n"
    schedule = parse_schedule(text, "f.txt")
    assert [(s.at, s.fault) for s in schedule] == [(1.5, Fault(name="mute", value=2.0)), (5.0, Fault(name="carrier"))]
    with pytest.raises(ConfigError, match=r"^f.txt line 2: unknown fault 'bogus'"):
        parse_schedule("1 carrier\n2 bogus\n", "f.txt")
    with pytest.raises(ConfigError, match=r"^f.txt line 1: each line starts with the seconds"):
        parse_schedule("soon carrier\n", "f.txt")


# -- noise, timers, frames ------------------------------------------------------------------------------


def test_noise_is_seeded_chunking_independent_and_near_its_rate() -> None:
    data = bytes(range(256)) * 200  # 409,600 bits
    one = LineNoise(random.Random(7))
    one.set_rate(0.001)
    whole = one.apply(data)
    two = LineNoise(random.Random(7))
    two.set_rate(0.001)
    pieces = b"".join(two.apply(data[i : i + 1000]) for i in range(0, len(data), 1000))
    assert whole == pieces  # the same seed flips the same bits, however the bytes are chunked
    flipped = sum(bin(a ^ b).count("1") for a, b in zip(whole, data, strict=True))
    assert flipped == one.flipped
    assert 300 < flipped < 520  # 410 expected at 1e-3
    other = LineNoise(random.Random(8))
    other.set_rate(0.001)
    assert other.apply(data) != whole
    off = LineNoise(random.Random(7))
    assert off.apply(data) == data
    off.set_rate(0.001)
    off.set_rate(0)
    assert off.apply(data) == data


def test_timers_run_in_time_order_then_insertion_order() -> None:
    timers = Timers()
    ran: list[str] = []
    timers.add(2.0, lambda now: ran.append("b"))
    timers.add(1.0, lambda now: ran.append("a"))
    timers.add(2.0, lambda now: ran.append("c"))
    assert timers.deadline() == 1.0
    timers.run_due(1.5)
    assert ran == ["a"] and timers.deadline() == 2.0
    timers.run_due(2.0)
    assert ran == ["a", "b", "c"] and timers.deadline() is None


def test_terminate_request_frame_is_valid_lcp() -> None:
    frames = hdlc_frames(lcp_terminate_request(0x7E))  # an identifier that needs escaping
    assert frames == [b"\xff\x03\xc0\x21\x05\x7e\x00\x04"]  # RFC 1661 5.5: code 5, id, length 4


# -- the modem core's fault methods ---------------------------------------------------------------------


def _modem(**kwargs: object) -> tuple[SimModem, float]:
    config = {"apn": "internet", "registration_delay": 1.0, **kwargs}
    modem = SimModem(SimConfig(**config))  # type: ignore[arg-type]
    modem.power_on(0.0)
    modem.handle_timer(5.0)
    modem.data_to_send()
    return modem, 5.0


def _say(modem: SimModem, line: str, now: float) -> str:
    modem.receive_data(line.encode() + b"\r", now)
    return modem.data_to_send().decode("latin-1")


def test_stuck_dial_errors_until_radio_off_then_on() -> None:
    modem, now = _modem()
    _say(modem, "ATE0", now)
    modem.make_stuck()
    assert "\r\nERROR\r\n" in _say(modem, "ATD*99#", now)
    assert "OK" in _say(modem, "AT+CFUN=1", now)  # on while on: no cycle, still stuck
    assert "\r\nERROR\r\n" in _say(modem, "ATD*99#", now)
    assert "OK" in _say(modem, "AT+CFUN=0", now)
    assert "+CFUN: 0" in _say(modem, "AT+CFUN?", now)
    assert modem.registration_stat(now) == 0  # radio off: not registered
    assert "OK" in _say(modem, "AT+CFUN=1", now)
    assert not modem.stuck
    assert "NO CARRIER" in _say(modem, "ATD*99#", now)  # registering again first
    modem.handle_timer(now + 1.0)
    assert "CONNECT" in _say(modem, "ATD*99#", now + 1.0)


@pytest.mark.parametrize("reset", ["AT+CFUN=1,1", "AT+RST"])
def test_stuck_cleared_by_a_reset(reset: str) -> None:
    modem, now = _modem(boot_delay=0.5)
    _say(modem, "ATE0", now)
    modem.make_stuck()
    assert "OK" in _say(modem, reset, now)
    assert not modem.stuck
    modem.handle_timer(now + 3.0)
    modem.data_to_send()
    _say(modem, "ATE0", now + 3.0)
    assert "CONNECT" in _say(modem, "ATD*99#", now + 3.0)


def test_pdp_reject_refuses_the_next_n_dials_even_across_a_reboot() -> None:
    modem, now = _modem()
    _say(modem, "ATE0", now)
    modem.reject_dials(2)
    assert "NO CARRIER" in _say(modem, "ATD*99#", now)
    modem.reboot(now)
    modem.handle_timer(now + 3.0)
    modem.data_to_send()
    _say(modem, "ATE0", now + 3.0)
    assert "NO CARRIER" in _say(modem, "ATD*99#", now + 3.0)
    assert "CONNECT" in _say(modem, "ATD*99#", now + 3.0)


def test_registration_lost_midway_drops_the_call_and_comes_back() -> None:
    modem, now = _modem()
    _say(modem, "ATE0", now)
    assert "CONNECT" in _say(modem, "ATD*99#", now)
    modem.set_registration("searching", now + 1)
    out = modem.data_to_send().decode("latin-1")
    assert "NO CARRIER" in out and "+CREG: 2" in out  # the A7 reports unsolicited +CREG by default
    assert not modem.in_call and modem.registration_stat(now + 1) == 2
    modem.set_registration("home", now + 2)
    assert modem.registration_stat(now + 2.5) == 2  # registering takes registration_delay
    modem.handle_timer(now + 3.0)
    assert "+CREG: 1" in modem.data_to_send().decode("latin-1")
    assert "CONNECT" in _say(modem, "ATD*99#", now + 3.0)


def test_registration_denied_midway() -> None:
    modem, now = _modem(profile="sim800")
    _say(modem, "ATE0", now)
    _say(modem, "AT+CREG=1", now)
    modem.set_registration("denied", now)
    assert "+CREG: 3" in modem.data_to_send().decode("latin-1")
    assert "NO CARRIER" in _say(modem, "ATD*99#", now)


def test_reboot_ends_the_call_silently_and_wants_the_pin_again() -> None:
    modem, now = _modem(pin="1234", boot_delay=0.5)
    _say(modem, "ATE0", now)
    _say(modem, 'AT+CPIN="1234"', now)
    modem.handle_timer(now + 2)
    modem.data_to_send()
    assert "CONNECT" in _say(modem, "ATD*99#", now + 2)
    modem.reboot(now + 3)
    assert modem.data_to_send() == b""  # no NO CARRIER: the modem just went away
    assert not modem.in_call
    assert _say(modem, "AT", now + 3.2) == ""  # still booting: input dropped
    modem.handle_timer(now + 4)
    assert "^CINIT" in modem.data_to_send().decode("latin-1")  # boot URCs after the boot latency
    assert "+CPIN: SIM PIN" in _say(modem, "AT+CPIN?", now + 4)


def test_dial_delay_answers_connect_later_and_keeps_early_data() -> None:
    modem, now = _modem(dial_delay=0.5)
    _say(modem, "ATE0", now)
    assert _say(modem, "ATD*99#", now) == ""
    modem.receive_data(b"~ppp~", now + 0.1)  # the host sent PPP before CONNECT: kept for the peer
    modem.handle_timer(now + 0.5)
    assert "CONNECT" in modem.data_to_send().decode("latin-1")
    assert modem.network_data_to_send() == b"~ppp~"


def test_latencies_are_checked() -> None:
    with pytest.raises(ConfigError, match="bad dial delay"):
        SimConfig(dial_delay=-1)


# -- through the real simulator (pty) ------------------------------------------------------------------


def ctl(link: Path, *words: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pppos.cli.sim", "ctl", "--link", str(link), *words],
                          capture_output=True, text=True, timeout=30)


def ok(link: Path, *words: str) -> str:
    result = ctl(link, *words)
    assert result.returncode == 0, result.stderr
    return result.stdout


def registered(fd: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if re.search(r"\+CREG: \d,[15]\r\n", chat(fd, "AT+CREG?")):
            return
        time.sleep(0.1)
    raise AssertionError("never registered")


def dial(fd: int) -> str:
    return chat(fd, "ATD*99#", timeout=5)


@pytest.fixture
def sim(tmp_path: Path):
    """A --fast A7 with no network peer (data goes nowhere), its link opened raw with echo off."""
    proc, link, _ = start_sim(tmp_path, "--network", "none", "--apn", "internet", "--seed", "1", "-v")
    fd = open_link(link)
    time.sleep(0.3)
    read_until(fd, lambda b: False, 0.1)
    chat(fd, "ATE0")
    registered(fd)
    yield proc, link, fd
    os.close(fd)
    assert stop_sim(proc) == 0


def test_ctl_socket_is_private_and_removed_at_exit(tmp_path: Path) -> None:
    proc, link, _ = start_sim(tmp_path, "--network", "none")
    path = ctl_path(link)
    try:
        assert path == tmp_path / "modem.ctl"
        mode = os.stat(path).st_mode
        assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600
        # A second simulator on the same live link is refused in one line.
        second = subprocess.run([sys.executable, "-m", "pppos.cli.sim", "--link", str(link), "--network", "none"],
                                capture_output=True, text=True, timeout=30)
        assert second.returncode == ExitStatus.USAGE
        assert second.stderr.strip().count("\n") == 0 and "another pppos-sim serves" in second.stderr
    finally:
        assert stop_sim(proc) == 0
    assert not path.exists() and not link.exists()


def test_ctl_errors_are_one_line_with_distinct_statuses(tmp_path: Path) -> None:
    link = tmp_path / "modem"
    nobody = ctl(link, "carrier")
    assert nobody.returncode == ExitStatus.NO_MODEM
    assert nobody.stderr.count("\n") == 1 and "no simulator listens on" in nobody.stderr
    unknown = ctl(link, "meteor")
    assert unknown.returncode == ExitStatus.USAGE
    assert unknown.stderr.count("\n") == 1 and "unknown fault 'meteor'" in unknown.stderr
    bad = ctl(link, "mute", "forever")
    assert bad.returncode == ExitStatus.USAGE and bad.stderr.count("\n") == 1
    assert "Traceback" not in nobody.stderr + unknown.stderr + bad.stderr
    # A stale socket (a killed simulator's) is "nobody there" too.
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(ctl_path(link)))
    stale.close()
    assert ctl(link, "carrier").returncode == ExitStatus.NO_MODEM


def test_server_rejects_unknown_names_on_the_wire(sim) -> None:
    _, link, _ = sim
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(str(ctl_path(link)))
        sock.sendall(b"self-destruct\n")
        assert sock.recv(256).startswith(b"error unknown fault 'self-destruct'")


def test_carrier_loss(sim) -> None:
    _, link, fd = sim
    assert "CONNECT" in dial(fd)
    assert "call dropped" in ok(link, "carrier")
    assert b"NO CARRIER" in read_until(fd, lambda b: b"NO CARRIER" in b, 5)
    assert "CONNECT" in dial(fd)  # the modem can dial again at once
    assert "call dropped" in ok(link, "carrier")
    read_until(fd, lambda b: b"NO CARRIER" in b, 5)
    assert "no call was up" in ok(link, "carrier")


def test_mute_then_answers_again(sim) -> None:
    _, link, fd = sim
    ok(link, "mute", "2")
    os.write(fd, b"AT\r")
    assert read_until(fd, lambda b: b"OK" in b, 1.0) == b""  # a frozen modem says nothing
    time.sleep(1.2)
    assert "OK" in chat(fd, "AT")


def test_mute_stops_data_in_a_call(tmp_path: Path) -> None:
    need_slirp()
    proc, link, _ = start_sim(tmp_path, "--apn", "internet")
    fd = open_link(link)
    try:
        time.sleep(0.3)
        chat(fd, "ATE0")
        registered(fd)
        assert "CONNECT" in dial(fd)
        req = hdlc_frame(bytes.fromhex("ff03c021" "0101000a" "050612345678"))
        os.write(fd, req)
        assert read_until(fd, lambda b: b"\x7e" in b, 5)  # slirp answers
        ok(link, "mute", "3")
        read_until(fd, lambda b: False, 0.3)
        os.write(fd, req)
        assert read_until(fd, lambda b: False, 1.5) == b""  # nothing either way while mute
        time.sleep(1.5)
        os.write(fd, req)
        assert read_until(fd, lambda b: b"\x7e" in b, 5)  # slirp answers again
    finally:
        os.close(fd)
        assert stop_sim(proc) == 0


def test_reboot_boot_urcs_and_pin_again(tmp_path: Path) -> None:
    proc, link, _ = start_sim(tmp_path, "--network", "none", "--apn", "internet", "--pin", "1234")
    fd = open_link(link)
    try:
        time.sleep(0.3)
        chat(fd, "ATE0")
        assert "OK" in chat(fd, 'AT+CPIN="1234"')
        registered(fd)
        assert "CONNECT" in dial(fd)
        assert "rebooting" in ok(link, "reboot")
        boot = read_until(fd, lambda b: b"+CREG: 0" in b, 5)
        assert b"^CINIT: 1" in boot and b"NO CARRIER" not in boot
        assert "+CPIN: SIM PIN" in chat(fd, "AT+CPIN?")
        assert "+CME ERROR:11" in dial(fd)
    finally:
        os.close(fd)
        assert stop_sim(proc) == 0
    assert b"1234" not in proc.stderr.read()


def test_usb_vanish_and_return_at_the_same_link(sim) -> None:
    _, link, fd = sim
    old = os.readlink(link)
    assert "CONNECT" in dial(fd)
    assert "port gone" in ok(link, "vanish", "1.5")
    # The open port is dead: reads fail (EIO) or hang up, writes fail.
    assert read_until(fd, lambda b: False, 0.5) == b""
    with pytest.raises(OSError):
        for _ in range(3):
            os.write(fd, b"AT\r")
            time.sleep(0.1)
    assert not os.path.lexists(link)
    deadline = time.monotonic() + 10
    while not os.path.lexists(link) and time.monotonic() < deadline:
        time.sleep(0.05)
    new = os.readlink(link)
    assert new != old or os.path.exists(new)
    again = open_link(link)
    try:
        boot = read_until(again, lambda b: b"+CREG: 0" in b, 5)
        assert b"^CINIT: 1" in boot  # the modem booted
        chat(again, "ATE0")
        registered(again)
        assert "CONNECT" in dial(again)
    finally:
        os.close(again)


def test_noise_is_deterministic_with_the_seed(tmp_path: Path) -> None:
    def run(seed: str, sub: str) -> bytes:
        directory = tmp_path / sub
        directory.mkdir()
        proc, link, _ = start_sim(directory, "--network", "none", "--seed", seed)
        fd = open_link(link)
        try:
            read_until(fd, lambda b: False, 0.5)  # boot and registration URCs
            ok(link, "noise", "0.01")
            payload = bytes(0x41 + i % 26 for i in range(900))  # echoed, no CR: never a command
            os.write(fd, payload)
            got = read_until(fd, lambda b: len(b) >= len(payload), 5)
            ok(link, "noise", "0")
            return got
        finally:
            os.close(fd)
            stop_sim(proc)

    first, second, other = run("11", "a"), run("11", "b"), run("12", "c")
    assert first == second
    assert first != other
    clean = bytes(0x41 + i % 26 for i in range(900))
    assert first != clean and len(first) == len(clean)  # flips, no bytes lost or added


def test_peer_terminate_request_then_hangup_after_the_ack(sim) -> None:
    _, link, fd = sim
    assert "CONNECT" in dial(fd)
    assert "Terminate-Request sent" in ok(link, "terminate")
    data = read_until(fd, lambda b: any(f[4:5] == b"\x05" for f in hdlc_frames(b)), 5)
    (request,) = [f for f in hdlc_frames(data) if f[:4] == b"\xff\x03\xc0\x21"]
    assert request[4] == 5
    os.write(fd, hdlc_frame(b"\xff\x03\xc0\x21\x06" + request[5:6] + b"\x00\x04"))
    assert b"NO CARRIER" in read_until(fd, lambda b: b"NO CARRIER" in b, 2)
    assert "CONNECT" in dial(fd)


def test_peer_terminate_request_hangs_up_without_an_ack(sim) -> None:
    _, link, fd = sim
    assert "CONNECT" in dial(fd)
    ok(link, "terminate")
    assert b"NO CARRIER" in read_until(fd, lambda b: b"NO CARRIER" in b, TERMINATE_WAIT + 3)


@pytest.mark.parametrize(("fault", "stat"), [("reg-lost", 2), ("reg-denied", 3)])
def test_registration_lost_or_denied_midway(sim, fault: str, stat: int) -> None:
    _, link, fd = sim
    assert "CONNECT" in dial(fd)
    ok(link, fault, "1")
    out = read_until(fd, lambda b: f"+CREG: {stat}".encode() in b, 5)
    assert b"NO CARRIER" in out
    assert f"+CREG: 1,{stat}" in chat(fd, "AT+CREG?")
    assert "NO CARRIER" in dial(fd)
    registered(fd)
    assert "CONNECT" in dial(fd)


def test_pdp_reject_next_two_dials(sim) -> None:
    _, link, fd = sim
    assert "next 2 dials" in ok(link, "pdp-reject", "2")
    assert "NO CARRIER" in dial(fd)
    assert "NO CARRIER" in dial(fd)
    assert "CONNECT" in dial(fd)


def test_stuck_until_radio_off_and_on(sim) -> None:
    _, link, fd = sim
    ok(link, "stuck")
    assert dial(fd).strip() == "ERROR"
    assert "OK" in chat(fd, "AT+CFUN=0")
    assert "OK" in chat(fd, "AT+CFUN=1")
    registered(fd)
    assert "CONNECT" in dial(fd)


def test_stuck_until_the_profiles_reset(sim) -> None:
    _, link, fd = sim
    ok(link, "stuck")
    assert dial(fd).strip() == "ERROR"
    assert "OK" in chat(fd, "AT+RST")  # the A7's reset: the modem boots again
    read_until(fd, lambda b: b"+CREG: 0" in b, 5)
    chat(fd, "ATE0")
    registered(fd)
    assert "CONNECT" in dial(fd)


def test_profile_reset_brings_back_the_stored_v0_q1(tmp_path: Path) -> None:
    proc, link, _ = start_sim(tmp_path, "--network", "none", "--stored-profile", "V0Q1E0", "--seed", "1")
    fd = open_link(link)
    try:
        time.sleep(0.3)
        read_until(fd, lambda b: False, 0.1)
        os.write(fd, b"AT\r")
        assert read_until(fd, lambda b: False, 0.5) == b""  # quiet: no result code at all
        assert chat(fd, "ATQ0V1").strip() == "OK"
        assert "back to the stored E0Q1V0" in ok(link, "profile-reset")
        os.write(fd, b"AT\r")
        assert read_until(fd, lambda b: False, 0.5) == b""
        os.write(fd, b"ATQ0\r")
        assert read_until(fd, lambda b: b.endswith(b"0\r"), 2.0) == b"0\r"  # talking again, numeric (V0)
    finally:
        os.close(fd)
        assert stop_sim(proc) == 0


def test_faults_file_schedule(tmp_path: Path) -> None:
    schedule = tmp_path / "faults.txt"
    schedule.write_text("# stuck from the start\n0 stuck\n")
    proc, link, _ = start_sim(tmp_path, "--network", "none", "--apn", "internet", "--faults", str(schedule))
    fd = open_link(link)
    try:
        time.sleep(0.3)
        chat(fd, "ATE0")
        registered(fd)
        assert dial(fd).strip() == "ERROR"
    finally:
        os.close(fd)
        assert stop_sim(proc) == 0
    schedule.write_text("1 carrier\n2 explode\n")
    bad = subprocess.run([sys.executable, "-m", "pppos.cli.sim", "--link", str(tmp_path / "x"),
                          "--faults", str(schedule)], capture_output=True, text=True, timeout=30)
    assert bad.returncode == ExitStatus.USAGE
    assert bad.stderr.count("\n") == 1 and "line 2: unknown fault 'explode'" in bad.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_slirp_home_removed_after_any_end(tmp_path: Path, sig: int) -> None:
    need_slirp()
    proc, link, _ = start_sim(tmp_path, "--apn", "internet")
    fd = open_link(link)
    try:
        time.sleep(0.3)
        chat(fd, "ATE0")
        registered(fd)
        assert "CONNECT" in dial(fd)
        homes = []
        deadline = time.monotonic() + 5
        while not homes and time.monotonic() < deadline:
            homes = glob.glob(f"/tmp/pppos-slirp-{proc.pid}-*")
            time.sleep(0.05)
        assert homes
    finally:
        os.close(fd)
        stop_sim(proc, sig)
    if sig == signal.SIGKILL:
        # Nothing could clean up; the next simulator's start removes what a dead owner left.
        assert os.path.isdir(homes[0])
        deadline = time.monotonic() + 5
        while ctl_path(link).exists() and ctl(link, "carrier").returncode == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        again, _, _ = start_sim(tmp_path, "--network", "none")
        stop_sim(again)
    assert not os.path.exists(homes[0])
