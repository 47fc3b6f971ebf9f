"""ScorerSettings.from_env: provider resolution, validation naming the field, redaction, cost."""

from __future__ import annotations

from typing import get_args

import pytest

from core.errors import ConfigError
from signals.scorer_settings import (
    DEFAULT_MODELS,
    Provider,
    ScorerSettings,
    cost_estimate,
)

KEY = "sk-ant-api03-SETTINGS-TEST-KEY"


def test_no_key_means_the_fixed_scorer() -> None:
    settings = ScorerSettings.from_env({})
    assert settings.provider is Provider.FIXED
    assert settings.model == ""
    assert not settings.api_key
    assert settings.fixed_conviction == 0.5


def test_auto_picks_anthropic_with_the_documented_defaults() -> None:
    settings = ScorerSettings.from_env({"ANTHROPIC_API_KEY": KEY, "OPENAI_API_KEY": "sk-o"})
    assert settings.provider is Provider.ANTHROPIC
    assert settings.model == "claude-haiku-5-5"
    assert settings.base_url == "https://api.anthropic.com"
    assert settings.api_key.reveal() == KEY
    assert (settings.timeout_s, settings.max_retries) == (10.0, 1)
    assert (settings.breaker_failures, settings.breaker_cooldown_s) == (3, 600.0)
    assert (settings.price_in_per_mtok, settings.price_out_per_mtok) == (0.10, 0.50)


def test_auto_falls_to_openai_when_only_its_key_is_set() -> None:
    settings = ScorerSettings.from_env({"OPENAI_API_KEY": "sk-o"})
    assert (settings.provider, settings.model) == (Provider.OPENAI, "gpt-6-luna")
    assert settings.base_url == "https://api.openai.com/v1"


def test_a_local_openai_compatible_server_needs_no_key_and_costs_nothing() -> None:
    settings = ScorerSettings.from_env({
        "SCORER_PROVIDER": "openai",
        "SCORER_BASE_URL": "http://127.0.0.1:8080/v1/",
        "SCORER_MODEL": "qwen3-8b-instruct",
    })
    assert settings.base_url == "http://127.0.0.1:8080/v1"
    assert not settings.api_key
    assert cost_estimate(1000, settings) == 0.0


def test_settings_never_print_the_key() -> None:
    settings = ScorerSettings.from_env({"ANTHROPIC_API_KEY": KEY})
    assert KEY not in repr(settings)
    assert KEY not in str(settings)


@pytest.mark.parametrize(
    ("env", "field"),
    [
        ({"SCORER_PROVIDER": "anthropic"}, "ANTHROPIC_API_KEY"),
        ({"SCORER_PROVIDER": "openai"}, "OPENAI_API_KEY"),
        ({"SCORER_TIMEOUT_S": "abc"}, "SCORER_TIMEOUT_S"),
        ({"SCORER_TIMEOUT_S": "0"}, "SCORER_TIMEOUT_S"),
        ({"SCORER_TIMEOUT_S": "nan"}, "SCORER_TIMEOUT_S"),
        ({"SCORER_MAX_RETRIES": "-1"}, "SCORER_MAX_RETRIES"),
        ({"SCORER_MAX_RETRIES": "1.5"}, "SCORER_MAX_RETRIES"),
        ({"SCORER_BREAKER_FAILURES": "0"}, "SCORER_BREAKER_FAILURES"),
        ({"SCORER_BREAKER_COOLDOWN_S": "-5"}, "SCORER_BREAKER_COOLDOWN_S"),
        ({"SCORER_DAILY_BUDGET_USD": "-1"}, "SCORER_DAILY_BUDGET_USD"),
        ({"SCORER_FIXED_CONVICTION": "1.5"}, "SCORER_FIXED_CONVICTION"),
        ({"SCORER_BASE_URL": "ftp://example"}, "SCORER_BASE_URL"),
        ({"SCORER_PRICE_IN_PER_MTOK": "inf", "ANTHROPIC_API_KEY": KEY}, "SCORER_PRICE_IN"),
        ({"ANTHROPIC_API_KEY": KEY, "SCORER_MODEL": "claude-sonnet-5-5"}, "SCORER_MODEL"),
        ({"ANTHROPIC_API_KEY": KEY, "SCORER_MODEL": "claude-new-9"}, "SCORER_PRICE_IN_PER_MTOK"),
    ],
)
def test_bad_settings_raise_config_error_naming_the_field(env: dict[str, str], field: str) -> None:
    with pytest.raises(ConfigError, match=field) as caught:
        ScorerSettings.from_env(env)
    assert KEY not in str(caught.value)


def test_typos_get_a_suggestion() -> None:
    with pytest.raises(ConfigError, match="did you mean anthropic"):
        ScorerSettings.from_env({"SCORER_PROVIDER": "antropic"})
    with pytest.raises(ConfigError, match="did you mean SCORER_TIMEOUT_S"):
        ScorerSettings.from_env({"SCORER_TIMEOUT": "5"})


def test_an_unknown_model_can_be_priced_by_override() -> None:
    settings = ScorerSettings.from_env({
        "ANTHROPIC_API_KEY": KEY,
        "SCORER_MODEL": "claude-new-9",
        "SCORER_PRICE_IN_PER_MTOK": "1.5",
        "SCORER_PRICE_OUT_PER_MTOK": "7.5",
    })
    assert settings.call_cost_usd(1_000_000, 100_000) == pytest.approx(2.25)


def test_cost_estimate_scales_with_calls_and_is_zero_for_fixed() -> None:
    anthropic = ScorerSettings.from_env({"ANTHROPIC_API_KEY": KEY})
    # 900 tokens in at $0.10/M + 120 out at $0.50/M = $0.00015 per call.
    assert cost_estimate(1000, anthropic) == pytest.approx(0.15)
    assert cost_estimate(0, anthropic) == 0.0
    assert cost_estimate(1000, ScorerSettings.from_env({})) == 0.0
    with pytest.raises(ConfigError):
        cost_estimate(-1, anthropic)


def test_default_models_are_current_in_the_installed_sdks() -> None:
    from anthropic.resources.messages.messages import DEPRECATED_MODELS
    from anthropic.types import Model
    from openai.types import ChatModel

    claude = DEFAULT_MODELS[Provider.ANTHROPIC]
    assert claude in get_args(get_args(Model)[0])
    assert claude not in DEPRECATED_MODELS
    assert DEFAULT_MODELS[Provider.OPENAI] in get_args(ChatModel)
