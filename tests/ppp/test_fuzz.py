"""Fuzzing in CI with a bounded budget (issue 12): the HDLC deframer and PppLink.receive_data.

``PPPOS_FUZZ_INPUTS`` sets the inputs per target (default 20,000, a few seconds each); ``bench/fuzz.py``
runs a million. Generators and invariants live in :mod:`tests.ppp.fuzzing`.
"""

from __future__ import annotations

import os

import pytest

from tests.ppp.fuzzing import LinkFuzzer, fuzz_hdlc

INPUTS = int(os.environ.get("PPPOS_FUZZ_INPUTS", "20000"))


def _report(failures: list[tuple[int, str, str]]) -> str:
    return "\n".join(f"input {i}: {tb}\ninput hex: {data}" for i, tb, data in failures)


@pytest.mark.parametrize("seed", [1, 2])
def test_deframer_survives_line_noise(seed: int) -> None:
    result = fuzz_hdlc(INPUTS // 2, seed=seed)
    assert result.exceptions == 0, _report(result.failures)
    assert result.inputs == INPUTS // 2
    assert result.frames > 0  # the generator does produce good frames
    assert result.max_pending <= result.pending_bound


@pytest.mark.parametrize("seed", [1, 2])
def test_link_survives_hostile_control_frames_in_every_state(seed: int) -> None:
    fuzzer = LinkFuzzer(seed)
    result = fuzzer.run(INPUTS // 2)
    assert result.exceptions == 0, _report(result.failures)
    # every input is a good-FCS frame; only a few tiny ones (PFC+ACFC, empty payload) are runts
    assert result.frames >= 0.99 * result.inputs
    # both roles, negotiating, authenticating (PAP, CHAP) and up, were all visited
    assert len(fuzzer.visits) == 8 and min(fuzzer.visits.values()) > 0


def test_the_fuzzer_finds_a_planted_bug(monkeypatch: pytest.MonkeyPatch) -> None:
    """The harness is not vacuous: a crash in option handling is caught and reported."""
    from pppos.ppp import lcp

    original = lcp.LcpPolicy.on_request

    def buggy(self: lcp.LcpPolicy, options: list) -> lcp.Verdict:  # type: ignore[type-arg]
        if any(o.type == 1 and o.value == b"\x00\x00" for o in options):
            raise ValueError("planted")
        return original(self, options)

    monkeypatch.setattr(lcp.LcpPolicy, "on_request", buggy)
    result = LinkFuzzer(3).run(2000)
    assert result.exceptions > 0 and "planted" in result.failures[0][1]
