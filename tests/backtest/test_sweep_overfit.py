"""The sweep's over-fitting statistics: its block sums are a single backtest's, the JSON, the
table and the page carry the DSR, the PBO and the bootstrap with their reading lines, one
combination has no PBO, and the best of the seed's grid on a random walk is not an edge."""

from __future__ import annotations

import html
import io
import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from backtest import kernel
from backtest.engine import BacktestConfig, Sizing, run_backtest
from backtest.overfit import (
    READ_BOOTSTRAP,
    READ_DSR,
    READ_PBO,
    block_sums,
    probabilistic_sharpe,
)
from backtest.sweep import summary
from backtest.sweep_grid import build_grid
from backtest.sweep_kernel import (
    F_SHARPE,
    F_TRADES,
    SweepResult,
    account_value,
    overfitting,
    per_bar_sharpes,
    ranking,
)
from backtest.sweep_report import write_sweep_report
from backtest.sweep_run import run_sweep
from backtest.sweep_table import render
from data import load_ohlcv, synthetic_ohlcv
from data.loader import save_ohlcv_csv
from main import main
from signals.strategies.rsi_ema import seed_strategy
from tests.backtest.test_sweep import GRID, seed_grid
from tests.conftest import BTC_1H_2022

# Half-Kelly from the 10th closed trade: the full pipeline sizes apart from the fixed size.
KELLY_EARLY = BacktestConfig(kelly_min_trades=10)
SIZINGS = (Sizing.PIPELINE, Sizing.FIXED)


@pytest.fixture(scope="module")
def btc(shared_data: Path) -> pd.DataFrame:
    """3,000 real hourly bars, as tests/backtest/test_sweep.py takes them."""
    return load_ohlcv(shared_data / BTC_1H_2022).iloc[-3000:]


@pytest.fixture(scope="module")
def result(btc: pd.DataFrame) -> SweepResult:
    """The seed's small grid (16 combinations), Kelly sizing from the 10th trade."""
    return run_sweep(btc, GRID, KELLY_EARLY, timeframe="1h", in_sample=0.7)


def _doc(result: SweepResult, rank_by: str = "fixed") -> dict[str, Any]:
    doc = summary(result, metric="sharpe", rank_by=rank_by, top=5)
    same: dict[str, Any] = json.loads(json.dumps(doc, allow_nan=False))  # as --json prints it
    return same


def _text(doc: dict[str, Any]) -> str:
    console = Console(width=80, record=True, file=io.StringIO())
    render(doc, console)
    return console.export_text()


@pytest.mark.parametrize("sizing", SIZINGS)
def test_block_sums_equal_those_of_a_single_backtests_account_value(
    btc: pd.DataFrame, result: SweepResult, sizing: Sizing
) -> None:
    start, stop = result.windows["in_sample"]
    assert result.edges[-1] == stop - start
    for k in (0, 5, 10, len(result.combos) - 1):
        combo = result.combos[k]
        config = replace(KELLY_EARLY, sizing=sizing, strategy=result.grid.strategy_of(combo),
                         risk=replace(KELLY_EARLY.risk, stop_loss_pct=combo.stop_loss_pct))
        warm = config.strategy.warmup_bars
        one = run_backtest(btc.iloc[start - (warm - 1):stop], config)
        value = account_value(one.raw.orders, one.bars["close"].to_numpy(np.float64),
                              config.init_cash)
        want = np.empty((len(result.edges) - 1, 2))
        block_sums(value, config.init_cash, result.edges, want)
        assert result.blocks[sizing][k].tobytes() == want.tobytes(), (k, sizing)


def test_the_two_sizings_sum_different_returns(result: SweepResult) -> None:
    # Otherwise the test above would not tell one sizing's sums from the other's.
    pipeline, fixed = result.blocks[Sizing.PIPELINE], result.blocks[Sizing.FIXED]
    assert all(not np.array_equal(pipeline[k], fixed[k]) for k in range(len(result.combos)))


@pytest.mark.parametrize("sizing", SIZINGS)
def test_the_blocks_total_to_each_runs_sharpe(result: SweepResult, sizing: Sizing) -> None:
    start, stop = result.windows["in_sample"]
    sharpes = per_bar_sharpes(result.blocks[sizing].sum(axis=1), stop - start)
    figures = result.figures_of(sizing)["in_sample"][:, F_SHARPE]
    assert np.isfinite(figures).all()
    np.testing.assert_allclose(sharpes * math.sqrt(result.ann_factor), figures, rtol=1e-9)


