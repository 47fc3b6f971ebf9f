"""Issue 14: several symbols on one paper account, worked out by hand (tests/trading/basket.py).

At each time: every pending exit (symbols in order), then every pending entry, then the stops;
the mark over all positions and the account's kill switches; the decisions, in symbol order,
with the open-positions cap before the size and the gross-exposure cap after it.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from core.clock import SimulatedClock
from core.errors import ConfigError
from journal import Journal
from journal.records import TOTAL
from risk import rules
from tests.trading.basket import (
    ENTER,
    EXIT,
    T0,
    at,
    bars,
    decisions,
    fills,
    flat,
    reasons,
    run,
    settings,
)
from trading.book import SIZING_KEY
from trading.setup import build_paper_parts
from trading.sizing import KellyRecord, RollingKelly

A, B, C = "AAA/USDT", "BBB/USDT", "CCC/USDT"


class Alerts:
    """An alerter that keeps what it was asked to send."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def alert(self, kind: object, text: str) -> None:
        self.sent.append((str(kind), text))

    def close(self) -> None:
        pass


def test_an_exit_at_the_open_funds_an_entry_and_a_short_wallet_refuses_one(
    tmp_path: Path
) -> None:
    # 0: B and C enter (500 each: all the cash). 1: A enters, C exits; at the open of 2 C's
    # exit comes first although C is after A, so its 500 pay A's entry. 2: C enters again,
    # with no cash left: refused at the open of 3.
    frames = {A: flat({1: ENTER}), B: flat({0: ENTER}), C: flat({0: ENTER, 1: EXIT, 2: ENTER})}
    path, alerts = tmp_path / "j.sqlite3", Alerts()
    run(frames, settings(A, B, C), path, alerter=alerts)
    assert fills(path) == [
        (B, "entry", at(1), 5.0, 100.0), (C, "entry", at(1), 5.0, 100.0),
        (C, "exit", at(2), 5.0, 100.0), (A, "entry", at(2), 5.0, 100.0),
    ]
    failures = [text for kind, text in alerts.sent if kind == "order_failure"]
    assert failures == [f"{C} entry: entry on {C} needs 500.00000000 USDT (fee included); "
                        "the paper wallet has 0.00000000"]
    with Journal(path) as journal:
        statuses = [str(journal.order_status(c)) for c in _entry_ids(path, C)]
    assert statuses == ["filled", "rejected"]  # the second entry of C: refused for cash


def _entry_ids(path: Path, symbol: str) -> list[str]:
    with closing(sqlite3.connect(path)) as db:
        rows = db.execute("SELECT client_id FROM orders WHERE symbol = ? AND kind = 'entry' "
                          "ORDER BY id", (symbol,)).fetchall()
    return [str(r[0]) for r in rows]


def test_max_open_positions_counts_held_and_decided_and_a_pending_exit(tmp_path: Path) -> None:
    # 0: A and B are decided, C is the third. 1: A decides its exit but still holds. 2: A is
    # out at the open, so C may enter.
    frames = {A: flat({0: ENTER, 1: EXIT}), B: flat({0: ENTER}),
              C: flat({0: ENTER, 1: ENTER, 2: ENTER})}
    path = tmp_path / "j.sqlite3"
    run(frames, settings(A, B, C, max_open_positions=2), path)
    full = "max_open_positions: 2 of 2 positions open or decided"
    assert reasons(path, C) == {at(0): full, at(1): full, at(2): "approved",
                                at(3): "long; no exit signal", at(4): "long; no exit signal"}
    assert [(s, k, t) for s, k, t, *_ in fills(path)] == [
        (A, "entry", at(1)), (B, "entry", at(1)), (A, "exit", at(2)), (C, "entry", at(3))]


def test_max_gross_exposure_counts_notionals_held_and_decided(tmp_path: Path) -> None:
    # Cap 100% of equity: A and B (500 + 500) reach it exactly, which is allowed; C would be
    # 150%. At 1 the held positions count at their last close (A 5 x 110, B 5 x 100).
    frames = {A: bars((0, 100, 100, 100, ENTER), (1, 100, 100, 110, 0), (2, 110, 110, 110, 0)),
              B: flat({0: ENTER}, range(3)), C: flat({0: ENTER, 1: ENTER}, range(3))}
    path = tmp_path / "j.sqlite3"
    run(frames, settings(A, B, C, max_gross_exposure_pct=1.0), path)
    got = reasons(path, C)
    assert got[at(0)] == ("max_gross_exposure_pct: 1000.00 held or decided + 500.00 new is "
                          "150.0% of equity 1000.00, above 100.0%")
    assert got[at(1)] == ("max_gross_exposure_pct: 1050.00 held or decided + 525.00 new is "
                          "150.0% of equity 1050.00, above 100.0%")
    assert {s for s, *_ in fills(path)} == {A, B}


def test_the_daily_pause_and_the_drawdown_latch_stop_every_symbols_entries(
    tmp_path: Path
) -> None:
    # A holds 5 units from 100; at 1 it closes at 80 (equity 900: the day is down 10%), at 2
    # at 60 (equity 800: 20% below the peak). B and C ask to enter all along.
    a = bars((0, 100, 100, 100, ENTER), (1, 100, 80, 80, 0), (2, 80, 60, 60, 0),
             (3, 60, 60, 60, 0))
    frames = {A: a, B: flat({1: ENTER, 2: ENTER}, range(4)),
              C: flat({1: ENTER, 2: ENTER}, range(4))}
    path = tmp_path / "j.sqlite3"
    run(frames, settings(A, B, C, daily_loss_limit_pct=0.05, max_drawdown_pct=0.15), path)
    paused = "Daily loss 10.0% exceeded 5.0%; entries paused until the next UTC day"
    latched = "Max drawdown 20.0% exceeded 15.0%; halted until an operator resumes"
    for symbol in (B, C):
        got = reasons(path, symbol)
        assert (got[at(1)], got[at(2)]) == (paused, latched), symbol
    assert reasons(path, A)[at(2)] == ("halt: Max drawdown 20.0% exceeded 15.0%; "
                                       "closing at the next open")
    assert [(s, k, t, p) for s, k, t, _, p in fills(path)] == [
        (A, "entry", at(1), 100.0), (A, "exit", at(3), 60.0)]


