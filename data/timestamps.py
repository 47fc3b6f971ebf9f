"""Candle open times from a file's time column: epoch seconds, epoch milliseconds or ISO text.

Numbers are told apart by size: any date a market can have (1973..2255) is 1e8..9e9 in seconds
and 1e11..9e12 in milliseconds, three orders of magnitude apart, so the first value decides and
every other value must agree. Microseconds and nanoseconds are refused rather than guessed.
ISO 8601 text may carry a zone (Z, +00:00); text without one is read as UTC.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import NoReturn

import numpy as np
import pandas as pd

from core.errors import DataError
from data.cells import bad_cell, column_numbers

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Unit:
    name: str
    low: int
    high: int
    ms: int  # milliseconds in one unit


SECONDS = _Unit("seconds", 100_000_000, 9_000_000_000, 1000)
MILLISECONDS = _Unit("milliseconds", 100_000_000_000, 9_000_000_000_000, 1)
# What exporters write when they are not seconds or ms (pandas' int64, some exchange APIs).
_FINER = (("microseconds", 10**14, 9 * 10**15), ("nanoseconds", 10**17, 9 * 10**18))
_NUMBER_TEXT = re.compile(r"\s*[+-]?\d+(\.\d*)?\s*")
_NS_PER_MS = 1_000_000


def open_times_ms(column: pd.Series, *, name: str, source: str) -> np.ndarray:
    """Int64 ms open times of a time column; DataError naming the file when unreadable."""
    if isinstance(column.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(column):
        stamps = pd.DatetimeIndex(column)
        if stamps.tz is None:
            log.info("%s: %r has no time zone; read as UTC", source, name)
            stamps = stamps.tz_localize("UTC")
        return np.asarray(stamps.as_unit("ms").asi8, dtype=np.int64)
    if _holds_numbers(column):
        return _epoch_ms(column, name, source)
    return _iso_ms(column, name, source)


def _holds_numbers(column: pd.Series) -> bool:
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        return True
    present = column.dropna()
    if present.empty:
        return True  # all empty: the number path reports row 0 as empty
    first = present.iloc[0]
    return isinstance(first, int | float | np.number) or (
        isinstance(first, str) and _NUMBER_TEXT.fullmatch(first) is not None
    )


def _epoch_ms(column: pd.Series, name: str, source: str) -> np.ndarray:
    numbers = column_numbers(column, name, source, required=True)
    unit = _unit_of(float(numbers[0]), name, source)
    fractional = np.flatnonzero(numbers != np.floor(numbers))
    if fractional.size:
        bad_cell(source, int(fractional[0]), name, column, f"is not whole {unit.name}")
    outside = np.flatnonzero((numbers < unit.low) | (numbers > unit.high))
    if outside.size:
        bad_cell(source, int(outside[0]), name, column,
                 f"is not {unit.name} since the epoch, as the first row is")
    ts = numbers.astype(np.int64) * unit.ms
    # Seconds are a guess from the size of the numbers: say so. Milliseconds are the house format.
    log.log(logging.INFO if unit is SECONDS else logging.DEBUG,
            "%s: timestamps read as epoch %s (first %d = %s)", source, unit.name,
            int(numbers[0]), _utc(int(ts[0]) * _NS_PER_MS))
    return ts


def _unit_of(first: float, name: str, source: str) -> _Unit:
    for unit in (SECONDS, MILLISECONDS):
        if unit.low <= first <= unit.high:
            return unit
    for finer, low, high in _FINER:
        if low <= first <= high:
            _refuse(source, name, _shown(first),
                    f"epoch {finer}? only epoch seconds or milliseconds are read")
    _refuse(source, name, _shown(first), "neither ISO text nor epoch seconds/milliseconds")


def _iso_ms(column: pd.Series, name: str, source: str) -> np.ndarray:
    present = np.asarray(column.notna())
    first_row = int(np.argmax(present))
    parsed = pd.to_datetime(column, format="ISO8601", utc=True, errors="coerce")
    unreadable = np.asarray(parsed.isna()) & present
    if unreadable[first_row]:
        _refuse(source, name, repr(column.iloc[first_row]),
                "neither ISO text nor epoch seconds/milliseconds")
    if unreadable.any():
        bad_cell(source, int(np.argmax(unreadable)), name, column,
                 "is not ISO 8601 date-time text, as the first row is")
    if not present.all():
        bad_cell(source, int(np.argmin(present)), name, column, "is empty")
    ns = pd.DatetimeIndex(parsed).as_unit("ns").asi8
    finer = np.flatnonzero(ns % _NS_PER_MS)
    if finer.size:
        bad_cell(source, int(finer[0]), name, column, "is not a whole millisecond")
    first = column.iloc[[first_row]]
    if pd.to_datetime(first, format="ISO8601").dt.tz is None:
        log.info("%s: %r holds times without a time zone (first %r); read as UTC",
                 source, name, first.iloc[0])
    return np.asarray(ns // _NS_PER_MS, dtype=np.int64)


def _refuse(source: str, name: str, shown: str, why: str) -> NoReturn:
    raise DataError(f"{source}: {name!r} column holds {shown} — {why}",
                    source=source, row=0, rule="parse")


def _shown(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


def _utc(ns: int) -> str:
    return f"{pd.Timestamp(ns, unit='ns', tz='UTC'):%Y-%m-%d %H:%M} UTC"
