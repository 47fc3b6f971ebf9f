"""run_portfolio: one symbol is run_backtest (run, frames and figures), the basket's views on
real BTC, ETH and DOGE, warm-ups and gaps per symbol, and the basket's one-line errors."""

from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from backtest import kernel
from backtest.engine import BacktestConfig, run_backtest
from backtest.figures import kernel_stats
from backtest.portfolio import PortfolioResult, run_portfolio
from core.errors import ConfigError, DataError
from data.loader import load_ohlcv
from data.synthetic import synthetic_ohlcv
from risk.config import RiskConfig
from signals.scorer import Score, ScoreRequest, ScoreSource
from tests.conftest import BTC_1H_2022

ETH_1H = "ETHUSDT_1h_binance_spot_2022-01-01_2025-04-30.csv"
DOGE_1H = "DOGEUSDT_1h_binance_spot_2022-01-01_2025-05-05.csv"
CONFIGS = {
    "defaults": BacktestConfig(),
    "kill-switches": BacktestConfig(
        risk=RiskConfig(max_position_pct=0.9, daily_loss_limit_pct=0.01, max_drawdown_pct=0.05),
        default_position_pct=0.9, kelly_min_trades=10**6),
}


def _same(a: Any, b: Any) -> bool:
    """Equal, NaN equal to NaN, floats exactly."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b)


def _assert_same_run(basket: PortfolioResult, single: Any) -> None:
    raw, one = basket.raw, single.raw
    assert basket.index.equals(single.bars.index)
    np.testing.assert_array_equal(raw.orders[:, :kernel.N_ORDER_COLS], one.orders, strict=True)
    np.testing.assert_array_equal(raw.trades[:, :kernel.N_TRADE_COLS], one.trades, strict=True)
    for field in ("equity", "halt", "events", "rejections"):
        np.testing.assert_array_equal(getattr(raw, field), getattr(one, field), strict=True)
    pd.testing.assert_frame_equal(basket.trades().drop(columns="symbol"), single.trades())
    pd.testing.assert_frame_equal(basket.halts(), single.halts())
    pd.testing.assert_series_equal(basket.equity, single.equity)
    assert basket.rejections() == single.rejections()
    ours, theirs = asdict(basket.kelly_inputs("BTC/USDT")), asdict(single.kelly_inputs())
    assert all(_same(ours[k], theirs[k]) for k in ours), (ours, theirs)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_one_symbol_basket_is_run_backtest_with_the_same_figures(
    shared_data: Path, name: str
) -> None:
    bars = load_ohlcv(shared_data / BTC_1H_2022)
    single = run_backtest(bars, CONFIGS[name])
    basket = run_portfolio({"BTC/USDT": bars}, CONFIGS[name])
    _assert_same_run(basket, single)
    kinds, refused = list(single.halts()["kind"]), single.rejections()
    ours = asdict(basket.stats("1h"))
    theirs = asdict(kernel_stats(single, "1h", halt_kinds=kinds, rejections=refused))
    assert {k for k in ours if not _same(ours[k], theirs[k])} == set(), (ours, theirs)
    if name == "kill-switches":
        assert set(basket.halts()["kind"]) == {"daily_pause", "daily_clear", "drawdown_latch"}


class _ByClose:
    """A scorer whose answer depends on the bar asked about: refuses one close in three."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, float]] = []

    def score(self, request: ScoreRequest) -> Score:
        self.asked.append((request.symbol, request.closes[-1]))
        low = int(request.closes[-1]) % 3 == 0
        return Score(conviction=0.1 if low else 0.8, suppress=False, reasoning="by close",
                     source=ScoreSource.LLM)


def test_a_scorer_is_asked_about_the_same_bars_as_in_run_backtest() -> None:
    bars = synthetic_ohlcv(2000, timeframe="1h", seed=4, start_price=30_000.0, volatility=0.01)
    alone, basket = _ByClose(), _ByClose()
    single = run_backtest(bars, scorer=alone)
    result = run_portfolio({"BTC/USDT": bars}, scorer=basket)
    _assert_same_run(result, single)
    assert basket.asked == alone.asked
    assert len(alone.asked) > 10
    assert sorted(i for _, i in result.scores) == sorted(single.scores)


def _two(gap: slice = slice(0, 0)) -> dict[str, pd.DataFrame]:
    """BTC from 2024-01-01; ETH from 100 hours later to 100 hours before BTC's end, with
    ``gap`` rows missing."""
    btc = synthetic_ohlcv(1400, timeframe="1h", seed=1, start_price=30_000.0, volatility=0.01)
    eth = synthetic_ohlcv(1200, timeframe="1h", seed=2, start_price=2_000.0, volatility=0.01,
                          start=btc.index[100].to_pydatetime())
    return {"BTC/USDT": btc, "ETH/USDT": eth.drop(eth.index[gap])}


