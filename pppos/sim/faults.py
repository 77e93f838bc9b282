"""Faults for ``pppos-sim``: their names and arguments, a schedule file, seeded line noise, the control
channel's wire format and the frames a fault injects. Sans-I/O except :func:`send_fault` (the client).

A fault is a name and at most one number (the driver, :mod:`pppos.sim.serve`, applies it):

=============  ===========  ================================================================================
name           argument     what the host sees
=============  ===========  ================================================================================
``carrier``    --           the network drops the call: ``NO CARRIER``, slirp stopped (a new dial works)
``mute``       SECONDS      the modem freezes: AT gets no answer, data is dropped both ways, then it thaws
``reboot``     --           the call ends without a word, the modem boots (boot latency, boot URCs, SIM PIN)
                            into its stored profile (``--stored-profile``: V0/Q1/E1 come back)
``vanish``     SECONDS      USB re-enumeration: the pty disappears (EIO/HUP), the link symlink is removed;
                            after SECONDS a new pty (a new ``/dev/pts/N``) is linked at the same path and
                            the modem boots
``noise``      BER          bits flipped on the serial line in both directions at this bit error rate
                            (0 ends the noise); seeded by ``--seed``
``terminate``  --           the network's PPP peer sends an LCP Terminate-Request (RFC 1661 section 5.5)
                            and hangs up (``NO CARRIER``) once the host acks it, or after 3 s
``reg-lost``   SECONDS      registration lost (``+CREG: 2``, searching): the call drops; back after SECONDS
``reg-denied`` SECONDS      registration denied (``+CREG: 3``): the call drops; home again after SECONDS
``pdp-reject`` N            the next N dials are refused (PDP context activation rejected: ``NO CARRIER``)
``stuck``      --           dialing answers ``ERROR`` until ``AT+CFUN=0`` then ``AT+CFUN=1``, or a reset
                            (``AT+CFUN=1,1`` or the profile's reset command)
``profile-     --           the modem falls back to its stored profile's echo and result-code settings
reset``                     (``--stored-profile``: E/Q/V, V.250 6.2.4-6.2.6) without a reboot, as when
                            another program sends ``ATZ`` on a second AT port; a call stays up
=============  ===========  ================================================================================

Control channel: ``pppos-sim`` listens on a unix stream socket at the link path plus ``.ctl`` (mode
0600). A client sends one line ``NAME [ARG]`` and gets one line back, ``ok <what happened>`` or
``error <why>``, then the server closes the connection.

Schedule (``--faults FILE``): one fault per line, ``SECONDS NAME [ARG]``, SECONDS after the simulator
started; ``#`` starts a comment. Example::

    # carrier loss 5 s after start, a 2 s freeze at 12 s
    5 carrier
    12 mute 2
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pppos.errors import ConfigError, ExitStatus, PpposError

__all__ = [
    "CTL_SUFFIX",
    "FAULTS",
    "TERMINATE_WAIT",
    "CtlUnreachable",
    "Fault",
    "FaultSpec",
    "LineNoise",
    "ScheduledFault",
    "Timers",
    "ctl_path",
    "lcp_terminate_request",
    "parse_fault",
    "parse_schedule",
    "send_fault",
]

#: The control socket is the link path with this suffix.
CTL_SUFFIX = ".ctl"
#: The longest control line accepted (bytes).
CTL_MAX_LINE = 256
#: Seconds the network peer waits for the host's Terminate-Ack before hanging up anyway (one RFC 1661
#: Restart timer, section 4.6).
TERMINATE_WAIT = 3.0


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultSpec:
    """One fault kind: its argument (None: none), whether the argument is an integer, and a help line."""

    arg: str | None
    integer: bool = False
    #: smallest accepted argument (inclusive) and largest (exclusive for ``noise``'s rate below 1)
    low: float = 0.0
    high: float = math.inf
    help: str = ""


FAULTS: dict[str, FaultSpec] = {
    "carrier": FaultSpec(arg=None, help="the network drops the call (NO CARRIER)"),
    "mute": FaultSpec(arg="SECONDS", low=0.0, help="stop answering AT and stop data for SECONDS"),
    "reboot": FaultSpec(arg=None, help="the modem reboots: call gone, boot URCs, SIM PIN again"),
    "vanish": FaultSpec(arg="SECONDS", low=0.0, help="the USB port vanishes; a new pty at the same link after SECONDS"),
    "noise": FaultSpec(arg="BER", low=0.0, high=1.0, help="flip bits at this bit error rate (0 stops)"),
    "terminate": FaultSpec(arg=None, help="the network's PPP peer sends LCP Terminate-Request, then hangs up"),
    "reg-lost": FaultSpec(arg="SECONDS", low=0.0, help="registration lost (searching) for SECONDS; the call drops"),
    "reg-denied": FaultSpec(arg="SECONDS", low=0.0, help="registration denied for SECONDS; the call drops"),
    "pdp-reject": FaultSpec(arg="N", integer=True, low=1, help="reject PDP activation on the next N dials"),
    "stuck": FaultSpec(arg=None, help="dial answers ERROR until AT+CFUN=0 then 1, or a reset"),
    "profile-reset": FaultSpec(arg=None, help="echo and result codes (E/Q/V) back to the stored profile"),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Fault:
    """A parsed fault: a name from :data:`FAULTS` and its argument (None when it takes none)."""

    name: str
    value: float | None = None

    def __str__(self) -> str:
        if self.value is None:
            return self.name
        number = int(self.value) if FAULTS[self.name].integer else self.value
        return f"{self.name} {number:g}" if isinstance(number, float) else f"{self.name} {number}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduledFault:
    """A fault from a ``--faults`` file: ``at`` seconds after the simulator started."""

    at: float
    fault: Fault


def parse_fault(words: Sequence[str]) -> Fault:
    """Parse ``NAME [ARG]`` into a :class:`Fault`.

    :raises ConfigError: unknown name (the message lists the known ones), missing, extra or bad argument.
    """
    if not words:
        raise ConfigError(f"no fault given: choose one of {', '.join(FAULTS)}")
    name = words[0].lower()
    spec = FAULTS.get(name)
    if spec is None:
        shown = words[0][:40].encode("ascii", "replace").decode("ascii")
        raise ConfigError(f"unknown fault {shown!r}: choose one of {', '.join(FAULTS)}")
    args = list(words[1:])
    if spec.arg is None:
        if args:
            raise ConfigError(f"fault {name} takes no argument")
        return Fault(name=name)
    if len(args) != 1:
        raise ConfigError(f"fault {name} takes one argument: {name} {spec.arg}")
    try:
        value = float(int(args[0])) if spec.integer else float(args[0])
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and spec.low <= value < spec.high):
        kind = "a whole number" if spec.integer else "a number"
        bound = f" below {spec.high:g}" if math.isfinite(spec.high) else ""
        raise ConfigError(f"bad {spec.arg} for fault {name}: give {kind} >= {spec.low:g}{bound}")
    return Fault(name=name, value=value)


def parse_schedule(text: str, source: str = "--faults") -> list[ScheduledFault]:
    """Parse a schedule (``SECONDS NAME [ARG]`` lines, ``#`` comments) into faults sorted by time.

    :raises ConfigError: one line naming the file and line number.
    """
    out: list[ScheduledFault] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        words = raw.split("#", 1)[0].split()
        if not words:
            continue
        try:
            at = float(words[0])
        except ValueError:
            at = math.nan
        try:
            if not (math.isfinite(at) and at >= 0):
                raise ConfigError("each line starts with the seconds after start (a number >= 0)")
            fault = parse_fault(words[1:])
        except ConfigError as exc:
            raise ConfigError(f"{source} line {number}: {exc}") from None
        out.append(ScheduledFault(at=at, fault=fault))
    out.sort(key=lambda s: s.at)
    return out


# -- line noise ----------------------------------------------------------------------------------


class LineNoise:
    """Flips bits at a bit error rate with a seeded generator (the same seed flips the same bits).

    Gaps between errors are drawn from the geometric distribution, so clean stretches cost nothing.
    """

    __slots__ = ("_gap", "_rate", "_rng", "flipped")

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._rate = 0.0
        self._gap = 0
        #: bits flipped so far
        self.flipped = 0

    @property
    def rate(self) -> float:
        """The bit error rate (0: off)."""
        return self._rate

    def set_rate(self, rate: float) -> None:
        """Start (or stop, with 0) the noise."""
        self._rate = rate
        self._gap = self._draw() if rate > 0 else 0

    def _draw(self) -> int:
        if self._rate >= 1.0:
            return 0
        u = 1.0 - self._rng.random()  # in (0, 1]
        return int(math.log(u) / math.log1p(-self._rate))

    def apply(self, data: bytes) -> bytes:
        """``data`` with this stretch's errors applied."""
        if self._rate <= 0 or not data:
            return data
        bits = len(data) * 8
        if self._gap >= bits:
            self._gap -= bits
            return data
        out = bytearray(data)
        position = self._gap
        while position < bits:
            out[position >> 3] ^= 1 << (position & 7)
            self.flipped += 1
            position += 1 + self._draw()
        self._gap = position - bits
        return bytes(out)


# -- timers ----------------------------------------------------------------------------------------


class Timers:
    """The driver's fault deadlines: actions run in time order (ties in the order they were added)."""

    __slots__ = ("_heap", "_seq")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Callable[[float], None]]] = []
        self._seq = itertools.count()

    def add(self, when: float, action: Callable[[float], None]) -> None:
        """Run ``action(now)`` at ``when``."""
        heapq.heappush(self._heap, (when, next(self._seq), action))

    def deadline(self) -> float | None:
        """The earliest deadline, or None."""
        return self._heap[0][0] if self._heap else None

    def run_due(self, now: float) -> None:
        """Run every action due at ``now``."""
        while self._heap and self._heap[0][0] <= now:
            _, _, action = heapq.heappop(self._heap)
            action(now)


