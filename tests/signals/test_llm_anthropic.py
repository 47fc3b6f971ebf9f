"""AnthropicClient on the real anthropic SDK over httpx2.MockTransport: every path, no network."""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx2
import pytest

from core.clock import SimulatedClock
from signals.llm_anthropic import AnthropicClient
from signals.llm_cache import ScoreCache
from signals.llm_prompt import SCORE_SCHEMA, SYSTEM_PROMPT, TOOL_NAME
from signals.llm_scorer import LLMScorer
from signals.scorer import Score, ScoreRequest, ScoreSource, VolumeTrend
from signals.scorer_context import seed_numbers
from signals.scorer_settings import ScorerSettings
from tests.fake_llm import (
    FakeLLM,
    Reply,
    anthropic_error,
    anthropic_message,
    anthropic_tool_use,
    good_answer,
    raise_connect_error,
    raise_read_timeout,
)

KEY = "sk-ant-api03-ANTHROPIC-TEST-KEY-never-log-me"
REQUEST = ScoreRequest(
    symbol="BTC/USDT",
    direction=1,
    closes=(64000.0, 64120.5, 64300.0, 64250.0, 64410.0),
    volume_trend=VolumeTrend.RISING,
    numbers=seed_numbers(61.37, 0.4234),
)
PROMPT = (
    "Symbol: BTC/USDT\nProposed signal: LONG\nRSI: 61.4\nEMA spread (fast vs slow): 0.42%\n"
    "Last closes (oldest first): 64000, 64120.5, 64300, 64250, 64410\n"
    "Volume trend (last 3 bars): rising\nScore this signal."
)


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[ScoreCache]:
    store = ScoreCache(tmp_path / "llm.sqlite3")
    yield store
    store.close()


def make_scorer(fake: FakeLLM, cache: ScoreCache, **env: str) -> LLMScorer:
    settings = ScorerSettings.from_env({"ANTHROPIC_API_KEY": KEY, "SCORER_MAX_RETRIES": "0", **env})
    client = AnthropicClient(
        settings, http_client=fake.client(), strict_response_validation=True
    )
    clock = SimulatedClock(datetime(2025, 3, 1, 12, tzinfo=UTC))
    return LLMScorer(client, settings, cache=cache, clock=clock)


def assert_fallback(score: Score, reason: str) -> None:
    assert (score.conviction, score.suppress, score.reasoning) == (0.5, False, "fallback")
    assert score.source is ScoreSource.FALLBACK
    assert score.fallback_reason == reason


def test_success_returns_the_tool_input_and_usage(cache: ScoreCache) -> None:
    fake = FakeLLM(anthropic_tool_use(good_answer(0.72), tokens=(600, 40)))
    score = make_scorer(fake, cache).score(REQUEST)
    assert score == Score(
        conviction=0.72,
        suppress=False,
        reasoning="EMA spread widening.",
        source=ScoreSource.LLM,
        latency_s=score.latency_s,
        tokens_in=600,
        tokens_out=40,
        cost_usd=score.cost_usd,
    )
    assert score.cost_usd == pytest.approx((600 * 0.10 + 40 * 0.50) / 1e6)
    assert score.latency_s >= 0.0
    assert cache.spent_usd("2025-03-01") == pytest.approx(score.cost_usd)


def test_request_forces_the_tool_and_carries_only_the_numbers(cache: ScoreCache) -> None:
    fake = FakeLLM(anthropic_tool_use(good_answer()))
    make_scorer(fake, cache).score(REQUEST)
    (request,) = fake.requests
    assert request.url == "https://api.anthropic.com/v1/messages"
    assert KEY in request.headers["authorization"]  # this SDK version sends it there
    body = json.loads(request.content)
    assert set(body) == {
        "model", "max_tokens", "system", "messages", "tools", "tool_choice", "thinking",
    }
    assert body["model"] == "claude-haiku-5-5"
    assert body["tool_choice"] == {
        "type": "tool", "name": TOOL_NAME, "disable_parallel_tool_use": True,
    }
    assert body["tools"][0]["name"] == TOOL_NAME
    assert body["tools"][0]["input_schema"] == SCORE_SCHEMA
    assert body["thinking"] == {"type": "disabled"}
    assert body["system"] == SYSTEM_PROMPT
    assert body["messages"] == [{"role": "user", "content": PROMPT}]


