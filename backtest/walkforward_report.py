"""The walk-forward's HTML page: the verdict, the stitched out-of-sample equity against buy & hold
with the test windows marked, each swept parameter's pick per window, the per-window table, the
gates and the over-fitting statistics with how to read them.

Figures and words come from the JSON document (``backtest.walkforward_summary``), so the page,
the screen and ``--json`` cannot disagree; the result gives only the bar series and the grid's
ranges. Drawn with the backtest page's helpers and style, plotly.js inlined once (no CDN). A bar
series longer than BAR_POINTS keeps each bucket's lowest and highest point (``keep_extremes``),
so no drawdown is hidden however long the data.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from backtest.gates import GateResult
from backtest.report import Markup, Section, html_table, write_report
from backtest.report_charts import (
    BAR_POINTS,
    LOSS,
    Marker,
    halt_periods,
    layout,
    line,
    mark,
    shade,
    times,
)
from backtest.report_page import PAGE_STYLE, verdict_html
from backtest.report_tables import TABLE_STYLE
from backtest.sweep_table import METRIC_KEYS, METRIC_LABELS, fmt, value_text
from backtest.walkforward_table import headline, overfitting_lines

if TYPE_CHECKING:
    from backtest.walkforward import WalkForwardResult

BOUNDARY = "#6e7781"
STYLE = """
.read { color: #57606a; font-size: .85rem; margin: -.1rem 0 .7rem 1.2rem; max-width: 60rem; }
.stat { margin: .5rem 0 0; }
"""


def write_walkforward_report(path: str | Path, result: WalkForwardResult,
                             doc: Mapping[str, Any]) -> Path:
    """Write the walk-forward's self-contained page atomically; returns its path."""
    marker = sizing_marker(doc)
    lead = "".join(f'<p class="sub">{html.escape(text)}</p>' for text in _sub_lines(doc))
    lead += verdict_html(gates_of(doc), result.stats, marker)
    windows = len(doc["windows"])
    sections: list[Section] = [
        ("Stitched out-of-sample equity against buy & hold, drawdown",
         equity_figure(result, doc, marker)),
        ("Parameter path: each window's pick over its grid", path_figure(result, doc)),
        (f"Windows ({windows:,}) and parameter stability",
         windows_table(doc) + stability_html(doc)),
        ("Gates and over-fitting statistics", gates_html(doc)),
    ]
    title = f"Walk-forward {doc.get('symbol', '')} {doc['timeframe']}, {doc['strategy']}"
    return write_report(path, title, sections, lead=lead,
                        style=PAGE_STYLE + TABLE_STYLE + STYLE)


def gates_of(doc: Mapping[str, Any]) -> tuple[GateResult, ...]:
    """The document's gates as GateResults (a null figure back to NaN), for the verdict box."""
    return tuple(GateResult(g["name"], g["rule"], _number(g["figure"]),
                            float(g["threshold"]), bool(g["passed"])) for g in doc["gates"])


def sizing_marker(doc: Mapping[str, Any]) -> Marker | None:
    """Where half-Kelly of the out-of-sample record stopped the strategy, as backtest marks it."""
    stop = doc["out_of_sample"].get("sizing_stop")
    if not stop:
        return None
    at = pd.Timestamp(stop["first_refused_time"] or stop["time"])
    return Marker(time=at.to_pydatetime(), label="sizing stopped", text=stop["sentence"])


def keep_extremes(series: pd.Series, max_points: int = BAR_POINTS) -> pd.Series:
    """At most ``max_points`` points: the first, the last, and each bucket's lowest and highest."""
    n = len(series)
    if n <= max_points:
        return series
    buckets = max(1, (max_points - 2) // 2)
    per = -(-n // buckets)
    values = series.to_numpy(np.float64)
    rows = -(-n // per)
    padded = np.concatenate([values, np.full(rows * per - n, values[-1])]).reshape(rows, per)
    start = np.arange(rows) * per
    keep = np.concatenate([start + padded.argmin(axis=1), start + padded.argmax(axis=1),
                           [0, n - 1]])
    return series.iloc[np.unique(np.minimum(keep, n - 1))]


def equity_figure(result: WalkForwardResult, doc: Mapping[str, Any],
                  marker: Marker | None) -> Any:
    """The stitched equity against buy & hold, its drawdown under it, window starts dotted."""
    from plotly.subplots import make_subplots  # type: ignore[import-untyped]

    equity = result.stitched.equity
    drawdown = (equity / equity.cummax() - 1.0) * 100.0
    value, held = keep_extremes(equity), keep_extremes(result.buy_and_hold)
    deepest = keep_extremes(drawdown)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.05,
                        row_heights=[0.68, 0.32])
    fig.add_trace(line(value, "equity, out of sample", "#1f6feb", width=1.6), row=1, col=1)
    fig.add_trace(line(held, "buy & hold", "#8c959f", dash="dot"), row=1, col=1)
    fig.add_trace(line(deepest, "drawdown", LOSS, fill="tozeroy",
                       fillcolor="rgba(207, 34, 46, 0.22)"), row=2, col=1)
    low = float(np.nanmin([value.min(), held.min()]))
    high = float(np.nanmax([value.max(), held.max()]))
    bottom = min(float(deepest.min()), -0.01)
    _boundaries(fig, doc, row=1, low=low, high=high, legend=True)
    _boundaries(fig, doc, row=2, low=bottom, high=0.0, legend=False)
    periods = halt_periods(result.stitched.halts(), equity.index[-1])
    shade(fig, periods, row=1, low=low, high=high, legend=True)
    shade(fig, periods, row=2, low=bottom, high=0.0, legend=False)
    mark(fig, marker, rows=2)
    fig.update_yaxes(title_text="equity (quote)", row=1, col=1)
    fig.update_yaxes(title_text="drawdown", ticksuffix="%", row=2, col=1)
    return layout(fig, height=460, x_title_row=2, span=equity.index)


def _boundaries(fig: Any, doc: Mapping[str, Any], *, row: int, low: float, high: float,
                legend: bool) -> None:
    # Every test window after the first starts at a dotted line: one trace, gaps between.
    import plotly.graph_objects as go  # type: ignore[import-untyped]

    later = doc["windows"][1:]
    if not later:
        return
    starts = times(pd.DatetimeIndex([w["test"]["first_bar"] for w in later]))
    xs: list[object] = []
    ys: list[float | None] = []
    words: list[str] = []
    for w, at in zip(later, starts, strict=True):
        xs += [at, at, None]
        ys += [low, high, None]
        words += [f"window {w['number']} from {at}"] * 2 + [""]
    fig.add_trace(go.Scatter(
        x=xs, y=ys, mode="lines", name="test window starts", legendgroup="windows",
        showlegend=legend, line={"color": BOUNDARY, "width": 1, "dash": "dot"},
        text=words, hoverinfo="text"), row=row, col=1)


def path_figure(result: WalkForwardResult, doc: Mapping[str, Any]) -> Any:
    """One step chart per swept parameter: its pick per window, over the grid's range."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    names: Sequence[str] = doc["swept_params"]
    if not names:
        return '<p class="note">One combination: no parameter was swept.</p>'
    wins = doc["windows"]
    span = pd.DatetimeIndex([w["test"]["first_bar"] for w in wins]
                            + [wins[-1]["test"]["last_bar"]])
    numbers = [w["number"] for w in wins]
    fig = make_subplots(rows=len(names), cols=1, shared_xaxes=True,
                        vertical_spacing=min(0.08, 0.3 / len(names)))
    for row, name in enumerate(names, start=1):
        picks, axis = _axis([w["params"][name] for w in wins], result.grid.values(name))
        fig.add_trace(go.Scatter(
            x=times(span), y=[*picks, picks[-1]], mode="lines+markers", line_shape="hv",
            name=name, line={"color": "#1f6feb", "width": 1.6},
            marker={"size": [7] * len(picks) + [0]}, customdata=[*numbers, numbers[-1]],
            hovertemplate=(f"window %{{customdata}} from %{{x}}<br>{html.escape(name)} "
                           "%{y}<extra></extra>")), row=row, col=1)
        fig.update_yaxes(title_text=name, row=row, col=1, **axis)
    fig.update_layout(showlegend=False)
    return layout(fig, height=max(240, 150 * len(names) + 90), x_title_row=len(names),
                  span=span)


def _axis(picks: list[Any], grid: Sequence[Any]) -> tuple[list[Any], dict[str, Any]]:
    # The picks as drawn, and a y axis spanning the whole grid (categories for texts).
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in grid):
        low, high = float(min(grid)), float(max(grid))
        pad = (high - low) * 0.06 if high > low else 0.5
        return picks, {"range": [low - pad, high + pad]}
    labels = [value_text(v) for v in grid]
    return [value_text(v) for v in picks], {"type": "category", "categoryorder": "array",
                                            "categoryarray": labels, "range": [-0.5,
                                                                               len(labels) - 0.5]}


def windows_table(doc: Mapping[str, Any]) -> str:
    """One row per window: test dates, the pick, IS and OOS figure, OOS rank, its stitched part."""
    key, label = METRIC_KEYS[doc["metric"]], METRIC_LABELS[doc["metric"]]
    names, n = doc["swept_params"], doc["combinations"]
    header = ["#", "test from (UTC)", "test to (UTC)", *names, f"IS {label}", f"OOS {label}",
              "OOS rank", "return %", "trades", "halted bars"]
    rows = [[w["number"], _when(w["test"]["first_bar"]), _when(w["test"]["last_bar"]),
             *(value_text(w["params"][k]) for k in names),
             fmt(w["in_sample"][key], ".2f"), fmt(w["out_of_sample"][key], ".2f"),
             f"{w['out_of_sample_rank']:,} of {n:,}", fmt(w["stitched"]["return_pct"], "+.2f"),
             f"{w['stitched']['trades']:,}", f"{w['stitched']['halted_bars']:,}"]
            for w in doc["windows"]]
    note = (f'<p class="note">IS, OOS: {html.escape(label)} of the pick in training and on its '
            "test window run afresh; OOS rank: its place among every combination run on that "
            "test window; return %, trades: the window's part of the one stitched run.</p>")
    return f'<div class="scroll" id="windows">{html_table(rows, header)}</div>{note}'


def stability_html(doc: Mapping[str, Any]) -> str:
    """The out-of-sample rank and each parameter's stability, each with its reading line."""
    rank, stability = doc["out_of_sample_rank"], doc["stability"]
    parts = [_stat(f"Picks: median out-of-sample rank {rank['median']:,.0f} of {rank['of']:,}, "
                   f"{rank['share_in_lower_half']:.0%} of windows in the lower half",
                   rank["read"])]
    lines = []
    for name, s in stability.items():
        if name == "read":
            continue
        spread = "" if s["spread"] is None else f", spread {s['spread']:.2f} of the grid"
        lines.append(f"{name}: {s['distinct']} distinct values, most often "
                     f"{value_text(s['mode'])} ({s['mode_share']:.0%}){spread}")
    if lines:
        parts += [f'<p class="stat">{html.escape(text)}</p>' for text in lines]
        parts.append(f'<p class="read">{html.escape(stability["read"])}</p>')
    return "".join(parts)


def gates_html(doc: Mapping[str, Any]) -> str:
    """The gates on the stitched run, then the DSR, the PBO and the bootstrap with their reads."""
    rows = [[g["rule"], fmt(g["figure"], ".3f"),
             Markup('<span class="pass">pass</span>' if g["passed"]
                    else '<span class="fail">FAIL</span>')] for g in doc["gates"]]
    parts = [html_table(rows, ["gate", "figure", "result"])]
    lines = overfitting_lines(doc["overfitting"])  # a statistic, then its reading line
    for text in lines:
        kind = "read" if text.startswith("    ") else "stat"
        parts.append(f'<p class="{kind}">{html.escape(text.strip())}</p>')
    return "".join(parts)


def _sub_lines(doc: Mapping[str, Any]) -> list[str]:
    nxt = doc["next"]
    params = ", ".join(f"{k}={value_text(v)}" for k, v in nxt["params"].items())
    return [*headline(doc), f"Next: {params or 'the strategy as given'}, picked on "
            f"{nxt['trained_on']['first_bar'][:10]} .. {nxt['trained_on']['last_bar'][:10]}"]


def _stat(text: str, read: str) -> str:
    return f'<p class="stat">{html.escape(text)}</p><p class="read">{html.escape(read)}</p>'


def _when(iso: str) -> str:
    return iso[:16].replace("T", " ")


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)
