"""Runs (secrets redacted), decisions, LLM calls, equity marks and halt rows."""

from __future__ import annotations

import math
import sqlite3
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from core.secrets import Secret
from journal import (
    TOTAL,
    Action,
    Actor,
    DecisionRecord,
    EquitySnapshot,
    HaltEventKind,
    Journal,
    JournalError,
    RunMode,
)
from risk import RiskConfig, RiskEventKind, RiskManager
from signals.scorer import Score, ScoreSource, fallback_score
from tests.journal.conftest import utc

API_SECRET = "hunter2-Zq8sP0-very-secret"  # noqa: S105 - a made-up secret to look for


@dataclass(frozen=True)
class ExchangeSettings:
    name: str
    api_key: Secret
    api_secret: Secret


def files_bytes(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file())


def test_run_snapshot_never_holds_a_secret(db_path: Path) -> None:
    config = {
        "exchange": ExchangeSettings("binance", Secret("AKIA-key-123456"), Secret(API_SECRET)),
        "telegram": {"bot_token": "123456:ABC-telegram-token", "chat_id": "42"},
        "scorer": {"ANTHROPIC_API_KEY": "sk-ant-xyz-123", "max_tokens": 1024, "model": "m"},
        "notes": [f"pasted by mistake: {API_SECRET}"],
        "db_password": "pa55w0rd-value",
        "risk": RiskConfig().to_dict(),
    }
    with Journal(db_path) as j:
        run_id = j.record_run(
            mode=RunMode.PAPER, strategy_id="rsi-ema-v1", config=config,
            secrets=[Secret(API_SECRET)], code_version="abc1234", started_at=utc(1),
        )
        run = j.latest_run()
        live_bytes = files_bytes(db_path.parent)  # the rows sit in the -wal file while open
    assert run is not None
    assert run.id == run_id
    assert run.config["exchange"] == {"name": "binance", "api_key": "***", "api_secret": "***"}
    assert run.config["telegram"] == {"bot_token": "***", "chat_id": "42"}
    assert run.config["scorer"] == {"ANTHROPIC_API_KEY": "***", "max_tokens": 1024, "model": "m"}
    assert run.config["notes"] == ["pasted by mistake: ***"]
    assert run.config["risk"]["max_drawdown_pct"] == 0.15
    assert (run.mode, run.strategy_id, run.code_version) == ("paper", "rsi-ema-v1", "abc1234")
    for secret in (API_SECRET, "AKIA-key-123456", "ABC-telegram-token", "sk-ant-xyz", "pa55w0rd"):
        assert secret.encode() not in live_bytes
        assert secret.encode() not in files_bytes(db_path.parent)


def test_decisions_need_a_run_and_keep_the_reason_verbatim(journal: Journal) -> None:
    decision = DecisionRecord(
        symbol="BTC/USDT", bar_time=utc(1, 5), signal=1, action=Action.ENTER,
        reason="Max drawdown 16.0% exceeded 15.0%", approved=False,
        score=fallback_score("http_429", latency_s=0.25),
    )
    with pytest.raises(JournalError, match="record_run"):
        journal.record_decision(decision)
    run_id = journal.record_run(mode="replay", strategy_id="s", config={})
    journal.record_decision(decision)
    journal.record_decision(DecisionRecord(
        "ETH/USDT", utc(1, 5), 0, Action.NONE, "no signal",
    ))
    journal.record_decision(DecisionRecord(
        "BTC/USDT", utc(1, 6), 1, Action.ENTER, "approved",
        score=Score(0.8, False, "strong trend", ScoreSource.LLM), approved=True,
        size_fraction=0.02, notional=Decimal("203.17"),
        numbers=(("RSI", 61.25), ("EMA spread (fast vs slow)", math.nan)),
    ))
    newest, _, first = journal.recent_decisions()
    # The strategy's numbers of the bar come back by label; an undefined one as NaN (null).
    assert newest.numbers[0] == ("RSI", 61.25)
    assert newest.numbers[1][0] == "EMA spread (fast vs slow)"
    assert math.isnan(newest.numbers[1][1])
    assert first.numbers == ()
    assert (first.run_id, first.symbol, first.bar_time) == (run_id, "BTC/USDT", utc(1, 5))
    assert (first.conviction, first.suppress, first.score_source) == (0.5, False, "fallback")
    assert (first.fallback_reason, first.approved) == ("http_429", False)
    assert first.reason == "Max drawdown 16.0% exceeded 15.0%"
    assert (newest.notional, newest.size_fraction, newest.reasoning) == (
        Decimal("203.17"), 0.02, "strong trend",
    )
    assert [d.symbol for d in journal.recent_decisions(symbol="ETH/USDT")] == ["ETH/USDT"]
    assert journal.recent_decisions(limit=1) == [newest]
    with pytest.raises(ValueError, match="signal must be -1, 0 or 1"):
        journal.record_decision(DecisionRecord("BTC/USDT", utc(1), 2, Action.NONE, "x"))


