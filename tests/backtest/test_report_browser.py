"""The backtest report opened in a real browser: Debian's headless Chromium driven by Selenium.

Asserts what a trader sees on a 1366x768 screen: the verdict above the fold, every plotly chart
drawn, a trade's hover details, the trades table sorting on a header click, and a console with
no errors. Skipped when Chromium, chromedriver or selenium is missing, unless CI asks for every
test (TRADINGBOT_REQUIRE_SHARED_DATA, as .ci/run sets; .ci/run installs them).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backtest.report_page import write_backtest_report
from tests.backtest.report_fixture import sample_page
from tests.browser import chromium

LOAD_TIMEOUT_S = 60.0


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A headless Chromium at 1366x768 with a new empty profile, logging the console."""
    with chromium(tmp_path_factory.mktemp("profile"), purpose="the report's browser test",
                  load_timeout_s=LOAD_TIMEOUT_S) as driver:
        yield driver


@pytest.fixture(scope="module")
def opened(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The sample report loaded, every chart drawn (plotly renders on load)."""
    from selenium.webdriver.support.ui import WebDriverWait

    path = write_backtest_report(tmp_path_factory.mktemp("report") / "r.html", sample_page())
    browser.get(Path(path).as_uri())
    WebDriverWait(browser, LOAD_TIMEOUT_S).until(lambda d: d.execute_script(
        "var g = document.querySelectorAll('.plotly-graph-div');"
        "return g.length > 0 && Array.prototype.every.call(g, function (d) {"
        "  return d._fullLayout && d.querySelector('svg.main-svg'); });"))
    return browser


def test_the_verdict_is_visible_above_the_fold(opened: Any) -> None:
    verdict = opened.find_element("id", "verdict")
    assert verdict.is_displayed()
    assert "FAIL" in verdict.text
    assert "gates failed" in verdict.text
    bottom, height = opened.execute_script(
        "return [arguments[0].getBoundingClientRect().bottom, window.innerHeight];", verdict)
    assert bottom <= height  # whole, without scrolling, on a 1366x768 screen
    first_chart_top = opened.execute_script(
        "return document.getElementById('figure-0').getBoundingClientRect().top;")
    assert first_chart_top < height  # and the equity chart starts above the fold too


def test_every_chart_renders(opened: Any) -> None:
    charts = opened.execute_script(
        "return Array.prototype.map.call(document.querySelectorAll('.plotly-graph-div'),"
        " function (d) { var box = d.getBoundingClientRect();"
        "  return [d.id, d.querySelectorAll('svg.main-svg').length,"
        "          d.querySelectorAll('.scatterlayer .trace, .cartesianlayer .trace').length,"
        "          box.width, box.height]; });")
    assert [c[0] for c in charts] == ["figure-0", "figure-1", "figure-2"]
    for name, svgs, traces, width, height in charts:
        assert svgs >= 1, name
        assert traces >= 1, name
        assert width > 600, name
        assert height > 200, name
    candles = opened.execute_script(
        "return document.querySelectorAll('#figure-1 .boxlayer .trace path').length;")
    assert candles > 0


def test_a_trade_shows_its_details_on_hover(opened: Any) -> None:
    text = opened.execute_script(
        "var g = document.getElementById('figure-1');"
        "var k = g.data.findIndex(function (t) { return t.name === 'entry'; });"
        "Plotly.Fx.hover(g, [{curveNumber: k, pointNumber: 0}]);"
        "var h = g.querySelector('.hoverlayer .hovertext');"
        "return h ? h.textContent : null;")
    assert text is not None
    for part in ("trade 1", "P&L", "size", "conviction", "exit:"):
        assert part in text, text


def test_the_trades_table_renders_and_sorts_on_a_header_click(opened: Any) -> None:
    table = opened.find_element("id", "trades")
    rows = table.find_elements("css selector", "tbody tr")
    assert len(rows) == 200
    header = next(th for th in table.find_elements("css selector", "thead th")
                  if th.text.startswith("P&L"))
    column = opened.execute_script("return arguments[0].cellIndex;", header)
    read = ("var col = arguments[1];"
            "return Array.prototype.map.call(arguments[0].tBodies[0].rows,"
            " function (r) { return parseFloat(r.cells[col].dataset.v); });")
    opened.execute_script("arguments[0].scrollIntoView();", header)
    header.click()
    ascending = opened.execute_script(read, table, column)
    assert ascending == sorted(ascending)
    assert header.get_attribute("aria-sort") == "ascending"
    header.click()
    descending = opened.execute_script(read, table, column)
    assert descending == sorted(ascending, reverse=True)


def test_the_console_has_no_errors(opened: Any) -> None:
    logs = opened.get_log("browser")
    errors = [e for e in logs if e.get("level") in ("SEVERE", "ERROR")]
    assert errors == [], errors


def test_the_walkforward_page_draws_its_charts(browser: Any, tmp_path: Path) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    from tests.backtest.test_walkforward_report import edge_page

    browser.get(edge_page(tmp_path).as_uri())
    WebDriverWait(browser, LOAD_TIMEOUT_S).until(lambda d: d.execute_script(
        "var g = document.querySelectorAll('.plotly-graph-div');"
        "return g.length > 0 && Array.prototype.every.call(g, function (d) {"
        "  return d._fullLayout && d.querySelector('svg.main-svg'); });"))
    charts = browser.execute_script(
        "return Array.prototype.map.call(document.querySelectorAll('.plotly-graph-div'),"
        " function (d) { return [d.id, d.querySelectorAll('.scatterlayer .trace').length,"
        "  d.getBoundingClientRect().width, d.data.map(function (t) { return t.name; })]; });")
    assert [c[0] for c in charts] == ["figure-0", "figure-1"]  # equity, parameter path
    for name, traces, width, _names in charts:
        assert traces >= 1, name
        assert width > 600, name
    assert {"equity, out of sample", "buy & hold", "drawdown"} <= set(charts[0][3])
    assert browser.find_element("id", "verdict").is_displayed()
    rows = browser.find_elements("css selector", "#windows tbody tr")
    assert len(rows) == 17
    errors = [e for e in browser.get_log("browser") if e.get("level") in ("SEVERE", "ERROR")]
    assert errors == [], errors
