"""Our PPP stack (:class:`pppos.ppp.link.PppLink`) against Debian's pppd 2.4.9 as the server, in a VM.

pppd runs on the VM's ttyS0 (``passive``, 192.168.77.1:192.168.77.2, two ms-dns) in the argument
sets of ``conftest.ARG_SETS``; our link runs in the test process over the serial socket. Checks
RFC 1661 (LCP, echo, terminate), RFC 1334 PAP, RFC 1994 CHAP-MD5, RFC 1332/1877 IPCP with DNS, and
RFC 1662 ACCM (pppd asks for asyncmap 0xa0000 as a SIM800 does), with TCP to the VM's services.
"""

from __future__ import annotations

import os
import time

import pytest

from pppos.ppp.link import AuthResult, DownCause, LinkConfig, LinkDown, LinkUp, PppLink
from tests.vm.build import ECHO_PORT, HTTP_BODY, HTTP_PORT
from tests.vm.conftest import CHAP_SECRET, CHAP_USER, PAP_SECRET, PAP_USER
from tests.vm.linkdrive import LinkDriver, MiniTcp
from tests.vm.qemu import DNS, GUEST_IP, HOST_IP, PppdVm

pytestmark = [pytest.mark.vm, pytest.mark.slow]


def _drain(vm: PppdVm) -> None:
    """Forget bytes a previous pppd left on the line."""
    assert vm.serial is not None
    vm.serial.setblocking(False)
    try:
        while vm.serial.recv(65536):
            pass
    except BlockingIOError:
        pass


def open_link(vm: PppdVm, name: str, **config: object) -> tuple[LinkDriver, int]:
    """Start pppd's argument set ``name``, open our link; return the driver and the console mark."""
    mark = vm.switch(name)
    _drain(vm)
    assert vm.serial is not None
    cfg = LinkConfig(**{"ipv6": False, "echo_interval": 0.0, "seed": 7, **config})  # type: ignore[arg-type]
    drv = LinkDriver(PppLink(cfg), vm.serial)
    drv.link.open(time.monotonic())
    return drv, mark


def wait_up(drv: LinkDriver, timeout: float = 60.0) -> LinkUp:
    ev = drv.pump(lambda e: isinstance(e, LinkUp | LinkDown), timeout=timeout)
    assert isinstance(ev, LinkUp), f"link did not come up: {ev!r}; events {drv.events!r}"
    return ev


def close_link(drv: LinkDriver) -> LinkDown:
    drv.link.close(time.monotonic(), reason="test done")
    ev = drv.pump(lambda e: isinstance(e, LinkDown), timeout=20)
    assert isinstance(ev, LinkDown)
    return ev


def test_link_up_gets_addresses_and_dns_answers_echoes_and_closes_cleanly(pppd_vm: PppdVm) -> None:
    drv, mark = open_link(pppd_vm, "default")
    up = wait_up(drv)
    assert (up.local_ip, up.peer_ip) == (HOST_IP, GUEST_IP)
    assert up.dns == DNS
    # pppd sends an Echo-Request every second; it must log our replies.
    deadline = time.monotonic() + 30
    while "rcvd [LCP EchoRep" not in pppd_vm.console()[mark:] and time.monotonic() < deadline:
        drv.pump(timeout=0.5)
    assert "rcvd [LCP EchoRep" in pppd_vm.console()[mark:]
    assert drv.link.stats is not None
    # our side terminates: pppd logs the peer's Terminate-Request and a clean end of the connection
    down = close_link(drv)
    assert down.cause is DownCause.LOCAL_CLOSE
    pppd_vm.wait_log(r"LCP terminated by peer", since=mark, timeout=30)
    pppd_vm.wait_log(r"Connection terminated", since=mark, timeout=30)
    pppd_vm.wait_log(r"pppos-vm: pppd exit \d+ status \d+", since=mark, timeout=30)


def test_tcp_to_vm_services_carries_data_both_ways(pppd_vm: PppdVm) -> None:
    drv, _ = open_link(pppd_vm, "default")
    up = wait_up(drv)
    payload = os.urandom(1500) + bytes(range(256)) * 4
    tcp = MiniTcp(drv, up.local_ip, up.peer_ip, ECHO_PORT)
    tcp.connect()
    tcp.send(payload)
    echoed = tcp.recv_until(lambda got: len(got) >= len(payload), timeout=60)
    assert echoed == payload
    tcp.close()
    http = MiniTcp(drv, up.local_ip, up.peer_ip, HTTP_PORT)
    http.connect()
    http.send(b"GET /index.html HTTP/1.0\r\nHost: vm\r\n\r\n")
    response = http.recv_until(lambda got: False, timeout=60)  # until the server's FIN
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.") and b" 200 " in head.split(b"\r\n")[0]
    assert body == HTTP_BODY
    close_link(drv)


