"""How values become journal text: UTC times, exact money, JSON, redacted config snapshots.

Times are fixed-width ISO-8601 UTC with microseconds (``2024-01-01T00:00:00.000000+00:00``) so
that text order is time order and ``sqlite3`` date functions read them. Money is the plain
decimal notation of a ``Decimal`` (never a float, never exponent notation): what the exchange
said is what the audit shows.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import numbers
from collections.abc import Mapping, Sequence, Set
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from enum import Enum
from pathlib import PurePath
from typing import Any, Final

from core.secrets import Secret, redact
from journal.errors import JournalError

REDACTED: Final = "***"
# A setting whose name contains one of these has every string under it redacted. Numbers and
# flags stay visible (``max_tokens: 1024`` is a limit, not a credential).
SECRET_NAME_PARTS: Final = ("key", "secret", "token", "password", "passphrase", "credential")

Money = Decimal | int | float
# json.dumps with these options builds a new encoder per call; the state is encoded every bar.
_JSON: Final = json.JSONEncoder(allow_nan=False, sort_keys=True, separators=(",", ":"))


def time_text(when: datetime) -> str:
    """Fixed-width ISO-8601 UTC text of an aware time; a naive time raises ValueError."""
    if type(when) is datetime and when.tzinfo is UTC:
        return when.isoformat(timespec="microseconds")  # already the plain UTC datetime below
    if not isinstance(when, datetime) or when.utcoffset() is None:
        raise ValueError(f"journal times must be timezone-aware datetimes, got {when!r}")
    utc = when.astimezone(UTC)
    # Rebuild a plain datetime: a pandas Timestamp would format nanoseconds differently.
    plain = datetime(
        utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second, utc.microsecond, tzinfo=UTC
    )
    return plain.isoformat(timespec="microseconds")


class TimeTexts:
    """``time_text`` that keeps its last few answers: a bar writes its open and close times
    into several rows, and formatting a time costs more than looking it up."""

    def __init__(self, size: int = 8) -> None:
        self._size = size
        self._texts: dict[datetime, str] = {}

    def text(self, when: datetime) -> str:
        """``time_text(when)``."""
        if type(when) is not datetime:  # exact type: a pandas Timestamp may carry nanoseconds
            return time_text(when)
        # Equal aware datetimes are the same instant, hence the same text; a naive one never
        # equals an aware key, so it reaches time_text and raises.
        text = self._texts.get(when)
        if text is None:
            text = time_text(when)
            if len(self._texts) >= self._size:
                self._texts.clear()
            self._texts[when] = text
        return text

    def optional(self, when: datetime | None) -> str | None:
        """``optional_time_text(when)``."""
        return None if when is None else self.text(when)


def optional_time_text(when: datetime | None) -> str | None:
    """``time_text`` of a time, or None."""
    return None if when is None else time_text(when)


def parse_time(text: str) -> datetime:
    """Aware UTC datetime of journal time text."""
    return datetime.fromisoformat(text).astimezone(UTC)


def parse_optional_time(text: str | None) -> datetime | None:
    """``parse_time`` of text, or None."""
    return None if text is None else parse_time(text)


def money_text(value: Money) -> str:
    """Exact plain-decimal text of an amount; NaN, infinity and bools raise ValueError.

    A float is taken at its shortest repr, which converts back to the very same float.
    """
    if type(value) is float:
        text = repr(value)
        # Without an exponent, and neither zero nor NaN/inf, the repr is already the plain
        # decimal text of Decimal(repr(value)).
        if "e" not in text and "n" not in text and value != 0.0:
            return text
    number = _decimal(value)
    if not number.is_finite():
        raise ValueError(f"money must be finite, got {value!r}")
    if number.is_zero():
        number = abs(number)  # "-0" in an audit file only raises questions
    return format(number, "f")


def optional_money_text(value: Money | None) -> str | None:
    """``money_text`` of an amount, or None."""
    return None if value is None else money_text(value)


def parse_money(text: str) -> Decimal:
    """Decimal of journal money text."""
    try:
        return Decimal(text)
    except InvalidOperation as e:
        raise JournalError(f"journal holds a malformed amount {text!r}") from e


def parse_optional_money(text: str | None) -> Decimal | None:
    """``parse_money`` of text, or None."""
    return None if text is None else parse_money(text)


def json_text(value: Any) -> str:
    """Compact, key-sorted JSON; NaN and non-JSON types raise (the journal never guesses)."""
    return _JSON.encode(value)


def parse_json_object(text: str, what: str) -> dict[str, Any]:
    """The JSON object stored as ``what``; anything else raises JournalError."""
    value = json.loads(text)
    if not isinstance(value, dict):
        raise JournalError(f"journal {what} is not a JSON object")
    return value


def redacted_snapshot(config: Mapping[str, Any], secrets: Sequence[Secret]) -> str:
    """JSON of a config with secrets redacted: Secret values, the given secrets' text anywhere,
    and every string under a name containing key/secret/token/password/passphrase/credential."""
    text = json_text(_snapshot(config, list(secrets), hidden=False))
    for secret in secrets:
        value = secret.reveal()
        # Belt and braces: refuse to write rather than trust the walk above.
        if value and (value in text or json.dumps(value)[1:-1] in text):
            raise JournalError("a secret survived redaction; the run snapshot was not written")
    return text


def is_secret_name(name: str) -> bool:
    """True when a setting's name says it holds a credential."""
    lowered = name.lower()
    return any(part in lowered for part in SECRET_NAME_PARTS)


