"""The "across all markets" block of a several-market ``sweep`` or ``walkforward``: its JSON and
its lines on screen. The ranking is ``backtest.research_markets.rank_across``; the screen reads
only the JSON, so the two cannot disagree.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from backtest.engine import Sizing
from backtest.research_markets import Across, places, rank_across
from backtest.sweep_kernel import METRICS, SweepResult
from backtest.sweep_table import (
    METRIC_LABELS,
    SIZING_LABELS,
    describe,
    fmt,
    metric_of,
    value_text,
)
from backtest.walkforward import WalkForwardResult

SWEEP_RULE = ("each combination's in-sample rank on each market (by the metric at the ranked "
              "sizing, runs under --rank-min-trades last), averaged over the markets; the "
              "lowest mean rank wins, ties go to the better mean of the metric, then to the "
              "grid's order")
WALKFORWARD_RULE = ("each combination's rank on each market's next training window (by the "
                    "metric at the ranked sizing, runs under --rank-min-trades last), averaged "
                    "over the markets; the lowest mean rank wins, ties go to the better mean "
                    "of the metric, then to the grid's order")


_TEXT_COLUMNS = frozenset({"symbol", "trained on", "its own next pick", "gates"})


def sweep_across(results: Sequence[SweepResult], docs: Sequence[Mapping[str, Any]], *,
                 top: int) -> dict[str, Any]:
    """The grid point that ranks best in-sample across the markets, with its figures on each."""
    from backtest.sweep import combo_row

    first = docs[0]
    metric, rank_by, min_trades = first["metric"], first["rank_by"], first["rank_min_trades"]
    ranked = [r.figures_of(Sizing(rank_by)) for r in results]
    across = rank_across([f["in_sample"] for f in ranked], metric, min_trades=min_trades)
    best = int(across.order[0])
    per_market = []
    for m, (result, figs, doc) in enumerate(zip(results, ranked, docs, strict=True)):
        oos = figs.get("out_of_sample")
        oos_rank = None if oos is None else {best: int(places(oos, metric)[best])}
        per_market.append({"symbol": doc["symbol"],
                           **combo_row(result, best, int(across.ranks[m, best]), oos_rank)})
    column, _ = METRICS[metric]
    picked = _point(results[0].grid, across, best, [d["symbol"] for d in docs])
    if "out_of_sample" in ranked[0]:
        picked["mean_out_of_sample"] = _mean([f["out_of_sample"][best, column] for f in ranked])
    return {"rule": SWEEP_RULE, "symbols": [d["symbol"] for d in docs], "metric": metric,
            "rank_by": rank_by, "rank_min_trades": min_trades,
            "combinations": len(results[0].combos),
            "picked": {**picked, "per_market": per_market},
            "top": _top(results[0].grid, across, [d["symbol"] for d in docs], top)}


def walkforward_across(results: Sequence[WalkForwardResult],
                       docs: Sequence[Mapping[str, Any]], *, top: int = 10) -> dict[str, Any]:
    """The grid point that ranks best on every market's next training window (its
    ``next_figures``, at the ranked sizing), with each market's own next pick beside it."""
    from backtest.walkforward_summary import figures_json

    next_figures = [r.next_figures for r in results]
    first = results[0]
    across = rank_across(next_figures, first.metric, min_trades=first.min_trades)
    best = int(across.order[0])
    grid = first.grid
    symbols = [d["symbol"] for d in docs]
    per_market = [{
        "symbol": doc["symbol"], "rank": int(across.ranks[m, best]),
        "trained_on": doc["next"]["trained_on"], "figures": _clean(figures_json(figs[best])),
        "own_next": doc["next"]["params"], "own_next_is_it": r.next_pick == best,
        "gates_passed": doc["gates_passed"],
    } for m, (r, figs, doc) in enumerate(zip(results, next_figures, docs, strict=True))]
    point = _point(grid, across, best, symbols)
    return {"rule": WALKFORWARD_RULE, "symbols": symbols, "metric": first.metric,
            "rank_by": str(first.rank_by), "rank_min_trades": first.min_trades,
            "combinations": len(grid.combos),
            "picked": {**point, "params": grid.params(grid.combos[best]),
                       "per_market": per_market},
            "top": _top(grid, across, symbols, top)}


def _point(grid: Any, across: Across, k: int, symbols: Sequence[str]) -> dict[str, Any]:
    return {**grid.row(grid.combos[k]), "mean_rank": float(across.mean_rank[k]),
            "ranks": {s: int(across.ranks[m, k]) for m, s in enumerate(symbols)},
            "mean_metric": _null(float(across.mean_metric[k]))}


def _top(grid: Any, across: Across, symbols: Sequence[str], top: int) -> list[dict[str, Any]]:
    return [{"rank": place + 1, **_point(grid, across, int(k), symbols)}
            for place, k in enumerate(across.order[:top])]


def _mean(values: Sequence[float]) -> float | None:
    return _null(float(np.mean(values))) if all(math.isfinite(v) for v in values) else None


