"""``python main.py dashboard``: the web dashboard over one mode's journal, on its own.

Registering the command imports only the standard library (``--help`` stays instant);
FastAPI and uvicorn are imported when it runs. Beside a running bot, ``run --dashboard``
serves the same app in the bot's process (remote/services.py).
"""

from __future__ import annotations

import argparse
import signal
import threading
from collections.abc import Mapping
from typing import Any, Final

MODES: Final = ("paper", "testnet", "live", "replay")  # journal.records.RunMode, not imported
DEFAULT_PORT: Final = 8765


def add_dashboard_parser(commands: Any) -> argparse.ArgumentParser:
    """Register ``dashboard`` on main.py's subparsers."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "dashboard", help="serve the web dashboard over a mode's journal",
        description="Serve the dashboard (equity, positions, decisions, halts, commands, LLM "
        "cost; pause/halt/resume/flatten with an operator token) over the journal of --mode, "
        "safe while the bot runs: it only reads, and queues commands as the CLI does. "
        "127.0.0.1 by default (reach it through `ssh -N -L 8765:127.0.0.1:8765 user@vps`); "
        "any other address needs TRADINGBOT_DASHBOARD_TOKENS=name:role:secret,...")
    parser.add_argument("--mode", choices=MODES, default="paper",
                        help="whose journal: paper (default), testnet, live or replay")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"port ({DEFAULT_PORT}; 0: any free port)")
    parser.set_defaults(run=run_dashboard)
    return parser


def run_dashboard(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """Serve until SIGINT or SIGTERM."""
    from core.errors import ConfigError
    from core.paths import STATE_DIR_ENV, journal_path
    from remote.dashboard.server import dashboard_server

    path = journal_path(env, args.mode)
    if not path.is_file():
        raise ConfigError(f"no journal at {path}: the bot has not run in this mode "
                          f"(choose it with --mode; {STATE_DIR_ENV} sets the state directory)")
    stop = threading.Event()
    previous = {s: signal.signal(s, lambda *_: stop.set())
                for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        with dashboard_server(env, mode=args.mode, journal_path=path, host=args.host,
                              port=args.port) as served:
            print(f"dashboard of the {args.mode} journal {path} on {served.url} "
                  f"({served.access}); Ctrl-C stops it", flush=True)
            while not stop.wait(1.0):
                pass
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
    print("dashboard stopped", flush=True)
    return 0
