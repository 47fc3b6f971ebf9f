"""The dashboard's FastAPI app: one page and a small JSON API over one mode's journal.

Every read opens its own ``JournalReader`` (SQLite ``mode=ro``) in the worker thread that
serves it, so a watcher can never take the write lock, migrate the file or block the bot.
Every command goes through ``trading.control.post``, as the CLI's and Telegram's do, recorded
as ``web:<token name>`` with its reason. Amounts are exact: a Decimal is sent as its own
digits in a JSON string, never through a float (``control.json_value``, as ``status --json``).
"""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations at run time,
# and the dependencies are closures over this app's guard, defined inside the functions.
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Final

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.clock import Clock
from core.errors import ConfigError
from journal import TOTAL, CommandKind, RunMode
from journal.reader import JournalReader
from remote.dashboard.auth import FailureLimiter, Role, Token, find_token, is_loopback
from trading import control

log = logging.getLogger(__name__)

MAX_POINTS: Final = 2000  # an SVG polyline a phone still draws at once
SNAPSHOT_S: Final = 1.0  # an answer is served again for this long (the page polls every 3 s)
MAX_KEPT: Final = 64
_ASSETS: Final = {"/": ("index.html", "text/html; charset=utf-8"),
                  "/static/dashboard.js": ("dashboard.js", "text/javascript; charset=utf-8"),
                  "/static/dashboard.css": ("dashboard.css", "text/css; charset=utf-8"),
                  "/docs": ("docs.html", "text/html; charset=utf-8"),
                  "/static/docs.js": ("docs.js", "text/javascript; charset=utf-8")}
# Swagger UI's own files for /docs, from the fastapi-offline package (FastAPI's default /docs
# would load them from a CDN).
_SWAGGER: Final = {"/docs/swagger-ui-bundle.js": ("swagger-ui-bundle.js",
                                                  "text/javascript; charset=utf-8"),
                   "/docs/swagger-ui.css": ("swagger-ui.css", "text/css; charset=utf-8"),
                   "/docs/favicon.png": ("favicon.png", "image/png")}
