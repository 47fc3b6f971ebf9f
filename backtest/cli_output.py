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
    engine = "seed's from_signals (Step 5)" if outcome.engine != "full" else (
        "full pipeline" if outcome.saves_kelly else
        f"signal at a fixed size (every entry {outcome.config.default_position_pct:.2%} x "
        "conviction, never half-Kelly)"
    )
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
    informative = outcome.engine == "full" and not outcome.saves_kelly
    console.print(gates_table(gates, title="Gates, for information (a fixed-size run does not "
                              "go live)" if informative else "Gates before going live"))
    for line in verdict_lines(outcome, gates):
        console.print(line)
    console.print(kelly_line(outcome))
    if outcome.fixed_size is not None:
        for line in outcome.fixed_size.lines():
            console.print(line, markup=False)
    for key, path in files.items():
        console.print(f"{_FILE_LABELS.get(key, key)}: {path}")


def verdict_lines(outcome: Outcome, gates: tuple[GateResult, ...]) -> list[str]:
    """The gates' verdict, then when and why sizing stopped the strategy (rich markup)."""
    from rich.markup import escape

    passed = all_passed(gates)
    if outcome.engine == "full" and not outcome.saves_kelly:
        head = ("[green]all gates passed[/green]" if passed else "[red]a gate failed[/red]") + (
            " at a fixed size, for information only: no Kelly inputs saved (--sizing fixed); "
            "going live needs a full-pipeline backtest that passes"
        )
    else:
        head = "[green]all gates passed[/green]" if passed else (
            "[red]a gate failed[/red]: fix the signal, not the risk rules"
        )
    stop = outcome.sizing_stop
    if stop is None:
        return [head]
    return [head, "[bold]Sizing stopped the strategy[/bold]: " + escape(stop.sentence())]


def gates_table(gates: tuple[GateResult, ...], *, title: str = "Gates before going live") -> Any:
    """A rich Table of the gates: rule, figure, pass/fail."""
    from rich.table import Table

    table = Table(title=title, title_justify="left")
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
    unsaved = "" if outcome.saves_kelly or outcome.engine != "full" else (
        " (not saved: --sizing fixed)")
    if k.trades == 0:
        return f"Kelly inputs: no closed trades{unsaved}"
    return (
        f"Kelly inputs ({k.trades:,} closed trades) -> win_rate={_f(k.win_rate, '.4f')}, "
        f"avg_win={_f(k.avg_win_pct, '.4f')}, avg_loss={_f(k.avg_loss_pct, '.4f')}{unsaved}"
    )


def _f(value: float, spec: str) -> str:
    return "n/a" if not math.isfinite(value) else format(value, spec)
