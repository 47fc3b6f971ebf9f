"""Golden figures on the real Binance files in ../shared/data, as its README states them."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pandas as pd
import pytest

from data.integrity import check_ohlcv
from data.loader import load_ohlcv
from tests.conftest import BTC_1H_2017

pytestmark = pytest.mark.shared_data

# file: rows, first bar, last bar, gaps, missing bars, longest gap (bars, after) or None
GOLDEN: dict[str, tuple[int, str, str, int, int, tuple[int, str] | None]] = {
    BTC_1H_2017: (
        58_419,
        "2017-08-17 04:00",
        "2024-04-21 14:00",
        28,
        128,
        (33, "2018-02-08 00:00"),
    ),
    "BTCUSDT_1h_binance_spot_2022-01-01_2025-05-05.csv": (
        29_303,
        "2022-01-01 00:00",
        "2025-05-05 23:00",
        1,
        1,
        (1, "2023-03-24 12:00"),
    ),
    "ETHUSDT_1h_binance_spot_2022-01-01_2025-04-30.csv": (
        29_178,
        "2022-01-01 00:00",
        "2025-04-30 18:00",
        1,
        1,
        (1, "2023-03-24 12:00"),
    ),
    "DOGEUSDT_1h_binance_spot_2022-01-01_2025-05-05.csv": (
        29_282,
        "2022-01-01 00:00",
        "2025-05-05 02:00",
        1,
        1,
        (1, "2023-03-24 12:00"),
    ),
    "BTCUSDT_1h_binance_usdm_perp_2019-09-08_2023-06-29.csv": (
        33_364,
        "2019-09-08 17:00",
        "2023-06-29 20:00",
        0,
        0,
        None,
    ),
    "BTCUSDT_1m_binance_spot_2025-05-20_2025-08-18.csv.gz": (
        130_708,
        "2025-05-20 00:00",
        "2025-08-18 18:27",
        0,
        0,
        None,
    ),
    "ETHUSDT_1m_binance_spot_2025-05-20_2025-08-18.csv.gz": (
        130_708,
        "2025-05-20 00:00",
        "2025-08-18 18:27",
        0,
        0,
        None,
    ),
}


def _utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def test_every_file_in_the_folder_is_known_and_loads(shared_data: Path) -> None:
    files = sorted(p.name for p in shared_data.iterdir() if p.name != "README.md")
    assert set(GOLDEN) <= set(files)
    for name in files:  # a file added later must load too, golden figures or not
        frame = load_ohlcv(shared_data / name)
        if name in GOLDEN:
            assert len(frame) == GOLDEN[name][0]


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_rows_range_and_gaps_match_the_readme(shared_data: Path, name: str) -> None:
    rows, first, last, gaps, missing, longest = GOLDEN[name]
    frame = load_ohlcv(shared_data / name)
    report = check_ohlcv(frame, source=name)
    assert report.timeframe == ("1m" if "_1m_" in name else "1h")
    assert (report.rows, report.first, report.last) == (rows, _utc(first), _utc(last))
    assert (report.count, report.missing_bars) == (gaps, missing)
    if longest is None:
        assert report.longest is None
    else:
        assert report.longest is not None
        assert (report.longest.missing, report.longest.after) == (longest[0], _utc(longest[1]))


def test_each_gap_of_the_2017_file_matches_the_readme_list(shared_data: Path) -> None:
    readme = (shared_data / "README.md").read_text()
    section = readme.split(f"### `{BTC_1H_2017}`")[1].split("###")[0]
    listed = re.findall(r"(\d{4}-\d\d-\d\d \d\d:\d\d) \(\+(\d+)\)", section)
    report = check_ohlcv(load_ohlcv(shared_data / BTC_1H_2017), timeframe="1h")
    assert [(g.after, g.missing) for g in report.gaps] == [(_utc(t), int(n)) for t, n in listed]
    assert len(listed) == 28


def test_first_row_of_the_2017_file_is_the_first_binance_kline(shared_data: Path) -> None:
    first = load_ohlcv(shared_data / BTC_1H_2017).iloc[0]
    assert first.tolist() == [4261.48, 4313.62, 4261.32, 4308.83, 47.181009]


def test_the_58k_row_file_loads_fast(shared_data: Path) -> None:
    load_ohlcv(shared_data / BTC_1H_2017)  # warm the page cache and imports
    started = time.perf_counter()
    load_ohlcv(shared_data / BTC_1H_2017)
    # ~15 ms measured; the bound only catches a fall back to row-by-row parsing.
    assert time.perf_counter() - started < 0.5
