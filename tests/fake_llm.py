"""A scripted LLM endpoint for the real SDKs: httpx2.MockTransport answering in the APIs' shapes.

The anthropic and openai SDKs run unchanged on top of it (their own request building, parsing,
retries and error classes); only the network is replaced. Shapes follow the Messages API
(tool_use content blocks, usage) and chat.completions (message.content JSON, usage).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx2

Reply = httpx2.Response | Exception | Callable[[httpx2.Request], httpx2.Response]

# Tells the SDKs to wait 1 ms before a retry instead of their 0.5 s+ exponential backoff.
NO_WAIT = {"retry-after-ms": "1"}


class FakeLLM:
    """Answers each request with the next scripted reply (the last one repeats).

    ``replies`` may be replaced between calls to change what the endpoint does next.
    """

    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies)
        self.requests: list[httpx2.Request] = []

    def handler(self, request: httpx2.Request) -> httpx2.Response:
        """MockTransport handler: record the request, then reply or raise."""
        self.requests.append(request)
        if not self.replies:
            raise AssertionError("FakeLLM got a request it had no reply for")
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        if isinstance(reply, Exception):
            raise reply
        if isinstance(reply, httpx2.Response):
            return reply
        return reply(request)

    def client(self) -> httpx2.Client:
        """An httpx2.Client whose transport is this fake."""
        return httpx2.Client(transport=httpx2.MockTransport(self.handler))

    def bodies(self) -> list[dict[str, Any]]:
        """The JSON bodies the SDK sent, in order."""
        return [json.loads(r.content) for r in self.requests]


def _json(status: int, body: object, headers: dict[str, str] | None = None) -> httpx2.Response:
    # json.dumps keeps NaN / Infinity literals, as a misbehaving server might send them.
    return httpx2.Response(
        status,
        content=json.dumps(body).encode(),
        headers={"content-type": "application/json", **(headers or {})},
    )


def raise_read_timeout(request: httpx2.Request) -> httpx2.Response:
    """A transport-level read timeout, raised at once (no real waiting)."""
    raise httpx2.ReadTimeout("timed out", request=request)


def raise_connect_error(request: httpx2.Request) -> httpx2.Response:
    """A transport-level connection failure."""
    raise httpx2.ConnectError("connection refused", request=request)


def anthropic_tool_use(
    tool_input: object,
    *,
    name: str = "submit_score",
    stop_reason: str = "tool_use",
    tokens: tuple[int, int] = (600, 40),
) -> httpx2.Response:
    """A Messages API answer whose content is one tool_use block."""
    block = {"type": "tool_use", "id": "toolu_01A", "name": name, "input": tool_input}
    return anthropic_message([block], stop_reason=stop_reason, tokens=tokens)


def anthropic_message(
    content: list[dict[str, object]], *, stop_reason: str = "end_turn",
    tokens: tuple[int, int] = (600, 40),
) -> httpx2.Response:
    """A Messages API answer with the given content blocks."""
    return _json(200, {
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "type": "message",
        "role": "assistant",
        "model": "claude-haiku-5-5",
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {
            "input_tokens": tokens[0],
            "output_tokens": tokens[1],
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "service_tier": "standard",
        },
    })


_ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error", 401: "authentication_error", 429: "rate_limit_error",
    500: "api_error", 529: "overloaded_error",
}


def anthropic_error(status: int) -> httpx2.Response:
    """A Messages API error response."""
    return _json(status, {
        "type": "error",
        "error": {"type": _ANTHROPIC_ERROR_TYPES.get(status, "api_error"), "message": "nope"},
        "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy",
    }, headers=NO_WAIT)


def openai_completion(
    content: str | None,
    *,
    finish_reason: str = "stop",
    refusal: str | None = None,
    tokens: tuple[int, int] = (500, 60),
) -> httpx2.Response:
    """A chat.completions answer with one choice."""
    return _json(200, {
        "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
        "object": "chat.completion",
        "created": 1_760_000_000,
        "model": "gpt-6-luna",
        "choices": [{
            "index": 0,
            "message": {
                "role": "assistant", "content": content, "refusal": refusal, "annotations": [],
            },
            "logprobs": None,
            "finish_reason": finish_reason,
        }],
        "usage": {
            "prompt_tokens": tokens[0],
            "completion_tokens": tokens[1],
            "total_tokens": tokens[0] + tokens[1],
        },
        "service_tier": "default",
        "system_fingerprint": "fp_50cad350e4",
    })


def openai_error(status: int) -> httpx2.Response:
    """A chat.completions error response."""
    return _json(status, {
        "error": {"message": "nope", "type": "server_error", "param": None, "code": None},
    }, headers=NO_WAIT)


def good_answer(
    conviction: float = 0.72, suppress: bool = False, reasoning: str = "EMA spread widening."
) -> dict[str, object]:
    """A valid answer object."""
    return {"conviction": conviction, "suppress": suppress, "reasoning": reasoning}
