"""``--engine ray``: a sweep's or walk-forward's tasks on a Ray cluster.

Each market's inputs go into Ray's object store once (``ray.put``); every task of that market
gets the reference, so a worker fetches the bars once per node and prepares them once per
process (``backtest.engines.prepared``), never once per task. A task runs the same module-level
function as the local engine, hence the same numba kernels and the same figures to the last
digit. Results stream back as tasks finish (the progress bar moves), and are returned in task
order. A worker that dies mid-task (killed, out of memory) has its task run again by Ray
(``max_retries``); Ctrl-C cancels every task still queued or running.

The workers import this repository and use its numba cache: they get the driver's repository
on PYTHONPATH and its NUMBA_CACHE_DIR through the job's runtime environment, so on a
cluster every machine holds the same checkout at the same path (README, "Research on a
cluster"). Ray is optional (requirements-ray.txt); the bot's own runtime never imports it.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from backtest.engines import ChunkFn, Done, R, Task
from core.errors import ConfigError

log = logging.getLogger(__name__)

ROOT: Final = Path(__file__).resolve().parents[1]
INSTALL: Final = "pip install -r requirements-ray.txt"
# A task is pure: run it again after a worker dies, as often as this.
MAX_RETRIES: Final = 3
CONNECT_TIMEOUT_S: Final = 3.0


def import_ray() -> Any:
    """The ray module; ConfigError saying what to install when it is missing."""
    try:
        import ray
    except ImportError:
        raise ConfigError(f"--engine ray needs Ray, which is not installed here: {INSTALL}"
                          ) from None
    return ray


def research_task(fn: ChunkFn[R], inputs: Any, lo: int, hi: int) -> R:
    """What a Ray worker runs for one task (Ray shows it as ``ray::research_task``)."""
    return fn(inputs, lo, hi)


class RayEngine:
    """Tasks on the Ray cluster at ``address``.

    ``address``: "auto" (the cluster ``ray start --head`` runs on this machine), "HOST:PORT"
    (another machine's head), or "local" (a throwaway single-machine cluster for this run).
    A Ray already initialised in this process (a test's ``ray.init``) is used as it is.
    """

    name = "ray"

    def __init__(self, address: str = "auto", *, num_cpus: int | None = None) -> None:
        self._ray = import_ray()
        self._started = False
        check_address(address)
        if self._ray.is_initialized():
            return
        runtime_env = {"env_vars": worker_env()}
        kwargs: dict[str, Any] = {"runtime_env": runtime_env, "log_to_driver": False,
                                  "logging_level": logging.WARNING}
        if address == "local":
            kwargs.update(num_cpus=num_cpus, include_dashboard=False)
        else:
            kwargs["address"] = address
        try:
            self._ray.init(**kwargs)
        except ConnectionError as e:
            raise ConfigError(_connect_error(address, e)) from None
        self._started = True

    def map(self, fn: ChunkFn[R], inputs: Sequence[Any], tasks: Sequence[Task],
            on_done: Done | None = None) -> list[R]:
        """Run the tasks on the cluster; their results in task order."""
        ray = self._ray
        refs = [ray.put(x) for x in inputs]  # each market's bars into the object store, once
        remote = ray.remote(max_retries=MAX_RETRIES)(research_task)
        futures = [remote.remote(fn, refs[m], lo, hi) for m, lo, hi in tasks]
        slot = {f: i for i, f in enumerate(futures)}
        results: list[Any] = [None] * len(tasks)
        pending = list(futures)
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for future in done:
                    i = slot[future]
                    results[i] = ray.get(future)
                    if on_done is not None:
                        on_done(tasks[i][2] - tasks[i][1])
        except BaseException:
            for future in pending:
                ray.cancel(future, force=True)
            raise
        return results

    def close(self) -> None:
        """Disconnect (and stop a cluster this engine started)."""
        if self._started and self._ray.is_initialized():
            self._ray.shutdown()
            self._started = False


def worker_env() -> dict[str, str]:
    """The job's environment for its workers: this checkout on PYTHONPATH, the driver's numba
    cache, and one numba thread each (Ray counts a task as one CPU and runs as many at once as
    a machine has CPUs; numba's own threads on top would oversubscribe them)."""
    path = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH", "")])]
    env = {"NUMBA_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(path)}
    if os.environ.get("NUMBA_CACHE_DIR"):
        env["NUMBA_CACHE_DIR"] = os.environ["NUMBA_CACHE_DIR"]
    return env


def check_address(address: str) -> None:
    """ConfigError for a malformed --address, or a HOST:PORT that does not answer within
    seconds (one line, before Ray's own long retries); "auto" is looked up by Ray itself."""
    if address in ("auto", "local"):
        return
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ConfigError(f"--address must be auto, local or HOST:PORT, got {address!r}")
    try:
        with socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as e:
        why = e.strerror or type(e).__name__.replace("Error", " error").strip()
        raise ConfigError(f"cannot reach the Ray cluster at {address} ({why}); is `ray start "
                          "--head` running there, and the port open?") from None


def _connect_error(address: str, error: Exception) -> str:
    if address == "auto":
        return ("no Ray cluster runs on this machine: start one with `ray start --head`, or "
                "give --address HOST:PORT (or --address local for a throwaway one)")
    return f"cannot join the Ray cluster at {address}: {' '.join(str(error).split())}"
