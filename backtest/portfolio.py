"""Backtest of a basket: several symbols traded on one cash account (issue 14).

Each symbol's signal comes from ``config.strategy`` on its own bars, and the symbol trades from
its own first warm bar; the times are the union of the symbols' bar times after their warm-ups.
The semantics (exits before entries at an open, account-level kill switches, per-symbol Kelly
records, the two basket limits) are backtest/portfolio_kernel.py's. One symbol gives
``run_backtest``'s run and figures exactly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from backtest import kernel
from backtest.engine import (
    EVENT_NAMES,
    REJECTION_NAMES,
    BacktestConfig,
    KellyInputs,
    ScoreProgress,
    kelly_from_trades,
    trades_frame,
    utc_index,
)
from backtest.portfolio_figures import basket_stats
from backtest.portfolio_kernel import (
    O_SYMBOL,
    T_SYMBOL,
    PortfolioKernelResult,
    run_portfolio_kernel,
)
from backtest.stats import BacktestStats
from core.errors import ConfigError, DataError
from signals.scorer import FixedScorer, Score, Scorer, ScoreRequest, VolumeTrend
from signals.scorer_context import request_at
from signals.strategy import LoadedStrategy


@dataclass(frozen=True)
class PortfolioResult:
    """What a basket run produced: each symbol's bars, the kernel's arrays, and views of them.

    Attributes:
        config: the run's settings (its ``symbol`` is unused: each symbol is named here).
        symbols: the symbols in their fixed order (the order of the mapping given).
        index: the union of the symbols' bar times after their warm-ups (UTC).
        bars: each symbol's OHLCV + signal from its first warm bar on.
        raw: the basket kernel's arrays (time indices are positions in ``index``).
        scores: the scorer's answers by (symbol, time index); empty for a fixed scorer.
    """

    config: BacktestConfig
    symbols: tuple[str, ...]
    index: pd.DatetimeIndex
    bars: Mapping[str, pd.DataFrame]
    raw: PortfolioKernelResult
    scores: Mapping[tuple[str, int], Score]

    @property
    def equity(self) -> pd.Series:
        """The account's equity at each close, every position at its symbol's last close."""
        return pd.Series(self.raw.equity, index=self.index, name="equity")

    @property
    def drawdown(self) -> pd.Series:
        """The account's fall from its running peak at each close, a fraction <= 0."""
        equity = self.equity
        return (equity / equity.cummax() - 1.0).rename("drawdown")

    def trades(self, symbol: str | None = None) -> pd.DataFrame:
        """One row per trade with a ``symbol`` column, in closing order (open ones, ``end``,
        last); only ``symbol``'s when given."""
        frame = trades_frame(self.raw.trades, self.index)
        names = np.asarray(self.symbols, dtype=object)
        frame.insert(0, "symbol", names[self.raw.trades[:, T_SYMBOL].astype(np.int64)])
        if symbol is None:
            return frame
        return frame[frame["symbol"] == self._check(symbol)].reset_index(drop=True)

    def contribution(self) -> pd.DataFrame:
        """Per symbol: trades, closed trades, fees, P&L (an open trade at its last close) and
        that P&L in percent of the starting cash; the P&Ls add up to the account's."""
        t = self.raw.trades
        which = t[:, T_SYMBOL].astype(np.int64)
        n = len(self.symbols)
        closed = t[:, kernel.T_REASON] != kernel.EXIT_END
        pnl = np.bincount(which, weights=t[:, kernel.T_PNL], minlength=n)
        fees = t[:, kernel.T_ENTRY_FEES] + t[:, kernel.T_EXIT_FEES]
        return pd.DataFrame({
            "trades": np.bincount(which, minlength=n),
            "closed_trades": np.bincount(which[closed], minlength=n),
            "fees": np.bincount(which, weights=fees, minlength=n),
            "pnl": pnl,
            "contribution_pct": pnl / float(self.config.init_cash) * 100.0,
        }, index=pd.Index(self.symbols, name="symbol"))

    def position_values(self) -> pd.DataFrame:
        """Each symbol's position at each close, units x its last close (quote currency)."""
        return pd.DataFrame(self.raw.position_value.T, index=self.index,
                            columns=list(self.symbols))

    def exposure(self) -> pd.DataFrame:
        """Each position and their sum (``gross``) as a fraction of equity at each close."""
        values = self.position_values()
        values["gross"] = values.sum(axis=1)
        return values.div(self.raw.equity, axis=0)

    def rejections(self) -> dict[str, int]:
        """Refused entries by reason, over all symbols."""
        return {name: int(n) for name, n in zip(REJECTION_NAMES, self.raw.rejections, strict=True)}

    def refusals(self) -> pd.DataFrame:
        """Each refused entry: time (the close that decided it), symbol and reason."""
        rows, cols = np.nonzero(self.raw.refused != kernel.NO_REFUSAL)
        order = np.lexsort((rows, cols))  # by time, then symbol order
        rows, cols = rows[order], cols[order]
        return pd.DataFrame({
            "time": self.index[cols],
            "symbol": [self.symbols[r] for r in rows],
            "reason": [REJECTION_NAMES[int(k)] for k in self.raw.refused[rows, cols]],
        })

    def halts(self) -> pd.DataFrame:
        """Account halt state changes: time, kind, equity at that close."""
        ev = self.raw.events
        idx = ev[:, 0].astype(np.int64)
        return pd.DataFrame({
            "time": self.index[idx],
            "kind": [EVENT_NAMES[int(k)] for k in ev[:, 1]],
            "equity": self.raw.equity[idx],
        })

    def kelly_inputs(self, symbol: str) -> KellyInputs:
        """Kelly inputs from ``symbol``'s closed trades (what its live sizing reads)."""
        s = self.symbols.index(self._check(symbol))
        return kelly_from_trades(self.raw.trades[self.raw.trades[:, T_SYMBOL] == s])

    def symbol_orders(self, symbol: str) -> np.ndarray:
        """``symbol``'s rows of the orders matrix (backtest.kernel's O_* columns)."""
        s = self.symbols.index(self._check(symbol))
        orders: np.ndarray = self.raw.orders[self.raw.orders[:, O_SYMBOL] == s]
        return orders

    def last_closes(self) -> np.ndarray:
        """(n_symbols, n_times): each symbol's last close at each time, NaN before its first."""
        return np.vstack([
            self.bars[symbol]["close"].astype(np.float64).reindex(self.index).ffill().to_numpy()
            for symbol in self.symbols
        ])

    def stats(self, timeframe: str) -> BacktestStats:
        """The account's figures, by the definitions of backtest.figures.kernel_stats."""
        return basket_stats(self, timeframe)

    def _check(self, symbol: str) -> str:
        if symbol not in self.symbols:
            raise ValueError(f"{symbol!r} is not in the basket ({', '.join(self.symbols)})")
        return symbol


