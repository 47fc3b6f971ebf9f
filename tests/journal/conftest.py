"""Helpers for the journal tests: a journal on a simulated clock, bar times, orders and fills."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from core.clock import SimulatedClock
from core.domain import Fill, Order, OrderKind, Side
from journal import Journal

REPO_ROOT = Path(__file__).resolve().parents[2]


def utc(day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A time in January 2024, UTC."""
    return datetime(2024, 1, day, hour, minute, tzinfo=UTC)


def order(client_id: str, side: Side = Side.BUY, *, kind: OrderKind = OrderKind.ENTRY,
          symbol: str = "BTC/USDT") -> Order:
    """An order as a broker would record it before sending."""
    return Order(symbol, side, Decimal("100.00"), client_id=client_id, kind=kind,
                 bar_time=utc(1), reason="signal 1")


def fill(client_id: str, side: Side, amount: str, price: str, fee: str = "0", *,
         at: datetime, fee_asset: str = "USDT", symbol: str = "BTC/USDT",
         kind: OrderKind = OrderKind.ENTRY) -> Fill:
    """A fill with exact amounts given as text."""
    return Fill(client_id, symbol, side, Decimal(amount), Decimal(price), Decimal(fee),
                fee_asset, at, exchange_id=f"x-{client_id}", kind=kind)


def run_python(code: str, *args: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter (another process, as the operator's commands are)."""
    return subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", textwrap.dedent(code), *args],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout, check=False,
    )


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(utc(1))


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "journal.sqlite3"


@pytest.fixture
def journal(db_path: Path, clock: SimulatedClock) -> Iterator[Journal]:
    with Journal(db_path, clock=clock) as j:
        yield j
