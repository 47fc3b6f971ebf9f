"""Operator commands on the command line, safe while the bot runs: ``status``, ``positions``,
``daily``, ``report``, and the graded ``pause``, ``halt``, ``resume`` and ``flatten``.

They only read the journal or append to its command queue (trading/control.py, shared with
Telegram and the dashboard). The running loop is the only writer of the trading state: it
applies a queued command within seconds, and a stopped bot at its next start. Output is rich
tables on a terminal, plain aligned text otherwise (journald, pipes, cron mail), or JSON with
``--json``. Nothing here imports pandas: ``status`` must stay instant.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any, Final

from core.clock import SystemClock
from core.errors import ConfigError
from core.paths import STATE_DIR_ENV, check_output_path, journal_path
from journal import CommandKind, EquityRow, HaltInForce, Journal, RunMode
from journal.reader import JournalReader
from trading import control
from trading.control import STALL_BARS, LastBar, StatusView, read_status
from trading.formats import ago as _ago
from trading.formats import num as _num
from trading.formats import px as _px
from trading.formats import when as _when

MODES: Final = tuple(m.value for m in RunMode)
_CommandFn = Callable[[argparse.Namespace, Mapping[str, str]], int]


@dataclass(frozen=True, slots=True)
class Section:
    """A titled table for the screen; rendered with rich or as plain aligned text.

    ``fold`` names the free-text columns that may wrap on a terminal; the others are kept
    whole (a symbol or a time is never cut). None: every column folds. ``optional`` names the
    columns left out, in that order, while the table is wider than the terminal.
    """

    title: str
    columns: tuple[str, ...]
    rows: list[tuple[str, ...]]
    fold: tuple[str, ...] | None = None
    optional: tuple[str, ...] = ()


Block = str | Section


_QUEUED: Final = {
    CommandKind.PAUSE: "Queue a pause: no new entries; open positions keep their stops and "
                       "exits, until `resume`.",
    CommandKind.HALT: "Queue a manual kill switch: no new entries, open positions closed at the "
                      "next open (flatten_on_halt), until `resume`.",
    CommandKind.RESUME: "Queue a resume: lifts a pause, a manual halt and a latched drawdown "
                        "halt (the peak restarts at the current equity); a daily pause and a "
                        "cooldown end by themselves.",
    CommandKind.FLATTEN: "Queue a flatten: close SYMBOL's position (every position without "
                         "one) now: paper at the next open; testnet and live with a market "
                         "sell at once, the stop cancelled first. Entries stay allowed "
                         "(pause first to stop them).",
}


def add_operator_parsers(commands: Any) -> None:
    """Register ``status``, ``positions``, ``daily``, the graded commands (``pause``,
    ``halt``, ``resume``, ``flatten``) and ``report`` on main.py's subparsers."""
    status = _add(commands, "status", run_status, "the bot's state from its journal",
                  "Read the journal (safe while the bot runs): run, equity, kill switches, "
                  "positions, queued commands, last decisions and halts, last bar and its age.")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.add_argument("--last", type=_count, default=10, metavar="N", help="decisions (10)")
    positions = _add(commands, "positions", run_positions, "open positions with their stops",
                     "The open positions from the journal's fills: amount, entry price, the "
                     "resting stop, when opened.")
    positions.add_argument("--json", action="store_true", help="machine-readable output")
    days = _add(commands, "daily", run_daily, "P&L per UTC day",
                "The account's P&L per UTC day (by bar time) from its equity marks, newest "
                "first.")
    days.add_argument("--days", type=_count, default=14, metavar="N", help="days (14)")
    days.add_argument("--json", action="store_true", help="machine-readable output")
    for kind, text in _QUEUED.items():
        parser = _add(commands, kind.value, partial(run_queue, kind),
                      text.split(":")[0].lower(),
                      text + " The running bot applies it within seconds; a stopped bot at "
                      "its next start.")
        if kind is CommandKind.FLATTEN:
            parser.add_argument("symbol", nargs="?", metavar="SYMBOL",
                                help="the market to close, e.g. BTC/USDT (default: every one)")
        parser.add_argument("--reason", required=True, help="why (recorded in the journal)")
    report = _add(commands, "report", run_report, "trades and P&L from the journal",
                  "Trades (round trips from the journal's fills), wins, realised P&L and fees; "
                  "--csv writes one row per fill for an audit or tax export.")
    report.add_argument("--csv", metavar="FILE", type=Path, help="write every fill to FILE")
    report.add_argument("--last", type=_count, default=20, metavar="N", help="trades (20)")


