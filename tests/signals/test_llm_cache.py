"""The SQLite answer cache and spend ledger: keys, persistence, WAL for a second reader."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from signals.llm_cache import CachedAnswer, ScoreCache, cache_key

ANSWER = CachedAnswer(0.7, False, "EMA spread widening")


def _key(**parts: str) -> str:
    base = {"provider": "anthropic", "model": "m", "prompt": "p", "schema_version": "v1"}
    return cache_key(**{**base, **parts})


@pytest.mark.parametrize(
    "change",
    [{"provider": "openai"}, {"model": "m2"}, {"prompt": "p2"}, {"schema_version": "v2"}],
)
def test_every_part_of_the_key_matters(change: dict[str, str]) -> None:
    assert _key(**change) != _key()
    assert _key() == _key()


def test_answers_and_spend_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "llm.sqlite3"
    cache = ScoreCache(path)
    cache.put(_key(), ANSWER, provider="anthropic", model="m", created_at="2025-03-01T12:00:00")
    cache.put(_key(), CachedAnswer(-0.9, True, "later"), provider="anthropic", model="m",
              created_at="2025-03-01T13:00:00")
    cache.add_spend("2025-03-01", provider="anthropic", model="m", tokens_in=600,
                    tokens_out=40, cost_usd=0.25)
    cache.add_spend("2025-03-01", provider="openai", model="g", tokens_in=1, tokens_out=1,
                    cost_usd=0.5)
    cache.add_spend("2025-03-02", provider="anthropic", model="m", tokens_in=1, tokens_out=1,
                    cost_usd=4.0)
    cache.close()

    reopened = ScoreCache(path)
    assert reopened.get(_key()) == ANSWER  # the first answer is kept
    assert reopened.get(_key(prompt="other")) is None
    assert reopened.spent_usd("2025-03-01") == pytest.approx(0.75)
    assert reopened.spent_usd("2025-03-03") == 0.0
    reopened.close()


def test_wal_mode_lets_a_second_process_read_while_open(tmp_path: Path) -> None:
    path = tmp_path / "llm.sqlite3"
    cache = ScoreCache(path)
    assert cache.journal_mode() == "wal"
    cache.put(_key(), ANSWER, provider="anthropic", model="m", created_at="t")
    reader = sqlite3.connect(path)
    try:
        rows = reader.execute("SELECT conviction, reasoning FROM answers").fetchall()
    finally:
        reader.close()
    assert rows == [(0.7, "EMA spread widening")]
    cache.close()
