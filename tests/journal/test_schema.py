"""Opening, migrating and refusing journal files."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from core.errors import ConfigError
from journal import LATEST_VERSION, Journal, JournalError, default_journal_path
from journal.schema import MIGRATIONS, Migration, migrate
from tests.journal.conftest import utc


def test_new_file_is_created_with_parents_at_the_latest_version(db_path: Path) -> None:
    assert not db_path.parent.exists()
    with Journal(db_path) as j:
        assert j.schema_version() == LATEST_VERSION == 5
        assert j.journal_mode() == "wal"
        pragma = j._db.execute  # the connection's settings are part of the durability promise
        assert pragma("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert pragma("PRAGMA foreign_keys").fetchone()[0] == 1
        assert pragma("PRAGMA busy_timeout").fetchone()[0] == 10_000
    assert db_path.is_file()


def test_migrations_are_consecutive_from_one() -> None:
    assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))


def test_a_v1_file_migrates_to_the_latest_keeping_its_rows(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    raw = sqlite3.connect(db_path, isolation_level=None)
    assert migrate(raw, target=1) == 1
    raw.execute(
        "INSERT INTO state (key, value_json, updated_at) VALUES ('risk', '{\"a\": 1}', 'x')"
    )
    raw.execute(
        "INSERT INTO halts (recorded_at, at, kind, reason, actor) "
        "VALUES ('2024-01-01T00:00:00.000000+00:00', '2024-01-01T00:00:00.000000+00:00', "
        "'drawdown_latch', 'Max drawdown 16.0% exceeded 15.0%', 'bot')"
    )
    tables = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "commands" not in tables
    raw.close()

    with Journal(db_path) as j:
        assert j.schema_version() == 5
        assert j.load_state("risk") == {"a": 1}
        assert j.recent_halts()[0].reason == "Max drawdown 16.0% exceeded 15.0%"
        command = j.post_command("resume", "checked the account")
        assert [c.id for c in j.pending_commands()] == [command]


def test_a_v4_file_keeps_its_commands_acks_and_halts_through_the_v5_rebuild(
    db_path: Path,
) -> None:
    db_path.parent.mkdir(parents=True)
    raw = sqlite3.connect(db_path, isolation_level=None)
    raw.execute("PRAGMA foreign_keys = ON")
    assert migrate(raw, target=4) == 4
    t = "'2024-01-01T00:00:00.000000+00:00'"
    raw.execute(f"INSERT INTO runs (started_at, mode, strategy_id, code_version, config_json) "
                f"VALUES ({t}, 'paper', 's', 'c', '{{}}')")
    for reason in ("first", "second", "third"):
        raw.execute(f"INSERT INTO commands (posted_at, kind, reason, actor) "
                    f"VALUES ({t}, 'halt', '{reason}', 'operator')")
    raw.execute(f"INSERT INTO command_acks (command_id, run_id, acked_at, result) "
                f"VALUES (2, 1, {t}, 'manual halt in force')")
    raw.execute(f"INSERT INTO halts (run_id, recorded_at, at, kind, reason, actor) "
                f"VALUES (1, {t}, {t}, 'manual_halt', 'second', 'operator')")
    assert migrate(raw) == 5
    assert raw.execute("PRAGMA foreign_keys").fetchone()[0] == 1  # switched back on
    assert raw.execute("PRAGMA foreign_key_check").fetchall() == []
    raw.close()

    with Journal(db_path) as j:
        assert [(c.id, c.reason, c.result) for c in j.recent_commands()] == [
            (3, "third", ""), (2, "second", "manual halt in force"), (1, "first", "")]
        halt = j.manual_halt()
        assert halt is not None
        assert halt.reason == "second"
        # ids go on after the copied rows; the new kinds and the symbol are taken
        assert j.post_command("flatten", "too risky", symbol="BTC/USDT", actor="cli") == 4
        flatten = j.command(4)
        assert flatten is not None
        assert (flatten.kind, flatten.symbol, flatten.actor) == ("flatten", "BTC/USDT", "cli")
        j.record_halt("manual_pause", "lunch", actor="operator", at=utc(2))
        assert j.manual_pause() is not None
        j.record_denial("telegram", "chat 666", "/halt")
        for table in ("commands", "halts", "access_denials"):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                j._db.execute(f"DELETE FROM {table}")
        with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
            j._db.execute(f"INSERT INTO command_acks (command_id, acked_at, result) "
                          f"VALUES (99, {t}, 'x')")
        with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
            j._db.execute(f"INSERT INTO commands (posted_at, kind, reason, actor, symbol) "
                          f"VALUES ({t}, 'pause', 'x', 'cli', 'BTC/USDT')")


def test_a_failing_migration_leaves_the_file_as_it_was(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    raw = sqlite3.connect(db_path, isolation_level=None)
    migrate(raw, target=1)
    broken = (*MIGRATIONS, Migration(len(MIGRATIONS) + 1, "broken",
                                     ("CREATE TABLE extra (x)", "NOT SQL")))
    with pytest.raises(sqlite3.OperationalError):
        migrate(raw, broken)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == 1
    names = {r[0] for r in raw.execute("SELECT name FROM sqlite_master")}
    assert not names & {"commands", "extra"}  # neither step 2 nor the half of step 3
    raw.close()


def test_a_newer_file_is_refused_untouched(db_path: Path) -> None:
    with Journal(db_path) as j:
        j.save_state("k", {"v": 1})
    raw = sqlite3.connect(db_path)
    raw.execute(f"PRAGMA user_version = {LATEST_VERSION + 1}")
    raw.close()
    before = db_path.read_bytes()
    newer = rf"schema version {LATEST_VERSION + 1}, newer than this code knows \({LATEST_VERSION}\)"
    with pytest.raises(ConfigError, match=newer):
        Journal(db_path)
    assert db_path.read_bytes() == before


def test_another_programs_sqlite_file_is_refused(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    raw = sqlite3.connect(db_path)
    raw.execute("CREATE TABLE answers (key TEXT)")
    raw.close()
    with pytest.raises(ConfigError, match="SQLite file of something else"):
        Journal(db_path)


def test_a_file_that_is_not_sqlite_is_refused(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    db_path.write_bytes(b"this is a CSV, not a database\n" * 100)
    with pytest.raises(ConfigError, match="not a readable SQLite file"):
        Journal(db_path)


def test_a_path_that_cannot_be_a_database_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be opened"):
        Journal(tmp_path)  # a directory


def test_audit_tables_are_append_only(journal: Journal) -> None:
    journal.record_halt("manual_halt", "operator said so", actor="operator", at=utc(1))
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        journal._db.execute("UPDATE halts SET reason = 'nothing happened'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        journal._db.execute("DELETE FROM halts")
    assert journal.recent_halts()[0].reason == "operator said so"


def test_default_path_follows_the_state_dir_variable(tmp_path: Path) -> None:
    assert default_journal_path({"TRADINGBOT_STATE_DIR": str(tmp_path)}) == (
        tmp_path / "journal.sqlite3"
    )
    assert default_journal_path({}).parts[-2:] == ("state", "journal.sqlite3")


def test_a_failed_write_raises_and_leaves_no_row(journal: Journal) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        journal.record_halt("manual_halt", "x", actor="operator", at=utc(1).replace(tzinfo=None))
    with pytest.raises(ValueError, match="'nope' is not a valid Actor"):
        journal.record_halt("manual_halt", "x", actor="nope")
    assert journal.recent_halts() == []
    with journal.batch():
        journal.save_state("a", {"x": 1})

    def step_with_a_bad_write() -> None:
        with journal.batch():
            journal.save_state("a", {"x": 2})
            journal.save_state("b", {"x": float("nan")})

    with pytest.raises(JournalError, match="not JSON-safe"):
        step_with_a_bad_write()
    assert journal.load_state("a") == {"x": 1}  # the batch's first write went with it
