"""The sweep runs each combination twice (fixed size, full pipeline), ranks on the one asked, says
when sizing stopped the pick, fits its table in 80 columns without cutting a number, and draws a
heatmap per RSI window (or per pair of parameters)."""

from __future__ import annotations

import io
import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from backtest.engine import BacktestConfig, Sizing, run_backtest
from backtest.sweep import summary
from backtest.sweep_grid import build_grid
from backtest.sweep_kernel import (
    F_RETURN,
    F_SIZE_ZERO,
    F_STOPPED_AT,
    F_TRADES,
    SweepResult,
    ranking,
)
from backtest.sweep_report import MAX_HEATMAPS, heatmap_panels
from backtest.sweep_run import run_sweep
from backtest.sweep_table import render
from data import load_ohlcv
from data.loader import save_ohlcv_csv
from main import main
from risk.config import RiskConfig
from signals.strategies.rsi_ema import seed_strategy
from signals.strategy_loader import load_strategy
from tests.backtest.test_sweep import GRID, seed_grid, single_run
from tests.conftest import BTC_1H_2022


@pytest.fixture(scope="module")
def btc(shared_data: Path) -> pd.DataFrame:
    """BTC 1h 2022-2025: the default pipeline stops after 50 trades in both windows."""
    return load_ohlcv(shared_data / BTC_1H_2022)


@pytest.fixture(scope="module")
def result(btc: pd.DataFrame) -> SweepResult:
    """The seed's small grid (16 combinations) with the default settings."""
    return run_sweep(btc, GRID, BacktestConfig(), timeframe="1h", in_sample=0.7)


def test_fixed_size_figures_equal_a_single_fixed_size_backtest(
    btc: pd.DataFrame, result: SweepResult
) -> None:
    fixed = replace(BacktestConfig(), sizing=Sizing.FIXED)
    for k in (0, 7, len(result.combos) - 1):
        for window, (start, stop) in result.windows.items():
            warm = result.grid.strategy_of(result.combos[k]).warmup_bars
            want = single_run(btc.iloc[start - (warm - 1):stop], fixed, result.grid,
                              result.combos[k])
            got = result.fixed_figures[window][k]
            assert got[F_RETURN] == want["return"]
            assert got[F_TRADES] == want["trades"]
            assert got[F_SIZE_ZERO] == 0


def test_sizing_stopped_every_default_pipeline_but_no_fixed_size_run(result: SweepResult) -> None:
    for window in result.windows:
        pipeline, fixed = result.figures[window], result.fixed_figures[window]
        assert (pipeline[:, F_SIZE_ZERO] > 0).all()
        assert (fixed[:, F_TRADES] > pipeline[:, F_TRADES]).all()
        assert np.isnan(fixed[:, F_STOPPED_AT]).all()


def test_a_pipeline_that_never_sized_by_kelly_is_its_own_fixed_size_run(
    btc: pd.DataFrame,
) -> None:
    never = run_sweep(btc.iloc[-3000:], GRID, BacktestConfig(kelly_min_trades=10_000),
                      timeframe="1h")
    for window in never.windows:
        assert never.figures[window].tobytes() == never.fixed_figures[window].tobytes()
        assert (never.figures[window][:, F_TRADES] > 10).all()


def test_the_stop_bar_is_the_backtests_sizing_stop(btc: pd.DataFrame, result: SweepResult) -> None:
    k = 5
    start, stop = result.windows["in_sample"]
    sizing_stop = result.sizing_stop(k, "in_sample")
    assert sizing_stop is not None
    assert result.figures["in_sample"][k, F_STOPPED_AT] == sizing_stop.bar
    # ... and a single backtest of that combination says the same.
    combo = result.combos[k]
    strategy = result.grid.strategy_of(combo)
    own = btc.iloc[start - (strategy.warmup_bars - 1):stop]
    config = BacktestConfig(strategy=strategy, risk=RiskConfig(stop_loss_pct=combo.stop_loss_pct))
    single = run_backtest(own, config).sizing_stop()
    assert single is not None
    assert (single.time, single.half_kelly, single.refused_entries) == (
        sizing_stop.time, sizing_stop.half_kelly, sizing_stop.refused_entries)


