"""The ``backtest`` command: arguments, and the run from bars to figures, gates and files.

Only the standard library is imported at module level: ``main.py --help`` and a mistyped option
stay instant. The command itself (``backtest.cli_run``) imports pandas, numba and vectorbt.

Exit codes: 0 every gate passed, 3 a gate failed, 2 a usage or data error (main.py's rule).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

EXIT_USAGE = 2

# Parser defaults; a test checks they equal SignalParams(), RiskConfig() and BacktestConfig(),
# which are not imported here because signals and backtest pull in numba at import.
DEFAULTS: dict[str, Any] = {
    "init_cash": 10_000.0, "fees": 0.001, "slippage": 0.0005,
    "rsi_window": 14, "ema_fast": 12, "ema_slow": 26, "overbought": 70.0, "oversold": 30.0,
    "rsi_method": "wilder",
    "max_position_pct": 0.02, "daily_loss_limit_pct": 0.05, "max_drawdown_pct": 0.15,
    "stop_loss_pct": 0.015, "min_conviction": 0.3, "cooldown_after_losses": 0,
    "cooldown_minutes": 0, "max_entries_per_day": 0,
    "default_position_pct": 0.01, "kelly_min_trades": 50,
    "min_sharpe": 1.0, "max_drawdown": 20.0, "min_trades": 50,
}

DESCRIPTION = (
    "Backtest the whole decision path (signal -> scorer -> risk -> fills at the next open) on "
    "history, show the figures and the seed's gates (Sharpe > 1, Max Drawdown < 20%, "
    "trades > 50), and save the Kelly inputs the live loop reads. Exit code: 0 when every gate "
    "passes, 3 when one fails, 2 for a usage or data error."
)


def add_backtest_command(commands: Any) -> argparse.ArgumentParser:
    """Add the ``backtest`` subcommand to main.py's subparsers; returns its parser."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "backtest",
        help="backtest the full pipeline on history and check the gates",
        description=DESCRIPTION,
        # --max-drawdown (a gate, percent) and --max-drawdown-pct (a risk limit, fraction) are
        # one prefix apart: an abbreviation must never pick one of them silently.
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
    add_data_options(parser)
    _cost_options(parser)
    _signal_options(parser)
    _risk_options(parser)
    _run_options(parser)
    _gate_options(parser)
    _output_options(parser)


def add_strategy_options(parser: argparse.ArgumentParser) -> None:
    """Costs, signal and risk options: shared with ``run`` so both build the same strategy."""
    _cost_options(parser)
    _signal_options(parser)
    _risk_options(parser)


def add_data_options(parser: argparse.ArgumentParser) -> None:
    """--data FILE or --symbol/--timeframe/--since/--until/--exchange (backtest and sweep)."""
    g = parser.add_argument_group(
        "data", "Either --data FILE, or bars from the exchange through the local cache."
    )
    g.add_argument("--data", metavar="FILE",
                   help="OHLCV file (.csv, .csv.gz, .parquet) as in ../shared/data; the "
                   "timeframe is inferred from it")
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


def add_jump_options(group: Any) -> None:
    """--max-jump and --allow-jumps: the bound on a data file's close-to-close moves."""
    group.add_argument("--max-jump", type=float, default=0.5, metavar="FRACTION",
                       help="refuse a data file with a close more than this away from the "
                       "close before it (%(default)s = 50%%)")
    group.add_argument("--allow-jumps", action="store_true",
                       help="accept a data file whatever its close-to-close moves")


def jump_bound(args: argparse.Namespace) -> float | None:
    """The max_jump for data.loader.load_ohlcv from --max-jump / --allow-jumps."""
    from core.errors import ConfigError

    if args.allow_jumps:
        return None
    bound = float(args.max_jump)
    if not 0 < bound < float("inf"):
        raise ConfigError(f"--max-jump must be a fraction > 0 (0.5 = 50%), got {args.max_jump}")
    return bound


