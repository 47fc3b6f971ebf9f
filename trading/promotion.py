"""The promotion gate, as the seed asks: paper trade for two weeks minimum before live.

Live refuses to start unless, for every symbol it would trade, (1) the saved evidence the gate
is on (``run --gate-on``: a backtest, or a walk-forward's stitched out-of-sample runs) of the
very strategy settings on that symbol and timeframe passed its gates, is fresh and has enough
trades for its Kelly inputs, and (2) the paper journal holds at least ``min_paper_days`` of
that symbol's decisions with those settings. Each problem names its symbol. ``--override``
with a reason skips it; the override is journaled.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from core.errors import BotError, ConfigError
from journal import Journal
from risk.backtest_store import load_backtest_results
from trading.setup import StrategySettings

MIN_PAPER_DAYS = 14


def promotion_problems(
    strategy: StrategySettings, *, results_path: Path, paper_journal: Path, now: datetime,
    min_paper_days: int = MIN_PAPER_DAYS,
) -> list[str]:
    """Everything that stands between these settings and live trading ([] when nothing)."""
    problems: list[str] = []
    for symbol in strategy.symbols:
        problems += _evidence_problems(strategy, symbol, results_path, now)
    return [*problems, *_paper_problems(strategy, paper_journal, min_paper_days)]


def _evidence_problems(
    strategy: StrategySettings, symbol: str, path: Path, now: datetime
) -> list[str]:
    """What is wrong with the saved evidence the gate is on (``gate_on``) for ``symbol``."""
    key = strategy.result_key(symbol)
    try:
        saved = load_backtest_results(path, key)
    except BotError as e:
        return [f"{symbol}: no usable {key.noun} results: {e}"]
    problems = []
    if not saved.gates_passed:
        failed = ", ".join(g.name for g in saved.gates if not g.passed)
        problems.append(f"{symbol}: the saved {key.noun} failed its gates ({failed})")
    if now - saved.created_at > strategy.kelly_max_age:
        problems.append(f"{symbol}: the saved {key.noun} is older than "
                        f"{strategy.kelly_max_age.days} days")
    if saved.kelly.trades < strategy.kelly_min_trades:
        problems.append(f"{symbol}: the saved {key.noun} closed {saved.kelly.trades} trades, "
                        f"fewer than {strategy.kelly_min_trades} for its Kelly inputs")
    return problems


def _paper_problems(strategy: StrategySettings, journal_path: Path, days: int) -> list[str]:
    if not journal_path.exists():
        return [f"no paper trading journal at {journal_path}: paper trade {days} days first"]
    wanted, tf = strategy.strategy_id(), strategy.timeframe
    problems = []
    with Journal(journal_path) as journal:
        for symbol in strategy.symbols:
            span = journal.decision_span(mode="paper", strategy_id=wanted, symbol=symbol,
                                         timeframe=tf)
            if span is None:
                problems.append(f"{symbol}: no paper trading of {symbol} {tf} with these "
                                f"settings: paper trade {days} days first")
            elif span[1] - span[0] < timedelta(days=days):
                problems.append(f"{symbol}: {(span[1] - span[0]).days} days of paper trading "
                                f"with these settings, {days} needed")
    return problems


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
