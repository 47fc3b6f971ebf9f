"""Hand-written baskets for the replay tests: bars by hour, and a signal the bars carry.

Every bar's volume is its signal (1: enter, 2: exit, anything else: nothing), so a test writes
its scenario as a table and can work the account out by hand. No fee, no slippage, stops far
away (unless a test says otherwise): each entry is half the equity at the close it is decided
on (default size 1.0 x the fixed conviction 0.5, capped at max_position_pct 0.5).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.domain import Fill
from journal import Journal
from risk.config import RiskConfig
from signals.strategy import LoadedStrategy
from trading.replay import replay
from trading.setup import StrategySettings

T0 = datetime(2024, 1, 1, tzinfo=UTC)
ENTER, EXIT = 1, 2


class VolumeSignal:
    """The signal is written in the volume column (see the module doc)."""

    warmup_bars = 1

    def signals(self, bars: pd.DataFrame) -> np.ndarray:
        volume = bars["volume"].to_numpy()
        return np.where(volume == ENTER, 1, np.where(volume == EXIT, -1, 0)).astype(np.int8)


def risk(**changes: Any) -> RiskConfig:
    """The basket tests' limits: positions of half the equity, stops 90% away."""
    values: dict[str, Any] = {"max_position_pct": 0.5, "stop_loss_pct": 0.9, **changes}
    return RiskConfig(**values)


def settings(*symbols: str, kelly_min_trades: int = 10**6, **risk_changes: Any
             ) -> StrategySettings:
    """A basket of ``symbols`` on 1,000 USDT, no costs."""
    return StrategySettings(
        symbols=symbols, strategy=LoadedStrategy(VolumeSignal, origin=__file__),
        risk=risk(**risk_changes), default_position_pct=1.0,
        kelly_min_trades=kelly_min_trades, init_cash=1000.0, fee=0.0, slippage=0.0,
    )


def bars(*rows: tuple[int, float, float, float, int]) -> pd.DataFrame:
    """Hourly bars from rows (hour, open, low, close, signal volume); high = max(open, close)."""
    index = pd.DatetimeIndex([T0 + timedelta(hours=h) for h, *_ in rows], name="timestamp")
    return pd.DataFrame({
        "open": [float(r[1]) for r in rows], "high": [float(max(r[1], r[3])) for r in rows],
        "low": [float(r[2]) for r in rows], "close": [float(r[3]) for r in rows],
        "volume": [float(r[4]) for r in rows],
    }, index=index)


def flat(signals: dict[int, int], hours: range | list[int] = range(5)) -> pd.DataFrame:
    """Bars at 100 all the way, with the given signal at some hours."""
    return bars(*[(h, 100.0, 100.0, 100.0, signals.get(h, 0)) for h in hours])


def at(hour: int) -> datetime:
    """The open time of the bar of ``hour``."""
    return T0 + timedelta(hours=hour)


def run(frames: dict[str, pd.DataFrame], strategy: StrategySettings, path: Path,
        **kwargs: Any) -> None:
    """The replay of ``frames`` to its end on a new journal at ``path``."""
    assert replay(frames, strategy, journal_path=path, **kwargs).finished


def fills(path: Path) -> list[tuple[str, str, datetime, float, float]]:
    """(symbol, kind, time, units, price) of every fill, in fill order."""
    with Journal(path) as journal:
        return [_fill(f) for f in journal.fills()]


def _fill(f: Fill) -> tuple[str, str, datetime, float, float]:
    return f.symbol, str(f.kind), f.at, float(f.amount), float(f.price)


def decisions(path: Path) -> list[tuple[str, datetime, str, str]]:
    """(symbol, bar time, action, reason) of every decision, oldest first."""
    with Journal(path) as journal:
        rows = journal.recent_decisions(10_000)
    return [(d.symbol, d.bar_time, str(d.action), d.reason) for d in reversed(rows)]


def reasons(path: Path, symbol: str) -> dict[datetime, str]:
    """Bar time -> reason of ``symbol``'s decisions."""
    return {t: why for s, t, _, why in decisions(path) if s == symbol}
