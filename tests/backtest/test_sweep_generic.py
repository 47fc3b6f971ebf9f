"""The sweep over any strategy: a user's file, a built-in's declared space, the generic path's
figures equal single backtests (and the seed's numba path), and one chunk of signals at a time."""

from __future__ import annotations

import json
import math
import weakref
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backtest.engine import BacktestConfig
from backtest.sweep_grid import Combo, build_grid, parse_grid
from backtest.sweep_kernel import F_MAX_DD, F_RETURN, F_SHARPE, F_TRADES, SweepResult
from backtest.sweep_report import STOP, heatmap_axes
from backtest.sweep_run import run_sweep
from backtest.sweep_signals import seed_source, strategy_source
from core.errors import ConfigError
from data import load_ohlcv, synthetic_ohlcv
from data.loader import save_ohlcv_csv
from main import main
from risk.config import RiskConfig
from signals.strategies.rsi_ema import seed_strategy
from signals.strategy_loader import load_strategy
from tests.backtest.test_sweep import single_run

# A user's file: a plain class, nothing from the project. Each mean is over its own window
# (not a running sum), so a signal on a slice equals the one on all bars; fast >= slow is
# refused the way a user would refuse it. ``calls`` logs each signal made (the chunk test).
SMA_FILE = '''
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def _mean(close, n):
    out = np.full(close.size, np.nan)
    out[n - 1:] = sliding_window_view(close, n).mean(axis=1)
    return out


class SmaCross:
    calls = []

    def __init__(self, fast: int = 10, slow: int = 40):
        if fast >= slow:
            raise ValueError(f"fast must be below slow, got {fast} and {slow}")
        self.fast, self.slow = fast, slow

    @property
    def warmup_bars(self):
        return self.slow

    def signals(self, bars):
        SmaCross.calls.append((self.fast, self.slow))
        close = bars["close"].to_numpy(dtype=float)
        fast, slow = _mean(close, self.fast), _mean(close, self.slow)
        return np.where(fast > slow, 1, np.where(fast < slow, -1, 0))
'''

# Many trades: Kelly sizing never starts, half of equity per entry.
BUSY = BacktestConfig(default_position_pct=1.0, kelly_min_trades=10_000,
                      risk=RiskConfig(max_position_pct=0.5, daily_loss_limit_pct=0.05,
                                      max_drawdown_pct=0.5))


@pytest.fixture
def sma_ref(tmp_path: Path) -> str:
    """``path/to/sma.py:SmaCross`` of a fresh copy of the user's file."""
    path = tmp_path / "sma.py"
    path.write_text(SMA_FILE)
    return f"{path}:SmaCross"


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    """1,500 synthetic hourly bars that move enough to trade often."""
    return synthetic_ohlcv(1_500, seed=3, volatility=0.02)


@pytest.fixture
def data_file(bars: pd.DataFrame, tmp_path: Path) -> str:
    """The bars as a file in the shared data's format."""
    return str(save_ohlcv_csv(bars, tmp_path / "BTCUSDT_1h_synthetic.csv"))


def assert_equals_single_runs(bars: pd.DataFrame, result: SweepResult,
                              base: BacktestConfig) -> None:
    """Every row of every window equals run_backtest of that combination on the same bars."""
    for window, (start, stop) in result.windows.items():
        for k, combo in enumerate(result.combos):
            warm = result.grid.strategy_of(combo).warmup_bars
            # run_backtest trades from its own warm-up on: give it that much history before.
            want = single_run(bars.iloc[start - (warm - 1):stop], base, result.grid, combo)
            got = result.figures[window][k]
            assert got[F_RETURN] == want["return"], (window, combo)
            assert got[F_TRADES] == want["trades"], (window, combo)
            assert got[F_MAX_DD] == want["max_dd"] or (
                math.isnan(got[F_MAX_DD]) and math.isnan(want["max_dd"]))
            assert got[F_SHARPE] == pytest.approx(want["sharpe"], rel=1e-9, abs=1e-12)


