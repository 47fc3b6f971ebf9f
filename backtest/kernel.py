"""The numba backtest kernel: the decision path of ARCHITECTURE.md, one bar at a time.

It calls the very rules in risk/rules.py that the live RiskManager calls. Semantics:
- a decision on closed bar t fills at the open of bar t+1, slippage against us, fees on notional;
- the stop is live from the fill bar on: low <= stop exits at the stop (or the open when the bar
  gaps below it), slippage against us;
- equity is marked at each close; the kill switches step on that mark with the UTC day of the
  bar's open time; the daily pause blocks entries, the drawdown latch blocks entries and (with
  flatten_on_halt) closes the position at the next open;
- spot long-only: 1 while flat opens, -1 while long closes, repeats do nothing;
- size = half-Kelly x conviction from trades closed before the decision (default_fraction until
  kelly_min_trades have closed), capped at max_position_pct of equity; then the basket limits
  (max_open_positions, max_gross_exposure_pct; off by default), where one symbol deciding an
  entry is flat: only its own notional counts.

The per-bar helpers take the account (cash, kill switches, streak, entry count, row counts) and
the position (units, stop, pending order, Kelly record) as two records: here the one state record
is passed as both; backtest/portfolio_kernel.py passes its account and one symbol's position.
Conviction comes in as an array: NaN at a bar means "not scored yet"; when the kernel needs that
bar's score it stops and returns the bar, so the caller can ask the scorer and run again. A fixed
scorer fills the whole array and the kernel never stops.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple, cast

import numpy as np
from numba import njit

from risk import rules

# Exit reasons (trades column T_REASON).
EXIT_SIGNAL = 0
EXIT_STOP = 1
EXIT_HALT = 2
EXIT_END = 3  # still open at the last bar: marked at its close, no exit order

# Halt events (events column 1).
EV_DAILY_PAUSE = 1
EV_DAILY_CLEAR = 2
EV_DRAWDOWN_LATCH = 3

# Rejected-entry counters (index into KernelResult.rejections).
REJ_DRAWDOWN = 0
REJ_DAILY = 1
REJ_COOLDOWN = 2
REJ_ENTRY_CAP = 3
REJ_CONVICTION = 4
REJ_SUPPRESSED = 5
REJ_SIZE_ZERO = 6
REJ_MAX_POSITIONS = 7  # the basket limits (risk/config.py), off by default
REJ_GROSS_EXPOSURE = 8
REJ_CASH = 9  # only a basket (backtest/portfolio_kernel.py) refuses an entry's fill for cash
N_REJ = 10
NO_REFUSAL = -1  # KernelResult.refused at a close that refused no entry

# Columns of the trades matrix.
T_ENTRY_IDX, T_EXIT_IDX, T_SIZE, T_ENTRY_PRICE, T_EXIT_PRICE = 0, 1, 2, 3, 4
T_ENTRY_FEES, T_EXIT_FEES, T_PNL, T_RETURN, T_REASON, T_STOP, T_CONVICTION = (
    5, 6, 7, 8, 9, 10, 11,
)
N_TRADE_COLS = 12

# Columns of the orders matrix: bar index, side (0 buy, 1 sell), size, price, fees.
O_IDX, O_SIDE, O_SIZE, O_PRICE, O_FEES = 0, 1, 2, 3, 4
N_ORDER_COLS = 5


class KernelParams(NamedTuple):
    """Numbers the kernel needs; built from the typed configs by backtest.engine."""

    init_cash: float
    fee: float
    slippage: float
    stop_loss_pct: float
    max_position_pct: float
    daily_loss_limit_pct: float
    max_drawdown_pct: float
    min_conviction: float
    default_position_pct: float
    kelly_min_trades: int
    cooldown_after_losses: int
    cooldown_ms: int
    max_entries_per_day: int
    flatten_on_halt: bool
    max_open_positions: int = 0
    max_gross_exposure_pct: float = 0.0


class KernelResult(NamedTuple):
    """Raw arrays out of the kernel; backtest.engine turns them into frames and a Portfolio."""

    orders: np.ndarray  # (n_orders, N_ORDER_COLS) float64
    trades: np.ndarray  # (n_trades, N_TRADE_COLS) float64, the last one may be EXIT_END
    equity: np.ndarray  # (n_bars,) mark-to-market equity at each close
    halt: np.ndarray  # (n_bars,) int8 halt code in force after each close
    events: np.ndarray  # (n_events, 2) int64: bar index, EV_* kind
    rejections: np.ndarray  # (N_REJ,) int64 counts of refused entries by reason
    refused: np.ndarray  # (n_bars,) int8 REJ_* reason of the entry refused at each close, or -1
    need_score: int  # bar index whose conviction is needed, or -1 when the run completed


# Speed (the kernel is the inner loop of the parameter sweep): numba updates an array's reference
# count atomically each time the array is passed to a function or rebound in a loop, and those
# updates once took more than half of the run. So the run's mutable state is one structured
# record (passed to helpers as a plain pointer), the per-bar helpers take no arrays, and the bar
# loop (_run_bars) never rebinds an array: the output buffers are grown between its calls.
# Cold start (an empty numba cache): constants passed to helpers go through _int64 (np.int64),
# since numba compiles a helper once per literal value it is called with; _grow copies in a loop.
_FLOAT_STATE = (
    "cash units entry_price entry_fees stop entry_conv pend_notional pend_conv peak day_start "
    "last_equity sum_win sum_loss"
)
_INT_STATE = (
    "entry_idx pending pend_reason last_day code n_closed wins losses streak cooldown_until "
    "entries_day entries_today n_orders n_trades n_events need"
)
STATE_DTYPE = np.dtype(
    [(name, np.float64) for name in _FLOAT_STATE.split()]
    + [(name, np.int64) for name in _INT_STATE.split()]
    + [("paused", np.bool_), ("latched", np.bool_)],
    align=True,
)
PENDING_NONE, PENDING_ENTRY, PENDING_EXIT = 0, 1, 2
# np.int64, typed int -> int for mypy; numba sees np.int64 itself.
_int64 = cast(Callable[[int], int], np.int64)
# What _decide returns besides a REJ_* reason.
DECIDED = -1
NEED_SCORE = -2
# Bits of what _mark returns: the halt events of one mark, in the order they are recorded.
FIRED_DAILY_CLEAR, FIRED_DAILY_PAUSE, FIRED_DRAWDOWN_LATCH = 1, 2, 4
# Most rows one bar can add: an entry fill and its stop (2 orders); a trade, plus the final
# EXIT_END trade after the last bar; a daily clear, a new pause and the drawdown latch.
ORDERS_PER_BAR, TRADES_PER_BAR, EVENTS_PER_BAR = 2, 2, 3


@njit(cache=True)
def _grow(buf: np.ndarray, used: int, room: int) -> np.ndarray:
    if used + room <= buf.shape[0]:
        return buf
    bigger = np.empty((max(buf.shape[0] * 2, used + room), buf.shape[1]), dtype=buf.dtype)
    # An element loop, not bigger[:used] = buf[:used]: slice assignment makes numba compile its
    # broadcasting and error-message machinery, seconds of a cold start for a rare copy.
    for r in range(used):
        for c in range(buf.shape[1]):
            bigger[r, c] = buf[r, c]
    return bigger


@njit(cache=True)
def _new_state(init_cash: float) -> np.ndarray:
    state = np.zeros(1, dtype=STATE_DTYPE)
    st = state[0]
    st.cash = init_cash
    st.stop = math.nan
    st.peak = init_cash
    st.day_start = init_cash
    st.last_equity = init_cash
    st.last_day = rules.NO_DAY
    st.cooldown_until = rules.NO_COOLDOWN
    st.entries_day = rules.NO_DAY
    st.need = -1
    return state


@njit(cache=True)
def _entry_fraction(conviction: float, pos: Any, p: Any) -> float:
    # Kelly inputs only from trades closed before this decision: no look-ahead.
    return rules.record_fraction(
        conviction, pos.n_closed, pos.wins, pos.losses, pos.sum_win, pos.sum_loss,
        p.kelly_min_trades, p.default_position_pct, p.max_position_pct,
    )


@njit(cache=True)
def _pre_score_refusal(
    halt_code: int, now_ms: int, cooldown_until: int, entries_today: int, n_open: int, p: Any
) -> int:
    # Same order as risk/checks.py, then the basket's position cap, so a refused entry gives the
    # same reason as live. These checks need no conviction: a halted bot never pays for an LLM.
    if halt_code == rules.HALT_DRAWDOWN:
        return REJ_DRAWDOWN
    if halt_code == rules.HALT_DAILY:
        return REJ_DAILY
    if rules.cooldown_active(now_ms, cooldown_until):
        return REJ_COOLDOWN
    if rules.entry_cap_reached(entries_today, p.max_entries_per_day):
        return REJ_ENTRY_CAP
    if rules.open_positions_full(n_open, p.max_open_positions):
        return REJ_MAX_POSITIONS
    return -1


@njit(cache=True)
def _post_score_refusal(conviction: float, suppress: bool, p: Any) -> int:
    if not (-1.0 <= conviction <= 1.0) or conviction < p.min_conviction:
        return REJ_CONVICTION
    if suppress:
        return REJ_SUPPRESSED
    return -1


@njit(cache=True)
def _size_refusal(notional: float, gross: float, equity: float, p: Any) -> int:
    if notional <= 0.0:
        return REJ_SIZE_ZERO
    if rules.gross_exposure_exceeded(gross, notional, equity, p.max_gross_exposure_pct):
        return REJ_GROSS_EXPOSURE
    return -1


@njit(cache=True)
def _add_order(
    orders: np.ndarray, acct: Any, i: int, side: int, size: float, price: float, fees: float
) -> None:
    row = orders[acct.n_orders]
    row[O_IDX] = i
    row[O_SIDE] = side
    row[O_SIZE] = size
    row[O_PRICE] = price
    row[O_FEES] = fees
    acct.n_orders += 1


@njit(cache=True)
def _add_trade(
    trades: np.ndarray, acct: Any, pos: Any, i: int, exit_price: float, exit_fees: float,
    reason: int,
) -> None:
    cost = pos.units * pos.entry_price
    pnl = pos.units * exit_price - cost - pos.entry_fees - exit_fees
    t = trades[acct.n_trades]
    t[T_ENTRY_IDX] = pos.entry_idx
    t[T_EXIT_IDX] = i
    t[T_SIZE] = pos.units
    t[T_ENTRY_PRICE] = pos.entry_price
    t[T_EXIT_PRICE] = exit_price
    t[T_ENTRY_FEES] = pos.entry_fees
    t[T_EXIT_FEES] = exit_fees
    t[T_PNL] = pnl
    t[T_RETURN] = pnl / cost
    t[T_REASON] = reason
    t[T_STOP] = pos.stop
    t[T_CONVICTION] = pos.entry_conv
    acct.n_trades += 1


@njit(cache=True)
def _add_events(events: np.ndarray, acct: Any, i: int, fired: int) -> None:
    # RiskManager's order: yesterday's pause clears, then a new latch, then today's pause.
    for kind, bit in ((EV_DAILY_CLEAR, FIRED_DAILY_CLEAR),
                      (EV_DRAWDOWN_LATCH, FIRED_DRAWDOWN_LATCH),
                      (EV_DAILY_PAUSE, FIRED_DAILY_PAUSE)):
        if fired & bit:
            events[acct.n_events, 0] = i
            events[acct.n_events, 1] = kind
            acct.n_events += 1


@njit(cache=True)
def _fill_entry(
    orders: np.ndarray, acct: Any, pos: Any, i: int, bar_open: float, bar_ms: int, p: Any
) -> None:
    fill = bar_open * (1.0 + p.slippage)
    notional = pos.pend_notional
    pos.units = notional / fill
    pos.entry_fees = notional * p.fee
    acct.cash -= notional + pos.entry_fees
    pos.entry_price = fill
    pos.entry_conv = pos.pend_conv
    # The stop goes on right after the fill, from the price actually paid.
    pos.stop = rules.stop_price_long(fill, p.stop_loss_pct)
    pos.entry_idx = i
    day = rules.day_key(bar_ms)
    acct.entries_today = acct.entries_today + 1 if day == acct.entries_day else 1
    acct.entries_day = day
    _add_order(orders, acct, i, _int64(0), pos.units, fill, pos.entry_fees)


@njit(cache=True)
def _exit(
    orders: np.ndarray, trades: np.ndarray, acct: Any, pos: Any, i: int, price: float,
    reason: int, bar_ms: int, p: Any,
) -> None:
    proceeds = pos.units * price
    fees = proceeds * p.fee
    acct.cash += proceeds - fees
    _add_order(orders, acct, i, _int64(1), pos.units, price, fees)
    _add_trade(trades, acct, pos, i, price, fees, reason)
    pnl = trades[acct.n_trades - 1, T_PNL]
    ret = trades[acct.n_trades - 1, T_RETURN]
    pos.units = 0.0
    # The Kelly record is the position's (a basket's symbol's own), the streak the account's.
    pos.n_closed += 1
    if pnl > 0.0:
        pos.wins += 1
        pos.sum_win += ret
    elif pnl < 0.0:
        pos.losses += 1
        pos.sum_loss -= ret
    acct.streak = rules.next_loss_streak(acct.streak, pnl)
    acct.cooldown_until = rules.cooldown_until_ms(
        acct.streak, p.cooldown_after_losses, bar_ms, p.cooldown_ms, acct.cooldown_until
    )


@njit(cache=True)
def _fill_pending(
    orders: np.ndarray, trades: np.ndarray, st: Any, i: int, bar_open: float, bar_ms: int,
    p: Any,
) -> None:
    """Fill at this bar's open what the previous close decided."""
    pending = st.pending
    st.pending = PENDING_NONE
    if pending == PENDING_ENTRY:
        _fill_entry(orders, st, st, i, bar_open, bar_ms, p)
    elif pending == PENDING_EXIT and st.units > 0.0:
        _exit(orders, trades, st, st, i, bar_open * (1.0 - p.slippage), st.pend_reason, bar_ms,
              p)


