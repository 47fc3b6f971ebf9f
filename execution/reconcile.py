"""Start-up reconciliation: the journal's orders and positions against the exchange.

Every symbol of the run is covered: its open orders, its balance, its position and stop.
Settled without fuss (a note each): an order the journal left unresolved that the exchange
never accepted (marked rejected), or did accept (its status recorded; a filled entry becomes a
position, which the watchdog then protects; a filled exit ends one), and a stop that filled
while the bot was away. Anything else that disagrees is a difference, and one difference is
enough to refuse trading until an operator has looked: a recorded position the exchange does
not hold, a recorded stop that is not resting there, an open order of ours nobody recorded,
a position or an unresolved order of a symbol the run does not trade.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from core.domain import Order, OrderKind, OrderStatus
from execution.broker import Reconciliation
from execution.client_ids import is_ours
from execution.gateway import ExchangeGateway
from execution.markets import MarketRules
from execution.positions import LivePosition, PositionBook
from execution.recording import (
    OrderRecorder,
    decimal,
    held_after,
    protective_stop,
    status_of,
    stop_order,
)
from risk import rules as risk_rules


def account_holds(market: MarketRules, balance: dict[str, Any]) -> Decimal:
    """The account's total of ``market``'s base asset."""
    return decimal((balance.get(market.base) or {}).get("total"))


def held_short(pos: LivePosition, market: MarketRules, balance: dict[str, Any]) -> Decimal:
    """How much of ``pos`` the account no longer holds (0 when it holds it, within a lot)."""
    held = account_holds(market, balance)
    return Decimal(0) if held + (market.min_amount or Decimal(0)) >= pos.amount else (
        pos.amount - held)


def way_forward(market: MarketRules, short: Decimal) -> str:
    """How an operator goes on after coins were sold or moved outside the bot."""
    return (f"sold outside the bot? to go on, buy back {short} {market.base} on the exchange, "
            "or move this journal away to start a new account")


class _Findings:
    def __init__(self) -> None:
        self.differences: list[str] = []
        self.notes: list[str] = []


def reconcile(
    gw: ExchangeGateway,
    book: PositionBook,
    recorder: OrderRecorder,
    *,
    rules: dict[str, MarketRules],
    prefix: str,
) -> Reconciliation:
    """Compare and settle what can be settled; the differences that remain block trading."""
    found = _Findings()
    _outside_the_run(book, recorder, rules, prefix, found)
    _settle_unresolved(gw, book, recorder, rules, prefix, found)
    ex = gw.exchange
    balance = gw.call("fetch balance", ex.fetch_balance)
    every_open = {s: gw.call("fetch open orders", ex.fetch_open_orders, s) for s in rules}
    open_orders = {s: [o for o in orders if is_ours(str(o.get("clientOrderId")), prefix)]
                   for s, orders in every_open.items()}
    for pos in book.all():
        if pos.symbol in rules:
            _check_position(gw, book, recorder, pos, rules[pos.symbol], balance,
                            open_orders[pos.symbol], found)
    stops = {p.stop.client_id for p in book.all() if p.stop is not None}
    for symbol, orders in open_orders.items():
        for o in orders:
            if o.get("clientOrderId") not in stops:
                found.differences.append(
                    f"the exchange has open order {o.get('clientOrderId')} ({o.get('type')} "
                    f"{o.get('side')} {o.get('amount')} {rules[symbol].base}) that the journal "
                    "does not know; cancel it on the exchange if it is not yours to keep")
    _name_outside(book, rules, balance, every_open, prefix, found)
    return Reconciliation(tuple(found.differences), tuple(found.notes), balance)


def _outside_the_run(book: PositionBook, recorder: OrderRecorder, rules: dict[str, MarketRules],
                     prefix: str, found: _Findings) -> None:
    """A position or an unresolved order of a market this run does not trade: the bot could
    neither protect, exit nor settle it, so it is a difference until that market is back."""
    held = {p.symbol: f"holds {p.amount} with stop {p.stop.client_id if p.stop else 'none'}"
            for p in book.all() if p.symbol not in rules}
    for cid, (order, _) in recorder.unresolved().items():
        if is_ours(cid, prefix) and order.symbol not in rules:
            held.setdefault(order.symbol, f"has order {cid} unresolved")
    for symbol, what in held.items():
        found.differences.append(f"the journal {what} in {symbol}, which this run does not "
                                 f"trade; start the bot with {symbol} among its symbols")


def _name_outside(book: PositionBook, rules: dict[str, MarketRules], balance: dict[str, Any],
                  every_open: dict[str, list[dict[str, Any]]], prefix: str,
                  found: _Findings) -> None:
    """List what is in the account that the bot did not make: balances beyond its own
    holdings and other tools' open orders. Left alone, never counted as the bot's."""
    for symbol, market in rules.items():
        pos = book.get(symbol)
        ours = (pos.amount if pos is not None else Decimal(0)) + book.dust(symbol)
        held = account_holds(market, balance)
        if held > ours:
            found.notes.append(f"not the bot's: {held - ours} {market.base} in the account "
                               f"(the bot holds {ours}); left alone")
        others = [o for o in every_open[symbol]
                  if not is_ours(str(o.get("clientOrderId")), prefix)]
        for o in others:
            found.notes.append(f"not the bot's: open order {o.get('id')} ({o.get('type')} "
                               f"{o.get('side')} {o.get('amount')} {market.base}); left alone")


def _settle_unresolved(gw: ExchangeGateway, book: PositionBook, recorder: OrderRecorder,
                       rules: dict[str, MarketRules], prefix: str,
                       found: _Findings) -> None:
    stops = {p.stop.client_id for p in book.all() if p.stop is not None}
    for cid, (order, _) in recorder.unresolved().items():
        if not is_ours(cid, prefix) or order.symbol not in rules or cid in stops:
            continue  # recorded stops are checked with their positions
        raw = gw.lookup(order.symbol, cid)
        if raw is None:
            # intent -> canceled: it was never sent (or never accepted). A decision still
            # pending in the loop sends it again under the next retry id of the same intent.
            recorder.update(cid, OrderStatus.CANCELED, "not on the exchange at start: never "
                            "sent")
            found.notes.append(f"order {cid} never reached the exchange; canceled")
            continue
        fees = recorder.fees_of(order, raw)  # requests before the transaction, none inside
        with recorder.atomic():  # its status, its fill and the position: all or none
            status = recorder.answered(cid, raw, "settled at start")
            if status is OrderStatus.FILLED:
                _settle_filled(book, recorder, order, raw, rules[order.symbol], fees, found)
        if status is OrderStatus.FILLED:
            continue
        if status is OrderStatus.OPEN and order.kind is not OrderKind.STOP:
            found.differences.append(f"{order.kind} order {cid} is still open on the exchange")
        elif status is OrderStatus.OPEN:
            _adopt_stop(book, order, raw, found)


def _adopt_stop(book: PositionBook, order: Order, raw: dict[str, Any], found: _Findings
                ) -> None:
    pos = book.get(order.symbol)
    if pos is None or pos.stop is not None:
        return  # an open stop of no position: reported with the unknown open orders
    book.put(pos.protected(protective_stop(order.symbol, order.client_id, raw)))
    found.notes.append(f"stop {order.client_id} rests on the exchange; it protects "
                       f"{order.symbol} again")


def _settle_filled(book: PositionBook, recorder: OrderRecorder, order: Order,
                   raw: dict[str, Any], market: MarketRules, fees: list[dict[str, Any]],
                   found: _Findings) -> None:
    fill = recorder.fill(order, raw, fees=fees)
    pos = book.get(order.symbol)
    if order.kind is OrderKind.ENTRY and pos is None and fill is not None:
        bought = held_after(fill, market.base)
        held = market.amount(bought)
        book.set_dust(order.symbol, book.dust(order.symbol) + bought - held)
        stop = market.price(risk_rules.stop_price_long(float(fill.price),
                                                       float(order.stop_loss_pct)))
        book.put(LivePosition(order.symbol, held, fill.price, order.client_id,
                              order.bar_time or fill.at, stop, unprotected_since=fill.at))
        book.mark_done(order.client_id)
        found.notes.append(f"entry {order.client_id} had filled ({held} {market.base}); "
                           "recorded as a position, its stop is placed next")
    elif order.kind in (OrderKind.EXIT, OrderKind.STOP) and pos is not None:
        book.remove(order.symbol)
        book.mark_done(order.client_id)
        found.notes.append(f"{order.kind} {order.client_id} had filled; {order.symbol} is flat")
    elif fill is not None:
        found.differences.append(
            f"{order.kind} {order.client_id} filled on the exchange ({fill.amount} "
            f"{market.base} at {fill.price}) but the recorded position does not match it")


def _check_position(gw: ExchangeGateway, book: PositionBook, recorder: OrderRecorder,
                    pos: LivePosition, market: MarketRules, balance: dict[str, Any],
                    open_orders: list[dict[str, Any]], found: _Findings) -> None:
    stop_id = pos.stop.client_id if pos.stop is not None else None
    if stop_id is not None and all(o.get("clientOrderId") != stop_id for o in open_orders):
        raw = gw.lookup(pos.symbol, stop_id)
        if raw is not None and status_of(raw) is OrderStatus.FILLED:
            order = stop_order(pos.symbol, stop_id, pos.amount, pos.stop_price, pos.bar_time)
            fees = recorder.fees_of(order, raw)
            with recorder.atomic():
                recorder.answered(stop_id, raw, "filled while the bot was away")
                recorder.fill(order, raw, fees=fees)
                book.remove(pos.symbol)
                book.mark_done(stop_id)
            found.notes.append(f"stop {stop_id} filled while the bot was away; "
                               f"{pos.symbol} is flat")
            return
        state = "not at all" if raw is None else f"as {raw.get('status')}"
        if not held_short(pos, market, balance):
            # The coins are there, only the stop is gone (cancelled outside the bot, or by
            # an exit the bot was killed in the middle of): protect it again, right away.
            if raw is not None and stop_id in recorder.unresolved():
                recorder.answered(stop_id, raw, "gone from the exchange at start")
            book.put(pos.unprotected(recorder.now()))
            found.notes.append(f"stop {stop_id} of {pos.amount} {market.base} is on the "
                               f"exchange {state}; a new stop is placed at once")
            return
        found.differences.append(f"journal says stop {stop_id} protects {pos.amount} "
                                 f"{market.base}; the exchange has it {state}")
    short = held_short(pos, market, balance)
    if short:
        ours = ", ".join(str(o.get("clientOrderId")) for o in open_orders)
        found.differences.append(
            f"journal says {pos.amount} {market.base} held with stop {stop_id or 'none'}; "
            f"the exchange holds {account_holds(market, balance)} {market.base} and "
            + (f"open orders of the bot {ours}" if ours else "no open order of the bot")
            + f" ({way_forward(market, short)})")
