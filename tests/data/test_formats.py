"""Data files in the formats people have: `date` or `timestamp`, ISO text, seconds or ms, any case.

Each format holds the same bars and must load to the frame today's CSV (ms `timestamp`) gives.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from core.errors import DataError
from data.loader import load_ohlcv, save_ohlcv_csv
from data.synthetic import synthetic_ohlcv
from main import main

COLUMNS = ["open", "high", "low", "close", "volume"]
Times = Callable[[pd.DatetimeIndex], list[object]]


@pytest.fixture
def bars() -> pd.DataFrame:
    """Forty-eight valid hourly bars from 2024-01-01 00:00 UTC."""
    return synthetic_ohlcv(48, start="2024-01-01", seed=3)


@pytest.fixture
def expected(tmp_path: Path, bars: pd.DataFrame) -> pd.DataFrame:
    """The bars as today's CSV (ms `timestamp`) loads them."""
    return load_ohlcv(save_ohlcv_csv(bars, tmp_path / "today.csv"))


def _write(path: Path, bars: pd.DataFrame, times: list[object], *, header: list[str]) -> Path:
    table = pd.DataFrame({header[0]: times})
    for name, column in zip(header[1:], COLUMNS, strict=True):
        table[name] = bars[column].to_numpy()
    if path.name.endswith(".parquet"):
        table.to_parquet(path, index=False)
    else:
        table.to_csv(path, index=False, float_format="%.17g")
    return path


def _iso(fmt: str) -> Times:
    return lambda index: [f"{t:{fmt}}" for t in index]


FORMATS: dict[str, tuple[str, Times, list[str]]] = {
    "iso_z": ("x.csv", _iso("%Y-%m-%dT%H:%M:%SZ"), ["timestamp", *COLUMNS]),
    "iso_offset": ("x.csv", _iso("%Y-%m-%dT%H:%M:%S+00:00"), ["timestamp", *COLUMNS]),
    "iso_naive": ("x.csv", _iso("%Y-%m-%d %H:%M:%S"), ["timestamp", *COLUMNS]),
    "iso_other_zone": (
        "x.csv", lambda index: [t.tz_convert("Europe/Berlin").isoformat() for t in index],
        ["timestamp", *COLUMNS],
    ),
    "seconds": ("x.csv", lambda index: list(index.as_unit("s").asi8), ["timestamp", *COLUMNS]),
    "milliseconds_gz": (
        "x.csv.gz", lambda index: list(index.as_unit("ms").asi8), ["timestamp", *COLUMNS]
    ),
    "capitalised": (
        "x.csv", lambda index: list(index.as_unit("ms").asi8),
        ["Timestamp", "Open", "High", "Low", "Close", "Volume"],
    ),
    "upper_case": (
        "x.csv", lambda index: list(index.as_unit("s").asi8),
        ["TIMESTAMP", "OPEN", "HIGH", "LOW", "CLOSE", "VOLUME"],
    ),
    "freqtrade_date": ("x.csv", _iso("%Y-%m-%d %H:%M:%S+00:00"), ["date", *COLUMNS]),
    "Date_seconds": (
        "x.csv", lambda index: list(index.as_unit("s").asi8),
        ["Date", "Open", "High", "Low", "Close", "Volume"],
    ),
    "parquet_date_text": ("x.parquet", _iso("%Y-%m-%dT%H:%M:%SZ"), ["date", *COLUMNS]),
    "parquet_Date_seconds": (
        "x.parquet", lambda index: list(index.as_unit("s").asi8), ["Date", *COLUMNS]
    ),
}


@pytest.mark.parametrize("kind", list(FORMATS))
def test_each_format_loads_to_the_frame_of_todays_csv(
    tmp_path: Path, bars: pd.DataFrame, expected: pd.DataFrame, kind: str
) -> None:
    name, times, header = FORMATS[kind]
    path = _write(tmp_path / name, bars, times(pd.DatetimeIndex(bars.index)), header=header)
    pd.testing.assert_frame_equal(load_ohlcv(path), expected)


def test_a_parquet_datetime_index_named_date_loads(
    tmp_path: Path, bars: pd.DataFrame, expected: pd.DataFrame
) -> None:
    path = tmp_path / "x.parquet"
    bars.rename_axis("date").to_parquet(path)
    pd.testing.assert_frame_equal(load_ohlcv(path), expected)


def test_a_date_and_a_timestamp_column_read_the_timestamp(
    tmp_path: Path, bars: pd.DataFrame, expected: pd.DataFrame
) -> None:
    path = _write(tmp_path / "x.csv", bars, list(bars.index.as_unit("ms").asi8),
                  header=["timestamp", *COLUMNS])
    table = pd.read_csv(path)
    table["date"] = "not read"
    table.to_csv(path, index=False, float_format="%.17g")
    pd.testing.assert_frame_equal(load_ohlcv(path), expected)


