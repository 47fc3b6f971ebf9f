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
TIMES_PER_CHUNK = 4096  # times run between two checks of the output buffers' room


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
def _fill_exit(orders: np.ndarray, trades: np.ndarray, acct: Any, pos: Any, s: int, i: int,
               price: float, reason: int, ms: int, p: Any) -> None:
    kernel._exit(orders, trades, acct, pos, i, price, reason, ms, p)
    orders[acct.n_orders - 1, O_SYMBOL] = s
    trades[acct.n_trades - 1, T_SYMBOL] = s


@njit(cache=True)
def _open_exit(orders: np.ndarray, trades: np.ndarray, acct: Any, pos: Any, s: int, i: int,
               bar_open: float, ms: int, p: Any) -> None:
    """The pending exit fills at this open."""
    pos.pending = kernel.PENDING_NONE
    if pos.units > 0.0:
        _fill_exit(orders, trades, acct, pos, s, i, bar_open * (1.0 - p.slippage),
                   pos.pend_reason, ms, p)


@njit(cache=True)
def _open_entry(orders: np.ndarray, rejections: np.ndarray, refused: np.ndarray, acct: Any,
                pos: Any, s: int, i: int, bar_open: float, ms: int, p: Any) -> None:
    """The pending entry fills at this open, or is dropped when the cash cannot pay it (its
    refusal filed at the close that decided it)."""
    pos.pending = kernel.PENDING_NONE
    if pos.pend_notional + pos.pend_notional * p.fee > acct.cash:
        rejections[kernel.REJ_CASH] += 1
        refused[s, pos.pend_idx] = kernel.REJ_CASH
        return
    kernel._fill_entry(orders, acct, pos, i, bar_open, ms, p)
    orders[acct.n_orders - 1, O_SYMBOL] = s


@njit(cache=True)
def _stop_exit(orders: np.ndarray, trades: np.ndarray, acct: Any, pos: Any, s: int, i: int,
               bar_open: float, ms: int, p: Any) -> None:
    """The stop was hit: out at the stop, or at the open when the bar gapped below it."""
    price = rules.long_stop_fill(bar_open, pos.stop) * (1.0 - p.slippage)
    _fill_exit(orders, trades, acct, pos, s, i, price, _int64(kernel.EXIT_STOP), ms, p)


@njit(cache=True)
def _mark_position(pos: Any, has_bar: bool, close: float, i: int) -> float:
    """The position at this time's close (its last close without a bar); 0.0 when flat."""
    if has_bar:
        pos.last_close = close
        pos.last_idx = i
    if pos.units > 0.0:
        value: float = pos.units * pos.last_close
        return value
    return 0.0


