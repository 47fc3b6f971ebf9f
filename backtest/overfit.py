"""Over-fitting statistics of a search, pure functions of numbers for ``sweep``/``walkforward``.

- DSR: Bailey & Lopez de Prado (2012) "The Sharpe Ratio Efficient Frontier" (PSR) and (2014)
  "The Deflated Sharpe Ratio" (SR0, the expected best Sharpe of N trials of pure luck).
- PBO: Bailey, Borwein, Lopez de Prado & Zhu (2015) "The Probability of Backtest Overfitting",
  by combinatorially symmetric cross-validation (CSCV) over contiguous blocks of bars.
- Bootstrap: closed trades' account returns resampled with replacement.

Sharpe ratios here are per bar (mean / std with ddof 1, no risk-free rate) unless named
``_annual``. Skew and kurtosis are the sample moments m3 / m2^1.5 and m4 / m2^2 (the papers'
gamma3 and gamma4; kurtosis is not excess: 3 for a normal law).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from itertools import combinations
from statistics import NormalDist
from typing import Any, Final

import numpy as np
from numba import njit, prange

from core.errors import ConfigError

EULER_GAMMA: Final = 0.5772156649015329

READ_DSR: Final[str] = (
    "DSR: probability that the selected trial's true Sharpe is above 0 once the N trials tried, "
    "the number of bars and the returns' skew and fat tails are allowed for; above 0.95 is "
    "evidence of an edge; at 0.5 or below, luck alone would give the best of N trials as much"
)
READ_PBO: Final[str] = (
    "PBO: share of in-sample/out-of-sample splits of the bars in which the trial best "
    "in-sample ranked at or below the median out-of-sample; near 0 the choice carries over to "
    "unseen bars, 0.5 is no better than picking at random, above 0.5 the search is overfit"
)
READ_BOOTSTRAP: Final[str] = (
    "Bootstrap: the closed trades' account returns drawn again with replacement, in random "
    "order; p95 max drawdown is a sober planning figure (the backtest's own order was one "
    "lucky or unlucky draw), prob_loss the share of draws that ended below the start"
)

_NORMAL: Final = NormalDist()
# A spread this small relative to the sum of squares is the rounding of a constant series.
_ZERO_SPREAD: Final = 1e-9
# C(S, S/2) splits grow ~4^S / sqrt(S): 20 blocks are 184,756 splits, 24 would be 2.7 million.
_MAX_BLOCKS: Final = 20
# Trade indices of one chunk of bootstrap draws (int64): bounds memory for long trade lists.
_CHUNK_BYTES: Final = 32 * 2**20


def _json_number(value: float) -> float | None:
    return value if math.isfinite(value) else None


@dataclass(frozen=True, slots=True)
class Moments:
    """Sample moments of per-bar returns; NaN where undefined.

    Attributes:
        n / mean: number of returns and their mean (all NaN if a return is not finite).
        std: standard deviation with ddof 1 (NaN, as skew and kurtosis, when n < 2).
        skew / kurtosis: m3 / m2^1.5 and m4 / m2^2 (not excess); a constant series has std 0,
            skew 0 and kurtosis 3 (a normal law's shape: nothing to penalise, PSR defined).
    """

    n: int
    mean: float
    std: float
    skew: float
    kurtosis: float


def moments(returns: np.ndarray) -> Moments:
    """Count, mean, std (ddof 1), skew and non-excess kurtosis of per-bar returns."""
    r = np.asarray(returns, dtype=np.float64).ravel()
    n = int(r.size)
    if n == 0 or not bool(np.isfinite(r).all()):
        return Moments(n, math.nan, math.nan, math.nan, math.nan)
    mean = float(r.mean())
    if n < 2:
        return Moments(n, mean, math.nan, math.nan, math.nan)
    if bool((r == r[0]).all()):
        return Moments(n, mean, 0.0, 0.0, 3.0)
    dev = r - mean
    m2 = float(np.mean(dev * dev))
    skew = float(np.mean(dev**3)) / m2**1.5
    kurtosis = float(np.mean(dev**4)) / m2**2
    return Moments(n, mean, math.sqrt(m2 * n / (n - 1)), skew, kurtosis)


def probabilistic_sharpe(
    sharpe: float, benchmark: float, *, n_obs: int, skew: float, kurtosis: float
) -> float:
    """PSR: probability that the true per-bar Sharpe exceeds ``benchmark``; NaN if undefined."""
    radicand = 1.0 - skew * sharpe + (kurtosis - 1.0) / 4.0 * sharpe * sharpe
    if n_obs < 2 or not radicand > 0.0:
        return math.nan
    z = (sharpe - benchmark) * math.sqrt(n_obs - 1) / math.sqrt(radicand)
    return _NORMAL.cdf(z) if math.isfinite(z) else math.nan


def expected_max_sharpe(n_trials: int, sr_variance: float) -> float:
    """SR0: the expected best per-bar Sharpe of ``n_trials`` trials with no edge (2014 paper)."""
    if n_trials < 1:
        raise ConfigError(f"n_trials must be at least 1, got {n_trials}")
    if sr_variance < 0.0:
        raise ConfigError(f"sr_variance must be >= 0, got {sr_variance}")
    if n_trials == 1:
        return 0.0
    spread = (1.0 - EULER_GAMMA) * _NORMAL.inv_cdf(1.0 - 1.0 / n_trials)
    spread += EULER_GAMMA * _NORMAL.inv_cdf(1.0 - 1.0 / (n_trials * math.e))
    return math.sqrt(sr_variance) * spread


@dataclass(frozen=True, slots=True)
class DeflatedSharpe:
    """The deflated Sharpe of a selected trial and what it was computed from.

    Attributes:
        dsr: PSR of the returns against ``benchmark``; NaN when undefined (fewer than 2 bars).
        sharpe / sharpe_annual: per bar (0.0 for a flat series: no edge); x sqrt(bars a year).
        benchmark: SR0, the expected best per-bar Sharpe of ``n_trials`` trials of luck.
        n_trials / n_obs / skew / kurtosis: trials in the search; bars, shape of the returns.
        sr_variance: variance of the per-bar Sharpes across the trials.
    """

    dsr: float
    sharpe: float
    sharpe_annual: float
    benchmark: float
    n_trials: int
    n_obs: int
    skew: float
    kurtosis: float
    sr_variance: float

    def to_json(self) -> dict[str, Any]:
        """The fields as a JSON-ready dict; NaN and infinities become None."""
        values = ((f.name, getattr(self, f.name)) for f in fields(self))
        return {k: (_json_number(v) if isinstance(v, float) else v) for k, v in values}


def deflated_sharpe(
    returns: np.ndarray, *, n_trials: int, sr_variance: float, ann_factor: float
) -> DeflatedSharpe:
    """DSR of one trial's per-bar returns, selected as the best of ``n_trials``."""
    if not ann_factor > 0.0:
        raise ConfigError(f"ann_factor must be > 0 (bars per year), got {ann_factor}")
    m = moments(returns)
    # A flat series (std 0, e.g. a trial that never traded) has no edge: Sharpe 0, not inf.
    sharpe = 0.0 if m.std == 0.0 else m.mean / m.std
    benchmark = expected_max_sharpe(n_trials, sr_variance)
    dsr = probabilistic_sharpe(sharpe, benchmark, n_obs=m.n, skew=m.skew, kurtosis=m.kurtosis)
    return DeflatedSharpe(
        dsr=dsr, sharpe=sharpe, sharpe_annual=sharpe * math.sqrt(ann_factor),
        benchmark=benchmark, n_trials=n_trials, n_obs=m.n, skew=m.skew, kurtosis=m.kurtosis,
        sr_variance=sr_variance,
    )


def sharpe_variance(per_bar_sharpes: np.ndarray) -> float:
    """Variance (ddof 1) of the finite per-bar Sharpes of the trials; 0.0 with fewer than 2."""
    x = np.asarray(per_bar_sharpes, dtype=np.float64).ravel()
    x = x[np.isfinite(x)]
    return float(np.var(x, ddof=1)) if x.size >= 2 else 0.0


def _check_blocks(n_blocks: int) -> None:
    if n_blocks < 2 or n_blocks % 2 or n_blocks > _MAX_BLOCKS:
        raise ConfigError(f"n_blocks must be even, from 2 to {_MAX_BLOCKS}, got {n_blocks}")


def block_edges(n_bars: int, n_blocks: int) -> np.ndarray:
    """The n_blocks + 1 edges (int64) of contiguous, near-equal blocks of bars [0, n_bars)."""
    _check_blocks(n_blocks)
    if n_bars < 2 * n_blocks:
        raise ConfigError(f"{n_bars} bars are too few for {n_blocks} blocks: each needs at "
                          f"least 2 bars ({2 * n_blocks} in all)")
    return (np.arange(n_blocks + 1, dtype=np.int64) * n_bars) // n_blocks


@njit(cache=True, error_model="numpy")  # a zero equity gives inf/NaN sums, not an exception
def block_sums(value: np.ndarray, init_cash: float, edges: np.ndarray, out: np.ndarray) -> None:
    """Per block of bars, the sum and the sum of squares of the per-bar returns into out."""
    # r_i = (value[i] - value[i-1]) / value[i-1] with value[-1] = init_cash: the sweep's and
    # vectorbt's form of value[i] / value[i-1] - 1, so that the sums add up to their returns.
    prev = init_cash if edges[0] == 0 else value[edges[0] - 1]
    for b in range(edges.shape[0] - 1):
        s = 0.0
        s2 = 0.0
        for i in range(edges[b], edges[b + 1]):
            r = (value[i] - prev) / prev
            s += r
            s2 += r * r
            prev = value[i]
        out[b, 0] = s
        out[b, 1] = s2


@dataclass(frozen=True, slots=True)
class Pbo:
    """The probability of backtest overfitting of a search, by CSCV.

    Attributes:
        pbo: share of the splits whose logit is <= 0 (the in-sample best ranked at or below
            the median out-of-sample).
        n_splits: C(n_blocks, n_blocks / 2) in-sample / out-of-sample splits.
        n_blocks / n_trials: blocks of bars; trials in the search.
        median_logit: median of the logits; > 0 when the choice tends to carry over.
        logits: ln(w / (1 - w)) per split, w the relative out-of-sample rank; sorted, read-only.
    """

    pbo: float
    n_splits: int
    n_blocks: int
    n_trials: int
    median_logit: float
    logits: np.ndarray = field(compare=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        """The figures as a JSON-ready dict (without the logits); NaN becomes None."""
        return {"pbo": _json_number(self.pbo), "n_splits": self.n_splits,
                "n_blocks": self.n_blocks, "n_trials": self.n_trials,
                "median_logit": _json_number(self.median_logit)}


def _splits(n_blocks: int) -> tuple[np.ndarray, np.ndarray]:
    """In-sample and out-of-sample block indices (ascending) of every CSCV split."""
    half = n_blocks // 2
    in_sample = np.array(list(combinations(range(n_blocks), half)), dtype=np.int64)
    rest = np.ones((in_sample.shape[0], n_blocks), dtype=np.bool_)
    rest[np.arange(in_sample.shape[0])[:, None], in_sample] = False
    return in_sample, np.nonzero(rest)[1].reshape(-1, half).astype(np.int64)


# error_model="numpy": IEEE division (no zero-divisor branch), so the loops over trials vectorise.
@njit(cache=True, error_model="numpy")
def _sharpe_of_sums(s: float, s2: float, n: int) -> float:
    # Branch-free (selects, not ifs): ~5x faster over the trials than the same logic with ifs.
    mean = s / n
    spread = s2 - s * mean
    sharpe = mean / math.sqrt(spread / (n - 1))
    sharpe = sharpe if spread > _ZERO_SPREAD * s2 else 0.0  # no spread: no edge
    # Non-finite sums (an account that hit zero) rank below every other trial.
    return sharpe if (s - s) + (s2 - s2) == 0.0 else -math.inf


@njit(cache=True, error_model="numpy")
def _half_sharpes(by_block: np.ndarray, blocks: np.ndarray, n: int, s: np.ndarray,
                  s2: np.ndarray, out: np.ndarray) -> None:
    # Trials innermost and contiguous (by_block is (n_blocks, 2, n_trials)): the adds vectorise.
    s[:] = 0.0
    s2[:] = 0.0
    for b in blocks:
        for t in range(s.shape[0]):
            s[t] += by_block[b, 0, t]
            s2[t] += by_block[b, 1, t]
    for t in range(s.shape[0]):
        out[t] = _sharpe_of_sums(s[t], s2[t], n)


@njit(cache=True)
def _logit(sharpe: np.ndarray, best: int) -> float:
    below = 0
    equal = 0
    x = sharpe[best]
    for t in range(sharpe.shape[0]):
        if sharpe[t] < x:
            below += 1
        elif sharpe[t] == x and t != best:
            equal += 1
    w = (1.0 + below + 0.5 * equal) / (sharpe.shape[0] + 1.0)
    return math.log(w / (1.0 - w))


@njit(parallel=True, cache=True, error_model="numpy")
def _cscv_logits(by_block: np.ndarray, first: np.ndarray, second: np.ndarray,
                 n_first: np.ndarray, n_second: np.ndarray, out: np.ndarray) -> None:
    # Row c is a split and its mirror (halves swapped): each half's Sharpes are computed once
    # and serve both, so out[2c] is the split picking on ``first``, out[2c + 1] on ``second``.
    n_trials = by_block.shape[2]
    for c in prange(first.shape[0]):
        s = np.empty(n_trials)
        s2 = np.empty(n_trials)
        a = np.empty(n_trials)
        b = np.empty(n_trials)
        _half_sharpes(by_block, first[c], n_first[c], s, s2, a)
        _half_sharpes(by_block, second[c], n_second[c], s, s2, b)
        # argmax takes the first of equal maxima: ties keep the lowest index.
        out[2 * c] = _logit(b, int(np.argmax(a)))
        out[2 * c + 1] = _logit(a, int(np.argmax(b)))


def pbo_cscv(sums: np.ndarray, counts: np.ndarray) -> Pbo:
    """PBO of a search from its per-block return sums (n_trials, n_blocks, 2) and block sizes."""
    sums = np.ascontiguousarray(sums, dtype=np.float64)
    counts = np.ascontiguousarray(counts, dtype=np.int64)
    if sums.ndim != 3 or sums.shape[2] != 2 or counts.shape != (sums.shape[1],):
        raise ConfigError(
            f"sums must be (n_trials, n_blocks, 2) and counts (n_blocks,), got {sums.shape} "
            f"and {counts.shape}"
        )
    n_trials, n_blocks = sums.shape[0], sums.shape[1]
    _check_blocks(n_blocks)
    if n_trials < 2:
        raise ConfigError(f"PBO compares trials: it needs at least 2, got {n_trials}")
    if bool((counts < 2).any()):
        raise ConfigError(f"every block needs at least 2 bars, got counts {counts.tolist()}")
    in_sample, out_sample = _splits(n_blocks)
    # Every split's mirror is a split too: take those with block 0 in-sample, run both ways.
    mirrored = in_sample[:, 0] == 0
    first, second = in_sample[mirrored], out_sample[mirrored]
    logits = np.empty(2 * first.shape[0])
    by_block = np.ascontiguousarray(sums.transpose(1, 2, 0))
    _cscv_logits(by_block, first, second, counts[first].sum(axis=1),
                 counts[second].sum(axis=1), logits)
    logits.sort()
    logits.setflags(write=False)
    return Pbo(
        pbo=float(np.mean(logits <= 0.0)), n_splits=int(logits.size), n_blocks=n_blocks,
        n_trials=n_trials, median_logit=float(np.median(logits)), logits=logits,
    )


@dataclass(frozen=True, slots=True)
class Bootstrap:
    """Spread of outcomes of the closed trades drawn again with replacement.

    Attributes:
        trades / draws / seed: trades resampled per draw; draws; the generator's seed.
        max_drawdown_pct: percentiles "p50", "p95", "p99" of the draws' max drawdown, in
            percent of the running peak (positive: 12.0 = a 12% fall).
        total_return_pct: percentiles "p5", "p50", "p95" of the draws' compounded return (%).
        prob_loss: share of draws that ended below the start.
    """

    trades: int
    draws: int
    seed: int
    max_drawdown_pct: dict[str, float]
    total_return_pct: dict[str, float]
    prob_loss: float

    def to_json(self) -> dict[str, Any]:
        """The figures as a JSON-ready dict; NaN becomes None."""
        return {"trades": self.trades, "draws": self.draws, "seed": self.seed,
                "max_drawdown_pct": {k: _json_number(v) for k, v in self.max_drawdown_pct.items()},
                "total_return_pct": {k: _json_number(v) for k, v in self.total_return_pct.items()},
                "prob_loss": _json_number(self.prob_loss)}


@njit(cache=True)
def _compound(r: np.ndarray, idx: np.ndarray, max_dd: np.ndarray, total: np.ndarray) -> None:
    for d in range(idx.shape[0]):
        equity = 1.0
        peak = 1.0
        worst = 0.0
        for j in range(idx.shape[1]):
            equity *= 1.0 + r[idx[d, j]]
            peak = max(peak, equity)
            worst = max(worst, 1.0 - equity / peak)
        max_dd[d] = worst
        total[d] = equity - 1.0


def _draw_outcomes(
    r: np.ndarray, *, draws: int, seed: int, chunk: int
) -> tuple[np.ndarray, np.ndarray]:
    """Max drawdown and total return (fractions) of each draw, ``chunk`` draws at a time."""
    # The generator's stream does not depend on how the draws are cut into chunks.
    rng = np.random.default_rng(seed)
    max_dd = np.empty(draws)
    total = np.empty(draws)
    for start in range(0, draws, chunk):
        stop = min(start + chunk, draws)
        # Passed, not bound to a name: the chunk's indices are freed before the next is drawn.
        _compound(r, rng.integers(0, r.size, size=(stop - start, r.size), dtype=np.int64),
                  max_dd[start:stop], total[start:stop])
    return max_dd, total


def bootstrap_trades(
    trade_returns: np.ndarray, *, draws: int = 10_000, seed: int = 7
) -> Bootstrap | None:
    """Bootstrap of the closed trades' account returns; None with fewer than 2 trades."""
    r = np.ascontiguousarray(trade_returns, dtype=np.float64).ravel()
    if draws < 1:
        raise ConfigError(f"draws must be at least 1, got {draws}")
    if r.size < 2:
        return None
    if not bool(np.isfinite(r).all()) or bool((r < -1.0).any()):
        raise ConfigError("trade returns must be finite and >= -1 (a trade loses at most all)")
    chunk = max(1, _CHUNK_BYTES // (8 * r.size))
    max_dd, total = _draw_outcomes(r, draws=draws, seed=seed, chunk=chunk)
    dd = np.percentile(max_dd * 100.0, [50.0, 95.0, 99.0])
    ret = np.percentile(total * 100.0, [5.0, 50.0, 95.0])
    return Bootstrap(
        trades=int(r.size), draws=draws, seed=seed,
        max_drawdown_pct={"p50": float(dd[0]), "p95": float(dd[1]), "p99": float(dd[2])},
        total_return_pct={"p5": float(ret[0]), "p50": float(ret[1]), "p95": float(ret[2])},
        prob_loss=float(np.mean(total < 0.0)),
    )
