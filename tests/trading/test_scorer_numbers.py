"""The scorer's prompt holds the strategy's named numbers, alike in backtest and replay."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from backtest.engine import BacktestConfig, run_backtest
from data.synthetic import synthetic_ohlcv
from journal import Journal
from signals.llm_prompt import render_prompt
from signals.scorer import FixedScorer, Score, ScoreRequest
from signals.strategy_loader import load_strategy
from trading.replay import replay
from trading.setup import StrategySettings


class Recorder:
    """A scorer that remembers every request and answers like the fixed scorer."""

    def __init__(self) -> None:
        self.requests: list[ScoreRequest] = []
        self._fixed = FixedScorer()

    def score(self, request: ScoreRequest) -> Score:
        self.requests.append(request)
        return self._fixed.score(request)


def test_donchians_numbers_reach_the_prompt_alike_in_backtest_and_replay(tmp_path: Path) -> None:
    bars = synthetic_ohlcv(900, timeframe="1h", seed=8, start_price=30_000.0, volatility=0.008)
    strategy = load_strategy("donchian")
    settings = StrategySettings(symbols=("BTC/USDT",), strategy=strategy,
                                kelly_min_trades=1_000_000)
    in_backtest, in_replay = Recorder(), Recorder()
    run_backtest(bars, BacktestConfig(symbol="BTC/USDT", strategy=strategy,
                                      kelly_min_trades=1_000_000), scorer=in_backtest)
    replay({"BTC/USDT": bars}, settings, journal_path=tmp_path / "j.sqlite3", scorer=in_replay)
    assert len(in_backtest.requests) > 5
    assert in_replay.requests == in_backtest.requests  # closes, volume trend and numbers alike
    prompt = render_prompt(in_backtest.requests[0]).splitlines()
    assert prompt[2].startswith("Close vs entry channel high: +")
    assert prompt[2].endswith("%")
    assert prompt[3].startswith("Close vs exit channel low: +")
    assert "RSI" not in "\n".join(prompt)
    with Journal(tmp_path / "j.sqlite3") as journal:
        entered = [d for d in journal.recent_decisions(10**6) if str(d.action) == "enter"]
    assert [label for label, _ in entered[0].numbers] == [
        "Close vs entry channel high", "Close vs exit channel low"]


def test_the_seeds_prompt_lines_are_unchanged(tmp_path: Path) -> None:
    bars = synthetic_ohlcv(900, timeframe="1h", seed=8, start_price=30_000.0, volatility=0.008)
    recorder = Recorder()
    run_backtest(bars, replace(BacktestConfig(), kelly_min_trades=1_000_000), scorer=recorder)
    lines = render_prompt(recorder.requests[0]).splitlines()
    assert lines[2].startswith("RSI: ")
    assert lines[3].startswith("EMA spread (fast vs slow): ")
    assert lines[3].endswith("%")
