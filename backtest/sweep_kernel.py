"""The sweep's numbers: each combination's signal, then the backtest's own kernel on it.

A chunk of combinations at a time: their int8 signals over all bars (``backtest.sweep_signals``:
the seed's grid from indicator tables computed once, any other strategy per combination), then
``backtest.kernel.simulate`` (the kernel of the backtest command: signal -> fixed conviction ->
risk rules -> fills) per combination and window, in parallel, twice: sized as the full pipeline
(half-Kelly after kelly_min_trades) and at a fixed size (``backtest --sizing fixed``, the signal's
own edge). Only six figures per run leave numba; an equity curve is dropped as soon as its
figures are known, so memory is one chunk of int8 signals (plus the seed's tables), whatever the
size of the grid.

The figures are vectorbt's, computed with the same operations, so that they equal what
``backtest.stats.portfolio_stats`` reads from ``pf.stats()`` after one run_backtest (tested):
- Total Return [%]: vectorbt's total profit from the order records (cash and assets summed with
  its add_nb, which snaps a sum within 1e-9 relative of zero to zero) over init_cash, x 100;
- value: vectorbt's Portfolio.value() rebuilt from the same order records (it differs from the
  kernel's equity by an ulp here and there, which is enough to move a drawdown's last digits);
- Sharpe Ratio: the value's returns (the first against init_cash), mean over std (ddof 1) x
  sqrt(365 days / bar); +inf when the std is 0 (a run without a trade), as vectorbt says;
- Max Drawdown [%]: deepest fall of the value from its running peak, NaN when it never fell;
- Total Trades: trades opened, the last one possibly still open.
Plus the entry bars refused because the size came out 0 (once kelly_min_trades have closed,
half-Kelly of a run's own closed trades is <= 0 when they lost, and that run stops trading), and
the first such bar.
vectorbt's numba functions could be called from here, but importing vectorbt costs ~4 s and
~200 MB per process: a third of the sweep's time budget for a dozen lines of arithmetic.
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
from backtest.sizing_stop import SizingStop, find_sizing_stop
from backtest.sweep_grid import Combo, SweepGrid
from backtest.sweep_signals import ChunkSignals, seed_source, strategy_source
from core.errors import ConfigError, DataError
from data.timeframe import timeframe_ms

# Columns of a figures matrix (one row per combination). F_STOPPED_AT: the bar (0 = the window's
# first) where the trade closed after which half-Kelly refused every entry, NaN when it did not:
# backtest.sizing_stop's SizingStop.bar.
F_RETURN, F_SHARPE, F_MAX_DD, F_TRADES, F_SIZE_ZERO, F_STOPPED_AT = 0, 1, 2, 3, 4, 5
N_FIGURES = 6
FIGURE_NAMES = ("total_return_pct", "sharpe", "max_drawdown_pct", "trades", "size_zero_refusals")

# vectorbt.utils.math_ tolerances, for its add_nb.
_REL_TOL = 1e-9
_ABS_TOL = 1e-12


@njit(cache=True)
def _is_close(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b) or math.isinf(a) or math.isinf(b):
        return False
    if a == b:
        return True
    return abs(a - b) <= max(_REL_TOL * max(abs(a), abs(b)), _ABS_TOL)


@njit(cache=True)
def _add(a: float, b: float) -> float:
    # vectorbt's add_nb: a sum that is zero within tolerance is exactly zero.
    zero = _is_close(abs(a), abs(b)) if np.sign(a) != np.sign(b) else _is_close(a + b, 0.0)
    return 0.0 if zero else a + b


@njit(cache=True)
def _total_profit(orders: np.ndarray, last_close: float) -> float:
    """vectorbt's total_profit_nb for one column: cash and assets from the order records."""
    if orders.shape[0] == 0:
        return 0.0
    cash = 0.0
    assets = 0.0
    for o in orders:
        size = o[kernel.O_SIZE]
        if o[kernel.O_SIDE] == 0:
            assets = _add(assets, size)
            cash = _add(cash, -(size * o[kernel.O_PRICE] + o[kernel.O_FEES]))
        else:
            assets = _add(assets, -size)
            cash = _add(cash, size * o[kernel.O_PRICE] - o[kernel.O_FEES])
    return cash + assets * last_close


