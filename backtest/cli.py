"""The ``backtest`` command: arguments, and the run from bars to figures, gates and files.

Only the standard library is imported at module level: ``main.py --help`` and a mistyped option
stay instant. The command itself (``backtest.cli_run``) imports pandas, numba and vectorbt.

Exit codes: 0 every gate passed, 3 a gate failed, 2 a usage or data error (main.py's rule).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from core.cli_options import (
    DEFAULTS,
    add_jump_options,
    add_strategy_options,
    fraction,
    jump_bound,
)

EXIT_USAGE = 2


# GateSettings()'s values; max_drawdown_pct is a fraction like every *_pct (0.2 = 20%).
GATE_DEFAULTS: dict[str, Any] = {"min_sharpe": 1.0, "max_drawdown_pct": 0.20, "min_trades": 50}

DESCRIPTION = (
    "Backtest the whole decision path (signal -> scorer -> risk -> fills at the next open) on "
    "history, show the figures and the gates (Sharpe > 1, Max Drawdown < 20%, "
    "trades > 50), and save the Kelly inputs the live loop reads. Exit code: 0 when every gate "
    "passes, 3 when one fails, 2 for a usage or data error."
)


def add_backtest_command(commands: Any) -> argparse.ArgumentParser:
    """Add the ``backtest`` subcommand to main.py's subparsers; returns its parser."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "backtest",
        help="backtest the full pipeline on history and check the gates",
        description=DESCRIPTION,
        # --max-drawdown-pct (a risk limit) and --gate-max-drawdown-pct (a gate) differ by a
        # prefix: an abbreviation must never pick one of them silently.
        allow_abbrev=False,
    )
    add_arguments(parser)
    parser.set_defaults(run=run_command)
    return parser


def run_command(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    """main.py's entry point for ``backtest``: run it and return the exit code."""
    from backtest.cli_run import run_backtest_command

    return run_backtest_command(args, environ)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Every option of the backtest command."""
    add_data_options(parser, several=True)
    add_strategy_options(parser)
    _run_options(parser)
    _gate_options(parser)
    _output_options(parser)


def add_data_options(parser: argparse.ArgumentParser, *, several: bool = False) -> None:
    """--data FILE or --symbol/--timeframe/--since/--until/--exchange (backtest and sweep);
    ``several``: --data may repeat, one file per symbol of a basket on one account."""
    g = parser.add_argument_group(
        "data", "Either --data FILE, or bars from the exchange through the local cache."
    )
    basket = (" Repeat it for a basket: several symbols on one cash account, traded in the "
              "order given (--data A.csv --data B.csv).") if several else ""
    g.add_argument("--data", metavar="FILE", action="append" if several else "store",
                   help="OHLCV file (.csv, .csv.gz, .parquet) as in ../shared/data; the "
                   "timeframe is inferred from it." + basket)
    g.add_argument("--symbol", help="market, e.g. BTC/USDT (default: from the --data file "
                   "name, else BTC/USDT)")
    g.add_argument("--timeframe", help="bar length without --data (default 1h); with --data "
                   "it must match the file")
    g.add_argument("--since", metavar="DATE", help="first bar traded, YYYY-MM-DD UTC; the "
                   "signal's warm-up bars before it are loaded too (default: one year before "
                   "the latest closed bar; with --data the whole file)")
    g.add_argument("--until", metavar="DATE",
                   help="stop before this time, YYYY-MM-DD UTC (exclusive)")
    g.add_argument("--exchange", default="binance", help="ccxt exchange id (binance)")
    add_jump_options(g)


def _run_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("run")
    g.add_argument("--scorer", choices=("fixed", "anthropic", "openai"), default="fixed",
                   help="conviction source: fixed (SCORER_FIXED_CONVICTION, 0.5; default) or an "
                   "LLM through the SCORER_* settings and its answer cache (prints a cost "
                   "estimate and a look-ahead warning first)")
    g.add_argument("--accounts", choices=("numba", "vectorbt"), default="numba",
                   help="who computes the figures from the kernel's orders: numba (default, "
                   "vectorbt's definitions, tested equal) or vectorbt's Portfolio itself "
                   "(~2.5 s to import, ~9 s to compile on a cold numba cache)")
    g.add_argument("--engine", choices=("full", "seed"), default="full",
                   help="full: the whole pipeline (default); seed: the seed guide's Step 5 "
                   "from_signals call on closes, for comparison (no risk rules, no scorer, "
                   "no Kelly file)")
    g.add_argument("--sizing", choices=("pipeline", "fixed"), default="pipeline",
                   help="pipeline: size as paper and live do, half-Kelly after "
                   "--kelly-min-trades trades (default; the output also shows the signal's edge "
                   "at a fixed size); fixed: every entry at --default-position-pct x "
                   "conviction, same costs, stops and kill switches: the signal's own edge. "
                   "Its gates are for information: it saves no Kelly inputs, so paper and live "
                   "cannot size from it")


def _gate_options(parser: argparse.ArgumentParser) -> None:
    add_gate_options(parser, "Conditions before going live; [gates] in the config file. A "
                     "*-pct is a fraction (0.2 = 20%) like every *-pct option; the figures "
                     "print in percent.")


def add_gate_options(parser: argparse.ArgumentParser, description: str) -> Any:
    """--gate-min-sharpe, --gate-max-drawdown-pct and --gate-min-trades (backtest and
    walkforward); returns their argument group."""
    g = parser.add_argument_group("gates", description)
    g.add_argument("--gate-min-sharpe", type=float, default=GATE_DEFAULTS["min_sharpe"],
                   help="Sharpe Ratio must be above this (%(default)s)")
    g.add_argument("--gate-max-drawdown-pct", type=fraction,
                   default=GATE_DEFAULTS["max_drawdown_pct"], metavar="FRACTION",
                   help="Max Drawdown must be below this fraction, 0.2 = 20%% (%(default)s)")
    g.add_argument("--gate-min-trades", type=int, default=GATE_DEFAULTS["min_trades"],
                   help="Total Trades must be above this (%(default)s)")
    return g


def _output_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("output")
    g.add_argument("--json", action="store_true",
                   help="print one JSON object (figures, gates, Kelly inputs, rejections, "
                   "halts, data range, parameters) and nothing else on stdout")
    g.add_argument("--trades-out", metavar="FILE.csv", help="write one row per trade")
    g.add_argument("--report", metavar="FILE.html",
                   help="write a self-contained HTML report (works offline)")
    g.add_argument("--kelly-out", metavar="FILE",
                   help="where to save the Kelly inputs for the live loop (default: "
                   "backtest_results.json in $TRADINGBOT_STATE_DIR, else state/)")


__all__ = ["DEFAULTS", "add_arguments", "add_backtest_command", "add_data_options",
           "add_jump_options", "add_strategy_options", "jump_bound"]
