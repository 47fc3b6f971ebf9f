"""bench/live_latency.py: its timed step is one bar that sends its entry to the fake exchange."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.live_latency import SYMBOL_ID, TIMEFRAME, entry_scene, one_step, percentile
from core.clock import SimulatedClock
from data.synthetic import synthetic_ohlcv
from tests.fake_binance import FakeBinance
from tests.fake_binance_trading import ORDER
from trading.setup import StrategySettings


def test_the_timed_step_ends_at_the_entry_order_reaching_the_exchange(tmp_path: Path) -> None:
    strategy = StrategySettings(timeframe=TIMEFRAME)
    bars = synthetic_ohlcv(1200, start_price=60_000.0, volatility=0.004, drift=0.0004, seed=3)
    scene = entry_scene(bars, strategy)
    assert scene.before < scene.now <= bars.index[-1] + (bars.index[1] - bars.index[0])
    with FakeBinance(clock=SimulatedClock(scene.now.to_pydatetime())) as fake:
        fake.set_klines(SYMBOL_ID, TIMEFRAME, scene.bars)
        latencies = [one_step(fake, scene, strategy, tmp_path) for _ in range(2)]
        requests = fake.requests
    assert all(s > 0 for s in latencies)
    # The log keeps arrival order and the receive times follow it; the entry went first.
    times = [r.received_s for r in requests]
    assert times == sorted(times)
    posts = [r for r in requests if r.method == "POST" and r.path == ORDER]
    assert posts[0].params["side"] == "BUY"


def test_percentiles_are_numpy_linear_ones() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == pytest.approx(2.5)
    assert percentile([float(v) for v in range(101)], 99) == pytest.approx(99.0)
