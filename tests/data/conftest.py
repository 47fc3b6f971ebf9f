"""Fixtures for the data layer: a simulated clock, the fake Binance and a ccxt client on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from core.clock import SimulatedClock
from data.fetcher import make_exchange
from data.synthetic import synthetic_ohlcv
from tests.data.scenario import HISTORY_START, NOW
from tests.fake_binance import FakeBinance


@pytest.fixture
def clock() -> SimulatedClock:
    """A clock at NOW that only moves when a test moves it."""
    return SimulatedClock(NOW)


@pytest.fixture
def btc_history() -> pd.DataFrame:
    """The full BTCUSDT 1h history the fake serves (it reveals bars up to the clock)."""
    return synthetic_ohlcv(8000, start=HISTORY_START.to_pydatetime(), seed=7, start_price=42_000.0)


@pytest.fixture
def fake_binance(clock: SimulatedClock, btc_history: pd.DataFrame) -> Iterator[FakeBinance]:
    """A running fake Binance spot API serving ``btc_history`` as BTCUSDT 1h."""
    with FakeBinance(clock=clock) as fake:
        fake.set_klines("BTCUSDT", "1h", btc_history)
        yield fake


@pytest.fixture
def exchange(fake_binance: FakeBinance) -> Any:
    """The real ccxt binance client, its API URLs pointed at the fake (no rate-limit sleeps)."""
    return make_exchange("binance", base_url=fake_binance.url, rate_limit=False)


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    """An empty cache folder for one test."""
    return tmp_path / "cache"
