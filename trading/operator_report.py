"""The ``report`` command's screen: totals, the last trades with their return, duration and why
they closed, and the halts; sized to fit an 80-column terminal.

Why a trade closed is read from its closing order: a stop fill is ``stop``; an exit order says
``signal``, ``halt`` or ``flatten`` (the operator's) in its journaled reason. Nothing here
imports pandas (operator commands stay instant).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Final, TextIO, cast

from core.domain import OrderKind
from core.errors import ConfigError
from core.files import write_atomically
from journal import HaltRow, Journal, Trade
from journal.queries import JournalQueries
from trading.formats import px as _px
from trading.operator import Block, Section

# Halts are a few a day at most: a year of them is still a small read.
MAX_HALT_ROWS: Final = 100_000
TRADE_COLUMNS: Final = ("#", "symbol", "side", "opened (UTC)", "closed (UTC)", "held",
                        "amount", "entry", "exit", "fees", "P&L", "return", "exit reason")
# Dropped in this order when the terminal is too narrow; the rest fits 80 columns whole.
NARROW_DROPS: Final = ("amount", "fees", "closed (UTC)", "entry", "exit", "side")
_KIND_LETTER: Final = re.compile(r"-([EXS])\d*$")  # execution/client_ids.py's id format
_LETTER_KIND: Final = {"E": OrderKind.ENTRY, "X": OrderKind.EXIT, "S": OrderKind.STOP}


def export_fills(journal: Journal, path: Path) -> int:
    """Write every fill to the CSV ``path`` at once (a full disk leaves the previous export,
    never half a file); the number of rows."""
    rows: list[int] = []
    try:
        if not path.parent.is_dir():
            raise FileNotFoundError(2, "No such directory", str(path.parent))
        write_atomically(path, lambda fh: rows.append(journal.export_csv(cast(TextIO, fh))),
                         binary=False)
        return rows[0]
    except OSError as e:
        raise ConfigError(f"cannot write the CSV export {path}: {e.strerror or e}") from e


def exit_reasons(journal: JournalQueries, trades: Sequence[Trade]) -> dict[int, str]:
    """Why each closed trade in ``trades`` closed, by trade number, from its closing order."""
    reasons: dict[int, str] = {}
    for trade in trades:
        if trade.closed_at is None or not trade.client_ids:
            continue
        client_id = trade.client_ids[-1]  # ids are in fill order: the last one closed it
        order = journal.find_order(client_id)
        if order is not None:
            reasons[trade.number] = _reason(order.kind, order.reason)
        else:  # a stop the exchange filled before its intent was read back: the id says so
            letter = _KIND_LETTER.search(client_id)
            kind = _LETTER_KIND.get(letter[1]) if letter else None
            reasons[trade.number] = _reason(kind, "") if kind else "-"
    return reasons


def report_blocks(
    trades: Sequence[Trade], *, last: int, where: str,
    exits: Mapping[int, str] | None = None, halts: Sequence[HaltRow] = (),
) -> list[Block]:
    """The report screen: totals per quote currency, the last ``last`` trades, the halts."""
    closed = [t for t in trades if t.pnl is not None]
    wins = sum(1 for t in closed if t.pnl is not None and t.pnl > 0)
    rate = f" ({wins / len(closed):.1%})" if closed else ""
    blocks: list[Block] = [
        f"Report of the {where}",
        f"Trades: {len(closed)} closed, {len(trades) - len(closed)} open; {wins} wins{rate}, "
        f"{len(closed) - wins} losses or flat",
    ]
    blocks += _totals(closed)
    shown = list(trades)[-last:]
    reasons = exits or {}
    blocks.append(Section(
        f"Last {len(shown)} of {len(trades)} trades", TRADE_COLUMNS,
        [_trade_row(t, reasons.get(t.number, "-")) for t in shown],
        fold=("exit reason",), optional=NARROW_DROPS))
    blocks += _halt_blocks(halts, last=last)
    return blocks


def _totals(closed: Sequence[Trade]) -> list[Block]:
    blocks: list[Block] = []
    for quote in sorted({t.quote for t in closed}):
        mine = [t for t in closed if t.quote == quote]
        pnl = sum((t.pnl for t in mine if t.pnl is not None), Decimal(0))
        fees = sum((t.fees for t in mine), Decimal(0))
        blocks.append(f"Realised P&L {pnl:+,.2f} {quote} after {fees:,.2f} {quote} fees")
    other: dict[str, Decimal] = {}
    for asset, amount in (f for t in closed for f in t.other_fees):
        other[asset] = other.get(asset, Decimal(0)) + amount
    if other:  # e.g. fees paid in BNB: a cost the quote-currency P&L above does not hold
        blocks.append("Fees in other assets, not in the P&L: "
                      + ", ".join(f"{a} {v}" for a, v in sorted(other.items())))
    return blocks


def _trade_row(t: Trade, reason: str) -> tuple[str, ...]:
    return (
        str(t.number), t.symbol, t.side, _minute(t.opened_at), _minute(t.closed_at),
        _held(t), _px(t.amount), _px(t.entry_price), _px(t.exit_price), f"{t.fees:,.2f}",
        "-" if t.pnl is None else f"{t.pnl:+,.2f}", _return(t),
        reason if t.closed_at is not None else "open",
    )


def _halt_blocks(halts: Sequence[HaltRow], *, last: int) -> list[Block]:
    if not halts:
        return ["Halts: none recorded"]
    counts = Counter(str(h.kind) for h in halts)
    line = "Halts: " + ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()))
    shown = list(halts)[:last]  # the journal gives them newest first
    return [line, Section(
        f"Last {len(shown)} of {len(halts)} halts and resumes, newest first",
        ("at (UTC)", "kind", "actor", "reason"),
        [(_minute(h.at), str(h.kind), str(h.actor), h.reason) for h in shown],
        fold=("reason",))]


def _reason(kind: OrderKind | None, text: str) -> str:
    # The journaled reason starts with what closed it ("signal -1 ...", "halt: ...",
    # "operator flatten: ...").
    if kind is OrderKind.STOP:
        return "stop"
    word = re.split(r"[:\s]", text.strip().removeprefix("operator "), maxsplit=1)[0]
    return word or (str(kind) if kind is not None else "-")


def _return(t: Trade) -> str:
    cost = t.amount * t.entry_price
    if t.pnl is None or not cost:
        return "-"
    return f"{t.pnl / cost:+.2%}"


def _held(t: Trade) -> str:
    if t.closed_at is None:
        return "open"
    s = max(0, int((t.closed_at - t.opened_at).total_seconds()))
    d, h, m = s // 86400, s % 86400 // 3600, s % 3600 // 60
    return f"{d}d {h}h" if d else f"{h}h {m}m" if h else f"{m}m"


def _minute(t: datetime | None) -> str:
    return "-" if t is None else f"{t:%Y-%m-%d %H:%M}"
