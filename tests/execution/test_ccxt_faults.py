"""Fault scripts against the fake exchange: never a duplicate order, never a naked position.

Every script ends with the same two checks: the exchange accepted each client id at most once
(``assert_no_duplicates``) and every open position has its stop resting on the exchange
(``assert_protected``). POSTs per client id are counted from the fake's request log.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal

import pytest

from core.clock import SimulatedClock
from core.domain import Bar, Order, OrderKind, OrderStatus, Side
from core.errors import ExchangeBanned, ExchangeUnavailable, InsufficientFunds, OrderRejected
from execution.ccxt_broker import CcxtBroker
from execution.ccxt_settings import CcxtSettings, make_trading_exchange
from tests.execution.ccxt_fixtures import (
    API_KEY,
    API_SECRET,
    MakeBroker,
    Sleeper,
    assert_no_duplicates,
    assert_protected,
    posts,
)
from tests.execution.conftest import T0
from tests.execution.fakes import MemoryJournal
from tests.fake_binance import FakeBinance
from tests.fake_binance_trading import ORDER, FakeSpotTrading, TradeFault

BTC = "BTC/USDT"
ENTRY_ID, STOP_ID = "tb-BTCUSDT-202405011200-E", "tb-BTCUSDT-202405011200-S"
ENTRY = Order(BTC, Side.BUY, Decimal(100), bar_time=T0)


def check(broker: CcxtBroker, book: FakeSpotTrading) -> None:
    assert_no_duplicates(book)
    assert_protected(broker, book)


def lookups(fake: FakeBinance) -> list[str]:
    return [r.params.get("origClientOrderId", "") for r in fake.calls(ORDER) if r.method == "GET"]


@pytest.mark.parametrize(
    "fault",
    [
        TradeFault("http", status=429),  # rate limited
        TradeFault("http", status=418),  # IP banned for a while
        TradeFault("http", status=502),  # the CDN in front of the API failed
        TradeFault("timeout"),  # no answer within ccxt's timeout, nothing was created
    ],
    ids=["429", "418", "502", "read-timeout"],
)
def test_a_failed_create_is_looked_up_then_sent_once_more(
    fault: TradeFault, broker: CcxtBroker, book: FakeSpotTrading, fake: FakeBinance,
    sleeper: Sleeper, journal: MemoryJournal,
) -> None:
    book.script("POST", ORDER, fault)
    [fill] = broker.submit(ENTRY, price=60_000.0)
    assert fill.client_id == ENTRY_ID
    assert posts(book, ENTRY_ID) == 2  # the failed one (nothing created) and the resend
    assert book.accepted()[ENTRY_ID] == 1
    # Before the resend: looked up, waited out the receive window (5 s + 1 s), looked again.
    assert lookups(fake)[:2] == [ENTRY_ID, ENTRY_ID]
    assert sleeper.calls[0] == pytest.approx(6.0, abs=0.5)
    assert journal.status(ENTRY_ID) is OrderStatus.FILLED
    assert broker.breaker_status.failures == 0  # the success reset the count
    check(broker, book)


def test_a_create_that_timed_out_after_acceptance_is_found_not_resent(
    broker: CcxtBroker, book: FakeSpotTrading, fake: FakeBinance, sleeper: Sleeper
) -> None:
    book.script("POST", ORDER, TradeFault("accept_then_timeout"))
    [fill] = broker.submit(ENTRY, price=60_000.0)
    assert fill.amount == Decimal("0.00166")
    assert posts(book, ENTRY_ID) == 1
    assert lookups(fake)[0] == ENTRY_ID
    assert sleeper.calls == []  # found at once: no waiting, no resend
    check(broker, book)


def test_a_stop_that_timed_out_after_acceptance_is_found_not_resent(
    broker: CcxtBroker, book: FakeSpotTrading
) -> None:
    broker.submit(ENTRY, price=60_000.0)
    broker.cancel_all(BTC)  # drop the stop so the watchdog places the next one
    book.script("POST", ORDER, TradeFault("accept_then_timeout"))
    broker.check_protection()
    assert posts(book, STOP_ID + "1") == 1
    check(broker, book)


def test_an_unknown_outcome_is_resolved_by_the_retry_of_the_same_decision(
    broker: CcxtBroker, book: FakeSpotTrading, fake: FakeBinance, journal: MemoryJournal
) -> None:
    # Accepted, the answer lost, and every lookup fails too: the outcome is unknown.
    book.script("POST", ORDER, TradeFault("accept_then_timeout"))
    book.script("GET", ORDER, *[TradeFault("http", status=502)] * 3)
    with pytest.raises(ExchangeUnavailable, match="look up order"):
        broker.submit(ENTRY, price=60_000.0)
    assert journal.status(ENTRY_ID) is OrderStatus.UNKNOWN
    assert not broker.position(BTC).is_open
    # The loop retries the same decision: it is looked up first, found, never resent.
    [fill] = broker.submit(ENTRY, price=60_000.0)
    assert fill.client_id == ENTRY_ID
    assert posts(book, ENTRY_ID) == 1
    assert len(journal.intents) == 2  # the entry once, then its stop
    check(broker, book)


def test_insufficient_balance_is_recorded_and_not_retried(
    broker: CcxtBroker, book: FakeSpotTrading, journal: MemoryJournal
) -> None:
    big = Order(BTC, Side.BUY, Decimal(20_000), bar_time=T0)
    with pytest.raises(InsufficientFunds, match="insufficient balance"):
        broker.submit(big, price=60_000.0)
    assert posts(book, ENTRY_ID) == 1
    update = journal.latest(ENTRY_ID)
    assert update is not None
    assert update.status is OrderStatus.REJECTED
    assert "insufficient balance" in update.detail
    assert not broker.position(BTC).is_open
    check(broker, book)


def test_an_exchange_notional_refusal_is_recorded_and_not_retried(
    broker: CcxtBroker, book: FakeSpotTrading, journal: MemoryJournal
) -> None:
    # The filters changed on the exchange after load_markets: -1013 from the server.
    book.script("POST", ORDER, TradeFault("error", code=-1013, msg="Filter failure: NOTIONAL"))
    with pytest.raises(OrderRejected, match="NOTIONAL"):
        broker.submit(ENTRY, price=60_000.0)
    assert posts(book, ENTRY_ID) == 1
    assert journal.status(ENTRY_ID) is OrderStatus.REJECTED
    check(broker, book)


def test_an_exit_whose_stop_the_exchange_does_not_know_still_sells(
    broker: CcxtBroker, book: FakeSpotTrading, fake: FakeBinance
) -> None:
    broker.submit(ENTRY, price=60_000.0)
    stop = book.orders.pop()  # gone from the exchange without a trace: -2011, then -2013
    book.locked["BTC"] -= Decimal(stop["origQty"])
    book.free["BTC"] += Decimal(stop["origQty"])
    exit_ = Order(BTC, Side.SELL, Decimal(0), kind=OrderKind.EXIT, bar_time=T0)
    [sell] = broker.submit(exit_)
    assert sell.amount == Decimal("0.00165")
    assert any(r.method == "DELETE" for r in fake.calls(ORDER))
    check(broker, book)


def test_a_duplicate_client_id_answer_adopts_the_existing_order(
    broker: CcxtBroker, book: FakeSpotTrading, settings: CcxtSettings
) -> None:
    # Another instance of the bot (same prefix, same decision) got its stop in first.
    book.free["BTC"] = Decimal("0.00165")
    other = make_trading_exchange(settings)
    other.load_markets()
    other.create_order(BTC, "limit", "sell", 0.00165, 58_804.5,
                       {"stopLossPrice": "59100", "newClientOrderId": STOP_ID})
    broker.submit(ENTRY, price=60_000.0)
    assert posts(book, STOP_ID) == 2  # theirs and ours, answered -2010 "Duplicate order sent."
    assert book.accepted()[STOP_ID] == 1
    assert broker.open_stops(BTC)[0].client_id == STOP_ID
    check(broker, book)


def test_create_is_abandoned_after_its_attempts_and_said_unknown(
    broker: CcxtBroker, book: FakeSpotTrading, journal: MemoryJournal
) -> None:
    book.script("POST", ORDER, *[TradeFault("http", status=503)] * 3)
    with pytest.raises(ExchangeUnavailable, match="not created after 3 attempts"):
        broker.submit(ENTRY, price=60_000.0)
    assert posts(book, ENTRY_ID) == 3
    assert book.accepted()[ENTRY_ID] == 0
    assert journal.status(ENTRY_ID) is OrderStatus.UNKNOWN
    check(broker, book)


def test_make_broker_fixture_is_clean(make_broker: MakeBroker) -> None:
    assert make_broker().breaker_status.failures == 0


def test_keys_never_reach_a_log_line_an_error_or_a_repr(
    make_broker: MakeBroker, book: FakeSpotTrading, journal: MemoryJournal,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    broker = make_broker()
    # A 502, then an authentication refusal whose text quotes the key (some exchanges do).
    book.script("POST", ORDER, TradeFault("http", status=502), TradeFault(
        "error", status=401, code=-2014, msg=f"API-key format invalid: {API_KEY}"))
    with pytest.raises(OrderRejected, match="authentication refused") as refused:
        broker.submit(ENTRY, price=60_000.0)
    update = journal.latest(ENTRY_ID)
    assert update is not None
    assert update.status is OrderStatus.REJECTED
    assert "***" in update.detail
    shown = caplog.text + str(refused.value) + update.detail + repr(broker) + str(broker)
    for secret in (API_KEY, API_SECRET):
        assert secret not in shown
    assert "'X-MBX-APIKEY': '***'" in caplog.text  # ccxt logs request headers at DEBUG
    assert posts(book, ENTRY_ID) == 2  # the 502 was looked up and resent once; -2014 is final


def test_a_resumed_order_is_looked_up_even_when_its_pre_check_would_now_fail(
    broker: CcxtBroker, book: FakeSpotTrading, journal: MemoryJournal
) -> None:
    book.script("POST", ORDER, TradeFault("accept_then_timeout"))
    book.script("GET", ORDER, *[TradeFault("http", status=502)] * 3)
    with pytest.raises(ExchangeUnavailable):
        broker.submit(ENTRY, price=60_000.0)
    # By the retry 100 USDT no longer buy one lot: a fresh entry would be refused, but this
    # one may already exist, so it is looked up, found, and its position protected.
    [fill] = broker.submit(ENTRY, price=60_000_000.0)
    assert fill.client_id == ENTRY_ID
    assert journal.status(ENTRY_ID) is OrderStatus.FILLED
    assert posts(book, ENTRY_ID) == 1
    check(broker, book)


@pytest.mark.parametrize(
    ("fault", "ban_s"),
    [
        (TradeFault("http", status=418, retry_after="120"), 120),
        (TradeFault("http", status=429, retry_after="30"), 30),
    ],
    ids=["418-retry-after-120", "429-retry-after-30"],
)
def test_a_ban_is_waited_out_without_a_single_request(
    fault: TradeFault, ban_s: int, broker: CcxtBroker, book: FakeSpotTrading,
    fake: FakeBinance, clock: SimulatedClock,
) -> None:
    # Issue 17, item 4: retrying 6-20 s into an advertised ban lengthens a real IP ban.
    book.script("POST", ORDER, fault)
    with pytest.raises(ExchangeBanned, match=r"until 2024-05-01 12:0"):
        broker.submit(ENTRY, price=60_000.0)
    sent = len(fake.requests)
    clock.set(clock.now() + timedelta(seconds=ban_s - 1))
    for _ in range(3):  # the next bar's poll, a probe, a resubmission: none reach the exchange
        with pytest.raises(ExchangeBanned):
            broker.submit(ENTRY, price=60_000.0)
    assert broker.on_bar(Bar(BTC, clock.now(), 1.0, 1.0, 1.0, 1.0)) == []  # flat: no request
    assert len(fake.requests) == sent  # requests sent during the ban: 0
    assert broker.breaker_status.failures == 0  # a ban is not the exchange failing
    clock.set(clock.now() + timedelta(seconds=2))
    [fill] = broker.submit(ENTRY, price=60_000.0)  # looked up (not there), then sent once
    assert book.accepted()[fill.client_id] == 1
    check(broker, book)
