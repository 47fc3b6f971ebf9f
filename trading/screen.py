"""The live screen's drawing: header, one row per symbol, replay progress, alerts and warnings.

Pure: a frozen snapshot in, rich renderables out, laid out for the width it is drawn at (the
terminal's, at every refresh), so a resized terminal gets the layout of its new width. Numbers
are never cut: below the width the full table needs, columns leave the table for a folded line
under it (the reason first, then the less important figures), and text wraps instead.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Final

from rich import box
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.padding import Padding
from rich.panel import Panel
from rich.text import Text

from trading.status import Halt, SymbolStatus

if TYPE_CHECKING:
    from trading.status import LoopStatus

MODE_STYLE: Final = {"paper": "bold cyan", "replay": "bold magenta", "testnet": "bold yellow",
                     "live": "bold white on red"}
HALT_NAMES: Final = {"drawdown": "drawdown latch", "daily": "daily loss pause",
                     "cooldown": "loss cooldown", "entry cap": "entry cap",
                     "manual": "operator halt", "pause": "operator pause"}
NOTICE_STYLE: Final = {"ALERT": "bold red", "ERROR": "red", "CRITICAL": "bold red",
                       "WARNING": "yellow"}
PRICE_DIGITS: Final = 6  # significant digits of a price: 104,712 / 3,012.50 / 0.123456


@dataclass(frozen=True, slots=True)
class Notice:
    """A warning, an error or an operator alert kept on screen."""

    at: datetime
    level: str  # ALERT, WARNING, ERROR or CRITICAL
    text: str


@dataclass(frozen=True, slots=True)
class Progress:
    """How far a replay is: bars done of this run's total, and how fast it goes."""

    done: int
    total: int
    sim_time: datetime | None
    bars_per_s: float | None  # None until there is something to measure

    @property
    def left_s(self) -> float | None:
        """Seconds of real time still to go at the current pace."""
        if self.done >= self.total:
            return 0.0
        return None if not self.bars_per_s else (self.total - self.done) / self.bars_per_s


@dataclass(frozen=True, slots=True)
class ScreenState:
    """Everything one drawing shows; frozen, so the refresh thread may draw it at any time."""

    mode: str
    strategy: str
    symbols: tuple[SymbolStatus, ...]
    equity: float | None = None
    peak: float | None = None
    drawdown: float | None = None
    daily_pnl: float | None = None
    halts: tuple[Halt, ...] = ()
    breakers: tuple[tuple[str, str], ...] = ()
    next_wake: datetime | None = None
    errors: int = 0
    notices: tuple[Notice, ...] = ()
    progress: Progress | None = None

    @classmethod
    def of(cls, status: LoopStatus, *, mode: str, strategy: str,
           progress: Progress | None = None) -> ScreenState:
        """A snapshot of the loop's status (refreshed by the caller)."""
        return cls(
            mode=mode, strategy=strategy, symbols=tuple(status.symbols.values()),
            equity=status.equity, peak=status.peak, drawdown=status.drawdown,
            daily_pnl=status.daily_pnl, halts=status.halts,
            breakers=tuple(status.breakers.items()), next_wake=status.next_wake,
            errors=status.errors, progress=progress,
        )


class Screen:
    """The whole screen of one ScreenState, laid out for the width it is drawn at."""

    def __init__(self, state: ScreenState) -> None:
        self.state = state

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        """Header, progress (replay), the symbols' table and its folded lines, the notices."""
        s, width = self.state, options.max_width
        yield from header(s, width)
        if s.progress is not None:
            yield progress_lines(s.progress, width)
        yield symbols_table(s.symbols, width)
        yield notices_panel(s.notices, width)


# -- header -----------------------------------------------------------------------------------
def header(s: ScreenState, width: int) -> list[Text]:
    """Mode and strategy; account figures; every kill switch in force; breakers."""
    first = Text.assemble((f" {s.mode.upper()} ", MODE_STYLE.get(s.mode, "bold")), " ",
                          (s.strategy, "bold"))
    dd = "-" if s.drawdown is None else f"{s.drawdown:.2%}"
    items: list[str | Text] = [f"equity {money(s.equity)}", f"peak {money(s.peak)}",
                               f"drawdown {dd}", Text.assemble("day P&L ", pnl_text(s.daily_pnl))]
    breakers = ", ".join(f"{name} {state}" for name, state in s.breakers) or "none"
    tail: list[str | Text] = [f"breakers: {breakers}", f"step errors {s.errors}"]
    if s.next_wake is not None:
        tail.append(f"next step {s.next_wake:%H:%M:%S} UTC")
    return [first, *pack(items, width), *halt_lines(s.halts), *pack(tail, width)]


