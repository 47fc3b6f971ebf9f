"""In-memory OrderJournal and StateStore: what the SQLite journal does, for broker tests."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from core.domain import Fill, Order, OrderStatus, OrderUpdate


class DuplicateIntent(Exception):
    """An order intent was recorded twice under one client id."""


class MemoryJournal:
    """Append-only lists of intents, updates and fills; a repeated intent raises."""

    def __init__(self) -> None:
        self.intents: dict[str, Order] = {}
        self.updates: list[OrderUpdate] = []
        self.fills: list[Fill] = []
        self.events: list[tuple[str, str]] = []  # (what, client id) in call order

    def record_order_intent(self, order: Order, *, simulated: bool = False) -> None:
        """Record an order before its request; a repeated client id is an error."""
        if order.client_id in self.intents:
            raise DuplicateIntent(order.client_id)
        self.intents[order.client_id] = order
        self.events.append(("intent", order.client_id))

    def record_order_update(self, update: OrderUpdate) -> None:
        """Record a status change of a known order."""
        if update.client_id not in self.intents:
            raise KeyError(f"update for unknown order {update.client_id}")
        self.updates.append(update)
        self.events.append((str(update.status), update.client_id))

    def record_fill(self, fill: Fill) -> None:
        """Record one fill."""
        self.fills.append(fill)
        self.events.append(("fill", fill.client_id))

    def unresolved_orders(self) -> list[tuple[Order, OrderUpdate | None]]:
        """Orders whose latest status is not final, with that latest update."""
        out = []
        for cid, order in self.intents.items():
            latest = self.latest(cid)
            if latest is None or not latest.status.final:
                out.append((order, latest))
        return out

    def latest(self, client_id: str) -> OrderUpdate | None:
        """The newest update of an order (None: only its intent)."""
        found = [u for u in self.updates if u.client_id == client_id]
        return found[-1] if found else None

    def quote_flow(self, quote: str) -> Decimal:
        """Sales minus purchases minus fees paid in ``quote``."""
        from journal.trades import quote_flow

        return quote_flow(self.fills, quote)

    def order_status(self, client_id: str) -> OrderStatus | None:
        """The port's name for ``status``."""
        return self.status(client_id)

    def status(self, client_id: str) -> OrderStatus | None:
        """The newest status of an order (INTENT when it has no update yet)."""
        if client_id not in self.intents:
            return None
        latest = self.latest(client_id)
        return OrderStatus.INTENT if latest is None else latest.status


class MemoryState:
    """Named JSON states; values are stored as JSON text so non-JSON state fails loudly."""

    def __init__(self) -> None:
        self.saved: dict[str, str] = {}

    def save_state(self, key: str, state: Mapping[str, Any]) -> None:
        """Replace the state under ``key``."""
        self.saved[key] = json.dumps(state, sort_keys=True)

    def load_state(self, key: str) -> dict[str, Any] | None:
        """The state under ``key`` or None."""
        raw = self.saved.get(key)
        return None if raw is None else copy.deepcopy(json.loads(raw))
