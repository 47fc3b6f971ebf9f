"""The Strategy seam: any object with ``warmup_bars`` and ``signals(bars)`` trades through the bot.

The public contract (keep it stable; the README shows it) is two members, nothing imported
from this project::

    class SmaCross:
        def __init__(self, fast: int = 10, slow: int = 40):
            self.fast, self.slow = fast, slow
        @property
        def warmup_bars(self) -> int:          # bars of history one signal needs
            return self.slow
        def signals(self, bars):               # the OHLCV frame, UTC index, oldest first
            ...                                # -> one of -1 / 0 / 1 per bar

1 asks for a long position (entered at the next open), -1 asks to close it, 0 does nothing. The
``__init__`` keyword parameters are the strategy's parameters; ``--param fast=12`` is converted
to the type of the default. Optional members a strategy may add: ``name`` and ``version``
(strings), ``numbers(bars)`` (named numbers per bar that the scorer's prompt and the journal
show), ``number_formats`` (label -> format spec), and ``param_space()`` (values per parameter for
a sweep). ``StrategyBase`` gives validated parameters with ranges for free.

``LoadedStrategy`` wraps whatever was given and is what the rest of the bot uses: it validates
what the strategy returns (length, dtype, NaN, values other than -1/0/1) and turns a failure
into one ``StrategyError`` line that names the file and the line, and it carries the frozen
``StrategySpec`` (name, version, parameters) that the strategy id is a hash of.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from numbers import Integral
from pathlib import Path
from typing import Any, Final, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
import pandas as pd

from core.errors import ConfigError
from signals.scorer import LABEL_PATTERN, MAX_NUMBERS
from signals.strategy_base import (
    Param,
    ParamValue,
    StrategyBase,
    convert_value,
    unknown_param,
)

SignalArray = npt.NDArray[np.int8]

DEFAULT_NUMBER_FORMAT: Final = "{:.6g}"


__all__ = [
    "LoadedStrategy", "Param", "ParamValue", "SignalRow", "Strategy", "StrategyBase",
    "StrategyError", "StrategySpec", "convert_value", "declared_params", "settings_hash",
]


class StrategyError(ConfigError):
    """A strategy broke its contract: one line naming the file, the line and the rule."""


@runtime_checkable
class Strategy(Protocol):
    """The public contract: a warm-up and a vectorised signal (see the module docstring)."""

    @property
    def warmup_bars(self) -> int:
        """Bars of history (the current one included) one signal needs."""
        ...

    def signals(self, bars: pd.DataFrame) -> npt.ArrayLike:
        """One of -1 / 0 / 1 for every row of ``bars``."""
        ...


@dataclass(frozen=True, slots=True)
class SignalRow:
    """The signal of one closed bar as the loop decides on it.

    Attributes:
        bar_time: open time of the bar (UTC), the bar's identity in the journal.
        close: the bar's close.
        signal: 1, -1 or 0.
    """

    bar_time: datetime
    close: float
    signal: int


# ---------------------------------------------------------------------------------------------
# The spec: what the strategy id is a hash of
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StrategySpec:
    """Name, version and parameters of a strategy, normalised so that equal specs hash alike."""

    name: str
    version: str
    params: tuple[tuple[str, ParamValue], ...]

    def to_json(self) -> dict[str, Any]:
        """The JSON object that is hashed and saved."""
        return {"name": self.name, "version": self.version, "params": dict(self.params)}

    def describe(self) -> str:
        """``name(a=1, b=2)`` for screens and reports."""
        inner = ", ".join(f"{k}={v}" for k, v in self.params)
        return f"{self.name}({inner})"


def settings_hash(settings: Mapping[str, Any]) -> str:
    """16 hex digits of SHA-256 over the canonical JSON of ``settings``."""
    canonical = json.dumps(settings, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


# ---------------------------------------------------------------------------------------------
# The wrapper the bot uses
# ---------------------------------------------------------------------------------------------


class LoadedStrategy:
    """A strategy instance with its spec, and checked calls into it (see the module doc)."""

    def __init__(self, cls: type, values: Mapping[str, object] | None = None, *,
                 origin: str, name: str | None = None, version: str | None = None) -> None:
        self.cls = cls
        self.origin = origin  # the file the strategy's code is in (errors point there)
        self.name = name or str(getattr(cls, "name", "") or cls.__name__)
        self._declared = declared_params(cls)
        owner = self.name
        given = dict(values or {})
        for key in given:
            if key not in self._declared:
                raise ConfigError(unknown_param(owner, key, list(self._declared)))
        kwargs: dict[str, ParamValue] = {}
        for key, default in self._declared.items():
            if key in given:
                kwargs[key] = convert_value(owner, key, given[key], default)
            elif default is None:
                raise ConfigError(f"{owner}: parameter {key!r} has no default; give it with "
                                  f"--param {key}=VALUE")
        self.impl = self._call("__init__", lambda: cls(**kwargs))
        params = tuple((k, self._final_value(k, kwargs)) for k in self._declared)
        self.spec = StrategySpec(self.name, version or strategy_version(cls), params)
        self._warmup: int | None = None

    # -- what the bot asks ------------------------------------------------------------------
    @property
    def warmup_bars(self) -> int:
        """The strategy's warm-up: an integer >= 1, checked once."""
        if self._warmup is None:
            value = self._call("warmup_bars", lambda: self.impl.warmup_bars)
            if isinstance(value, bool) or not isinstance(value, Integral) or int(value) < 1:
                raise self._error("warmup_bars", f"warmup_bars must be an integer >= 1, got "
                                  f"{value!r}")
            self._warmup = int(value)
        return self._warmup

    def signal(self, bars: pd.DataFrame) -> SignalArray:
        """The strategy's signals for ``bars`` as int8, every contract rule checked."""
        out = self._call("signals", lambda: self.impl.signals(bars))
        return self._checked_signal(out, bars)

    def numbers(self, bars: pd.DataFrame) -> dict[str, npt.NDArray[np.float64]]:
        """The strategy's named numbers per bar as float64 arrays ({} when it has none)."""
        if not callable(getattr(self.impl, "numbers", None)):
            return {}
        raw = self._call("numbers", lambda: self.impl.numbers(bars))
        if not isinstance(raw, Mapping):
            raise self._error("numbers", f"numbers() must return a mapping label -> values, "
                              f"got {type(raw).__name__}")
        if len(raw) > MAX_NUMBERS:
            raise self._error("numbers", f"numbers() returned {len(raw)} labels; at most "
                              f"{MAX_NUMBERS}")
        out: dict[str, npt.NDArray[np.float64]] = {}
        for label, values in raw.items():
            if not isinstance(label, str) or not LABEL_PATTERN.fullmatch(label):
                raise self._error("numbers", f"numbers() label {label!r} must match "
                                  f"{LABEL_PATTERN.pattern}")
            try:
                array = np.asarray(_values_of(values), dtype=np.float64)
            except (TypeError, ValueError):
                raise self._error("numbers", f"numbers()[{label!r}] is not numeric") from None
            if array.shape != (len(bars),):
                raise self._error("numbers", f"numbers()[{label!r}] has shape {array.shape} "
                                  f"for {len(bars)} bars")
            out[label] = array
        return out

    def number_format(self, label: str) -> str:
        """How the prompt prints the number ``label`` (a str.format spec)."""
        formats = getattr(self.impl, "number_formats", None) or {}
        fmt = formats.get(label, DEFAULT_NUMBER_FORMAT) if isinstance(formats, Mapping) else None
        return fmt if isinstance(fmt, str) else DEFAULT_NUMBER_FORMAT

    def param_space(self) -> dict[str, tuple[ParamValue, ...]]:
        """Values per parameter for a sweep: the strategy's own, else each current value."""
        current = dict(self.spec.params)
        method = getattr(self.impl, "param_space", None)
        declared = self._call("param_space", method) if callable(method) else {}
        if not isinstance(declared, Mapping):
            raise self._error("param_space", "param_space() must return a mapping")
        space: dict[str, tuple[ParamValue, ...]] = {}
        for key, value in current.items():
            values = declared.get(key, (value,))
            space[key] = tuple(values) if isinstance(values, Sequence) and not isinstance(
                values, str) else (values,)
        return space

    def with_params(self, values: Mapping[str, object]) -> LoadedStrategy:
        """The same strategy with some parameters changed (validated again)."""
        merged = {**dict(self.spec.params), **values}
        return LoadedStrategy(self.cls, merged, origin=self.origin, name=self.name,
                              version=self.spec.version)

    def describe(self) -> str:
        """``name(a=1, b=2)``."""
        return self.spec.describe()

    def __repr__(self) -> str:
        return f"LoadedStrategy({self.describe()})"

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, LoadedStrategy) and other.cls is self.cls
                and other.spec == self.spec)

    def __hash__(self) -> int:
        return hash((self.cls, self.spec))

    # -- contract checks --------------------------------------------------------------------
    def _checked_signal(self, out: object, bars: pd.DataFrame) -> SignalArray:
        try:
            array = np.asarray(_values_of(out))
        except (TypeError, ValueError) as e:
            raise self._error("signals", f"signals() returned something that is not an array "
                              f"({e})") from None
        if array.ndim != 1 or array.shape[0] != len(bars):
            raise self._error("signals", f"signals() returned shape {array.shape} for "
                              f"{len(bars)} bars; one value per bar is wanted")
        if array.dtype.kind not in "iuf":
            raise self._error("signals", f"signals() returned dtype {array.dtype}; integers or "
                              "floats of -1, 0, 1 are wanted")
        bad = ~np.isin(array, (-1, 0, 1))
        if bad.any():
            i = int(np.argmax(bad))
            value = array[i]
            what = "NaN" if isinstance(value, float | np.floating) and math.isnan(value) \
                else repr(value.item())
            raise self._error("signals", f"signals() returned {what} at bar {_bar(bars, i)} "
                              f"(row {i}); only -1, 0 and 1 are allowed (use 0 in the warm-up)")
        return array.astype(np.int8)

    def _final_value(self, key: str, kwargs: Mapping[str, ParamValue]) -> ParamValue:
        # What the instance holds (a base class normalises it), else what it was given.
        value = getattr(self.impl, key, kwargs.get(key, self._declared.get(key)))
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, bool | int | str):
            return value
        if isinstance(value, float) and math.isfinite(value):
            return value
        raise self._error("__init__", f"parameter {key!r} is {value!r}; parameters must be "
                          "finite int, float, str or bool values")

    def _call(self, member: str, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except StrategyError:
            raise
        except ConfigError as e:
            text = str(e)
            raise ConfigError(text if text.startswith(self.name) else f"{self.name}: {text}"
                              ) from None
        except Exception as e:
            where = self._where_raised(e) or self._where(member)
            detail = " ".join(str(e).split()) or "no message"
            raise StrategyError(f"{where}: {self.name}.{member} raised "
                                f"{type(e).__name__}: {detail}") from None

    def _error(self, member: str, text: str) -> StrategyError:
        return StrategyError(f"{self._where(member)}: {self.name}: {text}")

    def _where(self, member: str) -> str:
        """``file:line`` of ``member``'s definition in the strategy's class (else the file)."""
        target = getattr(self.cls, member, None)
        if isinstance(target, property):
            target = target.fget
        try:
            line = inspect.getsourcelines(target)[1] if target is not None else None
        except (OSError, TypeError):
            line = None
        return f"{self.origin}:{line}" if line else self.origin

    def _where_raised(self, error: BaseException) -> str | None:
        """``file:line`` of the deepest frame of ``error`` inside the strategy's file."""
        origin = str(Path(self.origin).resolve())
        found = None
        for frame in traceback.extract_tb(error.__traceback__):
            if str(Path(frame.filename).resolve()) == origin:
                found = f"{self.origin}:{frame.lineno}"
        return found


def declared_params(cls: type) -> dict[str, ParamValue | None]:
    """Parameters and defaults: ``params`` of a StrategyBase, else ``__init__``'s keywords."""
    declared = getattr(cls, "params", None)
    if isinstance(declared, Mapping) and all(isinstance(p, Param) for p in declared.values()):
        return {k: p.default for k, p in declared.items()}
    try:
        signature = inspect.signature(cls)
    except (TypeError, ValueError):
        return {}
    out: dict[str, ParamValue | None] = {}
    for name, p in signature.parameters.items():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        out[name] = None if p.default is p.empty else p.default
    return out


def strategy_version(cls: type) -> str:
    """The class's ``version``; without one, a hash of its source file (edits change the id)."""
    version = getattr(cls, "version", None)
    if isinstance(version, str | int) and not isinstance(version, bool) and str(version):
        return str(version)
    try:
        source = Path(inspect.getfile(cls)).read_bytes()
    except (OSError, TypeError):
        return "unversioned"
    return "sha256:" + hashlib.sha256(source).hexdigest()[:12]


def _values_of(out: object) -> object:
    if isinstance(out, pd.DataFrame):
        if out.shape[1] != 1:
            raise ValueError(f"a frame with {out.shape[1]} columns")
        return out.iloc[:, 0].to_numpy()
    if isinstance(out, pd.Series):
        return out.to_numpy()
    return out


def _bar(bars: pd.DataFrame, i: int) -> str:
    try:
        return f"{pd.Timestamp(bars.index[i]):%Y-%m-%d %H:%M}"
    except (ValueError, TypeError, IndexError):
        return str(i)
