"""One bar is one atomic unit: a failure or a kill at any point never changes what is traded.

In-process: a journal that fails one write of every bar (as a full disk would) rolls the bar
back, the loop reloads its state from the journal and redoes the bar; the result must be the
uninterrupted run's, alerts included (an alert of a rolled-back bar is never sent). Out of
process: bench/crash_harness.py SIGKILLs the real command at seeded SQLite writes.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bench.crash_harness import differences, run_harness, snapshot
from core.clock import SimulatedClock
from core.domain import Fill
from data.synthetic import synthetic_ohlcv
from journal import Journal
from journal.errors import JournalError
from journal.records import CommandKind, EquitySnapshot, HaltEventKind
from risk.config import RiskConfig
from trading.alerts import AlertKind
from trading.replay import EPOCH, ReplayRun
from trading.setup import StrategySettings

# Full-size positions and tight limits: fills, stops, daily pauses, cooldowns and the latch.
TIGHT = replace(
    StrategySettings(risk=RiskConfig(
        max_position_pct=0.9, daily_loss_limit_pct=0.01, max_drawdown_pct=0.06,
        cooldown_after_losses=2, cooldown_minutes=180, max_entries_per_day=3)),
    default_position_pct=0.9, kelly_min_trades=10**6,
)
BARS = synthetic_ohlcv(1200, seed=3, volatility=0.01)


class Alerts:
    """An alerter that keeps what it was asked to send."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def alert(self, kind: AlertKind, text: str) -> None:
        self.sent.append((str(kind), text))

    def close(self) -> None:
        pass


class FailingJournal(Journal):
    """Fails the first attempt of ``method`` on every bar (as ENOSPC would), then succeeds."""

    def __init__(self, *args: Any, method: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.method = method
        self.failed_bars: set[object] = set()
        self.failures = 0

    def _maybe_fail(self, key: object) -> None:
        if key not in self.failed_bars:
            self.failed_bars.add(key)
            self.failures += 1
            raise JournalError("database or disk is full")

    def record_equity(self, snapshot: EquitySnapshot) -> int:
        if self.method == "record_equity":
            self._maybe_fail(snapshot.bar_time)
        return super().record_equity(snapshot)

    def record_fill(self, fill: Fill) -> None:
        if self.method == "record_fill":
            self._maybe_fail(fill.client_id)
        super().record_fill(fill)


def run_replay(journal: Journal, alerts: Alerts) -> int:
    """The replay's ticks, each retried after a failure as the runner retries a step."""
    run = ReplayRun({"BTC/USDT": BARS}, TIGHT, journal=journal, clock=journal_clock(journal),
                    alerter=alerts)
    retries = 0
    for tick in run.ticks:
        for _ in range(5):
            try:
                run.advance(tick)
                break
            except JournalError:
                retries += 1
        else:
            pytest.fail(f"the bar of {tick} failed 5 times")
    return retries


def journal_clock(journal: Journal) -> SimulatedClock:
    clock = journal._clock
    assert isinstance(clock, SimulatedClock)
    return clock


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], list[Any]]:
    path = tmp_path_factory.mktemp("clean") / "journal.sqlite3"
    alerts = Alerts()
    with Journal(path, clock=SimulatedClock(EPOCH)) as journal:
        assert run_replay(journal, alerts) == 0
    expected = snapshot(path)
    kinds = {row[1] for row in expected["halts"]}
    # The scenario must exercise what it claims to: trades, stops, every kill switch.
    assert {"daily_pause", "cooldown_start", "drawdown_latch"} <= kinds, kinds
    assert {row[3] for row in expected["fills"]} == {"entry", "exit", "stop"}
    return expected, alerts.sent


@pytest.mark.parametrize("method", ["record_equity", "record_fill"])
def test_a_bar_that_fails_to_commit_is_redone_exactly(
    clean: tuple[dict[str, Any], list[Any]], method: str, tmp_path: Path
) -> None:
    expected, expected_alerts = clean
    path = tmp_path / "journal.sqlite3"
    alerts = Alerts()
    with FailingJournal(path, clock=SimulatedClock(EPOCH), method=method) as journal:
        retries = run_replay(journal, alerts)
        failures = journal.failures
    assert retries == failures > 20  # many bars, fills included, were rolled back once
    assert differences(expected, snapshot(path)) == []
    assert alerts.sent == expected_alerts  # nothing of a rolled-back bar was said


class AckFailingJournal(Journal):
    """Fails the first ack of each operator command, after its effect was written."""

    acked: set[int]

    def ack_command(self, command: Any, result: str, *, at: Any = None) -> None:
        if command.id not in self.acked:
            self.acked.add(command.id)
            raise JournalError("disk I/O error")
        super().ack_command(command, result, at=at)


def test_an_operator_halt_and_its_ack_commit_together(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    with AckFailingJournal(path, clock=SimulatedClock(EPOCH)) as journal:
        journal.acked = set()
        alerts = Alerts()
        run = ReplayRun({"BTC/USDT": BARS}, TIGHT, journal=journal, clock=journal_clock(journal),
                        alerter=alerts)
        run.advance(run.ticks[0])
        journal.post_command(CommandKind.HALT, "exchange maintenance")
        with pytest.raises(JournalError):
            run.advance(run.ticks[1])
        assert journal.manual_halt() is None  # the halt row rolled back with the failed ack
        assert journal.pending_commands() != []
        assert not run.loop.book.manual_halt
        assert alerts.sent == []
        run.advance(run.ticks[1])
        halts = [h for h in journal.recent_halts(50) if h.kind is HaltEventKind.MANUAL_HALT]
        assert len(halts) == 1
        assert journal.pending_commands() == []
        assert run.loop.book.manual_halt == "exchange maintenance"
        assert [k for k, _ in alerts.sent] == ["halt"]
        # Posted and acked on the wall clock, though the replay's bars are of 2024.
        [command] = journal.recent_commands(5)
        assert command.acked_at is not None
        wall = datetime.now(UTC)
        assert abs((command.acked_at - wall).total_seconds()) < 120
        assert abs((command.posted_at - wall).total_seconds()) < 120


@pytest.mark.timeout(600)
def test_kills_at_seeded_sqlite_writes_never_change_the_outcome(
    shared_data: Path, strace: Path, tmp_path: Path
) -> None:
    outcome = run_harness(points=3, seed=7, days=35, work=tmp_path, progress=lambda _: None)
    assert outcome.tried == outcome.killed == 3
    assert outcome.diverged == []
    assert outcome.identical == 3


@pytest.mark.soak
@pytest.mark.timeout(1800)
def test_kills_at_forty_points_soak(shared_data: Path, strace: Path, tmp_path: Path) -> None:
    outcome = run_harness(points=40, seed=1, days=75, work=tmp_path, progress=print)
    print(outcome.line())
    assert outcome.diverged == []
