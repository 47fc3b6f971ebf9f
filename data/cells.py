"""Cells of a file's table as numbers; a cell that is not one is reported with its row."""

from __future__ import annotations

from typing import NoReturn

import numpy as np
import pandas as pd

from core.errors import DataError


def column_numbers(column: pd.Series, name: str, source: str, *, required: bool) -> np.ndarray:
    """Column as float64; ``required``: an empty cell is an error rather than NaN."""
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        values = np.asarray(column, dtype=np.float64)
    else:
        values = np.asarray(pd.to_numeric(column, errors="coerce"), dtype=np.float64)
        bad = np.flatnonzero(np.isnan(values) & np.asarray(column.notna()))
        if bad.size:
            bad_cell(source, int(bad[0]), name, column, "is not a number")
    if required and np.isnan(values).any():
        bad_cell(source, int(np.flatnonzero(np.isnan(values))[0]), name, column, "is empty")
    return values


def bad_cell(source: str, row: int, name: str, column: pd.Series, what: str) -> NoReturn:
    """Raise the one-line DataError naming the file, the row, the column and the value."""
    cell = column.iloc[row]
    cell = cell.item() if isinstance(cell, np.generic) else cell  # 1.5, not np.float64(1.5)
    raise DataError(
        f"{source}: row {row} column {name!r} value {cell!r} {what}",
        source=source,
        row=row,
        rule="parse",
    )
