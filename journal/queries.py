"""Read side of the journal: what ``status`` and ``report`` show, and what a restart reloads.

Reads never take the write lock (WAL), so the operator's commands can read while the bot runs.
Amounts come back as exact Decimals, times as aware UTC datetimes.
"""

from __future__ import annotations

import csv
import sqlite3
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Final, TextIO

from core.domain import Fill, Order, OrderKind, OrderStatus, OrderUpdate, Side
from journal import codec
from journal.records import (
    RISK_STATE_KEY,
    TOTAL,
    AccessDenial,
    Action,
    Actor,
    Command,
    CommandKind,
    DecisionRow,
    EquityRow,
    HaltEventKind,
    HaltInForce,
    HaltRow,
    Position,
    RefusalRow,
    RunMode,
    RunRow,
    Trade,
)
from journal.trades import Ledger, build_ledger, quote_flow

CSV_COLUMNS: Final = (
    "time_utc", "symbol", "side", "kind", "amount", "price", "notional", "fee", "fee_asset",
    "client_id", "exchange_id", "trade_no", "realised_pnl", "pnl_asset",
)
_FINAL: Final = tuple(s.value for s in OrderStatus if s.final)
_ORDER_COLUMNS: Final = (
    "o.client_id, o.symbol, o.side, o.kind, o.amount_usdt, o.amount_base, o.stop_loss_pct, "
    "o.stop_price, o.bar_time, o.reason"
)
_FILL_COLUMNS: Final = (
    "client_id, symbol, side, amount, price, fee, fee_asset, at, exchange_id, kind"
)


