"""The graded operator commands on paper: pause, halt, resume and flatten [SYMBOL] (issue 15).

Hand-written baskets (tests/trading/basket.py: the volume column is the signal) stepped one
clock tick at a time, commands posted between ticks as an operator would. The tick at hour
h + 1 processes bar h: what bar h decides fills at bar h + 1's open, at the next tick. Entries
are half the equity at the close they are decided on, no costs, so every fill is worked out by
hand below.
"""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from rich.console import Console

from core.clock import SimulatedClock
from journal import Command, HaltEventKind, Journal
from journal.errors import JournalError
from tests.trading.basket import ENTER, EXIT, at, bars, settings
from trading.alerts import AlertKind
from trading.replay import EPOCH, ReplayRun
from trading.runner import Runner, RunnerSettings
from trading.screen import Screen, ScreenState
from trading.setup import StrategySettings
from trading.view import plain_line, refresh_status

BTC, ETH = "BTC/USDT", "ETH/USDT"
PAUSED = "operator pause: lunch"


class Alerts:
    """An alerter that keeps what it was asked to say."""

    def __init__(self) -> None:
        self.said: list[tuple[AlertKind, str]] = []

    def alert(self, kind: AlertKind, text: str) -> None:
        self.said.append((kind, text))

    def close(self) -> None:
        pass


class Stepper:
    """A paper replay driven tick by tick: ``to(h)`` processes every bar up to bar h."""

    def __init__(self, frames: dict[str, pd.DataFrame], strategy: StrategySettings,
                 path: Path, journal: type[Journal] = Journal) -> None:
        clock = SimulatedClock(EPOCH)
        self.journal = journal(path, clock=clock, durable=False)
        self.alerts = Alerts()
        self.run = ReplayRun(frames, strategy, journal=self.journal, clock=clock,
                             alerter=self.alerts)
        self.loop = self.run.loop

    def to(self, hour: int) -> None:
        """Process the bars up to bar ``hour`` (its close is at hour + 1)."""
        for tick in [t for t in self.run.ticks if t <= at(hour + 1)]:
            if self.loop.book.last_bar and tick <= max(self.loop.book.last_bar.values()):
                continue
            self.run.advance(tick)

    def post(self, kind: str, reason: str, *, actor: str = "cli", symbol: str | None = None
             ) -> int:
        return self.journal.post_command(kind, reason, actor=actor, symbol=symbol)

    def result(self, command_id: int) -> str:
        command = self.journal.command(command_id)
        assert command is not None
        assert command.acked_at is not None, f"command {command_id} not applied"
        return command.result

    def fills(self) -> list[tuple[str, str, datetime, float]]:
        return [(f.symbol, str(f.kind), f.at, float(f.price)) for f in self.journal.fills()]

    def reason(self, symbol: str, hour: int) -> str:
        (found,) = [d.reason for d in self.journal.recent_decisions(1000, symbol)
                    if d.bar_time == at(hour)]
        return found


Make = Callable[..., Stepper]


@pytest.fixture
def stepper_of(tmp_path: Path) -> Iterator[Make]:
    """Steppers on new journals in ``tmp_path`` (j0, j1, ...), closed after the test."""
    made: list[Stepper] = []

    def make(frames: dict[str, pd.DataFrame], strategy: StrategySettings,
             journal: type[Journal] = Journal) -> Stepper:
        made.append(Stepper(frames, strategy, tmp_path / f"j{len(made)}.sqlite3", journal))
        return made[-1]

    yield make
    for s in made:
        s.journal.close()


