"""The live view: a rich table on a terminal, one plain log line per step otherwise (journald)."""

from __future__ import annotations

from typing import Any

from trading.loop import TradingLoop
from trading.status import LoopStatus


def status_table(status: LoopStatus) -> Any:
    """A rich Table of the loop's state: per symbol, then the account's risk figures."""
    from rich.table import Table

    table = Table(title=_title(status), title_justify="left")
    for column in ("symbol", "last bar (UTC)", "close", "signal", "conviction", "action",
                   "position", "stop", "reason"):
        table.add_column(column)
    for s in status.symbols.values():
        table.add_row(
            s.symbol, "-" if s.bar_time is None else f"{s.bar_time:%Y-%m-%d %H:%M}",
            _num(s.close), "-" if s.signal is None else f"{s.signal:+d}",
            "-" if s.conviction is None else f"{s.conviction:.2f} ({s.score_source})",
            s.action or "-", f"{s.position:.8g}", _num(s.stop), s.reason,
        )
    return table


def plain_line(status: LoopStatus) -> str:
    """One line for a log (systemd/journald): account figures then each symbol's decision."""
    parts = [_title(status)]
    for s in status.symbols.values():
        conviction = "" if s.conviction is None else f" conv {s.conviction:.2f}/{s.score_source}"
        parts.append(f"{s.symbol} sig {s.signal if s.signal is not None else '-'}{conviction} "
                     f"{s.action or '-'} pos {s.position:.8g}"
                     f"{'' if s.stop is None else f' stop {s.stop:.8g}'}")
    return " | ".join(parts)


class View:
    """Shows the status after every step: rich Live on a terminal, log lines otherwise."""

    def __init__(self, *, terminal: bool) -> None:
        self._live: Any = None
        if terminal:
            from rich.live import Live

            self._live = Live(auto_refresh=False)
            self._live.start()

    def update(self, loop: TradingLoop) -> None:
        """Redraw (or log) the loop's status."""
        if self._live is not None:
            self._live.update(status_table(loop.status), refresh=True)
        else:
            # stdout, one line per step: journald keeps it with the unit's other output.
            print(plain_line(loop.status), flush=True)

    def close(self) -> None:
        """Stop the live display."""
        if self._live is not None:
            self._live.stop()


def _title(status: LoopStatus) -> str:
    dd = "-" if status.drawdown is None else f"{status.drawdown:.2%}"
    halt = "kill switch " + (status.halt if status.halt == "none" else
                             f"{status.halt}: {status.halt_reason}")
    if status.manual_halt:  # the operator's halt is no kill switch, but it halts all the same
        manual = f"halted by the operator: {status.manual_halt}"
        halt = manual if status.halt == "none" else f"{halt}; {manual}"
    breakers = ", ".join(f"{k} {v}" for k, v in status.breakers.items()) or "-"
    wake = "-" if status.next_wake is None else f"{status.next_wake:%H:%M:%S} UTC"
    return (f"equity {_num(status.equity)} peak {_num(status.peak)} drawdown {dd} "
            f"day P&L {_num(status.daily_pnl)} | {halt} | breakers {breakers} | "
            f"errors {status.errors} | next wake {wake}")


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:,.2f}"
