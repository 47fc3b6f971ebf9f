"""The promotion gate, as the seed asks: paper trade for two weeks minimum before live.

Live refuses to start unless (1) the saved backtest is of the very strategy settings about to
trade, passed its gates, is fresh and has enough trades for its Kelly inputs, and (2) the paper
journal holds at least ``min_paper_days`` of decisions with those settings. ``--override``
with a reason skips it; the override is journaled.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from core.errors import BotError, ConfigError
from journal import Journal
from trading.setup import StrategySettings

MIN_PAPER_DAYS = 14


def promotion_problems(
    strategy: StrategySettings, *, results_path: Path, paper_journal: Path, now: datetime,
    min_paper_days: int = MIN_PAPER_DAYS,
) -> list[str]:
    """Everything that stands between these settings and live trading ([] when nothing)."""
    return [*_backtest_problems(strategy, results_path, now),
            *_paper_problems(strategy, paper_journal, min_paper_days)]


def _backtest_problems(strategy: StrategySettings, path: Path, now: datetime) -> list[str]:
    from backtest.kelly_store import load_backtest_results

    try:
        saved = load_backtest_results(path)
    except BotError as e:
        return [f"no usable backtest results: {e}"]
    wanted = strategy.strategy_id()
    problems = []
    if saved.strategy_id != wanted:
        problems.append(f"the saved backtest is of strategy {saved.strategy_id}, these settings "
                        f"are {wanted}: backtest these settings first")
    if not saved.gates_passed:
        failed = ", ".join(g.name for g in saved.gates if not g.passed)
        problems.append(f"the saved backtest failed its gates ({failed})")
    if now - saved.created_at > strategy.kelly_max_age:
        problems.append(f"the saved backtest is older than {strategy.kelly_max_age.days} days")
    if saved.kelly.trades < strategy.kelly_min_trades:
        problems.append(f"the saved backtest closed {saved.kelly.trades} trades, fewer than "
                        f"{strategy.kelly_min_trades} for its Kelly inputs")
    return problems


def _paper_problems(strategy: StrategySettings, journal_path: Path, days: int) -> list[str]:
    if not journal_path.exists():
        return [f"no paper trading journal at {journal_path}: paper trade {days} days first"]
    with Journal(journal_path) as journal:
        span = journal.decision_span(mode="paper", strategy_id=strategy.strategy_id())
    if span is None:
        return [f"no paper trading with these settings: paper trade {days} days first"]
    traded = span[1] - span[0]
    if traded < timedelta(days=days):
        return [f"{traded.days} days of paper trading with these settings, {days} needed"]
    return []


def check_promotion(
    strategy: StrategySettings, *, results_path: Path, paper_journal: Path, now: datetime,
    override: str | None,
) -> list[str]:
    """Raise ConfigError listing the problems unless overridden; returns the problems."""
    problems = promotion_problems(strategy, results_path=results_path,
                                  paper_journal=paper_journal, now=now)
    if problems and not (override and override.strip()):
        raise ConfigError("live trading refused by the promotion gate: " + "; ".join(problems)
                          + " (override with --override-promotion REASON)")
    return problems
