"""RiskConfig validation: a bad value names the field and the allowed range."""

from __future__ import annotations

import math
from typing import Any

import pytest

from core.errors import ConfigError
from risk import RiskConfig


def test_defaults_are_the_seeds() -> None:
    cfg = RiskConfig()
    assert (cfg.max_position_pct, cfg.daily_loss_limit_pct, cfg.max_drawdown_pct) == (
        0.02,
        0.05,
        0.15,
    )
    assert (cfg.stop_loss_pct, cfg.min_conviction) == (0.015, 0.3)
    assert (cfg.cooldown_after_losses, cfg.max_entries_per_day) == (0, 0)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("max_position_pct", 0.0, "max_position_pct must be in (0, 1) exclusive"),
        ("max_position_pct", 2, "max_position_pct must be in (0, 1) exclusive"),
        ("daily_loss_limit_pct", 1.0, "daily_loss_limit_pct must be in (0, 1) exclusive"),
        ("max_drawdown_pct", -0.15, "max_drawdown_pct must be in (0, 1) exclusive"),
        ("max_drawdown_pct", 15, "max_drawdown_pct must be in (0, 1) exclusive"),
        ("stop_loss_pct", math.nan, "stop_loss_pct must be a finite number"),
        ("stop_loss_pct", "0.015", "stop_loss_pct must be a number"),
        ("max_position_pct", True, "max_position_pct must be a number"),
        ("min_conviction", 1.5, "min_conviction must be in [-1, 1]"),
        ("min_conviction", -1.01, "min_conviction must be in [-1, 1]"),
        ("cooldown_after_losses", -1, "cooldown_after_losses must be an integer >= 0"),
        ("max_entries_per_day", 2.5, "max_entries_per_day must be an integer >= 0"),
        ("cooldown_after_losses", 3, "cooldown_minutes must be an integer >= 1"),
    ],
)
def test_bad_values_name_the_field_and_range(field: str, value: Any, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        RiskConfig(**{field: value})
    assert str(info.value).startswith(message)
    assert field in str(info.value)


def test_edges_of_the_ranges_are_allowed() -> None:
    RiskConfig(max_position_pct=0.999, min_conviction=-1.0)
    RiskConfig(min_conviction=1, cooldown_after_losses=3, cooldown_minutes=60)


def test_config_is_frozen() -> None:
    with pytest.raises(AttributeError):
        RiskConfig().max_drawdown_pct = 0.9  # type: ignore[misc]


def test_from_dict_suggests_a_misspelt_key() -> None:
    with pytest.raises(ConfigError, match="did you mean 'max_drawdown_pct'"):
        RiskConfig.from_dict({"max_drawdwn_pct": 0.2})
    cfg = RiskConfig.from_dict({"max_drawdown_pct": 0.2})
    assert RiskConfig.from_dict(cfg.to_dict()) == cfg
