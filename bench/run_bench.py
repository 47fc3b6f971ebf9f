"""Whole-process time and peak memory of our backtest and sweep against the seed's, on this machine.

    python bench/run_bench.py [--cases a,b,c,d,e,f,g] [--repeat 3] [--workdir DIR]

Every contender runs as its own subprocess on the same input file; wall time is measured around
it and peak memory is its own ru_maxrss from os.wait4 (RSS of that process, children excluded).
Each contender first runs once untimed (it fills the bench's numba cache and the page cache),
then ``--repeat`` timed runs: the table shows the median wall time and the largest peak.
Cases (inputs from bench/bench_data.py, written to --workdir once):
  a  one year of hourly BTC/USDT bars (the last 8,760 of the 2022-2025 file)
  b  one year of minute bars (525,600) chained from the real BTC and ETH 1m files
  c  the sweep's 3,146 combinations on case a's bars, vs a seed-style vectorbt sweep
  d  an empty numba cache (a fresh NUMBA_CACHE_DIR per run): the first backtest
  e  a walk-forward of the sweep's 3,146 combinations over 12 windows (train 3M, test 20D) on
     case a's bars, beside the sweep on the same bars (its reference row: "seed/this" is then
     sweep/walk-forward)
  f  a basket of 3 symbols x 1 year of 1h bars (BTC, ETH, DOGE) on one account, beside the three
     single-symbol backtests run one after the other (the reference row)
  g  the same with 3 x 1 year of 1m bars (the minute year and two more chained from the same
     files: bench/bench_data.py)
The kernel's steady-state time (bench/kernel_time.py) is measured in-process for a and b.
A contender over --timeout seconds or --mem-cap-gib of RSS is killed and reported so.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_data import write_inputs  # noqa: E402

PY = sys.executable
MIB = 1024 * 1024


@dataclass(frozen=True)
class Run:
    """One measured subprocess."""

    wall_s: float
    peak_mib: float
    exit_code: int
    note: str = ""


@dataclass(frozen=True)
class Row:
    """A contender's figures over its repeats."""

    case: str
    name: str
    command: list[str]
    runs: list[Run]

    @property
    def wall_s(self) -> float:
        """Median wall time of the timed runs."""
        return statistics.median(r.wall_s for r in self.runs)

    @property
    def peak_mib(self) -> float:
        """Largest peak RSS of the timed runs."""
        return max(r.peak_mib for r in self.runs)

    @property
    def note(self) -> str:
        """Why a run was killed, if one was."""
        return next((r.note for r in self.runs if r.note), "")


def measure(cmd: list[str], env: dict[str, str], log: Path, timeout: float, cap_mib: float) -> Run:
    """Run ``cmd`` to the end (or kill it at the caps); wall time and its own peak RSS."""
    with log.open("ab") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=out)  # noqa: S603
        done = threading.Event()
        killed: list[str] = []
        threading.Thread(target=_watch, args=(proc.pid, start, timeout, cap_mib, done, killed),
                         daemon=True).start()
        # wait4, not proc.wait(): it returns this child's own rusage (ru_maxrss in KiB).
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        done.set()
        proc.returncode = os.waitstatus_to_exitcode(status)
    return Run(wall, usage.ru_maxrss / 1024, proc.returncode, killed[0] if killed else "")


def _watch(pid: int, start: float, timeout: float, cap_mib: float, done: threading.Event,
           killed: list[str]) -> None:
    while not done.wait(0.2):
        rss = _rss_mib(pid)
        reason = ""
        if time.perf_counter() - start > timeout:
            reason = f"killed after {timeout:.0f} s"
        elif rss > cap_mib:
            reason = f"killed at {rss / 1024:.1f} GiB RSS"
        if reason:
            killed.append(reason)
            _kill(pid)
            return


def _rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return 0.0


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, 9)


