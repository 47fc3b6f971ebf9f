"""The backtest results store: keyed results, merges that lose nothing, a stable strategy_id,
clear errors for a missing result or a damaged file, and the version-1 file still read."""

from __future__ import annotations

import json
import math
import threading
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from backtest.engine import BacktestConfig, KellyInputs
from backtest.gates import GateResult
from backtest.kelly_store import config_strategy_settings
from core.errors import ConfigError, DataError
from risk.backtest_store import (
    default_results_path,
    load_backtest_results,
    load_results,
    save_backtest_results,
)
from risk.config import RiskConfig
from risk.saved_backtest import DataRange, ResultKey, SavedBacktest, entry_to_json, strategy_id
from signals.quant_signals import SignalParams
from signals.strategies.rsi_ema import seed_strategy

CREATED = datetime(2025, 6, 1, 12, 30, tzinfo=UTC)


def saved(config: BacktestConfig | None = None, *, symbol: str = "BTC/USDT",
          timeframe: str = "1h", **kelly: float) -> SavedBacktest:
    settings = config_strategy_settings(config or BacktestConfig())
    return SavedBacktest(
        strategy_id=strategy_id(settings), created_at=CREATED, engine="full",
        data=DataRange(symbol, timeframe, datetime(2022, 1, 17, 3, tzinfo=UTC),
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
    assert load_backtest_results(path, original.key) == original
    assert load_backtest_results(path, original.key).gates_passed
    # No temp file left; the lock file stays beside it (empty; it only carries the lock).
    assert sorted(p.name for p in path.parent.iterdir()) == ["results.json", "results.json.lock"]


def test_the_file_is_version_2_keyed_by_strategy_symbol_and_timeframe(tmp_path: Path) -> None:
    one = saved()
    doc = json.loads(save_backtest_results(tmp_path / "r.json", one).read_text())
    assert (doc["format"], doc["version"]) == ("tradingbot.backtest_results", 2)
    assert list(doc["results"]) == [f"{one.strategy_id}|BTC/USDT|1h"]
    assert doc["results"][one.key.text] == entry_to_json(one)


def test_results_of_other_symbols_timeframes_and_settings_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    results = [saved(), saved(symbol="ETH/USDT", win_rate=0.6),
               saved(timeframe="1m", win_rate=0.4),
               saved(BacktestConfig(kelly_min_trades=30), win_rate=0.5)]
    for result in results:
        save_backtest_results(path, result)
    assert load_results(path) == {r.key: r for r in results}
    assert len({r.key for r in results}) == 4
    # The same key again replaces only its own entry.
    newer = replace(results[0], kelly=KellyInputs(90, 0.55, 0.02, 0.01))
    save_backtest_results(path, newer)
    assert load_backtest_results(path, newer.key) == newer
    assert load_results(path) == {r.key: r for r in [newer, *results[1:]]}


def test_concurrent_saves_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    results = [saved(symbol=f"C{i}/USDT") for i in range(12)]
    threads = [threading.Thread(target=save_backtest_results, args=(path, r)) for r in results]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(load_results(path)) == {r.key for r in results}


def test_a_missing_result_says_which_backtest_to_run(tmp_path: Path) -> None:
    path = save_backtest_results(tmp_path / "r.json", saved())
    other_settings = saved(BacktestConfig(kelly_min_trades=30))
    wanted = ResultKey(other_settings.strategy_id, "ETH/USDT", "1h")
    with pytest.raises(ConfigError) as error:
        load_backtest_results(path, wanted)
    assert str(error.value) == (
        f"no saved backtest of strategy {wanted.strategy_id} for ETH/USDT 1h in {path}: run "
        "`python main.py backtest --symbol ETH/USDT --timeframe 1h` with the same strategy, "
        "risk and sizing options")
    # Of the same market and bar with other settings: it says which settings it holds.
    with pytest.raises(ConfigError, match=rf"it holds BTC/USDT 1h of other settings: "
                                          rf"{saved().strategy_id}\)"):
        load_backtest_results(path, ResultKey(other_settings.strategy_id, "BTC/USDT", "1h"))


def test_a_missing_file_says_to_run_the_backtest(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"run `python main\.py backtest --symbol BTC/USDT "
                                          r"--timeframe 1h` .* first"):
        load_backtest_results(tmp_path / "nothing.json", saved().key)
    with pytest.raises(ConfigError, match=r"run `python main\.py backtest` first"):
        load_results(tmp_path / "nothing.json")


def test_a_version_1_file_reads_as_its_one_result_of_an_older_strategy_id(
    tmp_path: Path
) -> None:
    # Before issue 11 the id hashed symbol and timeframe too: it matches no settings of today.
    old_settings = {"symbol": "BTC/USDT", "timeframe": "1h",
                    **config_strategy_settings(BacktestConfig())}
    old = replace(saved(), strategy_id=strategy_id(old_settings), strategy=old_settings)
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"format": "tradingbot.backtest_results", "version": 1,
                                **entry_to_json(old)}))
    assert load_results(path) == {old.key: old}
    with pytest.raises(ConfigError, match="no saved backtest of strategy"):
        load_backtest_results(path, saved().key)
    # A backtest of today merges into it and writes version 2.
    save_backtest_results(path, saved())
    assert load_results(path) == {old.key: old, saved().key: saved()}
    assert json.loads(path.read_text())["version"] == 2


