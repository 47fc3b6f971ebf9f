"""Backtest of the whole decision path: signals -> scorer -> risk -> simulated fills.

The numba kernel (backtest/kernel.py) decides and fills; vectorbt keeps the accounts from the
orders it produced (``portfolio()``), so the figures come from a library that did not make them.
vectorbt is imported only when a Portfolio is asked for: it costs ~2.5 s to import.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd

from backtest import kernel
from backtest.sizing_stop import SizingStop, find_sizing_stop
from core.errors import ConfigError, DataError
from risk.config import RiskConfig, check_account
from risk.saved_backtest import KellyInputs as KellyInputs  # kept importable from here
from signals.scorer import FixedScorer, Score, Scorer
from signals.scorer_context import request_at
from signals.strategies.rsi_ema import seed_strategy
from signals.strategy import LoadedStrategy

log = logging.getLogger(__name__)

EXIT_REASONS = {
    kernel.EXIT_SIGNAL: "signal",
    kernel.EXIT_STOP: "stop",
    kernel.EXIT_HALT: "halt",
    kernel.EXIT_END: "end",
}
REJECTION_NAMES = (
    "drawdown_latch", "daily_pause", "cooldown", "entry_cap", "conviction", "suppressed",
    "size_zero", "max_positions", "gross_exposure", "cash",
)
EVENT_NAMES = {
    kernel.EV_DAILY_PAUSE: "daily_pause",
    kernel.EV_DAILY_CLEAR: "daily_clear",
    kernel.EV_DRAWDOWN_LATCH: "drawdown_latch",
}

# kelly_min_trades of a fixed-size run: a count of closed trades no run reaches.
NEVER_KELLY = 2**62


class Sizing(StrEnum):
    """How entries are sized: the full pipeline's half-Kelly, or always the default size."""

    PIPELINE = "pipeline"  # default size until kelly_min_trades have closed, then half-Kelly
    FIXED = "fixed"  # default_position_pct x conviction for every entry: the signal's own edge


@dataclass(frozen=True, slots=True)
class BacktestConfig:
    """Everything a backtest run depends on besides the bars and the scorer.

    Attributes:
        symbol: shown in reports and passed to the scorer.
        init_cash: starting quote balance.
        fee: fee rate on notional, each side (0.001 = 0.1%).
        slippage: price slippage against us on every fill (0.0005 = 0.05%).
        strategy: the strategy and its parameters (default: the seed's rsi_ema).
        risk: risk limits shared with the live RiskManager.
        default_position_pct: size (x conviction) until ``kelly_min_trades`` trades have closed.
        kelly_min_trades: closed trades needed before half-Kelly sizes positions.
        flatten_on_halt: close an open position at the next open when the drawdown latch trips.
        sizing: ``pipeline`` (what paper and live do) or ``fixed``: every entry at
            ``default_position_pct`` x conviction, half-Kelly never sizes (the signal's own edge
            with the same costs, stops and kill switches).
    """

    symbol: str = "BTC/USDT"
    init_cash: float = 10_000.0
    fee: float = 0.001
    slippage: float = 0.0005
    strategy: LoadedStrategy = field(default_factory=seed_strategy)
    risk: RiskConfig = field(default_factory=RiskConfig)
    default_position_pct: float = 0.01
    kelly_min_trades: int = 50
    flatten_on_halt: bool = True
    sizing: Sizing = Sizing.PIPELINE

    def __post_init__(self) -> None:
        try:  # "fixed" from a settings file becomes Sizing.FIXED
            object.__setattr__(self, "sizing", Sizing(self.sizing))
        except ValueError:
            raise ConfigError(f"sizing must be one of {', '.join(Sizing)}, got "
                              f"{self.sizing!r}") from None
        check_account(init_cash=self.init_cash, fee=self.fee, slippage=self.slippage,
                      default_position_pct=self.default_position_pct,
                      kelly_min_trades=self.kelly_min_trades)

    def kernel_params(self) -> kernel.KernelParams:
        """The numbers the numba kernel takes."""
        r = self.risk
        return kernel.KernelParams(
            init_cash=float(self.init_cash), fee=float(self.fee),
            slippage=float(self.slippage), stop_loss_pct=r.stop_loss_pct,
            max_position_pct=r.max_position_pct, daily_loss_limit_pct=r.daily_loss_limit_pct,
            max_drawdown_pct=r.max_drawdown_pct, min_conviction=float(r.min_conviction),
            default_position_pct=float(self.default_position_pct),
            kelly_min_trades=NEVER_KELLY if self.sizing == Sizing.FIXED
            else int(self.kelly_min_trades),
            cooldown_after_losses=int(r.cooldown_after_losses),
            cooldown_ms=int(r.cooldown_minutes) * 60_000,
            max_entries_per_day=int(r.max_entries_per_day),
            flatten_on_halt=bool(self.flatten_on_halt),
            max_open_positions=int(r.max_open_positions),
            max_gross_exposure_pct=float(r.max_gross_exposure_pct),
        )


