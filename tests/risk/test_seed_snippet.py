"""The seed guide's "Check the kill switches work" snippet, verbatim, in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

SEED_SNIPPET = """
from risk.manager import RiskManager, RiskConfig
rm = RiskManager(RiskConfig(), 10000)
# Simulate 16% drawdown — should trigger halt
allowed = rm.check_and_update(8400)
print('Trading allowed:', allowed)
print('Halt reason:', rm.state.halt_reason)
"""


def test_seed_snippet_prints_the_expected_lines() -> None:
    done = subprocess.run(  # noqa: S603 - our own interpreter and a fixed script
        [sys.executable, "-c", SEED_SNIPPET],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "Trading allowed: False",
        "Halt reason: Max drawdown 16.0% exceeded 15.0%",
    ]