def test_late_starts_and_gaps(tmp_path: Path) -> None:
    # B starts at 2. C has no bar at 3: there it is marked at its last close (110), and its
    # exit decided at 2 waits for its bar at 4, where it pays for B's entry decided at 3.
    c = bars((0, 100, 100, 100, ENTER), (1, 100, 100, 100, 0), (2, 100, 100, 110, EXIT),
             (4, 120, 120, 120, 0), (5, 120, 120, 120, 0))
    frames = {A: flat({}, range(6)), B: flat({3: ENTER}, range(2, 6)), C: c}
    path = tmp_path / "j.sqlite3"
    run(frames, settings(A, B, C), path)
    # B: half of 500 cash + C's 5 x 110 = 525, for 5.25 units.
    assert fills(path) == [
        (C, "entry", at(1), 5.0, 100.0), (C, "exit", at(4), 5.0, 120.0),
        (B, "entry", at(4), 5.25, 100.0)]
    by_time: dict[object, list[str]] = {}
    for symbol, t, *_ in decisions(path):
        by_time.setdefault(t, []).append(symbol)
    assert by_time == {at(0): [A, C], at(1): [A, C], at(2): [A, B, C], at(3): [A, B],
                       at(4): [A, B, C], at(5): [A, B, C]}
    with Journal(path) as journal:
        equity = {r.bar_time: float(r.equity) for r in journal.equity_curve(TOTAL)}
    assert equity == {at(0): 1000.0, at(1): 1000.0, at(2): 1050.0, at(3): 1050.0,
                      at(4): 1100.0, at(5): 1100.0}


def test_an_entry_waiting_for_its_next_bar_counts_towards_the_cap(tmp_path: Path) -> None:
    # C's entry decided at 2 waits over C's gap at 3; A asks at 3 and the cap of 1 is taken.
    c = bars((0, 100, 100, 100, 0), (1, 100, 100, 100, 0), (2, 100, 100, 100, ENTER),
             (4, 100, 100, 100, 0))
    frames = {A: flat({3: ENTER}, range(5)), C: c}
    path = tmp_path / "j.sqlite3"
    run(frames, settings(A, C, max_open_positions=1), path)
    assert reasons(path, A)[at(3)] == "max_open_positions: 1 of 1 positions open or decided"
    assert [(s, k, t) for s, k, t, *_ in fills(path)] == [(C, "entry", at(4))]


def test_each_symbol_sizes_on_its_own_closed_trades(tmp_path: Path) -> None:
    # A wins 10% (100 -> 110), then loses 1/11 (110 -> 100): two trades, Kelly 0.5 and a
    # size of 0.5 x 0.5 x 0.5 = 0.125. B has closed none: the default size, 0.5.
    a = bars((0, 100, 100, 100, ENTER), (1, 100, 100, 100, EXIT), (2, 110, 110, 110, ENTER),
             (3, 110, 110, 110, EXIT), (4, 100, 100, 100, ENTER), (5, 100, 100, 100, 0))
    frames = {A: a, B: flat({4: ENTER}, range(6))}
    path = tmp_path / "j.sqlite3"
    run(frames, settings(A, B, kelly_min_trades=2), path)
    with Journal(path) as journal:
        sizes = {(d.symbol, d.bar_time): d.size_fraction for d in journal.recent_decisions(50)
                 if d.size_fraction is not None}
        saved = journal.load_state(SIZING_KEY)
    assert saved is not None
    assert set(saved["by_symbol"]) == {A}
    a_record = KellyRecord.from_dict(saved["by_symbol"][A])
    assert (a_record.n_closed, a_record.wins, a_record.losses) == (2, 1, 1)
    expected = rules.record_fraction(0.5, 2, 1, 1, a_record.sum_win, a_record.sum_loss, 2,
                                     1.0, 0.5)
    assert sizes[(A, at(4))] == pytest.approx(0.125) == expected
    assert sizes[(A, at(0))] == sizes[(A, at(2))] == sizes[(B, at(4))] == 0.5


def test_a_journal_of_one_symbols_counters_restores_to_that_symbol(tmp_path: Path) -> None:
    legacy = {"n_closed": 3, "wins": 2, "losses": 1, "sum_win": "0.1", "sum_loss": "0.05"}
    strategy = settings(A)
    clock = SimulatedClock(T0)
    with Journal(tmp_path / "j.sqlite3", clock=clock) as journal:
        journal.save_state(SIZING_KEY, legacy)
        sizing = build_paper_parts(strategy, journal=journal, clock=clock, rolling=True).sizing
    assert isinstance(sizing, RollingKelly)
    assert sizing.records == {A: KellyRecord(3, 2, 1, 0.1, 0.05)}
    assert sizing.to_dict() == {"by_symbol": {A: legacy}}
    with pytest.raises(ConfigError, match="one market and this run trades 2"):
        RollingKelly(0.5, 1.0, 2).load(legacy, (A, B))
