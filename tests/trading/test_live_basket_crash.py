"""A two-symbol live run killed between an order's intent and its send resumes, no duplicate.

As test_crash_testnet: `run --live --once --symbols BTC/USDT,ETH/USDT` runs as a child process
against the fake Binance in this process, which keeps the exchange's state across the bot's
death, and is run again after the kill, as systemd would. On the bar both markets enter, the
fake SIGKILLs the bot when ETH's market buy reaches it (BTC's entry and stop went out first):
either before the exchange takes the order (its intent is committed, the order never arrived)
or after (taken, the answer never read). The exchange and the journal must end as after an
uninterrupted run: each decision executed once (no client id accepted twice, one ETH buy),
the same fills, both positions protected by one resting stop each, nothing unresolved.
``-m soak`` also kills the run at seeded page writes (strace), as test_crash_testnet does.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from journal import Journal
from tests.conftest import REPO_ROOT
from tests.fake_binance import FakeRequest, FakeResponse
from tests.fake_binance_trading import ORDER
from tests.trading.live_basket import (
    BTC,
    ETH,
    SYMBOLS,
    Venue,
    both_enter,
    find_basket,
    live_env,
    promote_both,
)
from tests.trading.test_gate_on import run_settings

BASKET, (BAR,) = find_basket(both_enter)
ONCE = [sys.executable, str(REPO_ROOT / "main.py"), "run", "--live", "--once",
        "--symbols", SYMBOLS]
KILLED = (137, -9)
TRACE = [shutil.which("strace") or "/usr/bin/strace", "-f", "-e", "trace=pwrite64"]


class KillAtOrder:
    """The fake's order route, SIGKILLing the bot at its first market order of ``symbol_id``,
    having taken the order (``accept``) or not."""

    def __init__(self, venue: Venue, symbol_id: str, *, accept: bool) -> None:
        self._route = venue.fake.routes[("POST", ORDER)]
        self._symbol_id, self._accept = symbol_id, accept
        self.pid: int | None = None
        venue.fake.add_route("POST", ORDER, self)

    def __call__(self, request: FakeRequest) -> FakeResponse | None:
        p = request.params
        if self.pid is None or (p.get("symbol"), p.get("type")) != (self._symbol_id, "MARKET"):
            return self._route(request)
        if self._accept:
            self._route(request)
        os.kill(self.pid, signal.SIGKILL)
        self.pid = None  # once
        return None  # nobody is listening any more: close the connection


def run_bot(env: dict[str, str], work: Path, kill: KillAtOrder | None = None, *,
            strace: Sequence[str] = ()) -> int:
    """One `run --live --once` child (under ``strace`` when given); its exit code."""
    work.mkdir(parents=True, exist_ok=True)
    child = subprocess.Popen([*strace, *ONCE], env=env, cwd=work,  # noqa: S603
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if kill is not None:
        kill.pid = child.pid
    _, err = child.communicate(timeout=120)
    if kill is None and not strace and child.returncode != 0:
        raise AssertionError(f"run --live --once exited {child.returncode}: {err[-600:]}")
    return child.returncode


def outcome(state: Path, venue: Venue) -> dict[str, Any]:
    """What the exchange and the journal hold; retry ids (-E1, -S1) count as their intent."""
    with Journal(state / "live" / "journal.sqlite3") as journal:
        fills = [(_intent(f.client_id), f.symbol, str(f.kind), str(f.amount), str(f.price))
                 for f in journal.fills()]
        unresolved = [_intent(o.client_id) for o, _ in journal.unresolved_orders()]
    accepted = venue.book.accepted()
    return {
        "fills": fills, "unresolved": unresolved,
        "duplicates": sorted(cid for cid, n in accepted.items() if n > 1),
        "intents accepted": sorted(_intent(c) for c in accepted),
        "resting": {s: [(_intent(o["clientOrderId"]), o["type"], o["origQty"])
                        for o in venue.book.open_orders(s)] for s in ("BTCUSDT", "ETHUSDT")},
        "held": {a: str(venue.book.balance(a)) for a in ("BTC", "ETH", "USDT")},
    }


def _intent(client_id: str) -> str:
    return re.sub(r"-([EXS])\d+$", r"-\1", client_id)


def trade_the_bar(work: Path, *, accept: bool | None = None, kill_at: int | None = None
                  ) -> dict[str, Any]:
    """A fresh account trades the bar both enter; ``accept`` kills the first run at ETH's buy
    (after the exchange took it, or before), ``kill_at`` at its K-th page write; then the bot
    runs again."""
    venue = Venue(BASKET, BAR)
    try:
        state = work / "state"
        env = live_env(state, venue.fake.url, inherit=True)
        promote_both(env, run_settings("--symbols", SYMBOLS))
        if kill_at is not None:
            inject = f"inject=pwrite64:signal=SIGKILL:when={kill_at}"
            code = run_bot(env, work, strace=[*TRACE, "-qq", "-o", os.devnull, "-e", inject])
            assert code in KILLED, f"the kill at write {kill_at} did not happen (exit {code})"
        if accept is not None:
            kill = KillAtOrder(venue, "ETHUSDT", accept=accept)
            assert run_bot(env, work, kill) in KILLED
            assert kill.pid is None, "the bot was not killed at ETH's order"
            taken = [o["symbol"] for o in venue.book.orders if o["type"] == "MARKET"]
            assert taken == (["BTCUSDT", "ETHUSDT"] if accept else ["BTCUSDT"])
            with Journal(state / "live" / "journal.sqlite3") as journal:  # the intent is in
                waiting = [(o.symbol, str(o.kind), u) for o, u in journal.unresolved_orders()]
            assert (ETH, "entry", None) in waiting
        run_bot(env, work)
        return outcome(state, venue)
    finally:
        venue.close()


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    result = trade_the_bar(tmp_path_factory.mktemp("baseline"))
    # The bar does what it claims: both enter, each with its stop resting, nothing open else.
    assert [(f[1], f[2]) for f in result["fills"]] == [(BTC, "entry"), (ETH, "entry")]
    assert [len(r) for r in result["resting"].values()] == [1, 1]
    assert [o[-2:] for o in result["unresolved"]] == ["-S", "-S"]  # the resting stops only
    return result


@pytest.mark.timeout(600)
@pytest.mark.parametrize("accept", [False, True], ids=["before-the-send", "answer-lost"])
def test_a_kill_at_the_second_symbols_order_resumes_without_a_duplicate(
    accept: bool, baseline: dict[str, Any], tmp_path: Path
) -> None:
    got = trade_the_bar(tmp_path, accept=accept)
    assert got["duplicates"] == []
    assert {k: (baseline[k], v) for k, v in got.items() if v != baseline[k]} == {}


def page_writes(work: Path) -> int:
    """The page writes (``pwrite64``) of an uninterrupted run of the bar: where kills land."""
    venue = Venue(BASKET, BAR)
    try:
        env = live_env(work / "state", venue.fake.url, inherit=True)
        promote_both(env, run_settings("--symbols", SYMBOLS))
        report = work / "count.txt"
        assert run_bot(env, work, strace=[*TRACE, "-c", "-o", str(report)]) == 0
    finally:
        venue.close()
    calls = [line.split() for line in report.read_text().splitlines()]
    return next(int(parts[3]) for parts in calls if parts and parts[-1] == "pwrite64")


@pytest.mark.soak
@pytest.mark.timeout(1800)
def test_kills_at_seeded_page_writes_of_a_two_symbol_live_bar(
    baseline: dict[str, Any], strace: Path, tmp_path: Path
) -> None:
    writes = page_writes(tmp_path / "count")
    points = sorted(random.Random(14).sample(range(1, writes + 1), min(12, writes)))
    diverged = []
    for k in points:
        got = trade_the_bar(tmp_path / f"kill-{k}", kill_at=k)
        diff = {key: (baseline[key], v) for key, v in got.items() if v != baseline[key]}
        if diff:
            diverged.append(f"write {k}: {diff}")
    print(f"page writes {writes}; kill points {points}; diverged {len(diverged)}")
    assert diverged == []
