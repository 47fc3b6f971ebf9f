"""``python main.py run`` (and plain ``python main.py``): the trading bot.

Modes: ``--paper`` (default: the exchange's public market data, a simulated wallet, no keys),
``--testnet`` / ``--live`` (the execution layer's opt-in), ``--replay FILE`` (history through
the very same loop, paper broker, simulated clock; repeated, a basket: trading/replay_command.py).
``--once`` runs one step and exits.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from core.errors import ConfigError

log = logging.getLogger(__name__)

DEFAULT_SYMBOLS = "BTC/USDT"
DEFAULT_TIMEFRAME = "1h"
RUN_HELP = "run the trading bot (paper by default; --testnet, --live, --replay FILE)"
GATE_ON = ("backtest", "walkforward")  # risk.saved_backtest.EVIDENCE_KINDS (not imported: --help)


def add_run_parser(commands: Any) -> argparse.ArgumentParser:
    """Register ``run`` on main.py's subparsers."""
    from core.cli_options import add_jump_options, add_strategy_options

    run: argparse.ArgumentParser = commands.add_parser(
        "run", help=RUN_HELP, allow_abbrev=False,
        description="Run the bot: one decision per closed bar per symbol. Paper trading on "
        "the exchange's public market data by default (no keys; needs network access to the "
        "exchange's public API). Offline: --replay FILE (see `main.py demo-data`).",
    )
    mode = run.add_mutually_exclusive_group()
    mode.add_argument("--paper", action="store_true", help="simulated wallet (default)")
    mode.add_argument("--testnet", action="store_true", help="Binance spot testnet (keys)")
    mode.add_argument("--live", action="store_true",
                      help="real money: needs keys, LIVE_TRADING=yes and the promotion gate")
    mode.add_argument("--replay", metavar="FILE", action="append",
                      help="replay an OHLCV file through the loop; repeat it for a basket on "
                      "one account (the files' markets in the order given)")
    g = run.add_argument_group("run")
    # default=None: a replay must know whether these were given (then they must match the file).
    g.add_argument("--symbols", help=f"comma-separated markets ({DEFAULT_SYMBOLS}; replay: "
                   "from the file names)")
    g.add_argument("--timeframe", help=f"bar length ({DEFAULT_TIMEFRAME}; replay: the file's)")
    g.add_argument("--exchange", default="binance", help="ccxt exchange id (binance)")
    g.add_argument("--once", action="store_true", help="one step, then exit")
    g.add_argument("--speed", default="max",
                   help="replay: 'max' or seconds of real time per bar (e.g. 0.5)")
    g.add_argument("--fresh", action="store_true",
                   help="replay: start a new replay account (every old journal is kept, as "
                   "journal.sqlite3.1.bak, .2.bak, ...)")
    add_jump_options(g)
    g.add_argument("--kelly-max-age-days", type=int, default=30,
                   help="saved backtest older than this is stale (30)")
    g.add_argument("--override-promotion", metavar="REASON",
                   help="live: start despite the promotion gate (journaled with the reason)")
    g.add_argument("--gate-on", choices=GATE_ON, default=GATE_ON[0],
                   help="the saved evidence paper and live size on and live requires: a "
                   "backtest, or a walk-forward's out-of-sample gates and DSR ([gates] on)")
    web = run.add_argument_group("dashboard")
    web.add_argument("--dashboard", action="store_true",
                     help="serve the web dashboard beside the bot (127.0.0.1 unless "
                     "--dashboard-host; any other address needs a token)")
    web.add_argument("--dashboard-host", default="127.0.0.1", help="address (127.0.0.1)")
    web.add_argument("--dashboard-port", type=int, default=8765, help="port (8765)")
    add_strategy_options(run)
    run.set_defaults(run=run_command)
    return run


