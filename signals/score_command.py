"""``python main.py score``: score the latest closed bar with the configured scorer and print it."""

from __future__ import annotations

import argparse
import math
from collections.abc import Mapping
from typing import Any

from core.clock import SystemClock
from core.errors import ConfigError

SCORE_HELP = "score the latest closed bar with the configured scorer (LLM or fixed)"


def add_score_parser(commands: Any) -> None:
    """Register the ``score`` subcommand on an argparse subparsers object."""
    score = commands.add_parser(
        "score",
        help=SCORE_HELP,
        description="Score the latest closed bar as the bot would score an entry there: the "
        "symbol and numbers go to the model set up in .env, or to the fixed scorer when no "
        "key is set. Prints the conviction, suppress flag, reasoning, source and cost.",
    )
    source = score.add_mutually_exclusive_group()
    source.add_argument("--data", metavar="FILE", help="OHLCV file (csv, csv.gz, parquet)")
    source.add_argument("--symbol", help="market to fetch through the cache, e.g. BTC/USDT")
    score.add_argument("--timeframe", default="1h", help="bar length with --symbol (1h)")
    score.add_argument("--exchange", default="binance", help="ccxt exchange id (binance)")
    score.add_argument(
        "--as-symbol", help="symbol to put in the prompt for --data (default: from the file name)"
    )
    from core.cli_options import add_strategy_selection

    add_strategy_selection(score)
    score.set_defaults(run=run_score)


def run_score(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """Load bars, compute the strategy's signal and numbers, ask the scorer, print the Score."""
    from signals.llm_scorer import build_scorer
    from signals.scorer_context import request_at
    from signals.scorer_settings import Provider, ScorerSettings
    from signals.strategy_loader import strategy_from_args

    settings = ScorerSettings.from_env(env)
    strategy = strategy_from_args(args)
    symbol, bars = _load(args, env, strategy.warmup_bars)
    signal = int(strategy.signal(bars)[-1])
    numbers = strategy.numbers(bars)
    if settings.provider is Provider.FIXED:
        print("no LLM API key set (ANTHROPIC_API_KEY / OPENAI_API_KEY): using the fixed scorer")
    direction = -1 if signal == -1 else 1
    formats = {label: strategy.number_format(label) for label in numbers}
    request = request_at(symbol, bars, numbers, formats, row=len(bars) - 1, direction=direction)
    scorer = build_scorer(settings, clock=SystemClock())
    score = scorer.score(request)
    bar_time = bars.index[-1]
    shown = "  ".join(f"{n.label} {n.text()}" for n in request.numbers)
    print(f"{symbol} bar {bar_time:%Y-%m-%d %H:%M} UTC  {strategy.name} signal {signal:+d}"
          + (f"  {shown}" if shown else ""))
    if signal != 1:
        print("note: the bot asks the scorer only for entries (signal +1); shown for reference")
    _print_score(score)
    return 0


def _load(args: argparse.Namespace, env: Mapping[str, str], need: int) -> tuple[str, Any]:
    from data.cache import default_cache_dir
    from data.fetcher import fetch_ohlcv, make_exchange
    from data.loader import load_ohlcv

    if args.data:
        bars = load_ohlcv(args.data)
        symbol = args.as_symbol or _symbol_from_file(args.data)
    else:
        symbol = args.symbol or "BTC/USDT"
        base_url = env.get("TRADINGBOT_EXCHANGE_URL", "").strip() or None
        bars = fetch_ohlcv(
            symbol, args.timeframe, limit=need + 10, exchange_id=args.exchange,
            exchange=make_exchange(args.exchange, base_url=base_url),
            cache_dir=default_cache_dir(env),
        )
    if len(bars) < need:
        raise ConfigError(f"need at least {need} closed bars to score, got {len(bars)}")
    return symbol, bars


def _symbol_from_file(path: str) -> str:
    from data.loader import symbol_from_file_name

    symbol = symbol_from_file_name(path)
    if symbol is None:
        raise ConfigError(f"cannot tell the symbol from {path!r}; pass --as-symbol BASE/QUOTE")
    return symbol


def _print_score(score: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(show_header=False, box=None)
    table.add_row("conviction", f"{score.conviction:+.2f}")
    table.add_row("suppress", str(score.suppress).lower())
    table.add_row("reasoning", score.reasoning)
    table.add_row("source", str(score.source))
    if score.fallback_reason:
        table.add_row("fallback reason", score.fallback_reason)
    table.add_row("latency", f"{score.latency_s:.2f} s")
    table.add_row("tokens in/out", f"{score.tokens_in}/{score.tokens_out}")
    cost = score.cost_usd
    table.add_row("cost", "n/a" if math.isnan(cost) else f"${cost:.6f}")
    Console().print(table)
