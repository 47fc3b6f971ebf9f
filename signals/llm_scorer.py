"""The LLM scorer: cache, budget and breaker around a provider adapter; the factory; the seed API.

Order of a call: answer cache -> daily budget -> circuit breaker -> model. Whatever goes wrong
after the cache, the caller gets the seed's fallback (conviction 0.5, suppress False) with the
reason, and the bot trades on quant-only. The scorer is asked about entries only; see
signals.scorer for how the risk layer uses the answer.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from typing import TYPE_CHECKING

from core.clock import Clock, SystemClock
from core.errors import ScorerError
from signals.llm_cache import CachedAnswer, ScoreCache, cache_key
from signals.llm_guard import (
    BreakerState,
    CircuitBreaker,
    ModelClient,
    ModelFailure,
    sanitize_reasoning,
)
from signals.llm_prompt import SCHEMA_VERSION, Verdict, parse_verdict, render_prompt
from signals.scorer import (
    FALLBACK_CONVICTION,
    FixedScorer,
    Score,
    Scorer,
    ScoreRequest,
    ScoreSource,
    fallback_score,
)
from signals.scorer_context import request_from_seed
from signals.scorer_settings import (
    EST_TOKENS_IN_PER_CALL,
    EST_TOKENS_OUT_PER_CALL,
    Provider,
    ScorerSettings,
)

if TYPE_CHECKING:
    import httpx2

log = logging.getLogger(__name__)

# For the backtest to print before it scores history with a model.
LOOKAHEAD_WARNING = (
    "A language model may have been trained on the very history it is scoring: "
    "LLM-scored backtest results before the model's knowledge cutoff are likely optimistic "
    "(look-ahead). Compare against the fixed scorer and trust only later data."
)


class LLMScorer:
    """Scorer backed by a model: cached, budgeted, behind a circuit breaker; never raises."""

    def __init__(
        self, client: ModelClient, settings: ScorerSettings, *, cache: ScoreCache, clock: Clock
    ) -> None:
        self._client = client
        self._settings = settings
        self._cache = cache
        self._clock = clock
        self._breaker = CircuitBreaker(
            threshold=settings.breaker_failures,
            cooldown_s=settings.breaker_cooldown_s,
            clock=clock,
        )
        self._last_logged_reason = ""

    @property
    def breaker_state(self) -> BreakerState:
        """The circuit breaker's state, for status screens."""
        return self._breaker.state

    def cache_key(self, request: ScoreRequest) -> str:
        """The answer-cache key of ``request`` for this provider and model."""
        return cache_key(
            provider=self._client.provider,
            model=self._client.model,
            prompt=render_prompt(request),
            schema_version=SCHEMA_VERSION,
        )

    def is_cached(self, request: ScoreRequest) -> bool:
        """Whether ``request`` would be answered from the cache (for a backtest's cost estimate)."""
        return self._cache.get(self.cache_key(request)) is not None

    def score(self, request: ScoreRequest) -> Score:
        """Score one proposed entry; any failure returns the fallback with its reason."""
        started = time.perf_counter()
        try:
            return self._score(request, started)
        except Exception as exc:
            # A broken cache file or an SDK surprise must not stop the bot either.
            return self._fallback(f"error: {type(exc).__name__}", started)

    def _score(self, request: ScoreRequest, started: float) -> Score:
        key = self.cache_key(request)
        cached = self._cache.get(key)
        if cached is not None:
            return Score(
                conviction=cached.conviction,
                suppress=cached.suppress,
                reasoning=cached.reasoning,
                source=ScoreSource.CACHE,
                latency_s=time.perf_counter() - started,
            )
        day = self._clock.now().date().isoformat()
        if self._over_budget(day):
            return self._fallback("budget", started)
        if not self._breaker.allow():
            return self._fallback("breaker_open", started)
        return self._ask_model(key, render_prompt(request), day, started)

    def _over_budget(self, day: str) -> bool:
        # Refuse a call that would likely cross the cap, not only once it is crossed.
        next_call = self._settings.call_cost_usd(EST_TOKENS_IN_PER_CALL, EST_TOKENS_OUT_PER_CALL)
        return self._cache.spent_usd(day) + next_call > self._settings.daily_budget_usd

    def _ask_model(self, key: str, prompt: str, day: str, started: float) -> Score:
        tokens_in = tokens_out = 0
        try:
            answer = self._client.complete(prompt)
            tokens_in, tokens_out = answer.tokens_in, answer.tokens_out
            verdict = parse_verdict(answer.payload)
        except Exception as exc:
            # Not only ModelFailure: a surprise must still count, or a half-open breaker
            # would wait for a verdict on its trial forever.
            failure = exc if isinstance(exc, ModelFailure) else ModelFailure(
                f"error: {type(exc).__name__}"
            )
            self._breaker.record_failure()
            tokens_in = tokens_in or failure.tokens_in
            tokens_out = tokens_out or failure.tokens_out
            cost = self._record_spend(day, tokens_in, tokens_out)
            return self._fallback(
                failure.reason, started, tokens_in=tokens_in, tokens_out=tokens_out, cost_usd=cost
            )
        self._breaker.record_success()
        self._last_logged_reason = ""
        cost = self._record_spend(day, tokens_in, tokens_out)
        stored = self._remember(key, verdict)
        return Score(
            conviction=stored.conviction,
            suppress=stored.suppress,
            reasoning=stored.reasoning,
            source=ScoreSource.LLM,
            latency_s=time.perf_counter() - started,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            cost_usd=cost,
        )

    def _remember(self, key: str, verdict: Verdict) -> CachedAnswer:
        # Sanitised before caching, so a replayed answer is as safe as a fresh one.
        stored = CachedAnswer(
            verdict.conviction, verdict.suppress, sanitize_reasoning(verdict.reasoning)
        )
        self._cache.put(
            key, stored, provider=self._client.provider, model=self._client.model,
            created_at=self._clock.now().isoformat(),
        )
        return stored

    def _record_spend(self, day: str, tokens_in: int, tokens_out: int) -> float:
        cost = self._settings.call_cost_usd(tokens_in, tokens_out)
        if tokens_in or tokens_out:
            self._cache.add_spend(
                day, provider=self._client.provider, model=self._client.model,
                tokens_in=tokens_in, tokens_out=tokens_out, cost_usd=cost,
            )
        return cost

    def _fallback(
        self, reason: str, started: float, *, tokens_in: int = 0, tokens_out: int = 0,
        cost_usd: float = 0.0,
    ) -> Score:
        # One line per streak of the same reason (no stack trace): an outage reads as
        # "http_529" then "breaker_open", not as a wall of identical warnings.
        if reason != self._last_logged_reason:
            log.warning(
                "LLM scorer (%s %s) fell back to conviction %.1f: %s",
                self._client.provider, self._client.model, FALLBACK_CONVICTION, reason,
            )
            self._last_logged_reason = reason
        return fallback_score(
            reason, latency_s=time.perf_counter() - started, tokens_in=tokens_in,
            tokens_out=tokens_out, cost_usd=cost_usd,
        )


