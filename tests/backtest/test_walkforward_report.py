"""The walk-forward's HTML page: self-contained, every window, gate and reading line on it, the
stitched equity against buy & hold with the windows, halts and sizing stop marked, each pick's
path over its grid, and a bounded size however long the out-of-sample run."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from backtest.engine import BacktestConfig
from backtest.gates import GateSettings, dsr_gate, evaluate_gates
from backtest.overfit import READ_BOOTSTRAP, READ_DSR, READ_PBO
from backtest.report_charts import BAR_POINTS
from backtest.sweep_grid import build_grid
from backtest.walkforward import WalkForwardResult, run_walkforward
from backtest.walkforward_report import (
    equity_figure,
    keep_extremes,
    path_figure,
    sizing_marker,
    write_walkforward_report,
)
from backtest.walkforward_summary import READ_OOS_RANK, READ_STABILITY, summary
from backtest.walkforward_windows import parse_length, plan_windows
from risk.config import RiskConfig
from signals.strategy_loader import load_strategy
from tests.backtest.cycle_strategy import cycle_market, random_walk

CYCLE = "tests/backtest/cycle_strategy.py:CycleTrader"
Run = tuple[WalkForwardResult, dict[str, Any]]


def walk_forward(bars: pd.DataFrame, *, train: str = "30D", test: str = "10D",
                 tight: bool = False) -> Run:
    """The cycle trader's walk-forward on ``bars`` and its document, as the CLI makes them.

    ``tight``: risk limits and a Kelly record short enough that the daily pause, the drawdown
    latch and the sizing stop all fire on a random walk.
    """
    strategy = load_strategy(CYCLE)
    grid = build_grid(strategy)
    plan = plan_windows(pd.DatetimeIndex(bars.index), first=grid.warmup_bars - 1,
                        train=parse_length(train, "train"), test=parse_length(test, "test"),
                        mode="rolling")
    config = BacktestConfig(strategy=strategy)
    if tight:
        config = BacktestConfig(
            strategy=strategy, default_position_pct=0.9, kelly_min_trades=10,
            risk=RiskConfig(daily_loss_limit_pct=0.01, max_drawdown_pct=0.05,
                            max_position_pct=0.9))
    result = run_walkforward(bars, grid, config, plan, timeframe="1h", min_trades=5)
    gates = (*evaluate_gates(result.stats, GateSettings()), dsr_gate(result.deflated.dsr, 0.95))
    doc = summary(result, gates)
    doc.update(symbol="SYNTH/USDT", source="synthetic")
    return result, doc


def edge_page(directory: Path) -> Path:
    """The page of a planted edge's walk-forward (17 windows), written in ``directory``."""
    result, doc = walk_forward(cycle_market(24 * 200, seed=1))
    return write_walkforward_report(directory / "wf.html", result, doc)


@pytest.fixture(scope="module")
def edge() -> Run:
    return walk_forward(cycle_market(24 * 200, seed=1))


@pytest.fixture(scope="module")
def troubled() -> Run:
    # A random walk under tight limits: a daily pause, the drawdown latch and the sizing stop.
    return walk_forward(random_walk(24 * 200, seed=4), tight=True)


def _names(figure: Any) -> list[str]:
    return [t.name for t in figure.data]


def _trace(figure: Any, name: str) -> Any:
    return next(t for t in figure.data if t.name == name)


def test_the_page_is_self_contained_with_every_window_gate_and_reading_line(
    edge: Run, tmp_path: Path,
) -> None:
    result, doc = edge
    path = write_walkforward_report(tmp_path / "wf.html", result, doc)
    assert path == tmp_path / "wf.html"
    assert list(tmp_path.iterdir()) == [path]  # written atomically: no temp file left
    page = path.read_text(encoding="utf-8")
    assert not re.search(r"<(script|link)[^>]*(src|href)=[\"']?(https?:)?//", page)
    assert page.count("Plotly.newPlot") == 2  # the equity and the parameter path
    table = re.search(r'<div class="scroll" id="windows">(.*?)</div>', page)
    assert table is not None
    assert table[1].count("<tr>") == len(doc["windows"]) + 1 == 18
    for w in doc["windows"]:
        assert w["test"]["first_bar"][:16].replace("T", " ") in table[1]
    for gate in doc["gates"]:
        assert html.escape(gate["rule"]) in page
    for read in (READ_DSR, READ_PBO, READ_BOOTSTRAP, READ_OOS_RANK, READ_STABILITY):
        assert f'<p class="read">{html.escape(read)}</p>' in page
    assert 'class="verdict pass"' in page  # the planted edge passes every gate
    assert "Walk-forward SYNTH/USDT 1h, cycle_trader: 17 rolling windows" in page
    for name in ("equity, out of sample", "buy & hold", "drawdown", "test window starts"):
        assert f'"name":"{name}"' in page


