"""The exchange circuit breaker: consecutive failures stop new entries until a probe heals it.

Closed: trading as usual. After ``threshold`` consecutive failed exchange requests of any kind
(market data, account or orders; network, timeout, 5xx; a refused order is the exchange
working, not failing, and a ban is the exchange asking us to wait) it opens: new entries are
refused, while exits, stops and cancels are still attempted, because they reduce risk. While
open, a probe at most every ``probe_interval_s`` reads the paths that trade (the account and the
open orders, read-only); the breaker closes only when the whole probe succeeds. A success of
some other request does not close it: an outage of the order endpoints alone must not look
healed because the clock or the candles answer.

Said once per outage: ``on_open`` fires when it opens. A re-open within ``hold_down_s`` of
the probe that closed it is the same outage going on (an outage of minutes is often patchy):
no new alert, and its ``since`` stays the outage's start. ``on_close`` fires once the breaker
has stayed closed for ``hold_down_s`` (checked on the next request or probe after that), so
the operator hears "open" once and "closed" once, whatever the breaker did in between. Its
frozen status is what the loop and the status command show.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from core.clock import Clock
from core.errors import BotError, ConfigError, ExchangeBanned, TransientError

log = logging.getLogger(__name__)

Listener = Callable[["BreakerStatus"], None]


class BreakerState(StrEnum):
    """Where the breaker stands."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class BreakerStatus:
    """What the loop and the status command show about the exchange breaker.

    Attributes:
        state: closed, open or half_open (probing).
        reason: the last failure that counted ("" when closed and healthy).
        since: when the breaker entered this state (UTC); while open, the outage's start.
        failures: consecutive failures counted so far.
    """

    state: BreakerState
    reason: str
    since: datetime
    failures: int

    @property
    def allows_entries(self) -> bool:
        """True when new entries may be sent."""
        return self.state is BreakerState.CLOSED


class ExchangeBreaker:
    """Counts consecutive exchange failures; see the module docstring."""

    def __init__(
        self,
        *,
        clock: Clock,
        threshold: int = 3,
        probe_interval_s: float = 60.0,
        hold_down_s: float = 300.0,
        on_open: Listener | None = None,
        on_close: Listener | None = None,
    ) -> None:
        if threshold < 1:
            raise ConfigError(f"breaker threshold must be >= 1, got {threshold}")
        if probe_interval_s < 0:
            raise ConfigError(f"probe interval must be >= 0 s, got {probe_interval_s}")
        if hold_down_s < 0:
            raise ConfigError(f"breaker hold-down must be >= 0 s, got {hold_down_s}")
        self._clock = clock
        self._threshold = threshold
        self._probe_interval_s = probe_interval_s
        self._hold_down_s = hold_down_s
        self._on_open: list[Listener] = [on_open] if on_open is not None else []
        self._on_close: list[Listener] = [on_close] if on_close is not None else []
        self._status = BreakerStatus(BreakerState.CLOSED, "", clock.now(), 0)
        self._last_probe: datetime | None = None
        self._opened_at = self._status.since
        self._outage: datetime | None = None  # start of the outage said open, not yet closed

    @property
    def status(self) -> BreakerStatus:
        """The current status (a frozen value)."""
        return self._status

    def watch(self, *, on_open: Listener | None = None, on_close: Listener | None = None
              ) -> None:
        """Also tell ``on_open`` / ``on_close`` when an outage is said open or closed."""
        self._on_open += [on_open] if on_open is not None else []
        self._on_close += [on_close] if on_close is not None else []

    def record_success(self) -> None:
        """An exchange request succeeded: the count restarts (only a whole probe closes)."""
        s = self._status
        if s.state is BreakerState.CLOSED:
            if s.failures:
                self._status = BreakerStatus(BreakerState.CLOSED, "", s.since, 0)
            self._say_closed_when_settled()

    def record_failure(self, reason: str) -> None:
        """An exchange request failed in a retryable way; may open the breaker."""
        self._say_closed_when_settled()  # held closed long enough: a new outage, a new alert
        s = self._status
        failures = s.failures + 1
        if s.state is BreakerState.CLOSED and failures < self._threshold:
            self._status = BreakerStatus(BreakerState.CLOSED, reason, s.since, failures)
            return
        if s.state is not BreakerState.CLOSED:  # still failing, or a failed probe: no new alert
            self._status = BreakerStatus(BreakerState.OPEN, reason, self._opened_at, failures)
            return
        if self._outage is not None:  # re-opened within the hold-down: the same outage
            self._opened_at = self._outage
            self._status = BreakerStatus(BreakerState.OPEN, reason, self._opened_at, failures)
            log.warning("exchange breaker open again after %d consecutive failures (%s); the "
                        "outage said at %s goes on, no new alert", failures, reason,
                        _hms(self._outage))
            return
        self._opened_at = self._outage = self._clock.now()
        self._status = BreakerStatus(BreakerState.OPEN, reason, self._opened_at, failures)
        log.error("exchange breaker open after %d consecutive failures: %s", failures, reason)
        for listener in self._on_open:
            listener(self._status)

    def record_outcome(self, error: BaseException | None) -> None:
        """A request made outside the gateway (market data): None when it succeeded.

        Only a retryable failure counts; a ban, a bad symbol or bad data is not an outage.
        """
        if error is None:
            self.record_success()
        elif isinstance(error, TransientError) and not _is_ban(error):
            self.record_failure(str(error))

    def allow_entry(self, probe: Callable[[], object]) -> BreakerStatus:
        """The status after probing when due; entries go ahead only if it allows them."""
        if self._status.state is BreakerState.CLOSED:
            self._say_closed_when_settled()
            return self._status
        now = self._clock.now()
        due = self._last_probe is None or (
            (now - self._last_probe).total_seconds() >= self._probe_interval_s)
        if not due:
            return self._status
        self._last_probe = now
        s = self._status
        self._status = BreakerStatus(BreakerState.HALF_OPEN, s.reason, now, s.failures)
        answered = True
        try:
            probe()  # its requests record their own failures through the gateway
        except BotError as e:  # a failed probe keeps the breaker open (a ban too)
            answered = False
            log.warning("exchange health probe failed; breaker stays open: %s", e)
        if answered and self._status.state is BreakerState.HALF_OPEN:  # all of it answered
            self._status = BreakerStatus(BreakerState.CLOSED, "", now, 0)
            log.warning("exchange breaker closed: the account and the open orders answer again "
                        "(open since %s)", _hms(self._opened_at))
            self._say_closed_when_settled()
        elif self._status.state is BreakerState.HALF_OPEN:  # raised without a counted failure
            self._status = BreakerStatus(BreakerState.OPEN, s.reason, self._opened_at, s.failures)
        return self._status

    def _say_closed_when_settled(self) -> None:
        """Tell the close of an outage once the breaker has held closed for the hold-down."""
        outage, s = self._outage, self._status
        if outage is None or s.state is not BreakerState.CLOSED:
            return
        if (self._clock.now() - s.since).total_seconds() < self._hold_down_s:
            return
        self._outage = None
        log.warning("exchange breaker closed since %s after the outage that began %s",
                    _hms(s.since), _hms(outage))
        for listener in self._on_close:
            listener(s)


def _is_ban(error: BaseException) -> bool:
    """A ban or rate limit (418/429): the exchange asking us to wait, not failing."""
    if isinstance(error, ExchangeBanned):
        return True
    import ccxt

    return isinstance(error.__cause__, ccxt.DDoSProtection | ccxt.RateLimitExceeded)


def _hms(when: datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M:%SZ")
