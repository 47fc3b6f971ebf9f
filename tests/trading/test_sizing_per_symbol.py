"""Issue 11: a multi-symbol paper bot sizes each symbol with that symbol's own saved backtest."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.clock import SimulatedClock
from data.synthetic import synthetic_ohlcv
from journal import Journal
from risk import rules
from risk.backtest_store import save_backtest_results
from risk.config import RiskConfig
from risk.saved_backtest import DataRange, GateResult, KellyInputs, SavedBacktest
from signals.scorer import FixedScorer
from signals.strategy import LoadedStrategy
from trading.alerts import LogAlerter
from trading.loop import LoopSettings, TradingLoop
from trading.market import ReplayMarket
from trading.setup import StrategySettings, build_paper_parts
from trading.sizing import SavedKelly, SizingSource

NOW = datetime(2025, 6, 1, tzinfo=UTC)
BTC, ETH, SOL = "BTC/USDT", "ETH/USDT", "SOL/USDT"
# Different edges, so that one symbol sized with the other's inputs shows.
INPUTS = {BTC: KellyInputs(80, 0.50, 0.0210, 0.020), ETH: KellyInputs(90, 0.50, 0.0205, 0.020)}


class AlwaysLong:
    """Asks for a long position on every bar: every symbol decides an entry."""

    @property
    def warmup_bars(self) -> int:
        return 2

    def signals(self, bars: pd.DataFrame) -> np.ndarray:
        return np.ones(len(bars), dtype=np.int8)


def settings(*symbols: str) -> StrategySettings:
    strategy = LoadedStrategy(AlwaysLong, origin=__file__)
    return StrategySettings(symbols=symbols, strategy=strategy,
                            risk=RiskConfig(max_position_pct=0.5))


def saved(strategy: StrategySettings, symbol: str) -> SavedBacktest:
    gate = GateResult("trades", "Total Trades > 50", 80.0, 50.0, True)
    return SavedBacktest(
        strategy_id=strategy.strategy_id(), created_at=NOW - timedelta(days=1), engine="full",
        data=DataRange(symbol, "1h", NOW - timedelta(days=400), NOW - timedelta(days=2), 9000,
                       f"{symbol}.csv"),
        strategy=strategy.hashed_settings(),
        costs={"init_cash": 10_000.0, "fee": 0.001, "slippage": 0.0005},
        kelly=INPUTS[symbol], total_trades=INPUTS[symbol].trades, gates=(gate,),
    )


def half_kelly(symbol: str, conviction: float = 0.5) -> float:
    k = INPUTS[symbol]
    return rules.position_fraction(k.win_rate, k.avg_win_pct, k.avg_loss_pct, conviction, 0.5)


def entry_sizes(strategy: StrategySettings, results: Path, journal_file: Path
                ) -> tuple[dict[str, float | None], SizingSource]:
    """One paper step of the loop over every symbol: the size each entry was given."""
    start = NOW - timedelta(hours=10)
    frames = {s: synthetic_ohlcv(10, timeframe="1h", start=start, seed=i)
              for i, s in enumerate(strategy.symbols)}
    clock = SimulatedClock(NOW)
    with Journal(journal_file, clock=clock) as journal:
        parts = build_paper_parts(strategy, journal=journal, clock=clock, rolling=False,
                                  results_path=results)
        loop = TradingLoop(
            LoopSettings(symbols=strategy.symbols, timeframe="1h", strategy=strategy.strategy),
            market=ReplayMarket(frames, timeframe="1h", clock=clock), scorer=FixedScorer(),
            broker=parts.broker, journal=journal, risk=parts.risk, sizing=parts.sizing,
            clock=clock, alerter=LogAlerter(),
        )
        journal.record_run(mode="paper", strategy_id=strategy.strategy_id(), config={})
        assert loop.step() > 0
        sizes = {d.symbol: d.size_fraction for d in journal.recent_decisions(10)}
        return sizes, parts.sizing


def test_each_symbol_is_sized_with_its_own_saved_backtest(tmp_path: Path) -> None:
    strategy = settings(BTC, ETH, SOL)
    results = tmp_path / "backtest_results.json"
    # ETH's backtest, then BTC's, into the one results store.
    save_backtest_results(results, saved(strategy, ETH))
    save_backtest_results(results, saved(strategy, BTC))
    sizes, sizing = entry_sizes(strategy, results, tmp_path / "journal.sqlite3")
    assert half_kelly(BTC) != pytest.approx(half_kelly(ETH))
    assert sizes[BTC] == pytest.approx(half_kelly(BTC))
    assert sizes[ETH] == pytest.approx(half_kelly(ETH))  # not BTC's inputs
    # No saved backtest of SOL: the stated default size x conviction, and the reason says so.
    assert sizes[SOL] == pytest.approx(strategy.default_position_pct * 0.5)
    assert "no saved backtest of strategy" in sizing.describe(SOL)
    assert "for SOL/USDT 1h" in sizing.describe(SOL)
    assert "backtest --symbol SOL/USDT --timeframe 1h" in sizing.describe(SOL)
    assert sizing.describe(ETH).startswith("half-Kelly from the ETH/USDT 1h backtest")
    # The startup line names every symbol's source.
    whole = sizing.describe()
    assert whole.index("BTC/USDT: half-Kelly") < whole.index("ETH/USDT: half-Kelly") < whole.index(
        "SOL/USDT: default size")


def test_a_backtest_of_another_timeframe_or_settings_is_not_used(tmp_path: Path) -> None:
    strategy = settings(BTC)
    results = tmp_path / "backtest_results.json"
    save_backtest_results(results, saved(strategy, BTC))
    for other in (replace(strategy, timeframe="4h"), replace(strategy, default_position_pct=0.02)):
        clock = SimulatedClock(NOW)
        with Journal(tmp_path / "j.sqlite3", clock=clock) as journal:
            sizing = build_paper_parts(other, journal=journal, clock=clock, rolling=False,
                                       results_path=results).sizing
        assert isinstance(sizing, SavedKelly)
        assert sizing.fraction(0.5, BTC) == pytest.approx(other.default_position_pct * 0.5)
        assert len(sizing.problems) == 1
        assert sizing.problems[0].startswith("BTC/USDT: no usable backtest results (no saved")


def test_stale_or_thin_results_name_their_symbol(tmp_path: Path) -> None:
    strategy = settings(BTC, ETH)
    results = tmp_path / "backtest_results.json"
    stale = replace(saved(strategy, BTC), created_at=NOW - timedelta(days=40))
    save_backtest_results(results, stale)
    thin = replace(saved(strategy, ETH), kelly=KellyInputs(10, 0.5, 0.02, 0.02))
    save_backtest_results(results, replace(thin, created_at=NOW))
    clock = SimulatedClock(NOW)
    with Journal(tmp_path / "j.sqlite3", clock=clock) as journal:
        sizing = build_paper_parts(strategy, journal=journal, clock=clock, rolling=False,
                                   results_path=results).sizing
    assert isinstance(sizing, SavedKelly)
    assert sizing.problems == [
        "BTC/USDT: the saved backtest is 40 days old (more than 30)",
        "ETH/USDT: the saved backtest closed 10 trades (fewer than 50)",
    ]
