"""Typed rows the journal takes and gives back, and the names of the saved states."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final

from core.domain import Side
from journal.codec import Money

if TYPE_CHECKING:  # signals pulls in pandas and numba: too slow for an operator's `status`
    from signals.scorer import Score

# Keys of the StateStore that the loop, the brokers and the operator commands share.
RISK_STATE_KEY: Final = "risk"
PAPER_WALLET_KEY: Final = "paper_wallet"
OPEN_STOPS_KEY: Final = "open_stops"
TOTAL: Final = "*"  # the equity row of the whole account rather than one symbol


def last_bar_key(symbol: str) -> str:
    """StateStore key of the last bar the loop finished for ``symbol``."""
    return f"last_bar:{symbol}"


class RunMode(StrEnum):
    """Where bars come from and who fills."""

    PAPER = "paper"
    TESTNET = "testnet"
    LIVE = "live"
    REPLAY = "replay"


class Action(StrEnum):
    """What a decision meant for the position."""

    ENTER = "enter"
    EXIT = "exit"
    HOLD = "hold"
    NONE = "none"


class Actor(StrEnum):
    """Who caused a halt row."""

    BOT = "bot"
    OPERATOR = "operator"


class HaltEventKind(StrEnum):
    """Kinds of halt rows: the risk layer's RiskEventKind values plus the operator's."""

    DAILY_PAUSE = "daily_pause"
    DAILY_CLEAR = "daily_clear"
    DRAWDOWN_LATCH = "drawdown_latch"
    RESUME = "resume"
    COOLDOWN_START = "cooldown_start"
    COOLDOWN_CLEAR = "cooldown_clear"
    MANUAL_HALT = "manual_halt"
    MANUAL_RESUME = "manual_resume"  # lifts a manual halt and a manual pause alike
    MANUAL_PAUSE = "manual_pause"
    OVERRIDE = "override"  # e.g. the promotion gate skipped with an explicit flag


class CommandKind(StrEnum):
    """What an operator asks the running loop to do."""

    PAUSE = "pause"  # no new entries; positions keep their stops and exits
    HALT = "halt"  # no entries, and positions closed (flatten_on_halt)
    RESUME = "resume"  # lifts a pause, a manual halt and a latched drawdown
    FLATTEN = "flatten"  # close now (one symbol or all); entries stay allowed


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """One decision of the loop for one closed bar of one symbol.

    Attributes:
        symbol: market symbol.
        bar_time: the closed bar decided on (UTC).
        signal: the quant signal of that bar: 1, 0 or -1.
        action: what it meant for the position.
        reason: the risk layer's approval or rejection reason, verbatim.
        score: the scorer's answer when one was asked (entries only).
        approved: whether risk approved an entry; None when nothing was asked.
        size_fraction: fraction of equity committed.
        notional: quote amount committed.
        numbers: the strategy's named numbers of the bar (label, value; NaN when undefined).
    """

    symbol: str
    bar_time: datetime
    signal: int
    action: Action
    reason: str
    score: Score | None = None
    approved: bool | None = None
    size_fraction: float | None = None
    notional: Money | None = None
    numbers: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True, slots=True)
class EquitySnapshot:
    """Marked equity of the account (``symbol`` = TOTAL) or of one symbol's book.

    Attributes:
        at: when it was marked (UTC).
        equity: marked equity in the quote currency.
        symbol: a market symbol or TOTAL.
        bar_time: the bar whose close marked it.
        cash: quote balance.
        position_value: position x close.
        peak: peak equity of the kill switch.
        drawdown: fall from the peak as a fraction (0.16 = 16%).
        daily_pnl: equity minus the UTC day's start equity.
    """

    at: datetime
    equity: Money
    symbol: str = TOTAL
    bar_time: datetime | None = None
    cash: Money | None = None
    position_value: Money | None = None
    peak: Money | None = None
    drawdown: float | None = None
    daily_pnl: Money | None = None


@dataclass(frozen=True, slots=True)
class RunRow:
    """A recorded run."""

    id: int
    started_at: datetime
    mode: RunMode
    strategy_id: str
    code_version: str
    config: dict[str, Any]


@dataclass(frozen=True, slots=True)
class DecisionRow:
    """A recorded decision, score fields flattened (None where no score was asked)."""

    id: int
    run_id: int
    recorded_at: datetime
    symbol: str
    bar_time: datetime
    signal: int
    action: Action
    conviction: float | None
    suppress: bool | None
    score_source: str | None
    fallback_reason: str
    reasoning: str
    approved: bool | None
    reason: str
    size_fraction: float | None
    notional: Decimal | None
    numbers: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True, slots=True)
class EquityRow:
    """A recorded equity snapshot with exact amounts."""

    id: int
    at: datetime
    bar_time: datetime | None
    symbol: str
    equity: Decimal
    cash: Decimal | None
    position_value: Decimal | None
    peak: Decimal | None
    drawdown: float | None
    daily_pnl: Decimal | None


@dataclass(frozen=True, slots=True)
class HaltRow:
    """A recorded halt, resume or override."""

    id: int
    at: datetime
    kind: HaltEventKind
    reason: str
    equity: Decimal | None
    peak: Decimal | None
    actor: Actor


@dataclass(frozen=True, slots=True)
class RefusalRow:
    """A market a run was started with but may not enter (e.g. its live promotion gate
    failed), and why; its positions, stops and exits are still managed."""

    id: int
    run_id: int
    at: datetime
    symbol: str
    reason: str


@dataclass(frozen=True, slots=True)
class Command:
    """An operator command waiting for (or consumed by) the running loop."""

    id: int
    posted_at: datetime
    kind: CommandKind
    reason: str
    actor: str  # who posted it: "cli", "telegram:<user id>", "web:<token name>"
    acked_at: datetime | None = None
    result: str = ""
    symbol: str | None = None  # flatten only: the one market to close (None: all)


@dataclass(frozen=True, slots=True)
class AccessDenial:
    """A request refused before it reached the queue: a stranger on Telegram, say."""

    id: int
    at: datetime
    channel: str  # "telegram", "web"
    who: str  # the chat or user id, or the client address; never a token
    what: str  # what was asked, cut short


@dataclass(frozen=True, slots=True)
class HaltInForce:
    """A kill switch that blocks entries now: which, why, and since when (if journaled)."""

    kind: str
    reason: str
    since: datetime | None


@dataclass(frozen=True, slots=True)
class Trade:
    """A round trip from flat to flat in one symbol, from its fills.

    ``pnl`` is exact: sell proceeds - buy costs - fees paid in the quote currency. Fees paid in
    the base asset are already in it (they shrink what can be sold); ``fees`` adds them at their
    fill price for display. Fees in a third asset (``other_fees``) are not in ``pnl``.
    """

    number: int
    symbol: str
    side: Side  # buy: a long; sell: a short
    opened_at: datetime
    closed_at: datetime | None
    amount: Decimal
    entry_price: Decimal
    exit_price: Decimal | None
    fees: Decimal
    other_fees: tuple[tuple[str, Decimal], ...]
    pnl: Decimal | None
    quote: str
    client_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Position:
    """The open part of a symbol's book: net base amount and its average entry price."""

    symbol: str
    amount: Decimal
    entry_price: Decimal
    opened_at: datetime
