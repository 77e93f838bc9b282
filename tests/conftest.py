"""pytest fixtures shared by every test package (helpers live in ``tests/helpers.py``)."""

from __future__ import annotations

import pytest

from tests.helpers import FloatClock


@pytest.fixture
def clock() -> FloatClock:
    """A float clock starting at 1000.0 that the test advances by hand."""
    return FloatClock()