# -- PPP frames a fault injects or watches for ------------------------------------------------------------


def _fcs16(data: bytes) -> int:
    """RFC 1662 appendix C.2 FCS-16."""
    fcs = 0xFFFF
    for byte in data:
        fcs ^= byte
        for _ in range(8):
            fcs = (fcs >> 1) ^ 0x8408 if fcs & 1 else fcs >> 1
    return fcs ^ 0xFFFF


def lcp_terminate_request(identifier: int) -> bytes:
    """An HDLC-framed LCP Terminate-Request (RFC 1661 section 5.5) with every control character escaped
    (RFC 1662 section 7.1 default ACCM), as a network peer sends it."""
    body = b"\xff\x03\xc0\x21" + bytes((5, identifier & 0xFF)) + b"\x00\x04"
    fcs = _fcs16(body)
    out = bytearray(b"\x7e")
    for byte in body + bytes((fcs & 0xFF, fcs >> 8)):
        if byte < 0x20 or byte in (0x7D, 0x7E):
            out += bytes((0x7D, byte ^ 0x20))
        else:
            out.append(byte)
    out.append(0x7E)
    return bytes(out)


# -- the control channel ---------------------------------------------------------------------------------


class CtlUnreachable(PpposError):
    """No simulator answers on the control socket (none runs at that link, or it did not reply)."""

    exit_status = ExitStatus.NO_MODEM


