"""The Broker port and the values it answers with: positions, protective stops, alerts.

Two adapters implement it: PaperBroker (a simulated spot wallet, the default) and CcxtBroker
(a real exchange, testnet or live). The trading loop talks only to this port, in this order
for every closed bar of a symbol: ``submit`` what the previous close decided (paper fills it at
this bar's open), then ``on_bar`` (paper: the protective stop, live from the fill bar on;
ccxt: stop fills and the protection watchdog), then ``equity`` at the close.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol

from core.domain import Bar, Fill, Order
from core.errors import BotError


@dataclass(frozen=True, slots=True)
class ProtectiveStop:
    """A stop-loss order that protects a long position.

    Attributes:
        client_id: the stop order's client id.
        symbol: market symbol.
        amount: base quantity it sells.
        stop_price: trigger price.
        limit_price: limit of a stop-limit order (None for a stop-market or a paper stop).
        exchange_id: the exchange's order id ("" for paper).
    """

    client_id: str
    symbol: str
    amount: Decimal
    stop_price: Decimal
    limit_price: Decimal | None = None
    exchange_id: str = ""


@dataclass(frozen=True, slots=True)
class Position:
    """What the broker holds in one market (spot: long or flat, never short).

    Attributes:
        symbol: market symbol.
        amount: base quantity held by the bot (0 when flat).
        entry_price: average entry fill price, None when flat.
        stop: the protective stop, None when flat or (briefly, live) unprotected.
    """

    symbol: str
    amount: Decimal = Decimal(0)
    entry_price: Decimal | None = None
    stop: ProtectiveStop | None = None

    @property
    def is_open(self) -> bool:
        """True while something is held."""
        return self.amount > 0


class AlertKind(StrEnum):
    """What a broker alert is about (the same words as the loop's alert kinds)."""

    UNPROTECTED_POSITION = "unprotected_position"
    ORDER_FAILURE = "order_failure"
    BREAKER_OPEN = "breaker_open"


@dataclass(frozen=True, slots=True)
class BrokerAlert:
    """An event the operator must hear about; the loop routes it to Telegram.

    Attributes:
        kind: what it is about.
        symbol: market symbol ("" when it concerns the whole exchange).
        text: one line for a human, no secrets.
        at: when it happened (UTC).
    """

    kind: AlertKind
    symbol: str
    text: str
    at: datetime


class Broker(Protocol):
    """Port: turns decided orders into fills and keeps every open position protected."""

    def equity(self, prices: Mapping[str, float]) -> float:
        """Quote cash plus every held position marked at ``prices`` (symbol -> price)."""
        ...

    def position(self, symbol: str) -> Position:
        """The bot's position in ``symbol`` (amount 0 when flat)."""
        ...

    def submit(
        self, order: Order, *, price: float | None = None, at: datetime | None = None
    ) -> list[Fill]:
        """Execute an entry (buy, quote-sized) or exit (sell what is held); returns its fills.

        ``price`` is the price the order fills at in simulation (the next bar's open) and only
        a reference for pre-checks on an exchange; ``at`` stamps simulated fills. An entry
        also places the protective stop; an exit cancels it first.
        """
        ...

    def cancel_all(self, symbol: str) -> int:
        """Cancel the bot's open orders in ``symbol`` (stops included); returns how many."""
        ...

    def open_stops(self, symbol: str) -> list[ProtectiveStop]:
        """The protective stops the bot has working in ``symbol``."""
        ...

    def on_bar(self, bar: Bar) -> list[Fill]:
        """Advance to a closed bar: fills of stops it triggered (paper) or that filled."""
        ...

    def reload(self) -> None:
        """Discard what is in memory and take the broker's state as the journal has it.

        The loop calls it after a bar whose transaction rolled back (a failed write), so that
        memory never runs ahead of what is on disk.
        """
        ...

    def guard(self) -> list[Fill]:
        """Between bars, on its own timer: every position's stop read back, a missing one
        placed again at once, one missing for too long alerted and sold; returns the fills
        this found or made (paper: nothing, its stops are simulated on the bars)."""
        ...


class ReconciliationError(BotError):
    """The bot's records and the broker disagree: it must not trade until an operator looks."""

    def __init__(self, differences: tuple[str, ...]) -> None:
        super().__init__("refusing to trade, records and broker differ: " + "; ".join(differences))
        self.differences = differences


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """Outcome of comparing the bot's records with the broker at start.

    Attributes:
        differences: what disagrees, one sentence each; any of them blocks trading.
        notes: what was found and settled (e.g. a stop that filled while the bot was away),
            and what is in the account that the bot did not make (listed, left alone).
        balance: the account's balances as read during the comparison (ccxt structure).
    """

    differences: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    balance: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when nothing disagrees."""
        return not self.differences

    def raise_if_mismatch(self) -> None:
        """Raise ReconciliationError listing every difference, if there is any."""
        if self.differences:
            raise ReconciliationError(self.differences)
