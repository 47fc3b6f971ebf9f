"""The seed's command, ``python backtest/run_backtest.py [options]``: same as ``main.py backtest``.

Run as a script, Python puts backtest/ first on sys.path, where this package's modules would
shadow top-level imports; the repository root takes its place instead.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _use_repo_root() -> None:
    here = str(Path(__file__).resolve().parent)
    sys.path[:] = [p for p in sys.path if str(Path(p or ".").resolve()) != here]
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))


if __name__ == "__main__":
    _use_repo_root()
    from main import main

    sys.exit(main(["backtest", *sys.argv[1:]]))
