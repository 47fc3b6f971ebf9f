"""Over-fitting statistics on tiny inputs worked by hand from the papers' definitions."""

from __future__ import annotations

import math
import tracemalloc
from collections.abc import Sequence
from itertools import combinations, pairwise
from statistics import NormalDist

import numpy as np
import pytest

from backtest.overfit import (
    EULER_GAMMA,
    block_edges,
    block_sums,
    bootstrap_trades,
    deflated_sharpe,
    expected_max_sharpe,
    moments,
    pbo_cscv,
    probabilistic_sharpe,
    sharpe_variance,
)
from backtest.overfit import _draw_outcomes as draw_outcomes
from core.errors import ConfigError

Z = NormalDist()
# Four bars: one +4% bar and three flat ones.
# mean = 0.04 / 4 = 0.01; deviations (0.03, -0.01, -0.01, -0.01)
# m2 = (9 + 1 + 1 + 1)e-4 / 4 = 3e-4; std (ddof 1) = sqrt(12e-4 / 3) = 0.02 -> SR = 0.5
# m3 = (27 - 1 - 1 - 1)e-6 / 4 = 6e-6 -> skew = 6e-6 / (3e-4)^1.5 = 2 / sqrt(3) = 1.1547
# m4 = (81 + 1 + 1 + 1)e-8 / 4 = 21e-8 -> kurtosis = 21e-8 / 9e-8 = 7 / 3
SERIES = np.array([0.04, 0.0, 0.0, 0.0])
# 1 - skew * SR + (kurt - 1) / 4 * SR^2 = 1 - 0.57735 + 1/3 * 0.25 = 0.505983; sqrt = 0.711325
RADICAND = 1.0 - 1.0 / math.sqrt(3.0) + 1.0 / 12.0


def test_moments_of_the_hand_series() -> None:
    m = moments(SERIES)
    assert m.n == 4
    assert m.mean == pytest.approx(0.01, rel=1e-12)
    assert m.std == pytest.approx(0.02, rel=1e-12)
    assert m.skew == pytest.approx(2.0 / math.sqrt(3.0), rel=1e-12)
    assert m.kurtosis == pytest.approx(7.0 / 3.0, rel=1e-12)


def test_moments_when_undefined() -> None:
    flat = moments(np.full(5, 0.1))  # constant: std 0, a normal law's shape (documented)
    assert (flat.std, flat.skew, flat.kurtosis) == (0.0, 0.0, 3.0)
    one = moments(np.array([0.2]))
    assert one.mean == 0.2
    assert [math.isnan(x) for x in (one.std, one.skew, one.kurtosis)] == [True] * 3
    assert math.isnan(moments(np.array([0.1, math.nan, 0.2])).mean)
    assert moments(np.array([])).n == 0


def test_psr_of_the_hand_series() -> None:
    # PSR(0) = Phi(0.5 * sqrt(4 - 1) / 0.711325) = Phi(1.217482) = 0.888290
    psr = probabilistic_sharpe(0.5, 0.0, n_obs=4, skew=2.0 / math.sqrt(3.0), kurtosis=7.0 / 3.0)
    assert psr == pytest.approx(0.888290, abs=1e-6)
    assert psr == pytest.approx(Z.cdf(0.5 * math.sqrt(3.0) / math.sqrt(RADICAND)), rel=1e-12)


def test_psr_is_nan_when_undefined() -> None:
    assert math.isnan(probabilistic_sharpe(0.5, 0.0, n_obs=1, skew=0.0, kurtosis=3.0))
    assert math.isnan(probabilistic_sharpe(math.nan, 0.0, n_obs=9, skew=0.0, kurtosis=3.0))
    # 1 - 2 * 1 + 0 < 0: no variance for the Sharpe estimate.
    assert math.isnan(probabilistic_sharpe(1.0, 0.0, n_obs=9, skew=2.0, kurtosis=1.0))


