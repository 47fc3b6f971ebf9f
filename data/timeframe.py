"""ccxt-style timeframes ("1m", "4h", "1w") as fixed bar lengths in milliseconds."""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.errors import ConfigError, DataError

_MINUTE = 60_000
_HOUR = 60 * _MINUTE
_DAY = 24 * _HOUR

# The fixed-length bars Binance (and most ccxt exchanges) serve. "1M" is left out on purpose:
# a calendar month has no fixed length, so it cannot sit on a millisecond grid.
TIMEFRAMES: dict[str, int] = {
    "1s": 1_000,
    "1m": _MINUTE,
    "3m": 3 * _MINUTE,
    "5m": 5 * _MINUTE,
    "15m": 15 * _MINUTE,
    "30m": 30 * _MINUTE,
    "1h": _HOUR,
    "2h": 2 * _HOUR,
    "4h": 4 * _HOUR,
    "6h": 6 * _HOUR,
    "8h": 8 * _HOUR,
    "12h": 12 * _HOUR,
    "1d": _DAY,
    "3d": 3 * _DAY,
    "1w": 7 * _DAY,
}

# Weekly bars open on Monday 00:00 UTC; the epoch (1970-01-01) was a Thursday.
_WEEK_ORIGIN_MS = 4 * _DAY


def timeframe_ms(timeframe: str) -> int:
    """Return the bar length of a ccxt timeframe in milliseconds, or raise ConfigError."""
    try:
        return TIMEFRAMES[timeframe]
    except (KeyError, TypeError):
        allowed = ", ".join(TIMEFRAMES)
        raise ConfigError(f"unknown timeframe {timeframe!r}; allowed: {allowed}") from None


def grid_origin_ms(timeframe: str) -> int | None:
    """Return the epoch offset bars of this timeframe open on, or None when not fixed.

    Intraday and daily bars open on multiples of their length since the epoch and weekly bars
    on Mondays. For 3d bars the exchanges do not agree on an anchor, so only the spacing
    between bars is checked.
    """
    step = timeframe_ms(timeframe)
    if timeframe == "1w":
        return _WEEK_ORIGIN_MS
    if _DAY % step == 0:
        return 0
    return None


def infer_timeframe(index: pd.DatetimeIndex, *, source: str = "frame") -> str:
    """Return the timeframe whose length is the most common step between index timestamps."""
    if len(index) < 2:
        raise DataError(
            f"{source}: cannot infer the timeframe from {len(index)} row(s); pass it explicitly",
            source=source,
            rule="timeframe",
        )
    steps = np.diff(index_ms(index))
    values, counts = np.unique(steps, return_counts=True)
    step = int(values[np.argmax(counts)])
    for name, length in TIMEFRAMES.items():
        if length == step:
            return name
    raise DataError(
        f"{source}: the most common bar step is {step} ms, which is no known timeframe",
        source=source,
        rule="timeframe",
    )


def index_ms(index: pd.DatetimeIndex) -> np.ndarray:
    """Return the index as int64 milliseconds since the epoch, whatever its resolution."""
    return np.asarray(index.as_unit("ms").asi8, dtype=np.int64)


def latest_closed_open_ms(now_ms: int, timeframe: str) -> int:
    """Return the open time bound of closed bars: a bar is closed iff its open <= this value.

    A candle is closed only when open + length <= now, which needs no grid anchor.
    """
    return now_ms - timeframe_ms(timeframe)