@njit(cache=True)
def _mark(acct: Any, equity: float, bar_ms: int, p: Any) -> int:
    """Step the kill switches on this close's equity; returns the FIRED_* bits of its events."""
    day = rules.day_key(bar_ms)
    was_paused = acct.paused
    was_latched = acct.latched
    new_day = day > acct.last_day
    peak, day_start, paused, latched, code = rules.kill_switch_step(
        equity, day, acct.last_equity, acct.last_day, acct.peak, acct.day_start,
        was_paused, was_latched, p.max_drawdown_pct, p.daily_loss_limit_pct,
    )
    acct.peak = peak
    acct.day_start = day_start
    acct.last_equity = equity
    acct.last_day = day
    acct.paused = paused
    acct.latched = latched
    acct.code = code
    # The same events, in the same order, as RiskManager.check_and_update queues.
    fired = 0
    if was_paused and new_day:
        fired |= FIRED_DAILY_CLEAR
    if paused and (new_day or not was_paused):
        fired |= FIRED_DAILY_PAUSE
    if latched and not was_latched:
        fired |= FIRED_DRAWDOWN_LATCH
    return fired


@njit(cache=True)
def _decide(
    acct: Any, pos: Any, sig: int, bar_ms: int, equity: float, conviction: float,
    suppress: bool, n_open: int, gross: float, p: Any,
) -> int:
    """Set the pending order for the next open; DECIDED, a REJ_* reason, or NEED_SCORE.

    ``n_open`` / ``gross``: the account's positions (held, or decided and not filled yet) and
    their notionals, for the basket limits; one symbol deciding an entry is flat: 0 and 0.0.
    """
    if pos.units > 0.0:
        if acct.latched and p.flatten_on_halt:
            pos.pending = PENDING_EXIT
            pos.pend_reason = EXIT_HALT
        elif sig == -1:
            pos.pending = PENDING_EXIT
            pos.pend_reason = EXIT_SIGNAL
        return DECIDED
    if sig != 1:
        return DECIDED
    today = acct.entries_today if acct.entries_day == rules.day_key(bar_ms) else 0
    why = _pre_score_refusal(acct.code, bar_ms, acct.cooldown_until, today, n_open, p)
    # The largest size any conviction could give: when it is 0 (half-Kelly <= 0) no answer of
    # the scorer can open a trade, so it is not asked (an LLM call would be paid for nothing).
    if why < 0 and not _entry_fraction(1.0, pos, p) > 0.0:
        why = REJ_SIZE_ZERO
    if why < 0:
        # The scorer is asked only here: the path wants to open and no check refused yet.
        if math.isnan(conviction):
            return NEED_SCORE
        why = _post_score_refusal(conviction, suppress, p)
    if why >= 0:
        return why
    notional = rules.position_notional(equity, _entry_fraction(conviction, pos, p))
    why = _size_refusal(notional, gross, equity, p)
    if why >= 0:
        return why
    pos.pending = PENDING_ENTRY
    pos.pend_notional = notional
    pos.pend_conv = conviction
    return DECIDED


