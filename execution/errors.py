"""ccxt errors translated at the exchange boundary, and the execution layer's own errors.

The only place ccxt exceptions become bot exceptions (``raise ... from e``), grouped by what
the caller does with them: ExchangeUnavailable (no connection, timeout, rate limit, an HTTP
5xx server error: retry with backoff, the outcome of an order request is unknown),
InsufficientFunds / OrderRejected (record and never retry), DuplicateOrder (the exchange
already has that client id: look it up, never resend). Messages pass through ``redact`` so
no key can reach a log line.
"""

from __future__ import annotations

import re

from core.errors import ExchangeUnavailable, InsufficientFunds, OrderRejected
from core.secrets import Secret, redact


class DuplicateOrder(OrderRejected):
    """The exchange already holds an order with this client id (Binance -2010 'Duplicate')."""


class BreakerOpen(ExchangeUnavailable):
    """The exchange circuit breaker is open: no new entries until a health probe succeeds."""


def translate(error: Exception, *, what: str, secrets: tuple[Secret, ...] = ()) -> Exception:
    """The bot exception for a ccxt exception raised while doing ``what``."""
    import ccxt

    text = f"{what}: {_first_line(redact(str(error), list(secrets)))}"
    if isinstance(error, ccxt.OperationFailed):  # NetworkError family, bad responses
        return ExchangeUnavailable(f"{text} ({_network_kind(error)})")
    if isinstance(error, ccxt.DuplicateOrderId) or "Duplicate order" in str(error):
        return DuplicateOrder(text)
    if isinstance(error, ccxt.InsufficientFunds):
        return InsufficientFunds(text)
    if isinstance(error, ccxt.AuthenticationError):
        return OrderRejected(f"{text} (authentication refused: check the API key, its "
                             "permissions and IP whitelist)")
    return OrderRejected(text)  # InvalidOrder, BadRequest, BadSymbol, NotSupported, ...


def _network_kind(error: Exception) -> str:
    """What went wrong, in words: an HTTP 5xx is the server failing, not the connection."""
    import ccxt

    status = re.search(r"\s([45]\d\d)\s", str(error))
    code = int(status.group(1)) if status else 0
    kinds: list[tuple[type[Exception], str]] = [
        (ccxt.RequestTimeout, "timed out"),
        (ccxt.RateLimitExceeded, "rate limited"),
        (ccxt.DDoSProtection, "rate limited or IP banned"),
        (ccxt.OnMaintenance, "under maintenance"),
        (ccxt.InvalidNonce, "clock out of the receive window"),
    ]
    kind = next((text for cls, text in kinds if isinstance(error, cls)), "")
    if not kind:
        kind = ("server error" if 500 <= code < 600 else
                "connection failed" if isinstance(error, ccxt.NetworkError) else
                "unreadable response")
    return f"HTTP {code}, {kind}" if code else kind


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0][:300] if lines else "no detail"
