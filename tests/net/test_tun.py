"""pppos.net.tun: ioctl numbers, names, and a real TUN ``ppp0`` inside a throwaway namespace."""

from __future__ import annotations

import asyncio
import json
import os
import select
import socket
import struct

import pytest

from pppos.errors import ConfigError
from pppos.net.tun import TunDevice, interface_exists, ipv6_link_local, tunsetiff_number, validate_ifname


@pytest.mark.parametrize(
    ("machine", "number"),
    [
        ("x86_64", 0x400454CA),
        ("i686", 0x400454CA),
        ("aarch64", 0x400454CA),
        ("armv7l", 0x400454CA),
        ("riscv64", 0x400454CA),
        ("s390x", 0x400454CA),
        ("ppc64le", 0x800454CA),
        ("ppc", 0x800454CA),
        ("mips", 0x800454CA),
        ("mips64", 0x800454CA),
        ("sparc64", 0x800454CA),
        ("alpha", 0x800454CA),
        ("parisc64", 0x800454CA),
    ],
)
def test_tunsetiff_number_per_architecture(machine: str, number: int) -> None:
    assert tunsetiff_number(machine) == number


@pytest.mark.parametrize("name", ["ppp0", "wwan-1", "a" * 15])
def test_valid_ifnames(name: str) -> None:
    assert validate_ifname(name) == name


@pytest.mark.parametrize("name", ["", "a" * 16, "pp/0", "ppp:1", "ppp 0", ".", ".."])
def test_bad_ifnames_are_config_errors(name: str) -> None:
    with pytest.raises(ConfigError, match="interface name"):
        validate_ifname(name)


def test_ipv6_link_local_from_identifier_forms() -> None:
    iid = bytes.fromhex("0211223344556677")
    assert ipv6_link_local(iid) == "fe80::211:2233:4455:6677"
    assert ipv6_link_local(int.from_bytes(iid, "big")) == "fe80::211:2233:4455:6677"
    assert ipv6_link_local("FE80::1") == "fe80::1"
    with pytest.raises(ValueError, match="8 bytes"):
        ipv6_link_local(b"\x01\x02")
    with pytest.raises(ValueError, match="identifier"):
        ipv6_link_local(1 << 64)


def _ip_json(ns, *args: str) -> list[dict]:
    return json.loads(ns.ip("-j", *args) or "[]")


def _ipv4_udp(src: str, dst: str, sport: int, dport: int, payload: bytes) -> bytes:
    """A minimal IPv4/UDP packet (UDP checksum 0 = none, RFC 768)."""
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    header = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0, socket.inet_aton(src), socket.inet_aton(dst)
    )
    total = sum(struct.unpack("!10H", header))
    total = (total & 0xFFFF) + (total >> 16)
    total = (total & 0xFFFF) + (total >> 16)
    header = header[:10] + struct.pack("!H", ~total & 0xFFFF) + header[12:]
    return header + udp


@pytest.mark.root
def test_tun_ppp0_addresses_mtu_up_and_packets(netns) -> None:
    with netns.entered():
        tun = TunDevice.create("ppp0")
        asyncio.run(tun.setup())
        try:
            assert interface_exists("ppp0")
            # Before configure: down, and no automatic IPv6 link-local address ever appears.
            link = _ip_json(netns, "link", "show", "dev", "ppp0")[0]
            assert "UP" not in link["flags"]
            asyncio.run(tun.configure("10.0.2.15", "10.0.2.2", 1400))
            link = _ip_json(netns, "link", "show", "dev", "ppp0")[0]
            assert "UP" in link["flags"] and "POINTOPOINT" in link["flags"] and "NOARP" in link["flags"]
            assert link["mtu"] == 1400
            addrs = _ip_json(netns, "addr", "show", "dev", "ppp0")[0]["addr_info"]
            assert [(a["family"], a["local"], a.get("address"), a["prefixlen"]) for a in addrs] == [
                ("inet", "10.0.2.15", "10.0.2.2", 32)
            ]
            assert not [a for a in addrs if a["family"] == "inet6"]

            # Host -> TUN: a datagram to the peer address comes out of the TUN fd as one bare IP packet.
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
                tx.sendto(b"to-the-peer", ("10.0.2.2", 4000))
            select.select([tun.fd], [], [], 5)
            packet = os.read(tun.fd, 65536)
            assert packet[0] >> 4 == 4 and packet[9] == 17
            assert socket.inet_ntoa(packet[12:16]) == "10.0.2.15"
            assert socket.inet_ntoa(packet[16:20]) == "10.0.2.2"
            assert packet.endswith(b"to-the-peer")

            # TUN -> host: a packet written to the fd reaches a local socket.
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx:
                rx.bind(("10.0.2.15", 0))
                port = rx.getsockname()[1]
                os.write(tun.fd, _ipv4_udp("10.0.2.2", "10.0.2.15", 5000, port, b"from-the-peer"))
                rx.settimeout(5)
                data, addr = rx.recvfrom(100)
            assert data == b"from-the-peer" and addr == ("10.0.2.2", 5000)

            asyncio.run(tun.configure_ipv6(bytes.fromhex("0000000000000001"), bytes.fromhex("0000000000000002")))
            addrs = _ip_json(netns, "addr", "show", "dev", "ppp0")[0]["addr_info"]
            addrs6 = [a for a in addrs if a["family"] == "inet6"]
            assert [(a["local"], a.get("address"), a["prefixlen"]) for a in addrs6] == [("fe80::1", "fe80::2", 128)]
        finally:
            tun.close()
        assert not interface_exists("ppp0")


@pytest.mark.root
def test_second_create_of_the_same_name_is_refused(netns) -> None:
    with netns.entered(), TunDevice.create("ppp7"), pytest.raises(ConfigError, match="already exists"):
        TunDevice.create("ppp7")


@pytest.mark.root
def test_default_route_never_replaces_and_removes_only_its_own(netns) -> None:
    netns.ip("tuntap", "add", "mode", "tun", "name", "up0")
    netns.ip("link", "set", "up0", "up")
    netns.ip("addr", "add", "192.0.2.1/24", "dev", "up0")
    netns.ip("route", "add", "default", "dev", "up0", "metric", "100")
    before = _ip_json(netns, "route", "show", "default")
    with netns.entered():

        async def scenario() -> None:
            tun = TunDevice.create("ppp0")
            await tun.setup()
            await tun.configure("10.0.2.15", "10.0.2.2", 1500)
            # Same metric as the existing route: refused, nothing recorded, the existing one untouched.
            assert await tun.add_default_route(100) is None
            assert tun.added_routes == []
            added = await tun.add_default_route(50)
            assert added is not None and added.metric == 50 and tun.added_routes == [added]
            routes = _ip_json(netns, "route", "show", "default")
            assert {(r["dev"], r.get("metric", 0)) for r in routes} == {("up0", 100), ("ppp0", 50)}
            got = _ip_json(netns, "route", "get", "198.51.100.7")[0]
            assert got["dev"] == "ppp0" and got["prefsrc"] == "10.0.2.15"
            await tun.remove_routes()
            assert _ip_json(netns, "route", "show", "default") == before
            await tun.add_default_route(50)
            await tun.aclose()

        asyncio.run(scenario())
        # aclose() removed our route (and the interface); the existing default route is still there.
        assert _ip_json(netns, "route", "show", "default") == before
        assert not interface_exists("ppp0")