def test_llm_calls_record_usage_and_fallback_reason(journal: Journal) -> None:
    score = Score(0.7, False, "ok", ScoreSource.LLM, latency_s=1.25, tokens_in=310,
                  tokens_out=42, cost_usd=0.000123)
    journal.record_llm_call(score, provider="anthropic", model="claude-x", symbol="BTC/USDT",
                            bar_time=utc(1, 5))
    journal.record_llm_call(fallback_score("timeout", latency_s=10.0), provider="anthropic",
                            model="claude-x", symbol="BTC/USDT")
    rows = journal._db.execute(
        "SELECT provider, model, source, latency_s, tokens_in, tokens_out, cost_usd, "
        "fallback_reason, bar_time FROM llm_calls ORDER BY id"
    ).fetchall()
    assert rows == [
        ("anthropic", "claude-x", "llm", 1.25, 310, 42, "0.000123", "",
         "2024-01-01T05:00:00.000000+00:00"),
        ("anthropic", "claude-x", "fallback", 10.0, 0, 0, "0.0", "timeout", None),
    ]


def test_equity_marks_keep_exact_amounts_and_latest_per_symbol(journal: Journal) -> None:
    journal.record_equity(EquitySnapshot(utc(1, 1), Decimal("10000.00"), peak=10_000))
    journal.record_equity(EquitySnapshot(
        utc(1, 2), 9_950.123456789, bar_time=utc(1, 1), cash=Decimal("9000"),
        position_value=Decimal("950.123456789"), peak=10_000, drawdown=0.005,
        daily_pnl=Decimal("-49.876543211"),
    ))
    journal.record_equity(EquitySnapshot(utc(1, 2), Decimal("950.12"), symbol="BTC/USDT"))
    latest = journal.latest_equity()
    assert set(latest) == {TOTAL, "BTC/USDT"}
    total = latest[TOTAL]
    assert total.equity == Decimal("9950.123456789")  # a float is kept at its shortest repr
    assert (total.cash, total.peak, total.drawdown) == (Decimal(9000), Decimal(10000), 0.005)
    assert total.daily_pnl == Decimal("-49.876543211")
    assert [e.equity for e in journal.equity_curve()] == [
        Decimal("10000.00"), Decimal("9950.123456789"),
    ]
    with pytest.raises(ValueError, match="finite"):
        journal.record_equity(EquitySnapshot(utc(1, 3), float("nan")))


def test_every_risk_event_kind_becomes_a_halt_row(journal: Journal) -> None:
    assert {k.value for k in RiskEventKind} <= {k.value for k in HaltEventKind}
    rm = RiskManager(RiskConfig(), 10_000)
    rm.check_and_update(8_400, utc(1))
    resumed = rm.resume("checked the exchange, resuming", utc(1, 1))
    assert resumed is not None
    for event in rm.drain_events():
        journal.record_risk_event(event)
    resume, pause, latch = journal.recent_halts()
    assert pause.kind is HaltEventKind.DAILY_PAUSE  # 16% down on the day pauses it too
    assert (latch.kind, latch.actor, latch.at) == (
        HaltEventKind.DRAWDOWN_LATCH, Actor.BOT, utc(1),
    )
    assert latch.reason == "Max drawdown 16.0% exceeded 15.0%"
    assert (latch.equity, latch.peak) == (Decimal("8400.0"), Decimal("10000.0"))
    assert (resume.kind, resume.actor) == (HaltEventKind.RESUME, Actor.OPERATOR)
    assert resume.reason.endswith("checked the exchange, resuming")


def test_a_halt_row_needs_a_reason(journal: Journal) -> None:
    with pytest.raises(ValueError, match="needs a reason"):
        journal.record_halt(HaltEventKind.OVERRIDE, "  ", actor=Actor.OPERATOR)


def test_refusals_name_their_symbol_and_belong_to_one_run(journal: Journal) -> None:
    with pytest.raises(JournalError, match="record_run before"):
        journal.record_refusal("ETH/USDT", "the saved backtest failed its gates (sharpe)")
    first = journal.record_run(mode=RunMode.LIVE, strategy_id="s", config={})
    journal.record_refusal("ETH/USDT", "the saved backtest failed its gates (sharpe)")
    with pytest.raises(ValueError, match="names its symbol and its reason"):
        journal.record_refusal("SOL/USDT", " ")
    assert [(r.run_id, r.symbol, r.reason) for r in journal.refusals()] == [
        (first, "ETH/USDT", "the saved backtest failed its gates (sharpe)")]
    journal.record_run(mode=RunMode.LIVE, strategy_id="s", config={})
    assert journal.refusals() == []  # the latest run refused nothing
    assert [r.symbol for r in journal.refusals(first)] == ["ETH/USDT"]
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        journal._db.execute("DELETE FROM refusals")
