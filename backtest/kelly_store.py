"""The backtest's side of the saved results: the strategy settings of a backtest configuration.

The results store itself (types, keys, the file) lives in ``risk/saved_backtest.py`` and
``risk/backtest_store.py``, below both the backtest, which writes it, and ``trading/``, which
reads it. Its names stay importable from here.
"""

from __future__ import annotations

from typing import Any

from backtest.engine import BacktestConfig
from risk.backtest_store import (
    FORMAT,
    RESULTS_FILE,
    VERSION,
    default_results_path,
    load_backtest_results,
    load_results,
    save_backtest_results,
)
from risk.saved_backtest import (
    DataRange,
    ResultKey,
    SavedBacktest,
    strategy_id,
    strategy_settings,
)


def config_strategy_settings(config: BacktestConfig) -> dict[str, Any]:
    """``strategy_settings`` of a backtest configuration (its symbol is the key's, not hashed)."""
    return strategy_settings(
        strategy=config.strategy.spec, risk=config.risk,
        default_position_pct=config.default_position_pct,
        kelly_min_trades=config.kelly_min_trades, flatten_on_halt=config.flatten_on_halt,
    )


__all__ = [
    "FORMAT",
    "RESULTS_FILE",
    "VERSION",
    "DataRange",
    "ResultKey",
    "SavedBacktest",
    "config_strategy_settings",
    "default_results_path",
    "load_backtest_results",
    "load_results",
    "save_backtest_results",
    "strategy_id",
    "strategy_settings",
]
