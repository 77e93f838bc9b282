"""The token never appears whole in logs or errors, however short it is."""

from __future__ import annotations

import pytest

from blynk_client.errors import redact_token


@pytest.mark.parametrize("token", ["a", "bad", "12345678901", "abcd1234efgh5678ijkl9012mnop3456"])
def test_redacted_token_never_reveals_the_token(token: str) -> None:
    shown = redact_token(token)
    assert token not in shown
    assert len(shown.rstrip("\u2026")) <= 4


def test_long_token_keeps_its_first_four_characters() -> None:
    assert redact_token("abcd1234efgh5678ijkl9012mnop3456") == "abcd\u2026"
    assert redact_token(None) == "<none>"


def test_a_peer_token_cannot_put_control_characters_into_a_log() -> None:
    assert redact_token("\x1b[2J\nabcdefghijklmnop") == "?[2J\u2026"
    assert redact_token("\u0665\u0665ab" + "x" * 20) == "??ab\u2026"
