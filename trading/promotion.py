"""The promotion gate, as the seed asks: paper trade for two weeks minimum before live.

A symbol may go live only if (1) the saved evidence the gate is on (``run --gate-on``: a
backtest, or a walk-forward's stitched out-of-sample runs) of the very strategy settings on
that symbol and timeframe passed its gates, is fresh and has enough trades for its Kelly
inputs, and (2) the paper journal holds at least ``min_paper_days`` of that symbol's decisions
with those settings. The gate is per symbol: a symbol that fails it is refused by name (no
entries) while the others trade; when every symbol fails, the start is refused. Each problem
names its symbol. ``--override-promotion`` with a reason lets every symbol through; the
override is journaled.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from core.errors import BotError, ConfigError
from journal import Journal
from risk.backtest_store import load_backtest_results
from trading.setup import StrategySettings

MIN_PAPER_DAYS = 14
Problems = dict[str, list[str]]  # per symbol, what stands in its way (without its name)


@dataclass(frozen=True, slots=True)
class GateVerdict:
    """The promotion gate's answer for a start, symbol by symbol.

    Attributes:
        admitted: the symbols that may enter, in the order given.
        refused: the others, each with why ("; "-joined problems); they take no entries.
        overridden: the problems ``--override-promotion`` let through (each names its symbol).
    """

    admitted: tuple[str, ...]
    refused: Mapping[str, str] = field(default_factory=dict)
    overridden: tuple[str, ...] = ()


def promotion_problems(
    strategy: StrategySettings, *, results_path: Path, paper_journal: Path, now: datetime,
    min_paper_days: int = MIN_PAPER_DAYS,
) -> list[str]:
    """Everything that stands between these settings and live trading ([] when nothing)."""
    evidence, paper = _problems(strategy, results_path, paper_journal, now, min_paper_days)
    return _named(evidence) + _named(paper)


def check_promotion(
    strategy: StrategySettings, *, results_path: Path, paper_journal: Path, now: datetime,
    override: str | None,
) -> GateVerdict:
    """Which symbols may go live; ConfigError listing every problem when none may."""
    evidence, paper = _problems(strategy, results_path, paper_journal, now, MIN_PAPER_DAYS)
    problems = _named(evidence) + _named(paper)
    if override and override.strip():
        return GateVerdict(strategy.symbols, overridden=tuple(problems))
    refused = {s: "; ".join(evidence[s] + paper[s]) for s in strategy.symbols
               if evidence[s] or paper[s]}
    admitted = tuple(s for s in strategy.symbols if s not in refused)
    if not admitted:
        raise ConfigError("live trading refused by the promotion gate: " + "; ".join(problems)
                          + " (override with --override-promotion REASON)")
    return GateVerdict(admitted, refused)


def _problems(
    strategy: StrategySettings, results: Path, paper_journal: Path, now: datetime, days: int
) -> tuple[Problems, Problems]:
    """Per symbol: the evidence's problems, and the paper trading's."""
    evidence = {s: _evidence_problems(strategy, s, results, now) for s in strategy.symbols}
    return evidence, _paper_problems(strategy, paper_journal, days)


def _named(problems: Problems) -> list[str]:
    return [f"{symbol}: {p}" for symbol, found in problems.items() for p in found]


def _evidence_problems(
    strategy: StrategySettings, symbol: str, path: Path, now: datetime
) -> list[str]:
    """What is wrong with the saved evidence the gate is on (``gate_on``) for ``symbol``."""
    key = strategy.result_key(symbol)
    try:
        saved = load_backtest_results(path, key)
    except BotError as e:
        return [f"no usable {key.noun} results: {e}"]
    problems = []
    if not saved.gates_passed:
        failed = ", ".join(g.name for g in saved.gates if not g.passed)
        problems.append(f"the saved {key.noun} failed its gates ({failed})")
    if now - saved.created_at > strategy.kelly_max_age:
        problems.append(f"the saved {key.noun} is older than {strategy.kelly_max_age.days} days")
    if saved.kelly.trades < strategy.kelly_min_trades:
        problems.append(f"the saved {key.noun} closed {saved.kelly.trades} trades, "
                        f"fewer than {strategy.kelly_min_trades} for its Kelly inputs")
    return problems


def _paper_problems(strategy: StrategySettings, journal_path: Path, days: int) -> Problems:
    if not journal_path.exists():
        missing = f"no paper trading journal at {journal_path}: paper trade {days} days first"
        return {s: [missing] for s in strategy.symbols}
    wanted, tf = strategy.strategy_id(), strategy.timeframe
    problems: Problems = {s: [] for s in strategy.symbols}
    with Journal(journal_path) as journal:
        for symbol in strategy.symbols:
            span = journal.decision_span(mode="paper", strategy_id=wanted, symbol=symbol,
                                         timeframe=tf)
            if span is None:
                problems[symbol].append(f"no paper trading of {symbol} {tf} with these "
                                        f"settings: paper trade {days} days first")
            elif span[1] - span[0] < timedelta(days=days):
                problems[symbol].append(f"{(span[1] - span[0]).days} days of paper trading "
                                        f"with these settings, {days} needed")
    return problems
