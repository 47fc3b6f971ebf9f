"""flatten on an exchange (issue 15): TradingLoop + CcxtBroker + the fake Binance on loopback.

A flatten applied between bars sells at once: the resting stop is cancelled first (else the
coins are locked in it and the sell is refused for want of balance), one market sell, the
position closed in the journal and the loop's ledger. Killed after the flatten's commit and
before its send (or as the sell's intent is written), the restarted bot sells exactly once.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from journal import Command, Journal
from tests.fake_binance_trading import ORDER
from tests.trading.test_exchange_guard import Bot, Dying, Killed, bot_on, enter, start_loop

BTC = "BTC/USDT"


@pytest.fixture
def bot(tmp_path: Path) -> Iterator[Bot]:
    yield from bot_on(tmp_path)


def order_requests(bot: Bot) -> list[tuple[str, str, str, str]]:
    """(method, type, side, client id) of every order placed or cancelled, in order."""
    return [(r.method, r.params.get("type", ""), r.params.get("side", ""),
             r.params.get("newClientOrderId") or r.params.get("origClientOrderId", ""))
            for r in bot.fake.calls(ORDER) if r.method in ("POST", "DELETE")]


def exit_id(bot: Bot) -> str:
    """The flatten's client id: from the last finished bar, the bar the entry was decided on."""
    return f"tb-BTCUSDT-{bot.bars.index[bot.entry]:%Y%m%d%H%M}-X"


def sells(bot: Bot) -> list[str]:
    return [o["clientOrderId"] for o in bot.book.orders if o["side"] == "SELL"
            and o["type"] == "MARKET"]


def test_flatten_cancels_the_stop_then_sells_once_now(bot: Bot) -> None:
    enter(bot)
    [stop] = bot.book.open_orders("BTCUSDT")
    bot.fake.clear_log()
    bot.clock.set(bot.clock.now() + timedelta(minutes=20))  # between bars
    command = bot.journal.post_command("flatten", "news due", actor="cli", symbol=BTC)
    assert bot.loop.poll_commands() == 1
    assert order_requests(bot) == [("DELETE", "", "", stop["clientOrderId"]),
                                   ("POST", "MARKET", "SELL", exit_id(bot))]
    assert not bot.loop._broker.position(BTC).is_open
    assert bot.book.open_orders("BTCUSDT") == []
    assert sells(bot) == [exit_id(bot)]
    assert [str(f.kind) for f in bot.journal.fills()] == ["entry", "exit"]
    assert bot.loop.book.pending == {}
    assert bot.loop.book.entries == {}  # the round trip closed in the loop's ledger too
    acked = bot.journal.command(command)
    assert acked is not None
    assert acked.result == "BTC/USDT closing now: stop cancelled, market sell"
    # Nothing left to do: the next tick and a second flatten send nothing more.
    assert bot.loop.poll_commands() == 0
    again = bot.journal.post_command("flatten", "twice", actor="cli")
    bot.loop.poll_commands()
    second = bot.journal.command(again)
    assert second is not None
    assert second.result == "no open position"
    assert sells(bot) == [exit_id(bot)]
    assert all(n == 1 for n in bot.book.accepted().values())


class DiesAfterTheAck(Journal):
    """Dies just after the commit that acks a command: the flatten's exit is saved as pending
    with the ack, and nothing has been sent (what a SIGKILL at that instant leaves)."""

    def ack_command(self, command: Command | int, result: str, *,
                    at: datetime | None = None) -> None:
        super().ack_command(command, result, at=at)
        self.after_commit(self._die)

    @staticmethod
    def _die() -> None:
        raise Killed


def dying_journal(kill: str, path: Path, bot: Bot) -> Journal:
    if kill == "after-commit":
        return DiesAfterTheAck(path, clock=bot.clock)
    return Dying(path, clock=bot.clock, write="record_order_intent", suffix="-X")


def acks(path: Path) -> list[tuple[int, str]]:
    with sqlite3.connect(path) as db:
        rows: list[Any] = db.execute("SELECT command_id, result FROM command_acks").fetchall()
    return [(int(r[0]), str(r[1])) for r in rows]


@pytest.mark.parametrize("down_h", [0, 2], ids=["same-bar", "two-bars-later"])
@pytest.mark.parametrize("kill", ["after-commit", "at-sell-intent"])
def test_killed_after_the_flatten_commits_the_restart_sells_exactly_once(
    bot: Bot, tmp_path: Path, kill: str, down_h: int
) -> None:
    # Paused first, as the operator is told to (flatten leaves entries allowed, and this
    # market's entry signal persists: the bars after would buy again).
    enter(bot)
    path = bot.journal.path
    bot.journal.post_command("pause", "news due", actor="telegram:42")
    assert bot.loop.poll_commands() == 1
    command = bot.journal.post_command("flatten", "news due", actor="telegram:42")
    with dying_journal(kill, path, bot) as dying:
        doomed = start_loop(dying, bot.clock, bot.settings, bot.fake.url, tmp_path)
        with pytest.raises(Killed):
            doomed.poll_commands()
    assert sells(bot) == []  # killed before the sell reached the exchange
    with Journal(path) as journal:
        assert journal.pending_commands() == []  # the ack committed with the pending exit
        pending = journal.load_state("loop:pending") or {}
        assert [(o["kind"], o["reason"]) for o in pending.values()] == [
            ("exit", "operator flatten: news due")]
    bot.clock.set(bot.clock.now() + timedelta(hours=down_h, seconds=30))  # RestartSec
    with Journal(path, clock=bot.clock) as journal:
        restarted = start_loop(journal, bot.clock, bot.settings, bot.fake.url, tmp_path)
        assert bot.book.open_orders("BTCUSDT"), "protected while it waits to be sold"
        restarted.step()  # the restart's step sends what is pending
        assert not restarted._broker.position(BTC).is_open
        assert restarted.poll_commands() == 0
        assert [str(f.kind) for f in journal.fills()] == ["entry", "exit"]
        assert journal.open_positions() == {}
        if down_h:
            assert journal.recent_decisions(1)[0].reason == "operator pause: news due"
    assert sells(bot) == [exit_id(bot)]  # exactly one sell, under the flatten's own id
    assert bot.book.open_orders("BTCUSDT") == []
    assert all(n == 1 for n in bot.book.accepted().values())
    assert acks(path)[1:] == [(command, "BTC/USDT closing now: stop cancelled, market sell")]
