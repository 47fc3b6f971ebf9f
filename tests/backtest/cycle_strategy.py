"""A strategy with a planted edge, and the markets to try it on (walk-forward tests).

``cycle_market`` is a random walk plus a daily cycle: the log price adds 1% x sin(2 pi h / 24),
h the bar's hour since the epoch. ``CycleTrader`` buys at the trough of a cycle of ``period``
hours and sells at its peak: with period 24 it trades the planted cycle, with any other period
its phase drifts through the day and it buys and sells at random. On ``random_walk`` (no cycle)
no period has an edge.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np
import numpy.typing as npt
import pandas as pd

from signals.strategy import Param, StrategyBase

START = pd.Timestamp("2024-01-01", tz="UTC")


def _hours(index: pd.DatetimeIndex) -> np.ndarray:
    return np.asarray((index - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(hours=1))


def random_walk(
    n: int, *, seed: int, volatility: float = 0.005, cycle: float = 0.0
) -> pd.DataFrame:
    """``n`` hourly bars from 2024-01-01: a seeded random walk, plus ``cycle`` x the daily sine."""
    index = pd.date_range(START, periods=n, freq="1h", name="timestamp")
    rng = np.random.default_rng(seed)
    walk = np.cumsum(rng.normal(0.0, volatility, n))
    log_close = np.log(100.0) + walk + cycle * np.sin(2 * np.pi * _hours(index) / 24.0)
    close = np.exp(log_close)
    open_ = np.concatenate(([close[0]], close[:-1]))
    spread = np.abs(rng.normal(0.0, volatility / 2, n))
    high = np.maximum(open_, close) * (1.0 + spread)
    low = np.minimum(open_, close) * (1.0 - spread)
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close,
                         "volume": 1.0}, index=index)


def cycle_market(n: int, *, seed: int) -> pd.DataFrame:
    """The random walk with the planted 1% daily cycle."""
    return random_walk(n, seed=seed, cycle=0.01)


class CycleTrader(StrategyBase):
    """Buy at the trough of a ``period``-hour cycle, sell at its peak."""

    name: ClassVar[str] = "cycle_trader"
    version: ClassVar[str] = "1"
    params: ClassVar[Mapping[str, Param]] = {
        "period": Param(24, 4, 100, space=tuple(range(20, 29)), help="cycle length in hours"),
    }

    period: int

    @property
    def warmup_bars(self) -> int:
        """The signal reads only its own bar's time."""
        return 1

    def signals(self, bars: pd.DataFrame) -> npt.NDArray[np.int8]:
        """1 at the cycle's trough (3/4 of the period), -1 at its peak (1/4)."""
        phase = _hours(pd.DatetimeIndex(bars.index)) % self.period
        out = np.zeros(len(bars), dtype=np.int8)
        out[phase == (3 * self.period) // 4] = 1
        out[phase == self.period // 4] = -1
        return out
