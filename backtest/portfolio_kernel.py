"""The basket kernel: several symbols on one cash account, the trading loop's semantics (issue 14).

Inputs are (n_symbols, n_times) arrays on the union of the symbols' bar times, with a
``has_bar`` mask; symbols keep their row order, the fixed order of the command line. At each
time t, with S_t the symbols that have a bar at t, in that order:
1. the open: every pending EXIT of S_t fills (open x (1 - slippage), fee on proceeds), then every
   pending ENTRY of S_t: refused (REJ_CASH, dropped) when notional + notional x fee > cash, else
   filled at open x (1 + slippage) with its stop on; so an exit's cash can fund an entry;
2. the stops of S_t's positions, as backtest/kernel.py (from the fill bar on);
3. the mark: equity = cash + the sum, in symbol order, of units x last close over every held
   position (a symbol without a bar keeps its last close); the kill switches step once on it;
4. the decisions of S_t, each as backtest/kernel.py's ``_decide`` (the same function), with the
   basket's position count and gross notional for the two limits.
Account-level: cash, equity, kill switches, loss streak and cooldown (closed trades in fill
order: open exits, then stops, each in symbol order), entries per UTC day. Per symbol: the
position, its stop, its pending order and its Kelly record.

Choices where the contract (the basket spec of issue 14) is silent, the same as trading/book.py:
- the caps count the positions held (a pending exit still holds) and every entry decided and not
  filled yet: those of earlier symbols at this close and one still waiting, after a gap, for its
  symbol's next bar; gross = the held positions' units x last close in symbol order, then the
  pending entries' notionals in symbol order, recomputed for each decision;
- a size-0 entry is refused as ``size_zero`` before the gross-exposure cap is asked;
- decisions are made at every time but the last, a symbol's own last bar included (a live loop
  cannot know it is the last): an entry it decides there never fills, but is counted by the caps;
- a position still open at the end is reported (EXIT_END) at its symbol's last bar and close;
- an entry refused for cash is counted in ``refused`` at the close that decided it.
One symbol gives backtest/kernel.py's run bit for bit whenever its entries are affordable, i.e.
unless max_position_pct x (1 + fee) > 1 (that kernel has no cash check; the paper broker does).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from numba import njit

from backtest import kernel
from backtest.kernel import _int64
from risk import rules

# Extra columns: the symbol's row in the inputs, after the single-symbol kernel's columns.
O_SYMBOL = kernel.N_ORDER_COLS
N_ORDER_COLS = kernel.N_ORDER_COLS + 1
T_SYMBOL = kernel.N_TRADE_COLS
N_TRADE_COLS = kernel.N_TRADE_COLS + 1

# The account's state once, each symbol's position per symbol (kernel.STATE_DTYPE holds both).
_ACCOUNT_FLOAT = "cash peak day_start last_equity"
_ACCOUNT_INT = (
    "last_day code streak cooldown_until entries_day entries_today n_orders n_trades n_events "
    "need need_symbol"
)
_POSITION_FLOAT = (
    "units entry_price entry_fees stop entry_conv pend_notional pend_conv sum_win sum_loss "
    "last_close"
)
_POSITION_INT = "entry_idx pending pend_reason pend_idx n_closed wins losses last_idx"
ACCOUNT_DTYPE = np.dtype(
    [(name, np.float64) for name in _ACCOUNT_FLOAT.split()]
    + [(name, np.int64) for name in _ACCOUNT_INT.split()]
    + [("paused", np.bool_), ("latched", np.bool_)],
    align=True,
)
POSITION_DTYPE = np.dtype(
    [(name, np.float64) for name in _POSITION_FLOAT.split()]
    + [(name, np.int64) for name in _POSITION_INT.split()],
    align=True,
)
EVENTS_PER_TIME = kernel.EVENTS_PER_BAR


class PortfolioKernelResult(NamedTuple):
    """Raw arrays out of the basket kernel; backtest.portfolio turns them into frames."""

    orders: np.ndarray  # (n_orders, N_ORDER_COLS) float64 in fill order, O_SYMBOL = the row
    trades: np.ndarray  # (n_trades, N_TRADE_COLS) float64 in closing order, then EXIT_END ones
    equity: np.ndarray  # (n_times,) account equity at each close
    halt: np.ndarray  # (n_times,) int8 halt code in force after each close
    events: np.ndarray  # (n_events, 2) int64: time index, EV_* kind
    rejections: np.ndarray  # (N_REJ,) int64 counts of refused entries by reason
    refused: np.ndarray  # (n_symbols, n_times) int8 REJ_* of the entry refused, or -1
    position_value: np.ndarray  # (n_symbols, n_times) units x last close after each close
    need_score: tuple[int, int]  # (symbol row, time index) whose conviction is needed, or -1s


@njit(cache=True)
def _new_book(init_cash: float, n_symbols: int) -> tuple[np.ndarray, np.ndarray]:
    account = np.zeros(1, dtype=ACCOUNT_DTYPE)
    a = account[0]
    a.cash = init_cash
    a.peak = init_cash
    a.day_start = init_cash
    a.last_equity = init_cash
    a.last_day = rules.NO_DAY
    a.cooldown_until = rules.NO_COOLDOWN
    a.entries_day = rules.NO_DAY
    a.need = -1
    a.need_symbol = -1
    positions = np.zeros(n_symbols, dtype=POSITION_DTYPE)
    for s in range(n_symbols):
        positions[s].stop = np.nan
        positions[s].last_idx = -1
    return account, positions


@njit(cache=True)
def _tag(orders: np.ndarray, trades: np.ndarray, acct: Any, s: int, trade: bool) -> None:
    """The symbol of the order (and trade) just added."""
    orders[acct.n_orders - 1, O_SYMBOL] = s
    if trade:
        trades[acct.n_trades - 1, T_SYMBOL] = s


@njit(cache=True)
def _exposure(positions: np.ndarray) -> tuple[int, float]:
    """(positions held or decided, their gross notional): the basket caps' inputs."""
    n_open = 0
    gross = 0.0
    for s in range(positions.shape[0]):
        pos = positions[s]
        if pos.units > 0.0:
            n_open += 1
            gross += pos.units * pos.last_close
    for s in range(positions.shape[0]):
        pos = positions[s]
        if pos.units <= 0.0 and pos.pending == kernel.PENDING_ENTRY:
            n_open += 1
            gross += pos.pend_notional
    return n_open, gross


