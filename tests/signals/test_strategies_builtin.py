"""The built-ins donchian and bollinger: exact signals on hand-made bars, no look-ahead, warm-up."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest

from core.errors import ConfigError, DataError
from signals.strategies import BUILTINS, BollingerReversion, DonchianBreakout
from signals.strategies.mean_reversion import rolling_mean_std
from signals.strategy import LABEL_PATTERN, LoadedStrategy
from signals.strategy_loader import describe_builtins, load_strategy
from tests.signals.conftest import FrameMaker

# (name, --param items): the defaults and settings off the beaten path (exit channel longer
# than the entry one, a long window, a narrow band) for the properties below.
CASES = [
    ("donchian", ()),
    ("donchian", ("entry_window=5", "exit_window=30")),
    ("bollinger", ()),
    ("bollinger", ("window=50", "num_std=0.5")),
]


def bars_from(high: Sequence[float], low: Sequence[float], close: Sequence[float],
              ) -> pd.DataFrame:
    """Hourly UTC frame with these highs, lows and closes (open = previous close)."""
    index = pd.date_range("2024-01-01", periods=len(close), freq="h", tz="UTC",
                          name="timestamp")
    open_ = [close[0], *close[:-1]]
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close,
                         "volume": 1.0}, index=index, dtype=np.float64)


def random_bars(n: int, seed: int) -> pd.DataFrame:
    """A seeded random walk with wicks: breakouts and band touches both happen in it."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, n)))
    open_ = np.concatenate(([100.0], close[:-1]))
    wick = rng.uniform(0.0, 0.006, (2, n))
    high = np.maximum(open_, close) * (1.0 + wick[0])
    low = np.minimum(open_, close) * (1.0 - wick[1])
    return bars_from(list(high), list(low), list(close))


def signal_of(name: str, params: tuple[str, ...], bars: pd.DataFrame) -> npt.NDArray[np.int8]:
    """The checked int8 signal of the built-in ``name`` on ``bars``."""
    return load_strategy(name, params=params).signal(bars)


# ---------------------------------------------------------------------------------------------
# Exact signals on hand-made bars
# ---------------------------------------------------------------------------------------------


def test_donchian_breaks_out_on_prior_bars_only() -> None:
    # Row 3 closes at 12.5 above the prior 3 highs (12) but under its own high (13); row 6
    # closes at 10.9 under the prior 2 lows (11.5) but above its own low (10).
    high = [10, 11, 12, 13, 13, 13, 12, 11, 14]
    low = [8, 9, 10, 11, 12, 11.5, 10, 9, 9]
    close = [9, 10, 11, 12.5, 12.8, 11.9, 10.9, 9.5, 13.5]
    bars = bars_from(high, low, close)
    out = signal_of("donchian", ("entry_window=3", "exit_window=2"), bars)
    np.testing.assert_array_equal(out, [0, 0, 0, 1, 0, 0, -1, -1, 1])
    assert out.dtype == np.int8


def test_donchian_is_silent_until_the_longer_channel_is_full(make_frame: FrameMaker) -> None:
    # The 2-bar entry channel is full at row 2, but the 3-bar exit one only at row 3.
    out = signal_of("donchian", ("entry_window=2", "exit_window=3"), make_frame([1, 2, 3, 4, 5]))
    np.testing.assert_array_equal(out, [0, 0, 0, 1, 1])


def test_donchian_on_a_tie_with_the_channel_does_nothing(make_frame: FrameMaker) -> None:
    # Every close equals the prior high or low (5 and 6 alternate): no breakout either way.
    out = signal_of("donchian", ("entry_window=2", "exit_window=2"),
                    make_frame([5, 6, 5, 6, 5, 6, 5]))
    np.testing.assert_array_equal(out, [0, 0, 0, 0, 0, 0, 0])


def test_bollinger_enters_below_the_lower_band_and_exits_at_the_middle(
    make_frame: FrameMaker,
) -> None:
    # window 3, 1 deviation: row 3 [10, 10, 7] has mean 9 and deviation sqrt(2), so the lower
    # band is 7.59 > 7; rows 6-7 sit between the lower band and the middle (11): 0.
    closes = [10, 10, 10, 7, 10, 13, 10, 10, 10]
    out = signal_of("bollinger", ("window=3", "num_std=1"), make_frame(closes))
    np.testing.assert_array_equal(out, [0, 0, -1, 1, -1, -1, 0, 0, -1])


def test_bollinger_flat_window_has_its_value_as_mean(make_frame: FrameMaker) -> None:
    # A plain sum of three 0.1s is 0.30000000000000004: its mean sits above 0.1 with a tiny
    # deviation, and a narrow band would then see 0.1 below its lower edge (a false entry).
    strategy = BollingerReversion(window=3, num_std=0.5)
    mean, std = rolling_mean_std(np.full(5, 0.1), 3)
    np.testing.assert_array_equal(mean[2:], 0.1)
    np.testing.assert_array_equal(std[2:], 0.0)
    np.testing.assert_array_equal(strategy.signals(make_frame([0.1] * 5)), [0, 0, -1, -1, -1])
    numbers = strategy.numbers(make_frame([0.1] * 5))
    np.testing.assert_array_equal(numbers["Bollinger %b"], [np.nan, np.nan, 0.5, 0.5, 0.5])
    np.testing.assert_array_equal(numbers["Band width (% of middle)"][2:], 0.0)


