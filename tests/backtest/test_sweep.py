"""The sweep: its figures are a single backtest's, its ranking is stable, its split looks ahead at
nothing, its chunking changes nothing, and its command runs end to end."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backtest.engine import BacktestConfig, run_backtest
from backtest.stats import portfolio_stats
from backtest.sweep_grid import Combo, SweepGrid, build_grid
from backtest.sweep_kernel import (
    F_MAX_DD,
    F_RETURN,
    F_SHARPE,
    F_SIZE_ZERO,
    F_TRADES,
    N_FIGURES,
    SweepResult,
    ranking,
)
from backtest.sweep_run import run_sweep
from backtest.sweep_signals import Tables, chunk_signals
from data import load_ohlcv, synthetic_ohlcv
from main import main
from risk.config import RiskConfig
from signals.quant_signals import SignalParams, signal_array
from signals.strategies.rsi_ema import seed_params, seed_strategy
from tests.conftest import BTC_1H_2022


def seed_grid(rsi: tuple[int, ...], fast: tuple[int, ...], slow: tuple[int, ...],
              stops: tuple[float, ...]) -> SweepGrid:
    """The seed's grid over these values (what --grid rsi_window=... asks for)."""
    return build_grid(seed_strategy(), grid={"rsi_window": rsi, "ema_fast": fast,
                                             "ema_slow": slow}, stop_loss_pcts=stops)


GRID = seed_grid((10, 14), (8, 12), (26, 30), (0.01, 0.015))
# Many trades and some halts: Kelly sizing never starts, half of equity per entry, tight limits.
BUSY = BacktestConfig(
    default_position_pct=1.0, kelly_min_trades=10_000,
    risk=RiskConfig(max_position_pct=0.5, daily_loss_limit_pct=0.02, max_drawdown_pct=0.25),
)


@pytest.fixture(scope="module")
def btc(shared_data: Path) -> pd.DataFrame:
    """3,000 real hourly bars: enough for the grid's warm-up and two windows of trades."""
    return load_ohlcv(shared_data / BTC_1H_2022).iloc[-3000:]


def single_run(
    bars: pd.DataFrame, base: BacktestConfig, grid: SweepGrid, combo: Combo
) -> dict[str, float]:
    """One run_backtest + vectorbt figures for a combination, as the backtest command shows."""
    config = replace(base, strategy=grid.strategy_of(combo),
                     risk=replace(base.risk, stop_loss_pct=combo.stop_loss_pct))
    stats = portfolio_stats(run_backtest(bars, config).portfolio("1h"))
    return {"return": stats.total_return_pct, "sharpe": stats.sharpe_ratio,
            "max_dd": stats.max_drawdown_pct, "trades": stats.total_trades}


def check_window(
    bars: pd.DataFrame, result: SweepResult, base: BacktestConfig, window: str, k: int
) -> None:
    """Row k of a window equals run_backtest on the same bars, warm-up taken just before them."""
    start, stop = result.windows[window]
    combo = result.combos[k]
    sp = seed_params(result.grid.strategy_of(combo))
    assert sp is not None
    # run_backtest trades from its own warm-up on: give it exactly that much history before the
    # window, taken from the bars before it (the in-sample tail for the out-of-sample window).
    own = bars.iloc[start - (sp.warmup_bars - 1):stop]
    # Its EMAs start later than the sweep's, which moves them by < 1e-12 of their value; the
    # signals must still be the same, or the comparison below would not be like for like.
    sweep_signal = chunk_signals(_tables(bars, sp), [sp], start, stop)[0]
    np.testing.assert_array_equal(signal_array(own["close"].to_numpy(), sp)[sp.warmup_bars - 1:],
                                  sweep_signal)
    want = single_run(own, base, result.grid, combo)
    got = result.figures[window][k]
    assert got[F_RETURN] == want["return"]
    assert got[F_TRADES] == want["trades"]
    assert got[F_MAX_DD] == want["max_dd"] or (math.isnan(got[F_MAX_DD])
                                               and math.isnan(want["max_dd"]))
    assert got[F_SHARPE] == pytest.approx(want["sharpe"], rel=1e-9, abs=1e-12)


