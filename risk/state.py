"""Risk domain values: the persisted RiskState, halt events and entry approvals."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from core.errors import ConfigError

STATE_VERSION: Final = 1
EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
EPOCH_DATE: Final = date(1970, 1, 1)


class HaltKind(StrEnum):
    """Which kill switch is in force; DRAWDOWN wins when both are."""

    NONE = "none"
    DAILY = "daily"
    DRAWDOWN = "drawdown"


class RiskEventKind(StrEnum):
    """What changed in the risk layer's halt state."""

    DAILY_PAUSE = "daily_pause"
    DAILY_CLEAR = "daily_clear"
    DRAWDOWN_LATCH = "drawdown_latch"
    RESUME = "resume"
    COOLDOWN_START = "cooldown_start"
    COOLDOWN_CLEAR = "cooldown_clear"


@dataclass(frozen=True, slots=True)
class RiskEvent:
    """One change of halt state, for the journal and alerts.

    Attributes:
        kind: what changed.
        reason: human-readable cause, shown and journaled verbatim.
        equity: the marked equity when it changed.
        peak: peak equity after the change (a resume resets it to ``equity``).
        at: the bar time (UTC) of the change, or the clock's time when no bar time was given.
    """

    kind: RiskEventKind
    reason: str
    equity: float
    peak: float
    at: datetime

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-safe dict."""
        return {
            "kind": str(self.kind),
            "reason": self.reason,
            "equity": self.equity,
            "peak": self.peak,
            "at": self.at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class Approval:
    """Answer to "may a new position open?": ok, and the reason shown and journaled verbatim."""

    ok: bool
    reason: str


@dataclass(frozen=True, slots=True)
class RiskState:
    """Everything the risk layer must remember across bars and restarts.

    Attributes:
        peak_equity: highest marked equity since start or since the last resume.
        current_equity: the latest marked equity.
        daily_start_equity: equity at the start of ``trade_date`` (the last mark before it).
        trade_date: UTC day of the latest mark; None before the first mark.
        as_of: bar time (UTC) of the latest mark; None before the first mark.
        drawdown_latched: the max-drawdown halt is in force until an operator resumes.
        drawdown_reason: why it latched, e.g. ``Max drawdown 16.0% exceeded 15.0%``.
        daily_paused: the daily-loss pause is in force until the next UTC day.
        daily_reason: why it paused, e.g. ``Daily loss 5.2% exceeded 5.0%``.
        loss_streak: consecutive losing trades (for the optional cooldown).
        cooldown_until: no entries before this time; None when no cooldown has started.
        entries_date: UTC day that ``entries_today`` counts; None before any entry.
        entries_today: entries recorded on ``entries_date`` (for the optional daily cap).
    """

    peak_equity: float
    current_equity: float
    daily_start_equity: float
    trade_date: date | None = None
    as_of: datetime | None = None
    drawdown_latched: bool = False
    drawdown_reason: str = ""
    daily_paused: bool = False
    daily_reason: str = ""
    loss_streak: int = 0
    cooldown_until: datetime | None = None
    entries_date: date | None = None
    entries_today: int = 0

    @property
    def halted(self) -> bool:
        """True while either kill switch is in force (the seed's flag)."""
        return self.drawdown_latched or self.daily_paused

    @property
    def halt_kind(self) -> HaltKind:
        """The kill switch in force, drawdown first."""
        if self.drawdown_latched:
            return HaltKind.DRAWDOWN
        return HaltKind.DAILY if self.daily_paused else HaltKind.NONE

    @property
    def halt_reason(self) -> str:
        """Reason of the kill switch in force (drawdown first), "" when none is (seed's field)."""
        if self.drawdown_latched:
            return self.drawdown_reason
        return self.daily_reason if self.daily_paused else ""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-safe dict (floats round-trip exactly through json); see state_from_dict."""
        out: dict[str, Any] = {"version": STATE_VERSION}
        for name in _FIELD_NAMES:  # dataclasses.fields() costs more than the rest: saved per bar
            value = getattr(self, name)
            out[name] = value.isoformat() if isinstance(value, date) else value
        return out


_FIELD_NAMES: Final = tuple(f.name for f in fields(RiskState))


def day_to_date(day: int) -> date:
    """Calendar date of a UTC day key (days since 1970-01-01)."""
    return EPOCH_DATE + timedelta(days=day)


def date_to_day(when: date) -> int:
    """UTC day key of a calendar date."""
    return (when - EPOCH_DATE).days


def to_ms(when: datetime) -> int:
    """Exact int64 milliseconds since the epoch of an aware datetime."""
    return (when - EPOCH) // timedelta(milliseconds=1)


def from_ms(ms: int) -> datetime:
    """Aware UTC datetime of int64 milliseconds since the epoch."""
    return EPOCH + timedelta(milliseconds=ms)


def state_from_dict(data: Mapping[str, Any]) -> RiskState:
    """Rebuild a RiskState saved by ``to_dict``; anything malformed raises ConfigError.

    Refusing a damaged file is deliberate: starting fresh would come back with the kill
    switches off.
    """
    if data.get("version") != STATE_VERSION:
        raise ConfigError(
            f"saved risk state: version must be {STATE_VERSION}, got {data.get('version')!r}"
        )
    unknown = sorted(set(data) - set(_PARSERS) - {"version"})
    if unknown:
        raise ConfigError(f"saved risk state: unknown fields {unknown} (written by a newer bot?)")
    values: dict[str, Any] = {}
    for name, parse in _PARSERS.items():
        if name not in data:
            raise ConfigError(f"saved risk state: missing field {name!r}")
        try:
            values[name] = parse(data[name])
        except (TypeError, ValueError) as e:
            raise ConfigError(f"saved risk state: field {name!r} {e}") from e
    state = RiskState(**values)
    if state.drawdown_latched and not state.drawdown_reason:
        raise ConfigError("saved risk state: drawdown_latched without a drawdown_reason")
    return state


def _positive(value: object) -> float:
    number = _finite(value)
    if not number > 0.0:
        raise ValueError(f"must be > 0, got {value!r}")
    return number


def _finite(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"must be a finite number, got {value!r}")
    return float(value)


def _flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"must be true or false, got {value!r}")
    return value


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"must be a string, got {value!r}")
    return value


def _count(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"must be an integer >= 0, got {value!r}")
    return value


def _day(value: object) -> date | None:
    return None if value is None else date.fromisoformat(_text(value))


def _time(value: object) -> datetime | None:
    if value is None:
        return None
    when = datetime.fromisoformat(_text(value))
    if when.tzinfo is None:
        raise ValueError(f"must be a timezone-aware time, got {value!r}")
    return when.astimezone(UTC)


_PARSERS: Final[dict[str, Callable[[object], Any]]] = {
    "peak_equity": _positive,
    "current_equity": _finite,
    "daily_start_equity": _finite,
    "trade_date": _day,
    "as_of": _time,
    "drawdown_latched": _flag,
    "drawdown_reason": _text,
    "daily_paused": _flag,
    "daily_reason": _text,
    "loss_streak": _count,
    "cooldown_until": _time,
    "entries_date": _day,
    "entries_today": _count,
}
