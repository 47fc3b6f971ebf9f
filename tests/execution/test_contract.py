"""One contract, two adapters: PaperBroker and CcxtBroker (on the fake exchange) alike."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.clock import SimulatedClock
from core.domain import Order, OrderKind, Side
from execution.broker import Broker
from execution.ccxt_broker import CcxtBroker
from execution.paper import PaperBroker
from risk import rules
from tests.execution.ccxt_fixtures import MakeBroker, assert_no_duplicates, assert_protected
from tests.execution.conftest import T0
from tests.execution.fakes import MemoryJournal, MemoryState
from tests.fake_binance_trading import FakeSpotTrading

BTC = "BTC/USDT"
PRICE = 60_000.0
ENTRY = Order(BTC, Side.BUY, Decimal(100), Decimal("0.015"), bar_time=T0)
EXIT = Order(BTC, Side.SELL, Decimal(0), kind=OrderKind.EXIT, bar_time=T0.replace(hour=15))


@pytest.fixture(params=["paper", "ccxt"])
def any_broker(
    request: pytest.FixtureRequest, journal: MemoryJournal, state: MemoryState,
    clock: SimulatedClock,
) -> Broker:
    if request.param == "paper":
        return PaperBroker(journal=journal, state=state, clock=clock)
    make: MakeBroker = request.getfixturevalue("make_broker")
    return make()


def exchange_checks(broker: Broker, request: pytest.FixtureRequest) -> None:
    """On the exchange too: no client id accepted twice, every position's stop resting."""
    if isinstance(broker, CcxtBroker):
        book: FakeSpotTrading = request.getfixturevalue("book")
        assert_no_duplicates(book)
        assert_protected(broker, book)


def test_entry_fills_and_places_its_stop(any_broker: Broker, request: pytest.FixtureRequest
                                         ) -> None:
    [fill] = any_broker.submit(ENTRY, price=PRICE)
    assert (fill.kind, fill.side, fill.symbol) == (OrderKind.ENTRY, Side.BUY, BTC)
    assert fill.amount > 0
    assert fill.price * fill.amount == pytest.approx(100, rel=0.01)
    pos = any_broker.position(BTC)
    assert pos.is_open
    [stop] = any_broker.open_stops(BTC)
    assert pos.stop == stop
    assert stop.amount == pos.amount
    expected = rules.stop_price_long(float(fill.price), 0.015)
    assert float(stop.stop_price) == pytest.approx(expected, abs=0.01)  # a tick on Binance
    exchange_checks(any_broker, request)


def test_close_sells_what_is_held_and_drops_the_stop(
    any_broker: Broker, request: pytest.FixtureRequest
) -> None:
    any_broker.submit(ENTRY, price=PRICE)
    held = any_broker.position(BTC).amount
    [sell] = any_broker.submit(EXIT, price=PRICE)
    assert (sell.kind, sell.side, sell.amount) == (OrderKind.EXIT, Side.SELL, held)
    assert not any_broker.position(BTC).is_open
    assert any_broker.open_stops(BTC) == []
    assert any_broker.submit(EXIT, price=PRICE) == []  # a repeated -1 does nothing
    exchange_checks(any_broker, request)


def test_cancel_all_removes_the_stop(any_broker: Broker) -> None:
    any_broker.submit(ENTRY, price=PRICE)
    assert any_broker.cancel_all(BTC) == 1
    assert any_broker.open_stops(BTC) == []
    assert any_broker.position(BTC).is_open
    assert any_broker.cancel_all(BTC) == 0


def test_equity_is_cash_plus_the_position_at_the_given_price(any_broker: Broker) -> None:
    assert any_broker.equity({}) == 10_000.0
    any_broker.submit(ENTRY, price=PRICE)
    held = float(any_broker.position(BTC).amount)
    flat_cash = any_broker.equity({BTC: 0.0})
    assert 10_000 - 101 < flat_cash + held * PRICE < 10_000  # paid fees and slippage only
    # Marked at any price: the position, plus what a fee in the base left below one lot
    # (dust: not a position, but the bot's own coins).
    marked = (any_broker.equity({BTC: PRICE + 1000}) - flat_cash) / (PRICE + 1000)
    assert held * (1 - 1e-12) <= marked < held + 0.00001


def test_the_same_decision_is_executed_once(any_broker: Broker) -> None:
    assert len(any_broker.submit(ENTRY, price=PRICE)) == 1
    any_broker.submit(EXIT, price=PRICE)
    assert any_broker.submit(ENTRY, price=PRICE) == []