def _tables(bars: pd.DataFrame, sp: SignalParams) -> Tables:
    return Tables.build(bars["close"].to_numpy(), rsi_windows=(sp.rsi_window,),
                        spans=(sp.ema_fast, sp.ema_slow), method=sp.rsi_method)


@pytest.mark.parametrize("base", [BacktestConfig(), BUSY], ids=["defaults", "busy"])
def test_each_combination_equals_a_single_backtest_in_both_windows(
    btc: pd.DataFrame, base: BacktestConfig
) -> None:
    result = run_sweep(btc, GRID, base, timeframe="1h", in_sample=0.7)
    assert list(result.windows) == ["in_sample", "out_of_sample"]
    figs = result.figures["in_sample"]
    assert figs[:, F_TRADES].min() > 0
    # The first and last combinations (shortest and longest warm-up) and two in between.
    for k in (0, 5, 10, len(result.combos) - 1):
        for window in result.windows:
            check_window(btc, result, base, window, k)


def test_busy_runs_trade_enough_to_make_the_comparison_meaningful(btc: pd.DataFrame) -> None:
    result = run_sweep(btc, GRID, BUSY, timeframe="1h", in_sample=0.7)
    figs = result.figures["in_sample"]
    assert figs[:, F_TRADES].min() > 30
    assert (figs[:, F_MAX_DD] > 0).all()
    assert (figs[:, F_SIZE_ZERO] == 0).all()


def test_out_of_sample_bars_change_nothing_in_sample(btc: pd.DataFrame) -> None:
    result = run_sweep(btc, GRID, BUSY, timeframe="1h", in_sample=0.7)
    split = result.windows["out_of_sample"][0]
    shocked = btc.copy()
    shocked.iloc[split:, :4] *= np.linspace(0.5, 2.0, len(btc) - split)[:, None]
    again = run_sweep(shocked, GRID, BUSY, timeframe="1h", in_sample=0.7)
    assert again.windows == result.windows
    np.testing.assert_array_equal(again.figures["in_sample"], result.figures["in_sample"])
    assert not np.array_equal(again.figures["out_of_sample"], result.figures["out_of_sample"])
    # ... and the pick, made on in-sample figures only, is the same combination.
    assert ranking(again.figures["in_sample"])[0] == ranking(result.figures["in_sample"])[0]


def test_windows_start_after_the_longest_warm_up_and_split_the_traded_bars() -> None:
    bars = synthetic_ohlcv(2_000, seed=1)
    result = run_sweep(bars, GRID, BacktestConfig(), timeframe="1h", in_sample=0.6)
    warm = max(SignalParams(rsi_window=14, ema_fast=8, ema_slow=30).warmup_bars,
               SignalParams(rsi_window=10, ema_fast=8, ema_slow=30).warmup_bars)
    assert result.warmup_bars == warm
    first = warm - 1
    split = first + round((2_000 - first) * 0.6)
    assert result.windows == {"in_sample": (first, split), "out_of_sample": (split, 2_000)}
    whole = run_sweep(bars, GRID, BacktestConfig(), timeframe="1h", in_sample=1.0)
    assert whole.windows == {"in_sample": (first, 2_000)}


