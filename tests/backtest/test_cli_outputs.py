"""Issue 10: backtest checks its output paths before the run, never writes over a journal, and
reports a full disk in one line; a file with an implausible jump is refused unless allowed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.paths import journal_path
from data import synthetic_ohlcv
from data.integrity import ohlcv_frame
from data.loader import save_ohlcv_csv
from journal import Journal
from tests.backtest.test_cli import LOOSE_GATES, Run, run_main
from tests.conftest import REPO_ROOT


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def env(state: Path) -> dict[str, str]:
    return {"TRADINGBOT_STATE_DIR": str(state)}


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    frame = synthetic_ohlcv(1500, start="2024-01-01", seed=7, volatility=0.01)
    return save_ohlcv_csv(frame, tmp_path / "ETHUSDT_1h_synthetic.csv")


def refused(run: Run, option: str) -> None:
    assert run.code == 2, run.err
    lines = run.err.splitlines()
    assert len(lines) == 1, run.err
    assert lines[0].startswith("error: ")
    assert option in lines[0]
    assert run.out == ""


def test_an_unwritable_output_is_refused_before_the_run(
    data_file: Path, env: dict[str, str], state: Path, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    for option in ("--report", "--trades-out", "--kelly-out"):
        run = run_main(["backtest", "--data", str(data_file), option,
                        str(blocker / "out.file")], env)
        refused(run, option)
        # The Kelly file is written after the run: its absence shows the run never started.
        assert not (state / "backtest_results.json").exists()
    assert blocker.read_text() == "x"


def test_a_state_dir_under_a_file_is_refused_before_the_run(
    data_file: Path, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    run = run_main(["backtest", "--data", str(data_file)],
                   {"TRADINGBOT_STATE_DIR": str(blocker / "state")})
    refused(run, "not a directory")


def test_no_output_may_overwrite_a_journal(
    data_file: Path, env: dict[str, str], state: Path
) -> None:
    path = journal_path(env, "paper")
    with Journal(path):
        pass
    before = path.read_bytes()
    for option in ("--report", "--trades-out", "--kelly-out"):
        for target in (path, path.parent / "trades.csv"):
            run = run_main(["backtest", "--data", str(data_file), option, str(target)], env)
            refused(run, option)
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["journal.sqlite3"]


def test_a_full_disk_while_writing_the_outputs_is_one_line_and_exit_1(
    data_file: Path, tmp_path: Path
) -> None:
    def limit() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_FSIZE, (1500, 1500))  # fails big writes (EFBIG)

    # Warm numba's on-disk cache first: the limit must hit our output, not a cache file.
    assert run_main(["backtest", "--data", str(data_file), *LOOSE_GATES],
                    {"TRADINGBOT_STATE_DIR": str(tmp_path / "warm")}).code == 0
    trades = tmp_path / "trades.csv"
    # The child must use the numba cache the warm-up filled (CI sets NUMBA_CACHE_DIR).
    cache = {k: v for k, v in os.environ.items() if k == "NUMBA_CACHE_DIR"}
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONDONTWRITEBYTECODE": "1",
           "TRADINGBOT_STATE_DIR": str(tmp_path / "state"), "HOME": str(tmp_path), **cache}
    done = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, str(REPO_ROOT / "main.py"), "backtest", "--data", str(data_file),
         "--trades-out", str(trades), *LOOSE_GATES], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=240, preexec_fn=limit, check=False,
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr == f"error: backtest failed: File too large ({trades})\n"
    assert not trades.exists()
    assert not [p for p in tmp_path.rglob("*.tmp")]


def test_a_file_with_an_absurd_close_is_refused_unless_jumps_are_allowed(
    env: dict[str, str], tmp_path: Path
) -> None:
    bars = synthetic_ohlcv(1500, start="2024-01-01", seed=7, volatility=0.01)
    values = bars.to_numpy().copy()
    values[700, 1] = values[700, 3] = 1e300
    file = save_ohlcv_csv(ohlcv_frame(bars.index.as_unit("ms").asi8, values),
                          tmp_path / "ETHUSDT_1h_absurd.csv")
    run = run_main(["backtest", "--data", str(file), *LOOSE_GATES], env)
    refused(run, f"{file}: row 700")
    assert "'jump'" in run.err
    run = run_main(["sweep", "--data", str(file)], env)
    refused(run, "row 700")
    run = run_main(["backtest", "--data", str(file), "--max-jump", "1e301", *LOOSE_GATES], env)
    assert run.code in (0, 3), run.err
    run = run_main(["backtest", "--data", str(file), "--allow-jumps", *LOOSE_GATES], env)
    assert run.code in (0, 3), run.err
