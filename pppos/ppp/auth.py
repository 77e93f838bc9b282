"""PAP (RFC 1334 section 2) and CHAP with MD5 (RFC 1994), both roles, sans-I/O.

Each class is a small state machine driven by :class:`~pppos.ppp.link.PppLink` during the
Authenticate phase (RFC 1661 section 3.5):

- :class:`PapPeer` (authenticatee): sends Authenticate-Request and retransmits it every ``timeout``
  seconds until an Ack or Nak arrives or ``max_transmits`` requests went unanswered (RFC 1334
  section 2.2.1).
- :class:`PapAuthenticator`: waits up to ``wait`` seconds for a request, checks it against the
  configured secrets and answers Ack or Nak; a repeated request gets the same answer.
- :class:`ChapPeer` (authenticatee): answers every Challenge (including re-challenges after
  success, RFC 1994 section 2) with ``MD5(Identifier || secret || Challenge)`` (section 4.1).
- :class:`ChapAuthenticator`: sends a random Challenge, retransmits it on timeout, verifies the
  Response, answers Success or Failure, and optionally re-challenges every ``rechallenge`` seconds.

Outputs are packet payloads (the PPP information field) collected by :meth:`take_output`; results
are :class:`AuthOutcome` values collected by :meth:`take_outcomes`. Secrets are held in attributes
that no ``repr``, trace or error message shows.
"""

from __future__ import annotations

import hashlib
import hmac
import random
from collections.abc import Mapping
from dataclasses import dataclass

from pppos.ppp.packets import ChapCode, ControlPacket, PapCode, Protocol
from pppos.ppp.text import peer_text

