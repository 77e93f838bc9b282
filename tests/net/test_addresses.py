"""This host's IPv4 addresses from /proc/net/fib_trie (for the IPCP address checks)."""

from __future__ import annotations

from pathlib import Path

from pppos.net.addresses import host_ipv4_addresses, parse_fib_trie

FIB_TRIE = """Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 127.0.0.0/8 2 0 2
        +-- 127.0.0.0/31 1 0 0
           |-- 127.0.0.0
              /8 host LOCAL
           |-- 127.0.0.1
              /32 host LOCAL
        |-- 127.255.255.255
           /32 link BROADCAST
     +-- 192.0.2.0/24 2 0 2
        |-- 192.0.2.0
           /24 link UNICAST
        |-- 192.0.2.2
           /32 host LOCAL
Local:
  +-- 0.0.0.0/0 3 0 5
        |-- 192.0.2.2
           /32 host LOCAL
"""


def test_local_leaves_are_the_host_addresses() -> None:
    assert parse_fib_trie(FIB_TRIE) == frozenset({"127.0.0.1", "192.0.2.2"})


def test_an_unreadable_file_gives_no_addresses(tmp_path: Path) -> None:
    assert host_ipv4_addresses(str(tmp_path / "missing")) == frozenset()
    assert "127.0.0.1" in host_ipv4_addresses()
