"""Batches write what single writes would: state rows at the commit, errors as JournalErrors,
and the codec's fast paths give the very text of the general ones."""

from __future__ import annotations

import inspect
import random
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from core.clock import SimulatedClock
from journal import Journal, JournalBusyError, JournalError, codec
from journal.queries import JournalQueries
from journal.transactions import JournalTransactions
from tests.journal.conftest import utc


def state_rows(path: Path) -> list[tuple[int, str, str, str]]:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT rowid, key, value_json, updated_at FROM state").fetchall()


def test_a_batch_leaves_the_rows_that_single_writes_leave(tmp_path: Path) -> None:
    writes = [("b", {"x": 1}, utc(1)), ("a", {"x": 2}, utc(2)), ("b", {"x": 3}, utc(3)),
              ("a", {"x": 2}, utc(4)), ("c", {"y": [1, 2]}, utc(5)), ("b", {"x": 1}, utc(6))]
    paths = []
    for batched in (False, True):
        clock = SimulatedClock(utc(1))
        path = tmp_path / f"{batched}.sqlite3"
        with Journal(path, clock=clock) as journal:
            journal.save_state("b", {"x": 0})  # committed before: its row id comes first
            if batched:
                with journal.batch():
                    for key, state, when in writes:
                        clock.set(when)
                        journal.save_state(key, state)
            else:
                for key, state, when in writes:
                    clock.set(when)
                    journal.save_state(key, state)
        paths.append(path)
    assert state_rows(paths[0]) == state_rows(paths[1])
    assert [r[1] for r in state_rows(paths[1])] == ["b", "a", "c"]


def test_a_read_inside_a_batch_sees_its_writes_and_a_rollback_drops_them(
    journal: Journal,
) -> None:
    journal.save_state("k", {"v": 1})

    def failing_bar() -> None:
        with journal.batch():
            journal.save_state("k", {"v": 2})
            journal.save_state("new", {"v": 3})
            assert journal.load_state("k") == {"v": 2}
            assert set(journal.state_keys()) == {"k", "new"}
            raise RuntimeError("the bar failed")

    with pytest.raises(RuntimeError):
        failing_bar()
    assert journal.load_state("k") == {"v": 1}
    assert journal.load_state("new") is None
    with journal.batch():  # the memo forgot the rolled-back text: it is written again
        journal.save_state("k", {"v": 2})
    assert journal.load_state("k") == {"v": 2}


def test_every_query_of_the_state_table_writes_the_waiting_rows_first() -> None:
    readers = [name for name, fn in vars(JournalQueries).items()
               if inspect.isfunction(fn) and "FROM state" in inspect.getsource(fn)]
    assert "load_state" in readers
    assert [n for n in readers if n not in vars(JournalTransactions)] == []


def test_sqlite_errors_inside_a_batch_are_journal_errors(journal: Journal) -> None:
    journal.record_halt("manual_halt", "first", actor="operator", at=utc(1))

    def bar_with_a_refused_statement() -> None:
        with journal.batch():
            journal.save_state("k", {"v": 1})
            journal._db.execute("DELETE FROM halts")  # straight on the connection

    with pytest.raises(JournalError, match="append-only"):
        bar_with_a_refused_statement()
    assert journal.load_state("k") is None
    assert [h.reason for h in journal.recent_halts()] == ["first"]


def test_a_held_write_lock_is_busy_inside_a_batch_too(db_path: Path, journal: Journal) -> None:
    journal.save_state("k", {"v": 1})
    with Journal(db_path, busy_timeout_s=0.05) as other:
        with journal.batch():
            journal.save_state("k", {"v": 2})
            with pytest.raises(JournalBusyError):
                other.save_state("k", {"v": 3})
            with pytest.raises(JournalBusyError), other.batch():
                pass
        assert other.load_state("k") == {"v": 2}


def test_money_text_of_a_float_is_the_text_of_its_repr_decimal() -> None:
    rng = random.Random(7)
    values = [0.0, -0.0, 1.0, -1.5, 100.0, 1e15, 1e16, 1.5e-5, 0.0001, 123456789.125,
              9_367.790000000001, 5e-324, 1.7976931348623157e308]
    values += [rng.uniform(-1e6, 1e6) for _ in range(2000)]
    values += [10 ** rng.uniform(-12, 20) for _ in range(2000)]
    for value in values:
        assert codec.money_text(value) == codec.money_text(Decimal(repr(value))), value
    for bad in (float("nan"), float("inf"), -float("inf")):
        with pytest.raises(ValueError, match="finite"):
            codec.money_text(bad)


def test_time_texts_are_the_rebuilt_utc_text() -> None:
    texts = codec.TimeTexts(size=2)
    plus2 = timezone(timedelta(hours=2))
    for when in [utc(1), utc(1, 5, 7).replace(microsecond=123), utc(2).astimezone(plus2),
                 datetime(2024, 1, 1, 2, tzinfo=plus2), utc(3), utc(1)]:
        expected = pd.Timestamp(when).tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
        assert codec.time_text(when) == expected
        assert texts.text(when) == expected
    stamp = pd.Timestamp("2024-01-01T00:00:00.000001001", tz="UTC")
    assert texts.text(stamp) == codec.time_text(stamp) == "2024-01-01T00:00:00.000001+00:00"
    assert texts.optional(None) is None
    with pytest.raises(ValueError, match="timezone-aware"):
        texts.text(datetime(2024, 1, 1))  # noqa: DTZ001 - the naive time it must refuse
    assert codec.time_text(datetime(2024, 1, 1, tzinfo=UTC)).endswith(".000000+00:00")
