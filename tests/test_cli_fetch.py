"""`python main.py fetch`: fills the cache from the (fake) exchange; user mistakes exit 2."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.clock import SimulatedClock
from data.cache import CacheKey, read_cache
from data.synthetic import synthetic_ohlcv
from main import main
from tests.conftest import REPO_ROOT
from tests.fake_binance import KLINES, FakeBinance

# The fake's history is 2,520 hourly bars ending 2024-04-14 23:00, long before its clock and
# the wall clock the CLI runs on, so "all bars since" stops where the history stops.
FAKE_NOW = datetime(2024, 6, 1, tzinfo=UTC)


@pytest.fixture
def fake() -> Iterator[FakeBinance]:
    """A fake Binance with 2,520 closed BTCUSDT 1h bars from 2024-01-01."""
    with FakeBinance(clock=SimulatedClock(FAKE_NOW)) as server:
        server.set_klines("BTCUSDT", "1h", synthetic_ohlcv(2520, start="2024-01-01", seed=1))
        yield server


@pytest.fixture
def env(tmp_path: Path, fake: FakeBinance) -> dict[str, str]:
    """Environment of a CLI run: the fake as exchange, a temp cache."""
    return {
        "TRADINGBOT_EXCHANGE_URL": fake.url,
        "TRADINGBOT_CACHE_DIR": str(tmp_path / "cache"),
    }


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run main.py in a child process, as a user would."""
    return subprocess.run(  # noqa: S603 - fixed argv: this interpreter running main.py
        [sys.executable, str(REPO_ROOT / "main.py"), *args],
        cwd=REPO_ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_fetch_fills_the_cache_and_prints_one_summary_line(
    env: dict[str, str], fake: FakeBinance, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code = main(["fetch", "--symbol", "BTC/USDT", "--since", "2024-01-01"], environ=env)
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.count("\n") == 1
    assert out.startswith(
        "binance BTC/USDT 1h: 2,520 bars 2024-01-01 00:00 .. 2024-04-14 23:00 UTC, 0 gaps; cache "
    )
    cached = read_cache(CacheKey("binance", "BTC/USDT", "1h"), tmp_path / "cache")
    assert cached is not None
    assert len(cached.frame) == 2520
    assert len(fake.calls(KLINES)) == 4  # three full-ish pages, then an empty one
    fake.clear_log()
    assert main(["fetch", "--since", "2024-03-01"], environ=env) == 0
    # The wall clock is past the fake's history, so only the tail is asked for again.
    assert [c.params["startTime"] for c in fake.calls(KLINES)] == ["1713139200000"]


def test_help_works() -> None:
    result = _run(["--help"], {})
    assert result.returncode == 0
    assert "fetch" in result.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["fetch", "--since", "2024-02-30"], "error: bad date '2024-02-30': expected YYYY-MM-DD"),
        (["fetch", "--symbol", "FOO/USDT"], "error: unknown symbol 'FOO/USDT' on binance"),
        (["fetch", "--timeframe", "2x"], "error: unknown timeframe '2x'; allowed: 1s, 1m"),
        (["fetch", "--limit", "many"], "error: argument --limit: invalid int value: 'many'"),
        (["fetch", "--exchange", "nosuchx"], "error: unknown exchange 'nosuchx'"),
        (["frobnicate"], "error: argument COMMAND: invalid choice: 'frobnicate'"),
    ],
)
def test_user_mistakes_exit_2_with_one_line(
    env: dict[str, str], args: list[str], message: str
) -> None:
    result = _run(args, env)
    assert result.returncode == 2
    assert result.stderr.startswith(message)
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


def test_unreachable_exchange_exits_2_with_one_line(tmp_path: Path) -> None:
    env = {
        "TRADINGBOT_EXCHANGE_URL": f"http://127.0.0.1:{_free_port()}",
        "TRADINGBOT_CACHE_DIR": str(tmp_path),
    }
    result = _run(["fetch", "--since", "2024-01-01"], env)
    assert result.returncode == 2
    assert result.stderr == "error: binance is unavailable (connection failed); try again later\n"


def test_exchange_errors_in_process_exit_2(
    env: dict[str, str], fake: FakeBinance, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.fail_next(503)
    assert main(["fetch", "--since", "2024-01-01"], environ=env) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert (
        err == "error: binance is unavailable (HTTP 503, server error or no connection); "
        "try again later\n"
    )