@pytest.mark.parametrize("chunk", [1, 3, 7, 1000])
def test_chunking_gives_the_same_figures_as_one_chunk(chunk: int) -> None:
    bars = synthetic_ohlcv(1_500, seed=2, volatility=0.02)
    one = run_sweep(bars, GRID, BUSY, timeframe="1h", chunk_size=len(GRID.combos))
    done: list[int] = []
    other = run_sweep(bars, GRID, BUSY, timeframe="1h", chunk_size=chunk, on_chunk=done.append)
    assert sum(done) == len(GRID.combos)
    assert len(done) == -(-len(GRID.combos) // chunk)
    for window in one.figures:
        assert one.figures[window].tobytes() == other.figures[window].tobytes()


def test_ranking_is_best_first_with_ties_in_grid_order_and_unrankable_last() -> None:
    figs = np.zeros((6, N_FIGURES))
    figs[:, F_SHARPE] = [0.5, 1.0, np.inf, 1.0, np.nan, -2.0]
    figs[:, F_RETURN] = [1.0, 2.0, 0.0, 3.0, 0.0, 3.0]
    figs[:, F_MAX_DD] = [5.0, 1.0, np.nan, 1.0, np.nan, 0.5]
    figs[:, F_TRADES] = [10, 10, 0, 3, 0, 10]
    assert ranking(figs, "sharpe").tolist() == [1, 3, 0, 5, 2, 4]
    assert ranking(figs, "sharpe", min_trades=5).tolist() == [1, 0, 5, 2, 3, 4]
    assert ranking(figs, "total_return").tolist() == [3, 5, 1, 0, 2, 4]
    assert ranking(figs, "max_drawdown").tolist() == [5, 1, 3, 0, 2, 4]


def test_grid_orders_combinations_and_drops_fast_not_below_slow() -> None:
    grid = seed_grid((14,), (30, 12), (26, 30), (0.02, 0.01))
    assert grid.names == ("ema_fast", "ema_slow")
    assert grid.fixed == {"rsi_window": 14, "overbought": 70.0, "oversold": 30.0,
                          "rsi_method": "wilder"}
    assert grid.combos == (
        Combo(0.01, (12, 26)), Combo(0.01, (12, 30)),
        Combo(0.02, (12, 26)), Combo(0.02, (12, 30)),
    )
    assert grid.skipped == 4  # 30/26 and 30/30, under each stop
    assert "ema_fast must be smaller than ema_slow" in grid.skip_reason
    default = build_grid(seed_strategy())
    assert len(default.combos) == 3_146
    assert default.names == ("rsi_window", "ema_fast", "ema_slow")
    assert default.skipped == 0
    assert default.warmup_bars == 623


def test_sweep_command_prints_json_and_writes_a_report_with_heatmaps(
    btc: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "BTCUSDT_1h_part.csv"
    frame = btc.reset_index()
    frame["timestamp"] = frame["timestamp"].astype("int64") // 1_000_000
    frame.to_csv(data, index=False)
    report = tmp_path / "sweep.html"
    code = main(["sweep", "--data", str(data), "--grid", "rsi_window=10,14", "--grid",
                 "ema_fast=8:12:4", "--grid", "ema_slow=26,30", "--top", "3", "--json",
                 "--report", str(report)], environ={})
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["symbol"] == "BTC/USDT"
    assert doc["combinations"] == 8
    assert [r["rank"] for r in doc["top"]] == [1, 2, 3]
    assert doc["picked"] == doc["top"][0]
    assert set(doc["windows"]) == {"in_sample", "out_of_sample"}
    assert 1 <= doc["picked"]["out_of_sample_rank"] <= 8
    seed = doc["default_params"]
    assert (seed["rsi_window"], seed["ema_fast"], seed["ema_slow"]) == (14, 12, 26)
    assert 1 <= seed["rank"] <= 8
    page = report.read_text()
    assert "Ranked combinations" in page
    # One heatmap per RSI window (EMA fast x slow), in- and out-of-sample side by side.
    assert page.count("over ema_fast x ema_slow at rsi_window=") == 2


def test_sweep_command_rejects_a_bad_grid_with_exit_2(
    capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sweep", "--grid", "ema_fast=30", "--grid", "ema_slow=20", "--data", "x.csv"],
                environ={}) == 2
    assert "ema_fast must be smaller than ema_slow" in capsys.readouterr().err
    assert main(["sweep", "--grid", "rsi_window=1:3"], environ={}) == 2
    assert "rsi_window must be an integer in [2, 1000]" in capsys.readouterr().err
