"""The seed guide's Step 5 backtest, kept as written, as the benchmark's baseline.

    python bench/seed_backtest.py FILE.parquet

A faithful copy for measuring only: the seed's compute_signals (SMA RSI-14, EMA 12/26 with
pandas, dropna) and its exact call ``vbt.Portfolio.from_signals(close, entries, exits,
sl_stop=0.015, init_cash=10_000, fees=0.001, slippage=0.0005)``, then ``pf.stats()`` printed and
the trades records turned into the Kelly inputs, as run_backtest() in the guide does. Two
changes, both needed to run it at all: the guide's fetch_ohlcv(limit=5000) returns its parquet
cache, so this reads the given parquet file the same way (``pd.read_parquet``, UTC-aware index,
as the seed's cache holds it); and vectorbt 1.2 infers no frequency from that index, so
``freq=`` (the bar length) is passed, or pf.stats() has no Sharpe Ratio and the guide's code
raises KeyError.
Its flaws are kept on purpose (stops filled at closes, no risk rules, tz-aware index that
vectorbt is slow with): they are what the seed costs to run.
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import vectorbt as vbt


def compute_signals(df: pd.DataFrame) -> pd.DataFrame:
    """The seed's Step 2, unchanged in what it computes."""
    close = df["close"]
    delta = close.diff()
    gain = delta.clip(lower=0).rolling(14).mean()
    loss = (-delta.clip(upper=0)).rolling(14).mean()
    rs = gain / loss.replace(0, np.nan)
    df["rsi"] = 100 - (100 / (1 + rs))
    df["ema_fast"] = close.ewm(span=12, adjust=False).mean()
    df["ema_slow"] = close.ewm(span=26, adjust=False).mean()
    ema_cross_long = df["ema_fast"] > df["ema_slow"]
    rsi_not_overbought = df["rsi"] < 70
    df["signal"] = 0
    df.loc[ema_cross_long & rsi_not_overbought, "signal"] = 1
    df.loc[~ema_cross_long & (df["rsi"] > 30), "signal"] = -1
    return df.dropna()


def run_backtest(path: str) -> dict[str, float]:
    """The seed's Step 5 run_backtest() on the bars of ``path``."""
    df = pd.read_parquet(path)
    df = compute_signals(df)
    close = df["close"]
    entries = df["signal"] == 1
    exits = df["signal"] == -1
    pf = vbt.Portfolio.from_signals(
        close, entries, exits, sl_stop=0.015, init_cash=10_000, fees=0.001, slippage=0.0005,
        freq=df.index[1] - df.index[0],
    )
    stats = pf.stats()
    print(stats)
    trades = pf.trades.records_readable
    win_rate = (trades["PnL"] > 0).mean()
    avg_win = trades.loc[trades["PnL"] > 0, "Return"].mean()
    avg_loss = abs(trades.loc[trades["PnL"] < 0, "Return"].mean())
    return {
        "total_return": stats["Total Return [%]"],
        "sharpe": stats["Sharpe Ratio"],
        "max_drawdown": stats["Max Drawdown [%]"],
        "win_rate": win_rate,
        "avg_win_pct": avg_win,
        "avg_loss_pct": avg_loss,
        "n_trades": len(trades),
    }


if __name__ == "__main__":
    results = run_backtest(sys.argv[1])
    print(f"\nWin rate: {results['win_rate']:.1%}")
    print(f"Sharpe: {results['sharpe']:.2f}")
    print(f"Max drawdown: {results['max_drawdown']:.1f}%")
    print(f"Trades: {results['n_trades']}")