@njit(cache=True)
def _decide_symbol(acct: Any, positions: np.ndarray, s: int, i: int, sig: int, ms: int,
                   equity: float, conviction: float, suppress: bool, rejections: np.ndarray,
                   refused: np.ndarray, p: Any) -> bool:
    """The symbol's decision for its next open; False when it needs the scorer's answer."""
    pos = positions[s]
    n_open, gross = _int64(0), 0.0
    if pos.units <= 0.0 and (p.max_open_positions > 0 or p.max_gross_exposure_pct > 0.0):
        n_open, gross = _exposure(positions)
    why = kernel._decide(acct, pos, sig, ms, equity, conviction, suppress, n_open, gross, p)
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
def _run_times(start: int, stop: int, inputs: Any, out: Any, acct: Any, positions: np.ndarray,
               p: Any) -> int:
    """Run times [start, stop) (the buffers have room); the next time, or n_times when the
    scorer is needed."""
    # One loop over the steps: an array passed to a function costs atomic reference-count
    # updates (see kernel.py), so per time step only records and numbers are passed, and the
    # arrays only to record a fill, a refusal or a decision (the step helpers cost 2.6x).
    open_, low, close, has_bar, time_ms, signal, conviction, suppress = inputs
    orders, trades, fired, equity, halt, rejections, refused, value = out
    n_symbols = close.shape[0]
    n: int = close.shape[1]
    for i in range(start, stop):
        ms = time_ms[i]
        for s in range(n_symbols):  # 1. the open: exits first, their cash can fund entries
            if positions[s].pending == kernel.PENDING_EXIT and has_bar[s, i]:
                _open_exit(orders, trades, acct, positions[s], s, i, open_[s, i], ms, p)
        for s in range(n_symbols):
            if positions[s].pending == kernel.PENDING_ENTRY and has_bar[s, i]:
                _open_entry(orders, rejections, refused, acct, positions[s], s, i, open_[s, i],
                            ms, p)
        marked = 0.0
        for s in range(n_symbols):  # 2. the stops; 3. every position at its last close
            pos = positions[s]
            if pos.units > 0.0 and has_bar[s, i] and rules.long_stop_hit(low[s, i], pos.stop):
                _stop_exit(orders, trades, acct, pos, s, i, open_[s, i], ms, p)
            value[s, i] = _mark_position(pos, has_bar[s, i], close[s, i], i)
            marked += value[s, i]
        equity[i] = acct.cash + marked
        fired[i] = kernel._mark(acct, equity[i], ms, p)  # the kill switches step once
        halt[i] = acct.code
        for s in range(n_symbols):  # 4. the decisions for the next open (none after the last)
            deciding = positions[s].units > 0.0 or signal[s, i] == 1  # flat without a 1: none
            if i < n - 1 and has_bar[s, i] and deciding and not _decide_symbol(
                    acct, positions, s, i, signal[s, i], ms, equity[i], conviction[s, i],
                    suppress[s, i], rejections, refused, p):
                return n
    return stop


@njit(cache=True)
def _events(fired: np.ndarray, acct: Any) -> np.ndarray:
    """The halt events (time index, EV_* kind) from each mark's FIRED_* bits, in time order."""
    count = 0
    for i in range(fired.shape[0]):
        for bit in (kernel.FIRED_DAILY_CLEAR, kernel.FIRED_DAILY_PAUSE,
                    kernel.FIRED_DRAWDOWN_LATCH):
            count += 1 if fired[i] & bit else 0
    events = np.empty((count, 2), dtype=np.int64)
    for i in range(fired.shape[0]):
        if fired[i]:
            kernel._add_events(events, acct, i, fired[i])
    return events


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
    fired = np.zeros(n, dtype=np.int8)  # the FIRED_* bits of each time's mark
    equity = np.empty(n)
    halt = np.zeros(n, dtype=np.int8)
    rejections = np.zeros(kernel.N_REJ, dtype=np.int64)
    refused = np.full((n_symbols, n), kernel.NO_REFUSAL, dtype=np.int8)
    value = np.zeros((n_symbols, n))
    account, positions = _new_book(p.init_cash, n_symbols)
    acct = account[0]
    inputs = (open_, low, close, has_bar, time_ms, signal, conviction, suppress)
    i = _int64(0)
    while i < n:
        # Room for a chunk of times: at most 2 orders and 1 trade per symbol and time, plus
        # one EXIT_END trade per symbol at the end.
        chunk = min(n - i, TIMES_PER_CHUNK)
        orders = kernel._grow(orders, acct.n_orders, 2 * n_symbols * chunk)
        trades = kernel._grow(trades, acct.n_trades, n_symbols * (chunk + 1))
        out = (orders, trades, fired, equity, halt, rejections, refused, value)
        i = _run_times(i, i + chunk, inputs, out, acct, positions, p)
    if acct.need < 0:
        _close_books(trades, acct, positions)
    events = _events(fired, acct)
    # acct points into account's memory: using account here keeps it alive (numba frees an
    # array after its last use, and _events' allocation could take its place).
    acct = account[0]
    return (orders[:acct.n_orders], trades[:acct.n_trades], equity, halt, events, rejections,
            refused, value, (acct.need_symbol, acct.need))


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
