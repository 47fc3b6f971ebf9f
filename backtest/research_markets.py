"""Several markets for ``sweep`` and ``walkforward``: the files, their names, and the ranking
across them.

``--data`` repeats (``--data A.csv --data B.csv``) and takes a glob (``--data
'data/*_1h.parquet'``, expanded here, sorted, since a quoted glob reaches the command
unexpanded). The rules are the basket's: one bar length (the grid's figures are annualised on
one), each symbol once; the quote currencies may differ, as each market is researched alone.

The grid point that ranks best across all markets: on each market every combination has its
place in that market's own ranking (1 = best, as its table numbers it: by the metric, runs
under --rank-min-trades or with a non-finite figure last in grid order). The places are
averaged over the markets; the lowest mean place wins, ties go to the better mean of the metric
(a non-finite one is worst), then to the grid's order. A sweep ranks on each market's
in-sample bars; a walk-forward on each market's next training window, where it picks what it
would trade next.
"""

from __future__ import annotations

import argparse
import glob
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from backtest.cli_data import Bars, load_bars
from backtest.sweep_kernel import METRICS, ranking
from core.clock import Clock
from core.errors import ConfigError

_GLOB_CHARS = frozenset("*?[")


def expand_data(given: Sequence[str]) -> list[str]:
    """Each --data as given, a glob replaced by its matches (sorted); ConfigError on a glob
    that matches nothing."""
    out: list[str] = []
    for spec in given:
        if _GLOB_CHARS.isdisjoint(spec):
            out.append(spec)
            continue
        found = sorted(glob.glob(spec))
        if not found:
            raise ConfigError(f"--data {spec!r} matches no file")
        out += found
    return out


def load_markets(
    args: argparse.Namespace, environ: Mapping[str, str], *, clock: Clock, warmup: int,
) -> list[Bars]:
    """The bars of every market asked for (one from the exchange without --data); ConfigError
    on mixed bar lengths or a symbol twice."""
    paths = expand_data(args.data) if args.data else [None]
    if len(paths) > 1 and args.symbol:
        raise ConfigError("--symbol names one market; with several --data each file's name "
                          "gives its symbol")
    markets = [load_bars(argparse.Namespace(**{**vars(args), "data": path}), environ,
                         clock=clock, warmup=warmup) for path in paths]
    check_markets(markets, "several markets are researched on")
    return markets


def check_markets(markets: Sequence[Bars], one_length: str) -> None:
    """ConfigError on mixed bar lengths (``one_length`` + " one bar length, got ...") or a
    symbol given twice; research and the basket alike."""
    lengths = {b.timeframe for b in markets}
    if len(lengths) > 1:
        shown = ", ".join(f"{b.source} {b.timeframe}" for b in markets)
        raise ConfigError(f"{one_length} one bar length, got {shown}")
    symbols = [b.symbol for b in markets]
    twice = sorted({s for s in symbols if symbols.count(s) > 1})
    if twice:
        raise ConfigError(f"{', '.join(twice)} is given twice: one file per symbol")


def market_path(path: str | Path, symbol: str) -> Path:
    """FILE.html for one of several markets: ``FILE_BTCUSDT.html`` beside it."""
    p = Path(path)
    tag = symbol.replace("/", "").replace(":", "")
    return p.with_name(f"{p.stem}_{tag}{p.suffix}")


@dataclass(frozen=True)
class Across:
    """Combinations best first across markets, and each one's places there."""

    order: np.ndarray  # combination rows, best first
    ranks: np.ndarray  # (markets, combinations): each one's place on each market, 1 = best
    mean_rank: np.ndarray  # (combinations,)
    mean_metric: np.ndarray  # (combinations,), NaN where a market's figure is not finite


def rank_across(figures: Sequence[np.ndarray], metric: str, *, min_trades: int) -> Across:
    """The across-markets ranking of each market's (combinations, figures) array."""
    ranks = np.vstack([places(f, metric, min_trades=min_trades) for f in figures])
    column, sign = METRICS[metric]
    values = np.vstack([f[:, column] for f in figures])
    mean_metric = np.where(np.isfinite(values).all(axis=0), values.mean(axis=0), np.nan)
    tie = np.where(np.isfinite(mean_metric), sign * mean_metric, np.inf)
    n = ranks.shape[1]
    # Sums of integers, not means, so that equal mean ranks are equal exactly.
    order = np.lexsort((np.arange(n), tie, ranks.sum(axis=0)))
    return Across(order=order, ranks=ranks, mean_rank=ranks.mean(axis=0),
                  mean_metric=mean_metric)


def places(figures: np.ndarray, metric: str, *, min_trades: int = 0) -> np.ndarray:
    """Each combination's place (1 = best) in ``ranking``'s order."""
    out = np.empty(len(figures), dtype=np.int64)
    out[ranking(figures, metric, min_trades=min_trades)] = np.arange(1, len(figures) + 1)
    return out
