"""The ``sweep`` command: the full pipeline over a grid of signal (and stop) parameters.

Default grid (3,146 combinations): RSI window 10..20 x EMA fast 5..15 x EMA slow 20..45, every
pair has fast < slow, stop loss 1.5% (RiskConfig's). It is centred on the seed's 14 / 12 / 26 and
was not picked for what it shows. Parameters are picked on the first 70% of the traded bars and
reported on the rest, side by side; the out-of-sample run's warm-up is the in-sample tail.

Only the standard library and core.errors are imported at module level, so ``main.py --help``
stays instant; the numbers live in ``backtest.sweep_kernel``.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from core.errors import ConfigError

if TYPE_CHECKING:
    from backtest.sweep_kernel import Combo, SweepResult

DEFAULT_RSI, DEFAULT_FAST, DEFAULT_SLOW = "10:20", "5:15", "20:45"
WINDOW_LABELS = {"in_sample": "in-sample", "out_of_sample": "out-of-sample"}
METRIC_LABELS = {"sharpe": "Sharpe", "total_return": "Total Return [%]",
                 "max_drawdown": "Max Drawdown [%]"}


def add_sweep_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``sweep`` subcommand to main.py's subparsers; returns its parser."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "sweep", help="run the full pipeline over a parameter grid, with an out-of-sample check",
        description="Backtest the whole decision path for every combination of RSI window, "
        "EMA spans (and stop loss if asked), rank them on the in-sample bars and report the "
        "same combinations on the out-of-sample bars that follow.", allow_abbrev=False,
    )
    from backtest.cli import add_data_options

    add_data_options(parser)
    grid = parser.add_argument_group("grid", "A range A:B or A:B:STEP (inclusive) or a list A,B.")
    grid.add_argument("--rsi-windows", default=DEFAULT_RSI, help="(%(default)s)")
    grid.add_argument("--ema-fasts", default=DEFAULT_FAST, help="(%(default)s)")
    grid.add_argument("--ema-slows", default=DEFAULT_SLOW, help="(%(default)s)")
    grid.add_argument("--stop-loss-pcts", default="0.015",
                      help="stop distances as fractions, e.g. 0.01,0.015,0.02 (%(default)s)")
    fixed = parser.add_argument_group("fixed settings", "Risk limits are RiskConfig's defaults.")
    fixed.add_argument("--rsi-method", choices=("wilder", "sma"), default="wilder")
    fixed.add_argument("--overbought", type=float, default=70.0)
    fixed.add_argument("--oversold", type=float, default=30.0)
    fixed.add_argument("--init-cash", type=float, default=10_000.0)
    fixed.add_argument("--fees", type=float, default=0.001, help="(%(default)s = 0.1%%)")
    fixed.add_argument("--slippage", type=float, default=0.0005, help="(%(default)s = 0.05%%)")
    out = parser.add_argument_group("ranking and output")
    out.add_argument("--metric", choices=tuple(METRIC_LABELS), default="sharpe",
                     help="rank by this in-sample figure (%(default)s)")
    out.add_argument("--top", type=int, default=10, help="rows in the table (%(default)s)")
    out.add_argument("--in-sample", type=float, default=0.7, help="share of the traded bars "
                     "used to pick (%(default)s); 1 = no out-of-sample check")
    out.add_argument("--min-trades", type=int, default=0,
                     help="rank combinations with fewer in-sample trades last (%(default)s)")
    out.add_argument("--chunk-size", type=int, help="combinations per chunk (default: ~32 MiB "
                     "of signals per chunk)")
    out.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    out.add_argument("--report", metavar="FILE.html", help="write an HTML page with heatmaps")
    parser.set_defaults(run=run_command)
    return parser


def parse_ints(spec: str, name: str) -> tuple[int, ...]:
    """``A:B`` / ``A:B:STEP`` (inclusive) or ``A,B,C`` as integers >= 2; ConfigError otherwise."""
    try:
        if ":" in spec:
            parts = [int(x) for x in spec.split(":")]
            if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] < 1):
                raise ValueError(spec)
            values = tuple(range(parts[0], parts[1] + 1, parts[2] if len(parts) == 3 else 1))
        else:
            values = tuple(int(x) for x in spec.split(","))
    except ValueError:
        raise ConfigError(f"--{name} must be A:B, A:B:STEP or A,B,...; got {spec!r}") from None
    if not values or min(values) < 2:
        raise ConfigError(f"--{name} needs integers >= 2, got {spec!r}")
    return values


def parse_fractions(spec: str, name: str) -> tuple[float, ...]:
    """``A,B,C`` as fractions in (0, 1); ConfigError otherwise."""
    try:
        values = tuple(float(x) for x in spec.split(","))
    except ValueError:
        raise ConfigError(f"--{name} must be a list like 0.01,0.015; got {spec!r}") from None
    if not all(0.0 < v < 1.0 for v in values):
        raise ConfigError(f"--{name} needs fractions in (0, 1) (0.015 = 1.5%), got {spec!r}")
    return values


def run_command(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    """main.py's entry point for ``sweep``: run it, print the table or JSON; returns 0."""
    from backtest.cli_data import load_bars
    from backtest.engine import BacktestConfig
    from backtest.sweep_kernel import SweepGrid, grid_warmup, run_sweep, seed_signal
    from core.clock import SystemClock
    from signals.quant_signals import SignalParams
    from signals.scorer_settings import ScorerSettings
    from signals.strategies.rsi_ema import seed_strategy

    grid = SweepGrid(
        rsi_windows=parse_ints(args.rsi_windows, "rsi-windows"),
        ema_fasts=parse_ints(args.ema_fasts, "ema-fasts"),
        ema_slows=parse_ints(args.ema_slows, "ema-slows"),
        stop_loss_pcts=parse_fractions(args.stop_loss_pcts, "stop-loss-pcts"),
    )
    if args.top < 1 or (args.chunk_size is not None and args.chunk_size < 1):
        raise ConfigError("--top and --chunk-size must be at least 1")
    base = BacktestConfig(
        init_cash=args.init_cash, fee=args.fees, slippage=args.slippage,
        strategy=seed_strategy(SignalParams(overbought=args.overbought, oversold=args.oversold,
                                            rsi_method=args.rsi_method)),
    )
    warmup = grid_warmup(grid, seed_signal(base))
    bars = load_bars(args, environ, clock=SystemClock(), warmup=warmup)
    conviction = ScorerSettings.from_env({**environ, "SCORER_PROVIDER": "fixed"}).fixed_conviction
    with _ChunkProgress(len(grid.combos())) as on_chunk:
        result = run_sweep(bars.frame, grid, base, timeframe=bars.timeframe,
                           in_sample=args.in_sample, conviction=conviction,
                           chunk_size=args.chunk_size, on_chunk=on_chunk)
    doc = summary(result, metric=args.metric, top=args.top, min_trades=args.min_trades)
    doc.update(symbol=bars.symbol, source=bars.source, conviction=conviction)
    if args.report:
        doc["report"] = str(write_sweep_report(args.report, result, doc))
    if args.json:
        print(json.dumps(doc, indent=2, allow_nan=False))
    else:
        print_table(doc)
    return 0


