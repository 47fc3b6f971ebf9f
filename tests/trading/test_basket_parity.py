"""Parity for a basket: BTC, ETH and DOGE 1h replayed on one paper account trade exactly as the
portfolio backtest of the same bars: symbol, entry and exit bars, size and prices within 1e-9
relative, and the same account-level halts, with the defaults and with tight limits under which
the kill switches, the basket limits and the cash constraint all decide."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backtest.engine import BacktestConfig
from backtest.portfolio import run_portfolio
from core.domain import OrderKind
from data.loader import load_ohlcv
from journal import Journal
from risk.config import RiskConfig
from signals.strategy_loader import load_strategy
from tests.conftest import BTC_1H_2022
from trading.replay import replay
from trading.setup import StrategySettings

FILES = {
    "BTC/USDT": BTC_1H_2022,
    "ETH/USDT": "ETHUSDT_1h_binance_spot_2022-01-01_2025-04-30.csv",
    "DOGE/USDT": "DOGEUSDT_1h_binance_spot_2022-01-01_2025-05-05.csv",
}


@pytest.fixture(scope="module")
def basket(shared_data: Path) -> dict[str, pd.DataFrame]:
    return {symbol: load_ohlcv(shared_data / name) for symbol, name in FILES.items()}


def replay_trades(frames: dict[str, pd.DataFrame], strategy: StrategySettings,
                  path: Path) -> pd.DataFrame:
    result = replay(frames, strategy, journal_path=path)
    assert result.finished
    with Journal(path) as journal:
        fills = journal.fills()
    rows: list[dict[str, object]] = []
    open_row: dict[str, dict[str, object]] = {}
    for fill in fills:
        if fill.kind is OrderKind.ENTRY:
            row: dict[str, object] = {
                "symbol": fill.symbol, "entry_time": pd.Timestamp(fill.at),
                "size": float(fill.amount), "entry_price": float(fill.price),
                "exit_time": pd.NaT, "exit_price": np.nan, "exit_reason": "end"}
            rows.append(row)
            open_row[fill.symbol] = row
        else:
            open_row.pop(fill.symbol).update(
                exit_time=pd.Timestamp(fill.at), exit_price=float(fill.price),
                exit_reason="stop" if fill.kind is OrderKind.STOP else "exit")
    return pd.DataFrame(rows)


def backtest_trades(frames: dict[str, pd.DataFrame], strategy: StrategySettings
                    ) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, int]]:
    config = BacktestConfig(
        symbol="BTC/USDT", init_cash=strategy.init_cash, fee=strategy.fee,
        slippage=strategy.slippage, strategy=strategy.strategy, risk=strategy.risk,
        default_position_pct=strategy.default_position_pct,
        kelly_min_trades=strategy.kelly_min_trades, flatten_on_halt=strategy.flatten_on_halt,
    )
    result = run_portfolio(frames, config)
    trades = result.trades()
    open_at_end = trades["exit_reason"] == "end"
    trades = trades.assign(
        exit_reason=trades["exit_reason"].replace({"signal": "exit", "halt": "exit"}),
        exit_time=trades["exit_time"].where(~open_at_end),
        exit_price=trades["exit_price"].where(~open_at_end),
    ).sort_values(["entry_time", "symbol"], key=_symbol_order(frames), kind="stable")
    return trades.reset_index(drop=True), result.halts(), result.rejections()


def _symbol_order(frames: dict[str, pd.DataFrame]):  # type: ignore[no-untyped-def]
    order = {symbol: k for k, symbol in enumerate(frames)}
    return lambda col: col.map(order) if col.name == "symbol" else col


def assert_same_trades(live: pd.DataFrame, kernel: pd.DataFrame,
                       frames: dict[str, pd.DataFrame]) -> None:
    live = live.sort_values(["entry_time", "symbol"], key=_symbol_order(frames),
                            kind="stable").reset_index(drop=True)
    assert len(live) == len(kernel) > 0
    for column in ("symbol", "entry_time", "exit_time", "exit_reason"):
        assert live[column].tolist() == kernel[column].tolist(), column
    for column in ("size", "entry_price", "exit_price"):
        np.testing.assert_allclose(
            live[column].to_numpy(), kernel[column].to_numpy(), rtol=1e-9, atol=0,
            equal_nan=True, err_msg=column,
        )


def journaled_halts(path: Path) -> list[tuple[pd.Timestamp, str]]:
    with Journal(path) as journal:
        return [(pd.Timestamp(h.at), str(h.kind)) for h in reversed(journal.recent_halts(10_000))
                if str(h.kind) in ("daily_pause", "daily_clear", "drawdown_latch")]


def test_a_basket_replays_like_the_portfolio_backtest(
    basket: dict[str, pd.DataFrame], tmp_path: Path
) -> None:
    strategy = StrategySettings(symbols=tuple(basket))
    live = replay_trades(basket, strategy, tmp_path / "journal.sqlite3")
    kernel, _, _ = backtest_trades(basket, strategy)
    assert_same_trades(live, kernel, basket)
    assert set(kernel["symbol"]) == set(basket)


# Donchian holds for days, so the three markets' positions overlap and the account-level rules
# decide. Positions are default_position_pct x conviction 0.5 of equity.
LIMITS = {
    # Two slots, a 1% daily loss, a 4% drawdown latch and a cooldown: all fire within weeks.
    "kill-switches": (RiskConfig(
        max_position_pct=0.6, daily_loss_limit_pct=0.01, max_drawdown_pct=0.04,
        cooldown_after_losses=3, cooldown_minutes=120, max_entries_per_day=6,
        max_open_positions=2, max_gross_exposure_pct=0.9), 0.45,
        {"drawdown_latch", "max_positions"}, {"daily_pause", "drawdown_latch"}),
    # 35% each under an 80% gross cap: a third position is refused.
    "gross-exposure": (RiskConfig(
        max_position_pct=0.7, daily_loss_limit_pct=0.2, max_drawdown_pct=0.5,
        max_gross_exposure_pct=0.8), 0.7, {"gross_exposure"}, set()),
    # 45% each, no cap: a third entry finds too little cash at the open.
    "cash": (RiskConfig(max_position_pct=0.9, daily_loss_limit_pct=0.2, max_drawdown_pct=0.5),
             0.9, {"cash"}, set()),
}


@pytest.mark.parametrize("case", list(LIMITS))
def test_tight_limits_fire_alike_in_replay_and_backtest(
    basket: dict[str, pd.DataFrame], tmp_path: Path, case: str
) -> None:
    risk, size, refusals, halt_kinds = LIMITS[case]
    frames = {symbol: frame.iloc[: 24 * 120] for symbol, frame in basket.items()}
    strategy = replace(StrategySettings(symbols=tuple(frames), risk=risk,
                                        strategy=load_strategy("donchian")),
                       default_position_pct=size, kelly_min_trades=10**6)
    path = tmp_path / "journal.sqlite3"
    live = replay_trades(frames, strategy, path)
    kernel, halts, rejections = backtest_trades(frames, strategy)
    assert_same_trades(live, kernel, frames)
    assert refusals <= {k for k, n in rejections.items() if n}, rejections
    assert halt_kinds <= set(halts["kind"])
    kernel_halts = [(pd.Timestamp(t), str(k)) for t, k in zip(halts["time"], halts["kind"],
                                                             strict=True)]
    assert journaled_halts(path) == kernel_halts
