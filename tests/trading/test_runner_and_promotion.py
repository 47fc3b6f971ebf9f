"""Bar-aligned waking, the run loop's error handling, and the live promotion gate."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from core.clock import SimulatedClock
from core.errors import ConfigError
from journal import Journal
from journal.records import Action, DecisionRecord, RunMode
from risk.backtest_store import save_backtest_results
from risk.saved_backtest import DataRange, GateResult, KellyInputs, SavedBacktest
from trading.promotion import check_promotion, promotion_problems
from trading.runner import Runner, RunnerSettings, next_wake
from trading.setup import StrategySettings
from trading.status import LoopStatus

HOUR = timedelta(hours=1)
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "wake"),
    [
        (T0, T0 + timedelta(seconds=5)),  # the bar closed just now: fetch it after the grace
        (T0 + timedelta(seconds=5), T0 + HOUR + timedelta(seconds=5)),
        (T0 + timedelta(minutes=30), T0 + HOUR + timedelta(seconds=5)),
        (T0 - timedelta(seconds=1), T0 + timedelta(seconds=5)),
    ],
)
def test_wakes_just_after_the_next_bar_close(now: datetime, wake: datetime) -> None:
    assert next_wake(now, HOUR, timedelta(seconds=5)) == wake


class FlakyLoop:
    """A loop whose step fails a given number of times, then counts successes."""

    def __init__(self, failures: int, stop: threading.Event) -> None:
        self.left = failures
        self.steps = 0
        self.status = LoopStatus(symbols={})
        self._stop = stop
        self.guards = 0

    def poll_commands(self) -> int:
        """No operator commands here."""
        return 0

    def step(self) -> int:
        if self.left:
            self.left -= 1
            raise RuntimeError("exchange answered garbage")
        self.steps += 1
        self._stop.set()
        return 1

    def guard(self) -> None:
        self.guards += 1


def test_a_failing_step_is_backed_off_not_fatal() -> None:
    stop = threading.Event()
    loop = FlakyLoop(3, stop)
    waits: list[float] = []

    class Recording(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            waits.append(timeout or 0.0)
            return self.is_set()

    recording = Recording()
    settings = RunnerSettings(bar=HOUR, guard_every=timedelta(minutes=10))
    runner = Runner(loop, settings, clock=SimulatedClock(T0),  # type: ignore[arg-type]
                    stop=recording)
    loop._stop = recording
    assert runner.run() == 0
    assert loop.steps == 1
    # Backoff doubles; after the good step it waits for the next bar close (+5 s grace).
    assert waits == [10.0, 20.0, 40.0, 5.0]
    assert loop.status.errors == 3


def test_between_steps_the_guard_runs_every_five_seconds() -> None:
    # Issue 17: a missing stop or a failed exit is handled within seconds, not at the next bar.
    loop = FlakyLoop(1, threading.Event())
    waits: list[float] = []

    class Recording(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            waits.append(timeout or 0.0)
            if len(waits) > 3:  # stop during the fourth nap
                self.set()
            return self.is_set()

    settings = RunnerSettings(bar=HOUR, backoff_start=timedelta(seconds=20))
    runner = Runner(loop, settings, clock=SimulatedClock(T0),  # type: ignore[arg-type]
                    stop=Recording())
    assert runner.run() == 0
    assert waits == [5.0, 5.0, 5.0, 5.0]  # the 20 s backoff in naps of 5 s, stopped in the 4th
    assert loop.guards == 3  # one after each nap that had more of the wait to go


def test_once_runs_a_single_step() -> None:
    stop = threading.Event()
    loop = FlakyLoop(0, threading.Event())
    runner = Runner(loop, RunnerSettings(bar=HOUR), clock=SimulatedClock(T0),  # type: ignore[arg-type]
                    stop=stop)
    assert runner.run(once=True) == 0
    assert loop.steps == 1


def paper_journal(path: Path, strategy: StrategySettings, days: int,
                  symbols: tuple[str, ...] = ("BTC/USDT",)) -> Path:
    with Journal(path) as journal:
        journal.record_run(mode=RunMode.PAPER, strategy_id=strategy.strategy_id(),
                           config=strategy.snapshot())
        for symbol in symbols:
            for day in (0, days):
                journal.record_decision(DecisionRecord(
                    symbol=symbol, bar_time=T0 + timedelta(days=day), signal=0,
                    action=Action.NONE, reason="flat; no entry signal"))
    return path


def test_live_needs_a_backtest_and_two_weeks_of_paper(tmp_path: Path) -> None:
    strategy = StrategySettings()
    problems = promotion_problems(strategy, results_path=tmp_path / "missing.json",
                                  paper_journal=tmp_path / "none.sqlite3", now=T0)
    assert any("backtest" in p for p in problems)
    assert any("paper trade 14 days" in p for p in problems)
    short = paper_journal(tmp_path / "short.sqlite3", strategy, days=13)
    problems = promotion_problems(strategy, results_path=tmp_path / "missing.json",
                                  paper_journal=short, now=T0)
    assert "BTC/USDT: 13 days of paper trading with these settings, 14 needed" in problems
    enough = paper_journal(tmp_path / "enough.sqlite3", strategy, days=14)
    problems = promotion_problems(strategy, results_path=tmp_path / "missing.json",
                                  paper_journal=enough, now=T0)
    assert not any("paper" in p for p in problems)


def test_paper_of_other_settings_does_not_count(tmp_path: Path) -> None:
    other = StrategySettings(default_position_pct=0.005)
    journal_file = paper_journal(tmp_path / "j.sqlite3", other, days=30)
    problems = promotion_problems(StrategySettings(), results_path=tmp_path / "x.json",
                                  paper_journal=journal_file, now=T0)
    assert any("no paper trading of BTC/USDT 1h with these settings" in p for p in problems)


def test_paper_of_another_timeframe_does_not_count(tmp_path: Path) -> None:
    # The strategy id hashes no timeframe: the gate reads it from the paper run's settings.
    journal_file = paper_journal(tmp_path / "j.sqlite3", StrategySettings(timeframe="1m"),
                                 days=30)
    problems = promotion_problems(StrategySettings(), results_path=tmp_path / "x.json",
                                  paper_journal=journal_file, now=T0)
    assert any("no paper trading of BTC/USDT 1h with these settings" in p for p in problems)


def saved_backtest(strategy: StrategySettings, symbol: str, *, passed: bool = True
                   ) -> SavedBacktest:
    return SavedBacktest(
        strategy_id=strategy.strategy_id(), created_at=T0 - timedelta(days=1), engine="full",
        data=DataRange(symbol, strategy.timeframe, T0 - timedelta(days=900),
                       T0 - timedelta(days=2), 21_000, f"{symbol}.csv"),
        strategy=strategy.hashed_settings(), costs={"fee": 0.001},
        kelly=KellyInputs(80, 0.5, 0.02, 0.015), total_trades=80,
        gates=(GateResult("trades", "Total Trades > 50", 80.0, 50.0, passed),),
    )


def test_the_gate_is_checked_per_symbol_and_names_the_failing_one(tmp_path: Path) -> None:
    strategy = StrategySettings(symbols=("BTC/USDT", "ETH/USDT", "SOL/USDT"))
    results = tmp_path / "backtest_results.json"
    save_backtest_results(results, saved_backtest(strategy, "BTC/USDT"))
    save_backtest_results(results, saved_backtest(strategy, "ETH/USDT", passed=False))
    journal_file = paper_journal(tmp_path / "j.sqlite3", strategy, days=20,
                                 symbols=("BTC/USDT", "SOL/USDT"))
    problems = promotion_problems(strategy, results_path=results, paper_journal=journal_file,
                                  now=T0)
    assert [p.split(":")[0] for p in problems] == ["ETH/USDT", "SOL/USDT", "ETH/USDT"]
    assert problems[0] == "ETH/USDT: the saved backtest failed its gates (trades)"
    assert problems[1].startswith("SOL/USDT: no usable backtest results: no saved backtest of "
                                  f"strategy {strategy.strategy_id()} for SOL/USDT 1h")
    assert problems[2] == ("ETH/USDT: no paper trading of ETH/USDT 1h with these settings: "
                           "paper trade 14 days first")
    # BTC alone passes both halves.
    assert promotion_problems(replace(strategy, symbols=("BTC/USDT",)), results_path=results,
                              paper_journal=journal_file, now=T0) == []


def test_override_lets_it_through_and_returns_what_it_skipped(tmp_path: Path) -> None:
    kwargs: dict[str, Any] = {"results_path": tmp_path / "x.json",
                              "paper_journal": tmp_path / "none.sqlite3", "now": T0}
    with pytest.raises(ConfigError, match="promotion gate"):
        check_promotion(StrategySettings(), override=None, **kwargs)
    with pytest.raises(ConfigError, match="promotion gate"):
        check_promotion(StrategySettings(), override="  ", **kwargs)
    skipped = check_promotion(StrategySettings(), override="tested by hand", **kwargs)
    assert skipped.admitted == ("BTC/USDT",)
    assert skipped.refused == {}
    assert skipped.overridden
