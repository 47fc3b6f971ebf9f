"""The sweep's words: headline, table on screen, and HTML page with a heatmap per window.

The heatmap's axes are the two swept parameters with the most values (ties go to the later one,
the grid's inner loop: the seed's EMA fast x slow), at the pick's values of everything else;
with one swept parameter and swept stops, that parameter x stop; with one dimension, a line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from backtest.sweep_grid import Combo, SweepGrid
    from backtest.sweep_kernel import SweepResult

WINDOWS = ("in_sample", "out_of_sample")
WINDOW_LABELS = {"in_sample": "in-sample", "out_of_sample": "out-of-sample"}
METRIC_LABELS = {"sharpe": "Sharpe", "total_return": "Total Return [%]",
                 "max_drawdown": "Max Drawdown [%]"}
STOP = "stop_loss_pct"  # backtest.sweep_grid.STOP, not imported: main.py --help stays instant


def fmt(value: Any, spec: str) -> str:
    """``value`` formatted, or n/a when it is None (a non-finite figure)."""
    return "n/a" if value is None else format(value, spec)


def value_text(value: Any) -> str:
    """A parameter's value as the table and headline show it (floats without trailing zeros)."""
    return format(value, "g") if isinstance(value, float) else str(value)


def describe(row: Mapping[str, Any], doc: Mapping[str, Any]) -> str:
    """``rsi_window=16, ema_fast=10, ema_slow=33`` (and the stop when it is swept)."""
    parts = [f"{name}={value_text(row[name])}" for name in doc["swept_params"]]
    if len(doc["grid"]["stop_loss_pcts"]) > 1:
        parts.append(f"stop {row['stop_loss_pct']:.2%}")
    return ", ".join(parts) or "the one combination"


def headline(doc: Mapping[str, Any]) -> list[str]:
    """Plain lines above the table: what ran, on which bars, what was picked and how it held."""
    g = doc["grid"]
    dims = [f"{name} {span(g[name])}" for name in doc["swept_params"]]
    stops = ", ".join(f"{s:.2%}" for s in g["stop_loss_pcts"])
    lines = [
        f"Sweep {doc.get('symbol', '')} {doc['timeframe']}, {doc['strategy']}: "
        f"{doc['combinations']:,} combinations ({' x '.join([*dims, f'stop {stops}'])}), "
        f"full pipeline, fixed conviction {doc.get('conviction', 0.5)}",
    ]
    if doc["fixed_params"]:
        lines.append("Fixed: " + ", ".join(f"{k}={value_text(v)}"
                                           for k, v in doc["fixed_params"].items()))
    if doc["skipped_combinations"]:
        lines.append(f"Skipped {doc['skipped_combinations']:,} combinations that "
                     f"{doc['strategy']} refuses; the first: {doc['skip_reason']}")
    lines += _window_lines(doc)
    lines.append(_picked_line(doc))
    if doc.get("default_params") is not None:
        lines.append(_default_line(doc))
    lines.append("Ties keep the grid's order; non-finite figures (a run without trades has "
                 "Sharpe +inf) and runs under --min-trades rank last.")
    return lines


def _window_lines(doc: Mapping[str, Any]) -> list[str]:
    warm = {"in_sample": f"after a {doc['warmup_bars']}-bar warm-up",
            "out_of_sample": "warmed up on the in-sample bars, starts flat"}
    return [f"{WINDOW_LABELS[name]}: {win['first_bar'][:16]} .. {win['last_bar'][:16]} UTC, "
            f"{win['bars']:,} bars ({warm[name]}); {doc['stopped_by_kelly'][name]:,} runs "
            "stopped opening trades once half-Kelly of their own closed trades was 0"
            for name, win in doc["windows"].items()]


