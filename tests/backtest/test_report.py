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
