"""The basket limits in RiskConfig: off by default, validated, set from the command line or the
config file, and hashed into the strategy id only when set (every older id stays valid)."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import pytest

from backtest.engine import BacktestConfig
from backtest.kelly_store import config_strategy_settings
from core.errors import ConfigError
from main import build_parser, parse_with_config
from risk.config import RiskConfig
from risk.saved_backtest import strategy_id

# The id of the default settings before the basket limits existed (saved results carry it).
DEFAULT_ID = "09f900136ad8b761"


def test_the_limits_are_off_by_default() -> None:
    risk = RiskConfig()
    assert (risk.max_open_positions, risk.max_gross_exposure_pct) == (0, 0.0)
    params = BacktestConfig().kernel_params()
    assert (params.max_open_positions, params.max_gross_exposure_pct) == (0, 0.0)


@pytest.mark.parametrize("value", [-1, 1.5, True, "2"])
def test_max_open_positions_is_a_count(value: object) -> None:
    with pytest.raises(ConfigError, match=r"^max_open_positions must be an integer >= 0"):
        RiskConfig(max_open_positions=value)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [-0.1, 1.01, 100.0, math.nan, math.inf])
def test_max_gross_exposure_is_a_fraction_of_equity(value: float) -> None:
    with pytest.raises(ConfigError, match=r"max_gross_exposure_pct must be"):
        RiskConfig(max_gross_exposure_pct=value)


def test_gross_exposure_up_to_all_of_equity_is_accepted() -> None:
    assert RiskConfig(max_gross_exposure_pct=1.0).max_gross_exposure_pct == 1.0
    assert RiskConfig(max_gross_exposure_pct=1).max_gross_exposure_pct == 1


def test_the_default_strategy_id_is_unchanged_and_the_limits_change_it_only_when_set() -> None:
    def sid(risk: RiskConfig) -> str:
        return strategy_id(config_strategy_settings(BacktestConfig(risk=risk)))

    assert sid(RiskConfig()) == DEFAULT_ID
    assert sid(RiskConfig(max_open_positions=0, max_gross_exposure_pct=0)) == DEFAULT_ID
    ids = {sid(RiskConfig(max_open_positions=2)), sid(RiskConfig(max_gross_exposure_pct=0.5)),
           sid(RiskConfig(max_open_positions=2, max_gross_exposure_pct=0.5))}
    assert len(ids) == 3
    assert DEFAULT_ID not in ids
    assert sid(RiskConfig(max_gross_exposure_pct=1)) == sid(RiskConfig(max_gross_exposure_pct=1.0))


@pytest.mark.parametrize("command", ["backtest", "walkforward", "run"])
def test_the_options_and_the_file_set_the_limits(command: str, tmp_path: Path) -> None:
    parser = build_parser()
    argv = [command, "--max-open-positions", "3", "--max-gross-exposure-pct", "0.6"]
    assert RiskConfig.from_options(parser.parse_args(argv)) == RiskConfig(
        max_open_positions=3, max_gross_exposure_pct=0.6)
    path = tmp_path / "bot.toml"
    path.write_text(textwrap.dedent("""
        [risk]
        max_open_positions = 2
        max_gross_exposure_pct = 0.5
    """), encoding="utf-8")
    argv = ["--config", str(path), command]
    args = parse_with_config(parser, argv, parser.parse_args(argv), {})[0]
    risk = RiskConfig.from_options(args)
    assert (risk.max_open_positions, risk.max_gross_exposure_pct) == (2, 0.5)
    assert RiskConfig.from_options(build_parser().parse_args([command])) == RiskConfig()


def test_the_file_refuses_a_gross_exposure_above_equity(tmp_path: Path) -> None:
    from core.config_file import load_config

    path = tmp_path / "bot.toml"
    path.write_text("[risk]\nmax_gross_exposure_pct = 1.5\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"risk.max_gross_exposure_pct must be a fraction in "
                                          r"\[0, 1\]"):
        load_config(path)
