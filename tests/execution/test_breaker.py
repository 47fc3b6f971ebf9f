"""The exchange circuit breaker, alone and inside the broker against the fake exchange."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from core.clock import SimulatedClock
from core.domain import Order, OrderKind, Side
from core.errors import ExchangeUnavailable
from execution.breaker import BreakerState, BreakerStatus, ExchangeBreaker
from execution.broker import AlertKind, BrokerAlert
from execution.errors import BreakerOpen
from tests.execution.ccxt_fixtures import MakeBroker, assert_no_duplicates
from tests.execution.conftest import T0
from tests.fake_binance_trading import ACCOUNT, TICKER_24H, FakeSpotTrading, TradeFault

H = timedelta(hours=1)
BTC = "BTC/USDT"


def broken(reason: str = "x") -> ExchangeUnavailable:
    return ExchangeUnavailable(reason)


class Probe:
    def __init__(self, breaker: ExchangeBreaker, ok: bool) -> None:
        self.breaker, self.ok, self.calls = breaker, ok, 0

    def __call__(self) -> None:
        self.calls += 1
        if self.ok:
            self.breaker.record_success()
            return
        self.breaker.record_failure("probe failed")
        raise broken("probe failed")


def test_opens_after_threshold_consecutive_failures(clock: SimulatedClock) -> None:
    opened: list[BreakerStatus] = []
    breaker = ExchangeBreaker(clock=clock, threshold=3, on_open=opened.append)
    breaker.record_failure("a")
    breaker.record_failure("b")
    assert breaker.status.state is BreakerState.CLOSED
    assert breaker.status.failures == 2
    clock.set(T0 + timedelta(seconds=5))
    breaker.record_failure("HTTP 502")
    status = breaker.status
    assert (status.state, status.reason, status.since, status.failures) == (
        BreakerState.OPEN, "HTTP 502", T0 + timedelta(seconds=5), 3)
    assert not status.allows_entries
    assert opened == [status]


def test_a_success_restarts_the_count(clock: SimulatedClock) -> None:
    breaker = ExchangeBreaker(clock=clock, threshold=3)
    for _ in range(2):
        breaker.record_failure("a")
    breaker.record_success()
    breaker.record_failure("b")
    breaker.record_failure("c")
    assert breaker.status.state is BreakerState.CLOSED


def test_probes_when_due_and_closes_only_on_success(clock: SimulatedClock) -> None:
    opened: list[BreakerStatus] = []
    breaker = ExchangeBreaker(clock=clock, threshold=1, probe_interval_s=60, on_open=opened.append)
    breaker.record_failure("down")
    failing = Probe(breaker, ok=False)
    assert breaker.allow_entry(failing).state is BreakerState.OPEN
    assert failing.calls == 1
    assert breaker.status.since == T0  # still open since it first opened
    assert len(opened) == 1  # a failed probe is no new alert
    clock.set(T0 + timedelta(seconds=30))
    assert breaker.allow_entry(failing).state is BreakerState.OPEN
    assert failing.calls == 1  # not due yet: no probe
    clock.set(T0 + timedelta(seconds=61))
    assert breaker.allow_entry(Probe(breaker, ok=True)).state is BreakerState.CLOSED
    assert breaker.status.failures == 0


def test_broker_stops_entries_until_the_probe_heals_it(
    make_broker: MakeBroker, book: FakeSpotTrading, clock: SimulatedClock,
    alerts: list[BrokerAlert],
) -> None:
    broker = make_broker()
    broker.submit(Order(BTC, Side.BUY, Decimal(100), bar_time=T0), price=60_000.0)
    # Three failed requests in a row (the ticker, with its retries) open the breaker.
    book.script("GET", TICKER_24H, *[TradeFault("http", status=502)] * 3)
    eth = Order("ETH/USDT", Side.BUY, Decimal(50), bar_time=T0 + H)
    with pytest.raises(ExchangeUnavailable, match="HTTP 502"):
        broker.submit(eth)  # no price given: the ticker is the pre-check's reference
    status = broker.breaker_status
    assert status.state is BreakerState.OPEN
    assert "fetch ticker" in status.reason
    assert [a.kind for a in alerts] == [AlertKind.BREAKER_OPEN]
    # While open, the health probe (the account first) fails too: entries are refused.
    book.script("GET", ACCOUNT, TradeFault("http", status=503))
    with pytest.raises(BreakerOpen, match="no new entries until a health probe succeeds"):
        broker.submit(eth, price=3000.0)
    assert book.posts()["tb-ETHUSDT-202405011300-E"] == 0
    # Exits still go out: they reduce risk.
    [sell] = broker.submit(Order(BTC, Side.SELL, Decimal(0), kind=OrderKind.EXIT,
                                 bar_time=T0 + H))
    assert sell.kind is OrderKind.EXIT
    with pytest.raises(BreakerOpen):  # a success elsewhere does not replace the probe
        broker.submit(eth, price=3000.0)
    assert broker.probe_health().state is BreakerState.OPEN  # not due: still open, no probe
    clock.set(clock.now() + timedelta(seconds=61))
    assert broker.probe_health().state is BreakerState.CLOSED  # the loop may probe each poll
    [fill] = broker.submit(eth, price=3000.0)
    assert fill.symbol == "ETH/USDT"
    assert broker.breaker_status.state is BreakerState.CLOSED
    assert_no_duplicates(book)
