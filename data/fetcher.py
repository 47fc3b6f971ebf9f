"""Closed OHLCV bars from an exchange's public endpoints (ccxt, no keys), through the cache.

The only module that imports ccxt, and lazily, so that backtests reading files never pay for
it. ccxt errors are translated here and nowhere else: an unknown symbol or a refused request is
a DataError, anything network-shaped (timeouts, 5xx, rate limits, dropped connections) is an
ExchangeUnavailable that callers may retry.
"""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pandas as pd

from core.clock import Clock, SystemClock
from core.errors import ConfigError, DataError, ExchangeUnavailable
from data.cache import CachedBars, CacheKey, default_cache_dir, merge_bars, read_cache, write_cache
from data.integrity import OHLCV_COLUMNS, check_ohlcv, empty_ohlcv, ohlcv_frame
from data.timeframe import latest_closed_open_ms, timeframe_ms

log = logging.getLogger(__name__)

# Binance spot serves at most 1000 klines per request; ccxt caps to it as well.
PAGE_LIMIT = 1000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

ProgressFn = Callable[[int, int], None]
"""Called after each page with (bars fetched so far, bars expected) for the current range."""


def make_exchange(
    exchange_id: str = "binance",
    *,
    base_url: str | None = None,
    timeout_ms: int = 10_000,
    rate_limit: bool = True,
) -> Any:
    """Return a ccxt client for public market data; ``base_url`` points it at another host."""
    import ccxt

    if exchange_id not in ccxt.exchanges:
        raise ConfigError(f"unknown exchange {exchange_id!r}: not a ccxt exchange id")
    config: dict[str, Any] = {"enableRateLimit": rate_limit, "timeout": timeout_ms}
    if exchange_id.startswith("binance"):
        # Spot only: otherwise load_markets also calls the futures (fapi/dapi) exchangeInfo.
        config["options"] = {"defaultType": "spot", "fetchMarkets": {"types": ["spot"]}}
    exchange = getattr(ccxt, exchange_id)(config)
    if base_url:
        exchange.urls["api"] = rebase_urls(exchange.urls["api"], base_url)
    return exchange


def rebase_urls(urls: Any, base_url: str) -> Any:
    """Keep each API path but swap scheme and host: 'https://api.x.com/api/v3' -> base/api/v3."""
    # Tests point a real ccxt client at a fake server this way (data and execution alike).
    if isinstance(urls, dict):
        return {k: rebase_urls(v, base_url) for k, v in urls.items()}
    if isinstance(urls, str):
        return base_url.rstrip("/") + urlsplit(urls).path
    return urls


def parse_since(since: datetime | str) -> int:
    """Return ``since`` ('YYYY-MM-DD', ISO datetime or datetime; naive means UTC) in epoch ms."""
    when = since
    if isinstance(since, str):
        try:
            when = datetime.fromisoformat(since.strip())
        except ValueError:
            raise ConfigError(f"bad date {since!r}: expected YYYY-MM-DD (UTC)") from None
    if not isinstance(when, datetime):
        raise ConfigError(f"bad date {since!r}: expected YYYY-MM-DD or a datetime")
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return (when - _EPOCH) // timedelta(milliseconds=1)


def fetch_ohlcv(
    symbol: str = "BTC/USDT",
    timeframe: str = "1h",
    *,
    since: datetime | str | None = None,
    limit: int = 1000,
    exchange_id: str = "binance",
    exchange: Any = None,
    clock: Clock | None = None,
    cache_dir: Path | None = None,
    progress: ProgressFn | None = None,
) -> pd.DataFrame:
    """Return closed bars: the latest ``limit`` ones, or all from ``since`` when it is given.

    Bars come from the parquet cache for (exchange, symbol, timeframe), which is first brought
    up to date: only bars after the newest cached one are fetched, only history before the
    cached range is fetched for an older ``since``, and a cache whose newest bar is the latest
    closed bar is served without any request. ``exchange``, ``clock`` and ``cache_dir`` are
    seams for tests; by default a public ccxt client, the wall clock and data/cache are used.
    """
    step = timeframe_ms(timeframe)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ConfigError(f"limit must be a positive whole number of bars, got {limit!r}")
    if exchange is not None and getattr(exchange, "id", exchange_id) != exchange_id:
        raise ConfigError(f"exchange client is {exchange.id!r} but exchange_id is {exchange_id!r}")
    now_ms = ((clock or SystemClock()).now() - _EPOCH) // timedelta(milliseconds=1)
    since_ms = None if since is None else max(parse_since(since), 0)  # no bars before 1970
    if since_ms is not None and since_ms > now_ms:
        raise ConfigError(f"since {since!s} is in the future")
    key = CacheKey(exchange_id, symbol, timeframe)
    directory = default_cache_dir() if cache_dir is None else Path(cache_dir)
    cached = read_cache(key, directory)
    remote = _Remote(key, exchange, step, progress)
    window = _Window(since_ms, limit, latest_closed_open_ms(now_ms, timeframe))
    bars = _sync(remote, cached, window)
    if bars is not cached and len(bars.frame):
        # The exchange is the source of truth: no jump bound (files get one, see data.loader).
        check_ohlcv(bars.frame, timeframe=timeframe, source=f"{exchange_id} {symbol} {timeframe}",
                    max_jump=None)
        write_cache(key, directory, bars)
    if remote.requests:
        log.info("%s %s %s: %d request(s)", exchange_id, symbol, timeframe, remote.requests)
    return _slice(bars.frame, window)