@njit(cache=True)
def _run_bars(start: int, inputs: Any, out: Any, st: Any, p: Any) -> int:
    """Run bars from ``start`` until the end, a needed score or full buffers; next bar to run."""
    open_, low, close, time_ms, signal, conviction, suppress = inputs
    orders, trades, events, equity, halt, rejections, refused = out
    n: int = close.shape[0]
    for i in range(start, n):
        if (st.n_orders + ORDERS_PER_BAR > orders.shape[0]
                or st.n_trades + TRADES_PER_BAR > trades.shape[0]
                or st.n_events + EVENTS_PER_BAR > events.shape[0]):
            return i  # the caller grows the buffers and resumes here
        # 1. Fill what the previous close decided, at this bar's open.
        if st.pending != PENDING_NONE:
            _fill_pending(orders, trades, st, i, open_[i], time_ms[i], p)
        # 2. The protective stop, live from the fill bar on.
        if st.units > 0.0 and rules.long_stop_hit(low[i], st.stop):
            price = rules.long_stop_fill(open_[i], st.stop) * (1.0 - p.slippage)
            _exit(orders, trades, st, st, i, price, _int64(EXIT_STOP), time_ms[i], p)
        # 3. Mark to market at the close and step the kill switches.
        equity[i] = st.cash + st.units * close[i]
        fired = _mark(st, equity[i], time_ms[i], p)
        if fired:
            _add_events(events, st, i, fired)
        halt[i] = st.code
        # 4. Decide at this close what the next open does (nothing after the last bar).
        if i < n - 1:
            why = _decide(st, st, signal[i], time_ms[i], equity[i], conviction[i], suppress[i],
                          _int64(0), 0.0, p)
            if why == NEED_SCORE:
                st.need = i
                return n
            if why >= 0:
                rejections[why] += 1
                refused[i] = why  # which bar, not only how many: the sizing stop's first bar
    return n


