"""The look-ahead, warm-up and live-window checks: a peek and a short warm-up are caught, with
the bar named; honest strategies pass; check-strategy exits 0 / 3 / 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.errors import ConfigError
from data.loader import save_ohlcv_csv
from data.synthetic import synthetic_ohlcv
from main import main
from signals.strategy import LoadedStrategy, StrategyError
from signals.strategy_checks import (
    LIVE_WINDOW,
    LOOKAHEAD,
    WARMUP,
    CheckReport,
    CheckResult,
    bars_to_check,
    check_live_window,
    run_checks,
)
from signals.strategy_loader import load_strategy

# Plain classes, nothing imported from the project: what a user writes (the README contract).
STRATEGIES = '''
import numpy as np


class Peek:
    """Long when the NEXT close is higher: the look-ahead every backtest loves."""
    warmup_bars = 2

    def signals(self, bars):
        return (bars["close"].shift(-1) > bars["close"]).astype(int)


class ShortEma:
    """Close above its EMA; declares 5 bars of warm-up where the EMA needs ~100."""
    def __init__(self, span: int = 20, warmup: int = 5):
        self.span, self.warmup = span, warmup

    @property
    def warmup_bars(self):
        return self.warmup

    def signals(self, bars):
        close = bars["close"]
        ema = close.ewm(span=self.span, adjust=False).mean()
        return np.where(close > ema, 1, -1)


class Rolling:
    """Close against its rolling mean: needs exactly `window` bars."""
    def __init__(self, window: int = 48, warmup: int = 48):
        self.window, self.warmup = window, warmup

    @property
    def warmup_bars(self):
        return self.warmup

    def signals(self, bars):
        close = bars["close"]
        mean = close.rolling(self.window).mean()
        return np.where(close > mean, 1, np.where(close < mean, -1, 0))


class Anchored:
    """Close above the mean of ALL bars given: depends on where the data starts, forever."""
    warmup_bars = 10

    def signals(self, bars):
        close = bars["close"]
        return np.where(close > close.expanding().mean(), 1, 0)
'''


@pytest.fixture(scope="module")
def strategy_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The user strategies above, written to a file as a user would."""
    path = tmp_path_factory.mktemp("strategies") / "mine.py"
    path.write_text(STRATEGIES, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    """2,000 seeded synthetic hourly bars."""
    return synthetic_ohlcv(2_000, seed=11, start_price=30_000.0, volatility=0.007)


def _load(path: Path, name: str, *params: str) -> LoadedStrategy:
    return load_strategy(f"{path}:{name}", params=params)


def _result(report: CheckReport, name: str) -> CheckResult:
    return next(r for r in report.results if r.name == name)


# ---------------------------------------------------------------------------------------------
# Honest strategies pass
# ---------------------------------------------------------------------------------------------


def test_the_seed_default_passes_on_synthetic_bars() -> None:
    frame = synthetic_ohlcv(3_000, seed=5, start_price=30_000.0, volatility=0.007)
    report = run_checks(load_strategy(), frame, live_fetch=412)
    assert report.passed, report.lines()
    assert [r.name for r in report.results] == [LOOKAHEAD, WARMUP, LIVE_WINDOW]
    assert report.entries > 20
    report.raise_if_failed()  # nothing to raise


def test_the_seed_default_passes_on_real_bars(btc_2022: pd.DataFrame) -> None:
    report = run_checks(load_strategy(), btc_2022)
    assert report.passed, report.lines()
    assert report.entries == report.entries_total > 500  # every entry bar checked
    assert report.rows == len(btc_2022)


def test_a_rolling_window_with_its_exact_warmup_passes(
    strategy_file: Path, bars: pd.DataFrame,
) -> None:
    report = run_checks(_load(strategy_file, "Rolling"), bars)
    assert report.passed, report.lines()
    assert "the last 48 bars give the signal of the whole history" in report.lines()[3]


# ---------------------------------------------------------------------------------------------
# A peek is caught, with the bar named
# ---------------------------------------------------------------------------------------------


def test_a_peek_fails_the_lookahead_check_at_its_first_entry(
    strategy_file: Path, bars: pd.DataFrame,
) -> None:
    peek = _load(strategy_file, "Peek")
    report = run_checks(peek, bars)
    look = _result(report, LOOKAHEAD)
    # On data that ends at a bar there is no next close, so the peek says 0 where it said 1.
    first = int(np.flatnonzero(peek.signal(bars)[1:] == 1)[0]) + 1
    assert not report.passed
    assert not look.passed
    assert look.row == first
    assert look.bar_time == bars.index[first]
    when = f"{bars.index[first]:%Y-%m-%d %H:%M}"
    assert f"Peek's signal at {when} (row {first}) is 1 on the full data but 0" in look.detail
    assert "it uses a later bar" in look.detail
    assert _result(report, WARMUP).passed  # the peek is not counted twice
    with pytest.raises(StrategyError, match=rf"mine\.py: look-ahead: .*\(row {first}\)"):
        report.raise_if_failed()


def test_max_rows_checks_the_tail_and_keeps_the_frames_row_numbers(
    strategy_file: Path, bars: pd.DataFrame,
) -> None:
    report = run_checks(_load(strategy_file, "Peek"), bars, max_rows=500)
    look = _result(report, LOOKAHEAD)
    assert report.rows == 500
    assert look.row is not None
    assert look.row >= 1_500
    assert look.bar_time == bars.index[look.row]


# ---------------------------------------------------------------------------------------------
# A short warm-up is caught, with the bar named and the warm-up that holds
# ---------------------------------------------------------------------------------------------


def test_a_short_warmup_fails_and_the_smallest_that_holds_is_given(
    strategy_file: Path, bars: pd.DataFrame,
) -> None:
    ema = _load(strategy_file, "ShortEma")
    report = run_checks(ema, bars)
    warm = _result(report, WARMUP)
    assert _result(report, LOOKAHEAD).passed
    assert not warm.passed
    assert warm.row is not None
    assert warm.bar_time == bars.index[warm.row]
    assert f"(row {warm.row})" in warm.detail
    assert "from the last 5 bars (its warm-up" in warm.detail
    found = warm.smallest_warmup
    assert found is not None
    assert 5 < found < 1_000
    assert f"the smallest warm-up that holds on the checked bars is {found:,}" in warm.detail
    # Exactly the smallest: every checked bar agrees with `found` bars, some bar not with one less.
    rows, _, _ = bars_to_check(ema.signal(bars), warmup=5, samples=300, max_entries=2_000)
    assert _window_agrees(ema, bars, rows, found)
    assert not _window_agrees(ema, bars, rows, found - 1)
    with pytest.raises(StrategyError, match=r"warm-up: ShortEma's signal at .* \(row \d+\)"):
        report.raise_if_failed()


def _window_agrees(strategy: LoadedStrategy, frame: pd.DataFrame, rows: np.ndarray,
                   window: int) -> bool:
    return all(
        strategy.signal(frame.iloc[t - window + 1:t + 1])[-1]
        == strategy.signal(frame.iloc[:t + 1])[-1]
        for t in rows.tolist() if t >= window - 1
    )


def test_a_warmup_one_bar_short_of_a_rolling_window_is_caught_exactly(
    strategy_file: Path, bars: pd.DataFrame,
) -> None:
    report = run_checks(_load(strategy_file, "Rolling", "warmup=47"), bars)
    warm = _result(report, WARMUP)
    assert not warm.passed
    assert warm.smallest_warmup == 48


def test_a_signal_anchored_to_the_first_bar_has_no_warmup_that_holds(
    strategy_file: Path, bars: pd.DataFrame,
) -> None:
    warm = _result(run_checks(_load(strategy_file, "Anchored"), bars), WARMUP)
    assert not warm.passed
    assert warm.smallest_warmup is None
    assert "no warm-up up to 1,000 bars holds: the signal depends on where the data starts" \
        in warm.detail


# ---------------------------------------------------------------------------------------------
# Live window, bars checked, report
# ---------------------------------------------------------------------------------------------


def test_the_live_window_must_hold_the_warmup() -> None:
    assert check_live_window(388, 412).passed
    assert check_live_window(388, 388).passed
    short = check_live_window(388, 300)
    assert not short.passed
    assert short.line() == ("live window: FAILED: the live loop fetches 300 bars but the "
                            "warm-up is 388: the signal of its last bar would be computed "
                            "without the history it needs")


def test_a_short_live_window_fails_the_report(bars: pd.DataFrame) -> None:
    report = run_checks(load_strategy(), bars, live_fetch=100)
    assert not report.passed
    assert [r.name for r in report.failures] == [LIVE_WINDOW]
    assert "1 check(s) FAILED" in report.lines()[0]


def test_bars_checked_are_every_entry_and_evenly_spaced_samples() -> None:
    full = np.array([0, 1, 1, 0, 1, -1, 1, 1, 0, 0, 1, 0], dtype=np.int8)
    rows, entries, total = bars_to_check(full, warmup=3, samples=4)
    # Entries at rows 4, 6, 10 (row 1 is inside the warm-up); samples at 2, 5, 8, 11.
    assert rows.tolist() == [2, 4, 5, 6, 8, 10, 11]
    assert (entries, total) == (3, 3)
    thinned, kept, total = bars_to_check(full, warmup=3, samples=0, max_entries=2)
    assert thinned.tolist() == [4, 10, 11]  # first and last entry, and the last bar
    assert (kept, total) == (2, 3)


def test_the_report_renders_as_lines_and_json(bars: pd.DataFrame) -> None:
    report = run_checks(load_strategy(), bars, samples=50)
    lines = report.lines()
    assert lines[0].startswith("strategy checks of rsi_ema(")
    assert lines[0].endswith(": all checks passed")
    assert lines[1].startswith("  data: 2,000 bars 2024-01-01 00:00 .. ")
    assert lines[2].startswith("  look-ahead: passed: the signal at each of ")
    assert lines[3].startswith("  warm-up: passed: the last 388 bars ")
    blob = json.loads(json.dumps(report.to_json()))
    assert blob["passed"] is True
    assert [c["name"] for c in blob["checks"]] == [LOOKAHEAD, WARMUP]


def test_too_little_data_is_a_config_error(bars: pd.DataFrame) -> None:
    with pytest.raises(ConfigError, match="need more than its 388 warm-up bars of data; got 388"):
        run_checks(load_strategy(), bars.iloc[:388])
    with pytest.raises(ConfigError, match="max_rows must be more than the warm-up"):
        run_checks(load_strategy(), bars, max_rows=100)


# ---------------------------------------------------------------------------------------------
# check-strategy
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def data_file(tmp_path_factory: pytest.TempPathFactory, bars: pd.DataFrame) -> Path:
    """The synthetic bars as an OHLCV file, in the shared data's format."""
    return save_ohlcv_csv(bars, tmp_path_factory.mktemp("data") / "SYNTH_1h.csv")


def test_check_strategy_exits_0_when_every_check_passes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["check-strategy", "--samples", "50", "--live-bars", "412"], environ={}) == 0
    out = capsys.readouterr().out
    assert "SYNTHETIC hourly bars" in out
    assert "all checks passed" in out
    assert "live window: passed" in out