def test_each_symbol_trades_from_its_own_first_warm_bar_and_only_on_its_bars() -> None:
    frames = _two(gap=slice(700, 720))
    config = BacktestConfig(default_position_pct=0.3, kelly_min_trades=10**6)
    result = run_portfolio(frames, config)
    warm = config.strategy.warmup_bars
    assert result.index[0] == frames["BTC/USDT"].index[warm - 1]
    assert result.bars["ETH/USDT"].index[0] == frames["ETH/USDT"].index[warm - 1]
    assert result.index.equals(frames["BTC/USDT"].index[warm - 1:])  # ETH's times are BTC's
    for symbol, frame in frames.items():
        trades = result.trades(symbol)
        assert len(trades) > 3, symbol
        own = frame.index[warm - 1:]
        assert trades["entry_time"].isin(own).all()
        assert trades["exit_time"].isin(own).all()
    # ETH's position keeps its last close over the gap: its value does not move there.
    values = result.position_values()["ETH/USDT"]
    before = frames["ETH/USDT"].index[699]
    gap = before + pd.Timedelta("1h") * np.arange(1, 21)
    assert (values.loc[gap] == values.loc[before]).all()
    # ETH's last bar is 100 hours before the end: an open ETH trade ends there.
    assert result.trades("ETH/USDT")["exit_time"].max() <= frames["ETH/USDT"].index[-1]


def test_the_basket_views_add_up() -> None:
    result = run_portfolio(_two(), BacktestConfig(default_position_pct=0.3,
                                                   kelly_min_trades=10**6))
    stats = result.stats("1h")
    final = result.raw.equity[-1]
    assert stats.end_value == pytest.approx(final, rel=1e-12)
    contribution = result.contribution()
    assert list(contribution.index) == ["BTC/USDT", "ETH/USDT"]
    assert contribution["pnl"].sum() == pytest.approx(final - 10_000.0, abs=1e-6)
    assert contribution["trades"].sum() == len(result.trades()) == stats.total_trades
    exposure = result.exposure()
    assert list(exposure.columns) == ["BTC/USDT", "ETH/USDT", "gross"]
    assert stats.max_gross_exposure_pct == pytest.approx(exposure["gross"].max() * 100, rel=1e-9)
    assert (result.drawdown <= 0).all()
    assert -result.drawdown.min() * 100 == pytest.approx(stats.max_drawdown_pct, rel=1e-9)


def test_real_basket_with_tight_limits(shared_data: Path) -> None:
    frames = {name: load_ohlcv(shared_data / file) for name, file in (
        ("BTC/USDT", BTC_1H_2022), ("ETH/USDT", ETH_1H), ("DOGE/USDT", DOGE_1H))}
    sizing: dict[str, Any] = {"default_position_pct": 0.02, "kelly_min_trades": 10**6}
    one = run_portfolio(frames, BacktestConfig(risk=RiskConfig(max_open_positions=1), **sizing))
    assert one.rejections()["max_positions"] > 0
    assert ((one.position_values() > 0).sum(axis=1) <= 1).all()
    capped = run_portfolio(frames, BacktestConfig(
        risk=RiskConfig(max_gross_exposure_pct=0.015), **sizing))
    assert capped.rejections()["gross_exposure"] > 0
    free = run_portfolio(frames, BacktestConfig(**sizing))
    assert free.rejections()["max_positions"] == free.rejections()["gross_exposure"] == 0
    assert ((free.position_values() > 0).sum(axis=1) > 1).any()
    for result in (one, capped, free):
        assert set(result.trades()["symbol"]) == set(frames)
        eth = result.trades("ETH/USDT")
        assert eth["exit_time"].max() <= frames["ETH/USDT"].index[-1]


def test_basket_errors_are_one_line() -> None:
    frames = _two()
    with pytest.raises(ConfigError, match="at least one symbol"):
        run_portfolio({})
    with pytest.raises(ConfigError, match=r"one quote currency.*BTC/USDT in USDT, ETH/BTC in BTC"):
        run_portfolio({"BTC/USDT": frames["BTC/USDT"], "ETH/BTC": frames["ETH/USDT"]})
    with pytest.raises(DataError, match="ETH/USDT: need more than"):
        run_portfolio({"BTC/USDT": frames["BTC/USDT"], "ETH/USDT": frames["ETH/USDT"][:10]})
    twice = pd.concat([frames["ETH/USDT"], frames["ETH/USDT"][:5]])
    with pytest.raises(DataError, match="ETH/USDT: bar times must be unique and ascending"):
        run_portfolio({"ETH/USDT": twice})
