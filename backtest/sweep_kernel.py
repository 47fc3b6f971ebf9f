"""The sweep's numbers: each combination's signal, then the backtest's own kernel on it.

A chunk of combinations at a time: their int8 signals over all bars (``backtest.sweep_signals``:
the seed's grid from indicator tables computed once, any other strategy per combination), then
``backtest.kernel.simulate`` (the kernel of the backtest command: signal -> fixed conviction ->
risk rules -> fills) per combination and window, in parallel, twice: sized as the full pipeline
(half-Kelly after kelly_min_trades) and at a fixed size (``backtest --sizing fixed``, the signal's
own edge). Only six figures per run leave numba (vectorbt's: ``backtest.sweep_figures``), and the
in-sample run's returns summed per block of bars for the PBO; an equity curve is dropped as soon
as these are known, so memory is one chunk of int8 signals (plus the seed's tables), whatever the
size of the grid.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from numba import njit, prange

from backtest import kernel
from backtest.engine import BacktestConfig, Sizing, utc_index
from backtest.overfit import (
    READ_BOOTSTRAP,
    READ_DSR,
    READ_PBO,
    Bootstrap,
    DeflatedSharpe,
    Pbo,
    block_sums,
    bootstrap_trades,
    deflated_sharpe,
    pbo_cscv,
    sharpe_variance,
)
from backtest.sizing_stop import SizingStop, find_sizing_stop
from backtest.sweep_figures import (
    F_MAX_DD,
    F_RETURN,
    F_SHARPE,
    F_SIZE_ZERO,
    F_STOPPED_AT,
    F_TRADES,
    FIGURE_NAMES,
    N_FIGURES,
    account_trade_returns,
    account_value,
    closed_trades,
    run_figures,
    stop_bar,
    value_figures,
    value_returns,
)
from backtest.sweep_grid import Combo, SweepGrid
from core.errors import DataError

# Re-exported: the figures' names and functions were this module's before sweep_figures.
__all__ = [
    "FIGURE_NAMES", "F_MAX_DD", "F_RETURN", "F_SHARPE", "F_SIZE_ZERO", "F_STOPPED_AT",
    "F_TRADES", "METRICS", "N_FIGURES", "BarArrays", "Overfitting", "Rerun", "SweepResult",
    "account_value", "bar_arrays", "overfitting", "per_bar_sharpes", "ranking", "run_figures",
    "stop_bar", "window_figures",
]

# block_sums' edges for a window without blocks (the out-of-sample one): zero blocks.
NO_BLOCKS = np.zeros(1, dtype=np.int64)


@njit(parallel=True, cache=True)
def _window_figures(
    open_: np.ndarray, low: np.ndarray, close: np.ndarray, time_ms: np.ndarray,
    signals: np.ndarray, conviction: np.ndarray, suppress: np.ndarray, p: Any, p_fixed: Any,
    ann_factor: float, edges: np.ndarray, out: np.ndarray, out_fixed: np.ndarray,
    blocks: np.ndarray, blocks_fixed: np.ndarray,
) -> None:
    # Two kernel runs per row of signals (pipeline, fixed size); rows are independent, so
    # prange is safe. One account value per run feeds its figures and its block sums.
    for k in prange(signals.shape[0]):
        orders, trades, _, _, _, rejections, refused, _ = kernel.simulate(
            open_, low, close, time_ms, signals[k], conviction, suppress, p
        )
        value = account_value(orders, close, p.init_cash)
        value_figures(value, orders, trades, rejections, close, p.init_cash, ann_factor, out[k])
        block_sums(value, p.init_cash, edges, blocks[k])
        out[k, F_STOPPED_AT] = stop_bar(trades, refused)
        if closed_trades(trades) < p.kelly_min_trades:
            # Half-Kelly never sized this run: every decision used the default size, so the
            # fixed-size run would be this very run.
            out_fixed[k, :] = out[k]
            blocks_fixed[k, :, :] = blocks[k]
        else:
            orders, trades, _, _, _, rejections, _, _ = kernel.simulate(
                open_, low, close, time_ms, signals[k], conviction, suppress, p_fixed
            )
            value = account_value(orders, close, p.init_cash)
            value_figures(value, orders, trades, rejections, close, p.init_cash, ann_factor,
                          out_fixed[k])
            block_sums(value, p.init_cash, edges, blocks_fixed[k])
            out_fixed[k, F_STOPPED_AT] = math.nan


@dataclass(frozen=True)
class BarArrays:
    """The kernel's bar inputs over all bars, and the fixed scorer's answer for every bar."""

    open_: np.ndarray
    low: np.ndarray
    close: np.ndarray
    time_ms: np.ndarray
    conviction: np.ndarray
    suppress: np.ndarray


def window_figures(
    bars: BarArrays, signals: np.ndarray, start: int, stop: int, config: BacktestConfig,
    ann_factor: float, edges: np.ndarray = NO_BLOCKS,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(rows, N_FIGURES) figures over bars [start, stop) per row of ``signals``, the full
    pipeline's and the fixed size's; then theirs (rows, blocks, 2) of ``block_sums`` over
    ``edges`` (relative to start; by default none)."""
    out = np.empty((signals.shape[0], N_FIGURES))
    out_fixed = np.empty_like(out)
    blocks = np.empty((signals.shape[0], len(edges) - 1, 2))
    blocks_fixed = np.empty_like(blocks)
    window = slice(start, stop)
    _window_figures(
        bars.open_[window], bars.low[window], bars.close[window], bars.time_ms[window],
        np.ascontiguousarray(signals), bars.conviction[window], bars.suppress[window],
        replace(config, sizing=Sizing.PIPELINE).kernel_params(),
        replace(config, sizing=Sizing.FIXED).kernel_params(), float(ann_factor),
        np.ascontiguousarray(edges, dtype=np.int64), out, out_fixed, blocks, blocks_fixed,
    )
    return out, out_fixed, blocks, blocks_fixed