def test_check_strategy_exits_3_and_names_the_bar_of_a_peek(
    capsys: pytest.CaptureFixture[str], strategy_file: Path, data_file: Path,
) -> None:
    code = main(["check-strategy", "--strategy", f"{strategy_file}:Peek", "--data",
                 str(data_file)], environ={})
    out = capsys.readouterr().out
    assert code == 3
    assert "look-ahead: FAILED: Peek's signal at " in out
    assert "(row " in out


def test_check_strategy_json_with_params(
    capsys: pytest.CaptureFixture[str], strategy_file: Path, data_file: Path,
) -> None:
    code = main(["check-strategy", "--strategy", f"{strategy_file}:Rolling", "--param",
                 "window=24", "--param", "warmup=24", "--data", str(data_file), "--json"],
                environ={})
    blob = json.loads(capsys.readouterr().out)
    assert code == 0
    assert blob["strategy"] == "Rolling(window=24, warmup=24)"
    assert blob["data"] == str(data_file)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--strategy", "rsi_emma"], "did you mean 'rsi_ema'"),
        (["--param", "ema_fast"], "--param must be key=value"),
        (["--data", "no/such/file.csv"], "no such file"),
        (["--samples", "-1"], "--samples must be >= 0"),
        (["--live-bars", "0"], "--live-bars must be >= 1"),
    ],
)
def test_check_strategy_exits_2_on_a_usage_error(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str,
) -> None:
    assert main(["check-strategy", *argv], environ={}) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert message in err
    assert len(err.strip().splitlines()) == 1