__all__ = [
    "AuthOutcome",
    "Authenticator",
    "ChapAuthenticator",
    "ChapPeer",
    "PapAuthenticator",
    "PapPeer",
    "chap_md5_response",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthOutcome:
    """The result of one authentication exchange.

    ``protocol`` is ``"pap"`` or ``"chap"``; ``authenticator`` is True when we checked the peer (False
    when the peer checked us); ``message`` is the peer's or our text (never a secret); ``user`` is the
    name that was presented.
    """

    ok: bool
    protocol: str
    authenticator: bool
    message: str
    user: str = ""


def chap_md5_response(identifier: int, secret: bytes, challenge: bytes) -> bytes:
    """``MD5(Identifier || secret || Challenge)``, the CHAP-MD5 response value (RFC 1994 section 4.1)."""
    return hashlib.md5(bytes((identifier & 0xFF,)) + secret + challenge).digest()  # noqa: S324 - RFC 1994


def _text(data: bytes) -> str:
    """Peer text (messages, names) made safe to show: :func:`pppos.ppp.text.peer_text`."""
    return peer_text(data)


def _lv(data: bytes) -> bytes:
    """A one-octet length followed by ``data`` (truncated to 255 octets)."""
    data = data[:255]
    return bytes((len(data),)) + data


class Authenticator:
    """Common machinery: outgoing payloads, outcomes and one deadline (the uniform timer surface)."""

    protocol: Protocol = Protocol.PAP
    name: str = "pap"
    authenticator: bool = False

    def __init__(self) -> None:
        self._out: list[bytes] = []
        self._outcomes: list[AuthOutcome] = []
        self._deadline: float | None = None
        #: The latest outcome, None until the exchange finished.
        self.outcome: AuthOutcome | None = None
        #: Packets that were malformed or unexpected and dropped.
        self.discarded = 0

    def start(self, now: float) -> None:
        """Begin the exchange (called when the Authenticate phase starts)."""

    def receive(self, packet: ControlPacket, now: float) -> None:
        """Handle one packet of this protocol from the peer."""

    def get_timer(self) -> float | None:
        """The next deadline (absolute, caller's clock), or None."""
        return self._deadline

    def handle_timer(self, now: float) -> None:
        """Run the timer if its deadline has passed."""
        if self._deadline is not None and now >= self._deadline:
            self._deadline = None
            self._on_timeout(now)

    def _on_timeout(self, now: float) -> None:
        pass

    def stop(self) -> None:
        """Cancel timers (the link is going down)."""
        self._deadline = None

    def take_output(self) -> list[bytes]:
        """Return and clear the payloads to send (protocol :attr:`protocol`)."""
        out, self._out = self._out, []
        return out

    def take_outcomes(self) -> list[AuthOutcome]:
        """Return and clear the outcomes reached since the last call."""
        out, self._outcomes = self._outcomes, []
        return out

    def _finish(self, ok: bool, message: str, user: str = "") -> None:
        self.outcome = AuthOutcome(
            ok=ok, protocol=self.name, authenticator=self.authenticator, message=message, user=user
        )
        self._outcomes.append(self.outcome)

    def __repr__(self) -> str:
        state = "pending" if self.outcome is None else ("ok" if self.outcome.ok else "failed")
        return f"<{type(self).__name__} {state}>"


class PapPeer(Authenticator):
    """PAP authenticatee (RFC 1334 section 2.2.1): send Authenticate-Request until Ack or Nak."""

    protocol = Protocol.PAP
    name = "pap"

    def __init__(self, user: str, password: str, *, timeout: float = 3.0, max_transmits: int = 10) -> None:
        super().__init__()
        self.user = user
        self._password = password.encode("utf-8")
        self.timeout = timeout
        self.max_transmits = max_transmits
        self._id = 0
        self._transmits = 0

    def start(self, now: float) -> None:
        """Send the first Authenticate-Request."""
        self._transmits = 0
        self._send(now)

    def _send(self, now: float) -> None:
        self._id = (self._id + 1) & 0xFF
        self._transmits += 1
        body = _lv(self.user.encode("utf-8")) + _lv(self._password)
        self._out.append(ControlPacket(PapCode.AUTHENTICATE_REQUEST, self._id, body).encode())
        self._deadline = now + self.timeout

    def _on_timeout(self, now: float) -> None:
        if self.outcome is not None:
            return
        if self._transmits >= self.max_transmits:
            self._finish(False, f"no answer to {self._transmits} PAP Authenticate-Requests")
            return
        self._send(now)

    def receive(self, packet: ControlPacket, now: float) -> None:
        """Handle Authenticate-Ack/Nak; others and stale identifiers are discarded."""
        if packet.code not in (PapCode.AUTHENTICATE_ACK, PapCode.AUTHENTICATE_NAK) or packet.identifier != self._id:
            self.discarded += 1
            return
        if self.outcome is not None:
            return
        data = packet.data
        message = _text(data[1 : 1 + data[0]]) if data else ""
        self._deadline = None
        self._finish(packet.code == PapCode.AUTHENTICATE_ACK, message, self.user)


class PapAuthenticator(Authenticator):
    """PAP authenticator (RFC 1334 section 2.2): check Authenticate-Requests against ``secrets``."""

    protocol = Protocol.PAP
    name = "pap"
    authenticator = True

    def __init__(self, secrets: Mapping[str, str], *, wait: float = 30.0) -> None:
        super().__init__()
        self._secrets = dict(secrets)
        self.wait = wait
        self._last_reply: bytes | None = None

    def start(self, now: float) -> None:
        """Start waiting for the peer's first request."""
        self._deadline = now + self.wait

    def _on_timeout(self, now: float) -> None:
        if self.outcome is None:
            self._finish(False, "peer sent no PAP Authenticate-Request")

    def receive(self, packet: ControlPacket, now: float) -> None:
        """Answer an Authenticate-Request with Ack or Nak (the same answer for repeats)."""
        if packet.code != PapCode.AUTHENTICATE_REQUEST:
            self.discarded += 1
            return
        data = packet.data
        if not data or 1 + data[0] >= len(data) or 2 + data[0] + data[1 + data[0]] > len(data):
            self.discarded += 1
            return
        ulen = data[0]
        user_b = data[1 : 1 + ulen]
        plen = data[1 + ulen]
        password = data[2 + ulen : 2 + ulen + plen]
        user = user_b.decode("utf-8", "replace")  # for the lookup; _finish shows it through _text
        if self.outcome is not None and self._last_reply is not None:
            # RFC 1334 section 2.2.1: a retransmitted request gets the same answer.
            self._out.append(ControlPacket(self._last_reply[0], packet.identifier, self._last_reply[1:]).encode())
            return
        expected = self._secrets.get(user)
        ok = expected is not None and hmac.compare_digest(expected.encode("utf-8"), password)
        message = "Login ok" if ok else "Login incorrect"
        code = PapCode.AUTHENTICATE_ACK if ok else PapCode.AUTHENTICATE_NAK
        body = _lv(message.encode())
        self._last_reply = bytes((code,)) + body
        self._out.append(ControlPacket(code, packet.identifier, body).encode())
        self._deadline = None
        self._finish(ok, message, _text(user.encode()))


class ChapPeer(Authenticator):
    """CHAP-MD5 authenticatee (RFC 1994 section 4): answer every Challenge, accept re-challenges."""

    protocol = Protocol.CHAP
    name = "chap"

    def __init__(self, name: str, secret: str, *, wait: float = 30.0) -> None:
        super().__init__()
        self.user = name
        self._secret = secret.encode("utf-8")
        self.wait = wait
        self._answered_id: int | None = None
        self._last_response: bytes | None = None

    def start(self, now: float) -> None:
        """Start waiting for the authenticator's Challenge."""
        self._deadline = now + self.wait

    def _on_timeout(self, now: float) -> None:
        if self.outcome is None:
            self._finish(False, "peer sent no CHAP Challenge")

    def receive(self, packet: ControlPacket, now: float) -> None:
        """Answer a Challenge; take Success/Failure for the identifier we answered."""
        data = packet.data
        if packet.code == ChapCode.CHALLENGE:
            if not data or data[0] == 0 or 1 + data[0] > len(data):
                self.discarded += 1
                return
            challenge = data[1 : 1 + data[0]]
            value = chap_md5_response(packet.identifier, self._secret, challenge)
            body = _lv(value) + self.user.encode("utf-8")
            self._last_response = ControlPacket(ChapCode.RESPONSE, packet.identifier, body).encode()
            self._answered_id = packet.identifier
            self._out.append(self._last_response)
            self._deadline = None
            return
        if packet.code in (ChapCode.SUCCESS, ChapCode.FAILURE):
            if packet.identifier != self._answered_id:
                self.discarded += 1
                return
            ok = packet.code == ChapCode.SUCCESS
            if self.outcome is not None and self.outcome.ok == ok:
                return  # a duplicate answer to a challenge we already settled
            self._finish(ok, _text(data), self.user)
            return
        self.discarded += 1


class ChapAuthenticator(Authenticator):
    """CHAP-MD5 authenticator (RFC 1994 sections 2 and 4): challenge, verify, optional re-challenge."""

    protocol = Protocol.CHAP
    name = "chap"
    authenticator = True

    def __init__(
        self,
        secrets: Mapping[str, str],
        *,
        name: str = "pppos",
        timeout: float = 3.0,
        max_transmits: int = 10,
        rechallenge: float | None = None,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__()
        self._secrets = dict(secrets)
        self.system_name = name
        self.timeout = timeout
        self.max_transmits = max_transmits
        self.rechallenge = rechallenge
        self._rng = rng if rng is not None else random.Random()  # noqa: S311 - seeded in tests
        self._id = self._rng.randrange(256)
        self._challenge = b""
        self._transmits = 0
        self._waiting = False
        self._last_reply: bytes | None = None

    def start(self, now: float) -> None:
        """Send the first Challenge."""
        self._new_challenge(now)

    def _new_challenge(self, now: float) -> None:
        self._id = (self._id + 1) & 0xFF
        self._challenge = self._rng.randbytes(16)
        self._transmits = 0
        self._waiting = True
        self._last_reply = None
        self._send_challenge(now)

    def _send_challenge(self, now: float) -> None:
        self._transmits += 1
        body = _lv(self._challenge) + self.system_name.encode("utf-8")
        self._out.append(ControlPacket(ChapCode.CHALLENGE, self._id, body).encode())
        self._deadline = now + self.timeout

    def _on_timeout(self, now: float) -> None:
        if self._waiting:
            if self._transmits >= self.max_transmits:
                self._waiting = False
                self._finish(False, f"no answer to {self._transmits} CHAP Challenges")
                return
            self._send_challenge(now)
        elif self.rechallenge is not None and self.outcome is not None and self.outcome.ok:
            self._new_challenge(now)

    def receive(self, packet: ControlPacket, now: float) -> None:
        """Verify a Response to the current Challenge and answer Success or Failure."""
        if packet.code != ChapCode.RESPONSE or packet.identifier != self._id:
            self.discarded += 1
            return
        if not self._waiting:
            if self._last_reply is not None:  # the peer missed our answer: repeat it (RFC 1994 section 4.2)
                self._out.append(ControlPacket(self._last_reply[0], self._id, self._last_reply[1:]).encode())
            return
        data = packet.data
        if not data or 1 + data[0] > len(data):
            self.discarded += 1
            return
        value = data[1 : 1 + data[0]]
        user = data[1 + data[0] :].decode("utf-8", "replace")  # for the lookup; shown through _text
        secret = self._secrets.get(user)
        expected = chap_md5_response(self._id, secret.encode("utf-8"), self._challenge) if secret is not None else None
        ok = expected is not None and hmac.compare_digest(expected, value)
        message = "Access granted" if ok else "Access denied"
        code = ChapCode.SUCCESS if ok else ChapCode.FAILURE
        self._last_reply = bytes((code,)) + message.encode()
        self._out.append(ControlPacket(code, self._id, message.encode()).encode())
        self._waiting = False
        self._deadline = now + self.rechallenge if ok and self.rechallenge is not None else None
        self._finish(ok, message, _text(user.encode()))