# Everything the page needs is served here: no CDN, no inline script, no other origin.
_HEADERS: Final = (
    (b"content-security-policy", b"default-src 'self'; script-src 'self'; style-src 'self'; "
     b"img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
     b"form-action 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
)
_LOOPBACK_NAMES: Final = frozenset({"localhost", "127.0.0.1", "::1"})


class CommandRequest(BaseModel):
    """A command for the running bot (the operator token's role is required)."""

    kind: CommandKind = Field(description="pause, halt, resume or flatten")
    reason: str = Field(description="why; recorded in the journal and shown in alerts")
    symbol: str | None = Field(default=None, description="flatten only: one market, e.g. "
                               "BTC/USDT (default: every open position)")


class CommandPosted(BaseModel):
    """A command queued in the journal, and what the running bot will do with it."""

    command_id: int
    kind: CommandKind
    symbol: str | None
    reason: str
    actor: str
    ahead: int
    effect: str
    journal: str


def create_app(*, mode: str, journal_path: Path, tokens: tuple[Token, ...], bind_host: str,
               clock: Clock, limiter: FailureLimiter | None = None) -> FastAPI:
    """The app over the ``mode`` journal at ``journal_path``; ``bind_host`` is the address it
    listens on (a loopback one answers only to a loopback Host name: no DNS rebinding)."""
    # FastAPI's /docs and /redoc load their scripts from a CDN: off; /docs is served here
    # instead, with Swagger UI's files from this app (_add_pages).
    app = FastAPI(title="tradingbot dashboard", version="1", docs_url=None, redoc_url=None,
                  description="The bot's journal, read-only, and the operator's commands. "
                  "Send a token as `Authorization: Bearer <secret>` "
                  "(TRADINGBOT_DASHBOARD_TOKENS). Amounts are exact decimal strings.")
    guard = _Guard(tokens, limiter or FailureLimiter())
    reads = _Reads(mode=mode, journal_path=journal_path, clock=clock)
    _add_pages(app)
    _add_reads(app, reads, guard)
    _add_commands(app, guard, reads, mode=mode, journal_path=journal_path)
    app.add_middleware(_Headers, loopback_only=is_loopback(bind_host))
    return app


class _Guard:
    """Who is asking: the token presented, checked against the failure limit first."""

    bearer = HTTPBearer(auto_error=False, description="a dashboard token's secret")

    def __init__(self, tokens: tuple[Token, ...], limiter: FailureLimiter) -> None:
        self._tokens, self._limiter = tokens, limiter

    def reader(self, request: Request,
               credentials: HTTPAuthorizationCredentials | None) -> Token | None:
        """The token (None: no tokens are configured, reads are open); 401 or 429."""
        address = request.client.host if request.client else "unknown"
        wait = self._limiter.retry_after(address)
        if wait:
            raise HTTPException(429, "too many failed attempts from this address; wait",
                                headers={"Retry-After": str(wait)})
        if credentials is None:
            if self._tokens:
                raise HTTPException(401, "a token is needed: Authorization: Bearer <secret>",
                                    headers={"WWW-Authenticate": "Bearer"})
            return None
        token = find_token(self._tokens, credentials.credentials)
        if token is None:
            self._limiter.fail(address)
            log.warning("dashboard: a wrong token from %s was refused", address)
            raise HTTPException(401, "this token is not accepted",
                                headers={"WWW-Authenticate": "Bearer"})
        return token

    def operator(self, request: Request,
                 credentials: HTTPAuthorizationCredentials | None) -> Token:
        """The operator's token; 401, 403 or 429 for anyone else."""
        token = self.reader(request, credentials)
        if token is None:
            raise HTTPException(403, "commands need an operator token; none is configured "
                                "(set TRADINGBOT_DASHBOARD_TOKENS=name:operator:<secret>)")
        if token.role is not Role.OPERATOR:
            log.warning("dashboard: the viewer token %r may not send commands", token.name)
            raise HTTPException(403, f"token {token.name!r} is a viewer; commands need an "
                                "operator token")
        return token


class _Reads:
    """The read side: one JournalReader per request, in the thread serving it, and each answer
    kept for SNAPSHOT_S. However many clients poll however often, the journal is read at most
    once a second per question: the bot's process is never the dashboard's to slow down."""

    def __init__(self, *, mode: str, journal_path: Path, clock: Clock,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.mode, self.path, self.clock = mode, journal_path, clock
        self._monotonic = monotonic
        self._kept: dict[str, tuple[float, bytes]] = {}
        self._lock = threading.Lock()

    def answer(self, request: Request, read: Callable[[JournalReader], object]) -> Response:
        """``read`` over a fresh reader, as JSON; the same bytes again within SNAPSHOT_S."""
        key = f"{request.url.path}?{request.url.query}"
        now = self._monotonic()
        with self._lock:
            kept = self._kept.get(key)
        if kept is None or now - kept[0] >= SNAPSHOT_S:
            with self.reader() as r:
                body = _dumps(read(r))
            kept = (now, body)
            with self._lock:
                if len(self._kept) >= MAX_KEPT:  # many distinct queries: start again
                    self._kept.clear()
                self._kept[key] = kept
        return Response(kept[1], media_type="application/json")

    def forget(self) -> None:
        """Drop every kept answer (a command was just queued: show it at once)."""
        with self._lock:
            self._kept.clear()

    @contextmanager
    def reader(self) -> Iterator[JournalReader]:
        """A read-only connection for one request; 503 while there is no readable journal."""
        try:
            reader = JournalReader(self.path)
        except ConfigError as e:
            raise HTTPException(503, str(e)) from None
        with reader:
            yield reader


def _dumps(value: object) -> bytes:
    return json.dumps(value, default=control.json_value, separators=(",", ":")).encode()


def _json(value: object, status: int = 200) -> Response:
    return Response(_dumps(value), status_code=status, media_type="application/json")


def _rows(items: list[Any]) -> list[dict[str, Any]]:
    return [asdict(item) for item in items]


def _add_pages(app: FastAPI) -> None:
    assets = {route: (resources.files(__package__).joinpath("static", name).read_bytes(), kind)
              for route, (name, kind) in _ASSETS.items()}
    assets |= {route: (resources.files("fastapi_offline").joinpath("static", name).read_bytes(),
                       kind) for route, (name, kind) in _SWAGGER.items()}

    def page(request: Request) -> Response:
        body, kind = assets[request.url.path]
        return Response(body, media_type=kind)

    for route in assets:
        app.add_api_route(route, page, methods=["GET"], include_in_schema=False)


def _add_reads(app: FastAPI, reads: _Reads, guard: _Guard) -> None:
    Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(_Guard.bearer)]

    def may_read(request: Request, credentials: Bearer) -> Token | None:
        return guard.reader(request, credentials)

    Reader = Annotated[Token | None, Depends(may_read)]

    @app.get("/api/status", tags=["read"])
    def status(request: Request, _: Reader,
               last: Annotated[int, Query(ge=1, le=200)] = 10) -> Response:
        """Exactly `python main.py status --json`'s document."""
        return reads.answer(request, lambda r: control.status_json(control.read_status(
            r, mode=reads.mode, now=reads.clock.now(), last=last)))

    @app.get("/api/positions", tags=["read"])
    def positions(request: Request, _: Reader) -> Response:
        """Open positions from the fills, with the stop resting for each."""
        return reads.answer(request, lambda r: {"positions": _rows(control.positions(r))})

    @app.get("/api/daily", tags=["read"])
    def daily(request: Request, _: Reader,
              days: Annotated[int, Query(ge=1, le=366)] = 14) -> Response:
        """P&L per UTC day (by bar time), newest first."""
        return reads.answer(request, lambda r: {"days": _rows(control.daily(r, days=days))})

    @app.get("/api/equity", tags=["read"])
    def equity(request: Request, _: Reader,
               points: Annotated[int, Query(ge=2, le=MAX_POINTS)] = MAX_POINTS) -> Response:
        """The account's equity and drawdown, at most `points` buckets (columns: t, equity
        of the bucket's last mark, low, high, worst drawdown as a fraction)."""
        return reads.answer(request, lambda r: _equity(r, points))

    @app.get("/api/decisions", tags=["read"])
    def decisions(request: Request, _: Reader, limit: Annotated[int, Query(ge=1, le=500)] = 20,
                  symbol: str | None = None) -> Response:
        """The latest decisions with their reasons, newest first."""
        return reads.answer(request, lambda r: {
            "decisions": _rows(r.recent_decisions(limit, symbol))})

    @app.get("/api/halts", tags=["read"])
    def halts(request: Request, _: Reader,
              limit: Annotated[int, Query(ge=1, le=500)] = 20) -> Response:
        """Kill switches in force now, and the latest halts, resumes and overrides."""
        return reads.answer(request, lambda r: {
            "in_force": _rows(r.halts_in_force(_as_of(r, reads))),
            "halts": _rows(r.recent_halts(limit))})

    @app.get("/api/commands", tags=["read"])
    def commands(request: Request, _: Reader,
                 limit: Annotated[int, Query(ge=1, le=500)] = 20) -> Response:
        """The latest operator commands: who sent them, why, and the bot's ack."""
        return reads.answer(request, lambda r: {
            "commands": _rows(r.recent_commands(limit)), "pending": len(r.pending_commands())})

    @app.get("/api/llm", tags=["read"])
    def llm(request: Request, _: Reader, limit: Annotated[int, Query(ge=1, le=500)] = 50,
            days: Annotated[int, Query(ge=1, le=366)] = 14) -> Response:
        """The latest LLM scorer calls with their cost, and the cost per UTC day."""
        return reads.answer(request, lambda r: {
            "calls": [dict(zip(_LLM_CALL, c, strict=True)) for c in r.recent_llm_calls(limit)],
            "days": [dict(zip(_LLM_DAY, d, strict=True)) for d in r.llm_cost_by_day(days)]})


def _equity(r: JournalReader, points: int) -> dict[str, object]:
    marks, rows = r.equity_sampled(points)
    columns = list(zip(*rows, strict=True)) if rows else [(), (), (), (), ()]
    return {"marks": marks, **dict(zip(("t", "equity", "low", "high", "drawdown"),
                                       map(list, columns), strict=True))}


_LLM_DAY: Final = ("day", "calls", "tokens_in", "tokens_out", "cost_usd")
_LLM_CALL: Final = ("id", "at", "symbol", "bar_time", "provider", "model", "source",
                    "latency_s", "tokens_in", "tokens_out", "cost_usd", "fallback_reason")


def _as_of(r: JournalReader, reads: _Reads) -> datetime:
    # As status judges it (control.read_status): a replay runs on a simulated clock, so its
    # cooldown is judged by its last mark, not by today.
    account = r.latest_equity().get(TOTAL)
    replay = reads.mode == RunMode.REPLAY.value
    return account.at if replay and account is not None else reads.clock.now()


def _add_commands(app: FastAPI, guard: _Guard, reads: _Reads, *, mode: str,
                  journal_path: Path) -> None:
    Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(_Guard.bearer)]

    def may_command(request: Request, credentials: Bearer) -> Token:
        return guard.operator(request, credentials)

    @app.post("/api/commands", tags=["command"], status_code=201,
              response_model=CommandPosted,
              responses={401: {"description": "no token, or a wrong one"},
                         403: {"description": "not an operator token"},
                         422: {"description": "a blank reason, an unknown market, ..."},
                         429: {"description": "too many failed attempts (Retry-After)"}})
    def post_command(body: CommandRequest,
                     token: Annotated[Token, Depends(may_command)]) -> Response:
        """Queue pause, halt, resume or flatten [symbol] for the running bot (operator)."""
        try:
            posted = control.post(journal_path, body.kind, body.reason,
                                  actor=control.web_actor(token.name), mode=mode,
                                  symbol=body.symbol or None)
        except ConfigError as e:
            raise HTTPException(422, str(e)) from None
        reads.forget()
        log.warning("dashboard: %s queued %s #%d: %s", posted.actor, posted.kind,
                    posted.command_id, posted.reason)
        return _json({k: v for k, v in asdict(posted).items() if k != "in_force"}, 201)


class _Headers:
    """Security headers on every answer; behind a loopback bind, only loopback Host names
    (a web page that rebinds its own name to 127.0.0.1 must not read the open dashboard)."""

    def __init__(self, app: ASGIApp, *, loopback_only: bool) -> None:
        self._app, self._loopback_only = app, loopback_only

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        if self._loopback_only and not _loopback_host(scope):
            await Response("this dashboard answers only to localhost / 127.0.0.1",
                           status_code=421, media_type="text/plain")(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *_HEADERS]
            await send(message)

        await self._app(scope, receive, send_with_headers)


def _loopback_host(scope: Scope) -> bool:
    host = next((v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"host"), "")
    name = host[1:host.find("]")] if host.startswith("[") else host.rpartition(":")[0] or host
    return name.lower() in _LOOPBACK_NAMES or (name.startswith("127.") and is_loopback(name))
