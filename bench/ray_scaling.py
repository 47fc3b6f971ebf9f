"""The sweep on Ray against the local engine, on this machine: wall time, tasks per second,
scaling from one worker to two, worker memory and data sizes.

    python bench/ray_scaling.py [--chunk-sizes 256,64] [--repeat 3]

The seed's grid (3,146 combinations) on one year of hourly BTC bars (bench/bench_data.py's
``hourly_year``), the same ``run_sweep`` three ways in one run:
  local   the default engine in this process (numba's threads on both cores);
  ray x1  a local Ray cluster with one CPU: one worker, one numba thread;
  ray x2  the same with two CPUs: two workers.
Each contender runs once untimed (workers start, load the numba cache, prepare the bars), then
``--repeat`` timed runs; the median is shown. The cluster's start-up is reported apart: a
research job pays it once. Every Ray run's figures are checked equal to the local engine's.
Scaling efficiency = time(x1) / (2 x time(x2)): 100% is perfect use of the second worker.
"""

from __future__ import annotations

import argparse
import pickle
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from backtest.engine import BacktestConfig  # noqa: E402
from backtest.engines import Engine, LocalEngine  # noqa: E402
from backtest.sweep_grid import build_grid  # noqa: E402
from backtest.sweep_run import SweepInputs, run_sweep, sweep_chunk  # noqa: E402
from bench.bench_data import hourly_year  # noqa: E402
from signals.strategies.rsi_ema import seed_strategy  # noqa: E402

MIB = 1024 * 1024


def main() -> int:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chunk-sizes", default="256,64",
                        help="combinations per task, comma-separated (256: the sweep's default "
                        "for an hourly year; 64: four times as many tasks)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    import ray

    from backtest.ray_engine import RayEngine, worker_env

    bars = hourly_year()
    grid = build_grid(seed_strategy())
    base = BacktestConfig(strategy=seed_strategy())
    print(f"machine: {_cpus()} cores; {len(grid.combos):,} combinations x {len(bars):,} "
          f"hourly bars; Ray {ray.__version__}", flush=True)
    rows: list[tuple[str, int, int, float, float | None, float | None]] = []
    for chunk in (int(c) for c in args.chunk_sizes.split(",")):
        tasks = -(-len(grid.combos) // chunk)
        local, reference = _timed(LocalEngine(), bars, grid, base, chunk, args.repeat)
        rows.append(("local", chunk, tasks, local, None, None))
        for cpus in (1, 2):
            started = time.perf_counter()
            ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False,
                     runtime_env={"env_vars": worker_env()})
            startup = time.perf_counter() - started
            try:
                wall, result = _timed(RayEngine(), bars, grid, base, chunk, args.repeat)
                _check_equal(reference, result)
                rss = _worker_peak_mib()
            finally:
                ray.shutdown()
            rows.append((f"ray x{cpus}", chunk, tasks, wall, startup, rss))
    _print(rows, _sizes(bars, grid, base), len(grid.combos))
    return 0


def _timed(engine: Engine, bars: Any, grid: Any, base: Any, chunk: int, repeat: int
           ) -> tuple[float, Any]:
    def run() -> Any:
        return run_sweep(bars, grid, base, timeframe="1h", chunk_size=chunk, engine=engine)

    result = run()  # untimed: compile or load the cache, start the workers, prepare the bars
    walls = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = run()
        walls.append(time.perf_counter() - started)
    return statistics.median(walls), result


def _check_equal(a: Any, b: Any) -> None:
    for window in a.figures:
        same = (np.array_equal(a.figures[window], b.figures[window], equal_nan=True)
                and np.array_equal(a.fixed_figures[window], b.fixed_figures[window],
                                   equal_nan=True))
        if not same:
            raise SystemExit(f"the Ray engine's {window} figures differ from the local engine's")


def _worker_peak_mib() -> float:
    """The largest peak RSS (VmHWM) among this machine's Ray worker processes."""
    peak = 0.0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            title = (proc / "cmdline").read_bytes().split(b"\0")[0]
            if not title.startswith(b"ray::") or b"raylet" in title:
                continue
            for line in (proc / "status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]) / 1024)
        except OSError:
            continue
    return peak


def _sizes(bars: Any, grid: Any, base: Any) -> dict[str, float]:
    """What crosses the network: the market's inputs once, and each task's result."""
    inputs = SweepInputs(bars=bars, grid=grid, base=base,
                         windows={"in_sample": (100, 6000), "out_of_sample": (6000, len(bars))},
                         edges=np.linspace(0, 5900, 17).astype(np.int64), ann_factor=8760.0,
                         conviction=0.5)
    result = sweep_chunk(inputs, 0, 256)
    return {"inputs_mib": len(pickle.dumps(inputs, protocol=5)) / MIB,
            "result_kib_per_256": len(pickle.dumps(result, protocol=5)) / 1024}


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0))


def _print(rows: list[tuple[Any, ...]], sizes: dict[str, float], combos: int) -> None:
    print(f"{'engine':<8} {'chunk':>6} {'tasks':>6} {'wall s':>8} {'tasks/s':>8} "
          f"{'combos/s':>9} {'start s':>8} {'worker MiB':>11}")
    by_chunk: dict[int, dict[str, float]] = {}
    for name, chunk, tasks, wall, startup, rss in rows:
        by_chunk.setdefault(chunk, {})[name] = wall
        start = "" if startup is None else f"{startup:.1f}"
        mem = "" if rss is None else f"{rss:.0f}"
        print(f"{name:<8} {chunk:>6} {tasks:>6} {wall:>8.2f} {tasks / wall:>8.1f} "
              f"{combos / wall:>9.0f} {start:>8} {mem:>11}")
    for chunk, walls in by_chunk.items():
        efficiency = walls["ray x1"] / (2 * walls["ray x2"])
        speedup = walls["ray x1"] / walls["ray x2"]
        print(f"chunk {chunk}: scaling 1 -> 2 workers {speedup:.2f}x (efficiency "
              f"{efficiency:.0%}); ray x2 / local {walls['ray x2'] / walls['local']:.2f}")
    print(f"data: the market's inputs {sizes['inputs_mib']:.2f} MiB, put once per job; a task "
          f"of 256 combinations returns {sizes['result_kib_per_256']:.0f} KiB")


if __name__ == "__main__":
    raise SystemExit(main())
