"""The backtest command's screen output: a rich table of figures, the gates, the files written.

rich prints plain text when stdout is not a terminal, so the output also reads well in a log.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from backtest.gates import GateResult, all_passed
from backtest.stats import stats_rows

if TYPE_CHECKING:
    from backtest.cli_run import Outcome

_FILE_LABELS = {"trades": "Trades CSV", "report": "HTML report", "kelly": "Kelly inputs"}


def print_summary(
    outcome: Outcome, gates: tuple[GateResult, ...], files: Mapping[str, str]
) -> None:
    """Print the run's heading, figures, gates, Kelly inputs and written files on stdout."""
    from rich.console import Console
    from rich.table import Table

    # soft_wrap: long lines (paths) stay whole when the output goes to a file or a log.
    console = Console(highlight=False, soft_wrap=True)
    data = outcome.data_range()
    engine = "full pipeline" if outcome.engine == "full" else "seed's from_signals (Step 5)"
    console.print(
        f"[bold]Backtest {data.symbol} {data.timeframe}[/bold], {engine}: "
        f"{data.first_bar:%Y-%m-%d %H:%M} .. {data.last_bar:%Y-%m-%d %H:%M} UTC, "
        f"{data.bars:,} bars from {data.source}"
    )
    figures = Table(title="Figures (vectorbt)", title_justify="left")
    figures.add_column("Figure")
    figures.add_column("Value", justify="right")
    for label, value in stats_rows(outcome.stats):
        figures.add_row(label, value)
    console.print(figures)
    console.print(gates_table(gates))
    verdict = "[green]all gates passed[/green]" if all_passed(gates) else (
        "[red]a gate failed[/red]: fix the signal, not the risk rules (the seed's advice)"
    )
    console.print(verdict)
    console.print(kelly_line(outcome))
    for key, path in files.items():
        console.print(f"{_FILE_LABELS.get(key, key)}: {path}")


def gates_table(gates: tuple[GateResult, ...]) -> Any:
    """A rich Table of the gates: rule, figure, pass/fail."""
    from rich.table import Table

    table = Table(title="Gates before going live", title_justify="left")
    table.add_column("Gate")
    table.add_column("Figure", justify="right")
    table.add_column("Result")
    for g in gates:
        figure = "n/a" if not math.isfinite(g.figure) else (
            f"{g.figure:,.0f}" if g.name == "trades" else f"{g.figure:.4f}"
        )
        table.add_row(g.rule, figure, "[green]PASS[/green]" if g.passed else "[red]FAIL[/red]")
    return table


def kelly_line(outcome: Outcome) -> str:
    """The Kelly inputs in one line, as the seed printed them."""
    k = outcome.kelly
    if k.trades == 0:
        return "Kelly inputs: no closed trades"
    return (
        f"Kelly inputs ({k.trades:,} closed trades) -> win_rate={_f(k.win_rate, '.4f')}, "
        f"avg_win={_f(k.avg_win_pct, '.4f')}, avg_loss={_f(k.avg_loss_pct, '.4f')}"
    )


def _f(value: float, spec: str) -> str:
    return "n/a" if not math.isfinite(value) else format(value, spec)
