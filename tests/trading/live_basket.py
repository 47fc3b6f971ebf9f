"""A two-symbol live account on the fake Binance: BTC/USDT and ETH/USDT hourly bars whose
signals line up as a test needs, saved evidence and paper days per symbol, and the fake
exchange moved from bar to bar. Shared by the in-process tests and the crash test."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from core.clock import SimulatedClock, SystemClock
from core.paths import journal_path
from data.synthetic import synthetic_ohlcv
from journal import Journal
from journal.records import Action, DecisionRecord, RunMode
from risk.backtest_store import default_results_path, save_backtest_results
from risk.saved_backtest import DataRange, GateResult, KellyInputs, SavedBacktest
from signals.quant_signals import SignalParams, signal_array
from tests.conftest import REPO_ROOT
from tests.execution.ccxt_fixtures import API_KEY, API_SECRET
from tests.fake_binance import FakeBinance
from tests.fake_binance_trading import FakeSpotTrading
from trading.setup import StrategySettings

BTC, ETH = "BTC/USDT", "ETH/USDT"
SYMBOLS = f"{BTC},{ETH}"
IDS = {BTC: "BTCUSDT", ETH: "ETHUSDT"}
T0 = datetime(2024, 1, 1, tzinfo=UTC)
N_BARS = 560
FIRST = 450  # the first bar a test trades on: the live window (412 bars) fits before it
STOP_LOSS = 0.015  # RiskConfig's default stop distance


@dataclass(frozen=True)
class Basket:
    """Aligned hourly bars of both markets."""

    bars: dict[str, pd.DataFrame]

    def signals(self, symbol: str) -> np.ndarray:
        """The seed strategy's signal of each bar of ``symbol``."""
        return signal_array(self.bars[symbol]["close"].to_numpy(), SignalParams())

    def close(self, symbol: str, i: int) -> str:
        """The close of bar ``i`` as the fake's price text."""
        return f"{self.bars[symbol]['close'].iloc[i]:.2f}"


def _market(seed: int, price: float) -> pd.DataFrame:
    return synthetic_ohlcv(N_BARS, start=T0, seed=seed, start_price=price, volatility=0.004,
                           drift=0.0002)


def find_basket(wanted: Callable[[Basket], tuple[int, ...] | None]
                ) -> tuple[Basket, tuple[int, ...]]:
    """The first pair of seeds whose bars give ``wanted`` its bar numbers (deterministic)."""
    btc = {s: _market(s, 60_000.0) for s in range(40)}
    for eth_seed in range(100, 140):
        eth = _market(eth_seed, 3_000.0)
        for btc_bars in btc.values():
            basket = Basket({BTC: btc_bars, ETH: eth})
            found = wanted(basket)
            if found is not None:
                return basket, found
    raise AssertionError("no seeds give the bars the test needs")


def both_enter(basket: Basket) -> tuple[int, ...] | None:
    """A bar where both markets have an entry signal."""
    btc, eth = basket.signals(BTC), basket.signals(ETH)
    return next(((i,) for i in range(FIRST, FIRST + 90) if btc[i] == 1 and eth[i] == 1), None)


def eth_exits_as_btc_enters(basket: Basket) -> tuple[int, ...] | None:
    """Bar i: ETH enters, BTC does not; bar j: ETH's exit signal and BTC's entry signal, the
    ETH stop not reached by then."""
    btc, eth = basket.signals(BTC), basket.signals(ETH)
    closes = basket.bars[ETH]["close"].to_numpy()
    for i in range(FIRST, FIRST + 60):
        if eth[i] != 1 or btc[i] == 1:
            continue
        j = next((k for k in range(i + 1, N_BARS - 1) if eth[k] == -1), None)
        if j is not None and btc[j] == 1 and closes[j] > closes[i] * (1 - 2 * STOP_LOSS):
            return i, j
    return None


