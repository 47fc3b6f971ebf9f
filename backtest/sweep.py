"""The ``sweep`` command: the full pipeline over a grid of a strategy's parameters (and stops).

The grid is the strategy's declared sweep space, overridden per parameter with ``--grid``; a
``--param`` fixes one. The seed's default grid (3,146 combinations): rsi_ema's RSI window
10..20 x EMA fast 5..15 x EMA slow 20..45, stop loss 1.5% (RiskConfig's); centred on the seed's
14 / 12 / 26 and not picked for what it shows. Parameters are picked on the first 70% of the
traded bars and reported on the rest, side by side; the out-of-sample run's warm-up is the
in-sample tail.

Every combination runs twice: at a fixed size (the signal's own edge, ``backtest --sizing
fixed``) and as the full pipeline, whose half-Kelly stops most runs after their first 50 trades.
The ranking is on one of them (``--rank-by``, the fixed size by default: a run that stopped
after 50 trades is judged on those 50), the other is shown beside it.

Under the table, whether the pick is luck (``backtest.overfit``, on the in-sample bars at the
ranked sizing): its Deflated Sharpe Ratio as the best of every combination, the search's PBO
by cross-validation over ``--pbo-blocks`` blocks of bars, and a bootstrap of its closed trades.

Several markets: ``--data A.csv --data B.csv`` or a quoted glob (``--data 'data/*_1h.csv'``,
sorted), of one bar length, each symbol once. Each market gets the block (or the JSON document)
a run on it alone prints, then "across all markets": each combination's in-sample rank by
--metric (at --rank-by, under --rank-min-trades last) on each market, averaged; the lowest mean
rank wins (ties: the better mean of the metric, then the grid's order), shown with its
in-sample and out-of-sample figures on each market (``backtest.research_markets``). The JSON is
then ``{"markets": [doc, ...], "across": {...}}``, and ``--report FILE.html`` writes
``FILE_<SYMBOL>.html`` per market. ``--engine ray`` runs every market's chunks on a Ray cluster.

Only the standard library and core are imported at module level, so ``main.py --help`` stays
instant; the numbers live in ``backtest.sweep_kernel``, the table in ``backtest.sweep_table``
and the page in ``backtest.sweep_report``.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from backtest.sweep_table import METRIC_LABELS, SIZINGS
from core.cli_options import add_strategy_selection
from core.errors import ConfigError

if TYPE_CHECKING:
    from backtest.sweep_grid import SweepGrid
    from backtest.sweep_kernel import SweepResult
    from signals.strategy import LoadedStrategy



ACROSS_HELP = (
    "With several markets (--data repeated, or a glob) each is ranked on its own, then the "
    "grid point that ranks best across all of them: each combination's in-sample rank on each "
    "market, averaged; the lowest mean rank wins (ties: the better mean of the metric).")
DATA_HELP = ("OHLCV file (.csv, .csv.gz, .parquet) as in ../shared/data; the timeframe is "
             "inferred from it. Repeat it, or give a quoted glob ('data/*_1h.csv', sorted), for "
             "several markets of one bar length, each symbol once.")


def several_data_help(parser: argparse.ArgumentParser) -> None:
    """--data's help for research (``add_data_options(several=True)`` words it for a basket)."""
    for action in parser._actions:  # argparse has no public way to reword an added option
        if action.dest == "data":
            action.help = DATA_HELP


def add_sweep_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``sweep`` subcommand to main.py's subparsers; returns its parser."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "sweep", help="run the full pipeline over a parameter grid, with an out-of-sample check",
        description="Backtest the whole decision path for every combination of the strategy's "
        "parameters (and stop loss if asked), rank them on the in-sample bars and report the "
        "same combinations on the out-of-sample bars that follow. " + ACROSS_HELP,
        allow_abbrev=False,
    )
    from backtest.cli import add_data_options
    from backtest.engines import add_engine_options

    add_data_options(parser, several=True)
    several_data_help(parser)
    add_engine_options(parser)
    add_strategy_selection(parser)
    grid = parser.add_argument_group(
        "grid", "Default: the strategy's declared sweep values (`main.py strategies` lists "
        "them); a --param fixes a parameter.")
    grid.add_argument("--grid", action="append", default=[], metavar="NAME=SPEC",
                      help="values of one parameter: A:B or A:B:STEP (inclusive) or a list "
                      "A,B,C; repeatable (e.g. --grid rsi_window=10:20:2)")
    grid.add_argument("--stop-loss-pcts", default="0.015",
                      help="stop distances as fractions, e.g. 0.01,0.015,0.02 (%(default)s)")
    fixed = parser.add_argument_group("fixed settings", "Risk limits are RiskConfig's defaults.")
    fixed.add_argument("--init-cash", type=float, default=10_000.0)
    fixed.add_argument("--fees", type=float, default=0.001, help="(%(default)s = 0.1%%)")
    fixed.add_argument("--slippage", type=float, default=0.0005, help="(%(default)s = 0.05%%)")
    _output_options(parser)
    parser.set_defaults(run=run_command)
    return parser


