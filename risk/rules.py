"""Pure numeric risk rules shared by the numba backtest kernel and the live RiskManager.

Every function here takes and returns plain numbers (float64, int64, bool): no pandas, no I/O,
no clock. Each is compiled eagerly by numba with an explicit signature, so the backtest kernel
and the live manager run the very same machine code; the plain-Python body is ``fn.py_func``.

Conventions that hold for every rule:
- Percentages are fractions: 0.15 means 15%.
- Limits are inclusive, as in the seed: a drawdown of exactly 15% breaches a 15% limit. A value
  breaches when ``not (value < limit - LIMIT_TOLERANCE)``. The tolerance (1e-9, one part per
  billion of equity) makes "exactly at the limit" halt for every peak: computed in float64,
  ``(peak - peak * 0.85) / peak`` lands one ulp *below* 0.15 for ~16% of peaks. It only ever
  errs towards halting, by far less than a cent on any account, and 14.99% never halts.
- NaN fails closed: a NaN loss, drawdown or limit counts as a breach, a NaN bar low or stop
  counts as a stop hit, and a NaN sizing input gives a size of 0.
- Time is int64 milliseconds since the Unix epoch, UTC; a day is ``ms // 86_400_000``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Final, TypeVar, cast

from numba import njit, types

_F = TypeVar("_F", bound=Callable[..., Any])

LIMIT_TOLERANCE: Final = 1e-9
MS_PER_DAY: Final = 86_400_000

HALT_NONE: Final = 0
HALT_DAILY: Final = 1
HALT_DRAWDOWN: Final = 2

# Day key before any bar has been seen: the first check always starts a new day.
NO_DAY: Final = -(2**62)
# cooldown_until_ms when no cooldown has ever started.
NO_COOLDOWN: Final = -(2**62)

_f8 = types.float64
_i8 = types.int64
_b1 = types.boolean
_STEP_RESULT = types.Tuple((_f8, _f8, _b1, _b1, _i8))  # type: ignore[no-untyped-call]


def _rule(signature: Any) -> Callable[[_F], _F]:
    """Compile eagerly with one signature so kernel and manager share one specialisation."""

    def wrap(fn: _F) -> _F:
        return cast(_F, njit(signature, cache=True)(fn))

    return wrap


@_rule(_f8(_f8, _f8, _f8))
def kelly_fraction(win_rate: float, avg_win_pct: float, avg_loss_pct: float) -> float:
    """Full Kelly ``p/L - (1-p)/W`` (may be negative or above 1); 0.0 for invalid inputs."""
    # Growth-optimal fraction for a position that gains W or loses L of its value.
    if not (0.0 <= win_rate <= 1.0):
        return 0.0
    if not (0.0 < avg_win_pct < math.inf):
        return 0.0
    # A spot position cannot lose more than its own value; L > 1 is a units mistake (1.4 for 1.4%).
    if not (0.0 < avg_loss_pct <= 1.0):
        return 0.0
    kelly = win_rate / avg_loss_pct - (1.0 - win_rate) / avg_win_pct
    if math.isnan(kelly):
        return 0.0
    return kelly


@_rule(_f8(_f8, _f8, _f8, _f8, _f8))
def position_fraction(
    win_rate: float,
    avg_win_pct: float,
    avg_loss_pct: float,
    conviction: float,
    max_position_pct: float,
) -> float:
    """Half-Kelly x conviction clipped to [0, max_position_pct]; 0.0 when any input is invalid."""
    if not (0.0 < max_position_pct <= 1.0):
        return 0.0
    # Conviction <= 0 never sizes: a negative conviction times a negative Kelly would
    # otherwise turn "no edge" and "the model disagrees" into a positive size.
    if not (0.0 < conviction <= 1.0):
        return 0.0
    scaled = kelly_fraction(win_rate, avg_win_pct, avg_loss_pct) * 0.5 * conviction
    if not (scaled > 0.0):  # also catches NaN (inf * 0)
        return 0.0
    if scaled > max_position_pct:
        return max_position_pct
    return scaled


@_rule(_f8(_f8, _f8, _f8))
def default_fraction(
    default_position_pct: float, conviction: float, max_position_pct: float
) -> float:
    """Size before Kelly inputs exist: default_position_pct x conviction, clipped to [0, max]."""
    # Used while too few trades have closed to trust a Kelly estimate (backtest warm-up, or a
    # paper bot whose saved backtest is missing or stale): small, still scaled by conviction.
    if not (0.0 < max_position_pct <= 1.0) or not (-1.0 <= conviction <= 1.0):
        return 0.0
    scaled = default_position_pct * conviction
    if not (scaled > 0.0):
        return 0.0
    if scaled > max_position_pct:
        return max_position_pct
    return scaled


@_rule(_f8(_f8, _i8, _i8, _i8, _f8, _f8, _i8, _f8, _f8))
def record_fraction(
    conviction: float, n_closed: int, wins: int, losses: int, sum_win: float, sum_loss: float,
    min_trades: int, default_position_pct: float, max_position_pct: float,
) -> float:
    """Size from a record of closed trades: default size until ``min_trades``, then half-Kelly.

    ``sum_win`` / ``sum_loss`` add up the returns of winning trades and the (positive) losses of
    losing ones; a trade with pnl == 0 counts in ``n_closed`` only (the seed's win rate).
    """
    if n_closed <= 0 or n_closed < min_trades:
        return default_fraction(default_position_pct, conviction, max_position_pct)
    win_rate = wins / n_closed
    avg_win = sum_win / wins if wins > 0 else 0.0
    avg_loss = sum_loss / losses if losses > 0 else 0.0
    return position_fraction(win_rate, avg_win, avg_loss, conviction, max_position_pct)


@_rule(_f8(_f8, _f8))
def position_notional(equity: float, fraction: float) -> float:
    """Quote-currency notional ``equity * fraction``; 0.0 unless both are finite and positive."""
    if not (0.0 < equity < math.inf) or not (0.0 < fraction <= 1.0):
        return 0.0
    return equity * fraction


@_rule(_f8(_f8, _f8))
def drawdown(peak: float, equity: float) -> float:
    """Fractional fall of equity from peak (negative above the peak); NaN if peak is not > 0."""
    if not (0.0 < peak < math.inf):
        return math.nan
    return (peak - equity) / peak


@_rule(_f8(_f8, _f8))
def daily_loss(day_start_equity: float, equity: float) -> float:
    """Fractional loss since the day's start equity (negative for a gain); NaN if start <= 0."""
    if not (0.0 < day_start_equity < math.inf):
        return math.nan
    return (day_start_equity - equity) / day_start_equity


@_rule(_b1(_f8, _f8))
def limit_breached(value: float, limit: float) -> bool:
    """True when ``value >= limit`` within LIMIT_TOLERANCE; NaN value or limit breaches."""
    return not (value < limit - LIMIT_TOLERANCE)


@_rule(_f8(_f8, _f8))
def stop_price_long(entry_price: float, stop_loss_pct: float) -> float:
    """Stop below a long entry: ``entry * (1 - pct)``; NaN for invalid inputs."""
    if not (0.0 < entry_price < math.inf) or not (0.0 < stop_loss_pct < 1.0):
        return math.nan
    return entry_price * (1.0 - stop_loss_pct)


@_rule(_f8(_f8, _f8))
def stop_price_short(entry_price: float, stop_loss_pct: float) -> float:
    """Stop above a short entry: ``entry * (1 + pct)``; NaN for invalid inputs."""
    if not (0.0 < entry_price < math.inf) or not (0.0 < stop_loss_pct < 1.0):
        return math.nan
    return entry_price * (1.0 + stop_loss_pct)


@_rule(_b1(_f8, _f8))
def long_stop_hit(bar_low: float, stop: float) -> bool:
    """True when the bar's low reaches the long stop (``low <= stop``); NaN counts as hit."""
    # Fail closed: an unknown low or a missing stop exits rather than holds unprotected.
    return not (bar_low > stop)


@_rule(_b1(_f8, _f8))
def short_stop_hit(bar_high: float, stop: float) -> bool:
    """True when the bar's high reaches the short stop (``high >= stop``); NaN counts as hit."""
    return not (bar_high < stop)


@_rule(_f8(_f8, _f8))
def long_stop_fill(bar_open: float, stop: float) -> float:
    """Fill of a hit long stop before slippage: the stop, or the open if the bar gapped below."""
    if not (bar_open > stop):  # gap through, or NaN stop: the first price we can get
        return bar_open
    return stop


@_rule(_f8(_f8, _f8))
def short_stop_fill(bar_open: float, stop: float) -> float:
    """Fill of a hit short stop before slippage: the stop, or the open if the bar gapped above."""
    if not (bar_open < stop):
        return bar_open
    return stop


@_rule(_i8(_i8))
def day_key(ms: int) -> int:
    """UTC day number of a time in int64 ms since the epoch (floor division, so pre-1970 works)."""
    return ms // MS_PER_DAY


@_rule(_STEP_RESULT(_f8, _i8, _f8, _i8, _f8, _f8, _b1, _b1, _f8, _f8))
def kill_switch_step(
    equity: float,
    day: int,
    last_equity: float,
    last_day: int,
    peak: float,
    day_start: float,
    paused: bool,
    latched: bool,
    max_drawdown_pct: float,
    daily_loss_limit_pct: float,
) -> tuple[float, float, bool, bool, int]:
    """Advance the kill switches by one mark; returns (peak, day_start, paused, latched, code).

    ``day`` is the UTC day key of this mark, ``last_equity``/``last_day`` those of the previous
    mark (NO_DAY before the first). On a later day the day's start equity becomes the previous
    mark, i.e. the equity at UTC midnight, and the daily pause clears. The drawdown latch never
    clears here (only an operator resume does), whatever the limits are now. ``code`` is the
    halt in force after this mark: HALT_DRAWDOWN over HALT_DAILY over HALT_NONE.
    """
    if day > last_day:
        day_start = last_equity
        paused = False
    if equity > peak:
        peak = equity
    if not latched and limit_breached(drawdown(peak, equity), max_drawdown_pct):
        latched = True
    if not paused and limit_breached(daily_loss(day_start, equity), daily_loss_limit_pct):
        paused = True
    code = HALT_DRAWDOWN if latched else (HALT_DAILY if paused else HALT_NONE)
    return peak, day_start, paused, latched, code


@_rule(_i8(_i8, _f8))
def next_loss_streak(streak: int, pnl: float) -> int:
    """Consecutive losing trades after one more closes: +1 on a loss (pnl < 0), else reset to 0."""
    if pnl < 0.0:
        return streak + 1
    return 0


@_rule(_i8(_i8, _i8, _i8, _i8, _i8))
def cooldown_until_ms(
    streak: int, after_losses: int, close_ms: int, cooldown_ms: int, until_ms: int
) -> int:
    """End of the entry cooldown after a trade closes at close_ms; until_ms if none starts."""
    # Every loss while the streak is at or above N restarts the cooldown: a losing run that
    # continues after one cooldown earns another, until a win resets the streak.
    if after_losses <= 0 or cooldown_ms <= 0 or streak < after_losses:
        return until_ms
    end = close_ms + cooldown_ms
    if end > until_ms:
        return end
    return until_ms


@_rule(_b1(_i8, _i8))
def cooldown_active(now_ms: int, until_ms: int) -> bool:
    """True while now is before the cooldown's end."""
    return now_ms < until_ms


@_rule(_b1(_i8, _i8))
def entry_cap_reached(entries_today: int, max_entries_per_day: int) -> bool:
    """True when a positive per-UTC-day cap is used up; a cap of 0 means no cap."""
    return max_entries_per_day > 0 and entries_today >= max_entries_per_day


@_rule(_b1(_i8, _i8))
def open_positions_full(open_positions: int, max_open_positions: int) -> bool:
    """True when a positive cap on open positions (held plus entries already decided) is
    reached, so one more entry would break it; a cap of 0 means no cap."""
    return max_open_positions > 0 and open_positions >= max_open_positions


@_rule(_b1(_f8, _f8, _f8, _f8))
def gross_exposure_exceeded(
    gross_notional: float, new_notional: float, equity: float, max_gross_exposure_pct: float
) -> bool:
    """True when a positive cap on gross exposure would be broken: the notionals held (and
    already decided) plus this entry's, over equity, above ``max_gross_exposure_pct``.

    0 means no cap. The limit is inclusive like every limit here (exactly at it is allowed,
    since it is a size, not a loss: within LIMIT_TOLERANCE above it still passes); NaN or a
    non-positive equity refuses.
    """
    if max_gross_exposure_pct <= 0.0:
        return False
    if not (0.0 < equity < math.inf):
        return True
    exposure = (gross_notional + new_notional) / equity
    return not (exposure <= max_gross_exposure_pct + LIMIT_TOLERANCE)