@pytest.mark.parametrize("rank_by", ["fixed", "pipeline"])
def test_summary_ranks_on_the_sizing_asked_and_shows_both(
    result: SweepResult, rank_by: str
) -> None:
    doc = summary(result, metric="sharpe", rank_by=rank_by, top=len(result.combos))
    order = ranking(result.figures_of(Sizing(rank_by))["in_sample"], "sharpe")
    assert [result.combos.index(result.grid.combo_of(r)) for r in doc["top"]] == order.tolist()
    assert doc["rank_by"] == rank_by
    row = doc["picked"]
    k = int(order[0])
    assert row["in_sample"]["trades"] == result.figures["in_sample"][k, F_TRADES]
    assert row["fixed_size"]["in_sample"]["trades"] == result.fixed_figures["in_sample"][k,
                                                                                      F_TRADES]
    assert row["in_sample"]["sizing_stopped_at"] == row["sizing_stop"]["in_sample"]["time"]
    assert set(row["sizing_stop"]) == set(result.windows)


def test_rank_min_trades_ranks_thin_runs_last(result: SweepResult) -> None:
    trades = result.fixed_figures["in_sample"][:, F_TRADES]
    cut = int(np.median(trades)) + 1
    doc = summary(result, metric="sharpe", rank_by="fixed", top=len(result.combos),
                  rank_min_trades=cut)
    eligible = [r["fixed_size"]["in_sample"]["trades"] >= cut for r in doc["top"]]
    assert eligible == sorted(eligible, reverse=True)
    assert doc["rank_min_trades"] == cut


def _doc(result: SweepResult) -> dict[str, Any]:
    doc = summary(result, metric="sharpe", rank_by="fixed", top=10)
    doc.update(symbol="BTC/USDT", source="test", conviction=0.5)
    same: dict[str, Any] = json.loads(json.dumps(doc))  # as the JSON output has it
    return same


def _text(doc: dict[str, Any], *, wide: bool) -> str:
    console = Console(width=80, record=True, file=io.StringIO())
    render(doc, console, wide=wide)
    return console.export_text()


def _numbers(row: dict[str, Any]) -> list[str]:
    out = []
    for part in ("in_sample", "out_of_sample"):
        for figures in (row[part], row["fixed_size"][part]):
            out += [format(figures[f], ".3f") for f in ("sharpe", "total_return_pct",
                                                        "max_drawdown_pct")]
            out.append(f"{figures['trades']:,}")
    return [*out, str(row["rank"]), f"{row['out_of_sample_rank']:,}"]


def test_the_table_fits_80_columns_and_cuts_no_number(result: SweepResult) -> None:
    doc = _doc(result)
    text = _text(doc, wide=False)
    # The table only: the prose under it (the over-fitting statistics) wraps as the headline.
    table = text[text.index("Top 10 by"):text.index("Over-fitting of the pick")]
    assert "…" not in text
    assert max(len(line) for line in table.splitlines()) <= 80
    tokens = {t.rstrip("*") for t in text.split()}
    for row in doc["top"]:
        shown = [format(row["fixed_size"]["in_sample"]["sharpe"], ".3f"),
                 format(row["fixed_size"]["out_of_sample"]["sharpe"], ".3f"),
                 format(row["in_sample"]["sharpe"], ".3f"), f"{row['out_of_sample_rank']:,}",
                 *(str(row[name]) for name in ("rsi_window", "ema_fast", "ema_slow"))]
        assert set(shown) <= tokens, (shown, text)
    assert "more columns with --wide" in text


