"""The journal's schema as ordered migrations, and opening a file safely.

``PRAGMA user_version`` holds the schema version. Opening an older file applies the missing
steps in one IMMEDIATE transaction (all or nothing; a second process opening at the same moment
waits and then finds nothing left to do). A file newer than this code refuses to open: writing
rows an older bot does not understand is how an audit trail gets corrupted.

Version history:
    1. runs, decisions, llm_calls, orders, order_updates, fills, equity, halts, state.
    2. commands + command_acks: the operator's queue the running loop polls.
    3. decisions.numbers_json: the strategy's named numbers of the bar decided on.
    4. refusals: a market a run was started with but may not enter (live: its promotion gate
       failed), and why.
    5. Graded operator commands: ``commands`` takes pause and flatten (with an optional
       symbol), ``halts`` the manual_pause row; ``access_denials`` records who was refused
       (a stranger writing to the Telegram bot). Both tables are rebuilt (SQLite cannot change
       a CHECK), rows and ids kept, with foreign keys off for the step as SQLite prescribes.

Audit tables are append-only, enforced by triggers: an UPDATE or DELETE aborts. Only ``state``
(the current value per key) is overwritten.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from core.errors import ConfigError
from core.paths import state_dir
from journal.errors import JournalError

# "TBJN" (trading bot journal): marks the file as ours so a wrong path is refused, not migrated.
APPLICATION_ID: Final = 0x54424A4E
JOURNAL_FILE: Final = "journal.sqlite3"


def default_journal_path(environ: Mapping[str, str] | None = None) -> Path:
    """``$TRADINGBOT_STATE_DIR/journal.sqlite3``, else ``state/journal.sqlite3`` in the repo."""
    env = os.environ if environ is None else environ
    return state_dir(env) / JOURNAL_FILE


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step: from ``version - 1`` to ``version``."""

    version: int
    description: str
    statements: tuple[str, ...]
    # Rebuilds a table that others reference: foreign keys are switched off around the
    # transaction (SQLite ignores the pragma inside one) and checked before the commit.
    rebuilds: bool = False


def _append_only(table: str) -> tuple[str, ...]:
    return tuple(
        f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
        f"BEGIN SELECT RAISE(ABORT, 'journal table {table} is append-only'); END"
        for verb in ("UPDATE", "DELETE")
    )


