"""The basket's HTML page: written by ``backtest --data A --data B --report``, self-contained,
every symbol, its contribution, its trades on its price, the exposure against the gross cap, the
refusals by reason; and a bounded size for three years of minute bars."""

from __future__ import annotations

import contextlib
import html
import io
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from backtest.basket_report import (
    EXPOSURE_POINTS,
    PRICE_POINTS,
    account_figure,
    exposure_figure,
    marked_trades,
    price_figure,
    write_basket_report,
)
from backtest.cli_basket import basket_document
from backtest.cli_data import Bars
from backtest.engine import BacktestConfig, Sizing
from backtest.gates import GateSettings, evaluate_gates
from backtest.portfolio import PortfolioResult, run_portfolio
from backtest.report_charts import BAR_POINTS
from data import synthetic_ohlcv
from main import main
from risk.config import RiskConfig
from signals.strategy_loader import load_strategy
from tests.backtest.test_cli_basket import basket, run

SYMBOLS = ["BTC/USDT", "ETH/USDT", "DOGE/USDT"]
CAP = ["--max-gross-exposure-pct", "0.006"]  # two 0.5% positions at most: basket refusals
FIXED = {"provider": "fixed", "conviction": 0.5}
CYCLE = "tests/backtest/cycle_strategy.py:CycleTrader"


def _trace(figure: Any, name: str) -> Any:
    return next(t for t in figure.data if t.name == name)


def _js(text: str) -> str:
    # A string as plotly writes it into the page: JSON with "/" as \u002f.
    return json.dumps(text).replace("/", "\\u002f")


def _table(page: str, div: str) -> list[list[str]]:
    found = re.search(rf'<div id="{div}"><table>(.*?)</table>', page)
    assert found is not None
    return [re.findall(r"<t[hd]>(.*?)</t[hd]>", row)
            for row in re.findall(r"<tr>(.*?)</tr>", found[1])]


@pytest.fixture(scope="module")
def cli_page(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    """The CLI's --json document and page for the three-symbol basket under a gross cap."""
    folder = tmp_path_factory.mktemp("basket")
    args = [a for f in basket(folder) for a in ("--data", f)]
    report = folder / "basket.html"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["backtest", *args, *CAP, "--json", "--report", str(report)], environ={})
    assert code in (0, 3)
    doc = json.loads(out.getvalue())
    assert doc["files"]["report"] == str(report)
    assert [p.name for p in folder.iterdir() if p.suffix == ".html"] == ["basket.html"]
    return doc, report.read_text(encoding="utf-8")


def test_the_cli_writes_a_self_contained_page_of_the_basket(
    cli_page: tuple[dict[str, Any], str],
) -> None:
    doc, page = cli_page
    assert not re.search(r"<(script|link)[^>]*(src|href)=[\"']?(https?:)?//", page)
    assert page.count("Plotly.newPlot") == 4  # account, contribution, prices, exposure
    assert "Basket backtest BTC/USDT, ETH/USDT, DOGE/USDT 1h, one account" in page
    assert "Trading order: 1. BTC/USDT from" in page
    assert page.index("2. ETH/USDT") < page.index("3. DOGE/USDT")
    assert 'class="verdict ' in page
    for gate in doc["gates"]:  # each gate's chip: "Sharpe Ratio -0.18 (needs > 1)"
        rule = re.fullmatch(r"(.+?) ([<>]=? \S+)", gate["rule"])
        assert rule is not None
        assert f"{html.escape(rule[1])} " in page
        assert f"(needs {html.escape(rule[2])})" in page
    for symbol in SYMBOLS:  # a price panel each, titled with its symbol
        assert f'"text":{_js(symbol)}' in page
    for name in ("equity", "drawdown", "entry", "gross", *SYMBOLS):  # symbols: exposure lines
        assert f'"name":{_js(name)}' in page
    assert "max gross exposure 0.6%" in page  # the cap, drawn on the exposure chart
    assert "Total Return [%]" in page  # the account's figures
    assert "gross exposure capped at 0.6% of equity" in page  # in the settings too


def test_the_contribution_table_is_the_documents(cli_page: tuple[dict[str, Any], str]) -> None:
    doc, page = cli_page
    header, *rows, account = _table(page, "contribution")
    assert header[:3] == ["#", "symbol", "trades"]
    assert [r[1] for r in rows] == SYMBOLS
    for row in rows:
        s = doc["symbols"][row[1]]
        assert row[2:8] == [f"{s['trades']:,}", f"{s['closed_trades']:,}", f"{s['fees']:,.2f}",
                            f"{s['pnl']:+,.2f}", f"{s['contribution_pct']:+.3f}",
                            f"{s['max_exposure_pct']:.2f}"]
    assert account[2] == f"{doc['stats']['total_trades']:,}"
    assert account[7] == f"{doc['max_gross_exposure_pct']:.2f}"


def test_the_refusals_are_counted_by_reason_and_symbol(
    cli_page: tuple[dict[str, Any], str],
) -> None:
    doc, page = cli_page
    header, *rows = _table(page, "refusals")
    assert header == ["reason", "refused because", "entries", *SYMBOLS]
    by_reason = {r[0]: r for r in rows}
    assert doc["rejections"]["gross_exposure"] > 0
    assert {"max_positions", "gross_exposure", "cash"} <= set(by_reason)  # always listed
    assert set(by_reason) == {r for r, n in doc["rejections"].items() if n} | {
        "max_positions", "gross_exposure", "cash"}
    for reason, row in by_reason.items():
        total = doc["rejections"][reason]
        assert row[2] == f"{total:,}"
        assert sum(int(v.replace(",", "")) for v in row[3:]) == total


