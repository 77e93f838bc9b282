"""Shared test helpers: skip reasons for tests that need root or a tool, and a float clock.

A test that needs something the machine lacks skips with the reason; CI installs every tool so
that nothing skips there (``.ci/run`` sets ``PPPOS_REQUIRE_ALL=1``, which turns those skips into
failures).
"""

from __future__ import annotations

import os
import shutil

import pytest

REQUIRE_ALL = os.environ.get("PPPOS_REQUIRE_ALL") == "1"


def need(condition: bool, reason: str) -> None:
    """Skip the calling test with ``reason`` unless ``condition`` holds (fail instead under CI)."""
    if condition:
        return
    if REQUIRE_ALL:
        pytest.fail(f"required in CI but missing: {reason}")
    pytest.skip(reason)


def need_root() -> None:
    """Skip unless running as root (TUN devices, network namespaces)."""
    need(os.geteuid() == 0, "needs root for TUN devices and network namespaces")


def need_tool(*names: str) -> None:
    """Skip unless every program in ``names`` is on PATH."""
    for name in names:
        need(shutil.which(name) is not None, f"needs {name} (apt-get install it; scripts/install.sh does)")


class FloatClock:
    """A deterministic clock for sans-I/O cores: ``now`` is a float the test advances."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def advance(self, seconds: float) -> float:
        """Move the clock forward by ``seconds`` and return the new ``now``."""
        self.now += seconds
        return self.now
