"""The HTML reports: one self-contained page (no CDN), sections named, written atomically; the
backtest's page with its verdict first, every chart, trade and table (the browser test opens it
in Chromium: test_report_browser.py)."""

from __future__ import annotations

import io
import os
import re
import stat
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from backtest.report import Markup, html_table, write_report
from backtest.report_charts import BAR_POINTS, halt_periods
from backtest.report_page import BacktestPage, page_sections, write_backtest_report
from backtest.report_price import candles, on_price_scale
from backtest.report_status import ReportStatus
from backtest.report_tables import monthly_returns
from tests.backtest.report_fixture import sample_page


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
    from backtest.report import thin

    index = pd.date_range("2025-01-01", periods=100_001, freq="min")
    series = pd.Series(np.sin(np.arange(index.size) / 500.0), index=index)
    thinned = thin(series, "min", max_points=1_000)
    assert len(thinned) <= 1_000
    assert thinned.min() == series.min()
    assert thinned.index[-1] == index[-1]
    short = series.iloc[:50]
    assert thin(short, max_points=1_000) is short


# ---------------------------------------------------------------------------------------------
# The backtest's page
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def page() -> BacktestPage:
    return sample_page()


@pytest.fixture(scope="module")
def written(page: BacktestPage, tmp_path_factory: pytest.TempPathFactory) -> str:
    old = os.umask(0o022)
    try:
        path = write_backtest_report(tmp_path_factory.mktemp("page") / "r.html", page)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # readable by others, as open() makes it
    return path.read_text(encoding="utf-8")


def test_the_verdict_comes_first_and_says_why(written: str, page: BacktestPage) -> None:
    verdict = written.index('id="verdict"')
    assert verdict < written.index("<h2")
    assert verdict < written.index('id="figure-0"')
    failed = [g for g in page.gates if not g.passed]
    assert failed, "the sample run is meant to fail a gate"
    assert '<div class="badge">FAIL</div>' in written
    assert f"{len(failed)} of 3 gates failed: Sharpe Ratio " in written
    assert "(needs &gt; 1)" in written
    assert "Sizing stopped the strategy: half-Kelly of the first 50" in written


def test_every_chart_trade_and_halt_is_on_the_page(written: str, page: BacktestPage) -> None:
    assert page.halts is not None
    assert {"daily_pause", "drawdown_latch"} <= set(page.halts["kind"])
    assert written.count('class="plotly-graph-div"') == 3  # equity, price, conviction
    for name in ("equity", "buy & hold", "drawdown", "halted: drawdown latch",
                 "paused: daily loss limit", "EMA 12", "EMA 26", "RSI", "winning trade",
                 "losing trade", "entry", "exit: stop", "exit: signal", "stop level",
                 "conviction (anthropic test-model)"):
        assert f'"name":"{name}"' in written, name
    assert written.count("sizing stopped") >= 2  # on the equity and the price charts
    assert not re.search(r"<script[^>]+src=", written)
    assert written.count("<script>") == 1 + 3 + 1  # plotly.js, a call per figure, the sorter


def test_candles_are_thinned_and_trades_kept_exact(page: BacktestPage) -> None:
    sections = page_sections(page, lambda _text: None)
    price = dict(sections)[next(h for h, _ in sections if h.startswith("Price"))]
    candles = [t for t in price.data if t.type == "candlestick"]
    assert len(candles) == 1
    assert len(candles[0].x) <= BAR_POINTS < len(page.bars)
    entries = next(t for t in price.data if t.name == "entry")
    assert len(entries.x) == len(page.trades)
    assert list(entries.y) == list(page.trades["entry_price"])
    for section in sections:  # legends above the plot: never over an axis title
        if not isinstance(section[1], str):
            assert section[1].layout.legend.y >= 1.0


def test_tables_trades_months_exits_and_readable_settings(
    written: str, page: BacktestPage
) -> None:
    trades = written[written.index('<table class="sortable" id="trades">'):]
    trades = trades[:trades.index("</table>")]
    assert trades.count("<tr>") == len(page.trades) + 1  # one per trade and the heading
    assert 'data-v="' in trades
    assert "<th>year</th><th>Jan</th>" in written
    assert "<td>2024</td>" in written
    for reason in set(page.trades["exit_reason"]):
        assert f"<tr><td>{reason}</td>" in written
    for text in ("rsi_window", "14 (bars in the RSI)", "90% of equity",
                 "1.5% below the entry price", "0.1% of notional, each side",
                 "anthropic test-model"):
        assert text in written, text
    assert not re.search(r"\b(SignalParams|RiskConfig|LoadedStrategy|BacktestConfig)\(", written)


def test_halted_periods_run_from_the_halt_to_its_clear_or_the_end() -> None:
    t = pd.date_range("2024-01-01", periods=6, freq="D", tz="UTC")
    halts = pd.DataFrame({"time": [t[0], t[1], t[2], t[4]],
                          "kind": ["daily_pause", "daily_clear", "drawdown_latch",
                                   "daily_pause"]})
    periods = halt_periods(halts, t[5])
    assert [(p.kind, p.start, p.end) for p in periods] == [
        ("drawdown_latch", t[2], t[5]), ("daily_pause", t[0], t[1]),
        ("daily_pause", t[4], t[5])]
    assert halt_periods(None, t[5]) == []


def test_candles_bucket_open_high_low_close() -> None:
    index = pd.date_range("2024-01-01", periods=5, freq="min", tz="UTC")
    bars = pd.DataFrame({"open": [1.0, 2, 3, 4, 5], "high": [2.0, 9, 4, 5, 6],
                         "low": [0.5, 1, 0.1, 3, 4], "close": [1.5, 2.5, 3.5, 4.5, 5.5]},
                        index=index)
    out = candles(bars, max_points=2)
    assert out.to_dict("list") == {"open": [1.0, 4.0], "high": [9.0, 6.0],
                                   "low": [0.1, 3.0], "close": [3.5, 5.5]}
    assert list(out.index) == [index[0], index[3]]


def test_indicators_on_the_price_scale_are_told_from_the_others() -> None:
    close = pd.Series(np.linspace(100.0, 120.0, 50))
    assert on_price_scale(close.rolling(5, min_periods=1).mean(), close)
    assert not on_price_scale(pd.Series(np.full(50, 55.0)), close)  # an RSI
    assert not on_price_scale(pd.Series(np.full(50, np.nan)), close)


def test_monthly_returns_compound_to_the_year() -> None:
    index = pd.DatetimeIndex(["2024-01-01", "2024-01-31", "2024-02-29"], tz="UTC")
    out = monthly_returns(pd.Series([100.0, 110.0, 99.0], index=index))
    assert "+10.00%" in out
    assert "-10.00%" in out
    assert out.count("-1.00%") == 1  # the year: 1.1 x 0.9 - 1


def test_report_status_is_silent_off_a_terminal() -> None:
    from rich.console import Console

    quiet = io.StringIO()
    with ReportStatus(console=Console(file=quiet, force_terminal=False)) as step:
        step("charting")
    assert quiet.getvalue() == ""
    loud = io.StringIO()
    with ReportStatus(console=Console(file=loud, force_terminal=True, width=80)) as step:
        step("charting")
    assert "building the report: done in" in loud.getvalue()
