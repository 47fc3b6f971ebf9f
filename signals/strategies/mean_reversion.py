"""Bollinger band reversion, long-only: buy a close under the lower band, sell back at the middle.

The bands are John Bollinger's: a ``window``-bar simple mean of the closes (the middle band)
plus and minus ``num_std`` population standard deviations over the same bars; 20 and 2 are
his textbook values, fixed before looking at any data. 1 on a bar whose close is below the
lower band; -1 on a bar whose close is at or above the middle band; else 0.

Each band value is computed from its own window alone, summed in the same order wherever the
window sits in the data (not a running sum, which carries float drift from where the data
starts), so a signal on the last ``warmup_bars`` bars is bit-identical to the full-history one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from core.errors import DataError
from signals.indicators import close_values
from signals.strategy import Param, StrategyBase

FloatArray = npt.NDArray[np.float64]

PERCENT_B_LABEL: Final = "Bollinger %b"
WIDTH_LABEL: Final = "Band width (% of middle)"


class BollingerReversion(StrategyBase):
    """Mean reversion: long under the lower Bollinger band, out when back at the middle band."""

    name: ClassVar[str] = "bollinger"
    version: ClassVar[str] = "1"
    params: ClassVar[Mapping[str, Param]] = {
        "window": Param(20, 2, 1000, space=(10, 20, 30, 50),
                        help="bars in the middle band (a simple mean) and its deviation"),
        "num_std": Param(2.0, 0.5, 5.0, space=(1.5, 2.0, 2.5, 3.0),
                         help="the lower band's distance below the middle, in deviations"),
    }
    number_formats: ClassVar[Mapping[str, str]] = {PERCENT_B_LABEL: "{:.2f}",
                                                   WIDTH_LABEL: "{:.2f}%"}

    window: int
    num_std: float

    @property
    def warmup_bars(self) -> int:
        """One window of closes, the current one included: nothing older moves a signal."""
        return self.window

    def signals(self, bars: pd.DataFrame) -> npt.NDArray[np.int8]:
        """1 below the lower band, -1 at or above the middle band; 0 before the warm-up ends."""
        close = _closes(bars)
        middle, sigma = rolling_mean_std(close, self.window)
        lower = middle - self.num_std * sigma
        # NaN bands (too little history) compare False, so they give 0.
        out = np.where(close < lower, 1, np.where(close >= middle, -1, 0)).astype(np.int8)
        out[: self.warmup_bars - 1] = 0
        return out

    def numbers(self, bars: pd.DataFrame) -> dict[str, FloatArray]:
        """%b (0 at the lower band, 1 at the upper) and the band width in % of the middle."""
        close = _closes(bars)
        middle, sigma = rolling_mean_std(close, self.window)
        half = self.num_std * sigma
        with np.errstate(divide="ignore", invalid="ignore"):
            percent_b = (close - (middle - half)) / (2.0 * half)
            width = 2.0 * half / middle * 100.0
        # A flat window has bands of zero width with the close exactly on them: the middle.
        percent_b[half == 0.0] = 0.5
        return {PERCENT_B_LABEL: percent_b, WIDTH_LABEL: width}


def rolling_mean_std(values: FloatArray, window: int) -> tuple[FloatArray, FloatArray]:
    """Mean and population deviation of the ``window`` values ending at each row (NaN before)."""
    mean = np.full(values.size, np.nan)
    std = np.full(values.size, np.nan)
    count = values.size - window + 1
    if count <= 0:
        return mean, std
    # Window j is values[j : j + window]. Sums run k = 0, 1, ... over each window separately,
    # on offsets from the window's first value, so a flat window has exactly its value as mean
    # and 0 as deviation (a plain sum of 0.1 twenty times is not 2.0).
    first = values[:count]
    offset = np.zeros(count)
    for k in range(window):
        offset += values[k : k + count] - first
    centre = first + offset / window
    squares = np.zeros(count)
    for k in range(window):
        deviation = values[k : k + count] - centre
        squares += deviation * deviation
    mean[window - 1 :] = centre
    std[window - 1 :] = np.sqrt(squares / window)
    return mean, std


def _closes(bars: pd.DataFrame) -> FloatArray:
    # Fail fast on a frame without closes or with NaN in them (a NaN would block an exit).
    if "close" not in bars.columns:
        raise DataError("frame has no 'close' column", rule="columns")
    return close_values(bars["close"])
