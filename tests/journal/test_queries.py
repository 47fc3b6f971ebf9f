"""What `status` reads: the latest run, the kill switches in force, equity and commands."""

from __future__ import annotations

from pathlib import Path

from core.clock import SimulatedClock
from journal import RISK_STATE_KEY, HaltEventKind, HaltInForce, Journal, RunMode
from risk import RiskConfig, RiskManager
from tests.journal.conftest import utc


def test_latest_run_is_the_newest(journal: Journal, clock: SimulatedClock) -> None:
    assert journal.latest_run() is None
    journal.record_run(mode="replay", strategy_id="a", config={"x": 1})
    clock.set(utc(2))
    second = journal.record_run(mode=RunMode.PAPER, strategy_id="b", config={"x": 2})
    run = journal.latest_run()
    assert run is not None
    assert (run.id, run.mode, run.started_at, run.config) == (second, "paper", utc(2), {"x": 2})
    assert journal.run_id == second


def test_halts_in_force_come_from_the_risk_state_and_the_manual_halt(journal: Journal) -> None:
    assert journal.halts_in_force(utc(1)) == []
    rm = RiskManager(RiskConfig(cooldown_after_losses=1, cooldown_minutes=60), 10_000)
    rm.check_and_update(8_400, utc(1, 1))
    rm.record_trade_close(-10.0, utc(1, 1))
    with journal.batch():  # one bar step: the events and the state they led to
        for event in rm.drain_events():
            journal.record_risk_event(event)
        journal.save_state(RISK_STATE_KEY, rm.to_dict())
    journal.record_halt(HaltEventKind.MANUAL_HALT, "exchange maintenance", actor="operator",
                        at=utc(1, 2))

    assert journal.halts_in_force(utc(1, 1, 30)) == [
        HaltInForce("drawdown", "Max drawdown 16.0% exceeded 15.0%", utc(1, 1)),
        HaltInForce("daily", "Daily loss 16.0% exceeded 5.0%", utc(1, 1)),
        HaltInForce(
            "cooldown", "1 consecutive losing trades: no entries until 2024-01-01 02:00 UTC",
            utc(1, 1),
        ),
        HaltInForce("manual", "exchange maintenance", utc(1, 2)),
    ]
    journal.record_halt(HaltEventKind.MANUAL_RESUME, "maintenance over", actor="operator")
    assert journal.manual_halt() is None
    kinds = [h.kind for h in journal.halts_in_force(utc(1, 2))]
    assert kinds == ["drawdown", "daily"]  # the cooldown ran out at 02:00


def test_status_reads_from_a_second_connection_while_the_bot_writes(
    db_path: Path, journal: Journal,
) -> None:
    journal.record_run(mode="paper", strategy_id="s", config={})
    with journal.batch(), Journal(db_path) as operator:
        journal.save_state(RISK_STATE_KEY, {"not": "committed yet"})
        assert operator.risk_state() is None  # a reader sees the last commit, never half a step
        assert operator.latest_run() is not None
    with Journal(db_path) as operator:
        assert operator.risk_state() == {"not": "committed yet"}
