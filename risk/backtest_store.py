"""The backtest results store: one JSON file of saved backtests, by strategy, symbol, timeframe.

The file (default ``state/backtest_results.json``; ``TRADINGBOT_STATE_DIR`` moves the state
folder; ``backtest --kelly-out FILE`` another file) is format version 2::

    {"format": "tradingbot.backtest_results", "version": 2,
     "results": {"<strategy_id>|<symbol>|<timeframe>": {...one saved backtest...},
                 "<strategy_id>|<symbol>|<timeframe>|walkforward": {...one walk-forward...}}}

A backtest (or walk-forward) merges its result into the file under its key, so a 1m run no
longer replaces the 1h inputs, an ETH run no longer replaces BTC's, and a walk-forward no
longer replaces the backtest of the same strategy. A backtest's key has kept its three parts:
a file written before walk-forwards reads unchanged. The merge holds an exclusive lock on a
sidecar ``.lock`` file and replaces the file atomically: two backtests saving at once both
keep their result. A version-1 file (one result, at the top level) still reads as a store of
that one result; its strategy id hashed the symbol and timeframe too, so it matches no
settings of today and the reader is told to backtest again.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from core.errors import ConfigError, DataError
from core.files import write_atomically
from core.paths import state_dir
from risk.saved_backtest import (
    WALKFORWARD,
    ResultKey,
    SavedBacktest,
    entry_to_json,
    parse_entry,
)

log = logging.getLogger(__name__)

RESULTS_FILE = "backtest_results.json"
FORMAT = "tradingbot.backtest_results"
VERSION = 2
VERSION_ONE_RESULT = 1  # before issue 11: the file held one result, at its top level


def default_results_path(environ: Mapping[str, str]) -> Path:
    """Where the backtest writes, and paper and live read, the saved backtests."""
    return state_dir(environ) / RESULTS_FILE


def save_backtest_results(path: str | os.PathLike[str], saved: SavedBacktest) -> Path:
    """Merge ``saved`` into the store at ``path`` under its key (locked, atomic); the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with _locked(target):
        results = _results_so_far(target)
        results[saved.key] = saved
        text = json.dumps(store_to_json(results), indent=2, allow_nan=False) + "\n"
        # private: the bot's own state (sizing inputs), not an output for others to read.
        return write_atomically(target, lambda fh: fh.write(text), binary=False,
                                private=True)


def forget_backtest_result(path: str | os.PathLike[str], key: ResultKey) -> bool:
    """Remove the result saved under ``key`` (locked, atomic); True when there was one.

    A backtest whose strategy failed its checks calls it: an older result of the same id
    (a file edited under the same ``version``) must not size or promote the strategy now.
    """
    target = Path(path)
    if not target.is_file():
        return False
    with _locked(target):
        results = _results_so_far(target)
        if results.pop(key, None) is None:
            return False
        text = json.dumps(store_to_json(results), indent=2, allow_nan=False) + "\n"
        write_atomically(target, lambda fh: fh.write(text), binary=False)
        return True


def store_to_json(results: Mapping[ResultKey, SavedBacktest]) -> dict[str, Any]:
    """The file's JSON object, results sorted by key so that equal stores read alike."""
    ordered = sorted(results.items(), key=lambda item: item[0].text)
    return {"format": FORMAT, "version": VERSION,
            "results": {key.text: entry_to_json(saved) for key, saved in ordered}}


def load_results(path: str | os.PathLike[str]) -> dict[ResultKey, SavedBacktest]:
    """Every saved backtest in the store: ConfigError when missing, DataError when damaged."""
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"no backtest results at {file}: run `python main.py backtest` first")
    try:
        return _parse(json.loads(file.read_text(encoding="utf-8")))
    except (ValueError, TypeError, KeyError, UnicodeDecodeError) as e:
        detail = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise DataError(
            f"{file}: damaged backtest results ({detail}); run the backtest again",
            source=str(file), rule="backtest_results",
        ) from e


def load_backtest_results(path: str | os.PathLike[str], key: ResultKey) -> SavedBacktest:
    """The result saved under ``key``; ConfigError naming the command to run when none is."""
    file = Path(path)
    run = _how_to_make(key)
    if not file.is_file():
        raise ConfigError(f"no backtest results at {file}: {run} first")
    results = load_results(file)
    found = results.get(key)
    if found is None:
        raise ConfigError(f"no saved {key.noun} of strategy {key.strategy_id} for {key.symbol} "
                          f"{key.timeframe} in {file}{_others(results, key)}: {run}")
    return found


def _how_to_make(key: ResultKey) -> str:
    """The command that saves a result under ``key``."""
    if key.evidence == WALKFORWARD:
        return (f"run `python main.py walkforward --strategy ... --data ...` on {key.symbol} "
                f"{key.timeframe} bars with the same strategy, risk and sizing options")
    return (f"run `python main.py backtest --symbol {key.symbol} --timeframe {key.timeframe}` "
            "with the same strategy, risk and sizing options")


def _others(results: Mapping[ResultKey, SavedBacktest], key: ResultKey) -> str:
    """What else the store holds for the same market and bar, if anything."""
    ids = sorted(k.strategy_id for k in results if k.evidence == key.evidence
                 and (k.symbol, k.timeframe) == (key.symbol, key.timeframe))
    kinds = sorted(k.noun for k in results if k != key and (k.strategy_id, k.symbol,
                   k.timeframe) == (key.strategy_id, key.symbol, key.timeframe))
    held = [f"a {kind} of these settings" for kind in kinds]
    if ids:
        held.append(f"{key.symbol} {key.timeframe} of other settings: {', '.join(ids)}")
    return f" (it holds {'; '.join(held)})" if held else ""


def _results_so_far(target: Path) -> dict[ResultKey, SavedBacktest]:
    """The store's results before this save; a damaged file is kept aside, never lost."""
    if not target.is_file():
        return {}
    try:
        return load_results(target)
    except DataError as e:
        # Its results are unusable either way; the new one must not be lost to a hand edit.
        aside = target.with_name(target.name + ".damaged")
        os.replace(target, aside)
        log.warning("%s; kept it as %s and started a new results file", e, aside)
        return {}


@contextmanager
def _locked(target: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``target``'s sidecar .lock file (read, merge, write)."""
    lock = target.with_name(target.name + ".lock")
    with lock.open("a") as fh:  # "a": create it if needed, never truncate another's lock
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _parse(raw: object) -> dict[ResultKey, SavedBacktest]:
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise ValueError(f"not a {FORMAT} file")
    version = raw.get("version")
    if isinstance(version, bool):  # True == 1 in Python; the file must say 1
        raise ValueError(f"version {version!r} is not a number")
    if version == VERSION_ONE_RESULT:
        only = parse_entry(raw)
        return {only.key: only}
    if version != VERSION:
        raise ValueError(f"version {version!r} is not {VERSION_ONE_RESULT} or {VERSION}")
    stored = raw["results"]
    if not isinstance(stored, dict):
        raise ValueError("results must be an object")
    results: dict[ResultKey, SavedBacktest] = {}
    for text, entry in stored.items():
        key, saved = ResultKey.parse(text), parse_entry(entry)
        if saved.key != key:
            raise ValueError(f"the result under {text!r} is of {saved.key.text}")
        results[key] = saved
    return results