def test_a_pause_refuses_entries_while_exits_and_stops_go_on(
    stepper_of: Make,
) -> None:
    # Both enter at bar 0 (filled at bar 1's open, 100). Paused after bar 1: BTC's stop
    # (95 = 100 x (1 - 5%)) is hit in bar 2, ETH's exit signal of bar 2 sells at bar 3's open
    # (104); the entry signals of bar 2 (BTC, flat after its stop) and bar 3 (ETH) are
    # refused. Resumed after bar 3: BTC's entry signal of bar 4 is taken, filled at bar 5.
    frames = {
        BTC: bars((0, 100, 100, 100, ENTER), (1, 100, 100, 100, 0), (2, 100, 90, 96, ENTER),
                  (3, 96, 96, 96, 0), (4, 96, 96, 96, ENTER), (5, 97, 97, 97, 0)),
        ETH: bars((0, 100, 100, 100, ENTER), (1, 100, 100, 100, 0), (2, 100, 100, 103, EXIT),
                  (3, 104, 104, 104, ENTER), (4, 104, 104, 104, 0), (5, 104, 104, 104, 0)),
    }
    s = stepper_of(frames, settings(BTC, ETH, stop_loss_pct=0.05))
    s.to(1)
    pause = s.post("pause", "lunch", actor="telegram:42")
    s.to(3)
    assert s.loop.book.manual_pause == "lunch"
    resume = s.post("resume", "back")
    s.to(5)
    assert s.fills() == [
        (BTC, "entry", at(1), 100.0), (ETH, "entry", at(1), 100.0),
        (BTC, "stop", at(2), 95.0), (ETH, "exit", at(3), 104.0), (BTC, "entry", at(5), 97.0)]
    assert s.reason(BTC, 2) == PAUSED
    assert s.reason(ETH, 2) == "signal -1 closes the long"
    assert s.reason(ETH, 3) == PAUSED
    assert s.reason(BTC, 4) != PAUSED
    assert (s.result(pause), s.result(resume)) == ("no new entries", "pause lifted")
    kinds = [(h.kind, h.reason) for h in reversed(s.journal.recent_halts(10))]
    assert kinds == [(HaltEventKind.MANUAL_PAUSE, "lunch"), (HaltEventKind.MANUAL_RESUME, "back")]
    assert s.journal.manual_pause() is None
    assert s.loop.book.manual_pause == ""
    said = s.alerts.said
    assert (AlertKind.HALT, "operator pause by telegram:42: lunch (no new entries)") in said
    assert (AlertKind.RESUME, "operator resume by cli: back (pause lifted)") in said


def test_a_pause_survives_a_restart(stepper_of: Make, tmp_path: Path) -> None:
    frames = {BTC: bars(*[(h, 100, 100, 100, ENTER if h == 2 else 0) for h in range(4)])}
    s = stepper_of(frames, settings(BTC))
    s.to(0)
    s.post("pause", "lunch")
    s.to(1)
    s.journal.close()
    again = Stepper(frames, settings(BTC), tmp_path / "j0.sqlite3")
    try:
        assert again.loop.book.manual_pause == "lunch"  # from the journal's manual_pause row
        again.to(3)
        assert again.reason(BTC, 2) == PAUSED
        assert again.fills() == []
    finally:
        again.journal.close()


def test_halt_pause_and_one_resume_that_lifts_both(stepper_of: Make) -> None:
    # The entry decided at bar 0 fills at bar 1's open (as live, where it went out at bar 0's
    # close). Paused from bar 1 on: the position is kept through bars 2 and 3. A halt on top,
    # applied before bar 3, closes it: decided at bar 3's close, sold at bar 4's open (104);
    # bar 4's entry signal is refused by the halt. One resume before bar 5 lifts both with
    # one manual_resume row; bar 5's entry signal is taken, filled at bar 6's open.
    frames = {BTC: bars(*[(h, 100 + h, 100 + h, 100 + h, ENTER if h in (0, 4, 5) else 0)
                          for h in range(7)])}
    s = stepper_of(frames, settings(BTC))
    s.to(0)
    pause = s.post("pause", "lunch")
    s.to(2)
    assert s.fills() == [(BTC, "entry", at(1), 101.0)]
    assert s.reason(BTC, 2) == "long; no exit signal"
    halt = s.post("halt", "exchange maintenance")
    s.to(4)
    resume = s.post("resume", "all clear")
    s.to(6)
    assert s.fills() == [(BTC, "entry", at(1), 101.0), (BTC, "exit", at(4), 104.0),
                         (BTC, "entry", at(6), 106.0)]
    assert s.reason(BTC, 4) == "operator halt: exchange maintenance"  # the halt speaks first
    assert s.result(pause) == "no new entries"
    assert s.result(halt) == ("manual halt in force: no entries, positions closed at the next "
                              "open")
    assert s.result(resume) == "manual halt lifted; pause lifted"
    kinds = [h.kind for h in reversed(s.journal.recent_halts(10))]
    assert kinds == [HaltEventKind.MANUAL_PAUSE, HaltEventKind.MANUAL_HALT,
                     HaltEventKind.MANUAL_RESUME]
    assert s.journal.halts_in_force(at(7)) == []
    nothing = s.post("resume", "again")
    s.loop.poll_commands()
    assert s.result(nothing) == "nothing to resume"


