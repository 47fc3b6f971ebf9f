"""What the bot says when it closes a position (issue 17, item 7)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from risk.config import RiskConfig
from risk.manager import RiskManager
from signals.strategy import SignalRow
from trading.decide import DecisionInputs, decide_exit

T = datetime(2024, 5, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize(("paper", "said"), [(True, "closing at the next open"),
                                             (False, "closing now")])
def test_a_halt_exit_says_when_it_sells(paper: bool, said: str) -> None:
    # Live printed "closing at the next open" while it sold right after the bar.
    row = SignalRow(T, 100.0, 1)
    inp = DecisionInputs(row=row, symbol="BTC/USDT", equity=1000.0, manual_halt="maintenance",
                         flatten_on_halt=True, stop_loss_pct=0.015, sells_at_next_open=paper)
    decision = decide_exit(inp, RiskManager(RiskConfig(), 1000.0))
    assert decision.reason == f"halt: maintenance; {said}"