def _picked_line(doc: Mapping[str, Any]) -> str:
    pick, metric = doc["picked"], doc["metric"]
    line = (f"Picked on in-sample {METRIC_LABELS[metric]}: {describe(pick, doc)}: "
            f"{fmt(metric_of(pick, 'in_sample', metric), '.3f')} in-sample")
    if "out_of_sample" in pick:
        line += (f", {fmt(metric_of(pick, 'out_of_sample', metric), '.3f')} out-of-sample "
                 f"(rank {pick['out_of_sample_rank']:,} of {doc['combinations']:,} there)")
    return line


def _default_line(doc: Mapping[str, Any]) -> str:
    row, metric = doc["default_params"], doc["metric"]
    line = (f"{doc['strategy']}'s defaults, {describe(row, doc)}: in-sample rank "
            f"{row['rank']:,}, {fmt(metric_of(row, 'in_sample', metric), '.3f')}")
    if "out_of_sample" in row:
        line += (f"; out-of-sample rank {row['out_of_sample_rank']:,}, "
                 f"{fmt(metric_of(row, 'out_of_sample', metric), '.3f')}")
    return line


def span(values: Sequence[Any]) -> str:
    """``10..20`` for consecutive integers, else the values (the ends and a count when many)."""
    ints = all(isinstance(v, int) and not isinstance(v, bool) for v in values)
    if len(values) > 2 and ints and list(values) == list(range(values[0], values[-1] + 1)):
        return f"{values[0]}..{values[-1]}"
    if len(values) <= 6:
        return ",".join(value_text(v) for v in values)
    return f"{value_text(values[0])}..{value_text(values[-1])} ({len(values)} values)"


def metric_of(row: Mapping[str, Any], window: str, metric: str) -> Any:
    """A row's figure of ``metric`` in ``window`` (None when it is not finite)."""
    key = {"sharpe": "sharpe", "total_return": "total_return_pct",
           "max_drawdown": "max_drawdown_pct"}[metric]
    return row[window][key]



def print_table(doc: Mapping[str, Any]) -> None:
    """Print the headline and the ranked table (both windows side by side) on stdout."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False, soft_wrap=True)
    if not console.is_terminal:
        console.width = max(console.width, 140)  # a log or a pipe: keep each row on one line
    for line in headline(doc):
        console.print(line)
    table = Table(title=f"Top {len(doc['top'])} by in-sample {METRIC_LABELS[doc['metric']]}",
                  title_justify="left", box=box.SIMPLE_HEAD)
    params = set(doc["swept_params"])
    for col in table_header(doc, short=True):
        # A parameter's name is what --grid and --param take: shown whole, never cut.
        table.add_column(col, justify="right", min_width=len(col) if col in params else None)
    for row in table_rows(doc):
        table.add_row(*row)
    console.print(table)
    if doc.get("report"):
        console.print(f"HTML report: {doc['report']}")


def table_header(doc: Mapping[str, Any], *, short: bool = False) -> list[str]:
    """Column names: rank, the swept parameters (and stop), then each window's figures."""
    names = {"in_sample": "IS" if short else "in-sample",
             "out_of_sample": "OOS" if short else "out-of-sample"}
    head = ["#", *doc["swept_params"]]
    if len(doc["grid"]["stop_loss_pcts"]) > 1:
        head.append("stop")
    windows = [w for w in WINDOWS if w in doc["picked"]]
    for w in windows:
        head += [f"{names[w]} {c}" for c in ("Sharpe", "Return %", "MaxDD %", "Trades")]
    return [*head, f"{names['out_of_sample']} rank"] if "out_of_sample" in windows else head


def table_rows(doc: Mapping[str, Any]) -> list[list[str]]:
    """The top rows as text cells, in table_header's order."""
    stops = len(doc["grid"]["stop_loss_pcts"]) > 1
    rows = []
    for r in doc["top"]:
        cells = [str(r["rank"]), *(value_text(r[n]) for n in doc["swept_params"])]
        if stops:
            cells.append(f"{r['stop_loss_pct']:.2%}")
        for w in (w for w in WINDOWS if w in r):
            f = r[w]
            cells += [fmt(f["sharpe"], ".3f"), fmt(f["total_return_pct"], ".3f"),
                      fmt(f["max_drawdown_pct"], ".3f"), f"{f['trades']:,}"]
        rows.append([*cells, f"{r['out_of_sample_rank']:,}"] if "out_of_sample" in r else cells)
    return rows


