"""The synthetic bar generator: deterministic, valid, shaped by its parameters."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.errors import ConfigError
from data.integrity import OHLCV_COLUMNS, check_ohlcv
from data.synthetic import synthetic_ohlcv


def test_same_seed_same_bars_other_seed_other_bars() -> None:
    a = synthetic_ohlcv(500, seed=1)
    pd.testing.assert_frame_equal(a, synthetic_ohlcv(500, seed=1))
    assert not np.allclose(a["close"], synthetic_ohlcv(500, seed=2)["close"])


@pytest.mark.parametrize("timeframe", ["1m", "1h", "4h", "1d", "3d", "1w"])
def test_bars_follow_the_frame_convention_and_pass_every_rule(timeframe: str) -> None:
    bars = synthetic_ohlcv(2000, timeframe=timeframe, volatility=0.05, seed=3)
    assert list(bars.columns) == list(OHLCV_COLUMNS)
    assert bars.index.name == "timestamp"
    assert str(bars.index.tz) == "UTC"
    report = check_ohlcv(bars, timeframe=timeframe)
    assert (report.rows, report.count, report.timeframe) == (2000, 0, timeframe)
    assert bars.index[0] == pd.Timestamp("2024-01-01", tz="UTC")


def test_each_open_is_the_previous_close_and_start_price_is_used() -> None:
    bars = synthetic_ohlcv(100, start_price=250.0, seed=4)
    assert bars["open"].iloc[0] == 250.0
    np.testing.assert_array_equal(bars["open"].to_numpy()[1:], bars["close"].to_numpy()[:-1])


def test_volatility_and_drift_shape_the_returns() -> None:
    bars = synthetic_ohlcv(20_000, volatility=0.02, drift=0.001, seed=5)
    log_returns = np.diff(np.log(bars["close"].to_numpy()))
    assert log_returns.std() == pytest.approx(0.02, rel=0.03)
    assert log_returns.mean() == pytest.approx(0.001 - 0.02**2 / 2, abs=0.0003)
    flat = synthetic_ohlcv(10, volatility=0.0)
    assert (flat[["open", "high", "low", "close"]] == 100.0).all().all()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": -1}, "n must be >= 0"),
        ({"start_price": 0.0}, "start_price must be > 0"),
        ({"volatility": -0.1}, "volatility must be >= 0"),
        ({"start": "2024-01-01 00:30"}, "not on the 1h bar grid"),
        ({"timeframe": "1M"}, "unknown timeframe"),
    ],
)
def test_bad_parameters_are_config_errors(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        synthetic_ohlcv(**kwargs)  # type: ignore[arg-type]
