"""Deterministic client order ids within Binance's allowed set."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from core.domain import OrderKind
from core.errors import ConfigError
from execution.client_ids import ALLOWED, client_order_id, is_ours

BAR = datetime(2024, 5, 1, 13, 0, tzinfo=UTC)


def test_format_is_readable_and_deterministic() -> None:
    cid = client_order_id("tb", "BTC/USDT", BAR, OrderKind.ENTRY)
    assert cid == "tb-BTCUSDT-202405011300-E"
    assert cid == client_order_id("tb", "BTC/USDT", BAR, OrderKind.ENTRY)
    assert client_order_id("tb", "BTC/USDT", BAR, OrderKind.STOP, 2) == "tb-BTCUSDT-202405011300-S2"
    assert client_order_id("tb", "BTC/USDT", BAR, OrderKind.EXIT) == "tb-BTCUSDT-202405011300-X"


def test_the_same_instant_in_another_zone_gives_the_same_id() -> None:
    cet = BAR.astimezone(timezone(timedelta(hours=2)))
    assert client_order_id("tb", "BTC/USDT", cet, OrderKind.ENTRY) == client_order_id(
        "tb", "BTC/USDT", BAR, OrderKind.ENTRY)


def test_decision_bar_kind_and_symbol_all_change_the_id() -> None:
    ids = {
        client_order_id("tb", s, BAR + timedelta(hours=h), k)
        for s in ("BTC/USDT", "ETH/USDT") for h in (0, 1) for k in OrderKind
    }
    assert len(ids) == 2 * 2 * 3


@pytest.mark.parametrize("symbol", ["1000SATS/USDT", "BROCCOLI714/FDUSD", "X" * 40 + "/USDT"])
def test_long_symbols_are_shortened_with_a_hash(symbol: str) -> None:
    cid = client_order_id("longpref", symbol, BAR, OrderKind.STOP, 999)
    assert len(cid) <= 36
    assert ALLOWED.match(cid)
    other = client_order_id("longpref", symbol + "X", BAR, OrderKind.STOP, 999)
    assert cid != other


def test_prefix_and_time_are_checked() -> None:
    with pytest.raises(ConfigError, match="prefix"):
        client_order_id("bad-prefix", "BTC/USDT", BAR, OrderKind.ENTRY)
    with pytest.raises(ValueError, match="timezone-aware"):
        client_order_id("tb", "BTC/USDT", BAR.replace(tzinfo=None), OrderKind.ENTRY)


def test_is_ours() -> None:
    assert is_ours("tb-BTCUSDT-202405011300-E", "tb")
    assert not is_ours("tbx-BTCUSDT-202405011300-E", "tb")
    assert not is_ours("x-R4BD3S82abc", "tb")
