"""Issue 17: the exchange breaker tracks the endpoints that trade, against the fake exchange.

The broker and the loop's candles (a separate ccxt client) are wired as ``run --testnet``
wires them: market-data outcomes go into the broker's breaker, its close is said once.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from core.clock import SimulatedClock
from core.errors import DataError, ExchangeBanned, ExchangeUnavailable
from data.fetcher import make_exchange
from data.synthetic import synthetic_ohlcv
from execution.breaker import BreakerState, BreakerStatus, ExchangeBreaker
from execution.broker import AlertKind, BrokerAlert
from execution.ccxt_broker import CcxtBroker
from tests.execution.ccxt_fixtures import MakeBroker
from tests.execution.conftest import T0
from tests.fake_binance import FakeBinance
from tests.fake_binance_trading import ACCOUNT, OPEN_ORDERS, ORDER, TIME
from trading.market import ExchangeMarket

BTC = "BTC/USDT"
PRICES = {BTC: 60_000.0, "ETH/USDT": 3_000.0}


class Wired:
    """A started broker, and candles from their own client counted by the broker's breaker."""

    def __init__(self, broker: CcxtBroker, fake: FakeBinance, clock: SimulatedClock,
                 cache: Path) -> None:
        self.broker, self.clock = broker, clock
        self.breaker: ExchangeBreaker = broker.breaker  # as trading/exchange_mode.py wires it
        self.closes: list[BreakerStatus] = []
        self.breaker.watch(on_close=self.closes.append)
        self.market = ExchangeMarket(timeframe="1m", clock=clock,
                                     exchange=make_exchange("binance", base_url=fake.url),
                                     cache_dir=cache, on_outcome=self.breaker.record_outcome)

    def later(self, seconds: float) -> None:
        self.clock.set(self.clock.now() + timedelta(seconds=seconds))

    def candles_fail(self) -> None:
        self.later(60)  # a new 1m bar has closed: the read must reach the exchange
        with pytest.raises(ExchangeUnavailable):
            self.market.closed_bars(BTC, 10)

    @property
    def state(self) -> BreakerState:
        return self.broker.breaker_status.state


@pytest.fixture
def wired(make_broker: MakeBroker, fake: FakeBinance, clock: SimulatedClock,
          tmp_path: Path) -> Wired:
    # 1m bars from 5 h before T0 to 5 h after: the fake shows those opened by its clock.
    fake.set_klines("BTCUSDT", "1m", synthetic_ohlcv(600, timeframe="1m", start_price=60_000.0,
                                                      start=T0 - timedelta(hours=5)))
    # Account-scope equity reads /account each mark: the outage tests use it as the account
    # read (the default bot scope marks from the journal and asks the exchange nothing).
    return Wired(make_broker(equity_scope="account"), fake, clock, tmp_path)


def kinds(alerts: list[BrokerAlert]) -> list[AlertKind]:
    return [a.kind for a in alerts]


def test_a_full_outage_opens_it_after_three_failed_candle_reads_with_one_alert(
    wired: Wired, fake: FakeBinance, alerts: list[BrokerAlert],
) -> None:
    assert len(wired.market.closed_bars(BTC, 10)) == 10
    fake.start_outage(503)  # every endpoint
    wired.candles_fail()
    wired.candles_fail()
    assert (wired.state, wired.broker.breaker_status.failures) == (BreakerState.CLOSED, 2)
    wired.candles_fail()  # the third consecutive failure, market data alone: open
    status = wired.broker.breaker_status
    assert status.state is BreakerState.OPEN
    assert "HTTP 503" in status.reason
    assert kinds(alerts) == [AlertKind.BREAKER_OPEN]
    # The outage goes on for minutes: account reads, candles and probes fail; no new alert.
    for _ in range(5):
        wired.later(61)
        wired.candles_fail()
        with pytest.raises(ExchangeUnavailable):
            wired.broker.equity(PRICES)
        assert wired.broker.probe_health().state is BreakerState.OPEN
    assert kinds(alerts) == [AlertKind.BREAKER_OPEN]
    assert wired.closes == []