def halt_lines(halts: Iterable[Halt]) -> list[Text]:
    """One line per kill switch in force; one green line when none is. The operator's pause
    stops entries only: it says so in yellow, not as a halt."""
    lines = [Text.assemble(("PAUSED ", "bold yellow"), ("by the operator", "yellow"),
                           f": {why or '(no reason given)'} (no new entries; exits and stops "
                           "go on)") if kind == "pause" else
             Text.assemble(("HALTED ", "bold red"), (HALT_NAMES.get(kind, kind), "red"),
                           f": {why or '(no reason given)'}") for kind, why in halts]
    return lines or [Text("kill switches: none in force", style="green")]


def pack(items: Iterable[str | Text], width: int, gap: str = "   ") -> list[Text]:
    """Items on as few lines as fit ``width``; an item is never split unless it is wider."""
    lines: list[Text] = []
    for item in items:
        text = item if isinstance(item, Text) else Text(item)
        if lines and lines[-1].cell_len + len(gap) + text.cell_len <= width:
            lines[-1].append(gap)
            lines[-1].append_text(text)
        else:
            lines.append(text.copy())
    return lines


# -- symbols ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Column:
    header: str
    cell: Callable[[SymbolStatus], Text]
    numeric: bool = True


def _bar(s: SymbolStatus) -> Text:
    return Text("-" if s.bar_time is None else f"{s.bar_time:%Y-%m-%d %H:%M}")


def _signal(s: SymbolStatus) -> Text:
    if s.signal is None:
        return Text("-")
    return Text(f"{s.signal:+d}" if s.signal else "0",
                style="green" if s.signal > 0 else "red" if s.signal else "")


def _conviction(s: SymbolStatus) -> Text:
    return Text("-" if s.conviction is None else f"{s.conviction:.2f} {s.score_source}")


COLUMNS: Final[dict[str, _Column]] = {
    "symbol": _Column("symbol", lambda s: Text(s.symbol, style="bold")),
    "bar": _Column("bar (UTC)", _bar),
    "close": _Column("close", lambda s: Text(price(s.close))),
    "signal": _Column("sig", _signal),
    "conviction": _Column("conv", _conviction),
    "position": _Column("position", lambda s: Text(amount(s.position) if s.position else "0")),
    "entry": _Column("entry", lambda s: Text(price(s.entry_price))),
    "upnl": _Column("uPnL", lambda s: pnl_text(s.unrealised_pnl)),
    "stop": _Column("stop", lambda s: Text(price(s.stop))),
    "reason": _Column("reason", lambda s: Text(s.reason or "-"), numeric=False),
}
# Widest first; each layout keeps the figures a trader watches and folds the rest into a line.
LAYOUTS: Final = (
    ("symbol", "bar", "close", "signal", "conviction", "position", "entry", "upnl", "stop",
     "reason"),
    ("symbol", "bar", "close", "signal", "conviction", "position", "entry", "upnl", "stop"),
    ("symbol", "close", "signal", "conviction", "position", "entry", "upnl", "stop"),
    ("symbol", "close", "position", "entry", "upnl", "stop"),
    ("symbol", "close", "position", "upnl"),
)
REASON_MIN: Final = 24  # below this a reason wraps to a word a line: fold it instead
COLUMN_GAP: Final = 2  # blanks between two columns


def symbols_table(symbols: tuple[SymbolStatus, ...], width: int) -> RenderableType:
    """The first layout whose numbers all fit whole, with the folded columns under it.

    Drawn line by line rather than as a rich Table: the widths are counted here anyway (rich
    measures a cell's minimum as its longest word, where a number must fit whole), and a
    replay redraws several times a second, where a Table cost more than the rest together.
    """
    cells = {key: [column.cell(s) for s in symbols] for key, column in COLUMNS.items()}
    for keys in LAYOUTS:
        widths = column_widths(cells, keys)
        if sum(widths) + COLUMN_GAP * (len(keys) - 1) <= width:
            break
    if "reason" in keys:  # the reason takes the room left, up to its longest text
        longest = max([len(COLUMNS["reason"].header), *(c.cell_len for c in cells["reason"])])
        widths[-1] = max(min(longest, width - sum(widths[:-1]) - COLUMN_GAP * (len(keys) - 1)),
                         REASON_MIN)
    headers = [Text(COLUMNS[key].header, style="bold") for key in keys]
    lines = [*_row_lines(headers, keys, widths),
             Text("─" * (sum(widths) + COLUMN_GAP * (len(keys) - 1)), style="dim")]
    for i in range(len(symbols)):
        lines.extend(_row_lines([cells[key][i] for key in keys], keys, widths))
    folded = [key for key in COLUMNS if key not in keys and key != "symbol"]
    return Group(*lines, *(_folded_line(s, folded) for s in symbols if folded))


