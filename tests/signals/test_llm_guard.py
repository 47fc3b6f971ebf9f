"""Sanitising untrusted model text, validating its answer, and the circuit breaker."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from core.clock import SimulatedClock
from signals.llm_guard import (
    MAX_REASONING_CHARS,
    BreakerState,
    CircuitBreaker,
    ModelFailure,
    sanitize_reasoning,
)
from signals.llm_prompt import Verdict, parse_verdict

START = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("\x1b[31mBUY\x1b[0m now", "BUY now"),
        ("\x1b]8;;https://evil.example\x07click\x1b]8;;\x07 here", "click here"),
        ("\x1b]0;owned title\x1b\\ok", "ok"),
        ("a\x9b2Jb", "a b"),
        ("line1\nline2\r\n\tline3", "line1 line2 line3"),
        ("bell\x07 back\x08space nul\x00", "bell backspace nul"),
        ("trend \u202eesrever\u202c up\u200b", "trend esrever up"),
        ("  spaced    out  ", "spaced out"),
        ("", ""),
    ],
)
def test_sanitize_strips_escapes_and_controls(raw: str, clean: str) -> None:
    assert sanitize_reasoning(raw) == clean


def test_sanitize_cuts_an_ansi_laden_500_word_answer_to_20_words() -> None:
    raw = "\x1b[2J\x1b[H" + " ".join(f"w{i}\x1b[1m" for i in range(500))
    clean = sanitize_reasoning(raw)
    assert "\x1b" not in clean
    assert clean.split() == [f"w{i}" for i in range(20)]


def test_sanitize_caps_one_giant_word() -> None:
    assert len(sanitize_reasoning("x" * 10_000)) == MAX_REASONING_CHARS


def test_parse_verdict_accepts_the_schema_and_boundaries() -> None:
    assert parse_verdict({"conviction": -1, "suppress": True, "reasoning": "no"}) == Verdict(
        -1.0, True, "no"
    )
    assert parse_verdict({"conviction": 1.0, "suppress": False, "reasoning": ""}).conviction == 1.0


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ([0.5], "not an object"),
        ({"conviction": 0.5, "suppress": False}, "wrong fields"),
        ({"conviction": 0.5, "suppress": False, "reasoning": "", "size": 9}, "wrong fields"),
        ({"conviction": "0.9", "suppress": False, "reasoning": ""}, "not a number"),
        ({"conviction": True, "suppress": False, "reasoning": ""}, "not a number"),
        ({"conviction": math.nan, "suppress": False, "reasoning": ""}, "not finite"),
        ({"conviction": -math.inf, "suppress": False, "reasoning": ""}, "not finite"),
        ({"conviction": 3.7, "suppress": False, "reasoning": ""}, r"out of \[-1, 1\]"),
        ({"conviction": 0.5, "suppress": 0, "reasoning": ""}, "suppress is not a boolean"),
        ({"conviction": 0.5, "suppress": "false", "reasoning": ""}, "suppress is not a boolean"),
        ({"conviction": 0.5, "suppress": False, "reasoning": None}, "reasoning is not a string"),
    ],
)
def test_parse_verdict_rejects_schema_violations(payload: object, reason: str) -> None:
    with pytest.raises(ModelFailure, match=reason) as caught:
        parse_verdict(payload)
    assert caught.value.reason.startswith("schema: ")


def test_breaker_opens_after_threshold_and_half_opens_after_cooldown() -> None:
    clock = SimulatedClock(START)
    breaker = CircuitBreaker(threshold=3, cooldown_s=600, clock=clock)
    for _ in range(2):
        assert breaker.allow()
        breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    clock.set(START + timedelta(seconds=599))
    assert not breaker.allow()
    clock.set(START + timedelta(seconds=600))
    assert breaker.allow()  # the one trial
    assert breaker.state is BreakerState.HALF_OPEN
    assert not breaker.allow()  # no second call while the trial is out
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN  # a failed trial reopens at once
    clock.set(START + timedelta(seconds=1199))
    assert not breaker.allow()
    clock.set(START + timedelta(seconds=1200))
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED  # the count restarted after the success
