"""RiskManager: the seed's public API over the shared numeric rules in risk/rules.py.

The seed's check still works as written::

    rm = RiskManager(RiskConfig(), 10000)
    rm.check_and_update(8400)   # False; rm.state.halt_reason == "Max drawdown 16.0% exceeded 15.0%"
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from core.clock import Clock, SystemClock
from core.errors import ConfigError
from risk import checks, rules
from risk.config import RiskConfig
from risk.state import (
    Approval,
    HaltKind,
    RiskEvent,
    RiskEventKind,
    RiskState,
    date_to_day,
    day_to_date,
    from_ms,
    state_from_dict,
    to_ms,
)

__all__ = [
    "Approval",
    "HaltKind",
    "RiskConfig",
    "RiskEvent",
    "RiskEventKind",
    "RiskManager",
    "RiskState",
]


class RiskManager:
    """Kill switches, entry approval, sizing and stops for one account.

    ``now`` is the bar's timestamp (timezone-aware; a naive time raises ValueError); the daily
    window is its UTC day. Without ``now`` the injected clock is asked (SystemClock by default).
    Every change of halt state is queued as a RiskEvent; take them with ``drain_events``.
    State round-trips through ``to_dict`` / ``from_dict`` so a restart keeps its kill switches.
    """

    def __init__(
        self, config: RiskConfig, initial_equity: float, *, clock: Clock | None = None
    ) -> None:
        equity = _number(initial_equity)
        if not 0.0 < equity < math.inf:
            raise ConfigError(f"initial_equity must be a finite number > 0, got {initial_equity!r}")
        self._config = config
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._state = RiskState(
            peak_equity=equity, current_equity=equity, daily_start_equity=equity
        )
        self._events: list[RiskEvent] = []

    @classmethod
    def from_state(
        cls, config: RiskConfig, state: RiskState, *, clock: Clock | None = None
    ) -> RiskManager:
        """Manager that continues from a saved state; a tighter or looser config applies from
        the next mark on, but never lifts a drawdown latch already in force."""
        manager = cls(config, state.peak_equity, clock=clock)
        manager._state = state
        return manager

    @classmethod
    def from_dict(
        cls, config: RiskConfig, data: Mapping[str, Any], *, clock: Clock | None = None
    ) -> RiskManager:
        """Manager from a dict written by ``to_dict``; a damaged dict raises ConfigError."""
        return cls.from_state(config, state_from_dict(data), clock=clock)

    def to_dict(self) -> dict[str, Any]:
        """The state as a plain JSON-safe dict, for the journal or a state file."""
        return self._state.to_dict()

    @property
    def config(self) -> RiskConfig:
        """The limits in force (read-only: a kill switch is not a runtime knob)."""
        return self._config

    @property
    def state(self) -> RiskState:
        """The current state (a frozen value; the manager replaces it, callers cannot edit it)."""
        return self._state

    def drain_events(self) -> list[RiskEvent]:
        """Return the events queued since the last call, oldest first, and forget them."""
        events, self._events = self._events, []
        return events

    def check_and_update(self, current_equity: float, now: datetime | None = None) -> bool:
        """Mark equity at bar time ``now``, update the kill switches; True if none is in force."""
        equity = _number(current_equity)
        if not math.isfinite(equity):
            raise ValueError(f"current_equity must be a finite number, got {current_equity!r}")
        when = self._bar_time(now)
        old = self._state
        if old.as_of is not None and when < old.as_of:
            raise ValueError(f"bar time {when.isoformat()} is before the last mark {old.as_of}")
        day = rules.day_key(to_ms(when))
        last_day = rules.NO_DAY if old.trade_date is None else date_to_day(old.trade_date)
        peak, day_start, paused, latched, code = rules.kill_switch_step(
            equity, day, old.current_equity, last_day, old.peak_equity, old.daily_start_equity,
            old.daily_paused, old.drawdown_latched,
            self._config.max_drawdown_pct, self._config.daily_loss_limit_pct,
        )
        rolled = day > last_day
        # A new day can clear yesterday's pause and start today's at the same mark.
        fresh_pause = paused and (rolled or not old.daily_paused)
        fresh_latch = latched and not old.drawdown_latched
        self._state = replace(
            old,
            peak_equity=peak,
            current_equity=equity,
            daily_start_equity=day_start,
            trade_date=day_to_date(day) if rolled else old.trade_date,
            as_of=when,
            drawdown_latched=latched,
            drawdown_reason=self._dd_reason(peak, equity) if fresh_latch else old.drawdown_reason,
            daily_paused=paused,
            daily_reason=self._daily_reason(day_start, equity) if fresh_pause else (
                old.daily_reason if paused else ""
            ),
        )
        self._note_mark(old, when, cleared=rolled and old.daily_paused, fresh_pause=fresh_pause)
        return code == rules.HALT_NONE

    def approve_trade(self, conviction: float) -> bool:
        """True if a new position may open now (the seed's API); see ``evaluate_entry``."""
        return self.evaluate_entry(conviction).ok

    def evaluate_entry(self, conviction: float) -> Approval:
        """Approval for a new position as of the latest mark, with the reason verbatim."""
        return checks.evaluate(self._state, self._config, conviction)

    def evaluate_open_positions(self, open_positions: int) -> Approval:
        """Approval of one more position with ``open_positions`` held or decided already."""
        reason = checks.open_positions_cap(self._config, open_positions)
        return Approval(ok=reason is None, reason=reason or checks.APPROVED)

    def evaluate_gross_exposure(
        self, *, gross_notional: float, new_notional: float, equity: float
    ) -> Approval:
        """Approval of an entry of ``new_notional`` on top of ``gross_notional`` at ``equity``."""
        reason = checks.gross_exposure_cap(
            self._config, gross_notional=gross_notional, new_notional=new_notional,
            equity=equity)
        return Approval(ok=reason is None, reason=reason or checks.APPROVED)

    def kelly_position_size(
        self,
        equity: float,
        win_rate: float,
        avg_win_pct: float,
        avg_loss_pct: float,
        conviction: float,
    ) -> float:
        """Fraction of equity to commit (as in the seed, not an amount): half-Kelly x conviction
        capped at max_position_pct; 0.0 when any input is missing, NaN or out of range."""
        if not 0.0 < _number(equity) < math.inf:
            return 0.0
        return rules.position_fraction(
            _number(win_rate),
            _number(avg_win_pct),
            _number(avg_loss_pct),
            _number(conviction),
            self._config.max_position_pct,
        )

    def position_notional(
        self,
        equity: float,
        *,
        win_rate: float,
        avg_win_pct: float,
        avg_loss_pct: float,
        conviction: float,
    ) -> float:
        """Quote-currency amount to commit: ``equity x kelly_position_size(...)``."""
        fraction = self.kelly_position_size(equity, win_rate, avg_win_pct, avg_loss_pct, conviction)
        return rules.position_notional(_number(equity), fraction)

    def stop_price(self, entry_price: float, *, short: bool = False) -> float:
        """Protective stop stop_loss_pct away from the entry fill (below a long, above a short)."""
        rule = rules.stop_price_short if short else rules.stop_price_long
        stop = rule(_number(entry_price), self._config.stop_loss_pct)
        if math.isnan(stop):
            raise ValueError(f"entry_price must be a finite number > 0, got {entry_price!r}")
        return stop

    def resume(self, reason: str, now: datetime | None = None) -> RiskEvent | None:
        """Operator lifts the drawdown latch and the peak restarts at current equity.

        Returns the RESUME event, or None when no latch was in force. A daily pause in force
        stays until the next UTC day.
        """
        if not isinstance(reason, str) or not reason.strip():
            raise ValueError("resume needs a non-empty reason for the journal")
        when = self._bar_time(now)
        old = self._state
        if not old.drawdown_latched:
            return None
        if not old.current_equity > 0.0:
            raise ValueError(f"cannot resume with equity {old.current_equity!r}; fund the account")
        # The old peak would re-breach the limit at the very next mark: the drawdown the operator
        # accepted is measured from where they resumed.
        self._state = replace(
            old, drawdown_latched=False, drawdown_reason="", peak_equity=old.current_equity
        )
        text = f"Operator resume after '{old.drawdown_reason}': {reason.strip()}"
        return self._emit(RiskEventKind.RESUME, text, when)

    def record_entry(self, now: datetime | None = None) -> None:
        """Count an entry that filled at ``now`` towards its UTC day's cap."""
        when = self._bar_time(now)
        day = day_to_date(rules.day_key(to_ms(when)))
        old = self._state
        if old.entries_date is not None and day < old.entries_date:
            raise ValueError(f"entry on {day} is before the last one on {old.entries_date}")
        count = old.entries_today + 1 if day == old.entries_date else 1
        self._state = replace(old, entries_date=day, entries_today=count)

    def record_trade_close(self, pnl: float, now: datetime | None = None) -> RiskEvent | None:
        """Record a closed trade's P&L (sign matters); returns COOLDOWN_START if one begins."""
        result = _number(pnl)
        if not math.isfinite(result):
            raise ValueError(f"pnl must be a finite number, got {pnl!r}")
        when = self._bar_time(now)
        old = self._state
        streak = rules.next_loss_streak(old.loss_streak, result)
        old_until = rules.NO_COOLDOWN if old.cooldown_until is None else to_ms(old.cooldown_until)
        until = rules.cooldown_until_ms(
            streak,
            self._config.cooldown_after_losses,
            to_ms(when),
            self._config.cooldown_minutes * 60_000,
            old_until,
        )
        self._state = replace(old, loss_streak=streak)
        if until == old_until:
            return None
        end = from_ms(until)
        self._state = replace(self._state, cooldown_until=end)
        text = f"{streak} consecutive losing trades: no entries until {end:%Y-%m-%d %H:%M} UTC"
        return self._emit(RiskEventKind.COOLDOWN_START, text, when)

    def _note_mark(
        self, old: RiskState, at: datetime, *, cleared: bool, fresh_pause: bool
    ) -> None:
        new = self._state
        if cleared:
            text = f"New UTC day {new.trade_date}: daily loss pause cleared"
            self._emit(RiskEventKind.DAILY_CLEAR, text, at)
        if new.drawdown_latched and not old.drawdown_latched:
            self._emit(RiskEventKind.DRAWDOWN_LATCH, new.drawdown_reason, at)
        if fresh_pause:
            self._emit(RiskEventKind.DAILY_PAUSE, new.daily_reason, at)
        if new.cooldown_until is not None:
            until = to_ms(new.cooldown_until)
            before = rules.NO_COOLDOWN if old.as_of is None else to_ms(old.as_of)
            if rules.cooldown_active(before, until) and not rules.cooldown_active(to_ms(at), until):
                self._emit(RiskEventKind.COOLDOWN_CLEAR, "loss cooldown over: entries allowed", at)

    def _emit(self, kind: RiskEventKind, reason: str, at: datetime) -> RiskEvent:
        state = self._state
        event = RiskEvent(kind, reason, state.current_equity, state.peak_equity, at)
        self._events.append(event)
        return event

    def _dd_reason(self, peak: float, equity: float) -> str:
        dd = rules.drawdown(peak, equity)
        return f"Max drawdown {dd:.1%} exceeded {self._config.max_drawdown_pct:.1%}"

    def _daily_reason(self, day_start: float, equity: float) -> str:
        loss = rules.daily_loss(day_start, equity)
        return f"Daily loss {loss:.1%} exceeded {self._config.daily_loss_limit_pct:.1%}"

    def _bar_time(self, now: datetime | None) -> datetime:
        when = self._clock.now() if now is None else now
        if not isinstance(when, datetime) or when.utcoffset() is None:
            raise ValueError(f"bar time must be a timezone-aware datetime, got {when!r}")
        return when.astimezone(UTC)


def _number(value: object) -> float:
    """Float of a real number (numpy scalars too); NaN for None, bools and anything else."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return math.nan
    return float(value)
