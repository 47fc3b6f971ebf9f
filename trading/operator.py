"""Operator commands: ``status``, ``halt``, ``resume`` and ``report``, safe while the bot runs.

They only read the journal or append to its command queue. The running loop is the only writer
of the risk state: it applies a queued halt or resume at its next step, and a stopped bot at its
next start. Output is rich tables on a terminal, plain aligned text otherwise (journald, pipes,
cron mail), or JSON with ``--json``. Nothing here imports pandas: ``status`` must stay instant.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any, Final

from core.clock import SystemClock
from core.domain import OrderKind
from core.errors import ConfigError
from core.paths import STATE_DIR_ENV, check_output_path, journal_path
from journal import (
    TOTAL,
    Command,
    CommandKind,
    DecisionRow,
    EquityRow,
    HaltInForce,
    HaltRow,
    Journal,
    RunMode,
    RunRow,
    last_bar_key,
)

MODES: Final = tuple(m.value for m in RunMode)
# A bot that has not finished a bar for this many bar lengths is shown as stalled.
STALL_BARS: Final = 2
MAX_REASON: Final = 500  # a halt reason is read on a phone in an alert, not a file
_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
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


@dataclass(frozen=True, slots=True)
class LastBar:
    """The last bar the loop finished for one symbol, and how long ago (None in a replay)."""

    symbol: str
    bar_time: datetime
    processed_at: datetime
    age_s: float | None
    stalled: bool


@dataclass(frozen=True, slots=True)
class OpenPosition:
    """A position from the fills, with the stop still resting for it (if journaled)."""

    symbol: str
    amount: Decimal
    entry_price: Decimal
    opened_at: datetime
    stop: Decimal | None


@dataclass(frozen=True, slots=True)
class StatusView:
    """Everything ``status`` shows, read from one journal at one moment."""

    mode: str
    journal: str
    now: datetime
    run: RunRow | None
    account: EquityRow | None
    last_bars: list[LastBar]
    halts_in_force: list[HaltInForce]
    positions: list[OpenPosition]
    pending_commands: list[Command]
    decisions: list[DecisionRow]
    recent_halts: list[HaltRow]
    # Per symbol, the saved evidence the run's size and live gate rest on (its start line's).
    evidence: dict[str, str]
    # The run's symbols that take no entries, with why (live: refused by the promotion gate).
    refused: dict[str, str]

    @property
    def trading(self) -> list[str]:
        """The latest run's symbols that may enter: every one it was started with but the
        refused."""
        symbols = (self.run.config.get("symbols") or []) if self.run is not None else []
        return [s for s in symbols if s not in self.refused]

    @property
    def stalled(self) -> bool:
        """True when some symbol has not had a bar finished for STALL_BARS bar lengths."""
        return any(b.stalled for b in self.last_bars)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON-safe values (Decimal and datetime become strings by ``dumps``)."""
        out = asdict(self)
        if out["run"] is not None:
            del out["run"]["config"]  # redacted already, but large and not status
        out["stalled"], out["trading"] = self.stalled, self.trading
        return out


def add_operator_parsers(commands: Any) -> None:
    """Register ``status``, ``halt``, ``resume`` and ``report`` on main.py's subparsers."""
    status = _add(commands, "status", run_status, "the bot's state from its journal",
                  "Read the journal (safe while the bot runs): run, equity, kill switches, "
                  "positions, queued commands, last decisions and halts, last bar and its age.")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.add_argument("--last", type=_count, default=10, metavar="N", help="decisions (10)")
    for kind, text in (
        (CommandKind.HALT, "Queue a manual kill switch: no new entries, open positions closed "
                           "at the next open (flatten_on_halt), until `resume`."),
        (CommandKind.RESUME, "Queue a resume: lifts a latched drawdown halt (the peak restarts "
                             "at the current equity) and a manual halt; a daily pause and a "
                             "cooldown end by themselves."),
    ):
        parser = _add(commands, kind.value, partial(run_queue, kind), text.split(":")[0].lower(),
                      text + " The running bot applies it at its next step; a stopped bot at "
                      "its next start.")
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
        print(json.dumps(view.to_json(), default=_json_value, indent=2))
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