def _snapshot(value: Any, secrets: list[Secret], *, hidden: bool) -> Any:
    if isinstance(value, Secret):
        return REDACTED if value else ""
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, str):
        if hidden:
            return REDACTED if value else ""
        return redact(value, secrets)
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, Mapping):
        return {
            redact(str(k), secrets): _snapshot(v, secrets, hidden=hidden or is_secret_name(str(k)))
            for k, v in value.items()
        }
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        items = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        return _snapshot(items, secrets, hidden=hidden)
    return _snapshot_other(value, secrets, hidden=hidden)


def _snapshot_other(value: Any, secrets: list[Secret], *, hidden: bool) -> Any:
    if isinstance(value, Set):
        return [_snapshot(v, secrets, hidden=hidden) for v in sorted(value, key=str)]
    if isinstance(value, list | tuple):
        return [_snapshot(v, secrets, hidden=hidden) for v in value]
    if isinstance(value, Decimal):
        return format(value, "f") if value.is_finite() else str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return _snapshot(float(value), secrets, hidden=hidden)
    if isinstance(value, PurePath):
        return _snapshot(str(value), secrets, hidden=hidden)
    # Unknown objects are shown by str(), which could embed anything: treat it as text.
    return _snapshot(str(value), secrets, hidden=hidden)


def _decimal(value: Money) -> Decimal:
    if isinstance(value, bool):
        raise ValueError(f"money must be a number, got {value!r}")
    if isinstance(value, Decimal):
        return value
    if isinstance(value, numbers.Integral):
        return Decimal(int(value))
    if isinstance(value, numbers.Real):
        as_float = float(value)
        if not math.isfinite(as_float):
            raise ValueError(f"money must be finite, got {value!r}")
        return Decimal(repr(as_float))
    raise ValueError(f"money must be a Decimal, int or float, got {value!r}")


def numbers_text(numbers: Sequence[tuple[str, float]]) -> str | None:
    """A decision's named numbers as a JSON object (NaN and inf as null); None when none."""
    if not numbers:
        return None
    # Written on every bar of a replay: labels are encoded once, and repr() of a finite float
    # is already valid JSON (the shortest text that reads back to the same float).
    return "{" + ",".join(
        f"{_json_label(label)}:{repr(float(value)) if math.isfinite(value) else 'null'}"
        for label, value in numbers) + "}"


@functools.lru_cache(maxsize=256)
def _json_label(label: str) -> str:
    return json.dumps(label)


def parse_numbers(text: str | None) -> tuple[tuple[str, float], ...]:
    """The named numbers of ``numbers_text`` (null back to NaN)."""
    if not text:
        return ()
    raw = json.loads(text)
    return tuple((str(k), math.nan if v is None else float(v)) for k, v in raw.items())
