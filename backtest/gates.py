"""The seed's gates before going live: Sharpe > 1.0, Max Drawdown < 20%, trades > 50.

Each gate is strict, as the seed wrote them, and a figure that is not finite fails: an undefined
figure is no evidence of an edge. vectorbt reports the Sharpe ratio of a run without a single
trade as +inf (zero mean over zero deviation), which a bare ``> 1.0`` would pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from backtest.stats import BacktestStats
from core.cli_options import FRACTION_HINT
from core.errors import ConfigError
from risk.saved_backtest import GateResult as GateResult  # kept importable from here

EXIT_PASSED = 0
EXIT_GATES_FAILED = 3


@dataclass(frozen=True, slots=True)
class GateSettings:
    """Thresholds of the gates.

    Attributes:
        min_sharpe: the Sharpe ratio must be above this.
        max_drawdown_pct: Max Drawdown must be below this, a fraction like every ``*_pct``
            (0.2 = 20%); the gate compares it with the figure in percent.
        min_trades: Total Trades must be above this.
    """

    min_sharpe: float = 1.0
    max_drawdown_pct: float = 0.20
    min_trades: int = 50

    @property
    def max_drawdown_percent(self) -> float:
        """The drawdown limit in percent, the unit of the Max Drawdown [%] figure."""
        return round(self.max_drawdown_pct * 100.0, 9)  # 0.07 * 100 is 7.000000000000001

    def __post_init__(self) -> None:
        if not math.isfinite(self.min_sharpe):
            raise ConfigError(f"min_sharpe must be a finite number, got {self.min_sharpe!r}")
        if not (math.isfinite(self.max_drawdown_pct) and 0.0 < self.max_drawdown_pct <= 1.0):
            raise ConfigError(
                f"gate max_drawdown_pct must be in (0, 1], {FRACTION_HINT}; "
                f"got {self.max_drawdown_pct!r}"
            )
        if isinstance(self.min_trades, bool) or self.min_trades < 0:
            raise ConfigError(f"min_trades must be an integer >= 0, got {self.min_trades!r}")


def evaluate_gates(stats: BacktestStats, settings: GateSettings) -> tuple[GateResult, ...]:
    """Judge the figures; a NaN or infinite figure never passes."""
    sharpe, drawdown = stats.sharpe_ratio, stats.max_drawdown_pct  # the figure is in percent
    limit = settings.max_drawdown_percent
    trades = float(stats.total_trades)
    return (
        GateResult("sharpe", f"Sharpe Ratio > {settings.min_sharpe:g}", sharpe,
                   settings.min_sharpe, math.isfinite(sharpe) and sharpe > settings.min_sharpe),
        GateResult("max_drawdown", f"Max Drawdown [%] < {limit:g}", drawdown, limit,
                   math.isfinite(drawdown) and drawdown < limit),
        GateResult("trades", f"Total Trades > {settings.min_trades}", trades,
                   float(settings.min_trades), bool(trades > settings.min_trades)),
    )


def all_passed(results: tuple[GateResult, ...]) -> bool:
    """True when every gate passed."""
    return all(r.passed for r in results)


def exit_code(results: tuple[GateResult, ...]) -> int:
    """0 when every gate passed, 3 when any failed."""
    return EXIT_PASSED if all_passed(results) else EXIT_GATES_FAILED


def dsr_gate(dsr: float, min_dsr: float) -> GateResult:
    """The walk-forward's gate on the Deflated Sharpe Ratio: above ``min_dsr`` (NaN fails)."""
    return GateResult("dsr", f"Deflated Sharpe Ratio > {min_dsr:g}", dsr, min_dsr,
                      math.isfinite(dsr) and dsr > min_dsr)
