"""Every built-in strategy with its defaults on real hourly BTC, ETH and DOGE spot, 2022-2025.

    python bench/strategies_real_data.py [--strategies rsi_ema,donchian,bollinger]
                                         [--symbols BTC,ETH,DOGE] [--data-dir DIR]

Each run is the real command as a user types it, a subprocess of its own:
``main.py backtest --strategy NAME --data FILE --scorer fixed --json --kelly-out TMP`` (the
full pipeline: signal, fixed scorer, risk rules, Kelly sizing, fills at the next open; exit
code 3 only says a gate failed). Nothing is tuned: these are the textbook defaults, measured,
not chosen. The table is printed in markdown; nothing in it is hard-coded from an earlier run.

Read it with the sizing in mind: positions are default_position_pct x conviction (1% x 0.5)
until kelly_min_trades (50) trades have closed, then half-Kelly from those trades; a negative
edge sizes every later entry at zero, and those refusals are the size_zero column.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
FILES = {
    "BTC": "BTCUSDT_1h_binance_spot_2022-01-01_2025-05-05.csv",
    "ETH": "ETHUSDT_1h_binance_spot_2022-01-01_2025-04-30.csv",
    "DOGE": "DOGEUSDT_1h_binance_spot_2022-01-01_2025-05-05.csv",
}
STRATEGIES = ("rsi_ema", "donchian", "bollinger")
HEADER = ("| strategy | symbol | bars | return % | buy & hold % | Sharpe | max DD % | trades "
          "| win rate % | size_zero | gates passed | s |")


def backtest(strategy: str, data: Path, workdir: Path) -> tuple[dict[str, Any], float]:
    """The command's JSON for one strategy on one file, and its wall time in seconds."""
    kelly = workdir / f"kelly-{strategy}-{data.stem}.json"
    return run_json(["backtest", "--strategy", strategy, "--data", str(data), "--scorer",
                     "fixed", "--json", "--kelly-out", str(kelly)], workdir)


def run_json(args: list[str], workdir: Path) -> tuple[dict[str, Any], float]:
    """``main.py ARGS`` as its own process: its JSON on stdout and its wall time in seconds."""
    cmd = [sys.executable, str(ROOT / "main.py"), *args]
    # Its own state dir and no scorer or Telegram settings from the caller's environment.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCORER_", "TELEGRAM_"))}
    env["TRADINGBOT_STATE_DIR"] = str(workdir)
    env.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".numba_cache"))
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True,  # noqa: S603
                          check=False)
    wall = time.perf_counter() - start
    if done.returncode not in (0, 3):  # 3: a gate failed, the figures are still all there
        raise SystemExit(f"{' '.join(cmd)} exited {done.returncode}:\n{done.stderr.strip()}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result, wall


def row(strategy: str, symbol: str, result: dict[str, Any], wall: float) -> str:
    """One markdown table row of the figures that matter for a strategy's first look."""
    s = result["stats"]
    gates = result["gates"]
    passed = [g["name"] for g in gates if g["passed"]]
    gates_text = f"{len(passed)}/{len(gates)}" + (f" ({', '.join(passed)})" if passed else "")
    cells = [
        strategy, symbol, f"{result['data']['bars']:,}", f"{s['total_return_pct']:+.2f}",
        f"{s['buy_and_hold_return_pct']:+.1f}", f"{s['sharpe_ratio']:.2f}",
        f"{s['max_drawdown_pct']:.2f}", str(s["total_trades"]), f"{s['win_rate_pct']:.1f}",
        str(result["rejections"]["size_zero"]), gates_text, f"{wall:.1f}",
    ]
    return "| " + " | ".join(cells) + " |"


def main() -> int:
    """Run the backtests one after another (2 shared cores) and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--symbols", default=",".join(FILES))
    parser.add_argument("--data-dir", type=Path, default=SHARED)
    args = parser.parse_args()
    if not args.data_dir.is_dir():
        print(f"error: {args.data_dir} is missing (../shared/data)", file=sys.stderr)
        return 2
    print(HEADER)
    print("|" + "---|" * HEADER.count(" | ") + "---|")
    with tempfile.TemporaryDirectory(prefix="strategies-bench-") as tmp:
        for strategy in args.strategies.split(","):
            for symbol in args.symbols.split(","):
                result, wall = backtest(strategy, args.data_dir / FILES[symbol], Path(tmp))
                print(row(strategy, symbol, result, wall), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
