"""Read OHLCV files (CSV, CSV.gz, parquet) into the house frame, checked by the integrity rules.

File format (as in ../shared/data): header ``timestamp,open,high,low,close,volume``; timestamp is
the candle open time in integer milliseconds since the epoch, UTC. Extra columns are ignored.
Parquet files may instead carry a UTC DatetimeIndex named ``timestamp`` (what the cache writes).
"""

from __future__ import annotations

import logging
import os
import re
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

import numpy as np
import pandas as pd

from core.errors import DataError
from core.files import write_atomically
from data.integrity import (
    DEFAULT_MAX_JUMP,
    INDEX_NAME,
    OHLCV_COLUMNS,
    check_ohlcv,
    ohlcv_frame,
)

log = logging.getLogger(__name__)

FILE_COLUMNS: tuple[str, ...] = (INDEX_NAME, *OHLCV_COLUMNS)
# Millisecond open times of any real market fall after 1973-03-03 (1e11 ms); smaller values are
# almost surely seconds (every bar in January 1970), larger than 2255 (9e12 ms) microseconds.
_PLAUSIBLE_MS = (100_000_000_000, 9_000_000_000_000)
# What pandas / pyarrow / gzip raise on a broken file: bad values, truncated or not-gzip data.
_READ_ERRORS = (ValueError, OSError, EOFError, zlib.error)


def load_ohlcv(
    path: str | os.PathLike[str], *, timeframe: str | None = None,
    max_jump: float | None = DEFAULT_MAX_JUMP,
) -> pd.DataFrame:
    """Read one OHLCV file into the house frame; raise DataError naming the file if unusable.

    ``max_jump``: the largest close-to-close move accepted (a fraction; None: no bound).
    """
    file = Path(path)
    source = str(file)
    if not file.is_file():
        raise DataError(f"{source}: no such file", source=source, rule="file")
    name = file.name.lower()
    if name.endswith((".parquet", ".pq")):
        raw = _read(_read_parquet, file, source)
        raw = _index_to_column(raw)
    elif name.endswith((".csv", ".csv.gz")):
        raw = _read(_read_csv, file, source)
    else:
        raise DataError(
            f"{source}: unsupported file type; expected .csv, .csv.gz or .parquet",
            source=source,
            rule="file",
        )
    frame = frame_from_table(raw, source=source)
    report = check_ohlcv(frame, timeframe=timeframe, source=source, max_jump=max_jump)
    log.debug("loaded %s: %d rows, %s", source, report.rows, report.summary())
    return frame


def frame_from_table(raw: pd.DataFrame, *, source: str) -> pd.DataFrame:
    """Turn a table with a ms ``timestamp`` column and OHLCV columns into the house frame."""
    missing = [c for c in FILE_COLUMNS if c not in raw.columns]
    if missing:
        raise DataError(
            f"{source}: missing column(s) {missing}; expected header {','.join(FILE_COLUMNS)}",
            source=source,
            rule="columns",
        )
    if raw.empty:
        raise DataError(f"{source}: the file has no rows", source=source, rule="file")
    ts = _timestamps_ms(raw[INDEX_NAME], source)
    values = np.column_stack([_numbers(raw[c], c, source) for c in OHLCV_COLUMNS])
    return ohlcv_frame(ts, values)


def _read_csv(file: Path) -> pd.DataFrame:
    # The C parser with a column filter reads the 58k-row file in ~20 ms; values stay as
    # parsed so that a bad cell can be reported with its row below.
    return pd.read_csv(file, usecols=lambda c: c in FILE_COLUMNS)


def _read_parquet(file: Path) -> pd.DataFrame:
    return pd.read_parquet(file)


def _read(reader: Callable[[Path], pd.DataFrame], file: Path, source: str) -> pd.DataFrame:
    try:
        return reader(file)
    except _READ_ERRORS as e:
        detail = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DataError(
            f"{source}: cannot read the file: {detail}", source=source, rule="file"
        ) from e


