"""What one journal connection has written, so that a write of an unchanged value is skipped.

The loop saves its state every bar, but most keys (pending orders, open entries, the Kelly
counters, the paper wallet) change only on a trade. One bot holds a journal (flock), so what
this connection committed is what the file holds: a state write whose JSON text equals the
committed (or this transaction's) text is left out, and the fills query is skipped when no fill
can be past the cursor. A rolled-back transaction forgets its texts, so a later bar writes them
again; the fill bound only ever errs high, which costs a query, never a fill.
"""

from __future__ import annotations


class WriteMemo:
    """State texts committed by this connection and an upper bound on its fills' row ids."""

    def __init__(self) -> None:
        self._committed: dict[str, str] = {}
        self._pending: dict[str, str] = {}
        self._fill_bound: int | None = None  # no fill has a larger id; None: unknown

    def unchanged(self, key: str, text: str) -> bool:
        """True when ``key`` already holds ``text`` (committed, or in this transaction)."""
        return self._pending.get(key, self._committed.get(key)) == text

    def wrote(self, key: str, text: str) -> None:
        """``key`` was written with ``text`` in the open transaction."""
        self._pending[key] = text

    def committed(self) -> None:
        """The open transaction committed."""
        self._committed.update(self._pending)
        self._pending.clear()

    def rolled_back(self) -> None:
        """The open transaction rolled back: its texts are not in the file."""
        self._pending.clear()

    def no_fills_after(self, fill_id: int) -> bool:
        """True when no fill row can have an id above ``fill_id``."""
        return self._fill_bound is not None and fill_id >= self._fill_bound

    def fills_seen(self, upto: int) -> None:
        """A query just showed that no fill has an id above ``upto``."""
        self._fill_bound = upto

    def fill_inserted(self, row_id: int) -> None:
        """This connection inserted fill ``row_id`` (a bound is kept only once one is known)."""
        if self._fill_bound is not None:
            self._fill_bound = max(self._fill_bound, row_id)
