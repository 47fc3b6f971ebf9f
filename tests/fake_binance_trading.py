"""Signed trading routes for the fake Binance spot API: account, orders, tickers, time (and
no margin pairs, which a live client loads).

``FakeSpotTrading(fake)`` installs the routes on a FakeBinance with ``add_route``. It keeps a
tiny exchange: balances (free / locked), a current price per symbol, and every order the
bot placed. Market orders fill at the current price with a 0.1% commission (in the base asset
for buys, the quote for sells, as Binance charges without BNB); stop orders rest as NEW until
``set_price`` crosses their trigger. Filters are enforced the way Binance does (LOT_SIZE,
PRICE_FILTER, NOTIONAL / MIN_NOTIONAL -> -1013), a client id already used by an open order is
-2010 "Duplicate order sent." and, as on Binance, a client id of a finished order is accepted
again: a blind resend after a lost answer really would double the position here.

Faults for a (method, path) are scripted with ``script``: an HTTP status, a Binance error
code, a read timeout (the server answers only after ``delay_s``) before or after the order
was accepted. Signatures are required but not verified.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Any

from tests.fake_binance import FakeBinance, FakeRequest, FakeResponse, binance_error

ORDER = "/api/v3/order"
OPEN_ORDERS = "/api/v3/openOrders"
ALL_ORDERS = "/api/v3/allOrders"
MY_TRADES = "/api/v3/myTrades"
ACCOUNT = "/api/v3/account"
TICKER_PRICE = "/api/v3/ticker/price"
TICKER_24H = "/api/v3/ticker/24hr"
TIME = "/api/v3/time"
PING = "/api/v3/ping"
# A live (not sandbox) ccxt client also asks for the margin pairs when it loads markets.
MARGIN_PAIRS = ("/sapi/v1/margin/allPairs", "/sapi/v1/margin/isolated/allPairs")
FEE_RATE = Decimal("0.001")
_CLIENT_ID = re.compile(r"^[a-zA-Z0-9-_]{1,36}$")
_OPEN = ("NEW", "PARTIALLY_FILLED")
_STOPS = ("STOP_LOSS", "STOP_LOSS_LIMIT")


@dataclass(frozen=True, slots=True)
class TradeFault:
    """A scripted answer for the next request to (method, path).

    kind: "http" (status with an HTML body), "error" (Binance JSON error ``code``/``msg``),
    "timeout" (sleep ``delay_s`` and do nothing) or "accept_then_timeout" (handle the request,
    then sleep ``delay_s`` before answering, so the client gives up on an accepted order).
    ``retry_after``: the Retry-After header of an "http" or "error" answer (seconds).
    """

    kind: str
    status: int = 400
    code: int = 0
    msg: str = ""
    delay_s: float = 0.6
    retry_after: str = ""


class _Reject(Exception):
    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(msg)
        self.response = binance_error(status, code, msg)


class FakeSpotTrading:
    """Account, order book and tickers of the fake spot exchange; see the module docstring."""

    def __init__(
        self,
        fake: FakeBinance,
        *,
        balances: dict[str, str] | None = None,
        prices: dict[str, str] | None = None,
    ) -> None:
        self.fake = fake
        self.free: dict[str, Decimal] = {k: Decimal(v) for k, v in (balances or {}).items()}
        self.locked: dict[str, Decimal] = {}
        self.prices: dict[str, Decimal] = {k: Decimal(v) for k, v in (prices or {}).items()}
        self.orders: list[dict[str, Any]] = []
        self._faults: list[tuple[str, str, TradeFault]] = []
        self._lock = threading.RLock()
        self._next_id = 1000
        routes = {
            ("POST", ORDER): self._create,
            ("GET", ORDER): self._get_order,
            ("DELETE", ORDER): self._cancel,
            ("GET", OPEN_ORDERS): self._open_orders,
            ("DELETE", OPEN_ORDERS): self._cancel_all,
            ("GET", ALL_ORDERS): self._all_orders,
            ("GET", MY_TRADES): self._my_trades,
            ("GET", ACCOUNT): self._account,
            ("GET", TICKER_PRICE): self._ticker_price,
            ("GET", TICKER_24H): self._ticker_24h,
            ("GET", TIME): self._time,
            ("GET", PING): lambda r: FakeResponse(200, {}),
            **{("GET", path): lambda r: FakeResponse(200, []) for path in MARGIN_PAIRS},
        }
        for (method, path), handler in routes.items():
            fake.add_route(method, path, self._guard(method, path, handler))

    # -- scripting ---------------------------------------------------------------------------
    def script(self, method: str, path: str, *faults: TradeFault) -> None:
        """Answer the next requests to ``method path`` with ``faults``, one each, in order."""
        with self._lock:
            self._faults.extend((method.upper(), path, f) for f in faults)

    def clear_faults(self) -> None:
        """Forget scripted faults not used yet."""
        with self._lock:
            self._faults.clear()

    def set_price(self, symbol_id: str, price: str) -> None:
        """Move the market: resting sell stops at or above the new price trigger and fill."""
        with self._lock:
            self.prices[symbol_id] = Decimal(price)
            for order in self.orders:
                if order["symbol"] == symbol_id and order["status"] in _OPEN:
                    self._maybe_trigger(order)

    # -- inspection --------------------------------------------------------------------------
    def posts(self) -> Counter[str]:
        """How many POST /api/v3/order requests arrived per client id (accepted or not)."""
        return Counter(r.params.get("newClientOrderId", "") for r in self.fake.calls(ORDER)
                       if r.method == "POST")

    def accepted(self) -> Counter[str]:
        """How many orders the book accepted per client id: every value must be 1."""
        with self._lock:
            return Counter(o["clientOrderId"] for o in self.orders)

    def open_orders(self, symbol_id: str) -> list[dict[str, Any]]:
        """The open orders of a symbol (copies)."""
        with self._lock:
            return [dict(o) for o in self.orders if o["symbol"] == symbol_id
                    and o["status"] in _OPEN]

    def balance(self, asset: str) -> Decimal:
        """Free plus locked balance of an asset."""
        with self._lock:
            return self.free.get(asset, Decimal(0)) + self.locked.get(asset, Decimal(0))

    # -- plumbing ----------------------------------------------------------------------------
    def _guard(self, method: str, path: str, handler: Any) -> Any:
        def route(request: FakeRequest) -> FakeResponse | None:
            fault = self._pop_fault(method, path)
            if fault is not None and fault.kind != "accept_then_timeout":
                return _fault_response(fault)
            private = path not in (TICKER_PRICE, TICKER_24H, TIME, PING)
            try:
                if private:
                    _check_signed(request)
                with self._lock:
                    response: FakeResponse = handler(request)
            except _Reject as e:
                response = e.response
            if fault is not None:
                time.sleep(fault.delay_s)  # accepted, but the client has given up by now
                return None  # so close the connection instead of writing to a dead socket
            return response

        return route

    def _pop_fault(self, method: str, path: str) -> TradeFault | None:
        with self._lock:
            for i, (m, p, fault) in enumerate(self._faults):
                if (m, p) == (method, path):
                    del self._faults[i]
                    return fault
        return None

    def _now_ms(self) -> int:
        return int(self.fake.clock.now().timestamp() * 1000)

    def _symbol(self, request: FakeRequest) -> dict[str, Any]:
        symbol = self.fake.symbols.get(request.params.get("symbol", ""))
        if symbol is None:
            raise _Reject(400, -1121, "Invalid symbol.")
        return symbol

    # -- routes ------------------------------------------------------------------------------
    def _create(self, request: FakeRequest) -> FakeResponse:
        p = request.params
        symbol = self._symbol(request)
        client_id = p.get("newClientOrderId", "")
        if not _CLIENT_ID.match(client_id):
            raise _Reject(400, -1100, "Illegal characters found in parameter 'newClientOrderId'.")
        if any(o["clientOrderId"] == client_id and o["status"] in _OPEN for o in self.orders):
            raise _Reject(400, -2010, "Duplicate order sent.")
        kind = p.get("type", "")
        if kind not in symbol["orderTypes"]:
            raise _Reject(400, -1116, "Invalid orderType.")
        order = self._new_order(symbol, p)
        if kind == "MARKET":
            self._fill_market(symbol, order)
        else:
            self._rest_stop(symbol, order)
        self.orders.append(order)
        return FakeResponse(200, _full(order))

    def _new_order(self, symbol: dict[str, Any], p: dict[str, str]) -> dict[str, Any]:
        self._next_id += 1
        now = self._now_ms()
        return {
            "symbol": symbol["symbol"], "orderId": self._next_id, "orderListId": -1,
            "clientOrderId": p["newClientOrderId"], "price": p.get("price", "0.00000000"),
            "origQty": p.get("quantity", "0"), "executedQty": "0", "cummulativeQuoteQty": "0",
            "status": "NEW", "timeInForce": p.get("timeInForce", "GTC"), "type": p["type"],
            "side": p.get("side", ""), "stopPrice": p.get("stopPrice", "0.00000000"),
            "icebergQty": "0.00000000", "time": now, "updateTime": now, "isWorking": True,
            "workingTime": now, "origQuoteOrderQty": p.get("quoteOrderQty", "0"),
            "selfTradePreventionMode": "EXPIRE_MAKER", "fills": [],
        }

    def _fill_market(self, symbol: dict[str, Any], order: dict[str, Any]) -> None:
        price = self.prices[symbol["symbol"]]
        step, min_qty = _lot(symbol)
        if Decimal(order["origQuoteOrderQty"]) > 0:
            qty = (Decimal(order["origQuoteOrderQty"]) / price).quantize(step, ROUND_DOWN)
        else:
            qty = _checked_qty(Decimal(order["origQty"]), step, min_qty)
        cost = qty * price
        if qty < min_qty or cost < _min_notional(symbol):
            raise _Reject(400, -1013, "Filter failure: NOTIONAL" if qty >= min_qty
                          else "Filter failure: LOT_SIZE")
        base, quote = symbol["baseAsset"], symbol["quoteAsset"]
        if order["side"] == "BUY":
            self._spend(quote, cost)
            fee, fee_asset = qty * FEE_RATE, base
            self._credit(base, qty - fee)
        else:
            self._spend(base, qty)
            fee, fee_asset = cost * FEE_RATE, quote
            self._credit(quote, cost - fee)
        self._fill(order, qty, price, fee, fee_asset)

    def _fill(
        self, order: dict[str, Any], qty: Decimal, price: Decimal, fee: Decimal, asset: str
    ) -> None:
        order.update(
            origQty=str(qty), executedQty=str(qty), cummulativeQuoteQty=str(qty * price),
            status="FILLED", updateTime=self._now_ms(),
        )
        order["fills"] = [{"price": str(price), "qty": str(qty), "commission": str(fee),
                           "commissionAsset": asset, "tradeId": order["orderId"]}]

    def _rest_stop(self, symbol: dict[str, Any], order: dict[str, Any]) -> None:
        step, min_qty = _lot(symbol)
        qty = _checked_qty(Decimal(order["origQty"]), step, min_qty)
        stop = Decimal(order["stopPrice"])
        limit = Decimal(order["price"]) if order["type"] == "STOP_LOSS_LIMIT" else stop
        tick = Decimal(symbol["filters"][0]["tickSize"]).normalize()
        if stop <= 0 or stop % tick or limit % tick:
            raise _Reject(400, -1013, "Filter failure: PRICE_FILTER")
        if qty * limit < _min_notional(symbol):
            raise _Reject(400, -1013, "Filter failure: NOTIONAL")
        if order["side"] != "SELL" or stop >= self.prices[symbol["symbol"]]:
            raise _Reject(400, -2010, "Stop price would trigger immediately.")
        self._spend(symbol["baseAsset"], qty)
        self.locked[symbol["baseAsset"]] = self.locked.get(symbol["baseAsset"], Decimal(0)) + qty

    def _maybe_trigger(self, order: dict[str, Any]) -> None:
        price = self.prices[order["symbol"]]
        if order["type"] not in _STOPS or price > Decimal(order["stopPrice"]):
            return
        if order["type"] == "STOP_LOSS_LIMIT" and price < Decimal(order["price"]):
            return  # triggered, but the market is already below the limit: it rests unfilled
        symbol = self.fake.symbols[order["symbol"]]
        base, quote = symbol["baseAsset"], symbol["quoteAsset"]
        qty = Decimal(order["origQty"])
        self.locked[base] -= qty
        cost = qty * price
        self._credit(quote, cost - cost * FEE_RATE)
        self._fill(order, qty, price, cost * FEE_RATE, quote)

    def _spend(self, asset: str, amount: Decimal) -> None:
        if self.free.get(asset, Decimal(0)) < amount:
            raise _Reject(400, -2010, "Account has insufficient balance for requested action.")
        self.free[asset] -= amount

    def _credit(self, asset: str, amount: Decimal) -> None:
        self.free[asset] = self.free.get(asset, Decimal(0)) + amount

    def _find(self, request: FakeRequest) -> dict[str, Any] | None:
        p = request.params
        symbol_id = self._symbol(request)["symbol"]
        for order in reversed(self.orders):  # the newest order with that client id
            if order["symbol"] != symbol_id:
                continue
            if "origClientOrderId" in p and order["clientOrderId"] == p["origClientOrderId"]:
                return order
            if "orderId" in p and str(order["orderId"]) == p["orderId"]:
                return order
        return None

    def _get_order(self, request: FakeRequest) -> FakeResponse:
        order = self._find(request)
        if order is None:
            raise _Reject(400, -2013, "Order does not exist.")
        return FakeResponse(200, _public(order))

    def _cancel(self, request: FakeRequest) -> FakeResponse:
        order = self._find(request)
        if order is None or order["status"] not in _OPEN:
            raise _Reject(400, -2011, "Unknown order sent.")
        self._release(order)
        answer = _public(order)
        answer.update(origClientOrderId=order["clientOrderId"], clientOrderId="cancel" + str(
            order["orderId"]))
        return FakeResponse(200, answer)

    def _release(self, order: dict[str, Any]) -> None:
        base = self.fake.symbols[order["symbol"]]["baseAsset"]
        qty = Decimal(order["origQty"])
        self.locked[base] -= qty
        self._credit(base, qty)
        order.update(status="CANCELED", updateTime=self._now_ms())

    def _cancel_all(self, request: FakeRequest) -> FakeResponse:
        symbol_id = self._symbol(request)["symbol"]
        gone = [o for o in self.orders if o["symbol"] == symbol_id and o["status"] in _OPEN]
        for order in gone:
            self._release(order)
        return FakeResponse(200, [_public(o) for o in gone])

    def _open_orders(self, request: FakeRequest) -> FakeResponse:
        wanted = request.params.get("symbol")
        return FakeResponse(200, [_public(o) for o in self.orders if o["status"] in _OPEN
                                  and wanted in (None, o["symbol"])])

    def _my_trades(self, request: FakeRequest) -> FakeResponse:
        """The account's trades of one order (``orderId``), with their commissions."""
        symbol_id = self._symbol(request)["symbol"]
        wanted = request.params.get("orderId")
        trades = []
        for o in self.orders:
            if o["symbol"] != symbol_id or (wanted and str(o["orderId"]) != wanted):
                continue
            for f in o["fills"]:
                trades.append({
                    "symbol": symbol_id, "id": f["tradeId"], "orderId": o["orderId"],
                    "orderListId": -1, "price": f["price"], "qty": f["qty"],
                    "quoteQty": str(Decimal(f["qty"]) * Decimal(f["price"])),
                    "commission": f["commission"], "commissionAsset": f["commissionAsset"],
                    "time": o["updateTime"], "isBuyer": o["side"] == "BUY", "isMaker": False,
                    "isBestMatch": True})
        return FakeResponse(200, trades)

    def _all_orders(self, request: FakeRequest) -> FakeResponse:
        symbol_id = self._symbol(request)["symbol"]
        return FakeResponse(200, [_public(o) for o in self.orders if o["symbol"] == symbol_id])

    def _account(self, request: FakeRequest) -> FakeResponse:
        assets = sorted(set(self.free) | set(self.locked))
        balances = [{"asset": a, "free": str(self.free.get(a, Decimal(0))),
                     "locked": str(self.locked.get(a, Decimal(0)))} for a in assets]
        return FakeResponse(200, {
            "makerCommission": 10, "takerCommission": 10, "canTrade": True,
            "canWithdraw": True, "canDeposit": True, "updateTime": self._now_ms(),
            "accountType": "SPOT", "balances": balances, "permissions": ["SPOT"],
        })

    def _ticker_price(self, request: FakeRequest) -> FakeResponse:
        symbol_id = self._symbol(request)["symbol"]
        return FakeResponse(200, {"symbol": symbol_id, "price": str(self.prices[symbol_id])})

    def _ticker_24h(self, request: FakeRequest) -> FakeResponse:
        symbol_id = self._symbol(request)["symbol"]
        price, now = str(self.prices[symbol_id]), self._now_ms()
        return FakeResponse(200, {
            "symbol": symbol_id, "lastPrice": price, "bidPrice": price, "askPrice": price,
            "openPrice": price, "highPrice": price, "lowPrice": price, "volume": "1",
            "quoteVolume": price, "openTime": now - 86_400_000, "closeTime": now,
        })

    def _time(self, request: FakeRequest) -> FakeResponse:
        return FakeResponse(200, {"serverTime": self._now_ms()})