NAN_BODY = httpx2.Response(
    200,
    headers={"content-type": "application/json"},
    content=json.dumps({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-haiku-5-5",
        "content": [{"type": "tool_use", "id": "toolu_1", "name": TOOL_NAME,
                     "input": {"conviction": math.nan, "suppress": False, "reasoning": "x"}}],
        "stop_reason": "tool_use", "stop_sequence": None,
        "usage": {"input_tokens": 600, "output_tokens": 40},
    }).encode(),
)


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (anthropic_message([{"type": "text", "text": "Looks bullish to me."}]), "no_tool_block"),
        (anthropic_tool_use(good_answer(), name="other_tool"), "no_tool_block"),
        (anthropic_tool_use({"conviction": "high"}), "schema: wrong fields"),
        (anthropic_tool_use(good_answer(3.7)), "schema: conviction out of [-1, 1]"),
        (NAN_BODY, "schema: conviction is not finite"),
        (anthropic_tool_use({**good_answer(), "conviction": True}),
         "schema: conviction is not a number"),
        (anthropic_tool_use({**good_answer(), "suppress": 1}), "schema: suppress is not a boolean"),
        (anthropic_message([], stop_reason="refusal"), "stop_reason: refusal"),
        (anthropic_tool_use({"conviction": 0.5}, stop_reason="max_tokens"),
         "stop_reason: max_tokens"),
        (httpx2.Response(200, content=b'{"id": "msg_1", "content": [',
                         headers={"content-type": "application/json"}), "invalid_json"),
        (anthropic_error(429), "http_429"),
        (anthropic_error(529), "http_529"),
        (anthropic_error(500), "http_500"),
        (anthropic_error(401), "http_401"),
        (raise_connect_error, "connection"),
        (raise_read_timeout, "timeout"),
    ],
)
def test_every_failure_falls_back_with_its_reason(
    cache: ScoreCache, reply: Reply, reason: str
) -> None:
    fake = FakeLLM(reply)
    score = make_scorer(fake, cache).score(REQUEST)
    assert_fallback(score, reason)
    assert len(fake.requests) == 1


def test_a_billed_but_invalid_answer_still_counts_against_the_budget(cache: ScoreCache) -> None:
    fake = FakeLLM(anthropic_tool_use(good_answer(3.7), tokens=(1_000_000, 0)))
    score = make_scorer(fake, cache).score(REQUEST)
    assert_fallback(score, "schema: conviction out of [-1, 1]")
    assert score.tokens_in == 1_000_000
    assert score.cost_usd == pytest.approx(0.10)
    assert cache.spent_usd("2025-03-01") == pytest.approx(0.10)


def test_sdk_retries_as_configured_without_real_backoff(cache: ScoreCache) -> None:
    # The fake's retry-after-ms header is what the real API sends and what the SDK obeys, so
    # the retry waits 1 ms instead of the SDK's 0.5 s exponential backoff.
    fake = FakeLLM(anthropic_error(529), anthropic_tool_use(good_answer()))
    started = time.perf_counter()
    score = make_scorer(fake, cache, SCORER_MAX_RETRIES="1").score(REQUEST)
    assert score.source is ScoreSource.LLM
    assert len(fake.requests) == 2
    fake = FakeLLM(anthropic_error(429))
    other = ScoreRequest("ETH/USDT", 1, (3000.0,), VolumeTrend.FALLING, seed_numbers(55.0, 0.1))
    assert_fallback(make_scorer(fake, cache, SCORER_MAX_RETRIES="1").score(other), "http_429")
    assert len(fake.requests) == 2
    assert time.perf_counter() - started < 1.0


def test_logs_say_why_once_and_never_show_the_key(
    cache: ScoreCache, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # the SDK's own debug logging included
    fake = FakeLLM(anthropic_error(401))
    scorer = make_scorer(fake, cache)
    for _ in range(2):
        assert_fallback(scorer.score(REQUEST), "http_401")
    fake.replies = [anthropic_tool_use(good_answer())]
    assert scorer.score(REQUEST).source is ScoreSource.LLM
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.getMessage() for r in warnings] == [
        "LLM scorer (anthropic claude-haiku-5-5) fell back to conviction 0.5: http_401"
    ]
    assert warnings[0].exc_info is None
    assert KEY not in caplog.text
