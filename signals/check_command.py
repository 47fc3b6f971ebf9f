"""``python main.py check-strategy``: the look-ahead, warm-up and live-window checks on their own.

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
    "(a seeded random walk of at least 5,000 hourly bars): enough to catch a peek or a short "
    "warm-up, but give --data for real bars. Exit code: 0 when every check passes, 3 when one "
    "fails, 2 for a usage or data error."
)


def add_check_parser(commands: Any) -> None:
    """Register the ``check-strategy`` subcommand on main.py's subparsers."""
    parser = commands.add_parser(
        "check-strategy", help="check a strategy for look-ahead and a too short warm-up",
        description=DESCRIPTION,
    )
    parser.add_argument("--strategy", metavar="NAME|FILE.py:CLASS",
                        help="a built-in by name or your own class (default: rsi_ema)")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                        help="a strategy parameter (repeatable); overrides --params")
    parser.add_argument("--params", metavar="FILE.toml", help="strategy parameters from TOML")
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
    from signals.strategy_loader import load_strategy

    if args.samples < 0:
        raise ConfigError(f"--samples must be >= 0, got {args.samples}")
    if args.live_bars is not None and args.live_bars < 1:
        raise ConfigError(f"--live-bars must be >= 1, got {args.live_bars}")
    strategy = load_strategy(args.strategy, params=args.param, params_file=args.params)
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
    return frame, f"{bars:,} SYNTHETIC hourly bars (seed {SYNTHETIC_SEED}); give --data for real"
