"""backtest.report: one self-contained page (no CDN), sections named, written atomically."""

from __future__ import annotations

import re
from pathlib import Path

import plotly.graph_objects as go

from backtest.report import Markup, html_table, write_report


def test_page_inlines_plotly_once_and_names_every_section(tmp_path: Path) -> None:
    fig_a = go.Figure(go.Scatter(x=[1, 2, 3], y=[1, 3, 2]))
    fig_b = go.Figure(go.Bar(x=["a", "b"], y=[2, 1]))
    table = html_table([["Sharpe", Markup('<span class="pass">pass</span>')]], ["gate", "result"])
    path = write_report(
        tmp_path / "sub" / "r.html", "Test <report>",
        [("Equity", fig_a), ("Heat & map", fig_b), ("Gates", table)],
    )
    page = path.read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]+src=[\"']?https?:", page)
    assert page.count("<script>") == 1 + 2  # the library once, then one call per figure
    for heading in ("Equity", "Heat &amp; map", "Gates", "Test &lt;report&gt;"):
        assert heading in page
    assert '<span class="pass">pass</span>' in page
    assert list(tmp_path.joinpath("sub").iterdir()) == [path]  # no temp file left behind


def test_html_only_page_carries_no_plotly(tmp_path: Path) -> None:
    path = write_report(tmp_path / "r.html", "t", [("Only text", "<p>x &lt; y</p>")])
    page = path.read_text(encoding="utf-8")
    assert "Plotly" not in page
    assert "<p>x &lt; y</p>" in page


def test_table_cells_are_escaped() -> None:
    assert "&lt;b&gt;" in html_table([["<b>"]], ["h"])


def test_thin_keeps_at_most_max_points_and_the_extremes_asked_for() -> None:
    import numpy as np
    import pandas as pd

    from backtest.report import thin

    index = pd.date_range("2025-01-01", periods=100_001, freq="min")
    series = pd.Series(np.sin(np.arange(index.size) / 500.0), index=index)
    thinned = thin(series, "min", max_points=1_000)
    assert len(thinned) <= 1_000
    assert thinned.min() == series.min()
    assert thinned.index[-1] == index[-1]
    short = series.iloc[:50]
    assert thin(short, max_points=1_000) is short


def test_backtest_page_marks_every_trade_and_halt_on_a_thinned_price_line(tmp_path: Path) -> None:
    from backtest.engine import BacktestConfig, run_backtest
    from backtest.gates import GateSettings, evaluate_gates
    from backtest.report import write_backtest_report
    from backtest.stats import portfolio_stats
    from data import synthetic_ohlcv
    from risk.config import RiskConfig

    bars = synthetic_ohlcv(25_000, timeframe="1m", start="2024-01-01", seed=11, volatility=0.004)
    risk = RiskConfig(max_position_pct=0.9, daily_loss_limit_pct=0.02, max_drawdown_pct=0.1)
    result = run_backtest(bars, BacktestConfig(risk=risk, default_position_pct=0.9))
    pf = result.portfolio("1m")
    halts = result.halts()
    stats = portfolio_stats(pf, halt_kinds=list(halts["kind"]))
    path = write_backtest_report(
        tmp_path / "r.html", title="t", portfolio=pf, trades=result.trades(), halts=halts,
        stats=stats, gates=evaluate_gates(stats, GateSettings()), summary=[("Data", "x")],
    )
    page = path.read_text(encoding="utf-8")
    assert len(result.trades()) > 10
    assert set(halts["kind"]) >= {"daily_pause", "drawdown_latch"}
    for name in ("entry", "stop level", "halt: daily_pause", "halt: drawdown_latch"):
        assert f'"name":"{name}"' in page
