"""The live broker's own record of its positions and stops, kept in the StateStore.

This is what the bot believes it holds; reconciliation compares it with the exchange at start.
Amounts and prices are exact Decimals, stored as strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from core.ports import StateStore
from execution.broker import Position, ProtectiveStop

_MAX_DONE = 1000  # client ids remembered as executed (a restart replays at most a few bars)


@dataclass(frozen=True, slots=True)
class LivePosition:
    """A long position on the exchange and its protection.

    Attributes:
        symbol: market symbol.
        amount: base quantity the bot holds (entry fill net of fees charged in the base).
        entry_price: average entry fill price.
        entry_client_id: the entry order's client id.
        bar_time: the entry decision's bar; stop and watchdog-exit ids derive from it.
        stop_price: the protective stop's trigger (risk.rules.stop_price_long of the fill).
        stop: the protective stop confirmed on the exchange, None while unprotected.
        unprotected_since: when the position lost (or never had) its stop; None if protected.
        stop_seq: sequence number of the next stop placed (a new client id each time).
    """

    symbol: str
    amount: Decimal
    entry_price: Decimal
    entry_client_id: str
    bar_time: datetime
    stop_price: Decimal
    stop: ProtectiveStop | None = None
    unprotected_since: datetime | None = None
    stop_seq: int = 0

    def protected(self, stop: ProtectiveStop) -> LivePosition:
        """This position with ``stop`` confirmed on the exchange."""
        return replace(self, stop=stop, unprotected_since=None)

    def unprotected(self, since: datetime) -> LivePosition:
        """This position without a stop since ``since`` (kept if already unprotected)."""
        return replace(self, stop=None, unprotected_since=self.unprotected_since or since)

    def view(self) -> Position:
        """The port's Position value."""
        return Position(self.symbol, self.amount, self.entry_price, self.stop)

    def to_json(self) -> dict[str, Any]:
        """JSON-safe form."""
        stop = self.stop
        return {
            "symbol": self.symbol, "amount": str(self.amount),
            "entry_price": str(self.entry_price), "entry_client_id": self.entry_client_id,
            "bar_time": self.bar_time.isoformat(), "stop_seq": self.stop_seq,
            "stop_price": str(self.stop_price),
            "unprotected_since": (self.unprotected_since.isoformat()
                                  if self.unprotected_since else None),
            "stop": None if stop is None else {
                "client_id": stop.client_id, "amount": str(stop.amount),
                "stop_price": str(stop.stop_price), "exchange_id": stop.exchange_id,
                "limit_price": None if stop.limit_price is None else str(stop.limit_price),
            },
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> LivePosition:
        """Inverse of ``to_json``."""
        s = raw.get("stop")
        stop = None if s is None else ProtectiveStop(
            s["client_id"], raw["symbol"], Decimal(s["amount"]), Decimal(s["stop_price"]),
            None if s["limit_price"] is None else Decimal(s["limit_price"]), s["exchange_id"])
        since = raw.get("unprotected_since")
        return cls(
            raw["symbol"], Decimal(raw["amount"]), Decimal(raw["entry_price"]),
            raw["entry_client_id"], datetime.fromisoformat(raw["bar_time"]),
            Decimal(raw["stop_price"]), stop,
            None if since is None else datetime.fromisoformat(since), int(raw["stop_seq"]))


class PositionBook:
    """Positions by symbol, dust by symbol and executed client ids, saved on every change.

    Dust is base the bot holds below the market's lot step (what a fee in the base or a
    rounding left after a buy or a sale): not a position, no stop, but the bot's own money,
    counted in its equity and sold with the next exit once it adds up to a lot.
    """

    def __init__(self, store: StateStore, key: str) -> None:
        self._store, self._key = store, key
        self.reload()

    def reload(self) -> None:
        """Take positions and executed ids as the store has them (memory is discarded)."""
        raw = self._store.load_state(self._key) or {}
        self._positions = {s: LivePosition.from_json(p)
                           for s, p in raw.get("positions", {}).items()}
        self._dust = {s: Decimal(d) for s, d in raw.get("dust", {}).items()}
        self._quote_start = {q: Decimal(v) for q, v in raw.get("quote_start", {}).items()}
        self._done: list[str] = list(raw.get("done", []))

    def get(self, symbol: str) -> LivePosition | None:
        """The position in ``symbol``, if any."""
        return self._positions.get(symbol)

    def all(self) -> list[LivePosition]:
        """Every recorded position."""
        return list(self._positions.values())

    def put(self, position: LivePosition) -> None:
        """Record (or replace) a position and save."""
        self._positions[position.symbol] = position
        self._save()

    def remove(self, symbol: str) -> None:
        """Forget the position in ``symbol`` and save."""
        self._positions.pop(symbol, None)
        self._save()

    def dust(self, symbol: str) -> Decimal:
        """The bot's base below one lot in ``symbol`` (0 when none)."""
        return self._dust.get(symbol, Decimal(0))

    def all_dust(self) -> dict[str, Decimal]:
        """Dust by symbol."""
        return dict(self._dust)

    def set_dust(self, symbol: str, amount: Decimal) -> None:
        """Record the dust of ``symbol`` and save."""
        if amount > 0:
            self._dust[symbol] = amount
        else:
            self._dust.pop(symbol, None)
        self._save()

    def quote_start(self, quote: str) -> Decimal | None:
        """The ``quote`` the bot's own account began with (None until ``start`` set it)."""
        return self._quote_start.get(quote)

    def set_quote_start(self, quote: str, amount: Decimal) -> None:
        """Record what the bot's account began with in ``quote`` and save."""
        self._quote_start[quote] = amount
        self._save()

    def is_done(self, client_id: str) -> bool:
        """True if the order with ``client_id`` was already executed."""
        return client_id in self._done

    def mark_done(self, client_id: str) -> None:
        """Remember ``client_id`` as executed and save."""
        if client_id not in self._done:
            self._done = [*self._done, client_id][-_MAX_DONE:]
        self._save()

    def _save(self) -> None:
        self._store.save_state(self._key, {
            "version": 1,
            "positions": {s: p.to_json() for s, p in self._positions.items()},
            "dust": {s: str(d) for s, d in self._dust.items()},
            "quote_start": {q: str(v) for q, v in self._quote_start.items()},
            "done": list(self._done),
        })
