"""The backtest page's time charts: equity against buy & hold with the drawdown under it, halted
periods shaded, the bar where sizing stopped the strategy, and the scorer's conviction.

Every bar series is thinned to ``BAR_POINTS`` (a bucket of bars gives one point: its last value,
or its lowest for the drawdown), so a year of minute bars stays a few MB; trades are never
thinned. Times are written as ``YYYY-MM-DD HH:MM`` strings: plotly reads them as dates, and
they are a third of the size of its own ISO form.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from backtest.report import thin

# Points per bar series (and candles per chart): enough for a 1366-pixel-wide screen.
BAR_POINTS = 5_000
CHART_FONT = {"family": "system-ui, sans-serif", "size": 12}
WIN, LOSS = "#1a7f37", "#cf222e"
_PERIOD_STYLE = {  # kind -> (legend label, fill colour)
    "drawdown_latch": ("halted: drawdown latch", "rgba(207, 34, 46, 0.13)"),
    "daily_pause": ("paused: daily loss limit", "rgba(191, 135, 0, 0.16)"),
}
_ENDS = {"drawdown_latch": ("resume",), "daily_pause": ("daily_clear",)}


@dataclass(frozen=True, slots=True)
class Period:
    """A stretch of time when entries were blocked: a halt's kind, its start and its end."""

    kind: str
    start: pd.Timestamp
    end: pd.Timestamp


@dataclass(frozen=True, slots=True)
class Marker:
    """One moment to mark on every time chart (where sizing stopped the strategy)."""

    time: datetime
    label: str  # a few words on the chart
    text: str  # the whole sentence, in the verdict


def halt_periods(halts: pd.DataFrame | None, last_bar: pd.Timestamp) -> list[Period]:
    """Halted stretches from the halt events: a latch until a resume, a pause until its clear.

    A halt still in force at the end runs to ``last_bar`` (a backtest has no operator to
    resume the drawdown latch).
    """
    if halts is None or not len(halts):
        return []
    events = sorted(zip(pd.DatetimeIndex(halts["time"]), halts["kind"], strict=True),
                    key=lambda e: e[0])
    periods: list[Period] = []
    for kind, ends in _ENDS.items():
        start: pd.Timestamp | None = None
        for time, event in events:
            if event == kind and start is None:
                start = time
            elif event in ends and start is not None:
                periods.append(Period(kind, start, time))
                start = None
        if start is not None:
            periods.append(Period(kind, start, last_bar))
    return periods


def column(trades: pd.DataFrame, name: str) -> np.ndarray:
    """A numeric column of the trades as float64; NaN when the engine has none (the seed's
    trades carry no conviction)."""
    if name not in trades:
        return np.full(len(trades), np.nan)
    return trades[name].to_numpy(np.float64)


def times(index: pd.Index) -> np.ndarray:
    """Times as ``YYYY-MM-DD HH:MM`` strings (UTC): the compact form plotly reads as dates."""
    stamps = pd.DatetimeIndex(index)
    if stamps.tz is not None:
        stamps = stamps.tz_convert("UTC").tz_localize(None)
    return np.asarray(stamps.strftime("%Y-%m-%d %H:%M"), dtype=object)


def equity_figure(equity: pd.Series, close: pd.Series, *, periods: Sequence[Period],
                  marker: Marker | None) -> Any:
    """Equity against buy & hold, the drawdown under it, halted periods shaded."""
    from plotly.subplots import make_subplots  # type: ignore[import-untyped]

    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.05,
                        row_heights=[0.68, 0.32])
    hold = close / close.iloc[0] * equity.iloc[0]
    drawdown = (equity / equity.cummax() - 1.0) * 100.0
    value, held = thin(equity, "last", BAR_POINTS), thin(hold, "last", BAR_POINTS)
    deepest = thin(drawdown, "min", BAR_POINTS)
    fig.add_trace(line(value, "equity", "#1f6feb", width=1.6), row=1, col=1)
    fig.add_trace(line(held, "buy & hold", "#8c959f", dash="dot"), row=1, col=1)
    fig.add_trace(line(deepest, "drawdown", LOSS, fill="tozeroy",
                       fillcolor="rgba(207, 34, 46, 0.22)"), row=2, col=1)
    low = float(np.nanmin([value.min(), held.min()]))
    high = float(np.nanmax([value.max(), held.max()]))
    shade(fig, periods, row=1, low=low, high=high, legend=True)
    shade(fig, periods, row=2, low=float(deepest.min()), high=0.0, legend=False)
    mark(fig, marker, rows=2)
    fig.update_yaxes(title_text="equity (quote)", row=1, col=1)
    fig.update_yaxes(title_text="drawdown", ticksuffix="%", row=2, col=1)
    return layout(fig, height=460, x_title_row=2, span=equity.index)