def _index_to_column(raw: pd.DataFrame) -> pd.DataFrame:
    if isinstance(raw.index, pd.DatetimeIndex) and INDEX_NAME not in raw.columns:
        return raw.reset_index(names=INDEX_NAME)
    return raw


def _timestamps_ms(column: pd.Series, source: str) -> np.ndarray:
    if isinstance(column.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(column):
        stamps = pd.DatetimeIndex(column)
        if stamps.tz is None:
            stamps = stamps.tz_localize("UTC")
        return np.asarray(stamps.as_unit("ms").asi8, dtype=np.int64)
    numbers = _numbers(column, INDEX_NAME, source)
    fractional = np.flatnonzero(numbers != np.floor(numbers))
    if fractional.size:
        _bad_cell(source, int(fractional[0]), INDEX_NAME, column, "is not whole milliseconds")
    ts = numbers.astype(np.int64)
    outside = np.flatnonzero((ts < _PLAUSIBLE_MS[0]) | (ts > _PLAUSIBLE_MS[1]))
    if outside.size:
        _bad_cell(
            source, int(outside[0]), INDEX_NAME, column, "is not milliseconds since the epoch"
        )
    return ts


def _numbers(column: pd.Series, name: str, source: str) -> np.ndarray:
    """Column as float64; a cell that is not a number is reported with its row."""
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        values = np.asarray(column, dtype=np.float64)
    else:
        values = np.asarray(pd.to_numeric(column, errors="coerce"), dtype=np.float64)
        bad = np.flatnonzero(np.isnan(values) & np.asarray(column.notna()))
        if bad.size:
            _bad_cell(source, int(bad[0]), name, column, "is not a number")
    if name == INDEX_NAME and np.isnan(values).any():
        _bad_cell(source, int(np.flatnonzero(np.isnan(values))[0]), name, column, "is empty")
    return values


def _bad_cell(source: str, row: int, name: str, column: pd.Series, what: str) -> NoReturn:
    cell = column.iloc[row]
    cell = cell.item() if isinstance(cell, np.generic) else cell  # 1.5, not np.float64(1.5)
    raise DataError(
        f"{source}: row {row} column {name!r} value {cell!r} {what}",
        source=source,
        row=row,
        rule="parse",
    )


def save_ohlcv_csv(frame: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write bars in the ../shared/data format (ms open times); gzip when the name ends .gz."""
    out = Path(path)
    index = pd.DatetimeIndex(frame.index).tz_convert("UTC").as_unit("ms")
    table = pd.DataFrame({"timestamp": index.asi8})
    for column in ("open", "high", "low", "close", "volume"):
        table[column] = frame[column].to_numpy()
    gz = out.name.lower().endswith(".gz")
    # Atomic: a full disk leaves the old file (or none), never a truncated CSV.
    return write_atomically(
        out, lambda fh: table.to_csv(fh, index=False, compression="gzip" if gz else None),
        binary=gz,
    )


# "BTCUSDT_1h_binance_spot_..." -> BTC/USDT: the shared files are named after the market.
_FILE_SYMBOL = re.compile(r"^([A-Z0-9]{2,15}?)(USDT|USDC|FDUSD|BUSD|TUSD|BTC|ETH|BNB|EUR)_")


def timeframe_from_file_name(path: str | os.PathLike[str]) -> str | None:
    """The bar length a file is named after ("BTCUSDT_1h_..." -> "1h"), else None."""
    parts = Path(path).name.split("_")
    if len(parts) > 1 and re.fullmatch(r"[1-9][0-9]*[smhdwM]", parts[1]):
        return parts[1]
    return None


def symbol_from_file_name(path: str | os.PathLike[str]) -> str | None:
    """BASE/QUOTE from a file named like the shared data ("ETHUSDT_1h_..."), else None."""
    match = _FILE_SYMBOL.match(Path(path).name.upper())
    return f"{match.group(1)}/{match.group(2)}" if match else None
