"""The operator services a running bot starts beside its loop, and stops with it.

- The Telegram command listener, when ``TELEGRAM_BOT_TOKEN`` and ``TELEGRAM_ALLOWED_IDS`` are
  set (remote/telegram.py): its own thread, which can never stall the loop.
- The dashboard, with ``run --dashboard`` (remote/dashboard/): uvicorn in its own thread.

Each is imported only when asked for, so a bot without them imports neither library.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path

log = logging.getLogger(__name__)

TELEGRAM_ALLOWED_ENV = "TELEGRAM_ALLOWED_IDS"


@contextmanager
def operator_services(
    args: argparse.Namespace, env: Mapping[str, str], *, mode: str, journal_path: Path,
) -> Iterator[None]:
    """Run the configured operator services for the lifetime of the block."""
    with ExitStack() as stack:
        if env.get("TELEGRAM_BOT_TOKEN", "").strip():
            if env.get(TELEGRAM_ALLOWED_ENV, "").strip():
                from remote.telegram import telegram_commands

                stack.enter_context(telegram_commands(env, mode=mode, journal_path=journal_path))
            else:
                log.info("Telegram: alerts only; set %s to obey commands from those chat and "
                         "user ids", TELEGRAM_ALLOWED_ENV)
        if getattr(args, "dashboard", False):
            from remote.dashboard.server import dashboard_server

            stack.enter_context(dashboard_server(
                env, mode=mode, journal_path=journal_path, host=args.dashboard_host,
                port=args.dashboard_port))
        yield
