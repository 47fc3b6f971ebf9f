"""A plain-Python, bar-by-bar reference of the backtest's semantics, built on the LIVE risk layer.

Written from ARCHITECTURE.md ("The one decision path", "Semantics to keep identical
everywhere") and the kernel's docstring, not from the kernel's code. Every risk decision goes
through ``risk.manager.RiskManager`` exactly as a live loop would drive it, so a test that
compares this with the numba kernel also proves backtest/live parity of the risk layer:

- each bar, in order: fill what the previous close decided at this bar's open (slippage against
  us, fees on notional; ``record_entry(now=bar time)`` on an entry, ``record_trade_close(pnl,
  now=bar time)`` on an exit); the stop, live from the fill bar on (``low <= stop`` exits at the
  stop, or at the open when the bar gaps below it, slippage against us); mark equity at the close
  (cash + units x close) with ``check_and_update(equity, now=bar time)``; decide at the close what
  the next open does (never after the last bar);
- while long: the drawdown latch (with flatten_on_halt) exits with reason ``halt``, else a -1
  exits with reason ``signal``; further 1s do nothing;
- while flat, a 1 wants to open: the live entry checks that need no conviction (kill switches,
  cooldown, entry cap) are asked first and the scorer only if none refuses; then
  ``evaluate_entry(conviction)``, then the scorer's suppress flag; then the size:
  ``default_fraction`` until ``kelly_min_trades`` trades have closed, then
  ``position_notional`` with Kelly inputs of the trades closed before this close (a trade that
  closed at this bar's open or on its stop counts: it is over before the close);
- a position still open after the last bar is reported with reason ``end`` at the last close,
  with no exit fee.

Bar times are the bars' open times (tz-aware); the UTC day of a bar is the day of its open time.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd

from backtest.engine import BacktestConfig
from risk import checks, rules
from risk.manager import HaltKind, RiskEventKind, RiskManager
from signals.quant_signals import compute_signals
from signals.scorer import FixedScorer, Scorer
from signals.scorer_context import request_from_bars
from signals.strategies.rsi_ema import seed_params

# (conviction, suppress) of bar i, or None when that score is not known yet.
ScoreAt = Callable[[int], tuple[float, bool] | None]

HALT_CODES = {HaltKind.NONE: 0, HaltKind.DAILY: 1, HaltKind.DRAWDOWN: 2}
# The kernel reports only these halt events; cooldown events are the live manager's extra.
HALT_EVENTS = (
    RiskEventKind.DAILY_PAUSE, RiskEventKind.DAILY_CLEAR, RiskEventKind.DRAWDOWN_LATCH,
)
# Live check (by function name) -> rejection counter name in backtest.engine.
CHECK_NAMES = {
    "drawdown_latch": "drawdown_latch",
    "daily_pause": "daily_pause",
    "loss_cooldown": "cooldown",
    "entries_per_day": "entry_cap",
    "conviction_threshold": "conviction",
}
REJECTIONS = (
    "drawdown_latch", "daily_pause", "cooldown", "entry_cap", "conviction", "suppressed",
    "size_zero", "max_positions", "gross_exposure", "cash",
)
# The live checks a halted or capped bot can answer without asking the scorer.
PRE_SCORE_CHECKS = tuple(c for c in checks.ENTRY_CHECKS if c is not checks.conviction_threshold)


@dataclass(frozen=True, slots=True)
class RefTrade:
    """One round trip, bar indices into the simulated frame."""

    entry_idx: int
    exit_idx: int
    size: float
    entry_price: float
    exit_price: float
    entry_fees: float
    exit_fees: float
    pnl: float
    exit_reason: str  # signal | stop | halt | end
    stop: float
    conviction: float


@dataclass(frozen=True, slots=True)
class RefEvent:
    """A change of halt state as the live manager queued it."""

    idx: int
    kind: str  # daily_pause | daily_clear | drawdown_latch
    reason: str


@dataclass
class RefResult:
    """What the reference produced; ``need_score`` >= 0 means it stopped for a missing score."""

    index: pd.DatetimeIndex
    trades: list[RefTrade] = field(default_factory=list)
    equity: list[float] = field(default_factory=list)
    halt: list[int] = field(default_factory=list)
    events: list[RefEvent] = field(default_factory=list)
    rejections: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REJECTIONS, 0))
    asked: list[int] = field(default_factory=list)
    need_score: int = -1


class _NoWallClock:
    """A clock that fails the test if the manager ever reads it: every call passes bar time."""

    def now(self) -> datetime:
        raise AssertionError("the reference must pass the bar time to the risk manager")


@dataclass
class _Position:
    entry_idx: int
    units: float
    entry_price: float
    entry_fees: float
    stop: float
    conviction: float


@dataclass
class _Closed:
    """Kelly inputs accumulated from closed trades, in closing order."""

    n: int = 0
    wins: int = 0
    losses: int = 0
    sum_win: float = 0.0
    sum_loss: float = 0.0

    def add(self, pnl: float, ret: float) -> None:
        self.n += 1
        if pnl > 0.0:
            self.wins += 1
            self.sum_win += ret
        elif pnl < 0.0:
            self.losses += 1
            self.sum_loss -= ret


class _Reference:
    def __init__(
        self, frame: pd.DataFrame, signal: np.ndarray, config: BacktestConfig, score_at: ScoreAt
    ) -> None:
        self.open = frame["open"].to_numpy(np.float64).tolist()
        self.low = frame["low"].to_numpy(np.float64).tolist()
        self.close = frame["close"].to_numpy(np.float64).tolist()
        self.times: list[datetime] = list(pd.DatetimeIndex(frame.index).to_pydatetime())
        self.signal = [int(s) for s in signal]
        self.cfg = config
        self.score_at = score_at
        self.rm = RiskManager(config.risk, config.init_cash, clock=_NoWallClock())
        self.cash = float(config.init_cash)
        self.pos: _Position | None = None
        self.pending: tuple[str, float, float] | None = None  # (entry|signal|halt, notional, conv)
        self.closed = _Closed()
        self.out = RefResult(index=pd.DatetimeIndex(frame.index))

    def run(self) -> RefResult:
        n = len(self.close)
        for i in range(n):
            self._fill_pending(i)
            self._stop(i)
            self._mark(i)
            if i < n - 1 and not self._decide(i):
                self.out.need_score = i
                return self.out
        if self.pos is not None:
            self._close(n - 1, self.close[n - 1], "end", fee=0.0)
        return self.out

    def _fill_pending(self, i: int) -> None:
        pending, self.pending = self.pending, None
        if pending is None:
            return
        what, notional, conviction = pending
        if what != "entry":
            self._close(i, self.open[i] * (1.0 - self.cfg.slippage), what, fee=self.cfg.fee)
            return
        price = self.open[i] * (1.0 + self.cfg.slippage)
        fees = notional * self.cfg.fee
        self.cash -= notional + fees
        stop = self.rm.stop_price(price)  # placed right after the fill, from the price paid
        self.pos = _Position(i, notional / price, price, fees, stop, conviction)
        self.rm.record_entry(now=self.times[i])

    def _stop(self, i: int) -> None:
        pos = self.pos
        if pos is None or self.low[i] > pos.stop:
            return
        at = self.open[i] if self.open[i] <= pos.stop else pos.stop  # gap through: the open
        self._close(i, at * (1.0 - self.cfg.slippage), "stop", fee=self.cfg.fee)

    def _close(self, i: int, price: float, reason: str, *, fee: float) -> None:
        pos = self.pos
        assert pos is not None
        proceeds = pos.units * price
        exit_fees = proceeds * fee
        self.cash += proceeds - exit_fees
        cost = pos.units * pos.entry_price
        pnl = proceeds - cost - pos.entry_fees - exit_fees
        self.out.trades.append(RefTrade(
            entry_idx=pos.entry_idx, exit_idx=i, size=pos.units, entry_price=pos.entry_price,
            exit_price=price, entry_fees=pos.entry_fees, exit_fees=exit_fees, pnl=pnl,
            exit_reason=reason, stop=pos.stop, conviction=pos.conviction,
        ))
        self.pos = None
        if reason != "end":
            self.closed.add(pnl, pnl / cost)
            self.rm.record_trade_close(pnl, now=self.times[i])

    def _mark(self, i: int) -> None:
        units = 0.0 if self.pos is None else self.pos.units
        equity = self.cash + units * self.close[i]
        allowed = self.rm.check_and_update(equity, now=self.times[i])
        self.out.equity.append(equity)
        self.out.halt.append(HALT_CODES[self.rm.state.halt_kind])
        assert allowed == (self.out.halt[-1] == 0)
        for event in self.rm.drain_events():
            if event.kind in HALT_EVENTS:
                self.out.events.append(RefEvent(i, str(event.kind), event.reason))

    def _decide(self, i: int) -> bool:
        """Set what the next open does; False when bar i's score is needed and unknown."""
        if self.pos is not None:
            if self.rm.state.drawdown_latched and self.cfg.flatten_on_halt:
                self.pending = ("halt", 0.0, 0.0)
            elif self.signal[i] == -1:
                self.pending = ("signal", 0.0, 0.0)
            return True
        if self.signal[i] != 1:
            return True
        return self._want_to_open(i)

    def _want_to_open(self, i: int) -> bool:
        state, config = self.rm.state, self.rm.config
        for check in PRE_SCORE_CHECKS:
            if check(state, config, math.nan) is not None:
                self._reject(check.__name__)
                return True
        # No conviction could give a size (half-Kelly <= 0): the scorer is not asked.
        if not self._notional(self.out.equity[i], 1.0) > 0.0:
            self.out.rejections["size_zero"] += 1
            return True
        score = self.score_at(i)
        if score is None:
            return False
        self.out.asked.append(i)
        conviction, suppress = score
        approval = self.rm.evaluate_entry(conviction)
        if not approval.ok:
            # The kill switches passed above, so only the conviction threshold can refuse here.
            assert approval.reason == checks.conviction_threshold(state, config, conviction)
            self._reject("conviction_threshold")
            return True
        if suppress:
            self.out.rejections["suppressed"] += 1
            return True
        notional = self._notional(self.out.equity[i], conviction)
        if not notional > 0.0:
            self.out.rejections["size_zero"] += 1
            return True
        self.pending = ("entry", notional, conviction)
        return True

    def _reject(self, check_name: str) -> None:
        self.out.rejections[CHECK_NAMES[check_name]] += 1

    def _notional(self, equity: float, conviction: float) -> float:
        c = self.closed
        if c.n < self.cfg.kelly_min_trades:
            fraction = rules.default_fraction(
                self.cfg.default_position_pct, conviction, self.cfg.risk.max_position_pct
            )
            return rules.position_notional(equity, fraction)
        return self.rm.position_notional(
            equity,
            win_rate=c.wins / c.n,
            avg_win_pct=c.sum_win / c.wins if c.wins else math.nan,
            avg_loss_pct=c.sum_loss / c.losses if c.losses else math.nan,
            conviction=conviction,
        )