@pytest.mark.parametrize(
    ("kind", "line"),
    [
        ("seconds", "timestamps read as epoch seconds (first 1704067200 = 2024-01-01 00:00 UTC)"),
        ("iso_naive", "'timestamp' holds times without a time zone (first '2024-01-01 00:00:00');"
                      " read as UTC"),
    ],
)
def test_an_assumed_format_is_said_once_at_info(
    tmp_path: Path, bars: pd.DataFrame, caplog: pytest.LogCaptureFixture, kind: str, line: str
) -> None:
    name, times, header = FORMATS[kind]
    path = _write(tmp_path / name, bars, times(pd.DatetimeIndex(bars.index)), header=header)
    with caplog.at_level(logging.INFO, logger="data"):
        load_ohlcv(path)
    said = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert said == [f"{path}: {line}"]


@pytest.mark.parametrize("kind", ["milliseconds_gz", "iso_z", "iso_offset"])
def test_an_unambiguous_format_says_nothing(
    tmp_path: Path, bars: pd.DataFrame, caplog: pytest.LogCaptureFixture, kind: str
) -> None:
    name, times, header = FORMATS[kind]
    path = _write(tmp_path / name, bars, times(pd.DatetimeIndex(bars.index)), header=header)
    with caplog.at_level(logging.INFO, logger="data"):
        load_ohlcv(path)
    assert [r for r in caplog.records if r.levelno >= logging.INFO] == []


BAR = ",1,2,1,1,5\n"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("date,open,high,low,close,volume\n20220101" + BAR,
         "'date' column holds 20220101 — neither ISO text nor epoch seconds/milliseconds"),
        ("timestamp,open,high,low,close,volume\n1704067200000000" + BAR,
         "'timestamp' column holds 1704067200000000 — epoch microseconds? only epoch seconds or "
         "milliseconds are read"),
        ("timestamp,open,high,low,close,volume\n1704067200000000000" + BAR,
         "— epoch nanoseconds?"),
        ("timestamp,open,high,low,close,volume\n50000000000" + BAR,
         "'timestamp' column holds 50000000000 — neither ISO text nor epoch"),
        ("Date,Open,High,Low,Close,Volume\n01/02/2024 00:00" + BAR,
         "'Date' column holds '01/02/2024 00:00' — neither ISO text nor epoch"),
        ("timestamp,open,high,low,close,volume\n1704067200" + BAR + "1704070800000" + BAR,
         "row 1 column 'timestamp' value 1704070800000 is not seconds since the epoch, as the "
         "first row is"),
        ("date,open,high,low,close,volume\n2024-01-01T00:00Z" + BAR + "yesterday" + BAR,
         "row 1 column 'date' value 'yesterday' is not ISO 8601 date-time text"),
        ("date,open,high,low,close,volume\n2024-01-01T00:00Z" + BAR + BAR,
         "row 1 column 'date' value nan is empty"),
        ("date,open,high,low,close,volume\n2024-01-01T00:00:00.0005Z" + BAR,
         "row 0 column 'date' value '2024-01-01T00:00:00.0005Z' is not a whole millisecond"),
        ("timestamp,open,high,low,Close,close,volume\n1704067200,1,2,1,1,1,5\n",
         "columns 'Close' and 'close' are both 'close'"),
        ("when,open,high,low,close,volume\n1704067200" + BAR,
         "missing column(s) ['timestamp']; expected a timestamp (or date) column"),
    ],
)
def test_a_refused_file_gets_one_line_saying_why(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "x.csv"
    path.write_text(content)
    with pytest.raises(DataError) as info:
        load_ohlcv(path)
    text = str(info.value)
    assert text.startswith(f"{path}: ")
    assert message in text
    assert "\n" not in text


def test_the_integrity_rules_apply_to_every_format(tmp_path: Path, bars: pd.DataFrame) -> None:
    times = [f"{t:%Y-%m-%d %H:%M}" for t in pd.DatetimeIndex(bars.index)]
    times[5] = times[4]
    path = _write(tmp_path / "x.csv", bars, times, header=["Date", *COLUMNS])
    with pytest.raises(DataError) as info:
        load_ohlcv(path)
    assert info.value.rule == "duplicate"
    assert info.value.row == 5


def test_the_cli_prints_a_refusal_in_one_line_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "x.csv"
    path.write_text("date,open,high,low,close,volume\n20220101" + BAR)
    assert main(["backtest", "--data", str(path)], environ={}) == 2
    err = capsys.readouterr().err
    assert err == (f"error: {path}: 'date' column holds 20220101 — neither ISO text nor epoch "
                   "seconds/milliseconds\n")
