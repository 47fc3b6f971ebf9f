"""Market data: OHLCV from files and exchanges, one integrity check, a parquet cache.

Every layer uses one frame convention: a DatetimeIndex named "timestamp" (datetime64[ns, UTC],
the candle OPEN time) and float64 columns open, high, low, close, volume in that order. Only
closed bars are ever returned.
"""

from __future__ import annotations

from data.cache import CACHE_DIR_ENV, default_cache_dir
from data.fetcher import fetch_ohlcv, make_exchange, parse_since
from data.integrity import OHLCV_COLUMNS, Gap, GapReport, check_ohlcv, empty_ohlcv, ohlcv_frame
from data.loader import load_ohlcv
from data.synthetic import synthetic_ohlcv
from data.timeframe import TIMEFRAMES, infer_timeframe, timeframe_ms

__all__ = [
    "CACHE_DIR_ENV",
    "OHLCV_COLUMNS",
    "TIMEFRAMES",
    "Gap",
    "GapReport",
    "check_ohlcv",
    "default_cache_dir",
    "empty_ohlcv",
    "fetch_ohlcv",
    "infer_timeframe",
    "load_ohlcv",
    "make_exchange",
    "ohlcv_frame",
    "parse_since",
    "synthetic_ohlcv",
    "timeframe_ms",
]
