"""One line before the first numba compile, so that a cold cache does not look like a hang.

The kernels compile on first use and are cached on disk (``cache=True``; $NUMBA_CACHE_DIR, else
__pycache__). A module is cold when none of its cached functions has a usable cache index:
never compiled, compiled by another numba version, or its source changed since. Looking at
whole modules, not single functions, keeps a helper that a run never calls from making every
run look cold.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from importlib import import_module
from types import ModuleType
from typing import Any, TextIO

# What `backtest` compiles: the kernel, its figures, the risk rules and the default signal.
BACKTEST_MODULES = (
    "backtest.kernel", "backtest.sweep_kernel", "risk.rules", "signals.indicators",
    "signals.quant_signals",
)
# Measured on the 1h demo year (2 shared cores): 21-26 s with an empty cache, 3-9 s with a
# warm one; 11 s more CPU time, more wall time when the cores are busy.
COLD_TIME = "10-20 s"


def cold_modules(modules: Iterable[ModuleType]) -> list[str]:
    """Names of the modules whose numba-cached functions are none of them compiled on disk."""
    cold = []
    for module in modules:
        indexes = [_has_index(v) for v in vars(module).values() if _cache_file(v) is not None]
        if indexes and not any(indexes):
            cold.append(module.__name__)
    return cold


def announce_first_compile(
    what: str = "backtest kernel", *, modules: Iterable[ModuleType] | None = None,
    took: str = COLD_TIME, stream: TextIO | None = None,
) -> bool:
    """On a terminal, say that a cold kernel compiles now (once); True when the line was printed."""
    out = sys.stderr if stream is None else stream
    if not out.isatty():
        return False  # logs and pipes get no progress chatter
    if modules is None:
        modules = [import_module(name) for name in BACKTEST_MODULES]
    if not cold_modules(modules):
        return False
    print(f"compiling the {what} once ({took}); later runs start at once",
          file=out, flush=True)
    return True


def _cache_file(value: Any) -> Any:
    # numba's Dispatcher keeps its FunctionCache in _cache and the index in _cache_file; a
    # function without cache=True (NullCache) or a numba that moved them reads as not cached.
    return getattr(getattr(value, "_cache", None), "_cache_file", None)


def _has_index(value: Any) -> bool:
    try:
        return bool(_cache_file(value)._load_index())
    except Exception:
        return True  # a notice must never stop a backtest: an unreadable index counts as cached
