"""Domain values shared by execution, the journal and the trading loop.

Money that crosses the exchange boundary or lands in the journal is a ``Decimal`` (exact);
vectorised maths elsewhere stays float64. Every value here is frozen: a change is a new value.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum


class Side(StrEnum):
    """Order side."""

    BUY = "buy"
    SELL = "sell"


class OrderKind(StrEnum):
    """What an order is for; the client order id encodes it so a lookup can tell them apart."""

    ENTRY = "entry"
    EXIT = "exit"
    STOP = "stop"


class OrderStatus(StrEnum):
    """Lifecycle of an order as the journal records it."""

    INTENT = "intent"  # written before the request is sent
    OPEN = "open"  # accepted by the exchange, not (fully) filled
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"  # refused by a pre-check or the exchange; never retried blindly
    UNKNOWN = "unknown"  # the request's outcome is not known yet (timeout): look it up first

    @property
    def final(self) -> bool:
        """True when nothing more can happen to the order."""
        return self in (OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED)


@dataclass(frozen=True, slots=True)
class Order:
    """An order as the seed named it, plus what a restart needs to find it again.

    Attributes:
        symbol: ccxt market symbol, e.g. ``BTC/USDT``.
        side: buy or sell.
        amount_usdt: quote notional wanted (entries); exits and stops use ``amount_base``.
        stop_loss_pct: distance of the protective stop placed after an entry fills.
        client_id: deterministic client order id (<= 36 chars of ``[A-Za-z0-9_-]``).
        kind: entry, exit or stop.
        amount_base: base-asset quantity (exits, stops); None for a quote-sized entry.
        stop_price: trigger price of a stop order.
        bar_time: the closed bar whose decision created the order (UTC).
        reason: why (signal, stop, halt, ...), journaled verbatim.
    """

    symbol: str
    side: Side
    amount_usdt: Decimal
    stop_loss_pct: Decimal = Decimal("0.015")
    client_id: str = ""
    kind: OrderKind = OrderKind.ENTRY
    amount_base: Decimal | None = None
    stop_price: Decimal | None = None
    bar_time: datetime | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution of (part of) an order.

    Attributes:
        client_id: the order's client id.
        symbol: market symbol.
        side: buy or sell.
        amount: base-asset quantity filled.
        price: average fill price (quote per base).
        fee: fee paid, in ``fee_asset``.
        fee_asset: the asset the fee was charged in (usually the quote).
        at: when it filled (bar time in paper/replay, exchange time live), UTC.
        exchange_id: the exchange's order id ("" for paper fills).
        kind: entry, exit or stop.
    """

    client_id: str
    symbol: str
    side: Side
    amount: Decimal
    price: Decimal
    fee: Decimal
    fee_asset: str
    at: datetime
    exchange_id: str = ""
    kind: OrderKind = OrderKind.ENTRY


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """A change of an order's status, journaled after every exchange answer.

    Attributes:
        client_id: the order's client id.
        status: the new status.
        at: when it was observed (UTC).
        exchange_id: the exchange's order id once known.
        filled: base quantity filled so far.
        avg_price: average fill price so far, if any.
        detail: error text or note (no secrets), journaled verbatim.
    """

    client_id: str
    status: OrderStatus
    at: datetime
    exchange_id: str = ""
    filled: Decimal = Decimal(0)
    avg_price: Decimal | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Bar:
    """One closed OHLCV bar of one market, as brokers that simulate stops are given it.

    Attributes:
        symbol: ccxt market symbol, e.g. ``BTC/USDT``.
        time: the bar's open time (UTC), the time a fill at its open is stamped with.
        open: first price; orders decided on the previous bar fill here.
        high: highest price.
        low: lowest price; a long stop at or above it is hit.
        close: last price; equity is marked here.
        volume: base volume (informational).
    """

    symbol: str
    time: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float = 0.0
