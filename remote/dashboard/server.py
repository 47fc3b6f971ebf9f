"""uvicorn in its own thread: the dashboard serves while a block runs, beside the bot's loop.

The socket is bound here, in the caller's thread, before the server starts: a busy port or a
wrong address is a one-line ConfigError at once, and port 0 gets a free port whose number is
known. The server is started and answering before ``dashboard_server`` returns, and is stopped
on exit within seconds; its thread never touches the loop's objects, and every request runs
in uvicorn's worker threads, so a slow client can never stall the trading loop.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from core.clock import Clock, SystemClock
from core.errors import ConfigError
from remote.dashboard.auth import TOKENS_ENV, check_bind, is_loopback, parse_tokens

if TYPE_CHECKING:
    import uvicorn

log = logging.getLogger(__name__)

START_TIMEOUT_S: Final = 10.0
STOP_TIMEOUT_S: Final = 3.0


@dataclass(frozen=True, slots=True)
class Served:
    """Where the dashboard answers, and who may use it."""

    url: str
    host: str
    port: int
    access: str  # one sentence: open reads, or which tokens


@contextmanager
def dashboard_server(
    env: Mapping[str, str], *, mode: str, journal_path: Path, host: str, port: int,
    clock: Clock | None = None,
) -> Iterator[Served]:
    """Serve the ``mode`` journal's dashboard on ``host``:``port`` for the block's lifetime.

    ConfigError (one line) for a public address without a token, a malformed token, or an
    address that cannot be bound."""
    import uvicorn

    from remote.dashboard.app import create_app

    tokens = parse_tokens(env)
    check_bind(host, tokens)
    app = create_app(mode=mode, journal_path=journal_path, tokens=tokens, bind_host=host,
                     clock=clock or SystemClock())
    sock = _bind(host, port)
    # log_config=None: main.py owns logging. No access log: a poll every few seconds would
    # flood journald (and tokens never appear in a URL anyway). proxy_headers off: the
    # failure limit counts the real peer, never an X-Forwarded-For a client made up.
    config = uvicorn.Config(app, log_config=None, access_log=False, proxy_headers=False,
                            server_header=False, lifespan="off", http="h11", ws="none",
                            loop="asyncio", timeout_graceful_shutdown=1, log_level="warning")
    server = uvicorn.Server(config)
    failed: list[BaseException] = []
    thread = threading.Thread(target=_serve, args=(server, sock, failed),
                              name="dashboard", daemon=True)
    thread.start()
    try:
        _wait_started(server, thread, failed)
        served = _served(sock, tokens_named=[f"{t.name} ({t.role})" for t in tokens])
        log.info("dashboard of the %s journal on %s; %s", mode, served.url, served.access)
        yield served
    finally:
        _stop(server, thread)
        sock.close()


def _bind(host: str, port: int) -> socket.socket:
    if not 0 <= port <= 65535:
        raise ConfigError(f"dashboard port {port} is not a port (0-65535)")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
        sock = socket.socket(family, kind, proto)
    except OSError as e:
        raise ConfigError(f"dashboard: cannot listen on {host}:{port}: {e}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # restart after a crash
        sock.bind(address)
        sock.listen(64)
    except OSError as e:
        sock.close()
        raise ConfigError(f"dashboard: cannot listen on {host}:{port}: {e.strerror or e} "
                          "(another dashboard or bot on that port? choose one with --port)"
                          ) from None
    return sock


def _serve(server: uvicorn.Server, sock: socket.socket, failed: list[BaseException]) -> None:
    try:
        server.run(sockets=[sock])
    except BaseException as e:  # reported by the starting thread, not lost
        failed.append(e)


def _wait_started(server: uvicorn.Server, thread: threading.Thread,
                  failed: list[BaseException]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:
        if failed or not thread.is_alive() or time.monotonic() > deadline:
            why = f": {failed[0]}" if failed else ""
            raise ConfigError(f"the dashboard did not start{why}")
        time.sleep(0.01)


def _stop(server: uvicorn.Server, thread: threading.Thread) -> None:
    server.should_exit = True
    thread.join(STOP_TIMEOUT_S)
    if thread.is_alive():  # a client holding a connection open: cut it
        server.force_exit = True
        thread.join(STOP_TIMEOUT_S)
    if thread.is_alive():
        log.warning("the dashboard's thread did not stop in %.0f s; it ends with the process",
                    2 * STOP_TIMEOUT_S)


def _served(sock: socket.socket, *, tokens_named: list[str]) -> Served:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    if tokens_named:
        access = "tokens: " + ", ".join(tokens_named)
    elif is_loopback(host):
        access = (f"reads open on this machine, commands refused (no {TOKENS_ENV}; "
                  "reach it through an SSH tunnel)")
    else:  # check_bind refused this before
        access = "no tokens"
    return Served(f"http://{shown}:{port}/", host, port, access)
