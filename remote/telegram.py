"""Operate the bot from Telegram: python-telegram-bot's long polling beside the trading loop.

The listener runs in its own thread with its own asyncio event loop (not the main thread, so
it installs no signal handlers). It can never stall or crash the loop: it only reads the journal
and appends to its command queue (trading/control.py), every handler error is logged in one line
without the token and the listener goes on, a Telegram outage at start is retried in the
background, and leaving the block stops it within a few seconds, whatever it was doing.

Only the chat and user ids in ``TELEGRAM_ALLOWED_IDS`` are obeyed (remote/telegram_bot.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

from core.errors import ConfigError
from core.secrets import Secret, redact, secret_from_env
from remote.telegram_access import CommandSettings
from remote.telegram_bot import CommandBot
from trading.alerts import TELEGRAM_API

log = logging.getLogger(__name__)

ALLOWED_ENV: Final = "TELEGRAM_ALLOWED_IDS"
STOP_S: Final = 4.0  # leaving the block waits at most about this long for the listener
_RETRY_MAX_S: Final = 60.0  # a Telegram outage at start is retried at most this far apart


def command_settings(env: Mapping[str, str], *, confirm_s: float = 60.0,
                     ack_timeout_s: float = 10.0, poll_timeout_s: float = 10.0,
                     ) -> CommandSettings:
    """The listener's settings from the environment; ConfigError with one line if malformed."""
    token = secret_from_env(env, "TELEGRAM_BOT_TOKEN")
    if not token:
        raise ConfigError("Telegram commands need TELEGRAM_BOT_TOKEN (from @BotFather)")
    api = env.get("TELEGRAM_API_URL", "").strip() or TELEGRAM_API
    if not api.startswith(("https://", "http://127.0.0.1", "http://localhost")):
        raise ConfigError(f"TELEGRAM_API_URL must be https:// (or loopback), got {api!r}")
    return CommandSettings(token=token, allowed=allowed_ids(env.get(ALLOWED_ENV, "")),
                           api_url=api.rstrip("/"), confirm_s=confirm_s,
                           ack_timeout_s=ack_timeout_s, poll_timeout_s=poll_timeout_s)


def allowed_ids(value: str) -> frozenset[int]:
    """The comma-separated chat and user ids of ``TELEGRAM_ALLOWED_IDS``."""
    words = [w.strip() for w in value.split(",") if w.strip()]
    bad = [w for w in words if not w.lstrip("-").isdigit()]
    if bad or not words:
        raise ConfigError(f"{ALLOWED_ENV} must be comma-separated chat or user ids like "
                          f"123456789,-1001234567890; got {(bad or [value])[0]!r}")
    return frozenset(int(w) for w in words)


@contextmanager
def telegram_commands(
    env: Mapping[str, str], *, mode: str, journal_path: Path, confirm_s: float = 60.0,
    ack_timeout_s: float = 10.0, poll_timeout_s: float = 10.0,
) -> Iterator[None]:
    """Obey the allowed Telegram chats for the lifetime of the block."""
    settings = command_settings(env, confirm_s=confirm_s, ack_timeout_s=ack_timeout_s,
                                poll_timeout_s=poll_timeout_s)
    listener = _Listener(settings, mode=str(mode), journal_path=journal_path)
    listener.start()
    try:
        yield
    finally:
        listener.stop()


class _TokenFilter(logging.Filter):
    """httpx logs every request's URL at INFO, and the Bot API's URL holds the token: such
    lines are dropped (one every poll would flood the log anyway), any other is redacted."""

    def __init__(self, token: Secret) -> None:
        super().__init__()
        self._token = token

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return False
        record.msg, record.args = redact(record.getMessage(), [self._token]), None
        return True


class _Listener:
    """One polling thread and its event loop."""

    def __init__(self, settings: CommandSettings, *, mode: str, journal_path: Path) -> None:
        self._settings = settings
        self._closing = threading.Event()
        self._bot = CommandBot(settings, mode=mode, journal_path=journal_path,
                               closing=self._closing)
        self._loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        self._filter = _TokenFilter(settings.token)
        self._thread = threading.Thread(target=self._run, name="telegram-commands", daemon=True)

    def start(self) -> None:
        """Start polling in the background; returns at once."""
        logging.getLogger("httpx").addFilter(self._filter)
        self._thread.start()
        log.info("Telegram: obeying commands from %d allowed chat/user ids",
                 len(self._settings.allowed))

    def stop(self) -> None:
        """Stop polling and the handlers; waits at most about STOP_S."""
        self._closing.set()
        with contextlib.suppress(RuntimeError):  # the loop is closed: the thread is done
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(STOP_S + 1.0)
        if self._thread.is_alive():
            log.warning("Telegram: the listener did not stop in %.0f s; left behind (daemon)",
                        STOP_S)
        logging.getLogger("httpx").removeFilter(self._filter)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._main())
        except Exception as e:
            log.error("Telegram: the listener stopped: %s: %s", type(e).__name__, self._redact(e))
        finally:
            tasks = asyncio.all_tasks(self._loop)
            for task in tasks:
                task.cancel()
            self._loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            self._loop.close()

    async def _main(self) -> None:
        app = self._build()
        if not await self._initialize(app):
            return
        try:
            await app.updater.start_polling(
                timeout=self._settings.poll_timeout_s, error_callback=self._on_poll_error,
                # A command sent while the bot was down got no answer: the sender may have
                # acted otherwise since; it must not be applied hours later.
                drop_pending_updates=True)
            await app.start()
            await self._stop.wait()
        finally:
            try:
                async with asyncio.timeout(STOP_S):
                    await self._shutdown(app)
            except TimeoutError:
                log.warning("Telegram: stopping took over %.0f s; cancelled", STOP_S)

    def _build(self) -> Any:
        from telegram.ext import ApplicationBuilder

        s = self._settings
        app = (ApplicationBuilder().token(s.token.reveal()).base_url(f"{s.api_url}/bot")
               .job_queue(None).concurrent_updates(4)
               .connect_timeout(5.0).read_timeout(10.0).write_timeout(10.0).pool_timeout(5.0)
               .get_updates_connect_timeout(5.0).get_updates_read_timeout(5.0)
               .build())
        self._bot.register(app)
        return app

    async def _initialize(self, app: Any) -> bool:
        """getMe until it answers; False when the token is refused or the block is left."""
        from telegram.error import InvalidToken

        wait = 1.0
        while not self._stop.is_set():
            try:
                await app.initialize()
                return True
            except InvalidToken:
                log.error("Telegram: the bot token was refused (TELEGRAM_BOT_TOKEN); commands "
                          "off, alerts unaffected")
                return False
            except Exception as e:
                log.warning("Telegram: cannot reach the Bot API (%s: %s); retry in %.0f s",
                            type(e).__name__, self._redact(e), wait)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), wait)
            wait = min(wait * 2, _RETRY_MAX_S)
        return False

    async def _shutdown(self, app: Any) -> None:
        if app.updater.running:
            await app.updater.stop()
        if app.running:
            await app.stop()
        await app.shutdown()

    def _on_poll_error(self, error: Exception) -> None:
        log.warning("Telegram: polling failed: %s: %s", type(error).__name__, self._redact(error))

    def _redact(self, error: object) -> str:
        return redact(" ".join(str(error).split()), [self._settings.token])
