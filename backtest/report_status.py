"""A one-line status on stderr while the report is built: what it is doing and for how long.

A cold first ``backtest --report`` spends ~45 s importing vectorbt and compiling its numba
functions, silently; this says so. Only on a terminal: piped or under systemd, stderr gets
nothing extra (the log keeps its lines).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

COMPILE_HINT = "its numba functions compile once per cache (NUMBA_CACHE_DIR), ~30 s cold"


class ReportStatus:
    """A rich spinner on stderr with the current step and the time spent (silent off a tty)."""

    def __init__(self, what: str = "building the report", *, console: Any = None) -> None:
        from rich.console import Console

        self._console = console or Console(stderr=True)
        self._what = what
        self._status: Any = None
        self._started = time.monotonic()

    def __enter__(self) -> Callable[[str], None]:
        if self._console.is_terminal:
            self._status = self._console.status(f"{self._what}…", spinner="dots")
            self._status.start()
        return self.step

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self._status is not None:
            self._status.stop()
            if kind is None:
                took = time.monotonic() - self._started
                self._console.print(f"{self._what}: done in {took:.1f} s", highlight=False)

    def step(self, text: str) -> None:
        """Show ``text`` as the current step (no-op when stderr is not a terminal)."""
        if self._status is not None:
            took = time.monotonic() - self._started
            self._status.update(f"{self._what}: {text}… ({took:.0f} s)")
