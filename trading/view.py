"""The live view: a screen that stays put on a terminal, one plain line per step otherwise.

On a terminal, rich's Live draws trading/screen.py's Screen and log lines print above it: the
Live uses the console of main.py's log handler, so a log line goes through the Live (which
moves it above the screen) instead of writing over it, and ``print`` is redirected the same
way. Under systemd (stdout not a terminal) each step prints one plain line, as journald wants,
and a replay prints nothing per bar.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

from rich.console import Console
from rich.live import Live

from trading.screen import Notice, Progress, Screen, ScreenState, money
from trading.status import LoopStatus

if TYPE_CHECKING:
    from execution.broker import Broker
    from trading.loop import TradingLoop
    from trading.replay import ReplayRun

NOTICES: Final = 5  # alerts and warnings kept on screen
# The screen is drawn by Live's own thread this often (a resize shows within that time); a
# replay takes a new snapshot for it at most every REDRAW_S, whatever its speed: never per bar.
REFRESH_PER_S: Final = {"replay": 4.0, "other": 1.0}
REDRAW_S: Final = 0.25


class View:
    """Shows the loop's status: a Live screen on a terminal, a log line per step otherwise."""

    def __init__(self, *, terminal: bool, mode: str = "paper", strategy: str = "",
                 console: Console | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.terminal = terminal
        self._mode, self._strategy, self._clock = mode, strategy, clock
        self._state = ScreenState(mode=mode, strategy=strategy, symbols=())
        self._notices = NoticeLog(NOTICES)
        self._progress: ReplayProgress | None = None
        self._replay: ReplayRun | None = None
        self._shown: tuple[ScreenState, Screen] | None = None  # the snapshot and its Screen
        self._live: StableLive | None = None
        if terminal:
            logging.getLogger().addHandler(self._notices)
            per_s = REFRESH_PER_S["replay" if mode == "replay" else "other"]
            self._live = StableLive(console=console or log_console(), get_renderable=self.screen,
                                    refresh_per_second=per_s)
            self._live.start(refresh=True)

    def update(self, loop: TradingLoop, broker: Broker) -> None:
        """Take the broker's positions and the kill switches now; redraw (or print a line)."""
        refresh_status(loop, broker)
        if self._live is None:
            # stdout, one line per step: journald keeps it with the unit's other output.
            print(plain_line(loop.status), flush=True)
            return
        self._snapshot(loop)
        self._live.refresh()

    def start_replay(self, run: ReplayRun) -> None:
        """A replay's first screen: nothing done of its ticks yet."""
        self._replay = run
        self._progress = ReplayProgress(len(run.ticks), clock=self._clock)
        self.replay_step(run.loop, count=0)

    def replay_step(self, loop: TradingLoop, *, count: int = 1) -> None:
        """One tick of a replay done: counted always, drawn at most every REDRAW_S."""
        progress = self._progress
        if progress is None or self._replay is None:
            return
        progress.done += count
        if progress.due():  # Live's thread draws it
            refresh_status(loop, self._replay.broker)
            self._snapshot(loop)

    def finish_replay(self) -> None:
        """Draw the replay now, whatever the time since the last drawing."""
        if self._replay is not None and self._live is not None:
            refresh_status(self._replay.loop, self._replay.broker)
            self._snapshot(self._replay.loop)
            self._live.refresh()

    def screen(self) -> Screen:
        """What the Live draws now: the last snapshot with the notices as they are now; the
        same Screen while neither changed (StableLive does not draw that again)."""
        notices, shown = self._notices.items(), self._shown
        if shown is None or shown[0] is not self._state or shown[1].state.notices != notices:
            shown = self._shown = (self._state, Screen(replace(self._state, notices=notices)))
        return shown[1]

    def close(self) -> None:
        """Stop the live display (its last screen stays) and stop keeping notices."""
        if self._live is not None:
            self._live.stop()
            logging.getLogger().removeHandler(self._notices)

    def _snapshot(self, loop: TradingLoop) -> None:
        progress = None if self._progress is None else self._progress.snapshot(loop.status)
        # One assignment: the refresh thread sees the old snapshot or the new one, never half.
        self._state = ScreenState.of(loop.status, mode=self._mode, strategy=self._strategy,
                                     progress=progress)


def refresh_status(loop: TradingLoop, broker: Broker) -> LoopStatus:
    """The loop's status with what is held, the kill switches and the closes as they are now."""
    # Any book with the loop's fields will do; one without a pause field has none in force.
    loop.status.refresh(broker, manual_halt=loop.book.manual_halt,
                        manual_pause=loop.book.manual_pause, risk=loop.risk,
                        closes=loop.book.last_close)
    return loop.status


class ReplayProgress:
    """Counts a replay's ticks and says when the screen is due again (time-based, not per bar)."""

    def __init__(self, total: int, *, clock: Callable[[], float],
                 every_s: float = REDRAW_S) -> None:
        self.total, self.done = total, 0
        self._clock, self._every = clock, every_s
        self._started = clock()
        self._next = self._started  # the first tick is drawn at once

    def due(self) -> bool:
        """True (and the next one set) when REDRAW_S has passed since the last draw."""
        now = self._clock()
        if now < self._next and self.done < self.total:
            return False
        self._next = now + self._every
        return True

    def snapshot(self, status: LoopStatus) -> Progress:
        """Bars done, the simulated time and the pace so far."""
        elapsed = self._clock() - self._started
        pace = self.done / elapsed if self.done and elapsed > 0 else None
        at = None if status.bar_time is None else status.bar_time.to_pydatetime()
        return Progress(done=self.done, total=self.total, sim_time=at, bars_per_s=pace)


class NoticeLog(logging.Handler):
    """Keeps the last WARNING-or-worse records for the screen; an operator alert is one of them
    (every alerter logs through LogAlerter: ``ALERT kind: text`` on trading.alerts)."""

    def __init__(self, size: int) -> None:
        super().__init__(logging.WARNING)
        self._items: deque[Notice] = deque(maxlen=size)
        self._guard = threading.Lock()  # the Live's refresh thread reads while the loop logs

    def emit(self, record: logging.LogRecord) -> None:
        """Keep the record's first line as a notice."""
        try:
            text, level = record.getMessage(), record.levelname
        except Exception:  # a bad format string must not break the loop that logged it
            self.handleError(record)
            return
        if record.name == "trading.alerts" and text.startswith("ALERT "):
            text, level = text.removeprefix("ALERT "), "ALERT"
        notice = Notice(datetime.fromtimestamp(record.created, UTC), level,
                        (text.splitlines() or [""])[0])
        with self._guard:
            self._items.append(notice)

    def items(self) -> tuple[Notice, ...]:
        """The notices kept, oldest first."""
        with self._guard:
            return tuple(self._items)


def log_console() -> Console:
    """The console of main.py's log handler when it is a terminal, else a new one on stdout.

    The Live and the log handler must share one console: a log line written to another one
    lands on top of the screen, and the next redraw leaves it and old borders behind.
    """
    from rich.logging import RichHandler

    for handler in logging.getLogger().handlers:
        if isinstance(handler, RichHandler) and handler.console.is_terminal:
            return handler.console
    return Console()


class StableLive(Live):
    """A Live that draws on a cleared screen when the terminal's width changes.

    A terminal that reflows the last drawing at its new width makes it taller than the rows
    Live moves back over, so old title lines and borders would pile up. The log lines cleared
    with it stay in the terminal's scrollback; the last alerts stay on screen.
    """

    _width: int | None = None
    _drawn: object = None

    def refresh(self) -> None:
        """Redraw if the screen or the width changed; on a new width, on a cleared screen."""
        with self._lock:  # Live's own (reentrant) lock: its thread and the loop both draw
            width, screen = self.console.width, self.get_renderable()
            if screen is self._drawn and width == self._width:
                return  # the same drawing again would only cost the bot CPU
            if self._width is not None and width != self._width:
                self.console.clear()
            self._width, self._drawn = width, screen
            super().refresh()

    def stop(self) -> None:
        """Draw the last screen once more, whole (Live lets it overflow then), and stop."""
        self._drawn = None
        super().stop()


def plain_line(status: LoopStatus) -> str:
    """One line for a log (systemd/journald): account figures then each symbol's decision."""
    parts = [_title(status)]
    for s in status.symbols.values():
        conviction = "" if s.conviction is None else f" conv {s.conviction:.2f}/{s.score_source}"
        held = "" if s.entry_price is None or not s.position else (
            f" entry {s.entry_price:.8g} upnl {money(s.unrealised_pnl)}")
        parts.append(f"{s.symbol} sig {s.signal if s.signal is not None else '-'}{conviction} "
                     f"{s.action or '-'} pos {s.position:.8g}"
                     f"{'' if s.stop is None else f' stop {s.stop:.8g}'}{held}")
    return " | ".join(parts)


def _title(status: LoopStatus) -> str:
    dd = "-" if status.drawdown is None else f"{status.drawdown:.2%}"
    operator = ("manual", "pause")
    switches = [f"{kind}: {why}" for kind, why in status.halts if kind not in operator]
    # The operator's halt and pause are no kill switches, but they stop entries all the same.
    said = [f"{verb} by the operator: {why}" for verb, why in (
        ("halted", status.manual_halt), ("paused", status.manual_pause)) if why]
    halt = "; ".join(["kill switch " + "; ".join(switches)] if switches else []) or (
        "" if said else "kill switch none")
    halt = "; ".join(part for part in (halt, *said) if part)
    breakers = ", ".join(f"{k} {v}" for k, v in status.breakers.items()) or "-"
    wake = "-" if status.next_wake is None else f"{status.next_wake:%H:%M:%S} UTC"
    return (f"equity {money(status.equity)} peak {money(status.peak)} drawdown {dd} "
            f"day P&L {money(status.daily_pnl)} | {halt} | breakers {breakers} | "
            f"errors {status.errors} | next wake {wake}")
