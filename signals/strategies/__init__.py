"""Built-in strategies, one module each; ``--strategy NAME`` picks one from BUILTINS.

Adding one is a module here and one line below.
"""

from __future__ import annotations

from signals.strategies.donchian import DonchianBreakout
from signals.strategies.mean_reversion import BollingerReversion
from signals.strategies.rsi_ema import RsiEma

BUILTINS: dict[str, type] = {
    RsiEma.name: RsiEma,
    DonchianBreakout.name: DonchianBreakout,
    BollingerReversion.name: BollingerReversion,
}

__all__ = ["BUILTINS", "BollingerReversion", "DonchianBreakout", "RsiEma"]
