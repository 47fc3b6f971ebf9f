"""Replay speed, whole process: bars per second of ``main.py run --replay FILE --speed max``.

    python bench/replay_speed.py [--cases a,b] [--repo PATH] [--workdir DIR]

Cases (issue 10, item 5; inputs written once to --workdir):
  a  two years of BTC/USDT 1h bars: the first 17,520 rows of
     BTCUSDT_1h_binance_spot_2022-01-01_2025-05-05.csv (target: under 10 s)
  b  a year of 1m bars (525,600), chained as bench/README.md's "minute year" (target: under
     3 minutes)
Each case runs once as a subprocess with a fresh state directory (a new replay journal), timed
from start to exit; the bars come from the command's own "replay finished: N bars" line.
``--repo`` runs another checkout's main.py on the same files (e.g. a worktree of the commit
before the speed work), for the before figure.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_data import HOURLY_SOURCE, SHARED, minute_year  # noqa: E402

TWO_YEARS_1H = 2 * 365 * 24
TARGET_S = {"a": 10.0, "b": 180.0}
TITLE = {"a": "(a) two years of BTC/USDT 1h bars (17,520)",
         "b": "(b) a year of 1m bars (525,600, chained)"}
DONE = re.compile(r"replay finished: ([\d,]+) bars")


@dataclass(frozen=True)
class Timing:
    """One replay run."""

    case: str
    bars: int
    wall_s: float
    exit_code: int

    @property
    def bars_per_s(self) -> float:
        """Bars replayed per second of whole-process wall time."""
        return self.bars / self.wall_s if self.wall_s > 0 else 0.0


def write_inputs(folder: Path) -> dict[str, Path]:
    """Both replay files (named so that replay reads their symbol and timeframe)."""
    folder.mkdir(parents=True, exist_ok=True)
    hourly = folder / "BTCUSDT_1h_two_years.csv"
    if not hourly.exists():
        lines = (SHARED / HOURLY_SOURCE).read_text().splitlines()
        hourly.write_text("\n".join(lines[: 1 + TWO_YEARS_1H]) + "\n")
    minute = folder / "BTCUSDT_1m_chained_year.parquet"
    if not minute.exists():
        minute_year().to_parquet(minute)
    return {"a": hourly, "b": minute}


def time_replay(case: str, data: Path, repo: Path, work: Path, timeout: float) -> Timing:
    """Run one replay to the end in a fresh state directory; its whole-process wall time."""
    env = dict(os.environ)
    env["TRADINGBOT_STATE_DIR"] = tempfile.mkdtemp(prefix=f"replay-{case}-", dir=work)
    env.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".numba_cache"))
    cmd = [sys.executable, str(repo / "main.py"), "run", "--replay", str(data), "--speed", "max"]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True,  # noqa: S603
                          timeout=timeout, check=False)
    wall = time.perf_counter() - start
    found = DONE.search(proc.stdout)
    if proc.returncode != 0 or found is None:
        sys.stderr.write(proc.stdout[-2000:] + proc.stderr[-2000:])
    bars = int(found.group(1).replace(",", "")) if found else 0
    return Timing(case, bars, wall, proc.returncode)


def main(argv: list[str] | None = None) -> int:
    """Time the cases and print one line each, with the target."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="a,b")
    parser.add_argument("--repo", type=Path, default=ROOT, help="checkout whose main.py runs")
    parser.add_argument("--workdir", type=Path,
                        default=Path(tempfile.gettempdir()) / "tradingbot-replay-bench")
    parser.add_argument("--timeout", type=float, default=3600.0)
    args = parser.parse_args(argv)
    files = write_inputs(args.workdir)
    print(f"replay --speed max, whole process; main.py of {args.repo.resolve()}")
    print(f"{'case':<46}{'bars':>9}{'wall s':>9}{'bars/s':>9}  target")
    failed = 0
    for case in args.cases.split(","):
        t = time_replay(case, files[case], args.repo.resolve(), args.workdir, args.timeout)
        met = t.exit_code == 0 and t.wall_s < TARGET_S[case]
        failed += not met
        print(f"{TITLE[case]:<46}{t.bars:>9,}{t.wall_s:>9.2f}{t.bars_per_s:>9,.0f}  "
              f"{'met' if met else 'missed'} (< {TARGET_S[case]:g} s)"
              + ("" if t.exit_code == 0 else f"; exit {t.exit_code}"), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
