"""Command line of the trading bot: ``python main.py --help`` lists the commands.

The only place that sets up logging and rich. Heavy libraries (pandas, ccxt) are imported inside
the command that needs them so that ``--help`` and argument errors stay instant.

Environment:
  TRADINGBOT_CONFIG        the config file (bot.toml) when no --config is given
  TRADINGBOT_CACHE_DIR     where fetched bars are cached (default: data/cache in the repo)
  TRADINGBOT_EXCHANGE_URL  testing hook: send the exchange's API calls to this base URL
                           (e.g. a fake server on http://127.0.0.1:PORT) instead of the exchange
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

from core.cli_options import CONFIG_COMMANDS, CONFIG_ENV, add_config_option
from core.errors import BotError, ConfigError, DataError, ExchangeUnavailable

EXCHANGE_URL_ENV = "TRADINGBOT_EXCHANGE_URL"
EXIT_USER_ERROR = 2

log = logging.getLogger(__name__)

Command = Callable[[argparse.Namespace, Mapping[str, str]], int]


# Options renamed so that their unit is in the name (issue 12); argparse says "unrecognized".
RENAMED_OPTIONS = {
    "--max-drawdown": "--gate-max-drawdown-pct (backtest's gate, a fraction: 0.2 = 20%)",
    "--min-sharpe": "--gate-min-sharpe (backtest's gate)",
    "--min-trades": "--gate-min-trades (backtest's gate)",
}


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad argument in one line instead of usage plus error."""

    def error(self, message: str) -> NoReturn:
        """Print one line on stderr and exit 2."""
        self.exit(EXIT_USER_ERROR,
                  f"error: {message}{_renamed_hint(message)} (see {self.prog} --help)\n")


def _renamed_hint(message: str) -> str:
    if not message.startswith("unrecognized arguments:"):
        return ""
    for word in message.partition(":")[2].split():
        renamed = RENAMED_OPTIONS.get(word.partition("=")[0])
        if renamed:
            return f"; did you mean {renamed}?"
    return ""