@njit(cache=True)
def _open_all(i: int, inputs: Any, out: Any, acct: Any, positions: np.ndarray, p: Any) -> None:
    """Step 1 and 2: the open's exits, then its entries, then the stops."""
    open_, low, _, has_bar, time_ms, _, _, _ = inputs
    orders, trades, _, _, _, rejections, refused, _ = out
    ms = time_ms[i]
    for s in range(positions.shape[0]):
        pos = positions[s]
        if has_bar[s, i] and pos.pending == kernel.PENDING_EXIT:
            pos.pending = kernel.PENDING_NONE
            if pos.units > 0.0:
                kernel._exit(orders, trades, acct, pos, i, open_[s, i] * (1.0 - p.slippage),
                             pos.pend_reason, ms, p)
                _tag(orders, trades, acct, s, True)
    for s in range(positions.shape[0]):
        pos = positions[s]
        if has_bar[s, i] and pos.pending == kernel.PENDING_ENTRY:
            pos.pending = kernel.PENDING_NONE
            if pos.pend_notional + pos.pend_notional * p.fee > acct.cash:
                rejections[kernel.REJ_CASH] += 1
                refused[s, pos.pend_idx] = kernel.REJ_CASH
            else:
                kernel._fill_entry(orders, acct, pos, i, open_[s, i], ms, p)
                _tag(orders, trades, acct, s, False)
    for s in range(positions.shape[0]):
        pos = positions[s]
        if has_bar[s, i] and pos.units > 0.0 and rules.long_stop_hit(low[s, i], pos.stop):
            price = rules.long_stop_fill(open_[s, i], pos.stop) * (1.0 - p.slippage)
            kernel._exit(orders, trades, acct, pos, i, price, _int64(kernel.EXIT_STOP), ms, p)
            _tag(orders, trades, acct, s, True)


@njit(cache=True)
def _mark_all(i: int, inputs: Any, out: Any, acct: Any, positions: np.ndarray, p: Any) -> None:
    """Step 3: equity over every position at its last close; the kill switches step once."""
    _, _, close, has_bar, time_ms, _, _, _ = inputs
    _, _, events, equity, halt, _, _, value = out
    marked = 0.0
    for s in range(positions.shape[0]):
        pos = positions[s]
        if has_bar[s, i]:
            pos.last_close = close[s, i]
            pos.last_idx = i
        if pos.units > 0.0:
            value[s, i] = pos.units * pos.last_close
            marked += value[s, i]
        else:
            value[s, i] = 0.0
    equity[i] = acct.cash + marked
    fired = kernel._mark(acct, equity[i], time_ms[i], p)
    if fired:
        kernel._add_events(events, acct, i, fired)
    halt[i] = acct.code


@njit(cache=True)
def _decide_all(i: int, inputs: Any, out: Any, acct: Any, positions: np.ndarray, p: Any) -> bool:
    """Step 4: each symbol of S_t decides the next open; False when a score is needed."""
    _, _, _, has_bar, time_ms, signal, conviction, suppress = inputs
    _, _, _, equity, _, rejections, refused, _ = out
    capped = p.max_open_positions > 0 or p.max_gross_exposure_pct > 0.0
    n_open = _int64(0)
    gross = 0.0
    for s in range(positions.shape[0]):
        if not has_bar[s, i]:
            continue
        pos = positions[s]
        if capped and pos.units <= 0.0 and signal[s, i] == 1:
            n_open, gross = _exposure(positions)
        why = kernel._decide(acct, pos, signal[s, i], time_ms[i], equity[i], conviction[s, i],
                             suppress[s, i], n_open, gross, p)
        if why == kernel.NEED_SCORE:
            acct.need = i
            acct.need_symbol = s
            return False
        if why >= 0:
            rejections[why] += 1
            refused[s, i] = why
        elif pos.pending == kernel.PENDING_ENTRY:
            pos.pend_idx = i
    return True