def read_status(journal: Journal, *, mode: str, now: datetime, last: int) -> StatusView:
    """Read everything ``status`` shows; a replay is judged by its own simulated clock."""
    run = journal.latest_run()
    account = journal.latest_equity().get(TOTAL)
    simulated = mode == RunMode.REPLAY.value
    return StatusView(
        mode=mode, journal=str(journal.path), now=now, run=run, account=account,
        last_bars=_last_bars(journal, now=None if simulated else now, bar_s=_timeframe_s(run)),
        halts_in_force=journal.halts_in_force(_as_of(journal, mode, now)),
        positions=_positions(journal),
        pending_commands=journal.pending_commands(),
        decisions=journal.recent_decisions(last), recent_halts=journal.recent_halts(10),
        evidence=dict(run.config.get("evidence") or {}) if run is not None else {},
        refused={r.symbol: r.reason for r in journal.refusals()},
    )


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
    blocks.append(Section("Kill switches in force", ("switch", "since", "reason"), [
        (h.kind, _when(h.since), h.reason) for h in v.halts_in_force]))
    blocks.append(Section("Open positions", ("symbol", "amount", "entry", "stop", "opened"), [
        (p.symbol, _px(p.amount), _px(p.entry_price), _px(p.stop), _when(p.opened_at))
        for p in v.positions]))
    blocks.append(Section("Queued operator commands", ("id", "kind", "posted", "reason"), [
        (str(c.id), c.kind, _when(c.posted_at), c.reason) for c in v.pending_commands]))
    blocks.append(Section(
        f"Last {len(v.decisions)} decisions, newest first",
        ("bar", "symbol", "signal", "action", "conviction", "source", "reason"),
        [(_when(d.bar_time), d.symbol, f"{d.signal:+d}" if d.signal else "0", d.action,
          _num(d.conviction, ".2f"), d.score_source or "", d.reason) for d in v.decisions]))
    blocks.append(Section("Recent halts and resumes, newest first",
                          ("at", "kind", "actor", "reason"),
                          [(_when(h.at), h.kind, h.actor, h.reason) for h in v.recent_halts]))
    return blocks


def _last_bars(journal: Journal, *, now: datetime | None, bar_s: float | None) -> list[LastBar]:
    prefix = last_bar_key("")
    found: list[LastBar] = []
    for key, saved_at in journal.state_keys().items():
        saved = journal.load_state(key) if key.startswith(prefix) else None
        if saved is None or not isinstance(saved.get("time"), str):
            continue
        age = None if now is None else (now - saved_at).total_seconds()
        stalled = age is not None and bar_s is not None and age > STALL_BARS * bar_s
        found.append(LastBar(key[len(prefix):], datetime.fromisoformat(saved["time"]),
                             saved_at, age, stalled))
    return found


def _positions(journal: Journal) -> list[OpenPosition]:
    # The stop resting for a position is its latest stop order that is not final yet.
    stops = {o.symbol: o.stop_price for o, _ in journal.unresolved_orders()
             if o.kind is OrderKind.STOP}
    return [OpenPosition(p.symbol, p.amount, p.entry_price, p.opened_at, stops.get(p.symbol))
            for p in journal.open_positions().values()]


def _bar_line(b: LastBar) -> str:
    ago = "simulated clock" if b.age_s is None else f"{_ago(b.age_s)} ago"
    return (f"Last bar {b.symbol}: {_when(b.bar_time)}, processed {_when(b.processed_at)} "
            f"({ago})")


def _account_line(e: EquityRow | None) -> str:
    if e is None:
        return "Equity: no mark yet."
    return (f"Equity {_num(e.equity)}  peak {_num(e.peak)}  drawdown {_num(e.drawdown, '.2%')}"
            f"  daily P&L {_num(e.daily_pnl, '+,.2f')}  (close of {_when(e.bar_time)})")


