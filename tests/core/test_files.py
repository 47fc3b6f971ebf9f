"""core.files.write_atomically: whole files only, and the permissions a user expects of them.

Outputs (reports, CSVs) are created as ``open()`` creates a file (0666 less the umask) and keep
the mode of the file they replace; the bot's private state is 0600 whatever the umask.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.files import write_atomically


@pytest.fixture
def umask() -> Iterator[None]:
    """Run the test under umask 022 (a login shell's) and restore the caller's afterwards."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _write(path: Path, text: str = "x", **kwargs: bool) -> Path:
    return write_atomically(path, lambda fh: fh.write(text), binary=False, **kwargs)


@pytest.mark.usefixtures("umask")
def test_a_new_output_gets_the_umask_mode_not_the_temp_files_0600(tmp_path: Path) -> None:
    path = _write(tmp_path / "out" / "report.html", "<html>")
    assert _mode(path) == 0o644
    assert path.read_text() == "<html>"
    assert [p.name for p in path.parent.iterdir()] == ["report.html"]  # no temp file left


def test_a_stricter_umask_is_honoured(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        path = _write(tmp_path / "trades.csv")
    finally:
        os.umask(old)
    assert _mode(path) == 0o600


@pytest.mark.usefixtures("umask")
def test_a_replaced_file_keeps_its_mode(tmp_path: Path) -> None:
    path = _write(tmp_path / "report.html", "old")
    path.chmod(0o664)  # e.g. made group-writable by hand: a rewrite must not undo that
    _write(path, "new")
    assert (_mode(path), path.read_text()) == (0o664, "new")
    path.chmod(0o600)
    _write(path, "newer")
    assert _mode(path) == 0o600


@pytest.mark.usefixtures("umask")
def test_private_state_is_0600_new_or_replaced(tmp_path: Path) -> None:
    path = _write(tmp_path / "state.json", private=True)
    assert _mode(path) == 0o600
    path.chmod(0o644)
    _write(path, "again", private=True)
    assert _mode(path) == 0o600


@pytest.mark.usefixtures("umask")
def test_the_saved_backtests_stay_private(tmp_path: Path) -> None:
    from risk.backtest_store import save_backtest_results
    from tests.backtest.test_kelly_store import saved

    path = save_backtest_results(tmp_path / "backtest_results.json", saved())
    assert _mode(path) == 0o600


def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path: Path) -> None:
    path = _write(tmp_path / "r.html", "old")

    def fail(fh: object) -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        write_atomically(path, fail, binary=False)
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]
    assert path.read_text() == "old"
