"""Look-ahead, warm-up and live-window checks of a strategy (freqtrade's lookahead-analysis and
recursive-analysis, run automatically here).

Bars checked: every entry bar (the full-data signal turns to 1; more than ``max_entries`` are
thinned evenly) plus ``samples`` evenly spaced bars, all with the declared warm-up behind them.
Deterministic: the same data checks the same bars. At each bar ``t``:

- look-ahead: the signal of ``bars[:t+1]`` (data that ends at ``t``) at ``t`` must equal the
  full-data signal at ``t``; a difference means the strategy read a later bar;
- warm-up: the signal of the last ``warmup_bars`` bars ending at ``t`` must equal the signal of
  the whole history ending at ``t`` (so a peek does not count twice); when it does not, the
  smallest warm-up that holds on the checked bars is searched for (doubling, then bisecting,
  windows up to half the data);
- live window: the trailing window the live loop fetches must hold the warm-up.

Cost: one call of the strategy per checked bar and check (plus the search after a failed
warm-up), on up to all of the data: the look-ahead needs the whole past. ``max_rows`` bounds it
for a slow strategy by checking only the last rows of the frame (row numbers stay those of the
frame given).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from core.errors import ConfigError
from signals.strategy import LoadedStrategy, SignalArray, StrategyError

LOOKAHEAD: Final = "look-ahead"
WARMUP: Final = "warm-up"
LIVE_WINDOW: Final = "live window"
DEFAULT_SAMPLES: Final = 300
# backtest and run check the last this many bars (plus the warm-up): a year of minute bars
# would cost a call on 525,600 bars per checked bar; check-strategy checks all by default.
AUTO_CHECK_ROWS: Final = 20_000
# A strategy that flips every few bars has thousands of entries; 2,000 spread over the data
# catch a peek as surely and bound the time (a pandas strategy costs ~1 ms a call).
DEFAULT_MAX_ENTRIES: Final = 2_000

# (check name, bars done, bars in total): called after every bar a check computes.
Progress = Callable[[str, int, int], None]
Rows = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The outcome of one check.

    Attributes:
        name: "look-ahead", "warm-up" or "live window".
        passed: whether the check held at every bar it looked at.
        detail: one plain line: what was checked, or the first bad bar and what differs.
        bars_checked: bars the check computed the signal at (0 for the live window).
        bar_time: open time (UTC) of the first bad bar; None when passed.
        row: position of the first bad bar in the frame given; None when passed.
        smallest_warmup: for a failed warm-up, the smallest warm-up that holds on the checked
            bars (None when none up to half the data does, or when not a warm-up failure).
    """

    name: str
    passed: bool
    detail: str
    bars_checked: int = 0
    bar_time: datetime | None = None
    row: int | None = None
    smallest_warmup: int | None = None

    def line(self) -> str:
        """``name: passed|FAILED: detail``."""
        return f"{self.name}: {'passed' if self.passed else 'FAILED'}: {self.detail}"

    def to_json(self) -> dict[str, Any]:
        """The result as a JSON object (times as ISO 8601)."""
        return {"name": self.name, "passed": self.passed, "detail": self.detail,
                "bars_checked": self.bars_checked, "row": self.row,
                "bar_time": None if self.bar_time is None else self.bar_time.isoformat(),
                "smallest_warmup": self.smallest_warmup}


@dataclass(frozen=True, slots=True)
class CheckReport:
    """Every check of one strategy on one frame.

    Attributes:
        strategy: ``name(a=1, ...)`` of the strategy checked.
        origin: the file its code is in.
        rows: rows of the data the checks ran on (after ``max_rows``).
        first_bar: open time of the first of those rows.
        last_bar: open time of the last row.
        entries: entry bars checked; entries_total: entry bars in the data (more than
            ``entries`` when thinned); sampled: other bars checked.
        results: one CheckResult per check, in the order run.
    """

    strategy: str
    origin: str
    rows: int
    first_bar: datetime | None
    last_bar: datetime | None
    entries: int
    entries_total: int
    sampled: int
    results: tuple[CheckResult, ...]

    @property
    def passed(self) -> bool:
        """True when every check passed."""
        return all(r.passed for r in self.results)

    @property
    def failures(self) -> tuple[CheckResult, ...]:
        """The checks that failed, in the order run."""
        return tuple(r for r in self.results if not r.passed)

    def lines(self) -> list[str]:
        """A heading and one line per check, for the screen."""
        span = ""
        if self.first_bar is not None and self.last_bar is not None:
            span = f" {_stamp(self.first_bar)} .. {_stamp(self.last_bar)} UTC"
        entries = f"{self.entries:,}" if self.entries == self.entries_total \
            else f"{self.entries:,} of {self.entries_total:,}"
        verdict = "all checks passed" if self.passed else f"{len(self.failures)} check(s) FAILED"
        return [f"strategy checks of {self.strategy} ({self.origin}): {verdict}",
                f"  data: {self.rows:,} bars{span}; checked {entries} entry bars and "
                f"{self.sampled:,} sampled bars",
                *(f"  {r.line()}" for r in self.results)]

    def raise_if_failed(self) -> None:
        """Raise StrategyError with the first failed check's line; nothing when all passed."""
        if self.failures:
            raise StrategyError(f"{self.origin}: {self.failures[0].name}: "
                                f"{self.failures[0].detail}")

    def to_json(self) -> dict[str, Any]:
        """The report as a JSON object."""
        return {"strategy": self.strategy, "origin": self.origin, "passed": self.passed,
                "rows": self.rows, "entries": self.entries, "entries_total": self.entries_total,
                "sampled": self.sampled,
                "first_bar": None if self.first_bar is None else self.first_bar.isoformat(),
                "last_bar": None if self.last_bar is None else self.last_bar.isoformat(),
                "checks": [r.to_json() for r in self.results]}


