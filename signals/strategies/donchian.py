"""Donchian channel breakout (the Turtles' System 1), long-only: a trend follower.

1 on a bar whose close is above the highest high of the ``entry_window`` bars before it; -1 on
a bar whose close is below the lowest low of the ``exit_window`` bars before it; else 0. The
channels end at the previous bar, so a bar never compares its close with its own high. The two
cannot fire together: both channels hold the previous bar, whose high is >= its low.

The defaults (20 in, 10 out) are the textbook Turtle System 1, fixed before looking at any data.
A channel is a max / min over a finite window, so a signal computed on the last
``warmup_bars`` bars is bit-identical to the one computed on all of history.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Final

import numpy as np
import numpy.typing as npt
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from core.errors import DataError
from signals.strategy import Param, StrategyBase

FloatArray = npt.NDArray[np.float64]

HIGH_LABEL: Final = "Close vs entry channel high"
LOW_LABEL: Final = "Close vs exit channel low"


class DonchianBreakout(StrategyBase):
    """Turtle breakout: long when the close clears the prior N-bar high, out under the M-bar low."""

    name: ClassVar[str] = "donchian"
    version: ClassVar[str] = "1"
    params: ClassVar[Mapping[str, Param]] = {
        "entry_window": Param(20, 2, 1000, space=(10, 20, 30, 55),
                              help="enter when the close breaks the high of this many prior bars"),
        "exit_window": Param(10, 2, 1000, space=(5, 10, 20),
                             help="exit when the close breaks the low of this many prior bars"),
    }
    number_formats: ClassVar[Mapping[str, str]] = {HIGH_LABEL: "{:+.2f}%", LOW_LABEL: "{:+.2f}%"}

    entry_window: int
    exit_window: int

    @property
    def warmup_bars(self) -> int:
        """The longer channel plus the current bar: nothing older moves a signal."""
        return max(self.entry_window, self.exit_window) + 1

    def signals(self, bars: pd.DataFrame) -> npt.NDArray[np.int8]:
        """1 on an upside breakout, -1 on a downside one; 0 before the warm-up ends."""
        close, upper, lower = self._channels(bars)
        # NaN channels (too little history) compare False, so they give 0.
        out = np.where(close > upper, 1, np.where(close < lower, -1, 0)).astype(np.int8)
        out[: self.warmup_bars - 1] = 0
        return out

    def numbers(self, bars: pd.DataFrame) -> dict[str, FloatArray]:
        """The close's distance in percent from the entry channel's high and the exit one's low."""
        close, upper, lower = self._channels(bars)
        return {HIGH_LABEL: (close / upper - 1.0) * 100.0,
                LOW_LABEL: (close / lower - 1.0) * 100.0}

    def _channels(self, bars: pd.DataFrame) -> tuple[FloatArray, FloatArray, FloatArray]:
        # The close, the entry channel's high and the exit channel's low, per bar.
        upper = prior_extreme(_column(bars, "high"), self.entry_window, highest=True)
        lower = prior_extreme(_column(bars, "low"), self.exit_window, highest=False)
        return _column(bars, "close"), upper, lower


def prior_extreme(values: FloatArray, window: int, *, highest: bool) -> FloatArray:
    """Max (or min) of the ``window`` values before each row; NaN where fewer exist."""
    out = np.full(values.size, np.nan)
    if values.size > window:
        # Row j of the view is values[j : j + window], the window that ends just before row
        # j + window; values[-1] is in no window because no row comes after it.
        rows = sliding_window_view(values[:-1], window)
        out[window:] = rows.max(axis=1) if highest else rows.min(axis=1)
    return out


def _column(bars: pd.DataFrame, name: str) -> FloatArray:
    # Fail fast: a NaN would silently block an exit (comparisons with NaN are False).
    if name not in bars.columns:
        raise DataError(f"frame has no {name!r} column", rule="columns")
    values = np.ascontiguousarray(bars[name].to_numpy(dtype=np.float64))
    bad = ~np.isfinite(values)
    if bad.any():
        row = int(np.argmax(bad))
        raise DataError(f"{name} has {int(bad.sum())} non-finite value(s), first at "
                        f"{bars.index[row]}", row=row, rule=f"finite_{name}")
    return values
