"""Strategy settings of a run and the parts built from them (broker, risk manager, sizing)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from core.clock import Clock
from core.errors import ConfigError
from execution.broker import Broker
from execution.paper import PaperBroker, PaperConfig
from journal import Journal
from risk import saved_backtest
from risk.config import RiskConfig, check_account
from risk.manager import RiskManager
from risk.saved_backtest import ResultKey
from signals.strategies.rsi_ema import seed_strategy
from signals.strategy import LoadedStrategy
from trading import book
from trading.sizing import RollingKelly, SizingSource, saved_kelly


@dataclass(frozen=True, slots=True)
class StrategySettings:
    """What a run trades and how; the same fields as a backtest, so their ids can match."""

    symbols: tuple[str, ...] = ("BTC/USDT",)
    timeframe: str = "1h"
    strategy: LoadedStrategy = field(default_factory=seed_strategy)
    risk: RiskConfig = field(default_factory=RiskConfig)
    default_position_pct: float = 0.01
    kelly_min_trades: int = 50
    flatten_on_halt: bool = True
    init_cash: float = 10_000.0
    fee: float = 0.001
    slippage: float = 0.0005
    kelly_max_age: timedelta = timedelta(days=30)
    # Which saved evidence sizes paper and live and gates live (not hashed: the same strategy).
    gate_on: str = saved_backtest.BACKTEST

    def __post_init__(self) -> None:
        check_account(init_cash=self.init_cash, fee=self.fee, slippage=self.slippage,
                      default_position_pct=self.default_position_pct,
                      kelly_min_trades=self.kelly_min_trades)
        if self.gate_on not in saved_backtest.EVIDENCE_KINDS:
            raise ConfigError(f"gate_on must be one of "
                              f"{', '.join(saved_backtest.EVIDENCE_KINDS)}, got {self.gate_on!r}")

    def hashed_settings(self) -> dict[str, Any]:
        """The settings the strategy id hashes: strategy spec, risk and sizing."""
        return saved_backtest.strategy_settings(
            strategy=self.strategy.spec, risk=self.risk,
            default_position_pct=self.default_position_pct,
            kelly_min_trades=self.kelly_min_trades, flatten_on_halt=self.flatten_on_halt,
        )

    def strategy_id(self) -> str:
        """Hash of ``hashed_settings``: a backtest of them is filed under it."""
        return saved_backtest.strategy_id(self.hashed_settings())

    def result_key(self, symbol: str) -> ResultKey:
        """Where the saved ``gate_on`` evidence of these settings on ``symbol`` is filed."""
        return ResultKey(self.strategy_id(), symbol, self.timeframe, self.gate_on)

    def snapshot(self) -> dict[str, Any]:
        """JSON-safe settings for the journal's run row."""
        return {
            "symbols": list(self.symbols), "timeframe": self.timeframe,
            "strategy": self.strategy.spec.to_json(),
            "risk": self.risk.to_dict(), "default_position_pct": self.default_position_pct,
            "kelly_min_trades": self.kelly_min_trades, "flatten_on_halt": self.flatten_on_halt,
            "init_cash": self.init_cash, "fee": self.fee, "slippage": self.slippage,
            "kelly_max_age_days": self.kelly_max_age.days, "gate_on": self.gate_on,
        }


def one_quote(symbols: Sequence[str]) -> str:
    """The quote currency every market shares (one account); ConfigError when they differ."""
    quotes = {s: s.partition("/")[2].split(":")[0] for s in symbols}
    first = symbols[0]
    for symbol, quote in quotes.items():
        if quote != quotes[first]:
            raise ConfigError(f"one account, one quote currency: {first} is quoted in "
                              f"{quotes[first] or '?'}, {symbol} in {quote or '?'}")
    return quotes[first]


@dataclass(frozen=True)
class Parts:
    """What a loop needs besides market data, scorer and journal."""

    broker: Broker
    risk: RiskManager
    sizing: SizingSource


def build_paper_parts(
    strategy: StrategySettings, *, journal: Journal, clock: Clock, rolling: bool,
    results_path: Path | None = None, markets: dict[str, Any] | None = None,
) -> Parts:
    """Paper broker, risk manager (restored from the journal) and sizing for a run."""
    broker = PaperBroker(
        journal=journal, state=journal, clock=clock, markets=markets,
        config=PaperConfig(initial_quote=strategy.init_cash, fee=strategy.fee,
                           slippage=strategy.slippage),
    )
    return Parts(broker, restore_risk(strategy, journal, clock),
                 build_sizing(strategy, journal=journal, clock=clock, rolling=rolling,
                              results_path=results_path))


def restore_risk(strategy: StrategySettings, journal: Journal, clock: Clock) -> RiskManager:
    """The risk manager as the journal left it; a new one (at init cash) for a new account.

    Limits come from today's settings, but a latch in force stays: loosening a limit never
    lifts a halt (RiskManager.from_dict keeps the saved latch).
    """
    saved = journal.risk_state()
    if saved is None:
        return RiskManager(strategy.risk, strategy.init_cash, clock=clock)
    return RiskManager.from_dict(strategy.risk, saved, clock=clock)


def build_sizing(
    strategy: StrategySettings, *, journal: Journal, clock: Clock, rolling: bool,
    results_path: Path | None,
) -> SizingSource:
    """Rolling Kelly (replay, like the backtest) or each symbol's saved evidence (paper, live)."""
    r = strategy.risk
    if rolling:
        sizing = RollingKelly(r.max_position_pct, strategy.default_position_pct,
                              strategy.kelly_min_trades)
        book.restore_sizing(journal, sizing, strategy.symbols)
        return sizing
    if results_path is None:
        raise ValueError("paper/live sizing needs the backtest results path")
    return saved_kelly(
        path=results_path, keys={s: strategy.result_key(s) for s in strategy.symbols},
        now=clock.now(), max_age=strategy.kelly_max_age, min_trades=strategy.kelly_min_trades,
        max_position_pct=r.max_position_pct, default_position_pct=strategy.default_position_pct,
    )