def test_expected_max_sharpe() -> None:
    assert expected_max_sharpe(1, 0.3) == 0.0
    # N = 2: Phi^-1(1 - 1/2) = 0, so SR0 = sqrt(V) * g * Phi^-1(1 - 1/(2e)) = sqrt(V) * g * 0.900453
    assert expected_max_sharpe(2, 0.04) == pytest.approx(
        0.2 * EULER_GAMMA * Z.inv_cdf(1.0 - 1.0 / (2.0 * math.e)), rel=1e-12
    )
    assert expected_max_sharpe(2, 0.04) == pytest.approx(0.103951, abs=1e-6)
    # N = 100: (1 - g) * Phi^-1(0.99) + g * Phi^-1(1 - 1/(100e)) = 0.42278 * 2.326348
    # + 0.57722 * 2.680210 = 2.530603
    direct = (1 - EULER_GAMMA) * Z.inv_cdf(0.99) + EULER_GAMMA * Z.inv_cdf(1 - 1 / (100 * math.e))
    assert expected_max_sharpe(100, 1.0) == pytest.approx(direct, rel=1e-12)
    assert expected_max_sharpe(100, 1.0) == pytest.approx(2.530603, abs=1e-6)
    assert expected_max_sharpe(100, 0.0) == 0.0


def test_expected_max_sharpe_rejects_bad_arguments() -> None:
    with pytest.raises(ConfigError, match="n_trials"):
        expected_max_sharpe(0, 1.0)
    with pytest.raises(ConfigError, match="sr_variance"):
        expected_max_sharpe(5, -0.1)


def test_deflated_sharpe_of_the_hand_series() -> None:
    # SR0 = 0.2 * g * 0.900453 = 0.103951 (N = 2, V = 0.04)
    # DSR = Phi((0.5 - 0.103951) * sqrt(3) / 0.711325) = Phi(0.964365) = 0.832569
    d = deflated_sharpe(SERIES, n_trials=2, sr_variance=0.04, ann_factor=365.0)
    assert d.sharpe == pytest.approx(0.5, rel=1e-12)
    assert d.sharpe_annual == pytest.approx(0.5 * math.sqrt(365.0), rel=1e-12)
    assert d.benchmark == pytest.approx(0.103951, abs=1e-6)
    assert d.dsr == pytest.approx(0.832569, abs=1e-6)
    assert (d.n_trials, d.n_obs, d.sr_variance) == (2, 4, 0.04)
    # One trial: SR0 = 0 and the DSR is the PSR against 0.
    assert deflated_sharpe(SERIES, n_trials=1, sr_variance=0.04, ann_factor=1.0).dsr == (
        pytest.approx(0.888290, abs=1e-6)
    )


def test_dsr_falls_as_the_trials_grow() -> None:
    returns = np.random.default_rng(3).normal(0.002, 0.01, 500)
    dsrs = [deflated_sharpe(returns, n_trials=n, sr_variance=0.002, ann_factor=365.0).dsr
            for n in (1, 2, 10, 100, 1000, 10_000)]
    assert all(a > b for a, b in pairwise(dsrs))


def test_dsr_reproduces_the_2014_papers_example() -> None:
    # Bailey & Lopez de Prado (2014), numerical example: best of N = 100 trials, annualised
    # SR 2.5 on T = 1250 daily returns (250 a year), skew -3, kurtosis 10, variance of the
    # trials' annualised Sharpes 1/2. De-annualised: SR = 2.5 / sqrt(250) = 0.158114,
    # V = 0.5 / 250 = 0.002, sqrt(V) = 0.044721.
    # SR0 = 0.044721 * 2.530603 (the N = 100 factor above) = 0.113172 (the paper's 0.1132)
    # radicand = 1 + 3 * 0.158114 + 9 / 4 * 0.158114^2 = 1.530592; sqrt = 1.237171
    # DSR = Phi((0.158114 - 0.113172) * sqrt(1249) / 1.237171) = Phi(1.283839) = 0.9004
    sr = 2.5 / math.sqrt(250.0)
    sr0 = expected_max_sharpe(100, 0.5 / 250.0)
    assert sr0 == pytest.approx(0.113172, abs=1e-6)
    dsr = probabilistic_sharpe(sr, sr0, n_obs=1250, skew=-3.0, kurtosis=10.0)
    assert dsr == pytest.approx(0.9004, abs=5e-5)


