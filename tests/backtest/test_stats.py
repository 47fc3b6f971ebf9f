"""Figures from the vectorbt Portfolio: the seed's labels, 24/7 Sharpe, exposure, halts, NaN."""

from __future__ import annotations

import math

import numpy as np
import pytest

from backtest.engine import BacktestConfig, BacktestResult, run_backtest
from backtest.gates import GateSettings, evaluate_gates
from backtest.stats import YEAR_FREQ, BacktestStats, portfolio_stats, stats_rows
from data import synthetic_ohlcv
from risk.config import RiskConfig


@pytest.fixture(scope="module")
def result() -> BacktestResult:
    """A synthetic run that trades, pauses on daily losses and trips the drawdown latch."""
    bars = synthetic_ohlcv(3000, start="2024-01-01", seed=11, volatility=0.02)
    risk = RiskConfig(max_position_pct=0.9, daily_loss_limit_pct=0.02, max_drawdown_pct=0.1)
    return run_backtest(bars, BacktestConfig(risk=risk, default_position_pct=0.9))


def test_figures_are_vectorbts(result: BacktestResult) -> None:
    pf = result.portfolio("1h")
    stats = portfolio_stats(pf)
    s = pf.stats(settings={"year_freq": YEAR_FREQ})
    assert stats.end_value == pytest.approx(s["End Value"])
    assert stats.total_trades == s["Total Trades"] == len(result.trades())
    assert stats.fees_paid == pytest.approx(result.trades()["fees"].sum())
    # A 365-day year of hourly bars: sqrt(8760) x mean / std of the bar returns.
    returns = pf.returns().to_numpy()
    expected = returns.mean() / returns.std(ddof=1) * math.sqrt(365 * 24)
    assert stats.sharpe_ratio == pytest.approx(expected, rel=1e-9)
    assert stats.buy_and_hold_return_pct == pytest.approx(
        (result.bars["close"].iloc[-1] / result.bars["close"].iloc[0] - 1) * 100
    )


def test_exposure_is_the_share_of_bars_closed_in_a_position(result: BacktestResult) -> None:
    pf = result.portfolio("1h")
    held = np.zeros(len(result.bars), dtype=bool)
    for entry, exit_ in zip(result.raw.trades[:, 0], result.raw.trades[:, 1], strict=True):
        held[int(entry):int(exit_)] = True  # open from the fill bar to the bar before the exit
    assert portfolio_stats(pf).exposure_pct == pytest.approx(held.mean() * 100)


def test_halts_are_counted_by_kind(result: BacktestResult) -> None:
    kinds = list(result.halts()["kind"])
    stats = portfolio_stats(result.portfolio("1h"), halt_kinds=kinds,
                            rejections=result.rejections())
    assert stats.halts == {
        "daily_pause": kinds.count("daily_pause"),
        "drawdown_latch": kinds.count("drawdown_latch"),
    }
    assert stats.halts["drawdown_latch"] == 1
    assert stats.halts["daily_pause"] > 0
    rows = dict(stats_rows(stats))
    assert rows["Halts: drawdown_latch"] == "1"
    assert rows["Refused entry bars: drawdown_latch"] == f"{stats.rejections['drawdown_latch']:,}"


def test_rows_use_the_seeds_labels_and_nan_reads_n_a(result: BacktestResult) -> None:
    stats = portfolio_stats(result.portfolio("1h"))
    labels = [label for label, _ in stats_rows(stats)]
    assert labels[:6] == [
        "Start Value", "End Value", "Total Return [%]", "Sharpe Ratio", "Max Drawdown [%]",
        "Total Trades",
    ]
    blank = BacktestStats(**{**stats.to_json(), "sharpe_ratio": math.nan, "win_rate_pct": math.nan})
    assert dict(stats_rows(blank))["Sharpe Ratio"] == "n/a"
    assert blank.to_json()["sharpe_ratio"] is None


def test_a_run_without_trades_has_no_finite_sharpe_and_fails_the_gates() -> None:
    flat = synthetic_ohlcv(600, start="2024-01-01", volatility=0.0)
    result = run_backtest(flat, BacktestConfig())
    stats = portfolio_stats(result.portfolio("1h"))
    assert stats.total_trades == 0
    assert stats.sharpe_ratio == math.inf  # vectorbt: zero mean over zero deviation
    assert math.isnan(stats.win_rate_pct)
    assert dict(stats_rows(stats))["Sharpe Ratio"] == "n/a"
    loose = GateSettings(min_sharpe=-100.0, max_drawdown_pct=1.0, min_trades=0)
    assert not any(g.passed for g in evaluate_gates(stats, loose))
