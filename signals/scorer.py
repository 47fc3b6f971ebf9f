"""The Scorer port: conviction for a proposed entry, from a model, a cache or a fixed value.

The scorer is only ever asked about an entry the quant signal already wants to open. Its answer
can shrink or block that entry, never create or enlarge one: the risk layer applies the
conviction (below ``min_conviction`` no trade; size = min(half-Kelly x conviction, cap)) and a
``suppress`` flag blocks the entry outright.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from core.errors import ScorerError

# The seed's fallback: the quant signal still trades, at reduced conviction.
FALLBACK_CONVICTION = 0.5
FALLBACK_REASONING = "fallback"

# Only this shape reaches a prompt: letters/digits, one slash (ccxt's "BASE/QUOTE").
SYMBOL_PATTERN = re.compile(r"^[A-Z0-9]{1,15}/[A-Z0-9]{1,10}$")
MAX_CLOSES = 5


class ScoreSource(StrEnum):
    """Where a Score came from."""

    LLM = "llm"
    CACHE = "cache"
    FALLBACK = "fallback"
    FIXED = "fixed"


class VolumeTrend(StrEnum):
    """The seed's volume trend over the last three bars."""

    RISING = "rising"
    FALLING = "falling"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Score:
    """A scorer's answer about one proposed entry.

    conviction: in [-1, 1]; the risk layer scales size by it and refuses below its threshold.
    suppress: True blocks the entry whatever the conviction.
    reasoning: at most 20 words of sanitised text, safe for a terminal and the journal.
    source: llm | cache | fallback | fixed.
    latency_s: time spent answering, including a cache lookup.
    tokens_in / tokens_out / cost_usd: usage of this call (0 for cache, fixed, most fallbacks).
    fallback_reason: why the fallback was used ("" when it was not), e.g. ``http_429``.
    """

    conviction: float
    suppress: bool
    reasoning: str
    source: ScoreSource
    latency_s: float = 0.0
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    fallback_reason: str = ""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.conviction) and -1.0 <= self.conviction <= 1.0):
            raise ScorerError(f"conviction must be finite and in [-1, 1], got {self.conviction}")

    def to_seed_dict(self) -> dict[str, object]:
        """The seed's ``score_signal`` result: conviction, reasoning, suppress."""
        return {
            "conviction": self.conviction,
            "reasoning": self.reasoning,
            "suppress": self.suppress,
        }


def fallback_score(
    reason: str, *, latency_s: float = 0.0, tokens_in: int = 0, tokens_out: int = 0,
    cost_usd: float = 0.0,
) -> Score:
    """The seed's fallback Score, recording why it was used."""
    return Score(
        conviction=FALLBACK_CONVICTION,
        suppress=False,
        reasoning=FALLBACK_REASONING,
        source=ScoreSource.FALLBACK,
        latency_s=latency_s,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        cost_usd=cost_usd,
        fallback_reason=reason,
    )


# A label and its format reach the prompt: fixed characters only, never free text.
LABEL_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9 ()%/.,_+-]{0,47}$")
FORMAT_PATTERN = re.compile(r"^\{:[-+ 0-9.,_]*[efgdn%]?\}[A-Za-z%]{0,3}$")
MAX_NUMBERS = 8


@dataclass(frozen=True, slots=True)
class NamedNumber:
    """One number of the decision bar that the strategy names for the scorer and the journal.

    label: what the number is ("RSI"), matching LABEL_PATTERN.
    value: finite float.
    fmt: a ``str.format`` spec for the prompt, e.g. ``{:.1f}`` or ``{:.2f}%``.
    """

    label: str
    value: float
    fmt: str = "{:.6g}"

    def __post_init__(self) -> None:
        if not isinstance(self.label, str) or not LABEL_PATTERN.fullmatch(self.label):
            raise ScorerError(f"number label must match {LABEL_PATTERN.pattern}")
        if not _finite(self.value):
            raise ScorerError(f"{self.label} must be finite, got {self.value!r}")
        if not isinstance(self.fmt, str) or not FORMAT_PATTERN.fullmatch(self.fmt):
            raise ScorerError(f"{self.label}: format {self.fmt!r} must look like {{:.2f}}")
        object.__setattr__(self, "value", float(self.value))

    def text(self) -> str:
        """The value as the prompt shows it."""
        return self.fmt.format(self.value)


@dataclass(frozen=True, slots=True)
class ScoreRequest:
    """Everything a scorer may see about a proposed entry: a symbol and numbers, nothing else.

    symbol: ccxt-style ``BASE/QUOTE`` matching SYMBOL_PATTERN.
    direction: 1 (long entry) or -1 (short, kept for the seed's signature).
    closes: up to the last five closes, oldest first, already rounded.
    volume_trend: rising / falling over the last three bars (unknown when not given).
    numbers: the strategy's named numbers of the decision bar (for the seed: RSI, EMA spread).
    """

    symbol: str
    direction: int
    closes: tuple[float, ...]
    volume_trend: VolumeTrend
    numbers: tuple[NamedNumber, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.symbol, str) or not SYMBOL_PATTERN.fullmatch(self.symbol):
            raise ScorerError(f"symbol must match {SYMBOL_PATTERN.pattern} (e.g. BTC/USDT)")
        if self.direction not in (1, -1) or isinstance(self.direction, bool):
            raise ScorerError(f"direction must be 1 or -1, got {self.direction!r}")
        if len(self.closes) > MAX_CLOSES:
            raise ScorerError(f"closes: at most {MAX_CLOSES} values, got {len(self.closes)}")
        if not all(_finite(c) and c > 0 for c in self.closes):
            raise ScorerError("closes must be finite positive numbers")
        numbers = tuple(self.numbers)
        if len(numbers) > MAX_NUMBERS or not all(isinstance(n, NamedNumber) for n in numbers):
            raise ScorerError(f"numbers: at most {MAX_NUMBERS} NamedNumber values")
        object.__setattr__(self, "numbers", numbers)
        # Coerce after validation so that a StrEnum value given as str still works.
        object.__setattr__(self, "volume_trend", VolumeTrend(self.volume_trend))

    def number(self, label: str) -> float:
        """The value of the number ``label``; KeyError when the request has none."""
        for n in self.numbers:
            if n.label == label:
                return n.value
        raise KeyError(label)


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


class Scorer(Protocol):
    """Port: conviction for one proposed entry.

    ``score`` never raises because a model failed, timed out or answered nonsense: it returns
    the fallback Score with ``fallback_reason`` set instead.
    """

    def score(self, request: ScoreRequest) -> Score:
        """Score one proposed entry."""
        ...


class FixedScorer:
    """No model: the same configured conviction for every entry (the seed's 0.5 by default)."""

    def __init__(self, conviction: float = FALLBACK_CONVICTION) -> None:
        if not (_finite(conviction) and -1.0 <= conviction <= 1.0):
            raise ScorerError(f"fixed conviction must be in [-1, 1], got {conviction!r}")
        self._conviction = float(conviction)

    def score(self, request: ScoreRequest) -> Score:
        """Return the fixed conviction; never suppresses."""
        return Score(
            conviction=self._conviction,
            suppress=False,
            reasoning="fixed conviction, no model",
            source=ScoreSource.FIXED,
        )