@njit(cache=True)
def account_value(orders: np.ndarray, close: np.ndarray, init_cash: float) -> np.ndarray:
    """vectorbt's Portfolio.value() from the order records: cash and assets via add_nb."""
    # Equal to the kernel's equity up to an ulp or so (vectorbt pays size x price where the
    # kernel paid the notional it sized), but the figures must be exactly the backtest's.
    value = np.empty(close.shape[0])
    cash = init_cash
    assets = 0.0
    j = 0
    for i in range(close.shape[0]):
        if (j >= orders.shape[0] or orders[j, kernel.O_IDX] != i) and abs(cash) > _ABS_TOL:
            # No order on this bar: add_nb(x, 0.0) is x for every x add_nb can return (0, or
            # beyond its tolerance), so skipping the two additions changes no bit. Most bars
            # have no order; skipping makes this loop 2-3x faster (the sweep runs it twice).
            value[i] = cash + close[i] * assets
            continue
        cash_flow = 0.0
        asset_flow = 0.0
        while j < orders.shape[0] and orders[j, kernel.O_IDX] == i:
            o = orders[j]
            size = o[kernel.O_SIZE] if o[kernel.O_SIDE] == 0 else -o[kernel.O_SIZE]
            cash_flow = _add(cash_flow, -size * o[kernel.O_PRICE] - o[kernel.O_FEES])
            asset_flow = _add(asset_flow, size)
            j += 1
        cash = _add(cash, cash_flow)
        assets = _add(assets, asset_flow)
        value[i] = cash + close[i] * assets
    return value


@njit(cache=True)
def _sharpe(equity: np.ndarray, init_cash: float, ann_factor: float) -> float:
    """vectorbt's sharpe_ratio_1d_nb on Portfolio.returns(), with ddof 1 and no risk-free rate."""
    n = equity.shape[0]
    if n < 2:
        return math.nan
    returns = np.empty(n)
    prev = init_cash
    for i in range(n):
        returns[i] = (equity[i] - prev) / prev  # equity stays > 0: no zero-division branch
        prev = equity[i]
    std = np.sqrt(np.nanvar(returns) * n / (n - 1))
    if std == 0.0:
        return math.inf
    sharpe: float = np.nanmean(returns) / std * np.sqrt(ann_factor)
    return sharpe


@njit(cache=True)
def _max_drawdown(equity: np.ndarray) -> float:
    """Lowest (equity - running peak) / running peak; NaN when equity never fell below a peak."""
    peak = equity[0]
    worst = math.nan
    for v in equity:
        if v >= peak:
            peak = v
        else:
            dd = (v - peak) / peak
            if not dd >= worst:
                worst = dd
    return worst


@njit(cache=True)
def run_figures(
    orders: np.ndarray, trades: np.ndarray, rejections: np.ndarray, close: np.ndarray,
    init_cash: float, ann_factor: float, out: np.ndarray,
) -> None:
    """Write the N_FIGURES figures of one kernel run (its orders, trades, rejections) to out."""
    value = account_value(orders, close, init_cash)
    out[F_RETURN] = _total_profit(orders, close[-1]) / init_cash * 100.0
    out[F_SHARPE] = _sharpe(value, init_cash, ann_factor)
    out[F_MAX_DD] = -_max_drawdown(value) * 100.0
    out[F_TRADES] = trades.shape[0]
    out[F_SIZE_ZERO] = rejections[kernel.REJ_SIZE_ZERO]


@njit(cache=True)
def stop_bar(trades: np.ndarray, refused: np.ndarray) -> float:
    """The bar (0 = the run's first) after which half-Kelly refused every entry, else NaN."""
    # The sweep's conviction is fixed, so an entry refused for size 0 means half-Kelly of the
    # record was <= 0, and the record was final: the last closed trade made it so.
    n = _closed_trades(trades)
    for i in range(refused.shape[0]):
        if refused[i] == kernel.REJ_SIZE_ZERO:
            return float(trades[n - 1, kernel.T_EXIT_IDX]) if n > 0 else float(i)
    return math.nan


@njit(cache=True)
def _closed_trades(trades: np.ndarray) -> int:
    n: int = trades.shape[0]
    if n > 0 and trades[n - 1, kernel.T_REASON] == kernel.EXIT_END:
        return n - 1
    return n


@njit(parallel=True, cache=True)
def _window_figures(
    open_: np.ndarray, low: np.ndarray, close: np.ndarray, time_ms: np.ndarray,
    signals: np.ndarray, conviction: np.ndarray, suppress: np.ndarray, p: Any, p_fixed: Any,
    ann_factor: float, out: np.ndarray, out_fixed: np.ndarray,
) -> None:
    # Two kernel runs per row of signals (pipeline, fixed size); rows are independent, so
    # prange is safe.
    for k in prange(signals.shape[0]):
        orders, trades, _, _, _, rejections, refused, _ = kernel.simulate(
            open_, low, close, time_ms, signals[k], conviction, suppress, p
        )
        run_figures(orders, trades, rejections, close, p.init_cash, ann_factor, out[k])
        out[k, F_STOPPED_AT] = stop_bar(trades, refused)
        if _closed_trades(trades) < p.kelly_min_trades:
            # Half-Kelly never sized this run: every decision used the default size, so the
            # fixed-size run would be this very run.
            for c in range(N_FIGURES):
                out_fixed[k, c] = out[k, c]
        else:
            orders, trades, _, _, _, rejections, _, _ = kernel.simulate(
                open_, low, close, time_ms, signals[k], conviction, suppress, p_fixed
            )
            run_figures(orders, trades, rejections, close, p.init_cash, ann_factor,
                        out_fixed[k])
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
    ann_factor: float,
) -> tuple[np.ndarray, np.ndarray]:
    """(rows, N_FIGURES) figures over bars [start, stop) per row of ``signals``: the full
    pipeline's and the fixed size's."""
    out = np.empty((signals.shape[0], N_FIGURES))
    out_fixed = np.empty_like(out)
    window = slice(start, stop)
    _window_figures(
        bars.open_[window], bars.low[window], bars.close[window], bars.time_ms[window],
        np.ascontiguousarray(signals), bars.conviction[window], bars.suppress[window],
        replace(config, sizing=Sizing.PIPELINE).kernel_params(),
        replace(config, sizing=Sizing.FIXED).kernel_params(), float(ann_factor), out, out_fixed,
    )
    return out, out_fixed


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


