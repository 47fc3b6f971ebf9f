"""Live step latency: from a bar's close to its order reaching the exchange, p50 and p99.

    python bench/live_latency.py [--steps 50] [--warmup 2]

What is timed (issue 10, item 5): ``TradingLoop.step()`` of the testnet loop (ccxt broker,
SQLite journal with FULL sync, FixedScorer so no LLM) against the fake Binance server of the
execution tests, in one process. The clock starts when the step starts, with the bar's candle
already on the exchange; it stops when the entry's ``POST /api/v3/order`` arrives at the fake
server (its request log's receive time, the same ``perf_counter``). In between: the operator
commands query, fetching the new candle (one klines request past the bot's candle cache), the
account's equity, the signals, the risk checks, the decision and its bar committed to the
journal, the broker's price check, the order's intent committed, then the request.

Input: real BTC/USDT 1h bars (BTCUSDT_1h_binance_spot_2022-01-01_2025-05-05.csv), cut at the
last bar whose signal over the loop's window is an entry (the bar before is not). Each sample
is a fresh account (fake exchange book, journal, candle cache) brought up to the bar before by
an untimed step, as a bot that has been running; then the entry bar's step is timed. The
first ``--warmup`` samples are not counted (imports, numba cache).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.clock import SimulatedClock  # noqa: E402
from data.fetcher import make_exchange  # noqa: E402
from data.loader import load_ohlcv  # noqa: E402
from execution.ccxt_broker import CcxtBroker  # noqa: E402
from execution.ccxt_settings import CcxtBrokerConfig, CcxtSettings  # noqa: E402
from journal import Journal  # noqa: E402
from journal.records import RunMode  # noqa: E402
from risk.manager import RiskManager  # noqa: E402
from signals.scorer import FixedScorer  # noqa: E402
from tests.execution.ccxt_fixtures import TESTNET_ENV  # noqa: E402
from tests.fake_binance import FakeBinance  # noqa: E402
from tests.fake_binance_trading import ORDER, FakeSpotTrading  # noqa: E402
from trading import book  # noqa: E402
from trading.alerts import LogAlerter  # noqa: E402
from trading.loop import LoopSettings, TradingLoop  # noqa: E402
from trading.market import ExchangeMarket  # noqa: E402
from trading.setup import StrategySettings  # noqa: E402
from trading.sizing import RollingKelly  # noqa: E402

SOURCE = Path("/work/shared/data/BTCUSDT_1h_binance_spot_2022-01-01_2025-05-05.csv")
SYMBOL, SYMBOL_ID, TIMEFRAME = "BTC/USDT", "BTCUSDT", "1h"


@dataclass(frozen=True)
class Scene:
    """Bars served (up to and with the forming one), the two step times, the last close."""

    bars: pd.DataFrame
    before: pd.Timestamp  # a second after the bar before the entry bar closed
    now: pd.Timestamp  # a second after the entry bar closed
    close: str


def entry_scene(frame: pd.DataFrame, strategy: StrategySettings) -> Scene:
    """The real bars cut at the last closed bar whose signal over the loop's window enters,
    after a bar that did not (so the step before it leaves the account flat)."""
    need = strategy.strategy.warmup_bars + book.CATCH_UP_BARS
    close = frame["close"].to_numpy(dtype=np.float64)

    def enters(i: int) -> bool:
        return bool(strategy.strategy.signal(frame.iloc[i + 1 - need:i + 1])[-1] == 1)

    second = pd.Timedelta(seconds=1)
    for i in range(len(frame) - 2, need + 1, -1):
        if enters(i) and not enters(i - 1):
            return Scene(frame.iloc[:i + 2], frame.index[i] + second,
                         frame.index[i + 1] + second, f"{close[i]:.2f}")
    raise SystemExit("no entry signal in the file")


def one_step(fake: FakeBinance, scene: Scene, strategy: StrategySettings, folder: Path) -> float:
    """A fresh testnet loop brought up to the bar before the entry (untimed, as a running bot
    is), then the timed step of the entry bar: bar close -> order arrival (s)."""
    FakeSpotTrading(fake, balances={"USDT": "10000"}, prices={SYMBOL_ID: scene.close})
    clock = SimulatedClock(scene.before.to_pydatetime())
    fake.clock = clock  # candles are served up to the clock's now
    state = Path(tempfile.mkdtemp(dir=folder))
    settings = CcxtSettings.from_env(TESTNET_ENV, base_url=fake.url, rate_limit=False)
    with Journal(state / "journal.sqlite3", clock=clock) as journal:
        broker = CcxtBroker.connect(settings, journal=journal, state=journal, clock=clock,
                                    config=CcxtBrokerConfig(symbols=(SYMBOL,), fee=strategy.fee))
        broker.start().raise_if_mismatch()
        market = ExchangeMarket(timeframe=TIMEFRAME, clock=clock, exchange_id="binance",
                                exchange=make_exchange("binance", base_url=fake.url),
                                cache_dir=state / "cache")
        journal.record_run(mode=RunMode.TESTNET, strategy_id=strategy.strategy_id(),
                           config=strategy.snapshot())
        r = strategy.risk
        loop = TradingLoop(
            LoopSettings(symbols=(SYMBOL,), timeframe=TIMEFRAME, strategy=strategy.strategy,
                         deferred_fills=False),
            market=market, scorer=FixedScorer(), broker=broker, journal=journal,
            risk=RiskManager(r, strategy.init_cash, clock=clock),
            sizing=RollingKelly(r.max_position_pct, strategy.default_position_pct,
                                strategy.kelly_min_trades),
            clock=clock, alerter=LogAlerter(),
        )
        loop.step()  # the catch-up bars up to the bar before: no order
        clock.set(scene.now.to_pydatetime())
        fake.clear_log()
        start = time.perf_counter()
        done = loop.step()
        posts = [q for q in fake.requests if q.method == "POST" and q.path == ORDER]
    if done != 1 or not posts:
        raise SystemExit(f"the timed step did {done} bars and sent {len(posts)} orders: "
                         "the scene must end in one entry bar")
    return posts[0].received_s - start


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100), linear between the closest ranks."""
    return float(np.percentile(np.asarray(values), q))


def main(argv: list[str] | None = None) -> int:
    """Time ``--steps`` steps and print p50, p99, min and max in milliseconds."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--data", type=Path, default=SOURCE)
    args = parser.parse_args(argv)
    strategy = StrategySettings(timeframe=TIMEFRAME)
    scene = entry_scene(load_ohlcv(args.data), strategy)
    latencies: list[float] = []
    with tempfile.TemporaryDirectory(prefix="live-latency-") as work, \
            FakeBinance(clock=SimulatedClock(scene.now.to_pydatetime())) as fake:
        fake.set_klines(SYMBOL_ID, TIMEFRAME, scene.bars)
        folder = Path(work)
        for n in range(args.warmup + args.steps):
            seconds = one_step(fake, scene, strategy, folder)
            if n >= args.warmup:
                latencies.append(seconds)
    ms = [s * 1000 for s in latencies]
    print(f"live step, bar close -> POST /api/v3/order at the fake exchange "
          f"(testnet loop, FixedScorer); bar closed {scene.now - timedelta(seconds=1)}")
    print(f"steps {len(ms)}  p50 {percentile(ms, 50):.1f} ms  p99 {percentile(ms, 99):.1f} ms  "
          f"min {min(ms):.1f} ms  max {max(ms):.1f} ms  mean {statistics.fmean(ms):.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
