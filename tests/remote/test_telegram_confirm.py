"""/resume and /flatten wait for a tap on Confirm: posted once, never after Cancel, never from
an expired button or another user's tap."""

from __future__ import annotations

import time
from pathlib import Path

from tests.remote.fake_telegram import Call, FakeTelegram
from tests.remote.telegram_fixtures import (
    FRIEND,
    GROUP,
    ME,
    ask,
    commands,
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


def question(fake: FakeTelegram, text: str, *, chat: int = ME, user: int | None = None) -> Call:
    """Send ``text``; the bot's answer, which must carry the Confirm / Cancel buttons."""
    before = len(fake.sent(chat=chat))
    fake.say(text, chat=chat, user=user)
    sent = fake.wait_sent(before + 1, chat=chat)[before]
    buttons = [b["text"] for row in sent.params["reply_markup"]["inline_keyboard"] for b in row]
    assert buttons == ["Confirm", "Cancel"]
    return sent


def tapped(fake: FakeTelegram, sent: Call, button: str, *, user: int = ME) -> str:
    """Tap ``button`` under ``sent``; the text of the callback's answer (its toast)."""
    before = len(fake.sent("answerCallbackQuery"))
    fake.tap(sent, button, user=user)
    return str(fake.wait_sent(before + 1, "answerCallbackQuery")[before].params["text"])


def edits(fake: FakeTelegram, count: int) -> list[str]:
    return [str(c.params["text"]) for c in fake.wait_sent(count, "editMessageText")]


def test_resume_says_what_it_lifts_and_confirm_posts_it_once_even_tapped_twice(
    fake: FakeTelegram, journal: Path,
) -> None:
    with running_loop(journal) as acked, listening(fake, journal):
        sent = question(fake, "/resume checked the market")
        assert str(sent.params["text"]).splitlines()[:2] == [
            "Confirm resume? Reason: checked the market",
            "The running bot applies it within seconds (a stopped bot at its next start): it "
            "lifts the drawdown halt (the peak restarts at the current equity)."]
        assert commands(journal) == []  # nothing before the tap
        assert tapped(fake, sent, "Confirm") == "confirmed"
        assert tapped(fake, sent, "Confirm") == "expired"
        assert edits(fake, 1) == ["resume #1 done: applied resume (test loop)"]
    assert acked == [1]
    assert [(c.kind, c.reason, c.actor) for c in commands(journal)] == [
        ("resume", "checked the market", f"telegram:{ME}")]


def test_flatten_a_symbol_confirmed(fake: FakeTelegram, holding: Path) -> None:
    with running_loop(holding), listening(fake, holding):
        sent = question(fake, "/flatten eth/usdt too volatile")
        assert "the ETH/USDT position is closed at the next open" in sent.params["text"]
        assert tapped(fake, sent, "Confirm") == "confirmed"
        assert edits(fake, 1) == ["flatten ETH/USDT #1 done: applied flatten ETH/USDT (test loop)"]
        assert ask(fake, "/flatten DOGE/USDT why") == (
            "flatten: DOGE/USDT is not traded by this bot (ETH/USDT); nothing queued")
    assert [(c.kind, c.symbol, c.reason) for c in commands(holding)] == [
        ("flatten", "ETH/USDT", "too volatile")]


def test_cancel_posts_nothing(fake: FakeTelegram, journal: Path) -> None:
    with running_loop(journal), listening(fake, journal):
        sent = question(fake, "/flatten everything now")
        assert "every open position is closed" in sent.params["text"]
        assert tapped(fake, sent, "Cancel") == "cancelled"
        assert edits(fake, 1) == ["flatten cancelled; nothing queued"]
        assert tapped(fake, sent, "Confirm") == "expired"
    assert commands(journal) == []


def test_an_expired_button_posts_nothing(fake: FakeTelegram, journal: Path) -> None:
    with running_loop(journal), listening(fake, journal, confirm_s=0.3):
        sent = question(fake, "/resume go")
        assert "expire in 0 s" in sent.params["text"]
        time.sleep(0.5)
        assert tapped(fake, sent, "Confirm") == "expired"
        fresh = question(fake, "/resume go again")
        assert tapped(fake, fresh, "Confirm") == "confirmed"  # a fresh one still works
        wait_until(lambda: len(commands(journal)) == 1, "the second resume")
    assert [c.reason for c in commands(journal)] == ["go again"]


def test_another_users_tap_says_expired_and_leaves_the_question_to_its_owner(
    fake: FakeTelegram, journal: Path,
) -> None:
    with running_loop(journal), listening(fake, journal):
        sent = question(fake, "/resume my call", chat=GROUP, user=ME)
        assert tapped(fake, sent, "Confirm", user=FRIEND) == "expired"
        assert tapped(fake, sent, "Cancel", user=FRIEND) == "expired"
        assert commands(journal) == []
        assert tapped(fake, sent, "Confirm", user=ME) == "confirmed"
        wait_until(lambda: len(commands(journal)) == 1, "the owner's resume")
    assert [(c.reason, c.actor) for c in commands(journal)] == [("my call", f"telegram:{ME}")]
