"""Walk-forward windows: where each training window and the test window after it lie in the bars.

A length is a number of bars (``500``) or a span of time: ``36h``, ``10D``, ``3W``, ``6M``, ``1Y``
(hours, days, weeks, calendar months, calendar years). Spans are cut on the bars' open times, so
a gap in the data shortens a window rather than moving it.

Windows start at the first traded bar (after the grid's warm-up). Rolling: each training window
has the given length and moves by one test window. Anchored: each starts at the first traded
bar and grows by one test window. Every test window has its full length; the bars after the last
full one are left unused and counted. A test window never holds a bar of the training window
that picked for it: test ``[b, c)`` follows training ``[a, b)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

import pandas as pd

from core.errors import ConfigError

MODES: Final = ("rolling", "anchored")
_SPEC = re.compile(r"^\s*(\d+)\s*([hDWMY]?)\s*$")
_UNITS: Final = {"h": "hours", "D": "days", "W": "weeks", "M": "months", "Y": "years"}


@dataclass(frozen=True, slots=True)
class Length:
    """A window length: ``count`` bars (unit "") or ``count`` hours/days/weeks/months/years."""

    count: int
    unit: str
    text: str

    def end(self, index: pd.DatetimeIndex, start: int) -> int:
        """The bar after a window of this length that starts at bar ``start``; past the last
        bar (len(index) + 1) when the span runs beyond the data."""
        if not self.unit:
            return start + self.count
        end_time = index[start] + _offset(self)
        if end_time > _data_end(index):
            return len(index) + 1
        return int(index.searchsorted(end_time, side="left"))


@dataclass(frozen=True, slots=True)
class Window:
    """One step: train on bars [train_start, train_stop), test on [train_stop, test_stop)."""

    number: int
    train_start: int
    train_stop: int
    test_stop: int

    @property
    def test_start(self) -> int:
        """The test window's first bar: the one after the training window's last."""
        return self.train_stop


@dataclass(frozen=True, slots=True)
class Plan:
    """The windows, the training window of the parameters to trade next, and the unused tail."""

    windows: tuple[Window, ...]
    next_train: tuple[int, int]  # the last ``train`` of bars: what picks the next parameters
    unused_bars: int  # after the last full test window
    mode: str
    train: Length
    test: Length


def parse_length(text: str, option: str) -> Length:
    """``500`` (bars) or ``6M`` etc.; ConfigError naming the option otherwise."""
    match = _SPEC.match(str(text))
    if not match:
        raise ConfigError(f"--{option} must be a number of bars (500) or a span like 36h, 10D, "
                          f"3W, 6M or 1Y; got {text!r}")
    count, unit = int(match.group(1)), match.group(2)
    if count < 1:
        raise ConfigError(f"--{option} must be at least one bar or one {_UNITS.get(unit, 'bar')}"
                          f"; got {text!r}")
    return Length(count, unit, f"{count}{unit}" if unit else f"{count} bar{'s' * (count != 1)}")


def plan_windows(
    index: pd.DatetimeIndex, *, first: int, train: Length, test: Length, mode: str = "rolling",
    min_bars: int = 2,
) -> Plan:
    """The walk-forward windows over bars [first, len(index)); ConfigError when none fits."""
    if mode not in MODES:
        raise ConfigError(f"--mode must be one of {', '.join(MODES)}; got {mode!r}")
    n = len(index)
    windows: list[Window] = []
    start = first
    train_stop = train.end(index, first)
    _check_length(index, first, train_stop, train, "train", min_bars)
    while train_stop < n:
        test_stop = test.end(index, train_stop)
        if test_stop > n:
            break
        _check_length(index, train_stop, test_stop, test, "test", min_bars)
        windows.append(Window(len(windows) + 1, start, train_stop, test_stop))
        if mode == "rolling":
            start = _start_for(index, test_stop, train, first)
        train_stop = test_stop
    if not windows:
        raise ConfigError(_too_short(index, first, train, test))
    next_start = first if mode == "anchored" else _start_for(index, n, train, first)
    return Plan(tuple(windows), (next_start, n), n - windows[-1].test_stop, mode, train, test)


def _start_for(index: pd.DatetimeIndex, stop: int, train: Length, first: int) -> int:
    # The training window that ends at bar ``stop``: ``train`` back from it, not before first.
    if not train.unit:
        return max(first, stop - train.count)
    offset = _offset(train)
    end_time = _data_end(index) if stop == len(index) else index[stop]
    return max(first, int(index.searchsorted(end_time - offset, side="left")))


def _offset(length: Length) -> pd.DateOffset:
    return pd.DateOffset(**{_UNITS[length.unit]: length.count})  # type: ignore[arg-type]


def _data_end(index: pd.DatetimeIndex) -> pd.Timestamp:
    # When the last bar closes: its open time plus one bar (the smallest step in the data).
    step = (index[1:] - index[:-1]).min() if len(index) > 1 else pd.Timedelta(0)
    return index[-1] + step


def _check_length(
    index: pd.DatetimeIndex, a: int, b: int, length: Length, option: str, min_bars: int
) -> None:
    if min(b, len(index)) - a < min_bars:
        held = max(0, min(b, len(index)) - a)
        raise ConfigError(f"--{option} {length.text} holds {held} bar(s) from "
                          f"{index[min(a, len(index) - 1)]:%Y-%m-%d %H:%M}: a window needs "
                          f"{min_bars} or more")


def _too_short(index: pd.DatetimeIndex, first: int, train: Length, test: Length) -> str:
    traded = len(index) - first
    return (f"--train {train.text} plus --test {test.text} is longer than the {traded:,} bars "
            f"traded after the warm-up ({index[first]:%Y-%m-%d} to {index[-1]:%Y-%m-%d}): "
            "no full test window fits; shorten them or give more data")
