"""Deterministic client order ids: the same decision always gets the same id.

Format ``<prefix>-<SYMBOL>-<YYYYMMDDHHMM>-<K>[<n>]``, e.g. ``tb-BTCUSDT-202405011300-E``:
prefix is the strategy/run name (1-8 letters or digits), SYMBOL the market without its slash,
the time is the UTC open time of the bar whose decision created the order, K the kind (E entry,
X exit, S stop) and n a sequence number for a stop placed again after the first one went away.
Binance allows ``^[a-zA-Z0-9-_]{1,36}$``; a symbol too long for that is shortened to its first
letters plus a hash of the full symbol, so the id stays unique and deterministic.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Final

from core.domain import Order, OrderKind, OrderStatus
from core.errors import AttemptsExhausted, ConfigError

MAX_LEN: Final = 36
ALLOWED: Final = re.compile(r"^[a-zA-Z0-9_-]{1,36}$")
_PREFIX: Final = re.compile(r"^[a-zA-Z0-9]{1,8}$")
_KIND_LETTER: Final = {OrderKind.ENTRY: "E", OrderKind.EXIT: "X", OrderKind.STOP: "S"}
ATTEMPTS_PER_INTENT: Final = 9  # retry ids -E1..-E8 (-X1..): one decision, bounded sends


def check_prefix(prefix: str) -> str:
    """Return ``prefix`` if it is 1-8 letters or digits, else raise ConfigError."""
    if not _PREFIX.match(prefix):
        raise ConfigError(f"client id prefix must be 1-8 letters or digits, got {prefix!r}")
    return prefix


def client_order_id(
    prefix: str, symbol: str, bar_time: datetime, kind: OrderKind, seq: int = 0
) -> str:
    """The client id of the ``kind`` order decided on the bar opening at ``bar_time``."""
    if bar_time.tzinfo is None:
        raise ValueError("bar_time must be timezone-aware (UTC)")
    if seq < 0:
        raise ValueError("seq must be >= 0")
    stamp = bar_time.astimezone(UTC).strftime("%Y%m%d%H%M")
    tail = f"-{stamp}-{_KIND_LETTER[kind]}{seq if seq else ''}"
    head = check_prefix(prefix) + "-"
    market = re.sub(r"[^A-Za-z0-9]", "", symbol).upper()
    room = MAX_LEN - len(head) - len(tail)
    if len(market) > room:
        digest = hashlib.blake2b(symbol.encode(), digest_size=4).hexdigest()[:5].upper()
        market = market[: room - len(digest)] + digest
    cid = head + market + tail
    if not ALLOWED.match(cid):  # cannot happen with a checked prefix; never send a bad id
        raise ValueError(f"client id {cid!r} is not in Binance's allowed set")
    return cid


def is_ours(client_id: str, prefix: str) -> bool:
    """True if ``client_id`` was made with ``prefix`` (orders of other tools are left alone)."""
    return client_id.startswith(prefix + "-")


def with_client_id(order: Order, prefix: str, fallback_time: datetime) -> Order:
    """``order`` with its deterministic client id (from its bar time) filled in and checked."""
    if order.client_id:
        if not ALLOWED.match(order.client_id):
            raise ConfigError(f"client id {order.client_id!r} is not 1-36 of [A-Za-z0-9_-]")
        return order
    bar_time = order.bar_time or fallback_time
    cid = client_order_id(prefix, order.symbol, bar_time, order.kind)
    return replace(order, client_id=cid, bar_time=bar_time)


def current_attempt(
    order: Order, prefix: str, status: Callable[[str], OrderStatus | None]
) -> Order | None:
    """The client id this send of a decision uses; None when the decision was executed.

    An order's life: intent (committed) -> sent -> open -> filled | canceled | rejected.
    An attempt that ended without a fill (never sent before a crash, refused by the
    exchange) is over: the same decision goes again under the next retry id (``...-E1``,
    ``...-E2``), each its own journal row, never a reused id; at most ATTEMPTS_PER_INTENT.
    ``status`` is the journal's latest status of a client id (None when it has no intent).
    """
    base = order
    for seq in range(ATTEMPTS_PER_INTENT):
        if seq:
            if base.bar_time is None:
                raise ValueError("a retry id needs the decision's bar time")
            order = replace(base, client_id=client_order_id(
                prefix, base.symbol, base.bar_time, base.kind, seq))
        known = status(order.client_id)
        if known is OrderStatus.FILLED:
            return None
        if known is None or not known.final:
            return order  # new, or unresolved: resumed by a lookup before any send
    raise AttemptsExhausted(f"{base.client_id}: {ATTEMPTS_PER_INTENT} attempts ended without "
                            "a fill; not sending it again")
