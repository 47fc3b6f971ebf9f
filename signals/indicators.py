"""Indicators over close prices: EMA and RSI, as pandas Series or as numba array kernels.

The pandas-facing functions (``ema``, ``rsi``) validate their input and call the same numba
kernels that ``signals.quant_signals`` fuses into the signal sweep, so the backtest, the live
loop and these functions share one arithmetic. Indicators run over rows: a gap of missing bars
in the data is not filled here (that is the data layer's decision).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable
from numbers import Integral
from typing import Any, Final, Literal, TypeVar, cast, get_args

import numba
import numpy as np
import numpy.typing as npt
import pandas as pd

from core.errors import ConfigError, DataError

RsiMethod = Literal["wilder", "sma"]
RSI_METHODS: Final[tuple[str, ...]] = get_args(RsiMethod)

# Older history may move a converged value by at most this fraction (see the *_warmup_bars).
CONVERGENCE_TOL: Final = 1e-12

FloatArray = npt.NDArray[np.float64]
_F = TypeVar("_F", bound=Callable[..., Any])


def jit_kernel(func: _F) -> _F:
    # numba ships no types; this keeps the kernels' signatures visible to mypy strict.
    return cast(_F, numba.njit(cache=True, nogil=True)(func))


# ---------------------------------------------------------------------------------------------
# Validation shared with quant_signals
# ---------------------------------------------------------------------------------------------


def check_window(field: str, value: object) -> int:
    """Return ``value`` as an int if it is an integer >= 2, else raise ConfigError naming it."""
    if isinstance(value, bool) or not isinstance(value, Integral) or int(value) < 2:
        raise ConfigError(f"{field} must be an integer >= 2, got {value!r}")
    return int(value)


def check_rsi_method(field: str, value: object) -> RsiMethod:
    """Return ``value`` if it is a known RSI method, else raise ConfigError with a suggestion."""
    if isinstance(value, str) and value in RSI_METHODS:
        return cast(RsiMethod, value)
    allowed = " or ".join(repr(m) for m in RSI_METHODS)
    hint = ""
    if isinstance(value, str):
        close = difflib.get_close_matches(value.lower(), RSI_METHODS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ConfigError(f"{field} must be {allowed}, got {value!r}{hint}")


def close_values(close: pd.Series) -> FloatArray:
    """Return the closes as a contiguous float64 array, raising DataError on NaN or inf."""
    values = np.ascontiguousarray(close.to_numpy(dtype=np.float64))
    bad = ~np.isfinite(values)
    if bad.any():
        row = int(np.argmax(bad))
        raise DataError(
            f"close has {int(bad.sum())} non-finite value(s), first at {close.index[row]}",
            row=row,
            rule="finite_close",
        )
    return values


# ---------------------------------------------------------------------------------------------
# Warm-up: how many bars make the recursions forget where the data started
# ---------------------------------------------------------------------------------------------


def ema_alpha(span: int) -> float:
    """Smoothing factor of an EMA of ``span``, computed exactly as pandas does."""
    # pandas turns span into com first; 2 / (span + 1) can differ from this in the last bit.
    return 1.0 / (1.0 + (span - 1) / 2.0)


def _updates_to_forget(keep: float, tol: float) -> int:
    # Smallest k with keep**k <= tol: after k updates the seed weighs at most tol.
    return math.ceil(math.log(tol) / math.log(keep))


def ema_warmup_bars(span: int, tol: float = CONVERGENCE_TOL) -> int:
    """Bars (including the current one) after which an EMA's seed weighs at most ``tol``."""
    # The EMA is seeded with the first close of the window, then updated once per later bar.
    return 1 + _updates_to_forget(1.0 - ema_alpha(span), tol)


def rsi_warmup_bars(window: int, method: RsiMethod, tol: float = CONVERGENCE_TOL) -> int:
    """Bars (including the current one) after which the RSI no longer depends on older bars."""
    if method == "sma":
        # A rolling mean of `window` changes needs window + 1 closes and nothing older.
        return window + 1
    # Wilder: seeded from the first `window` changes (window + 1 bars), then one update a bar.
    return window + 1 + _updates_to_forget(1.0 - 1.0 / window, tol)


# ---------------------------------------------------------------------------------------------
# Kernels (one step each, so the fused signal kernel reuses the very same arithmetic)
# ---------------------------------------------------------------------------------------------


@jit_kernel
def ema_step(prev: float, value: float, alpha: float) -> float:
    """One EMA update, bit-for-bit as pandas ``ewm(adjust=False).mean()`` does it."""
    if prev == value:
        # pandas skips the update here, which keeps a constant series exactly constant.
        return prev
    keep = 1.0 - alpha
    return (keep * prev + alpha * value) / (keep + alpha)


