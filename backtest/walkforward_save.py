"""The walk-forward's saved evidence, for ``run --gate-on walkforward``, and its params file.

The result is filed for the parameters picked on the last training window (what the bot would
trade next), beside any backtest of the same strategy (its key says ``walkforward``). Its Kelly
inputs and gates are the stitched out-of-sample run's: trades of parameters picked without
seeing them, which is the evidence the gate asks for.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from backtest.engine import kelly_from_trades
from backtest.gates import GateResult
from backtest.kelly_store import (
    DataRange,
    SavedBacktest,
    config_strategy_settings,
    save_backtest_results,
    strategy_id,
)
from backtest.walkforward import WalkForwardResult
from core.clock import Clock
from core.files import write_atomically
from risk.saved_backtest import ResultKey

EVIDENCE = "walkforward"


def save_evidence(
    target: Path, result: WalkForwardResult, gates: tuple[GateResult, ...],
    doc: dict[str, Any], clock: Clock, bars: Any,
) -> Path:
    """Save the out-of-sample Kelly inputs and gates under the next parameters' strategy id."""
    config = result.base
    settings = config_strategy_settings(config)
    a, b = result.test_span
    oos = doc["out_of_sample"]
    over = doc["overfitting"]
    saved = SavedBacktest(
        strategy_id=strategy_id(settings), created_at=clock.now(), engine="full",
        data=DataRange(symbol=bars.symbol, timeframe=bars.timeframe,
                       first_bar=result.index[a].to_pydatetime(),
                       last_bar=result.index[b - 1].to_pydatetime(), bars=b - a,
                       source=bars.source),
        strategy=settings,
        costs={"init_cash": float(config.init_cash), "fee": float(config.fee),
               "slippage": float(config.slippage)},
        kelly=kelly_from_trades(result.stitched.raw.trades),
        total_trades=int(oos["total_trades"]), gates=gates, scorer={"provider": "fixed"},
        evidence={
            "kind": EVIDENCE, "mode": doc["mode"], "train": doc["train"], "test": doc["test"],
            "windows": len(doc["windows"]), "first_bar": oos["first_bar"],
            "last_bar": oos["last_bar"], "n_trials": doc["combinations"],
            "dsr": over["deflated_sharpe"]["dsr"],
            "pbo": None if over["pbo"] is None else over["pbo"]["pbo"],
        },
    )
    return save_backtest_results(target, saved)


def forget_evidence(target: Path, result: WalkForwardResult, bars: Any) -> bool:
    """Remove an earlier walk-forward result of this strategy: its checks failed now."""
    from risk.backtest_store import forget_backtest_result

    key = ResultKey(strategy_id(config_strategy_settings(result.base)), bars.symbol,
                    bars.timeframe, EVIDENCE)
    return forget_backtest_result(target, key)


def write_params_file(path: str | Path, result: WalkForwardResult, ref: str | None) -> Path:
    """The next parameters as a TOML params file (``--params FILE.toml``); ``ref`` is the
    --strategy given (none: the file names no strategy, so the default or bot.toml's holds)."""
    spec = result.base.strategy.spec
    lines = [f"# picked by walkforward on its last training window; strategy {spec.name}"]
    lines += [] if ref is None else [f"strategy = {_toml(ref)}"]
    lines += [f"{name} = {_toml(value)}" for name, value in spec.params]
    text = "\n".join(lines) + "\n"
    return write_atomically(Path(path), lambda fh: fh.write(text), binary=False)


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
