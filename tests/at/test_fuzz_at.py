"""AT fuzzing in CI (issue 12): 20,000 seeded inputs through the engine, the 27.007 parsers, the
bring-up plan and the simulator; nothing may escape. ``bench/fuzz_at.py`` runs a million."""

from __future__ import annotations

import random

import pytest

import pppos.at.engine as engine_module
from tests.at.fuzz_at_inputs import ODD_DIGITS, fuzz, generate

CI_BUDGET = 20_000


def test_twenty_thousand_inputs_raise_nothing() -> None:
    report = fuzz(CI_BUDGET, seed=20261207)
    assert report.inputs == CI_BUDGET
    assert report.per_target["engine"] == CI_BUDGET and report.per_target["bringup"] >= 500
    assert report.exceptions == 0, "\n".join(report.first)


def test_the_fuzzer_finds_the_old_digit_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fuzzer is sharp enough: with the old ``str.isdigit`` check it finds the issue-12 crash."""
    monkeypatch.setattr(engine_module, "ascii_int", lambda t: int(t) if t.strip().isdigit() else None)
    report = fuzz(5_000, seed=1)
    assert report.exceptions > 0
    assert "ValueError" in report.first[0]


def test_inputs_carry_the_hostile_pieces() -> None:
    rng = random.Random(3)
    blob = b"".join(generate(rng) for _ in range(2_000))
    assert any(d.encode() in blob for d in ODD_DIGITS)
    assert b"+CME ERROR: " in blob and b"\x7e" in blob and b"SMS DONE" in blob
