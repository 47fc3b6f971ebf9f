"""The numba kernel (through run_backtest) against the plain-Python reference on the live
RiskManager: real BTC/USDT 1h bars 2022-2025 under settings that reach every path, and seeded
synthetic bars chosen by hypothesis. Same trades (bars, sizes, prices, fees, pnl, reason within
1e-9 relative), same equity at every close, same halt events and refusals."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backtest.engine import BacktestConfig, BacktestResult, run_backtest
from data.loader import load_ohlcv
from data.synthetic import synthetic_ohlcv
from risk.config import RiskConfig
from signals.scorer import FixedScorer, Score, Scorer, ScoreRequest, ScoreSource
from tests.backtest.conftest import assert_same_run
from tests.backtest.reference import RefResult, reference_backtest
from tests.conftest import BTC_1H_2022

# Big positions and tight limits: dozens of daily pauses, then the drawdown latch with a
# position open (so flatten_on_halt decides how that trade ends).
KILL = RiskConfig(max_position_pct=0.9, daily_loss_limit_pct=0.01, max_drawdown_pct=0.3)

CONFIGS: dict[str, BacktestConfig] = {
    "defaults": BacktestConfig(),
    "default_size_throughout": BacktestConfig(kelly_min_trades=10**6),
    "kill_switches_flatten": BacktestConfig(
        kelly_min_trades=10**6, default_position_pct=1.0, risk=KILL
    ),
    "kill_switches_hold": BacktestConfig(
        kelly_min_trades=10**6, default_position_pct=1.0, risk=KILL, flatten_on_halt=False
    ),
    "cooldown_and_entry_cap": BacktestConfig(
        kelly_min_trades=10**6,
        risk=RiskConfig(cooldown_after_losses=2, cooldown_minutes=360, max_entries_per_day=2),
    ),
    "min_conviction_above_fixed": BacktestConfig(risk=RiskConfig(min_conviction=0.6)),
}


@pytest.fixture(scope="module")
def btc_1h(shared_data: Path) -> pd.DataFrame:
    """BTC/USDT 1h, 2022-01-01 to 2025-05-05 (29,303 bars, one missing)."""
    return load_ohlcv(shared_data / BTC_1H_2022)


def both(
    bars: pd.DataFrame, config: BacktestConfig, scorer: Scorer | None = None
) -> tuple[BacktestResult, RefResult]:
    """The engine's run and the reference's, after checking they are the same run."""
    result = run_backtest(bars, config, scorer=scorer)
    ref = reference_backtest(bars, config, scorer)
    assert result.bars.index.equals(ref.index)
    assert_same_run(result.raw, ref)
    return result, ref


def reasons(ref: RefResult) -> dict[str, int]:
    out: dict[str, int] = {}
    for t in ref.trades:
        out[t.exit_reason] = out.get(t.exit_reason, 0) + 1
    return out


@pytest.mark.shared_data
@pytest.mark.parametrize("name", list(CONFIGS))
def test_kernel_matches_reference_on_btc_1h(btc_1h: pd.DataFrame, name: str) -> None:
    result, ref = both(btc_1h, CONFIGS[name])
    halts = result.halts()
    assert list(halts["time"]) == [ref.index[e.idx] for e in ref.events]
    # Each setting reaches the path it is here for (else the comparison proves little).
    kinds = {e.kind for e in ref.events}
    n, why = len(ref.trades), reasons(ref)
    rejected = {k: v for k, v in ref.rejections.items() if v}
    checks: dict[str, bool] = {
        # 50 trades at the default size, then half-Kelly of BTC's losing record is <= 0.
        "defaults": n == 50 and set(rejected) == {"size_zero"},
        "default_size_throughout": n > 500 and {"stop", "signal"} <= set(why) and not rejected,
        "kill_switches_flatten": why.get("halt") == 1 and kinds == {
            "daily_pause", "daily_clear", "drawdown_latch",
        } and {"daily_pause", "drawdown_latch"} <= set(rejected),
        "kill_switches_hold": "halt" not in why and "drawdown_latch" in kinds,
        "cooldown_and_entry_cap": {"cooldown", "entry_cap"} <= set(rejected),
        "min_conviction_above_fixed": n == 0 and set(rejected) == {"conviction"},
    }
    assert checks[name], (n, why, rejected, kinds)


@pytest.mark.shared_data
def test_kernel_matches_reference_after_kelly_warm_up(btc_1h: pd.DataFrame) -> None:
    # From 2024-09-27 BTC's first five trades leave a positive Kelly: later sizes are
    # half-Kelly x conviction, capped at 99% or (once) below the cap.
    config = BacktestConfig(kelly_min_trades=5, risk=RiskConfig(max_position_pct=0.99))
    _, ref = both(btc_1h.iloc[24_000:], config)
    notional = [t.size * t.entry_price / ref.equity[t.entry_idx - 1] for t in ref.trades]
    assert all(f == pytest.approx(0.005) for f in notional[:5])  # 1% x conviction 0.5
    assert len(notional) > 30
    assert any(0.01 < f < 0.98 for f in notional[5:])  # an uncapped Kelly size


@pytest.mark.shared_data
def test_equity_is_vectorbts_value_on_btc_1h(btc_1h: pd.DataFrame) -> None:
    result = run_backtest(btc_1h, CONFIGS["kill_switches_flatten"])
    value = result.portfolio("1h").value().to_numpy()
    np.testing.assert_allclose(value, result.raw.equity, rtol=1e-9, atol=0)


class PickyScorer:
    """A deterministic scorer that varies: conviction and suppress from the request's numbers,
    so refusals, sizes and the bars asked differ from bar to bar. Counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def score(self, request: ScoreRequest) -> Score:
        self.calls += 1
        wobble = math.sin(request.number("RSI") * 7.0 + request.closes[-1])
        return Score(
            conviction=round(wobble, 3), suppress=wobble > 0.9, reasoning="test",
            source=ScoreSource.FIXED,
        )


