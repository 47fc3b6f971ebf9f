"""The ``walkforward`` command: options, the run, and the saved out-of-sample evidence.

Several markets: ``--data A.csv --data B.csv`` or a quoted glob (sorted), of one bar length,
each symbol once. Each market is walked forward on its own windows and printed (or its JSON
document given) as a run on it alone, its evidence saved under its own symbol; then "across all
markets": each combination's rank by --metric (at --rank-by, under --rank-min-trades last) on
each market's next training window (where the walk-forward picks what it would trade next),
averaged; the lowest mean rank wins (ties: the better mean of the metric, then the grid's
order), shown beside each market's own next pick (``backtest.research_markets``). The JSON is
then ``{"markets": [doc, ...], "across": {...}}``; ``--report`` and ``--params-out`` FILE write
``FILE_<SYMBOL>`` per market; the exit code is 3 when any market fails.

Only the standard library and core are imported at module level (``main.py --help`` stays
instant); the numbers come from ``backtest.walkforward``, the table from
``backtest.walkforward_table``. Exit codes as backtest's: 0 every gate passed, 3 one failed (or
the strategy failed its checks), 2 a usage or data error.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backtest.sweep_table import METRIC_LABELS, SIZINGS
from core.cli_options import add_strategy_options
from core.errors import ConfigError

if TYPE_CHECKING:
    from backtest.gates import GateResult
    from backtest.walkforward import WalkForwardResult
    from core.clock import Clock

GATE_DEFAULT_MIN_DSR = 0.95


def add_walkforward_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``walkforward`` subcommand to main.py's subparsers; returns its parser."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "walkforward", help="pick parameters on each training window, trade them on the next; "
        "gates on the stitched out-of-sample run",
        description="Walk-forward validation: on each training window rank every combination "
        "of the strategy's grid, run the best through the full pipeline on the test window "
        "that follows, and judge the gates on the stitched out-of-sample run, with the "
        "Deflated Sharpe Ratio, the PBO and a bootstrap of its trades. Saves the out-of-sample "
        "evidence for the parameters it would trade next (`run --gate-on walkforward`). "
        "With several markets (--data repeated, or a glob) each is walked forward on its own, "
        "then the grid point that ranks best across all of them: each combination's rank on "
        "each market's next training window, averaged; the lowest mean rank wins (ties: the "
        "better mean of the metric).", allow_abbrev=False,
    )
    from backtest.cli import add_data_options
    from backtest.engines import add_engine_options
    from backtest.sweep import several_data_help

    add_data_options(parser, several=True)
    several_data_help(parser)
    add_engine_options(parser)
    add_strategy_options(parser)
    g = parser.add_argument_group(
        "windows", "A length is bars (500) or a span: 36h, 10D, 3W, 6M, 1Y (calendar months "
        "and years on the bars' open times).")
    g.add_argument("--train", default="6M", help="training window (%(default)s)")
    g.add_argument("--test", default="1M", help="test window after each (%(default)s)")
    g.add_argument("--mode", choices=("rolling", "anchored"), default="rolling",
                   help="rolling: the training window moves with the test window; anchored: "
                   "it starts at the first traded bar and grows (%(default)s)")
    g.add_argument("--grid", action="append", default=[], metavar="NAME=SPEC",
                   help="values of one parameter, as sweep's (default: the strategy's sweep "
                   "values); the stop is --stop-loss-pct")
    r = parser.add_argument_group("picking")
    r.add_argument("--metric", choices=tuple(METRIC_LABELS), default="sharpe",
                   help="rank each training window by this figure (%(default)s)")
    r.add_argument("--rank-by", choices=SIZINGS, default="fixed",
                   help="rank on runs at a fixed size (default, the signal's own edge) or on "
                   "the full pipeline; the test windows always run the full pipeline")
    r.add_argument("--rank-min-trades", type=int, default=10, metavar="N",
                   help="pick only among combinations with N+ trades in training (%(default)s)")
    r.add_argument("--pbo-blocks", type=int, default=16, metavar="S",
                   help="blocks of the PBO's cross-validation, even (%(default)s: C(16,8) = "
                   "12,870 splits)")
    _gate_options(parser)
    _output_options(parser)
    parser.set_defaults(run=run_command)
    return parser


def _gate_options(parser: argparse.ArgumentParser) -> None:
    from backtest.cli import add_gate_options

    g = add_gate_options(parser, "Judged on the stitched out-of-sample run; [gates] in the "
                         "config file.")
    g.add_argument("--gate-min-dsr", type=float, default=GATE_DEFAULT_MIN_DSR,
                   help="the Deflated Sharpe Ratio must be above this (%(default)s)")


def _output_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("output")
    g.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    g.add_argument("--report", metavar="FILE.html", help="write an HTML page: the stitched "
                   "equity against buy-and-hold, the parameter path, the statistics")
    g.add_argument("--kelly-out", metavar="FILE", help="where to save the out-of-sample "
                   "evidence (default: backtest_results.json in $TRADINGBOT_STATE_DIR, else "
                   "state/)")
    g.add_argument("--params-out", metavar="FILE.toml", help="write the parameters to trade "
                   "next as a params file (run --params FILE.toml)")
    g.add_argument("--chunk-size", type=int, help="combinations per chunk (default: ~32 MiB "
                   "of signals per chunk)")


def run_command(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    """main.py's entry point for ``walkforward``: run it, print, save; returns 0 or 3."""
    import pandas as pd

    from backtest.cli_run import config_from_args
    from backtest.engine import Sizing
    from backtest.engines import check_engine_args, close_engine, engine_from_args
    from backtest.research_markets import load_markets
    from backtest.sweep import ChunkProgress, grid_from_args
    from backtest.walkforward import run_walkforwards
    from backtest.walkforward_windows import parse_length, plan_windows
    from core.clock import SystemClock
    from signals.scorer_settings import ScorerSettings

    _check_numbers(args)
    check_engine_args(args)  # before the data: a wrong engine option is one line at once
    train, test = parse_length(args.train, "train"), parse_length(args.test, "test")
    args.sizing = "pipeline"  # config_from_args reads it; the test windows run the pipeline
    config = config_from_args(args)
    grid = grid_from_args(args, config.strategy, stops=(config.risk.stop_loss_pct,))
    clock = SystemClock()
    markets = load_markets(args, environ, clock=clock, warmup=grid.warmup_bars)
    plans = [plan_windows(pd.DatetimeIndex(m.frame.index), first=grid.warmup_bars - 1,
                          train=train, test=test, mode=args.mode) for m in markets]
    conviction = ScorerSettings.from_env({**environ, "SCORER_PROVIDER": "fixed"}).fixed_conviction
    engine = engine_from_args(args)  # after the data and windows: a typo costs no cluster start
    try:
        from backtest.compile_notice import announce_first_compile

        announce_first_compile()
        with ChunkProgress(len(grid.combos) * len(markets), "walk-forward") as on_chunk:
            results = run_walkforwards(
                [(m.frame, p) for m, p in zip(markets, plans, strict=True)], grid, config,
                timeframe=markets[0].timeframe, metric=args.metric,
                rank_by=Sizing(args.rank_by), min_trades=args.rank_min_trades,
                conviction=conviction, pbo_blocks=args.pbo_blocks,
                chunk_size=args.chunk_size, on_chunk=on_chunk, engine=engine)
    finally:
        close_engine(engine)
    docs, passed = [], True
    for result, bars in zip(results, markets, strict=True):
        doc, ok = _market(args, environ, result, bars, clock, conviction,
                          several=len(markets) > 1)
        docs.append(doc)
        passed = passed and ok
    _print(args, results, docs)
    return 0 if passed else 3


