"""Bars for the backtest command: a file (--data) or the exchange through the local cache.

Either way the bars before ``--since`` that the signal needs to warm up are kept when they
exist, so the first bar traded is the first bar asked for, not ~387 bars later.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pandas as pd

from core.clock import Clock
from core.errors import ConfigError, DataError, ExchangeUnavailable
from data.cache import default_cache_dir
from data.fetcher import fetch_ohlcv, make_exchange, parse_since
from data.loader import load_ohlcv, symbol_from_file_name
from data.timeframe import index_ms, infer_timeframe, latest_closed_open_ms, timeframe_ms

log = logging.getLogger(__name__)

# The same testing hook main.py's fetch reads (kept in step by name, not imported: main.py
# imports this package's CLI, not the other way round).
EXCHANGE_URL_ENV = "TRADINGBOT_EXCHANGE_URL"
DEFAULT_SYMBOL = "BTC/USDT"
DEFAULT_TIMEFRAME = "1h"
DEFAULT_LOOKBACK = timedelta(days=365)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
OFFLINE_HINT = ("without a network, backtest a file: --data FILE "
                "(`python main.py demo-data` writes a synthetic one)")


@dataclass(frozen=True)
class Bars:
    """Closed bars (UTC index, warm-up included) and where they came from."""

    frame: pd.DataFrame
    symbol: str
    timeframe: str
    source: str


def load_bars(
    args: argparse.Namespace, environ: Mapping[str, str], *, clock: Clock, warmup: int
) -> Bars:
    """The bars the arguments ask for; ConfigError / DataError on a bad request or bad data."""
    since_ms = parse_since(args.since) if args.since else None
    until_ms = parse_since(args.until) if args.until else None
    if since_ms is not None and until_ms is not None and until_ms <= since_ms:
        raise ConfigError(f"--until {args.until} must be after --since {args.since}")
    if args.data:
        bars = _from_file(args)
    else:
        bars, since_ms = _from_exchange(args, environ, clock, since_ms, warmup)
    frame = window(bars.frame, since_ms=since_ms, until_ms=until_ms, warmup=warmup)
    if len(frame) <= warmup:
        raise DataError(
            f"{bars.source}: {len(frame)} bar(s) in the requested range; the signal needs "
            f"more than {warmup} to warm up"
        )
    return Bars(frame=frame, symbol=bars.symbol, timeframe=bars.timeframe, source=bars.source)


def window(
    frame: pd.DataFrame, *, since_ms: int | None, until_ms: int | None, warmup: int
) -> pd.DataFrame:
    """Bars opening in [since, until), plus up to ``warmup - 1`` bars before ``since``."""
    ts = index_ms(pd.DatetimeIndex(frame.index))
    start = 0 if since_ms is None else int(ts.searchsorted(since_ms, side="left"))
    stop = len(ts) if until_ms is None else int(ts.searchsorted(until_ms, side="left"))
    return frame.iloc[max(0, start - (warmup - 1)):stop]


def _from_file(args: argparse.Namespace) -> Bars:
    from core.cli_options import jump_bound

    frame = load_ohlcv(args.data, max_jump=jump_bound(args))
    timeframe = infer_timeframe(pd.DatetimeIndex(frame.index), source=args.data)
    if args.timeframe and args.timeframe != timeframe:
        raise ConfigError(f"--timeframe {args.timeframe} but {args.data} holds {timeframe} bars")
    symbol = args.symbol or symbol_from_file_name(args.data) or DEFAULT_SYMBOL
    if not args.symbol:
        log.info("symbol %s (from the file name; --symbol overrides)", symbol)
    return Bars(frame=frame, symbol=symbol, timeframe=timeframe, source=str(args.data))


def _from_exchange(
    args: argparse.Namespace, environ: Mapping[str, str], clock: Clock, since_ms: int | None,
    warmup: int,
) -> tuple[Bars, int]:
    symbol = args.symbol or DEFAULT_SYMBOL
    timeframe = args.timeframe or DEFAULT_TIMEFRAME
    step = timeframe_ms(timeframe)
    if since_ms is None:
        now_ms = (clock.now() - _EPOCH) // timedelta(milliseconds=1)
        latest = latest_closed_open_ms(now_ms, timeframe)
        since_ms = latest - (latest % step) - DEFAULT_LOOKBACK // timedelta(milliseconds=1)
    # Fetch the warm-up bars too: the cache keeps them for the next run.
    fetch_from = max(0, since_ms - (warmup - 1) * step)
    base_url = environ.get(EXCHANGE_URL_ENV, "").strip() or None
    try:
        frame = fetch_ohlcv(
            symbol, timeframe, since=_EPOCH + timedelta(milliseconds=fetch_from),
            exchange_id=args.exchange, exchange=make_exchange(args.exchange, base_url=base_url),
            clock=clock, cache_dir=default_cache_dir(environ),
        )
    except ExchangeUnavailable as e:
        # No --data was given, so the user may not know the exchange was needed at all.
        raise type(e)(f"{e}; {OFFLINE_HINT}") from e
    source = f"{args.exchange} {symbol} {timeframe} (cache {default_cache_dir(environ)})"
    return Bars(frame=frame, symbol=symbol, timeframe=timeframe, source=source), since_ms
