"""Fixtures for tests/e2e: a throwaway network namespace per test."""

from __future__ import annotations

from tests.netns import netns

__all__ = ["netns"]
