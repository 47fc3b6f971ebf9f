"""PaperBroker: kernel fill arithmetic, stops by risk.rules, precision, persistence."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from core.clock import SimulatedClock
from core.domain import Bar, Order, OrderKind, OrderStatus, Side
from core.errors import InsufficientFunds, OrderRejected
from execution.paper import PaperBroker, PaperConfig
from risk import rules
from tests.execution.conftest import T0
from tests.execution.fakes import MemoryJournal, MemoryState

SYM = "BTC/USDT"
H = timedelta(hours=1)


def entry(notional: str, bar: datetime = T0, pct: str = "0.015") -> Order:
    return Order(SYM, Side.BUY, Decimal(notional), Decimal(pct), bar_time=bar)


def exit_(bar: datetime) -> Order:
    return Order(SYM, Side.SELL, Decimal(0), kind=OrderKind.EXIT, bar_time=bar)


def bar(t: datetime, o: float, h: float, low: float, c: float) -> Bar:
    return Bar(SYM, t, o, h, low, c)


@pytest.fixture
def paper(journal: MemoryJournal, state: MemoryState, clock: SimulatedClock) -> PaperBroker:
    return PaperBroker(journal=journal, state=state, clock=clock)


def test_entry_fills_at_open_plus_slippage_with_fee_on_notional(paper: PaperBroker) -> None:
    [fill] = paper.submit(entry("200"), price=100.0, at=T0 + H)
    # Hand-computed: 100 * 1.0005 = 100.05; 200 / 100.05 units; fee 0.1% of 200 = 0.2.
    assert fill.price == Decimal("100.05")
    assert fill.amount == Decimal(repr(200 / 100.05))
    assert fill.fee == Decimal("0.2")
    assert fill.client_id == "paper-BTCUSDT-202405011200-E"
    assert fill.at == T0 + H
    assert paper.cash == 10_000 - 200.2
    pos = paper.position(SYM)
    assert pos.is_open
    assert pos.entry_price == Decimal("100.05")
    [stop] = paper.open_stops(SYM)
    assert stop.stop_price == Decimal(repr(rules.stop_price_long(100.05, 0.015)))
    assert float(stop.stop_price) == pytest.approx(98.54925, abs=1e-12)
    assert stop.client_id == "paper-BTCUSDT-202405011200-S"


def test_stop_is_live_on_the_fill_bar(paper: PaperBroker) -> None:
    paper.submit(entry("200"), price=100.0, at=T0 + H)
    [fill] = paper.on_bar(bar(T0 + H, 100.0, 101.0, 98.0, 99.0))
    stop = rules.stop_price_long(100.05, 0.015)
    assert fill.kind is OrderKind.STOP
    assert fill.price == Decimal(repr(stop * (1 - 0.0005)))  # at the stop, slippage against us
    assert not paper.position(SYM).is_open
    assert paper.open_stops(SYM) == []


def test_stop_not_touched_holds(paper: PaperBroker) -> None:
    paper.submit(entry("200"), price=100.0, at=T0 + H)
    assert paper.on_bar(bar(T0 + H, 100.0, 101.0, 98.56, 99.0)) == []
    assert paper.position(SYM).is_open


def test_gap_through_the_stop_fills_at_the_open(paper: PaperBroker) -> None:
    paper.submit(entry("200"), price=100.0, at=T0 + H)
    paper.on_bar(bar(T0 + H, 100.0, 101.0, 99.0, 99.5))
    [fill] = paper.on_bar(bar(T0 + 2 * H, 97.0, 97.5, 96.0, 97.2))
    assert fill.price == Decimal(repr(97.0 * (1 - 0.0005)))  # 96.9515, not the stop
    units = 200 / 100.05
    proceeds = units * (97.0 * 0.9995)
    assert paper.cash == pytest.approx(10_000 - 200.2 + proceeds - proceeds * 0.001, abs=1e-9)


def test_stop_exactly_at_low_is_hit(paper: PaperBroker) -> None:
    paper.submit(entry("200"), price=100.0, at=T0 + H)
    stop = rules.stop_price_long(100.05, 0.015)
    assert len(paper.on_bar(bar(T0 + H, 100.0, 101.0, stop, 99.0))) == 1


def test_bars_before_the_fill_bar_never_trigger_the_stop(paper: PaperBroker) -> None:
    paper.submit(entry("200"), price=100.0, at=T0 + H)
    assert paper.on_bar(bar(T0, 100.0, 101.0, 50.0, 99.0)) == []


def test_exit_cancels_the_stop_and_sells_everything_at_open_minus_slippage(
    paper: PaperBroker, journal: MemoryJournal
) -> None:
    [buy] = paper.submit(entry("200"), price=100.0, at=T0 + H)
    [sell] = paper.submit(exit_(T0 + 4 * H), price=110.0, at=T0 + 5 * H)
    assert sell.amount == buy.amount
    assert sell.price == Decimal(repr(110.0 * 0.9995))
    proceeds = float(buy.amount) * (110.0 * 0.9995)
    assert sell.fee == Decimal(repr(proceeds * 0.001))
    assert paper.cash == (10_000 - 200.2) + (proceeds - proceeds * 0.001)
    assert journal.status("paper-BTCUSDT-202405011200-S") is OrderStatus.CANCELED
    assert paper.open_stops(SYM) == []
    assert not paper.position(SYM).is_open


def test_equity_marks_cash_plus_units_at_close(paper: PaperBroker) -> None:
    [buy] = paper.submit(entry("200"), price=100.0, at=T0 + H)
    assert paper.equity({SYM: 120.0}) == (10_000 - 200.2) + float(buy.amount) * 120.0
    with pytest.raises(ValueError, match="no price"):
        paper.equity({})


def test_journal_order_intent_before_fill(paper: PaperBroker, journal: MemoryJournal) -> None:
    paper.submit(entry("200"), price=100.0, at=T0 + H)
    cid, stop = "paper-BTCUSDT-202405011200-E", "paper-BTCUSDT-202405011200-S"
    assert journal.events == [("intent", cid), ("filled", cid), ("fill", cid),
                              ("intent", stop), ("open", stop)]


def test_same_decision_twice_fills_once(paper: PaperBroker) -> None:
    assert len(paper.submit(entry("200"), price=100.0, at=T0 + H)) == 1
    paper.on_bar(bar(T0 + H, 100.0, 101.0, 90.0, 95.0))  # stopped out: flat again
    assert paper.submit(entry("200"), price=100.0, at=T0 + H) == []


def test_entry_while_long_and_short_entries_are_refused(paper: PaperBroker) -> None:
    paper.submit(entry("200"), price=100.0, at=T0 + H)
    with pytest.raises(OrderRejected, match="already long"):
        paper.submit(entry("200", bar=T0 + H), price=100.0, at=T0 + 2 * H)
    short = Order("ETH/USDT", Side.SELL, Decimal(100), bar_time=T0)
    with pytest.raises(OrderRejected, match="naked shorts"):
        paper.submit(short, price=100.0)


def test_insufficient_funds_is_recorded_rejected(
    paper: PaperBroker, journal: MemoryJournal
) -> None:
    with pytest.raises(InsufficientFunds, match="fee included"):
        paper.submit(entry("10000"), price=100.0, at=T0 + H)  # 10000 + 10 fee > 10000
    assert journal.status("paper-BTCUSDT-202405011200-E") is OrderStatus.REJECTED
    assert paper.cash == 10_000


def test_exit_while_flat_does_nothing(paper: PaperBroker) -> None:
    assert paper.submit(exit_(T0), price=100.0) == []


def test_price_is_required(paper: PaperBroker) -> None:
    with pytest.raises(ValueError, match="next bar's open"):
        paper.submit(entry("200"))


def test_cancel_all_removes_the_stop_but_keeps_the_position(paper: PaperBroker) -> None:
    paper.submit(entry("200"), price=100.0, at=T0 + H)
    assert paper.cancel_all(SYM) == 1
    assert paper.open_stops(SYM) == []
    assert paper.position(SYM).is_open
    assert paper.on_bar(bar(T0 + H, 100.0, 101.0, 50.0, 60.0)) == []
    assert paper.cancel_all(SYM) == 0


def test_restart_continues_the_same_account(
    journal: MemoryJournal, state: MemoryState, clock: SimulatedClock
) -> None:
    first = PaperBroker(journal=journal, state=state, clock=clock)
    [buy] = first.submit(entry("200"), price=100.0, at=T0 + H)
    again = PaperBroker(journal=journal, state=state, clock=clock)
    assert again.cash == first.cash
    assert again.position(SYM) == first.position(SYM)
    assert again.submit(entry("200"), price=100.0, at=T0 + H) == []  # the same decision
    [stop] = again.on_bar(bar(T0 + 2 * H, 99.0, 99.5, 90.0, 91.0))
    assert stop.amount == buy.amount


def test_restart_settles_an_intent_left_by_a_crash(
    journal: MemoryJournal, state: MemoryState, clock: SimulatedClock
) -> None:
    journal.record_order_intent(entry("200").__class__(
        SYM, Side.BUY, Decimal(200), client_id="paper-BTCUSDT-202405011100-E"))
    result = PaperBroker(journal=journal, state=state, clock=clock).reconcile()
    assert result.ok
    assert journal.status("paper-BTCUSDT-202405011100-E") is OrderStatus.REJECTED


def test_invalid_stop_pct_is_refused_before_anything(paper: PaperBroker) -> None:
    with pytest.raises(OrderRejected, match="stop_loss_pct"):
        paper.submit(entry("200", pct="0"), price=100.0)


def test_config_is_validated() -> None:
    from core.errors import ConfigError

    with pytest.raises(ConfigError, match="fee"):
        PaperConfig(fee=0.5)
    with pytest.raises(ConfigError, match="prefix"):
        PaperConfig(prefix="bad prefix")
