"""``backtest --data A --data B ...``: several symbols on one cash account (backtest.portfolio).

The symbols trade in the order their files are given; they must share the bar length and the
quote currency. The output is the account's figures and gates, then each symbol's trades,
closed trades, fees, P&L and share of the result, its largest exposure, and the refused
entries by reason (the basket limits among them). ``--trades-out`` writes every trade with its
symbol; ``--report`` writes the basket's page (backtest/basket_report.py); ``--json`` prints it
all. A basket saves no Kelly inputs yet: each symbol's live gate and sizing still rest on its
own backtest (``backtest --data A``).
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from backtest.cli_data import Bars, load_bars
from backtest.engine import BacktestConfig
from backtest.gates import GateResult, GateSettings, evaluate_gates, exit_code
from backtest.portfolio import PortfolioResult, check_basket, run_portfolio
from backtest.stats import BacktestStats, stats_rows
from core.clock import Clock
from core.errors import ConfigError


def run_basket_command(
    args: argparse.Namespace, environ: Mapping[str, str], config: BacktestConfig,
    gate_settings: GateSettings, *, clock: Clock,
) -> int:
    """Run a basket backtest; returns 0 (gates passed) or 3."""
    _refuse_single_only(args)
    _check_outputs(args, environ)
    baskets = load_basket(args, environ, clock=clock, warmup=config.strategy.warmup_bars)
    timeframe = baskets[0].timeframe
    from backtest.compile_notice import announce_first_compile

    announce_first_compile()
    from backtest.cli_sizing import fixed_conviction
    from signals.scorer import FixedScorer

    # The fixed scorer at SCORER_FIXED_CONVICTION, as a single market's backtest scores.
    result = run_portfolio({b.symbol: b.frame for b in baskets},
                           replace(config, symbol=baskets[0].symbol),
                           scorer=FixedScorer(fixed_conviction(environ)))
    stats = result.stats(timeframe)
    gates = evaluate_gates(stats, gate_settings)
    files = {}
    if args.trades_out:
        from backtest.cli_run import write_trades_csv

        files["trades"] = str(write_trades_csv(result.trades(), args.trades_out))
    doc = basket_document(result, stats, gates, baskets, files)
    if args.report:
        doc["files"]["report"] = str(_write_report(args.report, result, doc, stats))
    if args.json:
        print(json.dumps(doc, indent=2, allow_nan=False))
    else:
        print_basket(doc, stats)
    return exit_code(gates)


def _refuse_single_only(args: argparse.Namespace) -> None:
    for flag, given in (("--symbol", args.symbol), ("--kelly-out", args.kelly_out),
                        ("--scorer", args.scorer != "fixed"),
                        ("--engine seed", args.engine == "seed"),
                        ("--accounts vectorbt", args.accounts == "vectorbt")):
        if given:
            raise ConfigError(f"{flag} takes one market: a basket (several --data) does not "
                              "support it yet")


def _check_outputs(args: argparse.Namespace, environ: Mapping[str, str]) -> None:
    # Before the run, not after it: a journal path or an unwritable folder is one line now.
    from core.files import check_writable
    from core.paths import check_output_path

    for option, given in (("--trades-out", args.trades_out), ("--report", args.report)):
        if given:
            path = check_output_path(given, environ, option=option)
            check_writable(path, what=f"the {option} file")


def _write_report(path: str, result: PortfolioResult, doc: Mapping[str, Any],
                  stats: BacktestStats) -> Path:
    from backtest.basket_report import write_basket_report
    from backtest.report_status import ReportStatus
    from signals.scorer import FALLBACK_CONVICTION

    with ReportStatus():  # run_portfolio's default scorer: FixedScorer()
        return write_basket_report(path, result, doc, stats=stats, scorer={
            "provider": "fixed", "conviction": FALLBACK_CONVICTION})


def load_basket(
    args: argparse.Namespace, environ: Mapping[str, str], *, clock: Clock, warmup: int,
) -> list[Bars]:
    """Each --data file's bars; ConfigError on mixed bar lengths, a symbol twice or mixed
    quote currencies."""
    from backtest.research_markets import check_markets

    baskets = [load_bars(argparse.Namespace(**{**vars(args), "data": path}), environ,
                         clock=clock, warmup=warmup) for path in args.data]
    check_markets(baskets, "a basket trades")
    check_basket(tuple(b.symbol for b in baskets))
    return baskets


def basket_document(
    result: PortfolioResult, stats: BacktestStats, gates: tuple[GateResult, ...],
    baskets: list[Bars], files: Mapping[str, str],
) -> dict[str, Any]:
    """The --json document: the account, each symbol, refusals, halts and gates."""
    contribution = result.contribution()
    exposure = result.exposure()
    symbols = {}
    for b in baskets:
        row = {str(k): v for k, v in contribution.loc[b.symbol].to_dict().items()}
        kelly = result.kelly_inputs(b.symbol)
        symbols[b.symbol] = {
            "source": b.source, "first_bar": result.bars[b.symbol].index[0].isoformat(),
            "trades": int(row["trades"]), "closed_trades": int(row["closed_trades"]),
            "fees": float(row["fees"]), "pnl": float(row["pnl"]),
            "contribution_pct": float(row["contribution_pct"]),
            "max_exposure_pct": float(exposure[b.symbol].max()) * 100.0,
            "kelly": {"trades": kelly.trades, "win_rate": _null(kelly.win_rate),
                      "avg_win_pct": _null(kelly.avg_win_pct),
                      "avg_loss_pct": _null(kelly.avg_loss_pct)},
        }
    halts = result.halts()
    return {
        "command": "backtest", "basket": [b.symbol for b in baskets],
        "timeframe": baskets[0].timeframe, "bars": len(result.index),
        "first_bar": result.index[0].isoformat(), "last_bar": result.index[-1].isoformat(),
        "stats": stats.to_json(), "symbols": symbols, "rejections": result.rejections(),
        "halts": [{"time": t.isoformat(), "kind": k} for t, k in
                  zip(halts["time"], halts["kind"], strict=True)],
        "max_gross_exposure_pct": float(exposure["gross"].max()) * 100.0,
        "gates": [g.to_json() for g in gates],
        "gates_passed": bool(gates) and all(g.passed for g in gates), "files": dict(files),
    }


def print_basket(doc: Mapping[str, Any], stats: BacktestStats) -> None:
    """The account's table, the per-symbol table, refusals and gates (rich)."""
    from rich.console import Console
    from rich.table import Table

    from backtest.cli_output import gates_table

    console = Console(highlight=False)
    console.print(f"Basket backtest {', '.join(doc['basket'])} {doc['timeframe']}, one account: "
                  f"{doc['first_bar'][:16]} to {doc['last_bar'][:16]} ({doc['bars']:,} bar "
                  "times)", markup=False, soft_wrap=True)
    account = Table(title="Account", show_header=False)
    for label, value in stats_rows(stats):
        account.add_row(label, value)
    console.print(account)
    per = Table(title="Per symbol (in trading order)")
    for name in ("symbol", "trades", "closed", "P&L", "of result %", "max exposure %"):
        per.add_column(name, justify="left" if name == "symbol" else "right", no_wrap=True)
    for symbol, s in doc["symbols"].items():
        per.add_row(symbol, f"{s['trades']:,}", f"{s['closed_trades']:,}", f"{s['pnl']:+,.2f}",
                    f"{s['contribution_pct']:+.3f}", f"{s['max_exposure_pct']:.2f}")
    console.print(per)
    refused = {k: v for k, v in doc["rejections"].items() if v}
    if refused:
        console.print("Refused entry bars: " + ", ".join(f"{k} {v:,}" for k, v in
                                                         refused.items()), markup=False)
    console.print(gates_table(_gates(doc)))
    for kind, path in doc["files"].items():
        console.print(f"{kind}: {path}", markup=False)


def _gates(doc: Mapping[str, Any]) -> tuple[GateResult, ...]:
    return tuple(GateResult(g["name"], g["rule"], math.nan if g["figure"] is None
                            else g["figure"], g["threshold"], g["passed"]) for g in doc["gates"])


def _null(value: float) -> float | None:
    return value if math.isfinite(value) else None
