"""Where the loop's Kelly inputs come from, and the size they give.

- ``RollingKelly``: per symbol, from that symbol's own trades closed before each decision,
  exactly as the backtest kernel does (replay uses it, so a replay and a backtest size alike).
- ``SavedKelly``: per symbol, from that symbol's saved evidence (a backtest, or with
  ``run --gate-on walkforward`` a walk-forward's out-of-sample trades) of the same strategy
  and timeframe (paper and live). When a symbol has none, or it is stale or based on too few
  trades, paper sizes that symbol at the stated default (``default_position_pct`` x
  conviction) and says why; live refuses that symbol (trading/promotion.py).

Both size through risk/rules.py, the functions the kernel calls.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from core.errors import BotError, ConfigError
from risk import rules
from risk.backtest_store import load_backtest_results
from risk.saved_backtest import ResultKey, SavedBacktest, evidence_line


class SizingSource(Protocol):
    """Fraction of equity for a new position of a symbol at a given conviction."""

    def fraction(self, conviction: float, symbol: str) -> float:
        """Half-Kelly x conviction capped (or the default size); 0.0 means no trade."""
        ...

    def record_close(self, pnl: float, ret: float, symbol: str) -> None:
        """Learn from one closed trade of ``symbol`` (ignored by sources that do not learn)."""
        ...

    def describe(self, symbol: str | None = None) -> str:
        """One line saying where the size of ``symbol`` (None: of every symbol) comes from."""
        ...

    def evidence(self) -> Mapping[str, str]:
        """Per symbol, the saved evidence its size and live gate rest on ({}: none)."""
        ...


@dataclass
class KellyRecord:
    """One symbol's closed trades as the kernel counts them (accumulators, in its order)."""

    n_closed: int = 0
    wins: int = 0
    losses: int = 0
    sum_win: float = 0.0
    sum_loss: float = 0.0

    def record_close(self, pnl: float, ret: float) -> None:
        """Count a closed trade: pnl > 0 a win, pnl < 0 a loss (as the seed and the kernel)."""
        self.n_closed += 1
        if pnl > 0.0:
            self.wins += 1
            self.sum_win += ret
        elif pnl < 0.0:
            self.losses += 1
            self.sum_loss -= ret

    def to_dict(self) -> dict[str, Any]:
        """The accumulators, JSON-safe (floats as repr so they round-trip exactly)."""
        return {"n_closed": self.n_closed, "wins": self.wins, "losses": self.losses,
                "sum_win": repr(self.sum_win), "sum_loss": repr(self.sum_loss)}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> KellyRecord:
        """Inverse of ``to_dict``."""
        return cls(int(raw["n_closed"]), int(raw["wins"]), int(raw["losses"]),
                   float(raw["sum_win"]), float(raw["sum_loss"]))


@dataclass
class RollingKelly:
    """Kelly inputs from trades closed so far; the kernel's accumulators, in the same order.

    Per symbol (issue 14): a symbol sizes from its own closed trades only, at the default size
    until ``min_trades`` of them have closed, as the portfolio kernel does. With one symbol
    that is the single-symbol kernel's one record.
    """

    max_position_pct: float
    default_position_pct: float
    min_trades: int
    records: dict[str, KellyRecord] = field(default_factory=dict)

    def record_of(self, symbol: str) -> KellyRecord:
        """``symbol``'s closed trades so far (an empty record before its first)."""
        record = self.records.get(symbol)
        return record if record is not None else KellyRecord()

    def fraction(self, conviction: float, symbol: str) -> float:
        """The kernel's sizing rule on this run's closed trades of ``symbol``."""
        r = self.record_of(symbol)
        return rules.record_fraction(
            conviction, r.n_closed, r.wins, r.losses, r.sum_win, r.sum_loss,
            self.min_trades, self.default_position_pct, self.max_position_pct,
        )

    def record_close(self, pnl: float, ret: float, symbol: str) -> None:
        """Count a closed trade of ``symbol``."""
        self.records.setdefault(symbol, KellyRecord()).record_close(pnl, ret)

    def describe(self, symbol: str | None = None) -> str:
        """Where ``symbol``'s size comes from; None: the rule every symbol follows."""
        if symbol is None:
            return (f"half-Kelly per symbol from its own closed trades of this run; default "
                    f"size {self.default_position_pct:.2%} x conviction until "
                    f"{self.min_trades} of them have closed")
        n = self.record_of(symbol).n_closed
        if n < self.min_trades:
            return (f"default size {self.default_position_pct:.2%} x conviction until "
                    f"{self.min_trades} trades have closed ({n} so far)")
        return f"half-Kelly from {n} closed trades of this run"

    def evidence(self) -> Mapping[str, str]:
        """None saved: this run's own trades size it."""
        return {}

    def to_dict(self) -> dict[str, Any]:
        """Each symbol's accumulators, JSON-safe."""
        return {"by_symbol": {s: r.to_dict() for s, r in self.records.items()}}

    def load(self, raw: Mapping[str, Any], symbols: tuple[str, ...] = ()) -> None:
        """Continue from saved accumulators.

        A journal written before the counters were per symbol holds one flat record; it was a
        replay of one file, so it is that one symbol's (``symbols``: the run's markets).
        """
        if "by_symbol" in raw:
            self.records = {s: KellyRecord.from_dict(r) for s, r in raw["by_symbol"].items()}
            return
        if len(symbols) != 1:
            raise ConfigError(
                f"the journal's Kelly counters are of one market and this run trades "
                f"{len(symbols)}; start a new account (replay: --fresh)")
        self.records = {symbols[0]: KellyRecord.from_dict(raw)}


