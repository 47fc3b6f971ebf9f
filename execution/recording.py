"""Journal writes of the live broker: intents before requests, updates and fills after.

An order is recorded before its request is sent; a retry or restart of the same decision (same
client id) resumes the unresolved record instead of writing a second intent. Exchange answers
(ccxt order structures) become OrderUpdate and Fill values here, amounts as exact Decimals, fees
as the exchange charged them: from the answer, or else from the order's trades.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from core.clock import Clock
from core.domain import Fill, Order, OrderKind, OrderStatus, OrderUpdate, Side
from core.ports import OrderJournal
from execution.broker import ProtectiveStop

log = logging.getLogger(__name__)

_STATUS = {
    "open": OrderStatus.OPEN,
    "closed": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELED,
    "expired": OrderStatus.CANCELED,
    "rejected": OrderStatus.REJECTED,
}


def status_of(raw: dict[str, Any]) -> OrderStatus:
    """The journal status of a ccxt order structure (UNKNOWN for anything unexpected)."""
    return _STATUS.get(str(raw.get("status")), OrderStatus.UNKNOWN)


def decimal(value: Any) -> Decimal:
    """A number from ccxt as an exact Decimal (0 for None)."""
    return Decimal(0) if value is None else Decimal(str(value))


def held_after(fill: Fill, base: str) -> Decimal:
    """What a buy's fill left in the account: its amount less a fee charged in the base."""
    return fill.amount - (fill.fee if fill.fee_asset == base else Decimal(0))


FeeLookup = Callable[[Order, dict[str, Any]], list[dict[str, Any]]]


class OrderRecorder:
    """Writes the live broker's orders, updates and fills to the journal."""

    def __init__(self, journal: OrderJournal, clock: Clock,
                 fee_lookup: FeeLookup | None = None) -> None:
        self._journal = journal
        self._clock = clock
        self._fee_lookup = fee_lookup

    def unresolved(self) -> dict[str, tuple[Order, OrderUpdate | None]]:
        """Orders whose outcome is not final, by client id."""
        return {o.client_id: (o, u) for o, u in self._journal.unresolved_orders()}

    def now(self) -> datetime:
        """The broker's clock."""
        return self._clock.now()

    def status(self, cid: str) -> OrderStatus | None:
        """The journal's latest status of ``cid`` (None if it has no intent)."""
        return self._journal.order_status(cid)

    def intent(self, order: Order) -> bool:
        """Record ``order`` before its request; True if an unresolved record already existed.

        A resumed order may have reached the exchange before: look it up before sending.
        """
        if order.client_id in self.unresolved():
            return True
        self._journal.record_order_intent(order)
        return False

    def update(self, cid: str, status: OrderStatus, detail: str = "",
               raw: dict[str, Any] | None = None) -> None:
        """Record a status change (from an exchange answer when ``raw`` is given)."""
        raw = raw or {}
        average = raw.get("average")
        self._journal.record_order_update(OrderUpdate(
            cid, status, self._clock.now(), exchange_id=str(raw.get("id") or ""),
            filled=decimal(raw.get("filled")),
            avg_price=None if average is None else decimal(average), detail=detail))

    def answered(self, cid: str, raw: dict[str, Any], detail: str = "") -> OrderStatus:
        """Record the status the exchange reports in ``raw``; returns it."""
        status = status_of(raw)
        self.update(cid, status, detail, raw)
        return status

    def atomic(self) -> AbstractContextManager[None]:
        """One journal transaction for several writes (the journal's batch, if it has one)."""
        batch = getattr(self._journal, "batch", None)
        return batch() if batch is not None else nullcontext()

    def fees_of(self, order: Order, raw: dict[str, Any]) -> list[dict[str, Any]]:
        """The fees of a filled answer: its own, or (read back without them) its trades'."""
        fees = _fees(raw)
        if not fees and decimal(raw.get("filled")) > 0 and self._fee_lookup is not None:
            # An order read back by lookup carries no fees (Binance's GET order has none):
            # the order's own trades say what was charged, in which asset; never assume 0.
            fees = [f for f in self._fee_lookup(order, raw) if f]
        return fees

    def fill(self, order: Order, raw: dict[str, Any],
             fees: list[dict[str, Any]] | None = None) -> Fill | None:
        """Record and return the fill in an exchange answer (None if nothing filled).

        ``fees``: from ``fees_of``, fetched before a transaction (no request inside one).
        """
        amount = decimal(raw.get("filled"))
        if amount <= 0:
            return None
        if fees is None:
            fees = self.fees_of(order, raw)
        asset = str(fees[0].get("currency") or "") if fees else ""
        fee = sum((decimal(f.get("cost")) for f in fees if f.get("currency") == asset),
                  Decimal(0))
        price = decimal(raw.get("average") or raw.get("price"))
        stamp = raw.get("lastTradeTimestamp") or raw.get("timestamp")
        at = (datetime.fromtimestamp(int(stamp) / 1000, tz=UTC) if stamp
              else self._clock.now())
        fill = Fill(order.client_id, order.symbol, Side(str(raw.get("side") or order.side)),
                    amount, price, fee, asset, at, exchange_id=str(raw.get("id") or ""),
                    kind=order.kind)
        self._journal.record_fill(fill)
        return fill


def stop_order(symbol: str, cid: str, amount: Decimal, stop: Decimal, bar: datetime) -> Order:
    """The journal's view of a protective stop order."""
    return Order(symbol, Side.SELL, Decimal(0), client_id=cid, kind=OrderKind.STOP,
                 amount_base=amount, stop_price=stop, bar_time=bar, reason="protective stop")


def protective_stop(symbol: str, cid: str, raw: dict[str, Any]) -> ProtectiveStop:
    """The ProtectiveStop that a resting stop order (ccxt structure) is."""
    limit = raw.get("price") if str(raw.get("type")) == "limit" else None
    return ProtectiveStop(cid, symbol, decimal(raw.get("amount")),
                          decimal(raw.get("triggerPrice") or raw.get("stopPrice")),
                          None if limit is None else decimal(limit), str(raw.get("id") or ""))


def _fees(raw: dict[str, Any]) -> list[dict[str, Any]]:
    fees = [f for f in (raw.get("fees") or []) if f]
    if not fees and raw.get("fee"):
        fees = [raw["fee"]]
    return fees
