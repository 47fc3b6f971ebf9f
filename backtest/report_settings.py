"""A backtest's settings in words for the report: each limit with its unit, no Python reprs.

``RiskConfig`` fractions (0.02) read as percentages of what they limit ("2% of equity"); the
strategy's parameters come with the help text it declares for them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from backtest.engine import BacktestConfig, Sizing
from backtest.report_tables import SettingsGroup
from signals.strategy import LoadedStrategy


def settings_groups(config: BacktestConfig, *, data: str, scorer: Mapping[str, Any],
                    engine: str = "full") -> list[SettingsGroup]:
    """Data, strategy, risk limits, sizing, costs and scorer as labelled rows."""
    seed = engine != "full"
    risk = risk_rows(config)
    return [
        ("Data", [("bars", data)]),
        strategy_group(config.strategy),
        # The seed's from_signals applies the stop only: the other limits would mislead.
        ("Risk limits", [risk[0], ("other limits", "none: the seed's engine has no risk "
                                   "layer")] if seed else risk),
        ("Sizing", [("entries", "all cash on every entry (the seed's from_signals)")]
         if seed else sizing_rows(config)),
        ("Costs", [
            ("starting cash", f"{config.init_cash:,.2f} (quote currency)"),
            ("fee", f"{_pct(config.fee)} of notional, each side"),
            ("slippage", f"{_pct(config.slippage)} of price against every fill"),
        ]),
        ("Scorer", scorer_rows(scorer)),
    ]


def strategy_group(strategy: LoadedStrategy) -> SettingsGroup:
    """The strategy's name and version, then each parameter with its declared help."""
    declared = getattr(strategy.cls, "params", None)
    rows = [("strategy", f"{strategy.name} (version {strategy.spec.version})")]
    for key, value in strategy.spec.params:
        param = declared.get(key) if isinstance(declared, Mapping) else None
        help_ = str(getattr(param, "help", "") or "")
        shown = f"{value:g}" if isinstance(value, float) else str(value)
        rows.append((key, f"{shown} ({help_})" if help_ else shown))
    return ("Strategy", rows)


def risk_rows(config: BacktestConfig) -> list[tuple[str, str]]:
    """The risk limits, each with what it is a share of."""
    r = config.risk
    cooldown = ("off" if not r.cooldown_after_losses else f"{r.cooldown_minutes:,} min after "
                f"{r.cooldown_after_losses} losing trades in a row")
    return [
        ("stop loss", f"{_pct(r.stop_loss_pct)} below the entry price"),
        ("max position", f"{_pct(r.max_position_pct)} of equity"),
        ("daily loss limit", f"{_pct(r.daily_loss_limit_pct)} of the UTC day's starting "
                             "equity (pauses entries until the next day)"),
        ("max drawdown", f"{_pct(r.max_drawdown_pct)} below peak equity (halts until resumed)"),
        ("min conviction", f"{r.min_conviction:g} (scorer's conviction, -1 to 1)"),
        ("cooldown", cooldown),
        ("max entries per day", f"{r.max_entries_per_day:,}" if r.max_entries_per_day
         else "no cap"),
    ]


def sizing_rows(config: BacktestConfig) -> list[tuple[str, str]]:
    """How entries were sized: the default size, then half-Kelly, and the halt's exit."""
    default = f"{_pct(config.default_position_pct)} of equity x conviction"
    fixed = config.sizing == Sizing.FIXED
    rows = [("entries", f"always {default}" if fixed else
             f"{default} until {config.kelly_min_trades:,} trades have closed, then "
             f"half-Kelly of the closed trades (capped at max position)")]
    rows.append(("on a drawdown halt", "open position closed at the next open"
                 if config.flatten_on_halt else "open position kept with its stop"))
    return rows


def scorer_rows(scorer: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Which scorer gave the conviction: a fixed number or a model, and what it cost."""
    provider = str(scorer.get("provider", "none"))
    if provider == "fixed":
        return [("conviction", f"fixed at {scorer.get('conviction', 'n/a')} (no model)")]
    if provider == "none":
        return [("conviction", "none: the seed's engine trades every signal")]
    rows = [("model", f"{provider} {scorer.get('model', '')}".strip())]
    answers = scorer.get("answers")
    if isinstance(answers, Mapping) and answers:
        rows.append(("answers", ", ".join(f"{n:,} {s}" for s, n in answers.items())))
    if "cost_usd" in scorer:
        rows.append(("cost", f"{float(scorer['cost_usd']):.4f} USD"))
    return rows


def _pct(fraction: float) -> str:
    return f"{fraction * 100:.4g}%"
