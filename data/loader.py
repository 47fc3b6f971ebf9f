"""Read OHLCV files (CSV, CSV.gz, parquet) into the house frame, checked by the integrity rules.

File format (as in ../shared/data): header ``timestamp,open,high,low,close,volume``; timestamp is
the candle open time in integer milliseconds since the epoch, UTC. Also read: a ``date`` column
instead of ``timestamp``, headers in any capitalisation, and times as epoch seconds or ISO 8601
text (data.timestamps). Extra columns are ignored. Parquet files may instead carry a
DatetimeIndex (what the cache writes).
"""

from __future__ import annotations

import logging
import os
import re
import zlib
from collections.abc import Callable, Hashable
from pathlib import Path

import numpy as np
import pandas as pd

from core.errors import DataError
from core.files import write_atomically
from data.cells import column_numbers
from data.integrity import (
    DEFAULT_MAX_JUMP,
    INDEX_NAME,
    OHLCV_COLUMNS,
    check_ohlcv,
    ohlcv_frame,
)
from data.timestamps import open_times_ms

log = logging.getLogger(__name__)

FILE_COLUMNS: tuple[str, ...] = (INDEX_NAME, *OHLCV_COLUMNS)
# freqtrade and most exports name the open time "date"; ours and the exchange's "timestamp".
TIME_COLUMNS: tuple[str, ...] = (INDEX_NAME, "date")
_KNOWN = frozenset((*TIME_COLUMNS, *OHLCV_COLUMNS))
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
    """Turn a table with a time column (timestamp or date) and OHLCV columns into the frame."""
    names = _column_names(raw, source)
    if raw.empty:
        raise DataError(f"{source}: the file has no rows", source=source, rule="file")
    time = names[INDEX_NAME]
    ts = open_times_ms(raw[time], name=str(time), source=source)
    values = np.column_stack([
        column_numbers(raw[names[c]], str(names[c]), source, required=False)
        for c in OHLCV_COLUMNS
    ])
    return ohlcv_frame(ts, values)


def _column_names(raw: pd.DataFrame, source: str) -> dict[str, Hashable]:
    """The file's name of each column the frame needs ("Close" for close), keyed lower case."""
    found: dict[str, Hashable] = {}
    for column in raw.columns:
        key = _key(column)
        if key not in _KNOWN:
            continue
        if key in found:
            raise DataError(f"{source}: columns {found[key]!r} and {column!r} are both {key!r} "
                            "(headers are read in any capitalisation); keep one",
                            source=source, rule="columns")
        found[key] = column
    if INDEX_NAME in found and "date" in found:
        log.info("%s: both %r and %r columns; times are read from %r", source,
                 found[INDEX_NAME], found["date"], found[INDEX_NAME])
    elif "date" in found:
        found[INDEX_NAME] = found["date"]
    missing = [c for c in FILE_COLUMNS if c not in found]
    if missing:
        raise DataError(
            f"{source}: missing column(s) {missing}; expected a timestamp (or date) column and "
            f"{', '.join(OHLCV_COLUMNS)}, in any capitalisation",
            source=source,
            rule="columns",
        )
    return found


def _key(column: Hashable) -> str:
    return str(column).strip().lower()


def _read_csv(file: Path) -> pd.DataFrame:
    # The C parser with a column filter reads the 58k-row file in ~20 ms; values stay as
    # parsed so that a bad cell can be reported with its row below.
    return pd.read_csv(file, usecols=lambda c: _key(c) in _KNOWN)


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
    if isinstance(raw.index, pd.DatetimeIndex) and not any(
        _key(c) in TIME_COLUMNS for c in raw.columns
    ):
        return raw.reset_index(names=INDEX_NAME)
    return raw


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
