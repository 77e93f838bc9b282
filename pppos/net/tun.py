"""The ``ppp0`` interface on a Linux TUN device, its addresses and the routes we add (driver).

A TUN device in ``IFF_TUN | IFF_NO_PI`` mode carries bare IP packets: one ``read()`` returns one
packet the host's stack routed to the interface, one ``write()`` injects one received packet. The PPP
link (RFC 1661) runs in user space; this module only gives its network layer a kernel interface:

- :func:`tunsetiff_number`: ``TUNSETIFF`` is ``_IOW('T', 202, int)``, whose value depends on the CPU
  architecture's ioctl encoding (``asm-generic/ioctl.h``: x86, ARM, AArch64, RISC-V, s390, LoongArch;
  ``arch/{powerpc,mips,sparc,alpha}``: 3 direction bits and ``_IOC_WRITE == 4``; PA-RISC:
  ``_IOC_WRITE == 2``).
- :class:`TunDevice`: opens ``/dev/net/tun``, names the interface, sets the point-to-point IPv4
  addresses negotiated by IPCP (RFC 1332 section 3.3), the MTU from the peer's MRU (RFC 1661 section
  6.1), brings it up, adds the IPv6 link-local addresses built from the IPv6CP interface identifiers
  (RFC 5072 sections 4.1 and 5: ``fe80::/64`` + 64-bit identifier, no automatic link-local, so
  ``addr_gen_mode`` is set to ``none`` before the link goes up), and adds an optional default route.
- Routes: :meth:`TunDevice.add_default_route` never replaces an existing route (netlink
  ``NLM_F_EXCL``); it records exactly the route it added and :meth:`TunDevice.remove_routes` removes
  only that. The kernel deletes a non-persistent TUN interface, its addresses and its routes when the
  last file descriptor closes, so even a crashed daemon leaves no interface or route behind.

Netlink goes through pyroute2's ``AsyncIPRoute`` (imported lazily: it is slow to import), so the
configuration methods are coroutines that run on the daemon's own event loop (pyroute2's synchronous
``IPRoute`` wraps the same core and cannot be called from inside a running loop). Nothing here shells
out to ``ip``.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import importlib.metadata
import ipaddress
import itertools
import os
import platform
import re
import socket
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from pppos.errors import ConfigError, LinkError, MissingTool, PermissionProblem

__all__ = [
    "IFF_NO_PI",
    "IFF_TUN",
    "AddedRoute",
    "TunDevice",
    "interface_exists",
    "ipv6_link_local",
    "tunsetiff_number",
    "validate_ifname",
]

#: ``include/uapi/linux/if_tun.h``
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
TUN_PATH = "/dev/net/tun"
#: ``IFNAMSIZ`` including the terminating NUL.
IFNAMSIZ = 16
#: ``IN6_ADDR_GEN_MODE_NONE`` (``include/uapi/linux/if_link.h``).
ADDR_GEN_MODE_NONE = 1
#: Main routing table.
RT_TABLE_MAIN = 254

# Machines whose ioctl encoding has 3 direction bits, 13 size bits and _IOC_WRITE == 4.
_IOC_BIG_DIR = ("ppc", "powerpc", "mips", "sparc", "alpha")


def tunsetiff_number(machine: str | None = None) -> int:
    """Return ``TUNSETIFF`` (``_IOW('T', 202, int)``) for ``machine`` (default: this CPU).

    :param machine: a ``platform.machine()`` / ``uname -m`` string such as ``x86_64``, ``aarch64``,
        ``ppc64le`` or ``mips``.
    """
    arch = (machine if machine is not None else platform.machine()).lower()
    nr, type_, size = 202, ord("T"), struct.calcsize("i")
    if arch.startswith(_IOC_BIG_DIR):
        write, dir_shift = 4, 29
    elif arch.startswith(("parisc", "hppa")):
        write, dir_shift = 2, 30
    else:
        write, dir_shift = 1, 30
    return (write << dir_shift) | (size << 16) | (type_ << 8) | nr


def validate_ifname(name: str) -> str:
    """Check an interface name as the kernel does (``dev_valid_name``) and return it.

    :raises ConfigError: empty, too long, ``.``/``..``, or containing ``/``, ``:`` or whitespace.
    """
    if not name or len(name.encode()) >= IFNAMSIZ or name in {".", ".."}:
        raise ConfigError(f"bad interface name {name!r}: 1 to {IFNAMSIZ - 1} characters")
    if any(c in name for c in "/:") or any(c.isspace() for c in name):
        raise ConfigError(f"bad interface name {name!r}: no '/', ':' or spaces")
    return name


def interface_exists(name: str) -> bool:
    """True when a network interface called ``name`` exists in this thread's network namespace."""
    try:
        socket.if_nametoindex(name)
    except OSError:
        return False
    return True


