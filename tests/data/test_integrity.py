"""Each integrity rule, hit through a bad file, names the file, the first bad row and the rule."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import DataError
from data.integrity import Gap, _distinct_sorted, check_ohlcv, empty_ohlcv
from data.loader import load_ohlcv
from data.synthetic import synthetic_ohlcv

HOUR_MS = 3_600_000
Table = pd.DataFrame  # the file's columns: timestamp (ms) and open..volume


def _table(n: int = 20) -> Table:
    bars = synthetic_ohlcv(n, seed=11)
    table = bars.reset_index(drop=True)
    table.insert(0, "timestamp", bars.index.as_unit("ms").asi8)
    return table


def _write(table: Table, path: Path) -> Path:
    table.to_csv(path, index=False)
    return path


def _swap_rows(t: Table) -> None:
    t.iloc[[7, 8]] = t.iloc[[8, 7]].to_numpy()


def _repeat_time(t: Table) -> None:
    t.loc[7, "timestamp"] = t.loc[6, "timestamp"]


def _blank_close(t: Table) -> None:
    t.loc[7, "close"] = np.nan


def _zero_open(t: Table) -> None:
    t.loc[7, "open"] = 0.0


def _negative_volume(t: Table) -> None:
    t.loc[7, "volume"] = -1.0


def _high_too_low(t: Table) -> None:
    t.loc[7, "high"] = max(t.loc[7, "open"], t.loc[7, "close"]) - 0.01


def _low_too_high(t: Table) -> None:
    t.loc[7, "low"] = min(t.loc[7, "open"], t.loc[7, "close"]) + 0.01


def _off_grid(t: Table) -> None:
    t.loc[7, "timestamp"] += 60_000


@pytest.mark.parametrize(
    ("breakage", "rule", "row", "detail"),
    [
        (_swap_rows, "unsorted", 8, "earlier than the row before"),
        (_repeat_time, "duplicate", 7, "repeats the row before"),
        (_blank_close, "nan", 7, "NaN or inf in open="),
        (_zero_open, "price_positive", 7, "a price is not positive: open=0.0"),
        (_negative_volume, "volume_negative", 7, "volume -1.0 is negative"),
        (_high_too_low, "high", 7, "< max(open, close)"),
        (_low_too_high, "low", 7, "> min(open, close)"),
        (_off_grid, "grid", 7, "not on the 1h bar grid"),
    ],
)
def test_each_rule_names_file_row_and_rule(
    tmp_path: Path, breakage: Callable[[Table], None], rule: str, row: int, detail: str
) -> None:
    table = _table()
    breakage(table)
    path = _write(table, tmp_path / "bad.csv")
    with pytest.raises(DataError) as info:
        load_ohlcv(path)
    error = info.value
    assert (error.source, error.row, error.rule) == (str(path), row, rule)
    stamp = pd.Timestamp(int(table.loc[row, "timestamp"]), unit="ms", tz="UTC")
    assert str(error).startswith(f"{path}: row {row} ({stamp}) breaks rule '{rule}': ")
    assert detail in str(error)
    assert "\n" not in str(error)


def test_the_earliest_bad_row_wins_over_rule_order(tmp_path: Path) -> None:
    table = _table()
    table.loc[5, "high"] = 1.0  # high rule at row 5
    table.loc[3, "volume"] = -2.0  # volume rule at row 3, listed before high anyway
    table.loc[9, "timestamp"] += 1  # grid at row 9
    with pytest.raises(DataError) as info:
        load_ohlcv(_write(table, tmp_path / "bad.csv"))
    assert (info.value.row, info.value.rule) == (3, "volume_negative")


def test_frame_convention_is_checked() -> None:
    bars = synthetic_ohlcv(5)
    with pytest.raises(DataError, match="rule 'columns'"):
        check_ohlcv(bars[["close", "open", "high", "low", "volume"]])
    with pytest.raises(DataError, match="are not float64"):
        check_ohlcv(bars.astype({"volume": "float32"}))
    with pytest.raises(DataError, match="DatetimeIndex in UTC"):
        check_ohlcv(bars.tz_convert("Europe/Paris"))
    with pytest.raises(DataError, match="named 'date', expected 'timestamp'"):
        check_ohlcv(bars.rename_axis("date"))


def test_gaps_are_counted_not_filled() -> None:
    bars = synthetic_ohlcv(100, seed=2)
    holed = bars.drop(bars.index[[10, 11, 12, 40, 70, 71]])
    report = check_ohlcv(holed, timeframe="1h", source="holed")
    assert (report.rows, report.count, report.missing_bars) == (94, 3, 6)
    assert report.longest == Gap(after=bars.index[9], missing=3)
    assert report.gaps[1] == Gap(after=bars.index[39], missing=1)
    assert report.summary() == "3 gaps / 6 missing bars, longest 3 after 2024-01-01 09:00 UTC"
    assert len(holed) == 94  # nothing was filled in


def test_timeframe_is_inferred_when_not_given() -> None:
    report = check_ohlcv(synthetic_ohlcv(50, timeframe="15m"))
    assert report.timeframe == "15m"
    assert check_ohlcv(empty_ohlcv()).rows == 0


def test_a_wrong_explicit_timeframe_shows_as_grid_error() -> None:
    with pytest.raises(DataError, match="rule 'grid'"):
        check_ohlcv(synthetic_ohlcv(50, timeframe="15m"), timeframe="1h")


def test_check_is_vectorised_fast_enough_for_a_million_bars() -> None:
    bars = synthetic_ohlcv(1_000_000, timeframe="1m")
    started = time.perf_counter()
    report = check_ohlcv(bars, timeframe="1m")
    # ~15 ms here; a Python loop over rows would take seconds. Generous for slow CI machines.
    assert time.perf_counter() - started < 1.0
    assert report.rows == 1_000_000


@given(st.lists(st.integers(min_value=-5, max_value=40), min_size=1, max_size=60))
def test_distinct_times_are_numpys_unique_for_sorted_unsorted_and_repeated_times(
    times: list[int],
) -> None:
    ts = np.asarray(times, dtype=np.int64)
    assert np.array_equal(_distinct_sorted(ts), np.unique(ts))
    ordered = np.unique(ts)
    assert np.array_equal(_distinct_sorted(ordered), ordered)
