"""The loop's own bookkeeping, saved in the journal so that a restart continues the same run.

What is kept: orders decided but not yet executed (paper fills them at the next open; live
sends them right after the bar commits), the entry fill of each open position (for the closed
trade's P&L), the fill cursor (the last journaled fill already accounted), the last bar
processed per symbol, the sizing accumulators, and the operator's manual halt and pause.

Operator commands (``apply_command``) change this book and the journal in the caller's batch:
the effect, its halt row and the ack commit together or not at all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import pandas as pd

from core.clock import Clock
from core.domain import Fill, Order, OrderKind, Side
from execution.broker import Broker
from journal import Journal
from journal.records import (
    RISK_STATE_KEY,
    Action,
    Actor,
    Command,
    CommandKind,
    DecisionRecord,
    EquitySnapshot,
    HaltEventKind,
    last_bar_key,
)
from risk.manager import RiskManager
from trading.decide import Decision
from trading.sizing import RollingKelly, SizingSource

PENDING_KEY = "loop:pending"
ENTRIES_KEY = "loop:entries"
SIZING_KEY = "loop:sizing"
FILLS_KEY = "loop:fills"
# Closed bars fetched beyond the signal warm-up, so a short downtime is caught up bar by bar.
CATCH_UP_BARS = 24


@dataclass
class LoopBook:
    """Mutable loop state; ``save`` writes it inside the bar's journal transaction."""

    pending: dict[str, Order] = field(default_factory=dict)
    entries: dict[str, Fill] = field(default_factory=dict)
    last_bar: dict[str, pd.Timestamp] = field(default_factory=dict)
    last_close: dict[str, float] = field(default_factory=dict)
    manual_halt: str = ""
    manual_pause: str = ""  # the operator's pause reason: no new entries, exits go on
    fill_cursor: int = 0
    # What save() last wrote per key, so a bar that changed nothing skips the key. A bar that
    # rolls back reloads the whole book from the journal, which starts this empty again.
    _written: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False, compare=False)
    _objects: dict[str, dict[str, Order | Fill]] = field(
        default_factory=dict, repr=False, compare=False
    )

    @classmethod
    def load(cls, journal: Journal, symbols: tuple[str, ...]) -> LoopBook:
        """The book as the last finished bar left it (empty for a new run)."""
        book = cls()
        for symbol, raw in (journal.load_state(PENDING_KEY) or {}).items():
            book.pending[symbol] = _order_from(raw)
        for symbol, raw in (journal.load_state(ENTRIES_KEY) or {}).items():
            book.entries[symbol] = _fill_from(raw)
        for symbol in symbols:
            saved = journal.load_state(last_bar_key(symbol))
            if saved is not None:
                book.last_bar[symbol] = pd.Timestamp(saved["time"])
        halt = journal.manual_halt()
        book.manual_halt = halt.reason if halt is not None else ""
        pause = journal.manual_pause()
        book.manual_pause = pause.reason if pause is not None else ""
        cursor = journal.load_state(FILLS_KEY)
        # A journal written before the cursor existed had accounted every fill it holds.
        book.fill_cursor = int(cursor["last_id"]) if cursor else journal.last_fill_id()
        return book

    def save(self, journal: Journal, sizing: SizingSource) -> None:
        """Write pending orders, open entries, the fill cursor, last bars and sizing."""
        states: dict[str, dict[str, Any]] = {}
        # Orders and fills are frozen: the same objects as at the last save give the same JSON,
        # so it is not built again (most bars change neither).
        if not _same(self.pending, self._objects.get(PENDING_KEY)):
            states[PENDING_KEY] = {s: _order_json(o) for s, o in self.pending.items()}
            self._objects[PENDING_KEY] = dict(self.pending)
        if not _same(self.entries, self._objects.get(ENTRIES_KEY)):
            states[ENTRIES_KEY] = {s: _fill_json(f) for s, f in self.entries.items()}
            self._objects[ENTRIES_KEY] = dict(self.entries)
        states[FILLS_KEY] = {"last_id": self.fill_cursor}
        for symbol, when in self.last_bar.items():
            states[last_bar_key(symbol)] = {"time": when.isoformat()}
        if isinstance(sizing, RollingKelly):
            states[SIZING_KEY] = sizing.to_dict()
        for key, state in states.items():
            if self._written.get(key) != state:
                journal.save_state(key, state)
                self._written[key] = state

    def open_entry(self, fill: Fill) -> None:
        """Remember the entry fill of a new position."""
        self.entries[fill.symbol] = fill

    def close_entry(self, fill: Fill) -> tuple[float, float] | None:
        """(pnl, return) of the trade an exit or stop fill closes; None if none was open."""
        entry = self.entries.pop(fill.symbol, None)
        if entry is None:
            return None
        units = float(entry.amount)
        # The kernel's arithmetic, in its order: cost, then pnl, then return on cost.
        cost = units * float(entry.price)
        pnl = units * float(fill.price) - cost - float(entry.fee) - float(fill.fee)
        return pnl, pnl / cost


