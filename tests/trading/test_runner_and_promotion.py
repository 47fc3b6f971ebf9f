"""Bar-aligned waking, the run loop's error handling, and the live promotion gate."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from core.clock import SimulatedClock
from core.errors import ConfigError
from journal import Journal
from journal.records import Action, DecisionRecord, RunMode
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


def paper_journal(path: Path, strategy: StrategySettings, days: int) -> Path:
    with Journal(path) as journal:
        journal.record_run(mode=RunMode.PAPER, strategy_id=strategy.strategy_id(), config={})
        for day in (0, days):
            journal.record_decision(DecisionRecord(
                symbol="BTC/USDT", bar_time=T0 + timedelta(days=day), signal=0,
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
    assert "13 days of paper trading with these settings, 14 needed" in problems
    enough = paper_journal(tmp_path / "enough.sqlite3", strategy, days=14)
    problems = promotion_problems(strategy, results_path=tmp_path / "missing.json",
                                  paper_journal=enough, now=T0)
    assert not any("paper" in p for p in problems)


def test_paper_of_other_settings_does_not_count(tmp_path: Path) -> None:
    other = StrategySettings(default_position_pct=0.005)
    journal_file = paper_journal(tmp_path / "j.sqlite3", other, days=30)
    problems = promotion_problems(StrategySettings(), results_path=tmp_path / "x.json",
                                  paper_journal=journal_file, now=T0)
    assert any("no paper trading with these settings" in p for p in problems)


def test_override_lets_it_through_and_returns_what_it_skipped(tmp_path: Path) -> None:
    kwargs: dict[str, Any] = {"results_path": tmp_path / "x.json",
                              "paper_journal": tmp_path / "none.sqlite3", "now": T0}
    with pytest.raises(ConfigError, match="promotion gate"):
        check_promotion(StrategySettings(), override=None, **kwargs)
    with pytest.raises(ConfigError, match="promotion gate"):
        check_promotion(StrategySettings(), override="  ", **kwargs)
    skipped = check_promotion(StrategySettings(), override="tested by hand", **kwargs)
    assert skipped
