"""The figures of a backtest, read from a vectorbt Portfolio: vectorbt keeps the accounts.

Sharpe is annualised for markets that trade around the clock: vectorbt's ``year_freq`` is
365 days and the Portfolio's ``freq`` is the bar's timeframe. The seed printed the same
``pf.stats()`` figures; the labels below are vectorbt's, so the two outputs read alike.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

# 24/7 markets: a year is 365 days of bars, not 252 trading days.
YEAR_FREQ = "365 days"
# Only the metrics shown: the full pf.stats() also computes Sortino, Omega, Calmar and trade
# durations, whose numba functions cost ~2.2 s more to load in each new process (measured on
# the 2022-2025 BTC 1h file: 3.2 s -> 1.0 s for the first call).
_METRICS = (
    "start_value", "end_value", "total_return", "benchmark_return", "max_gross_exposure",
    "total_fees_paid", "max_dd", "total_trades", "total_closed_trades", "win_rate",
    "avg_winning_trade", "avg_losing_trade", "sharpe_ratio",
)
HALT_KINDS = ("daily_pause", "drawdown_latch")


@dataclass(frozen=True, slots=True)
class BacktestStats:
    """The figures shown for a run; percentages are in percent (12.4 = 12.4%), NaN when undefined.

    Attributes:
        start_value / end_value: equity at the first and last close.
        total_return_pct: end over start, minus one.
        sharpe_ratio: annualised (365-day year at the bar's timeframe), NaN without variance.
        max_drawdown_pct: deepest fall of equity from its running peak.
        total_trades: trades opened (the last may still be open, as vectorbt counts them).
        closed_trades: trades closed by a signal, a stop or a halt.
        win_rate_pct: closed trades with pnl > 0 over closed trades.
        avg_winning_trade_pct / avg_losing_trade_pct: mean return of winners / losers (< 0).
        fees_paid: fees of every order, in quote currency.
        exposure_pct: share of bars that closed with a position open.
        max_gross_exposure_pct: largest position value as a share of equity.
        buy_and_hold_return_pct: the close's change over the same bars.
        halts: kill-switch trips by kind (empty for the seed engine, which has none).
        rejections: refused entry decisions by reason, counted per bar (empty for the seed).
    """

    start_value: float
    end_value: float
    total_return_pct: float
    sharpe_ratio: float
    max_drawdown_pct: float
    total_trades: int
    closed_trades: int
    win_rate_pct: float
    avg_winning_trade_pct: float
    avg_losing_trade_pct: float
    fees_paid: float
    exposure_pct: float
    max_gross_exposure_pct: float
    buy_and_hold_return_pct: float
    halts: Mapping[str, int] = field(default_factory=dict)
    rejections: Mapping[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """JSON-safe dict: NaN becomes null."""
        out = asdict(self)
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in out.items()}


def portfolio_stats(
    portfolio: Any,
    *,
    halt_kinds: list[str] | None = None,
    rejections: Mapping[str, int] | None = None,
) -> BacktestStats:
    """The figures of a single-column vectorbt Portfolio (built with freq = the timeframe)."""
    s = portfolio.stats(metrics=list(_METRICS), settings={"year_freq": YEAR_FREQ})
    halts = {kind: 0 for kind in HALT_KINDS} if halt_kinds is not None else {}
    for kind in halt_kinds or []:
        if kind in halts:
            halts[kind] += 1
    return BacktestStats(
        start_value=_num(s["Start Value"]),
        end_value=_num(s["End Value"]),
        total_return_pct=_num(s["Total Return [%]"]),
        sharpe_ratio=_num(s["Sharpe Ratio"]),
        max_drawdown_pct=_num(s["Max Drawdown [%]"]),
        total_trades=int(s["Total Trades"]),
        closed_trades=int(s["Total Closed Trades"]),
        win_rate_pct=_num(s["Win Rate [%]"]),
        avg_winning_trade_pct=_num(s["Avg Winning Trade [%]"]),
        avg_losing_trade_pct=_num(s["Avg Losing Trade [%]"]),
        fees_paid=_num(s["Total Fees Paid"]),
        exposure_pct=float(portfolio.position_mask().mean()) * 100.0,
        max_gross_exposure_pct=_num(s["Max Gross Exposure [%]"]),
        buy_and_hold_return_pct=_num(s["Benchmark Return [%]"]),
        halts=halts,
        rejections=dict(rejections or {}),
    )


def stats_rows(stats: BacktestStats) -> list[tuple[str, str]]:
    """(label, formatted value) rows in the order the table shows them."""
    rows = [
        ("Start Value", f"{stats.start_value:,.2f}"),
        ("End Value", f"{stats.end_value:,.2f}"),
        ("Total Return [%]", _pct(stats.total_return_pct)),
        ("Sharpe Ratio", _fmt(stats.sharpe_ratio, ".4f")),
        ("Max Drawdown [%]", _pct(stats.max_drawdown_pct)),
        ("Total Trades", f"{stats.total_trades:,}"),
        ("Closed Trades", f"{stats.closed_trades:,}"),
        ("Win Rate [%]", _pct(stats.win_rate_pct)),
        ("Avg Winning Trade [%]", _pct(stats.avg_winning_trade_pct)),
        ("Avg Losing Trade [%]", _pct(stats.avg_losing_trade_pct)),
        ("Fees Paid", f"{stats.fees_paid:,.2f}"),
        ("Exposure [% of bars]", _pct(stats.exposure_pct)),
        ("Max Gross Exposure [%]", _pct(stats.max_gross_exposure_pct)),
        ("Buy & Hold Return [%]", _pct(stats.buy_and_hold_return_pct)),
    ]
    rows += [(f"Halts: {kind}", f"{n:,}") for kind, n in stats.halts.items()]
    rows += [(f"Refused entry bars: {why}", f"{n:,}") for why, n in stats.rejections.items() if n]
    return rows


def _num(value: object) -> float:
    # vectorbt returns NaN (not None) for undefined figures; keep NaN, never raise here.
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


def _pct(value: float) -> str:
    return _fmt(value, ".2f")


def _fmt(value: float, spec: str) -> str:
    return "n/a" if not math.isfinite(value) else format(value, spec)
