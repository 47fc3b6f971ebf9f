"""bot.toml: one validated file for the settings backtest, sweep, walkforward, run, score and
check-strategy share, so that paper and live trade exactly what was backtested.

Precedence: command-line flags > the file > each command's own defaults; a key left out of the
file changes nothing. Units are in the names: every ``*_pct`` is a fraction (0.2 = 20%),
``*_usd`` is US dollars, ``*_days`` days. API keys are never read from the file, only from the
environment: a key-looking entry is refused.

Imported only when a config file is read or written (pydantic takes a while to import), so
``main.py --help`` stays instant.
"""

from __future__ import annotations

import argparse
import re
import tomllib
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from core.config_errors import error_line, refuse_secrets, shown
from core.errors import ConfigError

# The file's scorer keys and the ScorerSettings variables they stand for.
SCORER_ENV: Final = {
    "provider": "SCORER_PROVIDER", "model": "SCORER_MODEL", "base_url": "SCORER_BASE_URL",
    "fixed_conviction": "SCORER_FIXED_CONVICTION", "daily_budget_usd": "SCORER_DAILY_BUDGET_USD",
}
_TIMEFRAME: Final = re.compile(r"[1-9][0-9]*[smhdwM]")

Fraction = Annotated[float, Field(gt=0.0, lt=1.0)]
Count = Annotated[int, Field(ge=0)]
Conviction = Annotated[float, Field(ge=-1.0, le=1.0)]


class _Section(BaseModel):
    # strict: TOML is typed, so "0.2" (text) or true (for a count) is a mistake, not a value.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class StrategySection(_Section):
    """The strategy traded and its parameters."""

    name: str = Field(default="rsi_ema", min_length=1, description=(
        "a built-in (python main.py strategies lists them) or path/to/file.py:ClassName, "
        "relative to the folder the bot runs in"))
    params: dict[str, Any] = Field(default_factory=dict, description=(
        "the strategy's parameters; the strategy checks them (python main.py strategies)"))

    @field_validator("params")
    @classmethod
    def _single_values(cls, params: dict[str, Any]) -> dict[str, Any]:
        for key, value in params.items():
            if not isinstance(value, bool | int | float | str):
                raise ValueError(f"{key} must be a single number, text or true/false, "
                                 f"got {shown(value)}")
        return params


class MarketSection(_Section):
    """What run trades and what backtest, sweep and score fetch."""

    symbols: list[str] = Field(
        default_factory=lambda: ["BTC/USDT"], min_length=1, description=(
            "markets run trades; backtest, sweep and score take the one listed (or --symbol); "
            "a --data or --replay file brings its own market and bar length"))
    timeframe: str = Field(default="1h", description="bar length: 1m, 15m, 1h, 4h, 1d, ...")
    exchange: str = Field(default="binance", min_length=1, description="ccxt exchange id")

    @field_validator("symbols")
    @classmethod
    def _markets(cls, symbols: list[str]) -> list[str]:
        for symbol in symbols:
            if symbol.count("/") != 1 or symbol.strip() != symbol or "," in symbol:
                raise ValueError(f"must list markets like BTC/USDT, got {symbol!r}")
        return symbols

    @field_validator("timeframe")
    @classmethod
    def _bar_length(cls, timeframe: str) -> str:
        if not _TIMEFRAME.fullmatch(timeframe):
            raise ValueError(f"must be a bar length like 1m, 15m, 1h or 1d, got {timeframe!r}")
        return timeframe


class CostSection(_Section):
    """The simulated account (backtest, replay, paper) and its costs."""

    init_cash: float = Field(default=10_000.0, gt=0.0, allow_inf_nan=False,
                             description="starting balance, in the quote currency")
    fees: float = Field(default=0.001, ge=0.0, lt=0.1, description=(
        "fee on notional, each side, as a fraction (0.001 = 0.1%)"))
    slippage: float = Field(default=0.0005, ge=0.0, lt=0.1, description=(
        "price slippage against us on every fill, as a fraction (0.0005 = 0.05%)"))


