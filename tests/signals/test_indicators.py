"""EMA and RSI: hand-computed values, the seed's SMA RSI, the TA-Lib oracle, golden values."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import ConfigError, DataError
from signals import ema, rsi
from signals.indicators import CONVERGENCE_TOL, ema_alpha, ema_warmup_bars, rsi_warmup_bars

UTC_HOURS = pd.date_range("2024-01-01", periods=8, freq="h", tz="UTC")


def series(values: list[float]) -> pd.Series:
    return pd.Series(values, index=UTC_HOURS[: len(values)], dtype="float64")


def seed_rsi(close: pd.Series) -> pd.Series:
    """The seed guide's RSI-14, restated verbatim (the oracle for method="sma")."""
    delta = close.diff()
    gain = delta.clip(lower=0).rolling(14).mean()
    loss = (-delta.clip(upper=0)).rolling(14).mean()
    rs = gain / loss.replace(0, np.nan)
    return 100 - (100 / (1 + rs))


# --- EMA ------------------------------------------------------------------------------------


def test_ema_hand_computed_span_3() -> None:
    # span 3 -> alpha 0.5, seeded with the first close: every step is exact in binary.
    out = ema(series([10.0, 11.0, 12.0, 11.0]), 3)
    assert out.tolist() == [10.0, 10.5, 11.25, 11.125]


def test_ema_hand_computed_span_4() -> None:
    # alpha 0.4: 10 -> 10.4 -> 0.6*10.4 + 0.4*12 = 11.04 -> 0.6*11.04 + 0.4*11 = 11.024
    out = ema(series([10.0, 11.0, 12.0, 11.0]), 4)
    assert out.tolist() == pytest.approx([10.0, 10.4, 11.04, 11.024], rel=1e-15)
    assert ema_alpha(4) == pytest.approx(0.4, rel=1e-16)


def test_ema_of_constant_prices_is_exactly_constant() -> None:
    out = ema(series([123.456] * 8), 5)
    assert (out == 123.456).all()


def test_ema_keeps_index_and_input() -> None:
    close = series([1.0, 2.0, 3.0])
    out = ema(close, 2)
    assert out.index.equals(close.index)
    assert close.tolist() == [1.0, 2.0, 3.0]


@pytest.mark.parametrize("span", [2, 12, 26, 200])
def test_ema_is_bit_for_bit_pandas_ewm(btc_2017: pd.DataFrame, span: int) -> None:
    close = btc_2017["close"]
    expected = close.ewm(span=span, adjust=False).mean()
    np.testing.assert_array_equal(ema(close, span).to_numpy(), expected.to_numpy())


@pytest.mark.parametrize("span", [12, 26])
def test_ema_recursion_matches_talib_with_talib_seed(btc_2017: pd.DataFrame, span: int) -> None:
    talib = pytest.importorskip("talib")
    close = btc_2017["close"]
    reference = talib.EMA(close.to_numpy(), span)
    # TA-Lib seeds with the SMA of the first `span` closes at bar span-1; give ours that seed.
    seeded = close.iloc[span - 1 :].copy()
    seeded.iloc[0] = close.iloc[:span].mean()
    np.testing.assert_allclose(ema(seeded, span).to_numpy(), reference[span - 1 :], rtol=1e-12)


