"""Signals: indicators (RSI, EMA) and the quant signal; the LLM scorer lives beside them."""

from signals.indicators import ema, rsi

__all__ = ["ema", "rsi"]
