"""The sweep's grid: a strategy's parameter space as an ordered list of combinations.

The values of a parameter are the strategy's declared sweep values (``param_space()``), replaced
by ``--grid name=SPEC`` where given; a parameter fixed with ``--param`` keeps its one value.
Parameters left with one value are fixed, the others are swept. A combination the strategy
refuses (its constructor raises, e.g. rsi_ema's ema_fast >= ema_slow) is skipped and counted,
as the seed's grid always left out fast >= slow. The grid's warm-up is the longest of its
combinations, so that every one of them trades the same bars.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

from core.errors import ConfigError
from signals.strategy import LoadedStrategy
from signals.strategy_base import Param, ParamValue, convert_value, unknown_param

DEFAULT_STOPS: Final = (0.015,)  # RiskConfig's stop_loss_pct: the stop is not swept by default
STOP: Final = "stop_loss_pct"  # the stop's key in a row, beside the parameters'


class Combo(NamedTuple):
    """One point of the grid: the stop and the swept parameters' values (``SweepGrid.names``)."""

    stop_loss_pct: float
    values: tuple[ParamValue, ...]


@dataclass(frozen=True)
class SweepGrid:
    """Every combination to run, ordered by (stop, then each swept parameter's values).

    Attributes:
        strategy: the strategy as loaded; each combination is ``strategy_of(combo)``.
        names: the swept parameters (more than one value), in the strategy's order.
        fixed: the parameters with one value in the grid, and that value.
        combos: the combinations the strategy accepts, in grid order (the ranking's tie-break).
        warmup_bars: the longest warm-up of the combinations.
        skipped: combinations the strategy refused; ``skip_reason`` is the first refusal.
    """

    strategy: LoadedStrategy
    names: tuple[str, ...]
    fixed: Mapping[str, ParamValue]
    combos: tuple[Combo, ...]
    warmup_bars: int
    skipped: int = 0
    skip_reason: str = ""

    def params(self, combo: Combo) -> dict[str, ParamValue]:
        """All parameters of a combination: the fixed ones and its swept values."""
        return {**self.fixed, **dict(zip(self.names, combo.values, strict=True))}

    def strategy_of(self, combo: Combo) -> LoadedStrategy:
        """The strategy with a combination's parameters."""
        return self.strategy.with_params(self.params(combo))

    def row(self, combo: Combo) -> dict[str, ParamValue]:
        """The combination as JSON keys: the stop, then each swept parameter."""
        return {STOP: combo.stop_loss_pct, **dict(zip(self.names, combo.values, strict=True))}

    def values(self, name: str) -> list[ParamValue]:
        """The values a parameter (or ``stop_loss_pct``) takes over the combinations, sorted."""
        if name == STOP:
            return sorted({c.stop_loss_pct for c in self.combos})
        if name not in self.names:
            return [self.fixed[name]]
        k = self.names.index(name)
        return sorted({c.values[k] for c in self.combos})

    def combo_of(self, row: Mapping[str, Any]) -> Combo:
        """The combination of a row (``row()``'s keys)."""
        return Combo(float(row[STOP]), tuple(row[k] for k in self.names))


def build_grid(
    strategy: LoadedStrategy, *, grid: Mapping[str, Sequence[object]] | None = None,
    fixed: Collection[str] = (), stop_loss_pcts: Sequence[float] = DEFAULT_STOPS,
) -> SweepGrid:
    """The grid of ``strategy``: its space, ``grid`` overriding it, ``fixed`` names at their value.

    ConfigError on an unknown parameter, a value outside its range, a name both fixed and
    swept, or a grid the strategy accepts no combination of.
    """
    grid = dict(grid or {})
    current = dict(strategy.spec.params)
    check = value_checker(strategy)
    for name in fixed:
        if name in grid:
            raise ConfigError(f"{name} is fixed with --param and swept with --grid; give one")
    space = {k: tuple(check(k, v) for v in values) for k, values in
             strategy.param_space().items()}
    space.update({k: (current[k],) for k in fixed if k in current})
    space.update({k: tuple(check(k, v) for v in values) for k, values in grid.items()})
    for name, values in space.items():
        if not values:
            raise ConfigError(f"{strategy.name}: the grid has no value for {name}")
    ordered = {k: tuple(sorted(set(v))) for k, v in space.items()}
    names = tuple(k for k, v in ordered.items() if len(v) > 1)
    singles = {k: v[0] for k, v in ordered.items() if len(v) == 1}
    stops = _stops(stop_loss_pcts)
    accepted, warmup, refused, reason = _accepted(strategy, names, ordered, singles)
    if not accepted:
        raise ConfigError(f"the grid has no combination that {strategy.name} accepts "
                          f"({refused:,} tried; the first refused: {reason})")
    combos = tuple(Combo(stop, values) for stop in stops for values in accepted)
    return SweepGrid(strategy=strategy, names=names, fixed=singles, combos=combos,
                     warmup_bars=warmup, skipped=refused * len(stops), skip_reason=reason)


