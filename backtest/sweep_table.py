"""The sweep's words on screen: the headline, the ranked table that fits the terminal, and the
pick's over-fitting statistics under it.

Every combination ran twice, at a fixed size (the signal's own edge) and as the full pipeline;
the table ranks on one (``--rank-by``) and shows the other beside it. Its columns are chosen by
priority until the next one would not fit the width (80 columns keep the ranked figure in and
out of sample, the out-of-sample rank and the full pipeline's figure); ``--wide`` shows them
all. A number is never cut: when even the required columns are wider than the terminal, the
table is printed at its own width and the terminal wraps it.

Only the standard library at module level: ``main.py --help`` imports this through sweep.py.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

WINDOWS = ("in_sample", "out_of_sample")
WINDOW_LABELS = {"in_sample": "in-sample", "out_of_sample": "out-of-sample"}
METRIC_LABELS = {"sharpe": "Sharpe", "total_return": "Total Return [%]",
                 "max_drawdown": "Max Drawdown [%]"}
METRIC_KEYS = {"sharpe": "sharpe", "total_return": "total_return_pct",
               "max_drawdown": "max_drawdown_pct"}
SIZINGS = ("fixed", "pipeline")
SIZING_LABELS = {"fixed": "at a fixed size", "pipeline": "as the full pipeline"}
STOP = "stop_loss_pct"  # backtest.sweep_grid.STOP, not imported: main.py --help stays instant
STOPPED_MARK = "*"
_SHORT = {"in_sample": "IS", "out_of_sample": "OOS"}
_FIGURES = (("sharpe", "Sharpe", ".3f"), ("total_return_pct", "Return %", ".3f"),
            ("max_drawdown_pct", "MaxDD %", ".3f"), ("trades", "Trades", ","))


def fmt(value: Any, spec: str) -> str:
    """``value`` formatted, or n/a when it is None (a non-finite figure)."""
    return "n/a" if value is None else format(value, spec)


def value_text(value: Any) -> str:
    """A parameter's value as the table and headline show it (floats without trailing zeros)."""
    return format(value, "g") if isinstance(value, float) else str(value)


def figures_of(row: Mapping[str, Any], sizing: str, window: str) -> Mapping[str, Any]:
    """A row's figures of one sizing in one window."""
    figures: Mapping[str, Any] = row["fixed_size"][window] if sizing == "fixed" else row[window]
    return figures


def metric_of(row: Mapping[str, Any], window: str, metric: str, sizing: str = "pipeline") -> Any:
    """A row's figure of ``metric`` in ``window`` (None when it is not finite)."""
    return figures_of(row, sizing, window)[METRIC_KEYS[metric]]


def describe(row: Mapping[str, Any], doc: Mapping[str, Any]) -> str:
    """``rsi_window=16, ema_fast=10, ema_slow=33`` (and the stop when it is swept)."""
    parts = [f"{name}={value_text(row[name])}" for name in doc["swept_params"]]
    if len(doc["grid"]["stop_loss_pcts"]) > 1:
        parts.append(f"stop {row['stop_loss_pct']:.2%}")
    return ", ".join(parts) or "the one combination"


def span(values: Sequence[Any]) -> str:
    """``10..20`` for consecutive integers, else the values (the ends and a count when many)."""
    ints = all(isinstance(v, int) and not isinstance(v, bool) for v in values)
    if len(values) > 2 and ints and list(values) == list(range(values[0], values[-1] + 1)):
        return f"{values[0]}..{values[-1]}"
    if len(values) <= 6:
        return ",".join(value_text(v) for v in values)
    return f"{value_text(values[0])}..{value_text(values[-1])} ({len(values)} values)"


def headline(doc: Mapping[str, Any]) -> list[str]:
    """Plain lines above the table: what ran, on which bars, what was picked and how it held."""
    g = doc["grid"]
    dims = [f"{name} {span(g[name])}" for name in doc["swept_params"]]
    stops = ", ".join(f"{s:.2%}" for s in g["stop_loss_pcts"])
    size = doc["sizing"]
    lines = [
        f"Sweep {doc.get('symbol', '')} {doc['timeframe']}, {doc['strategy']}: "
        f"{doc['combinations']:,} combinations ({' x '.join([*dims, f'stop {stops}'])}), each "
        f"run twice: at a fixed size (every entry {size['default_position_pct']:.2%} x "
        f"conviction: the signal's own edge) and as the full pipeline (half-Kelly after "
        f"{size['kelly_min_trades']} trades); fixed conviction {doc.get('conviction', 0.5)}",
    ]
    if doc["fixed_params"]:
        lines.append("Fixed: " + ", ".join(f"{k}={value_text(v)}"
                                           for k, v in doc["fixed_params"].items()))
    if doc["skipped_combinations"]:
        lines.append(f"Skipped {doc['skipped_combinations']:,} combinations that "
                     f"{doc['strategy']} refuses; the first: {doc['skip_reason']}")
    lines += _window_lines(doc)
    lines += _picked_lines(doc)
    if doc.get("default_params") is not None:
        lines.append(_default_line(doc))
    lines.append("Ties keep the grid's order; non-finite figures (a run without trades has "
                 "Sharpe +inf) and runs under --rank-min-trades rank last.")
    return lines


