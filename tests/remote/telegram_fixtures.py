"""What the Telegram tests share: a real replay's journal, a thread that plays the running loop
(it acks queued commands), and the listener against the fake Bot API."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from data.synthetic import synthetic_ohlcv
from journal import Journal
from journal.reader import JournalReader
from remote.telegram import telegram_commands
from tests.remote.fake_telegram import TOKEN, FakeTelegram, fake_telegram, wait_until
from tests.trading.test_operator import ALWAYS_TRADES, TIGHT
from trading.replay import replay

ME = 1001  # an allowed user, in a private chat with the bot (chat id = user id)
FRIEND = 1003  # a second allowed user
GROUP = -2002  # an allowed group chat
STRANGER = 666
ALLOWED = f"{ME}, {GROUP},{FRIEND}"


def _copy(source: Path, target: Path) -> Path:
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    return target


@pytest.fixture(scope="module")
def latched_journal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A replay of BTC/USDT whose drawdown latch is in force, with closed trades."""
    path = tmp_path_factory.mktemp("latched") / "replay.sqlite3"
    replay({"BTC/USDT": synthetic_ohlcv(700, seed=1)}, TIGHT, journal_path=path)
    return path


@pytest.fixture(scope="module")
def holding_journal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A replay that ends long ETH/USDT with its stop resting."""
    path = tmp_path_factory.mktemp("holding") / "replay.sqlite3"
    strategy = replace(ALWAYS_TRADES, symbols=("ETH/USDT",))
    replay({"ETH/USDT": synthetic_ohlcv(650, seed=7)}, strategy, journal_path=path)
    return path


@pytest.fixture
def journal(latched_journal: Path, tmp_path: Path) -> Path:
    """This test's own copy of the latched replay's journal."""
    return _copy(latched_journal, tmp_path / "replay.sqlite3")


@pytest.fixture
def holding(holding_journal: Path, tmp_path: Path) -> Path:
    """This test's own copy of the holding replay's journal."""
    return _copy(holding_journal, tmp_path / "holding.sqlite3")


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with fake_telegram() as server:
        yield server


@contextmanager
def running_loop(path: Path) -> Iterator[list[int]]:
    """Plays the trading loop's part of the queue: acks each pending command (ids in order)."""
    acked: list[int] = []
    stop = threading.Event()

    def run() -> None:
        while not stop.wait(0.02):
            with Journal(path) as journal:
                for command in journal.pending_commands():
                    what = f"{command.kind} {command.symbol or ''}".strip()
                    journal.ack_command(command, f"applied {what} (test loop)")
                    acked.append(command.id)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield acked
    finally:
        stop.set()
        thread.join(5)


@contextmanager
def listening(fake: FakeTelegram, path: Path, *, allowed: str = ALLOWED,
              **options: float) -> Iterator[None]:
    """The listener polling the fake, once its first getUpdates has arrived."""
    env = {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_ALLOWED_IDS": allowed,
           "TELEGRAM_API_URL": fake.url}
    options.setdefault("poll_timeout_s", 1.0)
    polls = len(fake.sent("getUpdates"))  # a listener before this one polled the fake too
    with telegram_commands(env, mode="replay", journal_path=path, **options):
        fake.wait_sent(polls + 1, "getUpdates")
        yield


def ask(fake: FakeTelegram, text: str, *, chat: int = ME, user: int | None = None) -> str:
    """Send ``text`` and return the bot's next answer in that chat."""
    before = len(fake.sent(chat=chat))
    fake.say(text, chat=chat, user=user)
    return str(fake.wait_sent(before + 1, chat=chat)[before].params["text"])


def commands(path: Path) -> list[Any]:
    """Every command in the journal, oldest first."""
    with JournalReader(path) as reader:
        return list(reversed(reader.recent_commands(100)))


def denials(path: Path) -> list[Any]:
    with JournalReader(path) as reader:
        return reader.access_denials(100)


__all__ = ["ALLOWED", "FRIEND", "GROUP", "ME", "STRANGER", "ask", "commands", "denials",
           "fake", "holding", "holding_journal", "journal", "latched_journal", "listening",
           "running_loop", "wait_until"]
