"""Amount precision and minimums of a market, checked before an order goes anywhere.

The rounding itself is ccxt's (``amount_to_precision`` / ``price_to_precision``), so paper and
exchange round identically; it works offline on a client whose markets were set from a saved
market definition. ccxt does not check the minimum notional (Binance answers -1013 NOTIONAL),
so it is checked here, with the lot size, and refused as OrderRejected with a clear reason.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from core.errors import ConfigError, OrderRejected


def market_key(symbol: str) -> str:
    """State key under which a live broker saves what the journal needs of a market."""
    return f"market:{symbol}"


class MarketRules:
    """Precision and limits of one market on one ccxt client (network-free)."""

    def __init__(self, exchange: Any, symbol: str) -> None:
        if symbol not in (exchange.markets or {}):
            raise ConfigError(f"unknown market {symbol!r} on {exchange.id}")
        self._exchange = exchange
        self.symbol = symbol
        market = exchange.markets[symbol]
        self.base: str = market["base"]
        self.quote: str = market["quote"]
        limits = market.get("limits") or {}
        self.min_amount = _limit(limits, "amount", "min")
        self.max_amount = _limit(limits, "amount", "max")
        self.min_notional = _limit(limits, "cost", "min")
        self.amount_step = _step(exchange, market)
        self.order_types: list[str] = list((market.get("info") or {}).get("orderTypes") or [])

    @classmethod
    def offline(cls, exchange_id: str, markets: Mapping[str, Mapping[str, Any]], symbol: str
                ) -> MarketRules:
        """Rules from saved ccxt market structures (e.g. ``exchange.markets`` as JSON)."""
        import ccxt

        if exchange_id not in ccxt.exchanges:
            raise ConfigError(f"unknown exchange {exchange_id!r}: not a ccxt exchange id")
        client = getattr(ccxt, exchange_id)()
        client.set_markets([dict(m) for m in markets.values()])
        return cls(client, symbol)

    @property
    def dust_bound(self) -> Decimal:
        """Below this a base amount cannot be sold: less than one lot step or the minimum."""
        return max(self.amount_step, self.min_amount or Decimal(0))

    def amount(self, value: Decimal | float) -> Decimal:
        """``value`` truncated to the lot step; 0 when it is below one step."""
        import ccxt

        try:
            return Decimal(self._exchange.amount_to_precision(self.symbol, float(value)))
        except ccxt.InvalidOrder:  # below the smallest step: nothing can be traded
            return Decimal(0)

    def price(self, value: Decimal | float) -> Decimal:
        """``value`` rounded to the price tick."""
        return Decimal(self._exchange.price_to_precision(self.symbol, float(value)))

    def check(self, amount: Decimal, price: Decimal, what: str) -> None:
        """Raise OrderRejected if ``amount`` at ``price`` breaks the lot size or min notional."""
        if amount <= 0:
            raise OrderRejected(f"{what} on {self.symbol}: amount rounds to 0 at the lot step")
        if self.min_amount is not None and amount < self.min_amount:
            raise OrderRejected(
                f"{what} on {self.symbol}: amount {amount} {self.base} is below the "
                f"minimum lot of {self.min_amount} {self.base}"
            )
        if self.max_amount is not None and amount > self.max_amount:
            raise OrderRejected(
                f"{what} on {self.symbol}: amount {amount} {self.base} is above the "
                f"maximum lot of {self.max_amount} {self.base}"
            )
        notional = amount * price
        if self.min_notional is not None and notional < self.min_notional:
            raise OrderRejected(
                f"{what} on {self.symbol}: notional {notional:.8f} {self.quote} is below the "
                f"exchange minimum of {self.min_notional} {self.quote}"
            )


def _step(exchange: Any, market: Mapping[str, Any]) -> Decimal:
    """The lot step of ``market`` (ccxt's amount precision as a step, whatever its mode)."""
    import ccxt

    precision = (market.get("precision") or {}).get("amount")
    if precision is None:
        return Decimal(0)
    if getattr(exchange, "precisionMode", None) == ccxt.TICK_SIZE:
        return Decimal(str(precision))
    return Decimal(1).scaleb(-int(precision))


def _limit(limits: Mapping[str, Any], key: str, side: str) -> Decimal | None:
    value = (limits.get(key) or {}).get(side)
    if value is None or not math.isfinite(float(value)) or float(value) <= 0:
        return None
    return Decimal(str(value))
