"""PaperBroker: a simulated spot wallet that fills exactly as the backtest kernel does.

No keys, no network. The arithmetic is the kernel's, in float64 and in the kernel's order of
operations, so a paper run and a backtest given the same decisions produce the same fills:
- an entry spends its quote notional at ``price * (1 + slippage)`` plus ``fee`` on the notional
  (charged in the quote asset); the stop is ``risk.rules.stop_price_long`` of that fill price;
- the stop is live from the fill bar on: ``on_bar`` exits when ``rules.long_stop_hit(low,
  stop)``, at ``rules.long_stop_fill(open, stop) * (1 - slippage)``;
- an exit sells everything held at ``price * (1 - slippage)``, fee on the proceeds.
With a market definition the amount is truncated to the lot step and the minimum notional is
enforced as on the exchange (the only place paper may then differ from the kernel, which does
not round). Floats are stored and journaled as their shortest repr, which round-trips exactly,
so a restarted bot continues the same account to the last bit.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from core.clock import Clock
from core.domain import Bar, Fill, Order, OrderKind, OrderStatus, OrderUpdate, Side
from core.errors import ConfigError, InsufficientFunds, OrderRejected
from core.ports import OrderJournal, StateStore
from execution.broker import Position, ProtectiveStop, Reconciliation
from execution.client_ids import check_prefix, client_order_id, with_client_id
from execution.markets import MarketRules
from risk import rules

log = logging.getLogger(__name__)

_MAX_DONE = 1000  # client ids remembered as executed (a restart replays at most a few bars)


@dataclass(frozen=True, slots=True)
class PaperConfig:
    """Settings of a paper account.

    Attributes:
        initial_quote: quote balance of a new account.
        quote_asset: the quote asset every traded market must use.
        fee: fee rate on notional, each side (0.001 = 0.1%), as in the backtest.
        slippage: price slippage against us on every fill (0.0005 = 0.05%).
        account: name of the account in the state store (several can coexist).
        prefix: client order id prefix (1-8 letters or digits).
    """

    initial_quote: float = 10_000.0
    quote_asset: str = "USDT"
    fee: float = 0.001
    slippage: float = 0.0005
    account: str = "default"
    prefix: str = "paper"

    def __post_init__(self) -> None:
        if not (0.0 < self.initial_quote < math.inf):
            raise ConfigError(f"initial_quote must be positive, got {self.initial_quote!r}")
        for name in ("fee", "slippage"):
            value = getattr(self, name)
            if not (0.0 <= value < 0.1):
                raise ConfigError(f"{name} must be in [0, 0.1), got {value!r}")
        check_prefix(self.prefix)


@dataclass(frozen=True, slots=True)
class _Held:
    """A paper position: units held, its entry and its protective stop (floats, exact)."""

    units: float
    entry_price: float
    stop: float
    stop_client_id: str
    since: datetime  # the fill bar: the stop is live from it on

    def to_json(self) -> dict[str, str]:
        """JSON-safe form; floats as their shortest repr (exact round trip)."""
        return {"units": repr(self.units), "entry_price": repr(self.entry_price),
                "stop": repr(self.stop), "stop_client_id": self.stop_client_id,
                "since": self.since.isoformat()}

    @classmethod
    def from_json(cls, raw: Mapping[str, str]) -> _Held:
        """Inverse of ``to_json``."""
        return cls(float(raw["units"]), float(raw["entry_price"]), float(raw["stop"]),
                   raw["stop_client_id"], datetime.fromisoformat(raw["since"]))


class PaperBroker:
    """Simulated spot broker; implements the Broker port (see the module docstring)."""

    def __init__(
        self,
        *,
        journal: OrderJournal,
        state: StateStore,
        clock: Clock,
        config: PaperConfig | None = None,
        markets: Mapping[str, Mapping[str, Any]] | None = None,
        exchange_id: str = "binance",
    ) -> None:
        self.config = config or PaperConfig()
        self._journal, self._state, self._clock = journal, state, clock
        self._markets = dict(markets or {})
        self._exchange_id = exchange_id
        self._rules: dict[str, MarketRules] = {}
        self._key = f"paper:{self.config.account}"
        self._cash = self.config.initial_quote
        self._held: dict[str, _Held] = {}
        self._done: list[str] = []
        self._load()

    # -- the Broker port ---------------------------------------------------------------------
    def equity(self, prices: Mapping[str, float]) -> float:
        """Quote cash plus units x price of every position (the kernel's mark)."""
        total = self._cash
        for symbol, held in self._held.items():
            if symbol not in prices:
                raise ValueError(f"no price for {symbol} to mark the paper position")
            total = total + held.units * float(prices[symbol])
        return total

    def position(self, symbol: str) -> Position:
        """The paper position in ``symbol``."""
        held = self._held.get(symbol)
        if held is None:
            return Position(symbol)
        return Position(symbol, _dec(held.units), _dec(held.entry_price), self._stop(symbol))

    def open_stops(self, symbol: str) -> list[ProtectiveStop]:
        """The working paper stop of ``symbol``, if any."""
        stop = self._stop(symbol)
        return [stop] if stop is not None else []

    def submit(
        self, order: Order, *, price: float | None = None, at: datetime | None = None
    ) -> list[Fill]:
        """Fill an entry or exit at ``price`` (the next bar's open) plus slippage, at ``at``."""
        when = at or self._clock.now()
        order = with_client_id(order, self.config.prefix, when)
        if order.client_id in self._done:
            log.info("paper order %s was already executed; not again", order.client_id)
            return []
        if price is None or not (0.0 < float(price) < math.inf):
            raise ValueError(f"paper fills need the next bar's open as price, got {price!r}")
        if order.kind is OrderKind.ENTRY:
            return self._enter(order, float(price), when)
        if order.kind is OrderKind.EXIT:
            return self._exit(order, float(price), when)
        raise ConfigError("submit takes entries and exits; the broker places stops itself")

    def cancel_all(self, symbol: str) -> int:
        """Cancel the stop of ``symbol``; the position stays, unprotected."""
        held = self._held.get(symbol)
        if held is None or not held.stop_client_id:
            return 0
        self._update(held.stop_client_id, OrderStatus.CANCELED, "cancel_all")
        self._held[symbol] = replace(held, stop_client_id="")
        self._save()
        return 1

    def on_bar(self, bar: Bar) -> list[Fill]:
        """Trigger the stop of ``bar.symbol`` if the bar reached it (kernel rules)."""
        held = self._held.get(bar.symbol)
        if held is None or not held.stop_client_id or bar.time < held.since:
            return []
        if not rules.long_stop_hit(bar.low, held.stop):
            return []
        price = rules.long_stop_fill(bar.open, held.stop) * (1.0 - self.config.slippage)
        fill = self._sell(bar.symbol, held.stop_client_id, price, bar.time, OrderKind.STOP)
        log.info("paper stop %s hit on %s at %s", fill.client_id, bar.symbol, fill.price)
        return [fill]

    def reconcile(self) -> Reconciliation:
        """Settle journal orders left unresolved by a crash (paper has nothing else to compare)."""
        notes = []
        for order, _ in self._journal.unresolved_orders():
            if not order.client_id.startswith(self.config.prefix + "-"):
                continue
            stop_ids = {h.stop_client_id for h in self._held.values()}
            if order.client_id in stop_ids:
                continue  # a working stop is legitimately open
            executed = order.client_id in self._done
            status = OrderStatus.FILLED if executed else OrderStatus.REJECTED
            self._update(order.client_id, status, "settled at start after a restart")
            notes.append(f"paper order {order.client_id} settled as {status}")
        return Reconciliation(notes=tuple(notes))

    # -- entries and exits -------------------------------------------------------------------
    def _enter(self, order: Order, price: float, when: datetime) -> list[Fill]:
        if order.side is not Side.BUY:
            raise OrderRejected("no naked shorts on spot: an entry must be a buy")
        if order.symbol in self._held:
            raise OrderRejected(f"{order.symbol} is already long; an entry while long does nothing")
        pct = float(order.stop_loss_pct)
        if not (0.0 < pct < 1.0):
            raise OrderRejected(f"stop_loss_pct must be in (0, 1), got {order.stop_loss_pct}")
        self._journal.record_order_intent(order, simulated=True)
        try:
            fill_price, units, notional, fees = self._entry_terms(order, price)
        except OrderRejected as e:
            self._update(order.client_id, OrderStatus.REJECTED, str(e))
            raise
        # Same statements as the kernel's _fill_entry, in the same order: bit-identical.
        self._cash -= notional + fees
        stop = rules.stop_price_long(fill_price, pct)
        bar_time = order.bar_time or when
        stop_id = client_order_id(self.config.prefix, order.symbol, bar_time, OrderKind.STOP)
        self._held[order.symbol] = _Held(units, fill_price, stop, stop_id, when)
        self._remember(order.client_id)
        fill = self._fill(order.client_id, order.symbol, Side.BUY, units, fill_price, fees, when,
                          OrderKind.ENTRY)
        self._record_stop(order.symbol, stop_id, units, stop, bar_time)
        return [fill]

    def _entry_terms(self, order: Order, price: float) -> tuple[float, float, float, float]:
        fill_price = price * (1.0 + self.config.slippage)
        notional = float(order.amount_usdt)
        units = notional / fill_price
        market = self._market(order.symbol)
        if market is not None:
            lot = market.amount(units)
            market.check(lot, _dec(fill_price), "entry")
            units = float(lot)
            notional = units * fill_price
        fees = notional * self.config.fee
        if not (notional > 0.0) or notional + fees > self._cash:
            raise InsufficientFunds(
                f"entry on {order.symbol} needs {notional + fees:.8f} {self.config.quote_asset} "
                f"(fee included); the paper wallet has {self._cash:.8f}"
            )
        return fill_price, units, notional, fees

    def _exit(self, order: Order, price: float, when: datetime) -> list[Fill]:
        if order.side is not Side.SELL:
            raise OrderRejected("an exit must be a sell of what is held")
        held = self._held.get(order.symbol)
        if held is None:
            log.info("paper exit %s: nothing held in %s", order.client_id, order.symbol)
            return []
        fill_price = price * (1.0 - self.config.slippage)
        market = self._market(order.symbol)
        self._journal.record_order_intent(replace(order, amount_base=_dec(held.units)),
                                          simulated=True)
        if market is not None:
            try:
                market.check(_dec(held.units), _dec(fill_price), "exit")
            except OrderRejected as e:
                self._update(order.client_id, OrderStatus.REJECTED, str(e))
                raise
        if held.stop_client_id:
            self._update(held.stop_client_id, OrderStatus.CANCELED, "position closed")
        return [self._sell(order.symbol, order.client_id, fill_price, when, OrderKind.EXIT)]

    def _sell(self, symbol: str, cid: str, price: float, when: datetime, kind: OrderKind) -> Fill:
        held = self._held.pop(symbol)
        # The kernel's _exit: proceeds, fee on proceeds, cash += proceeds - fees.
        proceeds = held.units * price
        fees = proceeds * self.config.fee
        self._cash += proceeds - fees
        self._remember(cid)
        return self._fill(cid, symbol, Side.SELL, held.units, price, fees, when, kind)

    # -- journal and state -------------------------------------------------------------------
    def _fill(self, cid: str, symbol: str, side: Side, units: float, price: float, fees: float,
              when: datetime, kind: OrderKind) -> Fill:
        # The wallet, the fill and (for an entry) its stop are written inside the loop's bar
        # transaction: a kill leaves all of them or none (trading.loop).
        self._save()
        fill = Fill(cid, symbol, side, _dec(units), _dec(price), _dec(fees),
                    self.config.quote_asset, when, kind=kind)
        self._journal.record_order_update(OrderUpdate(
            cid, OrderStatus.FILLED, when, filled=fill.amount, avg_price=fill.price))
        self._journal.record_fill(fill)
        return fill

    def _record_stop(self, symbol: str, cid: str, units: float, stop: float, bar: datetime
                     ) -> None:
        order = Order(symbol, Side.SELL, Decimal(0), client_id=cid, kind=OrderKind.STOP,
                      amount_base=_dec(units), stop_price=_dec(stop), bar_time=bar,
                      reason="protective stop")
        self._journal.record_order_intent(order, simulated=True)
        self._update(cid, OrderStatus.OPEN, "paper stop working")

    def _update(self, cid: str, status: OrderStatus, detail: str) -> None:
        self._journal.record_order_update(
            OrderUpdate(cid, status, self._clock.now(), detail=detail))

    def _remember(self, cid: str) -> None:
        self._done = [*self._done, cid][-_MAX_DONE:]

    def _stop(self, symbol: str) -> ProtectiveStop | None:
        held = self._held.get(symbol)
        if held is None or not held.stop_client_id:
            return None
        return ProtectiveStop(held.stop_client_id, symbol, _dec(held.units), _dec(held.stop))

    def _market(self, symbol: str) -> MarketRules | None:
        _base, _, quote = symbol.partition("/")
        if quote.split(":")[0] != self.config.quote_asset:
            raise ConfigError(f"{symbol}: the paper wallet is in {self.config.quote_asset}")
        if symbol not in self._markets:
            return None
        if symbol not in self._rules:
            self._rules[symbol] = MarketRules.offline(self._exchange_id, self._markets, symbol)
        return self._rules[symbol]

    def _save(self) -> None:
        self._state.save_state(self._key, {
            "version": 1,
            "quote_asset": self.config.quote_asset,
            "cash": repr(self._cash),
            "positions": {s: h.to_json() for s, h in self._held.items()},
            "done": list(self._done),
        })

    def guard(self) -> list[Fill]:
        """Nothing to watch between bars: paper stops trigger on the bars themselves."""
        return []

    def reload(self) -> None:
        """Forget what is in memory and take the wallet as the journal has it (after a failed
        bar, whose transaction rolled back)."""
        self._cash = self.config.initial_quote
        self._held, self._done = {}, []
        self._load()

    def _load(self) -> None:
        raw = self._state.load_state(self._key)
        if raw is None:
            return
        if raw.get("quote_asset") != self.config.quote_asset:
            raise ConfigError(
                f"paper account {self.config.account!r} is in {raw.get('quote_asset')}, "
                f"not {self.config.quote_asset}")
        self._cash = float(raw["cash"])
        self._held = {s: _Held.from_json(h) for s, h in raw.get("positions", {}).items()}
        self._done = list(raw.get("done", []))
        log.info("paper account %s resumed: %s %s, %d position(s)", self.config.account,
                 raw["cash"], self.config.quote_asset, len(self._held))

    @property
    def cash(self) -> float:
        """The quote balance of the paper wallet."""
        return self._cash

    def balances(self) -> dict[str, Decimal]:
        """The simulated spot wallet: quote and base balances (exact)."""
        wallet = {self.config.quote_asset: _dec(self._cash)}
        for symbol, held in self._held.items():
            wallet[symbol.partition("/")[0]] = _dec(held.units)
        return wallet


def _dec(value: float) -> Decimal:
    """A float as the Decimal of its shortest repr (round-trips exactly through float())."""
    return Decimal(repr(float(value)))
