"""The numeric rules: exact values on hand-picked inputs, and numba == plain Python."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from risk import rules

ANY_FLOAT = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from(
    [0.0, -0.0, 0.3, 0.5, 1.0, -1.0, 0.015, 0.15, 1e-300, math.nan, math.inf]
)
MS = st.integers(min_value=-(10**15), max_value=10**15)
SMALL_INT = st.integers(min_value=-5, max_value=10**6)


def same(a: Any, b: Any) -> bool:
    """Equal exactly, or both NaN; tuples element by element."""
    if isinstance(a, tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return bool(a == b) and type(a) is type(b)


def assert_parity(rule: Callable[..., Any], *args: Any) -> None:
    compiled = rule(*args)
    plain = rule.py_func(*args)  # type: ignore[attr-defined]
    assert same(compiled, plain), (rule.__name__, args, compiled, plain)


# --- exact values -------------------------------------------------------------------------


def test_kelly_is_the_seeds_formula() -> None:
    assert rules.kelly_fraction(0.54, 0.022, 0.014) == pytest.approx(0.54 / 0.014 - 0.46 / 0.022)
    assert rules.kelly_fraction(0.5, 0.01, 0.01) == 0.0
    assert rules.kelly_fraction(0.4, 0.01, 0.01) < 0.0


@pytest.mark.parametrize(
    ("p", "w", "loss"),
    [(math.nan, 0.02, 0.01), (1.1, 0.02, 0.01), (-0.1, 0.02, 0.01), (0.5, 0.0, 0.01),
     (0.5, -0.02, 0.01), (0.5, math.inf, 0.01), (0.5, 0.02, 0.0), (0.5, 0.02, 1.4),
     (0.5, math.nan, 0.01), (0.5, 0.02, math.nan)],
)
def test_kelly_is_zero_for_invalid_inputs(p: float, w: float, loss: float) -> None:
    assert rules.kelly_fraction(p, w, loss) == 0.0


def test_position_fraction_is_half_kelly_times_conviction_capped() -> None:
    # p=0.5, W=0.02, L=0.04: Kelly 12.5 - 25 < 0 -> 0; p=0.6, W=L=1: Kelly 0.2, half 0.1.
    assert rules.position_fraction(0.5, 0.02, 0.04, 1.0, 0.02) == 0.0
    assert rules.position_fraction(0.6, 1.0, 1.0, 0.5, 0.5) == pytest.approx(0.05)
    assert rules.position_fraction(0.6, 1.0, 1.0, 1.0, 0.02) == 0.02
    assert rules.position_fraction(0.54, 0.022, 0.014, 0.3, 0.02) == 0.02


@pytest.mark.parametrize(
    ("conviction", "cap"),
    [(-0.5, 0.02), (0.0, 0.02), (1.5, 0.02), (math.nan, 0.02), (0.5, 0.0), (0.5, math.nan),
     (0.5, -0.1), (0.5, 1.5)],
)
def test_position_fraction_is_zero_for_bad_conviction_or_cap(conviction: float, cap: float) -> None:
    assert rules.position_fraction(0.54, 0.022, 0.014, conviction, cap) == 0.0


def test_drawdown_and_daily_loss() -> None:
    assert rules.drawdown(10_000.0, 8_400.0) == 0.16
    assert rules.drawdown(10_000.0, 11_000.0) == -0.1
    assert math.isnan(rules.drawdown(0.0, 1.0))
    assert rules.daily_loss(10_000.0, 9_500.0) == 0.05
    assert math.isnan(rules.daily_loss(math.nan, 1.0))


@pytest.mark.parametrize(
    ("value", "breached"),
    [(0.1499, False), (0.15, True), (0.1501, True), (0.15 - 2e-9, False), (0.15 - 5e-10, True),
     (math.nan, True), (-1.0, False)],
)
def test_limit_is_inclusive_within_tolerance(value: float, breached: bool) -> None:
    assert rules.limit_breached(value, 0.15) is breached


def test_exactly_at_the_limit_breaches_for_any_peak() -> None:
    for peak in (12_345.67, 9_999.99, 3.3, 77_777.77, 1e7 / 3):
        for limit in (0.15, 0.05, 0.1, 0.2):
            assert rules.limit_breached(rules.drawdown(peak, peak * (1 - limit)), limit)


def test_stops_for_long_and_short() -> None:
    assert rules.stop_price_long(100.0, 0.015) == 100.0 * (1 - 0.015)
    assert rules.stop_price_short(100.0, 0.015) == 100.0 * (1 + 0.015)
    assert math.isnan(rules.stop_price_long(0.0, 0.015))
    assert math.isnan(rules.stop_price_short(100.0, 1.0))
    assert rules.long_stop_hit(98.5, 98.5)
    assert not rules.long_stop_hit(98.51, 98.5)
    assert rules.long_stop_hit(math.nan, 98.5)
    assert rules.short_stop_hit(101.5, 101.5)
    assert not rules.short_stop_hit(101.49, 101.5)
    assert rules.long_stop_fill(99.0, 98.5) == 98.5
    assert rules.long_stop_fill(97.0, 98.5) == 97.0  # gapped through: the open
    assert rules.short_stop_fill(101.0, 101.5) == 101.5
    assert rules.short_stop_fill(103.0, 101.5) == 103.0


def test_day_key_is_the_utc_day() -> None:
    assert rules.day_key(0) == 0
    assert rules.day_key(86_399_999) == 0
    assert rules.day_key(86_400_000) == 1
    assert rules.day_key(-1) == -1
    assert rules.day_key(1_704_153_600_000) == 19_724  # 2024-01-02T00:00Z


def test_kill_switch_step_latches_and_pauses() -> None:
    step = rules.kill_switch_step
    # First mark of a day: the day starts at the previous mark.
    assert step(9_400.0, 5, 10_000.0, rules.NO_DAY, 10_000.0, 1.0, False, False, 0.15, 0.05) == (
        10_000.0, 10_000.0, True, False, rules.HALT_DAILY,
    )
    # Next day: the pause clears; the day starts at the last mark.
    assert step(9_400.0, 6, 9_400.0, 5, 10_000.0, 10_000.0, True, False, 0.15, 0.05) == (
        10_000.0, 9_400.0, False, False, rules.HALT_NONE,
    )
    # A latch stays even with loose limits and a full recovery.
    assert step(20_000.0, 9, 8_000.0, 8, 10_000.0, 8_000.0, False, True, 0.99, 0.99) == (
        20_000.0, 8_000.0, False, True, rules.HALT_DRAWDOWN,
    )
    # NaN equity fails closed.
    _, _, paused, latched, code = step(math.nan, 5, 1.0, 5, 1.0, 1.0, False, False, 0.15, 0.05)
    assert (paused, latched, code) == (True, True, rules.HALT_DRAWDOWN)


def test_cooldown_and_cap_rules() -> None:
    assert rules.next_loss_streak(2, -0.01) == 3
    assert rules.next_loss_streak(2, 0.0) == 0
    assert rules.cooldown_until_ms(2, 2, 1_000, 500, rules.NO_COOLDOWN) == 1_500
    assert rules.cooldown_until_ms(1, 2, 1_000, 500, rules.NO_COOLDOWN) == rules.NO_COOLDOWN
    assert rules.cooldown_until_ms(5, 0, 1_000, 500, 7) == 7  # off
    assert rules.cooldown_active(1_499, 1_500)
    assert not rules.cooldown_active(1_500, 1_500)
    assert rules.entry_cap_reached(2, 2)
    assert not rules.entry_cap_reached(1, 2)
    assert not rules.entry_cap_reached(10**6, 0)  # 0 = no cap


# --- numba == plain Python ------------------------------------------------------------------

FLOAT_RULES: list[tuple[Callable[..., Any], int]] = [
    (rules.kelly_fraction, 3),
    (rules.position_fraction, 5),
    (rules.position_notional, 2),
    (rules.default_fraction, 3),
    (rules.drawdown, 2),
    (rules.daily_loss, 2),
    (rules.limit_breached, 2),
    (rules.stop_price_long, 2),
    (rules.stop_price_short, 2),
    (rules.long_stop_hit, 2),
    (rules.short_stop_hit, 2),
    (rules.long_stop_fill, 2),
    (rules.short_stop_fill, 2),
]


@pytest.mark.parametrize(("rule", "arity"), FLOAT_RULES, ids=lambda r: getattr(r, "__name__", ""))
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_float_rules_same_compiled_and_plain(
    rule: Callable[..., Any], arity: int, data: st.DataObject
) -> None:
    args = data.draw(st.tuples(*[ANY_FLOAT] * arity))
    assert_parity(rule, *args)


@settings(max_examples=300, deadline=None)
@given(
    equity=ANY_FLOAT, day=MS, last_equity=ANY_FLOAT, last_day=MS, peak=ANY_FLOAT,
    day_start=ANY_FLOAT, paused=st.booleans(), latched=st.booleans(), dd=ANY_FLOAT, daily=ANY_FLOAT,
)
def test_kill_switch_step_same_compiled_and_plain(
    equity: float, day: int, last_equity: float, last_day: int, peak: float, day_start: float,
    paused: bool, latched: bool, dd: float, daily: float,
) -> None:
    assert_parity(
        rules.kill_switch_step,
        equity, day, last_equity, last_day, peak, day_start, paused, latched, dd, daily,
    )


@settings(max_examples=200, deadline=None)
@given(ms=MS, a=SMALL_INT, b=SMALL_INT, until=MS, pnl=ANY_FLOAT)
def test_int_rules_same_compiled_and_plain(ms: int, a: int, b: int, until: int, pnl: float) -> None:
    assert_parity(rules.day_key, ms)
    assert_parity(rules.next_loss_streak, a, pnl)
    assert_parity(rules.cooldown_until_ms, a, b, ms, b * 60_000, until)
    assert_parity(rules.cooldown_active, ms, until)
    assert_parity(rules.entry_cap_reached, a, b)


def test_default_fraction_scales_by_conviction_and_caps() -> None:
    assert rules.default_fraction(0.01, 0.5, 0.02) == pytest.approx(0.005)
    assert rules.default_fraction(0.05, 1.0, 0.02) == 0.02
    assert rules.default_fraction(0.01, -0.5, 0.02) == 0.0
    assert rules.default_fraction(math.nan, 0.5, 0.02) == 0.0
    assert rules.default_fraction(0.01, 1.5, 0.02) == 0.0


def test_negative_conviction_never_sizes_even_with_negative_kelly() -> None:
    # Kelly here is 0.2/0.02 - 0.8/0.01 = -70: "no edge"; -0.5 conviction: "the model disagrees".
    assert rules.kelly_fraction(0.2, 0.01, 0.02) < 0
    assert rules.position_fraction(0.2, 0.01, 0.02, -0.5, 0.02) == 0.0
    assert rules.position_fraction.py_func(0.2, 0.01, 0.02, -0.5, 0.02) == 0.0  # type: ignore[attr-defined]
    assert rules.position_fraction(0.6, 0.02, 0.01, 0.0, 0.02) == 0.0


@settings(max_examples=200, deadline=None)
@given(conviction=ANY_FLOAT, n=SMALL_INT, wins=SMALL_INT, losses=SMALL_INT,
       sum_win=ANY_FLOAT, sum_loss=ANY_FLOAT, min_trades=SMALL_INT)
def test_record_fraction_same_compiled_and_plain_and_capped(
    conviction: float, n: int, wins: int, losses: int, sum_win: float, sum_loss: float,
    min_trades: int,
) -> None:
    args = (conviction, n, wins, losses, sum_win, sum_loss, min_trades, 0.01, 0.02)
    assert_parity(rules.record_fraction, *args)
    size = rules.record_fraction(*args)
    assert 0.0 <= size <= 0.02


def test_record_fraction_uses_the_default_until_enough_trades() -> None:
    # 3 closed (2 wins of +4%, 1 loss of 1%): below min_trades=4 -> default 1% x 0.5.
    assert rules.record_fraction(0.5, 3, 2, 1, 0.08, 0.01, 4, 0.01, 0.02) == pytest.approx(0.005)
    # With min_trades=3 -> Kelly = (2/3)/0.01 - (1/3)/0.04 = 58.3, capped at 2%.
    assert rules.record_fraction(0.5, 3, 2, 1, 0.08, 0.01, 3, 0.01, 0.02) == 0.02
