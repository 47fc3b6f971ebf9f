"""`main.py backtest` in-process: exit codes, --json, trades CSV, HTML report and Kelly file.

The real-data run happens once per module (about 2 s in-process once numba and vectorbt are
warm); the other tests use small synthetic files. Two subprocess smoke tests check the seed's
command, `python backtest/run_backtest.py`, as a user runs it.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backtest.cli import DEFAULTS, add_arguments
from backtest.cli_data import window
from backtest.engine import BacktestConfig, run_backtest
from data import load_ohlcv, synthetic_ohlcv
from data.loader import symbol_from_file_name
from main import main
from risk.backtest_store import load_backtest_results, load_results
from risk.config import RiskConfig
from risk.saved_backtest import ResultKey
from signals.strategy_loader import load_strategy
from tests.conftest import BTC_1H_2022, REPO_ROOT

LOOSE_GATES = ["--gate-min-sharpe", "-100", "--gate-max-drawdown-pct", "1",
               "--gate-min-trades", "0"]


@dataclass
class Run:
    """One in-process run of main.py: exit code, stdout, stderr."""

    code: int
    out: str
    err: str


def run_main(argv: list[str], env: dict[str, str]) -> Run:
    """main(argv) with stdout / stderr captured; SystemExit (argparse) counts as an exit code."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv, environ=env)
        except SystemExit as e:
            code = int(e.code or 0)
    return Run(code, out.getvalue(), err.getvalue())


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    """A frame in the shared files' format: ms timestamps, OHLCV columns."""
    table = frame.reset_index()
    table["timestamp"] = pd.DatetimeIndex(table["timestamp"]).as_unit("ms").asi8
    table.to_csv(path, index=False)
    return path


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A private state folder; nothing from the user's SCORER_* settings."""
    return {"TRADINGBOT_STATE_DIR": str(tmp_path / "state")}


@pytest.fixture
def synthetic_file(tmp_path: Path) -> Path:
    """1,500 hourly synthetic bars (a trending random walk that trades)."""
    frame = synthetic_ohlcv(1500, start="2024-01-01", seed=7, volatility=0.01)
    return write_csv(frame, tmp_path / "ETHUSDT_1h_synthetic.csv")


@dataclass
class RealRun:
    """The module's one run on the real 2022-2025 BTC 1h file, with every output asked for."""

    run: Run
    data: Path
    trades: Path
    report: Path
    kelly: Path


@pytest.fixture(scope="module")
def real(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> RealRun:
    """Defaults on real data: the gates fail (exit 3) and every file is written."""
    out = tmp_path_factory.mktemp("real")
    data = shared_data / BTC_1H_2022
    files = {"trades": out / "t.csv", "report": out / "r.html", "kelly": out / "k.json"}
    run = run_main(
        ["backtest", "--data", str(data), "--json", "--trades-out", str(files["trades"]),
         "--report", str(files["report"]), "--kelly-out", str(files["kelly"])],
        {"TRADINGBOT_STATE_DIR": str(out / "state")},
    )
    return RealRun(run, data, files["trades"], files["report"], files["kelly"])


def test_defaults_on_real_data_fail_the_gates_with_exit_3(real: RealRun) -> None:
    assert real.run.code == 3, real.run.err
    doc = json.loads(real.run.out)  # --json: stdout is one JSON object and nothing else
    assert doc["gates_passed"] is False
    assert {g["name"]: g["passed"] for g in doc["gates"]} == {
        "sharpe": False, "max_drawdown": True, "trades": False,
    }
    assert "Traceback" not in real.run.err


def test_json_has_every_documented_key(real: RealRun) -> None:
    doc = json.loads(real.run.out)
    assert {"engine", "strategy_id", "data", "params", "stats", "gates", "gates_passed", "kelly",
            "rejections", "halts", "files"} <= doc.keys()
    assert doc["data"] == {
        "symbol": "BTC/USDT", "timeframe": "1h", "first_bar": "2022-01-17T03:00:00+00:00",
        "last_bar": "2025-05-05T23:00:00+00:00", "bars": 28_916, "source": str(real.data),
    }
    stats = doc["stats"]
    assert stats["start_value"] == 10_000.0
    assert stats["total_trades"] == doc["kelly"]["trades"] == 50
    assert stats["sharpe_ratio"] == pytest.approx(-0.1815, abs=1e-3)
    assert doc["rejections"]["size_zero"] > 0  # half-Kelly < 0 after the warm-up: no size
    assert doc["halts"] == {"count": 0, "by_kind": {"daily_pause": 0, "drawdown_latch": 0}}
    assert doc["params"]["strategy"]["risk"]["max_position_pct"] == 0.02
    assert doc["params"]["costs"] == {"init_cash": 10_000.0, "fee": 0.001, "slippage": 0.0005}


def test_trades_csv_has_the_columns_and_matches_the_result(real: RealRun) -> None:
    csv = pd.read_csv(real.trades)
    assert list(csv.columns[:10]) == [
        "entry_time", "exit_time", "side", "size", "entry_price", "exit_price", "fees", "pnl",
        "return_pct", "exit_reason",
    ]
    expected = run_backtest(load_ohlcv(real.data), BacktestConfig()).trades()
    assert len(csv) == len(expected) == 50
    for column in ("size", "entry_price", "exit_price", "fees", "pnl", "return_pct"):
        np.testing.assert_allclose(csv[column], expected[column], rtol=1e-12)
    assert (pd.DatetimeIndex(csv["entry_time"]) == pd.DatetimeIndex(expected["entry_time"])).all()
    assert set(csv["exit_reason"]) <= {"signal", "stop", "halt", "end"}


def test_report_is_self_contained_and_names_its_sections(real: RealRun) -> None:
    page = real.report.read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]*\bsrc=[\"']?https?:", page)
    for section in ("Equity against buy &amp; hold, drawdown", "Trades (50)",
                    "Price, indicators and every trade; a candle per 6 bars",
                    "Monthly returns and exits by reason", "Statistics and settings"):
        assert f">{section}</h2>" in page
    assert page.index('<div class="badge">FAIL</div>') < page.index("<h2")
    assert "2 of 3 gates failed: Sharpe Ratio -0.18 (needs &gt; 1); Total Trades 50" in page
    # Where half-Kelly stopped it: in the verdict, and marked on the equity and price charts.
    assert "Sizing stopped the strategy: half-Kelly of the first 50 closed trades" in page
    assert page.count('"text":"sizing stopped"') == 2
    assert "rsi_ema (version 1)" in page
    assert "2% of equity" in page
    assert not re.search(r"\b(SignalParams|RiskConfig|LoadedStrategy)\(", page)