@pytest.mark.parametrize("span", [12, 26])
def test_ema_forgets_its_seed_after_warmup(btc_2017: pd.DataFrame, span: int) -> None:
    # Independent check of the warm-up arithmetic: TA-Lib's differently seeded EMA agrees
    # with ours to ~1e-12 once ema_warmup_bars bars have passed, and not before.
    talib = pytest.importorskip("talib")
    close = btc_2017["close"]
    ours = ema(close, span).to_numpy()
    theirs = talib.EMA(close.to_numpy(), span)
    relative = np.abs(ours / theirs - 1.0)
    warm = ema_warmup_bars(span)
    assert np.nanmax(relative[warm - 1 :]) < 1e-12
    assert np.nanmax(relative[: warm // 4]) > 1e-6


# --- RSI, Wilder ----------------------------------------------------------------------------


def test_wilder_rsi_hand_computed_window_2() -> None:
    # changes +1, -1, +1, +2; seed g = l = 0.5 -> 50; then g, l = (0.5 + 1)/2, 0.5/2 -> 75;
    # then (0.75 + 2)/2 = 1.375 and 0.125 -> 100 * 1.375 / 1.5 = 275/3.
    out = rsi(series([1.0, 2.0, 1.0, 2.0, 4.0]), window=2)
    assert math.isnan(out.iloc[0])
    assert math.isnan(out.iloc[1])
    assert out.iloc[2:].tolist() == pytest.approx([50.0, 75.0, 275.0 / 3.0], rel=1e-15)


def test_wilder_rsi_first_window_bars_are_nan() -> None:
    out = rsi(series([1.0, 2.0, 4.0, 3.0, 5.0, 6.0]), window=3)
    assert out.isna().tolist() == [True, True, True, False, False, False]
    assert rsi(series([1.0, 2.0, 3.0]), window=3).isna().all()


def test_rsi_monotonic_rising_is_100_and_falling_is_0() -> None:
    assert rsi(series([1.0, 2.0, 3.0, 5.0, 8.0, 13.0]), window=2).iloc[2:].eq(100.0).all()
    assert rsi(series([13.0, 8.0, 5.0, 3.0, 2.0, 1.0]), window=2).iloc[2:].eq(0.0).all()


def test_rsi_constant_prices_is_100_where_talib_says_0() -> None:
    # No loss -> 100, flat included (TradingView's rule). TA-Lib returns 0 for a series flat
    # since its start; that is the one documented difference.
    out = rsi(series([5.0] * 6), window=3)
    assert out.iloc[3:].eq(100.0).all()
    talib = pytest.importorskip("talib")
    assert talib.RSI(np.full(6, 5.0), 3)[3:].tolist() == [0.0, 0.0, 0.0]


def test_wilder_rsi_equals_talib_on_btc_2017(btc_2017: pd.DataFrame) -> None:
    talib = pytest.importorskip("talib")
    close = btc_2017["close"]
    expected = talib.RSI(close.to_numpy(), timeperiod=14)
    ours = rsi(close).to_numpy()
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(expected))
    assert np.nanmax(np.abs(ours - expected)) < 1e-9  # measured: 5.7e-14


def test_wilder_rsi_equals_talib_at_doge_price_scale(doge_2022: pd.DataFrame) -> None:
    talib = pytest.importorskip("talib")
    close = doge_2022["close"]
    for window in (2, 14, 50):
        expected = talib.RSI(close.to_numpy(), timeperiod=window)
        np.testing.assert_allclose(rsi(close, window).to_numpy(), expected, rtol=0, atol=1e-9)


@settings(max_examples=150, deadline=None)
@given(
    cents=st.lists(st.integers(1, 10_000_000), min_size=0, max_size=120),
    window=st.integers(2, 20),
)
def test_wilder_rsi_matches_talib_on_random_series(cents: list[int], window: int) -> None:
    talib = pytest.importorskip("talib")
    close = np.asarray(cents, dtype=np.float64) / 100.0
    ours = rsi(pd.Series(close), window).to_numpy()
    expected = talib.RSI(close, window) if close.size else close
    # Where nothing has moved since the start, TA-Lib says 0 and we say 100 (documented).
    flat_so_far = np.maximum.accumulate(np.abs(np.diff(close, prepend=close[:1]))) == 0
    expected = np.where(flat_so_far & ~np.isnan(expected), 100.0, expected)
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-9)


# --- RSI, the seed's SMA --------------------------------------------------------------------


def test_sma_rsi_is_exactly_the_seed_on_btc_2017(btc_2017: pd.DataFrame) -> None:
    close = btc_2017["close"]
    pd.testing.assert_series_equal(
        rsi(close, method="sma"), seed_rsi(close), check_exact=True, check_names=False
    )


def test_sma_rsi_is_exactly_the_seed_with_flat_and_rising_runs() -> None:
    rng = np.random.default_rng(7)
    steps = rng.choice([-1.0, 0.0, 0.0, 1.0, 2.0], size=400)
    steps[100:130] = 0.0  # flat run: no loss -> NaN in the seed
    steps[200:240] = 1.0  # steady climb: no loss -> NaN in the seed
    close = pd.Series(1000.0 + np.cumsum(steps))
    ours = rsi(close, method="sma")
    pd.testing.assert_series_equal(ours, seed_rsi(close), check_exact=True, check_names=False)
    # NaN exactly where the 14 changes ending at the bar hold no loss, i.e. inside the runs.
    assert ours.iloc[113:130].isna().all()
    assert ours.iloc[213:240].isna().all()
    no_loss = (close.diff() < 0).astype(float).rolling(14).sum() == 0
    assert ours.iloc[14:].isna().equals(no_loss.iloc[14:])
    wilder = rsi(close).iloc[213:240]
    assert wilder.notna().all()
    assert wilder.is_monotonic_increasing  # older losses fade out; no NaN hole


