"""The basket caps as the live loop asks them: off at 0, inclusive, reasons verbatim."""

from __future__ import annotations

import pytest

from risk import Approval, RiskConfig, RiskManager, checks


def test_both_caps_are_off_by_default() -> None:
    rm = RiskManager(RiskConfig(), 1_000)
    assert rm.evaluate_open_positions(50) == Approval(ok=True, reason="approved")
    assert rm.evaluate_gross_exposure(gross_notional=5e6, new_notional=1.0, equity=1.0).ok


@pytest.mark.parametrize(("n_open", "reason"), [
    (0, None), (1, None),
    (2, "max_open_positions: 2 of 2 positions open or decided"),
    (3, "max_open_positions: 3 of 2 positions open or decided"),
])
def test_open_positions_cap(n_open: int, reason: str | None) -> None:
    assert checks.open_positions_cap(RiskConfig(max_open_positions=2), n_open) == reason


def test_gross_exposure_cap_is_inclusive_and_names_the_figures() -> None:
    rm = RiskManager(RiskConfig(max_gross_exposure_pct=0.8), 1_000)
    assert rm.evaluate_gross_exposure(gross_notional=300.0, new_notional=500.0,
                                      equity=1_000.0).ok  # exactly 80%
    assert rm.evaluate_gross_exposure(gross_notional=301.0, new_notional=500.0,
                                      equity=1_000.0) == Approval(
        ok=False, reason="max_gross_exposure_pct: 301.00 held or decided + 500.00 new is "
        "80.1% of equity 1000.00, above 80.0%")


@pytest.mark.parametrize("equity", [0.0, -5.0, float("nan")])
def test_gross_exposure_cap_refuses_without_equity(equity: float) -> None:
    reason = checks.gross_exposure_cap(RiskConfig(max_gross_exposure_pct=1.0), gross_notional=0.0,
                                       new_notional=10.0, equity=equity)
    assert reason == f"max_gross_exposure_pct: equity {equity!r} gives no room for a position"