def reference_run(
    frame: pd.DataFrame, signal: np.ndarray, config: BacktestConfig, score_at: ScoreAt
) -> RefResult:
    """Simulate ``frame`` (open/low/close, tz-aware open times) with a signal per bar."""
    if len(signal) != len(frame):
        raise ValueError("one signal per bar")
    return _Reference(frame, np.asarray(signal), config, score_at).run()


def array_scores(conviction: np.ndarray, suppress: np.ndarray | None = None) -> ScoreAt:
    """Scores from arrays, NaN conviction meaning "not scored yet" (as the kernel's input)."""
    flags = np.zeros(len(conviction), dtype=bool) if suppress is None else suppress

    def score_at(i: int) -> tuple[float, bool] | None:
        c = float(conviction[i])
        return None if math.isnan(c) else (c, bool(flags[i]))

    return score_at


def reference_backtest(
    bars: pd.DataFrame, config: BacktestConfig, scorer: Scorer | None = None
) -> RefResult:
    """The live path over raw bars (warm-up included): compute_signals, then the scorer asked
    with the request a live loop builds for the decision bar (FixedScorer by default)."""
    params = seed_params(config.strategy)
    assert params is not None, "the reference implements the seed's rule"
    context = compute_signals(bars, params)
    scorer = FixedScorer() if scorer is None else scorer
    # A FixedScorer ignores its request; building one costs ~0.4 ms of pandas per bar.
    fixed_request = request_from_bars(config.symbol, context.iloc[:1])
    fixed = isinstance(scorer, FixedScorer)

    def score_at(i: int) -> tuple[float, bool]:
        request = fixed_request if fixed else request_from_bars(
            config.symbol, context.iloc[max(0, i - 4): i + 1]
        )
        score = scorer.score(request)
        return score.conviction, score.suppress

    return reference_run(context, context["signal"].to_numpy(), config, score_at)
