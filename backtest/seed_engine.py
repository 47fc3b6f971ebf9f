"""The seed's Step 5 backtest, kept so a user can compare it with the full pipeline.

What the seed does, and this module repeats on purpose:
- its compute_signals: an SMA RSI (rolling means of gains and losses, a zero loss average
  gives NaN) and pandas EMAs, then ``dropna()`` on the whole frame. That drops the first
  ``rsi_window`` rows and every later row whose RSI is NaN, where ``signals.compute_signals``
  keeps such rows (signal 0) and drops 387 converged warm-up rows instead;
- ``vbt.Portfolio.from_signals(close, entries, exits, sl_stop=..., init_cash=..., fees=...,
  slippage=..., freq=<timeframe>)`` on closes only: orders fill at the decision bar's close and
  stops are checked on closes, so a stop fills wherever the close fell (up to -3% on a 1.5%
  stop); every entry uses all the cash; no daily pause, drawdown latch, conviction or Kelly.
The CLI's values replace the seed's literals (10_000, 0.001, 0.0005, 0.015, the signal
parameters); ``rsi_method`` is ignored because the seed knew only the SMA RSI.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from backtest.engine import BacktestConfig, KellyInputs, utc_index
from core.errors import DataError
from signals.quant_signals import SignalParams


@dataclass(frozen=True)
class SeedResult:
    """The seed's run: its signal frame (naive UTC index), entries, exits and Portfolio."""

    frame: pd.DataFrame
    entries: pd.Series
    exits: pd.Series
    portfolio: Any
    sl_stop: float


def seed_signals(bars: pd.DataFrame, params: SignalParams) -> pd.DataFrame:
    """The seed's compute_signals with ``params`` in place of its literals (SMA RSI, dropna)."""
    df = bars.copy()
    close = df["close"]
    delta = close.diff()
    gain = delta.clip(lower=0).rolling(params.rsi_window).mean()
    loss = (-delta.clip(upper=0)).rolling(params.rsi_window).mean()
    rs = gain / loss.replace(0, np.nan)
    df["rsi"] = 100 - (100 / (1 + rs))
    df["ema_fast"] = close.ewm(span=params.ema_fast, adjust=False).mean()
    df["ema_slow"] = close.ewm(span=params.ema_slow, adjust=False).mean()
    trend_up = df["ema_fast"] > df["ema_slow"]
    df["signal"] = 0
    df.loc[trend_up & (df["rsi"] < params.overbought), "signal"] = 1
    df.loc[~trend_up & (df["rsi"] > params.oversold), "signal"] = -1
    return df.dropna()


def run_seed_backtest(bars: pd.DataFrame, config: BacktestConfig, timeframe: str) -> SeedResult:
    """The seed's ``from_signals`` call on ``bars`` with the configuration's values."""
    import vectorbt as vbt

    frame = bars.copy()
    # A naive UTC index: the same figures, but vectorbt 1.2 + pandas 3 is ~200x slower in
    # stats() with a tz-aware one (issue 4).
    frame.index = utc_index(bars).tz_localize(None)
    from signals.strategies.rsi_ema import seed_params

    params = seed_params(config.strategy)
    if params is None:
        raise DataError("the seed engine runs the seed's rsi_ema only")
    frame = seed_signals(frame, params)
    if len(frame) < 2:
        raise DataError(f"the seed's signals leave {len(frame)} bar(s); use a longer history")
    entries = frame["signal"] == 1
    exits = frame["signal"] == -1
    portfolio = vbt.Portfolio.from_signals(
        frame["close"], entries, exits,
        sl_stop=config.risk.stop_loss_pct,
        init_cash=config.init_cash,
        fees=config.fee,
        slippage=config.slippage,
        freq=pd.Timedelta(timeframe),
    )
    return SeedResult(
        frame=frame, entries=entries, exits=exits, portfolio=portfolio,
        sl_stop=config.risk.stop_loss_pct,
    )


def seed_trades(result: SeedResult) -> pd.DataFrame:
    """The seed's trades in the trades-CSV columns (times back in UTC)."""
    rec = result.portfolio.trades.records_readable
    close = result.frame["close"]
    entry_close = close.reindex(pd.DatetimeIndex(rec["Entry Timestamp"])).to_numpy()
    exit_close = close.reindex(pd.DatetimeIndex(rec["Exit Timestamp"])).to_numpy()
    # from_signals does not label exits. Its stop sits sl_stop below the entry bar's close (before
    # slippage) and is checked on closes, so a close at or below it is the stop; measured on
    # the 2022-2025 BTC file, exactly those exits fill at the bare close, the others with slippage.
    stop_price = entry_close * (1.0 - result.sl_stop)
    is_open = (rec["Status"].astype(str) == "Open").to_numpy()
    reason = np.where(is_open, "end", np.where(exit_close <= stop_price, "stop", "signal"))
    return pd.DataFrame({
        "entry_time": pd.DatetimeIndex(rec["Entry Timestamp"]).tz_localize("UTC"),
        "exit_time": pd.DatetimeIndex(rec["Exit Timestamp"]).tz_localize("UTC"),
        "side": rec["Direction"].astype(str).str.lower().to_numpy(),
        "size": rec["Size"].to_numpy(np.float64),
        "entry_price": rec["Avg Entry Price"].to_numpy(np.float64),
        "exit_price": rec["Avg Exit Price"].to_numpy(np.float64),
        "stop_price": stop_price,
        "fees": (rec["Entry Fees"] + rec["Exit Fees"]).to_numpy(np.float64),
        "pnl": rec["PnL"].to_numpy(np.float64),
        "return_pct": rec["Return"].to_numpy(np.float64) * 100.0,
        "exit_reason": reason,
    })


def seed_kelly(result: SeedResult) -> KellyInputs:
    """The seed's Kelly inputs: win rate over all trades, mean Return of winners / losers."""
    rec = result.portfolio.trades.records_readable
    pnl, ret = rec["PnL"].to_numpy(np.float64), rec["Return"].to_numpy(np.float64)
    wins, losses = ret[pnl > 0], ret[pnl < 0]
    return KellyInputs(
        trades=len(rec),
        win_rate=float((pnl > 0).mean()) if len(rec) else math.nan,
        avg_win_pct=float(wins.mean()) if len(wins) else math.nan,
        avg_loss_pct=float(abs(losses.mean())) if len(losses) else math.nan,
    )