def _clean(figures: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _null(v) if isinstance(v, float) else v for k, v in figures.items()}


def _null(value: float) -> float | None:
    return value if math.isfinite(value) else None


def print_sweep_across(across: Mapping[str, Any], doc: Mapping[str, Any]) -> None:
    """The across block under the markets' own tables (``doc``: one market's document)."""
    console = _console()
    pick, metric, by = across["picked"], across["metric"], across["rank_by"]
    label = METRIC_LABELS[metric]
    for line in _head(across, describe(pick, doc)):
        console.print(line, markup=False, soft_wrap=True)
    oos = "out_of_sample" in pick["per_market"][0]
    heads = ["symbol", "IS rank", f"IS {label}", "IS trades"]
    rows = []
    for row in pick["per_market"]:
        cells = [row["symbol"], f"{row['rank']:,}",
                 fmt(metric_of(row, "in_sample", metric, by), ".3f"),
                 f"{_trades(row, 'in_sample', by):,}"]
        if oos:
            cells += [fmt(metric_of(row, "out_of_sample", metric, by), ".3f"),
                      f"{row['out_of_sample_rank']:,}"]
        rows.append(cells)
    heads += [f"OOS {label}", "OOS rank"] if oos else []
    _print_table(console, f"Its {label} {SIZING_LABELS[by]} on each market", heads, rows)
    names = [*doc["swept_params"]]
    names += ["stop_loss_pct"] if len(doc["grid"]["stop_loss_pcts"]) > 1 else []
    _top_table(console, across, names)


def print_walkforward_across(across: Mapping[str, Any], doc: Mapping[str, Any]) -> None:
    """The across block under the markets' own walk-forwards (``doc``: one market's)."""
    from backtest.sweep_table import METRIC_KEYS

    console = _console()
    pick, key = across["picked"], METRIC_KEYS[across["metric"]]
    names = list(doc["swept_params"])

    def swept(params: Mapping[str, Any]) -> str:
        return _params_text({k: v for k, v in params.items() if k in names})

    for line in _head(across, swept(pick["params"])):
        console.print(line, markup=False, soft_wrap=True)
    rows = [[row["symbol"],
             f"{row['trained_on']['first_bar'][:10]}..{row['trained_on']['last_bar'][:10]}",
             f"{row['rank']:,}", fmt(row["figures"][key], ".3f"), f"{row['figures']['trades']:,}",
             "the same" if row["own_next_is_it"] else swept(row["own_next"]),
             "passed" if row["gates_passed"] else "FAILED"] for row in pick["per_market"]]
    _print_table(console, "On each market's next training window",
                 ["symbol", "trained on", "rank", METRIC_LABELS[across["metric"]], "trades",
                  "its own next pick", "gates"], rows)
    _top_table(console, across, names)


def _head(across: Mapping[str, Any], what: str) -> list[str]:
    pick, n = across["picked"], len(across["symbols"])
    return [f"Across all {n} markets ({', '.join(across['symbols'])}): {what}, mean rank "
            f"{pick['mean_rank']:,.2f} of {across['combinations']:,} (mean "
            f"{METRIC_LABELS[across['metric']]} {fmt(pick['mean_metric'], '.3f')})",
            f"Ranked by {across['rule']}."]


def _top_table(console: Any, across: Mapping[str, Any], names: Sequence[str]) -> None:
    symbols = across["symbols"]
    rows = [[str(row["rank"]), *(value_text(row[n]) for n in names), f"{row['mean_rank']:,.2f}",
             *(f"{row['ranks'][s]:,}" for s in symbols), fmt(row["mean_metric"], ".3f")]
            for row in across["top"]]
    _print_table(console, f"Top {len(rows)} across all markets by mean rank (a market's "
                 "column: the rank there)",
                 ["#", *names, "mean rank", *symbols, f"mean {METRIC_LABELS[across['metric']]}"],
                 rows)


def _console() -> Any:
    from rich.console import Console

    return Console(highlight=False)


def _print_table(console: Any, title: str, heads: Sequence[str],
                 rows: Sequence[Sequence[str]]) -> None:
    # Never cut a cell: wider than the terminal, the table is printed at its own width (as
    # sweep_table's), and the terminal wraps it.
    from rich import box
    from rich.table import Table

    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD,
                  collapse_padding=True, pad_edge=False)
    for head in heads:
        table.add_column(head, justify="left" if head in _TEXT_COLUMNS else "right",
                         no_wrap=True)
    for row in rows:
        table.add_row(*row)
    width = console.width
    need = console.measure(table, options=console.options.update_width(100_000)).maximum
    console.width = max(width, need)
    try:
        console.print(table, crop=False)
    finally:
        console.width = width


def _trades(row: Mapping[str, Any], window: str, sizing: str) -> int:
    figures = row["fixed_size"][window] if sizing == "fixed" else row[window]
    return int(figures["trades"])


def _params_text(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={value_text(v)}" for k, v in params.items()) or "the one combination"
