"""The walk-forward's JSON document: windows, parameter stability, stitched figures, gates and the
over-fitting statistics, each with one line on how to read it. The table and the report read it.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

from backtest import kernel
from backtest.gates import GateResult
from backtest.overfit import READ_BOOTSTRAP, READ_DSR, READ_PBO
from backtest.sweep_grid import STOP
from backtest.sweep_kernel import F_MAX_DD, F_RETURN, F_SHARPE, F_TRADES
from backtest.walkforward import WalkForwardResult

READ_OOS_RANK = ("out-of-sample rank: where each window's pick placed among all combinations "
                 "run on its test window (1 = best); picks in the lower half more often than "
                 "not mean the in-sample ranking does not carry forward")
READ_STABILITY = ("stability: how often each parameter's most common pick was chosen, and how "
                  "far the picks spread over its grid (0 = always the same value, ~0.3 = all "
                  "over it)")


def summary(result: WalkForwardResult, gates: tuple[GateResult, ...]) -> dict[str, Any]:
    """The document ``walkforward --json`` prints (NaN and infinities as null)."""
    grid, plan, stats = result.grid, result.plan, result.stats
    a, b = result.test_span
    windows = [_window(result, p) for p in result.picks]
    ranks = [p.oos_rank for p in result.picks]
    n = len(grid.combos)
    doc: dict[str, Any] = {
        "command": "walkforward", "strategy": grid.strategy.name, "timeframe": result.timeframe,
        "mode": plan.mode, "train": plan.train.text, "test": plan.test.text,
        "metric": result.metric, "rank_by": str(result.rank_by),
        "rank_min_trades": result.min_trades, "combinations": n,
        "swept_params": list(grid.names), "fixed_params": dict(grid.fixed),
        "stop_loss_pct": grid.combos[0].stop_loss_pct,
        "windows": windows, "unused_bars": plan.unused_bars,
        "stability": stability(result),
        "out_of_sample_rank": {
            "median": float(np.median(ranks)), "of": n,
            "share_in_lower_half": sum(r > (n + 1) / 2 for r in ranks) / len(ranks),
            "read": READ_OOS_RANK,
        },
        "out_of_sample": {**_span(result, a, b), **stats.to_json(),
                          "sizing_stop": _sizing_stop(result)},
        "gates": [g.to_json() for g in gates],
        "gates_passed": bool(gates) and all(g.passed for g in gates),
        "overfitting": overfitting(result),
        "next": {"params": grid.params(grid.combos[result.next_pick]),
                 "trained_on": _span(result, *plan.next_train)},
    }
    doc["stability"]["read"] = READ_STABILITY
    clean: dict[str, Any] = _clean(doc)
    return clean


def overfitting(result: WalkForwardResult) -> dict[str, Any]:
    """The three statistics, each with its reading line."""
    boot = result.bootstrap
    return {
        "deflated_sharpe": {**result.deflated.to_json(), "read": READ_DSR},
        "pbo": None if result.pbo is None else {**result.pbo.to_json(), "read": READ_PBO},
        "bootstrap": None if boot is None else {**boot.to_json(), "read": READ_BOOTSTRAP},
    }


def _sizing_stop(result: WalkForwardResult) -> dict[str, Any] | None:
    # When half-Kelly of the out-of-sample record refused every later entry, as backtest says.
    stop = result.stitched.sizing_stop()
    return None if stop is None else {**stop.to_json(), "sentence": stop.sentence()}


def _window(result: WalkForwardResult, pick: Any) -> dict[str, Any]:
    w = pick.window
    grid = result.grid
    return {
        "number": w.number,
        "train": _span(result, w.train_start, w.train_stop),
        "test": _span(result, w.test_start, w.test_stop),
        "params": grid.row(grid.combos[pick.combo]),
        "eligible_combinations": pick.eligible,
        "in_sample": figures_json(pick.in_sample),
        "out_of_sample": figures_json(pick.out_of_sample),
        "out_of_sample_rank": pick.oos_rank,
        "stitched": _stitched_window(result, w.test_start, w.test_stop),
    }


def _stitched_window(result: WalkForwardResult, start: int, stop: int) -> dict[str, Any]:
    # The window's share of the one out-of-sample run: equity in and out, trades opened in it.
    raw = result.stitched.raw
    a = result.test_span[0]
    i, j = start - a, stop - a
    before = raw.equity[i - 1] if i > 0 else result.base.init_cash
    entries = raw.trades[:, kernel.T_ENTRY_IDX]
    return {
        "equity_start": float(before), "equity_end": float(raw.equity[j - 1]),
        "return_pct": (float(raw.equity[j - 1]) / float(before) - 1.0) * 100.0,
        "trades": int(((entries >= i) & (entries < j)).sum()),
        "halted_bars": int((raw.halt[i:j] != 0).sum()),
    }


def stability(result: WalkForwardResult) -> dict[str, Any]:
    """Per swept parameter: the picks in window order, the most common one, and the spread."""
    grid = result.grid
    out: dict[str, Any] = {}
    for k, name in enumerate(grid.names):
        path = [grid.combos[p.combo].values[k] for p in result.picks]
        value, count = Counter(path).most_common(1)[0]
        out[name] = {"path": path, "distinct": len(set(path)), "mode": value,
                     "mode_share": count / len(path), "spread": _spread(path, grid.values(name))}
    out.pop(STOP, None)
    return out


def _spread(path: list[Any], values: list[Any]) -> float | None:
    # Standard deviation of the picks over the grid's range; None for texts or a single value.
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return None
    low, high = float(min(values)), float(max(values))
    return float(np.std(np.asarray(path, dtype=np.float64))) / (high - low) if high > low else None


def _span(result: WalkForwardResult, a: int, b: int) -> dict[str, Any]:
    index: pd.DatetimeIndex = result.index
    return {"first_bar": index[a].isoformat(), "last_bar": index[b - 1].isoformat(),
            "bars": b - a}


def figures_json(figs: np.ndarray) -> dict[str, Any]:
    """A run's figures (a row of the sweep's figures) as the windows' JSON gives them."""
    return {"total_return_pct": float(figs[F_RETURN]), "sharpe": float(figs[F_SHARPE]),
            "max_drawdown_pct": float(figs[F_MAX_DD]), "trades": int(figs[F_TRADES])}


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value
