"""``python main.py run --replay FILE [--replay FILE ...]``: history through the trading loop.

One file plays one market, as it always has. Several files are a basket on one paper account:
the markets in the order the files are given (each named after its file, or by --symbols in
the same order), over the union of their bar times (trading/loop.py). They must share one
quote currency and one timeframe. The journal remembers which files it replays, in order, so
another set needs --fresh.
"""

from __future__ import annotations

import argparse
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from core.errors import ConfigError
from trading.run_command import DEFAULT_SYMBOLS, check_strategy, symbols_option
from trading.setup import one_quote

MAX_SPEED_S = 86_400.0  # a day of real time per bar: beyond that it is a typo, not a replay


def run_replay(args: argparse.Namespace, env: Mapping[str, str], strategy: Any) -> int:
    """Replay the --replay files on the replay journal's paper account."""
    from core.paths import journal_path
    from remote.services import operator_services
    from signals.scorer_settings import reject_unknown_names
    from trading.instance_lock import single_instance
    from trading.runner import stop_on_signals

    speed = _speed(args.speed)
    reject_unknown_names(env)  # a misspelt SCORER_* setting must not pass silently here either
    frames, timeframe = replay_frames(args, strategy.strategy.warmup_bars)
    strategy = replace(strategy, symbols=tuple(frames), timeframe=timeframe)
    check_strategy(strategy, frames)
    path = journal_path(env, "replay")
    source = _source(args.replay)
    stop = threading.Event()
    with single_instance(path), stop_on_signals(stop):
        # Under the lock: --fresh must never move the journal of a replay that is running.
        _check_replay_journal(path, source=source, fresh=args.fresh)
        with operator_services(args, env, mode="replay", journal_path=path):
            result = _replay_on_screen(frames, strategy, path=path, speed=speed, stop=stop,
                                       source=source)
    state = "finished" if result.finished else "stopped (run again to continue)"
    print(f"replay {state}: {result.bars_done:,} bars this run, last bar {result.last_bar}; "
          f"journal {path} (`python main.py report --mode replay`)")
    return 0


def replay_frames(args: argparse.Namespace, warmup: int) -> tuple[dict[str, Any], str]:
    """Each file's bars under its market, in the order given, and their one timeframe."""
    from core.cli_options import jump_bound
    from data.loader import load_ohlcv

    files: list[str] = list(args.replay)
    given = symbols_option(args)
    if given is not None and len(given) != len(files):
        raise ConfigError(f"--symbols gave {len(given)} markets for {len(files)} replay "
                          "file(s); give one per file, in the same order")
    frames: dict[str, Any] = {}
    timeframes: list[str] = []
    for n, file in enumerate(files):
        frame = load_ohlcv(file, max_jump=jump_bound(args))
        symbol, timeframe = _replay_market(args, file, frame, None if given is None else given[n])
        if timeframes and timeframe != timeframes[0]:
            raise ConfigError(f"{file} holds {timeframe} bars but {files[0]} {timeframes[0]}: "
                              "a basket replays one timeframe")
        if symbol in frames:
            raise ConfigError(f"{file} is {symbol} again: each market once (name the files "
                              "after their markets, or give --symbols)")
        timeframes.append(timeframe)
        frames[symbol] = frame
    one_quote(tuple(frames))
    for file, frame in zip(files, frames.values(), strict=True):
        if len(frame) < warmup:
            raise ConfigError(f"{file} has {len(frame)} bars; the strategy needs at least "
                              f"{warmup} to warm up before its first decision")
    return frames, timeframes[0]


def _replay_market(args: argparse.Namespace, file: str, frame: Any, given: str | None
                   ) -> tuple[str, str]:
    """Symbol and timeframe of one replay file; ConfigError when the options or name disagree."""
    import pandas as pd

    from data.loader import symbol_from_file_name, timeframe_from_file_name
    from data.timeframe import infer_timeframe

    timeframe = infer_timeframe(pd.DatetimeIndex(frame.index), source=file)
    named = timeframe_from_file_name(file)
    if named is not None and named != timeframe:
        raise ConfigError(f"{file} is named {named} but its bars are {timeframe} apart")
    if args.timeframe is not None and args.timeframe != timeframe:
        raise ConfigError(f"--timeframe {args.timeframe} but {file} holds {timeframe} bars")
    from_name = symbol_from_file_name(file)
    if given is not None and from_name is not None and given != from_name:
        raise ConfigError(f"--symbols {given} but {file} is named after {from_name}")
    return (given or from_name or DEFAULT_SYMBOLS), timeframe


def _source(files: Sequence[str]) -> str | list[str]:
    """What the journal remembers it replays: the file (one, as before baskets) or the files."""
    paths = [str(Path(f).resolve()) for f in files]
    return paths[0] if len(paths) == 1 else paths


def _replay_on_screen(frames: Any, strategy: Any, *, path: Path, speed: float | None,
                      stop: threading.Event, source: str | list[str]) -> Any:
    """The replay with its screen and progress on a terminal; nothing per bar otherwise."""
    import sys

    from trading.replay import replay
    from trading.view import View

    view = View(terminal=sys.stdout.isatty(), mode="replay",
                strategy=strategy.strategy.describe())
    try:
        if not view.terminal:  # under systemd or piped: no callback in the bar loop at all
            return replay(frames, strategy, journal_path=path, speed=speed, stop=stop,
                          source=source)
        result = replay(frames, strategy, journal_path=path, speed=speed, stop=stop,
                        source=source, on_start=view.start_replay, on_step=view.replay_step)
        view.finish_replay()
        return result
    finally:
        view.close()


def _check_replay_journal(path: Path, *, source: str | list[str], fresh: bool) -> None:
    from journal import Journal

    if not path.exists():
        return
    if fresh:
        _keep_as_backup(path)
        return
    with Journal(path) as journal:
        run = journal.latest_run()
    previous = "" if run is None else run.config.get("source", "")
    if previous and previous != source:
        held = ", ".join(previous) if isinstance(previous, list) else str(previous)
        raise ConfigError(f"the replay journal {path} holds a replay of {held}; "
                          "add --fresh to start a new replay account")


def _keep_as_backup(path: Path) -> Path:
    """Move the journal and its -wal/-shm to the first unused journal.sqlite3.N.bak; never
    overwrite an earlier backup. The side files move first: a -wal left behind at the old
    name would be replayed into the next new journal."""
    n = 1
    while any(path.with_name(f"{path.name}.{n}.bak{side}").exists()
              for side in ("", "-wal", "-shm")):
        n += 1
    backup = path.with_name(f"{path.name}.{n}.bak")
    for side in ("-wal", "-shm", ""):
        current = path.with_name(path.name + side)
        if current.exists():
            os.rename(current, backup.with_name(backup.name + side))
    print(f"--fresh: the previous replay journal is kept as {backup}", flush=True)
    return backup


def _speed(text: str) -> float | None:
    if text == "max":
        return None
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= MAX_SPEED_S:  # also refuses nan and inf
        raise ConfigError(f"--speed must be 'max' or seconds of real time per bar, more than 0 "
                          f"and at most {MAX_SPEED_S:g}, got {text!r}")
    return value
