"""Operator commands across processes, and what a killed process leaves behind."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from decimal import Decimal
from pathlib import Path

import pytest

from core.domain import Order, Side
from journal import CommandKind, HaltEventKind, Journal, JournalError
from tests.journal.conftest import REPO_ROOT, run_python, utc

OPERATOR = """
    import sys, time
    from journal import Journal
    journal = Journal(sys.argv[1])
    print("opened", flush=True)
    started = time.monotonic()
    journal.post_command("halt", "from the operator")
    print(time.monotonic() - started, flush=True)
"""


def apply_pending(journal: Journal) -> int:
    """What the loop does each step: apply, then save the state, the halt row and the ack."""
    applied = 0
    for command in journal.pending_commands():
        seen = (journal.load_state("risk") or {}).get("commands_seen", 0)
        with journal.batch():
            journal.save_state("risk", {"commands_seen": seen + 1})
            journal.record_halt(HaltEventKind.MANUAL_HALT, command.reason, actor="operator")
            journal.ack_command(command, "manual halt in force")
        applied += 1
    return applied


def test_a_command_waits_for_the_bots_write_and_is_then_seen(
    db_path: Path, journal: Journal,
) -> None:
    journal.record_run(mode="paper", strategy_id="s", config={})
    with journal.batch():  # the bot is in the middle of a bar step, holding the write lock
        journal.save_state("risk", {"step": 1})
        operator = subprocess.Popen(  # noqa: S603 - our own interpreter and code
            [sys.executable, "-c", textwrap.dedent(OPERATOR), str(db_path)],
            cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        assert operator.stdout is not None
        assert operator.stdout.readline().strip() == "opened"  # opening needs no write lock
        time.sleep(0.3)
        assert operator.poll() is None  # still waiting on busy_timeout, not failed
    out, err = operator.communicate(timeout=30)
    assert operator.returncode == 0, err
    assert float(out) >= 0.2
    (command,) = journal.pending_commands()
    assert (command.kind, command.reason, command.actor) == (
        CommandKind.HALT, "from the operator", "operator",
    )


def test_commands_posted_while_the_loop_consumes_are_each_applied_once(
    db_path: Path, journal: Journal,
) -> None:
    journal.record_run(mode="paper", strategy_id="s", config={})
    poster = subprocess.Popen(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", textwrap.dedent("""
            import sys
            from journal import Journal
            journal = Journal(sys.argv[1])
            for i in range(40):
                journal.post_command("halt", f"halt {i}")
        """), str(db_path)],
        cwd=REPO_ROOT, stderr=subprocess.PIPE, text=True,
    )
    applied = 0
    while poster.poll() is None:
        applied += apply_pending(journal)
    applied += apply_pending(journal)
    assert poster.returncode == 0, poster.stderr.read() if poster.stderr else ""
    assert applied == 40
    assert journal.load_state("risk") == {"commands_seen": 40}
    assert [h.reason for h in journal.recent_halts(100)][::-1] == [f"halt {i}" for i in range(40)]
    assert all(c.acked_at is not None for c in journal.recent_commands(100))


def test_a_crash_before_the_ack_leaves_the_command_pending(journal: Journal) -> None:
    command_id = journal.post_command(CommandKind.RESUME, "  checked the account  ")
    journal.save_state("risk", {"drawdown_latched": True})

    def resume_then_crash() -> None:
        with journal.batch():
            journal.save_state("risk", {"drawdown_latched": False})
            journal.record_halt(HaltEventKind.RESUME, "checked the account", actor="operator")
            raise RuntimeError("power cut")

    with pytest.raises(RuntimeError, match="power cut"):
        resume_then_crash()
    (command,) = journal.pending_commands()
    assert (command.id, command.reason) == (command_id, "checked the account")
    assert journal.load_state("risk") == {"drawdown_latched": True}
    assert journal.recent_halts() == []


def test_an_ack_is_once_per_command(journal: Journal) -> None:
    command_id = journal.post_command("halt", "stop now", at=utc(1, 2))
    journal.ack_command(command_id, "manual halt in force", at=utc(1, 3))
    with pytest.raises(JournalError, match="already acked at 2024-01-01T03:00"):
        journal.ack_command(command_id, "again")
    with pytest.raises(JournalError, match="no operator command 99"):
        journal.ack_command(99, "x")
    (command,) = journal.recent_commands()
    assert (command.posted_at, command.acked_at, command.result) == (
        utc(1, 2), utc(1, 3), "manual halt in force",
    )
    assert journal.pending_commands() == []
    with pytest.raises(ValueError, match="needs a non-empty reason"):
        journal.post_command("resume", " ")
    with pytest.raises(ValueError, match="'sell' is not a valid CommandKind"):
        journal.post_command("sell", "x")
    with pytest.raises(ValueError, match="pause takes no symbol; only flatten does"):
        journal.post_command("pause", "x", symbol="BTC/USDT")


def test_a_killed_process_keeps_every_committed_row(db_path: Path) -> None:
    result = run_python("""
        import os, signal, sys
        from datetime import UTC, datetime
        from decimal import Decimal
        from core.domain import Order, Side
        from journal import Journal
        journal = Journal(sys.argv[1])
        journal.record_run(mode="paper", strategy_id="s", config={})
        for i in range(5):
            journal.save_state(f"k{i}", {"i": i})
            journal.record_halt("manual_halt", f"halt {i}", actor="operator")
        journal.record_order_intent(Order("BTC/USDT", Side.BUY, Decimal("100"), client_id="e-1"))
        with journal.batch():
            journal.save_state("half-done step", {"i": 99})
            os.kill(os.getpid(), signal.SIGKILL)
    """, str(db_path))
    assert result.returncode == -signal.SIGKILL, result.stderr
    with Journal(db_path) as journal:
        assert [journal.load_state(f"k{i}") for i in range(5)] == [{"i": i} for i in range(5)]
        assert len(journal.recent_halts()) == 5
        assert journal.load_state("half-done step") is None
        # The intent was committed before the (never sent) request: a restart looks it up.
        intent = Order("BTC/USDT", Side.BUY, Decimal("100"), client_id="e-1")
        assert journal.unresolved_orders() == [(intent, None)]
