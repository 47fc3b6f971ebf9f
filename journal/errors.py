"""Journal errors, grouped by what the caller should do (STYLE.md, rule 5).

Any JournalError on an order intent means: do not send the order. A busy database is the one
transient case (another process held the write lock longer than the busy timeout).
"""

from __future__ import annotations

import sqlite3

from core.errors import BotError, TransientError


class JournalError(BotError):
    """The journal could not record or read something; nothing was written silently."""


class JournalBusyError(JournalError, TransientError):
    """Another connection held the write lock past the busy timeout; retry with backoff."""


class DuplicateClientIdError(JournalError):
    """An order intent reused a client order id already in the journal."""


class UnknownOrderError(JournalError):
    """An update or fill names a client order id that has no recorded intent."""


def journal_error(e: sqlite3.Error, path: object = "") -> JournalError:
    """The JournalError of an SQLite error (naming the file when known); a lock held past the
    busy timeout is transient."""
    name = f"journal {path}" if path else "journal"
    if isinstance(e, sqlite3.OperationalError):
        text = str(e).lower()
        if "locked" in text or "busy" in text:
            return JournalBusyError(f"{name} is busy (another process holds it): {e}")
    return JournalError(f"{name}: write failed: {e}")