def test_rolling_mean_std_matches_numpy_per_window() -> None:
    values = random_bars(300, seed=3)["close"].to_numpy()
    mean, std = rolling_mean_std(values, 20)
    windows = np.lib.stride_tricks.sliding_window_view(values, 20)
    assert np.isnan(mean[:19]).all()
    assert np.isnan(std[:19]).all()
    np.testing.assert_allclose(mean[19:], windows.mean(axis=1), rtol=1e-14)
    np.testing.assert_allclose(std[19:], windows.std(axis=1), rtol=1e-10)


def test_a_frame_shorter_than_the_warm_up_gives_zeros(make_frame: FrameMaker) -> None:
    for name in ("donchian", "bollinger"):
        np.testing.assert_array_equal(signal_of(name, (), make_frame([1.0, 2.0, 3.0])), 0)


def test_non_finite_input_fails_fast(make_frame: FrameMaker) -> None:
    bars = make_frame([1.0, 2.0, 3.0, 4.0])
    bars.loc[bars.index[2], "low"] = np.nan
    with pytest.raises(DataError, match="low has 1 non-finite value"):
        DonchianBreakout().signals(bars)
    bars.loc[bars.index[1], "close"] = np.inf
    with pytest.raises(DataError, match="close has 1 non-finite value"):
        BollingerReversion().signals(bars)


# ---------------------------------------------------------------------------------------------
# Parameters
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "item", "message"),
    [
        ("donchian", "entry_window=1", r"donchian: entry_window must be an integer in \[2, 1000\]"),
        ("donchian", "exit_window=1001", r"exit_window must be an integer in \[2, 1000\]"),
        ("donchian", "exit_window=2.5", "exit_window must be an integer"),
        ("bollinger", "window=1", r"bollinger: window must be an integer in \[2, 1000\]"),
        ("bollinger", "num_std=0.1", r"num_std must be a number in \[0.5, 5\], got 0.1"),
        ("bollinger", "num_std=nan", "num_std must be a finite number"),
        ("donchian", "entry_windw=30", "did you mean 'entry_window'"),
    ],
)
def test_bad_parameters_name_the_field_and_range(name: str, item: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_strategy(name, params=[item])


def test_defaults_spec_and_sweep_space() -> None:
    donchian = load_strategy("donchian")
    assert donchian.spec.params == (("entry_window", 20), ("exit_window", 10))
    assert donchian.warmup_bars == 21
    assert load_strategy("donchian", params=["exit_window=40"]).warmup_bars == 41
    bollinger = load_strategy("bollinger")
    assert bollinger.spec.params == (("window", 20), ("num_std", 2.0))
    assert bollinger.warmup_bars == 20
    for strategy in (donchian, bollinger):
        space = strategy.param_space()
        for key, value in strategy.spec.params:
            assert value in space[key]  # the sweep includes the default
            assert 1 < len(space[key]) <= 5
    assert BUILTINS["donchian"] is DonchianBreakout
    assert BUILTINS["bollinger"] is BollingerReversion
    names = {row["name"] for row in describe_builtins()}
    assert {"rsi_ema", "donchian", "bollinger"} <= names


@pytest.mark.parametrize(("name", "params"), CASES)
def test_numbers_have_prompt_safe_labels_and_formats(name: str, params: tuple[str, ...]) -> None:
    strategy = load_strategy(name, params=params)
    bars = random_bars(200, seed=5)
    numbers = strategy.numbers(bars)
    assert len(numbers) == 2
    for label, values in numbers.items():
        assert LABEL_PATTERN.fullmatch(label)
        assert label in strategy.impl.number_formats
        assert np.isfinite(values[strategy.warmup_bars - 1:]).all()
        strategy.number_format(label).format(values[-1])


# ---------------------------------------------------------------------------------------------
# Warm-up and look-ahead: exact equality, not a tolerance
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "params"), CASES)
def test_trailing_window_of_warmup_bars_gives_the_full_history_signal(
    name: str, params: tuple[str, ...],
) -> None:
    strategy = load_strategy(name, params=params)
    bars = random_bars(700, seed=11)
    full = strategy.signal(bars)
    assert {-1, 1} <= set(full.tolist())  # the series exercises both rules
    warmup = strategy.warmup_bars
    for t in range(warmup - 1, len(bars), 3):
        window = bars.iloc[t - warmup + 1 : t + 1]
        assert strategy.signal(window)[-1] == full[t], f"bar {t}"
        numbers = strategy.numbers(window)
        for label, values in strategy.numbers(bars.iloc[: t + 1]).items():
            assert numbers[label][-1] == values[-1], f"{label} at bar {t}"


@pytest.mark.parametrize(("name", "params"), CASES)
def test_truncated_data_gives_the_same_signals_no_look_ahead(
    name: str, params: tuple[str, ...],
) -> None:
    strategy = load_strategy(name, params=params)
    bars = random_bars(500, seed=17)
    full = strategy.signal(bars)
    for t in range(0, len(bars), 7):
        np.testing.assert_array_equal(strategy.signal(bars.iloc[: t + 1]), full[: t + 1])


@pytest.mark.parametrize("name", ["donchian", "bollinger"])
def test_real_data_trailing_window_and_both_rules(
    name: str, btc_2022: pd.DataFrame, doge_2022: pd.DataFrame,
) -> None:
    strategy: LoadedStrategy = load_strategy(name)
    warmup = strategy.warmup_bars
    for bars in (btc_2022, doge_2022):
        full = strategy.signal(bars)
        assert (full == 1).sum() > 100
        assert (full == -1).sum() > 100
        for t in range(warmup - 1, len(bars), 97):
            assert strategy.signal(bars.iloc[t - warmup + 1 : t + 1])[-1] == full[t]
