"""The operator layer shared by the CLI, Telegram and the dashboard: posting, views, reading."""

from __future__ import annotations

import sqlite3
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from core.errors import ConfigError
from journal import EquitySnapshot, Journal
from journal.reader import JournalReader
from tests.journal.conftest import utc
from trading import control


@pytest.fixture
def path(tmp_path: Path) -> Path:
    """A paper journal with a run of BTC/USDT and ETH/USDT."""
    file = tmp_path / "journal.sqlite3"
    with Journal(file) as journal:
        journal.record_run(mode="paper", strategy_id="s", started_at=utc(1),
                           config={"symbols": ["BTC/USDT", "ETH/USDT"], "timeframe": "1h"})
    return file


def test_a_command_is_queued_with_who_asked_and_why(path: Path) -> None:
    posted = control.post(path, "flatten", "  too volatile ", actor=control.telegram_actor(42),
                          mode="paper", symbol="eth/usdt")
    assert (posted.kind, posted.symbol, posted.reason, posted.ahead) == (
        "flatten", "ETH/USDT", "too volatile", 0)
    assert "closed at the next open" in posted.effect
    second = control.post(path, "pause", "lunch", actor=control.web_actor("laptop"), mode="live")
    assert second.ahead == 1
    with JournalReader(path) as reader:
        first, pause = reader.pending_commands()
    assert (first.actor, first.symbol) == ("telegram:42", "ETH/USDT")
    assert (pause.actor, pause.kind, pause.symbol) == ("web:laptop", "pause", None)


@pytest.mark.parametrize(("kind", "reason", "symbol", "message"), [
    ("halt", " ", None, "halt needs a non-empty reason"),
    ("halt", "x" * 501, None, "at most 500"),
    ("sell", "why", None, "unknown command 'sell'"),
    ("pause", "why", "BTC/USDT", "pause takes no symbol"),
    ("flatten", "why", "BTCUSDT", "'BTCUSDT' is not a market like BTC/USDT"),
    ("flatten", "why", "DOGE/USDT", "DOGE/USDT is not traded by this bot"),
])
def test_a_mistake_is_one_line_and_queues_nothing(
    path: Path, kind: str, reason: str, symbol: str | None, message: str,
) -> None:
    with pytest.raises(ConfigError, match=message):
        control.post(path, kind, reason, actor="cli", mode="paper", symbol=symbol)
    with JournalReader(path) as reader:
        assert reader.pending_commands() == []


def test_a_command_for_a_bot_that_never_ran_creates_no_journal(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no journal at"):
        control.post(tmp_path / "none.sqlite3", "halt", "why", actor="cli", mode="paper")
    assert list(tmp_path.iterdir()) == []


def test_the_reader_cannot_write(path: Path) -> None:
    with JournalReader(path) as reader, pytest.raises(sqlite3.OperationalError, match="readonly"):
        reader._db.execute("INSERT INTO access_denials (at, channel, who, what) "
                           "VALUES ('t', 'web', 'x', 'y')")


def test_the_reader_refuses_a_journal_the_bot_has_not_migrated(tmp_path: Path) -> None:
    from journal.schema import migrate

    file = tmp_path / "old.sqlite3"
    raw = sqlite3.connect(file, isolation_level=None)
    migrate(raw, target=4)
    raw.close()
    with pytest.raises(ConfigError, match="schema version 4, this code reads 5"):
        JournalReader(file)


def test_daily_pnl_is_each_utc_days_last_mark_against_the_day_before(path: Path) -> None:
    marks = [(utc(1, 10), "1000"), (utc(1, 23), "1010"), (utc(2, 5), "990"),
             (utc(2, 23), "1020.5"), (utc(4, 1), "1000")]
    with Journal(path) as journal:
        for when, equity in marks:
            journal.record_equity(EquitySnapshot(at=when, equity=Decimal(equity),
                                                 bar_time=when))
    with JournalReader(path) as reader:
        days = control.daily(reader, days=14)
    assert [(d.day, d.start_equity, d.end_equity, d.pnl, d.marks) for d in days] == [
        (date(2024, 1, 4), Decimal("1020.5"), Decimal("1000"), Decimal("-20.5"), 1),
        (date(2024, 1, 2), Decimal("1010"), Decimal("1020.5"), Decimal("10.5"), 2),
        (date(2024, 1, 1), Decimal("1000"), Decimal("1010"), Decimal("10"), 2),
    ]
    assert days[1].pnl_pct == pytest.approx(10.5 / 1010)
    with JournalReader(path) as reader:
        assert [d.day.day for d in control.daily(reader, days=2)] == [4, 2]
