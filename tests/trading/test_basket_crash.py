"""A basket replay SIGKILLed at seeded SQLite writes resumes to the uninterrupted run's journal.

The same harness as test_crash_atomicity (bench/crash_harness.py: strace kills the real command
at its K-th page write or sync, the command is run again until it finishes), on two markets of
one account: B starts later and has a gap, and the tight limits fire the account's switches.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from bench.crash_harness import (
    KILLED,
    REPO,
    TIGHT,
    count_calls,
    differences,
    environment,
    kill_points,
    run_killed,
    run_to_end,
    snapshot,
)
from data.loader import save_ohlcv_csv
from data.synthetic import synthetic_ohlcv


def basket_command(work: Path) -> list[str]:
    """The replay of two synthetic markets with the harness's tight limits."""
    a = synthetic_ohlcv(24 * 45, seed=3, volatility=0.01, start_price=30_000.0)
    b = synthetic_ohlcv(24 * 40, seed=4, volatility=0.012, start="2024-01-04",
                        start_price=2_000.0)
    b = b.drop(b.index[500:506])  # six hours without a bar of B, after its warm-up
    files = [save_ohlcv_csv(a, work / "AAAUSDT_1h_basket.csv"),
             save_ohlcv_csv(b, work / "BBBUSDT_1h_basket.csv")]
    return [sys.executable, str(REPO / "main.py"), "run", "--replay", str(files[0]),
            "--replay", str(files[1]), "--speed", "max", *TIGHT]


@pytest.mark.timeout(600)
def test_kills_mid_basket_replay_never_change_the_outcome(strace: Path, tmp_path: Path) -> None:
    cmd = basket_command(tmp_path)
    run_to_end(cmd, environment(tmp_path / "baseline"), tmp_path)
    expected = snapshot(tmp_path / "baseline" / "replay" / "journal.sqlite3")
    assert {row[1] for row in expected["fills"]} == {"AAA/USDT", "BBB/USDT"}
    assert {row[3] for row in expected["fills"]} == {"entry", "exit", "stop"}
    assert "daily_pause" in {row[1] for row in expected["halts"]}
    counts = count_calls(cmd, environment(tmp_path / "counting"), tmp_path)
    points = kill_points(counts, 3, seed=14)
    assert len(points) == 3
    for n, (syscall, k) in enumerate(points):
        state = tmp_path / f"kill-{n}"
        assert run_killed(cmd, environment(state), tmp_path, syscall, k) in (KILLED, -9)
        run_to_end(cmd, environment(state), tmp_path)
        got = snapshot(state / "replay" / "journal.sqlite3")
        assert differences(expected, got) == [], f"killed at {syscall} #{k}"
