"""Seeded, structure-aware fuzzing of the PPP receive path: the HDLC deframer and PppLink.receive_data.

Shared by the CI fuzz tests (tests/ppp/test_fuzz.py, a bounded budget) and ``bench/fuzz.py`` (a
million inputs per target). Everything is driven by one ``random.Random(seed)``, so a failure is
reproduced by its seed and input index.

* **hdlc**: line noise built from good frames (random ACCM, ACFC/PFC), truncated and corrupted
  frames, runs of flags and escapes, aborts, oversize frames and plain random octets, fed to one
  long-lived :class:`~pppos.ppp.hdlc.Deframer` in random chunks (including one octet at a time).
* **link**: frames with a *valid FCS* (so they get past the deframer) carrying LCP, IPCP, IPv6CP,
  PAP and CHAP packets (plus IP and unknown protocols), made from the real option and code tables
  with edge values (MRU 0/1/65535, our own magic, zero and hostile addresses, wrong lengths,
  truncated fields, escape sequences in text) and then sometimes bit-flipped, fed to links of
  both roles in three states: negotiating (LCP), authenticating (PAP or CHAP pending) and up.
  Timers fire at random points. A link is replaced by a fresh copy of its template every
  :data:`RESET_EVERY` inputs, so the fuzzer keeps visiting the interesting states.

Invariants checked after every input: no exception escapes, the deframer's partial frame stays
within its documented bound, and the events and output the link queued are drained and bounded.
"""

from __future__ import annotations

import copy
import random
import struct
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

from pppos.ppp import hdlc
from pppos.ppp.capture import PcapWriter
from pppos.ppp.link import LinkConfig, Phase, PppLink, Role
from pppos.ppp.packets import ChapCode, Code, IpcpOption, Ipv6cpOption, LcpOption, PapCode, Protocol
from tests.ppp.pair import LinkPair

__all__ = ["RESET_EVERY", "FuzzResult", "LinkFuzzer", "fuzz_hdlc", "fuzz_link"]

#: A fresh copy of the link template is taken every this many inputs.
RESET_EVERY = 40
#: Output or events queued by one input beyond these would mean unbounded growth.
MAX_OUTPUT = 1 << 20
MAX_EVENTS = 1000


@dataclass
class FuzzResult:
    """What one fuzz run did: inputs, frames that reached the protocol, and any exceptions."""

    target: str
    inputs: int = 0
    frames: int = 0
    exceptions: int = 0
    #: The first few failures: (input index, traceback text, input hex).
    failures: list[tuple[int, str, str]] = field(default_factory=list)
    #: Largest partial frame the deframer held, and its bound.
    max_pending: int = 0
    pending_bound: int = 0

    def record(self, index: int, data: bytes) -> None:
        """Count the exception being handled and keep its traceback for the first ones."""
        self.exceptions += 1
        if len(self.failures) < 5:
            self.failures.append((index, traceback.format_exc(), data[:512].hex()))


# -- value generators -------------------------------------------------------------------------

_EDGE16 = (0, 1, 2, 63, 64, 127, 128, 129, 1279, 1280, 1500, 1501, 2047, 2048, 4000, 16384, 16385, 65535)
_EDGE32 = (0, 1, 0x7F000001, 0xFFFFFFFF, 0xE0000001, 0xF0000001, 0x0A404040, 0x0A00020F, 0xC0000202)
_TEXTS = (b"", b"ok", b"\x1b[2J\x1b]0;x\x07", b"\r\nfake\r\n", "\u202e".encode(), b"\xff\xfe\x00", b"A" * 300)


def _u16(rng: random.Random) -> bytes:
    return struct.pack("!H", rng.choice(_EDGE16) if rng.random() < 0.7 else rng.getrandbits(16))


def _u32(rng: random.Random) -> bytes:
    return struct.pack("!I", rng.choice(_EDGE32) if rng.random() < 0.7 else rng.getrandbits(32))


def _blob(rng: random.Random, most: int = 12) -> bytes:
    return rng.randbytes(rng.randint(0, most))


def _lcp_option(rng: random.Random, magic: int) -> tuple[int, bytes]:
    kind = rng.choice((1, 1, 2, 3, 3, 4, 5, 5, 7, 8, 13, rng.randint(0, 255)))
    if kind == LcpOption.MRU:
        return kind, _u16(rng)
    if kind == LcpOption.ACCM:
        return kind, _u32(rng)
    if kind == LcpOption.AUTH_PROTOCOL:
        value = rng.choice((b"\xc0\x23", b"\xc2\x23\x05", b"\xc2\x23\x80", b"\xc2\x27", b"\xc0", b""))
        return kind, value
    if kind == LcpOption.MAGIC_NUMBER:
        return kind, struct.pack("!I", magic) if rng.random() < 0.3 else _u32(rng)
    if kind in (LcpOption.PFC, LcpOption.ACFC):
        return kind, b"" if rng.random() < 0.8 else _blob(rng, 3)
    return kind, _blob(rng)