def _same(now: dict[str, Order] | dict[str, Fill], saved: dict[str, Order | Fill] | None
          ) -> bool:
    """True when ``now`` holds the very objects ``saved`` held, under the same symbols."""
    return saved is not None and now.keys() == saved.keys() and all(
        saved[s] is value for s, value in now.items()
    )


def restore_sizing(journal: Journal, sizing: SizingSource, symbols: tuple[str, ...] = ()
                   ) -> None:
    """Continue the rolling Kelly accumulators of an interrupted run of ``symbols``."""
    saved = journal.load_state(SIZING_KEY)
    if saved is not None and isinstance(sizing, RollingKelly):
        sizing.load(saved, symbols)


def exposure(book: LoopBook, broker: Broker, symbols: tuple[str, ...]) -> tuple[int, float]:
    """(positions, gross notional) that a new entry is weighed against by the basket caps.

    Positions held (a pending exit still holds) at units x last close, then the entries
    decided and not yet filled, at the notional they were sized at, each in symbol order.
    A pending entry of a symbol that has had no bar since counts too: it fills at its next.
    """
    held, gross, decided = 0, 0.0, []
    for symbol in symbols:
        position = broker.position(symbol)
        if position.is_open:
            held += 1
            price = book.last_close.get(symbol, float(position.entry_price or 0))
            gross += float(position.amount) * price
            continue
        order = book.pending.get(symbol)
        if order is not None and order.kind is OrderKind.ENTRY:
            decided.append(float(order.amount_usdt))
    for notional in decided:
        gross += notional
    return held + len(decided), gross


def entry_not_to_send(order: Order, *, newer_bar_ms: int | None, refused: str,
                      journal: Journal) -> str:
    """Why a pending entry is not sent ("" to send it; exits always go).

    A refused symbol's entry (decided before the refusal, left pending by a kill) never goes;
    if it went out before the kill, the broker's start-up reconciliation has settled it. One
    left pending by a kill is not sent once a newer bar has closed: its bar is history (bar
    time, not the wall clock, says so), unless it may have gone out (its client id decides).
    """
    if order.kind is not OrderKind.ENTRY:
        return ""
    t = order.bar_time
    bar = f"{order.symbol} entry decided on the bar of {t:%Y-%m-%d %H:%M} UTC" if t else (
        f"{order.symbol} entry")
    if refused:
        return f"{bar} is not sent: {refused}"
    if newer_bar_ms is None or t is None or int(t.timestamp() * 1000) >= newer_bar_ms:
        return ""  # still the latest closed bar: the bar's to take
    if journal.has_order(order.symbol, t, OrderKind.ENTRY):
        return ""
    return f"{bar} was not sent before a restart and newer bars have closed; not sending it"


def decision_record(d: Decision, numbers: tuple[tuple[str, float], ...] = ()
                    ) -> DecisionRecord:
    """The journal row of a decision, with the strategy's named numbers of its bar."""
    return DecisionRecord(
        symbol=d.symbol, bar_time=d.bar_time, signal=d.signal, action=Action(d.action),
        reason=d.reason, score=d.score, approved=d.approved, size_fraction=d.size_fraction,
        notional=None if d.notional is None else Decimal(repr(d.notional)),
        numbers=numbers,
    )


def equity_snapshot(
    when: pd.Timestamp, equity: float, risk: RiskManager, clock: Clock
) -> EquitySnapshot:
    """The account's mark at a bar's close, with peak, drawdown and the day's P&L."""
    s = risk.state
    dd = (s.peak_equity - equity) / s.peak_equity if s.peak_equity > 0 else math.nan
    # Floats as they are: the journal stores a float as Decimal(repr(float)) text anyway.
    return EquitySnapshot(
        at=clock.now(), equity=float(equity), bar_time=when.to_pydatetime(),
        peak=float(s.peak_equity), drawdown=dd if math.isfinite(dd) else None,
        daily_pnl=float(equity - s.daily_start_equity),
    )


def apply_command(
    command: Command, *, book: LoopBook, risk: RiskManager, journal: Journal, now: datetime,
    flatten_on_halt: bool, broker: Broker, symbols: tuple[str, ...], sells_at_next_open: bool,
) -> str:
    """Apply one operator command to the running loop; returns what it did (the ack's words).

    Everything it changes is in ``book``, the risk state and the journal; the caller commits
    it with the ack (``book.save`` in the same batch). ``broker`` and ``symbols`` say what is
    held, for flatten.
    """
    if command.kind is CommandKind.PAUSE:
        book.manual_pause = command.reason
        journal.record_halt(HaltEventKind.MANUAL_PAUSE, command.reason, actor=Actor.OPERATOR,
                            at=now)
        return "no new entries"
    if command.kind is CommandKind.HALT:
        book.manual_halt = command.reason
        journal.record_halt(HaltEventKind.MANUAL_HALT, command.reason, actor=Actor.OPERATOR,
                            at=now)
        closing = ", positions closed at the next open" if flatten_on_halt else ""
        return "manual halt in force: no entries" + closing
    if command.kind is CommandKind.FLATTEN:
        targets = (command.symbol,) if command.symbol else symbols
        said = [flatten_one(s, book=book, journal=journal, broker=broker, named=bool(
            command.symbol), reason=f"operator flatten: {command.reason}",
            stop_loss_pct=risk.config.stop_loss_pct, sells_at_next_open=sells_at_next_open)
            for s in targets]
        return "; ".join(s for s in said if s) or "no open position"
    return _resume(command, book=book, risk=risk, journal=journal, now=now)


