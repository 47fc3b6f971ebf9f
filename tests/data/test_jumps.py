"""The plausibility rule: a close too far from the close before it is refused with its row."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.errors import DataError
from data.integrity import DEFAULT_MAX_JUMP, check_ohlcv, ohlcv_frame
from data.loader import load_ohlcv, save_ohlcv_csv

HOUR_MS = 3_600_000


def bars(closes: list[float]) -> tuple[np.ndarray, np.ndarray]:
    ts = 1_700_000_000_000 - 1_700_000_000_000 % HOUR_MS + HOUR_MS * np.arange(len(closes))
    c = np.asarray(closes, dtype=np.float64)
    opens = np.concatenate(([c[0]], c[:-1]))
    values = np.column_stack([opens, np.maximum(opens, c), np.minimum(opens, c), c,
                              np.ones_like(c)])
    return ts, values


def test_the_default_bound_is_half() -> None:
    assert DEFAULT_MAX_JUMP == 0.5


@pytest.mark.parametrize(
    ("closes", "row"),
    [([100, 101, 1e300, 101], 2), ([100, 151, 150], 1), ([100, 100, 49], 2)],
    ids=["absurd", "up_51pct", "down_51pct"],
)
def test_a_jump_beyond_the_bound_is_refused_with_its_row(closes: list[float], row: int) -> None:
    frame = ohlcv_frame(*bars(closes))
    with pytest.raises(DataError, match=rf"src: row {row} \(.*\) breaks rule 'jump'") as e:
        check_ohlcv(frame, source="src")
    assert (e.value.row, e.value.rule) == (row, "jump")
    assert check_ohlcv(frame, source="src", max_jump=None).rows == len(closes)


def test_a_move_of_exactly_the_bound_passes() -> None:
    frame = ohlcv_frame(*bars([100, 150, 75]))
    assert check_ohlcv(frame, source="src").rows == 3
    with pytest.raises(DataError, match="rule 'jump'"):
        check_ohlcv(frame, source="src", max_jump=0.4)


def test_a_file_names_itself_and_the_row(tmp_path: Path) -> None:
    file = save_ohlcv_csv(ohlcv_frame(*bars([100, 101, 102, 1e300])), tmp_path / "x_1h.csv")
    with pytest.raises(DataError, match=rf"^{file}: row 3 .*rule 'jump'.*--allow-jumps"):
        load_ohlcv(file)
    assert len(load_ohlcv(file, max_jump=None)) == 4


def test_every_real_file_passes_the_default_bound(shared_data: Path) -> None:
    files = sorted(p for p in shared_data.iterdir() if p.name.endswith((".csv", ".csv.gz")))
    assert len(files) >= 7
    for file in files:
        assert len(load_ohlcv(file)) > 1000, file