def _output_options(parser: argparse.ArgumentParser) -> None:
    out = parser.add_argument_group("ranking and output")
    out.add_argument("--metric", choices=tuple(METRIC_LABELS), default="sharpe",
                     help="rank by this in-sample figure (%(default)s)")
    out.add_argument("--rank-by", choices=SIZINGS, default="fixed",
                     help="rank on the runs at a fixed size (default: every entry at the "
                     "default size, 1%%, x conviction: the signal's own edge) or on the full "
                     "pipeline (half-Kelly stops most runs after their first 50 trades); the "
                     "table shows the other beside it")
    out.add_argument("--top", type=int, default=10, help="rows in the table (%(default)s)")
    out.add_argument("--in-sample", type=float, default=0.7, help="share of the traded bars "
                     "used to pick (%(default)s); 1 = no out-of-sample check")
    out.add_argument("--rank-min-trades", type=int, default=0, metavar="N",
                     help="rank combinations with fewer in-sample trades (of the ranked runs) "
                     "last (%(default)s); not backtest's gate")
    out.add_argument("--min-trades", action=_Renamed, nargs="?", help=argparse.SUPPRESS)
    out.add_argument("--pbo-blocks", type=int, default=16, metavar="S",
                     help="blocks of the in-sample bars for the PBO's cross-validation, even, "
                     "2 to 20 (%(default)s: C(16,8) = 12,870 splits)")
    out.add_argument("--wide", action="store_true",
                     help="every column, even when wider than the terminal (default: the "
                     "columns that fit)")
    out.add_argument("--chunk-size", type=int, help="combinations per chunk (default: ~32 MiB "
                     "of signals per chunk)")
    out.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    out.add_argument("--report", metavar="FILE.html", help="write an HTML page with heatmaps")


class _Renamed(argparse.Action):
    """sweep's --min-trades, renamed: it never was backtest's gate of the same name."""

    def __call__(self, parser: argparse.ArgumentParser, *args: object, **kwargs: object) -> None:
        parser.error("sweep's --min-trades is now --rank-min-trades (rank combinations with "
                     "fewer in-sample trades last); backtest's gate is --gate-min-trades")


def parse_fractions(spec: str, name: str) -> tuple[float, ...]:
    """``A,B,C`` as fractions in (0, 1); ConfigError otherwise."""
    try:
        values = tuple(float(x) for x in spec.split(","))
    except ValueError:
        raise ConfigError(f"--{name} must be a list like 0.01,0.015; got {spec!r}") from None
    if not all(0.0 < v < 1.0 for v in values):
        raise ConfigError(f"--{name} needs fractions in (0, 1) (0.015 = 1.5%), got {spec!r}")
    return values


def grid_from_args(
    args: argparse.Namespace, strategy: LoadedStrategy, *, stops: tuple[float, ...] | None = None,
) -> SweepGrid:
    """The grid of --grid, --param / --params (fixed) and --stop-loss-pcts (or ``stops``)."""
    from backtest.sweep_grid import build_grid, parse_grid
    from signals.strategy_loader import parse_params, read_params_file

    fixed = set(parse_params(args.param or ()))
    if args.params_file:
        fixed |= set(read_params_file(args.params_file)) - {"strategy"}
    return build_grid(strategy, grid=parse_grid(strategy, args.grid or ()), fixed=fixed,
                      stop_loss_pcts=stops or parse_fractions(args.stop_loss_pcts,
                                                              "stop-loss-pcts"))


