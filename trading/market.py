"""Where the loop's bars come from: the exchange (paper, testnet, live) or a file (replay).

Both answer the same question, "the latest closed bars as of the clock", so the loop does
not know which one it is talking to. Only closed bars are returned: a bar whose close time
(open + timeframe) is after the clock's now is still forming.

The loop reads bars as a ``BarWindow``: float64 arrays and a slice of them, so a bar costs an
array index, not a pandas row. A replay's window is a slice of the whole file's arrays (the
same object every step, so indicators over it are computed once); an exchange's window is the
fetched frame turned into arrays once per step.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd

from core.clock import Clock
from core.domain import Bar
from core.errors import ConfigError, DataError
from signals.indicators import FloatArray, close_values

_OHLCV = ("open", "high", "low", "close", "volume")


class MarketData(Protocol):
    """Port: closed OHLCV bars of one market as of the clock's now."""

    def closed_bars(self, symbol: str, count: int) -> pd.DataFrame:
        """The latest ``count`` closed bars (fewer when history is shorter), oldest first."""
        ...


@dataclass(frozen=True, slots=True, eq=False)
class BarArrays:
    """OHLCV bars of one market as arrays: open times in epoch ms (int64), prices float64."""

    open_ms: npt.NDArray[np.int64]
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray

    @classmethod
    def of(cls, frame: pd.DataFrame) -> BarArrays:
        """The arrays of a UTC-indexed OHLCV frame; DataError on a bad index or a NaN close."""
        missing = [c for c in _OHLCV if c not in frame.columns]
        if missing:
            raise DataError(f"bars lack column(s) {', '.join(missing)}", rule="columns")
        ms = _open_ms(frame)
        if ms.size > 1 and not bool((np.diff(ms) > 0).all()):
            raise DataError("bar times must be strictly increasing", rule="index")
        close = close_values(frame["close"])  # fail fast on NaN or inf
        o, h, lo, v = (np.ascontiguousarray(frame[c].to_numpy(dtype=np.float64))
                       for c in ("open", "high", "low", "volume"))
        return cls(ms, o, h, lo, close, v)

    def __len__(self) -> int:
        return int(self.open_ms.size)

    def bar(self, symbol: str, i: int) -> Bar:
        """Bar ``i`` as the brokers take it."""
        return Bar(symbol, bar_datetime(int(self.open_ms[i])), float(self.open[i]),
                   float(self.high[i]), float(self.low[i]), float(self.close[i]),
                   float(self.volume[i]))

    def frame(self, start: int, end: int, *, extra: Mapping[str, np.ndarray] | None = None
              ) -> pd.DataFrame:
        """Bars ``start:end`` as the house OHLCV frame (UTC index), plus ``extra`` columns."""
        index = pd.DatetimeIndex(pd.to_datetime(self.open_ms[start:end], unit="ms", utc=True),
                                 name="timestamp")
        columns = {c: getattr(self, c)[start:end] for c in _OHLCV}
        return pd.DataFrame({**columns, **(extra or {})}, index=index)


@dataclass(frozen=True, slots=True)
class BarWindow:
    """The closed bars ``bars[start:end]`` of one market as of the clock's now."""

    bars: BarArrays
    start: int
    end: int

    def index_of(self, open_ms: int) -> int | None:
        """Position in ``bars`` of the bar opened at ``open_ms``, if the window holds it."""
        i = int(np.searchsorted(self.bars.open_ms[self.start:self.end], open_ms)) + self.start
        return i if i < self.end and int(self.bars.open_ms[i]) == open_ms else None

    def times_after(self, after_ms: int | None, *, skip: int) -> npt.NDArray[np.int64]:
        """Open times (ms) of the window's bars past its first ``skip``, later than after_ms."""
        times = self.bars.open_ms[self.start + skip:self.end]
        if after_ms is None:
            return times
        return times[int(np.searchsorted(times, after_ms, side="right")):]


def closed_window(market: MarketData, symbol: str, count: int) -> BarWindow:
    """The latest ``count`` closed bars of ``symbol`` as arrays, from any MarketData."""
    if isinstance(market, ReplayMarket):
        return market.closed_window(symbol, count)
    bars = BarArrays.of(market.closed_bars(symbol, count))
    return BarWindow(bars, 0, len(bars))


