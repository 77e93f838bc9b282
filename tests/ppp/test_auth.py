"""PAP (RFC 1334 section 2) and CHAP-MD5 (RFC 1994) state machines in both roles, on a float clock."""

from __future__ import annotations

import hashlib
import random

import pytest

from pppos.ppp.auth import (
    AuthOutcome,
    ChapAuthenticator,
    ChapPeer,
    PapAuthenticator,
    PapPeer,
    chap_md5_response,
)
from pppos.ppp.packets import ChapCode, ControlPacket, PapCode, decode_packet

SECRET = "Very-Secret-42"


def packets(payloads: list[bytes]) -> list[ControlPacket]:
    out = []
    for payload in payloads:
        pkt = decode_packet(payload)
        assert pkt is not None
        out.append(pkt)
    return out


def test_chap_md5_response_is_md5_of_id_secret_challenge() -> None:
    challenge = bytes(range(16))
    expected = hashlib.md5(b"\x07" + b"secret" + challenge).digest()
    assert chap_md5_response(7, b"secret", challenge) == expected
    assert len(expected) == 16


def test_pap_peer_retransmits_then_gives_up() -> None:
    peer = PapPeer("user", SECRET, timeout=3.0, max_transmits=3)
    peer.start(100.0)
    (first,) = packets(peer.take_output())
    assert first.code == PapCode.AUTHENTICATE_REQUEST
    assert first.data == b"\x04user\x0e" + SECRET.encode()
    assert peer.get_timer() == 103.0
    peer.handle_timer(102.9)
    assert peer.take_output() == []
    peer.handle_timer(103.0)
    peer.handle_timer(106.0)
    assert len(peer.take_output()) == 2
    peer.handle_timer(109.0)
    (outcome,) = peer.take_outcomes()
    assert not outcome.ok and "3 PAP" in outcome.message
    assert SECRET not in repr(peer)


def test_pap_peer_takes_ack_only_for_current_id() -> None:
    peer = PapPeer("user", SECRET)
    peer.start(0.0)
    (req,) = packets(peer.take_output())
    peer.receive(ControlPacket(PapCode.AUTHENTICATE_ACK, req.identifier + 1, b"\x00"), 0.5)
    assert peer.take_outcomes() == [] and peer.discarded == 1
    peer.receive(ControlPacket(PapCode.AUTHENTICATE_ACK, req.identifier, b"\x08Login ok"), 0.5)
    assert peer.take_outcomes() == [
        AuthOutcome(ok=True, protocol="pap", authenticator=False, message="Login ok", user="user")
    ]
    assert peer.get_timer() is None


def test_pap_authenticator_right_wrong_and_repeat() -> None:
    server = PapAuthenticator({"user": SECRET}, wait=30.0)
    server.start(0.0)
    assert server.get_timer() == 30.0
    good = b"\x04user" + bytes((len(SECRET),)) + SECRET.encode()
    server.receive(ControlPacket(PapCode.AUTHENTICATE_REQUEST, 5, good), 1.0)
    (ack,) = packets(server.take_output())
    assert (ack.code, ack.identifier, ack.data) == (PapCode.AUTHENTICATE_ACK, 5, b"\x08Login ok")
    assert server.take_outcomes()[0].ok
    server.receive(ControlPacket(PapCode.AUTHENTICATE_REQUEST, 6, good), 2.0)  # retransmission: same answer
    (again,) = packets(server.take_output())
    assert (again.code, again.identifier) == (PapCode.AUTHENTICATE_ACK, 6)

    bad = PapAuthenticator({"user": SECRET})
    bad.start(0.0)
    bad.receive(ControlPacket(PapCode.AUTHENTICATE_REQUEST, 1, b"\x04user\x05wrong"), 1.0)
    (nak,) = packets(bad.take_output())
    assert nak.code == PapCode.AUTHENTICATE_NAK
    (outcome,) = bad.take_outcomes()
    assert not outcome.ok and outcome.user == "user" and SECRET not in outcome.message


@pytest.mark.parametrize("data", [b"", b"\x09user", b"\x04user", b"\x04user\x09pw"])
def test_pap_authenticator_discards_malformed_requests(data: bytes) -> None:
    server = PapAuthenticator({"user": "pw"})
    server.start(0.0)
    server.receive(ControlPacket(PapCode.AUTHENTICATE_REQUEST, 1, data), 0.0)
    assert server.take_output() == [] and server.discarded == 1


def test_pap_authenticator_times_out() -> None:
    server = PapAuthenticator({}, wait=10.0)
    server.start(0.0)
    server.handle_timer(10.0)
    assert not server.take_outcomes()[0].ok


def test_chap_round_trip_and_rechallenge() -> None:
    server = ChapAuthenticator({"modem": SECRET}, name="gw", rechallenge=60.0, rng=random.Random(1))
    peer = ChapPeer("modem", SECRET)
    server.start(0.0)
    peer.start(0.0)
    for round_ in range(2):
        (challenge,) = packets(server.take_output())
        assert challenge.code == ChapCode.CHALLENGE and challenge.data[0] == 16
        assert challenge.data[17:] == b"gw"
        peer.receive(challenge, 1.0)
        (response,) = packets(peer.take_output())
        assert response.code == ChapCode.RESPONSE and response.identifier == challenge.identifier
        assert response.data[1:17] == chap_md5_response(challenge.identifier, SECRET.encode(), challenge.data[1:17])
        assert response.data[17:] == b"modem"
        server.receive(response, 1.0)
        (success,) = packets(server.take_output())
        assert success.code == ChapCode.SUCCESS
        peer.receive(success, 1.0)
        assert server.take_outcomes()[0].ok
        if round_ == 0:
            assert peer.take_outcomes()[0].ok
            assert server.get_timer() == 61.0
            server.handle_timer(61.0)  # re-challenge
    assert peer.take_outcomes() == []  # a repeated success is not a new outcome


def test_chap_wrong_secret_and_unknown_user_fail() -> None:
    for name, secret in (("modem", "nope"), ("stranger", SECRET)):
        server = ChapAuthenticator({"modem": SECRET}, rng=random.Random(2))
        peer = ChapPeer(name, secret)
        server.start(0.0)
        peer.receive(packets(server.take_output())[0], 0.0)
        server.receive(packets(peer.take_output())[0], 0.0)
        (failure,) = packets(server.take_output())
        assert failure.code == ChapCode.FAILURE
        peer.receive(failure, 0.0)
        assert not server.take_outcomes()[0].ok and not peer.take_outcomes()[0].ok


def test_chap_authenticator_retransmits_challenge_then_fails() -> None:
    server = ChapAuthenticator({}, timeout=3.0, max_transmits=2, rng=random.Random(3))
    server.start(0.0)
    first = packets(server.take_output())[0]
    server.handle_timer(3.0)
    second = packets(server.take_output())[0]
    assert second == first  # same identifier and value on retransmission
    server.handle_timer(6.0)
    assert not server.take_outcomes()[0].ok


def test_chap_peer_waits_then_fails_and_ignores_stale_success() -> None:
    peer = ChapPeer("m", "hunter2-secret", wait=5.0)
    peer.start(0.0)
    peer.receive(ControlPacket(ChapCode.SUCCESS, 9, b""), 1.0)
    assert peer.discarded == 1
    peer.receive(ControlPacket(ChapCode.CHALLENGE, 1, b"\x00"), 1.0)  # empty challenge: malformed
    assert peer.discarded == 2
    peer.handle_timer(5.0)
    assert not peer.take_outcomes()[0].ok
    assert "hunter2" not in repr(peer) and "hunter2" not in repr(peer.outcome)
