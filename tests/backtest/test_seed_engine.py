"""The seed's Step 5 backtest, restated: golden figures on the real 2022-2025 BTC 1h file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backtest.engine import BacktestConfig
from backtest.seed_engine import (
    SeedResult,
    run_seed_backtest,
    seed_kelly,
    seed_signals,
    seed_trades,
)
from data import load_ohlcv
from signals.quant_signals import SignalParams
from tests.conftest import BTC_1H_2022


@pytest.fixture(scope="module")
def seed(shared_data: Path) -> SeedResult:
    """The seed's call with its own literals on the real file, freq='1h'."""
    return run_seed_backtest(load_ohlcv(shared_data / BTC_1H_2022), BacktestConfig(), "1h")


def test_golden_trades_and_sharpe(seed: SeedResult) -> None:
    stats = seed.portfolio.stats()
    assert stats["Total Trades"] == 543
    assert stats["Sharpe Ratio"] == pytest.approx(-0.4868, abs=1e-3)
    assert stats["Max Drawdown [%]"] == pytest.approx(63.85, abs=1e-2)
    assert stats["End Value"] == pytest.approx(4411.79, abs=1e-2)
    # dropna() drops the first 14 rows and 1 later row with a zero loss average.
    assert len(seed.frame) == 29_288


def test_trades_read_the_portfolio_and_label_stops(seed: SeedResult) -> None:
    trades = seed_trades(seed)
    rec = seed.portfolio.trades.records_readable
    assert len(trades) == 543
    np.testing.assert_allclose(trades["pnl"], rec["PnL"])
    assert trades["exit_reason"].value_counts().to_dict() == {"signal": 425, "stop": 118}
    stops = trades[trades["exit_reason"] == "stop"]
    # The seed's stops fill at the close, below the 1.5% stop: its flaw the full pipeline fixes.
    assert (stops["exit_price"] <= stops["stop_price"]).all()
    assert (stops["return_pct"].min()) < -3.0
    assert trades["entry_time"].dt.tz is not None


def test_kelly_inputs_the_seeds_way(seed: SeedResult) -> None:
    kelly = seed_kelly(seed)
    assert kelly.trades == 543
    assert kelly.win_rate == pytest.approx(0.24494, abs=1e-5)
    assert kelly.avg_win_pct == pytest.approx(0.034561, abs=1e-6)
    assert kelly.avg_loss_pct == pytest.approx(0.012619, abs=1e-6)


def test_signals_are_the_seeds_sma_rsi_with_dropna() -> None:
    close = [10.0, 11.0, 12.0, 11.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0]
    index = pd.date_range("2024-01-01", periods=len(close), freq="h", name="timestamp")
    frame = pd.DataFrame({"close": close}, index=index)
    out = seed_signals(frame, SignalParams(rsi_window=3, ema_fast=2, ema_slow=3))
    # Rows 0-2 lack 3 changes; rows 7-9 end three gains: loss average 0 -> NaN -> dropped.
    assert list(out.index) == list(index[3:7])
    assert out["rsi"].iloc[0] == pytest.approx(100 - 100 / (1 + (2 / 3) / (1 / 3)))
