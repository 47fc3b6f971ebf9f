"""What the kill switches mark on an exchange: the bot's own money, or the whole account's.

"bot" (the default): the quote the bot's account began with (fixed at its first start) plus
the cash flow of its own fills in the journal, its positions and its dust, at the given prices.
It asks the exchange nothing, and a manual trade in the same account changes none of it.
"account": every quote balance plus every traded base balance, read from the exchange.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from core.ports import OrderJournal
from execution.broker import Reconciliation, ReconciliationError
from execution.markets import MarketRules
from execution.positions import PositionBook
from execution.recording import decimal


def begin_quote(book: PositionBook, journal: OrderJournal, quotes: set[str],
                result: Reconciliation) -> None:
    """At the first start, fix what the bot's own account begins with in each quote."""
    for quote in quotes:
        if book.quote_start(quote) is None:
            total = decimal((result.balance.get(quote) or {}).get("total"))
            # A journal with fills already: the start is what makes today's total.
            book.set_quote_start(quote, total - journal.quote_flow(quote))


def bot_equity(book: PositionBook, journal: OrderJournal, quotes: set[str],
               prices: Mapping[str, float]) -> float:
    """The bot's quote, positions and dust at ``prices``."""
    total = sum(float(_quote_held(book, journal, q)) for q in quotes)
    for pos in book.all():
        if pos.symbol not in prices:
            raise ValueError(f"no price for {pos.symbol} to mark the position")
        total += float(pos.amount) * float(prices[pos.symbol])
    for symbol, dust in book.all_dust().items():  # ours too, below one lot
        if symbol in prices:
            total += float(dust) * float(prices[symbol])
    return total


def account_equity(balance: Mapping[str, Any], rules: Mapping[str, MarketRules],
                   prices: Mapping[str, float]) -> float:
    """Every quote balance plus every traded base balance at ``prices``."""
    quotes = {r.quote for r in rules.values()}
    total = sum(float((balance.get(q) or {}).get("total") or 0.0) for q in quotes)
    for symbol, market in rules.items():
        held = float((balance.get(market.base) or {}).get("total") or 0.0)
        if held and symbol not in prices:
            raise ValueError(f"no price for {symbol} to mark the account's {market.base}")
        total += held * float(prices.get(symbol, 0.0))
    return total


def _quote_held(book: PositionBook, journal: OrderJournal, quote: str) -> Decimal:
    start = book.quote_start(quote)
    if start is None:
        raise ReconciliationError(("not reconciled with the exchange yet: call start()",))
    return start + journal.quote_flow(quote)