def run_portfolio(
    frames: Mapping[str, pd.DataFrame],
    config: BacktestConfig | None = None,
    *,
    scorer: Scorer | None = None,
    on_score: ScoreProgress | None = None,
) -> PortfolioResult:
    """Run the decision path over a basket: symbol -> closed OHLCV bars (UTC index, warm-up
    included), in the basket's fixed order, on one account."""
    config = config or BacktestConfig()
    scorer = scorer or FixedScorer()
    symbols = tuple(frames)
    check_basket(symbols)
    strategy = config.strategy
    bars = {symbol: _with_signal(symbol, frames[symbol], strategy) for symbol in symbols}
    index = utc_index(bars[symbols[0]])
    for symbol in symbols[1:]:
        index = index.union(utc_index(bars[symbol]))
    times = _ms(index)
    arrays = _aligned(bars, times)
    conviction = np.full(arrays["close"].shape, math.nan)
    suppress = np.zeros(arrays["close"].shape, dtype=np.bool_)
    scores: dict[tuple[str, int], Score] = {}
    if isinstance(scorer, FixedScorer):
        fixed = scorer.score(ScoreRequest(symbol=config.symbol, direction=1, closes=(1.0,),
                                          volume_trend=VolumeTrend.UNKNOWN))
        conviction[:] = fixed.conviction
        suppress[:] = fixed.suppress
    asker = _Asker(frames, strategy, bars)
    while True:
        raw = run_portfolio_kernel(**arrays, time_ms=times, conviction=conviction,
                                   suppress=suppress, params=config.kernel_params())
        s, i = raw.need_score
        if s < 0:
            return PortfolioResult(config=config, symbols=symbols, index=index, bars=bars,
                                   raw=raw, scores=scores)
        score = scorer.score(asker.request(symbols[s], int(times[i])))
        scores[(symbols[s], i)] = score
        conviction[s, i] = score.conviction
        suppress[s, i] = score.suppress
        if on_score is not None:
            on_score(len(scores))


