"""The Telegram answers as text for a phone: short lines, narrow tables in monospace.

Pure functions over the views of trading/control.py (no network, no journal), so each answer
is tested on its own. Every answer is Telegram HTML: free text (reasons, symbols) is escaped and
a table sits in ``<pre>`` about 32 columns wide, which a phone shows without wrapping. Numbers
are formatted as the CLI's ``status`` and ``report`` format them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from html import escape
from typing import Final

from journal import Command, Trade
from trading import formats
from trading.control import STALL_BARS, DayPnl, OpenPosition, Posted, StatusView
from trading.formats import ago as _ago
from trading.formats import num as _num
from trading.formats import px as _px

# Telegram refuses a message over 4096 characters; an answer is cut well below.
MAX_ANSWER: Final = 3500
COMMANDS: Final = (
    ("status", "mode, equity, drawdown, what is in force, last bar"),
    ("positions", "open positions with entry and stop"),
    ("daily", "P&L per UTC day"),
    ("report", "last trades and totals"),
    ("pause <reason>", "no new entries; positions keep stops"),
    ("halt <reason>", "no entries; positions closed"),
    ("resume <reason>", "lift pause, halt, drawdown latch (asks to confirm)"),
    ("flatten [SYMBOL] <reason>", "close now (asks to confirm)"),
)


def help_text() -> str:
    """The /help answer: every command in one line each."""
    return "\n".join(["Commands:"] + [f"/{escape(c)}: {escape(what)}" for c, what in COMMANDS])


def usage(command: str) -> str:
    """The one-line answer to a command without its reason (nothing is queued)."""
    args = dict((c.split()[0], c) for c, _ in COMMANDS).get(command, command)
    return f"usage: /{escape(args)} (the reason is recorded in the journal); nothing queued"


def status_text(v: StatusView) -> str:
    """/status: the few lines to judge the bot by at a glance."""
    run = f"run #{v.run.id} since {_when(v.run.started_at)}" if v.run else "no run yet"
    lines = [f"{escape(v.mode)}: {run}"]
    e = v.account
    lines.append("Equity: no mark yet" if e is None else
                 f"Equity {_num(e.equity)}  DD {_num(e.drawdown, '.2%')}  "
                 f"day {_num(e.daily_pnl, '+,.2f')}")
    lines += [f"IN FORCE {escape(h.kind)}: {escape(h.reason)}" for h in v.halts_in_force] or [
        "In force: nothing (entries allowed)"]
    held = ", ".join(p.symbol for p in v.positions)
    lines.append(f"Positions: {len(v.positions)}" + (f" ({escape(held)})" if held else ""))
    for b in v.last_bars:
        ago = "simulated clock" if b.age_s is None else f"{_ago(b.age_s)} ago"
        lines.append(f"Last bar {escape(b.symbol)} {_when(b.bar_time)}, {ago}")
    if not v.last_bars:
        lines.append("No bar processed yet")
    if v.pending_commands:
        lines.append(f"Queued: {_commands(v.pending_commands)}")
    if v.stalled:
        lines.append(f"STALLED: no bar for over {STALL_BARS} bar lengths; is the bot running?")
    return "\n".join(lines)


def positions_text(held: Sequence[OpenPosition]) -> str:
    """/positions: two lines per position (amount; entry and stop), then when it opened."""
    if not held:
        return "No open position"
    rows: list[str] = []
    for p in held:
        rows += [f"{p.symbol} {_px(p.amount)}",
                 f"  entry {_px(p.entry_price)} stop {_px(p.stop)}",
                 f"  since {_when(p.opened_at)}"]
    return _pre(rows)


def daily_text(days: Sequence[DayPnl]) -> str:
    """/daily: P&L per UTC day, newest first."""
    if not days:
        return "No equity mark yet"
    rows = [f"{'day':<10} {'P&L':>10} {'%':>8}"]
    rows += [f"{d.day:%Y-%m-%d} {d.pnl:>+10,.2f} {d.pnl_pct:>+8.2%}" for d in days]
    return _pre(rows)


def report_text(summary: Sequence[str], trades: Sequence[Trade],
                reasons: Mapping[int, str]) -> str:
    """/report: the report's summary lines, then the last trades (P&L, return, why closed)."""
    lines = [escape(s) for s in summary]
    if not trades:
        return "\n".join([*lines, "No trade yet"])
    rows = [f"{'symbol':<9}{'P&L':>9}{'return':>7} why"]
    for t in trades:
        pnl = "open" if t.pnl is None else f"{t.pnl:+,.2f}"
        cost = t.amount * t.entry_price
        ret = f"{t.pnl / cost:+.1%}" if t.pnl is not None and cost else "-"
        rows.append(f"{t.symbol:<9}{pnl:>9}{ret:>7} {reasons.get(t.number, '-')}")
    return "\n".join([*lines, f"Last {len(trades)} trades:", _pre(rows)])


def confirm_text(kind: str, reason: str, effect: str, *, symbol: str | None,
                 expires_s: float) -> str:
    """The question above the Confirm / Cancel buttons of /resume and /flatten."""
    what = f"{kind} {symbol}" if symbol else kind
    return (f"Confirm {escape(what)}? Reason: {escape(reason)}\n{escape(_plain(effect))}\n"
            f"(the buttons expire in {expires_s:.0f} s)")


def result_text(posted: Posted, acked: Command | None) -> str:
    """What became of a posted command: the loop's result, or still queued."""
    what = f"{posted.kind} {posted.symbol}" if posted.symbol else str(posted.kind)
    if acked is None:
        return (f"{escape(what)} queued #{posted.command_id}; the bot applies it within "
                "seconds when running (is it running?)")
    return f"{escape(what)} #{posted.command_id} done: {escape(acked.result or 'applied')}"


def cut(text: str) -> str:
    """The text cut below Telegram's limit (only a long table could reach it)."""
    return text if len(text) <= MAX_ANSWER else text[:MAX_ANSWER - 1] + "…"


def _commands(pending: Sequence[Command]) -> str:
    return ", ".join(f"#{c.id} {escape(str(c.kind))}" for c in pending)


def _pre(rows: Sequence[str]) -> str:
    return "<pre>" + escape("\n".join(rows)) + "</pre>"


def _plain(text: str) -> str:
    return text.replace("`", "")  # effect_of quotes commands for a terminal


def _when(t: datetime | None) -> str:
    return formats.when(t, seconds=False)  # a phone's line: minutes are enough
