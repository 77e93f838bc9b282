"""The IPv4 addresses this host (this network namespace) already has, for the IPCP address checks.

Read from ``/proc/net/fib_trie``: every ``/32 host LOCAL`` leaf of the local routing table is an
address configured on some interface (aliases and secondaries included, no netlink needed). The PPP
core refuses a peer that gives us, or claims, one of them (:meth:`pppos.ppp.ipcp.IpcpPolicy.problem`).
"""

from __future__ import annotations

import contextlib
import ipaddress

__all__ = ["host_ipv4_addresses", "parse_fib_trie"]

FIB_TRIE = "/proc/net/fib_trie"


def parse_fib_trie(text: str) -> frozenset[str]:
    """The addresses of the ``/32 host LOCAL`` leaves in the text of ``/proc/net/fib_trie``."""
    found: set[str] = set()
    last: str | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("|--"):
            last = stripped[3:].strip()
        elif last is not None and stripped.startswith("/32 host LOCAL"):
            with contextlib.suppress(ValueError):
                found.add(str(ipaddress.IPv4Address(last)))
    return frozenset(found)


def host_ipv4_addresses(path: str = FIB_TRIE) -> frozenset[str]:
    """This namespace's IPv4 addresses; empty if the file cannot be read (the check is then skipped)."""
    try:
        with open(path, encoding="ascii", errors="replace") as fh:
            return parse_fib_trie(fh.read())
    except OSError:
        return frozenset()
