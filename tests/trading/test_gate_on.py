"""`run --gate-on walkforward`: live needs a passing walk-forward of these settings, paper sizes
on it when there is one, and the start line and `status` say which evidence the gate is on."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from core.clock import SimulatedClock, SystemClock
from core.paths import journal_path
from journal import Journal
from journal.records import Action, DecisionRecord, RunMode
from main import build_parser, main
from risk import rules
from risk.backtest_store import default_results_path, save_backtest_results
from risk.saved_backtest import EVIDENCE_KINDS, DataRange, GateResult, KellyInputs, SavedBacktest
from tests.execution.ccxt_fixtures import API_KEY, API_SECRET
from tests.fake_binance import FakeBinance
from tests.fake_binance_trading import FakeSpotTrading
from trading import run_command
from trading.setup import StrategySettings, build_paper_parts
from trading.sizing import SavedKelly

BACKTEST_KELLY = KellyInputs(87, 0.54, 0.022, 0.014)
WALKFORWARD_KELLY = KellyInputs(64, 0.51, 0.019, 0.016)
PASSED = (GateResult("sharpe", "Sharpe Ratio > 1", 1.3, 1.0, True),
          GateResult("max_drawdown", "Max Drawdown [%] < 20", 9.0, 20.0, True),
          GateResult("trades", "Total Trades > 50", 64.0, 50.0, True))
WALKFORWARD = {"kind": "walkforward", "mode": "rolling", "train": "3M", "test": "3W",
               "windows": 12, "first_bar": "2024-08-01T00:00:00+00:00",
               "last_bar": "2025-05-05T23:00:00+00:00", "n_trials": 3146, "pbo": 0.21}
PASSING_LINE = ("gate on walk-forward: 12 windows (3M train / 3W test, rolling), OOS "
                "2024-08-01..2025-05-05, DSR 0.97, PBO 0.21: passed")


def run_settings(*argv: str) -> StrategySettings:
    """What `run` builds from its options (the same strategy id a live start looks up)."""
    settings: StrategySettings = run_command.strategy_from_args(
        build_parser().parse_args(["run", *argv]))
    return settings


def saved(strategy: StrategySettings, now: datetime, *, dsr: float | None = None
          ) -> SavedBacktest:
    """A passing backtest of ``strategy``; with ``dsr`` a walk-forward judged on it."""
    result = SavedBacktest(
        strategy_id=strategy.strategy_id(), created_at=now - timedelta(days=1), engine="full",
        data=DataRange("BTC/USDT", "1h", datetime.fromisoformat("2022-01-01T00:00:00+00:00"),
                       datetime.fromisoformat("2025-05-05T23:00:00+00:00"), 29_000, "b.csv"),
        strategy=strategy.hashed_settings(),
        costs={"init_cash": 10_000.0, "fee": 0.001, "slippage": 0.0005},
        kelly=BACKTEST_KELLY, total_trades=87, gates=PASSED,
    )
    if dsr is None:
        return result
    dsr_gate = GateResult("dsr", "Deflated Sharpe Ratio > 0.95", dsr, 0.95, dsr > 0.95)
    return replace(result, kelly=WALKFORWARD_KELLY, gates=(*PASSED, dsr_gate),
                   evidence={**WALKFORWARD, "dsr": dsr})


def paper_days(env: dict[str, str], strategy: StrategySettings, days: int = 14) -> None:
    """A paper journal with ``days`` of decisions of these settings: the promotion's half."""
    now = SystemClock().now()
    with Journal(journal_path(env, "paper")) as journal:
        journal.record_run(mode=RunMode.PAPER, strategy_id=strategy.strategy_id(),
                           config=strategy.snapshot())
        for day in (days + 1, 1):
            journal.record_decision(DecisionRecord(
                symbol="BTC/USDT", bar_time=now - timedelta(days=day), signal=0,
                action=Action.NONE, reason="flat; no entry signal"))


@pytest.fixture
def live_env(live_fake: FakeBinance, tmp_path: Path) -> dict[str, str]:
    """A live opt-in against the fake exchange, with 14 days of paper trading of `run`'s
    default settings; no saved result yet."""
    FakeSpotTrading(live_fake, balances={"USDT": "10000"}, prices={"BTCUSDT": "40000"})
    env = {"TRADINGBOT_STATE_DIR": str(tmp_path / "state"),
           "TRADINGBOT_CACHE_DIR": str(tmp_path / "cache"),
           "TRADINGBOT_EXCHANGE_URL": live_fake.url, "BINANCE_API_KEY": API_KEY,
           "BINANCE_API_SECRET": API_SECRET, "LIVE_TRADING": "yes"}
    paper_days(env, run_settings())
    return env


def start(env: dict[str, str], capsys: pytest.CaptureFixture[str], *argv: str,
          config: Path | None = None) -> tuple[int, str, str]:
    """`run --live --once` (after `--config FILE` when given): exit code, stdout, stderr."""
    before = [] if config is None else ["--config", str(config)]
    code = main([*before, "run", "--live", "--once", *argv], environ=env)
    out, err = capsys.readouterr()
    return code, out, err


