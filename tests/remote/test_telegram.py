"""Telegram commands through the real python-telegram-bot client against a fake Bot API, on the
journal of a real replay, with a thread that acks queued commands as the running loop does."""

from __future__ import annotations

import html
import logging
import time
from pathlib import Path

import pytest

from core.errors import ConfigError
from remote.telegram import STOP_S, command_settings, telegram_commands
from remote.telegram_access import DenialLimiter
from tests.remote.fake_telegram import TOKEN, FakeTelegram
from tests.remote.telegram_fixtures import (
    FRIEND,
    GROUP,
    ME,
    STRANGER,
    ask,
    commands,
    denials,
    fake,
    holding,
    holding_journal,
    journal,
    latched_journal,
    listening,
    running_loop,
    wait_until,
)

__all__ = ["fake", "holding", "holding_journal", "journal", "latched_journal"]  # fixtures


def test_the_views_answer_an_allowed_chat_in_short_lines(
    fake: FakeTelegram, journal: Path, holding: Path,
) -> None:
    with listening(fake, journal):
        status = ask(fake, "/status")
        assert status.splitlines()[:3] == [
            "replay: run #1 since 2024-01-17 04:00 UTC",
            "Equity 9,731.72  DD 3.17%  day +0.00",
            "IN FORCE drawdown: Max drawdown 3.2% exceeded 3.0%"]
        assert "Positions: 0" in status
        assert "Last bar BTC/USDT 2024-01-30 03:00 UTC, simulated clock" in status
        daily = ask(fake, "/daily")
        assert daily.startswith("<pre>day")
        assert "2024-01-17    -191.13   -1.91%" in daily
        report = ask(fake, "/report")
        assert report.startswith("Trades: 4 closed, 0 open")
        assert "Halts: 1 drawdown_latch" in report
        assert "Last 4 trades:" in report
        assert "/flatten [SYMBOL] &lt;reason&gt;" in ask(fake, "/help")
        assert ask(fake, "/positions") == "No open position"
    for answer in (daily, report):  # tables stay narrow enough for a phone
        table = html.unescape(answer.split("<pre>")[1].split("</pre>")[0])
        assert max(len(line) for line in table.splitlines()) <= 32, table
    with listening(fake, holding):
        positions = ask(fake, "/positions")
    assert positions.startswith("<pre>ETH/USDT ")
    assert "  entry " in positions
    assert "stop -" not in positions  # the replay's resting stop is shown


def test_pause_and_halt_are_queued_as_the_sender_and_answered_with_the_ack(
    fake: FakeTelegram, journal: Path,
) -> None:
    with running_loop(journal) as acked, listening(fake, journal):
        assert ask(fake, "/pause lunch break") == "pause #1 done: applied pause (test loop)"
        assert ask(fake, "/halt@fake_bot  news <soon>", chat=GROUP, user=FRIEND) == (
            "halt #2 done: applied halt (test loop)")
    assert acked == [1, 2]
    assert [(c.kind, c.reason, c.actor) for c in commands(journal)] == [
        ("pause", "lunch break", f"telegram:{ME}"), ("halt", "news <soon>", f"telegram:{FRIEND}")]


def test_a_command_the_loop_does_not_ack_in_time_is_answered_queued(
    fake: FakeTelegram, journal: Path,
) -> None:
    with listening(fake, journal, ack_timeout_s=0.3):
        answer = ask(fake, "/halt going out")
    assert answer == ("halt queued #1; the bot applies it within seconds when running "
                      "(is it running?)")
    assert [c.acked_at for c in commands(journal)] == [None]


@pytest.mark.parametrize("text", ["/pause", "/halt   ", "/resume", "/flatten BTC/USDT"])
def test_a_missing_reason_is_one_usage_line_and_queues_nothing(
    fake: FakeTelegram, journal: Path, text: str,
) -> None:
    with listening(fake, journal):
        answer = ask(fake, text)
    assert answer.startswith(f"usage: {text.split()[0]} ")
    assert "nothing queued" in answer
    assert "\n" not in answer
    assert commands(journal) == []


