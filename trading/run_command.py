"""``python main.py run`` (and plain ``python main.py``): the trading bot.

Modes: ``--paper`` (default: the exchange's public market data, a simulated wallet, no keys),
``--testnet`` / ``--live`` (the execution layer's opt-in), ``--replay FILE`` (history through
the very same loop, paper broker, simulated clock). ``--once`` runs one step and exits.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from core.errors import ConfigError

log = logging.getLogger(__name__)

DEFAULT_SYMBOLS = "BTC/USDT"
DEFAULT_TIMEFRAME = "1h"
MAX_SPEED_S = 86_400.0  # a day of real time per bar: beyond that it is a typo, not a replay
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
    mode.add_argument("--replay", metavar="FILE", help="replay an OHLCV file through the loop")
    g = run.add_argument_group("run")
    # default=None: a replay must know whether these were given (then they must match the file).
    g.add_argument("--symbols", help=f"comma-separated markets ({DEFAULT_SYMBOLS}; replay: "
                   "from the file name)")
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
    add_strategy_options(run)
    run.set_defaults(run=run_command)
    return run


def run_command(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """Build the parts for the chosen mode and run the loop."""
    strategy = strategy_from_args(args)
    if args.replay:
        return _run_replay(args, env, strategy)
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
        symbols = _symbols(args) or (DEFAULT_SYMBOLS,)
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


def _symbols(args: argparse.Namespace) -> tuple[str, ...] | None:
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
        return _drive(loop, bar=bar, clock=clock, once=args.once, broker=parts.broker,
                      mode=RunMode.PAPER)


def _loop(strategy: Any, env: Mapping[str, str], *, journal: Any, market: Any, parts: Any,
          clock: Any, mode: Any, deferred: bool, alerter: Any = None) -> Any:
    """The trading loop of paper, testnet and live; it checks the strategy on its first
    window of each symbol before it decides anything there."""
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


def _run_replay(args: argparse.Namespace, env: Mapping[str, str], strategy: Any) -> int:
    from core.cli_options import jump_bound
    from core.paths import journal_path
    from data.loader import load_ohlcv
    from signals.scorer_settings import reject_unknown_names
    from trading.instance_lock import single_instance
    from trading.runner import stop_on_signals

    speed = _speed(args.speed)
    reject_unknown_names(env)  # a misspelt SCORER_* setting must not pass silently here either
    frame = load_ohlcv(args.replay, max_jump=jump_bound(args))
    symbol, timeframe = _replay_market(args, frame)
    warmup = strategy.strategy.warmup_bars
    if len(frame) < warmup:
        raise ConfigError(f"{args.replay} has {len(frame)} bars; the strategy needs at least "
                          f"{warmup} to warm up before its first decision")
    strategy = _with(strategy, symbols=(symbol,), timeframe=timeframe)
    check_strategy(strategy, {symbol: frame})
    path = journal_path(env, "replay")
    source = str(Path(args.replay).resolve())
    stop = threading.Event()
    with single_instance(path), stop_on_signals(stop):
        # Under the lock: --fresh must never move the journal of a replay that is running.
        _check_replay_journal(path, source=source, fresh=args.fresh)
        result = _replay_on_screen({symbol: frame}, strategy, path=path, speed=speed,
                                   stop=stop, source=source)
    state = "finished" if result.finished else "stopped (run again to continue)"
    print(f"replay {state}: {result.bars_done:,} bars this run, last bar {result.last_bar}; "
          f"journal {path} (`python main.py report --mode replay`)")
    return 0


def _replay_on_screen(frames: Any, strategy: Any, *, path: Path, speed: float | None,
                      stop: threading.Event, source: str) -> Any:
    """The replay with its screen and progress on a terminal; nothing per bar otherwise."""
    from trading.replay import replay
    from trading.view import View

    view = View(terminal=sys.stdout.isatty(), mode="replay",
                strategy=strategy.strategy.describe())
    try:
        if not view.terminal:  # under systemd or piped: no callback in the bar loop at all
            return replay(frames, strategy, journal_path=path, speed=speed, stop=stop,
                          source=source)
        result = replay(frames, strategy, journal_path=path, speed=speed, stop=stop,
                        source=source, on_start=view.start_replay, on_step=view.replay_step)
        view.finish_replay()
        return result
    finally:
        view.close()


def _replay_market(args: argparse.Namespace, frame: Any) -> tuple[str, str]:
    """Symbol and timeframe of the replay file; ConfigError when the options or name disagree."""
    import pandas as pd

    from data.loader import symbol_from_file_name, timeframe_from_file_name
    from data.timeframe import infer_timeframe

    file = args.replay
    timeframe = infer_timeframe(pd.DatetimeIndex(frame.index), source=file)
    named = timeframe_from_file_name(file)
    if named is not None and named != timeframe:
        raise ConfigError(f"{file} is named {named} but its bars are {timeframe} apart")
    if args.timeframe is not None and args.timeframe != timeframe:
        raise ConfigError(f"--timeframe {args.timeframe} but {file} holds {timeframe} bars")
    given, from_name = _symbols(args), symbol_from_file_name(file)
    if given is not None and len(given) != 1:
        raise ConfigError(f"a replay plays one file, one market; --symbols gave {len(given)}")
    if given is not None and from_name is not None and given[0] != from_name:
        raise ConfigError(f"--symbols {given[0]} but {file} is named after {from_name}")
    return (given[0] if given else from_name or DEFAULT_SYMBOLS), timeframe


def _check_replay_journal(path: Path, *, source: str, fresh: bool) -> None:
    from journal import Journal

    if not path.exists():
        return
    if fresh:
        _keep_as_backup(path)
        return
    with Journal(path) as journal:
        run = journal.latest_run()
    previous = "" if run is None else str(run.config.get("source", ""))
    if previous and previous != source:
        raise ConfigError(f"the replay journal {path} holds a replay of {previous}; "
                          "add --fresh to start a new replay account")


def _keep_as_backup(path: Path) -> Path:
    """Move the journal and its -wal/-shm to the first unused journal.sqlite3.N.bak; never
    overwrite an earlier backup. The side files move first: a -wal left behind at the old
    name would be replayed into the next new journal."""
    n = 1
    while any(path.with_name(f"{path.name}.{n}.bak{side}").exists()
              for side in ("", "-wal", "-shm")):
        n += 1
    backup = path.with_name(f"{path.name}.{n}.bak")
    for side in ("-wal", "-shm", ""):
        current = path.with_name(path.name + side)
        if current.exists():
            os.rename(current, backup.with_name(backup.name + side))
    print(f"--fresh: the previous replay journal is kept as {backup}", flush=True)
    return backup


def _speed(text: str) -> float | None:
    if text == "max":
        return None
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= MAX_SPEED_S:  # also refuses nan and inf
        raise ConfigError(f"--speed must be 'max' or seconds of real time per bar, more than 0 "
                          f"and at most {MAX_SPEED_S:g}, got {text!r}")
    return value


def _with(strategy: Any, **changes: Any) -> Any:
    from dataclasses import replace

    return replace(strategy, **changes)
