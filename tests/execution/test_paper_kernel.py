"""PaperBroker against the backtest kernel itself: same decisions, bit-identical fills.

The loop engineer's parity test replays whole histories through the trading loop; this one
drives the paper broker by hand with the kernel's decision rule (no kill switch can trip), so
a difference can only come from the fill and stop arithmetic.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import numpy as np

from core.clock import SimulatedClock
from core.domain import Bar, Order, OrderKind, Side
from execution.paper import PaperBroker
from risk import rules
from tests.execution.fakes import MemoryJournal, MemoryState

FEE, SLIP, STOP_PCT, FRACTION = 0.001, 0.0005, 0.015, 0.3


def _bars(n: int = 240) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(11)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.012, n)))
    open_ = np.concatenate(([100.0], close[:-1]))
    open_[rng.random(n) < 0.08] *= 0.975  # some bars gap down through a stop
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0.0, 0.006, n)))
    signal = np.where(rng.random(n) < 0.25, 1, np.where(rng.random(n) < 0.15, -1, 0))
    t0 = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp() * 1000)
    time_ms = t0 + 3_600_000 * np.arange(n, dtype=np.int64)
    return {"open": open_, "low": low, "close": close, "signal": signal, "time": time_ms}


def _kernel(b: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    from backtest import kernel

    n = len(b["close"])
    params = kernel.KernelParams(
        init_cash=10_000.0, fee=FEE, slippage=SLIP, stop_loss_pct=STOP_PCT,
        max_position_pct=FRACTION, daily_loss_limit_pct=0.99, max_drawdown_pct=0.99,
        min_conviction=0.0, default_position_pct=FRACTION, kelly_min_trades=10**9,
        cooldown_after_losses=0, cooldown_ms=0, max_entries_per_day=10**6,
        flatten_on_halt=False,
    )
    out = kernel.run_kernel(
        open_=b["open"], low=b["low"], close=b["close"], time_ms=b["time"], signal=b["signal"],
        conviction=np.ones(n), suppress=np.zeros(n, dtype=bool), params=params,
    )
    return out.orders, out.equity


def _paper(b: dict[str, np.ndarray]) -> tuple[list[tuple[float, ...]], list[float]]:
    when = [datetime.fromtimestamp(int(t) / 1000, tz=UTC) for t in b["time"]]
    paper = PaperBroker(journal=MemoryJournal(), state=MemoryState(),
                        clock=SimulatedClock(when[0]))
    fills, equity, pending = [], [], None
    for i in range(len(b["close"])):
        if pending is not None:
            fills += paper.submit(pending, price=float(b["open"][i]), at=when[i])
            pending = None
        fills += paper.on_bar(Bar("BTC/USDT", when[i], float(b["open"][i]), 0.0,
                                  float(b["low"][i]), float(b["close"][i])))
        equity.append(paper.equity({"BTC/USDT": float(b["close"][i])}))
        held, sig = paper.position("BTC/USDT").is_open, int(b["signal"][i])
        if held and sig == -1:
            pending = Order("BTC/USDT", Side.SELL, Decimal(0), kind=OrderKind.EXIT,
                            bar_time=when[i])
        elif not held and sig == 1:
            frac = rules.default_fraction(FRACTION, 1.0, FRACTION)
            notional = rules.position_notional(equity[-1], frac)
            pending = Order("BTC/USDT", Side.BUY, Decimal(repr(notional)),
                            Decimal(repr(STOP_PCT)), bar_time=when[i])
    index = {t: i for i, t in enumerate(when)}
    rows = [(index[f.at], 0.0 if f.side is Side.BUY else 1.0, float(f.amount),
             float(f.price), float(f.fee)) for f in fills]
    return rows, equity


def test_paper_fills_equal_the_kernel_orders_bit_for_bit() -> None:
    bars = _bars()
    orders, kernel_equity = _kernel(bars)
    rows, equity = _paper(bars)
    assert len(orders) > 20  # entries, signal exits and stop exits, some through gaps
    assert [tuple(r) for r in orders.tolist()] == rows
    assert equity == kernel_equity.tolist()
