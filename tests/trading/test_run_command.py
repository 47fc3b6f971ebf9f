"""`python main.py run`: paper --once against a fake exchange, replay, restart, live refusals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from core.domain import OrderKind
from data.loader import save_ohlcv_csv
from data.synthetic import synthetic_ohlcv
from journal import Journal
from main import main
from tests.conftest import REPO_ROOT
from tests.fake_binance import FakeBinance


@pytest.fixture
def demo_file(tmp_path: Path) -> Path:
    bars = synthetic_ohlcv(1500, timeframe="1h", seed=11, start_price=30_000.0,
                           volatility=0.007)
    return save_ohlcv_csv(bars, tmp_path / "SYNTHUSDT_1h_demo.csv")


def env_for(state: Path, **extra: str) -> dict[str, str]:
    return {"TRADINGBOT_STATE_DIR": str(state), **extra}


def fills_of(journal_file: Path) -> list[tuple[str, str, str, str]]:
    with Journal(journal_file) as journal:
        return [(str(f.kind), f.at.isoformat(), str(f.amount), str(f.price))
                for f in journal.fills()]


def test_replay_runs_to_the_end_and_a_second_run_has_nothing_left(
    demo_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = env_for(tmp_path / "state")
    assert main(["run", "--replay", str(demo_file)], environ=env) == 0
    assert "replay finished" in capsys.readouterr().out
    journal_file = tmp_path / "state" / "replay" / "journal.sqlite3"
    first = fills_of(journal_file)
    assert first, "the replay traded"
    assert main(["run", "--replay", str(demo_file)], environ=env) == 0
    assert "0 bars this run" in capsys.readouterr().out
    assert fills_of(journal_file) == first


def test_replay_of_another_file_needs_fresh(
    demo_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = env_for(tmp_path / "state")
    assert main(["run", "--replay", str(demo_file)], environ=env) == 0
    other = save_ohlcv_csv(synthetic_ohlcv(600, seed=2), tmp_path / "OTHERUSDT_1h.csv")
    assert main(["run", "--replay", str(other)], environ=env) == 2
    assert "--fresh" in capsys.readouterr().err
    assert main(["run", "--replay", str(other), "--fresh"], environ=env) == 0
    assert (tmp_path / "state" / "replay" / "journal.sqlite3.1.bak").is_file()


def test_bad_speed_is_a_usage_error(demo_file: Path, tmp_path: Path) -> None:
    env = env_for(tmp_path / "state")
    assert main(["run", "--replay", str(demo_file), "--speed", "fast"], environ=env) == 2


def test_sigterm_mid_replay_then_restart_continues_the_same_account(
    demo_file: Path, tmp_path: Path
) -> None:
    # Reference: the same replay without interruption.
    straight = tmp_path / "straight"
    assert main(["run", "--replay", str(demo_file)], environ=env_for(straight)) == 0
    expected = fills_of(straight / "replay" / "journal.sqlite3")

    state = tmp_path / "interrupted"
    journal_file = state / "replay" / "journal.sqlite3"
    cmd = [sys.executable, "main.py", "run", "--replay", str(demo_file), "--speed", "0.005"]
    proc = subprocess.Popen(  # noqa: S603 - our own CLI with fixed arguments
        cmd, cwd=REPO_ROOT, env={**os.environ, **env_for(state)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(_fills_if_any(journal_file)) < 4:
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "stopped (run again to continue)" in out
    partial = fills_of(journal_file)
    assert 4 <= len(partial) < len(expected)
    assert main(["run", "--replay", str(demo_file)], environ=env_for(state)) == 0
    assert fills_of(journal_file) == expected


def _fills_if_any(path: Path) -> list[tuple[str, str, str, str]]:
    try:
        return fills_of(path) if path.exists() else []
    except Exception:  # the writer may be creating it right now
        return []


def test_paper_once_decides_on_the_latest_closed_bar(
    live_fake: FakeBinance, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = env_for(tmp_path / "state", TRADINGBOT_EXCHANGE_URL=live_fake.url,
                  TRADINGBOT_CACHE_DIR=str(tmp_path / "cache"))
    assert main(["run", "--once"], environ=env) == 0
    out = capsys.readouterr().out
    assert "paper trading BTC/USDT 1h" in out
    assert "default size" in out  # no saved backtest: the stated minimum size, and why
    with Journal(tmp_path / "state" / "paper" / "journal.sqlite3") as journal:
        run = journal.latest_run()
        decisions = journal.recent_decisions(5)
    assert run is not None
    assert str(run.mode) == "paper"
    assert len(decisions) == 1
    latest_closed = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(
        hours=1)
    assert pd.Timestamp(decisions[0].bar_time) >= pd.Timestamp(latest_closed) - pd.Timedelta(
        hours=1)
    # A second --once in the same hour has no new closed bar: no new decision.
    assert main(["run", "--once"], environ=env) == 0
    with Journal(tmp_path / "state" / "paper" / "journal.sqlite3") as journal:
        assert len(journal.recent_decisions(5)) in (1, 2)  # 2 only if an hour just turned


def test_live_refuses_without_the_opt_in(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                         ) -> None:
    env = env_for(tmp_path / "state")
    assert main(["run", "--live", "--once"], environ=env) == 2
    err = capsys.readouterr().err
    assert "BINANCE_API_KEY" in err
    assert "LIVE_TRADING" in err


def test_live_with_keys_still_needs_the_promotion_gate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = env_for(tmp_path / "state", BINANCE_API_KEY="k" * 16, BINANCE_API_SECRET="s" * 16,
                  LIVE_TRADING="yes")
    assert main(["run", "--live", "--once"], environ=env) == 2
    err = capsys.readouterr().err
    assert "promotion gate" in err
    assert "backtest" in err
    assert "s" * 16 not in err


def test_testnet_without_keys_says_where_to_get_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "--testnet", "--once"], environ=env_for(tmp_path / "state")) == 2
    assert "testnet" in capsys.readouterr().err


def test_entry_fill_kinds_are_recorded(demo_file: Path, tmp_path: Path) -> None:
    env = env_for(tmp_path / "state")
    assert main(["run", "--replay", str(demo_file)], environ=env) == 0
    kinds = {k for k, *_ in fills_of(tmp_path / "state" / "replay" / "journal.sqlite3")}
    assert str(OrderKind.ENTRY) in kinds


def test_a_second_bot_on_the_same_journal_is_refused(
    demo_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from trading.instance_lock import single_instance

    journal_file = tmp_path / "state" / "replay" / "journal.sqlite3"
    with single_instance(journal_file):
        assert main(["run", "--replay", str(demo_file)], environ=env_for(tmp_path / "state")) == 2
        err = capsys.readouterr().err
        assert f"pid {os.getpid()}" in err
        assert "is running" in err
    # Released with its holder: the next bot starts.
    assert main(["run", "--replay", str(demo_file)], environ=env_for(tmp_path / "state")) == 0