@pytest.mark.parametrize("rank_by", ["fixed", "pipeline"])
def test_the_json_has_the_picks_statistics_at_the_ranked_sizing(
    result: SweepResult, rank_by: str
) -> None:
    doc = _doc(result, rank_by)
    stats = doc["overfitting"]
    assert list(stats) == ["deflated_sharpe", "pbo", "bootstrap", "on", "sizing"]
    assert (stats["on"], stats["sizing"]) == ("in_sample", rank_by)
    dsr, pbo, boot = stats["deflated_sharpe"], stats["pbo"], stats["bootstrap"]
    assert (dsr["read"], pbo["read"], boot["read"]) == (READ_DSR, READ_PBO, READ_BOOTSTRAP)
    start, stop = result.windows["in_sample"]
    assert (dsr["n_trials"], dsr["n_obs"]) == (16, stop - start)
    assert 0.0 <= dsr["dsr"] <= 1.0
    assert dsr["sr_variance"] > 0.0
    # The DSR is of the picked run: its Sharpe is the pick's in-sample figure at that sizing.
    k = result.combos.index(result.grid.combo_of(doc["picked"]))
    figures = result.figures_of(Sizing(rank_by))["in_sample"][k]
    assert dsr["sharpe_annual"] == pytest.approx(figures[F_SHARPE], rel=1e-9)
    assert (pbo["n_blocks"], pbo["n_splits"], pbo["n_trials"]) == (16, 12_870, 16)
    assert 0.0 <= pbo["pbo"] <= 1.0
    # The bootstrap draws the pick's closed trades (the last one may still be open).
    assert boot["trades"] in (figures[F_TRADES], figures[F_TRADES] - 1)
    assert boot["max_drawdown_pct"]["p50"] <= boot["max_drawdown_pct"]["p95"]


def test_the_table_and_the_page_show_the_statistics_with_their_reading_lines(
    result: SweepResult, tmp_path: Path
) -> None:
    doc = _doc(result)
    text = _text(doc)
    under = text[text.index("Over-fitting of the pick (in-sample, at a fixed size):"):]
    assert "Deflated Sharpe Ratio " in under
    assert "PBO " in under
    assert "Bootstrap of " in under
    for read in (READ_DSR, READ_PBO, READ_BOOTSTRAP):
        assert read in under
    page = write_sweep_report(str(tmp_path / "sweep.html"), result, doc).read_text()
    section = page[page.index("Over-fitting of the pick"):page.index("over ema_fast x ema_slow")]
    assert "Deflated Sharpe Ratio " in section
    assert "PBO " in section
    for read in (READ_DSR, READ_PBO, READ_BOOTSTRAP):
        assert f'<p class="note">{html.escape(read)}</p>' in section


def test_one_combination_has_no_pbo_and_still_prints(btc: pd.DataFrame, tmp_path: Path) -> None:
    one = run_sweep(btc, seed_grid((14,), (12,), (26,), (0.015,)), KELLY_EARLY,
                    timeframe="1h")
    doc = _doc(one)
    stats = doc["overfitting"]
    assert stats["pbo"] is None
    assert stats["deflated_sharpe"]["n_trials"] == 1
    assert stats["deflated_sharpe"]["benchmark"] == 0.0  # the best of one trial is that trial
    text = _text(doc)
    assert "Deflated Sharpe Ratio " in text
    assert "PBO" not in text
    assert "PBO" not in write_sweep_report(str(tmp_path / "one.html"), one, doc).read_text()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_best_of_the_seeds_grid_on_a_random_walk_has_a_low_dsr(seed: int) -> None:
    bars = synthetic_ohlcv(3_000, seed=seed)
    grid = build_grid(seed_strategy())
    result = run_sweep(bars, grid, BacktestConfig(strategy=seed_strategy()), timeframe="1h")
    k = int(ranking(result.fixed_figures["in_sample"])[0])
    stats = overfitting(result, k, Sizing.FIXED)
    d = stats.deflated
    assert d.n_trials == 3_146
    # No edge: far from the 0.95 of evidence (seeds 1 to 8 gave 0.005 to 0.74) ...
    assert d.dsr < 0.25
    # ... and the deflation bites: the best of 3,146 trials must beat a Sharpe above 0.
    assert d.benchmark > 0.0
    assert d.dsr < probabilistic_sharpe(d.sharpe, 0.0, n_obs=d.n_obs, skew=d.skew,
                                        kurtosis=d.kurtosis)


def test_the_command_takes_pbo_blocks_and_refuses_an_odd_count(
    btc: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = str(save_ohlcv_csv(btc, tmp_path / "BTCUSDT_1h_part.csv"))
    grid = ["--grid", "rsi_window=10,14", "--grid", "ema_fast=8,12", "--grid", "ema_slow=26,30"]
    assert main(["sweep", "--data", data, *grid, "--pbo-blocks", "8", "--json"],
                environ={}) == 0
    pbo = json.loads(capsys.readouterr().out)["overfitting"]["pbo"]
    assert (pbo["n_blocks"], pbo["n_splits"]) == (8, 70)
    assert main(["sweep", "--data", data, *grid, "--pbo-blocks", "15"], environ={}) == 2
    assert "n_blocks must be even, from 2 to 20, got 15" in capsys.readouterr().err


def test_the_reruns_closed_trades_are_what_the_bootstrap_draws(result: SweepResult) -> None:
    raw = result.rerun(3, "in_sample", Sizing.FIXED)
    closed = int((raw.trades[:, kernel.T_REASON] != kernel.EXIT_END).sum())
    boot = overfitting(result, 3, Sizing.FIXED).bootstrap
    assert boot is not None
    assert boot.trades == closed