def test_flatten_one_symbol_closes_it_at_the_next_open_and_keeps_the_other(
    stepper_of: Make,
) -> None:
    # Both held from bar 1. Flatten BTC after bar 1: sold at bar 2's open (110), ETH kept. A
    # second flatten of BTC before the first is filled makes no second exit. Entries stay
    # allowed: BTC's entry signal of bar 2 is taken, filled at bar 3's open.
    frames = {
        BTC: bars((0, 100, 100, 100, ENTER), (1, 100, 100, 100, 0), (2, 110, 110, 110, ENTER),
                  (3, 111, 111, 111, 0)),
        ETH: bars(*[(h, 100, 100, 100, ENTER if h == 0 else 0) for h in range(4)]),
    }
    s = stepper_of(frames, settings(BTC, ETH))
    s.to(1)
    first = s.post("flatten", "too volatile", actor="telegram:42", symbol=BTC)
    second = s.post("flatten", "really", symbol=BTC)
    s.to(3)
    assert s.fills() == [(BTC, "entry", at(1), 100.0), (ETH, "entry", at(1), 100.0),
                         (BTC, "exit", at(2), 110.0), (BTC, "entry", at(3), 111.0)]
    assert s.result(first) == "BTC/USDT closing at the next open"
    assert s.result(second) == ("BTC/USDT exit already pending (operator flatten: too "
                                "volatile); not another")
    (sold,) = [f for f in s.journal.fills(BTC) if str(f.kind) == "exit"]
    exit_order = s.journal.find_order(sold.client_id)
    assert exit_order is not None
    assert exit_order.reason == "operator flatten: too volatile"
    assert exit_order.bar_time == at(1)  # the last finished bar: its client id derives from it
    assert (AlertKind.INFO, "operator flatten BTC/USDT by telegram:42: too volatile (BTC/USDT "
            "closing at the next open)") in s.alerts.said


def test_flatten_cancels_an_entry_decided_and_not_yet_filled(
    stepper_of: Make,
) -> None:
    frames = {BTC: bars(*[(h, 100, 100, 100, ENTER if h == 0 else 0) for h in range(3)])}
    s = stepper_of(frames, settings(BTC))
    s.to(0)
    assert BTC in s.loop.book.pending  # decided at bar 0's close, fills at bar 1's open
    flatten = s.post("flatten", "not now")
    s.to(2)
    assert s.result(flatten) == ("BTC/USDT entry decided on the bar of 2024-01-01 00:00 UTC "
                                 "cancelled")
    assert s.fills() == []
    with Journal(s.journal.path) as reader:  # the dropped entry was saved with the ack
        assert reader.load_state("loop:pending") == {}


def test_flatten_when_flat_says_so(stepper_of: Make) -> None:
    frames = {BTC: bars(*[(h, 100, 100, 100, 0) for h in range(3)]),
              ETH: bars(*[(h, 100, 100, 100, 0) for h in range(3)])}
    s = stepper_of(frames, settings(BTC, ETH))
    s.to(0)
    one, every = s.post("flatten", "x", symbol=ETH), s.post("flatten", "y")
    assert s.loop.poll_commands() == 2
    assert (s.result(one), s.result(every)) == ("no ETH/USDT position", "no open position")
    assert s.loop.book.pending == {}


class DiskFullAtAck(Journal):
    """A journal whose acks fail (as a full disk would) while ``full`` is set."""

    full = False

    def ack_command(self, command: Command | int, result: str, *,
                    at: datetime | None = None) -> None:
        if self.full:
            raise JournalError("database or disk is full")
        super().ack_command(command, result, at=at)


def test_a_failed_command_rolls_back_and_stays_queued(stepper_of: Make) -> None:
    frames = {BTC: bars(*[(h, 100, 100, 100, ENTER if h == 0 else 0) for h in range(3)])}
    s = stepper_of(frames, settings(BTC), DiskFullAtAck)
    assert isinstance(s.journal, DiskFullAtAck)
    s.to(1)  # held
    flatten = s.post("flatten", "now")
    s.journal.full = True
    with pytest.raises(JournalError, match="disk is full"):
        s.loop.poll_commands()
    assert s.loop.book.pending == {}  # memory is the journal's again: no exit queued
    assert [c.id for c in s.journal.pending_commands()] == [flatten]
    s.journal.full = False
    assert s.loop.poll_commands() == 1
    assert s.result(flatten) == "BTC/USDT closing at the next open"