def summary(result: SweepResult, *, metric: str, top: int, min_trades: int) -> dict[str, Any]:
    """The JSON document: grid, windows, the picked combination and the top rows, both windows."""
    from backtest.sweep_kernel import ranking

    # --min-trades applies to the pick; the out-of-sample rank is by the figure alone.
    order = ranking(result.figures["in_sample"], metric, min_trades=min_trades)
    oos = result.figures.get("out_of_sample")
    oos_rank = None if oos is None else _rank_of(ranking(oos, metric))
    rows = [_row(result, int(k), place + 1, oos_rank) for place, k in enumerate(order[:top])]
    combos = result.combos
    return {
        "command": "sweep", "timeframe": result.timeframe, "metric": metric,
        "min_trades": min_trades, "combinations": len(combos),
        "grid": {"rsi_windows": sorted({c.rsi_window for c in combos}),
                 "ema_fasts": sorted({c.ema_fast for c in combos}),
                 "ema_slows": sorted({c.ema_slow for c in combos}),
                 "stop_loss_pcts": sorted({c.stop_loss_pct for c in combos})},
        "warmup_bars": result.warmup_bars,
        "windows": {name: _window(result, a, b) for name, (a, b) in result.windows.items()},
        "stopped_by_kelly": {name: int((figs[:, 4] > 0).sum())
                             for name, figs in result.figures.items()},
        "picked": rows[0], "top": rows,
        "default_params": _default_row(result, oos_rank, order),
    }


def _rank_of(order: Any) -> dict[int, int]:
    return {int(k): place + 1 for place, k in enumerate(order)}


