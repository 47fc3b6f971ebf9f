"""``python main.py demo-data``: a SYNTHETIC market file for trying the bot with no network."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

DEMO_FILE = "SYNTHUSDT_1h_synthetic_demo.csv"


def add_demo_parser(commands: Any) -> None:
    """Register the ``demo-data`` subcommand."""
    demo = commands.add_parser(
        "demo-data",
        help="write a SYNTHETIC hourly market file (random walk) for offline backtests/replays",
        description="Write a random-walk OHLCV file in the format of real data files (the same "
        "--seed gives the same file). It is synthetic, not market data: use it to try the "
        "commands offline, never to judge a strategy.",
    )
    demo.add_argument(
        "--out", help=f"file to write (state/{DEMO_FILE}; the state folder is "
        "$TRADINGBOT_STATE_DIR when set)",
    )
    demo.add_argument("--bars", type=int, default=24 * 365, help="number of bars (8760)")
    demo.add_argument("--seed", type=int, default=7, help="random seed (7)")
    demo.add_argument("--start", default="2024-01-01", help="first bar, YYYY-MM-DD (UTC)")
    demo.set_defaults(run=run_demo)


def run_demo(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """Generate and write the synthetic bars; say plainly that they are synthetic."""
    from core.errors import ConfigError
    from core.paths import check_output_path, state_dir
    from data.loader import save_ohlcv_csv
    from data.synthetic import synthetic_ohlcv

    if args.bars < 500:
        raise ConfigError(f"--bars must be >= 500 (the signal needs ~400 bars of warm-up), "
                          f"got {args.bars}")
    out = check_output_path(args.out or state_dir(env) / DEMO_FILE, env, option="--out")
    # Hourly volatility and price level of the order of BTC's, so the numbers look familiar.
    frame = synthetic_ohlcv(
        args.bars, timeframe="1h", start=args.start, seed=args.seed,
        start_price=30_000.0, volatility=0.007,
    )
    path = save_ohlcv_csv(frame, out)
    print(f"wrote {len(frame):,} SYNTHETIC hourly bars (random seed {args.seed}, not market "
          f"data) to {path}")
    return 0