def _check_asked(bars: pd.DataFrame, config: BacktestConfig) -> RefResult:
    engine_scorer, ref_scorer = PickyScorer(), PickyScorer()
    result = run_backtest(bars, config, scorer=engine_scorer)
    ref = reference_backtest(bars, config, ref_scorer)
    assert_same_run(result.raw, ref)
    # Asked exactly where the live path asks: flat, a 1, no kill switch, cooldown or cap; and
    # each bar once, however often the engine re-runs the kernel.
    assert sorted(result.scores) == ref.asked
    assert engine_scorer.calls == ref_scorer.calls == len(ref.asked)
    return ref


@pytest.mark.shared_data
def test_a_varying_scorer_is_asked_at_the_same_bars(btc_1h: pd.DataFrame) -> None:
    config = BacktestConfig(kelly_min_trades=10**6, default_position_pct=1.0, risk=KILL)
    ref = _check_asked(btc_1h.iloc[:6_000], config)
    assert ref.rejections["conviction"] > 0
    assert ref.rejections["suppressed"] > 0
    assert len({t.conviction for t in ref.trades}) > 10
    assert ref.rejections["daily_pause"] > 0
    assert all(ref.halt[i] == 0 for i in ref.asked)  # never asked while halted


FRACTIONS = st.sampled_from([0.01, 0.05, 0.2, 0.5, 0.95])


def with_gaps(bars: pd.DataFrame, seed: int, size: float) -> pd.DataFrame:
    """Move each open away from the previous close by a random gap (synthetic bars open at the
    previous close, so without this no stop is ever gapped through)."""
    out = bars.copy()
    rng = np.random.default_rng(seed)
    out["open"] = out["open"] * np.exp(rng.normal(0.0, size, len(out)))
    out["high"] = out[["high", "open"]].max(axis=1)
    out["low"] = out[["low", "open"]].min(axis=1)
    return out


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    drift=st.sampled_from([-0.001, 0.0, 0.001, 0.003]),
    volatility=st.sampled_from([0.003, 0.01, 0.03]),
    kelly_min_trades=st.sampled_from([3, 10, 30, 10**6, 10**6]),
    max_position_pct=FRACTIONS,
    daily=FRACTIONS,
    drawdown=FRACTIONS,
    stop=st.sampled_from([0.005, 0.015, 0.05]),
    flatten=st.booleans(),
    limits=st.sampled_from([(0, 0, 0), (1, 60, 0), (3, 600, 2), (0, 0, 1)]),
    conviction=st.sampled_from([0.3, 0.6, 1.0]),
    gap=st.sampled_from([0.0, 0.01]),
)
def test_kernel_matches_reference_on_synthetic_bars(
    seed: int, drift: float, volatility: float, kelly_min_trades: int,
    max_position_pct: float, daily: float, drawdown: float, stop: float, flatten: bool,
    limits: tuple[int, int, int], conviction: float, gap: float,
) -> None:
    bars = synthetic_ohlcv(2_000, seed=seed, drift=drift, volatility=volatility)
    bars = with_gaps(bars, seed, gap) if gap else bars
    cooldown_after, cooldown_minutes, cap = limits
    risk = RiskConfig(
        max_position_pct=max_position_pct, daily_loss_limit_pct=daily,
        max_drawdown_pct=drawdown, stop_loss_pct=stop, cooldown_after_losses=cooldown_after,
        cooldown_minutes=cooldown_minutes, max_entries_per_day=cap,
    )
    config = BacktestConfig(
        kelly_min_trades=kelly_min_trades, default_position_pct=1.0, risk=risk,
        flatten_on_halt=flatten,
    )
    both(bars, config, FixedScorer(conviction))


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), volatility=st.sampled_from([0.005, 0.02]))
def test_a_varying_scorer_is_asked_at_the_same_bars_on_synthetic_bars(
    seed: int, volatility: float
) -> None:
    bars = with_gaps(synthetic_ohlcv(1_200, seed=seed, drift=0.0005, volatility=volatility),
                     seed, 0.005)
    risk = RiskConfig(max_position_pct=0.5, daily_loss_limit_pct=0.02, max_drawdown_pct=0.1)
    _check_asked(bars, BacktestConfig(kelly_min_trades=5, default_position_pct=1.0, risk=risk))
