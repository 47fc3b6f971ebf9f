"""Walk-forward validation: pick on each training window, trade the pick on the window after it.

For every training window the sweep's figures of every combination (a fresh run on that window
at the ranked sizing) rank them by the chosen metric, among those with at least ``min_trades``
trades; the best is traded on the test window that follows. The out-of-sample run is ONE run of
the full pipeline over all test windows, whose signal at each bar is the signal of the
parameters picked for that bar's window. So the account, an open position, the half-Kelly record
and the kill switches carry from one test window to the next, as they would in a bot whose
parameters were swapped at each window's start without a restart: a drawdown latch that fires
stays latched to the end (only an operator lifts it), and no window starts from a fresh peak.

Every combination is also run afresh on each test window, to place the pick among them (its
out-of-sample rank), and once over all traded bars for the over-fitting statistics (the
Deflated Sharpe Ratio's trial count and variance, and the PBO's blocks). Memory is one chunk of
int8 signals plus a few figures per combination and window.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from backtest import kernel
from backtest.engine import BacktestConfig, BacktestResult, Sizing, utc_index
from backtest.engines import Engine, LocalEngine, chunk_tasks
from backtest.figures import kernel_stats
from backtest.overfit import (
    Bootstrap,
    DeflatedSharpe,
    Pbo,
    block_edges,
    bootstrap_trades,
    deflated_sharpe,
    pbo_cscv,
    sharpe_variance,
)
from backtest.stats import BacktestStats
from backtest.sweep_figures import account_trade_returns, account_value, value_returns
from backtest.sweep_grid import SweepGrid
from backtest.sweep_kernel import F_TRADES, METRICS, auto_chunk, per_bar_sharpes, ranking
from backtest.sweep_signals import ChunkSignals
from backtest.walkforward_kernel import WalkForwardInputs, walkforward_chunk
from backtest.walkforward_windows import Plan, Window
from core.errors import ConfigError
from data.timeframe import timeframe_ms

Progress = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class WindowPick:
    """One window: the combination picked on its training bars, and where it stood after."""

    window: Window
    combo: int  # row of grid.combos
    eligible: int  # combinations with at least min_trades trades in training
    in_sample: np.ndarray  # the pick's figures on the training window (ranked sizing)
    out_of_sample: np.ndarray  # its figures on the test window run afresh (ranked sizing)
    oos_rank: int  # its place among every combination run afresh on the test window


@dataclass(frozen=True)
class WalkForwardResult:
    """Everything the table, the JSON, the report and the saved result read."""

    grid: SweepGrid
    base: BacktestConfig
    plan: Plan
    index: pd.DatetimeIndex
    timeframe: str
    metric: str
    rank_by: Sizing
    min_trades: int
    picks: tuple[WindowPick, ...]
    next_pick: int  # the combination picked on the last training window: what to trade next
    stitched: BacktestResult  # the full pipeline over the test windows
    stats: BacktestStats
    deflated: DeflatedSharpe
    pbo: Pbo | None
    bootstrap: Bootstrap | None
    buy_and_hold: pd.Series  # the close over the test windows, scaled to init_cash
    # Every combination's figures on the next training window (the one next_pick ranks
    # first), at the ranked sizing: what a ranking across several markets reads.
    next_figures: np.ndarray = field(repr=False, compare=False)

    @property
    def test_span(self) -> tuple[int, int]:
        """Bars [first, last + 1) of the stitched out-of-sample run."""
        return self.picks[0].window.test_start, self.picks[-1].window.test_stop


def run_walkforward(
    bars: pd.DataFrame, grid: SweepGrid, base: BacktestConfig, plan: Plan, *, timeframe: str,
    metric: str = "sharpe", rank_by: Sizing = Sizing.FIXED, min_trades: int = 10,
    conviction: float = 0.5, pbo_blocks: int = 16, chunk_size: int | None = None,
    on_chunk: Progress | None = None, signals: ChunkSignals | None = None,
    engine: Engine | None = None,
) -> WalkForwardResult:
    """Run the walk-forward of ``grid`` over ``plan``'s windows; ConfigError on a window where
    no combination made ``min_trades`` trades in training. ``engine`` runs the chunks of
    combinations (default: here, one after the other; backtest.engines)."""
    return run_walkforwards([(bars, plan)], grid, base, timeframe=timeframe, metric=metric,
                            rank_by=rank_by, min_trades=min_trades, conviction=conviction,
                            pbo_blocks=pbo_blocks, chunk_size=chunk_size, on_chunk=on_chunk,
                            signals=signals, engine=engine)[0]


def run_walkforwards(
    markets: Sequence[tuple[pd.DataFrame, Plan]], grid: SweepGrid, base: BacktestConfig, *,
    timeframe: str, metric: str = "sharpe", rank_by: Sizing = Sizing.FIXED,
    min_trades: int = 10, conviction: float = 0.5, pbo_blocks: int = 16,
    chunk_size: int | None = None, on_chunk: Progress | None = None,
    signals: ChunkSignals | None = None, engine: Engine | None = None,
) -> list[WalkForwardResult]:
    """``run_walkforward`` on each (bars, plan), every market's chunks in one ``map``."""
    if len({c.stop_loss_pct for c in grid.combos}) > 1:
        raise ConfigError("walkforward trades one stop distance: give --stop-loss-pct, not a "
                          "list of stops")
    ann = pd.Timedelta("365 days") / pd.Timedelta(milliseconds=timeframe_ms(timeframe))
    stop = grid.combos[0].stop_loss_pct
    ranked = replace(base, sizing=rank_by, risk=replace(base.risk, stop_loss_pct=stop))
    inputs = []
    for bars, plan in markets:
        spans = [(w.train_start, w.train_stop) for w in plan.windows]
        spans += [(w.test_start, w.test_stop) for w in plan.windows] + [plan.next_train]
        full = (plan.windows[0].train_start, len(bars))
        inputs.append(WalkForwardInputs(
            bars=bars, grid=grid, config=ranked, spans=spans, full=full,
            edges=block_edges(full[1] - full[0], pbo_blocks), ann_factor=float(ann),
            conviction=conviction, signals=signals))
    n = len(grid.combos)
    tasks = [t for m, x in enumerate(inputs)
             for t in chunk_tasks(m, n, chunk_size or auto_chunk(len(x.bars)))]
    chunks = (engine or LocalEngine()).map(walkforward_chunk, inputs, tasks, on_chunk)
    out = []
    for m, (x, (_, plan)) in enumerate(zip(inputs, markets, strict=True)):
        mine = [c for (owner, _, _), c in zip(tasks, chunks, strict=True) if owner == m]
        figures = np.concatenate([c[0] for c in mine])
        blocks = np.concatenate([c[1] for c in mine])
        out.append(_result(x, plan, figures, blocks, base=base, timeframe=timeframe,
                           metric=metric, rank_by=rank_by, min_trades=min_trades))
    return out


