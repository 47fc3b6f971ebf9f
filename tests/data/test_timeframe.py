"""Timeframe names, lengths, grid anchors and inference."""

from __future__ import annotations

import pandas as pd
import pytest

from core.errors import ConfigError, DataError
from data.timeframe import grid_origin_ms, infer_timeframe, timeframe_ms


@pytest.mark.parametrize(
    ("name", "ms"),
    [
        ("1s", 1_000),
        ("1m", 60_000),
        ("15m", 900_000),
        ("1h", 3_600_000),
        ("4h", 14_400_000),
        ("1d", 86_400_000),
        ("3d", 259_200_000),
        ("1w", 604_800_000),
    ],
)
def test_timeframe_ms(name: str, ms: int) -> None:
    assert timeframe_ms(name) == ms


@pytest.mark.parametrize("bad", ["1M", "2m", "1H", "", "60"])
def test_bad_timeframe_names_it_and_the_allowed_values(bad: str) -> None:
    with pytest.raises(ConfigError, match=rf"unknown timeframe '{bad}'; allowed: 1s, 1m, .*1w$"):
        timeframe_ms(bad)


def test_weekly_bars_open_on_monday() -> None:
    monday = pd.Timestamp("2024-01-01", tz="UTC")  # a Monday
    assert (monday.value // 1_000_000 - (grid_origin_ms("1w") or 0)) % timeframe_ms("1w") == 0
    assert grid_origin_ms("1h") == 0
    assert grid_origin_ms("3d") is None


def test_infer_timeframe_takes_the_most_common_step() -> None:
    index = pd.DatetimeIndex(
        ["2024-01-01 00:00", "2024-01-01 00:15", "2024-01-01 00:30", "2024-01-01 02:00"], tz="UTC"
    )
    assert infer_timeframe(index) == "15m"


def test_infer_timeframe_needs_two_rows_and_a_known_step() -> None:
    with pytest.raises(DataError, match="cannot infer the timeframe from 1 row"):
        infer_timeframe(pd.DatetimeIndex(["2024-01-01"], tz="UTC"))
    odd = pd.DatetimeIndex(["2024-01-01 00:00", "2024-01-01 00:07"], tz="UTC")
    with pytest.raises(DataError, match="420000 ms, which is no known timeframe"):
        infer_timeframe(odd)
