"""The basket kernel on hand-worked baskets: the two limits, the cash, the shared kill switches,
late starts and gaps decide, with every expected trade written out.

A trade reads (symbol row, entry time, exit time, size, entry price, exit price, reason); no
costs, so the arithmetic is in the comments. Equity stays 10 000 unless a price moves.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backtest import kernel
from backtest.engine import REJECTION_NAMES, BacktestConfig
from backtest.kernel import (
    EV_DAILY_CLEAR,
    EV_DAILY_PAUSE,
    EV_DRAWDOWN_LATCH,
    REJ_CASH,
    REJ_COOLDOWN,
    REJ_DAILY,
    REJ_DRAWDOWN,
    REJ_GROSS_EXPOSURE,
    REJ_MAX_POSITIONS,
)
from backtest.portfolio_kernel import O_SYMBOL, T_SYMBOL, run_portfolio_kernel
from data.loader import load_ohlcv
from risk.config import RiskConfig
from tests.backtest.basket_helpers import (
    HOUR,
    T0,
    config,
    counts,
    flat,
    refused,
    run_basket,
    trades,
)
from tests.conftest import BTC_1H_2022

NONE = [-1, -1, -1, -1]
# A 100, B 50, C 20, flat for four hours.
ABC = [flat(100.0, 4), flat(50.0, 4), flat(20.0, 4)]


def test_max_open_positions_counts_held_decided_and_pending_exits() -> None:
    # t0: A and B decided (1000 each); C would be the third. t1: A decides its exit, which
    # still holds, so C is refused again. t2: A's exit filled, C decided; it fills at t3.
    raw = run_basket(ABC, [[1, -1, 0, 0], [1, 0, 0, 0], [1, 1, 1, 0]],
                     config(max_open_positions=2))
    assert trades(raw) == [
        (0, 1, 2, 10.0, 100.0, 100.0, "signal"),
        (1, 1, 3, 20.0, 50.0, 50.0, "end"),
        (2, 3, 3, 50.0, 20.0, 20.0, "end"),
    ]
    assert refused(raw) == [NONE, NONE, [REJ_MAX_POSITIONS, REJ_MAX_POSITIONS, -1, -1]]
    assert counts(raw) == {REJ_MAX_POSITIONS: 2}


def test_the_limits_are_off_by_default() -> None:
    raw = run_basket(ABC, [[1, -1, 0, 0], [1, 0, 0, 0], [1, 1, 1, 0]], config())
    assert trades(raw) == [
        (0, 1, 2, 10.0, 100.0, 100.0, "signal"),
        (1, 1, 3, 20.0, 50.0, 50.0, "end"),
        (2, 1, 3, 50.0, 20.0, 20.0, "end"),
    ]
    assert counts(raw) == {}


@pytest.mark.parametrize(("cap", "entered"), [(0.3, 3), (0.29, 2), (0.0, 3)])
def test_gross_exposure_cap_is_inclusive(cap: float, entered: int) -> None:
    # A, B, C each want 1000 on 10 000: C brings the decided notionals to exactly 30%.
    raw = run_basket([flat(100.0, 3), flat(50.0, 3), flat(20.0, 3)],
                     [[1, 0, 0], [1, 0, 0], [1, 0, 0]], config(max_gross_exposure_pct=cap))
    assert [t[0] for t in trades(raw)] == list(range(entered))
    assert counts(raw) == ({} if entered == 3 else {REJ_GROSS_EXPOSURE: 1})


def test_gross_exposure_values_a_held_position_at_its_last_close() -> None:
    # A: 10 units at 100, closes t1 at 200: equity 9000 + 2000 = 11 000. B wants 1100:
    # (2000 + 1100) / 11 000 = 28% > 25%; at A's entry notional it would be 19%.
    a = [(100.0, 100.0, 100.0), (100.0, 100.0, 200.0), (200.0, 200.0, 200.0)]
    raw = run_basket([a, flat(50.0, 3)], [[1, 0, 0], [0, 1, 0]],
                     config(max_gross_exposure_pct=0.25))
    assert trades(raw) == [(0, 1, 2, 10.0, 100.0, 200.0, "end")]
    assert refused(raw) == [[-1, -1, -1], [-1, REJ_GROSS_EXPOSURE, -1]]
    assert raw.equity.tolist() == [10_000.0, 11_000.0, 11_000.0]


def test_an_exit_funds_an_entry_at_the_same_open_and_an_entry_cash_cannot_pay_is_dropped(
) -> None:
    # Row 0 (E) comes first, yet X's exit fills first. t1: X holds 60 at 100 (cash 4000); E
    # decides 6000 and X its exit. t2: X's exit frees 6000 (cash 10 000), E fills 120 at 50
    # (cash 4000); X decides 6000 again. t3: 6000 > 4000 cash: refused, dropped.
    raw = run_basket([flat(50.0, 4), flat(100.0, 4)], [[0, 1, 0, 0], [1, -1, 1, 0]],
                     config(size=0.6))
    assert trades(raw) == [
        (1, 1, 2, 60.0, 100.0, 100.0, "signal"),
        (0, 2, 3, 120.0, 50.0, 50.0, "end"),
    ]
    # The refusal is filed at the close that decided the entry.
    assert refused(raw) == [NONE, [-1, -1, REJ_CASH, -1]]
    assert counts(raw) == {REJ_CASH: 1}
    assert raw.equity.tolist() == [10_000.0] * 4


@pytest.mark.parametrize(("fee", "filled"), [(0.02, False), (0.0, True)])
def test_the_cash_check_counts_the_entry_fee(fee: float, filled: bool) -> None:
    # fee 2%: X pays 4900 + 98 (cash 5002) for 49 units, closing t1 at 104: equity 10 098.
    # E wants 0.49 x 10 098 = 4948.02, which cash covers, but not with its fee (5046.98).
    # Without fees: cash 5100 covers E's 4996.04.
    x = [(100.0, 100.0, 100.0), (100.0, 100.0, 104.0), (104.0, 104.0, 104.0)]
    raw = run_basket([x, flat(50.0, 3)], [[1, 0, 0], [0, 1, 0]], config(size=0.49, fee=fee))
    assert [t[0] for t in trades(raw)] == ([0, 1] if filled else [0])
    assert counts(raw) == ({} if filled else {REJ_CASH: 1})


def test_the_drawdown_latch_is_the_accounts() -> None:
    # A: 60 units at 100, closes t1 at 90: equity 4000 + 5400 = 9400, 6% below the peak.
    # The latch flattens A at t2's open and refuses B, which never moved.
    a = [(100.0, 100.0, 100.0), (100.0, 90.0, 90.0), *flat(90.0, 2)]
    raw = run_basket([a, flat(50.0, 4)], [[1, 0, 0, 0], [0, 1, 1, 0]],
                     config(size=0.6, max_drawdown_pct=0.05, daily_loss_limit_pct=0.5))
    assert trades(raw) == [(0, 1, 2, 60.0, 100.0, 90.0, "halt")]
    assert raw.events.tolist() == [[1, EV_DRAWDOWN_LATCH]]
    assert raw.halt.tolist() == [0, 2, 2, 2]
    assert refused(raw)[1] == [-1, REJ_DRAWDOWN, REJ_DRAWDOWN, -1]
    assert counts(raw) == {REJ_DRAWDOWN: 2}
    assert raw.equity.tolist() == [10_000.0, 9400.0, 9400.0, 9400.0]


def test_the_daily_pause_is_the_accounts_and_clears_at_utc_midnight() -> None:
    # From 22:00. A: 30 units at 100, closes 23:00 at 90: equity 7000 + 2700 = 9700, 3% down
    # on the day: paused, B refused. 00:00: a new day starts from 9700, the pause clears and
    # B decides 0.3 x 9700 = 2910, 58.2 units at 50 at 01:00.
    a = [(100.0, 100.0, 100.0), (100.0, 90.0, 90.0), *flat(90.0, 2)]
    raw = run_basket([a, flat(50.0, 4)], [[1, 0, 0, 0], [0, 1, 1, 0]],
                     config(size=0.3, daily_loss_limit_pct=0.02, max_drawdown_pct=0.5),
                     start=T0 + 22 * HOUR)
    assert trades(raw) == [
        (0, 1, 3, 30.0, 100.0, 90.0, "end"),
        (1, 3, 3, 58.2, 50.0, 50.0, "end"),
    ]
    assert raw.events.tolist() == [[1, EV_DAILY_PAUSE], [2, EV_DAILY_CLEAR]]
    assert raw.halt.tolist() == [0, 1, 0, 0]
    assert counts(raw) == {REJ_DAILY: 1}


def test_a_loss_on_one_symbol_cools_down_the_account() -> None:
    # A: 10 units at 100, stopped at 95 on t1 (low 90): one loss starts a 2-hour cooldown,
    # which refuses B at t1 and t2; B decides at t3 with equity 9950: 995, 19.9 units at 50.
    a = [(100.0, 100.0, 100.0), (100.0, 90.0, 92.0), *flat(92.0, 3)]
    raw = run_basket([a, flat(50.0, 5)], [[1, 0, 0, 0, 0], [0, 1, 1, 1, 0]],
                     config(stop_loss_pct=0.05, cooldown_after_losses=1, cooldown_minutes=120))
    assert trades(raw) == [
        (0, 1, 1, 10.0, 100.0, 95.0, "stop"),
        (1, 4, 4, 19.9, 50.0, 50.0, "end"),
    ]
    assert counts(raw) == {REJ_COOLDOWN: 2}


def test_a_symbol_is_neither_traded_nor_remarked_without_a_bar() -> None:
    # B starts at t2 and has no bar at t4. Its 1 at t0 (no bar) is ignored; its 1 at t2
    # buys 20 at 50 at t3. At t4 it is not stopped (its low is unknown) and keeps its close
    # of 55 in equity; at t5 it closes at 60.
    b = [None, None, (50.0, 50.0, 50.0), (50.0, 50.0, 55.0), None, (60.0, 60.0, 60.0)]
    raw = run_basket([flat(100.0, 6), b], [[0] * 6, [1, 0, 1, 0, 0, 0]], config())
    assert trades(raw) == [(1, 3, 5, 20.0, 50.0, 60.0, "end")]
    assert raw.position_value.tolist() == [[0.0] * 6, [0, 0, 0, 1100.0, 1100.0, 1200.0]]
    assert raw.equity.tolist() == [10_000.0] * 3 + [10_100.0, 10_100.0, 10_200.0]


@pytest.mark.parametrize(("cap", "a_enters"), [(1, False), (0, True)])
def test_an_entry_waiting_over_a_gap_fills_at_the_next_bar_and_counts_for_the_cap(
    cap: int, a_enters: bool
) -> None:
    # B decides at t1, has no bar at t2 and fills at t3's open (1000 / 60). A's entry at t2
    # sees B's entry pending: with a cap of 1 it is refused.
    b = [(50.0, 50.0, 50.0), (50.0, 50.0, 50.0), None, *flat(60.0, 3)]
    raw = run_basket([flat(100.0, 6), b], [[0, 0, 1, 0, 0, 0], [0, 1, 0, 0, 0, 0]],
                     config(max_open_positions=cap))
    b_trade = (1, 3, 5, round(1000.0 / 60.0, 9), 60.0, 60.0, "end")
    a_trade = (0, 3, 5, 10.0, 100.0, 100.0, "end")
    assert trades(raw) == ([a_trade, b_trade] if a_enters else [b_trade])
    assert counts(raw) == ({} if a_enters else {REJ_MAX_POSITIONS: 1})


def test_kelly_records_are_per_symbol() -> None:
    # kelly_min_trades 1: A's one losing trade makes A's half-Kelly 0 (size_zero), while B,
    # with no closed trade, still gets the default size.
    # B's 0.1 x 9900 = 990 buys 19.8 at 50.
    a = [(100.0, 100.0, 100.0), (100.0, 100.0, 100.0), (90.0, 90.0, 90.0), *flat(90.0, 3)]
    cfg = replace(config(), kelly_min_trades=1)
    raw = run_basket([a, flat(50.0, 6)], [[1, -1, 0, 1, 0, 0], [0, 0, 0, 1, 0, 0]], cfg)
    assert trades(raw) == [
        (0, 1, 2, 10.0, 100.0, 90.0, "signal"),
        (1, 4, 5, 19.8, 50.0, 50.0, "end"),
    ]
    assert refused(raw)[0][3] == kernel.REJ_SIZE_ZERO


# -- one symbol is backtest/kernel.py, bit for bit ----------------------------------------------
REAL_CONFIGS = {
    "defaults": BacktestConfig(),
    # Kill switches, cooldown and entry cap all fire (asserted below).
    "tight": BacktestConfig(
        risk=RiskConfig(max_position_pct=0.9, daily_loss_limit_pct=0.01, max_drawdown_pct=0.3,
                        cooldown_after_losses=2, cooldown_minutes=180, max_entries_per_day=2),
        default_position_pct=0.9, kelly_min_trades=10**6),
    # The gross cap refuses the larger of the scored sizes (2% x conviction), the position
    # cap never refuses one symbol.
    "limits": BacktestConfig(
        risk=RiskConfig(max_open_positions=1, max_gross_exposure_pct=0.012),
        default_position_pct=0.02, kelly_min_trades=10**6),
}


def _bits(a: np.ndarray) -> tuple[tuple[int, ...], str, bytes]:
    return a.shape, str(a.dtype), np.ascontiguousarray(a).tobytes()


@pytest.mark.parametrize("name", list(REAL_CONFIGS))
def test_one_symbol_is_the_single_kernel_bit_for_bit(shared_data: Path, name: str) -> None:
    cfg = REAL_CONFIGS[name]
    bars = load_ohlcv(shared_data / BTC_1H_2022)
    warm = cfg.strategy.warmup_bars
    frame = bars.iloc[warm - 1:]
    n = len(frame)
    rng = np.random.default_rng(3)
    inputs = {
        "open_": frame["open"].to_numpy(np.float64), "low": frame["low"].to_numpy(np.float64),
        "close": frame["close"].to_numpy(np.float64),
        "signal": cfg.strategy.signal(bars)[warm - 1:].astype(np.int8),
        # Scored convictions from 0.2 (below min_conviction) to 1, a few suppressed.
        "conviction": rng.uniform(0.2, 1.0, n), "suppress": rng.random(n) < 0.05,
    }
    time_ms = pd.DatetimeIndex(frame.index).as_unit("ms").asi8
    single = kernel.run_kernel(**inputs, time_ms=time_ms, params=cfg.kernel_params())
    basket = run_portfolio_kernel(
        **{k: v[None, :] for k, v in inputs.items()}, has_bar=np.ones((1, n), dtype=np.bool_),
        time_ms=time_ms, params=cfg.kernel_params())
    assert basket.need_score == (-1, -1)
    assert _bits(basket.orders[:, :kernel.N_ORDER_COLS]) == _bits(single.orders)
    assert _bits(basket.trades[:, :kernel.N_TRADE_COLS]) == _bits(single.trades)
    assert not basket.orders[:, O_SYMBOL].any()
    assert not basket.trades[:, T_SYMBOL].any()
    for field in ("equity", "halt", "events", "rejections"):
        assert _bits(getattr(basket, field)) == _bits(getattr(single, field)), field
    assert _bits(basket.refused[0]) == _bits(single.refused)
    fired = dict(zip(REJECTION_NAMES, single.rejections.tolist(), strict=True))
    if name == "tight":
        assert {int(k) for k in single.events[:, 1]} == {
            EV_DAILY_PAUSE, EV_DAILY_CLEAR, EV_DRAWDOWN_LATCH}
        assert min(fired[k] for k in ("drawdown_latch", "daily_pause", "cooldown",
                                      "entry_cap")) > 0
    if name == "limits":
        assert fired["gross_exposure"] > 0
        assert fired["max_positions"] == 0
        assert len(single.trades) > 50
