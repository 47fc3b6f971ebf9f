"""Each rule of the decision path on hand-built bars, with the expected numbers worked out here.

Costs are the defaults: fee 0.1% of notional each side, slippage 0.05% against us. Unless a test
says otherwise the size is default_position_pct (1.0) x conviction (0.5) = half of equity, capped
at max_position_pct (0.5), so the first entry commits 5,000 of the 10,000 start. Every run also
goes through ``run_checked``, which asserts the plain-Python reference on the live RiskManager
gives the same run.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from backtest import kernel
from backtest.engine import BacktestConfig, BacktestResult
from risk.config import RiskConfig
from tests.backtest.conftest import Bar, bars, flat, run, run_checked
from tests.backtest.reference import array_scores, reference_run

FEE = 0.001
SLIP = 0.0005
BUY = 1.0 + SLIP
SELL = 1.0 - SLIP


def cfg(
    *, kelly_min_trades: int = 1000, default_position_pct: float = 1.0,
    flatten_on_halt: bool = True, **risk: Any,
) -> BacktestConfig:
    """Config of these tests: kill switches out of the way unless a test tightens them."""
    limits: dict[str, Any] = {
        "max_position_pct": 0.5, "daily_loss_limit_pct": 0.5, "max_drawdown_pct": 0.9,
        "stop_loss_pct": 0.015,
    }
    return BacktestConfig(
        kelly_min_trades=kelly_min_trades, default_position_pct=default_position_pct,
        flatten_on_halt=flatten_on_halt, risk=RiskConfig(**(limits | risk)),
    )


def approx(value: float) -> Any:
    return pytest.approx(value, rel=1e-12)


def ret(fill: float, exit_price: float) -> float:
    """A round trip's pnl / entry notional: sells at exit_price what filled at fill, fees both
    sides: (exit/fill)(1 - fee) - 1 - fee."""
    return exit_price / fill * (1.0 - FEE) - 1.0 - FEE


def trade(raw: kernel.KernelResult, j: int) -> dict[str, float]:
    t = raw.trades[j]
    return {
        "entry": t[kernel.T_ENTRY_IDX], "exit": t[kernel.T_EXIT_IDX], "size": t[kernel.T_SIZE],
        "entry_price": t[kernel.T_ENTRY_PRICE], "exit_price": t[kernel.T_EXIT_PRICE],
        "entry_fees": t[kernel.T_ENTRY_FEES], "exit_fees": t[kernel.T_EXIT_FEES],
        "pnl": t[kernel.T_PNL], "reason": t[kernel.T_REASON], "stop": t[kernel.T_STOP],
    }


def orders(raw: kernel.KernelResult) -> list[tuple[int, int]]:
    """(bar, side) of every order: side 0 buys, 1 sells."""
    return [(int(o[kernel.O_IDX]), int(o[kernel.O_SIDE])) for o in raw.orders]


def test_decision_fills_at_next_open_with_slippage_and_fees_and_repeats_do_nothing() -> None:
    frame = bars([
        (100, 100, 100, 100),
        (102, 103, 101.5, 103),
        (103, 104, 102, 103.5),
        (104, 104, 104, 104),
        (105, 105, 104.5, 105),
        (105, 105, 105, 105),
        (106, 106, 106, 106),
    ])
    # 1 opens, further 1s do nothing, -1 closes, -1 while flat does nothing, 1 on the last bar
    # has no next open to fill at.
    raw = run_checked(frame, [1, 1, 1, -1, -1, 0, 1], cfg())
    fill = 102 * BUY  # the open after the decision, slipped up
    units = 5_000 / fill
    cash = 10_000 - 5_000 - 5_000 * FEE
    sell = 105 * SELL
    proceeds = units * sell
    end_cash = cash + proceeds * (1 - FEE)
    assert orders(raw) == [(1, 0), (4, 1)]
    assert trade(raw, 0) == {
        "entry": 1, "exit": 4, "size": approx(units), "entry_price": approx(fill),
        "exit_price": approx(sell), "entry_fees": approx(5.0),
        "exit_fees": approx(proceeds * FEE), "pnl": approx(proceeds * (1 - FEE) - 5_005),
        "reason": kernel.EXIT_SIGNAL, "stop": approx(fill * 0.985),
    }
    assert raw.equity.tolist() == [
        10_000, approx(cash + units * 103), approx(cash + units * 103.5),
        approx(cash + units * 104), approx(end_cash), approx(end_cash), approx(end_cash),
    ]
    assert raw.need_score == -1
    assert raw.rejections.sum() == 0


def _stop_case(bar2: tuple[float, float, float, float]) -> kernel.KernelResult:
    frame = bars([(100, 100, 100, 100), (100, 100.5, 99.5, 100), bar2, *flat(99, 2)])
    return run_checked(frame, [1, 0, 0, 0, 0], cfg())


def test_stop_hit_intrabar_exits_at_the_stop_less_slippage() -> None:
    raw = _stop_case((99.8, 100, 98.0, 99))
    fill = 100 * BUY
    stop = fill * (1 - 0.015)  # 98.54925: the bar's low 98 reaches it, its open 99.8 does not
    units = 5_000 / fill
    t = trade(raw, 0)
    assert (t["entry"], t["exit"], t["reason"]) == (1, 2, kernel.EXIT_STOP)
    assert t["stop"] == approx(98.54925)
    assert t["exit_price"] == approx(stop * SELL)
    assert t["exit_fees"] == approx(units * stop * SELL * FEE)
    assert t["pnl"] == approx(5_000 * ret(fill, stop * SELL))
    assert orders(raw) == [(1, 0), (2, 1)]


def test_gap_through_the_stop_exits_at_the_open_less_slippage() -> None:
    raw = _stop_case((97, 97.5, 96, 97))  # opens below the 98.549 stop
    t = trade(raw, 0)
    assert (t["exit"], t["reason"]) == (2, kernel.EXIT_STOP)
    assert t["exit_price"] == approx(97 * SELL)
    assert t["pnl"] == approx(5_000 * ret(100 * BUY, 97 * SELL))


def test_the_fill_bar_itself_can_stop_out() -> None:
    frame = bars([(100, 100, 100, 100), (100, 100.2, 98.0, 99.5), *flat(99, 2)])
    raw = run_checked(frame, [1, 0, 0, 0], cfg())
    fill = 100 * BUY
    t = trade(raw, 0)
    assert (t["entry"], t["exit"], t["reason"]) == (1, 1, kernel.EXIT_STOP)
    assert t["exit_price"] == approx(fill * 0.985 * SELL)
    assert orders(raw) == [(1, 0), (1, 1)]
    # Flat again at the fill bar's close: equity is cash.
    assert raw.equity[1] == approx(10_000 + 5_000 * ret(fill, fill * 0.985 * SELL))


def test_re_entry_after_a_stop_at_the_next_1() -> None:
    frame = bars([
        (100, 100, 100, 100), (100, 100, 100, 100), (99.8, 100, 98, 99),
        (99, 99, 99, 99), (99, 99, 99, 99),
    ])
    # The stop fires on bar 2, which closes with a 1: level-triggered, so it buys again at 3.
    raw = run_checked(frame, [1, 0, 1, 0, 0], cfg())
    assert orders(raw) == [(1, 0), (2, 1), (3, 0)]
    equity_after_stop = 10_000 + 5_000 * ret(100 * BUY, 100 * BUY * 0.985 * SELL)
    assert raw.equity[2] == approx(equity_after_stop)
    t = trade(raw, 1)
    assert t["entry"] == 3
    assert t["size"] == approx(equity_after_stop * 0.5 / (99 * BUY))
    # Still open after the last bar: reported with reason "end".
    assert (t["exit"], t["reason"]) == (4, kernel.EXIT_END)


def test_minus_one_closes_the_long_at_the_next_open() -> None:
    frame = bars([*flat(100, 2), (101, 101, 101, 101), (102, 102, 102, 102), *flat(103, 2)])
    raw = run_checked(frame, [1, 0, -1, 0, 0, 0], cfg())
    t = trade(raw, 0)
    assert (t["entry"], t["exit"], t["reason"]) == (1, 3, kernel.EXIT_SIGNAL)
    assert t["exit_price"] == approx(102 * SELL)


# --- kill switches ------------------------------------------------------------------------------

EVENING = datetime(2024, 1, 1, 21, tzinfo=UTC)
# 21:00, 22:00, 23:00 on Jan 1, then 00:00, 01:00, 02:00 on Jan 2 (UTC).
PAUSE_BARS = [
    (100, 100, 100, 100),
    (100, 100, 96.5, 97),  # fills at 100.05 and closes 1.57% down on the day: pause
    (97, 97, 97, 97),
    (97, 97, 97, 97),  # first bar of Jan 2
    (97, 97, 97, 97),
    (97, 97, 97, 97),
]


def test_daily_pause_blocks_entries_and_clears_on_the_next_utc_day() -> None:
    frame = bars(PAUSE_BARS, start=EVENING)
    config = cfg(daily_loss_limit_pct=0.01, stop_loss_pct=0.05)
    raw = run_checked(frame, [1, -1, 1, 1, 0, 0], config)
    fill = 100 * BUY
    units = 5_000 / fill
    assert raw.equity[1] == approx(5_000 - 5.0 + units * 97)
    assert (10_000 - raw.equity[1]) / 10_000 > 0.01
    assert raw.halt.tolist() == [0, 1, 1, 0, 0, 0]
    assert [(int(i), int(k)) for i, k in raw.events] == [
        (1, kernel.EV_DAILY_PAUSE), (3, kernel.EV_DAILY_CLEAR),
    ]
    # The open position keeps its signal exit while paused (bar 2's open); bar 2's 1 is refused;
    # bar 3 (00:00 UTC, a new day) may open again, filling at bar 4.
    assert orders(raw) == [(1, 0), (2, 1), (4, 0)]
    assert trade(raw, 0)["reason"] == kernel.EXIT_SIGNAL
    assert raw.rejections[kernel.REJ_DAILY] == 1


def _latch_frame() -> Any:
    # 12-hour bars over four UTC days: the latch trips on bar 2 and never lifts.
    return bars([
        (100, 100, 100, 100),
        (100, 100, 96.5, 97),  # 1.57% down from the 10,000 peak
        (97, 97, 95.5, 96),  # 2.07% down: the 2% latch trips at this close
        (96.5, 96.5, 96.5, 96.5),
        (120, 120, 120, 120),
        (120, 120, 120, 120),
        (120, 120, 120, 120),
    ], step=timedelta(hours=12))


def test_drawdown_latch_flattens_at_the_next_open_and_blocks_entries_for_good() -> None:
    config = cfg(max_drawdown_pct=0.02, stop_loss_pct=0.05)
    raw = run_checked(_latch_frame(), [1, 1, 1, 1, 1, 1, 1], config)
    units = 5_000 / (100 * BUY)
    assert raw.equity[2] == approx(4_995 + units * 96)
    assert raw.halt.tolist() == [0, 0, 2, 2, 2, 2, 2]
    assert [(int(i), int(k)) for i, k in raw.events] == [(2, kernel.EV_DRAWDOWN_LATCH)]
    assert orders(raw) == [(1, 0), (3, 1)]
    t = trade(raw, 0)
    assert (t["exit"], t["reason"], t["exit_price"]) == (3, kernel.EXIT_HALT, approx(96.5 * SELL))
    # Bars 3, 4 and 5 close with a 1 (bar 6 is the last): all refused, days later too.
    assert raw.rejections[kernel.REJ_DRAWDOWN] == 3


def test_drawdown_latch_without_flatten_keeps_the_position_until_its_exit() -> None:
    config = cfg(max_drawdown_pct=0.02, stop_loss_pct=0.05, flatten_on_halt=False)
    raw = run_checked(_latch_frame(), [1, 1, 1, 1, -1, 1, 1], config)
    assert orders(raw) == [(1, 0), (5, 1)]
    t = trade(raw, 0)
    assert (t["exit"], t["reason"], t["exit_price"]) == (5, kernel.EXIT_SIGNAL, approx(120 * SELL))
    assert raw.halt.tolist() == [0, 0, 2, 2, 2, 2, 2]  # a winning exit does not lift the latch
    assert raw.rejections[kernel.REJ_DRAWDOWN] == 1  # bar 5's 1


def test_both_switches_on_one_bar_give_the_managers_event_order() -> None:
    frame = bars([(100, 100, 100, 100), (100, 100, 96.5, 97), *flat(97, 2)])
    config = cfg(daily_loss_limit_pct=0.01, max_drawdown_pct=0.012, stop_loss_pct=0.05)
    signal = np.array([1, 0, 0, 0])
    ref = reference_run(frame, signal, config, array_scores(np.full(4, 0.5)))
    assert [(e.idx, e.kind) for e in ref.events] == [(1, "drawdown_latch"), (1, "daily_pause")]
    raw = run(frame, signal.tolist(), config)
    assert [(int(i), int(k)) for i, k in raw.events] == [
        (1, kernel.EV_DRAWDOWN_LATCH), (1, kernel.EV_DAILY_PAUSE),
    ]


# --- sizing: Kelly warm-up ----------------------------------------------------------------------

KELLY_BARS: list[Bar] = [
    (100, 100, 100, 100),  # 0: 1
    (100, 100, 100, 100),  # 1: fill #1 at 100.05; -1
    (107, 107, 107, 107),  # 2: #1 exits at 107 x 0.9995 (a win); 1 (one closed trade: default)
    (100, 100, 100, 100),  # 3: fill #2 at 100.05, stop 95.0475
    (99, 99, 94, 95),  # 4: #2 stops at 95.0475 x 0.9995 (a loss) and the bar closes with a 1
    (96, 96, 96, 96),  # 5: fill #3, sized by half-Kelly of trades #1 and #2
    (96, 96, 96, 96),
]
KELLY_SIGNAL = [1, -1, 1, 0, 1, 0, 0]


def test_kelly_warm_up_then_half_kelly_from_trades_closed_before_the_decision() -> None:
    config = cfg(kelly_min_trades=2, default_position_pct=0.1, max_position_pct=0.9,
                 stop_loss_pct=0.05)
    raw = run_checked(bars(KELLY_BARS), KELLY_SIGNAL, config)
    fill = 100 * BUY
    r1 = ret(fill, 107 * SELL)
    eq2 = 10_000 + 500 * r1  # trade #1: default 0.1 x conviction 0.5 = 5% of 10,000
    r2 = ret(fill, fill * 0.95 * SELL)
    eq4 = eq2 + 0.05 * eq2 * r2  # trade #2: still the default 5%, of equity at bar 2's close
    assert trade(raw, 0)["pnl"] == approx(500 * r1)
    assert trade(raw, 1)["size"] == approx(0.05 * eq2 / fill)
    assert trade(raw, 1)["reason"] == kernel.EXIT_STOP
    assert raw.equity[4] == approx(eq4)
    # Bar 4's decision comes after bar 4's stop: trade #2 counts (no look-ahead either way:
    # nothing that closes after bar 4's close could be known). p = 1/2, W = r1, L = -r2.
    kelly = 0.5 / -r2 - 0.5 / r1
    fraction = 0.5 * kelly * 0.5
    assert 0.0 < fraction < 0.9  # not clipped: the test sees the formula
    assert fraction == pytest.approx(0.5148, abs=1e-4)
    t = trade(raw, 2)
    assert t["entry"] == 5
    assert t["size"] == pytest.approx(fraction * eq4 / (96 * BUY), rel=1e-12)


def test_one_trade_short_of_kelly_min_trades_still_uses_the_default_size() -> None:
    config = cfg(kelly_min_trades=3, default_position_pct=0.1, max_position_pct=0.9,
                 stop_loss_pct=0.05)
    raw = run_checked(bars(KELLY_BARS), KELLY_SIGNAL, config)
    assert trade(raw, 2)["size"] == approx(0.05 * raw.equity[4] / (96 * BUY))


@pytest.mark.parametrize("first_exit", [100.0, 101.0], ids=["two_losses", "negative_kelly"])
def test_kelly_at_or_below_zero_opens_nothing(first_exit: float) -> None:
    rows = list(KELLY_BARS)
    rows[2] = (first_exit, first_exit, first_exit, first_exit)
    config = cfg(kelly_min_trades=2, default_position_pct=0.1, max_position_pct=0.9,
                 stop_loss_pct=0.05)
    raw = run_checked(bars(rows), KELLY_SIGNAL, config)
    # 100 x 0.9995 sold after buying at 100.05 is a loss (no win: Kelly missing, 0); 101 is a
    # +0.7% win against a -5.2% loss: p/L - (1-p)/W = 9.5 - 71.6 < 0.
    assert orders(raw) == [(1, 0), (2, 1), (3, 0), (4, 1)]
    assert raw.rejections[kernel.REJ_SIZE_ZERO] == 1
    assert raw.equity[-1] == raw.equity[4]


# --- the scorer's answer ------------------------------------------------------------------------


def test_conviction_below_min_conviction_is_refused_and_at_it_is_taken() -> None:
    frame = bars(flat(100, 5))
    refused = run_checked(frame, [1, 1, 1, 1, 1], cfg(min_conviction=0.3), conviction=0.29)
    assert len(refused.orders) == 0
    assert refused.rejections[kernel.REJ_CONVICTION] == 4  # bars 0-3; the last bar never decides
    taken = run_checked(frame, [1, 1, 1, 1, 1], cfg(min_conviction=0.3), conviction=0.3)
    assert orders(taken) == [(1, 0)]
    assert trade(taken, 0)["size"] == approx(10_000 * 1.0 * 0.3 / (100 * BUY))


def test_suppress_refuses_the_entry() -> None:
    frame = bars(flat(100, 4))
    raw = run_checked(frame, [1, 1, 1, 1], cfg(), suppress=[True, True, False, False])
    assert orders(raw) == [(3, 0)]
    assert raw.rejections[kernel.REJ_SUPPRESSED] == 2


def test_the_scorer_is_needed_only_where_the_path_wants_to_open() -> None:
    frame = bars(flat(100, 8))
    nan = math.nan
    # Bar 0 opens; bars 1-2 close with 1s while long and bar 3 with -1: none needs a score.
    # Bar 4 is flat with a 0, bar 5 flat with a 1: the first bar that needs one.
    conv = [0.5, nan, nan, nan, nan, nan, nan, nan]
    raw = run(frame, [1, 1, 1, -1, 0, 1, 1, 1], cfg(), conviction=conv)
    assert raw.need_score == 5
    assert run(frame, [0, 0, 1, 1, 1, 1, 1, 1], cfg(), conviction=math.nan).need_score == 2
    # A 1 on the last bar never needs a score: nothing can fill after it.
    done = run(frame, [0, 0, 0, 0, 0, 0, 0, 1], cfg(), conviction=math.nan)
    assert (done.need_score, len(done.orders)) == (-1, 0)
    ref = reference_run(frame, np.array([1, 1, 1, -1, 0, 1, 1, 1]), cfg(),
                        array_scores(np.array(conv)))
    assert (ref.need_score, ref.asked) == (5, [0])


def test_the_scorer_is_not_needed_while_halted() -> None:
    frame = bars(PAUSE_BARS, start=EVENING)
    config = cfg(daily_loss_limit_pct=0.01, stop_loss_pct=0.05)
    nan = math.nan
    # Bar 2 closes with a 1 during the daily pause: refused before any score is needed.
    raw = run(frame, [1, -1, 1, 1, 0, 0], config, conviction=[0.5, nan, nan, nan, nan, nan])
    assert raw.need_score == 3


# --- the end, and vectorbt's accounts -----------------------------------------------------------


def test_position_open_at_the_end_is_marked_at_the_last_close_without_exit_fee() -> None:
    frame = bars([*flat(100, 2), (101, 102, 100.5, 101.5)])
    raw = run_checked(frame, [1, 0, 0], cfg())
    fill = 100 * BUY
    units = 5_000 / fill
    assert orders(raw) == [(1, 0)]
    t = trade(raw, 0)
    assert (t["exit"], t["reason"], t["exit_price"], t["exit_fees"]) == (
        2, kernel.EXIT_END, 101.5, 0.0,
    )
    assert t["pnl"] == approx(units * 101.5 - 5_000 - 5.0)
    assert raw.equity[-1] == approx(4_995 + units * 101.5)


def test_equity_is_vectorbts_portfolio_value() -> None:
    config = cfg(kelly_min_trades=2, default_position_pct=0.1, max_position_pct=0.9,
                 stop_loss_pct=0.05)
    frame = bars(KELLY_BARS)
    raw = run_checked(frame, KELLY_SIGNAL, config)
    result = BacktestResult(config=config, bars=frame, raw=raw, scores={})
    portfolio = result.portfolio("1h")
    value = portfolio.value().to_numpy()
    np.testing.assert_allclose(value, raw.equity, rtol=1e-9, atol=0)
    assert portfolio.orders.count() == 5
    assert float(portfolio.orders.fees.sum()) == approx(
        raw.trades[:, kernel.T_ENTRY_FEES].sum() + raw.trades[:, kernel.T_EXIT_FEES].sum()
    )


# --- optional limits ----------------------------------------------------------------------------


def test_cooldown_after_a_loss_counts_from_the_exit_bar() -> None:
    frame = bars([
        (100, 100, 100, 100), (100, 100, 100, 100), (99.8, 100, 98, 99), *flat(99, 4),
    ])
    config = cfg(cooldown_after_losses=1, cooldown_minutes=120)
    raw = run_checked(frame, [1, 0, 1, 1, 1, 1, 1], config)
    # Stopped on bar 2 (02:00): no entries before 04:00, so bars 2 and 3 are refused and
    # bar 4's decision fills at bar 5.
    assert orders(raw) == [(1, 0), (2, 1), (5, 0)]
    assert raw.rejections[kernel.REJ_COOLDOWN] == 2


def test_entry_cap_counts_entries_by_the_utc_day_they_fill() -> None:
    frame = bars(flat(100, 6), start=datetime(2024, 1, 1, 22, tzinfo=UTC))
    # Decided at 23:00 on Jan 1, the entry fills at 00:00 on Jan 2 and counts for Jan 2: after
    # its exit (01:00) the 1s at 01:00 and 02:00 are refused by a cap of one a day.
    raw = run_checked(frame, [0, 1, -1, 1, 1, 0], cfg(max_entries_per_day=1))
    assert orders(raw) == [(2, 0), (3, 1)]
    assert raw.rejections[kernel.REJ_ENTRY_CAP] == 2
