"""Steady-state time of the backtest kernel on a file's bars, in one process.

    python bench/kernel_time.py FILE [RUNS]

Prepares the kernel's inputs as run_backtest does (default configuration, fixed conviction 0.5,
warm-up bars dropped), runs backtest.kernel.run_kernel once to load the compiled code, then
RUNS more times (default 30) and prints one JSON line: bars, min and median milliseconds.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np

from backtest import kernel
from backtest.engine import BacktestConfig, utc_index
from data import load_ohlcv


def main(path: str, runs: int) -> None:
    """Time run_kernel on the file's bars and print the figures as JSON."""
    config = BacktestConfig()
    bars = load_ohlcv(path)
    first = config.strategy.warmup_bars - 1
    signal = config.strategy.signal(bars)[first:]
    frame = bars.iloc[first:]
    n = len(frame)
    inputs = {
        "open_": frame["open"].to_numpy(np.float64), "low": frame["low"].to_numpy(np.float64),
        "close": frame["close"].to_numpy(np.float64),
        "time_ms": utc_index(frame).as_unit("ms").asi8, "signal": signal,
        "conviction": np.full(n, 0.5), "suppress": np.zeros(n, dtype=np.bool_),
        "params": config.kernel_params(),
    }
    kernel.run_kernel(**inputs)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        kernel.run_kernel(**inputs)
        times.append(time.perf_counter() - start)
    print(json.dumps({"bars": n, "min_ms": min(times) * 1e3,
                      "median_ms": float(np.median(times)) * 1e3}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 30)
