"""Seeded synthetic OHLCV bars for tests: a geometric random walk that passes every rule."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from core.errors import ConfigError
from data.integrity import ohlcv_frame
from data.timeframe import grid_origin_ms, timeframe_ms


def synthetic_ohlcv(
    n: int = 500,
    *,
    timeframe: str = "1h",
    start: datetime | str = "2024-01-01",
    seed: int = 0,
    start_price: float = 100.0,
    volatility: float = 0.01,
    drift: float = 0.0,
) -> pd.DataFrame:
    """Return ``n`` gapless bars from ``start``; the same arguments always give the same bars.

    ``volatility`` and ``drift`` are the per-bar standard deviation and mean of log returns.
    Each open is the previous close, so the series has no jumps between bars.
    """
    step = timeframe_ms(timeframe)
    _validate(n, start_price, volatility)
    first = _start_ms(start, timeframe)
    rng = np.random.default_rng(seed)
    log_returns = rng.normal(drift - volatility**2 / 2, volatility, n)
    close = start_price * np.exp(np.cumsum(log_returns))
    open_ = np.concatenate(([start_price], close[:-1]))[:n]
    # Wicks stretch beyond the body by a positive factor, so high >= max(open, close) and
    # low <= min(open, close) hold by construction, not by clipping afterwards.
    wick = np.abs(rng.normal(0.0, volatility / 2, (2, n)))
    high = np.maximum(open_, close) * np.exp(wick[0])
    low = np.minimum(open_, close) * np.exp(-wick[1])
    volume = rng.lognormal(mean=3.0, sigma=0.5, size=n)
    ts = first + step * np.arange(n, dtype=np.int64)
    return ohlcv_frame(ts, np.column_stack([open_, high, low, close, volume]))


def _validate(n: int, start_price: float, volatility: float) -> None:
    if n < 0:
        raise ConfigError(f"n must be >= 0, got {n}")
    if not start_price > 0:
        raise ConfigError(f"start_price must be > 0, got {start_price}")
    if not volatility >= 0:
        raise ConfigError(f"volatility must be >= 0, got {volatility}")


def _start_ms(start: datetime | str, timeframe: str) -> int:
    try:
        stamp = pd.Timestamp(start)
    except ValueError as e:
        raise ConfigError(f"bad start {start!r}: expected a date or datetime") from e
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    ms = int(stamp.as_unit("ns").value) // 1_000_000  # .value is always nanoseconds
    origin = grid_origin_ms(timeframe)
    # Without a fixed anchor (3d) any start defines the grid.
    if origin is not None and (ms - origin) % timeframe_ms(timeframe):
        raise ConfigError(f"start {stamp} is not on the {timeframe} bar grid")
    return ms
