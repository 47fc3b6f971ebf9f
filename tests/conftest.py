"""Shared fixtures: the real market data in ../shared/data, skipped with a reason when absent."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from core.clock import SystemClock
from data.synthetic import synthetic_ohlcv
from tests.fake_binance import FakeBinance

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"

BTC_1H_2017 = "BTCUSDT_1h_binance_spot_2017-08-17_2024-04-21.csv"
BTC_1H_2022 = "BTCUSDT_1h_binance_spot_2022-01-01_2025-05-05.csv"
BTC_1M_2025 = "BTCUSDT_1m_binance_spot_2025-05-20_2025-08-18.csv.gz"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Folder of real OHLCV files; tests using it skip in a clone without ../shared."""
    if not SHARED_DATA.is_dir():
        if os.environ.get("TRADINGBOT_REQUIRE_SHARED_DATA"):
            pytest.fail(f"CI requires the real market data at {SHARED_DATA}")
        pytest.skip(f"real market data not found at {SHARED_DATA} (a user clone has no ../shared)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def strace() -> Path:
    """The strace binary the crash harnesses kill the bot with; CI installs it (.ci/run)."""
    import shutil

    found = shutil.which("strace")
    if found is None:
        if os.environ.get("TRADINGBOT_REQUIRE_SHARED_DATA"):
            pytest.fail("CI requires strace for the crash harness (.ci/run installs it)")
        pytest.skip("strace is not installed (apt-get install strace) for the crash harness")
    return Path(found)


@pytest.fixture
def live_fake() -> Iterator[FakeBinance]:
    """A fake Binance with 600 closed hourly BTC/USDT bars up to now (the wall clock)."""
    now = SystemClock().now()
    start = (now - timedelta(hours=600)).replace(minute=0, second=0, microsecond=0)
    history = synthetic_ohlcv(601, timeframe="1h", start=start, seed=5, start_price=40_000.0)
    with FakeBinance(clock=SystemClock()) as fake:
        fake.set_klines("BTCUSDT", "1h", history)
        yield fake
