"""A small fake of the Binance spot REST API, for driving the real ccxt client in tests.

It runs a stdlib HTTP server on 127.0.0.1 (port 0) in a thread. Routes live in a dict keyed by
(method, path); a handler takes a FakeRequest and returns a FakeResponse, so later issues add
endpoints (orders, account, ticker) with ``add_route`` without touching the server. Every
request is logged (``requests`` / ``calls``), and faults can be scripted for the next matching
requests (``fail_next`` for an HTTP error, ``drop_next`` for a connection closed mid-request).

Time comes from the Clock it is given: klines are served up to the clock's now, including the
still-forming candle, exactly as the real endpoint does.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import numpy as np
import pandas as pd

from core.clock import Clock
from data.timeframe import index_ms, timeframe_ms

KLINES = "/api/v3/klines"
EXCHANGE_INFO = "/api/v3/exchangeInfo"
_MAX_KLINES = 1000  # Binance spot's per-request cap
_DEFAULT_KLINES = 500


@dataclass(frozen=True, slots=True)
class FakeRequest:
    """One request as the server saw it: query and form body merged into ``params``."""

    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    # time.perf_counter() when its request line and headers had arrived: the latency bench
    # times "bar close to order sent" up to here (same process, same clock as the loop's).
    received_s: float = 0.0


@dataclass(frozen=True, slots=True)
class FakeResponse:
    """What a route returns: an HTTP status and a body (JSON-serialisable, or str for HTML)."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Fault:
    """A scripted failure for the next request to ``path`` (any path when None)."""

    path: str | None
    status: int | None = None  # answer with this HTTP status...
    drop: bool = False  # ...or close the connection without any answer


Route = Callable[[FakeRequest], FakeResponse]


def binance_error(status: int, code: int, msg: str) -> FakeResponse:
    """An error in Binance's shape, which ccxt maps to its exception classes."""
    return FakeResponse(status, {"code": code, "msg": msg})


