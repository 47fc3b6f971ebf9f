"""The seed's rule, the default strategy: RSI + EMA crossover (signals/quant_signals.py).

1 where the fast EMA is above the slow one and the RSI is below ``overbought``; -1 where the
fast EMA is at or below the slow one and the RSI is above ``oversold``; else 0. Its arithmetic
is quant_signals' numba kernels, so every figure of the seed default is what it was before the
strategy seam: the sweep keeps its fast path over this class (backtest/sweep_kernel.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np
import numpy.typing as npt
import pandas as pd

from signals.indicators import ema_values, rsi_values
from signals.quant_signals import SignalParams, signal_array
from signals.scorer_context import RSI_FORMAT, RSI_LABEL, SPREAD_FORMAT, SPREAD_LABEL
from signals.strategy import LoadedStrategy, Param, StrategyBase


class RsiEma(StrategyBase):
    """RSI + EMA crossover: long while the fast EMA leads and the RSI is not overbought."""

    name: ClassVar[str] = "rsi_ema"
    version: ClassVar[str] = "1"
    params: ClassVar[Mapping[str, Param]] = {
        "rsi_window": Param(14, 2, 1000, space=tuple(range(10, 21)), help="bars in the RSI"),
        "ema_fast": Param(12, 2, 10_000, space=tuple(range(5, 16)), help="fast EMA span"),
        "ema_slow": Param(26, 2, 10_000, space=tuple(range(20, 46)), help="slow EMA span"),
        "overbought": Param(70.0, 0, 100, help="no entry at or above this RSI"),
        "oversold": Param(30.0, 0, 100, help="no exit signal at or below this RSI"),
        "rsi_method": Param("wilder", choices=("wilder", "sma"),
                            help="wilder (TA-Lib) or sma (simple rolling means)"),
    }
    # The prompt's lines for the seed, exactly as before the seam (the answer cache keys on them).
    number_formats: ClassVar[Mapping[str, str]] = {RSI_LABEL: RSI_FORMAT,
                                                   SPREAD_LABEL: SPREAD_FORMAT}

    rsi_window: int
    ema_fast: int
    ema_slow: int
    overbought: float
    oversold: float
    rsi_method: str

    def check(self) -> None:
        """SignalParams' rules: fast < slow, 0 < oversold < overbought < 100."""
        self.signal_params = SignalParams(
            rsi_window=self.rsi_window, ema_fast=self.ema_fast, ema_slow=self.ema_slow,
            overbought=self.overbought, oversold=self.oversold,
            rsi_method=self.rsi_method,  # type: ignore[arg-type]
        )

    @classmethod
    def of(cls, params: SignalParams) -> RsiEma:
        """The strategy of a SignalParams."""
        return cls(rsi_window=params.rsi_window, ema_fast=params.ema_fast,
                   ema_slow=params.ema_slow, overbought=params.overbought,
                   oversold=params.oversold, rsi_method=params.rsi_method)

    @property
    def warmup_bars(self) -> int:
        """Bars after which the EMAs and RSI forget where the data started (to 1e-12)."""
        return self.signal_params.warmup_bars

    def signals(self, bars: pd.DataFrame) -> npt.NDArray[np.int8]:
        """The seed's rule on every bar; 0 before the warm-up ends."""
        return signal_array(bars["close"].to_numpy(np.float64), self.signal_params)

    def numbers(self, bars: pd.DataFrame) -> dict[str, npt.NDArray[np.float64]]:
        """RSI and the EMA spread in percent, as the seed's scorer was given them."""
        close = np.ascontiguousarray(bars["close"].to_numpy(np.float64))
        p = self.signal_params
        fast, slow = ema_values(close, p.ema_fast), ema_values(close, p.ema_slow)
        with np.errstate(divide="ignore", invalid="ignore"):
            spread = (fast - slow) / slow * 100.0
        return {RSI_LABEL: rsi_values(close, p.rsi_window, p.rsi_method), SPREAD_LABEL: spread}


def seed_strategy(params: SignalParams | None = None) -> LoadedStrategy:
    """The seed's rsi_ema (the default strategy) as the bot uses it, with ``params`` if given."""
    values = {} if params is None else {
        "rsi_window": params.rsi_window, "ema_fast": params.ema_fast,
        "ema_slow": params.ema_slow, "overbought": params.overbought,
        "oversold": params.oversold, "rsi_method": params.rsi_method,
    }
    return LoadedStrategy(RsiEma, values, origin=ORIGIN)


def seed_params(strategy: LoadedStrategy) -> SignalParams | None:
    """The SignalParams of an rsi_ema strategy (its numba fast paths); None for any other."""
    impl = strategy.impl
    return impl.signal_params if isinstance(impl, RsiEma) else None


ORIGIN = "signals/strategies/rsi_ema.py"