@dataclass(frozen=True)
class SymbolKelly:
    """One symbol's fixed Kelly inputs from its saved backtest, or the default size and why."""

    max_position_pct: float
    default_position_pct: float
    win_rate: float = math.nan
    avg_win_pct: float = math.nan
    avg_loss_pct: float = math.nan
    problem: str = ""  # why the saved inputs are not used ("" when they are)
    source: str = ""
    evidence: str = ""  # what the size and the live gate rest on (evidence_line)

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

    def describe(self) -> str:
        """Where the size comes from."""
        if self.problem:
            return (f"default size {self.default_position_pct:.2%} x conviction: "
                    f"{self.problem}")
        return (f"half-Kelly from {self.source}: win rate {self.win_rate:.2%}, "
                f"avg win {self.avg_win_pct:.2%}, avg loss {self.avg_loss_pct:.2%}")


@dataclass(frozen=True)
class SavedKelly:
    """Each symbol sized with its own saved backtest (paper and live); fixed while running."""

    by_symbol: Mapping[str, SymbolKelly]

    def fraction(self, conviction: float, symbol: str) -> float:
        """``symbol``'s half-Kelly x conviction, or its default size."""
        return self._of(symbol).fraction(conviction)

    def record_close(self, pnl: float, ret: float, symbol: str) -> None:
        """Saved inputs do not change while the bot runs."""

    def describe(self, symbol: str | None = None) -> str:
        """Where ``symbol``'s size comes from; None: every symbol's, each named."""
        if symbol is not None:
            return self._of(symbol).describe()
        return "; ".join(f"{s}: {k.describe()}" for s, k in self.by_symbol.items())

    @property
    def problems(self) -> list[str]:
        """Why a symbol is not sized on its saved backtest, one line per symbol ([]: none)."""
        return [f"{s}: {k.problem}" for s, k in self.by_symbol.items() if k.problem]

    def evidence(self) -> Mapping[str, str]:
        """Per symbol, the saved evidence its size and live gate rest on."""
        return {s: k.evidence for s, k in self.by_symbol.items()}

    def _of(self, symbol: str) -> SymbolKelly:
        try:
            return self.by_symbol[symbol]
        except KeyError:
            # Built for every symbol the loop trades: another one is a wiring mistake.
            raise KeyError(f"no sizing was built for {symbol}") from None


def saved_kelly(
    *, path: Path, keys: Mapping[str, ResultKey], now: datetime, max_age: timedelta,
    min_trades: int, max_position_pct: float, default_position_pct: float,
) -> SavedKelly:
    """Per symbol, the Kelly inputs saved under its key, with ``problem`` set when unusable."""
    return SavedKelly({
        symbol: _symbol_kelly(path=path, key=key, now=now, max_age=max_age,
                              min_trades=min_trades, max_position_pct=max_position_pct,
                              default_position_pct=default_position_pct)
        for symbol, key in keys.items()
    })


def _symbol_kelly(
    *, path: Path, key: ResultKey, now: datetime, max_age: timedelta, min_trades: int,
    max_position_pct: float, default_position_pct: float,
) -> SymbolKelly:
    try:
        saved = load_backtest_results(path, key)
    except BotError as e:
        return SymbolKelly(max_position_pct, default_position_pct,
                           problem=f"no usable {key.noun} results ({e})",
                           evidence=f"gate on {key.noun}: none saved for these settings")
    k, when = saved.kelly, f"{saved.created_at:%Y-%m-%d %H:%M} UTC"
    return SymbolKelly(
        max_position_pct, default_position_pct, win_rate=k.win_rate,
        avg_win_pct=k.avg_win_pct, avg_loss_pct=k.avg_loss_pct,
        problem=_problem(saved, now=now, max_age=max_age, min_trades=min_trades),
        source=f"the {key.symbol} {key.timeframe} {key.noun} of {when}",
        evidence=evidence_line(saved),
    )


def evidence_text(sizing: SizingSource) -> str:
    """The start line's words on what each symbol's size and live gate rest on."""
    lines = sizing.evidence()
    return "; ".join(f"{s}: {line}" for s, line in lines.items()) or (
        "no saved evidence: sized on this run's own trades")


def _problem(saved: SavedBacktest, *, now: datetime, max_age: timedelta, min_trades: int) -> str:
    age, noun = now - saved.created_at, saved.key.noun
    if age > max_age:
        return f"the saved {noun} is {age.days} days old (more than {max_age.days})"
    if saved.kelly.trades < min_trades:
        return f"the saved {noun} closed {saved.kelly.trades} trades (fewer than {min_trades})"
    return ""
