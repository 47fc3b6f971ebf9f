"""The StateStore port: the risk state survives a restart and makes the same decisions."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.clock import SimulatedClock
from journal import RISK_STATE_KEY, Journal, JournalError, last_bar_key
from risk import RiskConfig, RiskManager
from tests.journal.conftest import utc

CFG = RiskConfig(cooldown_after_losses=2, cooldown_minutes=90, max_entries_per_day=3)


def busy_manager() -> RiskManager:
    rm = RiskManager(CFG, 10_000, clock=SimulatedClock(utc(1)))
    rm.check_and_update(10_321.37, utc(1, 1))
    rm.record_entry(utc(1, 1))
    rm.record_trade_close(-12.5, utc(1, 2))
    rm.record_trade_close(-3.25, utc(1, 3))
    rm.check_and_update(9_431.11, utc(1, 4))  # 5.7% down on the day: paused, cooling down
    return rm


def test_risk_state_round_trips_through_a_restart(db_path: Path, journal: Journal) -> None:
    rm = busy_manager()
    journal.save_state(RISK_STATE_KEY, rm.to_dict())
    journal.close()  # the process ends; a new one opens the same file

    with Journal(db_path) as again:
        saved = again.load_state(RISK_STATE_KEY)
    assert saved is not None
    twin = RiskManager.from_dict(CFG, saved, clock=SimulatedClock(utc(1)))
    assert twin.state == rm.state
    rm.drain_events()
    marks = [(9_800.0, utc(1, 5)), (9_900.0, utc(2, 0)), (8_700.0, utc(2, 5)), (8_800.0, utc(3))]
    for equity, when in marks:
        assert twin.check_and_update(equity, when) == rm.check_and_update(equity, when)
        for conviction in (0.2, 0.3, 0.9):
            assert twin.evaluate_entry(conviction) == rm.evaluate_entry(conviction)
        assert twin.state == rm.state
    assert twin.drain_events() == rm.drain_events()
    assert twin.state.drawdown_latched  # the latch that must never come back off


def test_a_latched_halt_comes_back_latched(db_path: Path, journal: Journal) -> None:
    rm = RiskManager(RiskConfig(), 10_000)
    assert not rm.check_and_update(8_400, utc(1))
    journal.save_state(RISK_STATE_KEY, rm.to_dict())
    journal.close()
    with Journal(db_path) as again:
        saved = again.load_state(RISK_STATE_KEY)
        assert saved is not None
        restored = RiskManager.from_dict(RiskConfig(max_drawdown_pct=0.5), saved)
    assert restored.state.halt_reason == "Max drawdown 16.0% exceeded 15.0%"
    assert not restored.approve_trade(0.9)


def test_save_replaces_and_missing_is_none(journal: Journal, clock: SimulatedClock) -> None:
    assert journal.load_state("paper_wallet") is None
    journal.save_state("paper_wallet", {"USDT": "10000", "BTC": "0"})
    clock.set(utc(2))
    journal.save_state("paper_wallet", {"USDT": "9000.5", "BTC": "0.0213"})
    journal.save_state(last_bar_key("BTC/USDT"), {"bar_time": utc(2).isoformat()})
    assert journal.load_state("paper_wallet") == {"USDT": "9000.5", "BTC": "0.0213"}
    assert journal.state_keys() == {"last_bar:BTC/USDT": utc(2), "paper_wallet": utc(2)}


def test_a_state_that_is_not_json_is_refused_and_the_old_one_kept(journal: Journal) -> None:
    journal.save_state("risk", {"peak_equity": 1.0})
    for bad in ({"peak_equity": float("nan")}, {"when": utc(1)}):
        with pytest.raises(JournalError, match="not JSON-safe"):
            journal.save_state("risk", bad)
    assert journal.load_state("risk") == {"peak_equity": 1.0}
    with pytest.raises(ValueError, match="empty"):
        journal.save_state("", {})