def _resume(command: Command, *, book: LoopBook, risk: RiskManager, journal: Journal,
            now: datetime) -> str:
    """Lift the manual halt and the pause (one manual_resume row) and the drawdown latch."""
    done = [what for what, reason in (("manual halt lifted", book.manual_halt),
                                      ("pause lifted", book.manual_pause)) if reason]
    if done:
        book.manual_halt = book.manual_pause = ""
        journal.record_halt(HaltEventKind.MANUAL_RESUME, command.reason, actor=Actor.OPERATOR,
                            at=now)
    event = risk.resume(command.reason, now=max(now, _as_of(risk, now)))
    if event is not None:
        journal.record_risk_event(event, actor=Actor.OPERATOR)
        journal.save_state(RISK_STATE_KEY, risk.to_dict())
        done.append("drawdown latch lifted, peak reset to current equity")
    return "; ".join(done) or "nothing to resume"


def flatten_one(
    symbol: str, *, book: LoopBook, journal: Journal, broker: Broker, named: bool, reason: str,
    stop_loss_pct: float, sells_at_next_open: bool,
) -> str:
    """Queue the exit that closes ``symbol`` now; what was done, "" when nothing (``named``:
    the operator asked for this one symbol, so "no position" is said).

    The exit's bar is the symbol's last finished bar: its client id derives from it, so a
    restart sends the same order, never a second one. An entry decided and not yet filled is
    dropped. No second exit: one pending, or one journaled for that bar, is said instead.
    """
    said: list[str] = []
    pending = book.pending.get(symbol)
    if pending is not None and pending.kind is OrderKind.ENTRY:
        del book.pending[symbol]
        said.append(f"{symbol} entry decided on {_bar(pending.bar_time)} cancelled")
        pending = None
    if not broker.position(symbol).is_open:
        return "; ".join(said) or (f"no {symbol} position" if named else "")
    if pending is not None:
        said.append(f"{symbol} exit already pending ({pending.reason}); not another")
        return "; ".join(said)
    last = book.last_bar.get(symbol) or max(book.last_bar.values(), default=None)
    if last is None:
        return f"{symbol}: no bar finished yet to date its exit by; not closed"
    bar_time = last.to_pydatetime()
    if journal.has_order(symbol, bar_time, OrderKind.EXIT):
        said.append(f"{symbol} exit of {_bar(bar_time)} already sent; not another")
        return "; ".join(said)
    book.pending[symbol] = Order(
        symbol, Side.SELL, amount_usdt=Decimal(0),
        stop_loss_pct=Decimal(repr(float(stop_loss_pct))), kind=OrderKind.EXIT,
        bar_time=bar_time, reason=reason)
    said.append(f"{symbol} closing " + (
        "at the next open" if sells_at_next_open else "now: stop cancelled, market sell"))
    return "; ".join(said)


def _bar(t: datetime | None) -> str:
    return "-" if t is None else f"the bar of {t:%Y-%m-%d %H:%M} UTC"


def _as_of(risk: RiskManager, fallback: datetime) -> datetime:
    return risk.state.as_of or fallback


def _order_json(o: Order) -> dict[str, Any]:
    return {
        "symbol": o.symbol, "side": str(o.side), "amount_usdt": str(o.amount_usdt),
        "stop_loss_pct": str(o.stop_loss_pct), "kind": str(o.kind),
        "bar_time": None if o.bar_time is None else o.bar_time.isoformat(), "reason": o.reason,
    }


def _order_from(raw: dict[str, Any]) -> Order:
    bar = raw.get("bar_time")
    return Order(
        raw["symbol"], Side(raw["side"]), Decimal(raw["amount_usdt"]),
        stop_loss_pct=Decimal(raw["stop_loss_pct"]), kind=OrderKind(raw["kind"]),
        bar_time=None if bar is None else datetime.fromisoformat(bar), reason=raw["reason"],
    )


def _fill_json(f: Fill) -> dict[str, Any]:
    return {
        "client_id": f.client_id, "symbol": f.symbol, "side": str(f.side),
        "amount": str(f.amount), "price": str(f.price), "fee": str(f.fee),
        "fee_asset": f.fee_asset, "at": f.at.isoformat(), "exchange_id": f.exchange_id,
        "kind": str(f.kind),
    }


def _fill_from(raw: dict[str, Any]) -> Fill:
    return Fill(
        raw["client_id"], raw["symbol"], Side(raw["side"]), Decimal(raw["amount"]),
        Decimal(raw["price"]), Decimal(raw["fee"]), raw["fee_asset"],
        datetime.fromisoformat(raw["at"]), exchange_id=raw["exchange_id"],
        kind=OrderKind(raw["kind"]),
    )
