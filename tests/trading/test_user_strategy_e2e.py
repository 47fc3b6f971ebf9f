"""A user's strategy file, end to end: check-strategy, backtest, sweep, run --replay (trades equal
to the backtest's within 1e-9) and paper run --once; a peeking strategy is caught everywhere."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backtest.engine import BacktestConfig, run_backtest
from core.domain import OrderKind
from data.loader import load_ohlcv, save_ohlcv_csv
from data.synthetic import synthetic_ohlcv
from journal import Journal
from main import main
from signals.strategy_loader import load_strategy
from tests.fake_binance import FakeBinance
from tests.signals.test_user_strategy import readme_strategy

# Never leaves the warm-up size, so every entry signal trades: many trades to compare.
MANY_TRADES = ["--kelly-min-trades", "1000000"]

PEEK = """
class Peek:
    warmup_bars = 2

    def signals(self, bars):
        ahead = bars["close"].shift(-1)  # tomorrow's close: look-ahead
        return (ahead > bars["close"]).astype(int) - (ahead < bars["close"]).astype(int)
"""

SHORT_WARMUP = """
class ShortWarmup:
    warmup_bars = 5  # an EMA of span 50 needs far more than 5 bars to forget its start

    def signals(self, bars):
        ema = bars["close"].ewm(span=50, adjust=False).mean()
        return (bars["close"] > ema).astype(int) - (bars["close"] < ema).astype(int)
