"""Saved evidence: a backtest and a walk-forward of one strategy kept side by side, the key's
fourth part, old 3-part files read unchanged, and the line that says what a gate rests on."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from core.errors import ConfigError, DataError
from risk.backtest_store import load_backtest_results, load_results, save_backtest_results
from risk.config import RiskConfig
from risk.saved_backtest import (
    EVIDENCE_KINDS,
    DataRange,
    GateResult,
    KellyInputs,
    ResultKey,
    SavedBacktest,
    entry_to_json,
    evidence_line,
    strategy_id,
    strategy_settings,
)
from signals.strategies.rsi_ema import seed_strategy

CREATED = datetime(2025, 6, 1, 12, 30, tzinfo=UTC)
SETTINGS = strategy_settings(strategy=seed_strategy().spec, risk=RiskConfig(),
                             default_position_pct=0.01, kelly_min_trades=50,
                             flatten_on_halt=True)
WALKFORWARD = {"kind": "walkforward", "mode": "rolling", "train": "3M", "test": "3W",
               "windows": 12, "first_bar": "2024-08-01T00:00:00+00:00",
               "last_bar": "2025-05-05T23:00:00+00:00", "n_trials": 3146, "dsr": 0.12,
               "pbo": 0.61}


def result(evidence: dict[str, Any] | None = None, *, dsr_passed: bool = False) -> SavedBacktest:
    """A backtest of the default settings, or with ``evidence`` a walk-forward of them."""
    gates = (GateResult("sharpe", "Sharpe Ratio > 1", 0.8, 1.0, False),
             GateResult("trades", "Total Trades > 50", 87.0, 50.0, True))
    if evidence is not None:
        gates += (GateResult("dsr", "Deflated Sharpe Ratio > 0.95", 0.12, 0.95, dsr_passed),)
    return SavedBacktest(
        strategy_id=strategy_id(SETTINGS), created_at=CREATED, engine="full",
        data=DataRange("BTC/USDT", "1h", datetime(2022, 1, 1, tzinfo=UTC),
                       datetime(2025, 5, 5, 23, tzinfo=UTC), 29_000, "btc.csv"),
        strategy=SETTINGS, costs={"init_cash": 10_000.0, "fee": 0.001, "slippage": 0.0005},
        kelly=KellyInputs(87, 0.54, 0.022, 0.014), total_trades=87, gates=gates,
        **({} if evidence is None else {"evidence": evidence}),
    )


def test_the_key_keeps_three_parts_for_a_backtest_and_adds_walkforward() -> None:
    backtest, walkforward = result().key, result(WALKFORWARD).key
    assert backtest == ResultKey(backtest.strategy_id, "BTC/USDT", "1h")
    assert backtest.text == f"{backtest.strategy_id}|BTC/USDT|1h"
    assert walkforward.text == f"{backtest.strategy_id}|BTC/USDT|1h|walkforward"
    assert {ResultKey.parse(k.text) for k in (backtest, walkforward)} == {backtest, walkforward}
    assert EVIDENCE_KINDS == ("backtest", "walkforward")
    with pytest.raises(ValueError, match="evidence must be one of backtest, walkforward"):
        ResultKey("abc", "BTC/USDT", "1h", "hunch")
    with pytest.raises(ValueError, match="is written"):  # would alias the 3-part key
        ResultKey.parse("abc|BTC/USDT|1h|backtest")


def test_an_old_three_part_file_without_evidence_still_loads(tmp_path: Path) -> None:
    old = result()
    entry = entry_to_json(old)
    del entry["evidence"]  # as written before walk-forwards
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"format": "tradingbot.backtest_results", "version": 2,
                                "results": {old.key.text: entry}}))
    assert load_results(path) == {old.key: old}
    assert load_backtest_results(path, old.key).evidence == {"kind": "backtest"}


def test_a_backtest_and_a_walkforward_of_one_strategy_are_kept_side_by_side(
    tmp_path: Path
) -> None:
    path = tmp_path / "r.json"
    backtest, walkforward = result(), result(WALKFORWARD)
    save_backtest_results(path, backtest)
    save_backtest_results(path, walkforward)
    save_backtest_results(path, backtest)  # saving one again does not overwrite the other
    assert load_results(path) == {backtest.key: backtest, walkforward.key: walkforward}
    assert load_backtest_results(path, backtest.key) == backtest
    assert load_backtest_results(path, walkforward.key) == walkforward
    assert sorted(json.loads(path.read_text())["results"]) == [backtest.key.text,
                                                               walkforward.key.text]


def test_a_walkforward_entry_round_trips_with_null_figures(tmp_path: Path) -> None:
    unknown = {**WALKFORWARD, "pbo": None, "dsr": math.nan}
    saved = result(unknown)
    path = save_backtest_results(tmp_path / "r.json", saved)
    stored = json.loads(path.read_text())["results"][saved.key.text]
    assert stored["evidence"] == {**WALKFORWARD, "pbo": None, "dsr": None}
    assert load_backtest_results(path, saved.key) == replace(saved, evidence={
        **WALKFORWARD, "pbo": None, "dsr": None})
    exact = result(WALKFORWARD)
    save_backtest_results(path, exact)
    assert load_backtest_results(path, exact.key) == exact


def test_a_missing_walkforward_says_to_run_one_and_that_a_backtest_is_there(
    tmp_path: Path
) -> None:
    path = save_backtest_results(tmp_path / "r.json", result())
    with pytest.raises(ConfigError) as error:
        load_backtest_results(path, result(WALKFORWARD).key)
    assert str(error.value) == (
        f"no saved walk-forward of strategy {strategy_id(SETTINGS)} for BTC/USDT 1h in {path} "
        "(it holds a backtest of these settings): run `python main.py walkforward --strategy "
        "... --data ...` on BTC/USDT 1h bars with the same strategy, risk and sizing options")


def test_evidence_that_is_not_known_is_refused_when_built() -> None:
    with pytest.raises(ValueError, match=r"evidence\.kind must be one of"):
        result({"kind": "hunch"})
    with pytest.raises(ValueError, match=r"evidence\.dsr must be a number or null"):
        result({**WALKFORWARD, "dsr": "high"})


def _edit(path: Path, change: Any) -> None:
    doc = json.loads(path.read_text())
    text = next(iter(doc["results"]))
    change(doc["results"], text, doc["results"][text])
    path.write_text(json.dumps(doc))


@pytest.mark.parametrize(
    "change",
    [
        lambda rs, k, r: r["evidence"].update(kind="hunch"),
        lambda rs, k, r: r["evidence"].update(kind="backtest"),  # filed under walkforward
        lambda rs, k, r: rs.update({k.removesuffix("|walkforward"): rs.pop(k)}),
        lambda rs, k, r: rs.update({k.replace("walkforward", "backtest"): rs.pop(k)}),
        lambda rs, k, r: r["evidence"].update(windows="12"),
        lambda rs, k, r: r["evidence"].update(first_bar="August"),
        lambda rs, k, r: r.update(evidence=["walkforward"]),
    ],
)
def test_a_damaged_walkforward_entry_is_a_data_error(tmp_path: Path, change: Any) -> None:
    path = save_backtest_results(tmp_path / "r.json", result(WALKFORWARD))
    _edit(path, change)
    with pytest.raises(DataError, match="damaged backtest results"):
        load_results(path)


def test_the_evidence_line_says_what_the_gate_rests_on() -> None:
    assert evidence_line(result(WALKFORWARD)) == (
        "gate on walk-forward: 12 windows (3M train / 3W test, rolling), OOS "
        "2024-08-01..2025-05-05, DSR 0.12, PBO 0.61: failed (sharpe, dsr)")
    assert evidence_line(result()) == "gate on backtest: 2022-01-01..2025-05-05: failed (sharpe)"
    passed = replace(result(), gates=(GateResult("trades", "Total Trades > 50", 87, 50, True),))
    assert evidence_line(passed) == "gate on backtest: 2022-01-01..2025-05-05: passed"
    unknown = result({"kind": "walkforward", "pbo": None})
    assert evidence_line(unknown) == (
        "gate on walk-forward: n/a windows (? train / ? test, ?), OOS 2022-01-01..2025-05-05, "
        "DSR n/a, PBO n/a: failed (sharpe, dsr)")
