"""Fixtures for the execution tests: a simulated clock, in-memory journal and state."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.clock import SimulatedClock
from tests.execution.fakes import MemoryJournal, MemoryState

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> SimulatedClock:
    """A clock at T0 that moves only when a test moves it."""
    return SimulatedClock(T0)


@pytest.fixture
def journal() -> MemoryJournal:
    return MemoryJournal()


@pytest.fixture
def state() -> MemoryState:
    return MemoryState()


from tests.execution.ccxt_fixtures import (  # noqa: E402 - fixtures re-exported for pytest
    alerts,
    book,
    broker,
    fake,
    make_broker,
    settings,
    sleeper,
)

__all__ = ["alerts", "book", "broker", "fake", "make_broker", "settings", "sleeper"]