def contenders(case: str, files: dict[str, Path], work: Path) -> list[tuple[str, list[str]]]:
    """(name, command) of every contender of a case."""
    data = str(files["minute" if case == "b" else "hourly"])
    kelly = str(work / "kelly.json")
    backtest = [PY, "main.py", "backtest", "--data", data, "--kelly-out", kelly]
    if case in ("a", "b"):
        return [
            ("seed: bench/seed_backtest.py", [PY, "bench/seed_backtest.py", data]),
            ("backtesting.py: bench/backtesting_py.py", [PY, "bench/backtesting_py.py", data]),
            ("ours: main.py backtest", backtest),
            ("ours, figures in numba (what-if)", [PY, "bench/ours_lean.py", data]),
        ]
    if case == "c":
        return [
            ("seed-style sweep: bench/seed_sweep.py", [PY, "bench/seed_sweep.py", data]),
            ("ours: main.py sweep", [PY, "main.py", "sweep", "--data", data, "--json"]),
        ]
    if case in ("f", "g"):
        keys = (("minute", "basket_b_1m", "basket_c_1m") if case == "g"
                else ("hourly", "basket_eth_1h", "basket_doge_1h"))
        paths = [str(files[k]) for k in keys]
        singles = " && ".join(
            f"{PY} main.py backtest --data {p} --kelly-out {kelly} > /dev/null; test $? -le 3"
            for p in paths)
        return [
            ("3 single-symbol backtests, one after the other", ["sh", "-c", singles]),
            (BASKET, [PY, "main.py", "backtest", *[a for p in paths for a in ("--data", p)]]),
        ]
    if case == "e":
        return [
            ("ours: main.py sweep", [PY, "main.py", "sweep", "--data", data, "--json"]),
            (WALKFORWARD, [PY, "main.py", "walkforward", "--data", data, "--train", "3M",
                           "--test", "20D", "--json", "--kelly-out", kelly]),
        ]
    return [
        ("seed: bench/seed_backtest.py, cold", [PY, "bench/seed_backtest.py", data]),
        ("ours: main.py backtest, cold", backtest),
        ("ours, figures in numba (what-if), cold", [PY, "bench/ours_lean.py", data]),
        ("ours: main.py sweep, cold", [PY, "main.py", "sweep", "--data", data, "--json"]),
    ]


WALKFORWARD = "ours: main.py walkforward, 12 windows"
BASKET = "ours: main.py backtest --data x3, one account"


def run_case(case: str, files: dict[str, Path], args: argparse.Namespace) -> list[Row]:
    """Measure every contender of a case (after one untimed run unless the cache is cold)."""
    work = Path(args.workdir)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NUMBA_CACHE_DIR": str(work / "numba_cache")}
    rows = []
    for name, cmd in contenders(case, files, work):
        log = work / "logs" / f"{case}_{name.split(':')[0].split(',')[0].replace(' ', '_')}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        if case != "d":
            measure(cmd, env, log, args.timeout, args.mem_cap_gib * 1024)
        runs = []
        for _ in range(args.repeat):
            run_env = env
            if case == "d":
                run_env = {**env, "NUMBA_CACHE_DIR": tempfile.mkdtemp(prefix="numba_cold_")}
            runs.append(measure(cmd, run_env, log, args.timeout, args.mem_cap_gib * 1024))
        rows.append(Row(case, name, cmd, runs))
        print(f"  {case} {name}: {rows[-1].wall_s:.2f} s, {rows[-1].peak_mib:.0f} MiB "
              f"{rows[-1].note}", file=sys.stderr)
    return rows


