"""Crash consistency on an exchange: `run --testnet --once` SIGKILLed at seeded SQLite writes.

The fake Binance spot server of the execution tests runs in this process and keeps the
exchange's state across the bot's deaths, as the real exchange would. Two bars are traded: on
the first the bot enters (intent, market buy, fill, protective stop, read-back), on the second
it exits (intent, stop cancel, market sell). For each kill point a fresh account runs the two
steps, one of them under strace, which kills the bot at its K-th page write (`pwrite64`): an
intent committed and not sent, sent and not answered, a fill recorded and its stop not placed,
a stop cancelled and the sell not sent. The bot is then run again until the step exits 0, as
systemd would. The exchange and the journal must end as after an uninterrupted run: each
decision executed once (never a duplicate client id), the same fills, flat, no open order, no
order left unresolved.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from core.clock import SimulatedClock, SystemClock
from data.synthetic import synthetic_ohlcv
from journal import Journal
from signals.quant_signals import SignalParams, signal_array
from tests.conftest import REPO_ROOT
from tests.execution.ccxt_fixtures import TESTNET_ENV
from tests.fake_binance import FakeBinance
from tests.fake_binance_trading import FakeSpotTrading

STRACE = shutil.which("strace") or "/usr/bin/strace"
KILLED = (137, -9)


@dataclass(frozen=True)
class Scenario:
    """Hourly bars in the past whose bar ``entry`` has signal 1 and bar ``exit`` signal -1."""

    bars: pd.DataFrame
    entry: int
    exit: int


def find_scenario() -> Scenario:
    now = SystemClock().now().replace(minute=0, second=0, microsecond=0)
    for seed in range(300):
        bars = synthetic_ohlcv(560, start=now - timedelta(hours=600), seed=seed,
                               start_price=60_000.0, volatility=0.004, drift=0.0002)
        signals = signal_array(bars["close"].to_numpy(), SignalParams())
        entries = [i for i in range(480, 540) if signals[i] == 1]
        if not entries:
            continue
        exits = [i for i in range(entries[0] + 1, 556) if signals[i] == -1]
        if exits:
            return Scenario(bars, entries[0], exits[0])
    raise AssertionError("no seed gives an entry and a later exit")


SCENARIO = find_scenario()


class Exchange:
    """The fake exchange at one of the scenario's bars."""

    def __init__(self) -> None:
        self.clock = SimulatedClock(self._open(SCENARIO.entry))
        self.fake = FakeBinance(clock=self.clock).start()
        self.fake.set_klines("BTCUSDT", "1h", SCENARIO.bars)
        price = f"{SCENARIO.bars['close'].iloc[SCENARIO.entry]:.2f}"
        self.book = FakeSpotTrading(self.fake, balances={"USDT": "10000"},
                                    prices={"BTCUSDT": price, "ETHUSDT": "3000"})

    @staticmethod
    def _open(i: int) -> datetime:
        # The fake serves bars up to its clock, the forming one included; the bot's wall clock
        # sees every one of them as closed, so bar i is the latest closed bar.
        stamp = SCENARIO.bars.index[i].to_pydatetime()
        return stamp.astimezone(UTC) + timedelta(seconds=30)

    def move_to_exit_bar(self) -> None:
        self.clock.set(self._open(SCENARIO.exit))
        self.book.set_price("BTCUSDT", f"{SCENARIO.bars['close'].iloc[SCENARIO.exit]:.2f}")

    def close(self) -> None:
        self.fake.stop()


@pytest.fixture
def exchange() -> Iterator[Exchange]:
    ex = Exchange()
    yield ex
    ex.close()