def _row(result: SweepResult, k: int, rank: int, oos_rank: dict[int, int] | None) -> dict[str, Any]:
    from backtest.sweep_kernel import FIGURE_NAMES

    row: dict[str, Any] = {"rank": rank, **result.combos[k]._asdict()}
    for name, figs in result.figures.items():
        row[name] = {f: _null(float(v)) for f, v in zip(FIGURE_NAMES, figs[k], strict=True)}
        row[name]["trades"] = int(figs[k, 3])
        row[name]["size_zero_refusals"] = int(figs[k, 4])
    row["out_of_sample_rank"] = None if oos_rank is None else oos_rank[k]
    return row


def _default_row(result: SweepResult, oos_rank: dict[int, int] | None, order: Any) -> Any:
    # Where the seed's 14 / 12 / 26 (and 1.5% stop, if swept) sit: context for the pick.
    seed = [k for k, c in enumerate(result.combos) if (c.rsi_window, c.ema_fast, c.ema_slow)
            == (14, 12, 26)]
    if not seed:
        return None
    k = next((k for k in seed if result.combos[k].stop_loss_pct == 0.015), seed[0])
    return _row(result, k, int(list(order).index(k)) + 1, oos_rank)


def _window(result: SweepResult, a: int, b: int) -> dict[str, Any]:
    return {"first_bar": result.index[a].isoformat(), "last_bar": result.index[b - 1].isoformat(),
            "bars": b - a}