EXAMPLES = """\
examples (offline first, then the exchange):
  python main.py demo-data                 # a SYNTHETIC market file in state/, no network
  python main.py backtest --data state/SYNTHUSDT_1h_synthetic_demo.csv --report state/demo.html
  python main.py run --replay state/SYNTHUSDT_1h_synthetic_demo.csv --speed max
  python main.py fetch --symbol BTC/USDT --timeframe 1h --since 2024-01-01
  python main.py sweep --data FILE         # every parameter combination, out-of-sample check
  python main.py walkforward --data FILE   # re-pick on each window, gates out of sample
  python main.py run                       # paper trading on live public prices (the default)
  python main.py status                    # then: halt --reason WHY / resume --reason WHY

`python main.py COMMAND --help` shows a command's options.
"""


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """Return the parser with every subcommand, in the order a new user meets them; with
    ``command`` (one of command_names()), only the subcommands its module registers."""
    parser = _Parser(
        prog="main.py", description="Risk-first crypto trading bot.", epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    add_config_option(parser, top_level=True)
    commands = parser.add_subparsers(
        dest="command", required=False, metavar="COMMAND", parser_class=_Parser
    )
    # Each module registers its command importing only the standard library: the heavy work is
    # imported inside the command's run function, so that --help stays instant.
    for names, register in _registrars():
        if command is None or command in names:
            register(commands)
    for name in CONFIG_COMMANDS:
        if name in commands.choices:
            add_config_option(commands.choices[name])
    return parser


def _lazy(module: str, function: str) -> Callable[[Any], Any]:
    def register(commands: Any) -> Any:
        return getattr(importlib.import_module(module), function)(commands)

    return register


def _registrars() -> list[tuple[tuple[str, ...], Callable[[Any], Any]]]:
    """(command names, the function that registers them), in the order of --help."""
    return [
        (("demo-data",), _lazy("data.demo_command", "add_demo_parser")),
        (("fetch",), _add_fetch_parser),
        (("init",), _add_init_parser),
        (("strategies",), _lazy("signals.check_command", "add_strategies_parser")),
        (("check-strategy",), _lazy("signals.check_command", "add_check_parser")),
        (("backtest",), _lazy("backtest.cli", "add_backtest_command")),
        (("sweep",), _lazy("backtest.sweep", "add_sweep_parser")),
        (("walkforward",), _lazy("backtest.walkforward_cli", "add_walkforward_parser")),
        (("score",), _lazy("signals.score_command", "add_score_parser")),
        (("run",), _lazy("trading.run_command", "add_run_parser")),
        (("dashboard",), _lazy("remote.dashboard_cli", "add_dashboard_parser")),
        (("status", "positions", "daily", "pause", "halt", "resume", "flatten", "report"),
         _lazy("trading.operator", "add_operator_parsers")),
    ]


def command_names() -> frozenset[str]:
    """Every subcommand's name."""
    return frozenset(name for names, _ in _registrars() for name in names)


def _add_fetch_parser(commands: argparse._SubParsersAction[_Parser]) -> None:
    fetch = commands.add_parser(
        "fetch",
        help="download closed OHLCV bars into the local cache",
        description="Download closed OHLCV bars from the exchange's public API into the "
        "parquet cache; only bars not cached yet are requested.",
    )
    fetch.add_argument("--symbol", default="BTC/USDT", help="market, e.g. BTC/USDT")
    fetch.add_argument("--timeframe", default="1h", help="bar length, e.g. 1m, 15m, 1h, 1d")
    fetch.add_argument("--since", help="first day to fetch, YYYY-MM-DD (UTC); default: --limit")
    fetch.add_argument(
        "--limit", type=int, default=1000, help="without --since: the latest N bars (1000)"
    )
    fetch.add_argument("--exchange", default="binance", help="ccxt exchange id (binance)")
    fetch.set_defaults(run=_cmd_fetch)


def main(argv: Sequence[str] | None = None, *, environ: Mapping[str, str] | None = None) -> int:
    """Run one command and return the process exit code (2 for a user mistake)."""
    if environ is None:
        _load_dotenv()
    env = os.environ if environ is None else environ
    given = list(argv) if argv is not None else sys.argv[1:]
    # `main.py backtest ...` builds only backtest's parser: the other commands' modules would
    # cost ~50 ms of a backtest's start. Options before the command build them all.
    parser = build_parser(given[0] if given and given[0] in command_names() else None)
    args = parser.parse_args(given)
    if args.command is None:
        # Plain `python main.py` is the product: the paper bot, as `run` with its defaults.
        given = [*given, "run"]
        args = parser.parse_args(given)
    try:
        args, env = parse_with_config(parser, given, args, env)
    except ConfigError as e:
        _print_error(e)
        return EXIT_USER_ERROR
    _setup_logging(verbose=args.verbose)
    run: Command = args.run
    try:
        return run(args, env)
    except (ConfigError, DataError, ExchangeUnavailable) as e:
        _print_error(e)
        return EXIT_USER_ERROR
    except BotError as e:
        _print_error(e)
        return 1
    except OSError as e:
        # The environment failed at run time (disk full, read-only, gone): nothing to fix in
        # the command line, so exit 1; what was written before is kept by atomic writes.
        _print_error(f"{args.command} failed: {_os_error(e)}")
        return 1
    except KeyboardInterrupt:
        _print_error("interrupted")
        return 130


def parse_with_config(
    parser: argparse.ArgumentParser, given: list[str], args: argparse.Namespace,
    env: Mapping[str, str],
) -> tuple[argparse.Namespace, Mapping[str, str]]:
    """The command line parsed again over the config file's values (--config, else
    $TRADINGBOT_CONFIG): flags > file > defaults. The file's [scorer] goes into the
    environment the command reads, as the SCORER_* settings."""
    path = args.config or env.get(CONFIG_ENV, "").strip()
    if not path or args.command not in CONFIG_COMMANDS:
        return args, env
    from core.config_file import defaults_for, load_config, scorer_environ

    loaded = load_config(path)
    command = _command_parser(parser, args.command)
    dests = {action.dest for action in command._actions}
    command.set_defaults(**defaults_for(loaded, args.command, dests=dests, given=args))
    env, changed = scorer_environ(loaded, env)
    over = f"; its [scorer] replaces {', '.join(changed)} from the environment" if changed else ""
    print(f"config: {loaded.path}{over}", file=sys.stderr, flush=True)
    return parser.parse_args(given), env


def _command_parser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found: argparse.ArgumentParser = action.choices[name]
            return found
    raise LookupError(f"no command {name}")


def _add_init_parser(commands: argparse._SubParsersAction[_Parser]) -> None:
    init = commands.add_parser(
        "init", help="write a commented example config file (bot.toml)",
        description="Write a config file with every setting that backtest, sweep, run, score "
        "and check-strategy share (strategy, market, costs, risk, sizing, gates, scorer), each "
        "at its default with its unit. Use it with `main.py --config bot.toml COMMAND` or "
        f"{CONFIG_ENV}=bot.toml; options given on the command line override it.",
    )
    init.add_argument("path", nargs="?", default="bot.toml", metavar="PATH",
                      help="where to write it (%(default)s)")
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    init.set_defaults(run=_cmd_init)


def _cmd_init(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """Write the example config file and say how to use it."""
    from core.config_example import write_example
    from signals.strategy_loader import DEFAULT_STRATEGY, describe_builtins

    params = next(s["params"] for s in describe_builtins() if s["name"] == DEFAULT_STRATEGY)
    path = write_example(Path(args.path), env, force=args.force, params=params)
    print(f"wrote {path}: every setting at its default. Use it: python main.py --config {path} "
          f"backtest --data FILE (or export {CONFIG_ENV}={path}); options override it.")
    return 0


def _os_error(e: OSError) -> str:
    where = e.filename if e.filename is not None else ""
    text = e.strerror or str(e) or type(e).__name__
    return f"{text} ({where})" if where else text


def _load_dotenv(path: str | None = None) -> None:
    # Secrets and settings come from the environment; .env (never committed) fills it in without
    # overriding what the shell or systemd's EnvironmentFile already set. A line that is not
    # UTF-8 is skipped with a warning: a broken .env must never stop `halt` from working.
    from io import StringIO

    from dotenv import find_dotenv, load_dotenv

    found = path or find_dotenv()
    if not found:
        return
    try:
        raw = Path(found).read_bytes()
    except OSError as e:
        print(f"warning: {found} not read: {_os_error(e)}", file=sys.stderr)
        return
    lines = []
    for number, line in enumerate(raw.splitlines(keepends=True), start=1):
        try:
            lines.append(line.decode("utf-8"))
        except UnicodeDecodeError as e:
            print(f"warning: {found} line {number} is not UTF-8 ({e.reason} at byte "
                  f"{e.start}); that line is ignored", file=sys.stderr)
    load_dotenv(stream=StringIO("".join(lines)), override=False)


def _print_error(error: object) -> None:
    # One line, whatever the message holds: the full story is in the log with -v.
    text = " ".join(str(error).split()) or type(error).__name__
    print(f"error: {text}", file=sys.stderr)


def _setup_logging(*, verbose: bool) -> None:
    root = logging.getLogger()
    if root.handlers:
        return  # embedded (tests, another program): the host owns logging
    from rich.console import Console
    from rich.logging import RichHandler

    handler = RichHandler(console=Console(stderr=True), show_path=False, show_time=False)
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(name)s: %(message)s",
        handlers=[handler],
    )


def _cmd_fetch(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """Fill the cache for one symbol/timeframe and print a one-line summary."""
    from data.cache import CacheKey, default_cache_dir
    from data.fetcher import fetch_ohlcv, make_exchange
    from data.integrity import check_ohlcv

    base_url = env.get(EXCHANGE_URL_ENV, "").strip() or None
    if base_url:
        log.info("%s is set: using %s instead of %s", EXCHANGE_URL_ENV, base_url, args.exchange)
    exchange = make_exchange(args.exchange, base_url=base_url)
    cache_dir = default_cache_dir(env)
    with _Progress(f"{args.symbol} {args.timeframe}") as report:
        frame = fetch_ohlcv(
            args.symbol,
            args.timeframe,
            since=args.since,
            limit=args.limit,
            exchange_id=args.exchange,
            exchange=exchange,
            cache_dir=cache_dir,
            progress=report,
        )
    source = f"{args.exchange} {args.symbol} {args.timeframe}"
    gaps = check_ohlcv(frame, timeframe=args.timeframe, source=source)
    where = CacheKey(args.exchange, args.symbol, args.timeframe).path(cache_dir)
    if gaps.first is None or gaps.last is None:
        print(f"{source}: no closed bars in the requested range; cache {where}")
        return 0
    print(
        f"{source}: {gaps.rows:,} bars {gaps.first:%Y-%m-%d %H:%M} .. {gaps.last:%Y-%m-%d %H:%M}"
        f" UTC, {gaps.summary()}; cache {where}"
    )
    return 0


class _Progress:
    """A rich progress bar on stderr (hidden when stderr is not a terminal)."""

    def __init__(self, label: str) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        console = Console(stderr=True)
        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("bars"),
            console=console,
            transient=True,
            disable=not console.is_terminal,
        )
        self._task = self._bar.add_task(label, total=None)

    def __enter__(self) -> Callable[[int, int], None]:
        self._bar.start()
        return self._update

    def __exit__(self, *exc: object) -> None:
        self._bar.stop()

    def _update(self, done: int, total: int) -> None:
        self._bar.update(self._task, completed=done, total=total)


if __name__ == "__main__":
    sys.exit(main())
