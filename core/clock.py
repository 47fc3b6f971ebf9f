"""Clocks: the only module that reads the wall clock (STYLE.md, rule 4)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """Source of the current time, always timezone-aware UTC."""

    def now(self) -> datetime:
        """Return the current time in UTC."""
        ...


class SystemClock:
    """The live wall clock, in UTC."""

    def now(self) -> datetime:
        """Return the wall-clock time in UTC."""
        return datetime.now(UTC)


class SimulatedClock:
    """A clock that only moves when told to: replay and tests."""

    def __init__(self, start: datetime) -> None:
        self._now = _require_aware(start)

    def now(self) -> datetime:
        """Return the simulated time."""
        return self._now

    def set(self, when: datetime) -> None:
        """Move the clock to ``when`` (never backwards)."""
        when = _require_aware(when)
        if when < self._now:
            raise ValueError(f"simulated clock cannot go back from {self._now} to {when}")
        self._now = when


def _require_aware(when: datetime) -> datetime:
    if when.tzinfo is None:
        raise ValueError("clock times must be timezone-aware (UTC)")
    return when.astimezone(UTC)
