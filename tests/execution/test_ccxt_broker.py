"""CcxtBroker with the real ccxt client against the fake Binance spot API."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from core.clock import SimulatedClock
from core.domain import Bar, Order, OrderKind, OrderStatus, Side
from core.errors import ConfigError, OrderRejected
from execution.broker import AlertKind, BrokerAlert, ReconciliationError
from execution.ccxt_broker import CcxtBroker
from tests.execution.ccxt_fixtures import MakeBroker, assert_no_duplicates, posts
from tests.execution.conftest import T0
from tests.execution.fakes import MemoryJournal
from tests.fake_binance import FakeBinance
from tests.fake_binance_trading import FakeSpotTrading

BTC = "BTC/USDT"
ENTRY_ID, STOP_ID = "tb-BTCUSDT-202405011200-E", "tb-BTCUSDT-202405011200-S"
H = timedelta(hours=1)


class SpyJournal(MemoryJournal):
    """Notes how many POSTs of an order the exchange had seen when its intent was written."""

    def __init__(self, book: FakeSpotTrading) -> None:
        super().__init__()
        self.book = book
        self.posts_at_intent: dict[str, int] = {}

    def record_order_intent(self, order: Order, *, simulated: bool = False) -> None:
        self.posts_at_intent[order.client_id] = self.book.posts()[order.client_id]
        super().record_order_intent(order)


@pytest.fixture
def journal(book: FakeSpotTrading) -> SpyJournal:
    return SpyJournal(book)


def entry(amount: str = "100", bar: timedelta = timedelta(0)) -> Order:
    return Order(BTC, Side.BUY, Decimal(amount), bar_time=T0 + bar)


def exit_(bar: timedelta = 3 * H) -> Order:
    return Order(BTC, Side.SELL, Decimal(0), kind=OrderKind.EXIT, bar_time=T0 + bar)


def bar(clock: SimulatedClock) -> Bar:
    return Bar(BTC, clock.now(), 60_000.0, 60_000.0, 59_000.0, 59_000.0)


def test_entry_fills_then_a_stop_limit_rests_on_the_exchange(
    broker: CcxtBroker, book: FakeSpotTrading, journal: SpyJournal
) -> None:
    [fill] = broker.submit(entry(), price=60_000.0)
    assert (fill.client_id, fill.amount, fill.price) == (ENTRY_ID, Decimal("0.00166"),
                                                        Decimal("60000"))
    assert (fill.fee, fill.fee_asset) == (Decimal("0.00000166"), "BTC")
    [resting] = book.open_orders("BTCUSDT")
    assert resting["clientOrderId"] == STOP_ID
    assert resting["type"] == "STOP_LOSS_LIMIT"
    assert Decimal(resting["stopPrice"]) == Decimal("59100")  # 60000 x (1 - 1.5%)
    assert Decimal(resting["price"]) == Decimal("58804.5")  # 0.5% below the trigger
    assert Decimal(resting["origQty"]) == Decimal("0.00165")  # what the fee left, to the step
    pos = broker.position(BTC)
    assert pos.amount == Decimal("0.00165")
    assert pos.stop == broker.open_stops(BTC)[0]
    assert pos.stop.exchange_id == str(resting["orderId"])
    assert journal.posts_at_intent == {ENTRY_ID: 0, STOP_ID: 0}  # journaled before sending
    assert journal.status(ENTRY_ID) is OrderStatus.FILLED
    assert journal.status(STOP_ID) is OrderStatus.OPEN


def test_stop_market_style_uses_stop_loss(make_broker: MakeBroker, book: FakeSpotTrading) -> None:
    broker = make_broker(stop_style="stop_loss")
    broker.submit(entry(), price=60_000.0)
    [resting] = book.open_orders("BTCUSDT")
    assert resting["type"] == "STOP_LOSS"
    assert Decimal(resting["stopPrice"]) == Decimal("59100")


def test_a_stop_type_the_market_does_not_list_is_refused_at_start(
    make_broker: MakeBroker, fake: FakeBinance
) -> None:
    fake.symbols["BTCUSDT"]["orderTypes"] = ["LIMIT", "MARKET", "STOP_LOSS"]
    with pytest.raises(ConfigError, match="does not take STOP_LOSS_LIMIT"):
        make_broker()


def test_min_notional_is_checked_before_sending(
    broker: CcxtBroker, book: FakeSpotTrading, journal: SpyJournal
) -> None:
    # 4 USDT buy 0.00006 BTC at the 0.00001 step: a notional of 3.6 < 5 (Binance -1013).
    with pytest.raises(OrderRejected, match=r"notional 3\.6\d* USDT is below the exchange min"):
        broker.submit(entry("4"), price=60_000.0)
    assert posts(book, ENTRY_ID) == 0
    assert journal.status(ENTRY_ID) is OrderStatus.REJECTED


def test_an_entry_too_small_to_carry_its_stop_is_refused(
    broker: CcxtBroker, book: FakeSpotTrading
) -> None:
    # 5.45 USDT buy 0.00009 BTC (5.40 >= 5), but after the 0.1% fee in BTC the stop sells
    # 0.00008 BTC at its 58804.5 limit: 4.70 USDT, which the exchange would refuse.
    with pytest.raises(OrderRejected, match=r"the protective stop of this entry.*notional 4\.70"):
        broker.submit(entry("5.45"), price=60_000.0)
    assert book.posts() == {}


def test_without_a_price_the_ticker_is_the_reference(
    broker: CcxtBroker, book: FakeSpotTrading
) -> None:
    book.set_price("BTCUSDT", "6000000")  # 5 USDT buy less than one lot at this price
    with pytest.raises(OrderRejected, match="rounds to 0 at the lot step"):
        broker.submit(entry("5"))


def test_exit_cancels_the_stop_and_sells_only_what_the_bot_holds(
    make_broker: MakeBroker, book: FakeSpotTrading, journal: SpyJournal
) -> None:
    book.free["BTC"] = Decimal("1")  # the owner's own coins: never the bot's to sell
    broker = make_broker()
    broker.submit(entry(), price=60_000.0)
    book.set_price("BTCUSDT", "61000")
    [sell] = broker.submit(exit_())
    assert (sell.kind, sell.amount, sell.price) == (OrderKind.EXIT, Decimal("0.00165"),
                                                   Decimal("61000"))
    assert book.open_orders("BTCUSDT") == []
    assert journal.status(STOP_ID) is OrderStatus.CANCELED
    assert book.balance("BTC") == Decimal("1.00000834")  # 1 BTC + the fee-rounding dust
    assert not broker.position(BTC).is_open
    assert broker.submit(exit_(4 * H)) == []  # flat: a -1 does nothing
    assert_no_duplicates(book)


def test_entry_while_long_and_a_sell_entry_are_refused(broker: CcxtBroker) -> None:
    broker.submit(entry(), price=60_000.0)
    with pytest.raises(OrderRejected, match="already long"):
        broker.submit(entry(bar=H), price=60_000.0)
    with pytest.raises(OrderRejected, match="naked shorts"):
        broker.submit(Order("ETH/USDT", Side.SELL, Decimal(50), bar_time=T0), price=3000.0)


def test_a_stop_that_filled_is_seen_on_the_next_bar(
    broker: CcxtBroker, book: FakeSpotTrading, journal: SpyJournal, clock: SimulatedClock
) -> None:
    broker.submit(entry(), price=60_000.0)
    book.set_price("BTCUSDT", "59000")  # through the trigger, above the limit: it fills
    [fill] = broker.on_bar(bar(clock))
    assert (fill.kind, fill.client_id, fill.amount) == (OrderKind.STOP, STOP_ID,
                                                       Decimal("0.00165"))
    assert fill.price == Decimal("59000")
    assert journal.status(STOP_ID) is OrderStatus.FILLED
    assert not broker.position(BTC).is_open
    assert broker.on_bar(bar(clock)) == []


def test_a_position_whose_stop_cannot_be_placed_is_alerted_and_closed(
    make_broker: MakeBroker, fake: FakeBinance, book: FakeSpotTrading,
    alerts: list[BrokerAlert], clock: SimulatedClock,
) -> None:
    broker = make_broker(max_unprotected_s=5.0)
    fake.symbols["BTCUSDT"]["orderTypes"] = ["LIMIT", "MARKET"]  # the exchange refuses stops
    start = clock.now()
    fills = broker.submit(entry(), price=60_000.0)
    assert [f.kind for f in fills] == [OrderKind.ENTRY, OrderKind.EXIT]
    assert clock.now() - start > timedelta(seconds=5)  # it kept trying for the whole limit
    [alert] = alerts
    assert alert.kind is AlertKind.UNPROTECTED_POSITION
    assert "without a stop on the exchange" in alert.text
    assert not broker.position(BTC).is_open
    assert book.balance("BTC") == Decimal("0.00000834")
    assert_no_duplicates(book)


def test_a_stop_canceled_behind_our_back_is_placed_again(
    broker: CcxtBroker, book: FakeSpotTrading, clock: SimulatedClock, alerts: list[BrokerAlert]
) -> None:
    broker.submit(entry(), price=60_000.0)
    assert len(book.open_orders("BTCUSDT")) == 1
    book.orders[-1]["status"] = "CANCELED"  # someone canceled it in the web UI
    book.free["BTC"] += book.locked["BTC"]
    book.locked["BTC"] = Decimal(0)
    assert broker.on_bar(bar(clock)) == []
    [again] = book.open_orders("BTCUSDT")
    assert again["clientOrderId"] == STOP_ID + "1"
    assert broker.open_stops(BTC)[0].client_id == STOP_ID + "1"
    assert alerts == []


def test_cancel_all_cancels_only_the_bots_orders(
    broker: CcxtBroker, book: FakeSpotTrading, journal: SpyJournal
) -> None:
    broker.submit(entry(), price=60_000.0)
    book.orders.append({**book.orders[-1], "clientOrderId": "manual-1", "orderId": 1})
    assert broker.cancel_all(BTC) == 1
    assert [o["clientOrderId"] for o in book.open_orders("BTCUSDT")] == ["manual-1"]
    assert journal.status(STOP_ID) is OrderStatus.CANCELED
    assert broker.open_stops(BTC) == []
    assert broker.position(BTC).is_open


def test_equity_is_quote_balance_plus_the_bots_positions(
    broker: CcxtBroker, book: FakeSpotTrading
) -> None:
    assert broker.equity({}) == 10_000.0
    broker.submit(entry(), price=60_000.0)
    # 0.00165 BTC in lot steps is the position; the 0.00000834 BTC the fee left below one lot
    # is dust, the bot's own money all the same (issue 17: equity counts it).
    held = 0.00166 * (1 - 0.001)
    assert broker.equity({BTC: 61_000.0}) == pytest.approx(9_900.4 + held * 61_000.0)
    with pytest.raises(ValueError, match="no price for BTC/USDT"):
        broker.equity({})


def test_nothing_trades_before_start(make_broker: MakeBroker, book: FakeSpotTrading) -> None:
    broker = make_broker(start=False)
    with pytest.raises(ReconciliationError, match="call start"):
        broker.submit(entry(), price=60_000.0)
    assert book.fake.requests == []


def test_a_restart_continues_and_never_repeats_a_decision(
    make_broker: MakeBroker, book: FakeSpotTrading
) -> None:
    first = make_broker()
    first.submit(entry(), price=60_000.0)
    second = make_broker()
    assert second.reconciliation is not None
    assert second.reconciliation.ok
    assert second.position(BTC) == first.position(BTC)
    assert second.submit(entry(), price=60_000.0) == []
    assert posts(book, ENTRY_ID) == 1
    assert repr(second) == "CcxtBroker('binance', testnet, prefix='tb')"


def test_the_watchdog_closes_a_position_unprotected_for_too_long_between_bars(
    make_broker: MakeBroker, fake: FakeBinance, book: FakeSpotTrading,
    clock: SimulatedClock, alerts: list[BrokerAlert], journal: SpyJournal,
) -> None:
    broker = make_broker(max_unprotected_s=30.0)
    broker.submit(entry(), price=60_000.0)
    book.orders[-1]["status"] = "CANCELED"  # the stop disappears...
    book.free["BTC"] += book.locked.pop("BTC")
    fake.symbols["BTCUSDT"]["orderTypes"] = ["LIMIT", "MARKET"]  # ...and cannot be replaced
    assert broker.on_bar(bar(clock)) == []
    assert alerts == []  # unprotected for 0 s so far: keep trying, no alarm yet
    clock.set(clock.now() + timedelta(seconds=31))
    [sell] = broker.on_bar(bar(clock))
    assert sell.kind is OrderKind.EXIT
    assert sell.client_id == "tb-BTCUSDT-202405011200-X"
    assert [a.kind for a in alerts] == [AlertKind.UNPROTECTED_POSITION]
    assert "for 31s (limit 30s)" in alerts[0].text
    assert journal.status(sell.client_id) is OrderStatus.FILLED
    assert not broker.position(BTC).is_open
    assert_no_duplicates(book)