def build_scorer(
    settings: ScorerSettings,
    *,
    clock: Clock,
    http_client: httpx2.Client | None = None,
    cache: ScoreCache | None = None,
) -> Scorer:
    """The scorer the settings ask for: FixedScorer, or an LLMScorer on Anthropic / OpenAI."""
    if settings.provider is Provider.FIXED:
        log.info("scorer: fixed conviction %.2f (no model)", settings.fixed_conviction)
        return FixedScorer(settings.fixed_conviction)
    client: ModelClient
    if settings.provider is Provider.ANTHROPIC:
        from signals.llm_anthropic import AnthropicClient

        client = AnthropicClient(settings, http_client=http_client)
    else:
        from signals.llm_openai import OpenAIClient

        client = OpenAIClient(settings, http_client=http_client)
    log.info("scorer: %s %s at %s", settings.provider, settings.model, settings.base_url)
    store = cache if cache is not None else ScoreCache(settings.cache_path)
    return LLMScorer(client, settings, cache=store, clock=clock)


@functools.cache
def default_scorer() -> Scorer:
    """The scorer configured by the process environment, built once (breaker state lives on)."""
    return build_scorer(ScorerSettings.from_env(os.environ), clock=SystemClock())


def score_signal(
    symbol: str,
    signal_direction: int,
    recent_candles_summary: str,
    rsi: float,
    ema_spread_pct: float,
    *,
    scorer: Scorer | None = None,
) -> dict[str, object]:
    """The seed's API: {"conviction", "reasoning", "suppress"} from the configured scorer."""
    try:
        request = request_from_seed(
            symbol, signal_direction, recent_candles_summary, rsi, ema_spread_pct
        )
    except ScorerError as exc:
        log.warning("LLM scorer fell back to conviction %.1f: invalid request (%s)",
                    FALLBACK_CONVICTION, exc)
        return fallback_score("invalid_request").to_seed_dict()
    return (scorer if scorer is not None else default_scorer()).score(request).to_seed_dict()
