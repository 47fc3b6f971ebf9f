"""Where the bot keeps its files: one state directory, one journal per trading mode.

Paper, testnet, live and replay each get their own journal so that a replay can never touch
the paper account's kill switches, nor paper state leak into live.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Final

STATE_DIR_ENV: Final = "TRADINGBOT_STATE_DIR"
REPO_ROOT: Final = Path(__file__).resolve().parent.parent
JOURNAL_FILE: Final = "journal.sqlite3"


def state_dir(environ: Mapping[str, str]) -> Path:
    """$TRADINGBOT_STATE_DIR if set, else state/ under the repository root."""
    override = environ.get(STATE_DIR_ENV, "").strip()
    return Path(override).expanduser() if override else REPO_ROOT / "state"


def journal_path(environ: Mapping[str, str], mode: str) -> Path:
    """The journal of one trading mode (paper, testnet, live, replay)."""
    return state_dir(environ) / mode / JOURNAL_FILE
