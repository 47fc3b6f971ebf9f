"""`.env.example` lists every variable the code reads from the environment, each with a comment."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import REPO_ROOT

# Testing hooks that users must not set; documented in main.py, deliberately not in .env.example.
HOOKS = {"TRADINGBOT_EXCHANGE_URL", "TELEGRAM_API_URL", "TRADINGBOT_REQUIRE_SHARED_DATA"}


def example_names() -> list[str]:
    text = (REPO_ROOT / ".env.example").read_text()
    # Path settings are listed commented out: an empty value must not override a default
    # (systemd's EnvironmentFile would pass it on as empty).
    return re.findall(r"^(?:# )?([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE)


def names_read_by_code() -> set[str]:
    found: set[str] = set()
    for path in REPO_ROOT.glob("*/**/*.py"):
        if ".venv" in path.parts or "tests" in path.parts or "bench" in path.parts:
            continue
        text = path.read_text()
        found.update(re.findall(r"""["']((?:TRADINGBOT|SCORER|TELEGRAM|BINANCE|LIVE)"""
                                r"""[A-Z0-9_]*)["']""", text))
    # A bare word ("LIVE") or a prefix ("SCORER_") is not a variable name.
    return {n for n in found if "_" in n.strip("_") and not n.endswith("_")}


def test_every_variable_the_code_reads_is_listed() -> None:
    missing = names_read_by_code() - set(example_names()) - HOOKS
    assert not missing, f".env.example lacks {sorted(missing)}"


def test_each_variable_has_a_comment_above_it() -> None:
    lines = (REPO_ROOT / ".env.example").read_text().splitlines()
    for i, line in enumerate(lines):
        if re.match(r"^[A-Z][A-Z0-9_]*=", line):
            above = lines[i - 1] if i else ""
            assert above.startswith("#") or re.match(r"^[A-Z][A-Z0-9_]*=", above), line
    for name in ("TRADINGBOT_STATE_DIR", "TRADINGBOT_CACHE_DIR", "SCORER_CACHE_PATH"):
        assert f"\n# {name}=\n" in "\n".join(lines) + "\n", name


def test_example_values_are_blank_or_harmless(tmp_path: Path) -> None:
    text = (REPO_ROOT / ".env.example").read_text()
    for name in ("BINANCE_API_KEY", "BINANCE_API_SECRET", "ANTHROPIC_API_KEY", "LIVE_TRADING"):
        assert re.search(rf"^{name}=$", text, flags=re.MULTILINE), name