_V1_TABLES: Final = (
    """CREATE TABLE runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        started_at TEXT NOT NULL,
        mode TEXT NOT NULL CHECK (mode IN ('paper', 'testnet', 'live', 'replay')),
        strategy_id TEXT NOT NULL,
        code_version TEXT NOT NULL,
        config_json TEXT NOT NULL CHECK (json_valid(config_json))
    )""",
    """CREATE TABLE decisions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id INTEGER NOT NULL REFERENCES runs (id),
        recorded_at TEXT NOT NULL,
        symbol TEXT NOT NULL,
        bar_time TEXT NOT NULL,
        signal INTEGER NOT NULL CHECK (signal IN (-1, 0, 1)),
        action TEXT NOT NULL CHECK (action IN ('enter', 'exit', 'hold', 'none')),
        conviction REAL,
        suppress INTEGER CHECK (suppress IN (0, 1)),
        score_source TEXT,
        fallback_reason TEXT NOT NULL,
        reasoning TEXT NOT NULL,
        approved INTEGER CHECK (approved IN (0, 1)),
        reason TEXT NOT NULL,
        size_fraction REAL,
        notional TEXT
    )""",
    "CREATE INDEX decisions_by_symbol ON decisions (symbol, bar_time)",
    """CREATE TABLE llm_calls (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id INTEGER REFERENCES runs (id),
        at TEXT NOT NULL,
        symbol TEXT NOT NULL,
        bar_time TEXT,
        provider TEXT NOT NULL,
        model TEXT NOT NULL,
        source TEXT NOT NULL,
        latency_s REAL NOT NULL,
        tokens_in INTEGER NOT NULL,
        tokens_out INTEGER NOT NULL,
        cost_usd TEXT NOT NULL,
        fallback_reason TEXT NOT NULL
    )""",
    """CREATE TABLE orders (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        client_id TEXT NOT NULL UNIQUE CHECK (client_id <> ''),
        run_id INTEGER REFERENCES runs (id),
        created_at TEXT NOT NULL,
        symbol TEXT NOT NULL,
        side TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
        kind TEXT NOT NULL CHECK (kind IN ('entry', 'exit', 'stop')),
        amount_usdt TEXT NOT NULL,
        amount_base TEXT,
        stop_loss_pct TEXT NOT NULL,
        stop_price TEXT,
        bar_time TEXT,
        reason TEXT NOT NULL
    )""",
    """CREATE TABLE order_updates (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        client_id TEXT NOT NULL REFERENCES orders (client_id),
        recorded_at TEXT NOT NULL,
        at TEXT NOT NULL,
        status TEXT NOT NULL
            CHECK (status IN ('intent', 'open', 'filled', 'canceled', 'rejected', 'unknown')),
        exchange_id TEXT NOT NULL,
        filled TEXT NOT NULL,
        avg_price TEXT,
        detail TEXT NOT NULL
    )""",
    "CREATE INDEX order_updates_by_client ON order_updates (client_id, id)",
    """CREATE TABLE fills (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        client_id TEXT NOT NULL REFERENCES orders (client_id),
        recorded_at TEXT NOT NULL,
        at TEXT NOT NULL,
        symbol TEXT NOT NULL,
        side TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
        kind TEXT NOT NULL CHECK (kind IN ('entry', 'exit', 'stop')),
        amount TEXT NOT NULL,
        price TEXT NOT NULL,
        fee TEXT NOT NULL,
        fee_asset TEXT NOT NULL,
        exchange_id TEXT NOT NULL
    )""",
    "CREATE INDEX fills_by_client ON fills (client_id)",
    "CREATE INDEX fills_by_symbol ON fills (symbol, at)",
    """CREATE TABLE equity (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id INTEGER REFERENCES runs (id),
        at TEXT NOT NULL,
        bar_time TEXT,
        symbol TEXT NOT NULL,
        equity TEXT NOT NULL,
        cash TEXT,
        position_value TEXT,
        peak TEXT,
        drawdown REAL,
        daily_pnl TEXT
    )""",
    "CREATE INDEX equity_by_symbol ON equity (symbol, id)",
    """CREATE TABLE halts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id INTEGER REFERENCES runs (id),
        recorded_at TEXT NOT NULL,
        at TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('daily_pause', 'daily_clear', 'drawdown_latch',
            'resume', 'cooldown_start', 'cooldown_clear', 'manual_halt', 'manual_resume',
            'override')),
        reason TEXT NOT NULL,
        equity TEXT,
        peak TEXT,
        actor TEXT NOT NULL CHECK (actor IN ('bot', 'operator'))
    )""",
    "CREATE INDEX halts_by_kind ON halts (kind, id)",
    """CREATE TABLE state (
        key TEXT PRIMARY KEY CHECK (key <> ''),
        value_json TEXT NOT NULL CHECK (json_valid(value_json)),
        updated_at TEXT NOT NULL
    )""",
    f"PRAGMA application_id = {APPLICATION_ID}",
)

_V1_AUDIT: Final = (
    "runs", "decisions", "llm_calls", "orders", "order_updates", "fills", "equity", "halts",
)

_V2_COMMANDS: Final = (
    """CREATE TABLE commands (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        posted_at TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('halt', 'resume')),
        reason TEXT NOT NULL CHECK (trim(reason) <> ''),
        actor TEXT NOT NULL
    )""",
    # One ack per command, ever: the primary key makes a second consumption fail loudly.
    """CREATE TABLE command_acks (
        command_id INTEGER PRIMARY KEY REFERENCES commands (id),
        run_id INTEGER REFERENCES runs (id),
        acked_at TEXT NOT NULL,
        result TEXT NOT NULL
    )""",
)

_V4_REFUSALS: Final = (
    """CREATE TABLE refusals (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id INTEGER NOT NULL REFERENCES runs (id),
        recorded_at TEXT NOT NULL,
        symbol TEXT NOT NULL CHECK (symbol <> ''),
        reason TEXT NOT NULL CHECK (trim(reason) <> '')
    )""",
)