class RiskSection(_Section):
    """Risk limits, named as RiskConfig's fields."""

    max_position_pct: Fraction = Field(default=0.02, description="cap on a position, of equity")
    daily_loss_limit_pct: Fraction = Field(default=0.05, description=(
        "loss in a UTC day that pauses entries until the next day"))
    max_drawdown_pct: Fraction = Field(default=0.15, description=(
        "fall from peak equity that latches a halt until an operator resumes"))
    stop_loss_pct: Fraction = Field(default=0.015, description=(
        "stop distance below the entry price; sweep: its one stop unless --stop-loss-pcts"))
    min_conviction: Conviction = Field(default=0.3, description=(
        "lowest scorer conviction that may open a position"))
    cooldown_after_losses: Count = Field(default=0, description=(
        "losing trades in a row that start a cooldown (0 = off)"))
    cooldown_minutes: Count = Field(default=0, description="length of that cooldown, in minutes")
    max_entries_per_day: Count = Field(default=0, description=(
        "most entries per UTC day (0 = no cap)"))
    max_open_positions: Count = Field(default=0, description=(
        "most positions held at once across the symbols (0 = no cap)"))
    max_gross_exposure_pct: float = Field(default=0.0, ge=0.0, le=1.0, description=(
        "cap on the positions' notionals summed, of equity (0 = no cap)"))
    flatten_on_halt: bool = Field(default=True, description=(
        "sell an open position when the drawdown latch trips"))


class SizingSection(_Section):
    """Position size before and after the strategy has a record."""

    default_position_pct: float = Field(default=0.01, gt=0.0, le=1.0, description=(
        "size x conviction until kelly_min_trades trades have closed"))
    kelly_min_trades: int = Field(default=50, ge=1, description=(
        "closed trades before half-Kelly sizes positions"))
    kelly_max_age_days: int = Field(default=30, ge=1, description=(
        "run: a saved backtest older than this is stale"))


class GateSection(_Section):
    """Gates before live (backtest and walkforward's --gate-min-sharpe, ...), run's --gate-on."""

    min_sharpe: float = Field(default=1.0, allow_inf_nan=False,
                              description="Sharpe Ratio must be above this")
    max_drawdown_pct: float = Field(default=0.20, gt=0.0, le=1.0, description=(
        "Max Drawdown must be below this (the report prints it in percent)"))
    min_trades: Count = Field(default=50, description="Total Trades must be above this")
    min_dsr: float = Field(default=0.95, ge=0.0, lt=1.0, description=(
        "the walk-forward's Deflated Sharpe Ratio must be above this"))
    on: Literal["backtest", "walkforward"] = Field(default="backtest", description=(
        "which saved evidence the live start requires: a backtest's gates, or a "
        "walk-forward's stitched out-of-sample gates and DSR"))


class ScorerSection(_Section):
    """The conviction source; its API keys are read from the environment only."""

    provider: Literal["auto", "fixed", "anthropic", "openai"] = Field(
        default="auto", description=(
            "auto: run asks Anthropic when ANTHROPIC_API_KEY is set, else OpenAI when "
            "OPENAI_API_KEY is, else fixed; backtest scores with fixed unless this names a "
            "model provider"))
    model: str = Field(default="", description="model id; empty = the provider's default")
    base_url: str = Field(default="", description=(
        "OpenAI-compatible server, e.g. http://127.0.0.1:8080/v1; empty = the provider's API"))
    fixed_conviction: Conviction = Field(default=0.5, description=(
        "conviction of the fixed scorer (and of every sweep)"))
    daily_budget_usd: float = Field(default=1.0, ge=0.0, le=10_000.0, description=(
        "estimated model spend per UTC day after which the scorer falls back to fixed"))

    @field_validator("base_url")
    @classmethod
    def _url(cls, url: str) -> str:
        if url and not url.startswith(("https://", "http://")):
            raise ValueError(f"must start with http:// or https://, got {url!r}")
        return url


class BotConfig(_Section):
    """The whole file: one table per concern, every key optional."""

    strategy: StrategySection = StrategySection()
    market: MarketSection = MarketSection()
    costs: CostSection = CostSection()
    risk: RiskSection = RiskSection()
    sizing: SizingSection = SizingSection()
    gates: GateSection = GateSection()
    scorer: ScorerSection = ScorerSection()


@dataclass(frozen=True, slots=True)
class StrategyChoice:
    """The file's strategy, handed to signals.strategy_loader (flags override it there)."""

    ref: str
    params: Mapping[str, Any]
    source: str


