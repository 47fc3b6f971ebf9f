"""The backtest's HTML page: the verdict first, then the charts and tables a trader reads.

Order, for a 1366x768 screen: the verdict (gates PASS/FAIL with the one-line why, the headline
figures and, when sizing stopped the strategy, when and why) and the top of the equity chart are
above the fold. Then the price with indicators and trades, conviction (with a scorer), every
trade in a sortable table, monthly returns and exits by reason, statistics and settings.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from backtest.gates import GateResult
from backtest.report import Section, html_table, write_report
from backtest.report_charts import BAR_POINTS, Marker, halt_periods
from backtest.report_tables import (
    SORT_SCRIPT,
    TABLE_STYLE,
    SettingsGroup,
    exit_breakdown,
    monthly_returns,
    settings_table,
    trades_table,
)
from backtest.stats import BacktestStats, stats_rows

Step = Callable[[str], None]
_RULE = re.compile(r"(.+?) ([<>]=? \S+)")  # "Total Trades > 50": the figure's name, the test

PAGE_STYLE = """
.sub { color: #57606a; margin: 0 0 .5rem; font-size: .9rem; }
nav { font-size: .85rem; margin: 0 0 .6rem; } nav a { margin-right: .9rem; color: #0969da; }
.verdict { display: flex; gap: 1.1rem; align-items: center; padding: .7rem 1rem;
           border-radius: 8px; border: 1px solid; margin-bottom: .4rem; }
.verdict.pass { background: #dafbe1; border-color: #4ac26b; }
.verdict.fail { background: #ffebe9; border-color: #ff8182; }
.badge { font-size: 1.6rem; font-weight: 700; letter-spacing: .05em; min-width: 4.5rem; }
.verdict.pass .badge { color: #1a7f37; } .verdict.fail .badge { color: #cf222e; }
.why { flex: 1 1 auto; min-width: 0; font-size: .95rem; } .why p { margin: .15rem 0; }
.gates span { display: inline-block; margin-right: 1rem; font-size: .85rem;
              white-space: nowrap; }
.stopped { color: #8250df; font-size: .88rem; }
.kpis { flex: none; display: grid; grid-template-columns: repeat(3, max-content);
        gap: .2rem 1rem; }
.kpis div { text-align: right; } .kpis span { display: block; color: #57606a;
            font-size: .72rem; text-transform: uppercase; } .kpis b { font-size: 1.05rem; }
.pair { display: flex; flex-wrap: wrap; gap: 1rem 2.5rem; align-items: flex-start; }
.pair > div { flex: 0 1 auto; max-width: 100%; overflow-x: auto; }
"""


@dataclass(frozen=True)
class BacktestPage:
    """Everything the backtest's page shows.

    Attributes:
        title / subtitle: the heading and the line under it (market, range, strategy).
        bars: OHLC(V) of the traded bars, UTC index.
        equity: equity at each bar's close, on ``bars``' index.
        trades: one row per trade (backtest.engine.trades_frame's columns).
        halts: halt events (time, kind), None when the engine has none.
        stats / gates: the run's figures and the gates' verdicts on them.
        settings: the run's settings in words (backtest/report_settings.py).
        lines: the strategy's per-bar numbers and indicators, on ``bars``' index.
        conviction_source: who scored the entries ("anthropic claude-..."); None for a fixed
            conviction (no conviction chart then).
        min_conviction: the risk layer's threshold, drawn on the conviction chart.
        marker: where sizing stopped the strategy, marked on every time chart.
    """

    title: str
    subtitle: str
    bars: pd.DataFrame
    equity: pd.Series
    trades: pd.DataFrame
    halts: pd.DataFrame | None
    stats: BacktestStats
    gates: Sequence[GateResult]
    settings: Sequence[SettingsGroup]
    lines: dict[str, pd.Series] = field(default_factory=dict)
    conviction_source: str | None = None
    min_conviction: float | None = None
    marker: Marker | None = None


def write_backtest_report(path: str | Path, page: BacktestPage, *,
                          on_step: Step | None = None) -> Path:
    """Build the page's figures and tables and write it; ``on_step`` hears each step."""
    say = on_step or (lambda _text: None)
    sections = page_sections(page, say)
    say("writing the page")
    lead = (f'<p class="sub">{html.escape(page.subtitle)}</p>{_nav(sections)}'
            + verdict_html(page.gates, page.stats, page.marker))
    return write_report(path, page.title, sections, lead=lead,
                        style=PAGE_STYLE + TABLE_STYLE, script=SORT_SCRIPT)


def page_sections(page: BacktestPage, say: Step) -> list[Section]:
    """The page's sections in reading order (figures built here, plotly imported lazily)."""
    from backtest.report_charts import conviction_figure, equity_figure
    from backtest.report_price import price_figure

    periods = halt_periods(page.halts, page.bars.index[-1])
    say("charting equity and drawdown")
    sections: list[Section] = [(
        "Equity against buy & hold, drawdown", equity_figure(
            page.equity, page.bars["close"], periods=periods, marker=page.marker))]
    say(f"charting {len(page.bars):,} bars and {len(page.trades):,} trades")
    sections.append((_price_heading(len(page.bars)), price_figure(
        page.bars, page.trades, lines=page.lines, periods=periods, marker=page.marker)))
    if page.conviction_source is not None and len(page.trades):
        sections.append(("Conviction at each entry", conviction_figure(
            page.trades, min_conviction=page.min_conviction, source=page.conviction_source,
            span=page.bars.index)))
    say("tables")
    sections += [
        (f"Trades ({len(page.trades):,})", trades_table(page.trades)),
        ("Monthly returns and exits by reason", _pair(
            monthly_returns(page.equity), exit_breakdown(page.trades))),
        ("Statistics and settings", _pair(
            html_table(stats_rows(page.stats), ["Figure", "Value"]),
            settings_table(page.settings))),
    ]
    return sections


def verdict_html(gates: Sequence[GateResult], stats: BacktestStats,
                 marker: Marker | None) -> str:
    """The verdict box: PASS/FAIL, the one-line why, each gate, and the headline figures."""
    failed = [g for g in gates if not g.passed]
    passed = not failed
    if passed:
        why = f"All {len(gates)} gates passed."
    else:
        why = (f"{len(failed)} of {len(gates)} gates failed: "
               + "; ".join(_gate_text(g) for g in failed) + ".")
    chips = "".join(
        f'<span class="{"pass" if g.passed else "fail"}">{"✓" if g.passed else "✗"} '
        f"{html.escape(_gate_text(g))}</span>" for g in gates)
    stop = "" if marker is None else (
        f'<p class="stopped">Sizing stopped the strategy: {html.escape(marker.text)}</p>')
    kpis = "".join(f"<div><span>{k}</span><b>{html.escape(v)}</b></div>"
                   for k, v in _headline(stats))
    return (f'<div class="verdict {"pass" if passed else "fail"}" id="verdict">'
            f'<div class="badge">{"PASS" if passed else "FAIL"}</div>'
            f'<div class="why"><p><b>{html.escape(why)}</b></p>{stop}'
            f'<p class="gates">{chips}</p></div><div class="kpis">{kpis}</div></div>')


def _gate_text(g: GateResult) -> str:
    # "Sharpe Ratio > 1" judged -0.18 reads "Sharpe Ratio -0.18 (needs > 1)".
    if not math.isfinite(g.figure):
        shown = "n/a"
    else:
        shown = f"{g.figure:,.0f}" if g.name == "trades" else f"{g.figure:,.2f}"
    rule = _RULE.fullmatch(g.rule)
    return f"{rule[1]} {shown} (needs {rule[2]})" if rule else f"{g.rule}: {shown}"


def _headline(s: BacktestStats) -> list[tuple[str, str]]:
    return [
        ("return", _pct(s.total_return_pct)), ("buy & hold", _pct(s.buy_and_hold_return_pct)),
        ("Sharpe", _fmt(s.sharpe_ratio, ".2f")), ("max drawdown", _pct(s.max_drawdown_pct, "")),
        ("trades", f"{s.total_trades:,}"), ("win rate", _pct(s.win_rate_pct, "")),
    ]


def _price_heading(bars: int) -> str:
    per = -(-bars // BAR_POINTS)
    thinned = f"; a candle per {per} bars" if per > 1 else ""
    return f"Price, indicators and every trade{thinned}"


def _pair(left: str, right: str) -> str:
    return f'<div class="pair"><div>{left}</div><div>{right}</div></div>'


def _nav(sections: Sequence[Section]) -> str:
    links = "".join(f'<a href="#section-{k}">{html.escape(h.split(",")[0])}</a>'
                    for k, (h, _content) in enumerate(sections) if h)
    return f"<nav>{links}</nav>"


def _pct(value: float, sign: str = "+") -> str:
    return _fmt(value, f"{sign}.2f") + ("%" if math.isfinite(value) else "")


def _fmt(value: float, spec: str) -> str:
    return format(value, spec) if math.isfinite(value) else "n/a"

