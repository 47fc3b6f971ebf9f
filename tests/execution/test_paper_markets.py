"""PaperBroker with a market definition: lot step and minimum notional as on the exchange."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from core.clock import SimulatedClock
from core.domain import Order, OrderStatus, Side
from core.errors import OrderRejected
from data.fetcher import make_exchange
from execution.paper import PaperBroker
from tests.execution.conftest import T0
from tests.execution.fakes import MemoryJournal, MemoryState
from tests.fake_binance import FakeBinance

H = timedelta(hours=1)


@pytest.fixture(scope="module")
def markets() -> Iterator[dict[str, Any]]:
    """Binance spot markets as public market data gives them, saved and read back as JSON."""
    with FakeBinance(clock=SimulatedClock(T0)) as fake:
        client = make_exchange("binance", base_url=fake.url, rate_limit=False)
        yield json.loads(json.dumps(client.load_markets()))


@pytest.fixture
def paper(journal: MemoryJournal, state: MemoryState, clock: SimulatedClock,
          markets: dict[str, Any]) -> PaperBroker:
    return PaperBroker(journal=journal, state=state, clock=clock, markets=markets)


def test_amount_is_truncated_to_the_lot_step(paper: PaperBroker) -> None:
    [fill] = paper.submit(Order("BTC/USDT", Side.BUY, Decimal(100), bar_time=T0),
                          price=60_000.0, at=T0 + H)
    # 100 / 60030 = 0.0016658... -> 0.00166 at the 0.00001 step; the notional follows it.
    assert fill.amount == Decimal("0.00166")
    assert fill.fee == Decimal(repr(0.00166 * 60_030.0 * 0.001))


def test_below_min_notional_is_rejected_with_the_reason(
    paper: PaperBroker, journal: MemoryJournal
) -> None:
    order = Order("BTC/USDT", Side.BUY, Decimal(4), bar_time=T0)
    with pytest.raises(OrderRejected, match=r"below the exchange minimum of 5\.0 USDT"):
        paper.submit(order, price=60_000.0, at=T0 + H)
    assert journal.status("paper-BTCUSDT-202405011200-E") is OrderStatus.REJECTED
    assert paper.cash == 10_000


def test_below_one_lot_step_is_rejected(paper: PaperBroker) -> None:
    order = Order("ETH/USDT", Side.BUY, Decimal("0.2"), bar_time=T0)
    with pytest.raises(OrderRejected, match="rounds to 0"):
        paper.submit(order, price=3_000.0, at=T0 + H)


def test_markets_without_the_symbol_fill_unrounded(paper: PaperBroker) -> None:
    [fill] = paper.submit(Order("SOL/USDT", Side.BUY, Decimal(100), bar_time=T0),
                          price=150.0, at=T0 + H)
    assert fill.amount == Decimal(repr(100 / (150.0 * 1.0005)))
