"""Fixtures for the signal tests: real OHLCV frames read directly, and tiny hand-made frames.

The CSVs are read here with pandas on purpose, so these tests do not depend on the data layer's
loader (developed separately); the frame follows the same convention (UTC open-time index named
"timestamp", float64 OHLCV columns).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest

from tests.conftest import BTC_1H_2017, BTC_1H_2022

DOGE_1H_2022 = "DOGEUSDT_1h_binance_spot_2022-01-01_2025-05-05.csv"

FrameMaker = Callable[[npt.ArrayLike], pd.DataFrame]


def read_ohlcv_csv(path: Path) -> pd.DataFrame:
    """Read one of the shared CSVs (timestamp in ms) into the project's OHLCV frame."""
    raw = pd.read_csv(path)
    index = pd.DatetimeIndex(pd.to_datetime(raw.pop("timestamp"), unit="ms", utc=True))
    frame = raw.astype("float64")
    frame.index = index.rename("timestamp")
    return frame


@pytest.fixture(scope="session")
def btc_2017(shared_data: Path) -> pd.DataFrame:
    """BTC/USDT 1h, Binance spot, 2017-08-17 .. 2024-04-21 (58,419 bars, 28 gaps)."""
    return read_ohlcv_csv(shared_data / BTC_1H_2017)


@pytest.fixture(scope="session")
def btc_2022(shared_data: Path) -> pd.DataFrame:
    """BTC/USDT 1h, Binance spot, 2022-01-01 .. 2025-05-05 (29,303 bars)."""
    return read_ohlcv_csv(shared_data / BTC_1H_2022)


@pytest.fixture(scope="session")
def doge_2022(shared_data: Path) -> pd.DataFrame:
    """DOGE/USDT 1h, Binance spot: prices around 0.1, to check nothing depends on scale."""
    return read_ohlcv_csv(shared_data / DOGE_1H_2022)


def frame_from_closes(closes: npt.ArrayLike) -> pd.DataFrame:
    """Hourly OHLCV frame from closes (open = high = low = close, volume 1)."""
    values = np.asarray(closes, dtype=np.float64)
    index = pd.date_range("2024-01-01", periods=values.size, freq="h", tz="UTC", name="timestamp")
    return pd.DataFrame(
        {"open": values, "high": values, "low": values, "close": values, "volume": 1.0},
        index=index,
    )


@pytest.fixture
def make_frame() -> FrameMaker:
    """Build an hourly UTC OHLCV frame from a list of closes."""
    return frame_from_closes