def _result(
    x: WalkForwardInputs, plan: Plan, figures: np.ndarray, blocks: np.ndarray, *,
    base: BacktestConfig, timeframe: str, metric: str, rank_by: Sizing, min_trades: int,
) -> WalkForwardResult:
    bars, grid, edges = x.bars, x.grid, x.edges
    picks = _picks(plan, figures, metric, min_trades, utc_index(bars))
    n_win = len(plan.windows)
    next_pick = _pick(figures[:, 2 * n_win], metric, min_trades)
    pipeline = replace(base, sizing=Sizing.PIPELINE, risk=x.config.risk,
                       strategy=grid.strategy_of(grid.combos[next_pick]))
    stitched = _stitched_run(bars, x.source(), grid, picks, pipeline, x.arrays())
    stats = kernel_stats(stitched, timeframe, halt_kinds=list(stitched.halts()["kind"]),
                         rejections=stitched.rejections())
    sums = blocks.sum(axis=1)  # (combos, 2): each combination's whole-period sums
    return WalkForwardResult(
        grid=grid, base=pipeline, plan=plan, index=utc_index(bars), timeframe=timeframe,
        metric=metric, rank_by=rank_by, min_trades=min_trades, picks=picks,
        next_pick=next_pick, stitched=stitched, stats=stats,
        deflated=deflated_sharpe(_returns(stitched), n_trials=len(grid.combos),
                                 sr_variance=sharpe_variance(
                                     per_bar_sharpes(sums, int(edges[-1] - edges[0]))),
                                 ann_factor=x.ann_factor),
        pbo=pbo_cscv(blocks, np.diff(edges)) if len(grid.combos) > 1 else None,
        bootstrap=bootstrap_trades(account_trade_returns(stitched.raw, pipeline.init_cash)),
        buy_and_hold=_buy_and_hold(stitched, pipeline.init_cash),
        next_figures=figures[:, 2 * n_win].copy(),
    )