def _window_lines(doc: Mapping[str, Any]) -> list[str]:
    warm = {"in_sample": f"after a {doc['warmup_bars']}-bar warm-up",
            "out_of_sample": "warmed up on the in-sample bars, starts flat"}
    return [f"{WINDOW_LABELS[name]}: {win['first_bar'][:16]} .. {win['last_bar'][:16]} UTC, "
            f"{win['bars']:,} bars ({warm[name]}); sizing stopped the full pipeline of "
            f"{doc['stopped_by_kelly'][name]:,} of {doc['combinations']:,} runs (half-Kelly "
            "of their own closed trades <= 0: every later entry refused)"
            for name, win in doc["windows"].items()]


def _picked_lines(doc: Mapping[str, Any]) -> list[str]:
    pick, metric, by = doc["picked"], doc["metric"], doc["rank_by"]
    other = SIZINGS[1 - SIZINGS.index(by)]
    label = METRIC_LABELS[metric]
    line = (f"Picked on in-sample {label} {SIZING_LABELS[by]}: {describe(pick, doc)}: "
            f"{fmt(metric_of(pick, 'in_sample', metric, by), '.3f')} in-sample")
    if "out_of_sample" in pick:
        line += (f", {fmt(metric_of(pick, 'out_of_sample', metric, by), '.3f')} out-of-sample "
                 f"(rank {pick['out_of_sample_rank']:,} of {doc['combinations']:,} there)")
    windows = [w for w in WINDOWS if w in pick]
    lines = [line, f"Its {label} {SIZING_LABELS[other]}: " + ", ".join(
        f"{fmt(metric_of(pick, w, metric, other), '.3f')} {WINDOW_LABELS[w]}" for w in windows)]
    for w in windows:
        stop = pick.get("sizing_stop", {}).get(w)
        lines.append(f"Its full pipeline {WINDOW_LABELS[w]}: " + (
            "sizing did not stop it" if stop is None else stop_sentence(stop)))
    return lines


def stop_sentence(stop: Mapping[str, Any]) -> str:
    """A sizing stop's JSON (``SizingStop.to_json``) in words, as the backtest says it."""
    def pct(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.2%}"

    return (f"half-Kelly of the first {stop['trades']:,} closed trades is "
            f"{stop['half_kelly']:.2f} (win rate {stop['win_rate']:.1%}, avg win "
            f"{pct(stop['avg_win_pct'])}, avg loss {pct(stop['avg_loss_pct'])}): the risk layer "
            f"refuses every entry after {stop['time'][:10]} {stop['time'][11:16]} UTC "
            f"({stop['refused_entries']:,} entry signals refused)")


def _default_line(doc: Mapping[str, Any]) -> str:
    row, metric, by = doc["default_params"], doc["metric"], doc["rank_by"]
    line = (f"{doc['strategy']}'s defaults, {describe(row, doc)}: in-sample rank "
            f"{row['rank']:,}, {fmt(metric_of(row, 'in_sample', metric, by), '.3f')}")
    if "out_of_sample" in row:
        line += (f"; out-of-sample rank {row['out_of_sample_rank']:,}, "
                 f"{fmt(metric_of(row, 'out_of_sample', metric, by), '.3f')}")
    return line


def overfitting_block(doc: Mapping[str, Any]) -> list[str]:
    """A title, then the pick's DSR, the PBO and the bootstrap, each with its reading line."""
    from backtest.walkforward_table import overfitting_lines  # it imports this module

    stats = doc.get("overfitting")
    if stats is None:
        return []
    return [f"Over-fitting of the pick ({WINDOW_LABELS[stats['on']]}, "
            f"{SIZING_LABELS[stats['sizing']]}):", *overfitting_lines(stats)]


@dataclass(frozen=True)
class Column:
    """One column of the table: its header (lines), its cell per row, and its priority."""

    header: str
    cell: Callable[[Mapping[str, Any]], str]
    priority: int  # 0: always shown; then the lower, the sooner it is added


def columns(doc: Mapping[str, Any]) -> list[Column]:
    """Every column, in the order shown: rank, parameters, then the figures."""
    cols = [Column("#", lambda r: str(r["rank"]), 0)]
    cols += [Column(name, _param_cell(name), 0) for name in doc["swept_params"]]
    if len(doc["grid"]["stop_loss_pcts"]) > 1:
        cols.append(Column("stop", lambda r: f"{r['stop_loss_pct']:.2%}", 0))
    by, key = doc["rank_by"], METRIC_KEYS[doc["metric"]]
    other = SIZINGS[1 - SIZINGS.index(by)]
    windows = [w for w in WINDOWS if w in doc["picked"]]
    # Priority: the ranked figure in and out of sample, the out-of-sample rank, the other
    # sizing's figure, then trades; --wide adds every figure and the stop dates.
    first = {(by, "in_sample", key): 0, (by, "out_of_sample", key): 1,
             (other, "in_sample", key): 3, (by, "in_sample", "trades"): 4,
             (other, "out_of_sample", key): 5, (other, "in_sample", "trades"): 6}
    for sizing in (by, other):
        for w in windows:
            for fig, label, spec in _FIGURES:
                mark = sizing == "pipeline" and fig == key
                cols.append(Column(f"{sizing}\n{_SHORT[w]}\n{label}",
                                   _figure_cell(sizing, w, fig, spec, mark=mark),
                                   first.get((sizing, w, fig), 10)))
        if sizing == by and "out_of_sample" in windows:
            cols.append(Column("OOS\nrank", lambda r: f"{r['out_of_sample_rank']:,}", 2))
    for w in windows:
        cols.append(Column(f"pipeline\n{_SHORT[w]}\nstopped", _stopped_cell(w), 11))
    return cols


