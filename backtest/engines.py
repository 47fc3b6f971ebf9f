"""Where a sweep's or a walk-forward's chunks run: in this process, or on a Ray cluster.

Research is cut into tasks: one chunk of combinations ``[lo, hi)`` of one market. A task is a
call ``fn(inputs, lo, hi)`` of a module-level function on that market's inputs (its bars and
settings); both engines run the very same function, so the same numba kernels compute the same
figures, and the results come back in task order whatever order they finished in.

- ``LocalEngine`` (the default) runs the tasks one after the other in this process.
- ``backtest.ray_engine.RayEngine`` (``--engine ray``) puts each market's inputs in Ray's object
  store once and sends the tasks to the cluster's workers. Ray is optional: this module never
  imports it, and neither does the bot's runtime.

A function that prepares something costly from its inputs (the indicator tables of a grid, the
kernel's bar arrays) memoises it with ``prepared``: a worker then prepares it once per market,
not once per task.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

R = TypeVar("R")

Task = tuple[int, int, int]
"""(market, lo, hi): combinations [lo, hi) of the market at that index."""

ChunkFn = Callable[[Any, int, int], R]
"""A task's work: ``fn(inputs, lo, hi)``; a module-level function (Ray sends it by name)."""

Done = Callable[[int], None]
"""Told the number of combinations of each task as it finishes (the progress bar)."""

ENGINES = ("local", "ray")


class Engine(Protocol):
    """Runs tasks; ``map`` returns their results in task order."""

    name: str

    def map(self, fn: ChunkFn[R], inputs: Sequence[Any], tasks: Sequence[Task],
            on_done: Done | None = None) -> list[R]:
        """``[fn(inputs[m], lo, hi) for m, lo, hi in tasks]``, however it is spread."""
        ...


class LocalEngine:
    """Every task in this process, one after the other."""

    name = "local"

    def map(self, fn: ChunkFn[R], inputs: Sequence[Any], tasks: Sequence[Task],
            on_done: Done | None = None) -> list[R]:
        """Run the tasks in order."""
        results = []
        for market, lo, hi in tasks:
            results.append(fn(inputs[market], lo, hi))
            if on_done is not None:
                on_done(hi - lo)
        return results


def chunk_tasks(market: int, n: int, step: int) -> list[Task]:
    """The tasks covering combinations [0, n) of ``market`` in chunks of ``step``."""
    return [(market, lo, min(lo + step, n)) for lo in range(0, n, step)]


@dataclass(frozen=True)
class Keyed:
    """Inputs with an identity that survives pickling: the key ``prepared`` memoises on."""

    key: str = field(default_factory=lambda: uuid.uuid4().hex, kw_only=True)


_PREPARED: OrderedDict[tuple[str, str], Any] = OrderedDict()
_KEEP = 8  # markets a worker keeps prepared: a many-market sweep cycles through its tasks


def prepared(inputs: Keyed, what: str, make: Callable[[], R]) -> R:
    """``make()`` once per (inputs, what) in this process; later calls get the same object."""
    slot = (inputs.key, what)
    if slot in _PREPARED:
        _PREPARED.move_to_end(slot)
        return _PREPARED[slot]  # type: ignore[no-any-return]
    value = make()
    _PREPARED[slot] = value
    while len(_PREPARED) > _KEEP:
        _PREPARED.popitem(last=False)
    return value


def add_engine_options(parser: Any) -> None:
    """--engine and --address (sweep and walkforward)."""
    g = parser.add_argument_group(
        "engine", "Where the combinations run: here (default), or on a Ray cluster (README, "
        "'Research on a cluster'; needs requirements-ray.txt).")
    g.add_argument("--engine", choices=ENGINES, default="local",
                   help="local: this process (default); ray: the tasks on a Ray cluster")
    g.add_argument("--address", default=None, metavar="auto|HOST:PORT|local",
                   help="with --engine ray: the cluster (auto: the one `ray start --head` runs "
                   "on this machine, the default; local: a throwaway one for this run)")


def check_engine_args(args: Any) -> None:
    """The engine options' mistakes, before any data is read (ConfigError, one line):
    --address without --engine ray, Ray not installed, an unreachable HOST:PORT."""
    from core.errors import ConfigError

    if args.engine != "ray":
        if args.address is not None:
            raise ConfigError("--address is for --engine ray (the local engine runs here)")
        return
    from backtest.ray_engine import check_address, import_ray

    import_ray()
    check_address(args.address or "auto")


def engine_from_args(args: Any) -> Engine:
    """The engine the options ask for (``check_engine_args`` first): connected, ready."""
    check_engine_args(args)
    if args.engine != "ray":
        return LocalEngine()
    from backtest.ray_engine import RayEngine

    return RayEngine(args.address or "auto")


def close_engine(engine: Engine) -> None:
    """Release what the engine holds (a Ray connection); nothing for the local engine."""
    close = getattr(engine, "close", None)
    if close is not None:
        close()
