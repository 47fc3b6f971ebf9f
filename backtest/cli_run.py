"""The backtest command's run: bars in; figures, gates, trades CSV, report and Kelly file out.

Imported only when the command runs (it pulls in pandas and numba; vectorbt and plotly come
later still, inside the functions that use them).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from backtest.cli_data import Bars, load_bars
from backtest.cli_sizing import FixedSizeEdge
from backtest.engine import BacktestConfig, KellyInputs, Sizing
from backtest.gates import (
    EXIT_GATES_FAILED,
    GateResult,
    GateSettings,
    evaluate_gates,
    exit_code,
)
from backtest.kelly_store import (
    DataRange,
    SavedBacktest,
    config_strategy_settings,
    default_results_path,
    save_backtest_results,
    strategy_id,
)
from backtest.sizing_stop import SizingStop
from backtest.stats import BacktestStats, portfolio_stats
from core.clock import Clock, SystemClock
from core.errors import ConfigError
from core.files import write_atomically
from risk.config import RiskConfig
from signals.strategy_loader import strategy_from_args

if TYPE_CHECKING:
    import httpx2

log = logging.getLogger(__name__)

TRADE_COLUMNS = (
    "entry_time", "exit_time", "side", "size", "entry_price", "exit_price", "fees", "pnl",
    "return_pct", "exit_reason",
)


@dataclass(frozen=True)
class Outcome:
    """What one engine produced, in the shape every output (table, JSON, files) reads."""

    engine: str
    config: BacktestConfig
    bars: Bars
    traded_index: pd.DatetimeIndex  # UTC open times of the bars traded (after warm-up)
    portfolio: Any
    trades: pd.DataFrame
    halts: pd.DataFrame | None
    kelly: KellyInputs
    stats: BacktestStats
    scorer: dict[str, Any] = field(default_factory=dict)
    sizing_stop: SizingStop | None = None  # when half-Kelly refused every later entry
    fixed_size: FixedSizeEdge | None = None  # the signal's edge at a fixed size, beside it
    equity: pd.Series | None = None  # the kernel's marked equity (full engine), for the report

    @property
    def saves_kelly(self) -> bool:
        """Only a full-pipeline run saves Kelly inputs: the sizing paper and live use."""
        return self.engine == "full" and self.config.sizing == Sizing.PIPELINE

    def data_range(self) -> DataRange:
        """The traded bars as saved in the Kelly file."""
        return DataRange(
            symbol=self.bars.symbol, timeframe=self.bars.timeframe,
            first_bar=self.traded_index[0].to_pydatetime(),
            last_bar=self.traded_index[-1].to_pydatetime(),
            bars=len(self.traded_index), source=self.bars.source,
        )


def run_backtest_command(
    args: argparse.Namespace,
    environ: Mapping[str, str],
    *,
    clock: Clock | None = None,
    http_client: httpx2.Client | None = None,
) -> int:
    """Run the command; returns 0 (gates passed) or 3 (a gate failed), raises on bad input."""
    clock = clock or SystemClock()
    gate_settings = GateSettings(
        min_sharpe=args.gate_min_sharpe, max_drawdown_pct=args.gate_max_drawdown_pct,
        min_trades=args.gate_min_trades,
    )
    config = config_from_args(args)
    if isinstance(args.data, list) and len(args.data) > 1:
        from backtest.cli_basket import run_basket_command

        return run_basket_command(args, environ, config, gate_settings, clock=clock)
    if isinstance(args.data, list):
        args.data = args.data[0]
    _check_engine_options(args, config)
    _check_outputs(args, environ)
    bars = load_bars(args, environ, clock=clock, warmup=config.strategy.warmup_bars)
    config = replace(config, symbol=bars.symbol)
    from backtest.compile_notice import announce_first_compile

    announce_first_compile()  # a cold numba cache costs 10-20 s once: say so on a terminal
    if args.engine == "seed":
        outcome = _run_seed(config, bars)
    else:
        outcome = _run_full(args, environ, config, bars, clock=clock, http_client=http_client)
    gates = evaluate_gates(outcome.stats, gate_settings)
    checks = _strategy_checks(outcome)
    passed = checks is None or checks.passed
    files = _write_files(args, environ, outcome, gates, clock, checks_passed=passed)
    if args.json:
        doc = json_document(outcome, gates, files)
        doc["checks"] = None if checks is None else checks.to_json()
        print(json.dumps(doc, indent=2, allow_nan=False))
    else:
        from backtest.cli_output import print_summary

        print_summary(outcome, gates, files)
        for line in [] if checks is None else checks.lines():
            print(line)
    return exit_code(gates) if passed else EXIT_GATES_FAILED


def _run_full(
    args: argparse.Namespace, environ: Mapping[str, str], config: BacktestConfig, bars: Bars,
    *, clock: Clock, http_client: httpx2.Client | None,
) -> Outcome:
    """The full engine at the asked sizing; a pipeline run also gets the fixed-size edge."""
    from backtest.cli_scoring import run_full
    from backtest.cli_sizing import fixed_conviction, fixed_size_edge, fixed_size_run

    result, scorer_info = run_full(args, environ, config, bars.frame, clock=clock,
                                   http_client=http_client)
    outcome = _full_outcome(result, bars, scorer_info,
                            vectorbt=args.accounts == "vectorbt")
    if config.sizing != Sizing.PIPELINE:
        return outcome
    # One more kernel run, at the fixed scorer's conviction: a model is not asked about the
    # entries only this run makes.
    conviction = fixed_conviction(environ)
    fixed = fixed_size_run(bars.frame, config, conviction)
    return replace(outcome, fixed_size=fixed_size_edge(fixed, bars.timeframe, conviction))


def _strategy_checks(outcome: Outcome) -> Any:
    """Look-ahead and warm-up checks of the strategy on the backtest's bars (full engine).

    A failure is said loudly on stderr with its first bad bar; the run then saves no Kelly
    inputs (so paper sizes at the default and live refuses) and exits 3 like a failed gate.
    """
    import sys

    from signals.strategy_checks import AUTO_CHECK_ROWS, run_checks

    if outcome.engine != "full":
        return None  # the seed engine runs the seed's own rule and saves nothing
    report = run_checks(outcome.config.strategy, outcome.bars.frame,
                        max_rows=AUTO_CHECK_ROWS + outcome.config.strategy.warmup_bars)
    for failure in report.failures:
        print(f"STRATEGY CHECK FAILED: {failure.line()}", file=sys.stderr, flush=True)
    return report


def config_from_args(args: argparse.Namespace) -> BacktestConfig:
    """The run's configuration; invalid values raise ConfigError naming the field."""
    return BacktestConfig(
        init_cash=args.init_cash, fee=args.fees, slippage=args.slippage,
        strategy=strategy_from_args(args), risk=RiskConfig.from_options(args),
        default_position_pct=args.default_position_pct,
        kelly_min_trades=args.kelly_min_trades, flatten_on_halt=args.flatten_on_halt,
        sizing=Sizing(args.sizing),
    )