def new_bar_times(windows: Mapping[str, BarWindow], last_bar: Mapping[str, pd.Timestamp], *,
                  skip: int) -> list[int]:
    """Open times (epoch ms) of the bars past each symbol's ``last_bar``, union, oldest first
    (a window's first ``skip`` bars are its warm-up)."""
    times: set[int] = set()
    for symbol, window in windows.items():
        last = last_bar.get(symbol)
        after = None if last is None else int(last.value // 1_000_000)
        times.update(int(t) for t in window.times_after(after, skip=skip))
    return sorted(times)


def bar_datetime(open_ms: int) -> datetime:
    """An epoch-ms time as an aware UTC datetime (exact for whole milliseconds)."""
    return datetime.fromtimestamp(open_ms // 1000, UTC).replace(microsecond=open_ms % 1000 * 1000)


def bar_timestamp(open_ms: int) -> pd.Timestamp:
    """An epoch-ms time as a UTC pandas Timestamp."""
    return pd.Timestamp(open_ms, unit="ms", tz="UTC")


class ExchangeMarket:
    """Closed bars from the exchange's public API through the parquet cache (no keys).

    ``on_outcome`` hears how the reads go: the error a read raised, or None when a read brought
    a bar newer than any before (so the exchange answered; a read the cache served alone says
    nothing about the exchange). A live bot routes it into the exchange breaker, so an outage
    that starts at the candles still opens it.
    """

    def __init__(
        self, *, timeframe: str, clock: Clock, exchange_id: str = "binance",
        exchange: Any = None, cache_dir: Path | None = None,
        on_outcome: Callable[[BaseException | None], None] | None = None,
    ) -> None:
        from data.fetcher import make_exchange

        self._timeframe = timeframe
        self._clock = clock
        self._exchange_id = exchange_id
        self._exchange = exchange if exchange is not None else make_exchange(exchange_id)
        self._cache_dir = cache_dir
        self._on_outcome = on_outcome
        self._newest: dict[str, pd.Timestamp] = {}

    @property
    def exchange(self) -> Any:
        """The ccxt client the bars come over (live: the broker's own)."""
        return self._exchange

    def closed_bars(self, symbol: str, count: int) -> pd.DataFrame:
        """The latest ``count`` closed bars, fetched only past what the cache holds."""
        from data.fetcher import fetch_ohlcv

        try:
            bars = fetch_ohlcv(
                symbol, self._timeframe, limit=count, exchange_id=self._exchange_id,
                exchange=self._exchange, clock=self._clock, cache_dir=self._cache_dir,
            )
        except Exception as e:
            if self._on_outcome is not None:
                self._on_outcome(e)
            raise
        newest = bars.index[-1] if len(bars) else None
        if newest is not None and (symbol not in self._newest or newest > self._newest[symbol]):
            self._newest[symbol] = newest
            if self._on_outcome is not None:
                self._on_outcome(None)
        return bars


class ReplayMarket:
    """Bars from files, revealed as a simulated clock passes each bar's close."""

    def __init__(self, frames: Mapping[str, pd.DataFrame], *, timeframe: str, clock: Clock):
        from data.timeframe import timeframe_ms

        if not frames:
            raise ConfigError("replay needs at least one market")
        self._frames = dict(frames)
        self._step_ms = timeframe_ms(timeframe)
        self._clock = clock
        # Every file as arrays once; windows are slices of them (see the module docstring).
        self._arrays = {s: BarArrays.of(f) for s, f in self._frames.items()}
        # Close time of every bar in ms, for a binary search per call instead of a scan.
        self._close_ms = {s: a.open_ms + self._step_ms for s, a in self._arrays.items()}

    def closed_bars(self, symbol: str, count: int) -> pd.DataFrame:
        """The bars whose close time is at or before the simulated now."""
        window = self.closed_window(symbol, count)
        return self._frames[symbol].iloc[window.start:window.end]

    def closed_window(self, symbol: str, count: int) -> BarWindow:
        """``closed_bars`` as a slice of the file's arrays."""
        if symbol not in self._frames:
            raise ConfigError(f"replay has no bars for {symbol}")
        now_ms = int(self._clock.now().timestamp() * 1000)
        end = int(np.searchsorted(self._close_ms[symbol], now_ms, side="right"))
        return BarWindow(self._arrays[symbol], max(0, end - count), end)

    def close_times(self, symbol: str) -> list[datetime]:
        """Close time of every bar of ``symbol``: the moments a replay wakes up."""
        return [bar_datetime(int(ms)) for ms in self._close_ms[symbol]]

    def bars(self, symbol: str) -> pd.DataFrame:
        """All bars of ``symbol``."""
        return self._frames[symbol]


def _open_ms(frame: pd.DataFrame) -> npt.NDArray[np.int64]:
    index = frame.index
    if not isinstance(index, pd.DatetimeIndex) or index.tz is None:
        raise DataError("bars need a UTC DatetimeIndex")
    return np.asarray(index.tz_convert("UTC").as_unit("ms").asi8, dtype=np.int64)