def _timeframe_s(run: RunRow | None) -> float | None:
    match = re.fullmatch(r"(\d+)([smhdw])", str((run.config if run else {}).get("timeframe")))
    return None if match is None else int(match[1]) * _UNITS[match[2]]


def run_queue(kind: CommandKind, args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """Queue a halt or resume; print what is in force now and when the bot applies it."""
    reason = str(args.reason).strip()
    if not reason:
        raise ConfigError(f"{kind} needs a non-empty --reason: it is recorded in the journal")
    if len(reason) > MAX_REASON:
        raise ConfigError(f"{kind} --reason is {len(reason)} characters; at most {MAX_REASON} "
                          "(it is shown in status and alerts)")
    with _open(env, args.mode) as journal:
        ahead = journal.pending_commands()
        command_id = journal.post_command(kind, reason)
        run = journal.latest_run()
        in_force = journal.halts_in_force(_as_of(journal, args.mode, SystemClock().now()))
        where = f"{args.mode} journal {journal.path}"
    print(f"queued {kind} #{command_id} in the {where}: {reason}")
    print("in force now: " + ("; ".join(f"{h.kind} since {_when(h.since)} ({h.reason})"
                                        for h in in_force) or "nothing (entries allowed)"))
    if ahead:
        print(f"{len(ahead)} command(s) queued before it are applied first, in order.")
    flatten = run is None or run.config.get("flatten_on_halt", True) is not False
    print(_halt_effect(flatten) if kind is CommandKind.HALT else _resume_effect(in_force))
    return 0


def _halt_effect(flatten: bool) -> str:
    positions = ("open positions are closed at the next open" if flatten
                 else "open positions keep their stops and exits")
    return ("The running bot applies it at its next step (a stopped bot at its next start): "
            f"no new entries, {positions}, until `resume --reason ...`.")


def _resume_effect(in_force: Sequence[HaltInForce]) -> str:
    lifts = [h.kind for h in in_force if h.kind in ("drawdown", "manual")]
    stays = [h.kind for h in in_force if h.kind not in ("drawdown", "manual")]
    if lifts:
        what = "it lifts the " + " and the ".join(f"{k} halt" for k in lifts)
        if "drawdown" in lifts:
            what += " (the peak restarts at the current equity)"
    else:
        what = ("nothing resume lifts is in force now (a halt queued ahead of it would be); "
                "the bot records 'nothing to resume'")
    text = ("The running bot applies it at its next step (a stopped bot at its next start): "
            f"{what}.")
    if stays:
        text += " Not lifted by resume: " + ", ".join(stays) + " (they end by themselves)."
    return text


def _as_of(journal: Journal, mode: str, now: datetime) -> datetime:
    # A replay runs on a simulated clock: judge its cooldown by its last mark, not by today.
    account = journal.latest_equity().get(TOTAL)
    replay = mode == RunMode.REPLAY.value
    return account.at if replay and account is not None else now


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


def _open(env: Mapping[str, str], mode: str) -> Journal:
    path = journal_path(env, mode)
    if not path.is_file():
        raise ConfigError(f"no journal at {path}: the bot has not run in this mode "
                          f"(choose it with --mode; {STATE_DIR_ENV} sets the state directory)")
    return Journal(path)


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


def _when(t: datetime | None) -> str:
    return "-" if t is None else f"{t:%Y-%m-%d %H:%M:%S} UTC"


def _num(x: Decimal | float | None, spec: str = ",.2f") -> str:
    return "-" if x is None else format(x, spec)


def _px(x: Decimal | None) -> str:
    # Prices and amounts by significant digits: 2 decimals would hide a 0.0001 coin.
    return _num(x, ",.8g")


def _ago(seconds: float) -> str:
    s = max(0, int(seconds))
    d, h, m = s // 86400, s % 86400 // 3600, s % 3600 // 60
    return f"{d}d {h}h" if d else f"{h}h {m}m" if h else f"{m}m {s % 60}s" if m else f"{s}s"


def _json_value(value: object) -> str:
    # Exact: a Decimal as its own digits, never through float; times as ISO 8601 with offset.
    return value.isoformat() if isinstance(value, datetime) else str(value)
