"""A sweep as tasks: one chunk of combinations of one market each, run by an engine.

``run_sweep`` (one market) and ``run_sweeps`` (several, every market's chunks in one ``map``)
cut the grid into chunks, let the engine (backtest.engines: here, or a Ray cluster) run
``sweep_chunk`` on each, and put the chunks' figures together into a ``SweepResult`` per
market. The numbers are ``backtest.sweep_kernel``'s: the engine only decides where they run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from backtest import kernel
from backtest.engine import BacktestConfig, Sizing, utc_index
from backtest.engines import Engine, Keyed, LocalEngine, chunk_tasks, prepared
from backtest.overfit import block_edges
from backtest.sweep_grid import SweepGrid
from backtest.sweep_kernel import (
    N_FIGURES,
    NO_BLOCKS,
    BarArrays,
    ChunkDone,
    Rerun,
    SweepResult,
    auto_chunk,
    bar_arrays,
    sweep_windows,
    window_figures,
)
from backtest.sweep_signals import ChunkSignals, seed_source, strategy_source
from core.errors import ConfigError
from data.timeframe import timeframe_ms


@dataclass(frozen=True)
class SweepInputs(Keyed):
    """One market's share of a sweep: what each of its tasks (a chunk of combinations) needs.

    ``signals`` is for tests in this process; a Ray worker makes the grid's own source once
    (``prepared``) from the bars, as run_sweep does here.
    """

    bars: pd.DataFrame
    grid: SweepGrid
    base: BacktestConfig
    windows: dict[str, tuple[int, int]]
    edges: np.ndarray
    ann_factor: float
    conviction: float
    signals: ChunkSignals | None = None


@dataclass(frozen=True)
class ChunkFigures:
    """Rows [lo, hi) of every window's figures and of the in-sample blocks, at both sizings."""

    lo: int
    hi: int
    figures: dict[str, np.ndarray]
    fixed: dict[str, np.ndarray]
    blocks: dict[Sizing, np.ndarray]


def sweep_chunk(inputs: SweepInputs, lo: int, hi: int) -> ChunkFigures:
    """A task: combinations [lo, hi) of a sweep run on every window, at both sizings."""
    grid, n = inputs.grid, hi - lo
    source, arrays = _source(inputs), _arrays(inputs)
    out = ChunkFigures(
        lo, hi, figures={name: np.empty((n, N_FIGURES)) for name in inputs.windows},
        fixed={name: np.empty((n, N_FIGURES)) for name in inputs.windows},
        blocks={s: np.empty((n, len(inputs.edges) - 1, 2))
                for s in (Sizing.PIPELINE, Sizing.FIXED)})
    chunk = source(grid.combos[lo:hi])  # (hi - lo, all bars) int8: the only such rows
    for stop in sorted({c.stop_loss_pct for c in grid.combos[lo:hi]}):
        rows = np.array([k - lo for k in range(lo, hi) if grid.combos[k].stop_loss_pct == stop])
        config = _with_stop(inputs.base, stop)
        for name, (a, b) in inputs.windows.items():
            edges = inputs.edges if name == "in_sample" else NO_BLOCKS
            figs, figs_fixed, sums, sums_fixed = window_figures(
                arrays, chunk[rows, a:b], a, b, config, inputs.ann_factor, edges)
            out.figures[name][rows], out.fixed[name][rows] = figs, figs_fixed
            if name == "in_sample":
                out.blocks[Sizing.PIPELINE][rows] = sums
                out.blocks[Sizing.FIXED][rows] = sums_fixed
    return out


def _source(inputs: SweepInputs) -> ChunkSignals:
    return prepared(inputs, "source", lambda: inputs.signals or seed_source(
        inputs.grid, inputs.bars) or strategy_source(inputs.grid, inputs.bars))


def _arrays(inputs: SweepInputs) -> BarArrays:
    return prepared(inputs, "arrays", lambda: bar_arrays(inputs.bars, inputs.conviction))


