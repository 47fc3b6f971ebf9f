"""Telegram alerts against a fake Bot API server on loopback; a failed alert never raises."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from core.errors import ConfigError
from trading.alerts import (
    AlertKind,
    FanOutAlerter,
    LogAlerter,
    TelegramAlerter,
    TelegramSettings,
    build_alerter,
)

TOKEN = "123456:SECRET-token-value"  # noqa: S105 - a fake token for the fake server


class FakeBotApi:
    """Minimal Telegram Bot API: records sendMessage calls, answers with a scripted status."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.status = 200
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                fake.paths.append(self.path)
                if fake.status != 200:
                    self.send_response(fake.status)
                    self.end_headers()
                    self.wfile.write(b'{"ok": false}')
                    return
                fake.messages.append(body)
                payload = json.dumps({"ok": True, "result": {"message_id": len(fake.messages)}})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(payload.encode())

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def bot_api() -> Iterator[FakeBotApi]:
    fake = FakeBotApi()
    yield fake
    fake.stop()


def settings_for(url: str) -> TelegramSettings:
    env = {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_CHAT_ID": "42", "TELEGRAM_API_URL": url}
    settings = TelegramSettings.from_env(env)
    assert settings is not None
    return settings


def test_alert_reaches_the_chat(bot_api: FakeBotApi) -> None:
    alerter = TelegramAlerter(settings_for(bot_api.url))
    alerter.alert(AlertKind.HALT, "Max drawdown 16.0% exceeded 15.0%")
    alerter.close()
    assert alerter.sent == 1
    assert bot_api.messages == [
        {"chat_id": "42", "text": "[tradingbot] halt: Max drawdown 16.0% exceeded 15.0%"}
    ]
    assert bot_api.paths == [f"/bot{TOKEN}/sendMessage"]


def test_failed_alert_is_logged_without_the_token(
    bot_api: FakeBotApi, caplog: pytest.LogCaptureFixture
) -> None:
    bot_api.status = 500
    alerter = TelegramAlerter(settings_for(bot_api.url))
    with caplog.at_level(logging.WARNING):
        alerter.alert(AlertKind.ORDER_FAILURE, "insufficient balance")
        alerter.close()
    assert alerter.failed == 1
    assert alerter.sent == 0
    assert "Telegram alert failed" in caplog.text
    assert TOKEN not in caplog.text


def test_unreachable_server_never_raises(caplog: pytest.LogCaptureFixture) -> None:
    # Port 9 on loopback: nothing listens, the connection is refused at once.
    alerter = TelegramAlerter(settings_for("http://127.0.0.1:9"))
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            alerter.alert(AlertKind.BREAKER_OPEN, "exchange down")
        alerter.close()
    assert alerter.failed == 3
    assert TOKEN not in caplog.text


def test_full_queue_drops_instead_of_blocking() -> None:
    alerter = TelegramAlerter(settings_for("http://127.0.0.1:9"), max_queue=1)
    for _ in range(50):
        alerter.alert(AlertKind.INFO, "x")
    alerter.close()
    assert alerter.dropped > 0
    assert alerter.sent + alerter.failed + alerter.dropped == 50


def test_settings_need_both_variables() -> None:
    assert TelegramSettings.from_env({}) is None
    with pytest.raises(ConfigError, match="TELEGRAM_CHAT_ID"):
        TelegramSettings.from_env({"TELEGRAM_BOT_TOKEN": TOKEN})
    with pytest.raises(ConfigError, match="TELEGRAM_BOT_TOKEN"):
        TelegramSettings.from_env({"TELEGRAM_CHAT_ID": "1"})
    with pytest.raises(ConfigError, match="https"):
        TelegramSettings.from_env(
            {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_CHAT_ID": "1",
             "TELEGRAM_API_URL": "http://evil.example"}
        )


def test_settings_repr_hides_the_token() -> None:
    settings = settings_for("http://127.0.0.1:1")
    assert TOKEN not in repr(settings)


class Exploding:
    def alert(self, kind: AlertKind, text: str) -> None:
        raise RuntimeError("boom")

    def close(self) -> None:
        pass


def test_fan_out_survives_a_broken_alerter(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[str] = []

    class Recorder:
        def alert(self, kind: AlertKind, text: str) -> None:
            seen.append(text)

        def close(self) -> None:
            pass

    FanOutAlerter(Exploding(), Recorder()).alert(AlertKind.INFO, "still delivered")
    assert seen == ["still delivered"]


def test_build_alerter_without_telegram_is_log_only() -> None:
    assert isinstance(build_alerter({}), LogAlerter)
