"""Debian's pppd and chat as the client, dialling our A7 modem simulator (``pppos-sim``) from the VM.

pppd runs on the VM's ttyS3 with the options file and chat script that :mod:`pppos.backends.pppd`
generates (``conftest.client_arg_sets``); the test bridges ttyS3's socket to the simulator's pty.
The AT dialogue (chat(8)) must succeed and PPP must open through the simulator to slirp, which
gives the client 10.0.2.15 (real-peers.md section 1). This checks the simulator's AT dialect and
our generated pppd configuration against the real tools.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.sim_helpers import need_slirp, open_link, run_sim
from tests.vm.qemu import PppdVm

pytestmark = [pytest.mark.vm, pytest.mark.slirp, pytest.mark.slow]


@contextlib.contextmanager
def bridge(sock: socket.socket, fd: int) -> Iterator[dict[str, int]]:
    """Copy bytes both ways between the VM's ttyS3 socket and the simulator's pty until exit."""
    stop = threading.Event()
    counts = {"to_modem": 0, "to_vm": 0}
    sock.setblocking(False)

    def run() -> None:
        while not stop.is_set():
            readable, _, _ = select.select([sock, fd], [], [], 0.2)
            if sock in readable:
                try:
                    data = sock.recv(65536)
                except BlockingIOError:
                    data = b""
                if data:
                    counts["to_modem"] += len(data)
                    os.write(fd, data)  # the pty takes a few KB; PPP at these rates never fills it
            if fd in readable:
                try:
                    data = os.read(fd, 65536)
                except (BlockingIOError, OSError):
                    data = b""
                if data:
                    counts["to_vm"] += len(data)
                    sock.setblocking(True)
                    sock.sendall(data)
                    sock.setblocking(False)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield counts
    finally:
        stop.set()
        thread.join(timeout=5)


def test_pppd_and_chat_dial_the_simulator_and_reach_slirp(pppd_vm: PppdVm, tmp_path: Path) -> None:
    need_slirp()
    assert pppd_vm.dial_line is not None
    with run_sim(tmp_path, "--profile", "a7", "--network", "slirp") as link:
        fd = open_link(link)
        try:
            with bridge(pppd_vm.dial_line, fd) as counts:
                mark = pppd_vm.switch("client", timeout=120)  # returns once chat has reached CONNECT
                pppd_vm.wait_log(r"Serial connection established", since=mark, timeout=60)
                m = pppd_vm.wait_log(r"local  IP address (\S+)", since=mark, timeout=90)
                assert m.group(1) == "10.0.2.15"
                pppd_vm.wait_log(r"remote IP address \S+", since=mark, timeout=30)
                text = pppd_vm.console()[mark:]
                # our generated options were in force
                assert "sent [LCP ConfReq" in text
                assert "<magic" in text
                assert counts["to_modem"] > 0 and counts["to_vm"] > 0
                # end cleanly: pppd terminates the link (SIGTERM -> LCP Terminate-Request)
                stop_mark = pppd_vm.log_mark()
                assert pppd_vm.control("kill TERM") == "ok kill TERM"
                pppd_vm.wait_log(r"Connection terminated", since=stop_mark, timeout=60)
        finally:
            os.close(fd)


def test_pppd_with_pppos_ups_options_after_our_bringup(pppd_vm: PppdVm, tmp_path: Path) -> None:
    """``pppos-up --backend pppd --usepeerdns``'s options on real pppd: our AT bring-up dials the
    simulator from the host, then the VM's pppd takes the line in data mode (as pppos-up hands pppd
    the open port); it asks for DNS (usepeerdns), runs no /etc/ppp/ip-up (pppos-up installs DNS
    itself), and its log gives :class:`PppdOutput` the addresses and the name server."""
    import time

    from pppos.at.bringup import Bringup, BringupConfig, DataMode, Verdict
    from pppos.backends.pppd import PppdOutput
    from pppos.serial_port import open_port, run_blocking

    need_slirp()
    assert pppd_vm.dial_line is not None
    with run_sim(tmp_path, "--profile", "a7", "--network", "slirp", "--apn", "internet") as link:
        port = open_port(str(link), 115200)
        try:
            bringup = Bringup(BringupConfig(dial=True, apn="internet"))
            bringup.start(time.monotonic())
            ev = run_blocking(port, bringup, until=lambda e: isinstance(e, DataMode | Verdict),
                              deadline=time.monotonic() + 60)
            assert isinstance(ev, DataMode), ev
            with bridge(pppd_vm.dial_line, port.fileno()):
                mark = pppd_vm.switch("client_up", timeout=120)
                m = pppd_vm.wait_log(r"local  IP address (\S+)", since=mark, timeout=90)
                assert m.group(1) == "10.0.2.15"
                pppd_vm.wait_log(r"primary   DNS address \S+", since=mark, timeout=30)
                time.sleep(1.0)  # the script line follows the addresses
                text = pppd_vm.console()[mark:]
                stop_mark = pppd_vm.log_mark()
                assert pppd_vm.control("kill TERM") == "ok kill TERM"
                pppd_vm.wait_log(r"Connection terminated", since=stop_mark, timeout=60)
        finally:
            port.close()
    parser = PppdOutput()
    for line in text.splitlines():
        parser.feed(line.strip())
    parser.flush()
    up = parser.next_event()
    assert up is not None and up.local_ip == "10.0.2.15" and up.dns, text
    assert "/etc/ppp/ip-up" not in text  # pppd's own scripts are off under pppos-up
    assert "unrecognized option" not in text
