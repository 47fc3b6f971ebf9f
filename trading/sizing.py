"""Where the loop's Kelly inputs come from, and the size they give.

- ``RollingKelly``: from the loop's own trades closed before each decision, exactly as the
  backtest kernel does (replay uses it, so a replay and a backtest size alike).
- ``SavedKelly``: from the latest saved backtest of the same strategy (paper and live). When the
  file is missing, stale, of another strategy or based on too few trades, paper sizes at the
  stated default (``default_position_pct`` x conviction) and says why; live refuses to start.

Both size through risk/rules.py, the functions the kernel calls.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from risk import rules


class SizingSource(Protocol):
    """Fraction of equity for a new position at a given conviction."""

    def fraction(self, conviction: float) -> float:
        """Half-Kelly x conviction capped (or the default size); 0.0 means no trade."""
        ...

    def record_close(self, pnl: float, ret: float) -> None:
        """Learn from one closed trade (ignored by sources that do not learn)."""
        ...

    def describe(self) -> str:
        """One line saying where the size comes from."""
        ...


@dataclass
class RollingKelly:
    """Kelly inputs from trades closed so far; the kernel's accumulators, in the same order."""

    max_position_pct: float
    default_position_pct: float
    min_trades: int
    n_closed: int = 0
    wins: int = 0
    losses: int = 0
    sum_win: float = 0.0
    sum_loss: float = 0.0

    def fraction(self, conviction: float) -> float:
        """The kernel's sizing rule on this run's closed trades."""
        return rules.record_fraction(
            conviction, self.n_closed, self.wins, self.losses, self.sum_win, self.sum_loss,
            self.min_trades, self.default_position_pct, self.max_position_pct,
        )

    def record_close(self, pnl: float, ret: float) -> None:
        """Count a closed trade: pnl > 0 a win, pnl < 0 a loss (as the seed and the kernel)."""
        self.n_closed += 1
        if pnl > 0.0:
            self.wins += 1
            self.sum_win += ret
        elif pnl < 0.0:
            self.losses += 1
            self.sum_loss -= ret

    def describe(self) -> str:
        """Where the size comes from."""
        if self.n_closed < self.min_trades:
            return (f"default size {self.default_position_pct:.2%} x conviction until "
                    f"{self.min_trades} trades have closed ({self.n_closed} so far)")
        return f"half-Kelly from {self.n_closed} closed trades of this run"

    def to_dict(self) -> dict[str, Any]:
        """The accumulators, JSON-safe (floats as repr so they round-trip exactly)."""
        return {"n_closed": self.n_closed, "wins": self.wins, "losses": self.losses,
                "sum_win": repr(self.sum_win), "sum_loss": repr(self.sum_loss)}

    def load(self, raw: dict[str, Any]) -> None:
        """Continue from saved accumulators."""
        self.n_closed = int(raw["n_closed"])
        self.wins = int(raw["wins"])
        self.losses = int(raw["losses"])
        self.sum_win = float(raw["sum_win"])
        self.sum_loss = float(raw["sum_loss"])


@dataclass(frozen=True)
class SavedKelly:
    """Fixed Kelly inputs from a saved backtest, or the default size with the reason why not."""

    max_position_pct: float
    default_position_pct: float
    win_rate: float = math.nan
    avg_win_pct: float = math.nan
    avg_loss_pct: float = math.nan
    problem: str = ""  # why the saved inputs are not used ("" when they are)
    source: str = ""

    def fraction(self, conviction: float) -> float:
        """Half-Kelly x conviction from the saved inputs, or the default size."""
        if self.problem:
            return rules.default_fraction(
                self.default_position_pct, conviction, self.max_position_pct
            )
        return rules.position_fraction(
            self.win_rate, self.avg_win_pct, self.avg_loss_pct, conviction,
            self.max_position_pct,
        )

    def record_close(self, pnl: float, ret: float) -> None:
        """Saved inputs do not change while the bot runs."""

    def describe(self) -> str:
        """Where the size comes from."""
        if self.problem:
            return (f"default size {self.default_position_pct:.2%} x conviction: "
                    f"{self.problem}")
        return (f"half-Kelly from {self.source}: win rate {self.win_rate:.2%}, "
                f"avg win {self.avg_win_pct:.2%}, avg loss {self.avg_loss_pct:.2%}")


def saved_kelly(
    *, path: Any, strategy_id: str, now: datetime, max_age: timedelta, min_trades: int,
    max_position_pct: float, default_position_pct: float,
) -> SavedKelly:
    """SavedKelly from the backtest results file, with ``problem`` set when unusable."""
    from backtest.kelly_store import load_backtest_results
    from core.errors import BotError

    try:
        saved = load_backtest_results(path)
    except BotError as e:
        return SavedKelly(max_position_pct, default_position_pct,
                          problem=f"no usable backtest results ({e})")
    problem = _problem(saved, strategy_id=strategy_id, now=now, max_age=max_age,
                       min_trades=min_trades)
    k = saved.kelly
    return SavedKelly(
        max_position_pct, default_position_pct, win_rate=k.win_rate,
        avg_win_pct=k.avg_win_pct, avg_loss_pct=k.avg_loss_pct,
        problem=problem, source=f"the backtest of {saved.created_at:%Y-%m-%d %H:%M} UTC",
    )


def _problem(
    saved: Any, *, strategy_id: str, now: datetime, max_age: timedelta, min_trades: int
) -> str:
    if saved.strategy_id != strategy_id:
        return (f"the saved backtest is of other settings (strategy {saved.strategy_id}, "
                f"these are {strategy_id}): run the backtest with these settings")
    age = now - saved.created_at
    if age > max_age:
        return f"the saved backtest is {age.days} days old (more than {max_age.days})"
    if saved.kelly.trades < min_trades:
        return f"the saved backtest closed {saved.kelly.trades} trades (fewer than {min_trades})"
    return ""