def heatmap_axes(grid: SweepGrid) -> list[str]:
    """Up to two dimensions to draw (parameter names, or ``stop_loss_pct``), y first."""
    order = {name: k for k, name in enumerate(grid.names)}
    ranked = sorted(grid.names, key=lambda n: (len(grid.values(n)), order[n]), reverse=True)
    axes = sorted(ranked[:2], key=order.__getitem__)
    if len(axes) < 2 and len(grid.values(STOP)) > 1:
        axes.append(STOP)
    return axes


def _coordinate(grid: SweepGrid, combo: Combo, name: str) -> Any:
    return combo.stop_loss_pct if name == STOP else combo.values[grid.names.index(name)]


def heatmap(result: SweepResult, window: str, metric: str, pick: Combo) -> Any:
    """A plotly figure of the window's metric over heatmap_axes, at the pick's other values."""
    import numpy as np
    import plotly.graph_objects as go  # type: ignore[import-untyped]

    from backtest.sweep_kernel import METRICS

    grid = result.grid
    axes = heatmap_axes(grid)
    others = [n for n in (*grid.names, STOP) if n not in axes]
    ticks = [grid.values(name) for name in axes]
    z = np.full([len(t) for t in ticks], np.nan)
    column = METRICS[metric][0]
    for k, c in enumerate(grid.combos):
        if all(_coordinate(grid, c, n) == _coordinate(grid, pick, n) for n in others):
            value = result.figures[window][k, column]
            at = tuple(t.index(_coordinate(grid, c, n)) for t, n in zip(ticks, axes, strict=True))
            z[at] = value if np.isfinite(value) else np.nan
    label = METRIC_LABELS[metric]
    if len(axes) == 2:
        figure = go.Figure(go.Heatmap(z=z, x=ticks[1], y=ticks[0], colorscale="RdBu", zmid=0.0,
                                      colorbar={"title": label}))
        figure.update_layout(xaxis_title=axes[1], yaxis_title=axes[0])
    else:
        figure = go.Figure(go.Scatter(x=ticks[0], y=z, mode="lines+markers"))
        figure.update_layout(xaxis_title=axes[0], yaxis_title=label)
    figure.update_layout(height=520, margin={"t": 30})
    return figure


def write_sweep_report(path: str, result: SweepResult, doc: Mapping[str, Any]) -> Any:
    """Write the HTML page: headline, ranked table, a heatmap per window; returns its path."""
    from backtest.report import html_table, write_report

    grid = result.grid
    pick = grid.combo_of(doc["picked"])
    sections: list[tuple[str, Any]] = [
        ("Summary", "".join(f"<p>{_escape(line)}</p>" for line in headline(doc))),
        ("Ranked combinations", html_table(table_rows(doc), table_header(doc))),
    ]
    axes = heatmap_axes(grid)
    if axes:
        at = _at_pick(grid, axes, doc)
        for name in result.windows:
            sections.append((
                f"{METRIC_LABELS[doc['metric']]} {WINDOW_LABELS[name]} over "
                f"{' x '.join(axes)}{at}", heatmap(result, name, doc["metric"], pick),
            ))
    return write_report(path, f"Sweep {doc.get('symbol', '')} {result.timeframe}, "
                        f"{doc['strategy']}", sections)


def _at_pick(grid: SweepGrid, axes: Sequence[str], doc: Mapping[str, Any]) -> str:
    # The other dimensions' values, which the heatmap holds at the pick's.
    rest = {"swept_params": [n for n in grid.names if n not in axes],
            "grid": {"stop_loss_pcts": [] if STOP in axes else doc["grid"]["stop_loss_pcts"]}}
    text = describe(doc["picked"], rest)
    return "" if text == "the one combination" else f", held at the pick: {text}"


def _escape(text: str) -> str:
    import html

    return html.escape(text)
