"""The quant signal: RSI + EMA crossover with the seed guide's rules, for backtest and live.

Rules (the seed's, unchanged): signal is 1 where ema_fast > ema_slow and rsi < overbought,
-1 where ema_fast <= ema_slow and rsi > oversold, else 0. A NaN RSI (only possible with
``rsi_method="sma"``) satisfies neither condition, so its signal is 0.

Warm-up: EMA and Wilder RSI are recursions seeded from the first bars of whatever data they
are given, so early values depend on where the data happens to start. ``params.warmup_bars``
is the number of bars (the current one included) after which that dependence is at most
``CONVERGENCE_TOL`` (1e-12) of the value, worked out from the decay factors. Only rows with
that much history are emitted, which makes a row identical (to ~1e-12) whether it is computed
on years of history by the backtest or on a trailing window by the live loop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from numbers import Real
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from core.errors import ConfigError, DataError
from signals.indicators import (
    FloatArray,
    RsiMethod,
    check_rsi_method,
    check_window,
    close_values,
    ema_alpha,
    ema_step,
    ema_values,
    ema_warmup_bars,
    jit_kernel,
    rsi_values,
    rsi_warmup_bars,
)

SignalArray = npt.NDArray[np.int8]

# int8: three values, 1 byte per bar for the sweep; numpy sums of it still accumulate in int64.
SIGNAL_DTYPE: Final = np.int8

SIGNAL_COLUMNS: Final = ("rsi", "ema_fast", "ema_slow", "signal")


@dataclass(frozen=True, slots=True)
class SignalParams:
    """Parameters of the quant signal; invalid values raise ConfigError naming the field.

    Attributes:
        rsi_window: bars in the RSI, an integer >= 2.
        ema_fast: span of the fast EMA, an integer >= 2 and < ema_slow.
        ema_slow: span of the slow EMA, an integer > ema_fast.
        overbought: no new long at or above this RSI; oversold < overbought < 100.
        oversold: no exit signal at or below this RSI; 0 < oversold < overbought.
        rsi_method: "wilder" (TA-Lib / TradingView, default) or "sma" (the seed's exact RSI).
    """

    rsi_window: int = 14
    ema_fast: int = 12
    ema_slow: int = 26
    overbought: float = 70.0
    oversold: float = 30.0
    rsi_method: RsiMethod = "wilder"

    def __post_init__(self) -> None:
        # object.__setattr__ because the class is frozen; values are normalised once here.
        for name in ("rsi_window", "ema_fast", "ema_slow"):
            object.__setattr__(self, name, check_window(name, getattr(self, name)))
        if self.ema_fast >= self.ema_slow:
            raise ConfigError(
                f"ema_fast must be smaller than ema_slow, got ema_fast={self.ema_fast} "
                f"and ema_slow={self.ema_slow}"
            )
        for name in ("oversold", "overbought"):
            object.__setattr__(self, name, _check_level(name, getattr(self, name)))
        if not 0.0 < self.oversold < self.overbought < 100.0:
            raise ConfigError(
                "RSI levels must satisfy 0 < oversold < overbought < 100, got "
                f"oversold={self.oversold} and overbought={self.overbought}"
            )
        object.__setattr__(self, "rsi_method", check_rsi_method("rsi_method", self.rsi_method))

    @property
    def warmup_bars(self) -> int:
        """Minimum bars of history (current bar included) for a converged signal row."""
        return max(
            ema_warmup_bars(self.ema_fast),
            ema_warmup_bars(self.ema_slow),
            rsi_warmup_bars(self.rsi_window, self.rsi_method),
        )


def _check_level(field: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise ConfigError(f"{field} must be a number strictly between 0 and 100, got {value!r}")
    return float(value)


DEFAULT_PARAMS: Final = SignalParams()


@dataclass(frozen=True, slots=True)
class SignalRow:
    """The signal row of one closed bar, as the live loop and the scorer consume it.

    Attributes:
        bar_time: open time of the bar (UTC), the bar's identity in the journal.
        close: the bar's close.
        rsi: RSI at the bar, in [0, 100]; NaN only with rsi_method="sma" (see ``rsi``).
        ema_fast: fast EMA at the bar.
        ema_slow: slow EMA at the bar.
        signal: 1, -1 or 0 by the seed's rules.
        ema_spread_pct: (ema_fast - ema_slow) / ema_slow * 100, as the seed's scorer input.
    """

    bar_time: datetime
    close: float
    rsi: float
    ema_fast: float
    ema_slow: float
    signal: int
    ema_spread_pct: float


# ---------------------------------------------------------------------------------------------
# Kernels
# ---------------------------------------------------------------------------------------------


@jit_kernel
def _rule(fast: float, slow: float, rsi: float, overbought: float, oversold: float) -> int:
    # Comparisons with a NaN RSI are False, so NaN gives 0, as the seed's .loc masks did.
    if fast > slow:
        return 1 if rsi < overbought else 0
    return -1 if rsi > oversold else 0


@jit_kernel
def _rule_kernel(
    rsi: FloatArray,
    fast: FloatArray,
    slow: FloatArray,
    overbought: float,
    oversold: float,
    out: SignalArray,
) -> None:
    for i in range(rsi.size):
        out[i] = _rule(fast[i], slow[i], rsi[i], overbought, oversold)


@jit_kernel
def _sweep_kernel(
    close: FloatArray,
    rsi: FloatArray,
    alpha_fast: float,
    alpha_slow: float,
    overbought: float,
    oversold: float,
    first: int,
    out: SignalArray,
) -> None:
    # EMAs run inline, so the sweep allocates only the RSI and the int8 output.
    fast = close[0]
    slow = close[0]
    for i in range(close.size):
        if i > 0:
            fast = ema_step(fast, close[i], alpha_fast)
            slow = ema_step(slow, close[i], alpha_slow)
        out[i] = _rule(fast, slow, rsi[i], overbought, oversold) if i >= first else 0


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------


def signal_rule(
    params: SignalParams, *, rsi: npt.ArrayLike, ema_fast: npt.ArrayLike, ema_slow: npt.ArrayLike
) -> SignalArray:
    """Apply the seed's rules element-wise to indicator arrays of equal length."""
    levels, fast, slow = (
        np.ascontiguousarray(a, dtype=np.float64) for a in (rsi, ema_fast, ema_slow)
    )
    if not levels.shape == fast.shape == slow.shape or levels.ndim != 1:
        raise ValueError("rsi, ema_fast and ema_slow must be 1-D arrays of the same length")
    out = np.empty(levels.size, dtype=SIGNAL_DTYPE)
    _rule_kernel(levels, fast, slow, params.overbought, params.oversold, out)
    return out


def signal_array(close: npt.ArrayLike, params: SignalParams = DEFAULT_PARAMS) -> SignalArray:
    """Signals (int8) for every bar of ``close``, 0 on the first ``warmup_bars - 1`` bars.

    Made for the parameter sweep: one numba pass plus the RSI, and
    ``signal_array(close, p)[p.warmup_bars - 1:]`` equals ``compute_signals(df, p)["signal"]``.
    """
    values = np.ascontiguousarray(close, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"close must be a 1-D array, got shape {values.shape}")
    _require_history(values.size, params)
    if not np.isfinite(values).all():
        raise DataError("close has non-finite values", rule="finite_close")
    out = np.empty(values.size, dtype=SIGNAL_DTYPE)
    rsi = rsi_values(values, params.rsi_window, params.rsi_method)
    _sweep_kernel(
        values,
        rsi,
        ema_alpha(params.ema_fast),
        ema_alpha(params.ema_slow),
        params.overbought,
        params.oversold,
        params.warmup_bars - 1,
        out,
    )
    return out


def compute_signals(df: pd.DataFrame, params: SignalParams = DEFAULT_PARAMS) -> pd.DataFrame:
    """New frame: ``df``'s columns plus rsi, ema_fast, ema_slow, signal; warm-up rows dropped.

    Drops exactly the first ``params.warmup_bars - 1`` rows (387 with the defaults), the bars
    whose values still depend on where the data starts; the seed's dropna() dropped only
    ``rsi_window`` rows. No later row is ever dropped: with ``rsi_method="sma"`` a bar whose
    last ``rsi_window`` changes hold no loss keeps its NaN rsi and gets signal 0, where the
    seed silently removed it (and its live loop then acted on an older bar). ``signal`` is
    int8. ``df`` is not modified. Raises DataError on a malformed frame or too few bars.
    """
    close = _checked_close(df, params)
    rsi, fast, slow = _indicator_arrays(close, params)
    signal = signal_rule(params, rsi=rsi, ema_fast=fast, ema_slow=slow)
    start = params.warmup_bars - 1
    out = df.iloc[start:].copy()
    out["rsi"] = rsi[start:]
    out["ema_fast"] = fast[start:]
    out["ema_slow"] = slow[start:]
    out["signal"] = signal[start:]
    return out


def latest_signal(window: pd.DataFrame, params: SignalParams = DEFAULT_PARAMS) -> SignalRow:
    """Signal row of the last bar of ``window`` (closed bars only, >= ``params.warmup_bars``)."""
    close = _checked_close(window, params)
    bar_time = pd.Timestamp(window.index[-1]).to_pydatetime()
    return signal_arrays(close, params).row(-1, bar_time=bar_time, close=float(close[-1]))


@dataclass(frozen=True, slots=True, eq=False)
class SignalArrays:
    """Indicators and signal of every bar of a close series (rows before the warm-up unused)."""

    rsi: FloatArray
    ema_fast: FloatArray
    ema_slow: FloatArray
    signal: SignalArray

    def row(self, i: int, *, bar_time: datetime, close: float) -> SignalRow:
        """The signal row of bar ``i`` (the caller ensures ``warmup_bars`` end at it)."""
        fast, slow = float(self.ema_fast[i]), float(self.ema_slow[i])
        return SignalRow(
            bar_time=bar_time, close=close, rsi=float(self.rsi[i]), ema_fast=fast,
            ema_slow=slow, signal=int(self.signal[i]),
            ema_spread_pct=(fast - slow) / slow * 100.0,
        )


def signal_arrays(close: FloatArray, params: SignalParams = DEFAULT_PARAMS) -> SignalArrays:
    """Indicators and signal of every bar of a finite float64 close array, in one pass each.

    The recursions are causal, so row ``i`` depends only on ``close[:i + 1]``: computed once
    over a whole replay file it equals, bit for bit, the row computed on the file cut at ``i``,
    and (from ``warmup_bars - 1`` on) the row of a trailing window within ~1e-12.
    """
    rsi, fast, slow = _indicator_arrays(close, params)
    return SignalArrays(rsi, fast, slow,
                        signal_rule(params, rsi=rsi, ema_fast=fast, ema_slow=slow))


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def _indicator_arrays(
    close: FloatArray, params: SignalParams
) -> tuple[FloatArray, FloatArray, FloatArray]:
    return (
        rsi_values(close, params.rsi_window, params.rsi_method),
        ema_values(close, params.ema_fast),
        ema_values(close, params.ema_slow),
    )


def _require_history(n_bars: int, params: SignalParams) -> None:
    if n_bars < params.warmup_bars:
        raise DataError(
            f"need at least {params.warmup_bars} bars (params.warmup_bars) for {params}, "
            f"got {n_bars}; fetch a longer history",
            rule="warmup",
        )


def _checked_close(df: pd.DataFrame, params: SignalParams) -> FloatArray:
    # Fail fast on a frame that breaks the convention instead of computing on it silently.
    if "close" not in df.columns:
        raise DataError("frame has no 'close' column", rule="columns")
    index = df.index
    if not isinstance(index, pd.DatetimeIndex) or index.tz is None or str(index.tz) != "UTC":
        raise DataError("frame index must be a UTC DatetimeIndex (bar open times)", rule="index")
    if not index.is_monotonic_increasing or not index.is_unique:
        raise DataError("frame index must be strictly increasing", rule="index")
    _require_history(len(df), params)
    return close_values(df["close"])
