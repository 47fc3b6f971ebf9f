"""OpenAIClient on the real openai SDK over httpx2.MockTransport: every path, no network."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.clock import SimulatedClock
from signals.llm_cache import ScoreCache
from signals.llm_openai import OpenAIClient
from signals.llm_prompt import SCORE_SCHEMA, SYSTEM_PROMPT, TOOL_NAME
from signals.llm_scorer import LLMScorer
from signals.scorer import Score, ScoreRequest, ScoreSource, VolumeTrend
from signals.scorer_context import seed_numbers
from signals.scorer_settings import ScorerSettings
from tests.fake_llm import (
    FakeLLM,
    Reply,
    good_answer,
    openai_completion,
    openai_error,
    raise_connect_error,
    raise_read_timeout,
)

KEY = "sk-proj-OPENAI-TEST-KEY-never-log-me"
REQUEST = ScoreRequest(
    symbol="ETH/USDT",
    direction=1,
    closes=(3012.5, 3020.0, 3031.25),
    volume_trend=VolumeTrend.FALLING,
    numbers=seed_numbers(55.04, -0.125),
)
PROMPT = (
    "Symbol: ETH/USDT\nProposed signal: LONG\nRSI: 55.0\nEMA spread (fast vs slow): -0.12%\n"
    "Last closes (oldest first): 3012.5, 3020, 3031.25\n"
    "Volume trend (last 3 bars): falling\nScore this signal."
)


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[ScoreCache]:
    store = ScoreCache(tmp_path / "llm.sqlite3")
    yield store
    store.close()


def make_scorer(fake: FakeLLM, cache: ScoreCache, **env: str) -> LLMScorer:
    settings = ScorerSettings.from_env({"OPENAI_API_KEY": KEY, "SCORER_MAX_RETRIES": "0", **env})
    client = OpenAIClient(settings, http_client=fake.client(), strict_response_validation=True)
    clock = SimulatedClock(datetime(2025, 3, 1, 12, tzinfo=UTC))
    return LLMScorer(client, settings, cache=cache, clock=clock)


def answer_json(**overrides: object) -> str:
    return json.dumps({**good_answer(), **overrides})


def assert_fallback(score: Score, reason: str) -> None:
    assert (score.conviction, score.suppress, score.reasoning) == (0.5, False, "fallback")
    assert score.source is ScoreSource.FALLBACK
    assert score.fallback_reason == reason


def test_success_parses_the_json_content_and_usage(cache: ScoreCache) -> None:
    fake = FakeLLM(openai_completion(answer_json(conviction=-0.4, suppress=True),
                                     tokens=(500, 60)))
    score = make_scorer(fake, cache).score(REQUEST)
    assert (score.conviction, score.suppress, score.source) == (-0.4, True, ScoreSource.LLM)
    assert (score.tokens_in, score.tokens_out) == (500, 60)
    assert score.cost_usd == pytest.approx((500 * 0.10 + 60 * 0.50) / 1e6)


def test_request_carries_a_strict_json_schema_and_only_the_numbers(cache: ScoreCache) -> None:
    fake = FakeLLM(openai_completion(answer_json()))
    make_scorer(fake, cache).score(REQUEST)
    (request,) = fake.requests
    assert request.url == "https://api.openai.com/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    body = json.loads(request.content)
    assert set(body) == {"model", "messages", "response_format", "max_completion_tokens"}
    assert body["model"] == "gpt-6-luna"
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": TOOL_NAME, "schema": SCORE_SCHEMA, "strict": True},
    }
    assert body["messages"] == [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": PROMPT},
    ]


def test_base_url_reaches_a_keyless_local_server(cache: ScoreCache) -> None:
    fake = FakeLLM(openai_completion(answer_json()))
    scorer = make_scorer(
        fake, cache, OPENAI_API_KEY="", SCORER_PROVIDER="openai",
        SCORER_BASE_URL="http://127.0.0.1:8080/v1", SCORER_MODEL="qwen3-8b",
    )
    score = scorer.score(REQUEST)
    assert (score.source, score.cost_usd) == (ScoreSource.LLM, 0.0)
    (request,) = fake.requests
    assert request.url == "http://127.0.0.1:8080/v1/chat/completions"
    assert json.loads(request.content)["model"] == "qwen3-8b"


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (openai_completion("The trend looks fine."), "invalid_json"),
        (openai_completion('{"conviction": NaN, "suppress": false, "reasoning": "x"}'),
         "schema: conviction is not finite"),
        (openai_completion(answer_json(conviction=3.7)), "schema: conviction out of [-1, 1]"),
        (openai_completion(answer_json(conviction=True)), "schema: conviction is not a number"),
        (openai_completion(answer_json(suppress="no")), "schema: suppress is not a boolean"),
        (openai_completion('{"conviction": 0.5}'), "schema: wrong fields"),
        (openai_completion(None, refusal="I can't help with trading."), "refusal"),
        (openai_completion('{"conviction": 0.', finish_reason="length"), "finish_reason: length"),
        (openai_completion(None, finish_reason="content_filter"),
         "finish_reason: content_filter"),
        (openai_completion(""), "empty_response"),
        (openai_error(429), "http_429"),
        (openai_error(529), "http_529"),
        (openai_error(500), "http_500"),
        (openai_error(401), "http_401"),
        (raise_connect_error, "connection"),
        (raise_read_timeout, "timeout"),
    ],
)
def test_every_failure_falls_back_with_its_reason(
    cache: ScoreCache, reply: Reply, reason: str
) -> None:
    fake = FakeLLM(reply)
    assert_fallback(make_scorer(fake, cache).score(REQUEST), reason)
    assert len(fake.requests) == 1


def test_sdk_retries_as_configured_without_real_backoff(cache: ScoreCache) -> None:
    fake = FakeLLM(openai_error(500), openai_completion(answer_json()))
    started = time.perf_counter()
    score = make_scorer(fake, cache, SCORER_MAX_RETRIES="1").score(REQUEST)
    assert score.source is ScoreSource.LLM
    assert len(fake.requests) == 2
    assert time.perf_counter() - started < 1.0


def test_logs_never_show_the_key(cache: ScoreCache, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    fake = FakeLLM(openai_error(401))
    assert_fallback(make_scorer(fake, cache).score(REQUEST), "http_401")
    fake.replies = [openai_completion(answer_json())]
    assert make_scorer(fake, cache).score(REQUEST).source is ScoreSource.LLM
    assert "fell back to conviction 0.5: http_401" in caplog.text
    assert KEY not in caplog.text
