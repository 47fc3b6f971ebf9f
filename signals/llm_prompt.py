"""What the model is told and what it must answer: prompt, JSON schema, answer validation.

The prompt carries the symbol and numbers only (no free text from anywhere), so nothing a data
source or a previous answer says can steer the model. The answer is validated here, for both
providers, whatever the provider promised about its structured output.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass

from signals.llm_guard import ModelFailure
from signals.scorer import ScoreRequest

TOOL_NAME = "submit_score"

SYSTEM_PROMPT = (
    "You are a quantitative analyst assistant for a risk-managed crypto trading bot. "
    "You receive a symbol, a proposed trade signal and indicator numbers, nothing else. "
    "Judge how well the numbers confirm the signal and answer with the required JSON fields.\n"
    "conviction: -1.0 (strong evidence against the signal) to 1.0 (strong confirmation).\n"
    "suppress: true only if you see a clear invalidating pattern.\n"
    "reasoning: plain text, at most 20 words.\n"
    "Your answer can reduce or block the trade; it cannot create or enlarge one."
)

SCORE_SCHEMA: dict[str, object] = {
    "type": "object",
    "properties": {
        "conviction": {
            "type": "number",
            "description": "-1.0 strong counter-evidence to 1.0 strong confirmation",
        },
        "suppress": {
            "type": "boolean",
            "description": "true only for a clear invalidating pattern",
        },
        "reasoning": {"type": "string", "description": "at most 20 words"},
    },
    "required": ["conviction", "suppress", "reasoning"],
    "additionalProperties": False,
}

# Part of the cache key: derived from the system prompt and schema so that changing either
# can never replay answers given to the old question.
SCHEMA_VERSION = "v1-" + hashlib.sha256(
    (SYSTEM_PROMPT + json.dumps(SCORE_SCHEMA, sort_keys=True)).encode()
).hexdigest()[:12]

_FIELDS = frozenset(("conviction", "suppress", "reasoning"))


def render_prompt(request: ScoreRequest) -> str:
    """The user message for ``request``: fixed labels, the symbol and formatted numbers."""
    closes = ", ".join(f"{c:.6g}" for c in request.closes) or "n/a"
    return (
        f"Symbol: {request.symbol}\n"
        f"Proposed signal: {'LONG' if request.direction == 1 else 'SHORT'}\n"
        + "".join(f"{n.label}: {n.text()}\n" for n in request.numbers)
        + f"Last closes (oldest first): {closes}\n"
        f"Volume trend (last 3 bars): {request.volume_trend}\n"
        "Score this signal."
    )


@dataclass(frozen=True, slots=True)
class Verdict:
    """A validated answer; ``reasoning`` is still raw and must be sanitised before use."""

    conviction: float
    suppress: bool
    reasoning: str


def parse_verdict(payload: object) -> Verdict:
    """Validate the model's JSON object against SCORE_SCHEMA, stricter than JSON Schema."""
    if not isinstance(payload, dict):
        raise ModelFailure("schema: answer is not an object")
    # Reason codes never echo the model's text: they go to logs and the journal.
    if set(payload) != _FIELDS:
        raise ModelFailure("schema: wrong fields")
    conviction = payload["conviction"]
    # bool is an int in Python; JSON true is not a conviction.
    if isinstance(conviction, bool) or not isinstance(conviction, int | float):
        raise ModelFailure("schema: conviction is not a number")
    if not math.isfinite(conviction):
        raise ModelFailure("schema: conviction is not finite")
    if not -1.0 <= conviction <= 1.0:
        raise ModelFailure("schema: conviction out of [-1, 1]")
    suppress = payload["suppress"]
    if not isinstance(suppress, bool):
        raise ModelFailure("schema: suppress is not a boolean")
    reasoning = payload["reasoning"]
    if not isinstance(reasoning, str):
        raise ModelFailure("schema: reasoning is not a string")
    return Verdict(float(conviction), suppress, reasoning)