_V5_OPERATOR: Final = (
    """CREATE TABLE commands_v5 (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        posted_at TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('halt', 'resume', 'pause', 'flatten')),
        reason TEXT NOT NULL CHECK (trim(reason) <> ''),
        actor TEXT NOT NULL CHECK (actor <> ''),
        symbol TEXT CHECK (symbol IS NULL OR (kind = 'flatten' AND symbol <> ''))
    )""",
    "INSERT INTO commands_v5 (id, posted_at, kind, reason, actor) "
    "SELECT id, posted_at, kind, reason, actor FROM commands",
    "DROP TABLE commands",
    "ALTER TABLE commands_v5 RENAME TO commands",
    *_append_only("commands"),
    """CREATE TABLE halts_v5 (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id INTEGER REFERENCES runs (id),
        recorded_at TEXT NOT NULL,
        at TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('daily_pause', 'daily_clear', 'drawdown_latch',
            'resume', 'cooldown_start', 'cooldown_clear', 'manual_halt', 'manual_resume',
            'override', 'manual_pause')),
        reason TEXT NOT NULL,
        equity TEXT,
        peak TEXT,
        actor TEXT NOT NULL CHECK (actor IN ('bot', 'operator'))
    )""",
    "INSERT INTO halts_v5 (id, run_id, recorded_at, at, kind, reason, equity, peak, actor) "
    "SELECT id, run_id, recorded_at, at, kind, reason, equity, peak, actor FROM halts",
    "DROP TABLE halts",
    "ALTER TABLE halts_v5 RENAME TO halts",
    "CREATE INDEX halts_by_kind ON halts (kind, id)",
    *_append_only("halts"),
    """CREATE TABLE access_denials (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        channel TEXT NOT NULL CHECK (channel <> ''),
        who TEXT NOT NULL,
        what TEXT NOT NULL
    )""",
    *_append_only("access_denials"),
)

MIGRATIONS: Final[tuple[Migration, ...]] = (
    Migration(
        1,
        "audit tables and the key-value state",
        _V1_TABLES + tuple(s for t in _V1_AUDIT for s in _append_only(t)),
    ),
    Migration(
        2,
        "operator command queue",
        _V2_COMMANDS + _append_only("commands") + _append_only("command_acks"),
    ),
    Migration(
        3,
        "the strategy's named numbers on each decision",
        ("ALTER TABLE decisions ADD COLUMN numbers_json TEXT "
         "CHECK (numbers_json IS NULL OR json_valid(numbers_json))",),
    ),
    Migration(4, "markets a run may not enter, and why", _V4_REFUSALS + _append_only("refusals")),
    Migration(5, "graded operator commands and refused requests", _V5_OPERATOR, rebuilds=True),
)
LATEST_VERSION: Final = MIGRATIONS[-1].version


def schema_version(db: sqlite3.Connection) -> int:
    """The file's ``PRAGMA user_version``."""
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def check_openable(db: sqlite3.Connection, path: Path | str, known: int = LATEST_VERSION) -> None:
    """Refuse a file newer than this code or one that is not a journal, with a ConfigError."""
    try:
        version = schema_version(db)
        app_id = int(db.execute("PRAGMA application_id").fetchone()[0])
        tables = db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    except sqlite3.DatabaseError as e:
        raise ConfigError(f"journal {path} is not a readable SQLite file: {e}") from e
    if version > known:
        raise ConfigError(
            f"journal {path} has schema version {version}, newer than this code knows "
            f"({known}); upgrade the bot instead of letting an older one write to it"
        )
    if app_id not in (0, APPLICATION_ID) or (app_id == 0 and tables):
        raise ConfigError(f"journal {path} is an SQLite file of something else; not touching it")