def test_deflated_sharpe_of_a_flat_series_and_json() -> None:
    flat = deflated_sharpe(np.zeros(10), n_trials=1, sr_variance=0.0, ann_factor=365.0)
    assert (flat.sharpe, flat.dsr) == (0.0, 0.5)  # no edge: Phi(0)
    short = deflated_sharpe(np.array([0.01]), n_trials=3, sr_variance=0.01, ann_factor=365.0)
    doc = short.to_json()
    assert (doc["dsr"], doc["n_obs"], doc["n_trials"]) == (None, 1, 3)
    with pytest.raises(ConfigError, match="ann_factor"):
        deflated_sharpe(SERIES, n_trials=1, sr_variance=0.0, ann_factor=0.0)


def test_sharpe_variance_of_finite_values() -> None:
    # var(0.1, 0.3) with ddof 1 = ((-0.1)^2 + 0.1^2) / 1 = 0.02
    assert sharpe_variance(np.array([0.1, math.nan, 0.3, math.inf])) == pytest.approx(0.02)
    assert sharpe_variance(np.array([0.1, math.nan])) == 0.0


def test_block_edges() -> None:
    assert block_edges(10, 4).tolist() == [0, 2, 5, 7, 10]
    edges = block_edges(1003, 16)
    assert edges.dtype == np.int64
    assert (edges[0], edges[-1]) == (0, 1003)
    assert set(np.diff(edges).tolist()) <= {62, 63}


@pytest.mark.parametrize(("n_bars", "n_blocks"), [(100, 3), (100, 0), (7, 4), (1000, 22)])
def test_block_edges_rejects(n_bars: int, n_blocks: int) -> None:
    with pytest.raises(ConfigError):
        block_edges(n_bars, n_blocks)


def test_block_sums_match_numpy() -> None:
    rng = np.random.default_rng(5)
    value = 1000.0 * np.cumprod(1.0 + rng.normal(0.0, 0.01, 103))
    edges = block_edges(103, 6)
    out = np.empty((6, 2))
    block_sums(value, 1000.0, edges, out)
    r = np.diff(np.concatenate([[1000.0], value])) / np.concatenate([[1000.0], value[:-1]])
    assert r[0] == pytest.approx(value[0] / 1000.0 - 1.0)  # the first bar is against init_cash
    for b in range(6):
        part = r[edges[b]:edges[b + 1]]
        assert out[b, 0] == pytest.approx(part.sum(), rel=1e-12, abs=1e-15)
        assert out[b, 1] == pytest.approx((part * part).sum(), rel=1e-12)


def _sums(trials: Sequence[Sequence[tuple[float, ...]]]) -> tuple[np.ndarray, np.ndarray]:
    """(n_trials, n_blocks, 2) sums and sums of squares of per-bar returns given per block."""
    sums = np.array([[(sum(b), sum(x * x for x in b)) for b in t] for t in trials])
    return sums, np.array([len(b) for b in trials[0]])


# Blocks of two bars. Over the union of two blocks (4 bars) the Sharpe is:
# UU (.02,0,.02,0): mean .01, std sqrt(4e-4/3) -> +0.866    DD: -0.866
# UF (.02,0,.01,-.01): mean .005, std sqrt(5e-4/3) -> +0.387    DF: -0.387
# UD and FF: mean exactly 0 -> 0.0 (a tie)
# so a half's Sharpe orders as its score #U - #D.
U, F, D = (0.02, 0.0), (0.01, -0.01), (0.0, -0.02)


def test_pbo_hand_worked_4_blocks_3_trials() -> None:
    # Scores per block: T0 = U U F D (1, 1, 0, -1), T1 = F F F F (0), T2 = U U F U (1, 1, 0, 1).
    # IS   | IS scores T0 T1 T2 | best     | OS  | OS scores T0 T1 T2 | rank of best   | logit
    # 0,1  |  2  0  2           | T0 (tie) | 2,3 | -1  0  1          | 1              | ln(1/3)
    # 0,2  |  1  0  1           | T0 (tie) | 1,3 |  0  0  2          | 1 + 0.5 = 1.5  | ln(.6)
    # 0,3  |  0  0  2           | T2       | 1,2 |  1  0  1          | 1 + 1 + .5     | ln(5/3)
    # 1,2  |  1  0  1           | T0 (tie) | 0,3 |  0  0  2          | 1.5            | ln(.6)
    # 1,3  |  0  0  2           | T2       | 0,2 |  1  0  1          | 2.5            | ln(5/3)
    # 2,3  | -1  0  1           | T2       | 0,1 |  2  0  2          | 2.5            | ln(5/3)
    # w = rank / (N + 1) = rank / 4; logits <= 0 in 3 of 6 splits -> PBO = 0.5, median 0.
    sums, counts = _sums([[U, U, F, D], [F, F, F, F], [U, U, F, U]])
    pbo = pbo_cscv(sums, counts)
    expected = sorted([math.log(1 / 3), math.log(0.6), math.log(5 / 3), math.log(0.6),
                       math.log(5 / 3), math.log(5 / 3)])
    assert pbo.logits.tolist() == pytest.approx(expected, rel=1e-12)
    assert (pbo.pbo, pbo.n_splits, pbo.n_blocks, pbo.n_trials) == (0.5, 6, 4, 3)
    assert pbo.median_logit == pytest.approx(0.0, abs=1e-12)
    assert pbo.to_json() == {"pbo": 0.5, "n_splits": 6, "n_blocks": 4, "n_trials": 3,
                             "median_logit": pytest.approx(0.0, abs=1e-12)}