@dataclass(frozen=True, slots=True)
class _Window:
    """What the caller asked for, with the newest open time that is a closed bar."""

    since_ms: int | None
    limit: int
    closed_until: int


def _slice(frame: pd.DataFrame, window: _Window) -> pd.DataFrame:
    if window.since_ms is None:
        return frame.iloc[-window.limit :].copy()
    start = pd.Timestamp(window.since_ms, unit="ms", tz="UTC")
    return frame.loc[frame.index >= start].copy()


def _sync(remote: _Remote, cached: CachedBars | None, window: _Window) -> CachedBars:
    """Bring the cache to cover the window; returns ``cached`` itself when nothing changed."""
    if cached is None or cached.frame.empty:
        return _initial(remote, window)
    bars = _extend_tail(remote, cached, window.closed_until)
    if window.since_ms is not None:
        return _extend_head_since(remote, bars, window.since_ms)
    return _extend_head_count(remote, bars, window.limit)


def _initial(remote: _Remote, window: _Window) -> CachedBars:
    if window.since_ms is not None:
        frame = remote.forward(window.since_ms, window.closed_until)
        return CachedBars(frame, window.since_ms)
    frame, exhausted = remote.backward(window.closed_until + 1, window.limit)
    first = int(frame.index[0].value // 1_000_000) if len(frame) else window.closed_until + 1
    return CachedBars(frame, 0 if exhausted else first)


def _extend_tail(remote: _Remote, bars: CachedBars, closed_until: int) -> CachedBars:
    last = bars.last_ms
    if last is None or last + remote.step > closed_until:
        return bars  # fresh: the newest cached bar is the latest closed one
    new = remote.forward(last + remote.step, closed_until)
    if new.empty:
        return bars  # the exchange has no newer bar yet (an outage): nothing to rewrite
    return CachedBars(merge_bars(bars.frame, new), bars.covered_from_ms)


def _extend_head_since(remote: _Remote, bars: CachedBars, since_ms: int) -> CachedBars:
    if since_ms >= bars.covered_from_ms:
        return bars
    new = remote.forward(since_ms, bars.covered_from_ms - 1)
    return CachedBars(merge_bars(new, bars.frame), since_ms)


def _extend_head_count(remote: _Remote, bars: CachedBars, limit: int) -> CachedBars:
    first = bars.first_ms
    if len(bars.frame) >= limit or bars.covered_from_ms == 0 or first is None:
        return bars
    new, exhausted = remote.backward(first, limit - len(bars.frame))
    covered = 0 if exhausted or new.empty else int(new.index[0].value // 1_000_000)
    return CachedBars(merge_bars(new, bars.frame), covered)


class _Remote:
    """Paged reads of one series from the exchange, with ccxt errors translated."""

    def __init__(self, key: CacheKey, exchange: Any, step: int, progress: ProgressFn | None):
        self.key = key
        self.step = step
        self.requests = 0
        self._exchange = exchange
        self._ready = False
        self._progress = progress

    def forward(self, start: int, stop: int) -> pd.DataFrame:
        """All bars with open time in [start, stop], paging forward from ``start``."""
        chunks: list[np.ndarray] = []
        expected, fetched, cursor = max((stop - start) // self.step + 1, 1), 0, start
        # Bounded: every page that does not end the loop moves the cursor past a new bar.
        for _ in range(expected + 2):
            if cursor > stop:
                break
            page = self._page(since=cursor, until=None, limit=PAGE_LIMIT)
            keep = page[(page[:, 0] >= cursor) & (page[:, 0] <= stop)]
            chunks.append(keep)
            fetched += len(keep)
            self._report(fetched, expected)
            if not len(page) or page[-1, 0] < cursor:
                break  # nothing newer exists, or the exchange made no progress
            cursor = int(page[:, 0].max()) + self.step
        return _to_frame(chunks)

    def backward(self, before: int, count: int) -> tuple[pd.DataFrame, bool]:
        """The ``count`` newest bars opening before ``before``; True if history ran out first."""
        chunks: list[np.ndarray] = []
        end, remaining, exhausted = before - 1, count, False
        for _ in range(count + 2):  # bounded: each page takes >= 1 bar or ends the loop
            if remaining <= 0:
                break
            page = self._page(since=None, until=end, limit=min(PAGE_LIMIT, remaining))
            keep = page[page[:, 0] <= end][-remaining:]
            if not len(keep):
                exhausted = True  # nothing at all before `end`: the listing starts here
                break
            chunks.insert(0, keep)
            remaining -= len(keep)
            end = int(keep[:, 0].min()) - 1
            self._report(count - remaining, count)
        return _to_frame(chunks), exhausted

    def _report(self, done: int, total: int) -> None:
        if self._progress is not None:
            self._progress(done, total)

    def _page(self, *, since: int | None, until: int | None, limit: int) -> np.ndarray:
        client = self._client()
        params = {} if until is None else {"until": until}
        key = self.key
        raw = self._call(client.fetch_ohlcv, key.symbol, key.timeframe, since, limit, params)
        self.requests += 1
        rows = np.array(raw if raw else [], dtype=np.float64).reshape(-1, 6)
        return rows[np.argsort(rows[:, 0], kind="stable")]

    def _client(self) -> Any:
        if self._exchange is None:
            self._exchange = make_exchange(self.key.exchange)
        if not self._ready:
            self._call(self._exchange.load_markets)
            self._validate(self._exchange)
            self._ready = True
        return self._exchange

    def _validate(self, client: Any) -> None:
        key = self.key
        markets = client.markets or {}
        if key.symbol not in markets:
            close = difflib.get_close_matches(key.symbol, list(markets), n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise DataError(f"unknown symbol {key.symbol!r} on {key.exchange}{hint}")
        if client.timeframes and key.timeframe not in client.timeframes:
            allowed = ", ".join(client.timeframes)
            raise ConfigError(f"{key.exchange} has no {key.timeframe!r} bars; it has: {allowed}")

    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        import ccxt

        try:
            return fn(*args)
        except ccxt.BadSymbol as e:
            raise DataError(f"unknown symbol {self.key.symbol!r} on {self.key.exchange}") from e
        except ccxt.OperationFailed as e:  # network, timeout, 5xx, rate limit, bad response
            raise ExchangeUnavailable(_unavailable(self.key.exchange, e)) from e
        except ccxt.BaseError as e:
            raise DataError(f"{self.key.exchange} refused the request: {_first_line(e)}") from e


def _unavailable(exchange_id: str, error: Exception) -> str:
    import ccxt

    kinds: list[tuple[type[Exception], str]] = [
        (ccxt.RequestTimeout, "the request timed out"),
        (ccxt.DDoSProtection, "rate limited"),
        (ccxt.OnMaintenance, "under maintenance"),
        (ccxt.ExchangeNotAvailable, "server error or no connection"),
        (ccxt.BadResponse, "unreadable response"),
    ]
    kind = next((text for cls, text in kinds if isinstance(error, cls)), "connection failed")
    # ccxt words HTTP failures as "<id> GET <url> 502 Bad Gateway <body>"; the URL has no spaces.
    status = re.search(r"\s([45]\d\d)\s", str(error))
    http = f"HTTP {status.group(1)}, " if status else ""
    return f"{exchange_id} is unavailable ({http}{kind}); try again later"


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0][:200] if text else type(error).__name__


def _to_frame(chunks: list[np.ndarray]) -> pd.DataFrame:
    rows = [c for c in chunks if len(c)]
    if not rows:
        return empty_ohlcv()
    table = np.concatenate(rows)
    return ohlcv_frame(table[:, 0].astype(np.int64), table[:, 1 : 1 + len(OHLCV_COLUMNS)])