Rerun = Callable[[int, str, Sizing], kernel.KernelResult]
"""One combination's kernel run again: row k, window name, sizing."""


@dataclass(frozen=True)
class SweepResult:
    """Figures of every combination on each window of bars (in_sample, out_of_sample)."""

    grid: SweepGrid
    index: pd.DatetimeIndex  # open times of all bars given, warm-up included
    windows: dict[str, tuple[int, int]]  # window name -> bars [start, stop)
    figures: dict[str, np.ndarray]  # window name -> (len(combos), N_FIGURES), full pipeline
    timeframe: str
    default_stop_loss_pct: float  # the base configuration's stop: the defaults' row has it
    fixed_figures: dict[str, np.ndarray]  # the same at a fixed size (the signal's own edge)
    base: BacktestConfig  # costs, risk and sizing of every run (its stop is the default's)
    # For the over-fitting statistics: bars a year, the close of all bars (a rerun's account
    # value), the in-sample window's block edges (from its first bar) and, by sizing, every
    # combination's sum and sum of squares of per-bar returns per block (combos, blocks, 2).
    ann_factor: float
    close: np.ndarray = field(repr=False, compare=False)
    edges: np.ndarray = field(repr=False, compare=False)
    blocks: dict[Sizing, np.ndarray] = field(repr=False, compare=False)
    rerun: Rerun = field(repr=False, compare=False)

    def figures_of(self, sizing: Sizing) -> dict[str, np.ndarray]:
        """The figures of the full pipeline or of the fixed size, by window."""
        return self.figures if sizing == Sizing.PIPELINE else self.fixed_figures

    def sizing_stop(self, k: int, window: str) -> SizingStop | None:
        """When and why half-Kelly stopped row k's full pipeline in a window (one more run)."""
        a, b = self.windows[window]
        raw = self.rerun(k, window, Sizing.PIPELINE)
        return find_sizing_stop(raw, self.index[a:b],
                                kelly_min_trades=self.base.kelly_min_trades,
                                default_position_pct=self.base.default_position_pct,
                                max_position_pct=self.base.risk.max_position_pct)

    @property
    def combos(self) -> tuple[Combo, ...]:
        """The grid's combinations; row k of every figures matrix is combos[k]."""
        return self.grid.combos

    @property
    def warmup_bars(self) -> int:
        """The grid's longest warm-up: bars before the first traded one, plus one."""
        return self.grid.warmup_bars


ChunkDone = Callable[[int], None]


def sweep_windows(n_bars: int, warmup: int, in_sample: float) -> dict[str, tuple[int, int]]:
    first = warmup - 1
    traded = n_bars - first
    split = first + round(traded * in_sample)
    if split - first < 2 or (split < n_bars and n_bars - split < 2):
        raise DataError(
            f"{n_bars} bars leave {max(traded, 0)} to trade after the grid's {warmup}-bar "
            "warm-up: too few for an in-sample and an out-of-sample window of 2+ bars each"
        )
    out = {"in_sample": (first, split)}
    if split < n_bars:
        out["out_of_sample"] = (split, n_bars)
    return out


