"""A fake Telegram Bot API on 127.0.0.1 for the real python-telegram-bot client.

It answers getMe, deleteWebhook, getUpdates (offsets, a long poll cut short when an update is
injected), sendMessage, editMessageText and answerCallbackQuery; it records every call the bot
makes and lets a test inject messages and button taps. ``fail_next`` makes the next call of a
method answer 400, as Telegram does for a bad request.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOKEN = "123456:FAKE-token-never-logged"  # noqa: S105 - a fake server's token
BOT_USER = {"id": 123456, "is_bot": True, "first_name": "tradingbot", "username": "fake_bot"}


@dataclass(frozen=True, slots=True)
class Call:
    """One request the bot made: the method and its decoded parameters."""

    method: str
    params: dict[str, Any]


class FakeTelegram:
    """The server's state; ``url`` is what TELEGRAM_API_URL is set to."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._updates: list[dict[str, Any]] = []
        self._next_update = 1
        self._next_message = 100
        self.calls: list[Call] = []
        self.failures: dict[str, int] = {}
        self.url = ""

    # --- what a test does -------------------------------------------------------------------

    def say(self, text: str, *, chat: int, user: int | None = None) -> None:
        """A message ``text`` from ``user`` (default: the chat) in ``chat``."""
        sender = chat if user is None else user
        message: dict[str, Any] = {
            "message_id": self._message_id(), "date": int(time.time()), "text": text,
            "chat": {"id": chat, "type": "private" if chat == sender else "group"},
            "from": {"id": sender, "is_bot": False, "first_name": f"user{sender}"},
        }
        if text.startswith("/"):
            length = len(text.split()[0])
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        self._inject({"message": message})

    def tap(self, sent: Call, button: str, *, user: int) -> None:
        """``user`` taps the button labelled ``button`` under the message ``sent``."""
        rows = sent.params["reply_markup"]["inline_keyboard"]
        data = next(b["callback_data"] for row in rows for b in row if b["text"] == button)
        message = {"message_id": sent.params["message_id"], "date": int(time.time()),
                   "chat": {"id": int(sent.params["chat_id"]), "type": "private"},
                   "from": BOT_USER, "text": sent.params["text"]}
        self._inject({"callback_query": {
            "id": str(self._message_id()), "chat_instance": "1", "data": data,
            "from": {"id": user, "is_bot": False, "first_name": f"user{user}"},
            "message": message}})

    def fail_next(self, method: str) -> None:
        """The next call of ``method`` is answered 400."""
        with self._lock:
            self.failures[method] = self.failures.get(method, 0) + 1

    def sent(self, method: str = "sendMessage", *, chat: int | None = None) -> list[Call]:
        """The calls of ``method`` so far (to ``chat`` if given)."""
        with self._lock:
            return [c for c in self.calls if c.method == method and (
                chat is None or int(c.params.get("chat_id", 0)) == chat)]

    def wait_sent(self, count: int, method: str = "sendMessage", *, chat: int | None = None,
                  timeout_s: float = 15.0) -> list[Call]:
        """Wait until ``count`` calls of ``method`` were made; all of them."""
        def enough() -> bool:
            return len(self.sent(method, chat=chat)) >= count

        wait_until(enough, f"{count} {method}", timeout_s=timeout_s)
        return self.sent(method, chat=chat)

    # --- the API ----------------------------------------------------------------------------

    def answer(self, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """The HTTP status and body for one call."""
        with self._lock:
            if self.failures.get(method):
                self.failures[method] -= 1
                self.calls.append(Call(method + "!failed", params))
                return 400, {"ok": False, "error_code": 400,
                             "description": "Bad Request: injected failure"}
        if method == "getUpdates":
            updates = self._get_updates(params)
            with self._lock:
                self.calls.append(Call(method, params))
            return 200, {"ok": True, "result": updates}
        if method == "deleteWebhook" and params.get("drop_pending_updates"):
            with self._lock:
                self._updates.clear()
        result: Any = True
        if method == "getMe":
            result = BOT_USER
        elif method in ("sendMessage", "editMessageText"):
            params = dict(params, message_id=params.get("message_id") or self._message_id())
            result = {"message_id": params["message_id"], "date": int(time.time()),
                      "chat": {"id": int(params["chat_id"]), "type": "private"},
                      "from": BOT_USER, "text": params.get("text", "")}
        with self._lock:
            if method != "getMe":
                self.calls.append(Call(method, params))
            self._lock.notify_all()
        return 200, {"ok": True, "result": result}

    def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset, timeout = int(params.get("offset") or 0), float(params.get("timeout") or 0)
        deadline = time.monotonic() + min(timeout, 2.0)
        with self._lock:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
            while not self._updates and time.monotonic() < deadline:
                self._lock.wait(deadline - time.monotonic())
            return list(self._updates)

    def _inject(self, update: dict[str, Any]) -> None:
        with self._lock:
            update["update_id"] = self._next_update
            self._next_update += 1
            self._updates.append(update)
            self._lock.notify_all()

    def _message_id(self) -> int:
        with self._lock:
            self._next_message += 1
            return self._next_message


def wait_until(check: Callable[[], bool], what: str, *, timeout_s: float = 15.0) -> None:
    """Poll ``check`` until true; AssertionError naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout_s}s for {what}")
        time.sleep(0.01)


def _decode(body: bytes, content_type: str) -> dict[str, Any]:
    if "json" in content_type:
        return dict(json.loads(body or b"{}"))
    # python-telegram-bot posts a form whose values are JSON, except plain strings.
    params: dict[str, Any] = {}
    for key, value in urllib.parse.parse_qsl(body.decode()):
        try:
            params[key] = value if key == "text" else json.loads(value)
        except ValueError:
            params[key] = value
    return params


@contextmanager
def fake_telegram() -> Iterator[FakeTelegram]:
    """The fake serving on a free loopback port for the block."""
    fake = FakeTelegram()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            size = int(self.headers.get("Content-Length") or 0)
            params = _decode(self.rfile.read(size), self.headers.get("Content-Type", ""))
            _, _, rest = self.path.partition("/bot")
            token, _, method = rest.partition("/")
            status, body = ((401, {"ok": False, "error_code": 401,
                                   "description": "Unauthorized"})
                            if token != TOKEN else fake.answer(method, params))
            data = json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up on a long poll: it is stopping

        do_GET = do_POST

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
