"""How the journal's writes become SQLite transactions: batches, commits, rollbacks, state rows.

Every write is its own committed transaction unless it runs inside ``batch()``; a batch is all
or nothing. Inside a batch, statements run without a context manager each (a try/except that
costs nothing unless SQLite raises) and state rows are written once, at the commit: a replay
group rewrites the risk state and the last bar of every bar, and no other connection can see
a value that a later write of the same transaction replaces. What the commit leaves in the file
is the same rows and values as writing each one at once (the last text and ``updated_at`` of
every key; new keys in the order they were first written). A read of the state table inside
the batch writes the waiting rows first, so it sees its own transaction's values.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

from core.clock import Clock
from journal import codec
from journal.errors import JournalError, journal_error
from journal.queries import JournalQueries
from journal.written import WriteMemo

_SAVE_STATE: Final = (
    "INSERT INTO state (key, value_json, updated_at) VALUES (?, ?, ?) "
    "ON CONFLICT (key) DO UPDATE SET value_json = excluded.value_json, "
    "updated_at = excluded.updated_at"
)


class JournalTransactions(JournalQueries):
    """The write plumbing of one journal connection; Journal adds what the rows say."""

    def __init__(self, db: sqlite3.Connection, clock: Clock) -> None:
        super().__init__(db)
        self._clock = clock
        self._depth = 0
        self._memo = WriteMemo()  # one bot per journal (flock): its own writes are the file's
        self._after: list[Callable[[], None]] = []
        self._states: dict[str, tuple[str, str]] = {}  # key: (JSON text, updated_at) to write
        self._times = codec.TimeTexts()
        self.where = ""  # the file, for error messages (set by Journal)

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Group writes (one bar step, or a command with its state) into one transaction.

        Nested batches join the outer one. Order intents are refused inside a batch: an intent
        must be committed before its request is sent.
        """
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self._execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield
        except sqlite3.Error as e:  # a statement run on the connection directly
            self._depth = 0
            self._rollback()
            raise journal_error(e, self.where) from e
        except BaseException:
            self._depth = 0
            self._rollback()
            raise
        self._depth = 0
        self._commit()

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once the open transaction commits (now if none is open); a
        rollback drops it. What must not be said before its commit (an alert) goes here."""
        if self._depth:
            self._after.append(callback)
        else:
            callback()

    # --- state (core.ports.StateStore) -----------------------------------------------------

    def save_state(self, key: str, state: Mapping[str, Any]) -> None:
        """Replace the state stored under ``key`` atomically (JSON-safe values only)."""
        if not key:
            raise ValueError("state key must not be empty")
        try:
            text = codec.json_text(dict(state))
        except (TypeError, ValueError) as e:
            raise JournalError(f"state {key!r} is not JSON-safe: {e}") from e
        if self._memo.unchanged(key, text):
            return  # the file holds this very text: a bar that changed nothing writes nothing
        if self._depth:
            self._states[key] = (text, self._now())  # written at the commit (module doc)
            self._memo.wrote(key, text)
            return
        self._insert(_SAVE_STATE, (key, text, self._now()))
        self._memo.wrote(key, text)
        self._memo.committed()  # _insert committed it on its own

    def load_state(self, key: str) -> dict[str, Any] | None:
        """The state stored under ``key``, or None if none was saved."""
        self._write_states()
        return super().load_state(key)

    def state_keys(self) -> dict[str, datetime]:
        """Every saved state's key and when it was last saved."""
        self._write_states()
        return super().state_keys()

    def dust_bounds(self) -> dict[str, Decimal]:
        """Per symbol, the base amount below which nothing can be sold (saved at start)."""
        self._write_states()  # every query of the state table does this first (tested)
        return super().dust_bounds()

    # --- plumbing ----------------------------------------------------------------------------

    def _now(self, at: datetime | None = None) -> str:
        return self._times.text(self._clock.now() if at is None else at)

    def _execute(self, sql: str, params: Sequence[object] = ()) -> sqlite3.Cursor:
        try:
            return self._db.execute(sql, params)
        except sqlite3.Error as e:
            raise journal_error(e, self.where) from e

    def _insert(self, sql: str, params: Sequence[object]) -> int:
        if self._depth:  # inside batch(): the batch commits or rolls back
            row_id = self._execute(sql, params).lastrowid
        else:
            with self._write() as db:
                row_id = db.execute(sql, params).lastrowid
        if row_id is None:
            raise JournalError("SQLite returned no row id for an insert")
        return row_id

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """The connection for a write: the open batch's, or a transaction of its own."""
        if self._depth:
            try:
                yield self._db
            except sqlite3.Error as e:
                raise journal_error(e, self.where) from e
            return
        self._execute("BEGIN IMMEDIATE")  # take the write lock now, waiting busy_timeout
        try:
            yield self._db
        except sqlite3.Error as e:
            self._rollback()
            raise journal_error(e, self.where) from e
        except BaseException:
            self._rollback()
            raise
        self._commit()

    def _write_states(self) -> None:
        states, self._states = self._states, {}
        for key, (text, updated_at) in states.items():
            self._execute(_SAVE_STATE, (key, text, updated_at))

    def _commit(self) -> None:
        try:
            self._write_states()
            self._execute("COMMIT")
        except BaseException:
            self._rollback()
            raise
        self._memo.committed()
        after, self._after = self._after, []
        for callback in after:
            callback()

    def _rollback(self) -> None:
        self._memo.rolled_back()
        self._after.clear()
        self._states.clear()
        # SQLite may already have rolled back (disk full, I/O error): keep the original error.
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")