def ctl_path(link: Path) -> Path:
    """The control socket of the simulator serving ``link``."""
    return link.with_name(link.name + CTL_SUFFIX)


def send_fault(link: Path, fault: Fault, *, timeout: float = 5.0) -> str:
    """Send ``fault`` to the simulator at ``link``; return its ``ok ...`` text (without ``ok``).

    :raises CtlUnreachable: no control socket, connection refused, or no reply within ``timeout``.
    :raises PermissionProblem: the socket belongs to another user (mode 0600).
    :raises ConfigError: the simulator rejected the fault (its reason is the message).
    """
    from pppos.errors import PermissionProblem

    path = ctl_path(link)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(str(path))
            sock.sendall(f"{fault}\n".encode("ascii"))
            reply = b""
            while b"\n" not in reply and len(reply) < CTL_MAX_LINE:
                chunk = sock.recv(CTL_MAX_LINE)
                if not chunk:
                    break
                reply += chunk
        except PermissionError:
            raise PermissionProblem(f"cannot use {path}: it belongs to another user (mode 0600)") from None
        except (FileNotFoundError, ConnectionRefusedError):
            raise CtlUnreachable(f"no simulator listens on {path} (is pppos-sim running with --link {link}?)") from None
        except TimeoutError:
            raise CtlUnreachable(f"the simulator at {path} did not answer within {timeout:g} s") from None
        except OSError as exc:
            raise CtlUnreachable(f"cannot reach the simulator at {path}: {exc.strerror}") from None
    text = reply.split(b"\n", 1)[0].decode("ascii", "replace")
    verdict, _, rest = text.partition(" ")
    if verdict == "ok":
        return rest
    if verdict == "error":
        raise ConfigError(rest)
    raise CtlUnreachable(f"the simulator at {path} gave no answer")
