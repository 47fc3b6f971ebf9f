"""From a phone, end to end: Telegram commands through the real python-telegram-bot client and a
fake Bot API, applied by the real trading loop (a paper replay stepped bar by bar, its commands
polled as the runner polls them between bars). The user sees the state, pauses, flattens a
position and resumes; every step is in the journal with who did it and why."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from core.domain import Fill
from journal.reader import JournalReader
from tests.remote.fake_telegram import FakeTelegram
from tests.remote.telegram_fixtures import ME, fake, listening
from tests.trading.basket import ENTER, bars, settings
from tests.trading.test_pause_flatten import Stepper

__all__ = ["fake"]  # the fixture

BTC = "BTC/USDT"


def _until(check: Callable[[], bool], loop: Stepper, what: str, timeout_s: float = 20.0) -> None:
    """Poll the loop's command queue, as its runner does between bars, until ``check``."""
    deadline = time.monotonic() + timeout_s
    while not check():
        loop.loop.poll_commands()
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _say(fake: FakeTelegram, loop: Stepper, text: str) -> str:
    """Send ``text``; the bot's next message, the loop applying what it queued meanwhile."""
    before = len(fake.sent(chat=ME))
    fake.say(text, chat=ME)
    _until(lambda: len(fake.sent(chat=ME)) > before, loop, f"an answer to {text!r}")
    return str(fake.sent(chat=ME)[before].params["text"])


def _confirm(fake: FakeTelegram, loop: Stepper, text: str) -> str:
    """Send ``text``, tap Confirm under the question; the edited answer with the result."""
    before, edits = len(fake.sent(chat=ME)), len(fake.sent("editMessageText"))
    fake.say(text, chat=ME)
    _until(lambda: len(fake.sent(chat=ME)) > before, loop, f"the question for {text!r}")
    fake.tap(fake.sent(chat=ME)[before], "Confirm", user=ME)
    # The first edit takes the buttons away; the answer with the loop's result follows.
    _until(lambda: any("done" in str(c.params["text"])
                       for c in fake.sent("editMessageText")[edits:]), loop, "the result")
    return str(fake.sent("editMessageText")[-1].params["text"])


def test_from_a_phone_see_pause_flatten_and_resume_a_running_paper_bot(
    fake: FakeTelegram, tmp_path: Path,
) -> None:
    # Bar 0 enters (filled at bar 1's open, 100). Paused and flattened after bar 1: the long
    # is sold at bar 2's open (110), and bar 2's entry signal is refused. Resumed after bar 2:
    # bar 3's entry signal is taken, filled at bar 4's open (120).
    frames = {BTC: bars((0, 100, 100, 100, ENTER), (1, 100, 100, 100, 0),
                        (2, 110, 110, 110, ENTER), (3, 115, 115, 115, ENTER),
                        (4, 120, 120, 120, 0))}
    path = tmp_path / "paper.sqlite3"
    s = Stepper(frames, settings(BTC), path)
    try:
        s.to(1)
        with listening(fake, path):
            status = _say(fake, s, "/status").splitlines()
            assert "In force: nothing (entries allowed)" in status
            assert "Positions: 1 (BTC/USDT)" in status
            assert "done" in _say(fake, s, "/pause news at 14:00")
            flattened = _confirm(fake, s, "/flatten BTC/USDT the news")
            assert "BTC/USDT closing at the next open" in flattened
            s.to(2)
            assert s.reason(BTC, 2) == "operator pause: news at 14:00"
            after = _say(fake, s, "/status").splitlines()
            assert "IN FORCE pause: news at 14:00" in after
            assert "Equity 1,050.00  DD 0.00%  day +50.00" in after  # 500 USDT of BTC +10%
            assert "no open position" in _say(fake, s, "/positions").lower()
            resumed = _confirm(fake, s, "/resume news is out")
            assert "pause lifted" in resumed
            s.to(4)
    finally:
        s.journal.close()
    assert [(str(f.kind), f.at.hour, float(f.price)) for f in _fills(path)] == [
        ("entry", 1, 100.0), ("exit", 2, 110.0), ("entry", 4, 120.0)]
    with JournalReader(path) as reader:
        done = list(reversed(reader.recent_commands(10)))
    assert [(c.kind, c.symbol, c.actor, c.reason) for c in done] == [
        ("pause", None, f"telegram:{ME}", "news at 14:00"),
        ("flatten", BTC, f"telegram:{ME}", "the news"),
        ("resume", None, f"telegram:{ME}", "news is out")]
    assert all(c.acked_at is not None for c in done)


def _fills(path: Path) -> list[Fill]:
    with JournalReader(path) as reader:
        return list(reader.fills(BTC))