@dataclass(frozen=True, slots=True)
class LoadedConfig:
    """A validated config file and where it came from."""

    path: Path
    config: BotConfig


def load_config(path: str | Path) -> LoadedConfig:
    """Read and validate ``path``; every mistake is one ConfigError line naming the key."""
    file = Path(path).expanduser()
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {file} does not exist; write one with "
                          f"`python main.py init {file}`") from None
    except (OSError, UnicodeDecodeError) as e:
        reason = e.reason if isinstance(e, UnicodeDecodeError) else (e.strerror or str(e))
        raise ConfigError(f"config file {file} cannot be read: {reason}") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{file}: not valid TOML: {e}") from None
    refuse_secrets(raw, file)
    try:
        config = BotConfig.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(error_line(e, file, BotConfig)) from None
    _check_cooldown(config.risk, file)
    return LoadedConfig(file, config)


def defaults_for(
    loaded: LoadedConfig, command: str, *, dests: Collection[str], given: argparse.Namespace,
) -> dict[str, Any]:
    """Parser defaults (dest -> value) the file gives ``command``: only keys the file sets, only
    for options the command has. ``given`` is the command line parsed without the file."""
    c = loaded.config
    values: dict[str, Any] = {**_set(c.costs), **_set(c.risk), **_set(c.sizing)}
    values |= {f"gate_{name}": value for name, value in _set(c.gates).items()}
    if "stop_loss_pct" in c.risk.model_fields_set:
        values["stop_loss_pcts"] = repr(c.risk.stop_loss_pct)  # sweep's one stop
    if "provider" in c.scorer.model_fields_set and c.scorer.provider != "auto":
        values["scorer"] = c.scorer.provider
    values |= _market(loaded, command, dests=dests, given=given)
    out = {dest: value for dest, value in values.items() if dest in dests}
    if "strategy" in dests and c.strategy.model_fields_set:
        out["config_strategy"] = StrategyChoice(c.strategy.name, dict(c.strategy.params),
                                                str(loaded.path))
    return out


def scorer_environ(
    loaded: LoadedConfig, env: Mapping[str, str]
) -> tuple[dict[str, str], list[str]]:
    """``env`` with the file's scorer values over it, and the variables whose value it changed.

    The file wins over the environment for these (a copied .env.example sets
    SCORER_PROVIDER=auto); an empty model or base_url in the file leaves the environment's.
    """
    scorer = loaded.config.scorer
    merged, changed = dict(env), []
    for key in sorted(scorer.model_fields_set):
        value = getattr(scorer, key)
        if value == "":
            continue
        name, text = SCORER_ENV[key], str(value)
        if env.get(name, "").strip() not in ("", text):
            changed.append(name)
        merged[name] = text
    return merged, changed


def _check_cooldown(risk: RiskSection, file: Path) -> None:
    # RiskConfig's one rule across two keys (core cannot import risk/, which sits above it).
    if risk.cooldown_after_losses > 0 and risk.cooldown_minutes == 0:
        raise ConfigError(f"{file}: risk.cooldown_minutes must be >= 1 when "
                          "risk.cooldown_after_losses is set, got 0")


def _market(
    loaded: LoadedConfig, command: str, *, dests: Collection[str], given: argparse.Namespace,
) -> dict[str, Any]:
    market = loaded.config.market
    keys = market.model_fields_set
    out: dict[str, Any] = {"exchange": market.exchange} if "exchange" in keys else {}
    if getattr(given, "data", None) or getattr(given, "replay", None):
        return out  # the data file says which market and bar length it holds
    if "timeframe" in keys:
        out["timeframe"] = market.timeframe
    if "symbols" not in keys:
        return out
    out["symbols"] = ",".join(market.symbols)
    if len(market.symbols) == 1:
        out["symbol"] = market.symbols[0]
    elif "symbol" in dests and getattr(given, "symbol", None) is None:
        raise ConfigError(f"{loaded.path}: market.symbols lists {len(market.symbols)} markets "
                          f"and {command} takes one: add --symbol {market.symbols[0]}")
    return out


def _set(section: BaseModel) -> dict[str, Any]:
    return {name: getattr(section, name) for name in section.model_fields_set}
