"""Every ccxt call of the live broker: translated errors, bounded retries, the breaker, and
order creation that can never double an order.

Reads (balances, open orders, a lookup) are retried with exponential backoff when the failure
is retryable (tenacity; the sleeper is injected so tests never sleep). ``create_order`` is
never retried blindly: after a timeout, a 5xx, a rate limit or a dropped connection the order
is first looked up by its client id; only when the exchange does not have it, after the
request's receive window has passed (so a copy still in flight can no longer be accepted), is
it sent again, with the same client id. A duplicate-client-id answer means the order exists:
it is looked up and returned, never resent.

Rate limits and bans (HTTP 429 / 418) are honoured: the Retry-After header, or Binance's
"banned until <ms>", sets a time before which no request at all is sent (each call raises
ExchangeBanned at once, without retries). A ban is the exchange telling us to wait, not a
failure of the exchange, so it does not count against the breaker; it is said once.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import tenacity

from core.clock import Clock
from core.errors import ExchangeBanned, ExchangeUnavailable, OrderRejected, TransientError
from core.secrets import Secret
from execution.breaker import ExchangeBreaker
from execution.errors import DuplicateOrder, translate

log = logging.getLogger(__name__)

T = TypeVar("T")
Sleeper = Callable[[float], None]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Backoff of retryable failures: ``attempts`` tries, waits base x 2^n capped at max.

    Attributes:
        attempts: tries per call (1 = no retry), also the cap on sends of one order.
        base_delay_s: first wait.
        max_delay_s: longest single wait.
    """

    attempts: int = 3
    base_delay_s: float = 0.5
    max_delay_s: float = 8.0

    def delay(self, attempt: int) -> float:
        """The wait after failed try number ``attempt`` (1-based)."""
        return float(min(self.base_delay_s * 2 ** (attempt - 1), self.max_delay_s))


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """One create_order call, as ccxt takes it."""

    symbol: str
    type: str
    side: str
    amount: float | None
    price: float | None
    client_id: str
    params: dict[str, Any] = field(default_factory=dict)