def run_checks(
    strategy: LoadedStrategy, frame: pd.DataFrame, *, samples: int = DEFAULT_SAMPLES,
    live_fetch: int | None = None, max_rows: int | None = None,
    max_entries: int | None = DEFAULT_MAX_ENTRIES, progress: Progress | None = None,
) -> CheckReport:
    """Look-ahead and warm-up on ``frame``, and the live window when ``live_fetch`` is given."""
    warmup = strategy.warmup_bars
    if samples < 0 or (max_entries is not None and max_entries < 0):
        raise ConfigError(f"samples and max_entries must be >= 0, got {samples}, {max_entries}")
    if max_rows is not None and max_rows <= warmup:
        raise ConfigError(f"max_rows must be more than the warm-up ({warmup}), got {max_rows}")
    offset = 0 if max_rows is None else max(0, len(frame) - max_rows)
    data = frame.iloc[offset:]
    if len(data) <= warmup:
        raise ConfigError(f"the checks of {strategy.name} need more than its {warmup} warm-up "
                          f"bars of data; got {len(data)}")
    full = strategy.signal(data)
    rows, entries, entries_total = bars_to_check(full, warmup=warmup, samples=samples,
                                                 max_entries=max_entries)
    past = _signals_at(strategy, data, rows, window=None, name=LOOKAHEAD, progress=progress)
    results = [
        _lookahead_result(strategy, data, offset, rows, full=full, past=past),
        _warmup_result(strategy, data, offset, rows, past=past, progress=progress),
    ]
    if live_fetch is not None:
        results.append(check_live_window(warmup, live_fetch))
    return CheckReport(
        strategy=strategy.describe(), origin=strategy.origin, rows=len(data),
        first_bar=_when(data, 0), last_bar=_when(data, len(data) - 1), entries=entries,
        entries_total=entries_total, sampled=len(rows) - entries, results=tuple(results),
    )


def bars_to_check(
    full: SignalArray, *, warmup: int, samples: int, max_entries: int | None = None,
) -> tuple[Rows, int, int]:
    """Rows to check (sorted), entry rows among them, and entry rows in all.

    Entries are where ``full`` turns to 1 with the warm-up behind; more than ``max_entries`` are
    thinned evenly. ``samples`` rows are spread evenly from the end of the first warm-up to
    the last bar, which is always checked.
    """
    first = warmup - 1
    previous = np.concatenate(([0], full[:-1]))
    entry = (full == 1) & (previous != 1)
    entry[:first] = False
    entries = np.flatnonzero(entry).astype(np.int64)
    total = len(entries)
    if max_entries is not None and total > max_entries:
        entries = entries[np.unique(np.linspace(0, total - 1, num=max_entries).astype(np.int64))]
    spaced = np.linspace(first, len(full) - 1, num=samples).round().astype(np.int64)
    # The last bar always: with no samples and no entries a check must still look at a bar.
    rows = np.union1d(entries, np.append(spaced, len(full) - 1)).astype(np.int64)
    return rows, len(entries), total


def check_live_window(warmup_bars: int, fetched_bars: int) -> CheckResult:
    """The live loop's trailing window of ``fetched_bars`` must hold ``warmup_bars`` bars."""
    if fetched_bars >= warmup_bars:
        return CheckResult(LIVE_WINDOW, True, f"the live loop fetches {fetched_bars:,} bars, "
                           f"enough for the {warmup_bars:,}-bar warm-up")
    return CheckResult(LIVE_WINDOW, False, f"the live loop fetches {fetched_bars:,} bars but "
                       f"the warm-up is {warmup_bars:,}: the signal of its last bar would be "
                       "computed without the history it needs")


