"""Turn bars and signals into a ScoreRequest: the symbol and numbers, nothing else.

Both builders look only at rows up to the decision bar, so the scorer sees what the bot knew
when it decided (the model itself may still remember the later history: see the README).
"""

from __future__ import annotations

import math
import re

import pandas as pd

from core.errors import ScorerError
from signals.scorer import MAX_CLOSES, ScoreRequest, VolumeTrend

# Enough to tell 64,012.3 from 64,013.1 and 0.123456 from 0.123457, and coarse enough that
# float noise does not defeat the answer cache.
_SIGNIFICANT_DIGITS = 6
_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
_BRACKETS = re.compile(r"\[([^\]]*)\]")
_REQUIRED = ("close", "volume", "rsi", "ema_fast", "ema_slow")


def request_from_bars(symbol: str, bars: pd.DataFrame, *, direction: int = 1) -> ScoreRequest:
    """The request for the last row of ``bars`` (compute_signals output up to the decision bar)."""
    missing = [c for c in _REQUIRED if c not in bars.columns]
    if missing:
        raise ScorerError(f"bars lack column(s) {', '.join(missing)}")
    if bars.empty:
        raise ScorerError("bars are empty")
    last = bars.iloc[-1]
    ema_slow = float(last["ema_slow"])
    if not ema_slow:
        raise ScorerError("ema_slow is zero on the decision bar")
    closes = tuple(_round_sig(float(c)) for c in bars["close"].tail(MAX_CLOSES))
    return ScoreRequest(
        symbol=symbol,
        direction=direction,
        closes=closes,
        volume_trend=_volume_trend(bars["volume"]),
        rsi=float(last["rsi"]),
        ema_spread_pct=(float(last["ema_fast"]) - ema_slow) / ema_slow * 100.0,
    )


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
            rsi=float(rsi),
            ema_spread_pct=float(ema_spread_pct),
        )
    except (TypeError, ValueError) as exc:
        raise ScorerError(f"invalid score_signal argument: {type(exc).__name__}") from None


def _volume_trend(volume: pd.Series) -> VolumeTrend:
    # The seed's rule: rising when the last three volumes never decrease, else falling.
    last3 = volume.tail(3)
    if len(last3) < 3 or last3.isna().any():
        return VolumeTrend.UNKNOWN
    return VolumeTrend.RISING if last3.is_monotonic_increasing else VolumeTrend.FALLING


def _round_sig(value: float) -> float:
    if not math.isfinite(value) or value == 0:
        return value
    digits = _SIGNIFICANT_DIGITS - 1 - math.floor(math.log10(abs(value)))
    return round(value, digits)