def test_nan_kelly_inputs_are_null_in_the_file_and_nan_again_when_read(tmp_path: Path) -> None:
    one = saved(avg_loss_pct=math.nan)
    path = save_backtest_results(tmp_path / "r.json", one)
    assert json.loads(path.read_text())["results"][one.key.text]["kelly"]["avg_loss_pct"] is None
    assert math.isnan(load_backtest_results(path, one.key).kelly.avg_loss_pct)


def test_strategy_id_is_stable_and_changes_with_any_strategy_setting() -> None:
    base = config_strategy_settings(BacktestConfig())
    assert strategy_id(base) == strategy_id(config_strategy_settings(BacktestConfig()))
    # 0 and 0.0 are one setting: the id must not depend on how a number was typed.
    typed_int = BacktestConfig(risk=RiskConfig(min_conviction=0))
    typed_float = BacktestConfig(risk=RiskConfig(min_conviction=0.0))
    assert strategy_id(config_strategy_settings(typed_int)) == strategy_id(
        config_strategy_settings(typed_float))
    others = [
        config_strategy_settings(
            BacktestConfig(strategy=seed_strategy(SignalParams(rsi_window=21)))),
        config_strategy_settings(BacktestConfig(risk=RiskConfig(stop_loss_pct=0.02))),
        config_strategy_settings(BacktestConfig(kelly_min_trades=30)),
        config_strategy_settings(BacktestConfig(flatten_on_halt=False)),
    ]
    assert len({strategy_id(s) for s in [base, *others]}) == 1 + len(others)
    # Costs are the simulation's assumptions, not the strategy's; symbol and timeframe are the
    # result key's other two parts.
    assert strategy_id(config_strategy_settings(BacktestConfig(fee=0.002))) == strategy_id(base)
    assert strategy_id(config_strategy_settings(BacktestConfig(symbol="ETH/USDT"))) == (
        strategy_id(base))


def test_default_path_follows_the_state_dir(tmp_path: Path) -> None:
    env = {"TRADINGBOT_STATE_DIR": str(tmp_path)}
    assert default_results_path(env) == tmp_path / "backtest_results.json"
    assert default_results_path({}).parts[-2:] == ("state", "backtest_results.json")


def _edit(path: Path, change: Any) -> None:
    doc = json.loads(path.read_text())
    change(doc, doc["results"][saved().key.text])
    path.write_text(json.dumps(doc))


@pytest.mark.parametrize(
    "change",
    [
        lambda d, r: r.pop("kelly"),
        lambda d, r: d.update(version=99),
        lambda d, r: d.update(version=True),
        lambda d, r: d.update(results=[]),
        lambda d, r: r["kelly"].update(win_rate=1.5),
        lambda d, r: r["kelly"].update(avg_loss_pct=-0.01),
        lambda d, r: r["kelly"].update(trades="87"),
        lambda d, r: r["strategy"]["risk"].update(max_position_pct=0.5),  # edited by hand
        lambda d, r: r.update(created_at="2025-06-01T12:30:00"),  # no UTC offset
        lambda d, r: r.update(gates_passed=False),
        lambda d, r: r["data"].update(first_bar="2026-01-01T00:00:00+00:00"),
        lambda d, r: r["data"].update(symbol="ETH/USDT"),  # filed under another key
        lambda d, r: d["results"].update({"x|y": r}),  # not a key of three parts
    ],
)
def test_a_damaged_file_is_a_data_error(tmp_path: Path, change: Any) -> None:
    path = save_backtest_results(tmp_path / "r.json", saved())
    _edit(path, change)
    with pytest.raises(DataError, match="damaged backtest results") as error:
        load_backtest_results(path, saved().key)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("content", ["", "{", "[]", "null", "\x00\xff"])
def test_a_file_that_is_not_the_json_object_is_a_data_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "r.json"
    path.write_text(content, encoding="latin-1")
    with pytest.raises(DataError, match="run the backtest again"):
        load_results(path)


def test_saving_over_a_damaged_file_keeps_it_aside(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text("{ hand-edited", encoding="utf-8")
    save_backtest_results(path, saved())
    assert load_results(path) == {saved().key: saved()}
    assert (tmp_path / "r.json.damaged").read_text(encoding="utf-8") == "{ hand-edited"