@njit(cache=True)
def _run_times(start: int, inputs: Any, out: Any, acct: Any, positions: np.ndarray,
               p: Any) -> int:
    """Run times from ``start`` until the end, a needed score or full buffers; next to run."""
    orders, trades, events, equity, _, _, _, _ = out
    n_symbols = positions.shape[0]
    n: int = equity.shape[0]
    for i in range(start, n):
        # At most 2 orders and 1 trade per symbol and time, and one EXIT_END trade per symbol.
        if (acct.n_orders + 2 * n_symbols > orders.shape[0]
                or acct.n_trades + 2 * n_symbols > trades.shape[0]
                or acct.n_events + EVENTS_PER_TIME > events.shape[0]):
            return i  # the caller grows the buffers and resumes here
        _open_all(i, inputs, out, acct, positions, p)
        _mark_all(i, inputs, out, acct, positions, p)
        if i < n - 1 and not _decide_all(i, inputs, out, acct, positions, p):
            return n
    return n


@njit(cache=True)
def _close_books(trades: np.ndarray, acct: Any, positions: np.ndarray) -> None:
    """Positions still open at the end: marked at their last close, no exit order or fee."""
    for s in range(positions.shape[0]):
        pos = positions[s]
        if pos.units > 0.0:
            kernel._add_trade(trades, acct, pos, pos.last_idx, pos.last_close, 0.0,
                              _int64(kernel.EXIT_END))
            trades[acct.n_trades - 1, T_SYMBOL] = s


@njit(cache=True)
def simulate_basket(
    open_: np.ndarray, low: np.ndarray, close: np.ndarray, has_bar: np.ndarray,
    time_ms: np.ndarray, signal: np.ndarray, conviction: np.ndarray, suppress: np.ndarray,
    p: Any,
) -> Any:
    """Run the basket over all times; returns the PortfolioKernelResult fields as a tuple."""
    n_symbols, n = close.shape
    orders = np.empty((64, N_ORDER_COLS))
    trades = np.empty((32, N_TRADE_COLS))
    events = np.empty((16, 2), dtype=np.int64)
    equity = np.empty(n)
    halt = np.zeros(n, dtype=np.int8)
    rejections = np.zeros(kernel.N_REJ, dtype=np.int64)
    refused = np.full((n_symbols, n), kernel.NO_REFUSAL, dtype=np.int8)
    value = np.zeros((n_symbols, n))
    account, positions = _new_book(p.init_cash, n_symbols)
    acct = account[0]
    inputs = (open_, low, close, has_bar, time_ms, signal, conviction, suppress)
    i = _int64(0)
    while True:
        out = (orders, trades, events, equity, halt, rejections, refused, value)
        i = _run_times(i, inputs, out, acct, positions, p)
        if i >= n:
            break
        orders = kernel._grow(orders, acct.n_orders, 2 * n_symbols)
        trades = kernel._grow(trades, acct.n_trades, 2 * n_symbols)
        events = kernel._grow(events, acct.n_events, EVENTS_PER_TIME)
    if acct.need < 0:
        _close_books(trades, acct, positions)
    return (orders[:acct.n_orders], trades[:acct.n_trades], equity, halt,
            events[:acct.n_events], rejections, refused, value, (acct.need_symbol, acct.need))


def run_portfolio_kernel(
    *,
    open_: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    has_bar: np.ndarray,
    time_ms: np.ndarray,
    signal: np.ndarray,
    conviction: np.ndarray,
    suppress: np.ndarray,
    params: kernel.KernelParams,
) -> PortfolioKernelResult:
    """Typed entry point: checks shapes and dtypes, then runs the compiled basket kernel."""
    shape = close.shape
    if len(shape) != 2 or time_ms.shape != (shape[1],):
        raise ValueError("basket inputs are (n_symbols, n_times) arrays and time_ms (n_times,)")
    if any(a.shape != shape for a in (open_, low, has_bar, signal, conviction, suppress)):
        raise ValueError("every basket input must have the shape (n_symbols, n_times)")
    out = simulate_basket(
        np.ascontiguousarray(open_, dtype=np.float64),
        np.ascontiguousarray(low, dtype=np.float64),
        np.ascontiguousarray(close, dtype=np.float64),
        np.ascontiguousarray(has_bar, dtype=np.bool_),
        np.ascontiguousarray(time_ms, dtype=np.int64),
        np.ascontiguousarray(signal, dtype=np.int8),
        np.ascontiguousarray(conviction, dtype=np.float64),
        np.ascontiguousarray(suppress, dtype=np.bool_),
        params,
    )
    orders, trades, equity, halt, events, rejections, refused, value, need = out
    return PortfolioKernelResult(
        orders=orders, trades=trades, equity=equity, halt=halt, events=events,
        rejections=rejections, refused=refused, position_value=value,
        need_score=(int(need[0]), int(need[1])),
    )
