"""Where the loop's bars come from: the exchange (paper, testnet, live) or a file (replay).

Both answer the same question, "the latest closed bars as of the clock", so the loop does
not know which one it is talking to. Only closed bars are returned: a bar whose close time
(open + timeframe) is after the clock's now is still forming.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from core.clock import Clock
from core.errors import ConfigError, DataError


class MarketData(Protocol):
    """Port: closed OHLCV bars of one market as of the clock's now."""

    def closed_bars(self, symbol: str, count: int) -> pd.DataFrame:
        """The latest ``count`` closed bars (fewer when history is shorter), oldest first."""
        ...


class ExchangeMarket:
    """Closed bars from the exchange's public API through the parquet cache (no keys)."""

    def __init__(
        self, *, timeframe: str, clock: Clock, exchange_id: str = "binance",
        exchange: Any = None, cache_dir: Path | None = None,
    ) -> None:
        from data.fetcher import make_exchange

        self._timeframe = timeframe
        self._clock = clock
        self._exchange_id = exchange_id
        self._exchange = exchange if exchange is not None else make_exchange(exchange_id)
        self._cache_dir = cache_dir

    def closed_bars(self, symbol: str, count: int) -> pd.DataFrame:
        """The latest ``count`` closed bars, fetched only past what the cache holds."""
        from data.fetcher import fetch_ohlcv

        return fetch_ohlcv(
            symbol, self._timeframe, limit=count, exchange_id=self._exchange_id,
            exchange=self._exchange, clock=self._clock, cache_dir=self._cache_dir,
        )


class ReplayMarket:
    """Bars from files, revealed as a simulated clock passes each bar's close."""

    def __init__(self, frames: Mapping[str, pd.DataFrame], *, timeframe: str, clock: Clock):
        from data.timeframe import timeframe_ms

        if not frames:
            raise ConfigError("replay needs at least one market")
        self._frames = dict(frames)
        self._step_ms = timeframe_ms(timeframe)
        self._clock = clock
        # Close time of every bar in ms, for a binary search per call instead of a scan.
        self._close_ms = {
            s: _open_ms(f) + self._step_ms for s, f in self._frames.items()
        }

    def closed_bars(self, symbol: str, count: int) -> pd.DataFrame:
        """The bars whose close time is at or before the simulated now."""
        if symbol not in self._frames:
            raise ConfigError(f"replay has no bars for {symbol}")
        now_ms = int(self._clock.now().timestamp() * 1000)
        end = int(np.searchsorted(self._close_ms[symbol], now_ms, side="right"))
        return self._frames[symbol].iloc[max(0, end - count): end]

    def close_times(self, symbol: str) -> list[datetime]:
        """Close time of every bar of ``symbol``: the moments a replay wakes up."""
        return [datetime.fromtimestamp(ms / 1000, UTC) for ms in self._close_ms[symbol]]

    def bars(self, symbol: str) -> pd.DataFrame:
        """All bars of ``symbol``."""
        return self._frames[symbol]


def _open_ms(frame: pd.DataFrame) -> np.ndarray:
    index = frame.index
    if not isinstance(index, pd.DatetimeIndex) or index.tz is None:
        raise DataError("bars need a UTC DatetimeIndex")
    return np.asarray(index.tz_convert("UTC").as_unit("ms").asi8, dtype=np.int64)
