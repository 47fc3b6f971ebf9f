"""The backtest command's HTML report: one run's outcome laid out as the page's inputs.

Composition only: backtest/report_page.py draws the page from plain values and knows nothing of
the command; this module picks those values out of the command's Outcome.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from backtest.gates import GateResult
from backtest.report_charts import Marker
from backtest.report_page import BacktestPage, Step, write_backtest_report
from backtest.report_settings import settings_groups
from backtest.report_status import COMPILE_HINT, ReportStatus
from backtest.report_tables import SettingsGroup

if TYPE_CHECKING:
    from backtest.cli_run import Outcome


def write_report_file(path: str | Path, outcome: Outcome, gates: Sequence[GateResult], *,
                      title: str) -> Path:
    """Build and write the report, with a status line on stderr when it is a terminal."""
    with ReportStatus() as step:
        return write_backtest_report(path, report_page(outcome, gates, title=title, say=step),
                                     on_step=step)


def report_page(outcome: Outcome, gates: Sequence[GateResult], *, title: str,
                say: Step) -> BacktestPage:
    """The page's inputs from the run: traded bars, equity, trades, indicators, settings."""
    from backtest.report_price import strategy_lines

    data = outcome.data_range()
    index = outcome.traded_index
    say("the strategy's indicators")
    lines = strategy_lines(outcome.config.strategy, outcome.bars.frame, index)
    provider = str(outcome.scorer.get("provider", "none"))
    model = str(outcome.scorer.get("model", ""))
    return BacktestPage(
        title=title,
        subtitle=(f"{data.symbol} {data.timeframe}, {data.first_bar:%Y-%m-%d %H:%M} .. "
                  f"{data.last_bar:%Y-%m-%d %H:%M} UTC, {data.bars:,} bars from "
                  f"{Path(data.source).name}; strategy {outcome.config.strategy.name}"),
        bars=outcome.bars.frame.reindex(index), equity=_equity(outcome, say),
        trades=outcome.trades, halts=outcome.halts, stats=outcome.stats, gates=gates,
        settings=settings(outcome), lines=lines,
        conviction_source=None if provider in ("fixed", "none") else f"{provider} {model}",
        min_conviction=float(outcome.config.risk.min_conviction),
        marker=sizing_marker(outcome),
    )


def settings(outcome: Outcome) -> list[SettingsGroup]:
    """The run's settings in words (no Python reprs): data, strategy, risk, sizing, costs."""
    data = outcome.data_range()
    bars = (f"{data.source}: {data.first_bar:%Y-%m-%d %H:%M} .. {data.last_bar:%Y-%m-%d %H:%M}"
            f" UTC, {data.bars:,} bars of {data.timeframe}")
    return settings_groups(outcome.config, data=bars, scorer=outcome.scorer,
                           engine=outcome.engine)


def sizing_marker(outcome: Outcome) -> Marker | None:
    """Where half-Kelly stopped the strategy: the first entry it refused, marked on the charts."""
    stop = outcome.sizing_stop
    if stop is None:
        return None
    return Marker(time=stop.first_refused_time or stop.time, label="sizing stopped",
                  text=stop.sentence())


def _equity(outcome: Outcome, say: Step) -> pd.Series:
    # The full engine's marked equity at each close; the seed engine's vectorbt Portfolio.
    if outcome.equity is not None:
        return pd.Series(outcome.equity.to_numpy(), index=outcome.traded_index, name="equity")
    if "vectorbt" not in sys.modules:
        say(f"importing vectorbt ({COMPILE_HINT})")
    value = outcome.portfolio.value()
    return pd.Series(value.to_numpy(), index=outcome.traded_index, name="equity")
