"""The parquet cache on its own: round trip, key checks, atomic writes, merging."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest

from data.cache import CachedBars, CacheKey, merge_bars, read_cache, write_cache
from data.synthetic import synthetic_ohlcv

KEY = CacheKey("binance", "BTC/USDT", "1h")


def test_round_trip_keeps_bars_and_coverage(tmp_path: Path) -> None:
    bars = synthetic_ohlcv(100)
    path = write_cache(KEY, tmp_path, CachedBars(bars, covered_from_ms=123))
    assert path == tmp_path / "binance_BTC-USDT_1h.parquet"
    back = read_cache(KEY, tmp_path)
    assert back is not None
    pd.testing.assert_frame_equal(back.frame, bars)
    assert back.covered_from_ms == 123
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp file left behind


def test_symbols_that_sanitise_alike_are_never_confused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # "BTC/USDT" and "BTC-USDT" share a file name; the key stored inside tells them apart.
    write_cache(KEY, tmp_path, CachedBars(synthetic_ohlcv(10), 0))
    other = CacheKey("binance", "BTC-USDT", "1h")
    assert other.path(tmp_path) == KEY.path(tmp_path)
    with caplog.at_level(logging.WARNING, logger="data.cache"):
        assert read_cache(other, tmp_path) is None
    assert "holds 'BTC/USDT'" in caplog.text


def test_a_cache_that_breaks_a_rule_is_not_served(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bars = synthetic_ohlcv(10)
    bars.iloc[4, 1] = -1.0  # a negative high, written by some older bug
    write_cache(KEY, tmp_path, CachedBars(bars, 0))
    with caplog.at_level(logging.WARNING, logger="data.cache"):
        assert read_cache(KEY, tmp_path) is None
    assert "breaks rule 'price_positive'" in caplog.text


def test_merge_is_sorted_unique_and_prefers_new_rows() -> None:
    bars = synthetic_ohlcv(10)
    old = bars.iloc[:6]
    new = bars.iloc[4:].copy()
    new.iloc[0, 4] = 999.0  # a revised volume for an overlapping bar
    merged = merge_bars(old, new)
    assert merged.index.is_monotonic_increasing
    assert merged.index.is_unique
    assert len(merged) == 10
    assert merged["volume"].iloc[4] == 999.0
    assert merge_bars(new, old).index.is_monotonic_increasing