@dataclass(frozen=True)
class BacktestResult:
    """What a run produced: bars, the kernel's raw arrays, and helpers to read them."""

    config: BacktestConfig
    bars: pd.DataFrame  # OHLCV + signal, UTC index, warm-up rows dropped
    raw: kernel.KernelResult
    scores: dict[int, Score]  # scorer answers by bar position (empty for a fixed scorer)

    @property
    def equity(self) -> pd.Series:
        """Mark-to-market equity at each close."""
        return pd.Series(self.raw.equity, index=self.bars.index, name="equity")

    def trades(self) -> pd.DataFrame:
        """One row per trade (the last may still be open: exit_reason ``end``)."""
        return trades_frame(self.raw.trades, utc_index(self.bars))

    def halts(self) -> pd.DataFrame:
        """Halt state changes: time, kind, equity at that close."""
        ev = self.raw.events
        idx = ev[:, 0].astype(np.int64)
        return pd.DataFrame({
            "time": self.bars.index[idx],
            "kind": [EVENT_NAMES[int(k)] for k in ev[:, 1]],
            "equity": self.raw.equity[idx],
        })

    def rejections(self) -> dict[str, int]:
        """Refused entries by reason."""
        return {name: int(n) for name, n in zip(REJECTION_NAMES, self.raw.rejections, strict=True)}

    def sizing_stop(self) -> SizingStop | None:
        """When and why half-Kelly refused every later entry; None when it never did."""
        c = self.config
        return find_sizing_stop(
            self.raw, utc_index(self.bars), kelly_min_trades=c.kernel_params().kelly_min_trades,
            default_position_pct=c.default_position_pct,
            max_position_pct=c.risk.max_position_pct,
        )

    def kelly_inputs(self) -> KellyInputs:
        """Kelly inputs from the closed trades of the whole run (what the live loop reads)."""
        return kelly_from_trades(self.raw.trades)

    def portfolio(self, timeframe: str) -> Any:
        """A vectorbt Portfolio rebuilt from the kernel's orders (naive UTC index for speed)."""
        return build_portfolio(self, timeframe)


def kelly_from_trades(trades: np.ndarray) -> KellyInputs:
    """Win rate (pnl > 0 over all closed trades, as the seed) and mean win / loss returns."""
    closed = trades[trades[:, kernel.T_REASON] != kernel.EXIT_END]
    pnl = closed[:, kernel.T_PNL]
    ret = closed[:, kernel.T_RETURN]
    n = len(closed)
    wins, losses = ret[pnl > 0], ret[pnl < 0]
    return KellyInputs(
        trades=n,
        win_rate=float((pnl > 0).mean()) if n else math.nan,
        avg_win_pct=float(wins.mean()) if len(wins) else math.nan,
        avg_loss_pct=float(-losses.mean()) if len(losses) else math.nan,
    )


def trades_frame(trades: np.ndarray, index: pd.DatetimeIndex) -> pd.DataFrame:
    """The kernel's trades matrix as the documented CSV columns."""
    t = trades
    entry = t[:, kernel.T_ENTRY_IDX].astype(np.int64)
    exit_ = t[:, kernel.T_EXIT_IDX].astype(np.int64)
    return pd.DataFrame({
        "entry_time": index[entry],
        "exit_time": index[exit_],
        "side": "long",
        "size": t[:, kernel.T_SIZE],
        "entry_price": t[:, kernel.T_ENTRY_PRICE],
        "exit_price": t[:, kernel.T_EXIT_PRICE],
        "stop_price": t[:, kernel.T_STOP],
        "fees": t[:, kernel.T_ENTRY_FEES] + t[:, kernel.T_EXIT_FEES],
        "pnl": t[:, kernel.T_PNL],
        "return_pct": t[:, kernel.T_RETURN] * 100.0,
        "exit_reason": [EXIT_REASONS[int(r)] for r in t[:, kernel.T_REASON]],
        "conviction": t[:, kernel.T_CONVICTION],
    })