def _ipcp_option(rng: random.Random, magic: int) -> tuple[int, bytes]:
    kind = rng.choice((1, 2, 3, 3, 3, 129, 130, 131, 132, rng.randint(0, 255)))
    if kind in (IpcpOption.IP_ADDRESS, IpcpOption.PRIMARY_DNS, IpcpOption.SECONDARY_DNS,
                IpcpOption.PRIMARY_NBNS, IpcpOption.SECONDARY_NBNS):
        return kind, _u32(rng) if rng.random() < 0.9 else _blob(rng, 6)
    if kind == IpcpOption.IP_COMPRESSION:
        return kind, b"\x00\x2d\x0f\x01" if rng.random() < 0.5 else _blob(rng)
    return kind, _blob(rng)


def _ipv6cp_option(rng: random.Random, magic: int) -> tuple[int, bytes]:
    kind = rng.choice((Ipv6cpOption.INTERFACE_IDENTIFIER,) * 4 + (2, rng.randint(0, 255)))
    if kind == Ipv6cpOption.INTERFACE_IDENTIFIER:
        value = rng.choice((bytes(8), b"\xff" * 8, rng.randbytes(8), rng.randbytes(rng.randint(0, 10))))
        return kind, value
    return kind, _blob(rng)


_OPTIONS: dict[int, Callable[[random.Random, int], tuple[int, bytes]]] = {
    Protocol.LCP: _lcp_option,
    Protocol.IPCP: _ipcp_option,
    Protocol.IPV6CP: _ipv6cp_option,
}


def _options(rng: random.Random, protocol: int, magic: int) -> bytes:
    out = bytearray()
    for _ in range(rng.randint(0, 6)):
        kind, value = _OPTIONS[protocol](rng, magic)
        length = len(value) + 2
        r = rng.random()
        if r < 0.05:
            length = rng.choice((0, 1, 255, length + 1, max(length - 1, 0)))
        out += bytes((kind, length & 0xFF)) + value
    return bytes(out)


def _lv(rng: random.Random, data: bytes) -> bytes:
    n = len(data) & 0xFF
    if rng.random() < 0.05:
        n = rng.randint(0, 255)
    return bytes((n,)) + data[:255]


def _payload(rng: random.Random, protocol: int, ident: int, magic: int) -> bytes:
    """One packet of ``protocol`` (code, identifier, length, data) built from its real structure."""
    if protocol in _OPTIONS:
        code = rng.choice((1, 1, 1, 2, 3, 3, 4, 4, 5, 6, 7, 8, 9, 9, 10, 10, 11, rng.randint(0, 255)))
        if code in (Code.CONFIGURE_REQUEST, Code.CONFIGURE_ACK, Code.CONFIGURE_NAK, Code.CONFIGURE_REJECT):
            data = _options(rng, protocol, magic)
        elif code in (Code.TERMINATE_REQUEST, Code.TERMINATE_ACK):
            data = rng.choice(_TEXTS)
        elif code == Code.CODE_REJECT:
            data = bytes((rng.randint(0, 12), rng.getrandbits(8))) + _u16(rng) + _blob(rng)
        elif code == Code.PROTOCOL_REJECT:
            data = rng.choice((b"\x80\x21", b"\x80\x57", b"\xc0\x21", b"\xc0\x23", b"\xc2\x23", b"\x00")) + _blob(rng)
        elif code in (Code.ECHO_REQUEST, Code.ECHO_REPLY, Code.DISCARD_REQUEST):
            data = (struct.pack("!I", magic) if rng.random() < 0.3 else _u32(rng)) + _blob(rng)
        else:
            data = _blob(rng, 40)
    elif protocol == Protocol.PAP:
        code = rng.choice((1, 1, 2, 3, 3, rng.randint(0, 255)))
        if code == PapCode.AUTHENTICATE_REQUEST:
            data = _lv(rng, rng.choice((b"user", b"", rng.randbytes(20)))) + _lv(rng, rng.choice((b"pw", b"")))
        else:
            data = _lv(rng, rng.choice(_TEXTS))
    elif protocol == Protocol.CHAP:
        code = rng.choice((1, 1, 2, 2, 3, 4, 4, rng.randint(0, 255)))
        if code in (ChapCode.CHALLENGE, ChapCode.RESPONSE):
            data = _lv(rng, rng.randbytes(rng.choice((0, 1, 16, 64)))) + rng.choice(_TEXTS)
        else:
            data = rng.choice(_TEXTS)
    else:
        return rng.randbytes(rng.randint(0, 60))
    length = 4 + len(data)
    if rng.random() < 0.05:
        length = rng.choice((0, 3, 4, length - 1, length + 1, 65535))
    return bytes((code & 0xFF, ident & 0xFF)) + struct.pack("!H", length & 0xFFFF) + data


