"""Fixtures of the trading tests."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from core.clock import SystemClock
from data.synthetic import synthetic_ohlcv
from tests.fake_binance import FakeBinance


@pytest.fixture
def live_fake() -> Iterator[FakeBinance]:
    """A fake Binance with 600 closed hourly BTC/USDT bars up to now (the wall clock)."""
    now = SystemClock().now()
    start = (now - timedelta(hours=600)).replace(minute=0, second=0, microsecond=0)
    history = synthetic_ohlcv(601, timeframe="1h", start=start, seed=5, start_price=40_000.0)
    with FakeBinance(clock=SystemClock()) as fake:
        fake.set_klines("BTCUSDT", "1h", history)
        yield fake