def _cost_options(parser: argparse.ArgumentParser) -> None:
    # argparse %-formats option help but not group or parser descriptions (no %% there).
    g = parser.add_argument_group("costs", "Fractions, as in the code: 0.001 = 0.1%.")
    g.add_argument("--init-cash", type=float, default=DEFAULTS["init_cash"],
                   help="starting quote balance (%(default)s)")
    g.add_argument("--fees", type=float, default=DEFAULTS["fees"],
                   help="fee on notional, each side (%(default)s = 0.1%%)")
    g.add_argument("--slippage", type=float, default=DEFAULTS["slippage"],
                   help="price slippage against us on every fill (%(default)s = 0.05%%)")


def _signal_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("signal", "RSI + EMA crossover (the seed's rules).")
    g.add_argument("--rsi-window", type=int, default=DEFAULTS["rsi_window"],
                   help="bars in the RSI (%(default)s)")
    g.add_argument("--ema-fast", type=int, default=DEFAULTS["ema_fast"],
                   help="fast EMA span (%(default)s)")
    g.add_argument("--ema-slow", type=int, default=DEFAULTS["ema_slow"],
                   help="slow EMA span (%(default)s)")
    g.add_argument("--overbought", type=float, default=DEFAULTS["overbought"],
                   help="no entry at or above this RSI (%(default)s)")
    g.add_argument("--oversold", type=float, default=DEFAULTS["oversold"],
                   help="no exit signal at or below this RSI (%(default)s)")
    g.add_argument("--rsi-method", choices=("wilder", "sma"), default=DEFAULTS["rsi_method"],
                   help="wilder (TA-Lib, default) or sma (the seed's); the seed engine always "
                   "uses sma")


def _risk_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group(
        "risk", "Percent-style values are fractions exactly like RiskConfig: 0.02 = 2%."
    )
    g.add_argument("--max-position-pct", type=float, default=DEFAULTS["max_position_pct"],
                   help="cap on a position, fraction of equity (%(default)s = 2%%)")
    g.add_argument("--daily-loss-limit-pct", type=float,
                   default=DEFAULTS["daily_loss_limit_pct"],
                   help="loss in a UTC day that pauses entries (%(default)s = 5%%)")
    g.add_argument("--max-drawdown-pct", type=float, default=DEFAULTS["max_drawdown_pct"],
                   help="fall from peak that latches the halt (%(default)s = 15%%)")
    g.add_argument("--stop-loss-pct", type=float, default=DEFAULTS["stop_loss_pct"],
                   help="stop distance below the entry (%(default)s = 1.5%%); the seed "
                   "engine's sl_stop")
    g.add_argument("--min-conviction", type=float, default=DEFAULTS["min_conviction"],
                   help="lowest scorer conviction that may open, in [-1, 1] (%(default)s)")
    g.add_argument("--cooldown-after-losses", type=int,
                   default=DEFAULTS["cooldown_after_losses"],
                   help="losing trades in a row that start a cooldown (0 = off)")
    g.add_argument("--cooldown-minutes", type=int, default=DEFAULTS["cooldown_minutes"],
                   help="length of that cooldown")
    g.add_argument("--max-entries-per-day", type=int, default=DEFAULTS["max_entries_per_day"],
                   help="most entries per UTC day (0 = no cap)")
    g.add_argument("--default-position-pct", type=float,
                   default=DEFAULTS["default_position_pct"],
                   help="size x conviction until --kelly-min-trades trades have closed "
                   "(%(default)s = 1%%)")
    g.add_argument("--kelly-min-trades", type=int, default=DEFAULTS["kelly_min_trades"],
                   help="closed trades before half-Kelly sizes positions (%(default)s)")
    g.add_argument("--no-flatten-on-halt", dest="flatten_on_halt", action="store_false",
                   help="keep an open position when the drawdown latch trips")


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


def _gate_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("gates", "The seed's conditions before going live.")
    g.add_argument("--min-sharpe", type=float, default=DEFAULTS["min_sharpe"],
                   help="Sharpe Ratio must be above this (%(default)s)")
    g.add_argument("--max-drawdown", type=float, default=DEFAULTS["max_drawdown"],
                   help="Max Drawdown [%%] must be below this, in PERCENT like the figure "
                   "(%(default)s = 20%%)")
    g.add_argument("--min-trades", type=int, default=DEFAULTS["min_trades"],
                   help="Total Trades must be above this (%(default)s)")


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