class ExchangeGateway:
    """The ccxt client behind translated errors, retries and the breaker."""

    def __init__(
        self,
        exchange: Any,
        *,
        clock: Clock,
        breaker: ExchangeBreaker,
        policy: RetryPolicy | None = None,
        sleeper: Sleeper = time.sleep,
        secrets: tuple[Secret, ...] = (),
        recv_window_s: float = 5.0,
    ) -> None:
        self.exchange = exchange
        self.breaker = breaker
        self._clock = clock
        self._policy = policy or RetryPolicy()
        self._sleeper = sleeper
        self._secrets = secrets
        self._recv_window_s = recv_window_s
        self._by_client_id = exchange.id.startswith("binance")
        self.banned_until: datetime | None = None
        self._last_symbol: str | None = None  # elsewhere the probe reads one market's orders

    # -- plain calls -------------------------------------------------------------------------
    def call(self, what: str, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` with retryable failures retried (backoff) and ccxt errors translated."""
        policy = self._policy
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(policy.attempts),
            wait=tenacity.wait_exponential(multiplier=policy.base_delay_s, min=0,
                                           max=policy.max_delay_s),
            retry=(tenacity.retry_if_exception_type(TransientError)
                   & tenacity.retry_if_not_exception_type(ExchangeBanned)),
            sleep=self._sleeper,
            reraise=True,
        )
        result: T = retrying(self.once, what, fn, *args)
        return result

    def once(self, what: str, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` once; a retryable failure counts against the breaker."""
        import ccxt

        self._refuse_while_banned(what)
        try:
            result = fn(*args)
        except ccxt.BaseError as e:
            error = translate(e, what=what, secrets=self._secrets)
            if isinstance(e, ccxt.DDoSProtection | ccxt.RateLimitExceeded):
                error = self._banned(e, error) or error
            if isinstance(error, TransientError) and not isinstance(error, ExchangeBanned):
                self.breaker.record_failure(str(error))
            raise error from e
        self.breaker.record_success()
        return result

    def _refuse_while_banned(self, what: str) -> None:
        until = self.banned_until
        if until is None:
            return
        if self._clock.now() >= until:
            self.banned_until = None
            log.warning("exchange ban over (it ran until %s); requests resume", _hms(until))
            return
        raise ExchangeBanned(f"{what}: not sent, the exchange banned requests until "
                             f"{_hms(until)}")

    def _banned(self, error: Exception, translated: Exception) -> ExchangeBanned | None:
        """The ban an HTTP 418/429 announces (Retry-After, or Binance's 'banned until')."""
        headers = getattr(self.exchange, "last_response_headers", None) or {}
        after = next((v for k, v in dict(headers).items() if k.lower() == "retry-after"), "")
        until_ms = re.search(r"banned until (\d{13})", str(error))
        now = self._clock.now()
        if until_ms:
            until = datetime.fromtimestamp(int(until_ms.group(1)) / 1000, tz=UTC)
        elif str(after).strip().isdigit():
            until = now + timedelta(seconds=int(str(after).strip()))
        else:
            return None
        if self.banned_until is None or until > self.banned_until:
            log.warning("the exchange asks us to stop until %s (%s); no requests until then",
                        _hms(until), translated)
            self.banned_until = until
        return ExchangeBanned(f"{translated}; no requests until {_hms(until)}")

    def probe(self) -> None:
        """Health probe for the breaker: the paths that trade, read-only, once each, no retry.

        The account (balances) and the open orders: a clock or ping endpoint can answer while
        orders cannot be placed, and must not close the breaker then.
        """
        self.once("health probe: fetch balance", self.exchange.fetch_balance)
        self.once("health probe: fetch open orders", self._open_orders)

    def _open_orders(self) -> list[dict[str, Any]]:
        ex = self.exchange
        if self._by_client_id:
            # Binance answers for every market at once (weight 80, one probe a minute at most);
            # ccxt refuses that call unless told that the caller knows.
            ex.options["warnOnFetchOpenOrdersWithoutSymbol"] = False
            orders: list[dict[str, Any]] = ex.fetch_open_orders()
            return orders
        found: list[dict[str, Any]] = ex.fetch_open_orders(self._last_symbol)
        return found

    # -- orders ------------------------------------------------------------------------------
    def lookup(self, symbol: str, client_id: str) -> dict[str, Any] | None:
        """The exchange's order with ``client_id`` (any status), or None if it has none."""
        import ccxt

        ex = self.exchange
        self._last_symbol = symbol

        def find() -> dict[str, Any] | None:
            """Binance: by origClientOrderId; elsewhere: through the order lists."""
            if self._by_client_id:
                try:
                    found: dict[str, Any] = ex.fetch_order("", symbol,
                                                           {"origClientOrderId": client_id})
                    return found
                except ccxt.OrderNotFound:
                    return None
            orders = list(ex.fetch_open_orders(symbol))
            if ex.has.get("fetchClosedOrders"):
                orders += ex.fetch_closed_orders(symbol)
            return next((o for o in orders if o.get("clientOrderId") == client_id), None)

        return self.call(f"look up order {client_id}", find)

    def place(self, request: OrderRequest) -> dict[str, Any]:
        """Create the order once; after an unknown outcome look it up before any resend."""
        last: Exception | None = None
        self._last_symbol = request.symbol
        for attempt in range(1, self._policy.attempts + 1):
            sent_at = self._clock.now()
            try:
                return self.once(f"create order {request.client_id}", self._create, request)
            except DuplicateOrder:
                return self._existing(request)
            except TransientError as e:
                log.warning("create %s failed (%s); looking it up by client id first",
                            request.client_id, e)
                found = self._find_after_failure(request, sent_at, attempt)
                if found is not None:
                    log.warning("order %s was accepted after all; not sending it again",
                                request.client_id)
                    return found
                last = e
        raise ExchangeUnavailable(
            f"order {request.client_id} not created after {self._policy.attempts} attempts "
            f"and not on the exchange: {last}")

    def cancel(self, symbol: str, client_id: str, exchange_id: str = "") -> dict[str, Any] | None:
        """Cancel an order; returns the order as the exchange then has it (None if unknown)."""
        params = {"origClientOrderId": client_id} if self._by_client_id else {}
        try:
            answer: dict[str, Any] = self.call(
                f"cancel order {client_id}", self.exchange.cancel_order, exchange_id, symbol,
                params)
            return answer
        except OrderRejected as e:  # not open any more (filled, canceled) or unknown
            log.info("cancel %s refused (%s); reading its status", client_id, e)
            return self.lookup(symbol, client_id)

    def _create(self, r: OrderRequest) -> dict[str, Any]:
        params = {**r.params, "newClientOrderId": r.client_id} if self._by_client_id else {
            **r.params, "clientOrderId": r.client_id}
        order: dict[str, Any] = self.exchange.create_order(
            r.symbol, r.type, r.side, r.amount, r.price, params)
        return order

    def _existing(self, request: OrderRequest) -> dict[str, Any]:
        found = self.lookup(request.symbol, request.client_id)
        if found is None:
            raise OrderRejected(
                f"order {request.client_id}: the exchange reports a duplicate client id but "
                "has no such order; not resending")
        log.warning("order %s already exists on the exchange; using it", request.client_id)
        return found

    def _find_after_failure(
        self, request: OrderRequest, sent_at: Any, attempt: int
    ) -> dict[str, Any] | None:
        found = self.lookup(request.symbol, request.client_id)
        if found is not None:
            return found
        # Not there (yet): a request still in flight is refused once its receive window has
        # passed, so wait that out (and at least the backoff) and look once more.
        elapsed = (self._clock.now() - sent_at).total_seconds()
        self._sleeper(max(self._recv_window_s + 1.0 - elapsed, self._policy.delay(attempt)))
        return self.lookup(request.symbol, request.client_id)


def _hms(when: datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M:%SZ")