def test_sma_rsi_of_rising_prices_is_nan_as_the_seed() -> None:
    out = rsi(series([1.0, 2.0, 3.0, 4.0, 5.0]), window=2, method="sma")
    assert out.isna().all()
    assert rsi(series([5.0, 4.0, 3.0, 2.0, 1.0]), window=2, method="sma").iloc[2:].eq(0.0).all()


# --- RSI properties -------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    closes=st.lists(
        st.floats(1e-6, 1e7, allow_nan=False, allow_infinity=False), min_size=0, max_size=80
    ),
    window=st.integers(2, 15),
    method=st.sampled_from(["wilder", "sma"]),
)
def test_rsi_is_between_0_and_100_where_defined(
    closes: list[float], window: int, method: str
) -> None:
    out = rsi(pd.Series(closes, dtype="float64"), window, method)
    assert len(out) == len(closes)
    assert out.iloc[:window].isna().all()
    defined = out.dropna()
    assert ((defined >= 0.0) & (defined <= 100.0)).all()
    if method == "wilder":
        assert len(defined) == max(len(closes) - window, 0)


# --- golden values (cross-checked by the TA-Lib and seed oracles above) ---------------------

GOLDEN_2017 = [
    # timestamp, close, Wilder RSI (TA-Lib), seed SMA RSI, EMA 12, EMA 26 (over the whole file)
    ("2018-02-06 00:00", 6983.17, 35.7757470462, 34.4222394145, 7158.2764722443, 7517.7321371189),
    ("2020-03-12 12:00", 6028.10, 11.3359054563, 4.3945395993, 6968.0471870030, 7349.8660324813),
    ("2021-11-10 14:00", 68382.69, 66.8276141407, 67.3492687837, 67092.950341472, 66974.919505046),
    ("2024-04-21 14:00", 64893.50, 52.6925142170, 53.5537480437, 64961.771191477, 64796.973752017),
]


@pytest.mark.parametrize(("stamp", "close", "wilder", "sma", "fast", "slow"), GOLDEN_2017)
def test_golden_values_btc_2017(
    btc_2017: pd.DataFrame,
    stamp: str,
    close: float,
    wilder: float,
    sma: float,
    fast: float,
    slow: float,
) -> None:
    when = pd.Timestamp(stamp, tz="UTC")
    series_close = btc_2017["close"]
    assert series_close[when] == close
    assert rsi(series_close)[when] == pytest.approx(wilder, abs=1e-6)
    assert rsi(series_close, method="sma")[when] == pytest.approx(sma, abs=1e-6)
    assert ema(series_close, 12)[when] == pytest.approx(fast, abs=1e-6)
    assert ema(series_close, 26)[when] == pytest.approx(slow, abs=1e-6)


# --- warm-up arithmetic ---------------------------------------------------------------------


def test_warmup_bars_follow_from_the_decay_factors() -> None:
    assert ema_warmup_bars(12) == 167
    assert ema_warmup_bars(26) == 361
    assert rsi_warmup_bars(14, "wilder") == 388
    assert rsi_warmup_bars(14, "sma") == 15
    for span in (2, 12, 26, 100):
        keep = 1.0 - ema_alpha(span)
        updates = ema_warmup_bars(span) - 1
        assert keep**updates <= CONVERGENCE_TOL < keep ** (updates - 1)
    updates = rsi_warmup_bars(14, "wilder") - 15
    assert (13 / 14) ** updates <= CONVERGENCE_TOL < (13 / 14) ** (updates - 1)


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize("window", [1, 0, -3, 14.5, True, "14"])
def test_rsi_bad_window_names_the_field(window: object) -> None:
    with pytest.raises(ConfigError, match=r"window must be an integer >= 2"):
        rsi(series([1.0, 2.0, 3.0]), window=window)  # type: ignore[arg-type]


def test_rsi_bad_method_lists_the_allowed_values() -> None:
    with pytest.raises(
        ConfigError, match=r"method must be 'wilder' or 'sma'.*did you mean 'wilder'"
    ):
        rsi(series([1.0, 2.0, 3.0]), method="Wilders")
    with pytest.raises(ConfigError, match=r"method must be 'wilder' or 'sma', got 'macd'$"):
        rsi(series([1.0, 2.0, 3.0]), method="macd")


def test_ema_bad_span_names_the_field() -> None:
    with pytest.raises(ConfigError, match=r"span must be an integer >= 2, got 1"):
        ema(series([1.0, 2.0]), 1)


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_close_fails_fast(bad: float) -> None:
    close = series([1.0, 2.0, bad, 4.0])
    with pytest.raises(
        DataError, match=r"close has 1 non-finite value\(s\), first at 2024-01-01 02:00"
    ):
        rsi(close)
    with pytest.raises(DataError, match="non-finite"):
        ema(close, 3)
