"""What the dashboard tests share: a replay journal made by the CLI, a served dashboard, and
a plain HTTP client (urllib: what a script on the laptop would use). No tests here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from core.paths import journal_path
from remote.dashboard.server import Served, dashboard_server
from tests.conftest import REPO_ROOT

# 1,900 synthetic hourly bars end with a position open and its stop resting (seed 7).
DEMO_BARS = 1900
OPERATOR_SECRET = "op-secret-0123456789abcdef"  # noqa: S105 - a test token
VIEWER_SECRET = "view-secret-0123456789abcdef"  # noqa: S105 - a test token
TOKENS = f"laptop:operator:{OPERATOR_SECRET},phone:viewer:{VIEWER_SECRET}"


@dataclass(frozen=True, slots=True)
class ReplayJournal:
    """A finished replay's state directory, its environment and its journal."""

    env: dict[str, str]
    journal: Path
    data: Path


@dataclass(frozen=True, slots=True)
class Answer:
    """One HTTP answer: status, headers and the decoded JSON body (or text)."""

    status: int
    headers: Mapping[str, str]
    body: Any


def python_main(*args: str, env: Mapping[str, str], timeout: float = 120.0,
                ) -> subprocess.CompletedProcess[str]:
    """``python main.py ARGS`` in a child process with exactly ``env`` (plus PATH)."""
    return subprocess.run(  # noqa: S603 - fixed argv: this interpreter and main.py
        [sys.executable, "main.py", *args], cwd=REPO_ROOT, env=dict(env), capture_output=True,
        text=True, timeout=timeout, check=False)


def base_env(state: Path) -> dict[str, str]:
    """A clean environment on the state directory ``state``: no tokens, no Telegram."""
    keep = ("PATH", "HOME", "LANG", "NUMBA_CACHE_DIR", "PYTHONPATH", "TMPDIR")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env["TRADINGBOT_STATE_DIR"] = str(state)
    return env


def make_replay(state: Path, *, bars: int = DEMO_BARS) -> ReplayJournal:
    """demo-data then ``run --replay --speed max``: a real replay journal under ``state``."""
    env = base_env(state)
    data = state / "SYNTHUSDT_1h_demo.csv"
    for argv in (["demo-data", "--bars", str(bars), "--out", str(data)],
                 ["run", "--replay", str(data), "--speed", "max"]):
        done = python_main(*argv, env=env)
        assert done.returncode == 0, done.stderr
    return ReplayJournal(env, journal_path(env, "replay"), data)


@pytest.fixture(scope="module")
def replay(tmp_path_factory: pytest.TempPathFactory) -> ReplayJournal:
    """One finished replay journal per test module."""
    return make_replay(tmp_path_factory.mktemp("state"))


@contextmanager
def served(journal: ReplayJournal, *, tokens: str = "", host: str = "127.0.0.1",
           ) -> Iterator[Served]:
    """The dashboard over ``journal`` on a free port, in this process, for the block."""
    env = dict(journal.env)
    if tokens:
        env["TRADINGBOT_DASHBOARD_TOKENS"] = tokens
    with dashboard_server(env, mode="replay", journal_path=journal.journal, host=host,
                          port=0) as server:
        yield server


def call(url: str, path: str, *, method: str = "GET", token: str | None = None,
         body: object = None, headers: Mapping[str, str] | None = None) -> Answer:
    """One request to the dashboard at ``url``; never raises for an HTTP error status."""
    sent = dict(headers or {})
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        sent["Content-Type"] = "application/json"
    request = urllib.request.Request(  # noqa: S310 - the test's own http://127.0.0.1 server
        url.rstrip("/") + path, data=data, method=method, headers=sent)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return _answer(response.status, response.headers, response.read())
    except urllib.error.HTTPError as e:
        return _answer(e.code, e.headers, e.read())


def _answer(status: int, headers: Any, raw: bytes) -> Answer:
    text = raw.decode("utf-8")
    try:
        body = json.loads(text)
    except ValueError:
        body = text
    return Answer(status, {k.lower(): v for k, v in headers.items()}, body)


def status_json(journal: ReplayJournal) -> dict[str, Any]:
    """``python main.py status --mode replay --json``, parsed."""
    done = python_main("status", "--mode", "replay", "--json", "--last", "20", env=journal.env)
    assert done.returncode == 0, done.stderr
    document: dict[str, Any] = json.loads(done.stdout)
    return document
