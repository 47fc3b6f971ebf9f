"""Property tests: sizing is always sane, a halted manager never approves, and the manager
decides exactly what a kernel-style loop over risk.rules decides."""

from __future__ import annotations

import json
import math
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from risk import RiskConfig, RiskManager, rules
from risk.state import to_ms
from tests.risk.conftest import T0

ANY = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-2.0, max_value=2.0),
    st.none(),
)
FRACTION = st.floats(min_value=0.001, max_value=0.999)
CONFIGS = st.builds(
    RiskConfig,
    max_position_pct=FRACTION,
    daily_loss_limit_pct=FRACTION,
    max_drawdown_pct=FRACTION,
    min_conviction=st.floats(min_value=-1.0, max_value=1.0),
)
# Equity marks with their gaps in minutes: several UTC days, crashes and recoveries.
PATHS = st.lists(
    st.tuples(st.floats(min_value=0.0, max_value=30_000.0), st.integers(0, 24 * 60)),
    min_size=1,
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(config=CONFIGS, equity=ANY, p=ANY, w=ANY, loss=ANY, conviction=ANY)
def test_size_is_never_negative_nan_or_above_the_cap(
    config: RiskConfig, equity: float, p: float, w: float, loss: float, conviction: float
) -> None:
    rm = RiskManager(config, 10_000)
    size = rm.kelly_position_size(equity, p, w, loss, conviction)
    assert 0.0 <= size <= config.max_position_pct
    notional = rm.position_notional(
        equity, win_rate=p, avg_win_pct=w, avg_loss_pct=loss, conviction=conviction
    )
    assert notional >= 0.0
    assert math.isfinite(notional)
    if notional > 0.0:
        assert notional <= equity * config.max_position_pct


@settings(max_examples=150, deadline=None)
@given(config=CONFIGS, path=PATHS, convictions=st.lists(ANY, min_size=1, max_size=5))
def test_a_halted_manager_never_approves(
    config: RiskConfig, path: list[tuple[float, int]], convictions: list[float]
) -> None:
    rm = RiskManager(config, 10_000)
    when = T0
    for equity, gap in path:
        when += timedelta(minutes=gap)
        allowed = rm.check_and_update(equity, when)
        assert allowed is not rm.state.halted
        for conviction in convictions:
            approval = rm.evaluate_entry(conviction)
            assert rm.approve_trade(conviction) is approval.ok
            if rm.state.halted:
                assert not approval.ok
                assert approval.reason


@settings(max_examples=150, deadline=None)
@given(config=CONFIGS, path=PATHS)
def test_manager_decides_what_the_kernel_loop_decides(
    config: RiskConfig, path: list[tuple[float, int]]
) -> None:
    rm = RiskManager(config, 10_000)
    # The backtest kernel's view: plain numbers through the same compiled rule.
    peak, day_start, last_equity, last_day = 10_000.0, 10_000.0, 10_000.0, rules.NO_DAY
    paused = latched = False
    when = T0
    for equity, gap in path:
        when += timedelta(minutes=gap)
        day = rules.day_key(to_ms(when))
        peak, day_start, paused, latched, code = rules.kill_switch_step(
            equity, day, last_equity, last_day, peak, day_start, paused, latched,
            config.max_drawdown_pct, config.daily_loss_limit_pct,
        )
        last_equity, last_day = equity, max(day, last_day)
        assert rm.check_and_update(equity, when) is (code == rules.HALT_NONE)
        state = rm.state
        assert (state.peak_equity, state.daily_start_equity) == (peak, day_start)
        assert (state.daily_paused, state.drawdown_latched) == (paused, latched)


@settings(max_examples=100, deadline=None)
@given(config=CONFIGS, path=PATHS)
def test_state_round_trips_after_any_path(
    config: RiskConfig, path: list[tuple[float, int]]
) -> None:
    rm = RiskManager(config, 10_000)
    when = T0
    for equity, gap in path:
        when += timedelta(minutes=gap)
        rm.check_and_update(equity, when)
    saved = json.loads(json.dumps(rm.to_dict(), allow_nan=False))
    assert RiskManager.from_dict(config, saved).state == rm.state
