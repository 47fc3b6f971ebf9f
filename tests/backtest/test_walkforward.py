"""Walk-forward: a planted edge passes and a random walk fails, the picks never depend on their
test bars, the windows tile the data as documented, and bad window specs are one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backtest.engine import BacktestConfig
from backtest.gates import GateSettings, dsr_gate, evaluate_gates
from backtest.sweep_grid import build_grid
from backtest.walkforward import WalkForwardResult, run_walkforward
from backtest.walkforward_windows import parse_length, plan_windows
from core.errors import ConfigError
from main import main
from signals.strategy_loader import load_strategy
from tests.backtest.cycle_strategy import cycle_market, random_walk
from tests.backtest.test_cli import write_csv

CYCLE = "tests/backtest/cycle_strategy.py:CycleTrader"
DAYS = 200


def walk_forward(bars: pd.DataFrame, *, train: str = "30D", test: str = "10D",
                 mode: str = "rolling") -> WalkForwardResult:
    strategy = load_strategy(CYCLE)
    grid = build_grid(strategy)
    plan = plan_windows(pd.DatetimeIndex(bars.index), first=grid.warmup_bars - 1,
                        train=parse_length(train, "train"), test=parse_length(test, "test"),
                        mode=mode)
    return run_walkforward(bars, grid, BacktestConfig(strategy=strategy), plan,
                           timeframe="1h", min_trades=5)


def passed(result: WalkForwardResult) -> list[bool]:
    gates = (*evaluate_gates(result.stats, GateSettings()), dsr_gate(result.deflated.dsr, 0.95))
    return [g.passed for g in gates]


def test_a_planted_edge_passes_walk_forward() -> None:
    result = walk_forward(cycle_market(24 * DAYS, seed=1))
    periods = [result.grid.params(result.grid.combos[p.combo])["period"] for p in result.picks]
    assert periods == [24] * len(result.picks) == [24] * 17
    assert result.stats.total_trades > 150
    assert result.stats.sharpe_ratio > 5
    assert result.deflated.dsr > 0.99
    assert result.pbo is not None
    assert result.pbo.pbo < 0.05
    assert passed(result) == [True, True, True, True]
    # The pick was also the best on nearly every test window run afresh.
    assert np.median([p.oos_rank for p in result.picks]) == 1


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_random_walk_has_a_high_pbo_a_low_dsr_and_fails(seed: int) -> None:
    result = walk_forward(random_walk(24 * DAYS, seed=seed))
    assert result.pbo is not None
    assert result.pbo.pbo > 0.5
    assert result.deflated.dsr < 0.1
    assert not all(passed(result))


def test_the_picks_never_depend_on_their_test_bars() -> None:
    # Replace every bar from window k's test window on with another market: the picks (and
    # their in-sample figures) up to window k cannot change, since no training window that
    # picked for them reaches those bars.
    bars = cycle_market(24 * DAYS, seed=1)
    other = random_walk(24 * DAYS, seed=9)
    base = walk_forward(bars)
    for k in (3, 9):
        cut = base.picks[k - 1].window.test_start
        changed = bars.copy()
        scale = bars["close"].iloc[cut - 1] / other["open"].iloc[cut]
        changed.iloc[cut:] = other.iloc[cut:].to_numpy() * np.array([scale] * 4 + [1.0])
        again = walk_forward(changed)
        for before, after in zip(base.picks[:k], again.picks[:k], strict=True):
            assert after.window == before.window
            assert after.combo == before.combo
            np.testing.assert_array_equal(after.in_sample, before.in_sample)
        # ...and the changed bars do reach the later windows (the test is not vacuous).
        assert any(a.out_of_sample[0] != b.out_of_sample[0]
                   for a, b in zip(base.picks[k - 1:], again.picks[k - 1:], strict=True))


def test_the_out_of_sample_run_is_one_account_over_the_test_windows() -> None:
    result = walk_forward(cycle_market(24 * DAYS, seed=1))
    a, b = result.test_span
    raw = result.stitched.raw
    assert len(raw.equity) == b - a
    # Equity flows from one window to the next: no window restarts at init_cash.
    starts = [p.window.test_start - a for p in result.picks[1:]]
    assert all(raw.equity[s - 1] != result.base.init_cash for s in starts)
    assert result.buy_and_hold.iloc[0] == result.base.init_cash


def test_rolling_and_anchored_windows_over_bars() -> None:
    index = pd.date_range("2024-01-01", periods=100, freq="1h", tz="UTC")
    rolling = plan_windows(index, first=0, train=parse_length("40", "train"),
                           test=parse_length("20", "test"))
    assert [(w.train_start, w.train_stop, w.test_stop) for w in rolling.windows] == [
        (0, 40, 60), (20, 60, 80), (40, 80, 100)]
    assert rolling.next_train == (60, 100)
    anchored = plan_windows(index, first=5, train=parse_length("40", "train"),
                            test=parse_length("20", "test"), mode="anchored")
    assert [(w.train_start, w.train_stop, w.test_stop) for w in anchored.windows] == [
        (5, 45, 65), (5, 65, 85)]
    assert anchored.unused_bars == 15
    assert anchored.next_train == (5, 100)


def test_spans_of_time_follow_the_calendar() -> None:
    index = pd.date_range("2024-01-01", "2024-12-31 23:00", freq="1h", tz="UTC")
    plan = plan_windows(index, first=0, train=parse_length("6M", "train"),
                        test=parse_length("1M", "test"))
    firsts = [index[w.test_start] for w in plan.windows]
    assert firsts == [pd.Timestamp(f"2024-{m:02d}-01", tz="UTC") for m in range(7, 13)]
    assert [index[w.train_start].month for w in plan.windows] == [1, 2, 3, 4, 5, 6]


@settings(max_examples=60, deadline=None)
@given(n=st.integers(20, 400), first=st.integers(0, 30), train=st.integers(2, 120),
       test=st.integers(2, 60), anchored=st.booleans())
def test_test_windows_never_overlap_their_training_or_each_other(
    n: int, first: int, train: int, test: int, anchored: bool
) -> None:
    index = pd.date_range("2024-01-01", periods=n, freq="1h", tz="UTC")
    try:
        plan = plan_windows(index, first=first, train=parse_length(str(train), "train"),
                            test=parse_length(str(test), "test"),
                            mode="anchored" if anchored else "rolling")
    except ConfigError:
        assert first + train + test > n
        return
    previous_stop = None
    for w in plan.windows:
        assert first <= w.train_start < w.train_stop == w.test_start < w.test_stop <= n
        assert w.test_stop - w.test_start == test
        assert previous_stop is None or w.test_start == previous_stop  # test windows tile
        previous_stop = w.test_stop
    assert plan.unused_bars == n - plan.windows[-1].test_stop < test


@pytest.mark.parametrize(("text", "message"), [
    ("0", "at least one bar"), ("6X", "a number of bars (500) or a span"),
    ("-3M", "a number of bars"), ("", "a number of bars")])
def test_bad_lengths_are_named(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match="--train") as err:
        parse_length(text, "train")
    assert message in str(err.value)


@pytest.fixture(scope="module")
def cycle_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    frame = cycle_market(24 * DAYS, seed=1)
    return write_csv(frame, tmp_path_factory.mktemp("wf") / "CYCLEUSDT_1h_planted.csv")


@pytest.mark.parametrize(("args", "message"), [
    (["--train", "150D", "--test", "60D"], "no full test window fits"),
    (["--test", "0"], "--test must be at least one bar"),
    (["--train", "1", "--test", "10D"], "--train 1 bar holds 1 bar(s)"),
    (["--train", "30D", "--test", "10D", "--rank-min-trades", "1000"],
     "no combination made 1000+ trades"),
    (["--train", "30D", "--test", "10D", "--gate-min-dsr", "1.5"], "--gate-min-dsr"),
])
def test_bad_window_specs_are_one_line_and_exit_2(
    cycle_csv: Path, args: list[str], message: str, capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    code = main(["walkforward", "--data", str(cycle_csv), "--strategy", CYCLE,
                 "--kelly-out", str(tmp_path / "results.json"), *args], environ={})
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert message in err
    assert len(err.splitlines()) == 1
    assert "Traceback" not in err
    assert not (tmp_path / "results.json").exists()


def test_the_command_prints_json_and_saves_the_out_of_sample_evidence(
    cycle_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results, params = tmp_path / "results.json", tmp_path / "next.toml"
    code = main(["walkforward", "--data", str(cycle_csv), "--strategy", CYCLE, "--train",
                 "30D", "--test", "10D", "--rank-min-trades", "5", "--json", "--kelly-out",
                 str(results), "--params-out", str(params)], environ={})
    doc = json.loads(capsys.readouterr().out)
    assert code == 0
    assert len(doc["windows"]) == 17
    assert {w["params"]["period"] for w in doc["windows"]} == {24}
    assert doc["stability"]["period"]["mode_share"] == 1.0
    assert doc["stability"]["period"]["spread"] == 0.0
    assert doc["gates_passed"] is True
    assert [g["name"] for g in doc["gates"]] == ["sharpe", "max_drawdown", "trades", "dsr"]
    over = doc["overfitting"]
    assert over["deflated_sharpe"]["dsr"] > 0.99
    assert over["pbo"]["pbo"] < 0.05
    assert all(over[k]["read"] for k in ("deflated_sharpe", "pbo", "bootstrap"))
    assert doc["next"]["params"] == {"period": 24}
    saved = json.loads(results.read_text())
    assert any(key.endswith("|CYCLE/USDT|1h|walkforward") for key in saved["results"])
    assert "period = 24" in params.read_text()
