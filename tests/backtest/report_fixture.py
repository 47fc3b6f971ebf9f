"""One backtest page with everything on it, for the report's content and browser tests.

Synthetic 1h bars (25,000: the candles are thinned), risk limits tight enough that both halts
fire, a scorer's conviction on each trade and a sizing-stop marker.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from backtest.engine import BacktestConfig, run_backtest
from backtest.figures import kernel_stats
from backtest.gates import GateSettings, evaluate_gates
from backtest.report_charts import Marker
from backtest.report_page import BacktestPage
from backtest.report_price import strategy_lines
from backtest.report_settings import settings_groups
from data import synthetic_ohlcv
from risk.config import RiskConfig

BARS = 25_000


def sample_page() -> BacktestPage:
    """A full-pipeline run on synthetic bars, laid out as the CLI lays out a real one."""
    bars = synthetic_ohlcv(BARS, timeframe="1h", start="2022-01-01", seed=11,
                           volatility=0.006)
    risk = RiskConfig(max_position_pct=0.9, daily_loss_limit_pct=0.02, max_drawdown_pct=0.25)
    config = BacktestConfig(risk=risk, default_position_pct=0.9, kelly_min_trades=10**6)
    result = run_backtest(bars, config)
    halts = result.halts()
    # The kernel's figures (vectorbt's definitions, tested equal): no 3 s vectorbt import.
    stats = kernel_stats(result, "1h", halt_kinds=list(halts["kind"]),
                         rejections=result.rejections())
    trades = result.trades()
    # A model's conviction would differ trade to trade: spread it so the chart has a shape.
    trades["conviction"] = 0.3 + 0.6 * ((np.arange(len(trades)) * 7) % 10) / 10.0
    index = pd.DatetimeIndex(result.bars.index)
    middle = trades["entry_time"].iloc[len(trades) // 2].to_pydatetime()
    return BacktestPage(
        title="Backtest SYNTH/USDT 1h (full pipeline)",
        subtitle=f"SYNTH/USDT 1h, {len(index):,} synthetic bars; strategy rsi_ema",
        bars=result.bars, equity=result.equity, trades=trades, halts=halts, stats=stats,
        gates=evaluate_gates(stats, GateSettings()),
        settings=settings_groups(config, data="synthetic bars", scorer={
            "provider": "anthropic", "model": "test-model", "answers": {"llm": 3}}),
        lines=strategy_lines(config.strategy, bars, index),
        conviction_source="anthropic test-model", min_conviction=risk.min_conviction,
        marker=Marker(time=middle, label="sizing stopped",
                      text="half-Kelly of the first 50 closed trades is -1.34: the risk layer "
                           f"refuses every entry after {middle:%Y-%m-%d %H:%M} UTC"),
    )

