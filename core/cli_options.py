"""Command-line options shared by backtest, sweep, walkforward, run and score: one definition,
one default.

Only the standard library is imported here, so ``main.py --help`` stays instant. A test checks
that the defaults equal RiskConfig(), BacktestConfig() and the paper account's, which are not
imported here because they pull in numba and pandas.
"""

from __future__ import annotations

import argparse
from typing import Any

CONFIG_ENV = "TRADINGBOT_CONFIG"
# The commands that read a config file (core/config_file.py): what they build must match.
CONFIG_COMMANDS = ("backtest", "sweep", "walkforward", "run", "score", "check-strategy")
FRACTION_HINT = "a fraction: 0.2 = 20%"

# Parser defaults; the values of RiskConfig(), BacktestConfig() and StrategySettings().
DEFAULTS: dict[str, Any] = {
    "init_cash": 10_000.0, "fees": 0.001, "slippage": 0.0005,
    "max_position_pct": 0.02, "daily_loss_limit_pct": 0.05, "max_drawdown_pct": 0.15,
    "stop_loss_pct": 0.015, "min_conviction": 0.3, "cooldown_after_losses": 0,
    "cooldown_minutes": 0, "max_entries_per_day": 0, "max_open_positions": 0,
    "max_gross_exposure_pct": 0.0,
    "default_position_pct": 0.01, "kelly_min_trades": 50,
}


def add_strategy_options(parser: argparse.ArgumentParser) -> None:
    """Costs, strategy and risk options: shared by backtest and run so both build the same
    strategy, with the same id."""
    _cost_options(parser)
    add_strategy_selection(parser)
    _risk_options(parser)


def add_strategy_selection(parser: argparse.ArgumentParser) -> None:
    """--strategy NAME|FILE.py:Class, --param key=value (repeatable), --params FILE.toml."""
    g = parser.add_argument_group(
        "strategy", "The signal traded: a built-in (`main.py strategies` lists them) or your "
        "own class in a file. Default: rsi_ema, an RSI + EMA crossover.")
    g.add_argument("--strategy", metavar="NAME|FILE.py:CLASS",
                   help="built-in name, or path/to/file.py:ClassName (default: rsi_ema, or "
                   "the --params file's strategy)")
    g.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="a strategy parameter, converted to its default's type; repeatable "
                   "(e.g. --param ema_fast=10)")
    g.add_argument("--params", dest="params_file", metavar="FILE.toml",
                   help="strategy parameters from a TOML file (top-level keys, or a [params] "
                   "table; may name the strategy); --param overrides it")


def add_config_option(parser: argparse.ArgumentParser, *, top_level: bool = False) -> None:
    """--config FILE.toml: before the command (main.py's) or after it (each config command)."""
    # A command's own default must not overwrite the one given before the command: SUPPRESS
    # leaves the attribute alone unless the option is given there.
    default = None if top_level else argparse.SUPPRESS
    parser.add_argument("--config", metavar="FILE.toml", default=default,
                        help=f"settings file (default: ${CONFIG_ENV}; `main.py init` writes "
                        "one); command-line options override it")


def fraction(text: str) -> float:
    """argparse type of a *_pct option: a number in (0, 1]; 20 for 20% is an error."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid float value: {text!r}") from None
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], {FRACTION_HINT}; got {text}")
    return value


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
    g.add_argument("--max-open-positions", type=int, default=DEFAULTS["max_open_positions"],
                   help="most positions held at once across the symbols (0 = no cap)")
    g.add_argument("--max-gross-exposure-pct", type=float,
                   default=DEFAULTS["max_gross_exposure_pct"],
                   help="cap on the positions' notionals summed, fraction of equity in [0, 1] "
                   "(0 = no cap; 1.0 = 100%%)")
    g.add_argument("--default-position-pct", type=float,
                   default=DEFAULTS["default_position_pct"],
                   help="size x conviction until --kelly-min-trades trades have closed "
                   "(%(default)s = 1%%)")
    g.add_argument("--kelly-min-trades", type=int, default=DEFAULTS["kelly_min_trades"],
                   help="closed trades before half-Kelly sizes positions (%(default)s)")
    g.add_argument("--no-flatten-on-halt", dest="flatten_on_halt", action="store_false",
                   help="keep an open position when the drawdown latch trips")
