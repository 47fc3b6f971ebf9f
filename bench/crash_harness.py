"""Crash-consistency harness: kill the bot at seeded points, restart it, compare with a clean run.

A replay of real BTC/USDT hourly bars with tight limits (the daily pause, the loss cooldown,
the entry cap and the drawdown latch all fire) runs once uninterrupted. Then, for each kill
point, a fresh account runs the same command under ``strace``, which SIGKILLs the process at
its K-th ``pwrite64`` (a SQLite page write: the WAL, mid-commit included) or its K-th
``fdatasync``/``fsync`` (a commit's or a checkpoint's sync). The same command is then run
again, as systemd would, until it finishes. The journal must then hold exactly what the
uninterrupted run's holds: every fill, halt, decision, equity mark, order status and saved
state (kill switches in force, paper wallet, Kelly counters), with no order left unresolved
and ``PRAGMA integrity_check`` ok.

    python bench/crash_harness.py --points 40            # the long run (README, Reliability)
    python bench/crash_harness.py --points 5 --days 45   # what CI runs (tests/trading)

Needs strace (Debian package ``strace``) and ../shared/data.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SHARED_BTC_1H = (REPO.parent / "shared" / "data"
                 / "BTCUSDT_1h_binance_spot_2022-01-01_2025-05-05.csv")
STRACE = shutil.which("strace") or "/usr/bin/strace"
# Tight limits: on 2022-01..03 these fire 9 daily pauses, loss cooldowns, the entry cap and,
# on 2022-02-25, the drawdown latch (see tests/trading/test_parity.py for the same figures).
TIGHT = (
    "--max-position-pct", "0.9", "--default-position-pct", "0.9", "--kelly-min-trades",
    "1000000", "--daily-loss-limit-pct", "0.01", "--max-drawdown-pct", "0.08",
    "--cooldown-after-losses", "2", "--cooldown-minutes", "180", "--max-entries-per-day", "3",
)
SYSCALLS = ("pwrite64", "fdatasync", "fsync")
KILLED = 128 + 9


@dataclass
class Outcome:
    """Figures of a harness run."""

    tried: int = 0
    killed: int = 0
    identical: int = 0
    diverged: list[str] = field(default_factory=list)
    restarts: int = 0

    def line(self) -> str:
        """One line for the README and CI logs."""
        return (f"kill points tried {self.tried}, killed {self.killed}, identical "
                f"{self.identical}, diverged {len(self.diverged)} "
                f"(restarts {self.restarts})")


def write_window(days: int, folder: Path, source: Path = SHARED_BTC_1H) -> Path:
    """The first ``days`` days of the real hourly file, as the replay's input."""
    lines = source.read_text().splitlines()
    out = folder / "BTCUSDT_1h_harness.csv"
    out.write_text("\n".join(lines[: 1 + 24 * days]) + "\n")
    return out


def replay_command(data: Path) -> list[str]:
    """The command under test, exactly as an operator would type it."""
    return [sys.executable, str(REPO / "main.py"), "run", "--replay", str(data),
            "--speed", "max", *TIGHT]


def environment(state: Path) -> dict[str, str]:
    """The command's environment: its own state dir, no .env secrets, the shared numba cache."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCORER_", "TELEGRAM_"))}
    env["TRADINGBOT_STATE_DIR"] = str(state)
    env.setdefault("NUMBA_CACHE_DIR", str(REPO / ".numba_cache"))
    return env


def count_calls(cmd: Sequence[str], env: dict[str, str], work: Path) -> dict[str, int]:
    """How many times an uninterrupted run makes each syscall of SYSCALLS."""
    report = work / "strace-count.txt"
    subprocess.run([STRACE, "-f", "-c", "-o", str(report),  # noqa: S603 - our own command
                    "-e", "trace=" + ",".join(SYSCALLS), *cmd], env=env, check=True,
                   capture_output=True, cwd=work)
    counts = dict.fromkeys(SYSCALLS, 0)
    for line in report.read_text().splitlines():
        parts = line.split()
        if parts and parts[-1] in counts and parts[3].isdigit():
            counts[parts[-1]] = int(parts[3])
    return counts


def run_killed(cmd: Sequence[str], env: dict[str, str], work: Path, syscall: str, k: int
               ) -> int:
    """The command, SIGKILLed at its ``k``-th ``syscall``; its exit code (137 when killed)."""
    inject = f"inject={syscall}:signal=SIGKILL:when={k}"
    done = subprocess.run([STRACE, "-f", "-qq", "-o", os.devnull,  # noqa: S603 - our command
                           "-e", f"trace={syscall}", "-e", inject, *cmd],
                          env=env, capture_output=True, cwd=work)
    return done.returncode


def run_to_end(cmd: Sequence[str], env: dict[str, str], work: Path, tries: int = 3) -> int:
    """Run the command until it exits 0, as systemd's restart would; returns the runs made."""
    for n in range(1, tries + 1):
        done = subprocess.run(cmd, env=env, capture_output=True, text=True,  # noqa: S603
                              cwd=work)
        if done.returncode == 0 and "replay finished" in done.stdout:
            return n
        if done.returncode != 0:
            raise RuntimeError(f"restart {n} exited {done.returncode}: "
                               f"{(done.stderr or done.stdout).strip()[-400:]}")
    raise RuntimeError(f"the replay did not finish in {tries} runs")


