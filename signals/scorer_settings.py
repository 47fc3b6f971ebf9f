"""Scorer settings: one frozen, validated object built from the environment.

Provider ``auto`` (the default) resolves to ``anthropic`` when ANTHROPIC_API_KEY is set, else to
``openai`` when OPENAI_API_KEY is set, else to ``fixed`` (no model, conviction 0.5), so a
machine without keys never calls a model.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from core.errors import ConfigError
from core.paths import state_dir
from core.secrets import Secret, secret_from_env


class Provider(StrEnum):
    """Which scorer answers."""

    FIXED = "fixed"
    ANTHROPIC = "anthropic"
    OPENAI = "openai"


# Haiku 5.5: the current Claude model built for high-volume classification, the cheapest and
# fastest, and (unlike Sonnet 5.5 / Opus 5.5) it still accepts the forced tool_choice that pins
# the answer's JSON shape. GPT-6 Luna is OpenAI's matching high-volume tier.
DEFAULT_MODELS = {Provider.ANTHROPIC: "claude-haiku-5-5", Provider.OPENAI: "gpt-6-luna"}
DEFAULT_BASE_URLS = {
    Provider.ANTHROPIC: "https://api.anthropic.com",
    Provider.OPENAI: "https://api.openai.com/v1",
}
# Documented to reject tool_choice {"type": "tool"}: every call would 400 and fall back.
REJECTS_FORCED_TOOL = frozenset({"claude-sonnet-5-5", "claude-opus-5-5", "claude-fable-5-1"})

# USD per million tokens (input, output), list prices for prompts under 100k tokens as
# published when this table was written. Prices change: override with SCORER_PRICE_*_PER_MTOK.
PRICES_PER_MTOK: dict[str, tuple[float, float]] = {
    "claude-haiku-5-5": (0.10, 0.50),
    "claude-sonnet-5-5": (2.00, 10.00),
    "claude-haiku-4-5": (1.00, 5.00),
    "claude-sonnet-4-6": (3.00, 15.00),
    "gpt-6-luna": (0.10, 0.50),
    "gpt-6-sol": (2.00, 10.00),
}

# Rough tokens per scoring call (system prompt + tool/schema + numbers; answer ~30 words).
EST_TOKENS_IN_PER_CALL = 900
EST_TOKENS_OUT_PER_CALL = 120

ENV_NAMES = frozenset(
    {
        "SCORER_PROVIDER", "SCORER_MODEL", "SCORER_BASE_URL", "SCORER_TIMEOUT_S",
        "SCORER_MAX_RETRIES", "SCORER_MAX_TOKENS", "SCORER_BREAKER_FAILURES",
        "SCORER_BREAKER_COOLDOWN_S", "SCORER_DAILY_BUDGET_USD", "SCORER_PRICE_IN_PER_MTOK",
        "SCORER_PRICE_OUT_PER_MTOK", "SCORER_CACHE_PATH", "SCORER_FIXED_CONVICTION",
    }
)


@dataclass(frozen=True, slots=True)
class ScorerSettings:
    """Everything the scorer factory needs; ``from_env`` builds and validates it.

    provider: resolved provider (never ``auto``).
    model / base_url: model id and API root for the provider ("" for fixed).
    api_key: the provider's key, redacted when printed (empty for fixed or a keyless local server).
    timeout_s / max_retries: per HTTP attempt, and SDK retries after the first attempt.
    max_tokens: cap on the answer's tokens.
    breaker_failures / breaker_cooldown_s: consecutive failures that open the breaker, and
        how long it stays open before one trial call.
    daily_budget_usd: estimated spend per UTC day after which the scorer falls back.
    price_in_per_mtok / price_out_per_mtok: USD per million tokens for the cost estimate.
    cache_path: SQLite file for cached answers and the day's spend.
    fixed_conviction: conviction of the fixed scorer.
    """

    provider: Provider = Provider.FIXED
    model: str = ""
    base_url: str = ""
    api_key: Secret = field(default_factory=lambda: Secret(""))
    timeout_s: float = 10.0
    max_retries: int = 1
    max_tokens: int = 1024
    breaker_failures: int = 3
    breaker_cooldown_s: float = 600.0
    daily_budget_usd: float = 1.0
    price_in_per_mtok: float = 0.0
    price_out_per_mtok: float = 0.0
    cache_path: Path = Path("state/llm_cache.sqlite3")
    fixed_conviction: float = 0.5

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ScorerSettings:
        """Build settings from an os.environ-like mapping; ConfigError names any bad field."""
        reject_unknown_names(env)
        provider = _resolve_provider(env)
        model = _text(env, "SCORER_MODEL", DEFAULT_MODELS.get(provider, ""))
        base_url = _base_url(env, provider)
        api_key = _api_key(env, provider, base_url)
        price_in, price_out = _prices(env, provider, model, base_url)
        if provider is Provider.ANTHROPIC and model in REJECTS_FORCED_TOOL:
            raise ConfigError(
                f"SCORER_MODEL={model} rejects forced tool use, which the scorer needs; "
                f"use {DEFAULT_MODELS[Provider.ANTHROPIC]}"
            )
        return cls(
            provider=provider,
            model=model if provider is not Provider.FIXED else "",
            base_url=base_url,
            api_key=api_key,
            timeout_s=_number(env, "SCORER_TIMEOUT_S", 10.0, low=0.1, high=120.0),
            max_retries=_integer(env, "SCORER_MAX_RETRIES", 1, low=0, high=5),
            max_tokens=_integer(env, "SCORER_MAX_TOKENS", 1024, low=64, high=8192),
            breaker_failures=_integer(env, "SCORER_BREAKER_FAILURES", 3, low=1, high=100),
            breaker_cooldown_s=_number(env, "SCORER_BREAKER_COOLDOWN_S", 600.0, low=0.0,
                                       high=86_400.0),
            daily_budget_usd=_number(env, "SCORER_DAILY_BUDGET_USD", 1.0, low=0.0, high=10_000.0),
            price_in_per_mtok=price_in,
            price_out_per_mtok=price_out,
            cache_path=Path(_text(env, "SCORER_CACHE_PATH",
                                  str(state_dir(env) / "llm_cache.sqlite3"))),
            fixed_conviction=_number(env, "SCORER_FIXED_CONVICTION", 0.5, low=-1.0, high=1.0),
        )

    def call_cost_usd(self, tokens_in: int, tokens_out: int) -> float:
        """Estimated USD for one call's billed tokens."""
        return (tokens_in * self.price_in_per_mtok + tokens_out * self.price_out_per_mtok) / 1e6


