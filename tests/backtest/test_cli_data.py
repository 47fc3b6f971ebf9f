"""Where `backtest` gets its bars: a file, or the exchange; offline it says what to do instead."""

from __future__ import annotations

from pathlib import Path

import pytest

from main import main


def test_offline_without_data_suggests_a_file_or_demo_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {
        # Nothing listens on port 9 (discard): every request fails at once, as offline.
        "TRADINGBOT_EXCHANGE_URL": "http://127.0.0.1:9",
        "TRADINGBOT_CACHE_DIR": str(tmp_path / "cache"),
        "TRADINGBOT_STATE_DIR": str(tmp_path / "state"),
    }
    assert main(["backtest"], environ=env) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: binance is unavailable (connection failed)")
    assert err.endswith("; without a network, backtest a file: --data FILE "
                        "(`python main.py demo-data` writes a synthetic one)\n")
    assert err.count("\n") == 1