def check_basket(symbols: tuple[str, ...]) -> None:
    """ConfigError unless the basket names one or more distinct symbols in one quote currency."""
    if not symbols:
        raise ConfigError("a basket needs at least one symbol")
    quotes = {symbol: symbol.partition("/")[2] for symbol in symbols if "/" in symbol}
    if len(set(quotes.values())) > 1:
        shown = ", ".join(f"{symbol} in {quote}" for symbol, quote in quotes.items())
        raise ConfigError(f"one account holds one quote currency, but the basket mixes them: "
                          f"{shown}")


class _Asker:
    """Score requests of a basket's bars: each symbol's numbers computed once, when needed."""

    def __init__(self, frames: Mapping[str, pd.DataFrame], strategy: LoadedStrategy,
                 bars: Mapping[str, pd.DataFrame]) -> None:
        self._frames, self._strategy, self._bars = frames, strategy, bars
        self._numbers: dict[str, dict[str, np.ndarray]] = {}

    def request(self, symbol: str, when_ms: int) -> ScoreRequest:
        full = self._frames[symbol]
        if symbol not in self._numbers:
            self._numbers[symbol] = self._strategy.numbers(full)
        numbers = self._numbers[symbol]
        formats = {label: self._strategy.number_format(label) for label in numbers}
        warm = self._strategy.warmup_bars
        # Unique times (checked in _with_signal): the position of this bar among the symbol's.
        at = int(np.searchsorted(_ms(utc_index(self._bars[symbol])), when_ms))
        row = warm - 1 + at
        return request_at(symbol, full, numbers, formats, row=row)


def _with_signal(symbol: str, bars: pd.DataFrame, strategy: LoadedStrategy) -> pd.DataFrame:
    """The symbol's bars from its first warm bar on, with the strategy's signal."""
    warm = strategy.warmup_bars
    if len(bars) <= warm:
        raise DataError(f"{symbol}: need more than {warm} bars for the signal warm-up, "
                        f"got {len(bars)}")
    index = utc_index(bars)
    if not (index.is_unique and index.is_monotonic_increasing):
        raise DataError(f"{symbol}: bar times must be unique and ascending")
    sig = strategy.signal(bars)
    frame = bars.iloc[warm - 1:].copy()
    frame["signal"] = sig[warm - 1:]
    return frame


def _ms(index: pd.DatetimeIndex) -> np.ndarray:
    return np.asarray(index.as_unit("ms").asi8)


def _aligned(bars: Mapping[str, pd.DataFrame], times: np.ndarray) -> dict[str, np.ndarray]:
    """The kernel's (n_symbols, n_times) arrays: NaN and no signal where a symbol has no bar."""
    shape = (len(bars), len(times))
    out = {key: np.empty(shape) for key in ("open_", "low", "close")}
    out["has_bar"] = np.zeros(shape, dtype=np.bool_)
    out["signal"] = np.zeros(shape, dtype=np.int8)
    for s, frame in enumerate(bars.values()):
        own = _ms(utc_index(frame))
        # The symbol's times are a subset of the grid: as many means all of them.
        at = slice(None) if len(own) == len(times) else np.searchsorted(times, own)
        out["has_bar"][s, at] = True
        out["signal"][s, at] = frame["signal"].to_numpy(np.int8)
        for key, column in (("open_", "open"), ("low", "low"), ("close", "close")):
            if isinstance(at, np.ndarray):
                out[key][s] = math.nan
            out[key][s, at] = frame[column].to_numpy(np.float64)
    return out