def run_sweep(
    bars: pd.DataFrame, grid: SweepGrid, base: BacktestConfig, *, timeframe: str,
    in_sample: float = 0.7, conviction: float = 0.5, chunk_size: int | None = None,
    on_chunk: ChunkDone | None = None, signals: ChunkSignals | None = None,
) -> SweepResult:
    """Run the full pipeline for every combination on the in-sample and out-of-sample bars.

    ``base`` gives costs, risk and sizing (its strategy is the grid's). Every combination
    trades the same bars: from the grid's longest warm-up on, so the first in-sample bar has a
    converged signal for all of them. The first ``in_sample`` of those bars are in-sample, the
    rest out-of-sample; the out-of-sample run starts flat with init_cash, and its indicators
    carry on from the in-sample bars (their tail is its warm-up): nothing in either window
    depends on a later bar. Signals are made one chunk of combinations at a time and dropped
    when its figures are known, so memory is one chunk's int8 signals whatever the grid's size.
    ``signals`` makes them (default: the seed's tables for rsi_ema, else each combination's
    strategy; tests give the generic path to the seed's grid, or watch the chunks).
    """
    if not 0.0 < in_sample <= 1.0:
        raise ConfigError(f"the in-sample fraction must be in (0, 1], got {in_sample!r}")
    windows = _windows(len(bars), grid.warmup_bars, in_sample)
    source = signals or seed_source(grid, bars) or strategy_source(grid, bars)
    arrays = bar_arrays(bars, conviction)
    ann = pd.Timedelta("365 days") / pd.Timedelta(milliseconds=timeframe_ms(timeframe))
    n = len(grid.combos)
    figures = {name: np.empty((n, N_FIGURES)) for name in windows}
    fixed = {name: np.empty((n, N_FIGURES)) for name in windows}
    step = chunk_size or _auto_chunk(len(bars))
    for lo in range(0, n, step):
        hi = min(lo + step, n)
        chunk = source(grid.combos[lo:hi])  # (hi - lo, all bars) int8: the only such rows
        for stop in sorted({c.stop_loss_pct for c in grid.combos[lo:hi]}):
            rows = np.array([k for k in range(lo, hi) if grid.combos[k].stop_loss_pct == stop])
            config = _with_stop(base, stop)
            for name, (a, b) in windows.items():
                figures[name][rows], fixed[name][rows] = window_figures(
                    arrays, chunk[rows - lo, a:b], a, b, config, ann)
        del chunk  # before the next chunk's are made: one chunk alive at a time
        if on_chunk is not None:
            on_chunk(hi - lo)
    return SweepResult(grid=grid, index=utc_index(bars), windows=windows, figures=figures,
                       timeframe=timeframe, default_stop_loss_pct=base.risk.stop_loss_pct,
                       fixed_figures=fixed, base=base,
                       rerun=_rerun(grid, source, arrays, windows, base))


def _with_stop(base: BacktestConfig, stop: float) -> BacktestConfig:
    return replace(base, risk=replace(base.risk, stop_loss_pct=stop))


def _rerun(
    grid: SweepGrid, source: ChunkSignals, arrays: BarArrays,
    windows: dict[str, tuple[int, int]], base: BacktestConfig,
) -> Rerun:
    """A function that runs one combination again, as the sweep ran it, keeping the arrays."""

    def rerun(k: int, window: str, sizing: Sizing) -> kernel.KernelResult:
        a, b = windows[window]
        config = replace(_with_stop(base, grid.combos[k].stop_loss_pct), sizing=sizing)
        return kernel.run_kernel(
            open_=arrays.open_[a:b], low=arrays.low[a:b], close=arrays.close[a:b],
            time_ms=arrays.time_ms[a:b], signal=source(grid.combos[k:k + 1])[0, a:b],
            conviction=arrays.conviction[a:b], suppress=arrays.suppress[a:b],
            params=config.kernel_params(),
        )

    return rerun


def _windows(n_bars: int, warmup: int, in_sample: float) -> dict[str, tuple[int, int]]:
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


def _auto_chunk(n_bars: int) -> int:
    # One chunk's int8 signals stay near 32 MiB: 256 combinations of a year of hourly bars,
    # ~64 of a year of minute bars.
    return max(8, min(256, (32 << 20) // max(n_bars, 1)))


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
