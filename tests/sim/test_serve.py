"""The real ``pppos-sim`` on a pty: start-up line, echo and the A7 blank line, reconnects, signals,
bad input, and a PPP LCP exchange with slirp through the simulated modem (RFC 1661 section 5.1)."""

from __future__ import annotations

import contextlib
import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.sim_helpers import (
    LCP_CONFREQ,
    chat,
    hdlc_frame,
    hdlc_frames,
    need_slirp,
    open_link,
    ppp_frame,
    ppp_packet,
    read_until,
    run_sim,
    start_sim,
    stop_sim,
)


def write_all(fd: int, data: bytes, timeout: float = 10.0) -> None:
    """Write everything to a non-blocking fd, reading (and dropping) what comes back meanwhile."""
    deadline = time.monotonic() + timeout
    view = memoryview(data)
    while view:
        assert time.monotonic() < deadline, "the simulator stopped reading"
        _, writable, _ = select.select([], [fd], [], 0.2)
        if writable:
            with contextlib.suppress(BlockingIOError):
                view = view[os.write(fd, view) :]
        read_until(fd, lambda b: True, 0)  # drain the echo


def wait_registered(fd: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if re.search(r"\+CREG: \d,[15]\r\n", chat(fd, "AT+CREG?")):
            return
        time.sleep(0.2)
    raise AssertionError("the simulated modem never registered")


def lcp_frames(stream: bytes) -> list[bytes]:
    return [f for f in hdlc_frames(stream) if f[:4] == b"\xff\x03\xc0\x21"]


def escape(fd: int, guard: float = 1.2) -> str:
    """The guarded ``+++``: 1 s of silence, the three characters alone, 1 s of silence, then OK."""
    read_until(fd, lambda b: False, guard)  # guard time (reading whatever the peer still sends)
    os.write(fd, b"+++")
    return read_until(fd, lambda b: b"\r\nOK\r\n" in b, 8.0).decode("latin-1")


def test_start_line_symlink_and_sigterm_cleanup(tmp_path: Path) -> None:
    proc, link, line = start_sim(tmp_path, "--network", "none")
    try:
        expected = rf"pppos-sim: a7 modem on {re.escape(str(link))} \(pty /dev/pts/\d+\), network none\n"
        assert re.fullmatch(expected, line)
        assert link.is_symlink()
        assert os.readlink(link) in line
    finally:
        status = stop_sim(proc, signal.SIGTERM)
    assert status == 0
    assert not link.exists() and not link.is_symlink()
    assert b"Traceback" not in proc.stderr.read()


def test_sigint_also_cleans_up_and_replaces_a_stale_link(tmp_path: Path) -> None:
    stale = tmp_path / "modem"
    stale.symlink_to("/dev/pts/does-not-exist")
    proc, link, _ = start_sim(tmp_path, "--network", "none", "--profile", "sim800")
    try:
        assert link == stale and os.readlink(link).startswith("/dev/pts/")
        assert os.readlink(link) != "/dev/pts/does-not-exist"
    finally:
        status = stop_sim(proc, signal.SIGINT)
    assert status == 0
    assert not link.is_symlink()


def test_boot_echo_ate0_and_the_extra_blank_line(tmp_path: Path) -> None:
    with run_sim(tmp_path, "--network", "none") as link:
        fd = open_link(link)
        try:
            # (URCs from boot and registration may come between the replies: check with "in")
            reply = chat(fd, "AT")
            assert "AT\r\r\nOK\r\n\r\n" in reply  # echo on at boot, blank line after OK
            assert "ATE0\r\r\nOK\r\n\r\n" in chat(fd, "ATE0")
            reply = chat(fd, "AT+CGMM")
            assert "AT+CGMM" not in reply
            assert "\r\nA7\r\n\r\nOK\r\n\r\n" in reply
            assert "+SCID: SIM Card ID:" in chat(fd, "AT+CCID")
            assert "\r\n+CME ERROR:58\r\n\r\n" in chat(fd, "ATH")
        finally:
            os.close(fd)


def test_the_port_can_be_reopened_and_pacing_delivers_everything(tmp_path: Path) -> None:
    with run_sim(tmp_path, "--network", "none", "--baud", "9600") as link:
        for _ in range(2):
            fd = open_link(link)
            try:
                reply = chat(fd, "ATI", timeout=5)
                # (a boot URC may follow the reply: it is due 50 ms after start-up)
                assert "ATI\r\r\nAi-Thinker Co.,Ltd.\r\n\r\nA7\r\n\r\nV03.03.20170721R\r\n\r\nOK\r\n" in reply
            finally:
                os.close(fd)
            time.sleep(0.3)  # let the simulator see the close


def test_pin_and_denied_registration_over_the_pty(tmp_path: Path) -> None:
    proc, link, line = start_sim(tmp_path, "-v", "--network", "none", "--pin", "1234", "--registration", "denied")
    try:
        fd = open_link(link)
        try:
            chat(fd, "ATE0")
            assert "+CPIN: SIM PIN" in chat(fd, "AT+CPIN?")
            assert chat(fd, 'AT+CPIN="1234"').endswith("\r\nOK\r\n\r\n")
            time.sleep(0.7)
            assert "+CREG: 1,3" in chat(fd, "AT+CREG?")
        finally:
            os.close(fd)
    finally:
        assert stop_sim(proc) == 0
    printed = line.encode() + proc.stdout.read() + proc.stderr.read()
    assert b"host opened the port" in printed  # the log was on, and still no PIN in it
    assert b"1234" not in printed


def test_bad_input_does_not_break_the_simulator(tmp_path: Path) -> None:
    proc, link, _ = start_sim(tmp_path, "--network", "none")
    try:
        fd = open_link(link)
        try:
            noise = bytes((i * 7919) % 256 for i in range(4096)).replace(b"\r", b"")
            write_all(fd, noise)
            write_all(fd, b"\x00" * 4096)
            write_all(fd, b"B" * 65536)  # a 64 KB line with no end
            reply = chat(fd, b"\rATE0", timeout=10)
            assert "OK" in reply or "ERROR" in reply
            assert chat(fd, "AT+CSQ").endswith("\r\n+CSQ: 24,99\r\n\r\nOK\r\n\r\n")
        finally:
            os.close(fd)
        assert proc.poll() is None
        rss_kb = int(re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{proc.pid}/status").read_text()).group(1))
        assert rss_kb < 200_000
    finally:
        assert stop_sim(proc) == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--registration", "bogus"], "bad registration mode"),
        (["--registration", "slow:x"], "bad registration mode"),
        (["--baud", "0"], "bad --baud"),
        (["--signal", "40"], "bad --signal"),
        (["--pin", "12"], "PIN"),
        (["--profile", "nokia"], "invalid choice"),
        (["--link", "/nonexistent-dir/modem"], "does not exist"),
    ],
)
def test_bad_arguments_give_one_line_and_status_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from pppos.cli.sim import main

    status = main(["--network", "none", *args])
    err = capsys.readouterr().err
    assert status == 2
    assert message in err
    assert "Traceback" not in err
    assert len([line for line in err.splitlines() if "error:" in line]) == 1


