"""The signal's own edge at a fixed size, shown beside a full-pipeline backtest.

The full pipeline sizes at half-Kelly of its own closed trades once ``kelly_min_trades`` have
closed; when that record has no edge it refuses every later entry, and its figures then say
little about the signal. So the backtest also runs the same bars at ``--sizing fixed``: every
entry at ``default_position_pct`` x conviction, with the same costs, stops and kill switches.
One more kernel run (milliseconds). It is for information: the gates judge the full pipeline,
and the Kelly inputs come from the full pipeline only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from backtest.engine import EXIT_REASONS, BacktestConfig, BacktestResult, Sizing, run_backtest
from backtest.stats import BacktestStats
from signals.scorer import FixedScorer
from signals.scorer_settings import ScorerSettings


@dataclass(frozen=True, slots=True)
class FixedSizeEdge:
    """The figures of the fixed-size run and what it was sized with.

    Attributes:
        stats: its figures, computed as the backtest's (vectorbt's definitions).
        exit_reasons: trades by exit reason (signal, stop, halt, end), zeros included.
        position_pct: the size of every entry before conviction (default_position_pct).
        conviction: the fixed scorer's conviction it ran with.
    """

    stats: BacktestStats
    exit_reasons: Mapping[str, int]
    position_pct: float
    conviction: float

    def to_json(self) -> dict[str, Any]:
        """The JSON block ``fixed_size``: the headline figures, NaN as null."""
        s = self.stats
        figures = {
            "total_trades": s.total_trades, "total_return_pct": s.total_return_pct,
            "sharpe_ratio": s.sharpe_ratio, "max_drawdown_pct": s.max_drawdown_pct,
            "win_rate_pct": s.win_rate_pct, "avg_winning_trade_pct": s.avg_winning_trade_pct,
            "avg_losing_trade_pct": s.avg_losing_trade_pct,
        }
        return {
            "position_pct": self.position_pct, "conviction": self.conviction,
            **{k: (None if isinstance(v, float) and not math.isfinite(v) else v)
               for k, v in figures.items()},
            "exit_reasons": dict(self.exit_reasons),
        }

    def lines(self) -> list[str]:
        """The console block: a heading and two lines of figures."""
        s = self.stats
        exits = ", ".join(f"{why} {n:,}" for why, n in self.exit_reasons.items() if n)
        return [
            f"The signal's edge at a fixed size (every entry {self.position_pct:.2%} x "
            f"conviction {self.conviction:g}, same costs, stops and kill switches; for "
            "information, the gates judge the full pipeline):",
            f"  {s.total_trades:,} trades, return {_f(s.total_return_pct, '.2f')}%, Sharpe "
            f"{_f(s.sharpe_ratio, '.4f')}, max drawdown {_f(s.max_drawdown_pct, '.2f')}%",
            f"  win rate {_f(s.win_rate_pct, '.2f')}%, avg win "
            f"{_f(s.avg_winning_trade_pct, '.2f')}%, avg loss "
            f"{_f(s.avg_losing_trade_pct, '.2f')}%; exits: {exits or 'none'}",
        ]


def fixed_conviction(environ: Mapping[str, str]) -> float:
    """The fixed scorer's conviction (SCORER_FIXED_CONVICTION, 0.5), as the sweep uses."""
    return ScorerSettings.from_env({**environ, "SCORER_PROVIDER": "fixed"}).fixed_conviction


def fixed_size_run(
    bars: pd.DataFrame, config: BacktestConfig, conviction: float
) -> BacktestResult:
    """The run of ``config`` at a fixed size, scored by the fixed scorer (no model call)."""
    fixed = replace(config, sizing=Sizing.FIXED)
    return run_backtest(bars, fixed, scorer=FixedScorer(conviction))


def fixed_size_edge(result: BacktestResult, timeframe: str, conviction: float) -> FixedSizeEdge:
    """The figures of a fixed-size run (``fixed_size_run``)."""
    from backtest.figures import kernel_stats

    kinds, refused = list(result.halts()["kind"]), result.rejections()
    stats = kernel_stats(result, timeframe, halt_kinds=kinds, rejections=refused)
    return FixedSizeEdge(stats=stats, exit_reasons=exit_counts(result.trades()),
                         position_pct=result.config.default_position_pct, conviction=conviction)


def exit_counts(trades: pd.DataFrame) -> dict[str, int]:
    """Trades by exit reason, in the kernel's order (signal, stop, halt, end)."""
    counts = trades["exit_reason"].value_counts()
    return {why: int(counts.get(why, 0)) for why in EXIT_REASONS.values()}


def _f(value: float, spec: str) -> str:
    return "n/a" if not math.isfinite(value) else format(value, spec)
