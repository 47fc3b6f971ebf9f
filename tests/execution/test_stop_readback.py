"""A stop that was placed but could not be read back is not called missing (issue 17)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from core.domain import Order, Side
from tests.execution.ccxt_fixtures import MakeBroker
from tests.fake_binance_trading import ORDER, FakeSpotTrading, TradeFault

T = datetime(2024, 5, 1, 12, tzinfo=UTC)


def test_a_stop_placed_but_not_read_back_is_not_called_missing(
    make_broker: MakeBroker, book: FakeSpotTrading, caplog: pytest.LogCaptureFixture
) -> None:
    # The read-back (GET order) fails three times: the stop rests, but is not yet confirmed.
    broker = make_broker()
    book.script("GET", ORDER, *[TradeFault("http", status=503)] * 3)
    with caplog.at_level(logging.WARNING):
        broker.submit(Order("BTC/USDT", Side.BUY, Decimal(100), bar_time=T), price=60_000.0)
    text = caplog.text
    assert "was placed but could not be read back" in text
    assert "has NO stop" not in text
    assert broker.position("BTC/USDT").stop is not None  # the next try adopted the resting stop