def bot_env(state: Path, url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SCORER_", "TELEGRAM_", "BINANCE_", "LIVE_"))}
    env.update(TESTNET_ENV)
    env.update({"TRADINGBOT_STATE_DIR": str(state), "TRADINGBOT_EXCHANGE_URL": url,
                "PYTHONDONTWRITEBYTECODE": "1"})
    env.setdefault("NUMBA_CACHE_DIR", str(REPO_ROOT / ".numba_cache"))
    return env


ONCE = [sys.executable, str(REPO_ROOT / "main.py"), "run", "--testnet", "--once",
        "--kelly-min-trades", "1000000"]


def run_once(env: dict[str, str], *, kill_at: int | None = None) -> int:
    cmd = list(ONCE)
    if kill_at is not None:
        cmd = [STRACE, "-f", "-qq", "-o", os.devnull, "-e", "trace=pwrite64",
               "-e", f"inject=pwrite64:signal=SIGKILL:when={kill_at}", *cmd]
    work = Path(env["TRADINGBOT_STATE_DIR"]).parent
    work.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(cmd, env=env, capture_output=True, text=True,  # noqa: S603
                          timeout=120, cwd=work)
    if kill_at is None and done.returncode != 0:
        raise AssertionError(f"run --testnet --once exited {done.returncode}: "
                             f"{done.stderr.strip()[-600:]}")
    return done.returncode


def count_writes(env: dict[str, str]) -> int:
    work = Path(env["TRADINGBOT_STATE_DIR"]).parent
    work.mkdir(parents=True, exist_ok=True)
    report = work / "count.txt"
    subprocess.run([STRACE, "-f", "-c", "-o", str(report), "-e", "trace=pwrite64",  # noqa: S603
                    *ONCE], env=env, capture_output=True, check=True, timeout=120, cwd=work)
    for line in report.read_text().splitlines():
        parts = line.split()
        if parts and parts[-1] == "pwrite64":
            return int(parts[3])
    return 0


def outcome(state: Path, ex: Exchange) -> dict[str, object]:
    """What the exchange and the journal hold; retry ids (-E1, -X2) count as their intent."""
    with Journal(state / "testnet" / "journal.sqlite3") as journal:
        fills = [(_intent(f.client_id), str(f.side), str(f.kind), str(f.amount), str(f.price))
                 for f in journal.fills()]
        unresolved = [o.client_id for o, _ in journal.unresolved_orders()]
        decisions = [(d.bar_time, str(d.action)) for d in reversed(journal.recent_decisions(50))]
    accepted = ex.book.accepted()
    return {
        "fills": fills, "decisions": decisions, "unresolved": unresolved,
        "duplicates": sorted(cid for cid, n in accepted.items() if n > 1),
        "intents accepted": sorted({_intent(c) for c in accepted}),
        "open orders": [o["clientOrderId"] for o in ex.book.open_orders("BTCUSDT")],
        "BTC": str(ex.book.balance("BTC")),
    }


def _intent(client_id: str) -> str:
    return re.sub(r"-([EXS])\d+$", r"-\1", client_id)


def two_bars(work: Path, ex: Exchange, *, kill: tuple[str, int] | None = None) -> Path:
    """Entry bar then exit bar; ``kill`` = (phase, K) kills that phase's first run at write K."""
    state = work / "state"
    env = bot_env(state, ex.fake.url)
    for phase in ("entry", "exit"):
        if phase == "exit":
            ex.move_to_exit_bar()
        if kill is not None and kill[0] == phase:
            code = run_once(env, kill_at=kill[1])
            assert code in KILLED, f"the kill at {kill} did not happen (exit {code})"
        run_once(env)
    return state


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    ex = Exchange()
    try:
        state = two_bars(tmp_path_factory.mktemp("baseline"), ex)
        result = outcome(state, ex)
    finally:
        ex.close()
    # The scenario does what it claims: one entry with its stop, then the exit sells it all.
    assert [f[2] for f in result["fills"]] == ["entry", "exit"]  # type: ignore[attr-defined]
    assert result["open orders"] == []
    assert result["unresolved"] == []
    assert Decimal(str(result["BTC"])) < Decimal("0.0001")
    return result


def kill_points(n: int, seed: int, writes: dict[str, int]) -> list[tuple[str, int]]:
    rng = random.Random(seed)
    return [(phase, rng.randint(1, writes[phase]))
            for phase in (("entry", "exit") * n)[:n]]


def check_kills(points: list[tuple[str, int]], baseline: dict[str, object], work: Path
                ) -> list[str]:
    diverged = []
    for i, point in enumerate(points):
        ex = Exchange()
        try:
            state = two_bars(work / f"kill-{i}", ex, kill=point)
            got = outcome(state, ex)
        finally:
            ex.close()
        diff = {k: (baseline[k], v) for k, v in got.items() if v != baseline[k]}
        if diff:
            diverged.append(f"{point}: {diff}")
    return diverged


@pytest.fixture(scope="module")
def writes(tmp_path_factory: pytest.TempPathFactory, strace: Path) -> dict[str, int]:
    """Page writes of each phase in an uninterrupted run (the range kill points come from)."""
    work = tmp_path_factory.mktemp("count")
    ex = Exchange()
    try:
        env = bot_env(work / "state", ex.fake.url)
        entry = count_writes(env)
        ex.move_to_exit_bar()
        exit_ = count_writes(env)
    finally:
        ex.close()
    assert entry > 0
    assert exit_ > 0
    return {"entry": entry, "exit": exit_}


@pytest.mark.timeout(600)
def test_testnet_kills_at_seeded_writes_change_nothing(
    baseline: dict[str, object], writes: dict[str, int], tmp_path: Path
) -> None:
    assert check_kills(kill_points(4, 11, writes), baseline, tmp_path) == []


@pytest.mark.soak
@pytest.mark.timeout(1800)
def test_testnet_kills_soak(
    baseline: dict[str, object], writes: dict[str, int], tmp_path: Path
) -> None:
    points = kill_points(30, 5, writes)
    diverged = check_kills(points, baseline, tmp_path)
    print(f"baseline {baseline}; page writes per phase {writes}")
    print(f"testnet kill points tried {len(points)}, identical {len(points) - len(diverged)}, "
          f"diverged {len(diverged)}")
    assert diverged == []
