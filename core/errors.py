"""Errors grouped by what the caller should do with them (STYLE.md, rule 5).

- ConfigError / DataError: a user mistake; the CLI prints one line and exits 2.
- TransientError: worth retrying with backoff (network, timeout, rate limit).
- OrderRejected / InsufficientFunds: record and do not retry.
- ScorerError: the LLM scorer falls back to quant-only.
"""

from __future__ import annotations


class BotError(Exception):
    """Base of every error the bot raises on purpose."""


class ConfigError(BotError):
    """A setting or argument is invalid; the message names the field and what is allowed."""


class DataError(BotError):
    """Market data is unusable: a broken file, a failed integrity rule, an unknown symbol.

    When an integrity rule fails, ``source``, ``row`` and ``rule`` say where and which.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str = "",
        row: int | None = None,
        rule: str = "",
    ) -> None:
        super().__init__(message)
        self.source = source
        self.row = row
        self.rule = rule


class TransientError(BotError):
    """A failure that may heal by itself: retry with backoff."""


class ExchangeUnavailable(TransientError):
    """The exchange could not be reached or answered with a server error."""


class ExchangeBanned(ExchangeUnavailable):
    """The exchange asked us to stay away (HTTP 418/429) until a time: no request before it."""


class OrderRejected(BotError):
    """The exchange or a pre-check refused an order; record it, never retry it blindly."""


class AttemptsExhausted(OrderRejected):
    """Every allowed attempt of one decision ended without a fill: stop retrying it."""


class InsufficientFunds(OrderRejected):
    """Not enough balance for the order."""


class ScorerError(BotError):
    """The scorer failed; callers fall back to the fixed conviction."""