def bar_arrays(bars: pd.DataFrame, conviction: float) -> BarArrays:
    """The kernel's bar inputs of ``bars``, with the fixed scorer's ``conviction`` at every bar."""
    n = len(bars)
    return BarArrays(
        open_=bars["open"].to_numpy(np.float64), low=bars["low"].to_numpy(np.float64),
        close=bars["close"].to_numpy(np.float64),
        time_ms=np.ascontiguousarray(utc_index(bars).as_unit("ms").asi8, dtype=np.int64),
        conviction=np.full(n, float(conviction)), suppress=np.zeros(n, dtype=np.bool_),
    )


def auto_chunk(n_bars: int) -> int:
    # One chunk's int8 signals stay near 32 MiB: 256 combinations of a year of hourly bars,
    # ~64 of a year of minute bars.
    return max(8, min(256, (32 << 20) // max(n_bars, 1)))


@dataclass(frozen=True, slots=True)
class Overfitting:
    """The over-fitting statistics of a sweep's pick, on the in-sample window at one sizing."""

    sizing: Sizing
    deflated: DeflatedSharpe  # the pick's run, deflated by the number of combinations
    pbo: Pbo | None  # of the whole search; None with one combination
    bootstrap: Bootstrap | None  # of the pick's closed trades; None with fewer than 2

    def to_json(self) -> dict[str, Any]:
        """The statistics as a JSON-ready dict, each with its reading line."""
        boot = self.bootstrap
        return {
            "deflated_sharpe": {**self.deflated.to_json(), "read": READ_DSR},
            "pbo": None if self.pbo is None else {**self.pbo.to_json(), "read": READ_PBO},
            "bootstrap": None if boot is None else {**boot.to_json(), "read": READ_BOOTSTRAP},
            "on": "in_sample", "sizing": self.sizing.value,
        }


def overfitting(result: SweepResult, k: int, sizing: Sizing) -> Overfitting:
    """DSR of row k's in-sample run as the best of every combination, the search's PBO, and a
    bootstrap of row k's closed trades, at ``sizing``: one more kernel run."""
    a, b = result.windows["in_sample"]
    init_cash = result.base.init_cash
    raw = result.rerun(k, "in_sample", sizing)
    value = account_value(raw.orders, result.close[a:b], init_cash)
    blocks = result.blocks[sizing]
    variance = sharpe_variance(per_bar_sharpes(blocks.sum(axis=1), b - a))
    return Overfitting(
        sizing=sizing,
        deflated=deflated_sharpe(value_returns(value, init_cash), n_trials=len(result.combos),
                                 sr_variance=variance, ann_factor=result.ann_factor),
        pbo=pbo_cscv(blocks, np.diff(result.edges)) if len(result.combos) > 1 else None,
        bootstrap=bootstrap_trades(account_trade_returns(raw, init_cash)),
    )


def per_bar_sharpes(sums: np.ndarray, n_bars: int) -> np.ndarray:
    """Per-bar Sharpe of each row's (sum, sum of squares) of n_bars returns; NaN when flat."""
    mean = sums[:, 0] / n_bars
    var = (sums[:, 1] - n_bars * mean * mean) / (n_bars - 1.0)
    std = np.sqrt(np.clip(var, 0.0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(np.where(std > 0.0, mean / std, np.nan))


# Ranking: larger is better except for drawdown; non-finite figures (a Sharpe of +inf from a run
# without trades, an undefined drawdown) and runs with too few trades rank last.
METRICS = {"sharpe": (F_SHARPE, -1.0), "total_return": (F_RETURN, -1.0),
           "max_drawdown": (F_MAX_DD, 1.0)}


def ranking(figures: np.ndarray, metric: str = "sharpe", *, min_trades: int = 0) -> np.ndarray:
    """Row numbers best first; ties keep the grid's order (stop, then each swept parameter)."""
    column, sign = METRICS[metric]
    value = figures[:, column]
    eligible = np.isfinite(value) & (figures[:, F_TRADES] >= min_trades)
    key = np.where(eligible, sign * value, np.inf)
    return np.lexsort((np.arange(len(value)), key))
