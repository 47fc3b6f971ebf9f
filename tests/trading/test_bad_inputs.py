"""Issue 10: inputs that crashed with a traceback or destroyed a journal, now one-line refusals.

Every case checks the exit code, that stderr is exactly one ``error: ...`` line, and that what
was on disk is left byte for byte as it was.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest

from core.paths import journal_path
from data.integrity import ohlcv_frame
from data.loader import save_ohlcv_csv
from data.synthetic import synthetic_ohlcv
from journal import Journal, RunMode
from main import build_parser, main
from tests.conftest import REPO_ROOT
from trading.run_command import strategy_from_args


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def env(state: Path) -> dict[str, str]:
    return {"TRADINGBOT_STATE_DIR": str(state)}


@pytest.fixture
def short_file(tmp_path: Path) -> Path:
    """A real-looking file just long enough to replay (600 bars > the 388 of warm-up)."""
    bars = synthetic_ohlcv(600, timeframe="1h", seed=5, start_price=30_000.0, volatility=0.007)
    return save_ohlcv_csv(bars, tmp_path / "SYNTHUSDT_1h_short.csv")


def one_error_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), err
    assert "Traceback" not in err
    return lines[0]


def make_journal(env: Mapping[str, str], mode: str) -> Path:
    path = journal_path(env, mode)
    with Journal(path) as journal:
        journal.record_run(mode=RunMode(mode), strategy_id="s", config={"source": "x"})
    return path


def files_in(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


# --- 1. journals are never destroyed ------------------------------------------------------


@pytest.mark.parametrize("target", ["journal", "inside", "sqlite_elsewhere"])
def test_report_csv_never_overwrites_a_journal(
    env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str], target: str
) -> None:
    path = make_journal(env, "paper")
    other = tmp_path / "copy.sqlite3"
    other.write_bytes(path.read_bytes())
    out = {"journal": path, "inside": path.parent / "fills.csv", "sqlite_elsewhere": other}[target]
    before, other_before = files_in(path.parent), other.read_bytes()
    assert main(["report", "--csv", str(out)], environ=env) == 2
    assert "--csv" in one_error_line(capsys.readouterr().err)
    assert files_in(path.parent) == before
    assert other.read_bytes() == other_before


def test_report_csv_elsewhere_in_the_state_dir_still_works(
    env: dict[str, str], state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_journal(env, "paper")
    assert main(["report", "--csv", str(state / "fills.csv")], environ=env) == 0
    assert (state / "fills.csv").read_text().startswith("time_utc,")
    assert capsys.readouterr().err == ""


def test_fresh_keeps_every_earlier_replay_account(
    env: dict[str, str], short_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for _ in range(3):
        assert main(["run", "--replay", str(short_file), "--fresh"], environ=env) == 0
    folder = journal_path(env, "replay").parent
    backups = sorted(p.name for p in folder.glob("journal.sqlite3.*.bak"))
    assert backups == ["journal.sqlite3.1.bak", "journal.sqlite3.2.bak"]
    for name in backups:  # each one a whole account, not a header or an empty file
        with Journal(folder / name) as journal:
            assert journal.latest_run() is not None
            assert journal.fills()
    assert "kept as" in capsys.readouterr().out


def test_fresh_moves_the_wal_along_with_its_journal(
    env: dict[str, str], short_file: Path
) -> None:
    path = make_journal(env, "replay")
    (path.parent / "journal.sqlite3.1.bak").write_bytes(b"an earlier backup")
    holder = sqlite3.connect(path)  # an open connection keeps -wal and -shm on disk
    holder.execute("SELECT count(*) FROM runs").fetchone()
    try:
        assert Path(f"{path}-wal").exists()
        assert main(["run", "--replay", str(short_file), "--fresh"], environ=env) == 0
    finally:
        holder.close()
    folder = path.parent
    assert (folder / "journal.sqlite3.1.bak").read_bytes() == b"an earlier backup"
    assert (folder / "journal.sqlite3.2.bak").is_file()
    assert (folder / "journal.sqlite3.2.bak-wal").exists()


@pytest.mark.parametrize(
    "content",
    [b"", b"timestamp,open,high,low,close,volume\n" * 10,
     b"SQLite format 3\x00" + bytes(52) + (0x12345678).to_bytes(4, "big") + bytes(28)],
    ids=["zero_bytes", "not_sqlite", "wrong_application_id"],
)
@pytest.mark.parametrize("command", [["status"], ["halt", "--reason", "x"], ["report"]])
def test_a_damaged_journal_is_refused_and_left_as_it_is(
    env: dict[str, str], capsys: pytest.CaptureFixture[str], content: bytes,
    command: list[str],
) -> None:
    path = journal_path(env, "paper")
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    assert main(command, environ=env) == 2
    assert str(path) in one_error_line(capsys.readouterr().err)
    assert files_in(path.parent) == {"journal.sqlite3": content}


def test_replay_over_a_zero_byte_journal_is_refused(
    env: dict[str, str], short_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = journal_path(env, "replay")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"")
    assert main(["run", "--replay", str(short_file)], environ=env) == 2
    assert "0 bytes" in one_error_line(capsys.readouterr().err)
    assert path.read_bytes() == b""
    assert not Path(f"{path}-wal").exists()


# --- 2. one line, exit 2 (or 1 when the environment fails at run time) ----------------------


@pytest.mark.parametrize("speed", ["inf", "nan", "-1", "0", "1e300"])
def test_a_bad_speed_is_one_line_before_anything_is_written(
    env: dict[str, str], state: Path, short_file: Path, capsys: pytest.CaptureFixture[str],
    speed: str,
) -> None:
    assert main(["run", "--replay", str(short_file), "--speed", speed], environ=env) == 2
    assert "--speed" in one_error_line(capsys.readouterr().err)
    assert not state.exists()


def test_a_state_dir_that_is_a_file_is_one_line(
    tmp_path: Path, short_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a_file = tmp_path / "state-file"
    a_file.write_text("not a folder")
    for state in (a_file, a_file / "below"):
        env = {"TRADINGBOT_STATE_DIR": str(state)}
        for argv in (["status"], ["run", "--replay", str(short_file)]):
            assert main(argv, environ=env) == 2
            assert "not a directory" in one_error_line(capsys.readouterr().err)
    assert a_file.read_text() == "not a folder"


def test_halt_reason_is_capped_at_500_characters(
    env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    path = make_journal(env, "paper")
    for kind in ("halt", "resume"):
        assert main([kind, "--reason", "x" * 501], environ=env) == 2
        assert "at most 500" in one_error_line(capsys.readouterr().err)
    with Journal(path) as journal:
        assert journal.pending_commands() == []
    assert main(["halt", "--reason", "y" * 500], environ=env) == 0
    with Journal(path) as journal:
        assert [c.reason for c in journal.pending_commands()] == ["y" * 500]


def test_run_once_exits_1_when_its_step_failed(
    env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    # Nothing listens on port 9 (discard) here: every market-data request fails at once.
    env = {**env, "TRADINGBOT_EXCHANGE_URL": "http://127.0.0.1:9"}
    assert main(["run", "--once"], environ=env) == 1


def test_paper_run_still_defaults_to_btc_usdt_1h() -> None:
    args = build_parser().parse_args(["run"])
    strategy = strategy_from_args(args)
    assert (strategy.symbols, strategy.timeframe) == (("BTC/USDT",), "1h")
    args = build_parser().parse_args(["run", "--symbols", "ETH/USDT,BTC/USDT", "--timeframe",
                                      "15m"])
    strategy = strategy_from_args(args)
    assert (strategy.symbols, strategy.timeframe) == (("ETH/USDT", "BTC/USDT"), "15m")


# --- 3. replay refuses what backtest refuses ----------------------------------------------


def replay_refused(env: Mapping[str, str], state: Path, capsys: pytest.CaptureFixture[str],
                   *argv: str) -> str:
    assert main(["run", "--replay", *argv], environ=env) == 2
    line = one_error_line(capsys.readouterr().err)
    assert not state.exists(), "refused before anything was written"
    return line


def test_replay_refuses_a_file_whose_name_says_another_timeframe(
    env: dict[str, str], state: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    minutes = synthetic_ohlcv(600, timeframe="1m", seed=3, start_price=30_000.0,
                              volatility=0.001)
    file = save_ohlcv_csv(minutes, tmp_path / "BTCUSDT_1h_really_minutes.csv")
    line = replay_refused(env, state, capsys, str(file))
    assert "named 1h" in line
    assert "1m" in line


def test_replay_honours_or_refuses_symbols_and_timeframe(
    env: dict[str, str], state: Path, tmp_path: Path, short_file: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert "--timeframe 4h" in replay_refused(env, state, capsys, str(short_file),
                                              "--timeframe", "4h")
    assert "SYNTH/USDT" in replay_refused(env, state, capsys, str(short_file),
                                          "--symbols", "ETH/USDT")
    assert "--symbols gave 2 markets for 1 replay file(s)" in replay_refused(
        env, state, capsys, str(short_file), "--symbols", "SYNTH/USDT,ETH/USDT")
    unnamed = tmp_path / "bars.csv"
    unnamed.write_bytes(short_file.read_bytes())
    assert main(["run", "--replay", str(unnamed), "--symbols", "ETH/USDT", "--timeframe",
                 "1h"], environ=env) == 0
    with Journal(journal_path(env, "replay")) as journal:
        run = journal.latest_run()
        assert run is not None
        assert run.config["symbols"] == ["ETH/USDT"]
        assert run.config["timeframe"] == "1h"


def test_replay_refuses_a_file_shorter_than_the_warm_up(
    env: dict[str, str], state: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bars = synthetic_ohlcv(300, timeframe="1h", seed=4, start_price=30_000.0)
    file = save_ohlcv_csv(bars, tmp_path / "SYNTHUSDT_1h_tiny.csv")
    line = replay_refused(env, state, capsys, str(file))
    assert "has 300 bars" in line
    assert "388" in line


def test_replay_refuses_a_misspelt_scorer_setting(
    env: dict[str, str], state: Path, short_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {**env, "SCORER_PROVDER": "anthropic"}
    line = replay_refused(env, state, capsys, str(short_file))
    assert "SCORER_PROVDER" in line
    assert "did you mean SCORER_PROVIDER" in line


def test_replay_refuses_an_absurd_candle_unless_allowed(
    env: dict[str, str], state: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bars = synthetic_ohlcv(600, timeframe="1h", seed=5, start_price=30_000.0)
    values = bars.to_numpy().copy()
    values[450, 1] = values[450, 3] = 1e300  # high and close: the candle stays well-formed
    ts = bars.index.as_unit("ms").asi8
    file = save_ohlcv_csv(ohlcv_frame(ts, values), tmp_path / "SYNTHUSDT_1h_absurd.csv")
    line = replay_refused(env, state, capsys, str(file))
    assert f"{file}: row 450" in line
    assert "'jump'" in line
    assert main(["run", "--replay", str(file), "--allow-jumps"], environ=env) == 0
    assert main(["run", "--replay", str(file), "--fresh", "--max-jump", "0"], environ=env) == 2
    assert "--max-jump" in one_error_line(capsys.readouterr().err)


# --- subprocess cases: .env and a full disk ------------------------------------------------


def run_cli(argv: list[str], *, env: Mapping[str, str], cwd: Path, script: Path | None = None,
            file_size_limit: int | None = None) -> subprocess.CompletedProcess[str]:
    """``python main.py ARGV`` in a child; ``file_size_limit`` makes big writes fail (EFBIG),
    as a full disk does, even for root."""
    def limit() -> None:
        import resource

        if file_size_limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, file_size_limit))

    # The child uses the numba cache of this process (CI sets NUMBA_CACHE_DIR), so a warm-up
    # here keeps a file size limit from hitting a cache file instead of the journal.
    cache = {k: v for k, v in os.environ.items() if k == "NUMBA_CACHE_DIR"}
    full_env = {"PATH": os.environ.get("PATH", ""), "PYTHONDONTWRITEBYTECODE": "1",
                "PYTHONPATH": str(REPO_ROOT), "HOME": str(cwd), **cache, **env}
    return subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, str(script or REPO_ROOT / "main.py"), *argv], cwd=cwd, env=full_env,
        capture_output=True, text=True, timeout=240, preexec_fn=limit, check=False,
    )


def test_a_non_utf8_env_file_still_lets_halt_status_and_help_work(tmp_path: Path) -> None:
    # .env is found beside main.py: a symlinked main.py in a folder of its own finds this one.
    (tmp_path / "main.py").symlink_to(REPO_ROOT / "main.py")
    (tmp_path / ".env").write_bytes(b"SCORER_FIXED_CONVICTION=0.5\nBAD=caf\xe9\nX=1\n")
    env = {"TRADINGBOT_STATE_DIR": str(tmp_path / "state")}
    make_journal(env, "paper")
    script = tmp_path / "main.py"
    for argv in (["--help"], ["status"], ["halt", "--reason", "broken .env"]):
        done = run_cli(argv, env=env, cwd=tmp_path, script=script)
        assert done.returncode == 0, done.stderr
        assert done.stderr == (f"warning: {tmp_path / '.env'} line 2 is not UTF-8 (invalid "
                               "continuation byte at byte 7); that line is ignored\n")


# "trading": above a new journal's size (100 KiB with the refusals table) and below what
# the replay writes, so the limit hits once a run is recorded.
@pytest.mark.parametrize("limit", [20_000, 150_000], ids=["creating", "trading"])
def test_a_full_disk_during_replay_is_one_line_and_exit_1(
    tmp_path: Path, short_file: Path, limit: int
) -> None:
    # Warm numba's on-disk cache first: the limit must hit the journal, not a cache file.
    assert main(["run", "--replay", str(short_file)],
                environ={"TRADINGBOT_STATE_DIR": str(tmp_path / "warm")}) == 0
    env = {"TRADINGBOT_STATE_DIR": str(tmp_path / "state")}
    done = run_cli(["run", "--replay", str(short_file)], env=env, cwd=tmp_path,
                   file_size_limit=limit)
    assert done.returncode == 1, done.stderr
    assert one_error_line(done.stderr).startswith("error: journal ")
    path = journal_path(env, "replay")
    if limit != 20_000:  # the write that failed names its file
        assert str(path) in done.stderr
    if limit == 20_000:  # never a half-made journal that the next start would refuse
        assert not path.exists()
    else:  # what was committed before the failure is still a readable journal
        with Journal(path) as journal:
            assert journal.latest_run() is not None


def test_a_full_disk_in_demo_data_leaves_no_partial_csv(tmp_path: Path) -> None:
    out = tmp_path / "demo.csv"
    done = run_cli(["demo-data", "--out", str(out)], env={}, cwd=tmp_path,
                   file_size_limit=100_000)
    assert done.returncode == 1, done.stderr
    assert done.stderr == f"error: demo-data failed: File too large ({out})\n"
    assert len(done.stderr.splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_demo_data_refuses_a_directory_and_a_journal_folder(
    env: dict[str, str], state: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "a-folder"
    folder.mkdir()
    for out in (folder, state / "paper" / "bars.csv", tmp_path / "f" / "bars.csv"):
        (tmp_path / "f").write_text("a file")
        assert main(["demo-data", "--out", str(out)], environ=env) == 2
        assert "--out" in one_error_line(capsys.readouterr().err)
    assert list(folder.iterdir()) == []
    assert not state.exists()


def test_demo_data_writes_a_checked_file(tmp_path: Path) -> None:
    out = tmp_path / "SYNTHUSDT_1h_demo.csv.gz"
    assert main(["demo-data", "--out", str(out), "--bars", "500"], environ={}) == 0
    from data.loader import load_ohlcv

    assert len(load_ohlcv(out)) == 500
    assert not np.isnan(load_ohlcv(out).to_numpy()).any()
