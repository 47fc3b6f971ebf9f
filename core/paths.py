"""Where the bot keeps its files: one state directory, one journal per trading mode.

Paper, testnet, live and replay each get their own journal so that a replay can never touch
the paper account's kill switches, nor paper state leak into live.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Final

from core.errors import ConfigError

STATE_DIR_ENV: Final = "TRADINGBOT_STATE_DIR"
REPO_ROOT: Final = Path(__file__).resolve().parent.parent
JOURNAL_FILE: Final = "journal.sqlite3"
# The journal folders under the state directory (journal.records.RunMode's values; not
# imported from there because this module sits below the journal package).
MODE_DIRS: Final = ("paper", "testnet", "live", "replay")
SQLITE_MAGIC: Final = b"SQLite format 3\x00"


def state_dir(environ: Mapping[str, str]) -> Path:
    """$TRADINGBOT_STATE_DIR if set, else state/ under the repository root.

    ConfigError when the path, or the nearest part of it that exists, is not a folder.
    """
    override = environ.get(STATE_DIR_ENV, "").strip()
    path = Path(override).expanduser() if override else REPO_ROOT / "state"
    blocker = _file_in_the_way(path)
    if blocker is not None:
        name = f"{STATE_DIR_ENV}={override}" if override else f"the state directory {path}"
        raise ConfigError(f"{name} is not a directory: {blocker} is a file")
    return path


def journal_path(environ: Mapping[str, str], mode: str) -> Path:
    """The journal of one trading mode (paper, testnet, live, replay)."""
    return state_dir(environ) / mode / JOURNAL_FILE


def check_output_path(path: Path | str, environ: Mapping[str, str], *, option: str) -> Path:
    """Refuse an output file that could destroy a journal; return it as a Path.

    Refused with ConfigError: a path inside a mode's journal folder (state/<mode>/), an existing
    SQLite file anywhere (a journal, the LLM cache), an existing folder, and a path under a
    regular file. Other files in the state directory (backtest_results.json, a demo CSV) are
    allowed: they are outputs by design.
    """
    target = Path(path).expanduser()
    resolved = target.resolve()
    state = state_dir(environ).resolve()
    for mode in MODE_DIRS:
        if resolved.is_relative_to(state / mode):
            raise ConfigError(f"{option} {target} is inside the {mode} journal folder "
                              f"{state / mode}; choose a file elsewhere")
    if resolved.is_dir():
        raise ConfigError(f"{option} {target} is a directory; give a file name")
    if _is_sqlite(resolved):
        raise ConfigError(f"{option} {target} is an SQLite database (a journal?); "
                          "not overwriting it")
    blocker = _file_in_the_way(resolved.parent)
    if blocker is not None:
        raise ConfigError(f"{option} {target}: {blocker} is a file, not a directory")
    return target


def _is_sqlite(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            return fh.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC
    except OSError:
        return False


def _file_in_the_way(path: Path) -> Path | None:
    """The nearest existing part of ``path`` when it is not a folder, else None."""
    for part in (path, *path.parents):
        if part.exists():
            return None if part.is_dir() else part
    return None