ScoreProgress = Callable[[int], None]


def run_backtest(
    bars: pd.DataFrame,
    config: BacktestConfig | None = None,
    *,
    scorer: Scorer | None = None,
    on_score: ScoreProgress | None = None,
) -> BacktestResult:
    """Run the full decision path over closed OHLCV bars (UTC index, warm-up included)."""
    config = config or BacktestConfig()
    scorer = scorer or FixedScorer()
    strategy = config.strategy
    warm = strategy.warmup_bars
    if len(bars) <= warm:
        raise DataError(f"need more than {warm} bars for the signal warm-up, got {len(bars)}")
    sig = strategy.signal(bars)
    frame = bars.iloc[warm - 1:].copy()
    frame["signal"] = sig[warm - 1:]
    n = len(frame)
    conviction = np.full(n, math.nan)
    suppress = np.zeros(n, dtype=np.bool_)
    scores: dict[int, Score] = {}
    if isinstance(scorer, FixedScorer):
        fixed = scorer.score(_any_request(config.symbol))
        conviction[:] = fixed.conviction
        suppress[:] = fixed.suppress
    arrays = _kernel_arrays(frame)
    numbers: dict[str, np.ndarray] | None = None
    formats: dict[str, str] = {}
    while True:
        raw = kernel.run_kernel(
            **arrays, signal=frame["signal"].to_numpy(np.int8), conviction=conviction,
            suppress=suppress, params=config.kernel_params(),
        )
        if raw.need_score < 0:
            return BacktestResult(config=config, bars=frame, raw=raw, scores=scores)
        if numbers is None:
            numbers = strategy.numbers(bars)
            formats = {label: strategy.number_format(label) for label in numbers}
        i = raw.need_score
        score = scorer.score(request_at(config.symbol, bars, numbers, formats,
                                        row=warm - 1 + i))
        scores[i] = score
        conviction[i] = score.conviction
        suppress[i] = score.suppress
        if on_score is not None:
            on_score(len(scores))


def utc_index(frame: pd.DataFrame) -> pd.DatetimeIndex:
    """The frame's index as a UTC DatetimeIndex; DataError when it is not tz-aware datetimes."""
    index = frame.index
    if not isinstance(index, pd.DatetimeIndex) or index.tz is None:
        raise DataError("backtest bars need a UTC DatetimeIndex")
    return index.tz_convert("UTC")


def _kernel_arrays(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    time_ms = utc_index(frame).as_unit("ms").asi8
    return {
        "open_": frame["open"].to_numpy(np.float64),
        "low": frame["low"].to_numpy(np.float64),
        "close": frame["close"].to_numpy(np.float64),
        "time_ms": time_ms,
    }


def _any_request(symbol: str) -> Any:
    from signals.scorer import ScoreRequest, VolumeTrend

    return ScoreRequest(symbol=symbol, direction=1, closes=(1.0,),
                        volume_trend=VolumeTrend.UNKNOWN)


def build_portfolio(result: BacktestResult, timeframe: str) -> Any:
    """vectorbt Portfolio from the kernel's orders; stats are computed by vectorbt."""
    import vectorbt as vbt
    from vectorbt.base.array_wrapper import ArrayWrapper
    from vectorbt.portfolio.enums import log_dt, order_dt

    o = result.raw.orders
    records = np.empty(len(o), dtype=order_dt)
    records["id"] = np.arange(len(o))
    records["col"] = 0
    records["idx"] = o[:, kernel.O_IDX].astype(np.int64)
    records["size"] = o[:, kernel.O_SIZE]
    records["price"] = o[:, kernel.O_PRICE]
    records["fees"] = o[:, kernel.O_FEES]
    records["side"] = o[:, kernel.O_SIDE].astype(np.int64)
    # A naive UTC index: with a tz-aware one vectorbt 1.2 + pandas 3 is ~200x slower in stats().
    index = utc_index(result.bars).tz_localize(None)
    wrapper = ArrayWrapper(index=index, columns=[result.config.symbol], ndim=1,
                           freq=pd.Timedelta(timeframe))
    close = pd.Series(result.bars["close"].to_numpy(), index=index, name=result.config.symbol)
    return vbt.Portfolio(
        wrapper, close, records, np.empty(0, dtype=log_dt), result.config.init_cash,
        cash_sharing=False,
    )
