"""OpenAI-compatible adapter: chat.completions with a strict json_schema response format.

``base_url`` points it at OpenAI or at a local OpenAI-compatible server (llama.cpp, ollama,
vLLM). One of the two modules allowed to import an LLM SDK, lazily; SDK errors become
ModelFailure here, at the boundary.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from signals.llm_guard import ModelAnswer, ModelFailure
from signals.llm_prompt import SCORE_SCHEMA, SYSTEM_PROMPT, TOOL_NAME
from signals.scorer_settings import ScorerSettings

if TYPE_CHECKING:
    import httpx2
    from openai.types.chat import ChatCompletion

# The SDK refuses to start without a key; local servers ignore it.
_LOCAL_PLACEHOLDER_KEY = "no-key-needed"


class OpenAIClient:
    """ModelClient over ``openai.OpenAI().chat.completions.create`` with json_schema output."""

    def __init__(
        self,
        settings: ScorerSettings,
        *,
        http_client: httpx2.Client | None = None,
        strict_response_validation: bool = False,
    ) -> None:
        import openai  # lazy: only this adapter loads the SDK

        self._model = settings.model
        self._max_tokens = settings.max_tokens
        # base_url passed explicitly so OPENAI_BASE_URL cannot override the settings.
        self._client = openai.OpenAI(
            api_key=settings.api_key.reveal() or _LOCAL_PLACEHOLDER_KEY,
            base_url=settings.base_url,
            timeout=settings.timeout_s,
            max_retries=settings.max_retries,
            http_client=http_client,
            _strict_response_validation=strict_response_validation,
        )

    @property
    def provider(self) -> str:
        """Provider name for the cache key and the journal."""
        return "openai"

    @property
    def model(self) -> str:
        """Model id sent to the API."""
        return self._model

    def complete(self, prompt: str) -> ModelAnswer:
        """One chat completion whose content must be the JSON answer."""
        try:
            completion = self._client.chat.completions.create(
                model=self._model,
                messages=[
                    {"role": "system", "content": SYSTEM_PROMPT},
                    {"role": "user", "content": prompt},
                ],
                response_format={
                    "type": "json_schema",
                    "json_schema": {"name": TOOL_NAME, "schema": SCORE_SCHEMA, "strict": True},
                },
                # max_completion_tokens, not the deprecated max_tokens that reasoning models
                # reject; it also bounds their hidden reasoning tokens.
                max_completion_tokens=self._max_tokens,
            )
        except Exception as exc:
            raise ModelFailure(_reason(exc)) from None
        return _answer(completion)


def _reason(exc: Exception) -> str:
    from openai import (
        APIConnectionError,
        APIResponseValidationError,
        APIStatusError,
        APITimeoutError,
    )

    if isinstance(exc, APITimeoutError):
        return "timeout"
    if isinstance(exc, APIConnectionError):
        return "connection"
    if isinstance(exc, APIStatusError):
        return f"http_{exc.status_code}"
    if isinstance(exc, APIResponseValidationError):
        return "bad_response"
    if isinstance(exc, json.JSONDecodeError):
        return "invalid_json"
    return f"error: {type(exc).__name__}"


def _answer(completion: ChatCompletion) -> ModelAnswer:
    usage = completion.usage
    tokens_in = usage.prompt_tokens if usage else 0
    tokens_out = usage.completion_tokens if usage else 0

    def fail(reason: str) -> ModelFailure:
        return ModelFailure(reason, tokens_in=tokens_in, tokens_out=tokens_out)

    if not completion.choices:
        raise fail("empty_response")
    choice = completion.choices[0]
    if choice.message.refusal:
        raise fail("refusal")
    if choice.finish_reason == "length":
        raise fail("finish_reason: length")
    if choice.finish_reason == "content_filter":
        raise fail("finish_reason: content_filter")
    if not choice.message.content:
        raise fail("empty_response")
    try:
        payload: object = json.loads(choice.message.content)
    except ValueError:
        raise fail("invalid_json") from None
    return ModelAnswer(payload=payload, tokens_in=tokens_in, tokens_out=tokens_out)