def test_pppd_terminating_the_link_is_reported_with_its_reason(pppd_vm: PppdVm) -> None:
    drv, _ = open_link(pppd_vm, "default")
    wait_up(drv)
    assert pppd_vm.control("kill TERM") == "ok kill TERM"
    ev = drv.pump(lambda e: isinstance(e, LinkDown), timeout=30)
    assert isinstance(ev, LinkDown)
    assert ev.cause is DownCause.PEER_TERMINATED
    assert "User request" in ev.reason  # pppd's Terminate-Request text on SIGTERM


def test_silent_pppd_is_declared_dead_by_our_echo_keepalive(pppd_vm: PppdVm) -> None:
    interval, failures = 1.0, 3
    drv, _ = open_link(pppd_vm, "default", echo_interval=interval, echo_failures=failures)
    wait_up(drv)
    drv.pump(timeout=2.5)  # echoes answered while pppd runs
    assert not any(isinstance(e, LinkDown) for e in drv.events)
    assert pppd_vm.control("kill STOP") == "ok kill STOP"
    t0 = time.monotonic()
    ev = drv.pump(lambda e: isinstance(e, LinkDown), timeout=30)
    elapsed = time.monotonic() - t0
    assert isinstance(ev, LinkDown)
    assert ev.cause is DownCause.ECHO_TIMEOUT
    # dead after `failures` unanswered requests, one interval apart (plus the one in flight)
    assert elapsed <= interval * (failures + 1) + 2.0, elapsed


@pytest.mark.parametrize(("name", "user", "secret", "protocol"), [
    ("pap", PAP_USER, PAP_SECRET, "pap"),
    ("chap", CHAP_USER, CHAP_SECRET, "chap"),
])
def test_auth_with_the_right_secret_opens_the_link(pppd_vm: PppdVm, name: str, user: str, secret: str,
                                                    protocol: str) -> None:
    drv, mark = open_link(pppd_vm, name, username=user, password=secret)
    up = wait_up(drv)
    assert up.local_ip == HOST_IP
    results = [e for e in drv.events if isinstance(e, AuthResult)]
    assert results and results[-1].ok and results[-1].protocol.lower().startswith(protocol)
    # pppd 2.4.9 logs PAP success in words; for CHAP its trace shows the Success it sent
    pppd_vm.wait_log(rf"PAP peer authentication succeeded for {user}" if protocol == "pap"
                     else r"sent \[CHAP Success id=0x\w+ \"Access granted\"\]", since=mark, timeout=30)
    if name == "pap":
        # pppd asked us to escape 0x11 and 0x13 (asyncmap 0xa0000, as a SIM800 does): XON/XOFF
        # bytes must still cross the link intact both ways.
        assert "<asyncmap 0xa0000>" in pppd_vm.console()[mark:]
        tcp = MiniTcp(drv, up.local_ip, up.peer_ip, ECHO_PORT)
        tcp.connect()
        data = bytes([0x11, 0x13, 0x7E, 0x7D, 0x00, 0x20]) * 100
        tcp.send(data)
        assert tcp.recv_until(lambda got: len(got) >= len(data), timeout=60) == data
        tcp.close()
    close_link(drv)


@pytest.mark.parametrize(("name", "user"), [("pap", PAP_USER), ("chap", CHAP_USER)])
def test_auth_with_a_wrong_secret_fails_with_a_clear_auth_error(pppd_vm: PppdVm, name: str, user: str) -> None:
    drv, mark = open_link(pppd_vm, name, username=user, password="not-the-secret")
    ev = drv.pump(lambda e: isinstance(e, LinkUp | LinkDown), timeout=60)
    assert isinstance(ev, LinkDown), ev
    assert ev.cause is DownCause.AUTH_FAILED
    assert "not-the-secret" not in ev.reason
    assert "auth" in ev.reason.lower()
    results = [e for e in drv.events if isinstance(e, AuthResult)]
    assert results and not results[-1].ok
    pppd_vm.wait_log(rf"PAP peer authentication failed for {user}|Peer {user} failed CHAP authentication",
                     since=mark, timeout=30)