class OperatorAt(threading.Event):
    """The Runner's stop event on a simulated wait: each nap returns at once; ``on_nap(n)``
    runs at the n-th (what the operator does meanwhile), and the stop is set at ``last``."""

    def __init__(self, on_nap: Callable[[int], None], last: int) -> None:
        super().__init__()
        self.naps, self._on_nap, self._last = 0, on_nap, last

    def wait(self, timeout: float | None = None) -> bool:
        self.naps += 1
        self._on_nap(self.naps)
        if self.naps >= self._last:
            self.set()
        return self.is_set()


def run_between_bars(s: Stepper, on_nap: Callable[[int], None], naps: int) -> list[int]:
    """One step, then ``naps`` guard ticks of 5 s while the runner waits for the next bar;
    the pending command count seen at each screen update (after the step, after a command)."""
    seen: list[int] = []
    stop = OperatorAt(on_nap, naps)
    runner = Runner(s.loop, RunnerSettings(bar=timedelta(hours=1)), clock=s.run.clock,
                    stop=stop, on_step=lambda _: seen.append(len(s.journal.pending_commands())))
    assert runner.run() == 0
    assert stop.naps == naps
    return seen


def test_a_command_posted_between_bars_is_applied_at_the_next_guard_tick(
    stepper_of: Make,
) -> None:
    frames = {BTC: bars(*[(h, 100, 100, 100, 0) for h in range(3)])}
    s = stepper_of(frames, settings(BTC))
    s.run.clock.set(at(1) + timedelta(minutes=10))  # bar 0 closed; 50 min to the next close
    posted: list[int] = []

    def operator(nap: int) -> None:
        if nap == 1:
            posted.append(s.post("pause", "lunch", actor="telegram:42"))
        if nap == 2:  # one tick later: applied, though no bar has closed since
            assert s.loop.book.manual_pause == "lunch"

    seen = run_between_bars(s, operator, naps=3)
    assert seen == [0, 0]  # after the step, then after the command was applied
    assert s.result(posted[0]) == "no new entries"
    assert s.loop.book.last_bar[BTC] == pd.Timestamp(at(0))  # no other bar was processed


def test_a_command_that_fails_between_bars_is_logged_and_applied_at_the_next_tick(
    stepper_of: Make, caplog: pytest.LogCaptureFixture,
) -> None:
    frames = {BTC: bars(*[(h, 100, 100, 100, 0) for h in range(3)])}
    s = stepper_of(frames, settings(BTC), DiskFullAtAck)
    assert isinstance(s.journal, DiskFullAtAck)
    journal = s.journal
    s.run.clock.set(at(1) + timedelta(minutes=10))
    posted: list[int] = []

    def operator(nap: int) -> None:
        if nap == 1:
            posted.append(s.post("pause", "lunch"))
            journal.full = True
        if nap == 2:
            assert [c.id for c in journal.pending_commands()] == posted  # still queued
            assert s.loop.book.manual_pause == ""
            journal.full = False

    with caplog.at_level(logging.WARNING, logger="trading.runner"):
        run_between_bars(s, operator, naps=3)
    assert s.result(posted[0]) == "no new entries"
    failed = [r.getMessage() for r in caplog.records if r.name == "trading.runner"]
    assert failed == ["operator commands not applied: database or disk is full; trying again "
                      "in 5s"]


def test_the_screen_and_the_plain_line_show_a_pause_like_the_manual_halt(
    stepper_of: Make,
) -> None:
    frames = {BTC: bars(*[(h, 100, 100, 100, 0) for h in range(3)])}
    s = stepper_of(frames, settings(BTC))
    s.to(0)
    s.post("pause", "lunch")
    s.loop.poll_commands()
    status = refresh_status(s.loop, s.run.broker)
    assert status.halts == (("pause", "lunch"),)
    assert "| paused by the operator: lunch |" in plain_line(status)
    state = ScreenState.of(status, mode="paper", strategy="s()")
    out = Console(width=100, record=True, file=io.StringIO(), force_terminal=True)
    out.print(Screen(state))
    text = out.export_text()
    assert "PAUSED by the operator: lunch (no new entries; exits and stops go on)" in text
    assert "HALTED" not in text
    s.post("halt", "maintenance")
    s.loop.poll_commands()
    line = plain_line(refresh_status(s.loop, s.run.broker))
    assert ("| halted by the operator: maintenance; paused by the operator: lunch |"
            in line)
