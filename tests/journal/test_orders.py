"""The OrderJournal port: intents before sending, updates, fills, what a restart must look up."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from core.domain import Order, OrderKind, OrderStatus, OrderUpdate, Side
from core.ports import OrderJournal, StateStore
from journal import DuplicateClientIdError, Journal, JournalError, UnknownOrderError
from tests.journal.conftest import fill, order, utc


def update(client_id: str, status: OrderStatus, **kw: object) -> OrderUpdate:
    return OrderUpdate(client_id, status, utc(1, 1), **kw)  # type: ignore[arg-type]


def test_journal_satisfies_the_ports(journal: Journal) -> None:
    ports: tuple[OrderJournal, StateStore] = (journal, journal)
    assert ports


def test_a_repeated_client_id_is_refused_and_the_first_intent_kept(journal: Journal) -> None:
    journal.record_order_intent(order("e-1"))
    other = Order("ETH/USDT", Side.SELL, Decimal(5), client_id="e-1", reason="other")
    with pytest.raises(DuplicateClientIdError, match="'e-1' is already in the journal"):
        journal.record_order_intent(other)
    assert journal.find_order("e-1") == order("e-1")


def test_an_order_without_client_id_is_refused(journal: Journal) -> None:
    with pytest.raises(JournalError, match="without a client id"):
        journal.record_order_intent(order(""))


def test_orders_round_trip_exactly(journal: Journal) -> None:
    stop = Order(
        "BTC/USDT", Side.SELL, Decimal(0), Decimal("0.015"), "s-1", OrderKind.STOP,
        amount_base=Decimal("0.00000001"), stop_price=Decimal("41370.12345678"),
        bar_time=utc(2, 3), reason="stop after entry e-1",
    )
    journal.record_order_intent(stop)
    assert journal.find_order("s-1") == stop
    row = journal._db.execute("SELECT amount_base, stop_price FROM orders").fetchone()
    assert row == ("0.00000001", "41370.12345678")  # plain decimal text, never 1E-8 or a float


def test_unresolved_orders_are_the_ones_not_final_with_their_latest_update(
    journal: Journal,
) -> None:
    for cid in ("intent", "open", "unknown", "filled", "canceled", "rejected", "reopened"):
        journal.record_order_intent(order(cid))
    journal.record_order_update(update("open", OrderStatus.OPEN, exchange_id="x9"))
    journal.record_order_update(update("unknown", OrderStatus.UNKNOWN, detail="timeout"))
    for cid, status in (("filled", OrderStatus.FILLED), ("canceled", OrderStatus.CANCELED),
                        ("rejected", OrderStatus.REJECTED)):
        journal.record_order_update(update(cid, OrderStatus.OPEN))
        journal.record_order_update(update(cid, status))
    # The latest recorded update counts, even if its `at` is older (another clock said so).
    journal.record_order_update(update("reopened", OrderStatus.FILLED))
    journal.record_order_update(OrderUpdate("reopened", OrderStatus.OPEN, utc(1)))

    unresolved = journal.unresolved_orders()
    assert [(o.client_id, u and u.status) for o, u in unresolved] == [
        ("intent", None),
        ("open", OrderStatus.OPEN),
        ("unknown", OrderStatus.UNKNOWN),
        ("reopened", OrderStatus.OPEN),
    ]
    assert unresolved[0][0] == order("intent")
    assert unresolved[1][1] == update("open", OrderStatus.OPEN, exchange_id="x9")
    assert unresolved[2][1] is not None
    assert unresolved[2][1].detail == "timeout"


def test_partial_fill_update_keeps_exact_amounts(journal: Journal) -> None:
    journal.record_order_intent(order("p-1"))
    partial = update("p-1", OrderStatus.OPEN, filled=Decimal("0.0012"),
                     avg_price=Decimal("42000.10"), exchange_id="x1")
    journal.record_order_update(partial)
    assert journal.unresolved_orders()[0][1] == partial


def test_updates_and_fills_need_a_recorded_intent(journal: Journal) -> None:
    with pytest.raises(UnknownOrderError, match="'ghost' has no recorded intent"):
        journal.record_order_update(update("ghost", OrderStatus.OPEN))
    with pytest.raises(UnknownOrderError):
        journal.record_fill(fill("ghost", Side.BUY, "1", "1", at=utc(1)))


def test_a_fill_unlike_its_order_is_refused(journal: Journal) -> None:
    journal.record_order_intent(order("e-1"))
    with pytest.raises(JournalError, match="fill of 'e-1' is sell BTC/USDT, but the order is buy"):
        journal.record_fill(fill("e-1", Side.SELL, "1", "1", at=utc(1)))


def test_fills_for_an_order_come_back_exactly(journal: Journal) -> None:
    journal.record_order_intent(order("e-1"))
    first = fill("e-1", Side.BUY, "0.0010", "42000.00", "0.042", at=utc(1, 1))
    second = fill("e-1", Side.BUY, "0.0005", "42001.5", "0.0210007", at=utc(1, 1))
    journal.record_fill(first)
    journal.record_fill(second)
    assert journal.fills_for("e-1") == [first, second]
    assert journal.fills_for("other") == []


def test_an_intent_inside_a_batch_is_refused(journal: Journal) -> None:
    # The order would go out while its intent sat uncommitted: a crash would forget it.
    with pytest.raises(JournalError, match="must be committed before the order is sent"), \
            journal.batch():
        journal.record_order_intent(order("e-1"))
    assert journal.find_order("e-1") is None


def test_intents_survive_a_reopen(db_path: Path, journal: Journal) -> None:
    journal.record_order_intent(order("e-1"))
    journal.close()
    with Journal(db_path) as again:
        assert [o.client_id for o, _ in again.unresolved_orders()] == ["e-1"]
        with pytest.raises(DuplicateClientIdError):
            again.record_order_intent(order("e-1"))