def test_a_users_file_is_swept_from_the_command_line(
    sma_ref: str, data_file: str, capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["sweep", "--data", data_file, "--strategy", sma_ref, "--grid", "fast=5,10",
                 "--grid", "slow=20,40", "--json"], environ={})
    assert code == 0, capsys.readouterr().err
    doc = json.loads(capsys.readouterr().out)
    assert (doc["strategy"], doc["combinations"], doc["skipped_combinations"]) == ("SmaCross", 4, 0)
    assert doc["swept_params"] == ["fast", "slow"]
    assert doc["grid"] == {"fast": [5, 10], "slow": [20, 40], "stop_loss_pcts": [0.015]}
    assert doc["warmup_bars"] == 40
    assert (doc["default_params"]["fast"], doc["default_params"]["slow"]) == (10, 40)
    # The command's figures are run_sweep's on the same bars, and those are single backtests'.
    loaded = load_ohlcv(data_file)
    grid = build_grid(load_strategy(sma_ref), grid={"fast": (5, 10), "slow": (20, 40)})
    result = run_sweep(loaded, grid, BacktestConfig(), timeframe="1h")
    assert result.windows["in_sample"][0] == 39
    assert len(doc["top"]) == 4
    assert min(row["in_sample"]["trades"] for row in doc["top"]) > 10
    for row in doc["top"]:
        k = grid.combos.index(grid.combo_of(row))
        for window in result.windows:
            assert row[window]["total_return_pct"] == result.figures[window][k, F_RETURN]
            assert row[window]["trades"] == result.figures[window][k, F_TRADES]
    assert_equals_single_runs(loaded, result, BacktestConfig())


def test_a_builtin_is_swept_over_its_declared_space(bars: pd.DataFrame) -> None:
    grid = build_grid(load_strategy("donchian"), stop_loss_pcts=(0.01, 0.02))
    assert grid.names == ("entry_window", "exit_window")
    assert grid.values("entry_window") == [10, 20, 30, 55]
    assert grid.values("exit_window") == [5, 10, 20]
    assert len(grid.combos) == 24
    assert grid.warmup_bars == 56
    result = run_sweep(bars, grid, BUSY, timeframe="1h", in_sample=0.7)
    assert result.figures["in_sample"][:, F_TRADES].min() > 10
    assert_equals_single_runs(bars, result, BUSY)


def test_donchian_from_the_command_line_names_its_defaults(
    data_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sweep", "--data", data_file, "--strategy", "donchian", "--top", "3"],
                environ={}) == 0
    out = capsys.readouterr().out
    assert "donchian: 12 combinations (entry_window 10,20,30,55 x exit_window 5,10,20 x " \
        "stop 1.50%)" in out
    assert "donchian's defaults, entry_window=20, exit_window=10: in-sample rank" in out
    header = next(line for line in out.splitlines() if line.strip().startswith("#"))
    assert header.split()[1:3] == ["entry_window", "exit_window"]  # its parameters' columns


def test_the_generic_path_gives_the_seed_grid_its_numba_figures(bars: pd.DataFrame) -> None:
    grid = build_grid(seed_strategy(), grid={"rsi_window": (10, 14), "ema_fast": (8, 12),
                                             "ema_slow": (26, 30)}, stop_loss_pcts=(0.01, 0.02))
    fast = run_sweep(bars, grid, BUSY, timeframe="1h")
    generic = run_sweep(bars, grid, BUSY, timeframe="1h", signals=strategy_source(grid, bars))
    for window in fast.figures:
        assert fast.figures[window].tobytes() == generic.figures[window].tobytes()


def test_a_swept_rsi_method_takes_the_generic_path_to_single_backtests(
    bars: pd.DataFrame,
) -> None:
    grid = build_grid(seed_strategy(), grid={"rsi_method": ("wilder", "sma"),
                                             "ema_fast": (8, 12)}, fixed=["rsi_window", "ema_slow"])
    assert seed_source(grid, bars) is None  # the tables hold one method's RSI
    assert len(grid.combos) == 4
    assert_equals_single_runs(bars, run_sweep(bars, grid, BUSY, timeframe="1h"), BUSY)


