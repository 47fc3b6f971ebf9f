"""Round trips and open positions from fills: exact Decimal sums, no floats, no guessing.

A trade opens at the first fill from flat and closes at the fill that brings the base position
back to flat (within ``dust``; a dust remainder carries into the next trade without its cost).
Its P&L is sell proceeds - buy costs - fees paid in the quote currency: the same formula for a
long and a short. A fill that would flip the position through zero is refused with a
JournalError: for an audit or tax export a wrong figure is worse than none.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from core.domain import Fill, Side
from journal.errors import JournalError
from journal.records import Position, Trade

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class FillLine:
    """A fill with the trade it belongs to and, on a trade's closing fill, that trade's P&L."""

    fill: Fill
    trade_number: int
    realised_pnl: Decimal | None
    quote: str


@dataclass(frozen=True, slots=True)
class Ledger:
    """Every trade in opening order (the last per symbol may be open) and every fill's line."""

    trades: list[Trade]
    lines: list[FillLine]
    positions: dict[str, Position]


@dataclass(slots=True)
class _Book:
    number: int
    symbol: str
    side: Side
    opened_at: datetime
    position: Decimal
    quote: str
    closed_at: datetime | None = None
    entry_base: Decimal = ZERO
    entry_quote: Decimal = ZERO
    exit_base: Decimal = ZERO
    exit_quote: Decimal = ZERO
    quote_fees: Decimal = ZERO
    base_fee_value: Decimal = ZERO
    other_fees: dict[str, Decimal] = field(default_factory=dict)
    client_ids: list[str] = field(default_factory=list)

    def pnl(self) -> Decimal:
        bought, sold = (
            (self.entry_quote, self.exit_quote)
            if self.side is Side.BUY
            else (self.exit_quote, self.entry_quote)
        )
        return sold - bought - self.quote_fees

    def to_trade(self) -> Trade:
        closed = self.closed_at is not None
        return Trade(
            number=self.number,
            symbol=self.symbol,
            side=self.side,
            opened_at=self.opened_at,
            closed_at=self.closed_at,
            amount=self.entry_base,
            entry_price=self.entry_quote / self.entry_base,
            exit_price=self.exit_quote / self.exit_base if self.exit_base else None,
            fees=self.quote_fees + self.base_fee_value,
            other_fees=tuple(sorted(self.other_fees.items())),
            pnl=self.pnl() if closed else None,
            quote=self.quote,
            client_ids=tuple(self.client_ids),
        )


def split_symbol(symbol: str) -> tuple[str, str]:
    """Base and quote assets of a ccxt symbol (``BTC/USDT``, ``BTC/USDT:USDT``)."""
    base, slash, rest = symbol.partition("/")
    quote = rest.split(":", 1)[0]
    if not slash or not base or not quote:
        raise JournalError(f"fill symbol {symbol!r} is not BASE/QUOTE; cannot account for it")
    return base, quote


def build_ledger(fills: Iterable[Fill], *, dust: Decimal | Mapping[str, Decimal] = ZERO) -> Ledger:
    """Trades, per-fill lines and open positions from fills in the order they happened.

    ``dust``: what may remain of a closed trade, one bound or one per symbol (the market's
    lot step or minimum amount: below it nothing can be sold).
    """
    bounds: Mapping[str, Decimal] = dust if isinstance(dust, Mapping) else {}
    default = ZERO if isinstance(dust, Mapping) else dust
    open_books: dict[str, _Book] = {}
    carried: dict[str, Decimal] = {}
    books: list[_Book] = []
    lines: list[FillLine] = []
    for fill in fills:
        book = open_books.get(fill.symbol)
        if book is None:
            book = _open_book(fill, len(books) + 1, carried.get(fill.symbol, ZERO))
            open_books[fill.symbol] = book
            books.append(book)
        closes = _apply(book, fill, bounds.get(fill.symbol, default))
        lines.append(FillLine(fill, book.number, book.pnl() if closes else None, book.quote))
        if closes:
            book.closed_at = fill.at
            carried[fill.symbol] = book.position
            del open_books[fill.symbol]
    positions = {
        symbol: Position(
            symbol, book.position, book.entry_quote / book.entry_base, book.opened_at
        )
        for symbol, book in open_books.items()
    }
    return Ledger([b.to_trade() for b in books], lines, positions)


def _open_book(fill: Fill, number: int, carried: Decimal) -> _Book:
    _, quote = split_symbol(fill.symbol)
    return _Book(number, fill.symbol, fill.side, fill.at, carried, quote)


def _apply(book: _Book, fill: Fill, dust: Decimal) -> bool:
    """Add one fill to its open trade; True when it brings the position back to flat."""
    base, quote = split_symbol(fill.symbol)
    if fill.amount <= 0 or fill.price <= 0 or fill.fee < 0:
        raise JournalError(f"fill of {fill.client_id!r} has a non-positive amount or price")
    sign = 1 if fill.side is Side.BUY else -1
    delta = sign * fill.amount - (fill.fee if fill.fee_asset == base else ZERO)
    book.position += delta
    direction = 1 if book.side is Side.BUY else -1
    if direction * book.position < -dust:
        raise JournalError(
            f"fill of {fill.client_id!r} at {fill.at.isoformat()} takes {fill.symbol} through "
            f"zero to {book.position}; the fills in the journal do not add up"
        )
    notional = fill.amount * fill.price
    entering = fill.side is book.side
    if entering:
        book.entry_base += fill.amount
        book.entry_quote += notional
    else:
        book.exit_base += fill.amount
        book.exit_quote += notional
    _add_fee(book, fill, base, quote)
    if fill.client_id not in book.client_ids:
        book.client_ids.append(fill.client_id)
    return not entering and abs(book.position) <= dust


def _add_fee(book: _Book, fill: Fill, base: str, quote: str) -> None:
    if fill.fee_asset == quote:
        book.quote_fees += fill.fee
    elif fill.fee_asset == base:
        book.base_fee_value += fill.fee * fill.price
    elif fill.fee:
        book.other_fees[fill.fee_asset] = book.other_fees.get(fill.fee_asset, ZERO) + fill.fee


def quote_flow(fills: Iterable[Fill], quote: str) -> Decimal:
    """Sales minus purchases minus fees paid in ``quote``, over the fills of ``*/quote``."""
    total = ZERO
    for fill in fills:
        if split_symbol(fill.symbol)[1] != quote:
            continue
        notional = fill.amount * fill.price
        total += notional if fill.side is Side.SELL else -notional
        if fill.fee_asset == quote:
            total -= fill.fee
    return total