def snapshot(journal: Path) -> dict[str, Any]:
    """Everything a run decided and holds, without run ids and wall-clock columns."""
    db = sqlite3.connect(f"file:{journal}?mode=ro", uri=True)

    def q(sql: str) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in db.execute(sql).fetchall()]

    try:
        return {
            "integrity": q("PRAGMA integrity_check"),
            "fills": q("SELECT client_id, symbol, side, kind, amount, price, fee, fee_asset, at "
                       "FROM fills ORDER BY id"),
            "halts": q("SELECT at, kind, reason, equity, peak, actor FROM halts ORDER BY id"),
            "decisions": q("SELECT symbol, bar_time, signal, action, conviction, approved, "
                           "reason, size_fraction, notional FROM decisions ORDER BY id"),
            "equity": q("SELECT bar_time, symbol, equity, peak, drawdown, daily_pnl "
                        "FROM equity ORDER BY id"),
            "orders": q("SELECT o.client_id, o.kind, o.side, o.amount_base, o.stop_price, "
                        "(SELECT status FROM order_updates u WHERE u.client_id = o.client_id "
                        "ORDER BY u.id DESC LIMIT 1) FROM orders o ORDER BY o.id"),
            "state": {k: json.loads(v) for k, v in q("SELECT key, value_json FROM state")},
        }
    finally:
        db.close()


def differences(expected: dict[str, Any], got: dict[str, Any]) -> list[str]:
    """What differs between two snapshots, one short line per part."""
    out = []
    for part, want in expected.items():
        have = got.get(part)
        if have != want:
            out.append(f"{part}: {_first_difference(want, have)}")
    unresolved = [o for o in got.get("orders", []) if o[-1] not in ("filled", "canceled",
                                                                    "rejected", "open")]
    if unresolved:
        out.append(f"unresolved orders: {unresolved[:3]}")
    return out


def _first_difference(want: Any, have: Any) -> str:
    if isinstance(want, list) and isinstance(have, list):
        for i, (a, b) in enumerate(zip(want, have, strict=False)):
            if a != b:
                return f"row {i}: expected {a}, got {b}"
        return f"{len(want)} rows expected, {len(have)} found"
    if isinstance(want, dict) and isinstance(have, dict):
        keys = sorted(k for k in set(want) | set(have) if want.get(k) != have.get(k))
        return f"keys differ: {keys[:5]}"
    return f"expected {want!r:.200}, got {have!r:.200}"


def kill_points(counts: dict[str, int], points: int, seed: int) -> list[tuple[str, int]]:
    """Seeded kill points: mostly page writes, some syncs, spread over the whole run."""
    rng = random.Random(seed)
    chosen: list[tuple[str, int]] = []
    syncs = [s for s in ("fdatasync", "fsync") if counts.get(s, 0) > 0]
    for n in range(points):
        syscall = "pwrite64" if (n % 4 != 3 or not syncs) else syncs[n % len(syncs)]
        total = counts.get(syscall, 0)
        if total > 0:
            chosen.append((syscall, rng.randint(1, total)))
    return chosen


def run_harness(*, points: int, seed: int, days: int, work: Path,
                progress: Any = print) -> Outcome:
    """Baseline, then one killed-and-restarted run per kill point; the figures."""
    if not Path(STRACE).exists():
        raise RuntimeError("strace is not installed (apt-get install strace)")
    data = write_window(days, work)
    cmd = replay_command(data)
    base_state = work / "baseline"
    run_to_end(cmd, environment(base_state), work)
    expected = snapshot(base_state / "replay" / "journal.sqlite3")
    counts = count_calls(cmd, environment(work / "counting"), work)
    progress(f"baseline: {len(expected['fills'])} fills, {len(expected['halts'])} halts, "
             f"{len(expected['decisions'])} decisions; syscalls {counts}")
    outcome = Outcome()
    for i, (syscall, k) in enumerate(kill_points(counts, points, seed)):
        state = work / f"kill-{i}"
        env = environment(state)
        code = run_killed(cmd, env, work, syscall, k)
        outcome.tried += 1
        outcome.killed += code in (KILLED, -9)  # a shell reports 137, Python -9
        outcome.restarts += run_to_end(cmd, env, work)
        diff = differences(expected, snapshot(state / "replay" / "journal.sqlite3"))
        if diff:
            outcome.diverged.append(f"{syscall} #{k}: " + "; ".join(diff))
        else:
            outcome.identical += 1
        progress(f"[{i + 1}/{points}] kill at {syscall} #{k}: exit {code}, "
                 + ("identical" if not diff else "DIVERGED " + "; ".join(diff)))
        shutil.rmtree(state, ignore_errors=True)
    return outcome


def main(argv: Sequence[str] | None = None) -> int:
    """Print the figures; exit 1 if any kill point diverged."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=40, help="kill points (40)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the kill points (1)")
    parser.add_argument("--days", type=int, default=75, help="days of hourly bars (75)")
    args = parser.parse_args(argv)
    if not SHARED_BTC_1H.exists():
        print(f"error: {SHARED_BTC_1H} is missing (../shared/data)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="crash-harness-") as tmp:
        outcome = run_harness(points=args.points, seed=args.seed, days=args.days,
                              work=Path(tmp))
    print(outcome.line())
    for line in outcome.diverged:
        print("  " + re.sub(r"\s+", " ", line)[:300])
    return 1 if outcome.diverged else 0


if __name__ == "__main__":
    sys.exit(main())
