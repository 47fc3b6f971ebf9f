"""--engine ray on a local Ray cluster started here (two CPUs, loopback only): the same figures
to the last digit as the local engine, a killed worker changes nothing, and a missing Ray or an
unreachable cluster is one line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from backtest.engine import BacktestConfig
from backtest.engines import LocalEngine, chunk_tasks
from backtest.overfit import block_edges
from backtest.sweep_run import SweepInputs, run_sweep, run_sweeps, sweep_chunk
from backtest.walkforward import run_walkforward
from backtest.walkforward_windows import parse_length, plan_windows
from core.errors import ConfigError
from data import load_ohlcv
from tests.backtest.ray_tasks import slow_sweep_chunk
from tests.backtest.test_sweep import seed_grid
from tests.conftest import BTC_1H_2022, REPO_ROOT

ray = pytest.importorskip("ray", reason="Ray is not installed: pip install -r requirements-ray.txt")

from backtest.ray_engine import RayEngine, worker_env  # noqa: E402 - after the skip: needs Ray

ETH_1H_2022 = "ETHUSDT_1h_binance_spot_2022-01-01_2025-04-30.csv"
GRID = seed_grid((10, 14, 18), (8, 12), (26, 30), (0.015,))


@pytest.fixture(scope="module")
def cluster() -> Iterator[RayEngine]:
    """A local Ray cluster with two CPUs, for this module; the engine uses it as it is."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": worker_env()})
    try:
        yield RayEngine()
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def btc(shared_data: Path) -> pd.DataFrame:
    """3,000 real hourly bars."""
    return load_ohlcv(shared_data / BTC_1H_2022).iloc[-3000:]


@pytest.fixture(scope="module")
def eth(shared_data: Path) -> pd.DataFrame:
    """Another market's 3,000 hourly bars."""
    return load_ohlcv(shared_data / ETH_1H_2022).iloc[-3000:]


def _same(a: dict[Any, np.ndarray], b: dict[Any, np.ndarray]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert np.array_equal(a[key], b[key], equal_nan=True), key


def test_a_sweep_on_ray_equals_the_local_engine_to_the_last_digit(
    cluster: RayEngine, btc: pd.DataFrame,
) -> None:
    here = run_sweep(btc, GRID, BacktestConfig(), timeframe="1h", chunk_size=3)
    there = run_sweep(btc, GRID, BacktestConfig(), timeframe="1h", chunk_size=3, engine=cluster)
    _same(here.figures, there.figures)
    _same(here.fixed_figures, there.fixed_figures)
    _same(here.blocks, there.blocks)
    assert np.isfinite(here.figures["in_sample"]).any()  # something was computed at all


def test_a_several_market_sweep_on_ray_equals_the_local_engine(
    cluster: RayEngine, btc: pd.DataFrame, eth: pd.DataFrame,
) -> None:
    done: list[int] = []
    here = run_sweeps([btc, eth], GRID, BacktestConfig(), timeframe="1h", chunk_size=5)
    there = run_sweeps([btc, eth], GRID, BacktestConfig(), timeframe="1h", chunk_size=5,
                       engine=cluster, on_chunk=done.append)
    assert sum(done) == 2 * len(GRID.combos)  # the progress bar saw every combination once
    for a, b in zip(here, there, strict=True):
        _same(a.figures, b.figures)
        _same(a.blocks, b.blocks)
    assert not np.array_equal(here[0].figures["in_sample"], here[1].figures["in_sample"])


def test_a_walkforward_on_ray_equals_the_local_engine(cluster: RayEngine, btc: pd.DataFrame
                                                      ) -> None:
    plan = plan_windows(pd.DatetimeIndex(btc.index), first=GRID.warmup_bars - 1,
                        train=parse_length("30D", "train"), test=parse_length("15D", "test"))
    here = run_walkforward(btc, GRID, BacktestConfig(), plan, timeframe="1h", min_trades=1,
                           chunk_size=4)
    there = run_walkforward(btc, GRID, BacktestConfig(), plan, timeframe="1h", min_trades=1,
                            chunk_size=4, engine=cluster)
    assert [p.combo for p in here.picks] == [p.combo for p in there.picks]
    assert here.stats == there.stats
    assert here.deflated == there.deflated
    assert np.array_equal(here.stitched.raw.orders, there.stitched.raw.orders)


def test_a_worker_killed_mid_task_leaves_the_result_unchanged(
    cluster: RayEngine, btc: pd.DataFrame,
) -> None:
    first = GRID.warmup_bars - 1
    windows = {"in_sample": (first, 2000), "out_of_sample": (2000, 3000)}
    inputs = SweepInputs(bars=btc, grid=GRID, base=BacktestConfig(), windows=windows,
                         edges=block_edges(2000 - first, 4), ann_factor=8760.0, conviction=0.5)
    tasks = chunk_tasks(0, len(GRID.combos), 1)
    expected = LocalEngine().map(sweep_chunk, [inputs], tasks)
    killed: list[int] = []
    stop = threading.Event()
    threading.Thread(target=_kill_one_running_task, args=(killed, stop), daemon=True).start()
    try:
        got = cluster.map(slow_sweep_chunk, [inputs], tasks)
    finally:
        stop.set()
    assert killed, "no worker was caught running a task: the test proved nothing"
    for a, b in zip(expected, got, strict=True):
        assert (a.lo, a.hi) == (b.lo, b.hi)
        _same(a.figures, b.figures)
        _same(a.blocks, b.blocks)


def _kill_one_running_task(killed: list[int], stop: threading.Event) -> None:
    # The worker running a task is titled "ray::slow_sweep_chunk"-like by Ray: its pid only.
    while not stop.is_set() and not killed:
        for pid in _task_pids():
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
            return
        time.sleep(0.05)


def _task_pids() -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes().split(b"\0")[0]
        except OSError:
            continue
        if title.startswith(b"ray::research_task"):
            found.append(int(entry.name))
    return found


def test_missing_ray_is_one_line_saying_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(ConfigError, match=r"needs Ray.*pip install -r requirements-ray.txt"):
        RayEngine("local")


def test_an_unreachable_address_is_one_line_within_seconds() -> None:
    started = time.monotonic()
    with pytest.raises(ConfigError, match=r"cannot reach the Ray cluster at 127.0.0.1:9 \("):
        RayEngine("127.0.0.1:9")
    with pytest.raises(ConfigError, match=r"--address must be auto, local or HOST:PORT"):
        RayEngine("nowhere")
    assert time.monotonic() - started < 5.0


def test_the_bots_runtime_never_imports_ray() -> None:
    code = ("import sys, main, trading.run_command, trading.loop, trading.replay_command, "
            "trading.exchange_mode, remote.services, backtest.sweep, backtest.walkforward, "
            "backtest.engines; print('ray' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True,  # noqa: S603
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