def _fault_response(fault: TradeFault) -> FakeResponse | None:
    if fault.kind == "timeout":
        time.sleep(fault.delay_s)
        return None  # the client gave up long ago; close the connection
    headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
    if fault.kind == "error":
        answer = binance_error(fault.status, fault.code, fault.msg)
        return FakeResponse(answer.status, answer.body, headers)
    return FakeResponse(fault.status, f"<html><body>{fault.status} scripted</body></html>",
                        headers)


def _check_signed(request: FakeRequest) -> None:
    headers = {k.lower(): v for k, v in request.headers.items()}
    if not headers.get("x-mbx-apikey"):
        raise _Reject(401, -2014, "API-key format invalid.")
    if not request.params.get("signature") or not request.params.get("timestamp"):
        raise _Reject(400, -1102, "Mandatory parameter 'signature' was not sent.")


def _lot(symbol: dict[str, Any]) -> tuple[Decimal, Decimal]:
    lot = next(f for f in symbol["filters"] if f["filterType"] == "LOT_SIZE")
    return Decimal(lot["stepSize"]).normalize(), Decimal(lot["minQty"])


def _checked_qty(qty: Decimal, step: Decimal, min_qty: Decimal) -> Decimal:
    if qty < min_qty or qty % step:
        raise _Reject(400, -1013, "Filter failure: LOT_SIZE")
    return qty


def _min_notional(symbol: dict[str, Any]) -> Decimal:
    kinds = ("NOTIONAL", "MIN_NOTIONAL")
    found = next(f for f in symbol["filters"] if f["filterType"] in kinds)
    return Decimal(found["minNotional"])


def _public(order: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in order.items() if k != "fills"}


def _full(order: dict[str, Any]) -> dict[str, Any]:
    answer = _public(order)
    answer["transactTime"] = order["updateTime"]
    answer["fills"] = list(order["fills"])
    return answer