def kernel_time(path: Path, work: Path) -> dict[str, float]:
    """bench/kernel_time.py's JSON line for the file."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NUMBA_CACHE_DIR": str(work / "numba_cache")}
    out = subprocess.run([PY, "bench/kernel_time.py", str(path)], cwd=ROOT, env=env,  # noqa: S603
                         check=True, capture_output=True, text=True).stdout
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


TITLES = {
    "a": "(a) 1 year of 1h bars (8,760)", "b": "(b) 1 year of 1m bars (525,600, chained)",
    "c": "(c) 3,146-combination sweep, 1 year of 1h bars", "d": "(d) empty numba cache, 1h bars",
    "e": "(e) walk-forward of the 3,146 combinations, 12 windows, 1 year of 1h bars",
    "f": "(f) basket: 3 symbols x 1 year of 1h bars on one account",
    "g": "(g) basket: 3 symbols x 1 year of 1m bars on one account",
}


def targets(rows: list[Row], kernels: dict[str, dict[str, float]]) -> list[tuple[str, str, bool]]:
    """(target, measured, met) for each target of issue 4 that this run measured."""
    by = {(r.case, r.name): r for r in rows}
    out = []

    def ratio(case: str, ours: str, seed: str) -> float:
        return by[(case, seed)].wall_s / by[(case, ours)].wall_s

    if ("a", "ours: main.py backtest") in by:
        x = ratio("a", "ours: main.py backtest", "seed: bench/seed_backtest.py")
        out.append(("(a) ours >= 2x faster than the seed, whole process", f"{x:.2f}x", x >= 2))
    if ("b", "ours: main.py backtest") in by:
        x = ratio("b", "ours: main.py backtest", "seed: bench/seed_backtest.py")
        out.append(("(b) ours >= 4x faster than the seed, whole process", f"{x:.2f}x", x >= 4))
        peak = by[("b", "ours: main.py backtest")].peak_mib
        out.append(("(b) ours peak memory < 500 MiB", f"{peak:.0f} MiB", peak < 500))
    if "b" in kernels:
        ms = kernels["b"]["median_ms"]
        out.append(("(b) kernel < 50 ms steady state", f"{ms:.1f} ms", ms < 50))
    if ("c", "ours: main.py sweep") in by:
        r = by[("c", "ours: main.py sweep")]
        out.append(("(c) sweep < 15 s whole process", f"{r.wall_s:.2f} s", r.wall_s < 15))
        out.append(("(c) sweep < 1.5 GiB peak", f"{r.peak_mib:.0f} MiB", r.peak_mib < 1536))
    if ("d", "ours: main.py backtest, cold") in by:
        r = by[("d", "ours: main.py backtest, cold")]
        out.append(("(d) first backtest, empty cache < 12 s", f"{r.wall_s:.2f} s", r.wall_s < 12))
    if ("f", BASKET) in by:
        r = by[("f", BASKET)]
        out.append(("(f) basket 3 x 1h year < 1.5 s whole process (issue 14)",
                    f"{r.wall_s:.2f} s", r.wall_s < 1.5))
    if ("g", BASKET) in by:
        r = by[("g", BASKET)]
        out.append(("(g) basket 3 x 1m year < 4 s (issue 14)", f"{r.wall_s:.2f} s",
                    r.wall_s < 4))
        out.append(("(g) basket 3 x 1m year < 1 GiB (issue 14)", f"{r.peak_mib:.0f} MiB",
                    r.peak_mib < 1024))
    if ("e", WALKFORWARD) in by:
        r = by[("e", WALKFORWARD)]
        out.append(("(e) walk-forward < 10 s whole process (issue 13)", f"{r.wall_s:.2f} s",
                    r.wall_s < 10))
    return out


def print_table(rows: list[Row], kernels: dict[str, dict[str, float]], repeat: int) -> None:
    """The figures, the ratios to the seed's row of each case, and the targets."""
    print(f"{'case / contender':58} {'wall s':>8} {'peak MiB':>9} {'exit':>5} "
          f"{'seed/this':>10} {'mem seed/this':>14}")
    for case in dict.fromkeys(r.case for r in rows):
        print(TITLES[case])
        # The case's first row is its reference: the seed's, or the sweep's for (e).
        seed = next(r for r in rows if r.case == case)
        for r in (r for r in rows if r.case == case):
            codes = ",".join(sorted({str(x.exit_code) for x in r.runs}))
            print(f"  {r.name:56} {r.wall_s:8.2f} {r.peak_mib:9.0f} {codes:>5} "
                  f"{seed.wall_s / r.wall_s:9.2f}x {seed.peak_mib / r.peak_mib:13.2f}x {r.note}")
        if case in kernels:
            k = kernels[case]
            print(f"  {'kernel steady state, in process (bench/kernel_time.py)':56} "
                  f"{k['median_ms']:8.2f} ms median, {k['min_ms']:.2f} ms min, "
                  f"{int(k['bars']):,} bars")
    print(f"wall: median of {repeat} timed runs after one untimed run (none for d); "
          "peak: largest ru_maxrss of those runs")
    print("\ntargets (issue 4; issue 13 for e; issue 14 for f, g):")
    for name, figure, met in targets(rows, kernels):
        print(f"  {'met   ' if met else 'MISSED'} {name}: {figure}")


def main() -> int:
    """Build the inputs, measure the asked cases, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="a,b,c,d,e,f,g")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "tradingbot-bench"))
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--mem-cap-gib", type=float, default=12.0)
    args = parser.parse_args()
    files = write_inputs(Path(args.workdir))
    rows: list[Row] = []
    kernels: dict[str, dict[str, float]] = {}
    for case in args.cases.split(","):
        print(f"measuring {TITLES[case]} ...", file=sys.stderr)
        rows += run_case(case, files, args)
        if case in ("a", "b"):
            kernels[case] = kernel_time(files["minute" if case == "b" else "hourly"],
                                        Path(args.workdir))
    print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}; "
          f"inputs in {args.workdir}")
    print_table(rows, kernels, args.repeat)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
