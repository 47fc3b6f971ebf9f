"""Turn bars and signals into a ScoreRequest: the symbol and numbers, nothing else.

Both builders look only at rows up to the decision bar, so the scorer sees what the bot knew
when it decided (the model itself may still remember the later history: see the README).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from core.errors import ScorerError
from signals.scorer import MAX_CLOSES, NamedNumber, ScoreRequest, VolumeTrend

# The seed's two numbers, labelled and formatted as its prompt always showed them (the answer
# cache keys on the prompt's text: these lines must not change).
RSI_LABEL, RSI_FORMAT = "RSI", "{:.1f}"
SPREAD_LABEL, SPREAD_FORMAT = "EMA spread (fast vs slow)", "{:.2f}%"

# Enough to tell 64,012.3 from 64,013.1 and 0.123456 from 0.123457, and coarse enough that
# float noise does not defeat the answer cache.
_SIGNIFICANT_DIGITS = 6
_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
_BRACKETS = re.compile(r"\[([^\]]*)\]")
_REQUIRED = ("close", "volume", "rsi", "ema_fast", "ema_slow")


def request_from_bars(symbol: str, bars: pd.DataFrame, *, direction: int = 1) -> ScoreRequest:
    """The seed's request for the last row of ``bars`` (compute_signals output up to the bar)."""
    missing = [c for c in _REQUIRED if c not in bars.columns]
    if missing:
        raise ScorerError(f"bars lack column(s) {', '.join(missing)}")
    if bars.empty:
        raise ScorerError("bars are empty")
    last = bars.iloc[-1]
    ema_slow = float(last["ema_slow"])
    if not ema_slow:
        raise ScorerError("ema_slow is zero on the decision bar")
    spread = (float(last["ema_fast"]) - ema_slow) / ema_slow * 100.0
    return request_for_bar(symbol, closes=bars["close"].to_numpy(), volumes=bars["volume"],
                           numbers=seed_numbers(float(last["rsi"]), spread), direction=direction)


def request_for_bar(
    symbol: str, *, closes: Sequence[float] | np.ndarray, volumes: Sequence[float] | pd.Series,
    numbers: Sequence[NamedNumber], direction: int = 1,
) -> ScoreRequest:
    """The request for a decision bar: its last closes and volumes (oldest first) and numbers."""
    tail = [float(c) for c in list(closes)[-MAX_CLOSES:]]
    volume = volumes if isinstance(volumes, pd.Series) else pd.Series(list(volumes)[-3:])
    return ScoreRequest(
        symbol=symbol, direction=direction, closes=tuple(_round_sig(c) for c in tail),
        volume_trend=_volume_trend(volume), numbers=tuple(numbers),
    )


def request_at(
    symbol: str, bars: pd.DataFrame, numbers: Mapping[str, np.ndarray],
    formats: Mapping[str, str], *, row: int, direction: int = 1,
) -> ScoreRequest:
    """The request for bar ``row`` of ``bars`` given the strategy's numbers over those bars:
    the same request in the backtest, the loop and ``score``."""
    start = max(0, row - (MAX_CLOSES - 1))
    values = {label: float(v[row]) for label, v in numbers.items()}
    return request_for_bar(
        symbol, closes=bars["close"].to_numpy(np.float64)[start:row + 1],
        volumes=bars["volume"].iloc[start:row + 1], numbers=named_numbers(values, formats),
        direction=direction,
    )


def named_numbers(
    values: Mapping[str, float], formats: Mapping[str, str] | None = None
) -> tuple[NamedNumber, ...]:
    """The strategy's numbers of one bar; a non-finite value is left out (the prompt says
    nothing rather than "nan"), and the journal keeps it as null."""
    formats = formats or {}
    return tuple(
        NamedNumber(label, float(value), formats.get(label, "{:.6g}"))
        for label, value in values.items() if math.isfinite(float(value))
    )


def seed_numbers(rsi: float, ema_spread_pct: float) -> tuple[NamedNumber, NamedNumber]:
    """The seed's RSI and EMA spread as named numbers; ScorerError when out of range."""
    if not (_finite(rsi) and 0.0 <= rsi <= 100.0):
        raise ScorerError(f"rsi must be finite and in [0, 100], got {rsi!r}")
    if not _finite(ema_spread_pct):
        raise ScorerError(f"ema_spread_pct must be finite, got {ema_spread_pct!r}")
    return (NamedNumber(RSI_LABEL, float(rsi), RSI_FORMAT),
            NamedNumber(SPREAD_LABEL, float(ema_spread_pct), SPREAD_FORMAT))


def request_from_seed(
    symbol: str, signal_direction: int, recent_candles_summary: str, rsi: float,
    ema_spread_pct: float,
) -> ScoreRequest:
    """The request for the seed's ``score_signal`` arguments; the summary's free text is dropped.

    Only the numbers inside the first ``[...]`` (the seed's "Last 5 candles") and the words
    rising/falling are taken from the summary, so text in it can never reach the prompt.
    """
    summary = str(recent_candles_summary)
    listed = _BRACKETS.search(summary)
    numbers = _NUMBER.findall(listed.group(1)) if listed else []
    closes = tuple(_round_sig(float(n)) for n in numbers[-MAX_CLOSES:])
    lowered = summary.lower()
    trend = (
        VolumeTrend.RISING if "rising" in lowered
        else VolumeTrend.FALLING if "falling" in lowered
        else VolumeTrend.UNKNOWN
    )
    try:
        return ScoreRequest(
            symbol=symbol,
            direction=int(signal_direction),
            closes=closes,
            volume_trend=trend,
            numbers=seed_numbers(float(rsi), float(ema_spread_pct)),
        )
    except (TypeError, ValueError) as exc:
        raise ScorerError(f"invalid score_signal argument: {type(exc).__name__}") from None


def _volume_trend(volume: pd.Series) -> VolumeTrend:
    # The seed's rule: rising when the last three volumes never decrease, else falling.
    last3 = volume.tail(3)
    if len(last3) < 3 or last3.isna().any():
        return VolumeTrend.UNKNOWN
    return VolumeTrend.RISING if last3.is_monotonic_increasing else VolumeTrend.FALLING


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _round_sig(value: float) -> float:
    if not math.isfinite(value) or value == 0:
        return value
    digits = _SIGNIFICANT_DIGITS - 1 - math.floor(math.log10(abs(value)))
    return round(value, digits)
