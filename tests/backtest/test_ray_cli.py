"""`sweep` and `walkforward` with --engine ray from the command line, each in its own process
(the engine starts a throwaway local cluster with --address local): the same JSON as the local
engine, Ctrl-C cancels and exits cleanly, and a missing Ray or a bad address is one line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import BTC_1H_2022, REPO_ROOT

pytest.importorskip("ray", reason="Ray is not installed: pip install -r requirements-ray.txt")

GRID = ["--grid", "rsi_window=10,14,18", "--grid", "ema_fast=8,12", "--grid", "ema_slow=26,30"]


def _main(*args: str, env: dict[str, str] | None = None, timeout: float = 300,
          prelude: str = "") -> subprocess.CompletedProcess[str]:
    code = f"import sys; {prelude}import main; sys.exit(main.main(sys.argv[1:]))"
    return subprocess.run(  # noqa: S603 - fixed argv: this interpreter
        [sys.executable, "-c", code, *args], cwd=REPO_ROOT, env=env or dict(os.environ),
        capture_output=True, text=True, timeout=timeout, check=False)


def _data(shared_data: Path, tmp_path: Path) -> str:
    from data.loader import load_ohlcv, save_ohlcv_csv

    path = tmp_path / "BTCUSDT_1h.csv"
    save_ohlcv_csv(load_ohlcv(shared_data / BTC_1H_2022).iloc[-2500:], path)
    return str(path)


def test_sweep_and_walkforward_print_the_same_json_on_ray(shared_data: Path, tmp_path: Path
                                                          ) -> None:
    data = _data(shared_data, tmp_path)
    sweep = ["sweep", "--data", data, *GRID, "--json", "--chunk-size", "3"]
    here = _main(*sweep)
    there = _main(*sweep, "--engine", "ray", "--address", "local")
    assert here.returncode == there.returncode == 0, there.stderr
    assert json.loads(here.stdout) == json.loads(there.stdout)
    walk = ["walkforward", "--data", data, *GRID, "--train", "30D", "--test", "15D", "--json",
            "--rank-min-trades", "1", "--chunk-size", "4", "--kelly-out", str(tmp_path / "k.json")]
    here = _main(*walk)
    there = _main(*walk, "--engine", "ray", "--address", "local")
    assert here.returncode == there.returncode, there.stderr
    assert json.loads(here.stdout) == json.loads(there.stdout)


def test_ctrl_c_cancels_the_tasks_and_exits_cleanly(shared_data: Path) -> None:
    # The seed grid's 3,146 combinations on three years of hourly bars, 8 a task: minutes of
    # work, interrupted as soon as a worker is seen running a task.
    proc = subprocess.Popen(  # noqa: S603 - fixed argv: this interpreter
        [sys.executable, "main.py", "sweep", "--data", str(shared_data / BTC_1H_2022), "--json",
         "--chunk-size", "8", "--engine", "ray", "--address", "local"],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not _task_running():
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "no task started within 120 s"
            time.sleep(0.2)
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert time.monotonic() - sent < 30
    assert proc.returncode == 130, err
    assert "error: interrupted" in err
    assert "Traceback" not in err
    assert out == ""
    deadline = time.monotonic() + 30  # the cluster this run started is gone with it
    while _task_running() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not _task_running()


def _task_running() -> bool:
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "cmdline").read_bytes().startswith(
                    b"ray::research_task"):
                return True
        except OSError:
            continue
    return False


def test_missing_ray_is_one_line_exit_2(shared_data: Path, tmp_path: Path) -> None:
    done = _main("sweep", "--data", _data(shared_data, tmp_path), "--engine", "ray",
                 prelude="sys.modules['ray'] = None; ")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: --engine ray needs Ray, which is not installed here: "
        "pip install -r requirements-ray.txt"]


def test_an_unreachable_cluster_is_one_line_exit_2_within_seconds(
    shared_data: Path, tmp_path: Path,
) -> None:
    data = _data(shared_data, tmp_path)
    started = time.monotonic()
    done = _main("walkforward", "--data", data, "--train", "30D", "--test", "15D", "--engine",
                 "ray", "--address", "127.0.0.1:9")
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("error: cannot reach the Ray cluster at 127.0.0.1:9 (")
    assert time.monotonic() - started < 15  # start-up and data included; the probe is 3 s


def test_address_without_the_ray_engine_is_one_line_exit_2(shared_data: Path, tmp_path: Path
                                                           ) -> None:
    done = _main("sweep", "--data", _data(shared_data, tmp_path), "--address", "auto")
    assert done.returncode == 2
    assert "--address is for --engine ray" in done.stderr
