"""The gateway on a non-Binance exchange: lookup by client id through order lists.

A small fake ccxt client (fakes over patches): only the methods the gateway calls.
"""

from __future__ import annotations

from typing import Any

import ccxt
import pytest

from core.clock import SimulatedClock
from core.errors import ExchangeUnavailable, OrderRejected
from execution.breaker import ExchangeBreaker
from execution.gateway import ExchangeGateway, OrderRequest, RetryPolicy
from tests.execution.ccxt_fixtures import Sleeper


class FakeClient:
    """Orders kept in a list; ``create_failures`` raise before (or after) accepting."""

    id = "kraken"
    has = {"fetchClosedOrders": True}  # noqa: RUF012 - mirrors ccxt's class attribute

    def __init__(self) -> None:
        self.orders: list[dict[str, Any]] = []
        self.creates: list[dict[str, Any]] = []
        self.create_failures: list[tuple[Exception, bool]] = []  # (error, accepted first)

    def create_order(self, symbol: str, kind: str, side: str, amount: float | None,
                     price: float | None, params: dict[str, Any]) -> dict[str, Any]:
        self.creates.append(params)
        order = {"id": str(len(self.orders)), "clientOrderId": params["clientOrderId"],
                 "status": "closed", "symbol": symbol}
        if self.create_failures:
            error, accepted = self.create_failures.pop(0)
            if accepted:
                self.orders.append(order)
            raise error
        self.orders.append(order)
        return order

    def fetch_open_orders(self, symbol: str) -> list[dict[str, Any]]:
        return [o for o in self.orders if o["status"] == "open"]

    def fetch_closed_orders(self, symbol: str) -> list[dict[str, Any]]:
        return [o for o in self.orders if o["status"] != "open"]


@pytest.fixture
def client() -> FakeClient:
    return FakeClient()


@pytest.fixture
def gateway(client: FakeClient, clock: SimulatedClock, sleeper: Sleeper) -> ExchangeGateway:
    breaker = ExchangeBreaker(clock=clock)
    return ExchangeGateway(client, clock=clock, breaker=breaker, sleeper=sleeper,
                           policy=RetryPolicy(attempts=3))


REQUEST = OrderRequest("BTC/USD", "market", "buy", 0.001, None, "tb-BTCUSD-202405011200-E")


def test_unified_client_order_id_param_and_lookup_by_listing(
    gateway: ExchangeGateway, client: FakeClient
) -> None:
    client.create_failures = [(ccxt.RequestTimeout("lost answer"), True)]
    order = gateway.place(REQUEST)
    assert order["clientOrderId"] == REQUEST.client_id
    assert len(client.creates) == 1  # found by listing the orders: not sent again
    assert client.creates[0] == {"clientOrderId": REQUEST.client_id}


def test_not_found_after_the_receive_window_is_sent_again(
    gateway: ExchangeGateway, client: FakeClient, sleeper: Sleeper
) -> None:
    client.create_failures = [(ccxt.ExchangeNotAvailable("502"), False)]
    gateway.place(REQUEST)
    assert len(client.creates) == 2
    assert len(client.orders) == 1
    assert sleeper.calls == [6.0]  # 5 s receive window + 1 s margin


def test_rejections_are_not_retried(gateway: ExchangeGateway, client: FakeClient) -> None:
    client.create_failures = [(ccxt.InvalidOrder("bad amount"), False)]
    with pytest.raises(OrderRejected, match="bad amount"):
        gateway.place(REQUEST)
    assert len(client.creates) == 1


def test_reads_are_retried_with_backoff_then_give_up(
    gateway: ExchangeGateway, sleeper: Sleeper
) -> None:
    def down() -> None:
        raise ccxt.RateLimitExceeded("429")

    with pytest.raises(ExchangeUnavailable, match="rate limited"):
        gateway.call("fetch balance", down)
    assert sleeper.calls == [0.5, 1.0]  # three tries, exponential waits between them
    assert gateway.breaker.status.failures == 3