def test_the_cli_refuses_an_unwritable_report_before_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    args = [a for f in basket(tmp_path) for a in ("--data", f)]
    target = tmp_path / "missing" / "deeper" / "r.html"
    (tmp_path / "missing").write_text("a file, not a folder")
    code, out, err = run([*args, "--report", str(target)], capsys)
    assert code == 2
    assert "--report" in err
    assert out == ""  # refused before the run: no tables


@pytest.fixture(scope="module")
def small() -> PortfolioResult:
    frames = {s: synthetic_ohlcv(600, seed=k, start="2024-01-01", timeframe="1h",
                                 volatility=0.01) for k, s in enumerate(SYMBOLS)}
    # Three positions of 0.4 x conviction 0.5 at once; a 1% daily loss limit pauses the account.
    risk = RiskConfig(max_position_pct=0.5, max_gross_exposure_pct=0.7, daily_loss_limit_pct=0.01)
    return run_portfolio(frames, BacktestConfig(strategy=load_strategy(CYCLE), risk=risk,
                                                sizing=Sizing.FIXED, default_position_pct=0.4))


def test_the_charts_draw_the_account_each_trade_and_the_exposure(small: PortfolioResult) -> None:
    account = account_figure(small)
    np.testing.assert_array_equal(_trace(account, "equity").y, small.equity.to_numpy())
    np.testing.assert_allclose(_trace(account, "drawdown").y, small.drawdown.to_numpy() * 100)
    assert "daily_pause" in set(small.halts()["kind"])
    paused = [t for t in account.data if t.name == "paused: daily loss limit"]
    assert len(paused) == 2  # shaded on the equity and on the drawdown
    prices = price_figure(small)
    entries = [t for t in prices.data if t.name == "entry"]
    assert [len(t.x) for t in entries] == [len(small.trades(s)) for s in SYMBOLS]
    assert sum(t.showlegend for t in prices.data if t.name == "entry") == 1
    exits = [t for t in prices.data if t.name in ("exit, won", "exit, lost")]
    assert sum(len(t.x) for t in exits) == len(small.trades())
    exposure = exposure_figure(small, 0.7)
    gross = small.exposure()["gross"].to_numpy() * 100.0
    np.testing.assert_allclose(_trace(exposure, "gross").y, gross)
    assert gross.max() > 40.0  # two positions at once: the gross is their sum
    assert [s.y0 for s in exposure.layout.shapes] == [pytest.approx(70.0)]
    assert not exposure_figure(small, 0.0).layout.shapes  # no cap, no line


def test_a_symbol_with_many_trades_marks_its_largest() -> None:
    trades = pd.DataFrame({"pnl": [1.0, -9.0, 3.0, 0.5, 7.0]})
    assert list(marked_trades(trades, 3)["pnl"]) == [-9.0, 3.0, 7.0]  # in their order
    assert marked_trades(trades, 5) is trades


def _minute_basket() -> tuple[PortfolioResult, dict[str, Any], Any]:
    """A year of minute bars for each of three symbols, BTC's with a one-bar crash; the cycle
    trader trades about once a day each."""
    frames = {s: synthetic_ohlcv(525_600, seed=k, start="2024-01-01", timeframe="1m",
                                 volatility=0.001) for k, s in enumerate(SYMBOLS)}
    for column in ("low", "close"):  # BTC's one-bar crash, to be kept on its chart
        values = frames["BTC/USDT"][column].to_numpy(np.float64, copy=True)
        values[300_000] *= 0.5
        frames["BTC/USDT"][column] = values
    config = BacktestConfig(strategy=load_strategy(CYCLE), sizing=Sizing.FIXED,
                            default_position_pct=0.3,
                            risk=RiskConfig(max_position_pct=0.5, max_gross_exposure_pct=0.5,
                                            daily_loss_limit_pct=0.2, max_drawdown_pct=0.5))
    result = run_portfolio(frames, config)
    stats = result.stats("1m")
    gates = evaluate_gates(stats, GateSettings())
    bars = [Bars(frames[s], s, "1m", f"{s.replace('/', '')}_1m.parquet") for s in SYMBOLS]
    return result, basket_document(result, stats, gates, bars, {}), stats


def test_a_year_of_minute_bars_for_three_symbols_stays_under_6_mb(tmp_path: Path) -> None:
    from plotly.offline import get_plotlyjs  # type: ignore[import-untyped]

    result, doc, stats = _minute_basket()
    assert len(result.index) == 525_600
    assert len(result.trades()) > 900
    account = account_figure(result)
    assert len(_trace(account, "drawdown").y) <= BAR_POINTS
    assert min(_trace(account, "drawdown").y) == pytest.approx(result.drawdown.min() * 100)
    prices = price_figure(result)
    lows = [t for t in prices.data if t.name.endswith(" close")]
    assert all(len(t.y) <= PRICE_POINTS for t in lows)
    assert min(lows[0].y) == result.bars["BTC/USDT"]["close"].min()  # the one-bar crash kept
    exposure = exposure_figure(result, 0.5)
    assert all(len(t.y) <= EXPOSURE_POINTS for t in exposure.data)
    assert max(_trace(exposure, "gross").y) == pytest.approx(
        result.exposure()["gross"].max() * 100)
    path = write_basket_report(tmp_path / "b.html", result, doc, stats=stats, scorer=FIXED)
    page = path.read_text(encoding="utf-8")
    assert "the close&#x27;s low and high per" in page
    assert len(page) - len(get_plotlyjs()) < 1_000_000
    assert len(page) < 6_000_000
