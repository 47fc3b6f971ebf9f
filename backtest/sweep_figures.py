"""vectorbt's figures of one kernel run, computed in numba with vectorbt's own operations.

They equal what ``backtest.stats.portfolio_stats`` reads from ``pf.stats()`` after one
run_backtest (tested):
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

import numpy as np
from numba import njit

from backtest import kernel

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
    value_figures(value, orders, trades, rejections, close, init_cash, ann_factor, out)


@njit(cache=True)
def value_figures(
    value: np.ndarray, orders: np.ndarray, trades: np.ndarray, rejections: np.ndarray,
    close: np.ndarray, init_cash: float, ann_factor: float, out: np.ndarray,
) -> None:
    """run_figures given the run's account_value, for a caller that reads the value too."""
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
    n = closed_trades(trades)
    for i in range(refused.shape[0]):
        if refused[i] == kernel.REJ_SIZE_ZERO:
            return float(trades[n - 1, kernel.T_EXIT_IDX]) if n > 0 else float(i)
    return math.nan


@njit(cache=True)
def closed_trades(trades: np.ndarray) -> int:
    """Trades closed: all of them but the last when it was still open at the end."""
    n: int = trades.shape[0]
    if n > 0 and trades[n - 1, kernel.T_REASON] == kernel.EXIT_END:
        return n - 1
    return n


def value_returns(value: np.ndarray, init_cash: float) -> np.ndarray:
    """Per-bar returns of an account value, the first against init_cash: the Sharpe's."""
    prev = np.concatenate(([init_cash], value[:-1]))
    return np.asarray((value - prev) / prev)


def account_trade_returns(raw: kernel.KernelResult, init_cash: float) -> np.ndarray:
    """Each closed trade's pnl over the equity before it: its return on the whole account."""
    trades = raw.trades[raw.trades[:, kernel.T_REASON] != kernel.EXIT_END]
    entry = trades[:, kernel.T_ENTRY_IDX].astype(np.int64)
    before = np.where(entry > 0, raw.equity[np.maximum(entry - 1, 0)], init_cash)
    return np.asarray(trades[:, kernel.T_PNL] / before)