def test_a_stranger_gets_no_answer_and_one_denial_row(
    fake: FakeTelegram, journal: Path,
) -> None:
    with running_loop(journal), listening(fake, journal):
        for text in ("/status", "/halt now", "/pause x", "hello", "/resume go"):
            fake.say(text, chat=STRANGER)
        fake.say("/halt from a stranger in our group", chat=GROUP, user=STRANGER)
        wait_until(lambda: len(denials(journal)) == 2, "two denial rows")
        ask(fake, "/help")  # every earlier update has been handled by now
        fake.say("/halt again", chat=STRANGER)
        ask(fake, "/help")
    rows = sorted((d.who, d.what) for d in denials(journal))
    assert rows == [(f"chat {GROUP} user {STRANGER}", "/halt from a stranger in our group"),
                    (f"chat {STRANGER} user {STRANGER}", "/status")]
    assert [c for c in fake.calls if int(c.params.get("chat_id", 0)) == STRANGER] == []
    assert fake.sent(chat=GROUP) == []
    assert commands(journal) == []


def test_a_failing_handler_is_one_log_line_without_the_token_and_the_listener_goes_on(
    fake: FakeTelegram, journal: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    with listening(fake, journal):
        fake.fail_next("sendMessage")
        assert ask(fake, "/status") == "failed: BadRequest; see the bot's log"
        assert ask(fake, "/status").startswith("replay: run #1")
    failed = [r for r in caplog.records if "failed" in r.getMessage()]
    assert [r.getMessage() for r in failed] == [
        "Telegram: '/status' failed: BadRequest: Injected failure"]
    assert failed[0].exc_info is None
    assert all(TOKEN not in r.getMessage() for r in caplog.records)
    assert all(TOKEN.split(":")[1] not in r.getMessage() for r in caplog.records)


def test_a_broken_journal_is_answered_in_one_line(fake: FakeTelegram, tmp_path: Path) -> None:
    missing = tmp_path / "none.sqlite3"
    with listening(fake, missing):
        assert ask(fake, "/status") == (
            f"no journal at {missing}: the bot has not run in this mode")
        assert ask(fake, "/pause x").startswith("no journal at")
    assert not missing.exists()


def test_leaving_the_block_stops_the_listener_within_seconds(
    fake: FakeTelegram, journal: Path,
) -> None:
    # A long poll in flight and a command waiting for an ack that never comes.
    with listening(fake, journal, poll_timeout_s=30.0, ack_timeout_s=60.0):
        fake.say("/pause waiting", chat=ME)
        wait_until(lambda: len(commands(journal)) == 1, "the pause queued")
        start = time.monotonic()
    assert time.monotonic() - start < STOP_S + 1.5


def test_an_unreachable_api_neither_blocks_the_start_nor_the_stop(journal: Path) -> None:
    env = {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_ALLOWED_IDS": str(ME),
           "TELEGRAM_API_URL": "http://127.0.0.1:9"}  # the discard port: nothing listens
    start = time.monotonic()
    with telegram_commands(env, mode="replay", journal_path=journal):
        time.sleep(0.5)
    assert time.monotonic() - start < STOP_S + 2


@pytest.mark.parametrize(("allowed", "message"), [
    ("", "TELEGRAM_ALLOWED_IDS must be comma-separated chat or user ids"),
    ("123,abc", "got 'abc'"),
    ("@me", "got '@me'"),
])
def test_malformed_allowed_ids_are_one_line_at_start(allowed: str, message: str) -> None:
    env = {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_ALLOWED_IDS": allowed}
    with pytest.raises(ConfigError, match=message):
        command_settings(env)


def test_the_allowed_ids_and_a_loopback_api_are_read() -> None:
    settings = command_settings({"TELEGRAM_BOT_TOKEN": TOKEN,
                                 "TELEGRAM_ALLOWED_IDS": " 1, -100200 ,3",
                                 "TELEGRAM_API_URL": "http://127.0.0.1:1/"})
    assert (settings.allowed, settings.api_url) == (frozenset({1, -100200, 3}),
                                                    "http://127.0.0.1:1")
    assert TOKEN not in repr(settings)
    with pytest.raises(ConfigError, match="must be https://"):
        command_settings({"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_ALLOWED_IDS": "1",
                          "TELEGRAM_API_URL": "http://evil.example"})


def test_denial_rows_are_one_per_chat_a_minute_and_capped_per_hour() -> None:
    clock = [0.0]
    limiter = DenialLimiter(per_chat_s=60.0, per_hour=3, now=lambda: clock[0])
    assert [limiter.allow(1), limiter.allow(1), limiter.allow(2)] == [True, False, True]
    clock[0] = 61.0
    assert [limiter.allow(1), limiter.allow(3)] == [True, False]  # the hour's 3 rows are used
    clock[0] = 3601.0
    assert limiter.allow(3)
    assert limiter.skipped == 2
