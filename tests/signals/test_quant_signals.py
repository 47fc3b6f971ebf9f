"""compute_signals, the sweep array, latest_signal and SignalParams."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import ConfigError, DataError
from signals import (
    SignalParams,
    SignalRow,
    compute_signals,
    latest_signal,
    signal_array,
    signal_rule,
)
from tests.signals.conftest import FrameMaker, frame_from_closes

DEFAULT = SignalParams()
SMA = SignalParams(rsi_method="sma")
OHLCV = ["open", "high", "low", "close", "volume"]


# --- SignalParams ---------------------------------------------------------------------------


def test_params_defaults_are_the_seeds() -> None:
    assert (DEFAULT.rsi_window, DEFAULT.ema_fast, DEFAULT.ema_slow) == (14, 12, 26)
    assert (DEFAULT.overbought, DEFAULT.oversold, DEFAULT.rsi_method) == (70.0, 30.0, "wilder")


def test_params_are_frozen_with_slots() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULT.rsi_window = 7  # type: ignore[misc]
    assert not hasattr(DEFAULT, "__dict__")


def test_warmup_bars() -> None:
    # Wilder RSI-14: 15 bars to seed + 373 updates for (13/14)**k <= 1e-12; EMA-26 needs 361.
    assert DEFAULT.warmup_bars == 388
    assert SMA.warmup_bars == 361
    assert SignalParams(rsi_window=2, ema_fast=2, ema_slow=3).warmup_bars == 43


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rsi_window": 1}, r"rsi_window must be an integer >= 2, got 1"),
        ({"rsi_window": 14.0}, r"rsi_window must be an integer >= 2, got 14\.0"),
        ({"ema_fast": True}, r"ema_fast must be an integer >= 2, got True"),
        ({"ema_slow": 0}, r"ema_slow must be an integer >= 2, got 0"),
        ({"ema_fast": 26}, r"ema_fast must be smaller than ema_slow, got ema_fast=26"),
        ({"ema_fast": 30}, r"ema_fast must be smaller than ema_slow"),
        ({"overbought": 100}, r"0 < oversold < overbought < 100, got oversold=30\.0"),
        ({"oversold": 0}, r"0 < oversold < overbought < 100"),
        ({"oversold": 70}, r"0 < oversold < overbought < 100"),
        ({"oversold": 80, "overbought": 20}, r"0 < oversold < overbought < 100"),
        ({"overbought": math.nan}, r"overbought must be a number strictly between 0 and 100"),
        ({"oversold": "30"}, r"oversold must be a number strictly between 0 and 100"),
        ({"rsi_method": "SMA"}, r"rsi_method must be 'wilder' or 'sma'.*did you mean 'sma'"),
    ],
)
def test_params_validation_names_field_and_range(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        SignalParams(**kwargs)  # type: ignore[arg-type]


def test_params_normalise_numeric_types() -> None:
    params = SignalParams(rsi_window=np.int64(10), overbought=80)  # type: ignore[arg-type]
    assert type(params.rsi_window) is int
    assert type(params.overbought) is float


# --- the seed's rules -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fast", "slow", "rsi", "expected"),
    [
        (2.0, 1.0, 69.999999, 1),  # uptrend, not overbought
        (2.0, 1.0, 70.0, 0),  # rsi == overbought is not "< 70"
        (2.0, 1.0, 95.0, 0),
        (2.0, 1.0, 5.0, 1),  # oversold does not block a long
        (1.0, 1.0, 30.000001, -1),  # fast == slow counts as "not above"
        (1.0, 1.0, 30.0, 0),  # rsi == oversold is not "> 30"
        (1.0, 2.0, 95.0, -1),
        (1.0, 2.0, 10.0, 0),
        (1.0, 1.0, 50.0, -1),
        (2.0, 1.0, math.nan, 0),  # undefined RSI: neither rule holds
        (1.0, 2.0, math.nan, 0),
    ],
)
def test_signal_rule_at_the_boundaries(fast: float, slow: float, rsi: float, expected: int) -> None:
    out = signal_rule(
        DEFAULT, rsi=np.array([rsi]), ema_fast=np.array([fast]), ema_slow=np.array([slow])
    )
    assert out.dtype == np.int8
    assert out.tolist() == [expected]


def test_signal_rule_uses_the_params_levels() -> None:
    params = SignalParams(overbought=60.0, oversold=40.0)
    args = {"ema_fast": np.array([2.0, 1.0]), "ema_slow": np.array([1.0, 2.0])}
    assert signal_rule(params, rsi=np.array([60.0, 40.0]), **args).tolist() == [0, 0]
    assert signal_rule(params, rsi=np.array([59.0, 41.0]), **args).tolist() == [1, -1]


# --- compute_signals on hand-made frames ----------------------------------------------------


def test_compute_signals_returns_a_new_frame_and_leaves_input_alone(make_frame: FrameMaker) -> None:
    df = make_frame(100.0 + np.sin(np.arange(500) / 7.0))
    df["extra"] = 1.0
    before = df.copy()
    out = compute_signals(df)
    pd.testing.assert_frame_equal(df, before)
    assert out is not df
    assert list(out.columns) == [*OHLCV, "extra", "rsi", "ema_fast", "ema_slow", "signal"]
    assert out["signal"].dtype == np.int8
    # Only the warm-up is dropped: the first 387 rows.
    assert len(out) == 500 - 387
    assert out.index[0] == df.index[387]
    pd.testing.assert_frame_equal(out[[*OHLCV, "extra"]], df.iloc[387:])


def test_constant_prices(make_frame: FrameMaker) -> None:
    out = compute_signals(make_frame([250.0] * 400))
    assert (out["ema_fast"] == 250.0).all()
    assert (out["ema_slow"] == 250.0).all()
    assert (out["rsi"] == 100.0).all()  # no loss -> 100
    # fast == slow is "not above" and 100 > oversold: the seed's rules say -1 (stay out).
    assert (out["signal"] == -1).all()
    sma = compute_signals(make_frame([250.0] * 400), SMA)
    assert len(sma) == 400 - 360
    assert sma["rsi"].isna().all()
    assert (sma["signal"] == 0).all()


def test_monotonic_rise(make_frame: FrameMaker) -> None:
    out = compute_signals(make_frame(np.arange(1.0, 401.0)))
    assert (out["rsi"] == 100.0).all()
    assert (out["ema_fast"] > out["ema_slow"]).all()
    assert (out["signal"] == 0).all()  # uptrend but overbought


def test_sma_rows_without_a_loss_are_kept_with_signal_0(make_frame: FrameMaker) -> None:
    closes = 100.0 + 0.5 * (np.arange(600) % 2 == 0)  # zigzag: every odd bar is a loss
    closes[450:480] = closes[449] + np.arange(1, 31)  # then 30 rising bars
    df = make_frame(closes)
    out = compute_signals(df, SMA)
    holes = out.index[out["rsi"].isna()]
    # The seed's dropna() would have removed these 17 bars from the middle of the series.
    assert list(holes) == list(df.index[463:480])
    assert (out.loc[holes, "signal"] == 0).all()
    assert len(out) == 600 - (SMA.warmup_bars - 1)


def test_signal_array_matches_compute_signals(make_frame: FrameMaker) -> None:
    df = make_frame(100.0 + 3 * np.sin(np.arange(800) / 11.0) + np.arange(800) / 50.0)
    for params in (DEFAULT, SMA, SignalParams(rsi_window=5, ema_fast=3, ema_slow=8)):
        sweep = signal_array(df["close"].to_numpy(), params)
        first = params.warmup_bars - 1
        assert sweep.dtype == np.int8
        assert not sweep[:first].any()
        np.testing.assert_array_equal(sweep[first:], compute_signals(df, params)["signal"])


# --- bad input ------------------------------------------------------------------------------


def test_too_short_history_is_a_clear_error(make_frame: FrameMaker) -> None:
    df = make_frame([100.0] * 387)
    message = r"need at least 388 bars \(params.warmup_bars\) for SignalParams\(.*\), got 387"
    with pytest.raises(DataError, match=message):
        latest_signal(df)
    with pytest.raises(DataError, match=message):
        compute_signals(df)
    with pytest.raises(DataError, match=message):
        signal_array(df["close"].to_numpy())
    assert latest_signal(make_frame([100.0] * 388)).signal == -1


def test_malformed_frames_fail_fast(make_frame: FrameMaker) -> None:
    df = make_frame([100.0] * 400)
    with pytest.raises(DataError, match="no 'close' column"):
        compute_signals(df.drop(columns="close"))
    with pytest.raises(DataError, match="UTC DatetimeIndex"):
        compute_signals(df.tz_localize(None))
    with pytest.raises(DataError, match="UTC DatetimeIndex"):
        compute_signals(df.tz_convert("Europe/Paris"))
    with pytest.raises(DataError, match="strictly increasing"):
        compute_signals(df.iloc[::-1])
    broken = df.copy()
    broken.loc[broken.index[200], "close"] = np.nan
    with pytest.raises(DataError, match=r"non-finite value.*2024-01-09 08:00"):
        latest_signal(broken)
    with pytest.raises(DataError, match="non-finite"):
        signal_array(broken["close"].to_numpy())


# --- real data ------------------------------------------------------------------------------


def test_golden_signal_counts_btc_2022(btc_2022: pd.DataFrame) -> None:
    out = compute_signals(btc_2022)
    assert len(out) == 29_303 - 387
    assert out.index[0] == pd.Timestamp("2022-01-17 03:00", tz="UTC")
    assert out["signal"].value_counts().to_dict() == {1: 13_318, -1: 12_450, 0: 3_148}
    sma = compute_signals(btc_2022, SMA)
    assert sma["signal"].value_counts().to_dict() == {1: 11_609, -1: 10_909, 0: 6_425}
    # One bar (a 14-hour climb) has no SMA RSI; the seed dropped it, we keep it with signal 0.
    hole = pd.Timestamp("2025-01-10 10:00", tz="UTC")
    assert list(sma.index[sma["rsi"].isna()]) == [hole]
    assert sma.loc[hole, "signal"] == 0


GOLDEN_ROWS_2022 = [
    # timestamp, close, rsi, ema_fast, ema_slow, signal
    ("2022-11-09 12:00", 17619.85, 30.1723025058, 18073.213079149, 18557.315158482, -1),
    ("2024-03-14 00:00", 72842.77, 53.0270772571, 72935.202293101, 72663.768373685, 1),
    ("2025-05-05 23:00", 95101.89, 56.8861240956, 94591.804945616, 94648.970732258, -1),
]


@pytest.mark.parametrize(("stamp", "close", "rsi", "fast", "slow", "signal"), GOLDEN_ROWS_2022)
def test_golden_rows_btc_2022(
    btc_2022: pd.DataFrame,
    stamp: str,
    close: float,
    rsi: float,
    fast: float,
    slow: float,
    signal: int,
) -> None:
    row = compute_signals(btc_2022).loc[pd.Timestamp(stamp, tz="UTC")]
    assert row["close"] == close
    assert row["rsi"] == pytest.approx(rsi, abs=1e-6)
    assert row["ema_fast"] == pytest.approx(fast, abs=1e-6)
    assert row["ema_slow"] == pytest.approx(slow, abs=1e-6)
    assert row["signal"] == signal


def test_signal_column_follows_the_rule_and_the_sweep(btc_2022: pd.DataFrame) -> None:
    out = compute_signals(btc_2022)
    by_rule = signal_rule(
        DEFAULT,
        rsi=out["rsi"].to_numpy(),
        ema_fast=out["ema_fast"].to_numpy(),
        ema_slow=out["ema_slow"].to_numpy(),
    )
    np.testing.assert_array_equal(out["signal"].to_numpy(), by_rule)
    sweep = signal_array(btc_2022["close"].to_numpy())
    np.testing.assert_array_equal(sweep[DEFAULT.warmup_bars - 1 :], out["signal"].to_numpy())


def _assert_row_matches(row: SignalRow, full: pd.Series, when: pd.Timestamp) -> None:
    assert row.bar_time == when.to_pydatetime()
    assert row.close == full["close"]
    assert row.rsi == pytest.approx(full["rsi"], rel=0, abs=1e-9)
    assert row.ema_fast == pytest.approx(full["ema_fast"], rel=1e-9)
    assert row.ema_slow == pytest.approx(full["ema_slow"], rel=1e-9)
    spread = (full["ema_fast"] - full["ema_slow"]) / full["ema_slow"] * 100.0
    assert row.ema_spread_pct == pytest.approx(spread, rel=0, abs=1e-9)
    assert row.signal == full["signal"]


@pytest.mark.parametrize("params", [DEFAULT, SMA], ids=["wilder", "sma"])
def test_latest_signal_on_a_minimal_window_equals_the_full_series(
    btc_2022: pd.DataFrame, params: SignalParams
) -> None:
    full = compute_signals(btc_2022, params)
    need = params.warmup_bars
    rng = np.random.default_rng(20250505)
    positions = rng.choice(np.arange(need - 1, len(btc_2022)), size=200, replace=False)
    # Include the very first emitted row and the last bar, where the windows are tightest.
    for pos in [need - 1, len(btc_2022) - 1, *positions.tolist()]:
        window = btc_2022.iloc[pos - need + 1 : pos + 1]
        when = btc_2022.index[pos]
        _assert_row_matches(latest_signal(window, params), full.loc[when], when)


def test_latest_signal_on_a_longer_window(btc_2022: pd.DataFrame) -> None:
    full = compute_signals(btc_2022)
    window = btc_2022.iloc[10_000:12_000]
    row = latest_signal(window)
    _assert_row_matches(row, full.loc[window.index[-1]], window.index[-1])
    assert row.bar_time.tzinfo is not None
    assert row.bar_time.utcoffset() == pd.Timedelta(0)


def test_rows_do_not_depend_on_where_the_history_starts(
    btc_2017: pd.DataFrame, btc_2022: pd.DataFrame
) -> None:
    # The two files hold identical bars on their overlap but start 4.5 years apart.
    old = compute_signals(btc_2017)
    new = compute_signals(btc_2022)
    common = old.index.intersection(new.index)
    assert len(common) == 19_811
    np.testing.assert_allclose(old.loc[common, "rsi"], new.loc[common, "rsi"], rtol=0, atol=1e-9)
    for column in ("ema_fast", "ema_slow"):
        np.testing.assert_allclose(old.loc[common, column], new.loc[common, column], rtol=1e-12)
    np.testing.assert_array_equal(old.loc[common, "signal"], new.loc[common, "signal"])


# --- properties -----------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    returns=st.lists(st.floats(-0.2, 0.2, allow_nan=False), min_size=120, max_size=300),
    rsi_window=st.integers(2, 4),
    ema_fast=st.integers(2, 4),
    slow_gap=st.integers(1, 4),
    method=st.sampled_from(["wilder", "sma"]),
)
def test_signals_are_in_minus_one_zero_one(
    returns: list[float], rsi_window: int, ema_fast: int, slow_gap: int, method: str
) -> None:
    params = SignalParams(
        rsi_window=rsi_window,
        ema_fast=ema_fast,
        ema_slow=ema_fast + slow_gap,
        rsi_method=method,  # type: ignore[arg-type]
    )
    closes = 100.0 * np.cumprod(1.0 + np.asarray(returns))
    if closes.size < params.warmup_bars:
        return
    df = frame_from_closes(closes)
    out = compute_signals(df, params)
    assert set(out["signal"].unique()) <= {-1, 0, 1}
    assert ((out["rsi"] >= 0) & (out["rsi"] <= 100) | out["rsi"].isna()).all()
    last = latest_signal(df, params)
    assert last.signal == out["signal"].iloc[-1]
    assert last.rsi == out["rsi"].iloc[-1] or (
        math.isnan(last.rsi) and math.isnan(out["rsi"].iloc[-1])
    )
    assert set(np.unique(signal_array(closes, params))) <= {-1, 0, 1}
