"""The same rules on backtesting.py (kernc), a per-bar Python event loop, for the benchmark.

    python bench/backtesting_py.py FILE.parquet

What carries over from our decision path: the signal (signals.signal_array: Wilder RSI-14 +
EMA 12/26 with the seed's levels, 0 during the 387-bar warm-up); market orders decided at a
close fill at the next open (backtesting.py's default); the 1.5% stop is live from the fill bar
on and fills at the stop, or at the open on a gap (its sl=); 0.1% commission per side; spot
long-only, -1 closes; size 1% x conviction 0.5 until 50 trades have closed, then half-Kelly x
0.5 of the closed trades capped at 2%; the daily-loss pause and the drawdown latch (with
flatten) step every bar on mark-to-market equity through risk.rules.kill_switch_step.

What does not carry over, so its trades differ a little from ours: backtesting.py trades whole
units, so prices are scaled by 1e-6 (a unit is a millionth of a coin); its ``spread`` (0.05%)
is paid on entries only, where our slippage is paid on both sides; its stop is placed from the
decision bar's close (the fill price is not known when the order is sent), ours from the fill.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import pandas as pd
from backtesting import Backtest, Strategy

from risk import rules
from signals.quant_signals import signal_array

SCALE = 1e-6
STOP, FEE, SLIPPAGE = 0.015, 0.001, 0.0005
DEFAULT_PCT, CONVICTION, MAX_PCT, KELLY_MIN = 0.01, 0.5, 0.02, 50
MAX_DD, DAILY = 0.15, 0.05


class FullPipeline(Strategy):  # type: ignore[misc]
    """Signal -> fixed conviction -> kill switches and sizing -> next-open fills with a stop."""

    def init(self) -> None:
        """Signals once; kill-switch state as in risk.rules."""
        close = np.asarray(self.data.Close, dtype=np.float64)
        self.signal = self.I(signal_array, close, name="signal")
        ms = pd.DatetimeIndex(self.data.index).as_unit("ms").asi8
        self.days = ms // rules.MS_PER_DAY
        self.switch: tuple[Any, ...] = (float(self.equity), rules.NO_DAY, float(self.equity),
                                        float(self.equity), False, False)

    def next(self) -> None:
        """One closed bar: mark, step the switches, then act on the signal."""
        i = len(self.data) - 1
        equity = float(self.equity)
        last_equity, last_day, peak, day_start, paused, latched = self.switch
        peak, day_start, paused, latched, code = rules.kill_switch_step(
            equity, int(self.days[i]), last_equity, last_day, peak, day_start, paused, latched,
            MAX_DD, DAILY,
        )
        self.switch = (equity, int(self.days[i]), peak, day_start, paused, latched)
        sig = self.signal[-1]
        if self.position:
            if latched or sig == -1:
                self.position.close()
            return
        if sig != 1 or code != rules.HALT_NONE:
            return
        fraction = self._fraction()
        if fraction > 0.0:
            self.buy(size=fraction, sl=self.data.Close[-1] * (1.0 - STOP))

    def _fraction(self) -> float:
        closed = self.closed_trades
        if len(closed) < KELLY_MIN:
            return float(rules.default_fraction(DEFAULT_PCT, CONVICTION, MAX_PCT))
        rets = np.array([t.pl_pct for t in closed])
        pnl = np.array([t.pl for t in closed])
        wins, losses = rets[pnl > 0], rets[pnl < 0]
        return float(rules.position_fraction(
            float((pnl > 0).mean()), float(wins.mean()) if len(wins) else 0.0,
            float(-losses.mean()) if len(losses) else 0.0, CONVICTION, MAX_PCT,
        ))


def main(path: str) -> None:
    """Run the strategy on the bars of ``path`` and print backtesting.py's stats."""
    bars = pd.read_parquet(path)
    data = pd.DataFrame({
        "Open": bars["open"].to_numpy() * SCALE, "High": bars["high"].to_numpy() * SCALE,
        "Low": bars["low"].to_numpy() * SCALE, "Close": bars["close"].to_numpy() * SCALE,
        "Volume": bars["volume"].to_numpy(),
    }, index=bars.index.tz_localize(None))
    bt = Backtest(data, FullPipeline, cash=10_000, commission=FEE, spread=SLIPPAGE)
    print(bt.run())


if __name__ == "__main__":
    main(sys.argv[1])
