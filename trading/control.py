"""The operator's commands and views, one layer shared by the CLI, Telegram and the dashboard.

Every state change is a row in the journal's command queue, applied by the running loop (the
only writer of the trading state) exactly once; nothing here touches the risk state itself.
Posting opens the journal for one short write; every view reads through a ``JournalReader``
(or the bot's own Journal), so a watcher never blocks the bot. Who asked is recorded with each
command: ``cli``, ``telegram:<user id>`` or ``web:<token name>``, with the reason.

Commands, graded:
    pause             no new entries; positions keep their stops and exits
    halt              no entries, and positions closed (today's manual halt; flatten_on_halt)
    resume            lifts a pause, a manual halt and a latched drawdown
    flatten [SYMBOL]  close now (paper: at the next open; live: stop cancelled, market sell)

Nothing here imports pandas or rich: ``status`` and a Telegram answer stay instant.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

from core.clock import SystemClock
from core.domain import OrderKind
from core.errors import ConfigError
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
from journal.queries import JournalQueries
from journal.reader import JournalReader

# A bot that has not finished a bar for this many bar lengths is shown as stalled.
STALL_BARS: Final = 2
MAX_REASON: Final = 500  # a reason is read on a phone in an alert, not a file
_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SYMBOL: Final = re.compile(r"^[A-Z0-9]{1,20}/[A-Z0-9]{1,20}$")
CLI_ACTOR: Final = "cli"
# What a view reads from: the bot's own journal, or a read-only reader beside it.
Readable = Journal | JournalReader


def telegram_actor(user_id: int | str) -> str:
    """The actor of a command sent from Telegram by ``user_id``."""
    return f"telegram:{user_id}"


def web_actor(token_name: str) -> str:
    """The actor of a command sent from the dashboard with the token named ``token_name``."""
    return f"web:{token_name}"


@dataclass(frozen=True, slots=True)
class Posted:
    """A command just queued, and what the operator should know about it."""

    command_id: int
    kind: CommandKind
    symbol: str | None
    reason: str
    actor: str
    ahead: int  # commands queued before it, applied first
    in_force: list[HaltInForce]  # what blocks entries now, before it is applied
    effect: str  # what the running bot will do with it, in one sentence
    journal: str


def check_reason(kind: CommandKind | str, reason: str, *, name: str = "reason") -> str:
    """The reason stripped; ConfigError when blank or longer than MAX_REASON. ``name`` is
    what the user typed it as (the CLI's ``--reason``)."""
    text = str(reason).strip()
    if not text:
        raise ConfigError(f"{kind} needs a non-empty {name}: it is recorded in the journal")
    if len(text) > MAX_REASON:
        raise ConfigError(f"{kind} {name} is {len(text)} characters; at most {MAX_REASON} "
                          "(it is shown in status and alerts)")
    return text


def post(
    path: Path, kind: CommandKind | str, reason: str, *, actor: str, mode: str,
    symbol: str | None = None,
) -> Posted:
    """Validate and queue one command in the journal at ``path``; ConfigError for a mistake.

    The journal must exist (a command for a bot that never ran is a mistake, not a new file).
    ``symbol`` is for flatten only and must be a market of the latest run.
    """
    try:
        command = CommandKind(str(kind))
    except ValueError:
        names = ", ".join(k.value for k in CommandKind)
        raise ConfigError(f"unknown command {kind!r}; one of {names}") from None
    text = check_reason(command, reason)
    if not path.is_file():
        raise ConfigError(f"no journal at {path}: the bot has not run in this mode")
    with Journal(path) as journal:
        run = journal.latest_run()
        if symbol is not None:
            symbol = _check_symbol(command, symbol, run)
        ahead = len(journal.pending_commands())
        in_force = journal.halts_in_force(_as_of(journal, mode, SystemClock().now()))
        command_id = journal.post_command(command, text, actor=actor, symbol=symbol)
    flatten_on_halt = run is None or run.config.get("flatten_on_halt", True) is not False
    return Posted(command_id, command, symbol, text, actor, ahead, in_force,
                  effect_of(command, in_force, flatten_on_halt=flatten_on_halt, symbol=symbol,
                            mode=mode),
                  str(path))


def wait_for_ack(path: Path, command_id: int, *, timeout_s: float,
                 poll_s: float = 0.25) -> Command | None:
    """The command once the loop has acked it, or None after ``timeout_s`` (still queued)."""
    deadline = time.monotonic() + timeout_s
    while True:
        with JournalReader(path) as reader:
            command = reader.command(command_id)
        if command is not None and command.acked_at is not None:
            return command
        if time.monotonic() >= deadline:
            return None
        time.sleep(poll_s)


def effect_of(kind: CommandKind, in_force: Sequence[HaltInForce], *, flatten_on_halt: bool,
              symbol: str | None = None, mode: str = RunMode.PAPER.value) -> str:
    """What the running bot does with ``kind``, in one sentence for the operator."""
    when = ("The running bot applies it within seconds (a stopped bot at its next start): ")
    if kind is CommandKind.PAUSE:
        return when + ("no new entries; open positions keep their stops and exits, until "
                       "`resume`.")
    if kind is CommandKind.HALT:
        positions = ("open positions are closed at the next open" if flatten_on_halt
                     else "open positions keep their stops and exits")
        return when + f"no new entries, {positions}, until `resume`."
    if kind is CommandKind.FLATTEN:
        what = f"the {symbol} position" if symbol else "every open position"
        how = ("with a market sell now, its stop cancelled first"
               if mode in (RunMode.LIVE.value, RunMode.TESTNET.value) else "at the next open")
        return when + f"{what} is closed {how}; entries stay allowed (pause first to stop them)."
    return when + _resume_effect(in_force)


def _resume_effect(in_force: Sequence[HaltInForce]) -> str:
    lifts = [h.kind for h in in_force if h.kind in ("drawdown", "manual", "pause")]
    stays = [h.kind for h in in_force if h.kind not in ("drawdown", "manual", "pause")]
    if lifts:
        what = "it lifts the " + " and the ".join(
            "pause" if k == "pause" else f"{k} halt" for k in lifts)
        if "drawdown" in lifts:
            what += " (the peak restarts at the current equity)"
    else:
        what = ("nothing resume lifts is in force now (a halt queued ahead of it would be); "
                "the bot records 'nothing to resume'")
    text = f"{what}."
    if stays:
        text += " Not lifted by resume: " + ", ".join(stays) + " (they end by themselves)."
    return text


def _check_symbol(kind: CommandKind, symbol: str, run: RunRow | None) -> str:
    if kind is not CommandKind.FLATTEN:
        raise ConfigError(f"{kind} takes no symbol; only flatten does")
    name = symbol.strip().upper()
    if not _SYMBOL.match(name):
        raise ConfigError(f"flatten: {symbol!r} is not a market like BTC/USDT")
    symbols = list((run.config.get("symbols") or []) if run is not None else [])
    if symbols and name not in symbols:
        raise ConfigError(f"flatten: {name} is not traded by this bot ({', '.join(symbols)})")
    return name


@dataclass(frozen=True, slots=True)
class DayPnl:
    """The account's result on one UTC day (by bar time), from the equity marks."""

    day: date
    start_equity: Decimal  # the last mark of the day before (the day's first on the first day)
    end_equity: Decimal
    pnl: Decimal
    pnl_pct: float
    marks: int


def daily(queries: JournalQueries, *, days: int = 14) -> list[DayPnl]:
    """P&L per UTC day for the last ``days`` days with marks, newest first."""
    rows = queries.equity_by_day(days + 1)
    out: list[DayPnl] = []
    for n, (day, first, last, count) in enumerate(rows[:days]):
        start = rows[n + 1][2] if n + 1 < len(rows) else first
        pct = float((last - start) / start) if start else 0.0
        out.append(DayPnl(day, start, last, last - start, pct, count))
    return out


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



def read_status(journal: Readable, *, mode: str, now: datetime, last: int) -> StatusView:
    """Read everything ``status`` shows; a replay is judged by its own simulated clock."""
    run = journal.latest_run()
    account = journal.latest_equity().get(TOTAL)
    simulated = mode == RunMode.REPLAY.value
    return StatusView(
        mode=mode, journal=str(journal.path), now=now, run=run, account=account,
        last_bars=_last_bars(journal, now=None if simulated else now, bar_s=_timeframe_s(run)),
        halts_in_force=journal.halts_in_force(_as_of(journal, mode, now)),
        positions=positions(journal),
        pending_commands=journal.pending_commands(),
        decisions=journal.recent_decisions(last), recent_halts=journal.recent_halts(10),
        evidence=dict(run.config.get("evidence") or {}) if run is not None else {},
        refused={r.symbol: r.reason for r in journal.refusals()},
    )



def _last_bars(journal: JournalQueries, *, now: datetime | None, bar_s: float | None,
               ) -> list[LastBar]:
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


def positions(journal: JournalQueries) -> list[OpenPosition]:
    # The stop resting for a position is its latest stop order that is not final yet.
    stops = {o.symbol: o.stop_price for o, _ in journal.unresolved_orders()
             if o.kind is OrderKind.STOP}
    return [OpenPosition(p.symbol, p.amount, p.entry_price, p.opened_at, stops.get(p.symbol))
            for p in journal.open_positions().values()]



def _timeframe_s(run: RunRow | None) -> float | None:
    match = re.fullmatch(r"(\d+)([smhdw])", str((run.config if run else {}).get("timeframe")))
    return None if match is None else int(match[1]) * _UNITS[match[2]]



def _as_of(journal: JournalQueries, mode: str, now: datetime) -> datetime:
    # A replay runs on a simulated clock: judge its cooldown by its last mark, not by today.
    account = journal.latest_equity().get(TOTAL)
    replay = mode == RunMode.REPLAY.value
    return account.at if replay and account is not None else now




def status_json(view: StatusView) -> dict[str, Any]:
    """``status --json``'s document (the dashboard's API serves the same)."""
    return view.to_json()


def json_value(value: object) -> str:
    """Exact JSON text: a Decimal as its own digits, never through float; times ISO 8601."""
    return value.isoformat() if isinstance(value, datetime) else str(value)