def _check_engine_options(args: argparse.Namespace, config: BacktestConfig) -> None:
    if config.sizing == Sizing.FIXED and args.kelly_out:
        raise ConfigError(
            "--sizing fixed writes no Kelly file: paper and live size from a full-pipeline "
            "backtest; drop --kelly-out or use --sizing pipeline"
        )
    if args.engine != "seed":
        return
    if config.sizing == Sizing.FIXED:
        raise ConfigError("--engine seed has its own sizing: drop --sizing fixed or use "
                          "--engine full")
    from signals.strategies.rsi_ema import seed_params

    if seed_params(config.strategy) is None:
        raise ConfigError("--engine seed runs the seed's own rule only: use --strategy rsi_ema "
                          "or --engine full")
    if args.scorer != "fixed":
        raise ConfigError("--engine seed has no scorer: drop --scorer or use --engine full")
    if args.kelly_out:
        raise ConfigError(
            "--engine seed writes no Kelly file: the live loop must not size positions on a "
            "backtest without its risk rules; use --engine full"
        )
    if dict(config.strategy.spec.params).get("rsi_method") != "wilder":
        log.warning("--engine seed always uses the seed's SMA RSI; rsi_method is ignored")


def _check_outputs(args: argparse.Namespace, environ: Mapping[str, str]) -> None:
    """Refuse unwritable or journal-destroying output paths before the run, not after it."""
    from core.files import check_writable
    from core.paths import check_output_path

    targets = [("--trades-out", args.trades_out), ("--report", args.report)]
    if args.engine == "full" and args.sizing == Sizing.PIPELINE:
        targets.append(("--kelly-out", args.kelly_out or default_results_path(environ)))
    for option, given in targets:
        if given:
            path = check_output_path(given, environ, option=option)
            check_writable(path, what=f"the {option} file")


