"""The exchange path end to end: the real ccxt binance client against the fake server."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from core.clock import SimulatedClock
from core.errors import ConfigError, DataError, ExchangeUnavailable
from data.cache import CacheKey, default_cache_dir, read_cache
from data.fetcher import fetch_ohlcv, make_exchange, parse_since
from data.synthetic import synthetic_ohlcv
from tests.data.scenario import HISTORY_START, LATEST_CLOSED
from tests.fake_binance import EXCHANGE_INFO, KLINES, FakeBinance

HOUR = pd.Timedelta(hours=1)
Fetch = Callable[..., pd.DataFrame]


@pytest.fixture
def fetch(exchange: Any, clock: SimulatedClock, cache_dir: Path) -> Fetch:
    """fetch_ohlcv bound to the fake exchange, the simulated clock and a temp cache."""
    return partial(
        fetch_ohlcv, "BTC/USDT", "1h", exchange=exchange, clock=clock, cache_dir=cache_dir
    )


def _ms(stamp: pd.Timestamp) -> str:
    return str(stamp.value // 1_000_000)


def test_load_markets_asks_only_for_spot_exchange_info(
    fetch: Fetch, fake_binance: FakeBinance
) -> None:
    fetch(limit=10)
    paths = [r.path for r in fake_binance.requests]
    assert paths == [EXCHANGE_INFO, KLINES]


def test_latest_bars_page_backwards_in_three_calls(
    fetch: Fetch, fake_binance: FakeBinance, btc_history: pd.DataFrame
) -> None:
    bars = fetch(limit=2500)
    assert len(bars) == 2500
    assert bars.index[-1] == LATEST_CLOSED
    expected = btc_history.loc[:LATEST_CLOSED].iloc[-2500:]
    pd.testing.assert_frame_equal(bars, expected, check_freq=False)
    calls = fake_binance.calls(KLINES)
    assert [c.params["limit"] for c in calls] == ["1000", "1000", "500"]
    assert calls[0].params["endTime"] == _ms(LATEST_CLOSED + HOUR - pd.Timedelta(minutes=30))
    assert all("startTime" not in c.params for c in calls)


def test_since_pages_forward_until_now(fetch: Fetch, fake_binance: FakeBinance) -> None:
    since = pd.Timestamp("2024-01-01", tz="UTC")
    bars = fetch(since="2024-01-01")
    assert bars.index[0] == since
    assert bars.index[-1] == LATEST_CLOSED
    assert len(bars) == (LATEST_CLOSED - since) // HOUR + 1 == 2520
    starts = [c.params["startTime"] for c in fake_binance.calls(KLINES)]
    assert starts == [_ms(since + k * 1000 * HOUR) for k in range(3)]


def test_progress_is_reported_per_page(fetch: Fetch) -> None:
    seen: list[tuple[int, int]] = []
    fetch(since="2024-01-01", progress=lambda done, total: seen.append((done, total)))
    assert seen == [(1000, 2520), (2000, 2520), (2520, 2520)]


def test_since_before_the_listing_starts_at_the_first_bar(
    fetch: Fetch, fake_binance: FakeBinance
) -> None:
    bars = fetch(since="2023-01-01")
    assert bars.index[0] == HISTORY_START
    fake_binance.clear_log()
    assert fetch(since="2023-06-01").index[0] == HISTORY_START
    assert fake_binance.requests == []  # [2023-01-01, first bar) is known to be empty


def test_still_forming_candle_is_dropped(
    fetch: Fetch, fake_binance: FakeBinance, clock: SimulatedClock
) -> None:
    # The fake serves the 00:00 candle (opened 30 minutes ago); it must not come back.
    last_page = fetch(since="2024-04-14")
    assert last_page.index[-1] == LATEST_CLOSED
    clock.set(clock.now() + timedelta(minutes=30))  # 01:00 sharp: 00:00 has just closed
    assert fetch(limit=1).index[-1] == LATEST_CLOSED + HOUR


def test_cache_is_keyed_not_by_limit(
    fetch: Fetch, cache_dir: Path, btc_history: pd.DataFrame
) -> None:
    closed = btc_history.loc[:LATEST_CLOSED]
    for limit in (100, 5000, 100, 2520, 1):
        bars = fetch(limit=limit)
        assert len(bars) == limit
        pd.testing.assert_frame_equal(bars, closed.iloc[-limit:], check_freq=False)
    assert [p.name for p in cache_dir.iterdir()] == ["binance_BTC-USDT_1h.parquet"]


def test_fresh_cache_is_served_without_any_request(
    fake_binance: FakeBinance, clock: SimulatedClock, cache_dir: Path, fetch: Fetch
) -> None:
    first = fetch(limit=300)
    fake_binance.clear_log()
    # A brand-new client: even load_markets would show up in the log.
    again = fetch_ohlcv(
        "BTC/USDT",
        "1h",
        limit=300,
        clock=clock,
        cache_dir=cache_dir,
        exchange=make_exchange(base_url=fake_binance.url, rate_limit=False),
    )
    pd.testing.assert_frame_equal(first, again)
    assert fake_binance.requests == []


def test_refresh_fetches_only_bars_after_the_last_cached_one(
    fetch: Fetch, fake_binance: FakeBinance, clock: SimulatedClock
) -> None:
    fetch(limit=100)
    fake_binance.clear_log()
    clock.set(clock.now() + timedelta(hours=5))
    bars = fetch(limit=100)
    assert bars.index[-1] == LATEST_CLOSED + 5 * HOUR
    assert len(bars) == 100
    calls = fake_binance.calls(KLINES)
    assert len(calls) == 1
    assert calls[0].params["startTime"] == _ms(LATEST_CLOSED + HOUR)


def test_older_since_fetches_only_the_missing_head(fetch: Fetch, fake_binance: FakeBinance) -> None:
    fetch(since="2024-03-01")
    fake_binance.clear_log()
    bars = fetch(since="2024-02-01")
    assert bars.index[0] == pd.Timestamp("2024-02-01", tz="UTC")
    assert bars.index[-1] == LATEST_CLOSED
    assert bars.index.is_unique
    calls = fake_binance.calls(KLINES)
    assert [c.params["startTime"] for c in calls] == [_ms(pd.Timestamp("2024-02-01", tz="UTC"))]


def test_more_bars_than_cached_fetches_the_head_by_count(
    fetch: Fetch, fake_binance: FakeBinance
) -> None:
    fetch(limit=100)
    fake_binance.clear_log()
    assert len(fetch(limit=1100)) == 1100
    calls = fake_binance.calls(KLINES)
    assert [c.params["limit"] for c in calls] == ["1000"]
    oldest_cached = LATEST_CLOSED - 99 * HOUR
    assert calls[0].params["endTime"] == str(int(_ms(oldest_cached)) - 1)


def test_short_listing_returns_what_exists_and_remembers_it(
    fake_binance: FakeBinance, fetch: Fetch
) -> None:
    young = synthetic_ohlcv(300, start="2024-04-02 12:00", seed=3)
    fake_binance.set_klines("BTCUSDT", "1h", young)
    assert len(fetch(limit=1000)) == 300  # the listing is only 300 closed bars old
    fake_binance.clear_log()
    assert len(fetch(limit=1000)) == 300
    assert fake_binance.requests == []  # the cache knows history starts there


def test_exchange_gaps_still_give_exactly_limit_bars(
    fake_binance: FakeBinance, fetch: Fetch
) -> None:
    full = synthetic_ohlcv(3000, start="2024-01-01", seed=5)
    holed = full.drop(full.index[2000:2010])  # a 10-hour exchange outage
    fake_binance.set_klines("BTCUSDT", "1h", holed)
    bars = fetch(limit=1000)
    assert len(bars) == 1000
    assert bars.index[-1] == LATEST_CLOSED


def test_corrupt_cache_is_reported_and_rebuilt(
    fetch: Fetch, cache_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    good = fetch(limit=200)
    path = CacheKey("binance", "BTC/USDT", "1h").path(cache_dir)
    path.write_bytes(b"PAR1 this is not parquet")
    with caplog.at_level(logging.WARNING, logger="data.cache"):
        again = fetch(limit=200)
    pd.testing.assert_frame_equal(good, again)
    assert "unusable" in caplog.text
    assert str(path) in caplog.text
    assert read_cache(CacheKey("binance", "BTC/USDT", "1h"), cache_dir) is not None


@pytest.mark.parametrize("fault", ["http_502", "dropped_connection"])
def test_network_failure_is_exchange_unavailable(
    fetch: Fetch, fake_binance: FakeBinance, clock: SimulatedClock, fault: str
) -> None:
    fetch(limit=50)
    clock.set(clock.now() + timedelta(hours=2))
    if fault == "http_502":
        fake_binance.fail_next(502)
    else:
        fake_binance.drop_next()
    with pytest.raises(ExchangeUnavailable, match=r"^binance is unavailable \(") as info:
        fetch(limit=50)
    assert "\n" not in str(info.value)
    assert info.value.__cause__ is not None  # raised `from` the ccxt error
    if fault == "http_502":
        assert "HTTP 502" in str(info.value)
    assert fetch(limit=50).index[-1] == LATEST_CLOSED + 2 * HOUR  # the cache survived


def test_unreachable_exchange_is_exchange_unavailable(
    clock: SimulatedClock, cache_dir: Path
) -> None:
    with socket.socket() as s:  # a port nobody listens on once the socket is closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exchange = make_exchange(base_url=f"http://127.0.0.1:{port}", rate_limit=False)
    with pytest.raises(ExchangeUnavailable, match="binance is unavailable"):
        fetch_ohlcv(limit=10, exchange=exchange, clock=clock, cache_dir=cache_dir)


def test_unknown_symbol_is_a_data_error(
    fetch: Fetch, exchange: Any, clock: SimulatedClock, cache_dir: Path
) -> None:
    with pytest.raises(DataError, match=r"unknown symbol 'BTC/USDX' on binance; did you mean"):
        fetch_ohlcv("BTC/USDX", limit=10, exchange=exchange, clock=clock, cache_dir=cache_dir)


def test_bad_exchange_data_is_rejected_and_not_cached(
    fake_binance: FakeBinance, fetch: Fetch, cache_dir: Path
) -> None:
    broken = synthetic_ohlcv(3000, start="2024-01-01", seed=5)
    broken.iloc[2500, broken.columns.get_loc("high")] = 1.0  # high below open and close
    fake_binance.set_klines("BTCUSDT", "1h", broken)
    with pytest.raises(DataError) as info:
        fetch(limit=1000)
    assert (info.value.rule, info.value.source) == ("high", "binance BTC/USDT 1h")
    assert not any(cache_dir.glob("*.parquet"))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"since": "2024-13-01"}, "bad date '2024-13-01'"),
        ({"since": "2030-01-01"}, "in the future"),
        ({"limit": 0}, "limit must be a positive"),
        ({"timeframe": "7h"}, "unknown timeframe '7h'; allowed: 1s, 1m"),
    ],
)
def test_bad_arguments_are_config_errors(
    exchange: Any, clock: SimulatedClock, cache_dir: Path, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        fetch_ohlcv(exchange=exchange, clock=clock, cache_dir=cache_dir, **kwargs)


def test_parse_since_accepts_dates_and_aware_datetimes() -> None:
    assert parse_since("2024-01-01") == 1_704_067_200_000
    assert parse_since("2024-01-01T01:00:00+01:00") == 1_704_067_200_000
    assert parse_since(pd.Timestamp("2024-01-01", tz="UTC").to_pydatetime()) == 1_704_067_200_000


def test_default_cache_dir_is_in_the_repo_unless_the_environment_says_otherwise(
    tmp_path: Path,
) -> None:
    assert default_cache_dir({}) == Path(__file__).resolve().parents[2] / "data" / "cache"
    assert default_cache_dir({"TRADINGBOT_CACHE_DIR": str(tmp_path)}) == tmp_path


def test_make_exchange_keeps_api_paths_on_the_new_host() -> None:
    exchange = make_exchange(base_url="http://127.0.0.1:1/")
    assert exchange.urls["api"]["public"] == "http://127.0.0.1:1/api/v3"
    assert exchange.urls["api"]["fapiPublic"] == "http://127.0.0.1:1/fapi/v1"
    with pytest.raises(ConfigError, match="unknown exchange 'nope'"):
        make_exchange("nope")