def _half_patterns(n_blocks: int) -> list[list[tuple[float, float]]]:
    """Every trial with U on exactly half of the blocks and D on the rest."""
    return [[U if b in ups else D for b in range(n_blocks)]
            for ups in combinations(range(n_blocks), n_blocks // 2)]


def test_pbo_is_1_when_the_in_sample_best_is_always_worst_out_of_sample() -> None:
    # 20 trials: U on 3 of 6 blocks, D on the other 3. For an in-sample half I, only the
    # trial whose U's are I is all-U in-sample (the unique best) and it is all-D out of sample
    # (the unique worst): rank 1, w = 1/21, logit = -ln 20 in every split.
    pbo = pbo_cscv(*_sums(_half_patterns(6)))
    assert pbo.pbo == 1.0
    assert pbo.logits.tolist() == pytest.approx([-math.log(20.0)] * 20, rel=1e-12)


def test_pbo_is_0_when_one_trial_dominates_every_block() -> None:
    # Trial 0 has blocks (.03, .01): over any union mean .02, std .011547 -> Sharpe 1.732,
    # above the all-U Sharpe of 0.866 of any other trial: best in-sample and out-of-sample,
    # rank 21 of 21 trials, w = 21/22, logit = ln 21 in every split.
    pbo = pbo_cscv(*_sums([[(0.03, 0.01)] * 6, *_half_patterns(6)]))
    assert pbo.pbo == 0.0
    assert pbo.logits.tolist() == pytest.approx([math.log(21.0)] * 20, rel=1e-12)


def _noise_sums(seed: int) -> np.ndarray:
    """Block sums of white noise: 50 trials, 16 blocks of 25 bars."""
    returns = np.random.default_rng(seed).normal(0.0, 0.01, (50, 16, 25))
    return np.stack([returns.sum(axis=2), (returns * returns).sum(axis=2)], axis=2)


def test_pbo_of_noise_is_near_a_half() -> None:
    pbo = pbo_cscv(_noise_sums(11), np.full(16, 25))
    assert pbo.n_splits == 12_870
    assert 0.3 < pbo.pbo < 0.7
    # One noise set's PBO spreads widely (0.29 to 0.71 over seeds 0-9: the splits share
    # blocks); the mean over sets is close to a half.
    mean = np.mean([pbo_cscv(_noise_sums(seed), np.full(16, 25)).pbo for seed in range(10)])
    assert 0.4 < mean < 0.6


def test_pbo_flat_trials_tie_and_broken_accounts_rank_last() -> None:
    # Two trials that never trade (all returns 0: Sharpe 0.0) tie everywhere: the in-sample
    # best is trial 0, mid-rank 1.5 of 2 -> w = 0.5, logit 0, PBO 1 (<= 0 counts).
    flat = np.zeros((2, 4, 2))
    pbo = pbo_cscv(flat, np.full(4, 3))
    assert pbo.pbo == 1.0
    assert pbo.logits.tolist() == [0.0] * 6
    # NaN sums (an account that hit zero) rank below a flat trial: never the best.
    broken = flat.copy()
    broken[1, 0, :] = math.nan
    assert pbo_cscv(broken, np.full(4, 3)).logits.tolist() == pytest.approx(
        sorted([math.log(2.0)] * 3 + [0.0] * 3)
    )


def test_pbo_rejects_bad_input() -> None:
    with pytest.raises(ConfigError, match="at least 2"):
        pbo_cscv(np.zeros((1, 4, 2)), np.full(4, 3))
    with pytest.raises(ConfigError, match="n_blocks"):
        pbo_cscv(np.zeros((3, 5, 2)), np.full(5, 3))
    with pytest.raises(ConfigError, match="counts"):
        pbo_cscv(np.zeros((3, 4, 2)), np.full(3, 3))


def test_bootstrap_is_deterministic_for_a_seed() -> None:
    trades = np.random.default_rng(2).normal(0.002, 0.02, 300)
    first = bootstrap_trades(trades, draws=2000, seed=5)
    assert first == bootstrap_trades(trades, draws=2000, seed=5)
    assert first != bootstrap_trades(trades, draws=2000, seed=6)


def test_bootstrap_of_winners_only() -> None:
    b = bootstrap_trades(np.array([0.01, 0.02, 0.005]), draws=500)
    assert b is not None
    assert b.prob_loss == 0.0
    assert b.max_drawdown_pct == {"p50": 0.0, "p95": 0.0, "p99": 0.0}
    # The fewest gain is three draws of 0.5%: 1.005^3 - 1 = 1.5075%
    assert b.total_return_pct["p5"] >= 1.5075 - 1e-9


def test_bootstrap_of_one_win_and_one_loss() -> None:
    # Two trades a draw, each +10% or -10% with probability 1/2:
    # (+,+): 1.21 -> return +21%, drawdown 0          probability 1/4
    # (+,-): 1.1 -> 0.99: return -1%, drawdown 1 - 0.99/1.1 = 10%      1/4
    # (-,+): 0.9 -> 0.99: return -1%, drawdown 10% (from the start)    1/4
    # (-,-): 0.81: return -19%, drawdown 19%           1/4
    r = np.array([0.1, -0.1])
    max_dd, total = draw_outcomes(r, draws=4000, seed=7, chunk=4000)
    pairs = {(round(t, 12), round(d, 12)) for t, d in zip(total, max_dd, strict=True)}
    assert pairs == {(0.21, 0.0), (-0.01, 0.1), (-0.19, 0.19)}
    b = bootstrap_trades(r, draws=4000, seed=7)
    assert b is not None
    # Drawdowns 0 / 10 / 19% with weights 1/4, 1/2, 1/4; returns -19 / -1 / +21%.
    assert b.max_drawdown_pct == pytest.approx({"p50": 10.0, "p95": 19.0, "p99": 19.0})
    assert b.total_return_pct == pytest.approx({"p5": -19.0, "p50": -1.0, "p95": 21.0})
    assert b.prob_loss == pytest.approx(0.75, abs=0.03)  # 4 sd of a binomial share
    assert b.to_json()["prob_loss"] == b.prob_loss


def test_bootstrap_chunks_do_not_change_the_draws() -> None:
    r = np.random.default_rng(4).normal(0.0, 0.03, 37)
    whole = draw_outcomes(r, draws=1000, seed=9, chunk=1000)
    chunked = draw_outcomes(r, draws=1000, seed=9, chunk=7)
    assert np.array_equal(whole[0], chunked[0])
    assert np.array_equal(whole[1], chunked[1])


def test_bootstrap_memory_is_bounded() -> None:
    # 2,000 draws of 5,000 trades at once would be 80 MB of int64 indices.
    trades = np.random.default_rng(8).normal(0.0005, 0.01, 5000)
    bootstrap_trades(trades[:10], draws=10)  # load the compiled loop outside the measure
    tracemalloc.start()
    try:
        bootstrap_trades(trades, draws=2000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 2**20


def test_bootstrap_needs_two_trades_and_sane_returns() -> None:
    assert bootstrap_trades(np.array([0.1])) is None
    with pytest.raises(ConfigError, match="finite"):
        bootstrap_trades(np.array([0.1, math.nan]))
    with pytest.raises(ConfigError, match="finite"):
        bootstrap_trades(np.array([0.1, -1.5]))
    with pytest.raises(ConfigError, match="draws"):
        bootstrap_trades(np.array([0.1, 0.2]), draws=0)
