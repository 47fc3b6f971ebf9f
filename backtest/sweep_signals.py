"""A sweep's signals, one chunk of combinations at a time: (combinations, bars) int8 rows.

The seed's grid (rsi_ema) takes its numba path: each RSI window and EMA span is computed once
over all bars, and a combination's signal is ``signal_rule`` on three of those rows. Any other
strategy computes each combination's signal itself, over all bars (the windows slice it). Both
make one chunk's rows only, so memory stays flat as the grid grows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from backtest.sweep_grid import Combo, SweepGrid
from signals.indicators import RsiMethod, ema_values, rsi_values
from signals.quant_signals import SignalParams, signal_rule

ChunkSignals = Callable[[Sequence[Combo]], np.ndarray]
"""The signals of a chunk of combinations: one int8 row over all bars per combination."""


@dataclass(frozen=True)
class Tables:
    """Every RSI window's and EMA span's values over all bars, computed once."""

    rsi: dict[int, np.ndarray]
    ema: dict[int, np.ndarray]

    @classmethod
    def build(
        cls, close: np.ndarray, *, rsi_windows: Sequence[int], spans: Sequence[int],
        method: RsiMethod,
    ) -> Tables:
        """RSI per window and EMA per span of ``close`` (float64, finite)."""
        values = np.ascontiguousarray(close, dtype=np.float64)
        return cls(
            rsi={w: rsi_values(values, w, method) for w in sorted(set(rsi_windows))},
            ema={s: ema_values(values, s) for s in sorted(set(spans))},
        )


def chunk_signals(
    tables: Tables, params: Sequence[SignalParams], start: int, stop: int
) -> np.ndarray:
    """(len(params), stop - start) int8 signals of bars [start, stop), one row per setting."""
    out = np.empty((len(params), stop - start), dtype=np.int8)
    for row, sp in enumerate(params):
        out[row] = signal_rule(
            sp,
            rsi=tables.rsi[sp.rsi_window][start:stop],
            ema_fast=tables.ema[sp.ema_fast][start:stop],
            ema_slow=tables.ema[sp.ema_slow][start:stop],
        )
    return out


def seed_source(grid: SweepGrid, bars: pd.DataFrame) -> ChunkSignals | None:
    """The seed grid's numba path: each RSI and EMA once, a combination's signal from three rows.

    None when the grid's strategy is not rsi_ema, or sweeps the RSI method (the tables hold
    one method's RSI); the generic path then runs it, to the same figures.
    """
    from signals.strategies.rsi_ema import seed_params

    first = seed_params(grid.strategy_of(grid.combos[0]))
    if first is None or "rsi_method" in grid.names:
        return None
    tables = Tables.build(
        bars["close"].to_numpy(np.float64), rsi_windows=_ints(grid, "rsi_window"),
        spans=_ints(grid, "ema_fast") + _ints(grid, "ema_slow"), method=first.rsi_method,
    )

    def signals(combos: Sequence[Combo]) -> np.ndarray:
        # rsi_ema's parameters are SignalParams' fields (a new one would raise here), and
        # replace() validates like the strategy: the grid accepted these, so they pass.
        params = [_with(first, grid.params(c)) for c in combos]
        return chunk_signals(tables, params, 0, len(bars))

    return signals


def _with(params: SignalParams, values: Mapping[str, Any]) -> SignalParams:
    return replace(params, **values)


def _ints(grid: SweepGrid, name: str) -> list[int]:
    return [int(v) for v in grid.values(name)]


def strategy_source(grid: SweepGrid, bars: pd.DataFrame) -> ChunkSignals:
    """Any strategy's path: each combination's own signal over all bars (the windows slice it)."""

    def signals(combos: Sequence[Combo]) -> np.ndarray:
        out = np.empty((len(combos), len(bars)), dtype=np.int8)
        first: dict[tuple[object, ...], int] = {}
        for row, combo in enumerate(combos):
            # The same parameters under another stop have the same signal: made once a chunk.
            seen = first.setdefault(combo.values, row)
            out[row] = out[seen] if seen != row else grid.strategy_of(combo).signal(bars)
        return out

    return signals
