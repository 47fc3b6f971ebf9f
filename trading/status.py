"""What the live view shows: per symbol the last decision, and the account's risk state."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from execution.broker import Broker
    from risk.manager import RiskManager
    from signals.strategy import SignalRow
    from trading.decide import Decision


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

    @classmethod
    def of(cls, d: Decision, row: SignalRow, broker: Broker, symbol: str) -> SymbolStatus:
        """Status from a decision and the broker's position after it."""
        pos = broker.position(symbol)
        return cls(
            symbol=symbol, bar_time=d.bar_time, close=row.close, signal=d.signal,
            conviction=None if d.score is None else d.score.conviction,
            score_source="" if d.score is None else str(d.score.source),
            action=d.action, reason=d.reason, position=float(pos.amount),
            stop=None if pos.stop is None else float(pos.stop.stop_price),
        )


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
    breakers: dict[str, str] = field(default_factory=dict)
    next_wake: datetime | None = None
    errors: int = 0

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

    def refresh(self, broker: Broker, *, manual_halt: str) -> None:
        """Take the broker's position and stop as they are now, and the operator's halt.

        The decision fields stay those of the last decision; what is held is not: a fill, a
        stop hit or a stop re-placed between bars must show at the next redraw.
        """
        self.manual_halt = manual_halt
        for symbol, s in self.symbols.items():
            pos = broker.position(symbol)
            stop = None if pos.stop is None else float(pos.stop.stop_price)
            self.symbols[symbol] = replace(s, position=float(pos.amount), stop=stop)