def _market(
    args: argparse.Namespace, environ: Mapping[str, str], result: WalkForwardResult, bars: Any,
    clock: Clock, conviction: float, *, several: bool,
) -> tuple[dict[str, Any], bool]:
    # One market's document and files, as a run on it alone makes them; and whether it passed.
    from backtest.walkforward_summary import summary

    gates = judge(result, args)
    doc = summary(result, gates)
    doc.update(symbol=bars.symbol, source=bars.source, conviction=conviction)
    checks_passed = _checks_passed(result, bars.frame)
    doc["files"] = _write_files(args, environ, result, gates, doc, clock, bars,
                                checks_passed=checks_passed, several=several)
    return doc, bool(doc["gates_passed"] and checks_passed)


def _print(args: argparse.Namespace, results: list[WalkForwardResult],
           docs: list[dict[str, Any]]) -> None:
    # One market: its document or table as ever; several: each, then the across block.
    from backtest.walkforward_table import print_table

    if len(docs) == 1:
        if args.json:
            print(json.dumps(docs[0], indent=2, allow_nan=False))
        else:
            print_table(docs[0])
        return
    from backtest.research_across import print_walkforward_across, walkforward_across

    across = walkforward_across(results, docs)
    if args.json:
        print(json.dumps({"markets": docs, "across": across}, indent=2, allow_nan=False))
        return
    for doc in docs:
        print_table(doc)
        print()
    print_walkforward_across(across, docs[0])


