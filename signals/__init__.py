"""Signals: the Strategy seam and its built-ins, indicators (RSI, EMA), the seed's quant signal;
the LLM scorer lives beside them."""

from signals.indicators import ema, rsi
from signals.quant_signals import (
    SignalParams,
    SignalRow,
    compute_signals,
    latest_signal,
    signal_array,
    signal_rule,
)
from signals.strategy import LoadedStrategy, Param, Strategy, StrategyBase, StrategyError
from signals.strategy_loader import load_strategy

__all__ = [
    "LoadedStrategy",
    "Param",
    "SignalParams",
    "SignalRow",
    "Strategy",
    "StrategyBase",
    "StrategyError",
    "compute_signals",
    "ema",
    "latest_signal",
    "load_strategy",
    "rsi",
    "signal_array",
    "signal_rule",
]
