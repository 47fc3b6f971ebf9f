from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from core.clock import SimulatedClock
from core.secrets import Secret, redact, secret_from_env


def test_secret_never_prints_its_value() -> None:
    s = secret_from_env({"KEY": " abc123 "}, "KEY")
    assert s.reveal() == "abc123"
    assert "abc123" not in str(s)
    assert "abc123" not in repr(s)
    assert "abc123" not in f"{s} {s!r} {[s]}"
    assert bool(s)


def test_missing_secret_is_falsy() -> None:
    assert not secret_from_env({}, "KEY")


def test_redact_replaces_every_secret() -> None:
    text = redact("key=abc secret=xyz abc", [Secret("abc"), Secret("xyz"), Secret("")])
    assert text == "key=*** secret=*** ***"


def test_simulated_clock_is_utc_and_monotonic() -> None:
    start = datetime(2024, 1, 1, 1, 0, tzinfo=timezone(timedelta(hours=2)))
    clock = SimulatedClock(start)
    assert clock.now() == datetime(2023, 12, 31, 23, 0, tzinfo=UTC)
    assert clock.now().tzinfo == UTC
    clock.set(datetime(2024, 1, 2, tzinfo=UTC))
    with pytest.raises(ValueError, match="cannot go back"):
        clock.set(datetime(2024, 1, 1, tzinfo=UTC))
    with pytest.raises(ValueError, match="timezone-aware"):
        clock.set(datetime(2024, 1, 3))  # noqa: DTZ001 - the naive time is the point of the test
