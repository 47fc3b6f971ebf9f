"""`python main.py score`: the latest closed bar scored with the configured scorer."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ConfigError
from data.synthetic import synthetic_ohlcv
from main import main
from signals.score_command import _symbol_from_file


@pytest.fixture
def bars_file(tmp_path: Path) -> Path:
    frame = synthetic_ohlcv(600, timeframe="1h", seed=3)
    out = frame.reset_index()
    out["timestamp"] = out["timestamp"].astype("int64") // 1_000_000
    path = tmp_path / "ETHUSDT_1h_synthetic.csv"
    out.to_csv(path, index=False)
    return path


def test_without_a_key_it_says_it_uses_the_fixed_scorer(
    bars_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["score", "--data", str(bars_file)], environ={}) == 0
    out = capsys.readouterr().out
    assert "using the fixed scorer" in out
    assert "ETH/USDT bar" in out
    assert "+0.50" in out
    assert "fixed" in out


def test_fixed_conviction_comes_from_settings(
    bars_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {"SCORER_FIXED_CONVICTION": "0.8"}
    assert main(["score", "--data", str(bars_file), "--as-symbol", "ABC/USDT"], environ=env) == 0
    out = capsys.readouterr().out
    assert "ABC/USDT bar" in out
    assert "+0.80" in out


def test_missing_file_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["score", "--data", "/no/such/file.csv"], environ={}) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "Traceback" not in err


def test_too_few_bars_is_a_user_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frame = synthetic_ohlcv(50, timeframe="1h", seed=1).reset_index()
    frame["timestamp"] = frame["timestamp"].astype("int64") // 1_000_000
    path = tmp_path / "BTCUSDT_short.csv"
    frame.to_csv(path, index=False)
    assert main(["score", "--data", str(path)], environ={}) == 2
    assert "need at least" in capsys.readouterr().err


def test_symbol_from_file_name() -> None:
    assert _symbol_from_file("../shared/data/BTCUSDT_1h_binance.csv") == "BTC/USDT"
    assert _symbol_from_file("DOGEUSDT_1h.csv") == "DOGE/USDT"
    with pytest.raises(ConfigError, match="--as-symbol"):
        _symbol_from_file("prices.csv")