"""


@pytest.fixture
def sma(tmp_path: Path) -> str:
    path = tmp_path / "my_strategies" / "sma.py"
    path.parent.mkdir()
    path.write_text(readme_strategy(), encoding="utf-8")
    return f"{path}:SmaCross"


@pytest.fixture
def data(tmp_path: Path) -> Path:
    bars = synthetic_ohlcv(2000, timeframe="1h", seed=21, start_price=30_000.0,
                           volatility=0.008)
    return save_ohlcv_csv(bars, tmp_path / "SYNTHUSDT_1h.csv")


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"TRADINGBOT_STATE_DIR": str(tmp_path / "state"),
            "TRADINGBOT_CACHE_DIR": str(tmp_path / "cache"), **extra}


def write(tmp_path: Path, name: str, source: str) -> Path:
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return path


def test_a_user_file_checks_backtests_and_replays_trade_for_trade(
    sma: str, data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = env_for(tmp_path)
    assert main(["check-strategy", "--strategy", sma, "--data", str(data)], environ=env) == 0
    assert "all checks passed" in capsys.readouterr().out

    kelly = tmp_path / "kelly.json"
    code = main(["backtest", "--data", str(data), "--strategy", sma, "--param", "fast=12",
                 *MANY_TRADES, "--json", "--kelly-out", str(kelly)], environ=env)
    doc = json.loads(capsys.readouterr().out)
    assert code in (0, 3)  # whatever the gates say; the run itself worked
    assert doc["checks"]["passed"] is True
    assert doc["params"]["strategy"]["strategy"]["params"] == {"fast": 12, "slow": 40}
    assert kelly.exists()
    assert doc["stats"]["total_trades"] > 20

    assert main(["sweep", "--data", str(data), "--strategy", sma, "--grid", "fast=5,12",
                 "--grid", "slow=30,40", "--json"], environ=env) == 0
    sweep = json.loads(capsys.readouterr().out)
    assert sweep["combinations"] == 4
    assert {(r["fast"], r["slow"]) for r in sweep["top"]} == {(5, 30), (5, 40), (12, 30),
                                                              (12, 40)}

    assert main(["run", "--replay", str(data), "--strategy", sma, "--param", "fast=12",
                 *MANY_TRADES], environ=env) == 0
    with Journal(tmp_path / "state" / "replay" / "journal.sqlite3") as journal:
        fills = journal.fills()
        numbers = [d.numbers for d in journal.recent_decisions(5)]
    assert numbers == [(), (), (), (), ()]  # SmaCross names no numbers
    config = BacktestConfig(symbol="SYNTH/USDT", strategy=load_strategy(sma, params=["fast=12"]),
                            kelly_min_trades=1_000_000)
    trades = run_backtest(load_ohlcv(data), config).trades()
    entries = [f for f in fills if f.kind is OrderKind.ENTRY]
    exits = [f for f in fills if f.kind is not OrderKind.ENTRY]
    assert len(entries) == len(trades) == doc["stats"]["total_trades"]
    assert [pd.Timestamp(f.at) for f in entries] == trades["entry_time"].tolist()
    np.testing.assert_allclose([float(f.price) for f in entries], trades["entry_price"],
                               rtol=1e-9, atol=0)
    np.testing.assert_allclose([float(f.amount) for f in entries], trades["size"],
                               rtol=1e-9, atol=0)
    closed = trades[trades["exit_reason"] != "end"]
    assert [pd.Timestamp(f.at) for f in exits] == closed["exit_time"].tolist()
    np.testing.assert_allclose([float(f.price) for f in exits], closed["exit_price"],
                               rtol=1e-9, atol=0)


def test_a_user_file_paper_trades_once(
    sma: str, live_fake: FakeBinance, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = env_for(tmp_path, TRADINGBOT_EXCHANGE_URL=live_fake.url)
    assert main(["run", "--once", "--strategy", sma], environ=env) == 0
    assert "paper trading BTC/USDT 1h" in capsys.readouterr().out
    with Journal(tmp_path / "state" / "paper" / "journal.sqlite3") as journal:
        run = journal.latest_run()
        decisions = journal.recent_decisions(5)
    assert run is not None
    assert len(decisions) == 1
    assert run.config["strategy"]["name"] == "SmaCross"
    assert run.config["strategy"]["params"] == {"fast": 10, "slow": 40}


@pytest.mark.parametrize(
    ("name", "source", "check", "wording"),
    [
        ("peek", PEEK, "look-ahead", "on the full data but"),
        ("short_warmup", SHORT_WARMUP, "warm-up", "the smallest warm-up that holds"),
    ],
)
def test_a_peek_or_a_short_warmup_is_caught_with_the_bar_named(
    name: str, source: str, check: str, wording: str, data: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    env = env_for(tmp_path)
    ref = str(write(tmp_path, name, source))
    assert main(["check-strategy", "--strategy", ref, "--data", str(data)], environ=env) == 3
    out = capsys.readouterr().out
    assert f"{check}: FAILED" in out or f"{check}: failed" in out.lower()
    assert wording in out
    assert "(row " in out  # the first bad bar, by time and row

    kelly = tmp_path / "kelly.json"
    code = main(["backtest", "--data", str(data), "--strategy", ref, "--kelly-out", str(kelly)],
                environ=env)
    err = capsys.readouterr().err
    assert code == 3
    assert f"STRATEGY CHECK FAILED: {check}" in err
    assert not kelly.exists()  # no Kelly inputs from a strategy that failed its checks

    code = main(["run", "--replay", str(data), "--strategy", ref], environ=env)
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ")
    assert check in err
    assert not (tmp_path / "state" / "replay" / "journal.sqlite3").exists()


def test_paper_refuses_a_peek_on_its_first_window_before_deciding(
    live_fake: FakeBinance, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = env_for(tmp_path, TRADINGBOT_EXCHANGE_URL=live_fake.url)
    peek = str(write(tmp_path, "peek", PEEK))
    assert main(["run", "--once", "--strategy", peek], environ=env) == 2
    assert "look-ahead" in capsys.readouterr().err
    with Journal(tmp_path / "state" / "paper" / "journal.sqlite3") as journal:
        assert journal.recent_decisions(5) == []  # the bar rolled back: nothing decided


HONEST_V1 = """
class Edited:
    version = "1"
    warmup_bars = 2

    def signals(self, bars):
        before = bars["close"].shift(1)
        return (bars["close"] > before).astype(int) - (bars["close"] < before).astype(int)
"""


def test_a_failed_check_also_removes_the_earlier_result_of_the_same_id(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The user edits the file but keeps version "1": the id stays, the evidence must not.
    env = env_for(tmp_path)
    path = write(tmp_path, "edited", HONEST_V1)
    kelly = tmp_path / "kelly.json"
    argv = ["backtest", "--data", str(data), "--strategy", f"{path}:Edited", "--kelly-out",
            str(kelly), "--json"]
    assert main(argv, environ=env) in (0, 3)
    strategy_id = json.loads(capsys.readouterr().out)["strategy_id"]
    assert strategy_id in kelly.read_text()
    write(tmp_path, "edited", HONEST_V1.replace("shift(1)", "shift(-1)"))  # now it peeks
    assert main(argv, environ=env) == 3
    assert json.loads(capsys.readouterr().out)["strategy_id"] == strategy_id
    assert strategy_id not in kelly.read_text()
