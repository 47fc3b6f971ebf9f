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
  kelly_min_trades have closed), capped at max_position_pct of equity.

Conviction comes in as an array: NaN at a bar means "not scored yet"; when the kernel needs that
bar's score it stops and returns the bar, so the caller can ask the scorer and run again. A fixed
scorer fills the whole array and the kernel never stops.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

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
N_REJ = 7

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


class KernelResult(NamedTuple):
    """Raw arrays out of the kernel; backtest.engine turns them into frames and a Portfolio."""

    orders: np.ndarray  # (n_orders, N_ORDER_COLS) float64
    trades: np.ndarray  # (n_trades, N_TRADE_COLS) float64, the last one may be EXIT_END
    equity: np.ndarray  # (n_bars,) mark-to-market equity at each close
    halt: np.ndarray  # (n_bars,) int8 halt code in force after each close
    events: np.ndarray  # (n_events, 2) int64: bar index, EV_* kind
    rejections: np.ndarray  # (N_REJ,) int64 counts of refused entries by reason
    need_score: int  # bar index whose conviction is needed, or -1 when the run completed


@njit(cache=True)
def _grow(buf: np.ndarray, used: int) -> np.ndarray:
    if used < buf.shape[0]:
        return buf
    bigger = np.empty((buf.shape[0] * 2, buf.shape[1]), dtype=buf.dtype)
    bigger[:used] = buf[:used]
    return bigger


@njit(cache=True)
def _entry_fraction(
    conviction: float, n_closed: int, wins: int, losses: int, sum_win: float,
    sum_loss: float, p: Any,
) -> float:
    # Kelly inputs only from trades closed before this decision: no look-ahead.
    if n_closed < p.kelly_min_trades:
        return rules.default_fraction(p.default_position_pct, conviction, p.max_position_pct)
    win_rate = wins / n_closed
    avg_win = sum_win / wins if wins > 0 else 0.0
    avg_loss = sum_loss / losses if losses > 0 else 0.0
    return rules.position_fraction(win_rate, avg_win, avg_loss, conviction, p.max_position_pct)


@njit(cache=True)
def _pre_score_refusal(
    halt_code: int, now_ms: int, cooldown_until: int, entries_today: int, p: Any
) -> int:
    # Same order as risk/checks.py, so a refused entry gives the same reason as live. These
    # checks need no conviction, so a halted bot never pays for an LLM call.
    if halt_code == rules.HALT_DRAWDOWN:
        return REJ_DRAWDOWN
    if halt_code == rules.HALT_DAILY:
        return REJ_DAILY
    if rules.cooldown_active(now_ms, cooldown_until):
        return REJ_COOLDOWN
    if rules.entry_cap_reached(entries_today, p.max_entries_per_day):
        return REJ_ENTRY_CAP
    return -1


@njit(cache=True)
def _post_score_refusal(conviction: float, suppress: bool, p: Any) -> int:
    if not (-1.0 <= conviction <= 1.0) or conviction < p.min_conviction:
        return REJ_CONVICTION
    if suppress:
        return REJ_SUPPRESSED
    return -1


# Mutable float state of a run (index into the ``f`` array).
F_CASH, F_UNITS, F_ENTRY_PRICE, F_ENTRY_FEES, F_STOP, F_ENTRY_CONV = 0, 1, 2, 3, 4, 5
F_PEND_NOTIONAL, F_PEND_CONV, F_PEAK, F_DAY_START, F_LAST_EQUITY = 6, 7, 8, 9, 10
F_SUM_WIN, F_SUM_LOSS = 11, 12
N_F = 13
# Mutable integer state of a run (index into the ``s`` array).
S_ENTRY_IDX, S_PENDING, S_PEND_REASON, S_LAST_DAY, S_PAUSED, S_LATCHED, S_CODE = (
    0, 1, 2, 3, 4, 5, 6,
)
S_N_CLOSED, S_WINS, S_LOSSES, S_STREAK, S_COOLDOWN_UNTIL, S_ENTRIES_DAY = 7, 8, 9, 10, 11, 12
S_ENTRIES_TODAY, S_N_ORDERS, S_N_TRADES, S_N_EVENTS = 13, 14, 15, 16
N_S = 17
PENDING_NONE, PENDING_ENTRY, PENDING_EXIT = 0, 1, 2


@njit(cache=True)
def _new_state(init_cash: float) -> tuple[np.ndarray, np.ndarray]:
    f = np.zeros(N_F)
    f[F_CASH] = init_cash
    f[F_STOP] = math.nan
    f[F_PEAK] = init_cash
    f[F_DAY_START] = init_cash
    f[F_LAST_EQUITY] = init_cash
    s = np.zeros(N_S, dtype=np.int64)
    s[S_ENTRY_IDX] = -1
    s[S_LAST_DAY] = rules.NO_DAY
    s[S_COOLDOWN_UNTIL] = rules.NO_COOLDOWN
    s[S_ENTRIES_DAY] = rules.NO_DAY
    return f, s


