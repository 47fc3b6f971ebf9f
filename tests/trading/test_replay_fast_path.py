"""The replay fast path: signal rows from arrays computed once, grouped commits, skipped writes.

The loop takes a replay bar's signal row from ``signal_arrays`` over the whole file (once) and
a live bar's from the same function over the fetched window; both must equal the row of a
trailing ``warmup_bars`` window (``latest_signal``, what the loop used before) on real data.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.clock import SimulatedClock
from data.loader import load_ohlcv
from journal import Journal
from signals.quant_signals import DEFAULT_PARAMS, latest_signal, signal_arrays
from tests.conftest import BTC_1H_2022
from trading.market import BarArrays, ReplayMarket, closed_window
from trading.replay import GROUP_BARS, replay
from trading.setup import StrategySettings

WARM = DEFAULT_PARAMS.warmup_bars
SYMBOL = "BTC/USDT"


@pytest.fixture(scope="module")
def btc(shared_data: Path) -> pd.DataFrame:
    return load_ohlcv(shared_data / BTC_1H_2022).iloc[:4000]


def test_replay_rows_equal_the_trailing_window_rows_on_real_data(btc: pd.DataFrame) -> None:
    clock = SimulatedClock(datetime(2000, 1, 1, tzinfo=UTC))
    market = ReplayMarket({SYMBOL: btc}, timeframe="1h", clock=clock)
    signals = None
    flips = 0
    for close_time in market.close_times(SYMBOL)[WARM - 1:]:
        clock.set(close_time)
        window = closed_window(market, SYMBOL, WARM + 24)
        if signals is None:
            signals = signal_arrays(window.bars.close)
        assert window.bars is closed_window(market, SYMBOL, 5).bars  # one array set: no copy
        i = window.end - 1
        bar = window.bars.bar(SYMBOL, i)
        fast = signals.row(i, bar_time=bar.time, close=bar.close)
        slow = latest_signal(market.closed_bars(SYMBOL, WARM), DEFAULT_PARAMS)
        assert fast.bar_time == slow.bar_time == btc.index[i].to_pydatetime()
        assert fast.signal == slow.signal
        flips += fast.signal != 0
        for name in ("rsi", "ema_fast", "ema_slow", "close", "ema_spread_pct"):
            assert getattr(fast, name) == pytest.approx(getattr(slow, name), rel=1e-12, abs=1e-9)
    assert flips > 100  # the real data exercise both signals, not a flat stretch


def test_live_window_rows_equal_the_whole_file_rows(btc: pd.DataFrame) -> None:
    # What a live step computes on a fetched window equals the row of the whole history.
    whole = signal_arrays(BarArrays.of(btc).close)
    for end in (WARM, WARM + 1, 1500, len(btc)):
        window = BarArrays.of(btc.iloc[end - WARM - 24 if end > WARM + 24 else 0:end])
        rows = signal_arrays(window.close)
        assert rows.signal[-1] == whole.signal[end - 1]
        np.testing.assert_allclose(
            [rows.rsi[-1], rows.ema_fast[-1], rows.ema_slow[-1]],
            [whole.rsi[end - 1], whole.ema_fast[end - 1], whole.ema_slow[end - 1]], rtol=1e-12)


def test_a_replay_stopped_inside_a_group_continues_to_the_uninterrupted_journal(
    btc: pd.DataFrame, tmp_path: Path
) -> None:
    bars = btc.iloc[: WARM + GROUP_BARS * 2 + 40]
    strategy = StrategySettings(symbols=(SYMBOL,), timeframe="1h")
    clean = replay({SYMBOL: bars}, strategy, journal_path=tmp_path / "clean.sqlite3")
    stop = threading.Event()
    seen = []

    def stop_mid_group(_: object) -> None:
        seen.append(1)
        if len(seen) == GROUP_BARS + 7:
            stop.set()

    path = tmp_path / "stopped.sqlite3"
    first = replay({SYMBOL: bars}, strategy, journal_path=path, stop=stop, on_step=stop_mid_group)
    assert not first.finished
    assert first.bars_done == GROUP_BARS + 7  # the open group committed on the way out
    rest = replay({SYMBOL: bars}, strategy, journal_path=path)
    assert rest.finished
    assert first.bars_done + rest.bars_done == clean.bars_done
    assert journal_rows(path) == journal_rows(tmp_path / "clean.sqlite3")


def journal_rows(path: Path) -> tuple[object, ...]:
    with Journal(path) as j:
        decisions = [(d.bar_time, d.signal, d.action, d.reason) for d in j.recent_decisions(10**6)]
        equity = [(e.bar_time, e.equity, e.peak) for e in j.equity_curve()]
        state = {k: j.load_state(k) for k in j.state_keys()}
        return tuple(j.fills()), decisions, equity, state


def test_rolled_back_state_is_written_again_and_its_callbacks_dropped(tmp_path: Path) -> None:
    said: list[str] = []
    with Journal(tmp_path / "j.sqlite3", durable=False) as j:
        j.save_state("k", {"v": 1})
        with pytest.raises(RuntimeError, match="the bar failed"):
            fail_a_bar(j, said)
        assert j.load_state("k") == {"v": 1}
        with j.batch():
            j.save_state("k", {"v": 2})  # equal to the rolled-back text: must not be skipped
            j.after_commit(lambda: said.append("committed"))
            assert said == []
        assert said == ["committed"]
        assert j.load_state("k") == {"v": 2}


def fail_a_bar(j: Journal, said: list[str]) -> None:
    with j.batch():
        j.save_state("k", {"v": 2})
        j.after_commit(lambda: said.append("rolled back"))
        raise RuntimeError("the bar failed")
