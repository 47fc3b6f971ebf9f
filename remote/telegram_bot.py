"""The Telegram command handlers: who is obeyed, what each command reads or queues, and the
Confirm / Cancel buttons of /resume and /flatten.

Every journal read and write runs in a worker thread (``asyncio.to_thread``), so the listener's
event loop keeps answering while SQLite waits. A command is a row in the journal's queue
(trading/control.py); the running loop applies it, and the answer is its ack, or "queued".
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import datetime
from html import escape
from pathlib import Path
from typing import Any, Final

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.ext import (
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    TypeHandler,
)

from core.clock import SystemClock
from core.errors import ConfigError
from core.secrets import redact
from journal import Command, CommandKind, Journal
from journal.reader import JournalReader
from remote import telegram_text as text
from remote.telegram_access import CommandSettings, DenialLimiter
from trading import control

log = logging.getLogger(__name__)

_Handler = Callable[[Update, Any], Coroutine[Any, Any, None]]
_ACK_POLL_S: Final = 0.2
_REPORT_TRADES: Final = 8
_CONFIRM, _CANCEL = "ok", "no"


@dataclass(frozen=True, slots=True)
class _Pending:
    kind: CommandKind
    reason: str
    symbol: str | None
    chat_id: int
    user_id: int
    expires_at: float


class CommandBot:
    """The handlers of one listener; they share its pending confirmations and rate limits."""

    def __init__(self, settings: CommandSettings, *, mode: str, journal_path: Path,
                 closing: threading.Event) -> None:
        self._s, self._mode, self._path, self._closing = settings, str(mode), journal_path, closing
        self._pending: dict[str, _Pending] = {}
        self._denials = DenialLimiter()

    def register(self, app: Any) -> None:
        """Add the gate, the commands, the buttons and the error handler to ``app``."""
        app.add_handler(TypeHandler(Update, self._gate), group=-1)
        commands: Mapping[str, _Handler] = {
            "status": self._status, "positions": self._positions, "daily": self._daily,
            "report": self._report, "help": self._help, "start": self._help,
            "pause": self._queue, "halt": self._queue, "resume": self._ask,
            "flatten": self._ask,
        }
        for name, handler in commands.items():
            app.add_handler(CommandHandler(name, handler))
        app.add_handler(CallbackQueryHandler(self._tap))
        app.add_error_handler(self._on_error)

    # --- who is obeyed ----------------------------------------------------------------------

    def _obeys(self, update: Update) -> bool:
        chat, user = update.effective_chat, update.effective_user
        return (chat is not None and user is not None and chat.id in self._s.allowed
                and user.id in self._s.allowed)

    async def _gate(self, update: Update, context: Any) -> None:
        if self._obeys(update):
            return
        try:  # whatever fails here, the update must still go no further
            chat, user = update.effective_chat, update.effective_user
            chat_id = chat.id if chat is not None else 0
            if self._denials.allow(chat_id):
                who = f"chat {chat_id} user {user.id if user is not None else '-'}"
                await asyncio.to_thread(self._record_denial, who, _asked(update))
        except Exception as e:
            log.warning("Telegram: could not record a refused request: %s: %s",
                        type(e).__name__, self._redact(str(e)))
        raise ApplicationHandlerStop

    def _record_denial(self, who: str, what: str) -> None:
        if not self._path.is_file():  # never create a journal for a stranger
            return
        with Journal(self._path) as journal:
            journal.record_denial("telegram", who, what)

    # --- views ------------------------------------------------------------------------------

    async def _status(self, update: Update, context: Any) -> None:
        def read() -> str:
            with JournalReader(self._path) as reader:
                view = control.read_status(reader, mode=self._mode, now=_now(), last=0)
            return text.status_text(view)

        await self._answer_read(update, read)

    async def _positions(self, update: Update, context: Any) -> None:
        def read() -> str:
            with JournalReader(self._path) as reader:
                return text.positions_text(control.positions(reader))

        await self._answer_read(update, read)

    async def _daily(self, update: Update, context: Any) -> None:
        def read() -> str:
            with JournalReader(self._path) as reader:
                return text.daily_text(control.daily(reader, days=14))

        await self._answer_read(update, read)

    async def _report(self, update: Update, context: Any) -> None:
        await self._answer_read(update, self._read_report)

    def _read_report(self) -> str:
        from trading.operator_report import MAX_HALT_ROWS, exit_reasons, report_blocks

        with JournalReader(self._path) as reader:
            trades = reader.trades()
            shown = trades[-_REPORT_TRADES:]
            # exit_reasons only calls find_order, which the read-only reader has too.
            reasons = exit_reasons(reader, shown)
            halts = reader.recent_halts(MAX_HALT_ROWS)
        blocks = report_blocks(trades, last=0, where=self._mode, exits=reasons, halts=halts)
        # Its headline lines (trades, P&L per currency, halts) without the wide tables.
        summary = [b for b in blocks[1:] if isinstance(b, str)]
        return text.report_text(summary, shown, reasons)

    async def _help(self, update: Update, context: Any) -> None:
        if self._obeys(update):
            await self._say(update, text.help_text())

    async def _answer_read(self, update: Update, read: Callable[[], str]) -> None:
        if not self._obeys(update):
            return
        try:
            answer = await asyncio.to_thread(read)
        except ConfigError as e:
            answer = _one_line(str(e))
        await self._say(update, answer)

    # --- commands ---------------------------------------------------------------------------

    async def _queue(self, update: Update, context: Any) -> None:
        """/pause and /halt: queued at once (they only make the bot more careful)."""
        parsed = self._parse(update)
        if isinstance(parsed, str):
            await self._say(update, parsed)
        elif parsed is not None:
            kind, symbol, reason, user_id = parsed
            await self._say(update, await self._post(kind, reason, symbol=symbol,
                                                     user_id=user_id))

    async def _ask(self, update: Update, context: Any) -> None:
        """/resume and /flatten: what it would do, under Confirm / Cancel buttons."""
        parsed, chat = self._parse(update), update.effective_chat
        if isinstance(parsed, str):
            await self._say(update, parsed)
        if parsed is None or isinstance(parsed, str) or chat is None:
            return
        kind, symbol, reason, user_id = parsed
        try:
            effect = await asyncio.to_thread(self._effect, kind, symbol)
        except ConfigError as e:
            await self._say(update, _one_line(str(e)))
            return
        now = time.monotonic()
        self._pending = {k: p for k, p in self._pending.items() if p.expires_at > now}
        token = secrets.token_urlsafe(9)
        self._pending[token] = _Pending(kind, reason, symbol, chat.id, user_id,
                                        now + self._s.confirm_s)
        buttons = InlineKeyboardMarkup([[
            InlineKeyboardButton("Confirm", callback_data=f"{_CONFIRM}:{token}"),
            InlineKeyboardButton("Cancel", callback_data=f"{_CANCEL}:{token}")]])
        question = text.confirm_text(kind, reason, effect, symbol=symbol,
                                     expires_s=self._s.confirm_s)
        await self._say(update, question, buttons=buttons)

    def _effect(self, kind: CommandKind, symbol: str | None) -> str:
        with JournalReader(self._path) as reader:
            view = control.read_status(reader, mode=self._mode, now=_now(), last=0)
        run_symbols = (view.run.config.get("symbols") or []) if view.run else []
        if symbol is not None and run_symbols and symbol not in run_symbols:
            raise ConfigError(f"flatten: {symbol} is not traded by this bot "
                              f"({', '.join(run_symbols)}); nothing queued")
        flatten_on_halt = view.run is None or view.run.config.get("flatten_on_halt") is not False
        return control.effect_of(kind, view.halts_in_force, flatten_on_halt=flatten_on_halt,
                                 symbol=symbol, mode=self._mode)

    async def _tap(self, update: Update, context: Any) -> None:
        query, user = update.callback_query, update.effective_user
        if query is None or user is None or not self._obeys(update):
            return
        action, _, token = (query.data or "").partition(":")
        pending, now = self._pending.get(token), time.monotonic()
        chat_id = update.effective_chat.id if update.effective_chat else None
        if pending is not None and pending.expires_at <= now:
            del self._pending[token]
            pending = None
        if pending is None or (pending.user_id, pending.chat_id) != (user.id, chat_id):
            # Expired, already answered, from a previous run, or another user's question.
            await query.answer("expired")
            return
        del self._pending[token]  # before any await: a second tap finds nothing to confirm
        if action != _CONFIRM:
            await query.answer("cancelled")
            await query.edit_message_text(f"{pending.kind} cancelled; nothing queued")
            return
        await query.answer("confirmed")
        answer = await self._post(pending.kind, pending.reason, symbol=pending.symbol,
                                  user_id=user.id)
        await query.edit_message_text(answer, parse_mode=ParseMode.HTML)

    def _parse(self, update: Update) -> tuple[CommandKind, str | None, str, int] | str | None:
        """The command, its symbol (flatten), reason and sender; its usage line when the
        reason is missing; None when it is not obeyed."""
        message, user = update.effective_message, update.effective_user
        if not self._obeys(update) or message is None or user is None or not message.text:
            return None
        head, _, rest = message.text.strip().partition(" ")
        kind = CommandKind(head.lstrip("/").split("@")[0].lower())
        symbol: str | None = None
        first, _, after = rest.strip().partition(" ")
        if kind is CommandKind.FLATTEN and "/" in first:  # a market: BTC/USDT
            symbol, rest = first.upper(), after
        if not rest.strip():
            return text.usage(kind)
        return kind, symbol, rest.strip(), user.id

    async def _post(self, kind: CommandKind, reason: str, *, symbol: str | None,
                    user_id: int) -> str:
        try:
            posted = await asyncio.to_thread(
                control.post, self._path, kind, reason, actor=control.telegram_actor(user_id),
                mode=self._mode, symbol=symbol)
        except ConfigError as e:
            return _one_line(str(e)) + "; nothing queued"
        return text.result_text(posted, await self._ack(posted.command_id))

    async def _ack(self, command_id: int) -> Command | None:
        # One short read per poll in a worker thread, the wait on the event loop: the answer
        # never blocks other chats, and a stopping listener gives up at once.
        deadline = time.monotonic() + self._s.ack_timeout_s
        while True:
            found = await asyncio.to_thread(control.wait_for_ack, self._path, command_id,
                                            timeout_s=0)
            if found is not None or time.monotonic() >= deadline or self._closing.is_set():
                return found
            await asyncio.sleep(_ACK_POLL_S)

    # --- answers and errors -----------------------------------------------------------------

    async def _say(self, update: Update, answer: str, *,
                   buttons: InlineKeyboardMarkup | None = None) -> None:
        chat = update.effective_chat
        if chat is not None:
            await chat.send_message(text.cut(answer), parse_mode=ParseMode.HTML,
                                    reply_markup=buttons)

    async def _on_error(self, update: object, context: Any) -> None:
        """Log a failed handler in one line (never the token); the listener goes on."""
        error = getattr(context, "error", None)
        what = _asked(update) if isinstance(update, Update) else type(update).__name__
        log.warning("Telegram: %r failed: %s: %s", what[:40], type(error).__name__,
                    self._redact(" ".join(str(error).split())))
        if isinstance(update, Update) and self._obeys(update):
            try:  # tell the phone something went wrong; the details stay in the log
                await self._say(update, f"failed: {type(error).__name__}; see the bot's log")
            except Exception as e:
                log.warning("Telegram: could not answer either: %s", type(e).__name__)

    def _redact(self, message: str) -> str:
        return redact(message, [self._s.token])


def _asked(update: Update) -> str:
    """What a request asked, cut short for the journal and the log."""
    if update.callback_query is not None:
        return f"button {update.callback_query.data or ''}"[:100]
    message = update.effective_message
    return (message.text or "(no text)")[:100] if message is not None else "(no message)"


def _one_line(message: str) -> str:
    return escape(" ".join(message.split()))


def _now() -> datetime:
    return SystemClock().now()