def smallest_warmup(
    strategy: LoadedStrategy, frame: pd.DataFrame, rows: Rows, past: SignalArray, *,
    failing: int, suspects: Rows | None = None,
) -> int | None:
    """The smallest window above ``failing`` whose signal equals ``past`` at every row.

    Rows are looked at in turn, ``suspects`` (positions in ``rows``) first; a row that differs
    at the current window raises it to that row's own smallest (doubling, then bisecting); rows
    passed at a smaller window are looked at again. None when no window up to half the data
    holds (so at least half the rows have the whole window behind them).
    """
    first = [] if suspects is None else suspects.tolist()
    order = list(dict.fromkeys([*first, *range(len(rows))]))
    limit, window, pending = len(frame) // 2, failing, order
    while pending:
        changed_at = None
        for k, i in enumerate(pending):
            t = int(rows[i])
            if t < window - 1 or _signal_from(strategy, frame, t, window) == past[i]:
                continue
            found = _row_warmup(strategy, frame, t, int(past[i]), above=window, limit=limit)
            if found is None:
                return None
            window, changed_at = found, k
        if changed_at is None:
            return window
        settled = set(pending[changed_at:])  # these were looked at with the final window
        pending = [i for i in order if i not in settled]
    return window


# ---------------------------------------------------------------------------------------------
# The checks
# ---------------------------------------------------------------------------------------------


def _lookahead_result(
    strategy: LoadedStrategy, data: pd.DataFrame, offset: int, rows: Rows, *,
    full: SignalArray, past: SignalArray,
) -> CheckResult:
    bad = np.flatnonzero(full[rows] != past)
    if not bad.size:
        return CheckResult(LOOKAHEAD, True, f"the signal at each of {len(rows):,} bars is the "
                           "same on data that ends at that bar", bars_checked=len(rows))
    row = int(rows[bad[0]])
    detail = (f"{strategy.name}'s signal at {_stamp(_when(data, row))} (row {row + offset}) is "
              f"{int(full[row])} on the full data but {int(past[bad[0]])} on data that ends at "
              f"that bar: it uses a later bar ({bad.size:,} of {len(rows):,} checked bars "
              "differ)")
    return CheckResult(LOOKAHEAD, False, detail, len(rows), _when(data, row), row + offset)


def _warmup_result(
    strategy: LoadedStrategy, data: pd.DataFrame, offset: int, rows: Rows, *,
    past: SignalArray, progress: Progress | None,
) -> CheckResult:
    warmup = strategy.warmup_bars
    windowed = _signals_at(strategy, data, rows, window=warmup, name=WARMUP, progress=progress)
    bad = np.flatnonzero(windowed != past).astype(np.int64)
    if not bad.size:
        return CheckResult(WARMUP, True, f"the last {warmup:,} bars give the signal of the whole "
                           f"history at each of {len(rows):,} bars", bars_checked=len(rows))
    row = int(rows[bad[0]])
    found = smallest_warmup(strategy, data, rows, past, failing=warmup, suspects=bad)
    advice = (f"the smallest warm-up that holds on the checked bars is {found:,}"
              if found is not None else f"no warm-up up to {len(data) // 2:,} bars holds: "
              "the signal depends on where the data starts")
    detail = (f"{strategy.name}'s signal at {_stamp(_when(data, row))} (row {row + offset}) is "
              f"{int(past[bad[0]])} from the whole history but {int(windowed[bad[0]])} from the "
              f"last {warmup:,} bars (its warm-up; {bad.size:,} of {len(rows):,} checked bars "
              f"differ): {advice}")
    return CheckResult(WARMUP, False, detail, len(rows), _when(data, row), row + offset, found)


def _row_warmup(
    strategy: LoadedStrategy, frame: pd.DataFrame, t: int, want: int, *, above: int, limit: int,
) -> int | None:
    """The smallest window above ``above`` whose signal at row ``t`` is ``want``."""
    # The whole past (t + 1 bars) gives ``want`` by definition, so a window holds by then.
    top = min(limit, t + 1)
    low, high = above, None
    while high is None:
        size = min(2 * low, top)
        if size <= low:
            return None
        if _signal_from(strategy, frame, t, size) == want:
            high = size
        else:
            low = size
    while high - low > 1:
        middle = (low + high) // 2
        if _signal_from(strategy, frame, t, middle) == want:
            high = middle
        else:
            low = middle
    return high


def _signal_from(strategy: LoadedStrategy, frame: pd.DataFrame, t: int, window: int) -> int:
    """The signal at row ``t`` from the ``window`` bars that end there."""
    return int(strategy.signal(frame.iloc[max(0, t - window + 1):t + 1])[-1])


def _signals_at(
    strategy: LoadedStrategy, frame: pd.DataFrame, rows: Rows, *, window: int | None,
    name: str, progress: Progress | None,
) -> SignalArray:
    """The signal at each of ``rows`` from data ending there (the last ``window`` rows)."""
    out = np.empty(len(rows), dtype=np.int8)
    for i, t in enumerate(rows.tolist()):
        out[i] = _signal_from(strategy, frame, t, t + 1 if window is None else window)
        if progress is not None:
            progress(name, i + 1, len(rows))
    return out


def _when(frame: pd.DataFrame, row: int) -> datetime | None:
    value = frame.index[row]
    return value.to_pydatetime() if isinstance(value, pd.Timestamp) else None


def _stamp(when: datetime | None) -> str:
    return "?" if when is None else f"{when:%Y-%m-%d %H:%M}"