_PROTOCOLS = (
    (Protocol.LCP, 30), (Protocol.IPCP, 18), (Protocol.IPV6CP, 10), (Protocol.PAP, 12), (Protocol.CHAP, 12),
    (Protocol.IP, 3), (Protocol.IPV6, 2), (Protocol.CCP, 2), (0x0001, 1),
)
_PROTO_LIST = [p for p, _ in _PROTOCOLS]
_PROTO_WEIGHTS = [w for _, w in _PROTOCOLS]


def _mutate(rng: random.Random, data: bytes) -> bytes:
    if not data or rng.random() > 0.15:
        return data
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        i = rng.randrange(len(buf))
        buf[i] ^= 1 << rng.randrange(8)
    if rng.random() < 0.3:
        buf = buf[: rng.randrange(len(buf) + 1)]
    return bytes(buf)


def link_frame(rng: random.Random, magic: int, idents: tuple[int, ...]) -> bytes:
    """One good-FCS frame for the link, usually a structured control packet."""
    protocol = rng.choices(_PROTO_LIST, _PROTO_WEIGHTS)[0]
    ident = rng.choice(idents) if idents and rng.random() < 0.6 else rng.getrandbits(8)
    payload = _mutate(rng, _payload(rng, protocol, ident, magic))
    accm = rng.choice((0, 0xFFFFFFFF, rng.getrandbits(32)))
    acfc, pfc = rng.random() < 0.3, rng.random() < 0.3
    if protocol == Protocol.LCP:
        acfc = False
    return hdlc.encode_frame(protocol, payload, accm=accm, acfc=acfc, pfc=pfc and protocol < 0x100)


def line_noise(rng: random.Random, max_frame: int) -> bytes:
    """Octets for the deframer: good, broken, oversize and random frames with flags and escapes."""
    parts: list[bytes] = []
    for _ in range(rng.randint(1, 4)):
        r = rng.random()
        if r < 0.35:
            size = rng.choice((0, 1, 2, 10, 100, 1500, max_frame - 6, max_frame - 5, max_frame))
            frame = hdlc.encode_frame(rng.choice(_PROTO_LIST), rng.randbytes(max(size, 0)),
                                      accm=rng.choice((0, 0xFFFFFFFF)), acfc=rng.random() < 0.5,
                                      pfc=rng.random() < 0.5)
            parts.append(_mutate(rng, frame))
        elif r < 0.5:
            parts.append(rng.choice((b"\x7e", b"\x7d", b"\x7d\x7e", b"\x7e\x7e\x7e", b"\x7d\x7d", b"\xff\x03")))
        elif r < 0.6:
            parts.append(b"\x7e" + rng.randbytes(rng.randint(max_frame, 3 * max_frame)))  # oversize
        elif r < 0.7:
            parts.append(b"\x7e\xff\x03\xc0\x21" + rng.randbytes(rng.randint(0, 20)))  # cut short
        else:
            parts.append(rng.randbytes(rng.randint(0, 64)))
    return b"".join(parts)


def _chunks(rng: random.Random, data: bytes) -> list[bytes]:
    if rng.random() < 0.1:
        return [data[i : i + 1] for i in range(len(data))]
    out = []
    i = 0
    while i < len(data):
        n = rng.randint(1, max(1, len(data)))
        out.append(data[i : i + n])
        i += n
    return out


def fuzz_hdlc(inputs: int, seed: int = 1) -> FuzzResult:
    """Feed ``inputs`` pieces of line noise to one deframer; count exceptions and watch its memory."""
    rng = random.Random(seed)
    result = FuzzResult("hdlc")
    deframer = hdlc.Deframer(accm=0, max_frame=hdlc.DEFAULT_MAX_FRAME)
    bound = 2 * deframer.max_frame + 2
    result.pending_bound = bound
    for index in range(inputs):
        data = line_noise(rng, deframer.max_frame)
        try:
            if rng.random() < 0.01:
                deframer.accm = rng.choice((0, 0xFFFFFFFF, rng.getrandbits(32)))
                deframer.fcs32 = rng.random() < 0.1
            for chunk in _chunks(rng, data):
                for frame in deframer.feed(chunk):
                    result.frames += 1
                    if not isinstance(frame, hdlc.Frame) or not 0 <= frame.protocol <= 0xFFFF:
                        raise AssertionError(f"bad frame {frame!r}")
                result.max_pending = max(result.max_pending, deframer.pending)
                if deframer.pending > bound:
                    raise AssertionError(f"partial frame of {deframer.pending} octets exceeds {bound}")
        except Exception:
            result.record(index, data)
        result.inputs += 1
    return result


