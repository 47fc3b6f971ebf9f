"""Replay: historical bars through the very same loop, with the paper broker and a simulated clock.

The clock jumps from one bar's close to the next; ``speed`` says how long each jump takes in
real time (``None`` = as fast as possible, ``GROUP_BARS`` bars per journal transaction). A
replay stopped part-way (SIGTERM) and started again with the same journal continues after the
last bar it finished, with the same account.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from core.clock import SimulatedClock
from journal import Journal
from journal.records import RunMode
from signals.scorer import FixedScorer, Scorer
from trading.alerts import Alerter, LogAlerter
from trading.loop import LoopSettings, TradingLoop
from trading.market import ReplayMarket
from trading.run_command import code_version
from trading.setup import StrategySettings, build_paper_parts

log = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# --speed max: bars per journal transaction. Every bar still commits whole (never half of one)
# and alerts wait for the commit; a kill loses at most this many finished bars, which the
# restart replays to the same result. One commit per bar cost about half of a bar's time.
GROUP_BARS = 256


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """How far a replay got."""

    bars_done: int
    finished: bool
    last_bar: pd.Timestamp | None


def replay(
    frames: Mapping[str, pd.DataFrame],
    strategy: StrategySettings,
    *,
    journal_path: Path,
    scorer: Scorer | None = None,
    alerter: Alerter | None = None,
    speed: float | None = None,
    stop: threading.Event | None = None,
    on_step: Callable[[TradingLoop], None] | None = None,
    source: str | list[str] = "",
    on_start: Callable[[ReplayRun], None] | None = None,
) -> ReplayResult:
    """Feed ``frames`` bar by bar through a TradingLoop; stops early when ``stop`` is set.

    Several frames are one basket on one paper account, in the frames' order (trading.loop).
    ``source`` names the files, journaled with the run (a list for a basket).

    ``on_start`` sees the run before its first bar (the screen counts its ticks); ``on_step``
    is called after every tick.
    """
    stop = stop or threading.Event()
    clock = SimulatedClock(EPOCH)
    with Journal(journal_path, clock=clock, durable=False) as journal:
        run = ReplayRun(frames, strategy, journal=journal, clock=clock, scorer=scorer,
                        alerter=alerter, source=source)
        if on_start is not None:
            on_start(run)
        group = 1 if speed else GROUP_BARS
        done = 0
        for start in range(0, len(run.ticks), group):
            done += run.advance_group(run.ticks[start:start + group], stop=stop, on_step=on_step)
            if speed:
                stop.wait(speed)  # outside the transaction: the operator can write meanwhile
            if stop.is_set():
                return ReplayResult(done, False, _last(run.loop))
        return ReplayResult(done, True, _last(run.loop))


class ReplayRun:
    """A replay's loop on an open journal, and the clock ticks still to go."""

    def __init__(
        self, frames: Mapping[str, pd.DataFrame], strategy: StrategySettings, *,
        journal: Journal, clock: SimulatedClock, scorer: Scorer | None = None,
        alerter: Alerter | None = None, source: str | list[str] = "",
    ) -> None:
        symbols = tuple(frames)
        self.clock, self.journal = clock, journal
        market = ReplayMarket(frames, timeframe=strategy.timeframe, clock=clock)
        parts = build_paper_parts(strategy, journal=journal, clock=clock, rolling=True)
        self.broker = parts.broker
        self.loop = TradingLoop(
            LoopSettings(symbols=symbols, timeframe=strategy.timeframe,
                         strategy=strategy.strategy,
                         flatten_on_halt=strategy.flatten_on_halt, deferred_fills=True,
                         decide_on_catch_up=True),
            market=market, scorer=scorer or FixedScorer(), broker=parts.broker,
            journal=journal, risk=parts.risk, sizing=parts.sizing, clock=clock,
            alerter=alerter or LogAlerter(),
        )
        self.ticks = _ticks(market, symbols, strategy.strategy.warmup_bars, self.loop)
        if self.ticks:
            clock.set(self.ticks[0])  # the run starts at the replay's first bar, not in 1970
        journal.record_run(mode=RunMode.REPLAY, strategy_id=strategy.strategy_id(),
                           config={**strategy.snapshot(), "source": source},
                           code_version=code_version())

    def advance(self, tick: datetime) -> int:
        """Move the clock to ``tick`` and step the loop; the bars it processed."""
        self.clock.set(tick)
        return self.loop.step()

    def advance_group(
        self, ticks: list[datetime], *, stop: threading.Event,
        on_step: Callable[[TradingLoop], None] | None = None,
    ) -> int:
        """Step through ``ticks`` in one journal transaction (stops early when ``stop`` is set)."""
        done = 0
        try:
            with self.journal.batch():  # each bar's own batch joins this one
                for tick in ticks:
                    if stop.is_set():
                        break
                    done += self.advance(tick)
                    if on_step is not None:
                        on_step(self.loop)
        except BaseException:
            self.loop.reload()  # the group rolled back: take the state the file holds again
            raise
        return done


def _ticks(
    market: ReplayMarket, symbols: tuple[str, ...], warm: int, loop: TradingLoop
) -> list[datetime]:
    # Every close time from the first bar with a full warm-up window, after what is done.
    times: set[datetime] = set()
    for symbol in symbols:
        closes = market.close_times(symbol)[warm - 1:]
        times.update(closes)
    # Bars are processed in time order and every symbol with a bar at a time commits with it,
    # so all is done up to the latest last bar (a symbol whose file ended keeps an older one).
    done = [t for t in loop.book.last_bar.values()]
    if done:
        step = market.close_times(symbols[0])[0] - market.bars(symbols[0]).index[0]
        last_close = max(done).to_pydatetime() + step
        return sorted(t for t in times if t > last_close)
    return sorted(times)


def _last(loop: TradingLoop) -> pd.Timestamp | None:
    return max(loop.book.last_bar.values()) if loop.book.last_bar else None
