"""Guards around an untrusted, unreliable model: failures, a circuit breaker, text sanitising."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from core.clock import Clock
from core.errors import ScorerError

MAX_REASONING_WORDS = 20
# 20 words of ordinary text fit easily; this stops one 10,000-character "word".
MAX_REASONING_CHARS = 200

# ESC-introduced sequences: CSI (colours, cursor moves), OSC (titles, hyperlinks), and the
# two-byte forms; plus the 8-bit C1 CSI. Removed whole so no parameter bytes are left behind.
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI ... final byte
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC ... BEL or ST
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"  # DCS / SOS / PM / APC ... ST
    r"|\x1b[ -/]*[0-~]"  # other two-byte escapes
    r"|\x9b[0-?]*[ -/]*[@-~]"  # 8-bit CSI
)


class ModelFailure(ScorerError):
    """The model call failed; ``reason`` is a short code for the journal (``http_429``).

    Tokens are carried so that a billed but unusable answer still counts against the budget.
    """

    def __init__(self, reason: str, *, tokens_in: int = 0, tokens_out: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.tokens_in = tokens_in
        self.tokens_out = tokens_out


@dataclass(frozen=True, slots=True)
class ModelAnswer:
    """What a provider adapter hands back: the raw JSON object and the billed usage."""

    payload: object
    tokens_in: int
    tokens_out: int


class ModelClient(Protocol):
    """A provider adapter: one prompt in, one raw answer out, or ModelFailure."""

    @property
    def provider(self) -> str:
        """Provider name used in the cache key and the journal."""
        ...

    @property
    def model(self) -> str:
        """Model id sent to the provider."""
        ...

    def complete(self, prompt: str) -> ModelAnswer:
        """Ask the model about ``prompt``; raise ModelFailure on any failure."""
        ...


def sanitize_reasoning(text: str) -> str:
    """Untrusted model text made safe to print and store: no escapes, <= 20 words."""
    text = _ESCAPES.sub(" ", text)
    # Whitespace controls become spaces; every other control / format / private-use /
    # unassigned code point (bidi overrides, zero-width joiners, stray ESC) is dropped.
    kept = []
    for char in text:
        if char.isspace():
            kept.append(" ")
        elif not unicodedata.category(char).startswith("C"):
            kept.append(char)
    words = "".join(kept).split()[:MAX_REASONING_WORDS]
    return " ".join(words)[:MAX_REASONING_CHARS].rstrip()


class BreakerState(StrEnum):
    """Circuit breaker states."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Skips the model after N consecutive failures, for a cooldown, then allows one trial.

    Closed: calls pass. Open: calls are refused until the cooldown has passed on the injected
    clock. Half-open: exactly one trial call passes; success closes, failure reopens.
    """

    def __init__(self, *, threshold: int, cooldown_s: float, clock: Clock) -> None:
        if threshold < 1:
            raise ScorerError(f"breaker threshold must be >= 1, got {threshold}")
        if cooldown_s < 0:
            raise ScorerError(f"breaker cooldown must be >= 0, got {cooldown_s}")
        self._threshold = threshold
        self._cooldown = timedelta(seconds=cooldown_s)
        self._clock = clock
        self._failures = 0
        self._state = BreakerState.CLOSED
        self._opened_at: datetime | None = None

    @property
    def state(self) -> BreakerState:
        """The current state (an open breaker past its cooldown still reads open)."""
        return self._state

    def allow(self) -> bool:
        """Whether a model call may go out now; moves open to half-open after the cooldown."""
        if self._state is BreakerState.CLOSED:
            return True
        if self._state is BreakerState.HALF_OPEN:
            return False  # the single trial is still out
        opened_at = self._opened_at if self._opened_at is not None else self._clock.now()
        if self._clock.now() - opened_at >= self._cooldown:
            self._state = BreakerState.HALF_OPEN
            return True
        return False

    def record_success(self) -> None:
        """A model call succeeded: close the breaker."""
        self._failures = 0
        self._state = BreakerState.CLOSED
        self._opened_at = None

    def record_failure(self) -> None:
        """A model call failed: open after the threshold, or at once after a failed trial."""
        self._failures += 1
        if self._state is BreakerState.HALF_OPEN or self._failures >= self._threshold:
            self._state = BreakerState.OPEN
            self._opened_at = self._clock.now()
