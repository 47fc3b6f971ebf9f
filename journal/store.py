"""The SQLite journal: the bot's audit trail and the source of its state after a restart.

Every write is its own committed transaction unless it runs inside ``batch()``; a process
killed between two writes loses nothing already written, and a batch is all or nothing. Errors
propagate (as JournalError): a row is never dropped silently.

Operator commands: ``status``/``halt``/``resume`` run in another process and open the same file.
``halt`` and ``resume`` only append to ``commands``; the running loop is the only writer of the
risk state. Each step it reads ``pending_commands()``, applies each to its in-memory
RiskManager, and in one ``batch()`` saves the new risk state, writes the halt row and acks the
command. A command is consumed exactly once (one ack per id, enforced by a primary key); a crash
before that commit leaves it pending and it is applied again on restart, from the state saved
before it. A command posted while the bot is down waits for the next start.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from core.clock import Clock, SystemClock
from core.domain import Fill, Order, OrderUpdate
from core.secrets import Secret
from journal import codec, schema
from journal.errors import DuplicateClientIdError, JournalError, UnknownOrderError
from journal.records import (
    Action,
    Actor,
    Command,
    CommandKind,
    DecisionRecord,
    EquitySnapshot,
    HaltEventKind,
    RunMode,
)
from journal.transactions import JournalTransactions

if TYPE_CHECKING:  # signals and risk pull in pandas and numba: too slow for `status`
    from risk.state import RiskEvent
    from signals.scorer import Score


class Journal(JournalTransactions):
    """SQLite journal; implements core.ports.OrderJournal and core.ports.StateStore.

    One instance per process and thread (an sqlite3 connection is not shared across threads).
    Read-side queries for ``status`` and ``report`` come from JournalQueries; batches, state
    writes and commits from JournalTransactions.
    """

    def __init__(
        self,
        path: Path | str | None = None,
        *,
        clock: Clock | None = None,
        busy_timeout_s: float = 10.0,
        durable: bool = True,
        wall_clock: Clock | None = None,
    ) -> None:
        self._path = schema.default_journal_path() if path is None else Path(path)
        # Operator commands happen in the real world: they are posted and acked on the wall
        # clock, even in a replay whose other rows carry simulated time.
        self._wall: Clock = wall_clock if wall_clock is not None else SystemClock()
        db = schema.connect(self._path, busy_timeout_s=busy_timeout_s)
        super().__init__(db, clock if clock is not None else SystemClock())
        self.where = str(self._path)
        if not durable:
            # Replay only: in WAL mode NORMAL still survives a killed process (each commit is
            # in the WAL before COMMIT returns), it just skips the fsync per commit, so a power
            # cut may lose the last bars, which a replay simply runs again. Live keeps FULL.
            self._db.execute("PRAGMA synchronous = NORMAL")
            # Fewer, larger checkpoints: the state rows rewritten every bar are copied into the
            # file once per checkpoint, not once per bar. A kill leaves the WAL, which the next
            # open replays, so this changes speed only; a bigger page cache keeps the indexes.
            self._db.execute("PRAGMA wal_autocheckpoint = 20000")
            self._db.execute("PRAGMA cache_size = -65536")
        self._run_id: int | None = None

    @property
    def path(self) -> Path:
        """The journal file."""
        return self._path

    @property
    def run_id(self) -> int | None:
        """Id of the run this instance recorded, if any; later rows are tagged with it."""
        return self._run_id

    def close(self) -> None:
        """Close the connection (an unfinished batch is rolled back)."""
        self._db.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- runs, decisions, LLM calls, equity, halts -------------------------------------------

    def record_run(
        self,
        *,
        mode: RunMode | str,
        strategy_id: str,
        config: Mapping[str, Any],
        secrets: Sequence[Secret] = (),
        code_version: str = "",
        started_at: datetime | None = None,
    ) -> int:
        """Start a run: its mode, strategy and config snapshot (secrets redacted); its id."""
        snapshot = codec.redacted_snapshot(config, secrets)
        when = codec.time_text(started_at or self._clock.now())
        run_id = self._insert(
            "INSERT INTO runs (started_at, mode, strategy_id, code_version, config_json) "
            "VALUES (?, ?, ?, ?, ?)",
            (when, RunMode(mode).value, strategy_id, code_version, snapshot),
        )
        self._run_id = run_id
        return run_id

    def record_decision(self, decision: DecisionRecord) -> int:
        """Record one decision of the current run (record_run first); its row id."""
        if self._run_id is None:
            raise JournalError("record_run before recording decisions: every decision has a run")
        if decision.signal not in (-1, 0, 1) or isinstance(decision.signal, bool):
            raise ValueError(f"signal must be -1, 0 or 1, got {decision.signal!r}")
        score = decision.score
        return self._insert(
            "INSERT INTO decisions (run_id, recorded_at, symbol, bar_time, signal, action, "
            "conviction, suppress, score_source, fallback_reason, reasoning, approved, reason, "
            "size_fraction, notional, numbers_json) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                self._run_id, self._now(), decision.symbol, self._times.text(decision.bar_time),
                int(decision.signal), Action(decision.action).value,
                None if score is None else float(score.conviction),
                None if score is None else int(score.suppress),
                None if score is None else str(score.source),
                "" if score is None else score.fallback_reason,
                "" if score is None else score.reasoning,
                None if decision.approved is None else int(decision.approved),
                decision.reason,
                None if decision.size_fraction is None else float(decision.size_fraction),
                codec.optional_money_text(decision.notional),
                codec.numbers_text(decision.numbers),
            ),
        )

    def record_llm_call(
        self,
        score: Score,
        *,
        provider: str,
        model: str,
        symbol: str,
        bar_time: datetime | None = None,
        at: datetime | None = None,
    ) -> int:
        """Record one scorer answer's usage (latency, tokens, cost, fallback reason)."""
        return self._insert(
            "INSERT INTO llm_calls (run_id, at, symbol, bar_time, provider, model, source, "
            "latency_s, tokens_in, tokens_out, cost_usd, fallback_reason) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                self._run_id, self._now(at), symbol, codec.optional_time_text(bar_time),
                provider, model, str(score.source), float(score.latency_s),
                int(score.tokens_in), int(score.tokens_out), codec.money_text(score.cost_usd),
                score.fallback_reason,
            ),
        )

    def record_equity(self, snapshot: EquitySnapshot) -> int:
        """Record one equity mark (account total or one symbol)."""
        s = snapshot
        return self._insert(
            "INSERT INTO equity (run_id, at, bar_time, symbol, equity, cash, position_value, "
            "peak, drawdown, daily_pnl) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                self._run_id, self._times.text(s.at), self._times.optional(s.bar_time),
                s.symbol, codec.money_text(s.equity), codec.optional_money_text(s.cash),
                codec.optional_money_text(s.position_value), codec.optional_money_text(s.peak),
                None if s.drawdown is None else float(s.drawdown),
                codec.optional_money_text(s.daily_pnl),
            ),
        )

    def record_risk_event(self, event: RiskEvent, *, actor: Actor | None = None) -> int:
        """Record a RiskManager event; a RESUME is the operator's, anything else the bot's."""
        try:
            kind = HaltEventKind(str(event.kind))
        except ValueError as e:
            raise JournalError(f"risk event kind {event.kind!r} has no halt kind") from e
        who = actor or (Actor.OPERATOR if kind is HaltEventKind.RESUME else Actor.BOT)
        return self.record_halt(
            kind, event.reason, actor=who, at=event.at, equity=event.equity, peak=event.peak
        )

    def record_halt(
        self,
        kind: HaltEventKind | str,
        reason: str,
        *,
        actor: Actor | str,
        at: datetime | None = None,
        equity: codec.Money | None = None,
        peak: codec.Money | None = None,
    ) -> int:
        """Record a halt, resume or override with its reason (never blank)."""
        if not reason.strip():
            raise ValueError("a halt row needs a reason")
        return self._insert(
            "INSERT INTO halts (run_id, recorded_at, at, kind, reason, equity, peak, actor) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                self._run_id, self._now(), self._now(at), HaltEventKind(kind).value, reason,
                codec.optional_money_text(equity), codec.optional_money_text(peak),
                Actor(actor).value,
            ),
        )

    def record_refusal(self, symbol: str, reason: str) -> int:
        """Record that this run may not enter ``symbol``, and why (record_run first)."""
        if self._run_id is None:
            raise JournalError("record_run before recording a refusal: every refusal has a run")
        if not symbol or not reason.strip():
            raise ValueError("a refusal names its symbol and its reason")
        return self._insert(
            "INSERT INTO refusals (run_id, recorded_at, symbol, reason) VALUES (?, ?, ?, ?)",
            (self._run_id, self._now(), symbol, reason),
        )

    # --- orders and fills (core.ports.OrderJournal) ---------------------------------------------

    def record_order_intent(self, order: Order, *, simulated: bool = False) -> None:
        """Record an order before its request is sent; a repeated client id raises.

        ``simulated``: the order never leaves the process (paper), so its intent may join the
        bar's batch and commit with its fill. A real order's intent is refused inside a batch:
        it must be committed before the request is sent.
        """
        if self._depth and not simulated:
            raise JournalError(
                "record_order_intent inside a batch: the intent must be committed before the "
                "order is sent, so it cannot wait for the batch"
            )
        if not order.client_id:
            raise JournalError("an order without a client id could not be found after a restart")
        with self._write() as db:
            known = db.execute(
                "SELECT created_at, symbol, side FROM orders WHERE client_id = ?",
                (order.client_id,),
            ).fetchone()
            if known is not None:
                raise DuplicateClientIdError(
                    f"client order id {order.client_id!r} is already in the journal "
                    f"({known[2]} {known[1]} recorded {known[0]}); refusing to overwrite it"
                )
            db.execute(
                "INSERT INTO orders (client_id, run_id, created_at, symbol, side, kind, "
                "amount_usdt, amount_base, stop_loss_pct, stop_price, bar_time, reason) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    order.client_id, self._run_id, self._now(), order.symbol,
                    order.side.value, order.kind.value, codec.money_text(order.amount_usdt),
                    codec.optional_money_text(order.amount_base),
                    codec.money_text(order.stop_loss_pct),
                    codec.optional_money_text(order.stop_price),
                    codec.optional_time_text(order.bar_time), order.reason,
                ),
            )

    def record_order_update(self, update: OrderUpdate) -> None:
        """Record a status change of a known order (an unknown client id raises)."""
        with self._write() as db:
            self._known_order(update.client_id)
            db.execute(
                "INSERT INTO order_updates (client_id, recorded_at, at, status, exchange_id, "
                "filled, avg_price, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    update.client_id, self._now(), codec.time_text(update.at),
                    update.status.value, update.exchange_id, codec.money_text(update.filled),
                    codec.optional_money_text(update.avg_price), update.detail,
                ),
            )

    def record_fill(self, fill: Fill) -> None:
        """Record one fill of a known order; a symbol or side unlike the order's raises."""
        with self._write() as db:
            symbol, side = self._known_order(fill.client_id)
            if (symbol, side) != (fill.symbol, fill.side.value):
                raise JournalError(
                    f"fill of {fill.client_id!r} is {fill.side.value} {fill.symbol}, "
                    f"but the order is {side} {symbol}"
                )
            cursor = db.execute(
                "INSERT INTO fills (client_id, recorded_at, at, symbol, side, kind, amount, "
                "price, fee, fee_asset, exchange_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    fill.client_id, self._now(), codec.time_text(fill.at), fill.symbol,
                    fill.side.value, fill.kind.value, codec.money_text(fill.amount),
                    codec.money_text(fill.price), codec.money_text(fill.fee), fill.fee_asset,
                    fill.exchange_id,
                ),
            )
            if cursor.lastrowid is not None:
                self._memo.fill_inserted(cursor.lastrowid)

    def fills_since(self, fill_id: int) -> list[tuple[int, Fill]]:
        """Fills recorded after row ``fill_id``; no query when this bot wrote none since."""
        if self._memo.no_fills_after(fill_id):
            return []
        found = super().fills_since(fill_id)
        self._memo.fills_seen(found[-1][0] if found else fill_id)
        return found

    # --- operator commands ------------------------------------------------------------------

    def post_command(
        self, kind: CommandKind | str, reason: str, *, actor: str = "operator",
        at: datetime | None = None, symbol: str | None = None,
    ) -> int:
        """Queue an operator command for the running loop; its command id. ``symbol`` only
        with flatten (None: every position)."""
        if not reason.strip():
            raise ValueError(f"{kind} needs a non-empty reason for the journal")
        kind = CommandKind(kind)
        if symbol is not None and kind is not CommandKind.FLATTEN:
            raise ValueError(f"{kind} takes no symbol; only flatten does")
        return self._insert(
            "INSERT INTO commands (posted_at, kind, reason, actor, symbol) "
            "VALUES (?, ?, ?, ?, ?)",
            (codec.time_text(at or self._wall.now()), kind.value, reason.strip(), actor,
             symbol),
        )

    def record_denial(self, channel: str, who: str, what: str, *,
                      at: datetime | None = None) -> int:
        """Record a refused request (never its credentials); its id."""
        return self._insert(
            "INSERT INTO access_denials (at, channel, who, what) VALUES (?, ?, ?, ?)",
            (codec.time_text(at or self._wall.now()), channel, who, what[:200]),
        )

    def ack_command(
        self, command: Command | int, result: str, *, at: datetime | None = None
    ) -> None:
        """Mark a command consumed, with what it did; a second ack of the same id raises."""
        command_id = command.id if isinstance(command, Command) else command
        with self._write() as db:
            row = db.execute(
                "SELECT c.id, a.acked_at FROM commands c "
                "LEFT JOIN command_acks a ON a.command_id = c.id WHERE c.id = ?",
                (command_id,),
            ).fetchone()
            if row is None:
                raise JournalError(f"no operator command {command_id}")
            if row[1] is not None:
                raise JournalError(f"operator command {command_id} was already acked at {row[1]}")
            db.execute(
                "INSERT INTO command_acks (command_id, run_id, acked_at, result) "
                "VALUES (?, ?, ?, ?)",
                (command_id, self._run_id, codec.time_text(at or self._wall.now()), result),
            )

    # --- plumbing -----------------------------------------------------------------------------

    def _known_order(self, client_id: str) -> tuple[str, str]:
        row = self._db.execute(
            "SELECT symbol, side FROM orders WHERE client_id = ?", (client_id,)
        ).fetchone()
        if row is None:
            raise UnknownOrderError(
                f"client order id {client_id!r} has no recorded intent; record_order_intent first"
            )
        return str(row[0]), str(row[1])
