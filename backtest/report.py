"""One self-contained HTML page from headed sections: plotly figures and HTML fragments.

The page inlines plotly.js once (~4.8 MB) instead of linking a CDN: the VPS that reads the report
may be offline. plotly is imported only when a page is written. ``write_report`` is generic (the
sweep's heatmap uses it); ``write_backtest_report`` lays out one backtest.
"""

from __future__ import annotations

import html
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from backtest.gates import GateResult
from backtest.stats import BacktestStats, stats_rows

log = logging.getLogger(__name__)

Section = tuple[str, Any]
"""(heading, content): content is a plotly Figure or an HTML fragment string."""

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5rem auto; max-width: 1200px;
       color: #222; padding: 0 1rem; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2rem;
     border-bottom: 1px solid #ddd; padding-bottom: .2rem; }
table { border-collapse: collapse; font-size: .9rem; }
th, td { padding: .25rem .7rem; border-bottom: 1px solid #eee; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.pass { color: #1a7f37; font-weight: 600; } .fail { color: #cf222e; font-weight: 600; }
.note { color: #666; font-size: .85rem; }
"""


def write_report(path: str | os.PathLike[str], title: str, sections: Sequence[Section]) -> Path:
    """Write a self-contained HTML page (plotly.js inlined, no CDN) atomically; return its path."""
    page = render_report(title, sections)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(page)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    log.info("report written to %s (%d bytes)", target, len(page))
    return target


def render_report(title: str, sections: Sequence[Section]) -> str:
    """The page as a string: a heading per section, figures drawn by the one inlined plotly.js."""
    body: list[str] = []
    has_figure = False
    for number, (heading, content) in enumerate(sections):
        body.append(f'<h2 id="section-{number}">{html.escape(heading)}</h2>')
        if isinstance(content, str):
            body.append(content)
        else:
            has_figure = True
            body.append(_figure_div(content, number))
    script = f"<script>{_plotly_js()}</script>" if has_figure else ""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style>{script}</head>"
        f"<body><h1>{html.escape(title)}</h1>\n" + "\n".join(body) + "\n</body></html>\n"
    )


def html_table(rows: Sequence[Sequence[object]], header: Sequence[str]) -> str:
    """A small HTML table; cells are escaped unless they are already ``Markup``."""
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    lines = ["<table><thead><tr>", head, "</tr></thead><tbody>"]
    for row in rows:
        cells = "".join(f"<td>{_cell(c)}</td>" for c in row)
        lines.append(f"<tr>{cells}</tr>")
    lines.append("</tbody></table>")
    return "".join(lines)


class Markup(str):
    """A string already safe as HTML (not escaped again by ``html_table``)."""

    __slots__ = ()


def _cell(value: object) -> str:
    return value if isinstance(value, Markup) else html.escape(str(value))


def _figure_div(figure: Any, number: int) -> str:
    # include_plotlyjs=False: the library is inlined once in <head> for all figures.
    return str(
        figure.to_html(
            full_html=False, include_plotlyjs=False, div_id=f"figure-{number}",
            config={"displaylogo": False, "responsive": True},
        )
    )


def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs  # type: ignore[import-untyped]

    # "</script" inside the bundle would end the tag early; the minified bundle has none, but
    # escaping it costs nothing and keeps the page valid whatever plotly version is installed.
    return str(get_plotlyjs()).replace("</script", "<\\/script")


# ---------------------------------------------------------------------------------------------
# The backtest's page
# ---------------------------------------------------------------------------------------------

# Points per line: a year of minute bars (525,600) as one line makes a ~30 MB page that a
# browser draws slowly; lines are thinned to this, markers never are.
MAX_LINE_POINTS = 20_000
_EXIT_STYLE = {
    "signal": ("triangle-down", "#1f6feb"),
    "stop": ("x", "#cf222e"),
    "halt": ("diamond", "#bf8700"),
    "end": ("circle-open", "#6e7781"),
}
_HALT_STYLE = {
    "daily_pause": ("square", "#bf8700"),
    "daily_clear": ("square-open", "#bf8700"),
    "drawdown_latch": ("star", "#000000"),
}


def write_backtest_report(
    path: str | os.PathLike[str],
    *,
    title: str,
    portfolio: Any,
    trades: pd.DataFrame,
    halts: pd.DataFrame | None,
    stats: BacktestStats,
    gates: Sequence[GateResult],
    summary: Sequence[tuple[str, str]],
) -> Path:
    """The backtest report: summary, figures, gates, equity, drawdown, price with every trade."""
    gate_rows = [
        (g.rule, "n/a" if not np.isfinite(g.figure) else f"{g.figure:,.4g}",
         Markup('<span class="pass">PASS</span>' if g.passed
                else '<span class="fail">FAIL</span>'))
        for g in gates
    ]
    value = portfolio.value()
    close = portfolio.close
    sections: list[Section] = [
        ("Summary", html_table(summary, ["", ""])),
        ("Statistics", html_table(stats_rows(stats), ["Figure", "Value"])),
        ("Gates", html_table(gate_rows, ["Gate", "Figure", "Result"])),
        ("Equity curve", _equity_figure(value, close)),
        ("Drawdown", _drawdown_figure(portfolio.drawdown() * 100.0)),
        ("Price, entries, exits, stops and halts", _price_figure(close, trades, halts)),
    ]
    return write_report(path, title, sections)


def thin(series: pd.Series, how: str = "last", max_points: int = MAX_LINE_POINTS) -> pd.Series:
    """At most ``max_points`` points: each bucket of bars gives its ``how`` (last / min / max)."""
    n = len(series)
    if n <= max_points:
        return series
    step = -(-n // max_points)
    buckets = np.arange(n) // step
    values = series.groupby(buckets).agg(how).to_numpy()
    ends = np.minimum((np.arange(len(values)) + 1) * step - 1, n - 1)
    return pd.Series(values, index=series.index[ends], name=series.name)


def _equity_figure(value: pd.Series, close: pd.Series) -> Any:
    import plotly.graph_objects as go  # type: ignore[import-untyped]

    hold = close / close.iloc[0] * value.iloc[0]
    fig = go.Figure()
    fig.add_trace(_line(thin(value), "equity", "#1f6feb"))
    fig.add_trace(_line(thin(hold), "buy & hold", "#8c959f", dash="dot"))
    return _layout(fig, "quote currency")


def _drawdown_figure(drawdown_pct: pd.Series) -> Any:
    import plotly.graph_objects as go

    fig = go.Figure(_line(thin(drawdown_pct, "min"), "drawdown [%]", "#cf222e", fill=True))
    return _layout(fig, "% below the running peak")


def _price_figure(close: pd.Series, trades: pd.DataFrame, halts: pd.DataFrame | None) -> Any:
    import plotly.graph_objects as go

    fig = go.Figure(_line(thin(close), "close", "#57606a"))
    if len(trades):
        entry_t, exit_t = _naive(trades["entry_time"]), _naive(trades["exit_time"])
        if "stop_price" in trades:
            fig.add_trace(_stop_segments(entry_t, exit_t, trades["stop_price"]))
        fig.add_trace(go.Scatter(
            x=entry_t, y=trades["entry_price"], mode="markers", name="entry",
            marker={"symbol": "triangle-up", "color": "#1a7f37", "size": 9},
        ))
        for reason, (symbol, color) in _EXIT_STYLE.items():
            chosen = (trades["exit_reason"] == reason).to_numpy()
            if chosen.any():
                fig.add_trace(go.Scatter(
                    x=exit_t[chosen], y=trades["exit_price"][chosen], mode="markers",
                    name=f"exit: {reason}", marker={"symbol": symbol, "color": color, "size": 9},
                ))
    for kind, (symbol, color) in _HALT_STYLE.items():
        if halts is None or not len(halts):
            break
        times = _naive(halts["time"][halts["kind"] == kind])
        if len(times):
            fig.add_trace(go.Scatter(
                x=times, y=close.reindex(times).to_numpy(), mode="markers", name=f"halt: {kind}",
                marker={"symbol": symbol, "color": color, "size": 11},
            ))
    return _layout(fig, "price")


def _stop_segments(entry_t: pd.DatetimeIndex, exit_t: pd.DatetimeIndex, stop: pd.Series) -> Any:
    import plotly.graph_objects as go

    # One trace of segments separated by gaps (None): thousands of stops stay one trace.
    n = len(stop)
    xs = np.empty(3 * n, dtype=object)
    ys = np.full(3 * n, np.nan)
    xs[0::3], xs[1::3], xs[2::3] = entry_t, exit_t, None
    ys[0::3] = ys[1::3] = stop.to_numpy(np.float64)
    return go.Scatter(x=xs, y=ys, mode="lines", name="stop level", connectgaps=False,
                      line={"color": "#cf222e", "width": 1, "dash": "dot"})


def _line(series: pd.Series, name: str, color: str, *, dash: str = "solid",
          fill: bool = False) -> Any:
    import plotly.graph_objects as go

    return go.Scatter(x=series.index, y=series.to_numpy(), mode="lines", name=name,
                      line={"color": color, "width": 1.2, "dash": dash},
                      fill="tozeroy" if fill else None)


def _layout(fig: Any, y_title: str) -> Any:
    fig.update_layout(height=420, margin={"l": 60, "r": 20, "t": 20, "b": 40},
                      xaxis_title="time (UTC)", yaxis_title=y_title, hovermode="closest",
                      legend={"orientation": "h"})
    return fig


def _naive(times: pd.Series) -> pd.DatetimeIndex:
    # The portfolio's index is naive UTC (vectorbt is slow with a tz); plot on the same axis.
    index = pd.DatetimeIndex(times)
    return index.tz_convert("UTC").tz_localize(None) if index.tz is not None else index
