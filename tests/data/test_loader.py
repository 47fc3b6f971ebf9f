"""Reading CSV, CSV.gz and parquet files, and the one-line errors for broken ones."""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest

from core.errors import DataError
from data.loader import load_ohlcv
from data.synthetic import synthetic_ohlcv

HEADER = "timestamp,open,high,low,close,volume\n"


@pytest.fixture
def bars() -> pd.DataFrame:
    """Fifty valid hourly bars."""
    return synthetic_ohlcv(50, seed=9)


def _as_table(bars: pd.DataFrame) -> pd.DataFrame:
    table = bars.reset_index(drop=True)
    table.insert(0, "timestamp", bars.index.as_unit("ms").asi8)
    return table


def test_csv_roundtrip_is_exact(tmp_path: Path, bars: pd.DataFrame) -> None:
    path = tmp_path / "x.csv"
    _as_table(bars).to_csv(path, index=False, float_format="%.17g")
    pd.testing.assert_frame_equal(load_ohlcv(path), bars)


def test_gzip_csv_and_extra_columns(tmp_path: Path, bars: pd.DataFrame) -> None:
    table = _as_table(bars)
    table["trades"] = 7  # extra columns are ignored
    path = tmp_path / "x.csv.gz"
    table.to_csv(path, index=False, float_format="%.17g", compression="gzip")
    pd.testing.assert_frame_equal(load_ohlcv(path), bars)


def test_parquet_with_ms_column_or_datetime_index(tmp_path: Path, bars: pd.DataFrame) -> None:
    _as_table(bars).to_parquet(tmp_path / "a.parquet", index=False)
    bars.to_parquet(tmp_path / "b.parquet")
    pd.testing.assert_frame_equal(load_ohlcv(tmp_path / "a.parquet"), bars)
    pd.testing.assert_frame_equal(load_ohlcv(tmp_path / "b.parquet"), bars)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("none.csv", None, "none.csv: no such file"),
        ("x.txt", HEADER, "unsupported file type"),
        ("x.csv", "timestamp,open,high,low,close\n1,2,3,1,2\n", "missing column(s) ['volume']"),
        ("x.csv", HEADER, "the file has no rows"),
        ("x.csv", "", "cannot read the file"),
        ("x.csv", HEADER + "1704067200000,1,2,1,abc,5\n", "row 0 column 'close' value 'abc'"),
        (
            "x.csv",
            HEADER + "1704067200000,1,2,1,1,5\n1704070800000.5,1,2,1,1,5\n",
            "row 1 column 'timestamp' value 1704070800000.5 is not whole milliseconds",
        ),
        (
            "x.csv",
            HEADER + "1704067200000,1,2,1,1,5\n1704070800,1,2,1,1,5\n",
            "row 1 column 'timestamp' value 1704070800 is not milliseconds since the epoch",
        ),
        ("x.csv", HEADER + "1704067200000,1,2,1,1,5\n,1,2,1,1,5\n", "row 1 column 'timestamp'"),
        ("x.csv.gz", "not gzip at all", "cannot read the file"),
        ("x.parquet", "not parquet", "cannot read the file"),
    ],
)
def test_broken_files_give_one_line_naming_the_file(
    tmp_path: Path, name: str, content: str | None, message: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(DataError) as info:
        load_ohlcv(path)
    text = str(info.value)
    assert text.startswith(str(path))
    assert message in text
    assert "\n" not in text


def test_truncated_gzip_is_a_data_error(tmp_path: Path, bars: pd.DataFrame) -> None:
    data = gzip.compress(_as_table(bars).to_csv(index=False).encode())
    path = tmp_path / "cut.csv.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"cut\.csv\.gz: cannot read the file"):
        load_ohlcv(path)
