"""A walk-forward of every built-in strategy on real hourly BTC, ETH and DOGE spot, 2022-2025.

    python bench/walkforward_real_data.py [--strategies rsi_ema,donchian,bollinger]
                                          [--symbols BTC,ETH,DOGE] [--train 6M] [--test 1M]

Each run is the real command as a user types it, a subprocess of its own:
``main.py walkforward --strategy NAME --data FILE --train 6M --test 1M --json --kelly-out TMP``:
on each training window every combination of the strategy's declared grid is ranked by Sharpe at
a fixed size (10+ trades), the pick runs through the full pipeline on the next month, and the
months are one account. The grid is each strategy's own declared sweep space, not chosen for
what it shows. Exit code 3 only says a gate failed. The markdown table is printed; nothing in it
is hard-coded from an earlier run.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import Any

from bench.strategies_real_data import FILES, SHARED, STRATEGIES, run_json

ROOT = Path(__file__).resolve().parents[1]
HEADER = ("| strategy | symbol | windows | combos | OOS return % | buy & hold % | OOS Sharpe "
          "| max DD % | trades | median OOS rank | DSR | PBO | boot. DD p95 % | boot. return "
          "p5 % | gates | s |")


def walkforward(strategy: str, data: Path, workdir: Path, train: str, test: str,
                ) -> tuple[dict[str, Any], float]:
    """The command's JSON for one strategy on one file, and its wall time in seconds."""
    kelly = workdir / f"wf-{strategy}-{data.stem}.json"
    return run_json(["walkforward", "--strategy", strategy, "--data", str(data), "--train",
                     train, "--test", test, "--json", "--kelly-out", str(kelly)], workdir)


def row(strategy: str, symbol: str, doc: dict[str, Any], wall: float) -> str:
    """One markdown row."""
    oos, over = doc["out_of_sample"], doc["overfitting"]
    boot, pbo = over["bootstrap"], over["pbo"]
    failed = [g["name"] for g in doc["gates"] if not g["passed"]]
    cells = [
        strategy, symbol, str(len(doc["windows"])), f"{doc['combinations']:,}",
        _f(oos["total_return_pct"], "+.2f"), _f(oos["buy_and_hold_return_pct"], "+.1f"),
        _f(oos["sharpe_ratio"], ".2f"), _f(oos["max_drawdown_pct"], ".2f"),
        str(oos["total_trades"]), f"{doc['out_of_sample_rank']['median']:,.0f}",
        _f(over["deflated_sharpe"]["dsr"], ".3f"), "-" if pbo is None else _f(pbo["pbo"], ".2f"),
        "-" if boot is None else _f(boot["max_drawdown_pct"]["p95"], ".2f"),
        "-" if boot is None else _f(boot["total_return_pct"]["p5"], "+.2f"),
        "passed" if doc["gates_passed"] else "failed: " + ", ".join(failed), f"{wall:.1f}",
    ]
    return "| " + " | ".join(cells) + " |"


def _f(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def main() -> int:
    """Run every (strategy, symbol) and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--symbols", default=",".join(FILES))
    parser.add_argument("--data-dir", default=str(SHARED))
    parser.add_argument("--train", default="6M")
    parser.add_argument("--test", default="1M")
    args = parser.parse_args()
    print(f"walk-forward, train {args.train} / test {args.test}, rolling; "
          f"{os.cpu_count()} cores")
    print(HEADER)
    print("|" + "---|" * HEADER.count(" | ") + "---|")
    with tempfile.TemporaryDirectory(prefix="wf-real-") as tmp:
        for strategy in args.strategies.split(","):
            for symbol in args.symbols.split(","):
                doc, wall = walkforward(strategy, Path(args.data_dir) / FILES[symbol],
                                        Path(tmp), args.train, args.test)
                print(row(strategy, symbol, doc, wall), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