def test_wide_shows_every_number_of_the_json_whole(result: SweepResult) -> None:
    doc = _doc(result)
    text = _text(doc, wide=True)
    assert "…" not in text
    tokens = {t.rstrip("*") for t in text.split()}
    for row in doc["top"]:
        assert set(_numbers(row)) <= tokens
        assert row["in_sample"]["sizing_stopped_at"][:10] in tokens


def test_the_headline_says_when_and_why_sizing_stopped_the_pick(result: SweepResult) -> None:
    text = " ".join(_text(_doc(result), wide=False).split())
    assert "Picked on in-sample Sharpe at a fixed size: " in text
    assert re.search(r"Its full pipeline in-sample: half-Kelly of the first 50 closed trades is "
                     r"-?\d+\.\d\d \(win rate [\d.]+%, avg win [\d.]+%, avg loss [\d.]+%\): the "
                     r"risk layer refuses every entry after \d{4}-\d\d-\d\d \d\d:\d\d UTC "
                     r"\([\d,]+ entry signals refused\)", text)
    assert "sizing stopped the full pipeline of 16 of 16 runs" in text


def test_the_command_ranks_by_pipeline_and_renames_min_trades(
    btc: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = str(save_ohlcv_csv(btc.iloc[-3000:], tmp_path / "BTCUSDT_1h_part.csv"))
    grid = ["--grid", "rsi_window=10,14", "--grid", "ema_fast=8,12", "--grid", "ema_slow=26,30"]
    assert main(["sweep", "--data", data, *grid, "--rank-by", "pipeline", "--rank-min-trades",
                 "10", "--json"], environ={}) == 0
    out, err = capsys.readouterr()
    doc = json.loads(out)
    assert (doc["rank_by"], doc["rank_min_trades"]) == ("pipeline", 10)
    assert err == ""  # no progress bar when stderr is not a terminal
    with pytest.raises(SystemExit, match="2"):
        main(["sweep", "--data", data, *grid, "--min-trades", "10"], environ={})
    assert "--rank-min-trades" in capsys.readouterr().err


def test_a_heatmap_per_rsi_window_for_the_seed() -> None:
    panels, left = heatmap_panels(build_grid(seed_strategy()))
    assert [p.axes for p in panels] == [("ema_fast", "ema_slow")] * 11
    assert [p.at["rsi_window"] for p in panels] == list(range(10, 21))
    assert left == []
    many = seed_grid(tuple(range(5, 20)), (8, 12), (26, 30), (0.015,))
    panels, left = heatmap_panels(many)
    assert len(panels) == MAX_HEATMAPS
    assert panels[0].at == {"rsi_window": 5}
    assert panels[-1].at == {"rsi_window": 19}
    assert len(left) == 3
    assert all(x.startswith("rsi_window=") for x in left)


def test_a_heatmap_per_pair_for_other_strategies(tmp_path: Path) -> None:
    panels, left = heatmap_panels(build_grid(load_strategy("donchian"),
                                             stop_loss_pcts=(0.01, 0.02)))
    assert [p.axes for p in panels] == [("entry_window", "exit_window"),
                                        ("entry_window", "stop_loss_pct"),
                                        ("exit_window", "stop_loss_pct")]
    assert left == []
    params = ", ".join(f"p{i}: int = 1" for i in range(6))
    path = tmp_path / "six.py"
    path.write_text(f"class Six:\n    warmup_bars = 1\n\n    def __init__(self, {params}):\n"
                    "        pass\n\n    def signals(self, bars):\n"
                    "        return [0] * len(bars)\n")
    six = load_strategy(f"{path}:Six")
    grid = build_grid(six, grid={f"p{i}": (1, 2) for i in range(6)})
    panels, left = heatmap_panels(grid)
    assert len(panels) == MAX_HEATMAPS
    assert len(left) == 15 - MAX_HEATMAPS
    assert panels[0].axes == ("p4", "p5")  # the two longest dimensions (ties: the later) first
    assert left == ["p2 x p5", "p3 x p4", "p3 x p5"]
