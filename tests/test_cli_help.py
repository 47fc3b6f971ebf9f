"""`python main.py --help`: examples, commands in the order a user meets them, no heavy imports."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from typing import Any

from main import build_parser, command_names
from tests.conftest import REPO_ROOT

# What a newcomer does first comes first; the operator commands (status, halt, ...) come last.
FIRST_STEPS = ("demo-data", "fetch", "strategies", "check-strategy", "backtest", "sweep",
               "score", "run", "status")
HEAVY = ("numpy", "pandas", "numba", "ccxt", "rich", "vectorbt", "plotly")

# Builds the parser as `main.py --help` does and prints which heavy modules got imported.
_PROBE = (
    "import sys, main; main.build_parser().format_help(); "
    f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
)


def _python(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - fixed argv: this interpreter
        [sys.executable, *args], cwd=REPO_ROOT, env=dict(os.environ), capture_output=True,
        text=True, timeout=60, check=False,
    )


def test_top_level_help_lists_commands_in_the_order_a_user_meets_them() -> None:
    text = build_parser().format_help()
    listing = text[text.index("COMMAND\n"):text.index("options:")]
    names = [line.split()[0] for line in listing.splitlines()[1:] if line.startswith("    ")
             and not line.startswith("      ")]
    assert [n for n in names if n in FIRST_STEPS] == list(FIRST_STEPS)


def test_top_level_help_ends_with_runnable_examples() -> None:
    text = build_parser().format_help()
    examples = [line for line in text.splitlines() if line.startswith("  python main.py ")]
    assert 5 <= len(examples) <= 8
    assert examples[0].split()[2] == "demo-data"  # the offline demo first
    # RawDescriptionHelpFormatter: each example stays on its own line, never re-wrapped.
    assert "python main.py backtest --data state/SYNTHUSDT_1h_synthetic_demo.csv" in text


def test_help_imports_no_heavy_library() -> None:
    done = _python("-c", _PROBE)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""


def test_the_data_package_loads_pandas_only_when_a_name_is_used() -> None:
    done = _python("-c", "import sys, data.demo_command; print('pandas' in sys.modules); "
                   "from data import load_ohlcv; print('pandas' in sys.modules)")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True"]


def test_each_command_alone_has_the_same_parser_as_in_the_full_one() -> None:
    full = build_parser()
    choices = _subparsers(full).choices
    assert set(choices) == command_names()
    for name in command_names():
        alone = _subparsers(build_parser(name)).choices
        assert name in alone
        assert alone[name].format_help() == choices[name].format_help(), name


def test_running_one_command_imports_no_other_commands_module() -> None:
    probe = ("import sys, main; main.build_parser('backtest'); "
             "print(','.join(sorted(m for m in ('trading.operator', 'backtest.sweep', "
             "'trading.run_command', 'signals.score_command') if m in sys.modules)))")
    done = _python("-c", probe)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""


def _subparsers(parser: Any) -> Any:
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