def run_status(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """Print the bot's state from the journal of ``--mode``."""
    with _open(env, args.mode) as journal:
        view = read_status(journal, mode=args.mode, now=SystemClock().now(), last=args.last)
    if args.json:
        print(json.dumps(control.status_json(view), default=control.json_value, indent=2))
    else:
        render(status_blocks(view), terminal=sys.stdout.isatty())
    return 0


def run_report(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """Print trades, P&L and halts; with ``--csv`` also export every fill."""
    from trading.operator_report import MAX_HALT_ROWS, exit_reasons, export_fills, report_blocks

    if args.csv is not None:  # before the journal is opened: the CSV must never replace it
        check_output_path(args.csv, env, option="--csv")
    with _open(env, args.mode) as journal:
        trades = journal.trades()
        exits = exit_reasons(journal, trades[-args.last:])
        halts = journal.recent_halts(MAX_HALT_ROWS)
        written = None if args.csv is None else export_fills(journal, args.csv)
        where = f"{args.mode} journal {journal.path}"
    blocks = report_blocks(trades, last=args.last, where=where, exits=exits, halts=halts)
    render(blocks, terminal=sys.stdout.isatty())
    if written is not None:
        print(f"wrote {written} fill rows to {args.csv} (UTC times, exact amounts, realised "
              "P&L on each trade's closing fill)")
    return 0


def run_positions(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """Print the open positions of ``--mode`` with their resting stops."""
    with _reader(env, args.mode) as reader:
        held = control.positions(reader)
    if args.json:
        print(json.dumps([asdict(p) for p in held], default=control.json_value, indent=2))
        return 0
    render([Section("Open positions", ("symbol", "amount", "entry", "stop", "opened"), [
        (p.symbol, _px(p.amount), _px(p.entry_price), _px(p.stop), _when(p.opened_at))
        for p in held])], terminal=sys.stdout.isatty())
    return 0


def run_daily(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """Print the account's P&L per UTC day of ``--mode``, newest first."""
    with _reader(env, args.mode) as reader:
        days = control.daily(reader, days=args.days)
    if args.json:
        print(json.dumps([asdict(d) for d in days], default=control.json_value, indent=2))
        return 0
    render([Section(f"P&L per UTC day (by bar time), last {len(days)}, newest first",
                    ("day", "start", "end", "P&L", "P&L %"), [
        (d.day.isoformat(), _num(d.start_equity), _num(d.end_equity), _num(d.pnl, "+,.2f"),
         f"{d.pnl_pct:+.2%}") for d in days])], terminal=sys.stdout.isatty())
    return 0


def status_blocks(v: StatusView) -> list[Block]:
    """The status screen as headline lines and tables."""
    blocks: list[Block] = [f"Status of the {v.mode} journal {v.journal} at {_when(v.now)}"]
    if v.run is None:
        blocks.append("No run recorded yet.")
    else:
        blocks.append(f"Run #{v.run.id}: {v.run.mode} since {_when(v.run.started_at)}, "
                      f"strategy {v.run.strategy_id}")
        blocks += [f"{symbol}: {line}" for symbol, line in v.evidence.items()]
        refused = f"; refused {', '.join(v.refused)} (no entries)" if v.refused else ""
        blocks.append(f"Trading {', '.join(v.trading) or 'no symbol'}{refused}")
        blocks += [f"{symbol}: {why}" for symbol, why in v.refused.items()]
    blocks += [_bar_line(b) for b in v.last_bars] or ["No bar processed yet."]
    if v.stalled:
        blocks.append(f"STALLED: no bar finished for over {STALL_BARS} bar lengths; is the bot "
                      "running? (systemctl status tradingbot; journalctl -u tradingbot)")
    blocks.append(_account_line(v.account))
    blocks += [_operator_line(h) for h in v.halts_in_force if h.kind in _OPERATOR_HOLDS]
    blocks.append(Section("Kill switches in force", ("switch", "since", "reason"), [
        (h.kind, _when(h.since), h.reason) for h in v.halts_in_force]))
    blocks.append(Section("Open positions", ("symbol", "amount", "entry", "stop", "opened"), [
        (p.symbol, _px(p.amount), _px(p.entry_price), _px(p.stop), _when(p.opened_at))
        for p in v.positions]))
    blocks.append(Section("Queued operator commands", ("id", "kind", "posted", "by", "reason"), [
        (str(c.id), f"{c.kind} {c.symbol}" if c.symbol else c.kind, _when(c.posted_at),
         c.actor, c.reason) for c in v.pending_commands]))
    blocks.append(Section(
        f"Last {len(v.decisions)} decisions, newest first",
        ("bar", "symbol", "signal", "action", "conviction", "source", "reason"),
        [(_when(d.bar_time), d.symbol, f"{d.signal:+d}" if d.signal else "0", d.action,
          _num(d.conviction, ".2f"), d.score_source or "", d.reason) for d in v.decisions]))
    blocks.append(Section("Recent halts and resumes, newest first",
                          ("at", "kind", "actor", "reason"),
                          [(_when(h.at), h.kind, h.actor, h.reason) for h in v.recent_halts]))
    return blocks


_OPERATOR_HOLDS: Final = {
    "manual": "Halted by the operator: {reason} (since {since}; no entries until `resume`)",
    "pause": "Paused by the operator: {reason} (since {since}; no new entries, positions keep "
             "their stops and exits, until `resume`)",
}


def _operator_line(h: HaltInForce) -> str:
    return _OPERATOR_HOLDS[h.kind].format(reason=h.reason, since=_when(h.since))


def _bar_line(b: LastBar) -> str:
    ago = "simulated clock" if b.age_s is None else f"{_ago(b.age_s)} ago"
    return (f"Last bar {b.symbol}: {_when(b.bar_time)}, processed {_when(b.processed_at)} "
            f"({ago})")


def _account_line(e: EquityRow | None) -> str:
    if e is None:
        return "Equity: no mark yet."
    return (f"Equity {_num(e.equity)}  peak {_num(e.peak)}  drawdown {_num(e.drawdown, '.2%')}"
            f"  daily P&L {_num(e.daily_pnl, '+,.2f')}  (close of {_when(e.bar_time)})")


def run_queue(kind: CommandKind, args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """Queue a command; print what is in force now and what the bot will do with it."""
    control.check_reason(kind, args.reason, name="--reason")
    path = _existing(env, args.mode)
    posted = control.post(path, kind, args.reason, actor=control.CLI_ACTOR, mode=args.mode,
                          symbol=getattr(args, "symbol", None))
    what = f"{kind} {posted.symbol}" if posted.symbol else str(kind)
    print(f"queued {what} #{posted.command_id} in the {args.mode} journal {path}: "
          f"{posted.reason}")
    print("in force now: " + ("; ".join(f"{h.kind} since {_when(h.since)} ({h.reason})"
                                        for h in posted.in_force) or "nothing (entries allowed)"))
    if posted.ahead:
        print(f"{posted.ahead} command(s) queued before it are applied first, in order.")
    print(posted.effect)
    return 0


def render(blocks: Sequence[Block], *, terminal: bool) -> None:
    """Print blocks on stdout: rich tables on a terminal, plain aligned text otherwise."""
    if not terminal:
        print("\n".join(b if isinstance(b, str) else _plain(b) for b in blocks))
        return
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=True)
    for block in blocks:
        if isinstance(block, str) or not block.rows:
            console.print(block if isinstance(block, str) else _plain(block), markup=False)
            continue
        table, dropped = _fitted(block, console.width)
        console.print(table)
        if dropped:  # wrapped at words, unlike the rest: it must not widen the screen
            console.print(f"(hidden at {console.width} columns: {', '.join(dropped)}; a wider "
                          "terminal or a pipe shows them)", markup=False, soft_wrap=False)


def _fitted(block: Section, width: int) -> tuple[Any, list[str]]:
    """The block as a rich Table, leaving out its optional columns until it fits ``width``."""
    from rich.console import Console
    from rich.table import Table

    # Measured on a wide console: the real console clamps a measurement to its own width.
    ruler = Console(width=10_000, file=io.StringIO())
    dropped: list[str] = []
    while True:
        keep = [i for i, name in enumerate(block.columns) if name not in dropped]
        table = Table(title=block.title, title_justify="left")
        for i in keep:
            name = block.columns[i]
            whole = block.fold is not None and name not in block.fold
            table.add_column(name, overflow="ellipsis" if whole else "fold", no_wrap=whole)
        for row in block.rows:
            table.add_row(*(row[i] for i in keep))
        left = [c for c in block.optional if c not in dropped]
        if not left or ruler.measure(table).minimum <= width:
            return table, dropped
        dropped.append(left[0])


def _plain(section: Section) -> str:
    if not section.rows:
        return f"{section.title}: none"
    widths = [max(len(r[i]) for r in [section.columns, *section.rows])
              for i in range(len(section.columns))]
    lines = [f"{section.title}:"] + [
        "  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in [section.columns, *section.rows]]
    return "\n".join(lines)


def _existing(env: Mapping[str, str], mode: str) -> Path:
    """The mode's journal; ConfigError when the bot never ran in that mode (none is made)."""
    path = journal_path(env, mode)
    if not path.is_file():
        raise ConfigError(f"no journal at {path}: the bot has not run in this mode "
                          f"(choose it with --mode; {STATE_DIR_ENV} sets the state directory)")
    return path


def _open(env: Mapping[str, str], mode: str) -> Journal:
    return Journal(_existing(env, mode))


def _reader(env: Mapping[str, str], mode: str) -> JournalReader:
    return JournalReader(_existing(env, mode))


def _add(commands: Any, name: str, run: _CommandFn, help_: str, text: str) -> Any:
    parser = commands.add_parser(name, help=help_, description=text)
    parser.add_argument("--mode", choices=MODES, default=RunMode.PAPER.value,
                        help="whose journal: paper (default), testnet, live or replay")
    parser.set_defaults(run=run)
    return parser


def _count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return int(text)
