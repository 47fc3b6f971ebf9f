"""Parity: a replay through the live loop trades exactly as the backtest of the same bars.

Two years of real BTC/USDT hourly bars go through `trading.replay` (TradingLoop + PaperBroker
+ RiskManager + journal, one bar at a time on a simulated clock) and through the numba backtest
kernel. Entry and exit bars, side, size and prices must agree within 1e-9 relative.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backtest.engine import BacktestConfig, run_backtest
from core.domain import OrderKind
from data.loader import load_ohlcv
from journal import Journal
from risk.config import RiskConfig
from tests.conftest import BTC_1H_2022
from trading.replay import replay
from trading.setup import StrategySettings

TWO_YEARS = 2 * 365 * 24


@pytest.fixture(scope="module")
def two_years(shared_data: Path) -> pd.DataFrame:
    return load_ohlcv(shared_data / BTC_1H_2022).iloc[:TWO_YEARS]


def replay_trades(bars: pd.DataFrame, strategy: StrategySettings, path: Path) -> pd.DataFrame:
    result = replay({"BTC/USDT": bars}, strategy, journal_path=path)
    assert result.finished
    with Journal(path) as journal:
        fills = journal.fills()
    rows: list[dict[str, object]] = []
    for fill in fills:
        if fill.kind is OrderKind.ENTRY:
            rows.append({"entry_time": pd.Timestamp(fill.at), "size": float(fill.amount),
                         "entry_price": float(fill.price), "exit_time": pd.NaT,
                         "exit_price": np.nan, "exit_reason": "end"})
        else:
            rows[-1].update(exit_time=pd.Timestamp(fill.at), exit_price=float(fill.price),
                            exit_reason="stop" if fill.kind is OrderKind.STOP else "exit")
    return pd.DataFrame(rows)


def backtest_trades(bars: pd.DataFrame, strategy: StrategySettings) -> pd.DataFrame:
    config = BacktestConfig(
        symbol="BTC/USDT", init_cash=strategy.init_cash, fee=strategy.fee,
        slippage=strategy.slippage, strategy=strategy.strategy, risk=strategy.risk,
        default_position_pct=strategy.default_position_pct,
        kelly_min_trades=strategy.kelly_min_trades, flatten_on_halt=strategy.flatten_on_halt,
    )
    trades = run_backtest(bars, config).trades()
    reasons = trades["exit_reason"].replace({"signal": "exit", "halt": "exit"})
    open_at_end = trades["exit_reason"] == "end"
    return trades.assign(
        exit_reason=reasons,
        exit_time=trades["exit_time"].where(~open_at_end),
        exit_price=trades["exit_price"].where(~open_at_end),
    )


def assert_same_trades(live: pd.DataFrame, kernel: pd.DataFrame) -> None:
    assert len(live) == len(kernel) > 0
    for column in ("entry_time", "exit_time", "exit_reason"):
        assert live[column].tolist() == kernel[column].tolist(), column
    for column in ("size", "entry_price", "exit_price"):
        np.testing.assert_allclose(
            live[column].to_numpy(), kernel[column].to_numpy(), rtol=1e-9, atol=0,
            equal_nan=True, err_msg=column,
        )


@pytest.mark.parametrize(
    "strategy",
    [
        # The defaults: 50 trades at the default size, then half-Kelly of the measured edge.
        StrategySettings(),
        # Never leaves the warm-up size: every entry signal trades (hundreds of trades).
        StrategySettings(kelly_min_trades=10**6),
    ],
    ids=["defaults", "always-default-size"],
)
def test_replay_trades_like_the_backtest(
    two_years: pd.DataFrame, strategy: StrategySettings, tmp_path: Path
) -> None:
    live = replay_trades(two_years, strategy, tmp_path / "journal.sqlite3")
    assert_same_trades(live, backtest_trades(two_years, strategy))


def test_replay_kill_switches_like_the_backtest(shared_data: Path, tmp_path: Path) -> None:
    # Tight limits and a full-size position make the daily pause and the drawdown latch fire.
    bars = load_ohlcv(shared_data / BTC_1H_2022).iloc[: 24 * 120]
    risk = RiskConfig(max_position_pct=0.9, daily_loss_limit_pct=0.01, max_drawdown_pct=0.03,
                      cooldown_after_losses=2, cooldown_minutes=180, max_entries_per_day=3)
    strategy = replace(StrategySettings(risk=risk), default_position_pct=0.9,
                       kelly_min_trades=10**6)
    live = replay_trades(bars, strategy, tmp_path / "journal.sqlite3")
    kernel = backtest_trades(bars, strategy)
    assert_same_trades(live, kernel)
    result = run_backtest(bars, BacktestConfig(
        risk=risk, default_position_pct=0.9, kelly_min_trades=10**6))
    halts = result.halts()
    assert {"daily_pause", "daily_clear", "drawdown_latch"} <= set(halts["kind"])
    kernel_halts = [(pd.Timestamp(t), k) for t, k in zip(halts["time"], halts["kind"],
                                                          strict=True)]
    with Journal(tmp_path / "journal.sqlite3") as journal:
        journaled = [(pd.Timestamp(h.at), str(h.kind)) for h in reversed(journal.recent_halts(100))
                     if str(h.kind) in ("daily_pause", "daily_clear", "drawdown_latch")]
    assert journaled == kernel_halts
