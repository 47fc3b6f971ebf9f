"""`run --testnet --once` end to end: the real ccxt client, the fake Binance spot exchange."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from core.clock import SystemClock
from data.synthetic import synthetic_ohlcv
from journal import Journal
from main import main
from signals.quant_signals import SignalParams, signal_array
from tests.execution.ccxt_fixtures import API_SECRET, TESTNET_ENV
from tests.fake_binance import FakeBinance
from tests.fake_binance_trading import FakeSpotTrading


def history_ending_in_an_entry_signal() -> pd.DataFrame:
    """Hourly bars up to now whose last closed bar has signal 1 (seed searched, deterministic)."""
    now = SystemClock().now()
    start = (now - timedelta(hours=600)).replace(minute=0, second=0, microsecond=0)
    for seed in range(200):
        bars = synthetic_ohlcv(601, start=start, seed=seed, start_price=60_000.0,
                               volatility=0.004, drift=0.0004)
        closed = bars.iloc[:-1]  # the last one is still forming
        if signal_array(closed["close"].to_numpy(), SignalParams())[-1] == 1:
            return bars
    raise AssertionError("no seed gives an entry signal")


@pytest.fixture
def exchange() -> Iterator[tuple[FakeBinance, FakeSpotTrading]]:
    bars = history_ending_in_an_entry_signal()
    with FakeBinance(clock=SystemClock()) as fake:
        fake.set_klines("BTCUSDT", "1h", bars)
        price = f"{bars['close'].iloc[-2]:.2f}"
        yield fake, FakeSpotTrading(fake, balances={"USDT": "10000"},
                                    prices={"BTCUSDT": price, "ETHUSDT": "3000"})


def test_testnet_once_enters_and_leaves_a_stop_on_the_exchange(
    exchange: tuple[FakeBinance, FakeSpotTrading], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake, account = exchange
    env = {"TRADINGBOT_STATE_DIR": str(tmp_path / "state"), "TRADINGBOT_EXCHANGE_URL": fake.url,
           **TESTNET_ENV}
    assert main(["run", "--testnet", "--once"], environ=env) == 0
    out = capsys.readouterr()
    assert "testnet trading BTC/USDT 1h" in out.out
    assert API_SECRET not in out.out + out.err
    with Journal(tmp_path / "state" / "testnet" / "journal.sqlite3") as journal:
        decisions = journal.recent_decisions(5)
        fills = journal.fills()
    assert [d.action for d in decisions] == ["enter"]
    assert [str(f.kind) for f in fills] == ["entry"]
    # Sent at once (live semantics), exactly one entry accepted, and its stop rests.
    assert sum(account.accepted().values()) == 2
    resting = account.open_orders("BTCUSDT")
    assert len(resting) == 1
    assert resting[0]["type"] == "STOP_LOSS_LIMIT"
    # A second --once in the same bar neither re-buys nor adds orders.
    assert main(["run", "--testnet", "--once"], environ=env) == 0
    assert sum(account.accepted().values()) == 2


def test_a_step_reads_the_balance_once(
    exchange: tuple[FakeBinance, FakeSpotTrading], tmp_path: Path
) -> None:
    # Issue 17, item 7: 25 balance requests were made in 5 s at start. Start (reconcile)
    # reads it once; the kill switches mark the bot's equity from the journal.
    fake, _ = exchange
    env = {"TRADINGBOT_STATE_DIR": str(tmp_path / "state"), "TRADINGBOT_EXCHANGE_URL": fake.url,
           **TESTNET_ENV}
    assert main(["run", "--testnet", "--once"], environ=env) == 0
    assert len(fake.calls("/api/v3/account")) == 1
