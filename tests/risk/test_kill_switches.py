"""Kill switches through RiskManager: thresholds, UTC days, latch and resume, events."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from core.clock import SimulatedClock
from risk import RiskConfig, RiskEventKind, RiskManager
from tests.risk.conftest import utc

PLUS2 = timezone(timedelta(hours=2))
MINUS5 = timezone(timedelta(hours=-5))


def kinds(rm: RiskManager) -> list[RiskEventKind]:
    return [e.kind for e in rm.drain_events()]


@pytest.mark.parametrize(
    ("equity", "allowed", "reason"),
    [
        (8_501, True, ""),  # 14.99%
        (8_500, False, "Max drawdown 15.0% exceeded 15.0%"),  # 15.00%: inclusive
        (8_499, False, "Max drawdown 15.0% exceeded 15.0%"),  # 15.01%
        (8_400, False, "Max drawdown 16.0% exceeded 15.0%"),
    ],
)
def test_drawdown_threshold_from_both_sides(equity: float, allowed: bool, reason: str) -> None:
    # Start the day at the same equity so the daily limit is not what halts.
    rm = RiskManager(RiskConfig(daily_loss_limit_pct=0.5), 10_000)
    assert rm.check_and_update(equity, utc(1)) is allowed
    assert rm.state.halt_reason == reason
    assert rm.state.drawdown_latched is not allowed


@pytest.mark.parametrize(
    ("equity", "allowed"), [(9_501, True), (9_500, False), (9_499, False)]  # 4.99/5.00/5.01%
)
def test_daily_threshold_from_both_sides(rm: RiskManager, equity: float, allowed: bool) -> None:
    assert rm.check_and_update(equity, utc(1, 10)) is allowed
    assert rm.state.daily_paused is not allowed
    assert not rm.state.drawdown_latched
    assert rm.approve_trade(0.9) is allowed
    if not allowed:
        assert rm.state.halt_reason.startswith("Daily loss 5.0% exceeded 5.0%")


def test_exactly_at_the_limit_halts_for_an_awkward_peak() -> None:
    peak = 12_345.67
    rm = RiskManager(RiskConfig(daily_loss_limit_pct=0.5), peak)
    assert not rm.check_and_update(peak * (1 - 0.15), utc(1))


def test_bar_times_in_other_zones_belong_to_their_utc_day(rm: RiskManager) -> None:
    assert rm.check_and_update(10_000, utc(1, 22))
    # 01:30+02:00 on Jan 2 is 23:30 UTC on Jan 1: the same UTC day, so 6% down pauses it.
    assert not rm.check_and_update(9_400, datetime(2024, 1, 2, 1, 30, tzinfo=PLUS2))
    assert rm.state.trade_date == date(2024, 1, 1)
    assert kinds(rm) == [RiskEventKind.DAILY_PAUSE]
    # 19:05-05:00 on Jan 1 is 00:05 UTC on Jan 2: a new UTC day, the pause clears.
    assert rm.check_and_update(9_400, datetime(2024, 1, 1, 19, 5, tzinfo=MINUS5))
    assert rm.state.trade_date == date(2024, 1, 2)
    assert rm.state.daily_start_equity == 9_400
    assert kinds(rm) == [RiskEventKind.DAILY_CLEAR]
    assert rm.approve_trade(0.9)


def test_day_starts_at_the_last_mark_before_midnight(rm: RiskManager) -> None:
    assert rm.check_and_update(10_000, utc(1, 23))
    # The first bar of the day fell 6%: measured from midnight's equity, so it pauses.
    assert not rm.check_and_update(9_400, utc(2, 0))
    assert rm.state.daily_start_equity == 10_000
    assert kinds(rm) == [RiskEventKind.DAILY_PAUSE]


def test_daily_pause_holds_all_day_then_clears(rm: RiskManager) -> None:
    assert not rm.check_and_update(9_400, utc(1, 10))
    # Recovering within the day does not lift the pause: it holds until the next UTC day.
    assert not rm.check_and_update(10_000, utc(1, 23, 59))
    assert not rm.approve_trade(0.9)
    assert rm.check_and_update(10_000, utc(2, 0))
    assert rm.approve_trade(0.9)
    assert kinds(rm) == [RiskEventKind.DAILY_PAUSE, RiskEventKind.DAILY_CLEAR]


def test_new_day_can_clear_and_pause_again(rm: RiskManager) -> None:
    assert not rm.check_and_update(9_400, utc(1, 10))
    assert not rm.check_and_update(8_900, utc(2, 10))  # 5.3% below yesterday's close
    assert kinds(rm) == [
        RiskEventKind.DAILY_PAUSE,
        RiskEventKind.DAILY_CLEAR,
        RiskEventKind.DAILY_PAUSE,
    ]
    assert rm.state.halt_reason == "Daily loss 5.3% exceeded 5.0%"


def test_drawdown_latch_holds_until_resume(rm: RiskManager, clock: SimulatedClock) -> None:
    assert not rm.check_and_update(8_400, utc(1, 10))
    for day in range(2, 6):  # days pass and equity recovers: still latched
        assert not rm.check_and_update(9_000, utc(day))
        assert not rm.approve_trade(1.0)
    assert kinds(rm) == [
        RiskEventKind.DRAWDOWN_LATCH,
        RiskEventKind.DAILY_PAUSE,
        RiskEventKind.DAILY_CLEAR,
    ]
    clock.set(utc(5, 9))
    event = rm.resume("checked the exchange; strategy fine")
    assert event is not None
    assert event.kind is RiskEventKind.RESUME
    assert (event.equity, event.peak, event.at) == (9_000, 9_000, utc(5, 9))
    assert "checked the exchange" in event.reason
    assert rm.state.peak_equity == 9_000  # else the next mark would re-halt at once
    assert rm.check_and_update(9_000, utc(5, 10))
    assert rm.approve_trade(1.0)
    assert kinds(rm) == [RiskEventKind.RESUME]


def test_resume_keeps_a_daily_pause_and_needs_a_reason(rm: RiskManager) -> None:
    assert not rm.check_and_update(8_400, utc(1, 10))
    with pytest.raises(ValueError, match="non-empty reason"):
        rm.resume("  ", utc(1, 11))
    assert rm.resume("ok", utc(1, 11)) is not None
    assert rm.resume("again", utc(1, 11)) is None  # nothing latched: no change, no event
    assert not rm.check_and_update(8_400, utc(1, 12))
    assert rm.state.halt_reason == "Daily loss 16.0% exceeded 5.0%"
    assert rm.check_and_update(8_400, utc(2, 0))


def test_events_only_on_changes(rm: RiskManager) -> None:
    # Within both limits: the day starts at 10_000 and the peak becomes 10_100.
    marks = [10_000, 10_100, 9_590, 9_580, 9_700]
    results = [rm.check_and_update(e, utc(1, h)) for h, e in enumerate(marks)]
    assert results == [True, True, True, True, True]
    assert kinds(rm) == []
    assert not rm.check_and_update(9_500, utc(1, 6))
    assert not rm.check_and_update(9_400, utc(1, 7))
    assert not rm.check_and_update(8_000, utc(1, 8))
    events = rm.drain_events()
    assert [e.kind for e in events] == [RiskEventKind.DAILY_PAUSE, RiskEventKind.DRAWDOWN_LATCH]
    assert events[0].reason == "Daily loss 5.0% exceeded 5.0%"
    assert events[1].reason == "Max drawdown 20.8% exceeded 15.0%"
    assert (events[1].equity, events[1].peak, events[1].at) == (8_000, 10_100, utc(1, 8))
    assert rm.drain_events() == []


def test_without_now_the_injected_clock_decides_the_day(
    rm: RiskManager, clock: SimulatedClock
) -> None:
    clock.set(utc(1, 23, 30))
    assert not rm.check_and_update(9_400)
    clock.set(utc(2, 0, 30))
    assert rm.check_and_update(9_400)
    assert rm.state.as_of == utc(2, 0, 30)


def test_bad_inputs_fail_fast(rm: RiskManager) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        rm.check_and_update(10_000, datetime(2024, 1, 1))  # noqa: DTZ001 - naive on purpose
    with pytest.raises(ValueError, match="finite"):
        rm.check_and_update(math.nan, utc(1))
    rm.check_and_update(10_000, utc(2))
    with pytest.raises(ValueError, match="before the last mark"):
        rm.check_and_update(10_000, utc(1))
    assert rm.state.as_of == utc(2)


def test_initial_equity_is_validated() -> None:
    from core.errors import ConfigError

    for bad in (0, -1.0, math.nan, math.inf, None):
        with pytest.raises(ConfigError, match="initial_equity"):
            RiskManager(RiskConfig(), bad)  # type: ignore[arg-type]


def test_aware_non_utc_times_are_stored_as_utc(rm: RiskManager) -> None:
    rm.check_and_update(10_000, datetime(2024, 1, 2, 1, 30, tzinfo=PLUS2))
    assert rm.state.as_of == datetime(2024, 1, 1, 23, 30, tzinfo=UTC)
    assert rm.state.as_of is not None
    assert rm.state.as_of.tzinfo is UTC
