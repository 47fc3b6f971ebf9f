"""A basket's account figures, by the definitions of backtest/figures.py's ``kernel_stats``.

The account is vectorbt's with cash sharing, rebuilt from the basket's orders as
backtest/sweep_figures.py rebuilds one symbol's: one cash, each symbol's units (vectorbt's add_nb
on every flow), each position valued at its symbol's last close, summed in symbol order. Where a
figure is about one market it becomes the basket's: buy & hold is the mean of the symbols' own
buy & hold returns (each over its own bars), exposure is the share of closes with any position
open. One symbol gives ``kernel_stats``' figures bit for bit (tested).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from numba import njit

from backtest import kernel
from backtest.figures import _halt_counts, _max_gross, _mean, _share
from backtest.portfolio_kernel import O_SYMBOL
from backtest.stats import BacktestStats
from backtest.sweep_figures import _ABS_TOL, _add, _max_drawdown, _sharpe
from data.timeframe import timeframe_ms

if TYPE_CHECKING:
    from backtest.portfolio import PortfolioResult


def basket_stats(result: PortfolioResult, timeframe: str) -> BacktestStats:
    """The account's figures of a basket run (``kernel_stats`` for one symbol)."""
    raw = result.raw
    orders = np.ascontiguousarray(raw.orders)
    closes = result.last_closes()
    init_cash = float(result.config.init_cash)
    value = basket_value(orders, closes, init_cash)
    ann = pd.Timedelta("365 days") / pd.Timedelta(milliseconds=timeframe_ms(timeframe))
    units, cash = _holdings(orders, closes.shape, init_cash)
    # Before a symbol's first bar its close is NaN and its units are 0: worth 0, not NaN.
    asset_value = np.where(units != 0.0, units * closes, 0.0).sum(axis=0)
    closed = raw.trades[raw.trades[:, kernel.T_REASON] != kernel.EXIT_END]
    pnl, ret = closed[:, kernel.T_PNL], closed[:, kernel.T_RETURN]
    own = [result.bars[symbol]["close"].to_numpy(np.float64) for symbol in result.symbols]
    return BacktestStats(
        start_value=init_cash,
        end_value=float(cash[-1] + asset_value[-1]),
        total_return_pct=basket_profit(orders, closes[:, -1]) / init_cash * 100.0,
        sharpe_ratio=float(_sharpe(value, init_cash, ann)),
        max_drawdown_pct=float(-_max_drawdown(value) * 100.0),
        total_trades=len(raw.trades),
        closed_trades=len(closed),
        win_rate_pct=_share(pnl > 0, len(closed)),
        avg_winning_trade_pct=_mean(ret[pnl > 0]) * 100.0,
        avg_losing_trade_pct=_mean(ret[pnl < 0]) * 100.0,
        fees_paid=float(raw.orders[:, kernel.O_FEES].sum()),
        exposure_pct=float((units > 0).any(axis=0).mean()) * 100.0,
        max_gross_exposure_pct=_max_gross(asset_value, cash) * 100.0,
        buy_and_hold_return_pct=float(np.mean([c[-1] / c[0] - 1.0 for c in own])) * 100.0,
        halts=_halt_counts(list(result.halts()["kind"])),
        rejections=result.rejections(),
    )


@njit(cache=True)
def _marked(units: np.ndarray, closes: np.ndarray, i: int) -> float:
    """Every position at its last close at time i, summed in symbol order."""
    total = 0.0
    for s in range(units.shape[0]):
        if units[s] != 0.0:
            total += closes[s, i] * units[s]
    return total


@njit(cache=True)
def basket_value(orders: np.ndarray, closes: np.ndarray, init_cash: float) -> np.ndarray:
    """The account's value at each close (sweep_figures.account_value with one shared cash)."""
    n_symbols, n = closes.shape
    value = np.empty(n)
    units = np.zeros(n_symbols)
    flows = np.zeros(n_symbols)
    cash = init_cash
    j = 0
    for i in range(n):
        if (j >= orders.shape[0] or orders[j, kernel.O_IDX] != i) and abs(cash) > _ABS_TOL:
            value[i] = cash + _marked(units, closes, i)  # add_nb(x, 0.0) is x: no flows
            continue
        cash_flow = 0.0
        for s in range(n_symbols):  # a loop, not flows[:] = 0.0: see kernel._grow
            flows[s] = 0.0
        while j < orders.shape[0] and orders[j, kernel.O_IDX] == i:
            o = orders[j]
            size = o[kernel.O_SIZE] if o[kernel.O_SIDE] == 0 else -o[kernel.O_SIZE]
            cash_flow = _add(cash_flow, -size * o[kernel.O_PRICE] - o[kernel.O_FEES])
            s = int(o[O_SYMBOL])
            flows[s] = _add(flows[s], size)
            j += 1
        cash = _add(cash, cash_flow)
        for s in range(n_symbols):
            units[s] = _add(units[s], flows[s])
        value[i] = cash + _marked(units, closes, i)
    return value


@njit(cache=True)
def basket_profit(orders: np.ndarray, last_closes: np.ndarray) -> float:
    """vectorbt's total profit of the shared account: cash and units from the orders, each
    symbol's units at its last close."""
    if orders.shape[0] == 0:
        return 0.0
    cash = 0.0
    units = np.zeros(last_closes.shape[0])
    for o in orders:
        s = int(o[O_SYMBOL])
        size = o[kernel.O_SIZE]
        if o[kernel.O_SIDE] == 0:
            units[s] = _add(units[s], size)
            cash = _add(cash, -(size * o[kernel.O_PRICE] + o[kernel.O_FEES]))
        else:
            units[s] = _add(units[s], -size)
            cash = _add(cash, size * o[kernel.O_PRICE] - o[kernel.O_FEES])
    total = 0.0
    for s in range(units.shape[0]):
        if units[s] != 0.0:
            total += units[s] * last_closes[s]
    return cash + total


def _holdings(
    orders: np.ndarray, shape: tuple[int, int], init_cash: float
) -> tuple[np.ndarray, np.ndarray]:
    """Each symbol's units and the shared cash after each time's orders (figures._holdings)."""
    n_symbols, n = shape
    idx = orders[:, kernel.O_IDX].astype(np.int64)
    which = orders[:, O_SYMBOL].astype(np.int64)
    sign = np.where(orders[:, kernel.O_SIDE] == 0, 1.0, -1.0)
    size = orders[:, kernel.O_SIZE]
    units = np.empty(shape)
    for s in range(n_symbols):
        mine = which == s
        units[s] = np.cumsum(np.bincount(idx[mine], weights=(sign * size)[mine], minlength=n))
    spent = sign * size * orders[:, kernel.O_PRICE] + orders[:, kernel.O_FEES]
    cash = init_cash - np.cumsum(np.bincount(idx, weights=spent, minlength=n))
    # A round trip leaves a float residue of ~1e-19 units; vectorbt treats it as flat too.
    units[np.abs(units) < 1e-12] = 0.0
    return units, cash
