"""Step 2-4 of the decision path for one closed bar of one symbol (ARCHITECTURE.md).

The same order as the backtest kernel: what the signal means for the position; kill switches,
cooldown, entry cap and the open-positions cap before the scorer (so a halted bot never pays for
a model call); the scorer; conviction and suppress; size from risk/rules.py; then the
gross-exposure cap on that size. Pure of I/O apart from the scorer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from core.domain import Order, OrderKind, Side
from risk import rules
from risk.manager import RiskManager
from signals.scorer import Score
from signals.strategy import SignalRow

ENTER, EXIT, HOLD, NONE = "enter", "exit", "hold", "none"


@dataclass(frozen=True, slots=True)
class Decision:
    """What the loop decided on one bar of one symbol, and why (journaled verbatim).

    Attributes:
        symbol: market symbol.
        bar_time: open time of the closed bar decided on (UTC).
        signal: the quant signal of that bar.
        action: enter | exit | hold | none.
        reason: approval or refusal reason, or why nothing was done.
        order: the order to execute at the next bar's open (paper) or now (live), if any.
        score: the scorer's answer when it was asked.
        approved: the risk verdict on an entry; None when no entry was considered.
        size_fraction: fraction of equity committed by an entry.
        notional: quote amount of an entry.
    """

    symbol: str
    bar_time: datetime
    signal: int
    action: str
    reason: str
    order: Order | None = None
    score: Score | None = None
    approved: bool | None = None
    size_fraction: float | None = None
    notional: float | None = None


@dataclass(frozen=True, slots=True)
class DecisionInputs:
    """Everything one decision looks at besides the risk manager and the scorer."""

    row: SignalRow
    symbol: str
    equity: float
    manual_halt: str  # reason of an operator halt in force, "" when none
    flatten_on_halt: bool
    stop_loss_pct: float
    sells_at_next_open: bool = True  # paper and replay; live sells right after the bar
    # The basket when this entry is weighed (trading.book.exposure): positions held plus
    # entries already decided, and their notionals. Left 0 while both caps are off.
    open_positions: int = 0
    gross_notional: float = 0.0
    # Why this symbol takes no entries in this run ("" when it may): live, its promotion
    # gate failed. Its position is still held, exited and protected as any other.
    refused: str = ""
    # The operator's pause in force ("" when none): no entries; exits and stops go on.
    manual_pause: str = ""


def decide_exit(inp: DecisionInputs, risk: RiskManager) -> Decision:
    """While long: flatten on a halt (if configured), close on -1, else hold."""
    halted = risk.state.drawdown_latched or bool(inp.manual_halt)
    if halted and inp.flatten_on_halt:
        why = inp.manual_halt or risk.state.drawdown_reason
        when = "at the next open" if inp.sells_at_next_open else "now"
        return _exit(inp, f"halt: {why}; closing {when}")
    if inp.row.signal == -1:
        return _exit(inp, "signal -1 closes the long")
    return Decision(inp.symbol, inp.row.bar_time, inp.row.signal, HOLD, "long; no exit signal")


def refuse_before_scoring(inp: DecisionInputs, risk: RiskManager) -> str:
    """The reason an entry is refused without asking the scorer, or "" to go on."""
    if inp.refused:
        return inp.refused
    if inp.manual_halt:
        return f"operator halt: {inp.manual_halt}"
    if inp.manual_pause:
        return f"operator pause: {inp.manual_pause}"
    # Conviction 1.0 passes any min_conviction, so only the kill switches, cooldown and cap
    # can refuse here: the same checks the kernel runs before it needs a score.
    verdict = risk.evaluate_entry(1.0)
    if verdict.ok:
        verdict = risk.evaluate_open_positions(inp.open_positions)
    return "" if verdict.ok else verdict.reason


def decide_entry(
    inp: DecisionInputs, risk: RiskManager, score: Score, fraction: float
) -> Decision:
    """After scoring: conviction threshold, suppress, then the size (0 refuses)."""
    base = Decision(inp.symbol, inp.row.bar_time, 1, NONE, "", score=score, approved=False)
    verdict = risk.evaluate_entry(score.conviction)
    if not verdict.ok:
        return _replace(base, reason=verdict.reason)
    if score.suppress:
        return _replace(base, reason=f"suppressed by the scorer: {score.reasoning}")
    notional = rules.position_notional(inp.equity, fraction)
    if not notional > 0.0:
        return _replace(base, reason="position size is 0 (half-Kelly <= 0 or no equity)")
    exposure = risk.evaluate_gross_exposure(gross_notional=inp.gross_notional,
                                            new_notional=notional, equity=inp.equity)
    if not exposure.ok:
        return _replace(base, reason=exposure.reason)
    order = Order(
        inp.symbol, Side.BUY, amount_usdt=_exact(notional),
        stop_loss_pct=_exact(inp.stop_loss_pct), kind=OrderKind.ENTRY,
        bar_time=inp.row.bar_time, reason="signal 1",
    )
    return Decision(
        inp.symbol, inp.row.bar_time, 1, ENTER, verdict.reason, order=order, score=score,
        approved=True, size_fraction=fraction, notional=notional,
    )


def _exit(inp: DecisionInputs, reason: str) -> Decision:
    order = Order(
        inp.symbol, Side.SELL, amount_usdt=Decimal(0), stop_loss_pct=_exact(inp.stop_loss_pct),
        kind=OrderKind.EXIT, bar_time=inp.row.bar_time, reason=reason,
    )
    return Decision(inp.symbol, inp.row.bar_time, inp.row.signal, EXIT, reason, order=order)


def _replace(d: Decision, *, reason: str) -> Decision:
    return Decision(d.symbol, d.bar_time, d.signal, d.action, reason, score=d.score,
                    approved=d.approved)


def _exact(value: float) -> Decimal:
    # The shortest repr round-trips through float(): the paper broker gets the very float.
    if not math.isfinite(value):
        raise ValueError(f"not a finite amount: {value!r}")
    return Decimal(repr(float(value)))
