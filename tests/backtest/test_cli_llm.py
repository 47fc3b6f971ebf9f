"""A backtest scored by an LLM over the fake transport; a second run answers from the cache.

"The backtest can run with a scorer from the cache": the second run gets a transport that fails
every request, makes none, and reproduces the first run's figures exactly.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from backtest.cli import add_arguments
from backtest.cli_run import run_backtest_command
from core.clock import SimulatedClock
from data import synthetic_ohlcv
from risk.backtest_store import load_results
from signals.llm_scorer import LOOKAHEAD_WARNING
from tests.fake_llm import FakeLLM, anthropic_tool_use, good_answer

KEY = "sk-ant-api03-BACKTEST-TEST-KEY"
LOOSE_GATES = ["--gate-min-sharpe", "-100", "--gate-max-drawdown-pct", "1",
               "--gate-min-trades", "0"]


def parse(argv: list[str]) -> argparse.Namespace:
    """The backtest command's arguments, parsed as main.py would."""
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    """1,200 hourly synthetic BTC/USDT bars in the shared files' CSV format."""
    table = synthetic_ohlcv(1200, start="2024-01-01", seed=3).reset_index()
    table["timestamp"] = pd.DatetimeIndex(table["timestamp"]).as_unit("ms").asi8
    path = tmp_path / "BTCUSDT_1h_synthetic.csv"
    table.to_csv(path, index=False)
    return path


def test_llm_scored_backtest_replays_from_the_cache_without_http(
    tmp_path: Path, data_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {
        "ANTHROPIC_API_KEY": KEY, "SCORER_MAX_RETRIES": "0",
        "SCORER_CACHE_PATH": str(tmp_path / "llm.sqlite3"),
        "TRADINGBOT_STATE_DIR": str(tmp_path / "state"),
    }
    clock = SimulatedClock(datetime(2025, 1, 1, tzinfo=UTC))
    argv = ["--data", str(data_file), "--scorer", "anthropic", "--json", *LOOSE_GATES]

    online = FakeLLM(anthropic_tool_use(good_answer(0.8)))
    assert run_backtest_command(parse(argv), env, clock=clock, http_client=online.client()) == 0
    first_out, first_err = capsys.readouterr()
    first = json.loads(first_out)
    calls = len(online.requests)
    assert calls > 10
    assert LOOKAHEAD_WARNING in first_err
    assert f"0 in the answer cache, {calls:,} model calls" in first_err
    assert first["params"]["scorer"]["answers"] == {"llm": calls}
    assert first["params"]["scorer"]["cost_usd"] > 0

    offline = FakeLLM()  # any request would be answered with an error (and a fallback)
    assert run_backtest_command(parse(argv), env, clock=clock, http_client=offline.client()) == 0
    second_out, second_err = capsys.readouterr()
    second = json.loads(second_out)
    assert offline.requests == []
    assert f"{calls:,} in the answer cache, 0 model calls, estimated $0.0000" in second_err
    assert second["params"]["scorer"]["answers"] == {"cache": calls}
    assert second["stats"] == first["stats"]
    assert second["kelly"] == first["kelly"]
    [saved] = load_results(tmp_path / "state" / "backtest_results.json").values()
    assert saved.scorer["provider"] == "anthropic"
    assert saved.scorer["answers"] == {"cache": calls}


def test_llm_scorer_without_a_key_is_a_config_error(data_file: Path, tmp_path: Path) -> None:
    from core.errors import ConfigError

    args = parse(["--data", str(data_file), "--scorer", "anthropic"])
    with pytest.raises(ConfigError, match="ANTHROPIC_API_KEY is required"):
        run_backtest_command(args, {"TRADINGBOT_STATE_DIR": str(tmp_path)})