def conviction_figure(entries: pd.DataFrame, *, min_conviction: float | None, source: str,
                      span: pd.Index) -> Any:
    """The scorer's conviction at each entry (green: the trade won), its threshold dashed."""
    import plotly.graph_objects as go  # type: ignore[import-untyped]

    won = entries["pnl"].to_numpy(np.float64) > 0
    fig = go.Figure(go.Scatter(
        x=times(pd.DatetimeIndex(entries["entry_time"])), y=entries["conviction"],
        mode="markers", name=f"conviction ({source})",
        marker={"color": np.where(won, WIN, LOSS), "size": 7, "opacity": 0.85},
        customdata=entries["pnl"].to_numpy(np.float64),
        hovertemplate="%{x}<br>conviction %{y:.2f}<br>P&L %{customdata:+,.2f}<extra></extra>",
    ))
    if min_conviction is not None:
        fig.add_hline(y=min_conviction, line={"dash": "dash", "color": "#6e7781", "width": 1},
                      annotation_text=f"min conviction {min_conviction:g}",
                      annotation_position="bottom right")
    fig.update_yaxes(title_text="conviction", range=[-1.05, 1.05])
    return layout(fig, height=260, x_title_row=None, span=span)


def line(series: pd.Series, name: str, color: str, *, dash: str = "solid",
         width: float = 1.2, fill: str | None = None, fillcolor: str | None = None) -> Any:
    """A plain line trace of ``series`` (already thinned) with compact times."""
    import plotly.graph_objects as go

    return go.Scatter(x=times(series.index), y=series.to_numpy(np.float64), mode="lines",
                      name=name, line={"color": color, "width": width, "dash": dash},
                      fill=fill, fillcolor=fillcolor)


def shade(fig: Any, periods: Sequence[Period], *, row: int, low: float, high: float,
          legend: bool) -> None:
    """Shade ``periods`` on subplot ``row`` between ``low`` and ``high``: one trace per kind."""
    import plotly.graph_objects as go

    for kind, (label, color) in _PERIOD_STYLE.items():
        mine = [p for p in periods if p.kind == kind]
        if not mine:
            continue
        # One closed polygon per period, separated by gaps: a thousand pauses stay one trace.
        xs: list[object] = []
        ys: list[float | None] = []
        for p in mine:
            start, end = times(pd.DatetimeIndex([p.start, p.end]))
            xs += [start, start, end, end, start, None]
            ys += [low, high, high, low, low, None]
        fig.add_trace(go.Scatter(
            x=xs, y=ys, mode="lines", fill="toself", fillcolor=color, line={"width": 0},
            name=label, legendgroup=kind, showlegend=legend, hoveron="fills", text=label,
            hoverinfo="text",
        ), row=row, col=1)


def mark(fig: Any, marker: Marker | None, *, rows: int) -> None:
    """A dashed vertical line at ``marker`` on every subplot, labelled on the top one."""
    if marker is None:
        return
    (at,) = times(pd.DatetimeIndex([marker.time]))
    style = {"dash": "dash", "color": "#8250df", "width": 1.5}
    for row in range(1, rows + 1):
        fig.add_vline(x=at, line=style, row=row, col=1)
    fig.add_annotation(x=at, y=1.0, xref="x", yref="paper", text=marker.label,
                       showarrow=False, xanchor="left", yanchor="top",
                       font={"color": "#8250df"}, bgcolor="rgba(255,255,255,0.8)")


def layout(fig: Any, *, height: int, x_title_row: int | None,
           span: pd.Index | None = None) -> Any:
    """Shared layout: the legend above the plot (clear of every axis title), UTC time axis.

    ``span``: the bars' times; the time axis is held to them (plotly pads an axis by 5% each
    side for marker traces, which showed months that are not in the data).
    """
    fig.update_layout(
        height=height, margin={"l": 64, "r": 16, "t": 36, "b": 40}, font=CHART_FONT,
        hovermode="closest", plot_bgcolor="#ffffff", paper_bgcolor="#ffffff",
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "left", "x": 0.0},
    )
    fig.update_xaxes(showgrid=True, gridcolor="#eaeef2", rangeslider_visible=False)
    if span is not None and len(span):
        fig.update_xaxes(range=list(times(pd.DatetimeIndex([span[0], span[-1]]))))
    fig.update_yaxes(showgrid=True, gridcolor="#eaeef2", zeroline=False)
    if x_title_row is None:
        fig.update_xaxes(title_text="time (UTC)")
    else:  # subplots share the time axis: its title goes under the bottom one only
        fig.update_xaxes(title_text="time (UTC)", row=x_title_row, col=1)
    return fig
