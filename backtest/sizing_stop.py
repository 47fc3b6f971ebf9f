"""When sizing stops a strategy: half-Kelly of its own closed trades came out <= 0.

Once ``kelly_min_trades`` trades have closed, the kernel sizes each entry at half-Kelly of the
trades closed before it. When that is <= 0 the size is 0 and the entry is refused (``size_zero``);
no trade opens, so the record never changes again and the strategy has stopped for good. This
module says when and why, from the kernel's own trades and per-bar refusals, with the functions
of risk/rules.py the kernel sizes with (the rule is not written a second time here).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from backtest import kernel
from risk import rules


@dataclass(frozen=True, slots=True)
class SizingStop:
    """The point after which the risk layer refused every entry because half-Kelly was <= 0.

    Attributes:
        bar: position in the run's bars (``BacktestResult.bars``) where the trade that made
            half-Kelly <= 0 closed; from this bar's close on every entry is refused.
        time: that bar's open time (UTC), as the run's index labels it.
        first_refused_bar / first_refused_time: the first entry signal refused for size 0 after
            it (the bar to mark on a chart), None when no entry signal came after.
        half_kelly: half of Kelly ``p/L - (1-p)/W`` of the record (0 for invalid inputs, e.g.
            no winning trade, as risk/rules.py sizes them).
        trades: the closed trades the record holds.
        win_rate: share of those trades with pnl > 0 (0.24 = 24%).
        avg_win_pct / avg_loss_pct: mean return of winners / mean loss of losers, as positive
            fractions (0.0387 = 3.87%); NaN when there is none.
        refused_entries: entries refused for size 0 from ``bar`` on.
    """

    bar: int
    time: datetime
    first_refused_bar: int | None
    first_refused_time: datetime | None
    half_kelly: float
    trades: int
    win_rate: float
    avg_win_pct: float
    avg_loss_pct: float
    refused_entries: int

    def reason(self) -> str:
        """Why, in one clause: ``half-Kelly of the first 50 closed trades is -1.35 (...)``."""
        return (f"half-Kelly of the first {self.trades:,} closed trades is "
                f"{self.half_kelly:.2f} (win rate {self.win_rate:.1%}, avg win "
                f"{_pct(self.avg_win_pct)}, avg loss {_pct(self.avg_loss_pct)})")

    def sentence(self) -> str:
        """Why and when, as the console and the sweep say it."""
        when = f"after {self.time:%Y-%m-%d %H:%M} UTC"
        return (f"{self.reason()}: the risk layer refuses every entry {when} "
                f"({self.refused_entries:,} entry signals refused)")

    def to_json(self) -> dict[str, object]:
        """JSON-safe dict: times in ISO 8601, NaN as null."""
        def num(value: float) -> float | None:
            return value if math.isfinite(value) else None

        return {
            "bar": self.bar, "time": self.time.isoformat(),
            "first_refused_bar": self.first_refused_bar,
            "first_refused_time": None if self.first_refused_time is None
            else self.first_refused_time.isoformat(),
            "half_kelly": num(self.half_kelly), "trades": self.trades,
            "win_rate": num(self.win_rate), "avg_win_pct": num(self.avg_win_pct),
            "avg_loss_pct": num(self.avg_loss_pct), "refused_entries": self.refused_entries,
        }


def find_sizing_stop(
    raw: kernel.KernelResult, index: pd.DatetimeIndex, *, kelly_min_trades: int,
    default_position_pct: float, max_position_pct: float,
) -> SizingStop | None:
    """The run's sizing stop, or None when half-Kelly never refused every entry.

    ``index`` labels the run's bars (the kernel's inputs). The record is the run's final one:
    it can only change when a trade closes, and none opens once it sizes at 0.
    """
    closed = raw.trades[raw.trades[:, kernel.T_REASON] != kernel.EXIT_END]
    n, wins, losses, sum_win, sum_loss = _record(closed)
    # The kernel's own test before an entry: the largest size any conviction could give.
    largest = rules.record_fraction(1.0, n, wins, losses, sum_win, sum_loss, kelly_min_trades,
                                    default_position_pct, max_position_pct)
    if n == 0 or largest > 0.0:
        return None
    avg_win = sum_win / wins if wins > 0 else 0.0  # record_fraction's inputs, to the digit
    avg_loss = sum_loss / losses if losses > 0 else 0.0
    kelly = rules.kelly_fraction(wins / n, avg_win, avg_loss)
    bar = int(closed[-1, kernel.T_EXIT_IDX])
    refused = np.flatnonzero(raw.refused[bar:] == kernel.REJ_SIZE_ZERO) + bar
    first = int(refused[0]) if len(refused) else None
    return SizingStop(
        bar=bar, time=index[bar].to_pydatetime(), first_refused_bar=first,
        first_refused_time=None if first is None else index[first].to_pydatetime(),
        half_kelly=0.5 * kelly, trades=n, win_rate=wins / n,
        avg_win_pct=avg_win if wins > 0 else math.nan,
        avg_loss_pct=avg_loss if losses > 0 else math.nan, refused_entries=len(refused),
    )


def _record(closed: np.ndarray) -> tuple[int, int, int, float, float]:
    # The kernel's running sums (kernel._exit), added in its order so every digit is the same.
    wins = losses = 0
    sum_win = sum_loss = 0.0
    for pnl, ret in zip(closed[:, kernel.T_PNL].tolist(), closed[:, kernel.T_RETURN].tolist(),
                        strict=True):
        if pnl > 0.0:
            wins += 1
            sum_win += ret
        elif pnl < 0.0:
            losses += 1
            sum_loss -= ret
    return len(closed), wins, losses, sum_win, sum_loss


def _pct(value: float) -> str:
    return "n/a" if not math.isfinite(value) else f"{value:.2%}"