@njit(cache=True)
def _add_order(
    orders: np.ndarray, s: np.ndarray, i: int, side: int, size: float, price: float, fees: float
) -> np.ndarray:
    orders = _grow(orders, s[S_N_ORDERS])
    row = orders[s[S_N_ORDERS]]
    row[O_IDX] = i
    row[O_SIDE] = side
    row[O_SIZE] = size
    row[O_PRICE] = price
    row[O_FEES] = fees
    s[S_N_ORDERS] += 1
    return orders


@njit(cache=True)
def _add_trade(
    trades: np.ndarray, f: np.ndarray, s: np.ndarray, i: int, exit_price: float,
    exit_fees: float, reason: int,
) -> np.ndarray:
    cost = f[F_UNITS] * f[F_ENTRY_PRICE]
    pnl = f[F_UNITS] * exit_price - cost - f[F_ENTRY_FEES] - exit_fees
    trades = _grow(trades, s[S_N_TRADES])
    t = trades[s[S_N_TRADES]]
    t[T_ENTRY_IDX] = s[S_ENTRY_IDX]
    t[T_EXIT_IDX] = i
    t[T_SIZE] = f[F_UNITS]
    t[T_ENTRY_PRICE] = f[F_ENTRY_PRICE]
    t[T_EXIT_PRICE] = exit_price
    t[T_ENTRY_FEES] = f[F_ENTRY_FEES]
    t[T_EXIT_FEES] = exit_fees
    t[T_PNL] = pnl
    t[T_RETURN] = pnl / cost
    t[T_REASON] = reason
    t[T_STOP] = f[F_STOP]
    t[T_CONVICTION] = f[F_ENTRY_CONV]
    s[S_N_TRADES] += 1
    return trades


@njit(cache=True)
def _add_event(events: np.ndarray, s: np.ndarray, i: int, kind: int) -> np.ndarray:
    events = _grow(events, s[S_N_EVENTS])
    events[s[S_N_EVENTS], 0] = i
    events[s[S_N_EVENTS], 1] = kind
    s[S_N_EVENTS] += 1
    return events


@njit(cache=True)
def _fill_entry(
    orders: np.ndarray, f: np.ndarray, s: np.ndarray, i: int, bar_open: float, bar_ms: int,
    p: Any,
) -> np.ndarray:
    fill = bar_open * (1.0 + p.slippage)
    notional = f[F_PEND_NOTIONAL]
    f[F_UNITS] = notional / fill
    f[F_ENTRY_FEES] = notional * p.fee
    f[F_CASH] -= notional + f[F_ENTRY_FEES]
    f[F_ENTRY_PRICE] = fill
    f[F_ENTRY_CONV] = f[F_PEND_CONV]
    # The stop goes on right after the fill, from the price actually paid.
    f[F_STOP] = rules.stop_price_long(fill, p.stop_loss_pct)
    s[S_ENTRY_IDX] = i
    day = rules.day_key(bar_ms)
    s[S_ENTRIES_TODAY] = s[S_ENTRIES_TODAY] + 1 if day == s[S_ENTRIES_DAY] else 1
    s[S_ENTRIES_DAY] = day
    return _add_order(orders, s, i, 0, f[F_UNITS], fill, f[F_ENTRY_FEES])


@njit(cache=True)
def _exit(
    orders: np.ndarray, trades: np.ndarray, f: np.ndarray, s: np.ndarray, i: int,
    price: float, reason: int, bar_ms: int, p: Any,
) -> tuple[np.ndarray, np.ndarray]:
    proceeds = f[F_UNITS] * price
    fees = proceeds * p.fee
    f[F_CASH] += proceeds - fees
    orders = _add_order(orders, s, i, 1, f[F_UNITS], price, fees)
    trades = _add_trade(trades, f, s, i, price, fees, reason)
    pnl = trades[s[S_N_TRADES] - 1, T_PNL]
    ret = trades[s[S_N_TRADES] - 1, T_RETURN]
    f[F_UNITS] = 0.0
    s[S_N_CLOSED] += 1
    if pnl > 0.0:
        s[S_WINS] += 1
        f[F_SUM_WIN] += ret
    elif pnl < 0.0:
        s[S_LOSSES] += 1
        f[F_SUM_LOSS] -= ret
    s[S_STREAK] = rules.next_loss_streak(s[S_STREAK], pnl)
    s[S_COOLDOWN_UNTIL] = rules.cooldown_until_ms(
        s[S_STREAK], p.cooldown_after_losses, bar_ms, p.cooldown_ms, s[S_COOLDOWN_UNTIL]
    )
    return orders, trades


