"""The seed's gates: strict comparisons, NaN fails, exit codes 0 / 3, validated thresholds."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from backtest.gates import (
    EXIT_GATES_FAILED,
    EXIT_PASSED,
    GateSettings,
    all_passed,
    evaluate_gates,
    exit_code,
)
from backtest.stats import BacktestStats
from core.errors import ConfigError

PASSING = BacktestStats(
    start_value=10_000.0, end_value=14_230.0, total_return_pct=42.3, sharpe_ratio=1.24,
    max_drawdown_pct=12.4, total_trades=87, closed_trades=87, win_rate_pct=54.0,
    avg_winning_trade_pct=2.2, avg_losing_trade_pct=-1.4, fees_paid=100.0, exposure_pct=30.0,
    max_gross_exposure_pct=2.0, buy_and_hold_return_pct=10.0,
)  # the seed's "You should see output like" figures


def verdicts(stats: BacktestStats, settings: GateSettings | None = None) -> dict[str, bool]:
    return {g.name: g.passed for g in evaluate_gates(stats, settings or GateSettings())}


def test_the_seeds_example_output_passes_every_gate() -> None:
    gates = evaluate_gates(PASSING, GateSettings())
    assert all_passed(gates)
    assert exit_code(gates) == EXIT_PASSED == 0
    assert [g.rule for g in gates] == [
        "Sharpe Ratio > 1", "Max Drawdown [%] < 20", "Total Trades > 50",
    ]
    assert [g.figure for g in gates] == [1.24, 12.4, 87.0]


@pytest.mark.parametrize(
    ("change", "failed"),
    [
        ({"sharpe_ratio": 1.0}, "sharpe"),  # strict: exactly 1.0 is not > 1.0
        ({"sharpe_ratio": math.nan}, "sharpe"),  # an undefined Sharpe fails
        ({"sharpe_ratio": math.inf}, "sharpe"),  # vectorbt's Sharpe of a run without trades
        ({"max_drawdown_pct": 20.0}, "max_drawdown"),
        ({"max_drawdown_pct": math.nan}, "max_drawdown"),
        ({"total_trades": 50}, "trades"),
    ],
)
def test_each_gate_fails_on_its_boundary(change: dict[str, float], failed: str) -> None:
    stats = replace(PASSING, **change)
    assert verdicts(stats) == {"sharpe": True, "max_drawdown": True, "trades": True} | {
        failed: False
    }
    assert exit_code(evaluate_gates(stats, GateSettings())) == EXIT_GATES_FAILED == 3


def test_thresholds_are_configurable() -> None:
    loose = GateSettings(min_sharpe=-1.0, max_drawdown_pct=1.0, min_trades=0)
    weak = replace(PASSING, sharpe_ratio=-0.5, max_drawdown_pct=63.8, total_trades=1)
    assert all(verdicts(weak, loose).values())
    assert not any(verdicts(weak).values())


def test_the_drawdown_limit_is_a_fraction_judged_against_the_figure_in_percent() -> None:
    gate = evaluate_gates(replace(PASSING, max_drawdown_pct=6.99),
                          GateSettings(max_drawdown_pct=0.07))[1]
    assert (gate.rule, gate.threshold, gate.passed) == ("Max Drawdown [%] < 7", 7.0, True)
    assert GateSettings().max_drawdown_pct == 0.2


@pytest.mark.parametrize(
    "kwargs",
    [{"min_sharpe": math.nan}, {"max_drawdown_pct": 0.0}, {"max_drawdown_pct": 1.5},
     {"max_drawdown_pct": 20.0},
     {"min_trades": -1}, {"min_trades": True}],
)
def test_bad_thresholds_are_config_errors(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        GateSettings(**kwargs)


def test_json_form_turns_nan_into_null() -> None:
    gate = evaluate_gates(replace(PASSING, sharpe_ratio=math.nan), GateSettings())[0]
    assert gate.to_json() == {
        "name": "sharpe", "rule": "Sharpe Ratio > 1", "figure": None, "threshold": 1.0,
        "passed": False,
    }
