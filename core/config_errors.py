"""One-line errors for the config file: pydantic's ValidationError, and key-looking secrets.

A user sees one line naming the file, the key path and what the key accepts, with a "did you
mean" for an unknown key, never pydantic's multi-line dump.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, Literal, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from core.errors import ConfigError

_SECRET_WORDS: Final = frozenset({"key", "apikey", "secret", "token", "password", "passphrase"})
_KINDS: Final[dict[object, str]] = {float: "a number", int: "a whole number",
                                    bool: "true or false", str: "text"}


def refuse_secrets(raw: Mapping[str, Any], file: Path, where: tuple[str, ...] = ()) -> None:
    """ConfigError for a key-looking entry (by its name or an sk-... value); never echoes it."""
    for key, value in raw.items():
        path = (*where, str(key))
        words = set(re.split(r"[^a-z0-9]+", str(key).lower()))
        if words & _SECRET_WORDS or (isinstance(value, str) and value.startswith("sk-")):
            raise ConfigError(
                f"{file}: {'.'.join(path)} looks like a secret; API keys are read only from the "
                "environment or .env (e.g. ANTHROPIC_API_KEY), never from the config file")
        if isinstance(value, Mapping):
            refuse_secrets(value, file, path)


def error_line(error: ValidationError, file: Path, root: type[BaseModel]) -> str:
    """pydantic's errors as one line: the first one, naming the key and what it accepts."""
    errors = error.errors(include_url=False)
    line = _describe(errors[0], file, root)
    more = len(errors) - 1
    return line + (f" (and {more} more problem{'s' if more > 1 else ''})" if more else "")


def allowed(name: str, info: FieldInfo) -> str:
    """What a key accepts, e.g. "a fraction in (0, 1)", "one of "auto", "fixed""."""
    annotation = info.annotation
    if get_origin(annotation) is Literal:
        return "one of " + ", ".join(json.dumps(v) for v in get_args(annotation))
    if annotation not in _KINDS:
        return "a list of markets like BTC/USDT" if name == "symbols" else "a table"
    kind = "a fraction" if name.endswith("_pct") else _KINDS[annotation]
    return kind + _range(info)


def shown(value: object) -> str:
    """A value as the error line shows it: short, and NaN as nan."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _describe(err: ErrorDetails, file: Path, root: type[BaseModel]) -> str:
    loc = [str(part) for part in err["loc"]]
    where = ".".join(loc)
    if err["type"] == "extra_forbidden":
        return f"{file}: unknown key {where}{_did_you_mean(root, loc)}"
    if err["type"] == "value_error":
        return f"{file}: {where} {err.get('ctx', {}).get('error', err['msg'])}"
    name, info = _field(root, loc)
    if info is None:
        return f"{file}: {where}: {err['msg']}"
    if _model_of(info.annotation) is not None:
        return f"{file}: [{where}] must be a table, got {shown(err['input'])}"
    hint = " (0.2 = 20%)" if name.endswith("_pct") else ""
    return f"{file}: {where} must be {allowed(name, info)}{hint}, got {shown(err['input'])}"


def _field(root: type[BaseModel], loc: list[str]) -> tuple[str, FieldInfo | None]:
    """The field a location names (its name and FieldInfo), walking down from ``root``."""
    model: type[BaseModel] | None = root
    info: FieldInfo | None = None
    name = ""
    for part in loc:
        if model is None:
            break  # inside a list or a table of values: the field is the one above
        info, name = model.model_fields.get(part), part
        if info is None:
            return part, None
        model = _model_of(info.annotation)
    return name, info


def _model_of(annotation: object) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _range(info: FieldInfo) -> str:
    """" in (0, 1)", " >= 1", ...: the bounds pydantic checks, written as a range."""
    low = high = ""
    for m in info.metadata:
        for attr, text in (("gt", "({:g}"), ("ge", "[{:g}")):
            if hasattr(m, attr):
                low = text.format(getattr(m, attr))
        for attr, text in (("lt", "{:g})"), ("le", "{:g}]")):
            if hasattr(m, attr):
                high = text.format(getattr(m, attr))
    if low and high:
        return f" in {low}, {high}"
    if low:
        return f" {'>' if low[0] == '(' else '>='} {low[1:]}"
    if high:
        return f" {'<' if high[-1] == ')' else '<='} {high[:-1]}"
    return ""


def _did_you_mean(root: type[BaseModel], loc: list[str]) -> str:
    """A close name in the same table, or a close name in another table."""
    *parent, key = loc
    model: type[BaseModel] | None = root
    if parent:
        info = _field(root, parent)[1]
        model = None if info is None else _model_of(info.annotation)
    if model is None:
        return ""
    close = difflib.get_close_matches(key, list(model.model_fields), n=1)
    if close:
        return f"; did you mean {'.'.join([*parent, close[0]])}?"
    for section, field in root.model_fields.items():
        table = _model_of(field.annotation)
        found = difflib.get_close_matches(key, list(table.model_fields), n=1) if table else []
        if found:
            return f"; did you mean {section}.{found[0]}?"
    return f"; known: {', '.join(model.model_fields)}"