def _accepted(
    strategy: LoadedStrategy, names: Sequence[str], space: Mapping[str, Sequence[ParamValue]],
    singles: Mapping[str, ParamValue],
) -> tuple[list[tuple[ParamValue, ...]], int, int, str]:
    # The swept values the strategy accepts, their longest warm-up, and how many it refused.
    accepted: list[tuple[ParamValue, ...]] = []
    warmup, refused, reason = 0, 0, ""
    for values in itertools.product(*(space[k] for k in names)):
        try:
            one = strategy.with_params({**singles, **dict(zip(names, values, strict=True))})
        except ConfigError as e:  # a StrategyError too: a user's class may raise ValueError
            refused += 1
            reason = reason or str(e)
            continue
        # Outside the try: a warm-up that breaks the contract is an error, not a skip.
        warmup = max(warmup, one.warmup_bars)
        accepted.append(values)
    return accepted, warmup, refused, reason


def _stops(values: Sequence[float]) -> tuple[float, ...]:
    stops = tuple(sorted({float(v) for v in values}))
    if not stops or not all(0.0 < v < 1.0 for v in stops):
        raise ConfigError(f"stop distances must be fractions in (0, 1) (0.015 = 1.5%), got "
                          f"{list(values)}")
    return stops


def value_checker(strategy: LoadedStrategy) -> Callable[[str, object], ParamValue]:
    """A function that converts a value to a parameter's type and checks its declared range."""
    current = dict(strategy.spec.params)
    declared = getattr(strategy.cls, "params", None)

    def check(name: str, value: object) -> ParamValue:
        if name not in current:
            raise ConfigError(unknown_param(strategy.name, name, list(current)))
        param = declared.get(name) if isinstance(declared, Mapping) else None
        if isinstance(param, Param):
            return param.check(strategy.name, name, value)
        return convert_value(strategy.name, name, value, current[name])

    return check


def parse_grid(strategy: LoadedStrategy, items: Sequence[str]) -> dict[str, tuple[ParamValue, ...]]:
    """``--grid name=SPEC`` items as values per parameter (SPEC: A:B, A:B:STEP or A,B,C)."""
    check = value_checker(strategy)
    current = dict(strategy.spec.params)
    out: dict[str, tuple[ParamValue, ...]] = {}
    for item in items:
        name, sep, spec = (part.strip() for part in item.partition("="))
        if not sep or not name or not spec:
            raise ConfigError(f"--grid must be NAME=A:B, NAME=A:B:STEP or NAME=A,B,...; got "
                              f"{item!r}")
        if name in out:
            raise ConfigError(f"--grid {name} is given twice")
        if name not in current:
            raise ConfigError(unknown_param(strategy.name, name, list(current)))
        out[name] = tuple(check(name, v) for v in spec_values(name, spec, current[name]))
    return out


def spec_values(name: str, spec: str, like: object) -> list[Any]:
    """The values of a SPEC: a range of numbers (inclusive) or a comma list of texts."""
    numeric = isinstance(like, int | float) and not isinstance(like, bool)
    if ":" not in spec or not numeric:
        return [part.strip() for part in spec.split(",")]
    try:
        if isinstance(like, int):
            ints = [int(x) for x in spec.split(":")]
            if len(ints) not in (2, 3) or (len(ints) == 3 and ints[2] < 1):
                raise ValueError(spec)
            values: list[Any] = list(range(ints[0], ints[1] + 1, ints[2] if len(ints) == 3
                                           else 1))
        else:
            values = _float_range([float(x) for x in spec.split(":")])
    except ValueError:
        kind = "A:B, A:B:STEP (STEP >= 1)" if isinstance(like, int) else "A:B:STEP (STEP > 0)"
        raise ConfigError(f"--grid {name} must be {kind} or A,B,...; got {spec!r}") from None
    if not values:
        raise ConfigError(f"--grid {name}={spec} is an empty range")
    return values


def _float_range(parts: list[float]) -> list[float]:
    # Inclusive of B within float error; each value rounded so that 0.1 steps print as 0.3.
    if len(parts) != 3 or not all(math.isfinite(p) for p in parts) or parts[2] <= 0:
        raise ValueError(parts)
    start, stop, step = parts
    count = math.floor((stop - start) / step + 1e-9) + 1
    return [round(start + i * step, 12) for i in range(max(count, 0))]