@pytest.mark.parametrize("chunk", [1, 2, 3])
def test_chunks_give_the_figures_of_one_chunk_and_make_one_chunk_at_a_time(
    sma_ref: str, bars: pd.DataFrame, chunk: int,
) -> None:
    grid = build_grid(load_strategy(sma_ref), grid={"fast": (5, 10, 15), "slow": (20, 40)},
                      stop_loss_pcts=(0.01, 0.02))
    whole = run_sweep(bars, grid, BUSY, timeframe="1h", chunk_size=100)
    calls = grid.strategy.cls.calls  # type: ignore[attr-defined]
    calls.clear()
    made: list[int] = []  # signals made by the end of each chunk
    done: list[int] = []

    def on_chunk(n: int) -> None:
        done.append(n)
        made.append(len(calls))

    parts = run_sweep(bars, grid, BUSY, timeframe="1h", chunk_size=chunk, on_chunk=on_chunk)
    for window in whole.figures:
        assert whole.figures[window].tobytes() == parts.figures[window].tobytes()
    assert max(done) <= chunk
    assert sum(done) == len(grid.combos) == 12
    # Signals are made as each chunk runs, never all up front: at most a chunk's per chunk.
    assert all(b - a <= chunk for a, b in zip([0, *made], made, strict=False))
    assert made[-1] == len(calls)


def test_a_chunks_signals_are_gone_before_the_next_chunks_are_made(
    sma_ref: str, bars: pd.DataFrame,
) -> None:
    grid = build_grid(load_strategy(sma_ref), grid={"fast": tuple(range(5, 15)),
                                                    "slow": (20, 40)})
    made = strategy_source(grid, bars)
    alive: list[weakref.ref[np.ndarray]] = []
    shapes: list[tuple[int, ...]] = []

    def watched(combos: Sequence[Combo]) -> np.ndarray:
        # Memory stays flat as the grid grows: no earlier chunk's rows are still held.
        assert all(ref() is None for ref in alive), f"chunk {len(alive)} outlived its figures"
        rows = made(combos)
        alive.append(weakref.ref(rows))
        shapes.append(rows.shape)
        return rows

    result = run_sweep(bars, grid, BUSY, timeframe="1h", chunk_size=3, signals=watched)
    assert shapes == [(3, len(bars))] * 6 + [(2, len(bars))]
    plain = run_sweep(bars, grid, BUSY, timeframe="1h", chunk_size=100)
    for window in plain.figures:
        assert plain.figures[window].tobytes() == result.figures[window].tobytes()


def test_a_strategy_source_makes_one_row_per_combination_over_all_bars(
    sma_ref: str, bars: pd.DataFrame,
) -> None:
    grid = build_grid(load_strategy(sma_ref), grid={"fast": (5, 10), "slow": (20,)},
                      stop_loss_pcts=(0.01, 0.02))
    rows = strategy_source(grid, bars)(grid.combos)
    assert rows.shape == (4, len(bars))
    assert rows.dtype == np.int8
    np.testing.assert_array_equal(rows[0], rows[2])  # same parameters under another stop
    np.testing.assert_array_equal(rows[1], grid.strategy_of(grid.combos[1]).signal(bars))


def test_refused_combinations_are_skipped_and_counted(
    sma_ref: str, data_file: str, capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["sweep", "--data", data_file, "--strategy", sma_ref, "--grid", "fast=10,30",
                 "--grid", "slow=20,40", "--json"], environ={}) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["combinations"] == 3
    assert doc["skipped_combinations"] == 1
    assert "fast must be below slow, got 30 and 20" in doc["skip_reason"]
    assert main(["sweep", "--data", data_file, "--strategy", sma_ref, "--grid", "fast=10,30",
                 "--grid", "slow=20,40"], environ={}) == 0
    assert "Skipped 1 combinations that SmaCross refuses; the first: " in capsys.readouterr().out


