"""Anthropic adapter: the Messages API with the answer's shape forced through tool use.

One of the two modules allowed to import an LLM SDK; it does so lazily so that a bot on the
fixed scorer never loads it. SDK errors are translated to ModelFailure here, at the boundary.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from signals.llm_guard import ModelAnswer, ModelFailure
from signals.llm_prompt import SCORE_SCHEMA, SYSTEM_PROMPT, TOOL_NAME
from signals.scorer_settings import ScorerSettings

if TYPE_CHECKING:
    import httpx2
    from anthropic.types import Message

# stop_reason values that mean the tool input is missing or cut short.
_BAD_STOPS = frozenset({"refusal", "max_tokens", "model_context_window_exceeded", "pause_turn"})


class AnthropicClient:
    """ModelClient over ``anthropic.Anthropic().messages.create`` with a forced tool call."""

    def __init__(
        self,
        settings: ScorerSettings,
        *,
        http_client: httpx2.Client | None = None,
        strict_response_validation: bool = False,
    ) -> None:
        import anthropic  # lazy: only this adapter loads the SDK

        self._model = settings.model
        self._max_tokens = settings.max_tokens
        # Everything explicit so that no ANTHROPIC_* variable changes behaviour behind the
        # settings' back; timeout is per attempt, retries are the SDK's (it honours
        # retry-after and backs off exponentially otherwise).
        self._client = anthropic.Anthropic(
            api_key=settings.api_key.reveal(),
            base_url=settings.base_url,
            timeout=settings.timeout_s,
            max_retries=settings.max_retries,
            http_client=http_client,
            open_telemetry=False,
            _strict_response_validation=strict_response_validation,
        )

    @property
    def provider(self) -> str:
        """Provider name for the cache key and the journal."""
        return "anthropic"

    @property
    def model(self) -> str:
        """Model id sent to the API."""
        return self._model

    def complete(self, prompt: str) -> ModelAnswer:
        """One forced tool call; the tool's input is the raw answer."""
        try:
            message = self._client.messages.create(
                model=self._model,
                max_tokens=self._max_tokens,
                system=SYSTEM_PROMPT,
                messages=[{"role": "user", "content": prompt}],
                tools=[
                    {
                        "name": TOOL_NAME,
                        "description": "Submit the score for the proposed trade signal.",
                        "input_schema": SCORE_SCHEMA,
                    }
                ],
                tool_choice={"type": "tool", "name": TOOL_NAME, "disable_parallel_tool_use": True},
                # Forced tool use is refused while thinking is on, and Haiku 5.5 thinks by
                # default; the answer is a 20-word classification that needs none.
                thinking={"type": "disabled"},
            )
        except Exception as exc:
            raise ModelFailure(_reason(exc)) from None
        return _answer(message)


def _reason(exc: Exception) -> str:
    from anthropic import (
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


def _answer(message: Message) -> ModelAnswer:
    usage = message.usage
    # Cache reads/writes are billed input too; counting them at the input price overestimates
    # a little, which is the safe side for a budget.
    tokens_in = (
        usage.input_tokens
        + (usage.cache_creation_input_tokens or 0)
        + (usage.cache_read_input_tokens or 0)
    )
    tokens_out = usage.output_tokens
    if message.stop_reason in _BAD_STOPS:
        raise ModelFailure(
            f"stop_reason: {message.stop_reason}", tokens_in=tokens_in, tokens_out=tokens_out
        )
    for block in message.content:
        if block.type == "tool_use" and block.name == TOOL_NAME:
            return ModelAnswer(payload=block.input, tokens_in=tokens_in, tokens_out=tokens_out)
    raise ModelFailure("no_tool_block", tokens_in=tokens_in, tokens_out=tokens_out)
