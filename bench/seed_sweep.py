"""A seed-style parameter sweep: the seed's signals over the grid as columns, one from_signals.

    python bench/seed_sweep.py FILE.parquet

How the seed's stack would sweep: its compute_signals arithmetic (SMA RSI per window, pandas
EMAs per span, dropna) for every combination of the sweep command's default grid (RSI 10..20 x
EMA fast 5..15 x slow 20..45, 3,146 columns), then its Step 5 call with the grid as columns:
``vbt.Portfolio.from_signals(close, entries, exits, sl_stop=0.015, init_cash=10_000,
fees=0.001, slippage=0.0005, freq=<bar>)`` and vectorbt's per-column total return, Sharpe, max
drawdown and trade count, best ten printed. Signals only, on closes: no risk rules, no
conviction, no out-of-sample check (the seed has none of them). The UTC-aware index of the
seed's cache is kept.
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import vectorbt as vbt

RSI_WINDOWS = range(10, 21)
FASTS = range(5, 16)
SLOWS = range(20, 46)


def seed_rsi(close: pd.Series, window: int) -> pd.Series:
    """The seed's SMA RSI with its window as a parameter."""
    delta = close.diff()
    gain = delta.clip(lower=0).rolling(window).mean()
    loss = (-delta.clip(upper=0)).rolling(window).mean()
    rs = gain / loss.replace(0, np.nan)
    return 100 - (100 / (1 + rs))


def main(path: str) -> None:
    """Sweep the grid on the file and print the ten best columns by Sharpe."""
    df = pd.read_parquet(path)
    close = df["close"]
    rsi = {w: seed_rsi(close, w) for w in RSI_WINDOWS}
    ema = {s: close.ewm(span=s, adjust=False).mean() for s in {*FASTS, *SLOWS}}
    combos = [(r, f, s) for r in RSI_WINDOWS for f in FASTS for s in SLOWS if f < s]
    # The seed's dropna(): a row goes when any RSI of the grid is NaN there.
    keep = ~pd.concat(rsi, axis=1).isna().any(axis=1).to_numpy()
    entries = np.empty((int(keep.sum()), len(combos)), dtype=np.bool_)
    exits = np.empty_like(entries)
    for k, (r, f, s) in enumerate(combos):
        up = (ema[f] > ema[s]).to_numpy()[keep]
        level = rsi[r].to_numpy()[keep]
        entries[:, k] = up & (level < 70)
        exits[:, k] = ~up & (level > 30)
    index = df.index[keep]
    columns = pd.MultiIndex.from_tuples(combos, names=["rsi_window", "ema_fast", "ema_slow"])
    pf = vbt.Portfolio.from_signals(
        close[keep], pd.DataFrame(entries, index=index, columns=columns),
        pd.DataFrame(exits, index=index, columns=columns),
        sl_stop=0.015, init_cash=10_000, fees=0.001, slippage=0.0005,
        freq=df.index[1] - df.index[0],
    )
    figures = pd.DataFrame({
        "total_return": pf.total_return(), "sharpe": pf.sharpe_ratio(),
        "max_drawdown": pf.max_drawdown(), "trades": pf.trades.count(),
    })
    print(figures.sort_values("sharpe", ascending=False).head(10))


if __name__ == "__main__":
    main(sys.argv[1])