def test_walkforward_without_one_refuses_the_live_start_naming_the_symbol(
    live_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    now = SystemClock().now()
    save_backtest_results(default_results_path(live_env), saved(run_settings(), now))
    code, _, err = start(live_env, capsys, "--gate-on", "walkforward")
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert "live trading refused by the promotion gate: BTC/USDT: no usable walk-forward " \
           "results" in err
    assert "run `python main.py walkforward --strategy ... --data ...`" in err
    assert "(it holds a backtest of these settings)" in err
    assert not journal_path(live_env, "live").exists()  # refused before anything was opened
    # The passing backtest still starts live on the default gate, and says it rests on it.
    code, out, _ = start(live_env, capsys)
    assert code == 0
    assert "live trading BTC/USDT 1h" in out
    assert "BTC/USDT: gate on backtest: 2022-01-01..2025-05-05: passed" in out
    status = json.loads(_cli(live_env, capsys, "status", "--mode", "live", "--json"))
    assert status["evidence"] == {"BTC/USDT": "gate on backtest: 2022-01-01..2025-05-05: passed"}


def test_a_passing_walkforward_starts_live_and_status_shows_it(
    live_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    now = SystemClock().now()
    save_backtest_results(default_results_path(live_env), saved(run_settings(), now, dsr=0.97))
    code, out, err = start(live_env, capsys, "--gate-on", "walkforward")
    assert code == 0, err
    assert f"BTC/USDT: {PASSING_LINE}" in out
    assert "half-Kelly from the BTC/USDT 1h walk-forward of" in out
    text = _cli(live_env, capsys, "status", "--mode", "live")
    assert f"BTC/USDT: {PASSING_LINE}" in text
    status = json.loads(_cli(live_env, capsys, "status", "--mode", "live", "--json"))
    assert status["evidence"] == {"BTC/USDT": PASSING_LINE}


def test_a_failing_walkforward_refuses_naming_the_dsr_gate(
    live_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    now = SystemClock().now()
    results = default_results_path(live_env)
    save_backtest_results(results, saved(run_settings(), now))  # passing, but not the gate's
    save_backtest_results(results, saved(run_settings(), now, dsr=0.12))
    code, _, err = start(live_env, capsys, "--gate-on", "walkforward")
    assert code == 2
    assert "BTC/USDT: the saved walk-forward failed its gates (dsr)" in err
    assert len(err.strip().splitlines()) == 1


def test_gates_on_in_bot_toml_has_the_flags_effect(
    live_env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "bot.toml"
    config.write_text('[gates]\non = "walkforward"\n', encoding="utf-8")
    now = SystemClock().now()
    save_backtest_results(default_results_path(live_env), saved(run_settings(), now))
    code, _, err = start(live_env, capsys, config=config)
    assert code == 2
    assert "BTC/USDT: no usable walk-forward results" in err
    # The flag wins over the file: the passing backtest starts it.
    code, out, err = start(live_env, capsys, "--gate-on", "backtest", config=config)
    assert code == 0, err
    assert "gate on backtest" in out


def test_paper_sizes_on_the_chosen_evidence(tmp_path: Path) -> None:
    clock = SimulatedClock(datetime.fromisoformat("2025-06-01T00:00:00+00:00"))
    results = tmp_path / "results.json"
    base = run_settings()
    save_backtest_results(results, saved(base, clock.now()))

    def sizing(strategy: StrategySettings) -> SavedKelly:
        with Journal(tmp_path / f"{strategy.gate_on}.sqlite3", clock=clock) as journal:
            found = build_paper_parts(strategy, journal=journal, clock=clock, rolling=False,
                                      results_path=results).sizing
        assert isinstance(found, SavedKelly)
        return found

    def half_kelly(k: KellyInputs) -> float:
        return rules.position_fraction(k.win_rate, k.avg_win_pct, k.avg_loss_pct, 0.5,
                                       base.risk.max_position_pct)

    walkforward = replace(base, gate_on="walkforward")
    # No walk-forward yet: the default size, and why; the backtest's inputs are not borrowed.
    missing = sizing(walkforward)
    assert missing.fraction(0.5, "BTC/USDT") == pytest.approx(base.default_position_pct * 0.5)
    assert missing.problems[0].startswith("BTC/USDT: no usable walk-forward results (no saved "
                                          "walk-forward of strategy")
    assert missing.evidence() == {"BTC/USDT": "gate on walk-forward: none saved for these "
                                              "settings"}
    save_backtest_results(results, saved(base, clock.now(), dsr=0.97))
    assert sizing(walkforward).fraction(0.5, "BTC/USDT") == pytest.approx(
        half_kelly(WALKFORWARD_KELLY))
    assert sizing(walkforward).evidence() == {"BTC/USDT": PASSING_LINE}
    assert sizing(base).fraction(0.5, "BTC/USDT") == pytest.approx(half_kelly(BACKTEST_KELLY))


def test_the_gate_on_choices_are_the_evidence_kinds() -> None:
    args: Any = build_parser().parse_args(["run"])
    assert args.gate_on == "backtest"
    assert run_command.GATE_ON == EVIDENCE_KINDS
    assert run_settings("--gate-on", "walkforward").result_key("BTC/USDT").evidence == (
        "walkforward")


def _cli(env: dict[str, str], capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(list(argv), environ=env) == 0
    return capsys.readouterr().out
