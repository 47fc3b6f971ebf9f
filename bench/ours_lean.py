"""Our full pipeline with the figures computed in numba instead of by vectorbt: a what-if.

    python bench/ours_lean.py FILE

load_ohlcv + run_backtest (the backtest command's engine, fixed conviction 0.5) + the four
figures of backtest.sweep_kernel.run_figures, which equal vectorbt's pf.stats() (tests/backtest/
test_sweep.py). It measures what the backtest command would cost if vectorbt were imported only
for the HTML report; it is not what ``main.py backtest`` runs today.
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd

from backtest.engine import run_backtest
from backtest.sweep_kernel import FIGURE_NAMES, N_FIGURES, run_figures
from data import infer_timeframe, load_ohlcv, timeframe_ms


def main(path: str) -> None:
    """Run the default configuration on the file and print the figures."""
    bars = load_ohlcv(path)
    timeframe = infer_timeframe(pd.DatetimeIndex(bars.index), source=path)
    result = run_backtest(bars)
    raw = result.raw
    out = np.empty(N_FIGURES)
    ann = pd.Timedelta("365 days") / pd.Timedelta(milliseconds=timeframe_ms(timeframe))
    run_figures(raw.orders, raw.trades, raw.rejections, result.bars["close"].to_numpy(),
                result.config.init_cash, ann, out)
    for name, value in zip(FIGURE_NAMES, out, strict=True):
        print(f"{name}: {value:.6g}")


if __name__ == "__main__":
    main(sys.argv[1])
