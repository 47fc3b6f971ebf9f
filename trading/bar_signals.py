"""One symbol's strategy signals over a set of bar arrays, computed once per set of arrays."""

from __future__ import annotations

from typing import Any

from signals.strategy import LoadedStrategy
from trading.market import BarArrays


class BarSignals:
    """One symbol's signals over a set of bar arrays, and its named numbers when first asked."""

    def __init__(self, bars: BarArrays, strategy: LoadedStrategy) -> None:
        self.bars, self._strategy = bars, strategy
        self.frame = bars.frame(0, len(bars))
        self.signal = strategy.signal(self.frame)
        self._numbers: dict[str, Any] | None = None

    def numbers_at(self, i: int) -> tuple[tuple[str, float], ...]:
        """The strategy's named numbers of bar ``i`` (NaN kept: the journal stores null)."""
        if self._numbers is None:
            self._numbers = self._strategy.numbers(self.frame)
        return tuple([(label, float(v[i])) for label, v in self._numbers.items()])

    def request(self, symbol: str, i: int) -> Any:
        """The scorer's request for bar ``i``: the one the backtest sends for that bar."""
        from signals.scorer_context import request_at

        if self._numbers is None:
            self._numbers = self._strategy.numbers(self.frame)
        formats = {label: self._strategy.number_format(label) for label in self._numbers}
        return request_at(symbol, self.frame, self._numbers, formats, row=i)