def _full_outcome(
    result: Any, bars: Bars, scorer_info: dict[str, Any], *, vectorbt: bool
) -> Outcome:
    """Figures from the kernel's orders (vectorbt's definitions), or from vectorbt's Portfolio
    when asked (``--accounts vectorbt``). The report plots the kernel's equity: it needs no
    vectorbt (~40 s of import and compile on a cold cache)."""
    halts = result.halts()
    kinds, refused = list(halts["kind"]), result.rejections()
    portfolio = result.portfolio(bars.timeframe) if vectorbt else None
    if portfolio is not None:
        stats = portfolio_stats(portfolio, halt_kinds=kinds, rejections=refused)
    else:
        from backtest.figures import kernel_stats

        stats = kernel_stats(result, bars.timeframe, halt_kinds=kinds, rejections=refused)
    return Outcome(
        engine="full", config=result.config, bars=bars,
        traded_index=pd.DatetimeIndex(result.bars.index), portfolio=portfolio,
        trades=result.trades(), halts=halts, kelly=result.kelly_inputs(), stats=stats,
        scorer=scorer_info, sizing_stop=result.sizing_stop(), equity=result.equity,
    )


def _run_seed(config: BacktestConfig, bars: Bars) -> Outcome:
    from backtest.seed_engine import run_seed_backtest, seed_kelly, seed_trades

    seed = run_seed_backtest(bars.frame, config, bars.timeframe)
    return Outcome(
        engine="seed", config=config, bars=bars,
        traded_index=pd.DatetimeIndex(seed.frame.index).tz_localize("UTC"),
        portfolio=seed.portfolio, trades=seed_trades(seed), halts=None, kelly=seed_kelly(seed),
        stats=portfolio_stats(seed.portfolio), scorer={"provider": "none"},
    )


def _write_files(
    args: argparse.Namespace, environ: Mapping[str, str], outcome: Outcome,
    gates: tuple[GateResult, ...], clock: Clock, *, checks_passed: bool = True,
) -> dict[str, str]:
    files: dict[str, str] = {}
    if args.trades_out:
        files["trades"] = str(write_trades_csv(outcome.trades, args.trades_out))
    if args.report:
        from backtest.cli_report import write_report_file

        files["report"] = str(write_report_file(args.report, outcome, gates,
                                                title=_title(outcome)))
    if outcome.engine == "full" and not checks_passed:
        _forget(args, environ, outcome)
    elif outcome.saves_kelly:
        target = Path(args.kelly_out) if args.kelly_out else default_results_path(environ)
        saved = saved_backtest(outcome, gates, clock)
        files["kelly"] = str(save_backtest_results(target, saved))
    return files


def _forget(args: argparse.Namespace, environ: Mapping[str, str], outcome: Outcome) -> None:
    """No Kelly inputs from a strategy that failed its checks, and none kept from before."""
    from risk.backtest_store import forget_backtest_result
    from risk.saved_backtest import ResultKey

    target = Path(args.kelly_out) if args.kelly_out else default_results_path(environ)
    data = outcome.data_range()
    key = ResultKey(strategy_id(config_strategy_settings(outcome.config)), data.symbol,
                    data.timeframe)
    if forget_backtest_result(target, key):
        log.warning("Kelly inputs not saved, and the earlier result of this strategy for %s %s "
                    "removed from %s: the strategy failed its checks", key.symbol,
                    key.timeframe, target)
    else:
        log.warning("Kelly inputs not saved: the strategy failed its checks")


