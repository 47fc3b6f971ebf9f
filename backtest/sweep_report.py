"""The sweep's HTML page: the headline, the ranked table, the pick's over-fitting statistics
with how to read them, and heatmaps of the ranked figure.

Which heatmaps (``heatmap_panels``): for the seed's grid (rsi_ema), EMA fast x slow once per RSI
window; for any other strategy, one per pair of swept dimensions (the stop counts when swept),
the other dimensions held at the pick's values. At most MAX_HEATMAPS; the page names what was
left out. Each panel shows the in-sample and out-of-sample windows side by side on one colour
scale, so that a colour means the same figure in every panel. With one swept dimension, a line.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from backtest.sweep_table import (
    METRIC_LABELS,
    SIZING_LABELS,
    STOP,
    WINDOW_LABELS,
    describe,
    headline,
    overfitting_block,
    table_header,
    table_rows,
    value_text,
)

if TYPE_CHECKING:
    from backtest.sweep_grid import Combo, SweepGrid
    from backtest.sweep_kernel import SweepResult

__all__ = ["MAX_HEATMAPS", "STOP", "Panel", "heatmap_axes", "heatmap_panels",
           "write_sweep_report"]

MAX_HEATMAPS = 12
SEED_FACET = "rsi_window"  # the seed's grid: one EMA fast x slow heatmap per RSI window
SEED_AXES = ("ema_fast", "ema_slow")


@dataclass(frozen=True)
class Panel:
    """One heatmap: its axes (y first; one name draws a line) and the values it is held at."""

    axes: tuple[str, ...]
    at: Mapping[str, Any] = field(default_factory=dict)  # the rest: the pick's values


def heatmap_axes(grid: SweepGrid) -> list[str]:
    """Up to two dimensions to draw (parameter names, or ``stop_loss_pct``), y first."""
    order = {name: k for k, name in enumerate(grid.names)}
    ranked = sorted(grid.names, key=lambda n: (len(grid.values(n)), order[n]), reverse=True)
    axes = sorted(ranked[:2], key=order.__getitem__)
    if len(axes) < 2 and len(grid.values(STOP)) > 1:
        axes.append(STOP)
    return axes


def heatmap_panels(grid: SweepGrid) -> tuple[list[Panel], list[str]]:
    """The heatmaps to draw (at most MAX_HEATMAPS) and the ones left out, as words."""
    axes = heatmap_axes(grid)
    if len(axes) < 2:
        return ([Panel(tuple(axes))] if axes else []), []
    if _is_seed(grid) and {SEED_FACET, *SEED_AXES} <= set(grid.names):
        values = grid.values(SEED_FACET)
        shown = _spread(values, MAX_HEATMAPS)
        left = [f"{SEED_FACET}={value_text(v)}" for v in values if v not in shown]
        return [Panel(SEED_AXES, {SEED_FACET: v}) for v in shown], left
    dims = [*grid.names, *([STOP] if len(grid.values(STOP)) > 1 else [])]
    # The two longest dimensions first, then every other pair in grid order.
    pairs = [tuple(axes)] + [p for p in itertools.combinations(dims, 2) if list(p) != axes]
    return ([Panel(p) for p in pairs[:MAX_HEATMAPS]],
            [" x ".join(p) for p in pairs[MAX_HEATMAPS:]])


def _is_seed(grid: SweepGrid) -> bool:
    from signals.strategies.rsi_ema import seed_params

    return seed_params(grid.strategy) is not None


def _spread(values: Sequence[Any], most: int) -> list[Any]:
    # ``most`` values evenly over the list, both ends kept.
    if len(values) <= most:
        return list(values)
    step = (len(values) - 1) / (most - 1)
    return [values[round(k * step)] for k in range(most)]


def _coordinate(grid: SweepGrid, combo: Combo, name: str) -> Any:
    return combo.stop_loss_pct if name == STOP else combo.values[grid.names.index(name)]


def panel_values(result: SweepResult, panel: Panel, window: str, metric: str, sizing: str,
                 pick: Combo) -> tuple[list[list[Any]], Any]:
    """(ticks per axis, values array) of one window's figure over the panel's axes."""
    import numpy as np

    from backtest.engine import Sizing
    from backtest.sweep_kernel import METRICS

    grid = result.grid
    held = {n: panel.at.get(n, _coordinate(grid, pick, n))
            for n in (*grid.names, STOP) if n not in panel.axes}
    ticks = [grid.values(name) for name in panel.axes]
    z = np.full([len(t) for t in ticks], np.nan)
    column = METRICS[metric][0]
    figures = result.figures_of(Sizing(sizing))[window]
    for k, c in enumerate(grid.combos):
        if all(_coordinate(grid, c, n) == v for n, v in held.items()):
            value = figures[k, column]
            at = tuple(t.index(_coordinate(grid, c, n))
                       for t, n in zip(ticks, panel.axes, strict=True))
            z[at] = value if np.isfinite(value) else np.nan
    return ticks, z


def panel_figure(result: SweepResult, panel: Panel, doc: Mapping[str, Any], scale: float) -> Any:
    """A plotly figure of the panel: in-sample and out-of-sample side by side."""
    import plotly.graph_objects as go  # type: ignore[import-untyped]
    from plotly.subplots import make_subplots  # type: ignore[import-untyped]

    pick = result.grid.combo_of(doc["picked"])
    windows = list(result.windows)
    label = METRIC_LABELS[doc["metric"]]
    figure = make_subplots(rows=1, cols=len(windows),
                           subplot_titles=[WINDOW_LABELS[w] for w in windows])
    colours = _colours(doc["metric"], scale)
    for col, window in enumerate(windows, start=1):
        ticks, z = panel_values(result, panel, window, doc["metric"], doc["rank_by"], pick)
        if len(panel.axes) == 2:
            trace = go.Heatmap(z=z, x=ticks[1], y=ticks[0], showscale=col == 1,
                               colorbar={"title": label}, **colours)
            figure.update_xaxes(title_text=panel.axes[1], row=1, col=col)
            figure.update_yaxes(title_text=panel.axes[0], row=1, col=col)
        else:
            trace = go.Scatter(x=ticks[0], y=z, mode="lines+markers", name=WINDOW_LABELS[window])
            figure.update_xaxes(title_text=panel.axes[0], row=1, col=col)
        figure.add_trace(trace, row=1, col=col)
    figure.update_layout(height=420, margin={"t": 40}, showlegend=False)
    return figure


def _colours(metric: str, scale: float) -> dict[str, Any]:
    # One scale for every panel; a drawdown is >= 0 and lower is better.
    if metric == "max_drawdown":
        return {"colorscale": "Reds", "zmin": 0.0, "zmax": scale}
    return {"colorscale": "RdBu", "zmid": 0.0, "zmin": -scale, "zmax": scale}


def _scale(result: SweepResult, metric: str, sizing: str) -> float:
    import numpy as np

    from backtest.engine import Sizing
    from backtest.sweep_kernel import METRICS

    column = METRICS[metric][0]
    values = np.concatenate([f[:, column] for f in result.figures_of(Sizing(sizing)).values()])
    finite = np.abs(values[np.isfinite(values)])
    return float(finite.max()) if len(finite) and finite.max() > 0 else 1.0


def write_sweep_report(path: str, result: SweepResult, doc: Mapping[str, Any]) -> Any:
    """Write the HTML page: headline, ranked table, statistics, heatmaps; returns its path."""
    from backtest.report import html_table, write_report

    sections: list[tuple[str, Any]] = [
        ("Summary", "".join(f"<p>{_escape(line)}</p>" for line in headline(doc))),
        ("Ranked combinations", html_table(table_rows(doc), table_header(doc))),
    ]
    if doc.get("overfitting") is not None:
        sections.append(_overfitting_section(doc))
    panels, left = heatmap_panels(result.grid)
    scale = _scale(result, doc["metric"], doc["rank_by"])
    what = f"{METRIC_LABELS[doc['metric']]} {SIZING_LABELS[doc['rank_by']]}"
    for panel in panels:
        sections.append((f"{what} over {' x '.join(panel.axes)}{_held(result, panel, doc)}",
                         panel_figure(result, panel, doc, scale)))
    if left:
        sections.append(("Heatmaps left out", f"<p>{_escape(_left_note(left))}</p>"))
    return write_report(path, f"Sweep {doc.get('symbol', '')} {result.timeframe}, "
                        f"{doc['strategy']}", sections)


def _overfitting_section(doc: Mapping[str, Any]) -> tuple[str, str]:
    # Walkforward's lines: a figure line, then its reading line (indented deeper) as a note.
    title, *lines = overfitting_block(doc)
    body = "".join(f"<p class=\"note\">{_escape(line.strip())}</p>" if line.startswith("    ")
                   else f"<p>{_escape(line.strip())}</p>" for line in lines)
    return title.rstrip(":"), body


def _held(result: SweepResult, panel: Panel, doc: Mapping[str, Any]) -> str:
    # What the panel holds fixed: its own values, then the rest at the pick's.
    grid = result.grid
    own = "".join(f" at {n}={value_text(v)}" for n, v in panel.at.items())
    rest = {"swept_params": [n for n in grid.names if n not in panel.axes and n not in panel.at],
            "grid": {"stop_loss_pcts": [] if STOP in panel.axes
                     else doc["grid"]["stop_loss_pcts"]}}
    text = describe(doc["picked"], rest)
    return own + ("" if text == "the one combination" else f", held at the pick: {text}")


def _left_note(left: Sequence[str]) -> str:
    return (f"At most {MAX_HEATMAPS} heatmaps; not drawn: {', '.join(left)}. Narrow the grid "
            "with --grid to see them.")


def _escape(text: str) -> str:
    import html

    return html.escape(text)
