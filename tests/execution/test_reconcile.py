"""Start-up reconciliation: settle what a crash left, refuse to trade on any difference."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.clock import SimulatedClock
from core.domain import Bar, Order, OrderStatus, Side
from execution.broker import ReconciliationError
from execution.ccxt_settings import CcxtSettings, make_trading_exchange
from tests.execution.ccxt_fixtures import MakeBroker, assert_no_duplicates, assert_protected
from tests.execution.conftest import T0
from tests.execution.fakes import MemoryJournal, MemoryState
from tests.fake_binance import FakeBinance
from tests.fake_binance_trading import FakeSpotTrading

BTC = "BTC/USDT"
ENTRY_ID, STOP_ID = "tb-BTCUSDT-202405011200-E", "tb-BTCUSDT-202405011200-S"
ENTRY = Order(BTC, Side.BUY, Decimal(100), bar_time=T0)


def test_a_stop_that_filled_while_away_is_settled(
    make_broker: MakeBroker, book: FakeSpotTrading, journal: MemoryJournal
) -> None:
    make_broker().submit(ENTRY, price=60_000.0)
    book.set_price("BTCUSDT", "59000")  # the stop fills while the bot is down
    restarted = make_broker()
    result = restarted.reconciliation
    assert result is not None
    assert result.ok
    assert result.notes == (f"stop {STOP_ID} filled while the bot was away; BTC/USDT is flat",)
    assert not restarted.position(BTC).is_open
    assert journal.status(STOP_ID) is OrderStatus.FILLED
    assert journal.fills[-1].client_id == STOP_ID


def test_coins_and_stop_gone_is_a_difference_that_blocks_trading(
    make_broker: MakeBroker, book: FakeSpotTrading, clock: SimulatedClock
) -> None:
    make_broker().submit(ENTRY, price=60_000.0)
    book.orders[-1]["status"] = "CANCELED"  # someone canceled the stop and sold the coins
    book.locked["BTC"] = book.free["BTC"] = Decimal(0)
    restarted = make_broker(start=False)
    result = restarted.start()
    assert not result.ok
    assert result.differences == (
        f"journal says stop {STOP_ID} protects 0.00165 BTC; the exchange has it as canceled",
        f"journal says 0.00165 BTC held with stop {STOP_ID}; the exchange holds 0.0 BTC and no "
        "open order of the bot (sold outside the bot? to go on, buy back 0.00165 BTC on the "
        "exchange, or move this journal away to start a new account)",
    )
    with pytest.raises(ReconciliationError, match="refusing to trade") as refused:
        restarted.submit(Order("ETH/USDT", Side.BUY, Decimal(50), bar_time=T0), price=3000.0)
    assert refused.value.differences == result.differences
    with pytest.raises(ReconciliationError):
        restarted.on_bar(Bar(BTC, clock.now(), 1.0, 1.0, 1.0, 1.0))
    assert book.posts()["tb-ETHUSDT-202405011200-E"] == 0


def test_an_open_order_of_ours_nobody_recorded_is_a_difference(
    make_broker: MakeBroker, book: FakeSpotTrading, settings: CcxtSettings
) -> None:
    book.free["BTC"] = Decimal("0.001")
    other = make_trading_exchange(settings)
    other.load_markets()
    other.create_order(BTC, "limit", "sell", 0.001, 50_000, {"stopLossPrice": "51000",
                                                             "newClientOrderId": "tb-stray-1"})
    result = make_broker(start=False).start()
    assert result.differences == (
        "the exchange has open order tb-stray-1 (limit sell 0.001 BTC) that the journal does "
        "not know; cancel it on the exchange if it is not yours to keep",)


def test_other_tools_orders_are_not_ours_to_judge(
    make_broker: MakeBroker, book: FakeSpotTrading, settings: CcxtSettings
) -> None:
    book.free["BTC"] = Decimal("0.001")
    other = make_trading_exchange(settings)
    other.load_markets()
    other.create_order(BTC, "limit", "sell", 0.001, 50_000, {"stopLossPrice": "51000",
                                                             "newClientOrderId": "web_123"})
    result = make_broker(start=False).start()
    assert result.ok


def test_an_intent_that_never_reached_the_exchange_is_canceled(
    make_broker: MakeBroker, journal: MemoryJournal
) -> None:
    journal.record_order_intent(Order(BTC, Side.BUY, Decimal(100), client_id=ENTRY_ID))
    result = make_broker(start=False).start()
    assert result.ok
    assert result.notes == (f"order {ENTRY_ID} never reached the exchange; canceled",)
    assert journal.status(ENTRY_ID) is OrderStatus.CANCELED


def test_an_entry_that_filled_before_a_crash_is_adopted_and_protected(
    make_broker: MakeBroker, book: FakeSpotTrading, journal: MemoryJournal,
    settings: CcxtSettings,
) -> None:
    # The intent was journaled and the order filled, then the process died.
    journal.record_order_intent(Order(BTC, Side.BUY, Decimal(100), client_id=ENTRY_ID,
                                      bar_time=T0))
    other = make_trading_exchange(settings)
    other.load_markets()
    other.create_order(BTC, "market", "buy", None, None,
                       {"quoteOrderQty": "100", "newClientOrderId": ENTRY_ID})
    broker = make_broker(start=False)
    result = broker.start()
    assert result.ok
    assert result.notes[0].startswith(f"entry {ENTRY_ID} had filled (0.00165 BTC)")
    assert journal.status(ENTRY_ID) is OrderStatus.FILLED
    assert broker.position(BTC).amount == Decimal("0.00165")
    assert_protected(broker, book)  # start() placed the stop at once
    assert broker.submit(ENTRY, price=60_000.0) == []  # and the decision is not repeated
    assert_no_duplicates(book)


def test_a_stop_accepted_before_a_crash_protects_the_position_again(
    make_broker: MakeBroker, book: FakeSpotTrading, journal: MemoryJournal, state: MemoryState
) -> None:
    first = make_broker()
    first.submit(ENTRY, price=60_000.0)
    # Rewind what the crash lost: the stop's answer never got recorded.
    journal.updates = [u for u in journal.updates if u.client_id != STOP_ID]
    saved = state.load_state("ccxt:binance:testnet:default")
    assert saved is not None
    saved["positions"][BTC].update(stop=None, unprotected_since=T0.isoformat())
    state.save_state("ccxt:binance:testnet:default", saved)
    restarted = make_broker(start=False)
    result = restarted.start()
    assert result.ok
    assert result.notes == (f"stop {STOP_ID} rests on the exchange; it protects BTC/USDT again",)
    assert_protected(restarted, book)
    assert book.posts()[STOP_ID] == 1


def test_a_decision_whose_intent_was_never_sent_goes_out_under_its_retry_id(
    make_broker: MakeBroker, book: FakeSpotTrading, journal: MemoryJournal
) -> None:
    # The intent committed, then the process died before the request left (issue 10, item 1):
    # the restart cancels the attempt, and the loop's pending decision is sent again once,
    # under the next id of the same intent, never refused as a duplicate nor forgotten.
    journal.record_order_intent(Order(BTC, Side.BUY, Decimal(100), client_id=ENTRY_ID,
                                      bar_time=T0))
    broker = make_broker()
    assert journal.status(ENTRY_ID) is OrderStatus.CANCELED
    [fill] = broker.submit(ENTRY, price=60_000.0)
    assert fill.client_id == ENTRY_ID + "1"
    assert journal.status(ENTRY_ID + "1") is OrderStatus.FILLED
    assert broker.submit(ENTRY, price=60_000.0) == []  # executed: never a second buy
    assert book.accepted() == {ENTRY_ID + "1": 1, STOP_ID: 1}
    assert_no_duplicates(book)
    assert_protected(broker, book)


def test_a_manual_buy_is_named_and_is_not_a_loss_of_the_bot(
    make_broker: MakeBroker, book: FakeSpotTrading, settings: CcxtSettings
) -> None:
    # Issue 17, item 5: a manual buy of 30 USDT in the same account made the bot's equity
    # fall by 30 USDT, enough to trip the kill switches.
    broker = make_broker()
    before = broker.equity({BTC: 60_000.0, "ETH/USDT": 3_000.0})
    other = make_trading_exchange(settings)  # the owner, by hand, on the same account
    other.load_markets()
    other.create_order(BTC, "market", "buy", None, None, {"quoteOrderQty": "30"})
    assert broker.equity({BTC: 60_000.0, "ETH/USDT": 3_000.0}) == before
    restarted = make_broker()
    assert restarted.reconciliation is not None
    assert restarted.reconciliation.ok
    assert any(n.startswith("not the bot's: 0.000499") and "BTC in the account" in n
               for n in restarted.reconciliation.notes), restarted.reconciliation.notes
    everything = make_broker(equity_scope="account")  # the whole account, when configured
    assert everything.equity({BTC: 60_000.0, "ETH/USDT": 3_000.0}) == pytest.approx(
        float(book.balance("USDT")) + float(book.balance("BTC")) * 60_000.0)


def test_a_stop_gone_while_the_coins_are_there_is_placed_again_at_start(
    make_broker: MakeBroker, book: FakeSpotTrading, settings: CcxtSettings
) -> None:
    # Found by the testnet crash harness: killed in an exit after the stop's cancel reached
    # the exchange and before the journal knew, the restart refused to trade for good.
    first = make_broker()
    first.submit(ENTRY, price=60_000.0)
    other = make_trading_exchange(settings)
    other.load_markets()
    [stop] = book.open_orders("BTCUSDT")
    other.cancel_order(str(stop["orderId"]), BTC)
    restarted = make_broker()
    result = restarted.reconciliation
    assert result is not None
    assert result.ok, result.differences
    assert f"stop {STOP_ID} of 0.00165 BTC is on the exchange as canceled; a new stop is " \
           "placed at once" in result.notes
    assert_protected(restarted, book)
    assert_no_duplicates(book)


ETH = "ETH/USDT"
ETH_STOP = "tb-ETHUSDT-202405011200-S"


def test_every_symbols_orders_and_stops_are_reconciled(
    make_broker: MakeBroker, book: FakeSpotTrading, fake: FakeBinance, settings: CcxtSettings
) -> None:
    # Issue 14: a basket's start covers each symbol, not only the first one.
    first = make_broker()
    first.submit(ENTRY, price=60_000.0)
    first.submit(Order(ETH, Side.BUY, Decimal(100), bar_time=T0), price=3_000.0)
    fake.clear_log()
    eth_stop = first.position(ETH).stop
    assert eth_stop is not None
    book.set_price("ETHUSDT", str(eth_stop.stop_price))  # it fills while the bot is down
    restarted = make_broker()
    assert restarted.reconciliation is not None
    assert restarted.reconciliation.notes == (
        f"stop {ETH_STOP} filled while the bot was away; ETH/USDT is flat",)
    assert {r.params["symbol"] for r in fake.calls("/api/v3/openOrders")} == {"BTCUSDT",
                                                                              "ETHUSDT"}
    assert restarted.position(BTC).is_open
    assert not restarted.position(ETH).is_open
    assert_protected(restarted, book)
    # An order of ours resting on ETH that the journal does not know blocks trading.
    book.free["ETH"] += Decimal("0.01")
    stray = make_trading_exchange(settings)  # the owner, by hand, on the same account
    stray.load_markets()
    stray.create_order(ETH, "limit", "sell", 0.01, 2_000, {"stopLossPrice": "2100",
                                                          "newClientOrderId": "tb-stray-2"})
    result = make_broker(start=False).start()
    assert result.differences == (
        "the exchange has open order tb-stray-2 (limit sell 0.01 ETH) that the journal does "
        "not know; cancel it on the exchange if it is not yours to keep",)


def test_a_position_of_a_symbol_the_run_does_not_trade_blocks_trading(
    make_broker: MakeBroker, book: FakeSpotTrading
) -> None:
    # Started again without ETH, the bot could neither protect nor sell what it holds there.
    first = make_broker()
    first.submit(Order(ETH, Side.BUY, Decimal(100), bar_time=T0), price=3_000.0)
    held = first.position(ETH).amount
    result = make_broker(start=False, symbols=(BTC,)).start()
    assert result.differences == (
        f"the journal holds {held} with stop {ETH_STOP} in ETH/USDT, which this run does not "
        "trade; start the bot with ETH/USDT among its symbols",)
    assert make_broker(start=False).start().ok  # with ETH back it trades on