class JournalQueries:
    """Queries over an open journal connection (the Journal class adds the writes)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def schema_version(self) -> int:
        """The file's schema version."""
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def journal_mode(self) -> str:
        """SQLite's journal mode for this file (``wal``)."""
        return str(self._db.execute("PRAGMA journal_mode").fetchone()[0])

    def load_state(self, key: str) -> dict[str, Any] | None:
        """The state stored under ``key``, or None if none was saved."""
        row = self._db.execute("SELECT value_json FROM state WHERE key = ?", (key,)).fetchone()
        return None if row is None else codec.parse_json_object(row[0], f"state {key!r}")

    def state_keys(self) -> dict[str, datetime]:
        """Every saved state's key and when it was last saved."""
        rows = self._db.execute("SELECT key, updated_at FROM state ORDER BY key").fetchall()
        return {str(k): codec.parse_time(t) for k, t in rows}

    def latest_run(self) -> RunRow | None:
        """The most recently started run."""
        row = self._db.execute(
            "SELECT id, started_at, mode, strategy_id, code_version, config_json "
            "FROM runs ORDER BY id DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        return RunRow(
            row[0], codec.parse_time(row[1]), RunMode(row[2]), row[3], row[4],
            codec.parse_json_object(row[5], "run config"),
        )

    def decision_span(
        self, *, mode: str, strategy_id: str, symbol: str, timeframe: str
    ) -> tuple[datetime, datetime] | None:
        """First and last ``symbol`` bar decided by runs of this mode, id and timeframe, or None."""
        # The id hashes neither symbol nor timeframe: the timeframe is in the run's settings.
        row = self._db.execute(
            "SELECT min(d.bar_time), max(d.bar_time) FROM decisions d "
            "JOIN runs r ON r.id = d.run_id WHERE r.mode = ? AND r.strategy_id = ? "
            "AND d.symbol = ? AND json_extract(r.config_json, '$.timeframe') = ?",
            (mode, strategy_id, symbol, timeframe),
        ).fetchone()
        if row is None or row[0] is None:
            return None
        return codec.parse_time(row[0]), codec.parse_time(row[1])

    def risk_state(self) -> dict[str, Any] | None:
        """The saved RiskManager state (``RiskManager.from_dict`` takes it)."""
        return self.load_state(RISK_STATE_KEY)

    def latest_equity(self) -> dict[str, EquityRow]:
        """The latest equity row per symbol (TOTAL = ``*`` for the whole account)."""
        rows = self._db.execute(
            "SELECT id, at, bar_time, symbol, equity, cash, position_value, peak, drawdown, "
            "daily_pnl FROM equity WHERE id IN (SELECT max(id) FROM equity GROUP BY symbol) "
            "ORDER BY symbol"
        ).fetchall()
        return {str(r[3]): _equity_row(r) for r in rows}

    def equity_curve(self, symbol: str = TOTAL) -> list[EquityRow]:
        """Every equity row of ``symbol`` (default: the account total), oldest first."""
        rows = self._db.execute(
            "SELECT id, at, bar_time, symbol, equity, cash, position_value, peak, drawdown, "
            "daily_pnl FROM equity WHERE symbol = ? ORDER BY id",
            (symbol,),
        ).fetchall()
        return [_equity_row(r) for r in rows]

    def equity_by_day(self, limit: int) -> list[tuple[date, Decimal, Decimal, int]]:
        """Per UTC day of the account's marks (by bar time), newest first: the day, its first
        and last equity, and how many marks."""
        rows = self._db.execute(
            "SELECT day, (SELECT equity FROM equity WHERE id = first_id), "
            "(SELECT equity FROM equity WHERE id = last_id), marks FROM ("
            " SELECT substr(coalesce(bar_time, at), 1, 10) AS day, min(id) AS first_id,"
            " max(id) AS last_id, count(*) AS marks FROM equity WHERE symbol = ?"
            " GROUP BY day ORDER BY day DESC LIMIT ?) ORDER BY day DESC",
            (TOTAL, limit),
        ).fetchall()
        return [(date.fromisoformat(r[0]), Decimal(r[1]), Decimal(r[2]), int(r[3]))
                for r in rows]

    def recent_decisions(self, limit: int = 20, symbol: str | None = None) -> list[DecisionRow]:
        """The latest decisions, newest first, optionally of one symbol."""
        rows = self._db.execute(
            "SELECT id, run_id, recorded_at, symbol, bar_time, signal, action, conviction, "
            "suppress, score_source, fallback_reason, reasoning, approved, reason, "
            "size_fraction, notional, numbers_json FROM decisions "
            "WHERE ? IS NULL OR symbol = ? "
            "ORDER BY id DESC LIMIT ?",
            (symbol, symbol, limit),
        ).fetchall()
        return [_decision_row(r) for r in rows]

    def find_order(self, client_id: str) -> Order | None:
        """The recorded intent of ``client_id``, or None."""
        row = self._db.execute(
            f"SELECT {_ORDER_COLUMNS} FROM orders o WHERE o.client_id = ?",  # noqa: S608 - constant
            (client_id,),
        ).fetchone()
        return None if row is None else _order(row)

    def has_order(self, symbol: str, bar_time: datetime, kind: OrderKind) -> bool:
        """True if an order of ``kind`` decided on ``bar_time`` in ``symbol`` was recorded."""
        row = self._db.execute(
            "SELECT 1 FROM orders WHERE symbol = ? AND bar_time = ? AND kind = ? LIMIT 1",
            (symbol, codec.time_text(bar_time), kind.value)).fetchone()
        return row is not None

    def order_status(self, client_id: str) -> OrderStatus | None:
        """The latest status of ``client_id`` (INTENT before any update; None if unknown)."""
        row = self._db.execute(
            "SELECT (SELECT status FROM order_updates WHERE client_id = o.client_id "
            "ORDER BY id DESC LIMIT 1) FROM orders o WHERE o.client_id = ?", (client_id,),
        ).fetchone()
        if row is None:
            return None
        return OrderStatus.INTENT if row[0] is None else OrderStatus(row[0])

    def unresolved_orders(self) -> list[tuple[Order, OrderUpdate | None]]:
        """Orders whose latest status is not final, with that latest update (None: intent)."""
        # "Latest" is the last one recorded, not the largest `at`: exchange and local clocks differ.
        marks = ", ".join("?" for _ in _FINAL)
        rows = self._db.execute(
            f"SELECT {_ORDER_COLUMNS}, u.status, u.at, u.exchange_id, u.filled, "  # noqa: S608
            "u.avg_price, u.detail FROM orders o LEFT JOIN order_updates u ON u.id = "
            "(SELECT max(id) FROM order_updates WHERE client_id = o.client_id) "
            f"WHERE u.id IS NULL OR u.status NOT IN ({marks}) ORDER BY o.id",
            _FINAL,
        ).fetchall()
        return [(_order(r[:10]), _update(r[0], r[10:])) for r in rows]

    def fills(self, symbol: str | None = None) -> list[Fill]:
        """Every fill (of one symbol or all) in the order it happened."""
        rows = self._db.execute(
            f"SELECT {_FILL_COLUMNS} FROM fills "  # noqa: S608 - constant column list
            "WHERE ? IS NULL OR symbol = ? ORDER BY at, id",
            (symbol, symbol),
        ).fetchall()
        return [_fill(r) for r in rows]

    def fills_since(self, fill_id: int) -> list[tuple[int, Fill]]:
        """Fills recorded after row ``fill_id``, with their row ids, in the order recorded."""
        rows = self._db.execute(
            f"SELECT id, {_FILL_COLUMNS} FROM fills WHERE id > ? ORDER BY id",  # noqa: S608
            (fill_id,),
        ).fetchall()
        return [(int(r[0]), _fill(r[1:])) for r in rows]

    def last_fill_id(self) -> int:
        """The row id of the last fill recorded (0 when there is none)."""
        row = self._db.execute("SELECT max(id) FROM fills").fetchone()
        return int(row[0] or 0)

    def quote_flow(self, quote: str) -> Decimal:
        """Sales minus purchases minus fees paid in ``quote``, over every fill of ``*/quote``."""
        return quote_flow(self.fills(), quote)

    def fills_for(self, client_id: str) -> list[Fill]:
        """The fills already recorded for one order (to reconcile without doubling them)."""
        rows = self._db.execute(
            f"SELECT {_FILL_COLUMNS} FROM fills WHERE client_id = ? ORDER BY id",  # noqa: S608
            (client_id,),
        ).fetchall()
        return [_fill(r) for r in rows]

    def ledger(self, *, dust: Decimal | None = None) -> Ledger:
        """Trades, per-fill P&L lines and open positions from every fill.

        A trade closes once what is left of it is dust: by default below each market's bound
        as the live broker saved it (its lot step or minimum amount), else exactly flat.
        """
        return build_ledger(self.fills(), dust=self.dust_bounds() if dust is None else dust)

    def dust_bounds(self) -> dict[str, Decimal]:
        """Per symbol, the base amount below which nothing can be sold (saved at start)."""
        rows = self._db.execute(
            "SELECT key, json_extract(value_json, '$.dust_bound') FROM state "
            "WHERE key LIKE 'market:%'").fetchall()
        return {str(k).removeprefix("market:"): Decimal(v) for k, v in rows if v is not None}

    def trades(self, *, dust: Decimal | None = None) -> list[Trade]:
        """Round trips in opening order; the last of a symbol may still be open (pnl None)."""
        return self.ledger(dust=dust).trades

    def open_positions(self, *, dust: Decimal | None = None) -> dict[str, Position]:
        """Net position per symbol from the fills (entries minus exits), flat ones left out."""
        return self.ledger(dust=dust).positions

    def export_csv(self, out: Path | str | TextIO, *, dust: Decimal | None = None) -> int:
        """Write one CSV row per fill (UTC, exact amounts, P&L on trade-closing fills); rows."""
        if isinstance(out, Path | str):
            with Path(out).open("w", newline="", encoding="utf-8") as handle:
                return self.export_csv(handle, dust=dust)
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        lines = self.ledger(dust=dust).lines
        for line in lines:
            f = line.fill
            writer.writerow((
                codec.time_text(f.at), f.symbol, f.side.value, f.kind.value,
                codec.money_text(f.amount), codec.money_text(f.price),
                codec.money_text(f.amount * f.price), codec.money_text(f.fee), f.fee_asset,
                f.client_id, f.exchange_id, line.trade_number,
                "" if line.realised_pnl is None else codec.money_text(line.realised_pnl),
                line.quote,
            ))
        return len(lines)

    def recent_halts(self, limit: int = 20) -> list[HaltRow]:
        """The latest halt, resume and override rows, newest first."""
        rows = self._db.execute(
            "SELECT id, at, kind, reason, equity, peak, actor FROM halts "
            "ORDER BY id DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [_halt_row(r) for r in rows]

    def refusals(self, run_id: int | None = None) -> list[RefusalRow]:
        """The markets run ``run_id`` (None: the latest run) may not enter, oldest first."""
        rows = self._db.execute(
            "SELECT id, run_id, recorded_at, symbol, reason FROM refusals "
            "WHERE run_id = coalesce(?, (SELECT max(id) FROM runs)) ORDER BY id",
            (run_id,),
        ).fetchall()
        return [RefusalRow(r[0], r[1], codec.parse_time(r[2]), r[3], r[4]) for r in rows]

    def manual_halt(self) -> HaltRow | None:
        """The operator's halt in force (a manual_halt not followed by a manual_resume)."""
        row = self._last_halt((HaltEventKind.MANUAL_HALT, HaltEventKind.MANUAL_RESUME))
        return row if row is not None and row.kind is HaltEventKind.MANUAL_HALT else None

    def manual_pause(self) -> HaltRow | None:
        """The operator's pause in force (a manual_pause not followed by a manual_resume)."""
        row = self._last_halt((HaltEventKind.MANUAL_PAUSE, HaltEventKind.MANUAL_RESUME))
        return row if row is not None and row.kind is HaltEventKind.MANUAL_PAUSE else None

    def access_denials(self, limit: int = 20) -> list[AccessDenial]:
        """The latest refused requests, newest first."""
        rows = self._db.execute(
            "SELECT id, at, channel, who, what FROM access_denials ORDER BY id DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [AccessDenial(r[0], codec.parse_time(r[1]), r[2], r[3], r[4]) for r in rows]

    def command(self, command_id: int) -> Command | None:
        """One operator command with its ack, if any."""
        found = self._commands("WHERE c.id = ?", (command_id,))
        return found[0] if found else None

    def halts_in_force(self, now: datetime) -> list[HaltInForce]:
        """Kill switches blocking entries at ``now``: the saved risk state plus a manual halt."""
        risk = self.risk_state() or {}
        found: list[HaltInForce] = []
        if risk.get("drawdown_latched") is True:
            found.append(self._in_force("drawdown", risk.get("drawdown_reason", ""),
                                        HaltEventKind.DRAWDOWN_LATCH))
        if risk.get("daily_paused") is True:
            found.append(self._in_force("daily", risk.get("daily_reason", ""),
                                        HaltEventKind.DAILY_PAUSE))
        until = risk.get("cooldown_until")
        if isinstance(until, str) and codec.parse_time(until) > now:
            start = self._last_halt((HaltEventKind.COOLDOWN_START,))
            reason = f"no entries until {until}" if start is None else start.reason
            found.append(HaltInForce("cooldown", reason, None if start is None else start.at))
        manual = self.manual_halt()
        if manual is not None:
            found.append(HaltInForce("manual", manual.reason, manual.at))
        pause = self.manual_pause()
        if pause is not None:
            found.append(HaltInForce("pause", pause.reason, pause.at))
        return found

    def pending_commands(self) -> list[Command]:
        """Operator commands not yet acked, oldest first: the loop applies them in this order."""
        return self._commands("WHERE a.command_id IS NULL ORDER BY c.id", ())

    def recent_commands(self, limit: int = 20) -> list[Command]:
        """The latest operator commands with their acks, newest first."""
        return self._commands("ORDER BY c.id DESC LIMIT ?", (limit,))

    def _commands(self, tail: str, params: tuple[object, ...]) -> list[Command]:
        rows = self._db.execute(
            "SELECT c.id, c.posted_at, c.kind, c.reason, c.actor, a.acked_at, a.result, "
            "c.symbol "
            "FROM commands c LEFT JOIN command_acks a ON a.command_id = c.id " + tail,
            params,
        ).fetchall()
        return [
            Command(r[0], codec.parse_time(r[1]), CommandKind(r[2]), r[3], r[4],
                    codec.parse_optional_time(r[5]), r[6] or "", r[7])
            for r in rows
        ]

    def _last_halt(self, kinds: tuple[HaltEventKind, ...]) -> HaltRow | None:
        marks = ", ".join("?" for _ in kinds)
        row = self._db.execute(
            "SELECT id, at, kind, reason, equity, peak, actor FROM halts "  # noqa: S608
            f"WHERE kind IN ({marks}) ORDER BY id DESC LIMIT 1",
            tuple(k.value for k in kinds),
        ).fetchone()
        return None if row is None else _halt_row(row)

    def _in_force(self, kind: str, reason: object, event: HaltEventKind) -> HaltInForce:
        row = self._last_halt((event,))
        return HaltInForce(kind, str(reason), None if row is None else row.at)

    # -- read-only views for the dashboard ---------------------------------------------------
    def equity_sampled(
        self, points: int, symbol: str = TOTAL,
    ) -> tuple[int, list[tuple[datetime, Decimal, float, float, float | None]]]:
        """How many equity marks ``symbol`` has, and at most ``points`` buckets of them, oldest
        first: per bucket its last mark's time (bar time, else recorded) and exact equity, the
        bucket's lowest and highest equity and its worst drawdown (so no dip is sampled away).
        SQLite does the work: a long journal never comes through Python row by row."""
        marks = int(self._db.execute(
            "SELECT count(*) FROM equity WHERE symbol = ?", (symbol,)).fetchone()[0])
        step = max(1, -(-marks // max(1, points)))
        rows = self._db.execute(
            "SELECT coalesce(e.bar_time, e.at), e.equity, b.low, b.high, b.worst FROM ("
            " SELECT max(id) AS last_id, min(CAST(equity AS REAL)) AS low,"
            " max(CAST(equity AS REAL)) AS high, max(drawdown) AS worst FROM ("
            "  SELECT id, equity, drawdown, (row_number() OVER (ORDER BY id) - 1) / ? AS bucket"
            "  FROM equity WHERE symbol = ?) GROUP BY bucket"
            ") b JOIN equity e ON e.id = b.last_id ORDER BY e.id",
            (step, symbol),
        ).fetchall()
        return marks, [(codec.parse_time(r[0]), codec.parse_money(r[1]), float(r[2]),
                        float(r[3]), None if r[4] is None else float(r[4])) for r in rows]

    def recent_llm_calls(self, limit: int = 50) -> list[tuple[Any, ...]]:
        """The latest scorer calls, newest first, each as (id, at, symbol, bar_time, provider,
        model, source, latency_s, tokens_in, tokens_out, cost_usd, fallback_reason), the cost
        an exact Decimal."""
        rows = self._db.execute(
            "SELECT id, at, symbol, bar_time, provider, model, source, latency_s, tokens_in, "
            "tokens_out, cost_usd, fallback_reason FROM llm_calls ORDER BY id DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [(r[0], codec.parse_time(r[1]), r[2], codec.parse_optional_time(r[3]), r[4],
                 r[5], r[6], float(r[7]), int(r[8]), int(r[9]), codec.parse_money(r[10]), r[11])
                for r in rows]

    def llm_cost_by_day(self, days: int) -> list[tuple[date, int, int, int, Decimal]]:
        """Per UTC day of the scorer calls (by when they were made), newest first: the day,
        calls, tokens in, tokens out and the exact cost in USD."""
        rows = self._db.execute(
            "SELECT substr(at, 1, 10) AS day, count(*), sum(tokens_in), sum(tokens_out), "
            "group_concat(cost_usd, ' ') FROM llm_calls GROUP BY day ORDER BY day DESC "
            "LIMIT ?",
            (days,),
        ).fetchall()
        return [(date.fromisoformat(r[0]), int(r[1]), int(r[2]), int(r[3]),
                 sum((codec.parse_money(c) for c in str(r[4]).split()), Decimal(0)))
                for r in rows]


def _order(r: tuple[Any, ...]) -> Order:
    return Order(
        symbol=r[1], side=Side(r[2]), amount_usdt=codec.parse_money(r[4]),
        stop_loss_pct=codec.parse_money(r[6]), client_id=r[0], kind=OrderKind(r[3]),
        amount_base=codec.parse_optional_money(r[5]),
        stop_price=codec.parse_optional_money(r[7]),
        bar_time=codec.parse_optional_time(r[8]), reason=r[9],
    )


def _update(client_id: str, r: tuple[Any, ...]) -> OrderUpdate | None:
    if r[0] is None:
        return None
    return OrderUpdate(
        client_id=client_id, status=OrderStatus(r[0]), at=codec.parse_time(r[1]),
        exchange_id=r[2], filled=codec.parse_money(r[3]),
        avg_price=codec.parse_optional_money(r[4]), detail=r[5],
    )


def _fill(r: tuple[Any, ...]) -> Fill:
    return Fill(
        client_id=r[0], symbol=r[1], side=Side(r[2]), amount=codec.parse_money(r[3]),
        price=codec.parse_money(r[4]), fee=codec.parse_money(r[5]), fee_asset=r[6],
        at=codec.parse_time(r[7]), exchange_id=r[8], kind=OrderKind(r[9]),
    )


def _equity_row(r: tuple[Any, ...]) -> EquityRow:
    return EquityRow(
        r[0], codec.parse_time(r[1]), codec.parse_optional_time(r[2]), r[3],
        codec.parse_money(r[4]), codec.parse_optional_money(r[5]),
        codec.parse_optional_money(r[6]), codec.parse_optional_money(r[7]), r[8],
        codec.parse_optional_money(r[9]),
    )


def _decision_row(r: tuple[Any, ...]) -> DecisionRow:
    return DecisionRow(
        r[0], r[1], codec.parse_time(r[2]), r[3], codec.parse_time(r[4]), r[5], Action(r[6]),
        r[7], None if r[8] is None else bool(r[8]), r[9], r[10], r[11],
        None if r[12] is None else bool(r[12]), r[13], r[14], codec.parse_optional_money(r[15]),
        codec.parse_numbers(r[16]),
    )


def _halt_row(r: tuple[Any, ...]) -> HaltRow:
    return HaltRow(
        r[0], codec.parse_time(r[1]), HaltEventKind(r[2]), r[3],
        codec.parse_optional_money(r[4]), codec.parse_optional_money(r[5]), Actor(r[6]),
    )
