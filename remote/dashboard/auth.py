"""Who may use the dashboard: named tokens with a role, from the environment only.

``TRADINGBOT_DASHBOARD_TOKENS="laptop:operator:<secret>,phone:viewer:<secret>"``: a viewer
reads, an operator also queues commands. A request names no token: it presents the secret in
``Authorization: Bearer <secret>`` (a header, so that no access log or browser history ever
holds it), compared in constant time against every configured token. Without tokens the
dashboard may only bind a loopback address, reads are open (the SSH tunnel case) and every
command is refused.
"""

from __future__ import annotations

import hmac
import ipaddress
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from core.errors import ConfigError
from core.secrets import Secret

TOKENS_ENV: Final = "TRADINGBOT_DASHBOARD_TOKENS"
MIN_SECRET: Final = 16  # characters; a guessable secret on a public port is no lock at all
_NAME_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_.")


class Role(StrEnum):
    """What a token may do: a viewer reads, an operator also queues commands."""

    VIEWER = "viewer"
    OPERATOR = "operator"


@dataclass(frozen=True, slots=True)
class Token:
    """One configured token: its name (recorded as ``web:<name>``), role and secret."""

    name: str
    role: Role
    secret: Secret


def parse_tokens(env: Mapping[str, str]) -> tuple[Token, ...]:
    """The tokens in ``TRADINGBOT_DASHBOARD_TOKENS``; ConfigError naming a malformed entry
    by its name (or position), never showing a secret."""
    text = env.get(TOKENS_ENV, "").strip()
    tokens: list[Token] = []
    for n, entry in enumerate(text.split(",") if text else [], start=1):
        token = _parse_entry(entry.strip(), n)
        if any(t.name == token.name for t in tokens):
            raise ConfigError(f"{TOKENS_ENV}: the name {token.name!r} is given twice; "
                              "each token needs its own name (it is recorded with commands)")
        if any(hmac.compare_digest(t.secret.reveal(), token.secret.reveal()) for t in tokens):
            raise ConfigError(f"{TOKENS_ENV}: token {token.name!r} has the secret of another "
                              "token; give each its own")
        tokens.append(token)
    return tuple(tokens)


def _parse_entry(entry: str, n: int) -> Token:
    parts = entry.split(":", 2)
    name = parts[0].strip().lower()
    # Named by its name when it has a plausible one, else by position: never by its text,
    # which may be a secret pasted in the wrong place.
    label = f"token {name!r}" if name and set(name) <= _NAME_CHARS and len(parts) > 1 \
        else f"entry {n}"
    where = f"{TOKENS_ENV}: {label}"
    if len(parts) != 3:
        raise ConfigError(f"{where} is not name:role:secret")
    if not name or not set(name) <= _NAME_CHARS or len(name) > 40:
        raise ConfigError(f"{where}: a name is 1-40 of a-z, 0-9, '-', '_', '.'")
    try:
        role = Role(parts[1].strip().lower())
    except ValueError:
        raise ConfigError(f"{where}: the role must be viewer or operator") from None
    secret = parts[2].strip()
    if len(secret) < MIN_SECRET or not secret.isascii() or not secret.isprintable() \
            or any(c.isspace() or c == "," for c in secret):
        raise ConfigError(f"{where}: the secret must be at least {MIN_SECRET} printable ASCII "
                          "characters without spaces or commas (e.g. `openssl rand -hex 24`)")
    return Token(name, role, Secret(secret))


def find_token(tokens: tuple[Token, ...], presented: str) -> Token | None:
    """The token whose secret is ``presented``, comparing against every token in constant
    time (no early exit, so the time taken says nothing about which or how much matched)."""
    given = presented.encode("utf-8", "surrogateescape")
    found: Token | None = None
    for token in tokens:
        if hmac.compare_digest(token.secret.reveal().encode(), given):
            found = token
    return found


def bearer(header: str | None) -> str | None:
    """The secret of an ``Authorization: Bearer <secret>`` header; None when there is none."""
    if header is None:
        return None
    scheme, _, value = header.strip().partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else ""


def is_loopback(host: str) -> bool:
    """True for an address only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to a public address


def check_bind(host: str, tokens: tuple[Token, ...]) -> None:
    """ConfigError when ``host`` is reachable from elsewhere and no token is configured."""
    if not tokens and not is_loopback(host):
        raise ConfigError(f"the dashboard on {host} would be reachable from other machines: "
                          f"set {TOKENS_ENV}=name:role:secret first, or keep 127.0.0.1 and "
                          "use an SSH tunnel")


class FailureLimiter:
    """Failed authentications per client address: ``limit`` within ``window_s`` and that
    address is refused (429) until the oldest failure leaves the window."""

    def __init__(self, *, limit: int = 5, window_s: float = 60.0, max_addresses: int = 10_000,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._limit, self._window_s, self._max = limit, window_s, max_addresses
        self._monotonic = monotonic
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, address: str) -> int:
        """Seconds until ``address`` may try again; 0 when it is not limited."""
        with self._lock:
            failures = self._recent(address)
            if failures is None or len(failures) < self._limit:
                return 0
            return max(1, int(failures[0] + self._window_s - self._monotonic()) + 1)

    def fail(self, address: str) -> None:
        """Count one failed authentication from ``address``."""
        with self._lock:
            failures = self._recent(address)
            if failures is None:
                failures = self._failures[address] = deque(maxlen=self._limit)
                while len(self._failures) > self._max:  # a flood of addresses: oldest go first
                    self._failures.popitem(last=False)
            failures.append(self._monotonic())
            self._failures.move_to_end(address)

    def _recent(self, address: str) -> deque[float] | None:
        failures = self._failures.get(address)
        if failures is None:
            return None
        horizon = self._monotonic() - self._window_s
        while failures and failures[0] <= horizon:
            failures.popleft()
        if not failures:
            del self._failures[address]
            return None
        return failures
