"""The walk-forward's numbers: every combination on many windows of bars, in one numba call.

Each (combination, window) is a fresh run of ``backtest.kernel.simulate`` (init_cash, flat, no
record) at one sizing, and leaves the sweep's figures (``backtest.sweep_kernel.run_figures``,
vectorbt's definitions). Optionally, for the over-fitting statistics, one window's per-bar
returns are summed per block (``backtest.overfit.block_sums``). Rows are independent: prange.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numba import njit, prange

from backtest import kernel
from backtest.engine import BacktestConfig
from backtest.engines import Keyed, prepared
from backtest.overfit import block_sums
from backtest.sweep_grid import SweepGrid
from backtest.sweep_kernel import (
    F_STOPPED_AT,
    N_FIGURES,
    BarArrays,
    account_value,
    bar_arrays,
    run_figures,
    stop_bar,
)
from backtest.sweep_signals import ChunkSignals, seed_source, strategy_source


@njit(parallel=True, cache=True)
def _windows_figures(
    open_: np.ndarray, low: np.ndarray, close: np.ndarray, time_ms: np.ndarray,
    signals: np.ndarray, conviction: np.ndarray, suppress: np.ndarray, p: Any,
    ann_factor: float, starts: np.ndarray, stops: np.ndarray, out: np.ndarray,
) -> None:
    for k in prange(signals.shape[0]):
        for w in range(starts.shape[0]):
            a, b = starts[w], stops[w]
            orders, trades, _, _, _, rejections, refused, _ = kernel.simulate(
                open_[a:b], low[a:b], close[a:b], time_ms[a:b], signals[k, a:b],
                conviction[a:b], suppress[a:b], p,
            )
            run_figures(orders, trades, rejections, close[a:b], p.init_cash, ann_factor,
                        out[k, w])
            out[k, w, F_STOPPED_AT] = stop_bar(trades, refused)


@njit(parallel=True, cache=True)
def _block_returns(
    open_: np.ndarray, low: np.ndarray, close: np.ndarray, time_ms: np.ndarray,
    signals: np.ndarray, conviction: np.ndarray, suppress: np.ndarray, p: Any,
    a: int, b: int, edges: np.ndarray, out: np.ndarray,
) -> None:
    for k in prange(signals.shape[0]):
        orders, _, _, _, _, _, _, _ = kernel.simulate(
            open_[a:b], low[a:b], close[a:b], time_ms[a:b], signals[k, a:b],
            conviction[a:b], suppress[a:b], p,
        )
        block_sums(account_value(orders, close[a:b], p.init_cash), p.init_cash, edges, out[k])


def windows_figures(
    bars: BarArrays, signals: np.ndarray, spans: list[tuple[int, int]], config: BacktestConfig,
    ann_factor: float,
) -> np.ndarray:
    """(rows, len(spans), N_FIGURES) figures: each row of ``signals`` (over all bars) run
    afresh on each span [a, b) of bars, at ``config``'s sizing."""
    out = np.full((signals.shape[0], len(spans), N_FIGURES), math.nan)
    starts = np.array([a for a, _ in spans], dtype=np.int64)
    stops = np.array([b for _, b in spans], dtype=np.int64)
    _windows_figures(bars.open_, bars.low, bars.close, bars.time_ms,
                     np.ascontiguousarray(signals), bars.conviction, bars.suppress,
                     config.kernel_params(), float(ann_factor), starts, stops, out)
    return out


def block_returns(
    bars: BarArrays, signals: np.ndarray, span: tuple[int, int], edges: np.ndarray,
    config: BacktestConfig,
) -> np.ndarray:
    """(rows, blocks, 2): per block of ``edges`` (relative to the span's first bar), the sum and
    the sum of squares of each row's per-bar returns over one run on the span."""
    out = np.zeros((signals.shape[0], len(edges) - 1, 2))
    a, b = span
    _block_returns(bars.open_, bars.low, bars.close, bars.time_ms,
                   np.ascontiguousarray(signals), bars.conviction, bars.suppress,
                   config.kernel_params(), a, b, np.ascontiguousarray(edges, dtype=np.int64),
                   out)
    return out


@dataclass(frozen=True)
class WalkForwardInputs(Keyed):
    """One market's share of a walk-forward: what each of its tasks (a chunk of combinations)
    needs. ``spans`` are the training windows, then the test windows, then the next training
    window; ``full`` the bars of the over-fitting statistics, cut in blocks at ``edges``."""

    bars: pd.DataFrame
    grid: SweepGrid
    config: BacktestConfig  # the ranked sizing, the grid's one stop
    spans: list[tuple[int, int]]
    full: tuple[int, int]
    edges: np.ndarray
    ann_factor: float
    conviction: float
    signals: ChunkSignals | None = None

    def source(self) -> ChunkSignals:
        """The grid's signals on these bars, made once per process (``prepared``)."""
        return prepared(self, "source", lambda: self.signals or seed_source(
            self.grid, self.bars) or strategy_source(self.grid, self.bars))

    def arrays(self) -> BarArrays:
        """The kernel's bar inputs, made once per process."""
        return prepared(self, "arrays", lambda: bar_arrays(self.bars, self.conviction))


def walkforward_chunk(inputs: WalkForwardInputs, lo: int, hi: int
                      ) -> tuple[np.ndarray, np.ndarray]:
    """A task: combinations [lo, hi) on every span, (rows, spans, figures), and their block
    sums over the full bars, (rows, blocks, 2)."""
    chunk = inputs.source()(inputs.grid.combos[lo:hi])
    arrays = inputs.arrays()
    return (windows_figures(arrays, chunk, inputs.spans, inputs.config, inputs.ann_factor),
            block_returns(arrays, chunk, inputs.full, inputs.edges, inputs.config))
