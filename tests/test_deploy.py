"""Deploy files: the systemd unit's directives, the Dockerfile's user and what it may copy."""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path, PurePosixPath

import pytest

from main import build_parser

REPO = Path(__file__).resolve().parent.parent
UNIT = REPO / "deploy" / "tradingbot.service"
DOCKERFILE = REPO / "Dockerfile"
SECRET_NAME = re.compile(r"KEY|SECRET|TOKEN|PASSWORD|PASSPHRASE", re.IGNORECASE)

Unit = dict[str, dict[str, list[str]]]


def parse_unit(text: str) -> Unit:
    """Sections -> directive -> every value (systemd allows repeats, e.g. Environment=)."""
    unit: Unit = {}
    section: dict[str, list[str]] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = unit.setdefault(line[1:-1], {})
            continue
        key, sep, value = line.partition("=")
        assert sep, f"not a directive: {raw!r}"
        section.setdefault(key.strip(), []).append(value.strip())
    return unit


@pytest.fixture(scope="module")
def service() -> dict[str, list[str]]:
    return parse_unit(UNIT.read_text(encoding="utf-8"))["Service"]


def environment(service: dict[str, list[str]]) -> dict[str, str]:
    pairs = (v.partition("=") for line in service.get("Environment", []) for v in line.split())
    return {name: value for name, _, value in pairs}


@pytest.mark.parametrize(("key", "value"), [
    ("Restart", "on-failure"),
    ("RestartSec", "30"),
    ("EnvironmentFile", "/etc/tradingbot/env"),
    ("User", "tradingbot"),
    ("Group", "tradingbot"),
    ("WorkingDirectory", "/opt/tradingbot"),
    ("ExecStart", "/opt/tradingbot/.venv/bin/python main.py run --paper"),
    ("NoNewPrivileges", "yes"),
    ("ProtectSystem", "strict"),
    ("ProtectHome", "yes"),
    ("PrivateTmp", "yes"),
    ("UMask", "0077"),
    ("KillSignal", "SIGTERM"),
    ("TimeoutStopSec", "60"),
])
def test_the_unit_sets_each_required_directive(
    service: dict[str, list[str]], key: str, value: str
) -> None:
    assert service.get(key) == [value]


def test_the_bot_runs_as_a_user_that_is_not_root(service: dict[str, list[str]]) -> None:
    assert service["User"][0] not in ("root", "0")
    assert "DynamicUser" not in service  # a fixed user owns the journal across restarts


def test_every_path_the_bot_writes_is_writable_in_the_sandbox(
    service: dict[str, list[str]],
) -> None:
    writable = [PurePosixPath(p) for line in service["ReadWritePaths"] for p in line.split()]
    assert PurePosixPath("/var/lib/tradingbot") in writable
    env = environment(service)
    assert env["TRADINGBOT_STATE_DIR"] == "/var/lib/tradingbot"
    for name in ("TRADINGBOT_STATE_DIR", "TRADINGBOT_CACHE_DIR", "SCORER_CACHE_PATH",
                 "NUMBA_CACHE_DIR"):
        path = PurePosixPath(env[name])
        assert any(path == w or w in path.parents for w in writable), name


def test_the_unit_holds_no_secret_and_keeps_numba_working(
    service: dict[str, list[str]],
) -> None:
    assert not [n for n in environment(service) if SECRET_NAME.search(n)]
    # numba's JIT maps code pages writable and executable; this switch would kill the bot.
    assert service.get("MemoryDenyWriteExecute", ["no"]) == ["no"]


def test_the_unit_starts_a_command_main_py_accepts(service: dict[str, list[str]]) -> None:
    python, script, *argv = service["ExecStart"][0].split()
    assert (python, script) == ("/opt/tradingbot/.venv/bin/python", "main.py")
    args = build_parser().parse_args(argv)
    assert args.command == "run"


