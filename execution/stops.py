"""Protective stops on the exchange: placed, read back, adopted, and seen when they fill.

A position counts as protected only once its stop has been read back from the exchange as
resting (open). Every placement uses a fresh client id (``...-S<n>``, the sequence number
saved before the request), and before a new stop is placed the previous id is looked up:
a placement whose answer was lost may have rested after all, and two stops for one position
must never exist. ``send`` is the one way the live broker creates orders.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from core.clock import Clock
from core.domain import Fill, Order, OrderKind, OrderStatus
from core.errors import BotError, ExchangeUnavailable, OrderRejected
from execution.client_ids import client_order_id
from execution.gateway import ExchangeGateway, OrderRequest
from execution.markets import MarketRules
from execution.positions import LivePosition, PositionBook
from execution.recording import OrderRecorder, decimal, protective_stop, status_of, stop_order

log = logging.getLogger(__name__)


def send(gw: ExchangeGateway, recorder: OrderRecorder, order: Order, request: OrderRequest,
         *, resumed: bool, answer: bool = True) -> dict[str, Any]:
    """The idempotent create of an order whose intent is journaled; outcomes journaled.

    ``resumed``: the journal already had the order unresolved (a retry or a restart of the
    same decision), so it may exist on the exchange: it is looked up before any create.
    ``answer=False``: the caller journals the exchange's answer itself, in one transaction
    with what it changes (a fill and its position), so a kill leaves the order unresolved
    and the restart's lookup settles it, never a filled order whose position is lost.
    """
    try:
        found = gw.lookup(request.symbol, request.client_id) if resumed else None
        raw = found if found is not None else gw.place(request)
    except OrderRejected as e:
        recorder.update(order.client_id, OrderStatus.REJECTED, str(e))
        raise
    except ExchangeUnavailable as e:
        recorder.update(order.client_id, OrderStatus.UNKNOWN, str(e))
        raise
    if answer:
        recorder.answered(order.client_id, raw)
    return raw


class StopKeeper:
    """Places and watches the protective stops of the live broker's positions."""

    def __init__(self, gw: ExchangeGateway, book: PositionBook, recorder: OrderRecorder,
                 clock: Clock, *, prefix: str, style: str, limit_offset_pct: float) -> None:
        self._gw, self._book, self._recorder, self._clock = gw, book, recorder, clock
        self._prefix, self._style = prefix, style
        self._offset = 1 - decimal(limit_offset_pct)

    def protect(self, pos: LivePosition, market: MarketRules) -> LivePosition:
        """Place (or adopt) the stop of ``pos`` and confirm it on the exchange."""
        adopted = self._adopt_previous(pos)
        if adopted is not None:
            return adopted
        cid = self._stop_id(pos, pos.stop_seq)
        pos = replace(pos.unprotected(self._clock.now()), stop_seq=pos.stop_seq + 1)
        self._book.put(pos)  # the id is used up before the request: a retry takes the next
        order = stop_order(pos.symbol, cid, pos.amount, pos.stop_price, pos.bar_time)
        try:
            resumed = self._recorder.intent(order)
            send(self._gw, self._recorder, order, self._request(pos, cid, market),
                 resumed=resumed)
        except BotError as e:
            log.error("%s has NO stop on the exchange (%s): %s", pos.symbol, cid, e)
            return pos
        try:
            confirmed = self._gw.lookup(pos.symbol, cid)
        except BotError as e:  # placed, but not seen resting yet: the next check adopts it
            log.warning("stop %s of %s was placed but could not be read back (%s); checking "
                        "again", cid, pos.symbol, e)
            return pos
        if confirmed is None or status_of(confirmed) is not OrderStatus.OPEN:
            log.error("stop %s is not resting on the exchange: %s", cid,
                      None if confirmed is None else confirmed.get("status"))
            return pos
        return self._confirm(pos, cid, confirmed)

    def sync(self, symbol: str) -> list[Fill]:
        """Read the stop of ``symbol`` back: its fill if it filled; unprotected if it is gone."""
        pos = self._book.get(symbol)
        if pos is None or pos.stop is None:
            return []
        cid = pos.stop.client_id
        raw = self._gw.lookup(symbol, cid)
        status = OrderStatus.UNKNOWN if raw is None else status_of(raw)
        if status is OrderStatus.OPEN:
            return []
        if raw is not None and status is OrderStatus.FILLED:
            return self.filled(pos, cid, raw)
        if raw is not None and cid in self._recorder.unresolved():
            self._recorder.answered(cid, raw, "stop gone from the exchange")
        log.error("stop %s of %s is %s on the exchange", cid, symbol,
                  "missing" if raw is None else raw.get("status"))
        self._book.put(pos.unprotected(self._clock.now()))
        return []

    def filled(self, pos: LivePosition, cid: str, raw: dict[str, Any]) -> list[Fill]:
        """Record the stop ``cid`` of ``pos`` as filled: the position is closed."""
        order = stop_order(pos.symbol, cid, pos.amount, pos.stop_price, pos.bar_time)
        fees = self._recorder.fees_of(order, raw)  # a request: before the transaction
        with self._recorder.atomic():  # its status, its fill and the flat book: all or none
            self._recorder.answered(cid, raw)
            fill = self._recorder.fill(order, raw, fees=fees)
            self._book.remove(pos.symbol)
            self._book.mark_done(cid)
        log.warning("stop %s of %s filled", cid, pos.symbol)
        return [] if fill is None else [fill]

    def _confirm(self, pos: LivePosition, cid: str, raw: dict[str, Any]) -> LivePosition:
        stop = protective_stop(pos.symbol, cid, raw)
        pos = pos.protected(stop)
        self._book.put(pos)
        log.info("%s protected by %s at %s", pos.symbol, cid, stop.stop_price)
        return pos

    def _adopt_previous(self, pos: LivePosition) -> LivePosition | None:
        """A stop whose placement looked failed may rest on the exchange after all."""
        if pos.stop_seq == 0:
            return None
        cid = self._stop_id(pos, pos.stop_seq - 1)
        try:
            raw = self._gw.lookup(pos.symbol, cid)
        except BotError:
            return None
        if raw is None or status_of(raw) is not OrderStatus.OPEN:
            return None
        if cid in self._recorder.unresolved():
            self._recorder.answered(cid, raw, "found resting on the exchange")
        return self._confirm(pos, cid, raw)

    def _stop_id(self, pos: LivePosition, seq: int) -> str:
        return client_order_id(self._prefix, pos.symbol, pos.bar_time, OrderKind.STOP, seq)

    def _request(self, pos: LivePosition, cid: str, market: MarketRules) -> OrderRequest:
        params = {"stopLossPrice": str(pos.stop_price)}
        if self._style == "stop_loss":
            return OrderRequest(pos.symbol, "market", "sell", float(pos.amount), None, cid, params)
        limit = market.price(pos.stop_price * self._offset)
        return OrderRequest(pos.symbol, "limit", "sell", float(pos.amount), float(limit), cid,
                            params)
