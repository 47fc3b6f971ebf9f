"""The optional base class of a strategy: declared parameters with ranges and sweep values.

A strategy needs none of this (signals/strategy.py has the contract); the built-ins use it, and a
user's class may: a bad value is then a one-line ConfigError naming the field and its range. The
parameter conversion (``--param fast=12`` to the default's type) is shared with plain classes.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any, ClassVar, Final

import numpy.typing as npt
import pandas as pd

from core.errors import ConfigError

ParamValue = int | float | str | bool


@dataclass(frozen=True, slots=True)
class Param:
    """One declared parameter: default, allowed range (or choices), and its sweep values."""

    default: ParamValue
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    space: tuple[ParamValue, ...] = ()
    help: str = ""

    def check(self, owner: str, field: str, value: object) -> ParamValue:
        """``value`` converted to the default's type, or ConfigError naming field and range."""
        converted = convert_value(owner, field, value, self.default)
        if self.choices and converted not in self.choices:
            allowed = ", ".join(repr(c) for c in self.choices)
            raise ConfigError(f"{owner}: {field} must be one of {allowed}, got {value!r}")
        if isinstance(converted, int | float) and not isinstance(converted, bool):
            low = -math.inf if self.low is None else self.low
            high = math.inf if self.high is None else self.high
            if not (math.isfinite(converted) and low <= converted <= high):
                raise ConfigError(f"{owner}: {field} must be {self.allowed()}, got {value!r}")
        return converted

    def allowed(self) -> str:
        """The allowed values in words: "an integer in [2, 500]"."""
        if self.choices:
            return "one of " + ", ".join(self.choices)
        kind = "an integer" if isinstance(self.default, int) else "a number"
        if self.low is not None and self.high is not None:
            return f"{kind} in [{self.low:g}, {self.high:g}]"
        if self.low is not None:
            return f"{kind} >= {self.low:g}"
        return kind


class StrategyBase:
    """Optional base: parameters declared in ``params`` are validated, ranged and sweepable.

    Subclasses set ``name``, ``version`` and ``params`` (name -> Param), and implement
    ``warmup_bars`` and ``signals``; ``check()`` may add rules across parameters. The values are
    attributes of the instance (``self.fast``).
    """

    name: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    params: ClassVar[Mapping[str, Param]] = {}
    number_formats: ClassVar[Mapping[str, str]] = {}

    def __init__(self, **values: Any) -> None:
        owner = self.name or type(self).__name__
        for key in values:
            if key not in self.params:
                raise ConfigError(unknown_param(owner, key, list(self.params)))
        for field, param in self.params.items():
            value = values.get(field, param.default)
            setattr(self, field, param.check(owner, field, value))
        self.check()

    def check(self) -> None:
        """Rules across parameters; raise ConfigError naming the fields."""

    def param_space(self) -> dict[str, tuple[ParamValue, ...]]:
        """The values a sweep tries per parameter (the declared space, else the value)."""
        return {k: p.space or (getattr(self, k),) for k, p in self.params.items()}

    def numbers(self, bars: pd.DataFrame) -> Mapping[str, npt.ArrayLike]:
        """Named numbers per bar for the scorer's prompt and the journal (none by default)."""
        return {}

    @property
    def warmup_bars(self) -> int:
        """Bars of history one signal needs."""
        raise NotImplementedError

    def signals(self, bars: pd.DataFrame) -> npt.ArrayLike:
        """One of -1 / 0 / 1 per bar."""
        raise NotImplementedError


def convert_value(owner: str, field: str, value: object, default: object) -> ParamValue:
    """``value`` (a string from the command line, or a TOML value) as the default's type."""
    kind = str if default is None else type(default)
    if kind not in _CONVERTERS:
        raise ConfigError(f"{owner}: {field} has a default of type {kind.__name__}; parameters "
                          "must be int, float, str or bool")
    if isinstance(value, str) and kind is not str:
        return _from_text(owner, field, value, kind)
    converted = _CONVERTERS[kind](value)
    if converted is None:
        raise ConfigError(f"{owner}: {field} must be {_kind_words(kind)}, got {value!r}")
    return converted


def _as_bool(value: object) -> ParamValue | None:
    return value if isinstance(value, bool) else None


def _as_int(value: object) -> ParamValue | None:
    if isinstance(value, Integral) and not isinstance(value, bool):
        return int(value)
    return int(value) if isinstance(value, float) and value.is_integer() else None


def _as_float(value: object) -> ParamValue | None:
    return float(value) if isinstance(value, Real) and not isinstance(value, bool) else None


def _as_str(value: object) -> ParamValue | None:
    return value if isinstance(value, str) else None


_CONVERTERS: Final[dict[type, Callable[[object], ParamValue | None]]] = {
    bool: _as_bool, int: _as_int, float: _as_float, str: _as_str,
}


def _from_text(owner: str, field: str, text: str, kind: type) -> ParamValue:
    raw = text.strip()
    try:
        if kind is bool:
            lowered = raw.lower()
            if lowered in ("true", "yes", "1", "on"):
                return True
            if lowered in ("false", "no", "0", "off"):
                return False
            raise ValueError(raw)
        if kind is int:
            return int(raw)
        if kind is float:
            value = float(raw)
            if not math.isfinite(value):
                raise ValueError(raw)
            return value
    except ValueError:
        pass
    raise ConfigError(f"{owner}: {field} must be {_kind_words(kind)}, got {text!r}")


def _kind_words(kind: type) -> str:
    return {bool: "true or false", int: "an integer", float: "a finite number",
            str: "a string"}.get(kind, kind.__name__)


def unknown_param(owner: str, key: str, known: Sequence[str]) -> str:
    """The one-line error for a parameter the strategy does not have."""
    close = difflib.get_close_matches(key, known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    listed = ", ".join(known) if known else "none"
    return f"{owner} has no parameter {key!r}{hint}; its parameters: {listed}"