def test_the_unit_is_enabled_for_boot() -> None:
    unit = parse_unit(UNIT.read_text(encoding="utf-8"))
    assert unit["Install"]["WantedBy"] == ["multi-user.target"]
    assert "network-online.target" in unit["Unit"]["After"][0]


def test_systemd_analyze_verifies_the_unit(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    # verify fails on a missing ExecStart binary; /opt/tradingbot/.venv exists only on the VPS.
    text = UNIT.read_text(encoding="utf-8").replace(
        "/opt/tradingbot/.venv/bin/python", sys.executable)
    copy = tmp_path / "tradingbot.service"
    copy.write_text(text, encoding="utf-8")
    done = subprocess.run(  # noqa: S603 - a fixed local tool on our own file
        [analyze, "verify", str(copy)], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "tradingbot.service" not in done.stderr, done.stderr  # no warning about our unit


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    lines = (ln.strip() for ln in text.splitlines())
    return [(i.upper(), rest.strip()) for i, _, rest in
            (ln.partition(" ") for ln in lines if ln and not ln.startswith("#"))]


def test_the_image_runs_as_a_user_that_is_not_root() -> None:
    steps = dockerfile()
    assert steps[0] == ("FROM", "python:3.11-slim")
    users = [arg for instruction, arg in steps if instruction == "USER"]
    assert users
    assert users[-1].split(":")[0] not in ("root", "0")
    (cmd,) = [arg for instruction, arg in steps if instruction == "CMD"]
    assert json.loads(cmd) == ["python", "main.py", "run", "--paper"]
    (volume,) = [arg for instruction, arg in steps if instruction == "VOLUME"]
    assert json.loads(volume) == ["/var/lib/tradingbot"]
    env = " ".join(arg for instruction, arg in steps if instruction == "ENV")
    assert "TRADINGBOT_STATE_DIR=/var/lib/tradingbot" in env.split()


def test_the_image_bakes_in_no_secret() -> None:
    steps = dockerfile()
    for instruction, arg in steps:
        if instruction in ("COPY", "ADD"):
            assert ".env" not in arg, arg
            assert "state" not in arg, arg
        if instruction in ("ENV", "ARG"):
            names = [w.partition("=")[0] for w in arg.split()]
            assert not [n for n in names if SECRET_NAME.search(n)], arg


def docker_ignored(path: str) -> bool:
    """Whether .dockerignore keeps ``path`` out of the build context, as Docker matches it.

    Patterns are anchored at the context root unless they start with ``**/``; ``*`` does not
    cross ``/``; a match on a directory leaves out everything under it; the last match wins.
    """
    parts = PurePosixPath(path).parts
    ignored = False
    for raw in (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines():
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        keep = pattern.startswith("!")
        pattern = pattern.removeprefix("!").rstrip("/")
        starts = range(len(parts)) if pattern.startswith("**/") else range(1)
        wanted = pattern.removeprefix("**/").split("/")
        if any(_matches(wanted, parts[i:i + len(wanted)]) for i in starts):
            ignored = not keep
    return ignored


def _matches(pattern: list[str], parts: tuple[str, ...]) -> bool:
    return len(parts) == len(pattern) and all(
        fnmatch.fnmatchcase(part, p) for part, p in zip(parts, pattern, strict=True))


@pytest.mark.parametrize("path", [
    ".env", ".env.local", "state/paper/journal.sqlite3", "state/backtest_results.json",
    ".venv/bin/python", "data/cache/binance/BTC_USDT/1h.parquet", ".git/config",
    ".numba_cache/x.nbi", "trading/__pycache__/loop.cpython-311.pyc", "journal.sqlite3-wal",
    "elsewhere/journal.sqlite3", "deploy/.env",
])
def test_the_build_context_leaves_out_secrets_state_and_caches(path: str) -> None:
    assert docker_ignored(path)


@pytest.mark.parametrize("path", ["main.py", "trading/loop.py", "requirements.txt",
                                  ".env.example"])
def test_the_build_context_keeps_the_code(path: str) -> None:
    assert not docker_ignored(path)