def test_kelly_file_reads_back(real: RealRun) -> None:
    doc = json.loads(real.run.out)
    # Filed under the run's strategy id, symbol and timeframe.
    saved = load_backtest_results(real.kelly, ResultKey(doc["strategy_id"], "BTC/USDT", "1h"))
    assert saved.strategy_id == doc["strategy_id"]
    assert saved.kelly.trades == 50
    assert saved.kelly.win_rate == pytest.approx(doc["kelly"]["win_rate"])
    assert saved.data.first_bar.isoformat() == doc["data"]["first_bar"]
    assert saved.gates_passed is False
    assert saved.created_at.utcoffset() is not None


def test_loosened_gates_pass_with_exit_0(
    synthetic_file: Path, env: dict[str, str], tmp_path: Path
) -> None:
    run = run_main(["backtest", "--data", str(synthetic_file), *LOOSE_GATES], env)
    assert run.code == 0, run.err
    assert "all gates passed" in run.out
    assert "ETH/USDT 1h" in run.out  # symbol from the file name
    [saved] = load_results(tmp_path / "state" / "backtest_results.json").values()
    assert saved.gates_passed
    assert saved.data.symbol == "ETH/USDT"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--data", "no/such/file.csv"], "no such file"),
        (["--fees", "0.5"], "fee must be in [0, 0.1)"),
        (["--max-position-pct", "2"], "max_position_pct must be in (0, 1)"),
        (["--param", "ema_fast=30"], "ema_fast must be smaller than ema_slow"),
        (["--param", "emafast=30"], "did you mean 'ema_fast'"),
        (["--strategy", "donchain"], "unknown strategy 'donchain'"),
        (["--gate-max-drawdown-pct", "0"], "must be in (0, 1], a fraction: 0.2 = 20%"),
        (["--gate-max-drawdown-pct", "20"], "must be in (0, 1], a fraction: 0.2 = 20%"),
        (["--max-drawdown", "20"], "did you mean --gate-max-drawdown-pct"),  # renamed
        (["--fees", "nan"], "fee must be in [0, 0.1)"),
        (["--engine", "seed", "--scorer", "anthropic"], "--engine seed has no scorer"),
        (["--since", "2024-02-01", "--until", "2024-01-01"], "must be after --since"),
        (["--timeframe", "4h"], "holds 1h bars"),
        (["--fees", "abc"], "invalid float value"),
        (["--max-draw", "5"], "unrecognized arguments"),  # no abbreviations
    ],
)
def test_usage_and_data_errors_exit_2_with_one_line(
    synthetic_file: Path, env: dict[str, str], args: list[str], message: str
) -> None:
    argv = ["backtest", "--data", str(synthetic_file), *args]
    if args[0] == "--data":
        argv = ["backtest", *args]
    run = run_main(argv, env)
    assert run.code == 2
    assert message in run.err
    assert len(run.err.strip().splitlines()) == 1, run.err
    assert "Traceback" not in run.err
    assert run.out == ""


def test_a_range_too_short_for_the_warm_up_is_a_data_error(
    synthetic_file: Path, env: dict[str, str]
) -> None:
    run = run_main(
        ["backtest", "--data", str(synthetic_file), "--until", "2024-01-10"], env
    )
    assert run.code == 2
    assert "warm up" in run.err


