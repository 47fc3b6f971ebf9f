"""CcxtBroker: spot trading on a real exchange (Binance first), testnet or live.

An entry is a market buy sized in quote (``quoteOrderQty``: the exchange spends exactly the
notional risk sized, as the backtest does, and rounds the amount itself); its protective stop
goes on right after the fill, sized to what the fill left us (net of fees charged in the base),
of a type the market really lists (STOP_LOSS_LIMIT by default, or STOP_LOSS), and is read back
from the exchange before the position counts as protected. A position without a confirmed stop
for longer than ``max_unprotected_s`` raises an alert and is closed at market. An exit cancels
the stop, then sells what is held (the free balance, capped at the bot's own amount, to the lot
step). Nothing trades before ``start()`` has loaded the markets and reconciled the journal with
the exchange without a difference.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from core.clock import Clock
from core.domain import Bar, Fill, Order, OrderKind, OrderStatus, Side
from core.errors import ConfigError, ExchangeUnavailable, OrderRejected
from core.ports import OrderJournal, StateStore
from core.secrets import Secret
from execution.breaker import BreakerStatus, ExchangeBreaker
from execution.broker import (
    AlertKind,
    BrokerAlert,
    Position,
    ProtectiveStop,
    Reconciliation,
    ReconciliationError,
)
from execution.ccxt_settings import (
    STOP_TYPES,
    CcxtBrokerConfig,
    CcxtSettings,
    make_trading_exchange,
)
from execution.client_ids import client_order_id, current_attempt, is_ours, with_client_id
from execution.equity import account_equity, begin_quote, bot_equity
from execution.errors import BreakerOpen
from execution.gateway import ExchangeGateway, OrderRequest, Sleeper
from execution.markets import MarketRules, market_key
from execution.positions import LivePosition, PositionBook
from execution.reconcile import account_holds, held_short, reconcile, way_forward
from execution.recording import OrderRecorder, decimal, held_after, status_of
from execution.stops import StopKeeper, send
from risk import rules

log = logging.getLogger(__name__)

# Tries to protect a new position inside submit(); after them the loop's polls take over.
_PROTECT_TRIES = 5


class CcxtBroker:
    """Live/testnet spot broker; implements the Broker port (see the module docstring)."""

    def __init__(
        self,
        exchange: Any,
        *,
        journal: OrderJournal,
        state: StateStore,
        clock: Clock,
        config: CcxtBrokerConfig | None = None,
        sleeper: Sleeper = time.sleep,
        on_alert: Callable[[BrokerAlert], None] | None = None,
        secrets: tuple[Secret, ...] = (),
        recv_window_s: float = 5.0,
    ) -> None:
        self.config = config or CcxtBrokerConfig()
        self._clock, self._on_alert, self._sleeper = clock, on_alert, sleeper
        self._state, self._journal = state, journal
        self._breaker = ExchangeBreaker(
            clock=clock, threshold=self.config.breaker_failures,
            probe_interval_s=self.config.breaker_probe_interval_s, on_open=self._breaker_opened)
        self._gw = ExchangeGateway(exchange, clock=clock, breaker=self._breaker,
                                   policy=self.config.retry, sleeper=sleeper, secrets=secrets,
                                   recv_window_s=recv_window_s)
        self.mode = "testnet" if getattr(exchange, "isSandboxModeEnabled", False) else "LIVE"
        self._book = PositionBook(state, f"ccxt:{exchange.id}:{self.mode.lower()}:"
                                         f"{self.config.account}")
        self._recorder = OrderRecorder(journal, clock, fee_lookup=self._fees_of)
        c = self.config
        self._stops = StopKeeper(self._gw, self._book, self._recorder, clock, prefix=c.prefix,
                                 style=c.stop_style, limit_offset_pct=c.stop_limit_offset_pct)
        self._rules: dict[str, MarketRules] = {}
        self._reconciliation: Reconciliation | None = None

    @classmethod
    def connect(cls, settings: CcxtSettings, **kwargs: Any) -> CcxtBroker:
        """A broker on the exchange ``settings`` describe (testnet unless live opted in)."""
        exchange = make_trading_exchange(settings)
        return cls(exchange, secrets=settings.secrets,
                   recv_window_s=settings.recv_window_ms / 1000, **kwargs)

    def __repr__(self) -> str:
        return f"CcxtBroker({self._gw.exchange.id!r}, {self.mode}, prefix={self.config.prefix!r})"

    # -- start and status --------------------------------------------------------------------
    def start(self) -> Reconciliation:
        """Load the markets once, check the stop type, reconcile; trading waits for this."""
        self._gw.call("load markets", self._gw.exchange.load_markets)
        for symbol in self.config.symbols:
            self._rules[symbol] = self._checked_market(symbol)
            # report and status close a trade once what is left cannot be sold: below a lot.
            self._state.save_state(market_key(symbol),
                                   {"dust_bound": str(self._rules[symbol].dust_bound)})
        result = reconcile(self._gw, self._book, self._recorder, rules=self._rules,
                           prefix=self.config.prefix)
        begin_quote(self._book, self._journal, self._quotes(), result)
        self._reconciliation = result
        for note in result.notes:
            log.warning("reconciliation: %s", note)
        for difference in result.differences:
            log.error("reconciliation difference: %s", difference)
        if result.ok:
            self.check_protection()  # a position settled at start may still need its stop
        return result

    @property
    def exchange(self) -> Any:
        """The ccxt client, for public market data over the same connection and limits."""
        return self._gw.exchange

    @property
    def breaker(self) -> ExchangeBreaker:
        """The exchange breaker every request of this broker counts against."""
        return self._breaker

    @property
    def breaker_status(self) -> BreakerStatus:
        """The exchange breaker's state, reason and since-time."""
        return self._breaker.status

    def probe_health(self) -> BreakerStatus:
        """While the breaker is open, run the health probe if due; the status after it."""
        return self._breaker.allow_entry(self._gw.probe)

    @property
    def reconciliation(self) -> Reconciliation | None:
        """The result of the start-up reconciliation (None before ``start``)."""
        return self._reconciliation

    # -- the Broker port ---------------------------------------------------------------------
    def equity(self, prices: Mapping[str, float]) -> float:
        """What the kill switches mark (``config.equity_scope``; see execution.equity)."""
        if self.config.equity_scope == "account":
            balance = self._gw.call("fetch balance", self._gw.exchange.fetch_balance)
            return account_equity(balance, self._rules, prices)
        return bot_equity(self._book, self._journal, self._quotes(), prices)

    def _quotes(self) -> set[str]:
        return {r.quote for r in self._rules.values()}

    def position(self, symbol: str) -> Position:
        """The bot's recorded position in ``symbol``."""
        pos = self._book.get(symbol)
        return Position(symbol) if pos is None else pos.view()

    def open_stops(self, symbol: str) -> list[ProtectiveStop]:
        """The confirmed protective stop of ``symbol``, if any."""
        pos = self._book.get(symbol)
        return [pos.stop] if pos is not None and pos.stop is not None else []

    def submit(
        self, order: Order, *, price: float | None = None, at: datetime | None = None
    ) -> list[Fill]:
        """Send an entry (market buy by quote, then its stop) or an exit (sell what is held)."""
        self._require_reconciled()
        decided = with_client_id(order, self.config.prefix, at or self._clock.now())
        attempt = current_attempt(decided, self.config.prefix, self._recorder.status)
        if attempt is None or self._book.is_done(attempt.client_id):
            log.info("order %s was already executed; not again", decided.client_id)
            return []
        order = attempt
        market = self._market(order.symbol)
        if order.kind is OrderKind.ENTRY:
            return self._enter(order, market, price)
        if order.kind is OrderKind.EXIT:
            if order.side is not Side.SELL:
                raise OrderRejected("an exit must be a sell of what is held")
            pos = self._book.get(order.symbol)
            if pos is None:
                log.info("exit %s: nothing held in %s", order.client_id, order.symbol)
                return []
            return self._close(pos, order, market)
        raise ConfigError("submit takes entries and exits; the broker places stops itself")

    def cancel_all(self, symbol: str) -> int:
        """Cancel the bot's open orders in ``symbol`` (never other tools' orders)."""
        self._require_reconciled()
        ex = self._gw.exchange
        open_orders = self._gw.call("fetch open orders", ex.fetch_open_orders, symbol)
        ours = [o for o in open_orders if is_ours(str(o.get("clientOrderId")), self.config.prefix)]
        known = self._recorder.unresolved()
        for o in ours:
            cid = str(o["clientOrderId"])
            answer = self._gw.cancel(symbol, cid, str(o.get("id") or ""))
            if cid in known and answer is not None:
                self._recorder.answered(cid, answer, "cancel_all")
        pos = self._book.get(symbol)
        if pos is not None and pos.stop is not None:
            self._book.put(pos.unprotected(self._clock.now()))
        return len(ours)

    def reload(self) -> None:
        """Positions and executed ids as the journal has them."""
        self._book.reload()

    def on_bar(self, bar: Bar) -> list[Fill]:
        """Poll ``bar.symbol``: fills of stops that triggered, then the protection watchdog."""
        return self.poll(bar.symbol)

    def poll(self, symbol: str) -> list[Fill]:
        """Read the stop of ``symbol`` back from the exchange and enforce protection."""
        self._require_reconciled()
        fills = self._stops.sync(symbol)
        return fills + self.check_protection()

    def guard(self) -> list[Fill]:
        """The protection watchdog between bars (see the Broker port).

        Each stop is read back; a filled one closes its position, a missing one (cancelled
        outside the bot, expired) is placed again at once, and a position unprotected for
        longer than ``max_unprotected_s`` is alerted and sold. Once the account has been
        found not to hold what the bot holds, it does nothing more (alerted once; trading
        refuses with what differs until an operator has looked).
        """
        if self._reconciliation is not None and not self._reconciliation.ok:
            return []
        self._require_reconciled()
        fills: list[Fill] = []
        for pos in self._book.all():
            fills += self._stops.sync(pos.symbol)
        return fills + self.check_protection()

    def check_protection(self) -> list[Fill]:
        """Protect every unprotected position; close those unprotected for too long."""
        fills: list[Fill] = []
        for pos in self._book.all():
            if pos.stop is not None or self._coins_gone(pos):
                continue
            pos = self._stops.protect(pos, self._market(pos.symbol))
            if pos.stop is not None or pos.unprotected_since is None:
                continue
            age = (self._clock.now() - pos.unprotected_since).total_seconds()
            if age <= self.config.max_unprotected_s:
                continue
            text = (f"{pos.amount} held without a stop on the exchange for "
                    f"{age:.0f}s (limit {self.config.max_unprotected_s:.0f}s); closing it")
            self._alert(AlertKind.UNPROTECTED_POSITION, pos.symbol, text)
            exit_id = client_order_id(self.config.prefix, pos.symbol, pos.bar_time,
                                      OrderKind.EXIT)
            order = Order(pos.symbol, Side.SELL, Decimal(0), client_id=exit_id,
                          kind=OrderKind.EXIT, bar_time=pos.bar_time, reason="no stop")
            fills += self._close(pos, order, self._market(pos.symbol))
        return fills

    def _coins_gone(self, pos: LivePosition) -> bool:
        """True (said once, trading refused) when the account no longer holds the position:
        sold or moved outside the bot. Placing stops or selling could only fail in a loop."""
        market = self._market(pos.symbol)
        balance = self._gw.call("fetch balance", self._gw.exchange.fetch_balance)
        short = held_short(pos, market, balance)
        if not short:
            return False
        text = (f"{pos.symbol}: the bot holds {pos.amount} {market.base}, the account "
                f"{account_holds(market, balance)}; trading stops ({way_forward(market, short)})")
        self._reconciliation = Reconciliation(differences=(text,))
        self._alert(AlertKind.ORDER_FAILURE, pos.symbol, text)
        return True

    # -- entry -------------------------------------------------------------------------------
    def _enter(self, order: Order, market: MarketRules, price: float | None) -> list[Fill]:
        if order.side is not Side.BUY:
            raise OrderRejected("no naked shorts on spot: an entry must be a buy")
        if self._book.get(order.symbol) is not None:
            raise OrderRejected(f"{order.symbol} is already long; an entry while long does nothing")
        pct = float(order.stop_loss_pct)
        if not (0.0 < pct < 1.0):
            raise OrderRejected(f"stop_loss_pct must be in (0, 1), got {order.stop_loss_pct}")
        status = self.probe_health()
        if not status.allows_entries:
            since = status.since.strftime("%Y-%m-%d %H:%M:%SZ")
            raise BreakerOpen(f"exchange breaker {status.state} since {since}: {status.reason}; "
                              "no new entries until a health probe succeeds")
        resumed = self._checked_intent(order, lambda: self._precheck_entry(order, market, price))
        request = OrderRequest(order.symbol, "market", "buy", None, None, order.client_id,
                               {"quoteOrderQty": str(order.amount_usdt)})
        raw = send(self._gw, self._recorder, order, request, resumed=resumed, answer=False)
        fees = self._recorder.fees_of(order, raw)
        with self._recorder.atomic():  # filled, its fill, the position: all or none
            self._recorder.answered(order.client_id, raw)
            fill = self._recorder.fill(order, raw, fees=fees)
            self._book.mark_done(order.client_id)
            if fill is None:
                return []
            bought = held_after(fill, market.base)
            held = market.amount(bought)  # the position is in lot steps; the rest is dust
            self._book.set_dust(order.symbol, self._book.dust(order.symbol) + bought - held)
            stop = market.price(rules.stop_price_long(float(fill.price), pct))
            pos = LivePosition(order.symbol, held, fill.price, order.client_id,
                               order.bar_time or fill.at, stop,
                               unprotected_since=self._clock.now())
            self._book.put(pos)
        return [fill, *self._protect_or_close(pos)]

    def _precheck_entry(self, order: Order, market: MarketRules, price: float | None) -> None:
        ref = decimal(price) if price else self._last_price(order.symbol)
        amount = market.amount(order.amount_usdt / ref)
        market.check(amount, ref, "entry")
        # The stop sells what the fill leaves (fee taken in the base) at its limit: it must
        # pass the same filters, or the position could never be protected.
        pct, fee = order.stop_loss_pct, decimal(self.config.fee)
        limit = ref * (1 - pct) * (1 - decimal(self.config.stop_limit_offset_pct))
        market.check(market.amount(amount * (1 - fee)), limit, "the protective stop of this entry")

    # -- stops -------------------------------------------------------------------------------
    def _protect_or_close(self, pos: LivePosition) -> list[Fill]:
        """Keep trying to protect a fresh position; past the limit, alert and close it."""
        for attempt in range(1, _PROTECT_TRIES + 1):
            pos = self._stops.protect(pos, self._market(pos.symbol))
            if pos.stop is not None or pos.unprotected_since is None:
                return []
            age = (self._clock.now() - pos.unprotected_since).total_seconds()
            left = self.config.max_unprotected_s - age
            if left < 0:
                return self.check_protection()  # alerts and closes
            self._sleeper(min(self.config.retry.delay(attempt), left + 0.001))
        return self.check_protection()

    # -- exit --------------------------------------------------------------------------------
    def _close(self, pos: LivePosition, order: Order, market: MarketRules) -> list[Fill]:
        """Cancel the stop, then sell what is held; a stop that filled meanwhile is the exit."""
        if pos.stop is not None:
            raw = self._gw.cancel(pos.symbol, pos.stop.client_id, pos.stop.exchange_id)
            if raw is not None and status_of(raw) is OrderStatus.FILLED:
                return self._stops.filled(pos, pos.stop.client_id, raw)
            if raw is not None and status_of(raw) is OrderStatus.OPEN:
                raise ExchangeUnavailable(f"stop {pos.stop.client_id} is still open after cancel")
            with self._recorder.atomic():  # the stop's status and the book agree
                self._recorder.update(pos.stop.client_id, OrderStatus.CANCELED,
                                      order.reason or "exit")
                pos = pos.unprotected(self._clock.now())
                self._book.put(pos)
        balance = self._gw.call("fetch balance", self._gw.exchange.fetch_balance)
        free = decimal((balance.get(market.base) or {}).get("free"))
        ours = pos.amount + self._book.dust(pos.symbol)  # dust goes too once it makes a lot
        amount = market.amount(min(free, ours))  # never sell holdings that are not ours
        order = replace(order, amount_base=amount)
        try:
            resumed = self._checked_intent(
                order, lambda: market.check(amount, self._last_price(pos.symbol), "exit"))
        except OrderRejected as e:
            self._alert(AlertKind.ORDER_FAILURE, pos.symbol, f"cannot sell: {e}")
            raise
        request = OrderRequest(pos.symbol, "market", "sell", float(amount), None, order.client_id)
        raw = send(self._gw, self._recorder, order, request, resumed=resumed, answer=False)
        fees = self._recorder.fees_of(order, raw)
        with self._recorder.atomic():  # sold, its fill, the flat book: all or none
            self._recorder.answered(order.client_id, raw)
            fill = self._recorder.fill(order, raw, fees=fees)
            sold = fill.amount if fill is not None else Decimal(0)
            self._book.set_dust(pos.symbol, max(min(free, ours) - sold, Decimal(0)))
            self._book.remove(pos.symbol)
            self._book.mark_done(order.client_id)
        return [] if fill is None else [fill]

    # -- plumbing ----------------------------------------------------------------------------
    def _checked_intent(self, order: Order, precheck: Callable[[], None]) -> bool:
        """Pre-check, then journal the intent; True for a resumed (maybe sent) order.

        A resumed order skips the pre-check: it may already be on the exchange, and only a
        lookup can say; a refusal is journaled with its reason before it is raised.
        """
        if order.client_id in self._recorder.unresolved():
            return True
        try:
            precheck()  # network failures here leave no trace: nothing was sent
        except OrderRejected as e:
            self._recorder.intent(order)
            self._recorder.update(order.client_id, OrderStatus.REJECTED, str(e))
            raise
        return self._recorder.intent(order)

    def _fees_of(self, order: Order, raw: dict[str, Any]) -> list[dict[str, Any]]:
        """The fees of an order from its trades (an order read back carries none)."""
        ex = self._gw.exchange
        trades = self._gw.call(f"fetch the trades of order {order.client_id}",
                               ex.fetch_my_trades, order.symbol, None, None,
                               {"orderId": str(raw.get("id") or "")})
        return [t["fee"] for t in trades if t.get("fee")]

    def _market(self, symbol: str) -> MarketRules:
        if symbol not in self._rules:
            raise ConfigError(f"{symbol} is not among the broker's symbols "
                              f"{list(self.config.symbols)}")
        return self._rules[symbol]

    def _checked_market(self, symbol: str) -> MarketRules:
        market = MarketRules(self._gw.exchange, symbol)
        wanted = STOP_TYPES[self.config.stop_style]
        if market.order_types and wanted not in market.order_types:
            raise ConfigError(f"{symbol} on {self._gw.exchange.id} does not take {wanted} "
                              f"orders (it takes {', '.join(market.order_types)})")
        return market

    def _last_price(self, symbol: str) -> Decimal:
        ticker = self._gw.call("fetch ticker", self._gw.exchange.fetch_ticker, symbol)
        return decimal(ticker.get("last") or ticker.get("close"))

    def _require_reconciled(self) -> None:
        result = self._reconciliation
        if result is None:
            raise ReconciliationError(("not reconciled with the exchange yet: call start()",))
        result.raise_if_mismatch()

    def _breaker_opened(self, status: BreakerStatus) -> None:
        self._alert(AlertKind.BREAKER_OPEN, "", f"exchange breaker open after "
                    f"{status.failures} failures: {status.reason}; no new entries")

    def _alert(self, kind: AlertKind, symbol: str, text: str) -> None:
        if self._on_alert is None:  # otherwise the alerter logs it: one line per alert
            log.error("ALERT %s %s %s", kind, symbol, text)
            return
        try:
            self._on_alert(BrokerAlert(kind, symbol, text, self._clock.now()))
        except Exception:  # an alert must never stop the broker from protecting money
            log.exception("alert callback failed")
