"""Execution: the Broker port, PaperBroker (default) and CcxtBroker (testnet / live).

Only this package (and data/fetcher.py) imports ccxt, and lazily, so paper trading and
backtests never load it. See broker.py for the port and the per-bar call order.
"""

from execution.breaker import BreakerState, BreakerStatus
from execution.broker import (
    AlertKind,
    Broker,
    BrokerAlert,
    Position,
    ProtectiveStop,
    Reconciliation,
    ReconciliationError,
)
from execution.ccxt_broker import CcxtBroker
from execution.ccxt_settings import CcxtBrokerConfig, CcxtSettings, make_trading_exchange
from execution.client_ids import client_order_id
from execution.errors import BreakerOpen, DuplicateOrder
from execution.gateway import RetryPolicy
from execution.paper import PaperBroker, PaperConfig

__all__ = [
    "AlertKind",
    "BreakerOpen",
    "BreakerState",
    "BreakerStatus",
    "Broker",
    "BrokerAlert",
    "CcxtBroker",
    "CcxtBrokerConfig",
    "CcxtSettings",
    "DuplicateOrder",
    "PaperBroker",
    "PaperConfig",
    "Position",
    "ProtectiveStop",
    "Reconciliation",
    "ReconciliationError",
    "RetryPolicy",
    "client_order_id",
    "make_trading_exchange",
]
