"""Task functions the Ray tests send to workers (importable by them: the repository is on
their PYTHONPATH). Each is the real sweep task, slowed down so a test can kill a worker while
it runs one."""

from __future__ import annotations

import time

from backtest.sweep_run import ChunkFigures, SweepInputs, sweep_chunk

SLOW_S = 0.4


def slow_sweep_chunk(inputs: SweepInputs, lo: int, hi: int) -> ChunkFigures:
    """``sweep_chunk`` after a pause: long enough to be caught running."""
    time.sleep(SLOW_S)
    return sweep_chunk(inputs, lo, hi)