def test_since_keeps_the_warm_up_bars_before_it() -> None:
    frame = synthetic_ohlcv(1000, start="2024-01-01")
    since = pd.Timestamp("2024-01-20", tz="UTC")
    until = pd.Timestamp("2024-02-01", tz="UTC")
    cut = window(frame, since_ms=since.value // 1_000_000, until_ms=until.value // 1_000_000,
                 warmup=100)
    assert cut.index[99] == since  # 99 warm-up bars, then the first bar traded
    assert cut.index[-1] == until - pd.Timedelta("1h")  # --until is exclusive


def test_symbol_from_the_shared_file_names() -> None:
    assert symbol_from_file_name("x/BTCUSDT_1h_binance_spot_2022.csv") == "BTC/USDT"
    assert symbol_from_file_name("DOGEUSDT_1h.csv") == "DOGE/USDT"
    assert symbol_from_file_name("ETHBTC_1d.csv.gz") == "ETH/BTC"
    assert symbol_from_file_name("prices.csv") is None


def test_parser_defaults_are_the_configs_defaults() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args([])
    config, risk = BacktestConfig(), RiskConfig()
    assert (args.strategy, args.param, args.params_file) == (None, [], None)
    assert config.strategy.spec == load_strategy().spec  # rsi_ema with the seed's numbers
    assert dict(config.strategy.spec.params) == {
        "rsi_window": 14, "ema_fast": 12, "ema_slow": 26, "overbought": 70.0, "oversold": 30.0,
        "rsi_method": "wilder"}
    for name, value in risk.to_dict().items():
        assert getattr(args, name) == value == DEFAULTS[name]
    assert (args.init_cash, args.fees, args.slippage) == (
        config.init_cash, config.fee, config.slippage)
    assert args.default_position_pct == config.default_position_pct
    assert args.kelly_min_trades == config.kelly_min_trades
    assert args.flatten_on_halt is config.flatten_on_halt


def _script(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The seed's command in a child process, run from another folder."""
    return subprocess.run(  # noqa: S603 - fixed argv: this interpreter running our script
        [sys.executable, str(REPO_ROOT / "backtest" / "run_backtest.py"), *args],
        cwd=REPO_ROOT.parent, env={**os.environ, **env}, capture_output=True, text=True,
        timeout=120, check=False,
    )


def test_seed_command_help_works_as_a_script(env: dict[str, str]) -> None:
    result = _script(["--help"], env)
    assert result.returncode == 0, result.stderr
    assert "--max-drawdown-pct" in result.stdout
    assert "0.02 = 2%" in result.stdout
    assert "%%" not in result.stdout  # argparse leaves %% alone in group descriptions


def test_seed_command_runs_on_real_data(shared_data: Path, env: dict[str, str]) -> None:
    result = _script(["--data", str(shared_data / BTC_1H_2022), "--json"], env)
    assert result.returncode == 3, result.stderr
    doc = json.loads(result.stdout)
    assert doc["stats"]["total_trades"] == 50
    assert not math.isnan(doc["stats"]["sharpe_ratio"])
    assert "Traceback" not in result.stderr


def test_seed_engine_through_the_command(
    synthetic_file: Path, env: dict[str, str], tmp_path: Path
) -> None:
    run = run_main(["backtest", "--data", str(synthetic_file), "--engine", "seed", "--json",
                    "--trades-out", str(tmp_path / "seed.csv"), *LOOSE_GATES], env)
    assert run.code == 0, run.err
    doc = json.loads(run.out)
    assert doc["engine"] == "seed"
    assert doc["strategy_id"] is None
    assert doc["params"]["signal"]["rsi_method"] == "sma"
    assert doc["stats"]["total_trades"] == len(pd.read_csv(tmp_path / "seed.csv")) > 0
    assert "kelly" not in doc["files"]  # the live loop never sizes on the seed's run
    assert not (tmp_path / "state").exists()


def test_bars_from_the_exchange_through_the_cache(env: dict[str, str], tmp_path: Path) -> None:
    from core.clock import SimulatedClock
    from tests.fake_binance import KLINES, FakeBinance

    history = synthetic_ohlcv(2520, start="2024-01-01", seed=1)  # .. 2024-04-14 23:00
    with FakeBinance(clock=SimulatedClock(datetime(2024, 6, 1, tzinfo=UTC))) as server:
        server.set_klines("BTCUSDT", "1h", history)
        env = {**env, "TRADINGBOT_EXCHANGE_URL": server.url,
               "TRADINGBOT_CACHE_DIR": str(tmp_path / "cache")}
        argv = ["backtest", "--symbol", "BTC/USDT", "--since", "2024-02-01", "--until",
                "2024-04-01", "--json", *LOOSE_GATES]
        run = run_main(argv, env)
        assert run.code == 0, run.err
        assert server.calls(KLINES)
        again = run_main(argv, env)  # from the cache (only the tail is asked for again)
    doc = json.loads(run.out)
    assert doc["data"]["first_bar"] == "2024-02-01T00:00:00+00:00"  # warm-up fetched before it
    assert doc["data"]["last_bar"] == "2024-03-31T23:00:00+00:00"
    assert json.loads(again.out)["stats"] == doc["stats"]