def test_existing_file_at_the_link_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pppos.cli.sim import main

    target = tmp_path / "modem"
    target.write_text("not a link")
    assert main(["--network", "none", "--link", str(target)]) == 2
    assert "is not a symlink" in capsys.readouterr().err
    assert target.read_text() == "not a link"


def test_one_bad_argument_through_the_real_command() -> None:
    proc = subprocess.run([sys.executable, "-m", "pppos.cli.sim", "--registration", "sometimes"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().endswith("use home, roaming, denied, searching or slow:SECONDS (e.g. slow:5)")
    assert "Traceback" not in proc.stderr


# -- with slirp as the network side ------------------------------------------------------------------


@pytest.mark.slirp
def test_dial_lcp_with_slirp_escape_resume_and_hang_up(tmp_path: Path) -> None:
    need_slirp()
    proc, link, _ = start_sim(tmp_path, "-v")
    try:
        fd = open_link(link)
        try:
            chat(fd, "ATE0")
            wait_registered(fd)
            assert chat(fd, "ATD*99***1#").endswith("\r\nERROR\r\n\r\n")  # no APN yet
            assert chat(fd, 'AT+CGDCONT=1,"IP","internet"').endswith("\r\nOK\r\n\r\n")
            assert "\r\nCONNECT\r\n" in chat(fd, "ATD*99***1#", timeout=10)
            os.write(fd, hdlc_frame(LCP_CONFREQ))

            def got_both(buf: bytes) -> bool:
                return {1, 2} <= {f[4] for f in lcp_frames(buf)}

            stream = read_until(fd, got_both, 15.0)
            frames = lcp_frames(stream)
            assert any(f[4] == 2 and f[5:] == LCP_CONFREQ[5:] for f in frames)  # slirp's Configure-Ack
            assert any(f[4] == 1 for f in frames)  # slirp's own Configure-Request
            assert "OK" in escape(fd)
            assert "CONNECT OK" in chat(fd, "AT+CIPSTATUS?")
            assert chat(fd, "ATS12=10").endswith("\r\nOK\r\n\r\n")  # 0.2 s guard time from now on
            assert "\r\nCONNECT\r\n" in chat(fd, "ATO")
            # Still the same slirp: an LCP Echo-Request is not answered before LCP opens, but the
            # peer keeps sending its Configure-Requests, so data flows again.
            assert lcp_frames(read_until(fd, lcp_frames, 10.0))
            assert "OK" in escape(fd, guard=0.3)
            assert chat(fd, "ATH").endswith("\r\nOK\r\n\r\n")
        finally:
            os.close(fd)
    finally:
        assert stop_sim(proc) == 0
    log = proc.stderr.read().decode()
    assert "slirp started" in log and "call ended (hangup)" in log and "slirp stopped" in log
    assert not link.is_symlink()


@pytest.mark.slirp
def test_no_carrier_when_slirp_goes_away(tmp_path: Path) -> None:
    need_slirp()
    proc, link, _ = start_sim(tmp_path, "-v", "--apn", "internet")
    try:
        fd = open_link(link)
        try:
            chat(fd, "ATE0")
            wait_registered(fd)
            assert "\r\nCONNECT\r\n" in chat(fd, "ATD*99#", timeout=10)
            log = read_until(proc.stderr.fileno(), lambda b: re.search(rb"slirp started \(pid \d+\)", b), 10)
            pid = int(re.search(rb"slirp started \(pid (\d+)\)", log).group(1))
            os.kill(pid, signal.SIGKILL)
            assert b"\r\nNO CARRIER\r\n" in read_until(fd, lambda b: b"NO CARRIER" in b, 10)
            assert chat(fd, "AT").endswith("\r\nOK\r\n\r\n")  # back in command mode
        finally:
            os.close(fd)
    finally:
        assert stop_sim(proc) == 0


@pytest.mark.slirp
def test_a_ppp_client_gets_an_address_and_reaches_host_loopback_via_10_0_2_2(tmp_path: Path) -> None:
    """LCP and IPCP by hand (RFC 1661 5.1-5.3, RFC 1332 3.3) through the simulated modem, then a UDP
    datagram to 10.0.2.2 arrives at 127.0.0.1 and the answer comes back over PPP."""
    need_slirp()
    import socket

    from scapy.layers.inet import IP, UDP

    lcp, ipcp, ip4, ccp = 0xC021, 0x8021, 0x0021, 0x80FD
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    server.setblocking(False)
    port = server.getsockname()[1]
    with run_sim(tmp_path, "--apn", "internet") as link:
        fd = open_link(link)
        try:
            chat(fd, "ATE0")
            wait_registered(fd)
            assert "\r\nCONNECT\r\n" in chat(fd, "ATD*99#", timeout=10)
            os.write(fd, hdlc_frame(LCP_CONFREQ))
            buffer, address, sent, peer_acked, reply = b"", b"", False, False, None
            deadline = time.monotonic() + 20
            while reply is None and time.monotonic() < deadline:
                buffer += read_until(fd, bool, 0.2)
                frames: list[bytes] = []
                if b"\x7e" in buffer[1:]:
                    end = buffer.rindex(b"\x7e")
                    frames, buffer = hdlc_frames(buffer[: end + 1]), buffer[end:]
                for frame in frames:
                    protocol, payload = ppp_packet(frame)
                    code = payload[0]
                    if protocol == lcp and code == 1:  # ack slirp's LCP options
                        os.write(fd, ppp_frame(lcp, b"\x02" + payload[1:]))
                    elif protocol == lcp and code == 2:  # LCP is open: ask for an address
                        os.write(fd, ppp_frame(ipcp, bytes.fromhex("0101000a" "030600000000")))
                    elif protocol == ipcp and code == 3:  # Nak: take the offered address
                        assert payload[4:6] == b"\x03\x06"
                        address = payload[6:10]
                        os.write(fd, ppp_frame(ipcp, b"\x01\x02\x00\x0a\x03\x06" + address))
                    elif protocol == ipcp and code == 1 and payload[4:10] == b"\x03\x06\x00\x00\x00\x00":
                        # slirp asks for 0.0.0.0 itself: Nak it with the host alias.
                        nak = b"\x03" + payload[1:2] + b"\x00\x0a\x03\x06" + socket.inet_aton("10.0.2.2")
                        os.write(fd, ppp_frame(ipcp, nak))
                    elif protocol == ipcp and code == 1:
                        os.write(fd, ppp_frame(ipcp, b"\x02" + payload[1:]))
                        peer_acked = True
                    elif protocol == ccp and code == 1:  # no compression: Protocol-Reject
                        body = b"\x80\xfd" + payload
                        os.write(fd, ppp_frame(lcp, b"\x08\x09" + (len(body) + 4).to_bytes(2, "big") + body))
                    elif protocol == ip4:
                        reply = IP(payload)
                if address and peer_acked and not sent:
                    assert socket.inet_ntoa(address) == "10.0.2.15"
                    datagram = IP(src="10.0.2.15", dst="10.0.2.2") / UDP(sport=40000, dport=port) / b"hello pppos"
                    os.write(fd, ppp_frame(ip4, bytes(datagram)))
                    sent = True
                if sent:
                    try:
                        data, sender = server.recvfrom(2048)
                    except BlockingIOError:
                        continue
                    assert data == b"hello pppos" and sender[0] == "127.0.0.1"
                    server.sendto(b"hello back", sender)
            assert reply is not None, "no IP packet came back over PPP"
            assert reply[IP].src == "10.0.2.2" and reply[IP].dst == "10.0.2.15"
            assert reply[UDP].dport == 40000 and bytes(reply[UDP].payload) == b"hello back"
        finally:
            os.close(fd)
            server.close()


def test_slirp_arguments_put_the_line_rate_and_write_cap_before_user_options() -> None:
    from pppos.sim.serve import SLIRP_TOWRITE_MAX, SLIRP_UNPACED_RATE, SLIRP_UNPACED_TOWRITE_MAX, slirp_arguments

    assert slirp_arguments(921600) == ["-b", "921600", f"towrite_max {SLIRP_TOWRITE_MAX}"]
    # Unpaced: slirp's built-in 115200 throttle and the per-turn cap are lifted (no "-b" at all would
    # leave slirp at 115200: 11 KB/s).
    assert slirp_arguments(None, ("mtu 1500",)) == [
        "-b", str(SLIRP_UNPACED_RATE), f"towrite_max {SLIRP_UNPACED_TOWRITE_MAX}", "mtu 1500",
    ]


def test_slirp_accepts_the_unpaced_arguments() -> None:
    need_slirp()
    from pppos.sim.serve import SLIRP_UNPACED_RATE, SLIRP_UNPACED_TOWRITE_MAX, slirp_arguments
    from pppos.sim.slirp import SlirpProcess

    with SlirpProcess(slirp_arguments(None)) as peer:
        log = peer.home / "slirp.log"
        deadline = time.monotonic() + 10
        while b"SLiRP Ready" not in log.read_bytes() and time.monotonic() < deadline and peer.alive:
            time.sleep(0.05)
        text = log.read_bytes()
        assert f"Setting baudrate to {SLIRP_UNPACED_RATE}".encode() in text
        assert f"Setting towrite_max to {SLIRP_UNPACED_TOWRITE_MAX}".encode() in text
        assert b"Error" not in text and peer.alive


def test_slirp_accepts_the_simulators_arguments() -> None:
    need_slirp()
    from pppos.sim.serve import SLIRP_TOWRITE_MAX, slirp_arguments
    from pppos.sim.slirp import SlirpProcess

    with SlirpProcess(slirp_arguments(921600)) as peer:
        log = peer.home / "slirp.log"
        deadline = time.monotonic() + 10
        while b"SLiRP Ready" not in log.read_bytes() and time.monotonic() < deadline and peer.alive:
            time.sleep(0.05)
        text = log.read_bytes()
        assert b"Setting baudrate to 921600" in text
        assert f"Setting towrite_max to {SLIRP_TOWRITE_MAX}".encode() in text
        assert b"Error" not in text and peer.alive
