"""How the operator's screens write numbers and times: the CLI, Telegram and the report alike.

Standard library only (``status`` and a Telegram answer stay instant).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal


def when(t: datetime | None, *, seconds: bool = True) -> str:
    """``2025-05-05 13:00:00 UTC`` (without seconds on a phone); ``-`` for none."""
    if t is None:
        return "-"
    return f"{t:%Y-%m-%d %H:%M:%S} UTC" if seconds else f"{t:%Y-%m-%d %H:%M} UTC"


def num(x: Decimal | float | None, spec: str = ",.2f") -> str:
    """Money and ratios: two decimals with thousands separators by default; ``-`` for none."""
    return "-" if x is None else format(x, spec)


def px(x: Decimal | None) -> str:
    """Prices and amounts by significant digits: 2 decimals would hide a 0.0001 coin."""
    return num(x, ",.8g")


def ago(seconds: float) -> str:
    """A duration in its two largest units: ``3d 4h``, ``2h 5m``, ``4m 10s``, ``9s``."""
    s = max(0, int(seconds))
    d, h, m = s // 86400, s % 86400 // 3600, s % 3600 // 60
    return f"{d}d {h}h" if d else f"{h}h {m}m" if h else f"{m}m {s % 60}s" if m else f"{s}s"
