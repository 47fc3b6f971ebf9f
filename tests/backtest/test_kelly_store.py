"""The Kelly file: round trip, a stable strategy_id, clear errors for missing or damaged files."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from backtest.engine import BacktestConfig, KellyInputs
from backtest.gates import GateResult
from backtest.kelly_store import (
    DataRange,
    SavedBacktest,
    config_strategy_settings,
    default_results_path,
    load_backtest_results,
    save_backtest_results,
    strategy_id,
)
from core.errors import ConfigError, DataError
from risk.config import RiskConfig
from signals.quant_signals import SignalParams
from signals.strategies.rsi_ema import seed_strategy

CREATED = datetime(2025, 6, 1, 12, 30, tzinfo=UTC)


def saved(config: BacktestConfig | None = None, **kelly: float) -> SavedBacktest:
    settings = config_strategy_settings(config or BacktestConfig(), "1h")
    return SavedBacktest(
        strategy_id=strategy_id(settings), created_at=CREATED, engine="full",
        data=DataRange("BTC/USDT", "1h", datetime(2022, 1, 17, 3, tzinfo=UTC),
                       datetime(2025, 5, 5, 23, tzinfo=UTC), 28_916, "btc.csv"),
        strategy=settings, costs={"init_cash": 10_000.0, "fee": 0.001, "slippage": 0.0005},
        kelly=KellyInputs(trades=87, win_rate=kelly.get("win_rate", 0.54),
                          avg_win_pct=kelly.get("avg_win_pct", 0.022),
                          avg_loss_pct=kelly.get("avg_loss_pct", 0.014)),
        total_trades=87,
        gates=(GateResult("sharpe", "Sharpe Ratio > 1", 1.24, 1.0, True),
               GateResult("max_drawdown", "Max Drawdown [%] < 20", 12.4, 20.0, True),
               GateResult("trades", "Total Trades > 50", 87.0, 50.0, True)),
        scorer={"provider": "fixed", "conviction": 0.5},
    )


def test_round_trip(tmp_path: Path) -> None:
    original = saved()
    path = save_backtest_results(tmp_path / "deep" / "results.json", original)
    assert load_backtest_results(path) == original
    assert load_backtest_results(path).gates_passed
    assert [p.name for p in path.parent.iterdir()] == ["results.json"]  # no temp file left


def test_nan_kelly_inputs_are_null_in_the_file_and_nan_again_when_read(tmp_path: Path) -> None:
    path = save_backtest_results(tmp_path / "r.json", saved(avg_loss_pct=math.nan))
    assert json.loads(path.read_text())["kelly"]["avg_loss_pct"] is None
    assert math.isnan(load_backtest_results(path).kelly.avg_loss_pct)


def test_strategy_id_is_stable_and_changes_with_any_strategy_setting() -> None:
    base = config_strategy_settings(BacktestConfig(), "1h")
    assert strategy_id(base) == strategy_id(config_strategy_settings(BacktestConfig(), "1h"))
    # 0 and 0.0 are one setting: the id must not depend on how a number was typed.
    typed_int = BacktestConfig(risk=RiskConfig(min_conviction=0))
    typed_float = BacktestConfig(risk=RiskConfig(min_conviction=0.0))
    assert strategy_id(config_strategy_settings(typed_int, "1h")) == strategy_id(
        config_strategy_settings(typed_float, "1h"))
    others = [
        config_strategy_settings(BacktestConfig(), "4h"),
        config_strategy_settings(BacktestConfig(symbol="ETH/USDT"), "1h"),
        config_strategy_settings(
            BacktestConfig(strategy=seed_strategy(SignalParams(rsi_window=21))), "1h"),
        config_strategy_settings(BacktestConfig(risk=RiskConfig(stop_loss_pct=0.02)), "1h"),
        config_strategy_settings(BacktestConfig(kelly_min_trades=30), "1h"),
        config_strategy_settings(BacktestConfig(flatten_on_halt=False), "1h"),
    ]
    assert len({strategy_id(s) for s in [base, *others]}) == 1 + len(others)
    # Costs are the simulation's assumptions, not the strategy's.
    assert strategy_id(config_strategy_settings(BacktestConfig(fee=0.002), "1h")) == strategy_id(
        base)


def test_default_path_follows_the_state_dir(tmp_path: Path) -> None:
    env = {"TRADINGBOT_STATE_DIR": str(tmp_path)}
    assert default_results_path(env) == tmp_path / "backtest_results.json"
    assert default_results_path({}).parts[-2:] == ("state", "backtest_results.json")


def test_a_missing_file_says_to_run_the_backtest(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"run `python main\.py backtest` first"):
        load_backtest_results(tmp_path / "nothing.json")


def _edit(path: Path, change: Any) -> None:
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d.pop("kelly"),
        lambda d: d.update(version=99),
        lambda d: d["kelly"].update(win_rate=1.5),
        lambda d: d["kelly"].update(avg_loss_pct=-0.01),
        lambda d: d["kelly"].update(trades="87"),
        lambda d: d["strategy"]["risk"].update(max_position_pct=0.5),  # edited by hand
        lambda d: d.update(created_at="2025-06-01T12:30:00"),  # no UTC offset
        lambda d: d.update(gates_passed=False),
        lambda d: d["data"].update(first_bar="2026-01-01T00:00:00+00:00"),
    ],
)
def test_a_damaged_file_is_a_data_error(tmp_path: Path, change: Any) -> None:
    path = save_backtest_results(tmp_path / "r.json", saved())
    _edit(path, change)
    with pytest.raises(DataError, match="damaged backtest results"):
        load_backtest_results(path)


@pytest.mark.parametrize("content", ["", "{", "[]", "null", "\x00\xff"])
def test_a_file_that_is_not_the_json_object_is_a_data_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "r.json"
    path.write_text(content, encoding="latin-1")
    with pytest.raises(DataError, match="run the backtest again"):
        load_backtest_results(path)
