"""Market data: OHLCV from files and exchanges, one integrity check, a parquet cache.

Every layer uses one frame convention: a DatetimeIndex named "timestamp" (datetime64[ns, UTC],
the candle OPEN time) and float64 columns open, high, low, close, volume in that order. Only
closed bars are ever returned.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from data.cache import CACHE_DIR_ENV, default_cache_dir
    from data.fetcher import fetch_ohlcv, make_exchange, parse_since
    from data.integrity import (
        OHLCV_COLUMNS,
        Gap,
        GapReport,
        check_ohlcv,
        empty_ohlcv,
        ohlcv_frame,
    )
    from data.loader import load_ohlcv
    from data.synthetic import synthetic_ohlcv
    from data.timeframe import TIMEFRAMES, infer_timeframe, timeframe_ms

# Where each public name lives. Imported on first use (PEP 562), because importing a submodule
# such as data.demo_command runs this file first, and `main.py --help` must not load pandas.
_HOME = {
    "CACHE_DIR_ENV": "data.cache",
    "default_cache_dir": "data.cache",
    "fetch_ohlcv": "data.fetcher",
    "make_exchange": "data.fetcher",
    "parse_since": "data.fetcher",
    "OHLCV_COLUMNS": "data.integrity",
    "Gap": "data.integrity",
    "GapReport": "data.integrity",
    "check_ohlcv": "data.integrity",
    "empty_ohlcv": "data.integrity",
    "ohlcv_frame": "data.integrity",
    "load_ohlcv": "data.loader",
    "synthetic_ohlcv": "data.synthetic",
    "TIMEFRAMES": "data.timeframe",
    "infer_timeframe": "data.timeframe",
    "timeframe_ms": "data.timeframe",
}

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


def __getattr__(name: str) -> Any:
    """Import a public name from its submodule the first time it is asked for."""
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'data' has no attribute {name!r}")
    value = getattr(import_module(home), name)
    globals()[name] = value
    return value
