"""The backtest's figures from the kernel's own orders, by vectorbt's definitions, without vectorbt.

Importing vectorbt costs ~150 MiB and ~2.5 s, and compiling its stats functions ~9 s on an empty
numba cache: more than the whole backtest of a year of minute bars. So the command computes the
figures here and keeps vectorbt as the referee: tests/backtest/test_figures.py rebuilds vectorbt's
Portfolio from the same orders on real data and asserts every figure equal. ``--accounts
vectorbt`` makes vectorbt compute them instead; ``--report`` builds the Portfolio for its plots.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from backtest import kernel
from backtest.engine import BacktestResult
from backtest.stats import HALT_KINDS, BacktestStats
from backtest.sweep_kernel import F_MAX_DD, F_RETURN, F_SHARPE, N_FIGURES, run_figures
from data.timeframe import timeframe_ms


def kernel_stats(
    result: BacktestResult, timeframe: str, *, halt_kinds: list[str],
    rejections: Mapping[str, int],
) -> BacktestStats:
    """The figures of ``portfolio_stats`` for a full-pipeline run, computed from its orders."""
    raw = result.raw
    close = result.bars["close"].to_numpy(np.float64)
    init_cash = float(result.config.init_cash)
    out = np.empty(N_FIGURES)
    ann = pd.Timedelta("365 days") / pd.Timedelta(milliseconds=timeframe_ms(timeframe))
    run_figures(raw.orders, raw.trades, raw.rejections, close, init_cash, ann, out)
    units, cash = _holdings(raw.orders, len(close), init_cash)
    asset_value = units * close
    closed = raw.trades[raw.trades[:, kernel.T_REASON] != kernel.EXIT_END]
    pnl, ret = closed[:, kernel.T_PNL], closed[:, kernel.T_RETURN]
    return BacktestStats(
        start_value=init_cash,
        end_value=float(cash[-1] + asset_value[-1]),
        total_return_pct=float(out[F_RETURN]),
        sharpe_ratio=float(out[F_SHARPE]),
        max_drawdown_pct=float(out[F_MAX_DD]),
        total_trades=len(raw.trades),
        closed_trades=len(closed),
        win_rate_pct=_share(pnl > 0, len(closed)),
        avg_winning_trade_pct=_mean(ret[pnl > 0]) * 100.0,
        avg_losing_trade_pct=_mean(ret[pnl < 0]) * 100.0,
        fees_paid=float(raw.orders[:, kernel.O_FEES].sum()),
        exposure_pct=float((units > 0).mean()) * 100.0,
        max_gross_exposure_pct=_max_gross(asset_value, cash) * 100.0,
        buy_and_hold_return_pct=(close[-1] / close[0] - 1.0) * 100.0,
        halts=_halt_counts(halt_kinds),
        rejections=dict(rejections),
    )


def _holdings(orders: np.ndarray, n: int, init_cash: float) -> tuple[np.ndarray, np.ndarray]:
    """Units held and cash after each bar's orders (vectorbt's asset and cash flows)."""
    idx = orders[:, kernel.O_IDX].astype(np.int64)
    sign = np.where(orders[:, kernel.O_SIDE] == 0, 1.0, -1.0)
    size = orders[:, kernel.O_SIZE]
    units = np.cumsum(np.bincount(idx, weights=sign * size, minlength=n))
    spent = sign * size * orders[:, kernel.O_PRICE] + orders[:, kernel.O_FEES]
    cash = init_cash - np.cumsum(np.bincount(idx, weights=spent, minlength=n))
    # A round trip leaves a float residue of ~1e-19 units; vectorbt treats it as flat too.
    units[np.abs(units) < 1e-12] = 0.0
    return units, cash


def _max_gross(asset_value: np.ndarray, cash: np.ndarray) -> float:
    denom = asset_value + cash
    gross = np.divide(asset_value, denom, out=np.zeros_like(denom), where=denom != 0)
    return float(gross.max()) if len(gross) else math.nan


def _share(mask: np.ndarray, n: int) -> float:
    return float(mask.sum()) / n * 100.0 if n else math.nan


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if len(values) else math.nan


def _halt_counts(kinds: list[str]) -> dict[str, int]:
    counts = dict.fromkeys(HALT_KINDS, 0)
    for kind in kinds:
        if kind in counts:
            counts[kind] += 1
    return counts