def run_sweep(
    bars: pd.DataFrame, grid: SweepGrid, base: BacktestConfig, *, timeframe: str,
    in_sample: float = 0.7, conviction: float = 0.5, pbo_blocks: int = 16,
    chunk_size: int | None = None, on_chunk: ChunkDone | None = None,
    signals: ChunkSignals | None = None, engine: Engine | None = None,
) -> SweepResult:
    """Run the full pipeline for every combination on the in-sample and out-of-sample bars.

    ``base`` gives costs, risk and sizing (its strategy is the grid's). Every combination
    trades the same bars: from the grid's longest warm-up on, so the first in-sample bar has a
    converged signal for all of them. The first ``in_sample`` of those bars are in-sample, the
    rest out-of-sample; the out-of-sample run starts flat with init_cash, and its indicators
    carry on from the in-sample bars (their tail is its warm-up): nothing in either window
    depends on a later bar. Signals are made one chunk of combinations at a time and dropped
    when its figures are known, so memory is one chunk's int8 signals whatever the grid's size.
    The in-sample returns are also summed over ``pbo_blocks`` blocks, for the PBO.
    ``signals`` makes them (default: the seed's tables for rsi_ema, else each combination's
    strategy; tests give the generic path to the seed's grid, or watch the chunks).
    ``engine`` runs the chunks (default: here, one after the other; backtest.engines).
    """
    return run_sweeps([bars], grid, base, timeframe=timeframe, in_sample=in_sample,
                      conviction=conviction, pbo_blocks=pbo_blocks, chunk_size=chunk_size,
                      on_chunk=on_chunk, signals=signals, engine=engine)[0]


def run_sweeps(
    markets: Sequence[pd.DataFrame], grid: SweepGrid, base: BacktestConfig, *, timeframe: str,
    in_sample: float = 0.7, conviction: float = 0.5, pbo_blocks: int = 16,
    chunk_size: int | None = None, on_chunk: ChunkDone | None = None,
    signals: ChunkSignals | None = None, engine: Engine | None = None,
) -> list[SweepResult]:
    """``run_sweep`` of the same grid on each market, every market's chunks in one ``map``."""
    if not 0.0 < in_sample <= 1.0:
        raise ConfigError(f"the in-sample fraction must be in (0, 1], got {in_sample!r}")
    ann = pd.Timedelta("365 days") / pd.Timedelta(milliseconds=timeframe_ms(timeframe))
    inputs = []
    for bars in markets:
        windows = sweep_windows(len(bars), grid.warmup_bars, in_sample)
        a, b = windows["in_sample"]
        inputs.append(SweepInputs(
            bars=bars, grid=grid, base=base, windows=windows, edges=block_edges(b - a,
                                                                                 pbo_blocks),
            ann_factor=ann, conviction=conviction, signals=signals))
    n = len(grid.combos)
    tasks = [t for m, bars in enumerate(markets)
             for t in chunk_tasks(m, n, chunk_size or auto_chunk(len(bars)))]
    chunks = (engine or LocalEngine()).map(sweep_chunk, inputs, tasks, on_chunk)
    return [_assemble(x, [c for (m, _, _), c in zip(tasks, chunks, strict=True) if m == i],
                      timeframe)
            for i, x in enumerate(inputs)]


def _assemble(inputs: SweepInputs, chunks: list[ChunkFigures], timeframe: str) -> SweepResult:
    n, sizings = len(inputs.grid.combos), (Sizing.PIPELINE, Sizing.FIXED)
    figures = {w: np.empty((n, N_FIGURES)) for w in inputs.windows}
    fixed = {w: np.empty((n, N_FIGURES)) for w in inputs.windows}
    blocks = {s: np.empty((n, len(inputs.edges) - 1, 2)) for s in sizings}
    for c in chunks:
        rows = slice(c.lo, c.hi)
        for w in inputs.windows:
            figures[w][rows], fixed[w][rows] = c.figures[w], c.fixed[w]
        for s in sizings:
            blocks[s][rows] = c.blocks[s]
    return SweepResult(
        grid=inputs.grid, index=utc_index(inputs.bars), windows=inputs.windows,
        timeframe=timeframe, figures=figures, fixed_figures=fixed,
        default_stop_loss_pct=inputs.base.risk.stop_loss_pct, base=inputs.base,
        ann_factor=inputs.ann_factor, close=_arrays(inputs).close, edges=inputs.edges,
        blocks=blocks, rerun=_rerun(inputs),
    )


def _with_stop(base: BacktestConfig, stop: float) -> BacktestConfig:
    return replace(base, risk=replace(base.risk, stop_loss_pct=stop))


def _rerun(inputs: SweepInputs) -> Rerun:
    """A function that runs one combination again, as the sweep ran it (here, in process)."""

    def rerun(k: int, window: str, sizing: Sizing) -> kernel.KernelResult:
        a, b = inputs.windows[window]
        arrays = _arrays(inputs)
        combo = inputs.grid.combos[k]
        config = replace(_with_stop(inputs.base, combo.stop_loss_pct), sizing=sizing)
        return kernel.run_kernel(
            open_=arrays.open_[a:b], low=arrays.low[a:b], close=arrays.close[a:b],
            time_ms=arrays.time_ms[a:b], signal=_source(inputs)([combo])[0, a:b],
            conviction=arrays.conviction[a:b], suppress=arrays.suppress[a:b],
            params=config.kernel_params(),
        )

    return rerun