def _check_numbers(args: argparse.Namespace) -> None:
    if args.rank_min_trades < 0:
        raise ConfigError("--rank-min-trades must be at least 0")
    if args.chunk_size is not None and args.chunk_size < 1:
        raise ConfigError("--chunk-size must be at least 1")
    if not 0.0 <= args.gate_min_dsr < 1.0:
        raise ConfigError(f"--gate-min-dsr is a probability in [0, 1), got {args.gate_min_dsr}")


def judge(result: WalkForwardResult, args: argparse.Namespace) -> tuple[GateResult, ...]:
    """The gates on the stitched out-of-sample figures, and the Deflated Sharpe Ratio's."""
    from backtest.gates import GateSettings, dsr_gate, evaluate_gates

    settings = GateSettings(min_sharpe=args.gate_min_sharpe,
                            max_drawdown_pct=args.gate_max_drawdown_pct,
                            min_trades=args.gate_min_trades)
    return (*evaluate_gates(result.stats, settings),
            dsr_gate(result.deflated.dsr, args.gate_min_dsr))


def _checks_passed(result: WalkForwardResult, frame: Any) -> bool:
    # The strategy's look-ahead and warm-up checks on the data, as backtest runs them.
    import sys

    from signals.strategy_checks import AUTO_CHECK_ROWS, run_checks

    strategy = result.base.strategy
    report = run_checks(strategy, frame, max_rows=AUTO_CHECK_ROWS + strategy.warmup_bars)
    for failure in report.failures:
        print(f"STRATEGY CHECK FAILED: {failure.line()}", file=sys.stderr, flush=True)
    return bool(report.passed)


def _write_files(
    args: argparse.Namespace, environ: Mapping[str, str], result: WalkForwardResult,
    gates: tuple[GateResult, ...], doc: dict[str, Any], clock: Clock, bars: Any, *,
    checks_passed: bool, several: bool = False,
) -> dict[str, str]:
    from backtest.kelly_store import default_results_path
    from backtest.walkforward_save import forget_evidence, save_evidence, write_params_file

    files: dict[str, str] = {}
    target = Path(args.kelly_out) if args.kelly_out else default_results_path(environ)
    if checks_passed:
        files["kelly"] = str(save_evidence(target, result, gates, doc, clock, bars))
    else:
        forget_evidence(target, result, bars)
    if args.params_out:
        files["params"] = str(write_params_file(_own(args.params_out, bars, several), result,
                                                args.strategy))
    if args.report:
        from backtest.walkforward_report import write_walkforward_report

        files["report"] = str(write_walkforward_report(_own(args.report, bars, several),
                                                       result, doc))
    return files


def _own(path: str, bars: Any, several: bool) -> str | Path:
    # With several markets each writes FILE_<SYMBOL> beside FILE.
    from backtest.research_markets import market_path

    return market_path(path, bars.symbol) if several else path