def test_the_equity_chart_is_the_stitched_run_against_buy_and_hold(edge: Run) -> None:
    result, doc = edge
    figure = equity_figure(result, doc, None)
    equity = result.stitched.equity.to_numpy()
    np.testing.assert_array_equal(_trace(figure, "equity, out of sample").y, equity)
    np.testing.assert_array_equal(_trace(figure, "buy & hold").y, result.buy_and_hold)
    assert result.buy_and_hold.iloc[0] == result.base.init_cash
    drawdown = (equity / np.maximum.accumulate(equity) - 1.0) * 100.0
    np.testing.assert_allclose(_trace(figure, "drawdown").y, drawdown)
    starts = [x for x in _trace(figure, "test window starts").x if x is not None]
    assert starts[::2] == [w["test"]["first_bar"][:16].replace("T", " ")
                           for w in doc["windows"][1:]]
    assert not figure.layout.shapes  # no halt, no sizing stop: nothing else marked


def test_a_halt_and_the_sizing_stop_are_marked(troubled: Run, tmp_path: Path) -> None:
    result, doc = troubled
    marker = sizing_marker(doc)
    assert marker is not None
    assert marker.text == doc["out_of_sample"]["sizing_stop"]["sentence"]
    figure = equity_figure(result, doc, marker)
    names = _names(figure)
    assert "paused: daily loss limit" in names
    assert "halted: drawdown latch" in names
    assert len(figure.layout.shapes) == 2  # the stop's line on the equity and the drawdown
    assert [a.text for a in figure.layout.annotations] == ["sizing stopped"]
    page = write_walkforward_report(tmp_path / "wf.html", result, doc).read_text("utf-8")
    assert 'class="verdict fail"' in page
    assert f"Sizing stopped the strategy: {html.escape(marker.text)}" in page
    assert sizing_marker({"out_of_sample": {"sizing_stop": None}}) is None


def test_the_parameter_path_steps_through_the_picks_over_the_grid(troubled: Run) -> None:
    result, doc = troubled
    figure = path_figure(result, doc)
    (trace,) = figure.data
    picks = doc["stability"]["period"]["path"]
    assert len(set(picks)) > 1  # a random walk: the pick moves
    assert list(trace.y) == [*picks, picks[-1]]  # the last pick held to its window's end
    assert trace.line.shape == "hv"
    assert list(trace.x[:-1]) == [w["test"]["first_bar"][:16].replace("T", " ")
                                  for w in doc["windows"]]
    low, high = figure.layout.yaxis.range
    assert low < 20  # the grid's range (20..28), not just the picks'
    assert high > 28
    assert figure.layout.yaxis.title.text == "period"


def test_keep_extremes_keeps_every_bucket_low_and_high() -> None:
    index = pd.date_range("2020-01-01", periods=200_000, freq="min")
    walk = np.cumsum(np.random.default_rng(3).normal(0.0, 1.0, len(index)))
    walk[123_457] -= 500.0  # a one-bar crash that a last-of-bucket thinning would drop
    series = pd.Series(walk, index=index)
    thinned = keep_extremes(series)
    assert len(thinned) <= BAR_POINTS
    assert thinned.index.is_monotonic_increasing
    assert thinned.min() == series.min() == series.iloc[123_457]
    assert thinned.max() == series.max()
    assert thinned.index[0] == index[0]
    assert thinned.index[-1] == index[-1]
    short = series.iloc[:BAR_POINTS]
    assert keep_extremes(short) is short


def test_a_long_out_of_sample_run_makes_a_page_of_a_few_mb(tmp_path: Path) -> None:
    from plotly.offline import get_plotlyjs  # type: ignore[import-untyped]

    result, doc = walk_forward(cycle_market(200_000, seed=1), train="1Y", test="6M")
    equity = result.stitched.equity
    assert len(equity) > 180_000
    figure = equity_figure(result, doc, None)
    for name in ("equity, out of sample", "buy & hold", "drawdown"):
        assert len(_trace(figure, name).y) <= BAR_POINTS
    drawdown = (equity / equity.cummax() - 1.0) * 100.0
    assert min(_trace(figure, "drawdown").y) == drawdown.min()  # the deepest point is kept
    page = write_walkforward_report(tmp_path / "wf.html", result, doc).read_text("utf-8")
    assert len(page) - len(get_plotlyjs()) < 1_000_000  # the data, beside the 4.8 MB library
    assert len(page) < 6_000_000
