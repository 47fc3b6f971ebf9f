"""Entry approval: conviction, the optional cooldown and daily cap, sizing and stops."""

from __future__ import annotations

import math

import numpy as np
import pytest

from risk import Approval, RiskConfig, RiskEventKind, RiskManager
from tests.risk.conftest import utc


def test_conviction_threshold_is_inclusive_and_nan_is_refused(rm: RiskManager) -> None:
    rm.check_and_update(10_000, utc(1))
    assert rm.evaluate_entry(0.3) == Approval(ok=True, reason="approved")
    assert rm.evaluate_entry(0.29) == Approval(False, "conviction 0.29 below minimum 0.3")
    assert not rm.approve_trade(math.nan)  # the seed approved NaN: nan < 0.3 is False
    assert rm.evaluate_entry(1.5).reason == "conviction 1.5 is outside [-1, 1]"
    assert not rm.approve_trade(None)  # type: ignore[arg-type]
    assert rm.approve_trade(np.float32(0.5))  # type: ignore[arg-type]


def test_halt_reason_comes_before_conviction(rm: RiskManager) -> None:
    rm.check_and_update(8_400, utc(1))
    assert rm.evaluate_entry(0.1).reason == (
        "Max drawdown 16.0% exceeded 15.0%; halted until an operator resumes"
    )


def test_cooldown_after_consecutive_losses() -> None:
    rm = RiskManager(RiskConfig(cooldown_after_losses=2, cooldown_minutes=60), 10_000)
    rm.check_and_update(10_000, utc(1, 9))
    assert rm.record_trade_close(-10.0, utc(1, 9, 30)) is None
    start = rm.record_trade_close(-10.0, utc(1, 10))
    assert start is not None
    assert start.kind is RiskEventKind.COOLDOWN_START
    assert start.reason == "2 consecutive losing trades: no entries until 2024-01-01 11:00 UTC"
    assert rm.check_and_update(10_000, utc(1, 10, 30))  # not a kill switch
    assert rm.evaluate_entry(0.9).reason == (
        "cooldown after 2 consecutive losing trades until 2024-01-01 11:00 UTC"
    )
    rm.drain_events()
    assert rm.check_and_update(10_000, utc(1, 11))
    assert rm.approve_trade(0.9)
    assert [e.kind for e in rm.drain_events()] == [RiskEventKind.COOLDOWN_CLEAR]
    # The losing run continues: another loss, another cooldown; a win resets the streak.
    assert rm.record_trade_close(-1.0, utc(1, 12)) is not None
    assert rm.record_trade_close(5.0, utc(1, 14)) is None
    assert rm.record_trade_close(-1.0, utc(1, 15)) is None
    assert rm.state.loss_streak == 1


def test_entry_cap_per_utc_day() -> None:
    rm = RiskManager(RiskConfig(max_entries_per_day=2), 10_000)
    rm.check_and_update(10_000, utc(1, 9))
    rm.record_entry(utc(1, 9))
    assert rm.approve_trade(0.9)
    rm.record_entry(utc(1, 10))
    assert rm.evaluate_entry(0.9).reason == "2 entries today reached the cap of 2 per UTC day"
    rm.check_and_update(10_000, utc(2, 0))
    assert rm.approve_trade(0.9)


def test_cooldown_and_cap_are_inert_by_default(rm: RiskManager) -> None:
    rm.check_and_update(10_000, utc(1, 9))
    for minute in range(50):
        rm.record_entry(utc(1, 9, minute))
        assert rm.record_trade_close(-1.0, utc(1, 9, minute)) is None
    assert rm.approve_trade(0.9)
    assert rm.drain_events() == []


def test_kelly_size_is_a_fraction_as_in_the_seed(rm: RiskManager) -> None:
    # The seed's own inputs give a huge Kelly (17.7): the 2% cap is what binds.
    assert rm.kelly_position_size(10_000, 0.54, 0.022, 0.014, 0.5) == 0.02
    assert rm.position_notional(
        10_000, win_rate=0.54, avg_win_pct=0.022, avg_loss_pct=0.014, conviction=0.5
    ) == 200.0
    # p=0.6, W=L=1: Kelly 0.2, half 0.1, x0.1 conviction = 0.01 (under the cap).
    assert rm.kelly_position_size(10_000, 0.6, 1.0, 1.0, 0.1) == pytest.approx(0.01)
    assert rm.kelly_position_size(0, 0.6, 1.0, 1.0, 0.1) == 0.0
    assert rm.kelly_position_size(10_000, None, 1.0, 1.0, 0.1) == 0.0  # type: ignore[arg-type]


def test_stop_prices(rm: RiskManager) -> None:
    assert rm.stop_price(100.0) == 100.0 * (1 - 0.015)
    assert rm.stop_price(100.0, short=True) == 100.0 * (1 + 0.015)
    with pytest.raises(ValueError, match="entry_price"):
        rm.stop_price(math.nan)


def test_no_approval_before_the_first_mark(rm: RiskManager) -> None:
    assert rm.evaluate_entry(0.9) == Approval(
        False, "no equity mark yet: call check_and_update with the bar's equity first"
    )
    rm.check_and_update(10_000, utc(1))
    assert rm.approve_trade(0.9)
