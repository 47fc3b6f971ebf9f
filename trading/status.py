"""What the live view shows: per symbol the last decision, and the account's risk state."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from execution.broker import Broker, Position
    from risk.manager import RiskManager
    from signals.strategy import SignalRow
    from trading.decide import Decision

Halt = tuple[str, str]  # (which kill switch, why), e.g. ("manual", "maintenance"), ("pause", ...)


@dataclass(frozen=True, slots=True)
class SymbolStatus:
    """The latest decision of one symbol, for the screen."""

    symbol: str
    bar_time: datetime | None = None
    close: float | None = None
    signal: int | None = None
    conviction: float | None = None
    score_source: str = ""
    action: str = ""
    reason: str = ""
    position: float = 0.0
    stop: float | None = None
    entry_price: float | None = None

    @classmethod
    def of(cls, d: Decision, row: SignalRow, broker: Broker, symbol: str) -> SymbolStatus:
        """Status from a decision and the broker's position after it."""
        pos = broker.position(symbol)  # one construction: a replay builds this every bar
        return cls(
            symbol=symbol, bar_time=d.bar_time, close=row.close, signal=d.signal,
            conviction=None if d.score is None else d.score.conviction,
            score_source="" if d.score is None else str(d.score.source),
            action=d.action, reason=d.reason, position=float(pos.amount),
            stop=None if pos.stop is None else float(pos.stop.stop_price),
            entry_price=None if pos.entry_price is None else float(pos.entry_price),
        )

    def holding(self, pos: Position) -> SymbolStatus:
        """This status with what the broker holds: amount, entry price and stop."""
        return replace(
            self, position=float(pos.amount),
            entry_price=None if pos.entry_price is None else float(pos.entry_price),
            stop=None if pos.stop is None else float(pos.stop.stop_price),
        )

    @property
    def unrealised_pnl(self) -> float | None:
        """(close - entry) x amount of an open position, before the exit's fee; None when flat."""
        if self.position <= 0 or self.entry_price is None or self.close is None:
            return None
        return (self.close - self.entry_price) * self.position


@dataclass
class LoopStatus:
    """Account-level figures after the latest mark."""

    symbols: dict[str, SymbolStatus]
    bar_time: pd.Timestamp | None = None
    equity: float | None = None
    peak: float | None = None
    drawdown: float | None = None
    daily_pnl: float | None = None
    halt: str = "none"
    halt_reason: str = ""
    manual_halt: str = ""  # the operator's halt reason, "" when none
    manual_pause: str = ""  # the operator's pause reason (no new entries), "" when none
    breakers: dict[str, str] = field(default_factory=dict)
    next_wake: datetime | None = None
    errors: int = 0
    # Every risk kill switch in force as of the last refresh; None before one (then `halt`).
    risk_halts: tuple[Halt, ...] | None = None

    def record_mark(self, when: pd.Timestamp, equity: float, risk: RiskManager) -> None:
        """Copy the account's figures after a mark."""
        s = risk.state
        self.bar_time = when
        self.equity = equity
        self.peak = s.peak_equity
        self.drawdown = (s.peak_equity - equity) / s.peak_equity if s.peak_equity else None
        self.daily_pnl = equity - s.daily_start_equity
        self.halt = str(s.halt_kind)
        self.halt_reason = s.halt_reason

    def refresh(self, broker: Broker, *, manual_halt: str, manual_pause: str = "",
                risk: RiskManager | None = None, closes: Mapping[str, float] | None = None
                ) -> None:
        """Take the broker's positions, the kill switches and the last closes as they are now.

        The decision fields stay those of the last decision; what is held is not: a fill, a
        stop hit or a stop re-placed between bars must show at the next redraw.
        """
        self.manual_halt, self.manual_pause = manual_halt, manual_pause
        if risk is not None:
            self.risk_halts = risk_halts(risk)
        for symbol, s in self.symbols.items():
            close = s.close if closes is None else closes.get(symbol, s.close)
            self.symbols[symbol] = replace(s, close=close).holding(broker.position(symbol))

    @property
    def halts(self) -> tuple[Halt, ...]:
        """Every kill switch in force, then the operator's halt and pause (the words ``status``
        uses)."""
        found = self.risk_halts
        if found is None:  # never refreshed: the one the last mark named
            found = () if self.halt == "none" else ((self.halt, self.halt_reason),)
        operator = (("manual", self.manual_halt), ("pause", self.manual_pause))
        return (*found, *((kind, why) for kind, why in operator if why))


def risk_halts(risk: RiskManager) -> tuple[Halt, ...]:
    """The risk layer's kill switches that block entries as of its last mark, with why."""
    from risk import checks

    s, config = risk.state, risk.config
    found: list[Halt] = []
    if s.drawdown_latched:
        found.append(("drawdown", s.drawdown_reason))
    if s.daily_paused:
        found.append(("daily", s.daily_reason))
    # The checks that refuse entries say whether a cooldown or the day's cap is in force.
    for name, check in (("cooldown", checks.loss_cooldown), ("entry cap", checks.entries_per_day)):
        why = check(s, config, 0.0)
        if why:
            found.append((name, why))
    return tuple(found)