# -- link states ----------------------------------------------------------------------------------


class _Sink:
    """A file object that discards what the pcap writer writes (the masking still runs)."""

    def write(self, data: bytes) -> int:
        return len(data)

    def flush(self) -> None:
        pass


def _templates(seed: int) -> list[tuple[str, PppLink, float]]:
    """(name, link, now): both roles negotiating, authenticating (PAP, CHAP) and up."""
    client = LinkConfig(echo_interval=5.0, seed=seed, username="user", password="pw")
    server = LinkConfig(role=Role.SERVER, local_ip="10.0.2.2", peer_ip="10.0.2.15", dns=("10.0.2.3",),
                        echo_interval=5.0, seed=seed + 1, auth_secrets={"user": "pw"})
    out: list[tuple[str, PppLink, float]] = []
    for name, config in (("client negotiating", client), ("server negotiating", server)):
        link = PppLink(config)
        link.open(1000.0)
        link.data_to_send()
        while link.next_event() is not None:
            pass
        out.append((name, link, 1000.0))
    for auth in ("pap", "chap"):
        pair = LinkPair(client, _replace(server, require_auth=auth))
        pair.open()
        pair.run(1060.0, lambda pair=pair: pair.server.link.phase is Phase.AUTHENTICATE  # type: ignore[misc]
                 and pair.client.link.phase is Phase.AUTHENTICATE)
        # the server's Challenge / the client's Authenticate-Request are on the line, undelivered
        out.append((f"client authenticating {auth}", pair.client.link, pair.now))
        out.append((f"server authenticating {auth}", pair.server.link, pair.now))
    pair = LinkPair(client, _replace(server, require_auth="chap"))
    pair.open()
    if not pair.run(1060.0, pair.both_up):
        raise AssertionError("the fuzz template pair did not come up")
    out.append(("client up", pair.client.link, pair.now))
    out.append(("server up", pair.server.link, pair.now))
    for _, link, _ in out:
        link.data_to_send()
        while link.next_event() is not None:
            pass
        link._trace = None
        link._capture = None
    return out


def _replace(config: LinkConfig, **changes: object) -> LinkConfig:
    import dataclasses

    return dataclasses.replace(config, **changes)  # type: ignore[arg-type]


class LinkFuzzer:
    """Feeds fuzz frames to fresh copies of the link templates, round robin (see the module doc)."""

    def __init__(self, seed: int = 1) -> None:
        self.rng = random.Random(seed)
        self.templates = _templates(seed)
        self.visits = {name: 0 for name, _, _ in self.templates}
        self._pcap = PcapWriter(_Sink(), flush=False)  # type: ignore[arg-type]

    def _fresh(self, index: int) -> tuple[str, PppLink, float]:
        name, template, now = self.templates[index % len(self.templates)]
        link = copy.deepcopy(template)
        link.stats.frames_in = 0
        link._trace = _discard
        link._capture = self._pcap.write
        return name, link, now

    def run(self, inputs: int) -> FuzzResult:
        """Feed ``inputs`` frames (each a separate input) and return the counts."""
        rng = self.rng
        result = FuzzResult("link")
        name, link, now = self._fresh(0)
        for index in range(inputs):
            if index % RESET_EVERY == 0:
                result.frames += link.stats.frames_in
                name, link, now = self._fresh(index // RESET_EVERY)
            self.visits[name] += 1
            magic = link.lcp_policy.result.our_magic or link.lcp_policy.want_magic
            idents = tuple(i for i in (link.lcp._req_id, link.ipcp._req_id, link.ipv6cp._req_id) if i is not None)
            data = link_frame(rng, magic, idents)
            try:
                for chunk in _chunks(rng, data) if rng.random() < 0.1 else [data]:
                    link.receive_data(chunk, now)
                if rng.random() < 0.05:
                    deadline = link.get_timer()
                    if deadline is not None:
                        now = max(now, deadline)
                        link.handle_timer(now)
                events = 0
                while link.next_event() is not None:
                    events += 1
                if events > MAX_EVENTS or link.pending_output() > MAX_OUTPUT:
                    raise AssertionError(f"{events} events / {link.pending_output()} octets queued by one input")
                link.data_to_send()
                if link._deframer.pending > 2 * link._deframer.max_frame + 2:
                    raise AssertionError("deframer partial frame beyond its bound")
            except Exception:
                result.record(index, data)
                result.frames += link.stats.frames_in
                name, link, now = self._fresh(index)
            result.inputs += 1
        result.frames += link.stats.frames_in
        return result


def _discard(line: str) -> None:
    pass


def fuzz_link(inputs: int, seed: int = 1) -> FuzzResult:
    """Fuzz PppLink.receive_data with ``inputs`` frames (see :class:`LinkFuzzer`)."""
    return LinkFuzzer(seed).run(inputs)
