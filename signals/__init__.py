"""Signals: indicators (RSI, EMA) and the quant signal; the LLM scorer lives beside them."""

from signals.indicators import ema, rsi
from signals.quant_signals import (
    SignalParams,
    SignalRow,
    compute_signals,
    latest_signal,
    signal_array,
    signal_rule,
)

__all__ = [
    "SignalParams",
    "SignalRow",
    "compute_signals",
    "ema",
    "latest_signal",
    "rsi",
    "signal_array",
    "signal_rule",
]
