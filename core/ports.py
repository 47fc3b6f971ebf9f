"""Ports the layers talk through (STYLE.md, rule 3); adapters live in their layers.

``OrderJournal`` and ``StateStore`` are what execution needs from the journal: an order is
written before it is sent and can be found again after any failure; broker state (a paper
wallet, open stops) survives a restart. The SQLite journal implements both; tests may use an
in-memory fake.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Protocol

from core.domain import Fill, Order, OrderStatus, OrderUpdate


class OrderJournal(Protocol):
    """Append-only record of orders and fills."""

    def record_order_intent(self, order: Order, *, simulated: bool = False) -> None:
        """Record an order before its request is sent; a repeated client id is an error.

        ``simulated``: a paper order, which may commit with its fill in one transaction.
        """
        ...

    def record_order_update(self, update: OrderUpdate) -> None:
        """Record a status change of a known order."""
        ...

    def record_fill(self, fill: Fill) -> None:
        """Record one fill."""
        ...

    def unresolved_orders(self) -> list[tuple[Order, OrderUpdate | None]]:
        """Orders whose latest status is not final, with that latest update (None: intent)."""
        ...

    def quote_flow(self, quote: str) -> Decimal:
        """What the recorded fills moved in ``quote``: sales minus purchases minus fees paid
        in it (the bot's own cash flow; 0 before any fill)."""
        ...

    def order_status(self, client_id: str) -> OrderStatus | None:
        """The latest status of ``client_id`` (INTENT before any update; None if unknown)."""
        ...


class StateStore(Protocol):
    """Small named JSON-safe states (risk state, paper wallet, open stops)."""

    def save_state(self, key: str, state: Mapping[str, Any]) -> None:
        """Replace the state stored under ``key`` atomically."""
        ...

    def load_state(self, key: str) -> dict[str, Any] | None:
        """The state stored under ``key``, or None if none was saved."""
        ...