def _null(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _fmt(value: Any, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def _params(row: Mapping[str, Any], stops: int) -> str:
    stop = f", stop {row['stop_loss_pct']:.2%}" if stops > 1 else ""
    return f"RSI {row['rsi_window']}, EMA {row['ema_fast']}/{row['ema_slow']}{stop}"


def headline(doc: Mapping[str, Any]) -> list[str]:
    """Plain lines above the table: what ran, on which bars, what was picked and how it held."""
    g, w = doc["grid"], doc["windows"]
    stops = len(g["stop_loss_pcts"])
    label = METRIC_LABELS[doc["metric"]]
    lines = [
        f"Sweep {doc.get('symbol', '')} {doc['timeframe']}: {doc['combinations']:,} "
        f"combinations (RSI {_span(g['rsi_windows'])} x EMA fast {_span(g['ema_fasts'])} x "
        f"slow {_span(g['ema_slows'])}, stop {', '.join(f'{s:.2%}' for s in g['stop_loss_pcts'])})"
        f", full pipeline, fixed conviction {doc.get('conviction', 0.5)}",
    ]
    warm = {"in_sample": f"after a {doc['warmup_bars']}-bar warm-up",
            "out_of_sample": "warmed up on the in-sample bars, starts flat"}
    for name, win in w.items():
        lines.append(f"{WINDOW_LABELS[name]}: {win['first_bar'][:16]} .. {win['last_bar'][:16]} "
                     f"UTC, {win['bars']:,} bars ({warm[name]}); "
                     f"{doc['stopped_by_kelly'][name]:,} runs stopped opening trades once "
                     "half-Kelly of their own closed trades was 0")
    pick = doc["picked"]
    line = (f"Picked on in-sample {label}: {_params(pick, stops)}: "
            f"{_fmt(_metric(pick, 'in_sample', doc['metric']), '.3f')} in-sample")
    if "out_of_sample" in pick:
        line += (f", {_fmt(_metric(pick, 'out_of_sample', doc['metric']), '.3f')} "
                 f"out-of-sample (rank {pick['out_of_sample_rank']:,} of "
                 f"{doc['combinations']:,} there)")
    lines.append(line)
    seed = doc.get("default_params")
    if seed is not None:
        line = (f"The seed's RSI 14, EMA 12/26{_params(seed, stops)[len('RSI 14, EMA 12/26'):]}: "
                f"in-sample rank {seed['rank']:,}, "
                f"{_fmt(_metric(seed, 'in_sample', doc['metric']), '.3f')}")
        if "out_of_sample" in seed:
            line += (f"; out-of-sample rank {seed['out_of_sample_rank']:,}, "
                     f"{_fmt(_metric(seed, 'out_of_sample', doc['metric']), '.3f')}")
        lines.append(line)
    lines.append("Ties keep the grid's order; non-finite figures (a run without trades has "
                 "Sharpe +inf) and runs under --min-trades rank last.")
    return lines


def _span(values: Sequence[float]) -> str:
    return f"{values[0]}..{values[-1]}" if len(values) > 2 else ",".join(map(str, values))


def _metric(row: Mapping[str, Any], window: str, metric: str) -> Any:
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
    header = _table_header(doc, short=True)
    for col in header:
        table.add_column(col, justify="right")
    for row in _table_rows(doc):
        table.add_row(*row)
    console.print(table)
    if doc.get("report"):
        console.print(f"HTML report: {doc['report']}")


def heatmap(result: SweepResult, window: str, metric: str, pick: Combo) -> Any:
    """A plotly heatmap of the window's metric over EMA fast x slow at the pick's RSI and stop."""
    import numpy as np
    import plotly.graph_objects as go  # type: ignore[import-untyped]

    from backtest.sweep_kernel import METRICS

    fasts = sorted({c.ema_fast for c in result.combos})
    slows = sorted({c.ema_slow for c in result.combos})
    z = np.full((len(fasts), len(slows)), np.nan)
    column = METRICS[metric][0]
    for k, c in enumerate(result.combos):
        if (c.rsi_window, c.stop_loss_pct) == (pick.rsi_window, pick.stop_loss_pct):
            value = result.figures[window][k, column]
            z[fasts.index(c.ema_fast), slows.index(c.ema_slow)] = value if np.isfinite(value) \
                else np.nan
    figure = go.Figure(go.Heatmap(z=z, x=slows, y=fasts, colorscale="RdBu", zmid=0.0,
                                  colorbar={"title": METRIC_LABELS[metric]}))
    figure.update_layout(xaxis_title="EMA slow span", yaxis_title="EMA fast span", height=520,
                         margin={"t": 30})
    return figure


def write_sweep_report(path: str, result: SweepResult, doc: Mapping[str, Any]) -> Any:
    """Write the HTML page: headline, ranked table, a heatmap per window; returns its path."""
    from backtest.report import html_table, write_report

    pick = result.combos[_combo_index(result, doc["picked"])]
    sections: list[tuple[str, Any]] = [
        ("Summary", "".join(f"<p>{_escape(line)}</p>" for line in headline(doc))),
        ("Ranked combinations", html_table(_table_rows(doc), _table_header(doc))),
    ]
    for name in result.windows:
        sections.append((
            f"{METRIC_LABELS[doc['metric']]} {WINDOW_LABELS[name]}, RSI {pick.rsi_window}, "
            f"stop {pick.stop_loss_pct:.2%} (the picked RSI window and stop)",
            heatmap(result, name, doc["metric"], pick),
        ))
    return write_report(path, f"Sweep {doc.get('symbol', '')} {result.timeframe}", sections)


def _combo_index(result: SweepResult, row: Mapping[str, Any]) -> int:
    key = (row["stop_loss_pct"], row["rsi_window"], row["ema_fast"], row["ema_slow"])
    return next(k for k, c in enumerate(result.combos) if tuple(c) == key)


def _escape(text: str) -> str:
    import html

    return html.escape(text)


def _table_header(doc: Mapping[str, Any], *, short: bool = False) -> list[str]:
    names = {"in_sample": "IS" if short else "in-sample",
             "out_of_sample": "OOS" if short else "out-of-sample"}
    head = ["#", "RSI", "EMA", "stop"]
    windows = [w for w in ("in_sample", "out_of_sample") if w in doc["picked"]]
    for w in windows:
        head += [f"{names[w]} {c}" for c in ("Sharpe", "Return %", "MaxDD %", "Trades")]
    return [*head, f"{names['out_of_sample']} rank"] if "out_of_sample" in windows else head


def _table_rows(doc: Mapping[str, Any]) -> list[list[str]]:
    rows = []
    for r in doc["top"]:
        cells = [str(r["rank"]), str(r["rsi_window"]), f"{r['ema_fast']}/{r['ema_slow']}",
                 f"{r['stop_loss_pct']:.2%}"]
        for w in (w for w in ("in_sample", "out_of_sample") if w in r):
            f = r[w]
            cells += [_fmt(f["sharpe"], ".3f"), _fmt(f["total_return_pct"], ".3f"),
                      _fmt(f["max_drawdown_pct"], ".3f"), f"{f['trades']:,}"]
        rows.append([*cells, f"{r['out_of_sample_rank']:,}"] if "out_of_sample" in r else cells)
    return rows


class _ChunkProgress:
    """A rich progress bar on stderr over combinations done (hidden when not a terminal)."""

    def __init__(self, total: int) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        console = Console(stderr=True)
        self._bar = Progress(TextColumn("sweep"), BarColumn(), MofNCompleteColumn(),
                             TextColumn("combinations"), console=console, transient=True,
                             disable=not console.is_terminal)
        self._task = self._bar.add_task("sweep", total=total)

    def __enter__(self) -> Any:
        self._bar.start()
        return lambda done: self._bar.advance(self._task, done)

    def __exit__(self, *exc: object) -> None:
        self._bar.stop()