class Venue:
    """The fake exchange at one bar: the bars up to it served, prices at its close."""

    def __init__(self, basket: Basket, bar: int) -> None:
        self.basket = basket
        self.clock = SimulatedClock(self._open(bar))
        self.fake = FakeBinance(clock=self.clock).start()
        for symbol, frame in basket.bars.items():
            self.fake.set_klines(IDS[symbol], "1h", frame)
        self.book = FakeSpotTrading(self.fake, balances={"USDT": "10000"},
                                    prices={IDS[s]: basket.close(s, bar) for s in IDS})

    def _open(self, i: int) -> datetime:
        # The fake serves bars up to its clock; the bot's wall clock sees all of them closed,
        # so bar i is the latest closed bar.
        stamp = self.basket.bars[BTC].index[i].to_pydatetime()
        return stamp.astimezone(UTC) + timedelta(seconds=30)

    def at_bar(self, i: int) -> None:
        """Move to bar ``i``: served as the latest, the prices at its close."""
        self.clock.set(self._open(i))
        for symbol in IDS:
            self.book.set_price(IDS[symbol], self.basket.close(symbol, i))

    def posted(self) -> list[tuple[str, str, str]]:
        """(symbol id, type, side) of every order the exchange accepted, in order."""
        return [(o["symbol"], o["type"], o["side"]) for o in self.book.orders]

    def close(self) -> None:
        self.fake.stop()


def live_env(state: Path, url: str, *, inherit: bool = False) -> dict[str, str]:
    """A live opt-in against the fake exchange (``inherit``: the environment of a child
    process, without any real key or scorer setting)."""
    env: dict[str, str] = {}
    if inherit:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("SCORER_", "TELEGRAM_", "BINANCE_", "LIVE_"))}
        env.setdefault("NUMBA_CACHE_DIR", str(REPO_ROOT / ".numba_cache"))
    env.update({"TRADINGBOT_STATE_DIR": str(state), "TRADINGBOT_CACHE_DIR": str(state / "cache"),
                "TRADINGBOT_EXCHANGE_URL": url, "BINANCE_API_KEY": API_KEY,
                "BINANCE_API_SECRET": API_SECRET, "LIVE_TRADING": "yes"})
    return env


def evidence(strategy: StrategySettings, symbol: str, *, passed: bool = True,
             age: timedelta = timedelta(days=1), trades: int = 87) -> SavedBacktest:
    """A saved backtest of ``strategy`` on ``symbol`` (passing, fresh, 87 trades by default)."""
    now = SystemClock().now()
    return SavedBacktest(
        strategy_id=strategy.strategy_id(), created_at=now - age, engine="full",
        data=DataRange(symbol, "1h", datetime(2022, 1, 1, tzinfo=UTC),
                       datetime(2025, 5, 5, 23, tzinfo=UTC), 29_000, f"{IDS[symbol]}.csv"),
        strategy=strategy.hashed_settings(),
        costs={"init_cash": 10_000.0, "fee": 0.001, "slippage": 0.0005},
        kelly=KellyInputs(trades, 0.54, 0.022, 0.014), total_trades=trades,
        gates=(GateResult("sharpe", "Sharpe Ratio > 1", 1.3 if passed else 0.4, 1.0, passed),),
    )


def promote(env: dict[str, str], strategy: StrategySettings,
            saved: dict[str, SavedBacktest | None], paper_days: dict[str, int]) -> None:
    """Save each symbol's evidence (None: none) and its days of paper decisions."""
    for result in saved.values():
        if result is not None:
            save_backtest_results(default_results_path(env), result)
    now = SystemClock().now()
    with Journal(journal_path(env, "paper")) as journal:
        journal.record_run(mode=RunMode.PAPER, strategy_id=strategy.strategy_id(),
                           config=replace(strategy, symbols=tuple(paper_days)).snapshot())
        for symbol, days in paper_days.items():
            for day in (days + 1, 1):
                journal.record_decision(DecisionRecord(
                    symbol=symbol, bar_time=now - timedelta(days=day), signal=0,
                    action=Action.NONE, reason="flat; no entry signal"))


def promote_both(env: dict[str, str], strategy: StrategySettings) -> None:
    """Both symbols pass the promotion gate."""
    promote(env, strategy, {s: evidence(strategy, s) for s in (BTC, ETH)},
            {BTC: 14, ETH: 14})
