"""Signals: the Strategy seam and its built-ins, indicators (RSI, EMA), the default rsi_ema
signal; the LLM scorer lives beside them."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

# Where each public name lives. Imported on first use (PEP 562): importing a submodule such as
# signals.score_command runs this file first, and `main.py --help` must not load numba.
_HOME = {
    "ema": "signals.indicators",
    "rsi": "signals.indicators",
    "SignalParams": "signals.quant_signals",
    "SignalRow": "signals.quant_signals",
    "compute_signals": "signals.quant_signals",
    "latest_signal": "signals.quant_signals",
    "signal_array": "signals.quant_signals",
    "signal_rule": "signals.quant_signals",
    "LoadedStrategy": "signals.strategy",
    "Param": "signals.strategy",
    "Strategy": "signals.strategy",
    "StrategyBase": "signals.strategy",
    "StrategyError": "signals.strategy",
    "load_strategy": "signals.strategy_loader",
}

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


def __getattr__(name: str) -> Any:
    """Import a public name from its submodule the first time it is asked for."""
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'signals' has no attribute {name!r}")
    value = getattr(import_module(home), name)
    globals()[name] = value  # the next access skips this function
    return value
