"""Who may trade on a real exchange, with which keys, and the ccxt client built from that.

Testnet is the default for the ccxt broker and uses ccxt's ``set_sandbox_mode(True)``, never
hand-edited URLs. Its keys are separate variables (``<EXCHANGE>_TESTNET_API_KEY`` /
``<EXCHANGE>_TESTNET_API_SECRET``), so a testnet run cannot even read the live keys. Live
trading needs all three: ``live=True`` (the CLI's ``--live``), ``<EXCHANGE>_API_KEY`` and
``<EXCHANGE>_API_SECRET``, and ``LIVE_TRADING=yes``; otherwise it is refused with a ConfigError
that names everything missing. Keys are core.secrets.Secret: redacted in repr, str and logs,
revealed only when handed to ccxt.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from core.errors import ConfigError
from core.secrets import Secret, secret_from_env
from execution.client_ids import check_prefix
from execution.gateway import RetryPolicy

LIVE_FLAG: Final = "LIVE_TRADING"
# Stop styles and the exchange order type each becomes (checked against the market's list).
STOP_TYPES: Final = {"stop_loss_limit": "STOP_LOSS_LIMIT", "stop_loss": "STOP_LOSS"}
TESTNET_KEYS_HELP: Final = {
    "binance": "log in at https://testnet.binance.vision with GitHub and choose "
    "'Generate HMAC_SHA256 Key'",
}


@dataclass(frozen=True, slots=True)
class CcxtSettings:
    """Connection settings of the ccxt broker.

    Attributes:
        exchange_id: ccxt exchange id (binance first; any id ccxt knows).
        live: True only after the full live opt-in; False means the exchange's testnet.
        api_key: the API key (redacted when printed).
        api_secret: the API secret (redacted when printed).
        password: the API passphrase some exchanges need (redacted; empty for Binance).
        timeout_ms: ccxt's per-request timeout.
        recv_window_ms: how long a signed request stays valid at the exchange; after it a
            request lost in flight can no longer be accepted, which makes a resend safe.
        base_url: tests only: where the client is pointed after sandbox mode (a fake server).
        rate_limit: ccxt's client-side request throttle (tests turn it off for a fake server).
    """

    exchange_id: str
    live: bool
    api_key: Secret
    api_secret: Secret
    password: Secret = field(default_factory=lambda: Secret(""))
    timeout_ms: int = 10_000
    recv_window_ms: int = 5_000
    base_url: str | None = None
    rate_limit: bool = True

    @classmethod
    def from_env(
        cls, env: Mapping[str, str], *, live: bool = False, exchange_id: str = "binance",
        **options: Any,
    ) -> CcxtSettings:
        """Settings from the environment, refusing live or testnet without what they need."""
        prefix = re.sub(r"[^A-Z0-9]", "_", exchange_id.upper())
        kind = "API" if live else "TESTNET_API"  # testnet keys never share a name with live
        names = (f"{prefix}_{kind}_KEY", f"{prefix}_{kind}_SECRET", f"{prefix}_{kind}_PASSWORD")
        key, secret = secret_from_env(env, names[0]), secret_from_env(env, names[1])
        missing = [f"{n} is not set" for n, v in zip(names[:2], (key, secret), strict=True)
                   if not v]
        if live:
            _refuse_live(env, missing)
        elif missing:
            where = TESTNET_KEYS_HELP.get(exchange_id, "see the exchange's testnet page")
            raise ConfigError(
                f"{exchange_id} testnet needs its own API keys: {'; '.join(missing)} "
                f"(to get them, {where}). Paper trading needs no keys; live trading uses "
                f"{prefix}_API_KEY / {prefix}_API_SECRET with --live and {LIVE_FLAG}=yes.")
        return cls(exchange_id=exchange_id, live=live, api_key=key, api_secret=secret,
                   password=secret_from_env(env, names[2]), **options)

    @property
    def secrets(self) -> tuple[Secret, ...]:
        """Every secret, for redacting error texts."""
        return (self.api_key, self.api_secret, self.password)


@dataclass(frozen=True, slots=True)
class CcxtBrokerConfig:
    """Behaviour of the ccxt broker (no secrets here).

    Attributes:
        prefix: client order id prefix, the strategy/run name (1-8 letters or digits).
        symbols: markets traded; reconciled at start.
        stop_style: "stop_loss_limit" (a limit ``stop_limit_offset_pct`` below the trigger)
            or "stop_loss" (stop-market); must be among the market's order types.
        stop_limit_offset_pct: distance of the stop-limit's limit below its trigger.
        max_unprotected_s: seconds a position may lack a confirmed stop before it is closed.
        fee: taker fee rate, to check that the stop of an entry clears the minimum notional.
        breaker_failures: consecutive failed requests that open the breaker.
        breaker_probe_interval_s: seconds between health probes while it is open.
        retry: backoff of retryable failures.
        account: name of this bot's record in the state store.
        equity_scope: what the kill switches mark: "bot" (default) counts only what the bot
            holds (the quote it started with plus its own fills' flows, its positions and
            dust), so a manual buy or sell in the same account is not a loss or a gain of the
            bot; "account" counts the whole account (every quote and traded base balance).
    """

    prefix: str = "tb"
    symbols: tuple[str, ...] = ("BTC/USDT",)
    stop_style: str = "stop_loss_limit"
    stop_limit_offset_pct: float = 0.005
    max_unprotected_s: float = 30.0
    fee: float = 0.001
    breaker_failures: int = 3
    breaker_probe_interval_s: float = 60.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    account: str = "default"
    equity_scope: str = "bot"

    def __post_init__(self) -> None:
        check_prefix(self.prefix)
        if self.equity_scope not in ("bot", "account"):
            raise ConfigError(f"equity_scope must be 'bot' or 'account', "
                              f"got {self.equity_scope!r}")
        if self.stop_style not in STOP_TYPES:
            raise ConfigError(f"stop_style must be one of {sorted(STOP_TYPES)}, "
                              f"got {self.stop_style!r}")
        if not (0.0 < self.stop_limit_offset_pct < 0.2):
            raise ConfigError("stop_limit_offset_pct must be in (0, 0.2)")
        if not (0.0 < self.max_unprotected_s <= 3600.0):
            raise ConfigError("max_unprotected_s must be in (0, 3600]")
        if not self.symbols:
            raise ConfigError("the ccxt broker needs at least one symbol")


def _refuse_live(env: Mapping[str, str], missing: list[str]) -> None:
    if env.get(LIVE_FLAG, "").strip() != "yes":
        missing.append(f"{LIVE_FLAG} is not 'yes' (set {LIVE_FLAG}=yes to confirm real money)")
    if missing:
        raise ConfigError("live trading refused: " + "; ".join(missing))


def make_trading_exchange(settings: CcxtSettings) -> Any:
    """The authenticated ccxt client: spot, sandbox unless live, no network call yet."""
    import ccxt

    if settings.exchange_id not in ccxt.exchanges:
        raise ConfigError(f"unknown exchange {settings.exchange_id!r}: not a ccxt exchange id")
    config: dict[str, Any] = {
        "apiKey": settings.api_key.reveal(),
        "secret": settings.api_secret.reveal(),
        "enableRateLimit": settings.rate_limit,
        "timeout": settings.timeout_ms,
        "options": {
            "defaultType": "spot",
            "fetchMarkets": {"types": ["spot"]},  # spot only: no futures exchangeInfo
            "fetchCurrencies": False,  # a sapi call the testnet does not serve; not needed
            "recvWindow": settings.recv_window_ms,
        },
    }
    if settings.password:
        config["password"] = settings.password.reveal()
    config["logger"] = wire_logger(settings.secrets)
    exchange = getattr(ccxt, settings.exchange_id)(config)
    if not settings.live:
        if not exchange.urls.get("test"):
            raise ConfigError(
                f"{settings.exchange_id} has no testnet in ccxt: use paper trading, or "
                f"--live with {LIVE_FLAG}=yes")
        exchange.set_sandbox_mode(True)
    if settings.base_url:
        from data.fetcher import rebase_urls

        exchange.urls["api"] = rebase_urls(exchange.urls["api"], settings.base_url)
    return exchange


class _Redactor(logging.Filter):
    """Replaces every configured secret in a record's message with ***."""

    def __init__(self) -> None:
        super().__init__()
        self.values: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact the record in place; never drops it."""
        text = record.getMessage()
        for value in self.values:
            text = text.replace(value, "***")
        record.msg, record.args = text, None
        return True


_REDACTOR = _Redactor()


def wire_logger(secrets: tuple[Secret, ...]) -> logging.Logger:
    """The logger ccxt writes requests to, redacting ``secrets``.

    ccxt logs every request's headers at DEBUG, and exchanges put the API key in a header
    (Binance: X-MBX-APIKEY): without this a DEBUG log level would write the key to disk.
    """
    _REDACTOR.values.update(s.reveal() for s in secrets if s)
    logger = logging.getLogger("execution.ccxt_wire")
    if _REDACTOR not in logger.filters:
        logger.addFilter(_REDACTOR)
    return logger
