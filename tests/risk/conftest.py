"""Helpers for the risk tests: bar times and a manager on a simulated clock."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.clock import SimulatedClock
from risk import RiskConfig, RiskManager

T0 = datetime(2024, 1, 1, 0, 0, tzinfo=UTC)


def utc(day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A bar time in January 2024, UTC."""
    return datetime(2024, 1, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(T0)


@pytest.fixture
def rm(clock: SimulatedClock) -> RiskManager:
    return RiskManager(RiskConfig(), 10_000, clock=clock)
