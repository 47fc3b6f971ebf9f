"""The dashboard's JSON API over a real replay journal, through a real uvicorn on a free port:
who may read, who may command, the failure limit, and what each endpoint serves."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from importlib import resources
from pathlib import Path

import pytest

from core.errors import ConfigError
from journal import Journal
from journal.reader import JournalReader
from remote.dashboard.server import dashboard_server
from signals.scorer import Score, ScoreSource
from tests.remote.test_dashboard_support import (
    OPERATOR_SECRET,
    TOKENS,
    VIEWER_SECRET,
    ReplayJournal,
    base_env,
    call,
    make_replay,
    python_main,
    replay,
    served,
    status_json,
)

__all__ = ["replay"]  # the fixture, imported for the tests below
HALT = {"kind": "halt", "reason": "exchange maintenance"}


def commands_in(journal: ReplayJournal) -> list[tuple[str, str, str]]:
    with JournalReader(journal.journal) as reader:
        return [(c.kind.value, c.actor, c.reason) for c in reader.recent_commands(100)]


@pytest.fixture
def own_replay(tmp_path: Path) -> ReplayJournal:
    """A replay journal of this test alone (its commands do not leak into others)."""
    return make_replay(tmp_path, bars=600)


def test_status_is_the_status_json_document(replay: ReplayJournal) -> None:
    with served(replay) as server:
        answer = call(server.url, "/api/status?last=20")
    expected = status_json(replay)
    assert answer.status == 200
    assert set(answer.body) == set(expected)
    assert {k: v for k, v in answer.body.items() if k != "now"} == \
        {k: v for k, v in expected.items() if k != "now"}
    assert answer.body["positions"], "the fixture's replay ends with a position open"
    assert answer.body["positions"][0]["stop"] is not None
    assert answer.headers["cache-control"] == "no-store"


def test_each_endpoint_answers_with_exact_amounts(replay: ReplayJournal) -> None:
    with served(replay) as server, JournalReader(replay.journal) as reader:
        got = {p: call(server.url, p) for p in (
            "/api/positions", "/api/daily?days=3", "/api/decisions?limit=5", "/api/halts",
            "/api/commands", "/api/llm", "/api/equity")}
        assert all(a.status == 200 for a in got.values()), got
        position = got["/api/positions"].body["positions"][0]
        held = reader.open_positions()[position["symbol"]]
        assert Decimal(position["amount"]) == held.amount  # a string, exact
        assert isinstance(position["amount"], str)
        assert len(got["/api/daily?days=3"].body["days"]) == 3
        decisions = got["/api/decisions?limit=5"].body["decisions"]
        assert [d["id"] for d in decisions] == [d.id for d in reader.recent_decisions(5)]
        assert all(d["reason"] for d in decisions)
        equity = got["/api/equity"].body
        curve = reader.equity_curve()
        assert equity["marks"] == len(curve) <= 2000  # short journal: every mark, unsampled
        assert equity["equity"] == [str(e.equity) for e in curve]


def test_a_long_curve_is_sampled_to_the_points_asked_keeping_the_worst_drawdown(
        replay: ReplayJournal) -> None:
    with JournalReader(replay.journal) as reader:
        curve = reader.equity_curve()
    with served(replay) as server:
        sampled = call(server.url, "/api/equity?points=100").body
    assert 50 <= len(sampled["t"]) <= 100
    assert sampled["equity"][-1] == str(curve[-1].equity)  # the last mark is always drawn
    assert max(sampled["drawdown"]) == max(e.drawdown or 0 for e in curve)
    assert min(sampled["low"]) == pytest.approx(float(min(e.equity for e in curve)))
    with served(replay) as server:
        assert call(server.url, "/api/equity?points=5000").status == 422  # at most 2,000


def test_llm_calls_come_with_their_exact_cost(tmp_path: Path) -> None:
    journal = make_replay(tmp_path, bars=500)
    at = datetime(2024, 1, 2, 3, tzinfo=UTC)
    with Journal(journal.journal) as writer:
        for cost in ("0.000123", "0.0021"):
            score = Score(0.7, False, "trend intact", ScoreSource.LLM, latency_s=0.8,
                          tokens_in=900, tokens_out=60, cost_usd=float(cost))
            writer.record_llm_call(score, provider="anthropic", model="claude-test",
                                   symbol="SYNTH/USDT", bar_time=at, at=at)
    with served(journal) as server:
        llm = call(server.url, "/api/llm").body
    assert [c["cost_usd"] for c in llm["calls"]] == ["0.0021", "0.000123"]
    assert llm["days"] == [{"day": "2024-01-02", "calls": 2, "tokens_in": 1800,
                            "tokens_out": 120, "cost_usd": "0.002223"}]


def test_without_tokens_reads_are_open_on_loopback_and_commands_refused(
        own_replay: ReplayJournal) -> None:
    with served(own_replay) as server:
        assert call(server.url, "/api/status").status == 200
        refused = call(server.url, "/api/commands", method="POST", body=HALT)
        with_a_token = call(server.url, "/api/commands", method="POST", body=HALT,
                            token=OPERATOR_SECRET)
    assert refused.status == 403
    assert "operator token" in refused.body["detail"]
    assert with_a_token.status == 401  # no token is configured: none is accepted
    assert commands_in(own_replay) == []


def test_with_tokens_a_read_needs_one_and_a_command_the_operators(
        own_replay: ReplayJournal) -> None:
    with served(own_replay, tokens=TOKENS) as server:
        assert call(server.url, "/api/status").status == 401
        assert call(server.url, "/api/status", token=VIEWER_SECRET).status == 200
        nobody = call(server.url, "/api/commands", method="POST", body=HALT)
        viewer = call(server.url, "/api/commands", method="POST", body=HALT,
                      token=VIEWER_SECRET)
        blank = call(server.url, "/api/commands", method="POST", token=OPERATOR_SECRET,
                     body={"kind": "halt", "reason": "   "})
        unknown = call(server.url, "/api/commands", method="POST", token=OPERATOR_SECRET,
                       body={"kind": "explode", "reason": "why not"})
        no_market = call(server.url, "/api/commands", method="POST", token=OPERATOR_SECRET,
                         body={"kind": "flatten", "reason": "r", "symbol": "DOGE/USDT"})
        assert commands_in(own_replay) == []  # nothing refused was queued
        posted = call(server.url, "/api/commands", method="POST", body=HALT,
                      token=OPERATOR_SECRET)
    assert (nobody.status, viewer.status) == (401, 403)
    assert "viewer" in viewer.body["detail"]
    assert (blank.status, unknown.status, no_market.status) == (422, 422, 422)
    assert "non-empty reason" in blank.body["detail"]
    assert posted.status == 201
    assert posted.body["actor"] == "web:laptop"
    assert commands_in(own_replay) == [("halt", "web:laptop", "exchange maintenance")]


def test_wrong_tokens_are_rate_limited_per_address(own_replay: ReplayJournal) -> None:
    with served(own_replay, tokens=TOKENS) as server:
        wrong = [call(server.url, "/api/status", token=f"guess-{n:020d}").status
                 for n in range(5)]
        limited = call(server.url, "/api/status", token=f"guess-{5:020d}")
        # Once limited, even the right token waits: a guesser cannot tell a hit.
        right = call(server.url, "/api/commands", method="POST", body=HALT,
                     token=OPERATOR_SECRET)
    assert wrong == [401] * 5
    assert limited.status == 429
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert right.status == 429
    assert commands_in(own_replay) == []


def test_a_public_bind_without_tokens_exits_2_with_one_line(replay: ReplayJournal) -> None:
    done = python_main("dashboard", "--mode", "replay", "--host", "0.0.0.0", "--port", "0",
                       env=replay.env, timeout=60)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1
    assert "TRADINGBOT_DASHBOARD_TOKENS" in done.stderr
    assert done.stdout == ""


def test_a_malformed_token_is_named_and_its_secret_never_shown(replay: ReplayJournal) -> None:
    secret = "short"  # noqa: S105 - a test token
    env = {**replay.env, "TRADINGBOT_DASHBOARD_TOKENS": f"{TOKENS},tablet:admin:{secret}x"}
    done = python_main("dashboard", "--mode", "replay", "--port", "0", env=env, timeout=60)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1
    assert "'tablet'" in done.stderr
    assert "role" in done.stderr
    for shown in (secret, OPERATOR_SECRET, VIEWER_SECRET):
        assert shown not in done.stderr + done.stdout


def test_no_journal_is_one_line_before_serving(tmp_path: Path) -> None:
    done = python_main("dashboard", env=base_env(tmp_path), timeout=60)
    assert done.returncode == 2
    assert "no journal at" in done.stderr


def test_a_loopback_dashboard_answers_only_to_loopback_names(replay: ReplayJournal) -> None:
    with served(replay) as server:
        port = server.port
        rebound = call(server.url, "/api/status", headers={"Host": f"evil.example:{port}"})
        named = call(server.url, "/api/status", headers={"Host": f"localhost:{port}"})
    assert (rebound.status, named.status) == (421, 200)


def test_a_busy_port_is_a_config_error(replay: ReplayJournal) -> None:
    with served(replay) as server, pytest.raises(ConfigError, match="cannot listen"), \
            dashboard_server(replay.env, mode="replay", journal_path=replay.journal,
                             host="127.0.0.1", port=server.port):
        pass


def test_nothing_comes_from_another_origin(replay: ReplayJournal) -> None:
    with served(replay) as server:
        page = call(server.url, "/")
        assets = [call(server.url, p) for p in (
            "/static/dashboard.js", "/static/dashboard.css", "/docs", "/static/docs.js",
            "/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css")]
        assert call(server.url, "/openapi.json").body["paths"]["/api/commands"]["post"]
        assert call(server.url, "/redoc").status == 404  # ReDoc's page would load a CDN
    assert page.status == 200
    assert [a.status for a in assets] == [200] * 6
    assert "default-src 'self'" in page.headers["content-security-policy"]
    # Our own pages, scripts and styles (Swagger UI's vendored bundle is checked in a browser:
    # the CSP blocks anything it would load from elsewhere, and the console must stay clean).
    for text in (page.body, *(a.body for a in assets[:4])):
        assert not re.search(r"(src|href)=\"(?!/)", text)
        assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", text)
    packaged = resources.files("remote.dashboard").joinpath("static", "index.html")
    assert packaged.read_text() == page.body
