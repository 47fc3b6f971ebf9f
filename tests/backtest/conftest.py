"""Helpers for the kernel tests: tiny hand-built bar frames, one kernel run, and the comparison
of a kernel run with the plain-Python reference (tests/backtest/reference.py)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from backtest import kernel
from backtest.engine import EVENT_NAMES, EXIT_REASONS, REJECTION_NAMES, BacktestConfig
from tests.backtest.reference import RefResult, array_scores, reference_run

T0 = datetime(2024, 1, 1, tzinfo=UTC)  # a Monday, 00:00 UTC
HOUR = timedelta(hours=1)
REL = 1e-9

Bar = tuple[float, float, float, float]  # open, high, low, close


def bars(rows: Sequence[Bar], *, start: datetime = T0, step: timedelta = HOUR) -> pd.DataFrame:
    """OHLCV frame of ``rows`` with open times start, start + step, ... (UTC index)."""
    index = pd.DatetimeIndex([start + k * step for k in range(len(rows))]).tz_convert("UTC")
    frame = pd.DataFrame(list(rows), columns=["open", "high", "low", "close"], index=index)
    frame["volume"] = 1.0
    return frame


def flat(price: float, n: int) -> list[Bar]:
    """``n`` bars that never move from ``price``."""
    return [(price, price, price, price)] * n


def run(
    frame: pd.DataFrame,
    signal: Sequence[int],
    config: BacktestConfig,
    *,
    conviction: float | Sequence[float] = 0.5,
    suppress: bool | Sequence[bool] = False,
) -> kernel.KernelResult:
    """One kernel run on ``frame`` with an explicit signal (and score) per bar."""
    n = len(frame)
    return kernel.run_kernel(
        open_=frame["open"].to_numpy(np.float64),
        low=frame["low"].to_numpy(np.float64),
        close=frame["close"].to_numpy(np.float64),
        time_ms=pd.DatetimeIndex(frame.index).as_unit("ms").asi8,
        signal=np.asarray(signal, dtype=np.int8),
        conviction=np.broadcast_to(np.asarray(conviction, dtype=np.float64), n).copy(),
        suppress=np.broadcast_to(np.asarray(suppress, dtype=np.bool_), n).copy(),
        params=config.kernel_params(),
    )


def run_checked(
    frame: pd.DataFrame,
    signal: Sequence[int],
    config: BacktestConfig,
    *,
    conviction: float | Sequence[float] = 0.5,
    suppress: bool | Sequence[bool] = False,
) -> kernel.KernelResult:
    """``run``, after asserting the plain-Python reference gives the same run."""
    raw = run(frame, signal, config, conviction=conviction, suppress=suppress)
    n = len(frame)
    conv = np.broadcast_to(np.asarray(conviction, dtype=np.float64), n)
    supp = np.broadcast_to(np.asarray(suppress, dtype=np.bool_), n)
    ref = reference_run(frame, np.asarray(signal), config, array_scores(conv, supp))
    assert_same_run(raw, ref)
    return raw


def close_to(a: float, b: float, *, scale: float | None = None) -> bool:
    """Equal within REL relative (of ``scale`` when given, for values that may be ~0)."""
    tol = REL * abs(scale) if scale is not None else 0.0
    return math.isclose(a, b, rel_tol=REL, abs_tol=tol)


def assert_same_run(raw: kernel.KernelResult, ref: RefResult) -> None:
    """The kernel's run equals the reference's: trades, equity, halts, events, refusals."""
    assert raw.need_score == ref.need_score
    if raw.need_score >= 0:
        return  # the kernel stopped for a score; what it left in its arrays is unfinished
    assert_same_trades(raw.trades, ref)
    assert len(raw.equity) == len(ref.equity)
    for i, (k, r) in enumerate(zip(raw.equity, ref.equity, strict=True)):
        assert close_to(k, r), f"equity at bar {i} ({ref.index[i]}): kernel {k!r}, ref {r!r}"
    assert raw.halt.tolist() == ref.halt
    # Bar by bar; within one bar as a set: the order of two events on the same bar is pinned by
    # test_both_switches_on_one_bar_give_the_managers_event_order (a known kernel mismatch).
    events = sorted((int(i), EVENT_NAMES[int(k)]) for i, k in raw.events)
    assert events == sorted((e.idx, e.kind) for e in ref.events)
    assert dict(zip(REJECTION_NAMES, raw.rejections.tolist(), strict=True)) == ref.rejections


def assert_same_trades(trades: np.ndarray, ref: RefResult) -> None:
    """Trade by trade: bars, reason exactly; size, prices, fees, pnl, stop within REL."""
    assert len(trades) == len(ref.trades), f"{len(trades)} kernel trades, {len(ref.trades)} ref"
    for j, (t, r) in enumerate(zip(trades, ref.trades, strict=True)):
        where = f"trade {j} entered {ref.index[r.entry_idx]}"
        assert (int(t[kernel.T_ENTRY_IDX]), int(t[kernel.T_EXIT_IDX])) == (
            r.entry_idx, r.exit_idx
        ), where
        assert EXIT_REASONS[int(t[kernel.T_REASON])] == r.exit_reason, where
        notional = r.size * r.entry_price
        pairs = [
            (t[kernel.T_SIZE], r.size, None), (t[kernel.T_ENTRY_PRICE], r.entry_price, None),
            (t[kernel.T_EXIT_PRICE], r.exit_price, None), (t[kernel.T_STOP], r.stop, None),
            (t[kernel.T_ENTRY_FEES], r.entry_fees, None),
            (t[kernel.T_EXIT_FEES], r.exit_fees, notional),
            (t[kernel.T_PNL], r.pnl, notional), (t[kernel.T_CONVICTION], r.conviction, None),
        ]
        for k, v, scale in pairs:
            assert close_to(float(k), v, scale=scale), f"{where}: kernel {t.tolist()}, ref {r}"