def column_widths(cells: dict[str, list[Text]], keys: tuple[str, ...]) -> list[int]:
    """Each column's widest cell or header; REASON_MIN for the reason (it wraps)."""
    return [REASON_MIN if not COLUMNS[key].numeric else
            max([len(COLUMNS[key].header), *(c.cell_len for c in cells[key])])
            for key in keys]


def _row_lines(row: list[Text], keys: tuple[str, ...], widths: list[int]) -> list[Text]:
    """One row: numbers aligned in their columns, the reason wrapped in the last one."""
    first = Text()
    for n, (key, cell, w) in enumerate(zip(keys, row, widths, strict=True)):
        if n:
            first.append(" " * COLUMN_GAP)
        if key == "reason":
            wrapped = textwrap.wrap(cell.plain, w) or [""]
            first.append(wrapped[0])
            indent = " " * (sum(widths[:-1]) + COLUMN_GAP * (len(keys) - 1))
            return [first, *(Text(indent + more) for more in wrapped[1:])]
        padded = cell.copy()
        padded.align("left" if key in ("symbol", "bar") else "right", w)
        first.append_text(padded)
    return [first]


def _folded_line(s: SymbolStatus, keys: list[str]) -> RenderableType:
    parts = [Text(f"{s.bar_time:%Y-%m-%d %H:%M} UTC") if k == "bar" and s.bar_time else
             Text.assemble(f"{COLUMNS[k].header} ", COLUMNS[k].cell(s))
             for k in keys if k != "reason"]
    line = Text.assemble((s.symbol, "bold"), " ", Text(" · ").join(parts))
    if "reason" in keys:
        line.append(f"{': ' if parts else ''}{s.reason or '-'}", style="italic")
    return Padding(line, (0, 0, 0, 2))


# -- progress and notices ---------------------------------------------------------------------
def progress_lines(p: Progress, width: int) -> RenderableType:
    """A bar with the percentage, then bars done/total, simulated date, pace and time left."""
    share = 1.0 if p.total == 0 else p.done / p.total
    room = max(width - len("replay  100%"), 10)
    filled = round(room * share)
    bar = Text.assemble(("replay ", "bold magenta"), ("━" * filled, "magenta"),
                        ("─" * (room - filled), "grey35"), f"{share:5.0%}")
    at = "-" if p.sim_time is None else f"{p.sim_time:%Y-%m-%d %H:%M} UTC"
    pace = "-" if p.bars_per_s is None else f"{p.bars_per_s:,.0f}"
    left = p.left_s
    items = [f"{p.done:,}/{p.total:,} bars", f"at {at}", f"{pace} bars/s",
             "time left " + ("-" if left is None else duration(left))]
    return Group(bar, *pack(items, width))


def notices_panel(notices: tuple[Notice, ...], width: int) -> Panel:
    """The last alerts and warnings, newest last; each on at most two lines."""
    room = max(2 * (width - 4), 40)
    lines = [Text.assemble(f"{n.at:%H:%M:%S} ", (n.level, NOTICE_STYLE.get(n.level, "")),
                           " ", shorten(n.text, room - len(n.level) - 10)) for n in notices]
    body: RenderableType = Group(*lines) if lines else Text("none so far", style="dim")
    return Panel(body, title="alerts and warnings (UTC)", title_align="left", box=box.ROUNDED)


def shorten(text: str, limit: int) -> str:
    """``text`` on one line, cut at a word boundary to at most ``limit`` characters."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[:limit - 2].rsplit(" ", 1)[0]  # whole words only: a number is never cut
    return cut + " …"


# -- numbers ----------------------------------------------------------------------------------
def price(x: float | None) -> str:
    """A price to PRICE_DIGITS significant digits, thousands separated: 104,712 / 0.0123456."""
    if x is None or not math.isfinite(x):
        return "-"
    if x == 0:
        return "0"
    decimals = PRICE_DIGITS - 1 - math.floor(math.log10(abs(x)))
    return f"{x:,.{min(max(decimals, 0), 12)}f}"


def amount(x: float) -> str:
    """A base quantity to 8 significant digits, never in scientific notation: 0.00123."""
    if not math.isfinite(x) or x == 0:
        return "0" if x == 0 else "-"
    decimals = 7 - math.floor(math.log10(abs(x)))
    text = f"{x:,.{min(max(decimals, 0), 12)}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def money(x: float | None) -> str:
    """Quote currency with cents and thousands: 10,123.45."""
    return "-" if x is None or not math.isfinite(x) else f"{x:,.2f}"


def pnl_text(x: float | None) -> Text:
    """A signed amount of money, green when up and red when down."""
    if x is None or not math.isfinite(x):
        return Text("-")
    return Text(f"{x:+,.2f}", style="green" if x > 0 else "red" if x < 0 else "")


def duration(seconds: float) -> str:
    """Seconds as ``42 s``, ``3 min 05 s`` or ``2 h 07 min``."""
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"

