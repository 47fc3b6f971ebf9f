"""A read-only view of a journal, for whatever watches the bot from another thread or process.

The dashboard and the Telegram answers read through this: the connection is opened with
SQLite's ``mode=ro``, so it can never write, never migrate and never take the write lock. In WAL
mode a reader does not block the bot's writer, and the writer does not block it. A file that is
missing, not a journal, or at another schema version is refused with one line (the bot migrates
its journal when it starts; a reader must not).
"""

from __future__ import annotations

import sqlite3
import urllib.parse
from pathlib import Path
from types import TracebackType

from core.errors import ConfigError
from journal import schema
from journal.queries import JournalQueries


class JournalReader(JournalQueries):
    """Queries over a read-only connection; one per thread (sqlite3 objects stay in theirs)."""

    def __init__(self, path: Path | str, *, busy_timeout_s: float = 2.0) -> None:
        self._path = Path(path)
        if not self._path.is_file():
            raise ConfigError(f"no journal at {self._path}: the bot has not run in this mode")
        uri = f"file:{urllib.parse.quote(str(self._path.resolve()))}?mode=ro"
        try:
            db = sqlite3.connect(uri, uri=True, timeout=busy_timeout_s, isolation_level=None)
        except sqlite3.Error as e:
            raise ConfigError(f"journal {self._path} cannot be opened for reading: {e}") from e
        try:
            db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
            schema.check_openable(db, self._path)
            version = schema.schema_version(db)
        except BaseException:
            db.close()
            raise
        if version != schema.LATEST_VERSION:
            db.close()
            raise ConfigError(
                f"journal {self._path} is at schema version {version}, this code reads "
                f"{schema.LATEST_VERSION}: start the bot once so that it migrates the file")
        super().__init__(db)

    @property
    def path(self) -> Path:
        """The journal file."""
        return self._path

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    def __enter__(self) -> JournalReader:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