class FakeBinance:
    """The fake server; use as a context manager, or ``start()`` / ``stop()``."""

    def __init__(self, *, clock: Clock, symbols: list[dict[str, Any]] | None = None) -> None:
        self.clock = clock
        self.symbols = {s["symbol"]: s for s in (symbols or default_spot_symbols())}
        self.routes: dict[tuple[str, str], Route] = {
            ("GET", EXCHANGE_INFO): self._exchange_info,
            ("GET", KLINES): self._klines,
        }
        self._series: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
        self._log: list[FakeRequest] = []
        self._faults: list[Fault] = []
        self._outage: tuple[int, frozenset[str] | None] | None = None
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- set-up ------------------------------------------------------------------------------
    def add_route(self, method: str, path: str, route: Route) -> None:
        """Serve ``route`` for ``method path`` (replacing any route already there)."""
        self.routes[(method.upper(), path)] = route

    def set_klines(self, symbol_id: str, interval: str, frame: pd.DataFrame) -> None:
        """Serve ``frame`` (house convention) as the full kline history of symbol/interval."""
        timeframe_ms(interval)
        values = frame[["open", "high", "low", "close", "volume"]].to_numpy(dtype=np.float64)
        with self._lock:
            self._series[(symbol_id, interval)] = (index_ms(pd.DatetimeIndex(frame.index)), values)

    def fail_next(self, status: int = 502, *, path: str | None = KLINES, times: int = 1) -> None:
        """Answer the next ``times`` requests to ``path`` with HTTP ``status``."""
        with self._lock:
            self._faults.extend([Fault(path, status=status)] * times)

    def drop_next(self, *, path: str | None = KLINES, times: int = 1) -> None:
        """Close the connection without answering the next ``times`` requests to ``path``."""
        with self._lock:
            self._faults.extend([Fault(path, drop=True)] * times)

    def start_outage(self, status: int = 503, *, paths: Iterable[str] | None = None) -> None:
        """Answer every request to ``paths`` (every path when None) with HTTP ``status``, until
        ``end_outage``."""
        with self._lock:
            self._outage = (status, None if paths is None else frozenset(paths))

    def end_outage(self) -> None:
        """Serve normally again."""
        with self._lock:
            self._outage = None

    # -- inspection --------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:54321 (API paths such as /api/v3 go after it)."""
        if self._server is None:
            raise RuntimeError("the fake server is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def requests(self) -> list[FakeRequest]:
        """Every request received so far, oldest first."""
        with self._lock:
            return list(self._log)

    def calls(self, path: str) -> list[FakeRequest]:
        """The requests received for ``path``."""
        return [r for r in self.requests if r.path == path]

    def clear_log(self) -> None:
        """Forget the requests received so far."""
        with self._lock:
            self._log.clear()

    # -- life cycle --------------------------------------------------------------------------
    def start(self) -> FakeBinance:
        """Start serving in a daemon thread."""
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        server.fake = self  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and wait (bounded) for the thread to end."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> FakeBinance:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- dispatch ----------------------------------------------------------------------------
    def dispatch(self, request: FakeRequest) -> FakeResponse | None:
        """Log the request and answer it; None means: drop the connection."""
        with self._lock:
            self._log.append(request)
            fault = next((f for f in self._faults if f.path in (None, request.path)), None)
            if fault is not None:
                self._faults.remove(fault)
            elif self._outage is not None:
                status, paths = self._outage
                if paths is None or request.path in paths:
                    fault = Fault(request.path, status=status)
        if fault is not None:
            if fault.drop:
                return None
            # Real 5xx answers come from the CDN in front of the API, as HTML, not JSON.
            status = fault.status or 500
            return FakeResponse(
                status, f"<html><body><h1>{status} scripted fault</h1></body></html>"
            )
        route = self.routes.get((request.method, request.path))
        if route is None:
            return binance_error(404, -1000, f"no route {request.method} {request.path}")
        return route(request)

    def _now_ms(self) -> int:
        return int(pd.Timestamp(self.clock.now()).as_unit("ms").value // 1_000_000)

    # -- routes ------------------------------------------------------------------------------
    def _exchange_info(self, request: FakeRequest) -> FakeResponse:
        return FakeResponse(
            200,
            {
                "timezone": "UTC",
                "serverTime": self._now_ms(),
                "rateLimits": [
                    {
                        "rateLimitType": "REQUEST_WEIGHT",
                        "interval": "MINUTE",
                        "intervalNum": 1,
                        "limit": 6000,
                    },
                    {
                        "rateLimitType": "ORDERS",
                        "interval": "SECOND",
                        "intervalNum": 10,
                        "limit": 100,
                    },
                ],
                "exchangeFilters": [],
                "symbols": list(self.symbols.values()),
            },
        )

    def _klines(self, request: FakeRequest) -> FakeResponse:
        p = request.params
        symbol, interval = p.get("symbol", ""), p.get("interval", "")
        if symbol not in self.symbols:
            return binance_error(400, -1121, "Invalid symbol.")
        try:
            step = timeframe_ms(interval)
            limit = min(int(p.get("limit", _DEFAULT_KLINES)), _MAX_KLINES)
        except Exception:
            return binance_error(400, -1120, "Invalid interval.")
        with self._lock:
            ts, values = self._series.get(
                (symbol, interval), (np.empty(0, np.int64), np.empty((0, 5)))
            )
        # Only bars that have opened by now exist, the last one still forming.
        visible = ts <= self._now_ms()
        if "startTime" in p:
            visible &= ts >= int(p["startTime"])
        if "endTime" in p:
            visible &= ts <= int(p["endTime"])
        picked = np.flatnonzero(visible)
        # With a startTime Binance answers from the start, otherwise the newest bars.
        picked = picked[:limit] if "startTime" in p else picked[-limit:]
        return FakeResponse(200, [_kline(int(ts[i]), values[i], step) for i in picked])


def _kline(open_ms: int, row: np.ndarray, step: int) -> list[Any]:
    o, h, low, c, v = (f"{x:.8f}" for x in row)
    quote = f"{row[3] * row[4]:.8f}"
    return [open_ms, o, h, low, c, v, open_ms + step - 1, quote, 100, "0.0", "0.0", "0"]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as ccxt's requests session expects
    # Headers and body go out in two writes; with Nagle on, delayed ACKs add ~40 ms to every
    # keep-alive request on loopback (measured: 42 ms -> 0.8 ms per request).
    disable_nagle_algorithm = True
    timeout = 5  # a stuck client cannot hold a server thread for ever

    def _serve(self) -> None:
        received = time.perf_counter()
        fake: FakeBinance = self.server.fake  # type: ignore[attr-defined]
        parts = urlsplit(self.path)
        params = dict(parse_qsl(parts.query))
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            params.update(parse_qsl(self.rfile.read(length).decode()))
        request = FakeRequest(self.command, parts.path, params, dict(self.headers.items()),
                              received)
        try:
            response = fake.dispatch(request)
        except Exception as e:  # a broken route must show up in the test, not hang it
            response = binance_error(500, -1000, f"fake route failed: {e!r}")
        if response is None:
            self.close_connection = True
            return
        if isinstance(response.body, str):
            body, kind = response.body.encode(), "text/html"
        else:
            body, kind = json.dumps(response.body).encode(), "application/json;charset=UTF-8"
        self.send_response(response.status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request stderr line; the request log is the record."""


def spot_symbol(
    base: str,
    quote: str,
    *,
    tick: str,
    step: str,
    min_qty: str,
    notional: dict[str, Any],
) -> dict[str, Any]:
    """A spot market entry shaped like Binance's exchangeInfo (2025), with its filters."""
    return {
        "symbol": base + quote,
        "status": "TRADING",
        "baseAsset": base,
        "baseAssetPrecision": 8,
        "quoteAsset": quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": [
            "LIMIT",
            "LIMIT_MAKER",
            "MARKET",
            "STOP_LOSS",
            "STOP_LOSS_LIMIT",
            "TAKE_PROFIT",
            "TAKE_PROFIT_LIMIT",
        ],
        "icebergAllowed": True,
        "ocoAllowed": True,
        "otoAllowed": True,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": True,
        "cancelReplaceAllowed": True,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": True,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": tick,
                "maxPrice": "1000000.00000000",
                "tickSize": tick,
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": min_qty,
                "maxQty": "9000.00000000",
                "stepSize": step,
            },
            {"filterType": "ICEBERG_PARTS", "limit": 10},
            {
                "filterType": "MARKET_LOT_SIZE",
                "minQty": "0.00000000",
                "maxQty": "100.00000000",
                "stepSize": "0.00000000",
            },
            notional,
            {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": 5},
        ],
        "permissions": [],
        "permissionSets": [["SPOT", "MARGIN"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }


def default_spot_symbols() -> list[dict[str, Any]]:
    """BTCUSDT (with the newer NOTIONAL filter) and ETHUSDT (with the older MIN_NOTIONAL)."""
    return [
        spot_symbol(
            "BTC",
            "USDT",
            tick="0.01000000",
            step="0.00001000",
            min_qty="0.00001000",
            notional={
                "filterType": "NOTIONAL",
                "minNotional": "5.00000000",
                "applyMinToMarket": True,
                "maxNotional": "9000000.00000000",
                "applyMaxToMarket": False,
                "avgPriceMins": 5,
            },
        ),
        spot_symbol(
            "ETH",
            "USDT",
            tick="0.01000000",
            step="0.00010000",
            min_qty="0.00010000",
            notional={
                "filterType": "MIN_NOTIONAL",
                "minNotional": "5.00000000",
                "applyToMarket": True,
                "avgPriceMins": 5,
            },
        ),
    ]
