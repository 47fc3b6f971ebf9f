"""Operator alerts: halts, resumes, breakers, order failures, a position without its stop.

An alert must never break or stall the trading loop: Telegram is called from one background
thread through a bounded queue; a failure is logged (without the token) and counted.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final, Protocol

from core.errors import ConfigError
from core.secrets import Secret, redact, secret_from_env

log = logging.getLogger(__name__)

TELEGRAM_API: Final = "https://api.telegram.org"
# Telegram rejects longer messages; cut ours well below its 4096-character limit.
MAX_TEXT: Final = 3500


class AlertKind(StrEnum):
    """What the operator is told about."""

    HALT = "halt"
    RESUME = "resume"
    BREAKER_OPEN = "breaker_open"
    BREAKER_CLOSED = "breaker_closed"
    ORDER_FAILURE = "order_failure"
    UNPROTECTED_POSITION = "unprotected_position"
    INFO = "info"


class Alerter(Protocol):
    """Port: send one alert; never raises, never blocks for long."""

    def alert(self, kind: AlertKind, text: str) -> None:
        """Queue or send the alert."""
        ...

    def close(self) -> None:
        """Flush what is queued (bounded wait) and stop."""
        ...


class LogAlerter:
    """Alerts as warning log lines (always on; journald keeps them)."""

    def alert(self, kind: AlertKind, text: str) -> None:
        """Log the alert."""
        log.warning("ALERT %s: %s", kind, text)

    def close(self) -> None:
        """Nothing to flush."""


@dataclass(frozen=True, slots=True)
class TelegramSettings:
    """Bot token and chat id from the environment (TELEGRAM_BOT_TOKEN, TELEGRAM_CHAT_ID)."""

    token: Secret
    chat_id: str
    api_url: str = TELEGRAM_API
    timeout_s: float = 5.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> TelegramSettings | None:
        """Settings, None when Telegram is not configured; half a configuration is an error."""
        token = secret_from_env(env, "TELEGRAM_BOT_TOKEN")
        chat = env.get("TELEGRAM_CHAT_ID", "").strip()
        if not token and not chat:
            return None
        if not token or not chat:
            missing = "TELEGRAM_CHAT_ID" if token else "TELEGRAM_BOT_TOKEN"
            raise ConfigError(f"Telegram alerts need both variables; {missing} is not set")
        api = env.get("TELEGRAM_API_URL", "").strip() or TELEGRAM_API
        if not api.startswith(("https://", "http://127.0.0.1", "http://localhost")):
            raise ConfigError(f"TELEGRAM_API_URL must be https:// (or loopback), got {api!r}")
        return cls(token=token, chat_id=chat, api_url=api.rstrip("/"))


class TelegramAlerter:
    """Sends alerts to a Telegram chat from a background thread; failures are only logged."""

    def __init__(self, settings: TelegramSettings, *, max_queue: int = 100) -> None:
        self._settings = settings
        self._queue: queue.Queue[str | None] = queue.Queue(maxsize=max_queue)
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        self._thread = threading.Thread(target=self._run, name="telegram-alerts", daemon=True)
        self._thread.start()

    def alert(self, kind: AlertKind, text: str) -> None:
        """Queue the alert; if the queue is full (Telegram down for long) drop and count it."""
        message = f"[tradingbot] {kind}: {text}"[:MAX_TEXT]
        try:
            self._queue.put_nowait(message)
        except queue.Full:
            self.dropped += 1
            log.warning("alert queue full: dropped a %s alert", kind)

    def close(self, timeout_s: float = 10.0) -> None:
        """Send what is queued (waiting at most ``timeout_s``) and stop the thread."""
        try:
            self._queue.put(None, timeout=timeout_s)
        except queue.Full:
            return
        self._thread.join(timeout_s)

    def _run(self) -> None:
        while True:
            message = self._queue.get()
            if message is None:
                return
            self._send(message)

    def _send(self, message: str) -> None:
        s = self._settings
        url = f"{s.api_url}/bot{s.token.reveal()}/sendMessage"
        body = json.dumps({"chat_id": s.chat_id, "text": message}).encode()
        request = urllib.request.Request(  # noqa: S310 - scheme checked in TelegramSettings
            url, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=s.timeout_s) as answer:  # noqa: S310
                ok = json.loads(answer.read() or b"{}").get("ok", False)
            if not ok:
                raise ValueError("Telegram answered ok=false")
            self.sent += 1
        except Exception as e:  # any failure of an alert is logged, never raised
            self.failed += 1
            # The token is part of the URL, and urllib errors may quote it: redact.
            log.warning("Telegram alert failed: %s", redact(str(e), [s.token]))


class FanOutAlerter:
    """Sends every alert to several alerters (log + Telegram)."""

    def __init__(self, *alerters: Alerter) -> None:
        self._alerters = alerters

    def alert(self, kind: AlertKind, text: str) -> None:
        """Pass the alert on to each alerter; one failing never stops the others."""
        for alerter in self._alerters:
            try:
                alerter.alert(kind, text)
            except Exception:  # an alert must never break the loop
                log.exception("alerter %s failed", type(alerter).__name__)

    def close(self) -> None:
        """Close every alerter."""
        for alerter in self._alerters:
            alerter.close()


def build_alerter(env: Mapping[str, str]) -> Alerter:
    """Log alerts always, plus Telegram when TELEGRAM_BOT_TOKEN and TELEGRAM_CHAT_ID are set."""
    settings = TelegramSettings.from_env(env)
    if settings is None:
        return LogAlerter()
    return FanOutAlerter(LogAlerter(), TelegramAlerter(settings))


def breaker_closed_text(since: datetime, outage_reason: str = "") -> str:
    """The one message that ends an exchange outage."""
    tail = f" (the outage: {outage_reason})" if outage_reason else ""
    return (f"exchange breaker closed: the account and the open orders have answered since "
            f"{since:%Y-%m-%d %H:%M:%SZ}; new entries resume{tail}")
