"""``python main.py check-strategy`` (the look-ahead, warm-up and live-window checks on their own)
and ``python main.py strategies`` (the built-ins with their parameters).

Only the standard library is imported at module level so that ``main.py --help`` stays instant.
Exit codes: 0 every check passed, 3 one failed (as a failed gate), 2 a usage or data error.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from typing import Any

EXIT_PASSED = 0
EXIT_CHECK_FAILED = 3  # the gates' code: a strategy that fails a check is not promotable
SYNTHETIC_BARS = 5_000
SYNTHETIC_SEED = 7

DESCRIPTION = (
    "Check a strategy for look-ahead (the signal at a bar must be the same on data that ends "
    "at that bar) and for its warm-up (the last warmup_bars bars must give the signal of the "
    "whole history), on every entry bar (2,000 spread evenly when there are more) and evenly "
    "spaced samples; backtest and run do the "
    "same before they save Kelly inputs or trade. Without --data the bars are SYNTHETIC "
    "(a random walk of at least 5,000 hourly bars, random seed 7): enough to catch a peek or "
    "a short warm-up, but give --data for real bars. Exit code: 0 when every check passes, 3 "
    "when one fails, 2 for a usage or data error."
)


def add_check_parser(commands: Any) -> None:
    """Register the ``check-strategy`` subcommand on main.py's subparsers."""
    parser = commands.add_parser(
        "check-strategy", help="check a strategy for look-ahead and a too short warm-up",
        description=DESCRIPTION,
    )
    from core.cli_options import add_strategy_selection

    add_strategy_selection(parser)
    parser.add_argument("--data", metavar="FILE",
                        help="OHLCV file (.csv, .csv.gz, .parquet); default: synthetic bars")
    parser.add_argument("--samples", type=int, default=300, metavar="N",
                        help="evenly spaced bars checked besides every entry bar (%(default)s)")
    parser.add_argument("--max-rows", type=int, metavar="N",
                        help="check only the last N bars of the data (bounds the time a slow "
                        "strategy takes; default: all)")
    parser.add_argument("--live-bars", type=int, metavar="N",
                        help="also check that a live window of N bars holds the warm-up")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(run=run_check)


def run_check(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """Load the strategy and the bars, run the checks, print the report; 0 or 3."""
    from core.errors import ConfigError
    from signals.strategy_checks import run_checks
    from signals.strategy_loader import strategy_from_args

    if args.samples < 0:
        raise ConfigError(f"--samples must be >= 0, got {args.samples}")
    if args.live_bars is not None and args.live_bars < 1:
        raise ConfigError(f"--live-bars must be >= 1, got {args.live_bars}")
    strategy = strategy_from_args(args)
    frame, source = _bars(args.data, strategy.warmup_bars)
    report = run_checks(strategy, frame, samples=args.samples, live_fetch=args.live_bars,
                        max_rows=args.max_rows)
    if args.json:
        print(json.dumps({**report.to_json(), "data": source}, indent=2))
    else:
        print(f"data: {source}")
        print("\n".join(report.lines()))
    return EXIT_PASSED if report.passed else EXIT_CHECK_FAILED


def _bars(path: str | None, warmup: int) -> tuple[Any, str]:
    """The frame to check and a line saying where it came from."""
    if path:
        from data.loader import load_ohlcv

        # A jump in the closes says nothing about look-ahead or warm-up: accept any file.
        return load_ohlcv(path, max_jump=None), path
    from data.synthetic import synthetic_ohlcv

    # Four warm-ups at least, so the search for a longer warm-up has room (half the data).
    bars = max(SYNTHETIC_BARS, 4 * warmup)
    frame = synthetic_ohlcv(bars, timeframe="1h", seed=SYNTHETIC_SEED, start_price=30_000.0,
                            volatility=0.007)
    return frame, (f"{bars:,} SYNTHETIC hourly bars (random seed {SYNTHETIC_SEED}); "
                   "give --data for real")


def add_strategies_parser(commands: Any) -> None:
    """Register the ``strategies`` subcommand: the built-ins and their parameters."""
    parser = commands.add_parser(
        "strategies", help="list the built-in strategies with their parameters",
        description="List the built-in strategies (--strategy NAME) with each parameter's "
        "default, allowed values and the values a sweep tries. Your own strategy is a class in "
        "a file: --strategy path/to/file.py:ClassName (see the README).",
    )
    parser.add_argument("--json", action="store_true", help="print them as JSON")
    parser.set_defaults(run=run_strategies)


def run_strategies(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """Print every built-in strategy with its parameters; 0."""
    from signals.strategy_loader import describe_builtins

    builtins = describe_builtins()
    if args.json:
        print(json.dumps(builtins, indent=2))
        return EXIT_PASSED
    for strategy in builtins:
        print(f"{strategy['name']} (version {strategy['version']}): {strategy['summary']}")
        for p in strategy["params"]:
            sweep = ", ".join(str(v) for v in p["sweep"]) or "-"
            print(f"  --param {p['name']}={p['default']}  {p['allowed']}; "
                  f"sweep: {_span(p['sweep']) if len(p['sweep']) > 4 else sweep}"
                  + (f"  ({p['help']})" if p["help"] else ""))
    print("Your own: --strategy path/to/file.py:ClassName (a class with warmup_bars and "
          "signals(bars); see the README)")
    return EXIT_PASSED


def _span(values: list[Any]) -> str:
    return f"{values[0]}..{values[-1]} ({len(values)} values)"