@jit_kernel
def wilder_step(prev_avg: float, move: float, window: int) -> float:
    """One Wilder smoothing update of an average gain (or loss), in TA-Lib's operation order."""
    return (prev_avg * (window - 1) + move) / window


@jit_kernel
def rsi_from_averages(avg_gain: float, avg_loss: float) -> float:
    """RSI from Wilder averages; 100 when there was no loss (flat included, as TradingView)."""
    if avg_loss == 0.0:
        return 100.0
    # 100 * g / (g + l) equals 100 - 100 / (1 + g / l); TA-Lib uses this form.
    return 100.0 * (avg_gain / (avg_gain + avg_loss))


@jit_kernel
def _ema_kernel(close: FloatArray, alpha: float, out: FloatArray) -> None:
    value = close[0]
    out[0] = value
    for i in range(1, close.size):
        value = ema_step(value, close[i], alpha)
        out[i] = value


@jit_kernel
def _wilder_rsi_kernel(close: FloatArray, window: int, out: FloatArray) -> None:
    out[:] = np.nan
    if close.size <= window:
        return
    gain = 0.0
    loss = 0.0
    for i in range(1, window + 1):
        move = close[i] - close[i - 1]
        if move < 0.0:
            loss -= move
        else:
            gain += move
    gain /= window
    loss /= window
    out[window] = rsi_from_averages(gain, loss)
    for i in range(window + 1, close.size):
        move = close[i] - close[i - 1]
        gain = wilder_step(gain, max(move, 0.0), window)
        loss = wilder_step(loss, max(-move, 0.0), window)
        out[i] = rsi_from_averages(gain, loss)


def ema_values(close: FloatArray, span: int) -> FloatArray:
    """EMA of a finite float64 array (no validation; see ``ema`` for the checked version)."""
    out = np.empty_like(close)
    if close.size:
        _ema_kernel(close, ema_alpha(span), out)
    return out


def rsi_values(close: FloatArray, window: int, method: RsiMethod) -> FloatArray:
    """RSI of a finite float64 array (no validation; see ``rsi`` for the checked version)."""
    if method == "sma":
        return _seed_sma_rsi(close, window)
    out = np.empty_like(close)
    _wilder_rsi_kernel(close, window, out)
    return out


def _seed_sma_rsi(close: FloatArray, window: int) -> FloatArray:
    # Same pandas operations as the seed guide, so the values agree bit for bit: pandas'
    # rolling mean returns an exact 0.0 when every change in the window is zero, and the seed
    # then divides by NaN instead of 0, so the RSI is NaN wherever the last `window` changes
    # hold no loss at all (a steady climb, where Wilder's RSI is 100, or a flat stretch).
    change = pd.Series(close).diff()
    avg_gain = change.clip(lower=0.0).rolling(window).mean()
    avg_loss = change.clip(upper=0.0).abs().rolling(window).mean()
    ratio = avg_gain / avg_loss.where(avg_loss != 0.0)
    return np.asarray(100.0 - 100.0 / (1.0 + ratio), dtype=np.float64)


# ---------------------------------------------------------------------------------------------
# Public pandas API
# ---------------------------------------------------------------------------------------------


def ema(close: pd.Series, span: int) -> pd.Series:
    """EMA seeded with the first close, equal to ``close.ewm(span=span, adjust=False).mean()``."""
    span = check_window("span", span)
    return pd.Series(ema_values(close_values(close), span), index=close.index, name="ema")


def rsi(close: pd.Series, window: int = 14, method: str = "wilder") -> pd.Series:
    """RSI in [0, 100]; NaN for the first ``window`` bars (see the module notes per method).

    ``method="wilder"`` (default) is TA-Lib's and TradingView's RSI: average gain and loss
    seeded with the simple mean of the first ``window`` changes, then smoothed with
    alpha = 1/window. Where the average loss is 0 the RSI is 100; TA-Lib returns 0 instead
    when gain and loss are both 0 (a series flat since its start), the only case where
    the two differ. No absolute epsilon is used, so the result does not depend on the
    price scale (TA-Lib treats averages below 1e-14 as zero).

    ``method="sma"`` is the seed guide's RSI, reproduced exactly: rolling means of gains and
    losses over ``window`` changes, and NaN (not 100) wherever those ``window`` changes
    contain no loss, because the seed replaced a zero average loss by NaN.
    """
    window = check_window("window", window)
    checked = check_rsi_method("method", method)
    values = rsi_values(close_values(close), window, checked)
    return pd.Series(values, index=close.index, name="rsi")