def test_an_outage_of_account_and_orders_keeps_it_open_while_time_and_candles_answer(
    wired: Wired, fake: FakeBinance, alerts: list[BrokerAlert],
) -> None:
    fake.start_outage(503, paths={ACCOUNT, ORDER})
    with pytest.raises(ExchangeUnavailable, match=r"HTTP 503, server error"):
        wired.broker.equity(PRICES)  # three tries of /account: open
    assert wired.state is BreakerState.OPEN
    before = len(fake.calls(ACCOUNT))
    for _ in range(5):  # five minutes: the old probe (/api/v3/time) closed it at the first
        wired.later(61)
        assert len(wired.market.closed_bars(BTC, 10)) == 10  # candles answer: no close
        assert wired.broker.probe_health().state is BreakerState.OPEN
    assert len(fake.calls(ACCOUNT)) == before + 5  # each probe read the account
    assert fake.calls(TIME) == []
    assert kinds(alerts) == [AlertKind.BREAKER_OPEN]
    fake.end_outage()
    wired.later(61)
    assert wired.broker.probe_health().state is BreakerState.CLOSED
    assert fake.calls(OPEN_ORDERS)[-1].params.get("symbol") is None  # all markets at once
    assert wired.closes == []  # said once it has held for the hold-down (300 s)
    wired.later(301)
    wired.market.closed_bars(BTC, 10)
    wired.market.closed_bars(BTC, 10)
    assert len(wired.closes) == 1
    assert kinds(alerts) == [AlertKind.BREAKER_OPEN]


def test_a_patchy_outage_alerts_once_and_says_its_close_once(
    wired: Wired, fake: FakeBinance, alerts: list[BrokerAlert],
) -> None:
    for _ in range(3):  # closes, fails again within the hold-down, three times over
        fake.start_outage(502)
        for _ in range(3):
            wired.candles_fail()
        assert wired.state is BreakerState.OPEN
        fake.end_outage()
        wired.later(61)
        assert wired.broker.probe_health().state is BreakerState.CLOSED
        wired.later(30)  # the next failure comes 90 s after the close, it re-opens at 210 s
    assert kinds(alerts) == [AlertKind.BREAKER_OPEN]
    assert wired.closes == []
    wired.later(280)  # 310 s closed: the outage is over, said once
    wired.market.closed_bars(BTC, 10)
    assert len(wired.closes) == 1
    # A new outage after that is new: a second alert.
    fake.start_outage(503)
    for _ in range(3):
        wired.candles_fail()
    assert kinds(alerts) == [AlertKind.BREAKER_OPEN, AlertKind.BREAKER_OPEN]
    assert len(wired.closes) == 1


def test_market_data_bans_and_bad_data_do_not_count(clock: SimulatedClock) -> None:
    breaker = ExchangeBreaker(clock=clock, threshold=1)
    breaker.record_outcome(ExchangeBanned("no requests until 12:02"))
    breaker.record_outcome(DataError("unknown symbol 'BTC/USDX'"))
    breaker.record_outcome(None)
    assert breaker.status.state is BreakerState.CLOSED
    breaker.record_outcome(ExchangeUnavailable("binance is unavailable (HTTP 503)"))
    assert breaker.status.state is BreakerState.OPEN


def test_a_probe_that_raises_without_counting_does_not_close_it(clock: SimulatedClock) -> None:
    breaker = ExchangeBreaker(clock=clock, threshold=1)
    breaker.record_failure("down")

    def banned() -> None:
        raise ExchangeBanned("health probe: not sent, banned until 12:05")

    assert breaker.allow_entry(banned).state is BreakerState.OPEN
    assert breaker.status.reason == "down"


def test_a_5xx_is_named_a_server_error_and_a_drop_a_failed_connection(
    fake: FakeBinance,
) -> None:
    from execution.errors import translate

    client = make_exchange("binance", base_url=fake.url)
    words = []
    fake.fail_next(503, path=TIME)
    fake.drop_next(path=TIME)
    for _ in range(2):
        try:
            client.fetch_time()
        except Exception as e:  # the ccxt error, translated as the gateway does
            words.append(str(translate(e, what="t")).rsplit("(", 1)[-1])
    assert words == ["HTTP 503, server error)", "connection failed)"]
