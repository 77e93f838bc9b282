"""IPv6 is optional: when the host cannot use it on the link, it is turned off with one warning and
IPv4 stays up (issue 12: "adding fe80::... Invalid argument" used to end the whole session)."""

from __future__ import annotations

import asyncio
import io

from pppos.config import UpOptions
from pppos.daemon import Host, Reporter
from pppos.errors import LinkError


class FakeLink:
    def __init__(self) -> None:
        self.ipv6_enabled = True
        self.disabled: list[str] = []

    def disable_ipv6(self, now: float, reason: str) -> None:
        self.ipv6_enabled = False
        self.disabled.append(reason)


class RefusingTun:
    ipv6_local = ipv6_peer = None

    async def configure_ipv6(self, local: object, peer: object) -> None:
        raise LinkError("adding fe80::1 to ppp0: Invalid argument")


def test_an_ipv6_address_the_kernel_refuses_disables_ipv6_only() -> None:
    stream = io.StringIO()
    wakes: list[int] = []
    host = Host(UpOptions(port="/dev/null"), Reporter(stream=stream), lambda: wakes.append(1))
    host.tun = RefusingTun()  # type: ignore[assignment]
    link = FakeLink()

    async def run() -> None:
        await host._ipv6("fe80::1", "fe80::2", link)  # type: ignore[arg-type]
        await host._ipv6("fe80::1", "fe80::2", link)  # type: ignore[arg-type] # a later Ipv6Up: nothing

    asyncio.run(run())
    assert link.disabled == ["IPv6 unusable on this host"] and not link.ipv6_enabled
    assert host.ipv6 is None
    assert wakes  # the driver transmits the IPv6CP Terminate-Request
    assert stream.getvalue() == ("pppos-up: warning: IPv6 disabled on this link: adding fe80::1 to ppp0: "
                                 "Invalid argument; IPv4 continues\n")