def run_command(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    """main.py's entry point for ``sweep``: run it, print the table or JSON; returns 0."""
    from backtest.engine import BacktestConfig
    from backtest.engines import check_engine_args, close_engine, engine_from_args
    from backtest.research_markets import load_markets
    from backtest.sweep_run import run_sweeps
    from core.clock import SystemClock
    from signals.scorer_settings import ScorerSettings
    from signals.strategy_loader import strategy_from_args

    if args.top < 1 or (args.chunk_size is not None and args.chunk_size < 1):
        raise ConfigError("--top and --chunk-size must be at least 1")
    if args.rank_min_trades < 0:
        raise ConfigError("--rank-min-trades must be at least 0")
    check_engine_args(args)  # before the data: a wrong engine option is one line at once
    strategy = strategy_from_args(args)
    grid = grid_from_args(args, strategy)
    base = BacktestConfig(init_cash=args.init_cash, fee=args.fees, slippage=args.slippage,
                          strategy=strategy)
    markets = load_markets(args, environ, clock=SystemClock(), warmup=grid.warmup_bars)
    conviction = ScorerSettings.from_env({**environ, "SCORER_PROVIDER": "fixed"}).fixed_conviction
    engine = engine_from_args(args)  # after the data: a typo costs no cluster start
    try:
        with ChunkProgress(len(grid.combos) * len(markets)) as on_chunk:
            results = run_sweeps([m.frame for m in markets], grid, base,
                                 timeframe=markets[0].timeframe, in_sample=args.in_sample,
                                 conviction=conviction, pbo_blocks=args.pbo_blocks,
                                 chunk_size=args.chunk_size, on_chunk=on_chunk, engine=engine)
    finally:
        close_engine(engine)
    docs = [_market_doc(args, r, m, conviction, several=len(markets) > 1)
            for r, m in zip(results, markets, strict=True)]
    _print(args, results, docs)
    return 0


def _market_doc(args: argparse.Namespace, result: SweepResult, bars: Any, conviction: float,
                *, several: bool) -> dict[str, Any]:
    # One market's document, as a run on it alone makes it (its report beside FILE if several).
    from backtest.research_markets import market_path
    from backtest.sweep_report import write_sweep_report

    doc = summary(result, metric=args.metric, rank_by=args.rank_by, top=args.top,
                  rank_min_trades=args.rank_min_trades)
    doc.update(symbol=bars.symbol, source=bars.source, conviction=conviction)
    if args.report:
        path = str(market_path(args.report, bars.symbol)) if several else args.report
        doc["report"] = str(write_sweep_report(path, result, doc))
    return doc


def _print(args: argparse.Namespace, results: list[SweepResult],
           docs: list[dict[str, Any]]) -> None:
    # One market: its document or table as ever; several: each, then the across block.
    from backtest.sweep_table import print_table

    if len(docs) == 1:
        if args.json:
            print(json.dumps(docs[0], indent=2, allow_nan=False))
        else:
            print_table(docs[0], wide=args.wide)
        return
    from backtest.research_across import print_sweep_across, sweep_across

    across = sweep_across(results, docs, top=args.top)
    if args.json:
        print(json.dumps({"markets": docs, "across": across}, indent=2, allow_nan=False))
        return
    for doc in docs:
        print_table(doc, wide=args.wide)
        print()
    print_sweep_across(across, docs[0])


def summary(
    result: SweepResult, *, metric: str, top: int, rank_by: str = "fixed",
    rank_min_trades: int = 0,
) -> dict[str, Any]:
    """The JSON document: grid, windows, the picked combination and the top rows, both windows,
    and the pick's over-fitting statistics (in-sample, at the ranked sizing)."""
    from backtest.engine import Sizing
    from backtest.sweep_grid import STOP
    from backtest.sweep_kernel import F_SIZE_ZERO, overfitting, ranking

    ranked = result.figures_of(Sizing(rank_by))
    # --rank-min-trades applies to the pick; the out-of-sample rank is by the figure alone.
    order = ranking(ranked["in_sample"], metric, min_trades=rank_min_trades)
    oos = ranked.get("out_of_sample")
    oos_rank = None if oos is None else _rank_of(ranking(oos, metric))
    rows = [combo_row(result, int(k), place + 1, oos_rank)
            for place, k in enumerate(order[:top])]
    grid, base = result.grid, result.base
    doc = {
        "command": "sweep", "strategy": grid.strategy.name, "timeframe": result.timeframe,
        "rank_by": rank_by, "metric": metric, "rank_min_trades": rank_min_trades,
        "sizing": {"default_position_pct": base.default_position_pct,
                   "kelly_min_trades": base.kelly_min_trades},
        "combinations": len(grid.combos), "skipped_combinations": grid.skipped,
        "skip_reason": grid.skip_reason or None, "swept_params": list(grid.names),
        "fixed_params": dict(grid.fixed),
        "grid": {**{name: grid.values(name) for name in grid.names},
                 "stop_loss_pcts": grid.values(STOP)},
        "warmup_bars": result.warmup_bars,
        "windows": {name: _window(result, a, b) for name, (a, b) in result.windows.items()},
        "stopped_by_kelly": {name: int((figs[:, F_SIZE_ZERO] > 0).sum())
                             for name, figs in result.figures.items()},
        "picked": _with_stops(result, rows[0]), "top": rows,
        "default_params": _default_row(result, oos_rank, order),
        "overfitting": overfitting(result, int(order[0]), Sizing(rank_by)).to_json(),
    }
    doc["top"][0] = doc["picked"]
    return doc


def _rank_of(order: Any) -> dict[int, int]:
    return {int(k): place + 1 for place, k in enumerate(order)}


def combo_row(
    result: SweepResult, k: int, rank: int, oos_rank: dict[int, int] | None,
) -> dict[str, Any]:
    """Row k of the table: its parameters and figures in each window at both sizings."""
    from backtest.sweep_kernel import F_STOPPED_AT

    row: dict[str, Any] = {"rank": rank, **result.grid.row(result.combos[k])}
    for name, figs in result.figures.items():
        row[name] = _figures(figs[k])
        at = figs[k, F_STOPPED_AT]  # where sizing stopped it, from the window's start
        when = result.index[result.windows[name][0] + int(at)] if math.isfinite(at) else None
        row[name]["sizing_stopped_at"] = None if when is None else when.isoformat()
    row["fixed_size"] = {name: _figures(figs[k]) for name, figs in result.fixed_figures.items()}
    row["out_of_sample_rank"] = None if oos_rank is None else oos_rank[k]
    return row


def _figures(figs: Any) -> dict[str, Any]:
    from backtest.sweep_kernel import F_SIZE_ZERO, F_TRADES, FIGURE_NAMES

    out: dict[str, Any] = {f: _null(float(v)) for f, v in zip(FIGURE_NAMES, figs, strict=False)}
    out["trades"] = int(figs[F_TRADES])
    out["size_zero_refusals"] = int(figs[F_SIZE_ZERO])
    return out


def _with_stops(result: SweepResult, row: dict[str, Any]) -> dict[str, Any]:
    # When and why sizing stopped this row's full pipeline: one more kernel run per window.
    k = result.combos.index(result.grid.combo_of(row))
    stops = {name: result.sizing_stop(k, name) for name in result.windows}
    return {**row, "sizing_stop": {name: None if s is None else s.to_json()
                                   for name, s in stops.items()}}


def _default_row(result: SweepResult, oos_rank: dict[int, int] | None, order: Any) -> Any:
    # Where the strategy's own values (its defaults unless --param) sit: context for the pick.
    grid = result.grid
    own = dict(grid.strategy.spec.params)
    if any(own[k] != v for k, v in grid.fixed.items()):
        return None
    matches = [k for k, c in enumerate(grid.combos)
               if all(own[n] == v for n, v in zip(grid.names, c.values, strict=True))]
    if not matches:
        return None
    k = next((k for k in matches
              if grid.combos[k].stop_loss_pct == result.default_stop_loss_pct), matches[0])
    return _with_stops(result, combo_row(result, k, int(list(order).index(k)) + 1, oos_rank))


def _window(result: SweepResult, a: int, b: int) -> dict[str, Any]:
    return {"first_bar": result.index[a].isoformat(), "last_bar": result.index[b - 1].isoformat(),
            "bars": b - a}


def _null(value: float) -> float | None:
    return value if math.isfinite(value) else None


class ChunkProgress:
    """A rich progress bar on stderr over combinations done (hidden when not a terminal)."""

    def __init__(self, total: int, label: str = "sweep") -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        console = Console(stderr=True)
        self._bar = Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(),
                             TextColumn("combinations"), console=console, transient=True,
                             disable=not console.is_terminal)
        self._task = self._bar.add_task(label, total=total)

    def __enter__(self) -> Any:
        self._bar.start()
        return lambda done: self._bar.advance(self._task, done)

    def __exit__(self, *exc: object) -> None:
        self._bar.stop()