def cost_estimate(n_calls: int, settings: ScorerSettings) -> float:
    """Rough USD for ``n_calls`` uncached model calls (0 for the fixed scorer)."""
    if n_calls < 0:
        raise ConfigError(f"n_calls must be >= 0, got {n_calls}")
    if settings.provider is Provider.FIXED:
        return 0.0
    return n_calls * settings.call_cost_usd(EST_TOKENS_IN_PER_CALL, EST_TOKENS_OUT_PER_CALL)


def reject_unknown_names(env: Mapping[str, str]) -> None:
    """ConfigError with a "did you mean" for a SCORER_* variable that is not a setting."""
    for name in sorted(env):
        if name.startswith("SCORER_") and name not in ENV_NAMES:
            hint = difflib.get_close_matches(name, ENV_NAMES, n=1)
            suffix = f"; did you mean {hint[0]}?" if hint else ""
            raise ConfigError(f"unknown setting {name}{suffix}")


def _resolve_provider(env: Mapping[str, str]) -> Provider:
    raw = _text(env, "SCORER_PROVIDER", "auto").lower()
    if raw == "auto":
        if secret_from_env(env, "ANTHROPIC_API_KEY"):
            return Provider.ANTHROPIC
        if secret_from_env(env, "OPENAI_API_KEY"):
            return Provider.OPENAI
        return Provider.FIXED
    try:
        return Provider(raw)
    except ValueError:
        allowed = ["auto", *(p.value for p in Provider)]
        hint = difflib.get_close_matches(raw, allowed, n=1)
        suffix = f"; did you mean {hint[0]}?" if hint else ""
        raise ConfigError(
            f"SCORER_PROVIDER must be one of {', '.join(allowed)}, got {raw!r}{suffix}"
        ) from None


def _base_url(env: Mapping[str, str], provider: Provider) -> str:
    url = _text(env, "SCORER_BASE_URL", DEFAULT_BASE_URLS.get(provider, ""))
    if url and not url.startswith(("https://", "http://")):
        raise ConfigError(f"SCORER_BASE_URL must start with http:// or https://, got {url!r}")
    return url.rstrip("/")


def _api_key(env: Mapping[str, str], provider: Provider, base_url: str) -> Secret:
    if provider is Provider.FIXED:
        return Secret("")
    name = "ANTHROPIC_API_KEY" if provider is Provider.ANTHROPIC else "OPENAI_API_KEY"
    key = secret_from_env(env, name)
    # A local OpenAI-compatible server (llama.cpp, ollama, vLLM) usually needs no key.
    local = base_url != DEFAULT_BASE_URLS[provider]
    if not key and not (provider is Provider.OPENAI and local):
        raise ConfigError(f"{name} is required when SCORER_PROVIDER={provider}")
    return key


def _prices(
    env: Mapping[str, str], provider: Provider, model: str, base_url: str
) -> tuple[float, float]:
    if provider is Provider.FIXED:
        return 0.0, 0.0
    known = PRICES_PER_MTOK.get(model)
    # An unknown model on the provider's own API must be priced, or the budget means nothing;
    # on a local server it is free unless told otherwise.
    default = known or ((0.0, 0.0) if base_url != DEFAULT_BASE_URLS[provider] else None)
    names = ("SCORER_PRICE_IN_PER_MTOK", "SCORER_PRICE_OUT_PER_MTOK")
    if default is None and not all(env.get(n, "").strip() for n in names):
        raise ConfigError(
            f"no price known for SCORER_MODEL={model}; set {names[0]} and {names[1]}"
        )
    fallback = default or (0.0, 0.0)
    return (
        _number(env, names[0], fallback[0], low=0.0, high=1_000.0),
        _number(env, names[1], fallback[1], low=0.0, high=1_000.0),
    )


def _text(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name, "").strip()
    return value or default


def _number(env: Mapping[str, str], name: str, default: float, *, low: float,
            high: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and low <= value <= high):
        raise ConfigError(f"{name} must be a number in [{low:g}, {high:g}], got {raw!r}")
    return value


def _integer(env: Mapping[str, str], name: str, default: int, *, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise ConfigError(f"{name} must be a whole number in [{low}, {high}], got {raw!r}")
    return int(raw)
