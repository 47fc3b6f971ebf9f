"""SQLite store for the LLM scorer: cached answers and the spend per UTC day.

Only successful, validated model answers are cached (never fallbacks), so a backtest that ran
once with the model replays for free and an outage is never frozen into the cache. The spend
lives in the same file so a restart does not reset the day's budget. WAL mode lets a second
process (a report, a backtest) read while the bot writes.
"""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    key TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    conviction REAL NOT NULL,
    suppress INTEGER NOT NULL,
    reasoning TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS spend (
    day TEXT NOT NULL,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    calls INTEGER NOT NULL,
    tokens_in INTEGER NOT NULL,
    tokens_out INTEGER NOT NULL,
    cost_usd REAL NOT NULL,
    PRIMARY KEY (day, provider, model)
);
"""


def cache_key(*, provider: str, model: str, prompt: str, schema_version: str) -> str:
    """SHA-256 over the parts that decide the answer; NUL-separated so parts cannot run together."""
    joined = "\0".join((provider, model, schema_version, prompt))
    return hashlib.sha256(joined.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class CachedAnswer:
    """A validated, sanitised model answer as stored."""

    conviction: float
    suppress: bool
    reasoning: str


class ScoreCache:
    """Answers by cache key, and spend by UTC day, in one SQLite file."""

    def __init__(self, path: Path | str) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # Autocommit: every write is its own short transaction, so a reader never waits long.
        self._db = sqlite3.connect(str(path), timeout=5.0, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    def get(self, key: str) -> CachedAnswer | None:
        """The cached answer for ``key``, or None."""
        row = self._db.execute(
            "SELECT conviction, suppress, reasoning FROM answers WHERE key = ?", (key,)
        ).fetchone()
        if row is None:
            return None
        return CachedAnswer(float(row[0]), bool(row[1]), str(row[2]))

    def put(
        self, key: str, answer: CachedAnswer, *, provider: str, model: str, created_at: str
    ) -> None:
        """Store a successful answer; an existing one for the same key is kept."""
        self._db.execute(
            "INSERT OR IGNORE INTO answers VALUES (?, ?, ?, ?, ?, ?, ?)",
            (key, provider, model, answer.conviction, int(answer.suppress), answer.reasoning,
             created_at),
        )

    def add_spend(
        self, day: str, *, provider: str, model: str, tokens_in: int, tokens_out: int,
        cost_usd: float,
    ) -> None:
        """Add one call's usage to the day's total."""
        self._db.execute(
            "INSERT INTO spend VALUES (?, ?, ?, 1, ?, ?, ?) "
            "ON CONFLICT (day, provider, model) DO UPDATE SET calls = calls + 1, "
            "tokens_in = tokens_in + excluded.tokens_in, "
            "tokens_out = tokens_out + excluded.tokens_out, "
            "cost_usd = cost_usd + excluded.cost_usd",
            (day, provider, model, tokens_in, tokens_out, cost_usd),
        )

    def spent_usd(self, day: str) -> float:
        """Estimated USD spent on ``day`` (YYYY-MM-DD, UTC) across providers and models."""
        row = self._db.execute(
            "SELECT COALESCE(SUM(cost_usd), 0.0) FROM spend WHERE day = ?", (day,)
        ).fetchone()
        return float(row[0])

    def journal_mode(self) -> str:
        """SQLite's journal mode for this file (``wal`` unless in memory)."""
        return str(self._db.execute("PRAGMA journal_mode").fetchone()[0])