def write_trades_csv(trades: pd.DataFrame, path: str | Path) -> Path:
    """One row per trade: a basket's symbol, the documented columns, then extras (stop_price,
    conviction)."""
    first = ["symbol"] if "symbol" in trades.columns else []
    extras = [c for c in trades.columns if c not in TRADE_COLUMNS and c not in first]
    table = trades[[*first, *TRADE_COLUMNS, *extras]]
    return write_atomically(Path(path), lambda fh: table.to_csv(fh, index=False), binary=False)


def saved_backtest(outcome: Outcome, gates: tuple[GateResult, ...], clock: Clock) -> SavedBacktest:
    """The run's result for the results store, filed under (strategy id, symbol, timeframe)."""
    settings = config_strategy_settings(outcome.config)
    return SavedBacktest(
        strategy_id=strategy_id(settings), created_at=clock.now(), engine=outcome.engine,
        data=outcome.data_range(), strategy=settings, costs=_costs(outcome.config),
        kelly=outcome.kelly, total_trades=outcome.stats.total_trades, gates=gates,
        scorer=dict(outcome.scorer),
    )


def json_document(
    outcome: Outcome, gates: tuple[GateResult, ...], files: Mapping[str, str]
) -> dict[str, Any]:
    """The --json output: one object, NaN as null."""
    settings = config_strategy_settings(outcome.config)
    halts = dict(outcome.stats.halts)
    data = outcome.data_range()
    return {
        "engine": outcome.engine,
        "sizing": str(outcome.config.sizing) if outcome.engine == "full" else None,
        "strategy_id": strategy_id(settings) if outcome.engine == "full" else None,
        "data": {
            "symbol": data.symbol, "timeframe": data.timeframe,
            "first_bar": data.first_bar.isoformat(), "last_bar": data.last_bar.isoformat(),
            "bars": data.bars, "source": data.source,
        },
        "params": _params(outcome, settings),
        "stats": outcome.stats.to_json(),
        "gates": [g.to_json() for g in gates],
        "gates_passed": exit_code(gates) == 0,
        "kelly": _kelly_json(outcome.kelly),
        "rejections": dict(outcome.stats.rejections),
        "halts": {"count": sum(halts.values()), "by_kind": halts},
        "sizing_stop": None if outcome.sizing_stop is None else outcome.sizing_stop.to_json(),
        "fixed_size": None if outcome.fixed_size is None else outcome.fixed_size.to_json(),
        "files": dict(files),
    }


def _params(outcome: Outcome, settings: dict[str, Any]) -> dict[str, Any]:
    costs = _costs(outcome.config)
    if outcome.engine == "full":
        return {"strategy": settings, "costs": costs, "scorer": outcome.scorer}
    # The seed engine uses only these: no risk rules, no sizing, always the SMA RSI.
    strategy = settings["strategy"]
    signal = {**strategy["params"], "rsi_method": "sma"}
    return {"signal": signal, "sl_stop": outcome.config.risk.stop_loss_pct, "costs": costs}


def _kelly_json(kelly: KellyInputs) -> dict[str, Any]:
    return {"trades": kelly.trades, "win_rate": _null(kelly.win_rate),
            "avg_win_pct": _null(kelly.avg_win_pct), "avg_loss_pct": _null(kelly.avg_loss_pct)}


def _costs(config: BacktestConfig) -> dict[str, float]:
    return {"init_cash": float(config.init_cash), "fee": float(config.fee),
            "slippage": float(config.slippage)}


def _title(outcome: Outcome) -> str:
    return f"Backtest {outcome.bars.symbol} {outcome.bars.timeframe} ({engine_label(outcome)})"


def engine_label(outcome: Outcome) -> str:
    """What ran, in a few words: the full pipeline, the signal at a fixed size, or the seed's."""
    if outcome.engine != "full":
        return "seed's from_signals"
    return "full pipeline" if outcome.saves_kelly else "signal at a fixed size"


def _null(value: object) -> object:
    return None if isinstance(value, float) and not math.isfinite(value) else value
