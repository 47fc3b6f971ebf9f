"""Fixtures for the ccxt broker: the fake Binance with trading routes and a broker on it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest

from core.clock import SimulatedClock
from execution.broker import BrokerAlert
from execution.ccxt_broker import CcxtBroker, CcxtBrokerConfig
from execution.ccxt_settings import CcxtSettings
from tests.execution.fakes import MemoryJournal, MemoryState
from tests.fake_binance import FakeBinance
from tests.fake_binance_trading import FakeSpotTrading

# Recognisable fake credentials: tests grep logs and reprs for them.
API_KEY = "tk-TESTKEY-4f1c9a7e2b"
API_SECRET = "ts-TESTSECRET-88d0c3b1aa"  # noqa: S105 - a fake, for redaction tests
TESTNET_ENV = {"BINANCE_TESTNET_API_KEY": API_KEY, "BINANCE_TESTNET_API_SECRET": API_SECRET}
CLIENT_TIMEOUT_MS = 300  # the fake's read-timeout faults sleep just beyond it


class Sleeper:
    """Records requested sleeps and moves the simulated clock instead of sleeping."""

    def __init__(self, clock: SimulatedClock) -> None:
        self.clock = clock
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        from datetime import timedelta

        self.calls.append(seconds)
        self.clock.set(self.clock.now() + timedelta(seconds=seconds))


@pytest.fixture
def sleeper(clock: SimulatedClock) -> Sleeper:
    return Sleeper(clock)


@pytest.fixture
def alerts() -> list[BrokerAlert]:
    return []


@pytest.fixture
def fake(clock: SimulatedClock) -> Iterator[FakeBinance]:
    with FakeBinance(clock=clock) as server:
        yield server


@pytest.fixture
def book(fake: FakeBinance) -> FakeSpotTrading:
    """The fake exchange's account: 10,000 USDT, BTC at 60,000 and ETH at 3,000."""
    return FakeSpotTrading(fake, balances={"USDT": "10000"},
                           prices={"BTCUSDT": "60000", "ETHUSDT": "3000"})


@pytest.fixture
def settings(fake: FakeBinance) -> CcxtSettings:
    return CcxtSettings.from_env(TESTNET_ENV, timeout_ms=CLIENT_TIMEOUT_MS, base_url=fake.url,
                                 rate_limit=False)


MakeBroker = Callable[..., CcxtBroker]


@pytest.fixture
def make_broker(
    settings: CcxtSettings, book: FakeSpotTrading, journal: MemoryJournal, state: MemoryState,
    clock: SimulatedClock, sleeper: Sleeper, alerts: list[BrokerAlert],
) -> MakeBroker:
    """A started CcxtBroker on the fake (config overrides as keyword arguments)."""

    def make(start: bool = True, **overrides: Any) -> CcxtBroker:
        config = CcxtBrokerConfig(**{"symbols": ("BTC/USDT", "ETH/USDT"), **overrides})
        broker = CcxtBroker.connect(settings, journal=journal, state=state, clock=clock,
                                    config=config, sleeper=sleeper, on_alert=alerts.append)
        if start:
            broker.start().raise_if_mismatch()
        return broker

    return make


@pytest.fixture
def broker(make_broker: MakeBroker) -> CcxtBroker:
    return make_broker()


def assert_no_duplicates(book: FakeSpotTrading) -> None:
    """Every client id was accepted by the exchange at most once."""
    doubled = {cid: n for cid, n in book.accepted().items() if n > 1}
    assert doubled == {}, f"duplicate orders on the exchange: {doubled}"


def posts(book: FakeSpotTrading, cid: str) -> int:
    """POST /api/v3/order requests that carried ``cid``."""
    return book.posts()[cid]




def assert_protected(broker: CcxtBroker, book: FakeSpotTrading) -> None:
    """Every open position of the broker has its stop resting on the exchange, for its amount."""
    for symbol in broker.config.symbols:
        pos = broker.position(symbol)
        if not pos.is_open:
            continue
        assert pos.stop is not None, f"{symbol} has no confirmed stop"
        resting = [o for o in book.open_orders(symbol.replace("/", ""))
                   if o["clientOrderId"] == pos.stop.client_id]
        assert len(resting) == 1, f"{symbol}: stop {pos.stop.client_id} is not on the exchange"
        assert Decimal(resting[0]["origQty"]) == pos.amount