def run_command(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """Build the parts for the chosen mode and run the loop."""
    strategy = strategy_from_args(args)
    if args.replay:
        from trading.replay_command import run_replay

        return run_replay(args, env, strategy)
    if args.testnet or args.live:
        from trading.exchange_mode import run_exchange_mode

        return run_exchange_mode(args, env, strategy)
    return _run_paper(args, env, strategy)


def strategy_from_args(args: argparse.Namespace, symbols: tuple[str, ...] | None = None) -> Any:
    """StrategySettings from the options shared with backtest (the same fields, the same id)."""
    from risk.config import RiskConfig
    from signals.strategy_loader import strategy_from_args
    from trading.setup import StrategySettings

    if args.kelly_max_age_days < 1:
        raise ConfigError(f"--kelly-max-age-days must be >= 1, got {args.kelly_max_age_days}")
    if symbols is None:
        symbols = symbols_option(args) or (DEFAULT_SYMBOLS,)
    if not symbols:
        raise ConfigError("--symbols needs at least one market, e.g. BTC/USDT")
    return StrategySettings(
        symbols=symbols, timeframe=args.timeframe or DEFAULT_TIMEFRAME,
        strategy=strategy_from_args(args), risk=RiskConfig.from_options(args),
        default_position_pct=args.default_position_pct, kelly_min_trades=args.kelly_min_trades,
        flatten_on_halt=args.flatten_on_halt, init_cash=args.init_cash, fee=args.fees,
        slippage=args.slippage, kelly_max_age=timedelta(days=args.kelly_max_age_days),
        gate_on=args.gate_on,
    )


def check_strategy(strategy: Any, frames: Mapping[str, Any]) -> None:
    """Look-ahead, warm-up and live-window checks before the bot trades: a failure is one
    StrategyError line (exit 2) naming the first bad bar; nothing is traded."""
    from signals.strategy_checks import AUTO_CHECK_ROWS, run_checks
    from trading.book import CATCH_UP_BARS

    warm = strategy.strategy.warmup_bars
    for symbol, frame in frames.items():
        if len(frame) <= warm:
            continue  # the loop says itself that the history is too short
        report = run_checks(strategy.strategy, frame, live_fetch=warm + CATCH_UP_BARS,
                            max_rows=AUTO_CHECK_ROWS + warm)
        if not report.passed:
            log.error("strategy checks on %s failed:\n%s", symbol, "\n".join(report.lines()))
        report.raise_if_failed()


def window_check(strategy: Any) -> Any:
    """The loop's check of each symbol's first window (paper, testnet, live): the bars it
    fetches, so an exchange that is down at start delays the check, never skips it."""
    return lambda symbol, frame: check_strategy(strategy, {symbol: frame})


def symbols_option(args: argparse.Namespace) -> tuple[str, ...] | None:
    """The --symbols given, or None when the option was left out."""
    if args.symbols is None:
        return None
    symbols = tuple(s.strip() for s in args.symbols.split(",") if s.strip())
    if not symbols:
        raise ConfigError("--symbols needs at least one market, e.g. BTC/USDT")
    return symbols


def _run_paper(args: argparse.Namespace, env: Mapping[str, str], strategy: Any) -> int:
    from core.clock import SystemClock
    from core.paths import journal_path
    from data.cache import default_cache_dir
    from data.fetcher import make_exchange
    from data.timeframe import timeframe_ms
    from journal import Journal
    from journal.records import RunMode
    from remote.services import operator_services
    from risk.backtest_store import default_results_path
    from trading.instance_lock import single_instance
    from trading.market import ExchangeMarket
    from trading.setup import build_paper_parts
    from trading.sizing import evidence_text

    clock = SystemClock()
    base_url = env.get("TRADINGBOT_EXCHANGE_URL", "").strip() or None
    exchange = make_exchange(args.exchange, base_url=base_url)
    market = ExchangeMarket(timeframe=strategy.timeframe, clock=clock,
                            exchange_id=args.exchange, exchange=exchange,
                            cache_dir=default_cache_dir(env))
    path = journal_path(env, RunMode.PAPER)
    with single_instance(path), Journal(path, clock=clock) as journal:
        parts = build_paper_parts(strategy, journal=journal, clock=clock, rolling=False,
                                  results_path=default_results_path(env))
        paper: Any = parts.broker
        paper.reconcile().raise_if_mismatch()
        print(f"paper trading {', '.join(strategy.symbols)} {strategy.timeframe} on "
              f"{args.exchange} public data; sizing: {parts.sizing.describe()}; "
              f"{evidence_text(parts.sizing)}", flush=True)
        loop = _loop(strategy, env, journal=journal, market=market, parts=parts, clock=clock,
                     mode=RunMode.PAPER, deferred=True)
        bar = timedelta(milliseconds=timeframe_ms(strategy.timeframe))
        with operator_services(args, env, mode=RunMode.PAPER, journal_path=path):
            return _drive(loop, bar=bar, clock=clock, once=args.once, broker=parts.broker,
                          mode=RunMode.PAPER)


def _loop(strategy: Any, env: Mapping[str, str], *, journal: Any, market: Any, parts: Any,
          clock: Any, mode: Any, deferred: bool, alerter: Any = None,
          refused: Mapping[str, str] | None = None) -> Any:
    """The trading loop of paper, testnet and live; it checks the strategy on its first
    window of each symbol before it decides anything there. ``refused``: symbols that take
    no entries, with why (live: the promotion gate's refusals)."""
    from signals.llm_scorer import build_scorer
    from signals.scorer_settings import ScorerSettings
    from trading.alerts import build_alerter
    from trading.loop import LoopSettings, TradingLoop

    scorer_settings = ScorerSettings.from_env(env)
    journal.record_run(
        mode=mode, strategy_id=strategy.strategy_id(), code_version=code_version(),
        config={**strategy.snapshot(), "evidence": dict(parts.sizing.evidence()),
                "scorer": {"provider": str(scorer_settings.provider),
                           "model": scorer_settings.model}},
        secrets=[scorer_settings.api_key],
    )
    settings = LoopSettings(
        symbols=strategy.symbols, timeframe=strategy.timeframe, strategy=strategy.strategy,
        flatten_on_halt=strategy.flatten_on_halt, deferred_fills=deferred,
        scorer_name=(str(scorer_settings.provider), scorer_settings.model),
        refused=dict(refused or {}),
    )
    return TradingLoop(
        settings, market=market, scorer=build_scorer(scorer_settings, clock=clock),
        broker=parts.broker, journal=journal, risk=parts.risk, sizing=parts.sizing,
        clock=clock, alerter=alerter or build_alerter(env), check=window_check(strategy),
    )


def _drive(loop: Any, *, bar: timedelta, clock: Any, once: bool, broker: Any, mode: str,
           before_view: Any = None) -> int:
    from trading.runner import Runner, RunnerSettings, stop_on_signals
    from trading.view import View

    view = View(terminal=sys.stdout.isatty(), mode=str(mode),
                strategy=loop.settings.strategy.describe())

    def show(lp: Any) -> None:
        if before_view is not None:
            before_view(lp)
        view.update(lp, broker)  # positions and halts as they are, not as decided

    runner = Runner(loop, RunnerSettings(bar=bar), clock=clock, on_step=show)
    done_before = dict(loop.book.last_bar)
    try:
        with stop_on_signals(runner.stop):
            code = runner.run(once=once)
        if once:
            show(loop)
            if code == 0 and dict(loop.book.last_bar) == done_before:
                code = _why_nothing_decided(loop)
        return code
    finally:
        view.close()


def _why_nothing_decided(loop: Any) -> int:
    """Say why a --once step decided nothing; 1 when it could not decide (too little history)."""
    short = loop.history_shortfall()
    if short:
        why = "; ".join(f"{s} has {have} closed bars, the strategy needs {need}"
                        for s, (have, need) in short.items())
        print(f"decided nothing: {why}", file=sys.stderr, flush=True)
        return 1
    last = max(loop.book.last_bar.values(), default=None)
    print(f"decided nothing: no closed bar after {last:%Y-%m-%d %H:%M} UTC, which was decided "
          "already" if last is not None else "decided nothing: no closed bar yet",
          file=sys.stderr, flush=True)
    return 0


def code_version(*, git: str | None = None) -> str:
    """The commit this code runs from (``git rev-parse --short HEAD``), else the package's
    version, else "unknown"; never fails, whether or not git is installed."""
    import shutil
    import subprocess
    from importlib import metadata

    root = Path(__file__).resolve().parents[1]
    git = git or shutil.which("git")
    if git:
        try:
            done = subprocess.run(  # noqa: S603 - a fixed command on our own checkout
                [git, "-C", str(root), "rev-parse", "--short", "HEAD"],
                capture_output=True, text=True, timeout=5, check=False)
            if done.returncode == 0 and done.stdout.strip():
                return done.stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass  # no git, or no checkout: the package version below
    try:
        return f"tradingbot {metadata.version('tradingbot')}"
    except metadata.PackageNotFoundError:
        return "unknown"