def _param_cell(name: str) -> Callable[..., str]:
    def cell(row: Mapping[str, Any]) -> str:
        return value_text(row[name])

    return cell


def _figure_cell(
    sizing: str, window: str, fig: str, spec: str, *, mark: bool
) -> Callable[..., str]:
    def cell(row: Mapping[str, Any]) -> str:
        figures = figures_of(row, sizing, window)
        stopped = mark and figures["size_zero_refusals"] > 0
        return fmt(figures[fig], spec) + (STOPPED_MARK if stopped else "")

    return cell


def _stopped_cell(window: str) -> Callable[..., str]:
    def cell(row: Mapping[str, Any]) -> str:
        at = row[window]["sizing_stopped_at"]
        return "-" if at is None else at[:10]

    return cell


def table_header(doc: Mapping[str, Any], *, wide: bool = True) -> list[str]:
    """Column names on one line each (the HTML page's table has them all)."""
    return [c.header.replace("\n", " ") for c in columns(doc) if wide or c.priority == 0]


def table_rows(doc: Mapping[str, Any]) -> list[list[str]]:
    """The top rows as text cells, every column, in table_header's order."""
    cols = columns(doc)
    return [[c.cell(r) for c in cols] for r in doc["top"]]


def render(doc: Mapping[str, Any], console: Any, *, wide: bool = False) -> None:
    """Print the headline and the ranked table on ``console``, fitted to its width."""
    for line in headline(doc):
        # On a terminal rich wraps at spaces (never inside a number); in a log, whole lines.
        console.print(line, markup=False, soft_wrap=not console.is_terminal)
    cols = columns(doc)
    chosen = cols if wide else _fitting(doc, cols, console)
    table = _table(doc, chosen)
    width = console.width
    # Wider than the terminal only with --wide or too many parameters: the terminal wraps the
    # lines, rich must not shrink (cut) the cells to fit.
    console.width = max(width, _natural_width(console, table))
    try:
        console.print(table, crop=False)
    finally:
        console.width = width
    if any(STOPPED_MARK in c.cell(r) for c in chosen for r in doc["top"]):
        console.print(f"{STOPPED_MARK} sizing stopped this full pipeline: half-Kelly <= 0 refused "
                      "every later entry", markup=False, soft_wrap=not console.is_terminal)
    if len(chosen) < len(cols):
        console.print(f"{len(cols) - len(chosen)} more columns with --wide (or --json)",
                      markup=False)
    for line in overfitting_block(doc):
        console.print(line, markup=False, soft_wrap=not console.is_terminal)
    if doc.get("report"):
        console.print(f"HTML report: {doc['report']}", markup=False, soft_wrap=True)


def _fitting(doc: Mapping[str, Any], cols: Sequence[Column], console: Any) -> list[Column]:
    # Add columns by priority while the table still fits; keep the shown order.
    chosen = {id(c) for c in cols if c.priority == 0}
    for col in sorted((c for c in cols if c.priority > 0), key=lambda c: c.priority):
        trial = [c for c in cols if id(c) in chosen or c is col]
        if _natural_width(console, _table(doc, trial)) > console.width:
            break
        chosen.add(id(col))
    return [c for c in cols if id(c) in chosen]


def _natural_width(console: Any, table: Any) -> int:
    # The width at which no cell is shrunk (a measure is clamped to the width it is given).
    width: int = console.measure(table, options=console.options.update_width(100_000)).maximum
    return width


def _table(doc: Mapping[str, Any], cols: Sequence[Column]) -> Any:
    from rich import box
    from rich.table import Table

    by = SIZING_LABELS[doc["rank_by"]]
    table = Table(title=f"Top {len(doc['top'])} by in-sample {METRIC_LABELS[doc['metric']]} "
                  f"{by}", title_justify="left", box=box.SIMPLE_HEAD, collapse_padding=True,
                  pad_edge=False)
    for col in cols:
        # Never cut or wrap a cell: a parameter's name is what --grid takes, a number is whole.
        table.add_column(col.header, justify="right", no_wrap=True, overflow="fold")
    for row in doc["top"]:
        table.add_row(*(c.cell(row) for c in cols))
    return table


def print_table(doc: Mapping[str, Any], *, wide: bool = False) -> None:
    """Print the headline and the ranked table on stdout (plain text when not a terminal)."""
    from rich.console import Console

    render(doc, Console(highlight=False), wide=wide)
