"""RiskConfig: the frozen, validated limits of the risk layer."""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from core.errors import ConfigError

_OPEN_UNIT = "in (0, 1) exclusive"


@dataclass(frozen=True, slots=True)
class RiskConfig:
    """Risk limits; percentages are fractions (0.02 = 2%), every field validated on creation.

    Attributes:
        max_position_pct: cap on a position's notional as a fraction of equity.
        daily_loss_limit_pct: loss from the UTC day's start equity that pauses new entries
            until the next UTC day (inclusive: exactly 5% pauses).
        max_drawdown_pct: fall from peak equity that latches a halt until an operator resumes
            (inclusive: exactly 15% halts).
        stop_loss_pct: distance of the protective stop from the entry price.
        min_conviction: lowest scorer conviction, in [-1, 1], that may open a position.
        cooldown_after_losses: after this many consecutive losing trades, no entries for
            ``cooldown_minutes``; 0 turns the cooldown off (the default).
        cooldown_minutes: length of that cooldown; must be > 0 when the cooldown is on.
        max_entries_per_day: most entries per UTC day; 0 means no cap (the default).
        max_open_positions: most positions held at once across a basket's symbols, entries
            decided and not yet filled included; 0 means no cap (the default).
        max_gross_exposure_pct: cap on the sum of the positions' notionals (held at their last
            close, plus entries decided and not yet filled) over equity, in [0, 1]: spot and
            long-only, so notionals cannot exceed equity; 0 means no cap (the default).
    """

    max_position_pct: float = 0.02
    daily_loss_limit_pct: float = 0.05
    max_drawdown_pct: float = 0.15
    stop_loss_pct: float = 0.015
    min_conviction: float = 0.3
    cooldown_after_losses: int = 0
    cooldown_minutes: int = 0
    max_entries_per_day: int = 0
    max_open_positions: int = 0
    max_gross_exposure_pct: float = 0.0

    def __post_init__(self) -> None:
        for name in ("max_position_pct", "daily_loss_limit_pct", "max_drawdown_pct"):
            _check_fraction(name, getattr(self, name))
        _check_fraction("stop_loss_pct", self.stop_loss_pct)
        if not -1.0 <= _check_number("min_conviction", self.min_conviction) <= 1.0:
            raise ConfigError(
                f"min_conviction must be in [-1, 1], got {self.min_conviction!r}"
            )
        for name in ("cooldown_after_losses", "cooldown_minutes", "max_entries_per_day",
                     "max_open_positions"):
            _check_count(name, getattr(self, name))
        # Spot, long-only, no leverage: the notionals held cannot exceed equity, so > 1 is a
        # units mistake (100 for 100%), not a looser cap.
        if not 0.0 <= _check_number("max_gross_exposure_pct", self.max_gross_exposure_pct) <= 1.0:
            raise ConfigError("max_gross_exposure_pct must be in [0, 1] (a fraction: 1.0 = 100% "
                              f"of equity; 0 = off), got {self.max_gross_exposure_pct!r}")
        if self.cooldown_after_losses > 0 and self.cooldown_minutes == 0:
            raise ConfigError(
                "cooldown_minutes must be an integer >= 1 when cooldown_after_losses is set, "
                f"got {self.cooldown_minutes!r}"
            )

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> RiskConfig:
        """Build from a settings mapping; an unknown key raises ConfigError with a suggestion."""
        known = [f.name for f in fields(cls)]
        for key in values:
            if key not in known:
                close = difflib.get_close_matches(str(key), known, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(known)}"
                raise ConfigError(f"unknown risk setting {key!r}{hint}")
        return cls(**values)

    @classmethod
    def from_options(cls, args: Any) -> RiskConfig:
        """From parsed command-line options named like the fields (core/cli_options.py)."""
        return cls(**{f.name: getattr(args, f.name) for f in fields(cls)})

    def to_dict(self) -> dict[str, float | int]:
        """Plain JSON-safe dict of every field."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def check_account(*, init_cash: float, fee: float, slippage: float,
                  default_position_pct: float, kelly_min_trades: int) -> None:
    """The simulated account's and the sizing's settings (backtest, replay, paper alike)."""
    if not (math.isfinite(init_cash) and init_cash > 0):
        raise ConfigError(f"init_cash must be a number > 0, got {init_cash!r}")
    for name, value in (("fee", fee), ("slippage", slippage)):
        if not (math.isfinite(value) and 0.0 <= value < 0.1):
            raise ConfigError(f"{name} must be in [0, 0.1) (0.001 = 0.1%), got {value!r}")
    if not 0.0 < default_position_pct <= 1.0:
        raise ConfigError(f"default_position_pct must be in (0, 1], got {default_position_pct!r}")
    if kelly_min_trades < 1:
        raise ConfigError(f"kelly_min_trades must be >= 1, got {kelly_min_trades!r}")


def _check_number(name: str, value: object) -> float:
    # bool is an int subclass; True as a percentage is a mistake, not 1.0.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def _check_fraction(name: str, value: object) -> None:
    if not 0.0 < _check_number(name, value) < 1.0:
        raise ConfigError(f"{name} must be {_OPEN_UNIT} (a fraction: 0.02 = 2%), got {value!r}")


def _check_count(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{name} must be an integer >= 0 (0 = off), got {value!r}")