@njit(cache=True)
def _mark(
    events: np.ndarray, f: np.ndarray, s: np.ndarray, i: int, equity: float, bar_ms: int,
    p: Any,
) -> np.ndarray:
    day = rules.day_key(bar_ms)
    was_paused = s[S_PAUSED] == 1
    was_latched = s[S_LATCHED] == 1
    new_day = day > s[S_LAST_DAY]
    peak, day_start, paused, latched, code = rules.kill_switch_step(
        equity, day, f[F_LAST_EQUITY], s[S_LAST_DAY], f[F_PEAK], f[F_DAY_START],
        was_paused, was_latched, p.max_drawdown_pct, p.daily_loss_limit_pct,
    )
    f[F_PEAK] = peak
    f[F_DAY_START] = day_start
    f[F_LAST_EQUITY] = equity
    s[S_LAST_DAY] = day
    s[S_PAUSED] = 1 if paused else 0
    s[S_LATCHED] = 1 if latched else 0
    s[S_CODE] = code
    # The same events, in the same order, as RiskManager.check_and_update queues.
    if was_paused and new_day:
        events = _add_event(events, s, i, EV_DAILY_CLEAR)
    if paused and (new_day or not was_paused):
        events = _add_event(events, s, i, EV_DAILY_PAUSE)
    if latched and not was_latched:
        events = _add_event(events, s, i, EV_DRAWDOWN_LATCH)
    return events


@njit(cache=True)
def _decide(
    f: np.ndarray, s: np.ndarray, rejections: np.ndarray, i: int, sig: int, bar_ms: int,
    equity: float, conviction: float, suppress: bool, p: Any,
) -> bool:
    """Set the pending order for the next open; False when the bar's score is still needed."""
    if f[F_UNITS] > 0.0:
        if s[S_LATCHED] == 1 and p.flatten_on_halt:
            s[S_PENDING] = PENDING_EXIT
            s[S_PEND_REASON] = EXIT_HALT
        elif sig == -1:
            s[S_PENDING] = PENDING_EXIT
            s[S_PEND_REASON] = EXIT_SIGNAL
        return True
    if sig != 1:
        return True
    today = s[S_ENTRIES_TODAY] if s[S_ENTRIES_DAY] == rules.day_key(bar_ms) else 0
    why = _pre_score_refusal(s[S_CODE], bar_ms, s[S_COOLDOWN_UNTIL], today, p)
    if why < 0:
        # The scorer is asked only here: the path wants to open and no check refused yet.
        if math.isnan(conviction):
            return False
        why = _post_score_refusal(conviction, suppress, p)
    if why >= 0:
        rejections[why] += 1
        return True
    frac = _entry_fraction(
        conviction, s[S_N_CLOSED], s[S_WINS], s[S_LOSSES], f[F_SUM_WIN], f[F_SUM_LOSS], p
    )
    notional = rules.position_notional(equity, frac)
    if notional <= 0.0:
        rejections[REJ_SIZE_ZERO] += 1
        return True
    s[S_PENDING] = PENDING_ENTRY
    f[F_PEND_NOTIONAL] = notional
    f[F_PEND_CONV] = conviction
    return True


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
    f, s = _new_state(p.init_cash)
    need = -1
    for i in range(n):
        # 1. Fill what the previous close decided, at this bar's open.
        pending = s[S_PENDING]
        s[S_PENDING] = PENDING_NONE
        if pending == PENDING_ENTRY:
            orders = _fill_entry(orders, f, s, i, open_[i], time_ms[i], p)
        elif pending == PENDING_EXIT and f[F_UNITS] > 0.0:
            orders, trades = _exit(orders, trades, f, s, i, open_[i] * (1.0 - p.slippage),
                                   s[S_PEND_REASON], time_ms[i], p)
        # 2. The protective stop, live from the fill bar on.
        if f[F_UNITS] > 0.0 and rules.long_stop_hit(low[i], f[F_STOP]):
            price = rules.long_stop_fill(open_[i], f[F_STOP]) * (1.0 - p.slippage)
            orders, trades = _exit(orders, trades, f, s, i, price, EXIT_STOP, time_ms[i], p)
        # 3. Mark to market at the close and step the kill switches.
        equity[i] = f[F_CASH] + f[F_UNITS] * close[i]
        events = _mark(events, f, s, i, equity[i], time_ms[i], p)
        halt[i] = s[S_CODE]
        # 4. Decide at this close what the next open does (nothing after the last bar).
        if i < n - 1 and not _decide(f, s, rejections, i, signal[i], time_ms[i], equity[i],
                                     conviction[i], suppress[i], p):
            need = i
            break
    if need < 0 and f[F_UNITS] > 0.0:
        # Still open at the end: marked at the last close, no exit order or fee.
        trades = _add_trade(trades, f, s, n - 1, close[n - 1], 0.0, EXIT_END)
    return (orders[:s[S_N_ORDERS]], trades[:s[S_N_TRADES]], equity, halt,
            events[:s[S_N_EVENTS]], rejections, need)


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
