"""The one integrity check every OHLCV source goes through: files, the exchange, the cache.

Rules (the ``rule`` attribute of the DataError): ``columns`` and ``index`` (the frame convention),
``unsorted``, ``duplicate``, ``nan`` (NaN or infinite), ``price_positive``, ``volume_negative``,
``high`` (high < max(open, close)), ``low`` (low > min(open, close)), ``grid`` (an open time
off the timeframe's bar grid) and ``jump`` (a close more than ``max_jump`` away from the close
before it, 50% by default: one absurd candle would otherwise latch the drawdown switch; ``None``
turns it off). Gaps break no rule: they are counted in the returned GapReport and never filled.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn

import numpy as np
import pandas as pd

from core.errors import DataError
from data.timeframe import grid_origin_ms, index_ms, infer_timeframe, timeframe_ms

OHLCV_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close", "volume")
INDEX_NAME = "timestamp"
# No real market in ../shared/data moves more than 23% from one close to the next.
DEFAULT_MAX_JUMP = 0.5


@dataclass(frozen=True, slots=True)
class Gap:
    """Bars missing after ``after`` (the last bar before the gap)."""

    after: pd.Timestamp
    missing: int


@dataclass(frozen=True, slots=True)
class GapReport:
    """What a frame that passed every rule looks like: size, range and its gaps."""

    source: str
    timeframe: str | None
    rows: int
    first: pd.Timestamp | None
    last: pd.Timestamp | None
    gaps: tuple[Gap, ...]

    @property
    def count(self) -> int:
        """Number of places where the next bar comes more than one bar later."""
        return len(self.gaps)

    @property
    def missing_bars(self) -> int:
        """Bars absent across all gaps."""
        return sum(g.missing for g in self.gaps)

    @property
    def longest(self) -> Gap | None:
        """The gap with the most missing bars (the earliest on a tie), or None."""
        return max(self.gaps, key=lambda g: g.missing, default=None)

    def summary(self) -> str:
        """One line for people: '28 gaps / 128 missing bars, longest 33 after 2018-02-08 00:00'."""
        longest = self.longest
        if longest is None:
            return "0 gaps"
        gaps = "gap" if self.count == 1 else "gaps"
        bars = "bar" if self.missing_bars == 1 else "bars"
        return (
            f"{self.count} {gaps} / {self.missing_bars} missing {bars}, longest {longest.missing} "
            f"after {longest.after:%Y-%m-%d %H:%M} UTC"
        )


def check_ohlcv(
    frame: pd.DataFrame, *, timeframe: str | None = None, source: str = "frame",
    max_jump: float | None = DEFAULT_MAX_JUMP,
) -> GapReport:
    """Raise DataError on the first broken rule (by row), else return the gap report."""
    _check_structure(frame, source)
    ts = index_ms(pd.DatetimeIndex(frame.index))
    values = frame.to_numpy(dtype=np.float64, copy=False)
    if timeframe is None:
        timeframe = _infer(ts, source)
    else:
        timeframe_ms(timeframe)  # a bad name is a ConfigError before any row is looked at
    rules = _rules(ts, values, timeframe)
    if max_jump is not None:
        rules.append(_jump_rule(values[:, 3], max_jump))
    _check_rows(frame, rules, source)
    return _gap_report(frame, ts, timeframe, source)


def _infer(ts: np.ndarray, source: str) -> str | None:
    # Distinct sorted times, so that unsorted or repeated rows still give the true step and
    # the unsorted/duplicate rules can name the row. One distinct time has no step at all.
    distinct = _distinct_sorted(ts)
    if distinct.size < 2:
        return None
    return infer_timeframe(
        pd.DatetimeIndex(pd.to_datetime(distinct, unit="ms", utc=True)), source=source
    )


def _distinct_sorted(ts: np.ndarray) -> np.ndarray:
    # np.unique hashes every value (0.27 s for a year of minute bars with numpy 2.4); a file
    # is nearly always sorted already, and that is one O(n) comparison to know.
    if bool(np.all(ts[1:] > ts[:-1])):
        return ts
    ordered = np.sort(ts)
    return ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))]


def _check_structure(frame: pd.DataFrame, source: str) -> None:
    columns = tuple(str(c) for c in frame.columns)
    if columns != OHLCV_COLUMNS:
        expected = list(OHLCV_COLUMNS)
        _fail(source, None, "columns", f"columns are {list(columns)}, expected {expected}")
    wrong = [c for c in OHLCV_COLUMNS if frame[c].dtype != np.float64]
    if wrong:
        _fail(source, None, "columns", f"columns {wrong} are not float64")
    index = frame.index
    if not isinstance(index, pd.DatetimeIndex) or str(index.tz) != "UTC":
        _fail(source, None, "index", "the index must be a DatetimeIndex in UTC")
    if index.name != INDEX_NAME:
        _fail(source, None, "index", f"the index is named {index.name!r}, expected 'timestamp'")


# Each rule gives a boolean mask of offending rows and a detail for one row.
_Rule = tuple[str, np.ndarray, Callable[[int], str]]


def _check_rows(frame: pd.DataFrame, rules: list[_Rule], source: str) -> None:
    first_row: tuple[int, str, str] | None = None
    for rule, mask, detail in rules:
        hits = np.flatnonzero(mask)
        if hits.size and (first_row is None or hits[0] < first_row[0]):
            first_row = (int(hits[0]), rule, detail(int(hits[0])))
    if first_row is not None:
        row, rule, text = first_row
        _fail(source, row, rule, text, when=frame.index[row])


def _rules(ts: np.ndarray, values: np.ndarray, timeframe: str | None) -> list[_Rule]:
    o, h, lo, c, v = (values[:, i] for i in range(5))
    step_before = np.concatenate(([1], np.diff(ts)))
    with np.errstate(invalid="ignore"):
        top, bottom = np.maximum(o, c), np.minimum(o, c)
        rules: list[_Rule] = [
            ("unsorted", step_before < 0, lambda i: "the timestamp is earlier than the row before"),
            ("duplicate", step_before == 0, lambda i: "the timestamp repeats the row before"),
            (
                "nan",
                ~np.asarray(np.isfinite(values).all(axis=1)),
                lambda i: f"NaN or inf in {_row(values, i)}",
            ),
            (
                "price_positive",
                np.asarray(np.any(values[:, :4] <= 0, axis=1)),
                lambda i: f"a price is not positive: {_row(values, i)}",
            ),
            ("volume_negative", v < 0, lambda i: f"volume {float(v[i])} is negative"),
            ("high", h < top, lambda i: f"high {float(h[i])} < max(open, close) {float(top[i])}"),
            (
                "low",
                lo > bottom,
                lambda i: f"low {float(lo[i])} > min(open, close) {float(bottom[i])}",
            ),
        ]
    if timeframe is not None:
        rules.append(_grid_rule(ts, timeframe))
    return rules


def _grid_rule(ts: np.ndarray, timeframe: str) -> _Rule:
    step = timeframe_ms(timeframe)
    origin = grid_origin_ms(timeframe)
    if origin is None:
        origin = int(ts[0]) if ts.size else 0
    off = (ts - origin) % step != 0
    return ("grid", off, lambda i: f"open time is not on the {timeframe} bar grid")


def _jump_rule(close: np.ndarray, max_jump: float) -> _Rule:
    if not max_jump > 0:
        raise ValueError(f"max_jump must be > 0, got {max_jump}")
    before = np.concatenate(([np.nan], close[:-1]))
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        move = np.abs(close / before - 1.0)
    too_far = np.nan_to_num(move, nan=0.0) > max_jump
    return ("jump", too_far, lambda i: (
        f"close {float(close[i])} is {float(close[i] / before[i] - 1.0) * 100:+.4g}% from the "
        f"previous close {float(before[i])}, beyond the {max_jump:.0%} bound "
        "(--allow-jumps accepts it)"))


def _row(values: np.ndarray, i: int) -> str:
    return ", ".join(f"{name}={float(values[i, k])}" for k, name in enumerate(OHLCV_COLUMNS))


def _gap_report(
    frame: pd.DataFrame, ts: np.ndarray, timeframe: str | None, source: str
) -> GapReport:
    index = pd.DatetimeIndex(frame.index)
    gaps: tuple[Gap, ...] = ()
    if timeframe is not None:
        jumps = np.diff(ts) // timeframe_ms(timeframe) - 1
        gaps = tuple(
            Gap(after=index[int(i)], missing=int(jumps[i])) for i in np.flatnonzero(jumps > 0)
        )
    return GapReport(
        source=source,
        timeframe=timeframe,
        rows=len(frame),
        first=index[0] if len(index) else None,
        last=index[-1] if len(index) else None,
        gaps=gaps,
    )


def _fail(source: str, row: int | None, rule: str, detail: str, *, when: object = None) -> NoReturn:
    where = "" if row is None else f" row {row} ({when})"
    raise DataError(
        f"{source}:{where} breaks rule '{rule}': {detail}", source=source, row=row, rule=rule
    )


def ohlcv_frame(ts_ms: np.ndarray, values: np.ndarray) -> pd.DataFrame:
    """Build a frame in the house convention from int64 ms open times and an (n, 5) array."""
    index = pd.DatetimeIndex(
        pd.to_datetime(np.asarray(ts_ms, dtype=np.int64), unit="ms", utc=True), name=INDEX_NAME
    ).as_unit("ns")
    data = np.asarray(values, dtype=np.float64).reshape(-1, len(OHLCV_COLUMNS))
    return pd.DataFrame(data, index=index, columns=list(OHLCV_COLUMNS))


def empty_ohlcv() -> pd.DataFrame:
    """Return a frame with no rows in the house convention."""
    return ohlcv_frame(np.empty(0, dtype=np.int64), np.empty((0, len(OHLCV_COLUMNS))))