@njit(cache=True)
def simulate(
    open_: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    time_ms: np.ndarray,
    signal: np.ndarray,
    conviction: np.ndarray,
    suppress: np.ndarray,
    p: Any,
) -> Any:
    """Run the decision path over all bars; returns the KernelResult fields as a tuple."""
    n = close.shape[0]
    orders = np.empty((64, N_ORDER_COLS))
    trades = np.empty((32, N_TRADE_COLS))
    events = np.empty((16, 2), dtype=np.int64)
    equity = np.empty(n)
    halt = np.zeros(n, dtype=np.int8)
    rejections = np.zeros(N_REJ, dtype=np.int64)
    refused = np.full(n, NO_REFUSAL, dtype=np.int8)
    state = _new_state(p.init_cash)
    st = state[0]
    inputs = (open_, low, close, time_ms, signal, conviction, suppress)
    i = _int64(0)
    while True:
        out = (orders, trades, events, equity, halt, rejections, refused)
        i = _run_bars(i, inputs, out, st, p)
        if i >= n:
            break
        orders = _grow(orders, st.n_orders, ORDERS_PER_BAR)
        trades = _grow(trades, st.n_trades, TRADES_PER_BAR)
        events = _grow(events, st.n_events, EVENTS_PER_BAR)
    # st points into state's memory: using state here keeps it alive to the end (numba frees
    # an array after its last use, and a later allocation could take its place).
    st = state[0]
    if st.need < 0 and st.units > 0.0:
        # Still open at the end: marked at the last close, no exit order or fee.
        _add_trade(trades, st, st, n - 1, close[n - 1], 0.0, _int64(EXIT_END))
    return (orders[:st.n_orders], trades[:st.n_trades], equity, halt,
            events[:st.n_events], rejections, refused, st.need)


def run_kernel(
    *,
    open_: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    time_ms: np.ndarray,
    signal: np.ndarray,
    conviction: np.ndarray,
    suppress: np.ndarray,
    params: KernelParams,
) -> KernelResult:
    """Typed entry point: checks shapes and dtypes, then runs the compiled kernel."""
    n = close.shape[0]
    arrays = (open_, low, close, time_ms, signal, conviction, suppress)
    if any(a.shape != (n,) for a in arrays):
        raise ValueError("every kernel input must be a 1-D array of the same length")
    out = simulate(
        np.ascontiguousarray(open_, dtype=np.float64),
        np.ascontiguousarray(low, dtype=np.float64),
        np.ascontiguousarray(close, dtype=np.float64),
        np.ascontiguousarray(time_ms, dtype=np.int64),
        np.ascontiguousarray(signal, dtype=np.int8),
        np.ascontiguousarray(conviction, dtype=np.float64),
        np.ascontiguousarray(suppress, dtype=np.bool_),
        params,
    )
    return KernelResult(*out)
