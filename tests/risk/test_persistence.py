"""Saved state -> new manager -> same state and the same decisions; damage refuses to load."""

from __future__ import annotations

import json
from typing import Any

import pytest

from core.clock import SimulatedClock
from core.errors import ConfigError
from risk import RiskConfig, RiskManager
from tests.risk.conftest import utc

CFG = RiskConfig(cooldown_after_losses=2, cooldown_minutes=90, max_entries_per_day=3)


def through_json(rm: RiskManager, config: RiskConfig = CFG) -> RiskManager:
    saved = json.loads(json.dumps(rm.to_dict(), allow_nan=False))
    return RiskManager.from_dict(config, saved, clock=SimulatedClock(utc(1)))


def busy_manager() -> RiskManager:
    rm = RiskManager(CFG, 10_000, clock=SimulatedClock(utc(1)))
    rm.check_and_update(10_321.37, utc(1, 1))
    rm.record_entry(utc(1, 1))
    rm.record_trade_close(-12.5, utc(1, 2))
    rm.record_trade_close(-3.25, utc(1, 3))
    rm.check_and_update(9_431.11, utc(1, 4))  # 5.7% down on the day: paused
    return rm


def test_round_trip_keeps_every_field() -> None:
    rm = busy_manager()
    assert rm.state.daily_paused
    assert rm.state.cooldown_until == utc(1, 4, 30)
    restored = through_json(rm)
    assert restored.state == rm.state
    assert restored.state.halt_reason == "Daily loss 5.7% exceeded 5.0%"


def test_restored_manager_makes_the_same_decisions() -> None:
    rm = busy_manager()
    twin = through_json(rm)
    rm.drain_events()  # events before the save went to the journal then
    marks = [(9_800.0, utc(1, 5)), (9_900.0, utc(2, 0)), (8_700.0, utc(2, 5)), (8_800.0, utc(3))]
    for equity, when in marks:
        assert twin.check_and_update(equity, when) == rm.check_and_update(equity, when)
        for conviction in (0.2, 0.3, 0.9):
            assert twin.evaluate_entry(conviction) == rm.evaluate_entry(conviction)
        assert twin.state == rm.state
    assert twin.drain_events() == rm.drain_events()
    assert rm.state.drawdown_latched


def test_loosening_the_limits_on_restart_does_not_lift_a_latch() -> None:
    rm = RiskManager(RiskConfig(), 10_000)
    rm.check_and_update(8_400, utc(1))
    loose = RiskConfig(max_drawdown_pct=0.5, daily_loss_limit_pct=0.5)
    twin = through_json(rm, loose)
    assert not twin.check_and_update(8_400, utc(2))
    assert not twin.approve_trade(1.0)
    assert twin.state.halt_reason == "Max drawdown 16.0% exceeded 15.0%"


def test_daily_pause_survives_a_restart_the_same_day() -> None:
    rm = RiskManager(RiskConfig(), 10_000)
    rm.check_and_update(9_400, utc(1, 10))
    twin = through_json(rm, RiskConfig())
    assert not twin.check_and_update(9_600, utc(1, 11))
    assert twin.check_and_update(9_600, utc(2, 0))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"drawdown_latched": "yes"}, "'drawdown_latched' must be true or false"),
        ({"peak_equity": 0}, "'peak_equity' must be > 0"),
        ({"current_equity": None}, "'current_equity' must be a finite number"),
        ({"as_of": "2024-01-01T00:00:00"}, "'as_of' must be a timezone-aware time"),
        ({"version": 2}, "version must be 1"),
        ({"halted": False}, "unknown fields ['halted']"),
        ({"drawdown_reason": ""}, "drawdown_latched without a drawdown_reason"),
    ],
)
def test_damaged_state_refuses_to_load(change: dict[str, Any], message: str) -> None:
    rm = RiskManager(RiskConfig(), 10_000)
    rm.check_and_update(8_400, utc(1))
    data = rm.to_dict() | change
    with pytest.raises(ConfigError, match="saved risk state") as info:
        RiskManager.from_dict(RiskConfig(), data)
    assert message in str(info.value)


def test_missing_field_refuses_to_load() -> None:
    data = RiskManager(RiskConfig(), 10_000).to_dict()
    del data["drawdown_latched"]
    with pytest.raises(ConfigError, match="missing field 'drawdown_latched'"):
        RiskManager.from_dict(RiskConfig(), data)
