"""Runs the loop for weeks: wakes just after each bar closes, survives errors, stops cleanly.

- Bar-aligned: after a step it sleeps until the next bar's close plus a small grace (the
  exchange needs a moment to publish the closed candle), not a blind 60 s poll.
- An error inside a step is logged in one line, counted and backed off (doubling, capped); the
  loop itself never dies on one bad response. The execution and scorer breakers decide when
  trading stops.
- Between bars, every ``guard_every`` (5 s): queued operator commands are applied
  (``loop.poll_commands``: a pause or a flatten takes seconds, not a bar), then the guard runs.
  A failure of either is logged in one line and tried again at the next tick.
- SIGTERM / SIGINT set a flag: the current step finishes and is saved, then ``run`` returns.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import FrameType

from core.clock import Clock
from signals.strategy import StrategyError
from trading.loop import TradingLoop

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RunnerSettings:
    """Timing of the run loop.

    Attributes:
        bar: the bar length.
        grace: wait after a bar's close before fetching it.
        backoff_start: first wait after a failed step; doubles per consecutive failure.
        backoff_max: the longest wait after failures.
        guard_every: between bars, how often operator commands are applied and
            ``loop.guard()`` runs (live and testnet: stops read back and re-placed, failed
            exits sent again; paper's guard does nothing).
    """

    bar: timedelta
    grace: timedelta = timedelta(seconds=5)
    backoff_start: timedelta = timedelta(seconds=10)
    backoff_max: timedelta = timedelta(minutes=5)
    guard_every: timedelta = timedelta(seconds=5)


def next_wake(now: datetime, bar: timedelta, grace: timedelta) -> datetime:
    """The first bar close after ``now`` (bars aligned to the epoch, as exchanges align them)."""
    epoch = datetime(1970, 1, 1, tzinfo=now.tzinfo)
    closes = (now - grace - epoch) // bar + 1
    return epoch + closes * bar + grace


class Runner:
    """Drives ``loop.step()`` forever (or once) on the wall clock."""

    def __init__(
        self, loop: TradingLoop, settings: RunnerSettings, *, clock: Clock,
        stop: threading.Event | None = None, on_step: Callable[[TradingLoop], None] | None = None,
    ) -> None:
        self._loop, self._settings, self._clock = loop, settings, clock
        self.stop = stop or threading.Event()
        self._on_step = on_step
        self.failures = 0

    def run(self, *, once: bool = False) -> int:
        """Step until stopped (or once); the exit code: 1 when ``once``'s step failed, else 0."""
        while not self.stop.is_set():
            wait = self._step_and_wait()
            if once:
                # cron and monitoring read the exit code: a failed step must not look like success
                return 1 if self.failures else 0
            self._loop.status.next_wake = self._clock.now() + wait
            self._notify()
            self._wait_guarding(wait)
        log.info("stopped cleanly after the last finished step")
        return 0

    def _step_and_wait(self) -> timedelta:
        try:
            done = self._loop.step()
        except StrategyError:
            raise  # a strategy that fails its checks is fixed in its file, never by waiting
        except Exception as e:  # the loop must outlive one bad response
            self.failures += 1
            self._loop.status.errors += 1
            delay: timedelta = min(self._settings.backoff_start * 2 ** (self.failures - 1),
                                   self._settings.backoff_max)
            log.warning("step failed (%d in a row): %s; retrying in %ss", self.failures,
                        _one_line(e), int(delay.total_seconds()))
            log.debug("step failure", exc_info=True)
            return delay
        self.failures = 0
        if done:
            log.info("processed %d new closed bar(s)", done)
        s = self._settings
        now = self._clock.now()
        return max(next_wake(now, s.bar, s.grace) - now, timedelta(0))

    def _wait_guarding(self, wait: timedelta) -> None:
        """Sleep until the next step; every ``guard_every`` apply operator commands, then run
        the loop's guard."""
        left = wait.total_seconds()
        every = self._settings.guard_every.total_seconds()
        while left > 0:
            nap = min(left, every)
            if self.stop.wait(nap):
                return
            left -= nap
            if left <= 0:
                return  # the step itself comes next
            started = self._clock.now()
            self._poll_commands()
            try:
                self._loop.guard()
            except Exception as e:  # the next tick tries again; a step is never blocked
                log.warning("guard failed: %s", _one_line(e))
            left -= (self._clock.now() - started).total_seconds()

    def _poll_commands(self) -> None:
        try:
            applied = self._loop.poll_commands()
        except Exception as e:  # rolled back, still queued: the next tick tries again
            log.warning("operator commands not applied: %s; trying again in %ss", _one_line(e),
                        int(self._settings.guard_every.total_seconds()))
            return
        if applied:
            self._notify()  # the screen shows a pause or a halt at once, not at the next bar

    def _notify(self) -> None:
        if self._on_step is not None:
            self._on_step(self._loop)


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM and SIGINT set ``stop`` instead of killing the process mid-step."""
    def handler(signum: int, frame: FrameType | None) -> None:
        log.warning("%s received: finishing the current step, then exiting",
                    signal.Signals(signum).name)
        stop.set()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__
