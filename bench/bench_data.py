"""The benchmark's input files, built from the real data in ../shared/data.

- ``hourly_year``: the last 8,760 bars (one year) of
  BTCUSDT_1h_binance_spot_2022-01-01_2025-05-05.csv, values unchanged (2024-05-06 00:00 to
  2025-05-05 23:00 UTC; the file has no gap in that range).
- ``minute_year``: 525,600 contiguous 1m bars (365 days from 2023-01-01 00:00 UTC) chained from
  the real 1m files. Each source bar becomes a *relative bar*: its open, high, low and close
  divided by the previous bar's close (bars 1..130,707 of each file, so 130,707 relative bars per
  file). The relative bars are taken in this fixed order, each file from its first to its last
  bar: BTC, ETH, BTC, ETH, then the first 2,772 of BTC again (4 x 130,707 + 2,772 = 525,600).
  Starting from the BTC file's first close, every bar is ``previous close x relative bar``, so
  each bar keeps its real shape (high >= open/close >= low survives: the ratios keep their order
  under rounding) and the joins are ordinary one-minute moves. Volume is the source bar's.
  Nothing is random, so there is no seed: the same files give the same bars bit for bit.

Both are written as parquet in the house format (UTC index named ``timestamp``), which is also
what the seed's fetcher caches and reads back, so every contender reads the same file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from data import load_ohlcv, ohlcv_frame

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
HOURLY_SOURCE = "BTCUSDT_1h_binance_spot_2022-01-01_2025-05-05.csv"
MINUTE_SOURCES = (
    "BTCUSDT_1m_binance_spot_2025-05-20_2025-08-18.csv.gz",
    "ETHUSDT_1m_binance_spot_2025-05-20_2025-08-18.csv.gz",
)
HOURLY_BARS = 8_760
MINUTE_BARS = 525_600
MINUTE_START = pd.Timestamp("2023-01-01", tz="UTC")


def hourly_year(shared: Path = SHARED) -> pd.DataFrame:
    """The last 8,760 hourly bars of the 2022-2025 BTC/USDT file."""
    return load_ohlcv(shared / HOURLY_SOURCE, timeframe="1h").iloc[-HOURLY_BARS:]


def relative_bars(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(n-1, 4) open/high/low/close over the previous close, and the (n-1,) volumes."""
    ohlc = frame[["open", "high", "low", "close"]].to_numpy(np.float64)
    prev_close = ohlc[:-1, 3:4]
    return ohlc[1:] / prev_close, frame["volume"].to_numpy(np.float64)[1:]


def minute_year(
    shared: Path = SHARED, n_bars: int = MINUTE_BARS, *, first: int = 0, rotate: float = 0.0
) -> pd.DataFrame:
    """525,600 contiguous 1m bars chained from the BTC and ETH 1m files (see the module notes).

    ``first`` 1 starts with the ETH file's relative bars; ``rotate`` starts each file's
    relative bars that far into it (0.5: from its middle, wrapping round): the basket's other
    two minute markets, as deterministic as the first.
    """
    sources = [load_ohlcv(shared / name, timeframe="1m") for name in MINUTE_SOURCES]
    parts = [relative_bars(f) for f in sources]
    parts = [(np.roll(rel, -int(rotate * len(rel)), axis=0),
              np.roll(vol, -int(rotate * len(vol)))) for rel, vol in parts]
    rel_chunks: list[np.ndarray] = []
    vol_chunks: list[np.ndarray] = []
    have = 0
    k = first
    while have < n_bars:
        rel, vol = parts[k % len(parts)]
        take = min(len(rel), n_bars - have)
        rel_chunks.append(rel[:take])
        vol_chunks.append(vol[:take])
        have += take
        k += 1
    rel = np.concatenate(rel_chunks)
    # cumprod multiplies left to right, so close[i] is exactly prev_close[i] * rel_close[i]: the
    # same product as high and open, which keeps high >= close >= low after rounding.
    start = float(sources[0]["close"].iloc[0])
    path = np.cumprod(np.concatenate(([start], rel[:, 3])))
    prev, closes = path[:-1], path[1:]
    values = np.column_stack([
        prev * rel[:, 0], prev * rel[:, 1], prev * rel[:, 2], closes, np.concatenate(vol_chunks)
    ])
    start_ms = MINUTE_START.value // 1_000_000
    ts = start_ms + 60_000 * np.arange(n_bars, dtype=np.int64)
    return ohlcv_frame(ts, values)


BASKET_SOURCES = {  # the last year of each real hourly file (ETH's ends five days earlier)
    "basket_eth_1h": "ETHUSDT_1h_binance_spot_2022-01-01_2025-04-30.csv",
    "basket_doge_1h": "DOGEUSDT_1h_binance_spot_2022-01-01_2025-05-05.csv",
}


def _last_year(name: str) -> Callable[[], pd.DataFrame]:
    return lambda: load_ohlcv(SHARED / name, timeframe="1h").iloc[-HOURLY_BARS:]


def write_inputs(folder: Path) -> dict[str, Path]:
    """Write the inputs as parquet into ``folder`` (reused when present); return their paths.

    hourly / minute: cases a-e. The basket (cases f, g): BTC's hourly year with ETH's and
    DOGE's last years, and the minute year with two more chained the other ways round.
    """
    folder.mkdir(parents=True, exist_ok=True)
    out = {"hourly": folder / "btc_1h_year.parquet", "minute": folder / "chained_1m_year.parquet",
           "basket_eth_1h": folder / "ETHUSDT_1h_year.parquet",
           "basket_doge_1h": folder / "DOGEUSDT_1h_year.parquet",
           "basket_b_1m": folder / "CHAINBUSDT_1m_year.parquet",
           "basket_c_1m": folder / "CHAINCUSDT_1m_year.parquet"}
    builders: dict[str, Callable[[], pd.DataFrame]] = {
        "hourly": hourly_year, "minute": minute_year,
        **{key: _last_year(name) for key, name in BASKET_SOURCES.items()},
        "basket_b_1m": lambda: minute_year(first=1),
        "basket_c_1m": lambda: minute_year(rotate=0.5)}
    for name, path in out.items():
        if not path.exists():
            builders[name]().to_parquet(path)
    return out
