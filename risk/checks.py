"""Entry checks: small named rules, each returning None (pass) or the reason it refuses.

The reasons are shown and journaled verbatim (STYLE.md, rule 6). Checks only read the state as
of the latest equity mark; they never change it.

Two portfolio checks take what the account holds instead of the state, so they run apart from
``ENTRY_CHECKS``, in the order of the basket contract: ``open_positions_cap`` after the entry
checks (before the size and the scorer), ``gross_exposure_cap`` once the entry's notional is
known. Both are off (0) by default.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Final

from risk import rules
from risk.config import RiskConfig
from risk.state import Approval, RiskState, to_ms

EntryCheck = Callable[[RiskState, RiskConfig, float], str | None]

APPROVED: Final = "approved"


def equity_marked(state: RiskState, config: RiskConfig, conviction: float) -> str | None:
    """Refuse before the first equity mark: no kill-switch answer exists yet to agree with."""
    if state.as_of is None:
        return "no equity mark yet: call check_and_update with the bar's equity first"
    return None


def drawdown_latch(state: RiskState, config: RiskConfig, conviction: float) -> str | None:
    """Refuse while the max-drawdown latch is in force."""
    if state.drawdown_latched:
        return f"{state.drawdown_reason}; halted until an operator resumes"
    return None


def daily_pause(state: RiskState, config: RiskConfig, conviction: float) -> str | None:
    """Refuse while the daily-loss pause is in force."""
    if state.daily_paused:
        return f"{state.daily_reason}; entries paused until the next UTC day"
    return None


def loss_cooldown(state: RiskState, config: RiskConfig, conviction: float) -> str | None:
    """Refuse during the cooldown after consecutive losing trades (off by default)."""
    if state.cooldown_until is None:
        return None
    # Before the first mark there is no bar time yet: an existing cooldown counts as active.
    now_ms = rules.NO_COOLDOWN if state.as_of is None else to_ms(state.as_of)
    if not rules.cooldown_active(now_ms, to_ms(state.cooldown_until)):
        return None
    until = f"{state.cooldown_until:%Y-%m-%d %H:%M} UTC"
    return f"cooldown after {state.loss_streak} consecutive losing trades until {until}"


def entries_per_day(state: RiskState, config: RiskConfig, conviction: float) -> str | None:
    """Refuse once the per-UTC-day entry cap is used up (off by default)."""
    # Before the first mark there is no current day: recorded entries count (fail closed).
    same_day = state.entries_date is not None and (
        state.trade_date is None or state.entries_date == state.trade_date
    )
    entries = state.entries_today if same_day else 0
    if rules.entry_cap_reached(entries, config.max_entries_per_day):
        cap = config.max_entries_per_day
        return f"{entries} entries today reached the cap of {cap} per UTC day"
    return None


def conviction_threshold(state: RiskState, config: RiskConfig, conviction: float) -> str | None:
    """Refuse a conviction that is not a number in [-1, 1] or is below min_conviction."""
    if isinstance(conviction, bool) or not isinstance(conviction, numbers.Real):
        return f"conviction {conviction!r} is not a number in [-1, 1]"
    if not math.isfinite(conviction):
        return f"conviction {conviction!r} is not a number in [-1, 1]"
    if not -1.0 <= conviction <= 1.0:
        return f"conviction {conviction!r} is outside [-1, 1]"
    if conviction < config.min_conviction:
        return f"conviction {conviction!r} below minimum {config.min_conviction!r}"
    return None


# Kill switches first, so the reason a halted bot gives is the halt, not the conviction.
ENTRY_CHECKS: Final[tuple[EntryCheck, ...]] = (
    equity_marked,
    drawdown_latch,
    daily_pause,
    loss_cooldown,
    entries_per_day,
    conviction_threshold,
)


def open_positions_cap(config: RiskConfig, open_positions: int) -> str | None:
    """Refuse when positions held plus entries already decided reach max_open_positions."""
    cap = config.max_open_positions
    if rules.open_positions_full(open_positions, cap):
        return f"max_open_positions: {open_positions} of {cap} positions open or decided"
    return None


def gross_exposure_cap(
    config: RiskConfig, *, gross_notional: float, new_notional: float, equity: float
) -> str | None:
    """Refuse when held and decided notionals plus this entry's exceed max_gross_exposure_pct
    of equity."""
    cap = config.max_gross_exposure_pct
    if not rules.gross_exposure_exceeded(gross_notional, new_notional, equity, cap):
        return None
    if not 0.0 < equity < math.inf:
        return f"max_gross_exposure_pct: equity {equity!r} gives no room for a position"
    exposure = (gross_notional + new_notional) / equity
    return (f"max_gross_exposure_pct: {gross_notional:.2f} held or decided + "
            f"{new_notional:.2f} new is {exposure:.1%} of equity {equity:.2f}, above {cap:.1%}")


def evaluate(state: RiskState, config: RiskConfig, conviction: float) -> Approval:
    """Run every entry check in order; the first refusal is the answer."""
    for check in ENTRY_CHECKS:
        reason = check(state, config, conviction)
        if reason is not None:
            return Approval(ok=False, reason=reason)
    return Approval(ok=True, reason=APPROVED)
