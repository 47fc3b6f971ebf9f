"""Parquet cache of exchange bars, one file per (exchange, symbol, timeframe).

The key never includes how many bars a caller asked for: callers get slices of one growing
series. Besides the bars, each file records ``covered_from_ms``: the time from which the cache
holds every bar the exchange has (0 when it reaches back to the first bar ever listed), so a
request for older history knows what is missing even when the exchange has gaps.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from core.files import write_atomically
from data.integrity import check_ohlcv
from data.timeframe import index_ms

log = logging.getLogger(__name__)

CACHE_DIR_ENV = "TRADINGBOT_CACHE_DIR"
_DEFAULT_DIR = Path(__file__).resolve().parent / "cache"
_META_KEY = b"tradingbot.ohlcv"
_FORMAT_VERSION = 1


def default_cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Return $TRADINGBOT_CACHE_DIR if set, else data/cache under the repository root."""
    env = os.environ if environ is None else environ
    override = env.get(CACHE_DIR_ENV, "").strip()
    return Path(override).expanduser() if override else _DEFAULT_DIR


@dataclass(frozen=True, slots=True)
class CacheKey:
    """What identifies a cached series; deliberately not the number of bars requested."""

    exchange: str
    symbol: str
    timeframe: str

    def path(self, cache_dir: Path) -> Path:
        """Return the parquet file of this series under ``cache_dir``."""
        # '/' and ':' (BTC/USDT:USDT) cannot sit in a file name; the key inside the file is
        # checked on read, so two symbols that sanitise alike can never be confused.
        symbol = re.sub(r"[^A-Za-z0-9.]+", "-", self.symbol).strip("-")
        return cache_dir / f"{self.exchange}_{symbol}_{self.timeframe}.parquet"


@dataclass(frozen=True, slots=True)
class CachedBars:
    """A cached series: closed bars in the house frame and where their coverage starts."""

    frame: pd.DataFrame
    covered_from_ms: int

    @property
    def first_ms(self) -> int | None:
        """Open time of the oldest cached bar in ms, or None when empty."""
        return int(index_ms(pd.DatetimeIndex(self.frame.index))[0]) if len(self.frame) else None

    @property
    def last_ms(self) -> int | None:
        """Open time of the newest cached bar in ms, or None when empty."""
        return int(index_ms(pd.DatetimeIndex(self.frame.index))[-1]) if len(self.frame) else None


def read_cache(key: CacheKey, cache_dir: Path) -> CachedBars | None:
    """Return the cached series, or None when absent; a corrupt file is logged and ignored."""
    path = key.path(cache_dir)
    if not path.is_file():
        return None
    try:
        table = pq.read_table(path)
        meta = json.loads((table.schema.metadata or {})[_META_KEY])
        if (meta["exchange"], meta["symbol"], meta["timeframe"]) != (
            key.exchange,
            key.symbol,
            key.timeframe,
        ) or meta["version"] != _FORMAT_VERSION:
            raise ValueError(f"it holds {meta.get('symbol')!r} {meta.get('timeframe')!r}")
        frame = table.to_pandas()
        # No jump bound on exchange data: a real listing-day candle must not wedge the cache.
        check_ohlcv(frame, timeframe=key.timeframe, source=str(path), max_jump=None)
        return CachedBars(frame=frame, covered_from_ms=int(meta["covered_from_ms"]))
    except Exception as e:
        # Deliberately broad: the cache is only a copy of exchange data, and whatever way a
        # file is broken (truncated, foreign, failing a rule) the answer is to rebuild it.
        log.warning("cache file %s is unusable (%s); rebuilding it from the exchange", path, e)
        return None


def write_cache(key: CacheKey, cache_dir: Path, bars: CachedBars) -> Path:
    """Write the series atomically (temp file, fsync, os.replace) and return its path."""
    path = key.path(cache_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "version": _FORMAT_VERSION,
        "exchange": key.exchange,
        "symbol": key.symbol,
        "timeframe": key.timeframe,
        "covered_from_ms": bars.covered_from_ms,
    }
    table = pa.Table.from_pandas(bars.frame, preserve_index=True)
    table = table.replace_schema_metadata(
        {**(table.schema.metadata or {}), _META_KEY: json.dumps(meta).encode()}
    )
    write_atomically(path, lambda fh: pq.write_table(table, fh), binary=True)
    log.debug("wrote %d bars to %s", len(bars.frame), path)
    return path


def merge_bars(old: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """Union of two house frames by open time, sorted; on overlap the newer rows win."""
    if new.empty:
        return old
    if old.empty:
        return new
    both = pd.concat([old, new])
    keep = ~both.index.duplicated(keep="last")
    merged = both[keep]
    order = np.argsort(index_ms(pd.DatetimeIndex(merged.index)), kind="stable")
    return merged.iloc[order]
