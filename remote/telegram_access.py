"""Who the Telegram listener obeys, and how often a refused request is written down.

Kept apart from the handlers (remote/telegram_bot.py): the settings are built once from the
environment by remote/telegram.py, and the limiter is a small pure rule with its own test.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from core.secrets import Secret


@dataclass(frozen=True, slots=True)
class CommandSettings:
    """The listener's configuration (built once from the environment by remote/telegram.py).

    ``allowed``: the chat and user ids obeyed; a message is obeyed only when both its chat and
    its sender are listed (in a private chat they are the same id). ``confirm_s``: how long the
    Confirm / Cancel buttons stay valid. ``ack_timeout_s``: how long an answer waits for the
    loop's ack. ``poll_timeout_s``: the getUpdates long-poll length.
    """

    token: Secret
    allowed: frozenset[int]
    api_url: str
    confirm_s: float = 60.0
    ack_timeout_s: float = 10.0
    poll_timeout_s: float = 10.0


class DenialLimiter:
    """Which refused requests get an ``access_denials`` row, so a stranger cannot grow the
    journal without bound: at most one row per chat per ``per_chat_s`` and at most
    ``per_hour`` rows an hour in all (many chats at once). The rest are only counted."""

    def __init__(self, *, per_chat_s: float = 60.0, per_hour: int = 60,
                 now: Callable[[], float] = time.monotonic) -> None:
        self._per_chat_s, self._per_hour, self._now = per_chat_s, per_hour, now
        self._last: dict[int, float] = {}
        self._hour: list[float] = []
        self.skipped = 0

    def allow(self, chat_id: int) -> bool:
        """True when a row for ``chat_id`` may be written now (and counts it)."""
        now = self._now()
        # Forget what is past its window: memory stays bounded by the rows of one hour.
        self._last = {c: t for c, t in self._last.items() if now - t < self._per_chat_s}
        self._hour = [t for t in self._hour if now - t < 3600.0]
        if chat_id in self._last or len(self._hour) >= self._per_hour:
            self.skipped += 1
            return False
        self._last[chat_id] = now
        self._hour.append(now)
        return True