def migrate(
    db: sqlite3.Connection,
    migrations: Sequence[Migration] = MIGRATIONS,
    target: int | None = None,
) -> int:
    """Bring the file to ``target`` (default: the latest) in one transaction; the new version."""
    goal = migrations[-1].version if target is None else target
    if schema_version(db) >= goal:
        return schema_version(db)  # the common case takes no write lock at all
    rebuilds = any(schema_version(db) < m.version <= goal and m.rebuilds for m in migrations)
    keys_on = int(db.execute("PRAGMA foreign_keys").fetchone()[0])
    if rebuilds:
        db.execute("PRAGMA foreign_keys = OFF")
    db.execute("BEGIN IMMEDIATE")
    try:
        # Read again under the lock: another process may have migrated meanwhile.
        current = schema_version(db)
        for step in migrations:
            if current < step.version <= goal:
                for statement in step.statements:
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {int(step.version)}")
                current = step.version
        broken = db.execute("PRAGMA foreign_key_check").fetchall() if rebuilds else []
        if broken:
            raise JournalError(f"migration to version {current} broke foreign keys: {broken[:3]}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    finally:
        if rebuilds:
            db.execute(f"PRAGMA foreign_keys = {'ON' if keys_on else 'OFF'}")
    return current


def connect(path: Path | str, *, busy_timeout_s: float) -> sqlite3.Connection:
    """Open (creating parent folders) a journal in WAL mode, migrated to the latest version.

    ``synchronous=FULL``: in WAL mode NORMAL survives a killed process but may lose the last
    commits on power loss or an OS crash; an order intent lost that way is a live order the bot
    does not know about. FULL costs one fsync per commit, nothing at a few commits per bar.
    """
    memory = str(path) == ":memory:"
    if not memory:
        _refuse_damaged(Path(path))
        if not Path(path).exists():
            _create(Path(path), busy_timeout_s=busy_timeout_s)
    try:
        # isolation_level=None: the journal issues BEGIN/COMMIT itself, nothing is implicit.
        db = sqlite3.connect(str(path), timeout=busy_timeout_s, isolation_level=None)
    except sqlite3.Error as e:
        raise ConfigError(f"journal {path} cannot be opened ({e}); is it writable?") from e
    try:
        _configure(db, path, busy_timeout_s=busy_timeout_s, memory=memory)
    except sqlite3.Error as e:
        db.close()
        raise ConfigError(f"journal {path} cannot be opened for writing: {e}") from e
    except BaseException:
        db.close()
        raise
    return db


def _configure(db: sqlite3.Connection, path: Path | str, *, busy_timeout_s: float,
               memory: bool) -> None:
    db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
    check_openable(db, path)
    mode = str(db.execute("PRAGMA journal_mode = WAL").fetchone()[0]).lower()
    if not memory and mode != "wal":
        raise ConfigError(f"journal {path}: SQLite refused WAL mode (got {mode!r})")
    db.execute("PRAGMA synchronous = FULL")
    db.execute("PRAGMA foreign_keys = ON")
    migrate(db)


# The first 100 bytes of an SQLite file: magic, then big-endian fields (user_version at 60,
# application_id at 68). Read without SQLite, so a damaged file gets no -wal or -shm beside it.
_HEADER_BYTES: Final = 100
_MAGIC: Final = b"SQLite format 3\x00"


def _refuse_damaged(path: Path) -> None:
    """ConfigError naming ``path`` when it exists but is not a journal; the file is not touched.

    A zero-byte file is refused too: taken as a new journal it would silently become an account
    with no kill switches in force.
    """
    try:
        with path.open("rb") as fh:
            header = fh.read(_HEADER_BYTES)
    except FileNotFoundError:
        return
    except OSError as e:
        raise ConfigError(f"journal {path} cannot be opened: {e.strerror or e}") from e
    if not header:
        raise ConfigError(f"journal {path} is empty (0 bytes), not a journal; refusing to "
                          "start a new account over it: move it away if it is not needed")
    if len(header) < _HEADER_BYTES or not header.startswith(_MAGIC):
        raise ConfigError(f"journal {path} is not a readable SQLite file (damaged, or something "
                          "else); not touching it")
    app_id = int.from_bytes(header[68:72], "big")
    if app_id not in (0, APPLICATION_ID):
        raise ConfigError(f"journal {path} is an SQLite file of something else; not touching it")


def _create(path: Path, *, busy_timeout_s: float) -> None:
    """Build a new, migrated journal beside ``path`` and link it into place in one step.

    A crash while creating leaves a stray temporary file, never a half-made journal at ``path``
    that the next start would refuse as damaged.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".new")
    os.close(fd)
    tmp = Path(name)
    try:
        db = sqlite3.connect(name, timeout=busy_timeout_s, isolation_level=None)
        try:
            db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            migrate(db)
        finally:
            db.close()
        with tmp.open("rb") as fh:
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)  # never replaces: another process may have created it meanwhile
        except FileExistsError:
            pass
        except OSError:  # a filesystem without hard links: rename, still whole or absent
            if not path.exists():
                os.replace(tmp, path)
    except sqlite3.Error as e:
        # The disk failed (full, I/O): the environment's fault, exit 1. A failed COMMIT hides
        # its cause behind the ROLLBACK that follows it: report the cause.
        cause = e.__context__ if isinstance(e.__context__, sqlite3.Error) else e
        raise JournalError(f"journal {path} cannot be created: {cause}") from e
    finally:
        tmp.unlink(missing_ok=True)
