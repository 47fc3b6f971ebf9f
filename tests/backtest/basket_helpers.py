"""Helpers for the basket tests: hand-built (n_symbols, n_times) inputs and readable trades."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from backtest import kernel
from backtest.engine import EXIT_REASONS, BacktestConfig
from backtest.portfolio_kernel import T_SYMBOL, PortfolioKernelResult, run_portfolio_kernel
from risk.config import RiskConfig

T0 = datetime(2024, 1, 1, tzinfo=UTC)  # a Monday, 00:00 UTC
HOUR = timedelta(hours=1)

Bar = tuple[float, float, float]  # open, low, close
Trade = tuple[int, int, int, float, float, float, str]  # symbol, entry, exit, size, in, out, why


def flat(price: float, n: int) -> list[Bar | None]:
    """``n`` bars that never move from ``price``."""
    return [(price, price, price)] * n


def config(*, size: float = 0.1, fee: float = 0.0, **risk: Any) -> BacktestConfig:
    """No costs, always the default size (``size`` x conviction 1.0), a far stop; ``risk``
    over those limits."""
    limits: dict[str, Any] = {"max_position_pct": max(size, 0.5), "stop_loss_pct": 0.5} | risk
    return BacktestConfig(fee=fee, slippage=0.0, default_position_pct=size,
                          kelly_min_trades=10**6, risk=RiskConfig(**limits))


def run_basket(
    bars: Sequence[Sequence[Bar | None]],
    signals: Sequence[Sequence[int]],
    cfg: BacktestConfig,
    *,
    start: datetime = T0,
    conviction: float = 1.0,
) -> PortfolioKernelResult:
    """The basket kernel on hand-written bars (None: no bar) and signals, one row a symbol."""
    shape = (len(bars), len(bars[0]))
    open_, low, close = (np.full(shape, math.nan) for _ in range(3))
    has_bar = np.zeros(shape, dtype=np.bool_)
    for s, rows in enumerate(bars):
        for t, bar in enumerate(rows):
            if bar is not None:
                open_[s, t], low[s, t], close[s, t] = bar
                has_bar[s, t] = True
    t0 = int(start.timestamp() * 1000)
    return run_portfolio_kernel(
        open_=open_, low=low, close=close, has_bar=has_bar,
        time_ms=t0 + 3_600_000 * np.arange(shape[1], dtype=np.int64),
        signal=np.asarray(signals, dtype=np.int8), conviction=np.full(shape, conviction),
        suppress=np.zeros(shape, dtype=np.bool_), params=cfg.kernel_params(),
    )


def trades(raw: PortfolioKernelResult) -> list[Trade]:
    """The trades as (symbol row, entry time, exit time, size, entry, exit price, reason)."""
    return [
        (int(t[T_SYMBOL]), int(t[kernel.T_ENTRY_IDX]), int(t[kernel.T_EXIT_IDX]),
         round(float(t[kernel.T_SIZE]), 9), float(t[kernel.T_ENTRY_PRICE]),
         float(t[kernel.T_EXIT_PRICE]), EXIT_REASONS[int(t[kernel.T_REASON])])
        for t in raw.trades
    ]


def refused(raw: PortfolioKernelResult) -> list[list[int]]:
    """Each symbol's refusal reason at each close (-1: none)."""
    return [[int(v) for v in row] for row in raw.refused]


def counts(raw: PortfolioKernelResult) -> dict[int, int]:
    """The rejection counters that are not 0, by REJ_* index."""
    return {k: int(n) for k, n in enumerate(raw.rejections) if n}