def _pick(figures: np.ndarray, metric: str, min_trades: int) -> int:
    # The best by ``metric`` among runs with min_trades trades and a finite figure, else -1.
    best = int(ranking(figures, metric, min_trades=min_trades)[0])
    column, _ = METRICS[metric]
    eligible = figures[best, F_TRADES] >= min_trades and math.isfinite(figures[best, column])
    return best if eligible else -1


def _picks(
    plan: Plan, figures: np.ndarray, metric: str, min_trades: int, index: pd.DatetimeIndex,
) -> tuple[WindowPick, ...]:
    n_win = len(plan.windows)
    out = []
    for w, window in enumerate(plan.windows):
        train = figures[:, w]
        best = _pick(train, metric, min_trades)
        if best < 0:
            raise ConfigError(
                f"window {window.number} (training {index[window.train_start]:%Y-%m-%d} to "
                f"{index[window.train_stop - 1]:%Y-%m-%d}): no combination made "
                f"{min_trades}+ trades with a finite {metric}; lengthen --train or lower "
                "--rank-min-trades")
        test = figures[:, n_win + w]
        oos_order = ranking(test, metric)
        out.append(WindowPick(
            window=window, combo=best,
            eligible=int((train[:, F_TRADES] >= min_trades).sum()),
            in_sample=train[best].copy(), out_of_sample=test[best].copy(),
            oos_rank=int(np.flatnonzero(oos_order == best)[0]) + 1,
        ))
    return tuple(out)


def _stitched_run(
    bars: pd.DataFrame, source: ChunkSignals, grid: SweepGrid, picks: tuple[WindowPick, ...],
    config: BacktestConfig, arrays: Any,
) -> BacktestResult:
    # One run over the test windows; the signal at each bar is its window's pick's.
    a, b = picks[0].window.test_start, picks[-1].window.test_stop
    signal = np.zeros(b - a, dtype=np.int8)
    made: dict[int, np.ndarray] = {}
    for p in picks:
        if p.combo not in made:
            made[p.combo] = source(grid.combos[p.combo:p.combo + 1])[0]
        w = p.window
        signal[w.test_start - a:w.test_stop - a] = made[p.combo][w.test_start:w.test_stop]
    raw = kernel.run_kernel(
        open_=arrays.open_[a:b], low=arrays.low[a:b], close=arrays.close[a:b],
        time_ms=arrays.time_ms[a:b], signal=signal, conviction=arrays.conviction[a:b],
        suppress=arrays.suppress[a:b], params=config.kernel_params(),
    )
    frame = bars.iloc[a:b].copy()
    frame["signal"] = signal
    return BacktestResult(config=config, bars=frame, raw=raw, scores={})


def _returns(result: BacktestResult) -> np.ndarray:
    # Per-bar returns of the account value the Sharpe figure uses (the first against init_cash).
    close = result.bars["close"].to_numpy(np.float64)
    init_cash = float(result.config.init_cash)
    return value_returns(account_value(result.raw.orders, close, init_cash), init_cash)


def _buy_and_hold(result: BacktestResult, init_cash: float) -> pd.Series:
    close = result.bars["close"]
    return close / float(close.iloc[0]) * init_cash
