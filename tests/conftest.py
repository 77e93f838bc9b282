"""pytest fixtures shared by every test package (helpers live in ``tests/helpers.py``)."""

from __future__ import annotations

import pytest

from tests.helpers import FloatClock


@pytest.fixture
def clock() -> FloatClock:
    """A float clock starting at 1000.0 that the test advances by hand."""
    return FloatClock()


@pytest.fixture(autouse=True, scope="session")
def _private_lock_dir(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Port locks (``LCK..*``) of every test and of the programs it starts go to a private directory."""
    import os

    os.environ["PPPOS_LOCK_DIR"] = str(tmp_path_factory.mktemp("lock"))


@pytest.fixture(autouse=True)
def _private_state_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test (and the programs it starts) keeps PIN refusals and byte totals in a state directory
    of its own,"""
    monkeypatch.setenv("PPPOS_STATE_DIR", str(tmp_path_factory.mktemp("state")))
    # and its state files, last failure and resolver backup in a run directory of its own (a test that
    # names one itself still wins): nothing a test runs writes to the host's /run/pppos
    monkeypatch.setenv("PPPOS_RUN_DIR", str(tmp_path_factory.mktemp("run")))
