"""The dashboard in a real browser: Debian's headless Chromium driven by Selenium, against a
replay journal made by the CLI. What the page shows must be what ``status --json`` says, and
a halt sent from the page must land in the journal once, as ``web:<token name>``.

Skipped when Chromium, chromedriver or selenium is missing, unless CI asks for every test
(TRADINGBOT_REQUIRE_SHARED_DATA), as the report's browser test is.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from journal.reader import JournalReader
from remote.dashboard.server import Served
from tests.browser import chromium
from tests.remote.test_dashboard_support import (
    OPERATOR_SECRET,
    TOKENS,
    ReplayJournal,
    replay,
    served,
    status_json,
)

__all__ = ["replay"]  # the fixture, imported for the tests below
WAIT_S = 30.0
SECTIONS = ("account-section", "equity-section", "positions-section", "decisions-section",
            "halts-section", "commands-section", "llm-section", "controls-section")
REASON = "exchange maintenance at 14:00"


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A headless Chromium at 1366x768 with a new empty profile, logging the console."""
    with chromium(tmp_path_factory.mktemp("profile"), purpose="the dashboard's browser test",
                  load_timeout_s=WAIT_S) as driver:
        yield driver


@pytest.fixture(scope="module")
def server(replay: ReplayJournal) -> Iterator[Served]:
    """The dashboard over the replay journal, with a viewer and an operator token."""
    with served(replay, tokens=TOKENS) as running:
        yield running


@pytest.fixture(scope="module")
def page(browser: Any, server: Served) -> Any:
    """The page opened without a token (refused, said on the page), then with the operator's
    token typed in and drawn at least once."""
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(server.url)
    WebDriverWait(browser, WAIT_S).until(
        lambda d: d.find_element("id", "notice").is_displayed())
    assert "needs a token" in browser.find_element("id", "notice").text
    browser.get_log("browser")  # the refused reads' 401s: expected, not errors of the page
    browser.find_element("id", "token").send_keys(OPERATOR_SECRET)
    browser.find_element("id", "token-save").click()
    WebDriverWait(browser, WAIT_S).until(lambda d: d.execute_script(
        "return Number(document.body.dataset.refreshed || 0) >= 1 && "
        "document.getElementById('equity-chart').dataset.points !== undefined;"))
    return browser


def test_every_section_renders(page: Any) -> None:
    for section in SECTIONS:
        assert page.find_element("id", section).is_displayed(), section
    assert not page.find_element("id", "notice").is_displayed()
    assert page.find_element("id", "token").get_attribute("value") == ""  # not left in a field
    stored = page.execute_script(
        "return sessionStorage.getItem('tradingbot.dashboard.token');")
    assert stored == OPERATOR_SECRET  # this tab only


def test_the_numbers_are_status_jsons(page: Any, replay: ReplayJournal) -> None:
    expected = status_json(replay)
    account = expected["account"]
    for field, spec in (("equity", ",.2f"), ("peak", ",.2f"), ("daily_pnl", "+,.2f")):
        shown = page.find_element("id", f"account-{field.replace('_', '-')}")
        assert json.loads(shown.get_attribute("data-v")) == account[field], field  # exact
        assert shown.text == format(Decimal(account[field]), spec), field  # as the CLI
    drawdown = page.find_element("id", "account-drawdown")
    assert float(drawdown.get_attribute("data-v")) == account["drawdown"]
    assert drawdown.text == f"{account['drawdown'] * 100:.2f}%"
    assert page.find_element("id", "mode").text == "replay"
    positions = _rows(page, "positions")
    assert [r[:4] for r in positions] == [
        [p["symbol"], p["amount"], p["entry_price"], p["stop"]] for p in expected["positions"]]
    assert positions, "the replay ends with a position open: its stop must show"
    decisions = _rows(page, "decisions")
    assert len(decisions) == len(expected["decisions"]) == 20
    assert [r[-1] for r in decisions] == [d["reason"] for d in expected["decisions"]]


def test_the_equity_and_drawdown_charts_draw_every_mark(page: Any, replay: ReplayJournal,
                                                        ) -> None:
    with JournalReader(replay.journal) as reader:
        marks = len(reader.equity_curve())
    drawn = page.execute_script(
        "var s = document.querySelector('#equity-chart polyline');"
        "var d = document.querySelector('#drawdown-chart polygon.drawdown');"
        "return [s.points.numberOfItems, d.points.numberOfItems,"
        " s.getBoundingClientRect().width];")
    assert drawn[0] == marks <= 2000
    assert drawn[1] == marks + 2  # the area closes on the zero line
    assert drawn[2] > 600


def test_a_halt_from_the_page_lands_in_the_journal_once(page: Any, replay: ReplayJournal,
                                                         ) -> None:
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    with JournalReader(replay.journal) as reader:
        before = len(reader.recent_commands(100))
    page.find_element("id", "reason").send_keys(REASON)
    page.find_element("css selector", "button[data-kind='halt']").click()
    # alert_is_present: a wait on switch_to.alert itself fails at once if the dialog is late.
    WebDriverWait(page, WAIT_S).until(expected_conditions.alert_is_present())
    assert REASON in page.switch_to.alert.text
    page.switch_to.alert.accept()
    result = page.find_element("id", "command-result")
    WebDriverWait(page, WAIT_S).until(lambda d: result.text.startswith("Queued"))
    assert "web:laptop" in result.text
    with JournalReader(replay.journal) as reader:
        commands = reader.recent_commands(100)
    assert len(commands) == before + 1
    assert (commands[0].kind, commands[0].actor, commands[0].reason) == \
        ("halt", "web:laptop", REASON)
    WebDriverWait(page, WAIT_S).until(lambda d: _rows(d, "commands")[0][0] == str(
        commands[0].id))
    assert _rows(page, "commands")[0][2:6] == ["halt", "", "web:laptop", REASON]


def test_the_console_has_no_errors(page: Any) -> None:
    errors = [e for e in page.get_log("browser") if e.get("level") in ("SEVERE", "ERROR")]
    assert errors == [], errors


def _rows(page: Any, table: str) -> list[list[str]]:
    rows: list[list[str]] = page.execute_script(
        "return Array.prototype.map.call("
        " document.querySelectorAll('#' + arguments[0] + ' tbody tr:not(.empty)'),"
        " function (r) { return Array.prototype.map.call(r.cells,"
        "  function (c) { return c.textContent; }); });", table)
    return rows


def test_the_api_page_draws_fastapis_openapi_document_offline(browser: Any, server: Served
                                                              ) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(server.url.rstrip("/") + "/docs")
    WebDriverWait(browser, WAIT_S).until(lambda d: d.execute_script(
        "var t = document.querySelector('.swagger-ui .info .title');"
        "return t !== null && t.textContent.indexOf('tradingbot dashboard') === 0;"))
    paths = browser.execute_script(
        "return Array.prototype.map.call(document.querySelectorAll('.opblock-summary-path'),"
        " function (e) { return e.textContent.replace(/\\u200b/g, ''); });")
    assert {"/api/status", "/api/commands"} <= set(paths)
    errors = [e for e in browser.get_log("browser") if e.get("level") in ("SEVERE", "ERROR")]
    assert errors == [], errors