def ipv6_link_local(identifier: object) -> str:
    """Return the ``fe80::/64`` address for an IPv6CP interface identifier (RFC 5072 section 5).

    ``identifier`` may be the 64-bit identifier as ``int`` or 8 ``bytes``, or already an address
    (``str`` or :class:`ipaddress.IPv6Address`), which is returned unchanged in text form.
    """
    if isinstance(identifier, ipaddress.IPv6Address):
        return str(identifier)
    if isinstance(identifier, str):
        return str(ipaddress.IPv6Address(identifier))
    if isinstance(identifier, bytes | bytearray):
        if len(identifier) != 8:
            raise ValueError("an IPv6CP interface identifier has 8 bytes")
        identifier = int.from_bytes(identifier, "big")
    if isinstance(identifier, int) and 0 <= identifier < 1 << 64:
        return str(ipaddress.IPv6Address((0xFE80 << 112) | identifier))
    raise ValueError(f"not an IPv6 interface identifier: {identifier!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class AddedRoute:
    """A route this process added (and so the only kind it removes)."""

    dst: str
    oif: int
    metric: int
    family: int = 2
    table: int = RT_TABLE_MAIN

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form for the state file."""
        return {"dst": self.dst, "oif": self.oif, "metric": self.metric, "family": self.family, "table": self.table}


def _version_tuple(text: str) -> tuple[int, ...]:
    parts: list[int] = []
    for piece in text.split("."):
        digits = "".join(itertools.takewhile(str.isdigit, piece))
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def pyroute2_floor() -> str | None:
    """The ``pyroute2>=X`` floor this installation of pppos declares (setup.cfg is its one source)."""
    try:
        requires = importlib.metadata.requires("pppos") or []
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - running from an uninstalled tree
        return None
    for req in requires:
        m = re.match(r"^pyroute2\s*>=\s*([0-9][0-9.]*)", req)
        if m:
            return m.group(1)
    return None  # pragma: no cover - setup.cfg always names it


def require_pyroute2() -> None:
    """Check, without importing it (a second's work), that pyroute2 is installed and new enough.

    :raises MissingTool: missing, or older than the floor (0.7.x has no ``AsyncIPRoute``): exit 11
        at start, instead of a "link lost" once the link is already up.
    """
    floor = pyroute2_floor() or "0.9.1"
    try:
        have = importlib.metadata.version("pyroute2")
    except importlib.metadata.PackageNotFoundError:
        raise MissingTool(f"pyroute2 is not installed; run: pip install 'pyroute2>={floor}'") from None
    if _version_tuple(have) < _version_tuple(floor):
        raise MissingTool(
            f"pyroute2 {have} is too old (AsyncIPRoute needs {floor} or later); "
            f"run: pip install --upgrade 'pyroute2>={floor}'"
        )


def _ipr() -> Any:
    """A fresh pyroute2 ``AsyncIPRoute`` (lazy import; pyroute2 takes a second to import)."""
    try:
        from pyroute2 import AsyncIPRoute
    except ImportError as exc:
        raise MissingTool(f"pyroute2 with AsyncIPRoute is needed ({exc}); run: pip install --upgrade pyroute2") \
            from None
    return AsyncIPRoute()


def _netlink_error(action: str, exc: Exception) -> Exception:
    code = getattr(exc, "code", None) or getattr(exc, "errno", None)
    if code in (errno.EPERM, errno.EACCES):
        return PermissionProblem(f"{action}: operation not permitted (needs root or CAP_NET_ADMIN)")
    message = exc.args[1] if len(exc.args) > 1 else str(exc)
    return LinkError(f"{action}: {message}")


class TunDevice:
    """One TUN interface in ``IFF_TUN | IFF_NO_PI`` mode, owned by this process.

    Create it with :meth:`create`; :attr:`fd` is non-blocking and ready for ``loop.add_reader``.
    :meth:`close` removes the routes we added and closes the descriptor, which makes the kernel delete
    the interface.
    """

    def __init__(self, fd: int, name: str, index: int) -> None:
        self.fd = fd
        self.name = name
        self.index = index
        self.added_routes: list[AddedRoute] = []
        self.local_ip: str | None = None
        self.peer_ip: str | None = None
        self.mtu: int | None = None
        self.ipv6_local: str | None = None
        self.ipv6_peer: str | None = None
        self._nl: Any = None
        self._nl_loop: Any = None

    @contextlib.asynccontextmanager
    async def _netlink(self) -> AsyncIterator[Any]:
        """This device's netlink socket (one per event loop, kept until :meth:`close`)."""
        import asyncio

        loop = asyncio.get_running_loop()
        if self._nl is None or self._nl_loop is not loop:
            self._close_netlink()
            self._nl, self._nl_loop = _ipr(), loop
        yield self._nl

    def _close_netlink(self) -> None:
        nl, self._nl, self._nl_loop = self._nl, None, None
        if nl is not None:
            with contextlib.suppress(Exception):
                nl.close()

    def __repr__(self) -> str:
        return f"<TunDevice {self.name} index={self.index} fd={self.fd}>"

    @classmethod
    def create(cls, name: str = "ppp0") -> TunDevice:
        """Create the interface ``name`` (down, no addresses, no automatic IPv6 link-local).

        :raises ConfigError: bad name, or an interface with that name already exists.
        :raises PermissionProblem: not root / no CAP_NET_ADMIN.
        :raises LinkError: no ``/dev/net/tun`` or another kernel refusal.
        """
        validate_ifname(name)
        if interface_exists(name):
            raise ConfigError(
                f"interface {name} already exists (another pppos-up or pppd running?); "
                f"stop it with pppos-down --ifname {name} or pick another --ifname"
            )
        try:
            fd = os.open(TUN_PATH, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            raise LinkError(f"{TUN_PATH} is missing (load the tun module: modprobe tun)") from None
        except PermissionError:
            raise PermissionProblem(f"cannot open {TUN_PATH}: needs root or CAP_NET_ADMIN") from None
        except OSError as exc:
            raise LinkError(f"cannot open {TUN_PATH}: {exc.strerror}") from None
        try:
            ifreq = struct.pack(f"{IFNAMSIZ}sH22x", name.encode(), IFF_TUN | IFF_NO_PI)
            try:
                fcntl.ioctl(fd, tunsetiff_number(), ifreq)
            except PermissionError:
                raise PermissionProblem(f"cannot create {name}: needs root or CAP_NET_ADMIN") from None
            except OSError as exc:
                if exc.errno == errno.EBUSY:
                    raise ConfigError(f"interface {name} is in use by another program") from None
                raise LinkError(f"cannot create TUN interface {name}: {exc.strerror}") from None
            try:
                index = socket.if_nametoindex(name)
            except OSError:
                raise LinkError(f"TUN interface {name} vanished right after creation") from None
        except BaseException:
            os.close(fd)
            raise
        return cls(fd, name, index)

    def fileno(self) -> int:
        """The TUN file descriptor (non-blocking)."""
        return self.fd

    async def setup(self) -> None:
        """Turn off automatic IPv6 link-local addresses (``addr_gen_mode none``) before the link is up.

        IPv6CP decides the interface identifiers (RFC 5072 section 4.1). A kernel or namespace without
        IPv6 refuses the attribute: that is fine, there is then no IPv6 at all.
        """
        spec = {"attrs": [["AF_INET6", {"attrs": [["IFLA_INET6_ADDR_GEN_MODE", ADDR_GEN_MODE_NONE]]}]]}
        async with self._netlink() as ipr:
            try:
                await ipr.link("set", index=self.index, af_spec=spec)
            except Exception as exc:  # IPv6 disabled here: fine unless it is a permission problem
                if getattr(exc, "code", None) in (errno.EPERM, errno.EACCES):
                    raise _netlink_error(f"configuring {self.name}", exc) from None

    async def configure(self, local_ip: str, peer_ip: str, mtu: int) -> None:
        """Set the point-to-point IPv4 addresses (``local peer peer/32``) and MTU, and bring the link up.

        :raises LinkError: netlink refused (the message says which step).
        """
        local = str(ipaddress.IPv4Address(local_ip))
        peer = str(ipaddress.IPv4Address(peer_ip))
        if not 68 <= mtu <= 65535:
            raise LinkError(f"MTU {mtu} is outside 68..65535")
        async with self._netlink() as ipr:
            try:
                await ipr.link("set", index=self.index, mtu=mtu)
                await ipr.link("set", index=self.index, state="up")
            except Exception as exc:
                raise _netlink_error(f"bringing {self.name} up with MTU {mtu}", exc) from None
            if (local, peer) == (self.local_ip, self.peer_ip):
                self.mtu = mtu
                return  # a new session with the same addresses: sockets bound to them live on
            if self.local_ip is not None and self.peer_ip is not None:  # the operator gave new ones
                with contextlib.suppress(Exception):
                    await ipr.addr("del", index=self.index, address=self.peer_ip, local=self.local_ip,
                                   prefixlen=32)
                self.local_ip = self.peer_ip = None
            try:
                await ipr.addr("add", index=self.index, address=peer, local=local, prefixlen=32)
            except Exception as exc:
                raise _netlink_error(f"adding {local} peer {peer} to {self.name}", exc) from None
        self.local_ip, self.peer_ip, self.mtu = local, peer, mtu

    def set_carrier(self, on: bool) -> None:
        """Carrier up or down (``TUNSETCARRIER``, Linux 4.12+) while the link is between sessions;
        best effort: an older kernel just keeps the carrier up."""
        if self.fd < 0:
            return
        number = tunsetiff_number() - 202 + 226  # _IOW('T', 226, int): same encoding, other number
        with contextlib.suppress(OSError):
            fcntl.ioctl(self.fd, number, struct.pack("i", 1 if on else 0))

    async def configure_ipv6(self, local: object, peer: object) -> None:
        """Add ``fe80::<local iid>/128 peer fe80::<peer iid>`` (RFC 5072 section 5).

        ``local``/``peer`` are IPv6CP interface identifiers or link-local addresses
        (see :func:`ipv6_link_local`).
        """
        local_addr, peer_addr = ipv6_link_local(local), ipv6_link_local(peer)
        async with self._netlink() as ipr:
            try:
                await ipr.addr("add", index=self.index, address=peer_addr, local=local_addr, prefixlen=128)
            except Exception as exc:
                raise _netlink_error(f"adding {local_addr} peer {peer_addr} to {self.name}", exc) from None
        self.ipv6_local, self.ipv6_peer = local_addr, peer_addr

    async def add_default_route(self, metric: int = 0) -> AddedRoute | None:
        """Add ``default dev <ifname> metric <metric>`` unless a route with that metric already exists.

        Existing routes are never replaced or removed (``NLM_F_EXCL``). Returns the route added, which
        is recorded for :meth:`remove_routes`, or None when an existing default route with the same
        metric is in the way (the caller reports it).
        """
        if not 0 <= metric <= 0xFFFFFFFF:
            raise ConfigError(f"route metric {metric} is outside 0..4294967295")
        route = AddedRoute(dst="0.0.0.0/0", oif=self.index, metric=metric)
        async with self._netlink() as ipr:
            try:
                await ipr.route("add", dst=route.dst, oif=self.index, priority=metric, table=route.table)
            except Exception as exc:
                if getattr(exc, "code", None) == errno.EEXIST:
                    return None
                raise _netlink_error(f"adding a default route via {self.name}", exc) from None
        self.added_routes.append(route)
        return route

    async def remove_routes(self) -> None:
        """Remove exactly the routes :meth:`add_default_route` added (missing ones are fine)."""
        routes, self.added_routes = self.added_routes, []
        if not routes:
            return
        with contextlib.suppress(Exception):
            async with self._netlink() as ipr:
                for route in routes:
                    with contextlib.suppress(Exception):
                        await ipr.route("del", dst=route.dst, oif=route.oif, priority=route.metric, table=route.table)

    async def aclose(self) -> None:
        """Remove our routes, then :meth:`close`."""
        if self.fd >= 0:
            await self.remove_routes()
        self.close()

    def close(self) -> None:
        """Close the descriptor: the kernel deletes the interface with its addresses and routes."""
        if self.fd < 0:
            return
        self.added_routes = []
        self._close_netlink()
        fd, self.fd = self.fd, -1
        with contextlib.suppress(OSError):
            os.close(fd)

    def __enter__(self) -> TunDevice:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
