"""IPv6 is optional: when the host cannot use it on the link, it is turned off with one warning and
IPv4 stays up (issue 12: "adding fe80::... Invalid argument" used to end the whole session)."""

from __future__ import annotations

import asyncio
import io
from types import SimpleNamespace

from pppos.config import UpOptions
from pppos.daemon import Daemon, Reporter
from pppos.errors import LinkError


class FakeLink:
    def __init__(self) -> None:
        self.ipv6_enabled = True
        self.disabled: list[str] = []

    def disable_ipv6(self, now: float, reason: str) -> None:
        self.ipv6_enabled = False
        self.disabled.append(reason)


class RefusingTun:
    async def configure_ipv6(self, local: object, peer: object) -> None:
        raise LinkError("adding fe80::1 to ppp0: Invalid argument")


def test_an_ipv6_address_the_kernel_refuses_disables_ipv6_only() -> None:
    stream = io.StringIO()
    d = Daemon(UpOptions(port="/dev/null"), Reporter(stream=stream))
    d.tun = RefusingTun()
    link = FakeLink()
    d.link = link
    d.loop = SimpleNamespace(time=lambda: 5.0)  # type: ignore[assignment]
    event = SimpleNamespace(ipv6_local="fe80::1", ipv6_peer="fe80::2")
    asyncio.run(d._maybe_ipv6(event))
    assert link.disabled and not link.ipv6_enabled
    assert d.ipv6 is None
    assert stream.getvalue() == ("pppos-up: warning: IPv6 disabled on this link: adding fe80::1 to ppp0: "
                                 "Invalid argument; IPv4 continues\n")
    asyncio.run(d._maybe_ipv6(event))  # a later Ipv6Up changes nothing
    assert len(link.disabled) == 1