@pytest.mark.parametrize(("argv", "message"), [
    (["--grid", "fast=50,60", "--grid", "slow=20,40"], "no combination that SmaCross accepts"),
    (["--grid", "fats=5,10"], "SmaCross has no parameter 'fats' (did you mean 'fast'?)"),
    (["--param", "fast=5", "--grid", "fast=5,10"], "fast is fixed with --param and swept"),
    (["--grid", "fast=5:x"], "--grid fast must be A:B, A:B:STEP"),
    (["--grid", "fast"], "--grid must be NAME=A:B"),
    (["--grid", "fast=5,10", "--grid", "fast=6"], "--grid fast is given twice"),
    (["--grid", "fast=10:5"], "--grid fast=10:5 is an empty range"),
])
def test_a_bad_grid_is_one_line_and_exit_2(
    sma_ref: str, data_file: str, capsys: pytest.CaptureFixture[str], argv: list[str],
    message: str,
) -> None:
    assert main(["sweep", "--data", data_file, "--strategy", sma_ref, *argv], environ={}) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_grid_specs_take_the_parameters_types_and_ranges() -> None:
    bollinger = load_strategy("bollinger")
    assert parse_grid(bollinger, ["num_std=1.5:2.5:0.5", "window=10:30:10"]) == {
        "num_std": (1.5, 2.0, 2.5), "window": (10, 20, 30)}
    with pytest.raises(ConfigError, match=r"num_std must be a number in \[0.5, 5\]"):
        parse_grid(bollinger, ["num_std=0.1,1"])
    with pytest.raises(ConfigError, match="A:B:STEP"):
        parse_grid(bollinger, ["num_std=1:2"])  # a float range needs its step
    seed = seed_strategy()
    assert parse_grid(seed, ["rsi_method=wilder,sma"]) == {"rsi_method": ("wilder", "sma")}
    with pytest.raises(ConfigError, match="rsi_method must be one of"):
        parse_grid(seed, ["rsi_method=ema"])


def test_a_param_fixes_a_parameter_the_space_would_sweep() -> None:
    grid = build_grid(load_strategy("donchian", params=["exit_window=7"]), fixed=["exit_window"])
    assert grid.names == ("entry_window",)
    assert grid.fixed == {"exit_window": 7}
    assert [c.values for c in grid.combos] == [(10,), (20,), (30,), (55,)]


def test_heatmap_axes_are_the_two_longest_swept_dimensions() -> None:
    seed = build_grid(seed_strategy(), grid={"rsi_window": (10, 14)})
    # EMA fast x slow, as the seed's page always drew; RSI is held at the pick's.
    assert heatmap_axes(build_grid(seed_strategy())) == ["ema_fast", "ema_slow"]
    assert heatmap_axes(seed) == ["ema_fast", "ema_slow"]
    one = build_grid(load_strategy("donchian", params=["exit_window=7"]), fixed=["exit_window"],
                     stop_loss_pcts=(0.01, 0.02))
    assert heatmap_axes(one) == ["entry_window", STOP]
    single = build_grid(load_strategy("donchian"), grid={"entry_window": (20,),
                                                         "exit_window": (10,)})
    assert heatmap_axes(single) == []


def test_a_users_sweep_writes_a_report(
    sma_ref: str, data_file: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    report = tmp_path / "sweep.html"
    assert main(["sweep", "--data", data_file, "--strategy", sma_ref, "--grid", "fast=5,10",
                 "--grid", "slow=20,30,40", "--stop-loss-pcts", "0.01,0.02", "--report",
                 str(report)], environ={}) == 0
    capsys.readouterr()
    page = report.read_text()
    # One heatmap per pair of swept dimensions (the stop is one), the rest at the pick's.
    assert page.count("over fast x slow, held at the pick: stop ") == 1
    assert page.count("over fast x stop_loss_pct, held at the pick: slow=") == 1
    assert page.count("over slow x stop_loss_pct, held at the pick: fast=") == 1


def test_combos_are_in_grid_order() -> None:
    grid = build_grid(load_strategy("donchian"), grid={"entry_window": (30, 10),
                                                       "exit_window": (5, 20)},
                      stop_loss_pcts=(0.02, 0.01))
    assert grid.combos == (
        Combo(0.01, (10, 5)), Combo(0.01, (10, 20)), Combo(0.01, (30, 5)),
        Combo(0.01, (30, 20)), Combo(0.02, (10, 5)), Combo(0.02, (10, 20)),
        Combo(0.02, (30, 5)), Combo(0.02, (30, 20)),
    )
    assert grid.row(grid.combos[1]) == {STOP: 0.01, "entry_window": 10, "exit_window": 20}
    assert grid.combo_of(grid.row(grid.combos[1])) == grid.combos[1]


def test_the_reports_stop_key_is_the_grids() -> None:
    from backtest import sweep_grid

    assert sweep_grid.STOP == STOP
