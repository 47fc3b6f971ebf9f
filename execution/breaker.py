"""The exchange circuit breaker: consecutive failures stop new entries until a probe heals it.

Closed: trading as usual. After ``threshold`` consecutive failed exchange requests (network,
timeout, rate limit, 5xx; a refused order is the exchange working, not failing) it opens: new
entries are refused, while exits, stops and cancels are still attempted, because they reduce
risk. While open, an entry attempt at most every ``probe_interval_s`` runs a health probe
(half-open); success closes the breaker, failure keeps it open. Its frozen status is what the
loop and the status command show.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from core.clock import Clock
from core.errors import BotError, ConfigError

log = logging.getLogger(__name__)


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
        since: when the breaker entered this state (UTC).
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
        on_open: Callable[[BreakerStatus], None] | None = None,
    ) -> None:
        if threshold < 1:
            raise ConfigError(f"breaker threshold must be >= 1, got {threshold}")
        if probe_interval_s < 0:
            raise ConfigError(f"probe interval must be >= 0 s, got {probe_interval_s}")
        self._clock = clock
        self._threshold = threshold
        self._probe_interval_s = probe_interval_s
        self._on_open = on_open
        self._status = BreakerStatus(BreakerState.CLOSED, "", clock.now(), 0)
        self._last_probe: datetime | None = None
        self._opened_at = self._status.since

    @property
    def status(self) -> BreakerStatus:
        """The current status (a frozen value)."""
        return self._status

    def record_success(self) -> None:
        """An exchange request succeeded: the count restarts (a probe's success closes)."""
        s = self._status
        if s.state is BreakerState.HALF_OPEN:
            log.warning("exchange breaker closed: health probe succeeded")
            self._status = BreakerStatus(BreakerState.CLOSED, "", self._clock.now(), 0)
        elif s.state is BreakerState.CLOSED and s.failures:
            self._status = BreakerStatus(BreakerState.CLOSED, "", s.since, 0)

    def record_failure(self, reason: str) -> None:
        """An exchange request failed in a retryable way; may open the breaker."""
        s = self._status
        failures = s.failures + 1
        if s.state is BreakerState.CLOSED and failures < self._threshold:
            self._status = BreakerStatus(BreakerState.CLOSED, reason, s.since, failures)
            return
        if s.state is not BreakerState.CLOSED:  # still failing, or a failed probe: no new alert
            self._status = BreakerStatus(BreakerState.OPEN, reason, self._opened_at, failures)
            return
        self._opened_at = self._clock.now()
        self._status = BreakerStatus(BreakerState.OPEN, reason, self._opened_at, failures)
        log.error("exchange breaker open after %d consecutive failures: %s", failures, reason)
        if self._on_open is not None:
            self._on_open(self._status)

    def allow_entry(self, probe: Callable[[], object]) -> BreakerStatus:
        """The status after probing when due; entries go ahead only if it allows them."""
        if self._status.state is BreakerState.CLOSED:
            return self._status
        now = self._clock.now()
        due = self._last_probe is None or (
            (now - self._last_probe).total_seconds() >= self._probe_interval_s)
        if not due:
            return self._status
        self._last_probe = now
        s = self._status
        self._status = BreakerStatus(BreakerState.HALF_OPEN, s.reason, now, s.failures)
        try:
            probe()  # the probe records its own success or failure through the gateway
        except BotError as e:  # a failed probe keeps the breaker open
            log.warning("exchange health probe failed; breaker stays open: %s", e)
        if self._status.state is BreakerState.HALF_OPEN:  # the probe neither healed nor counted
            self._status = BreakerStatus(BreakerState.OPEN, s.reason, self._opened_at, s.failures)
        return self._status
