"""The basket's HTML page: the verdict, the account's equity and drawdown with its halts, each
symbol's share of the result and its trades on its price, each position and the gross as a share
of equity against the basket's cap, the refused entries by reason, the account's figures.

Figures and words come from the ``--json`` document (backtest/cli_basket.basket_document), so
the page, the screen and ``--json`` cannot disagree; the result gives the bar series. Drawn with
the backtest page's helpers and style, plotly.js inlined once (no CDN). Bounded for a year of
minute bars per symbol: the equity, drawdown and prices keep each bucket's lowest and highest
point (``keep_extremes``), the exposure lines each bucket's highest (the risk taken), and each
symbol marks at most MARKED_TRADES trades, its largest by |P&L|, saying so.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from backtest.report import Section, html_table, thin, write_report
from backtest.report_charts import (
    BAR_POINTS,
    CHART_FONT,
    LOSS,
    WIN,
    halt_periods,
    layout,
    line,
    shade,
    times,
)
from backtest.report_page import PAGE_STYLE, verdict_html
from backtest.report_settings import settings_groups
from backtest.report_tables import TABLE_STYLE, SettingsGroup, settings_table
from backtest.stats import BacktestStats, stats_rows
from backtest.walkforward_report import gates_of, keep_extremes

if TYPE_CHECKING:
    from backtest.portfolio import PortfolioResult
    from risk.config import RiskConfig

# A series longer than BAR_POINTS is drawn with these many points (the page's budget for 3
# symbols: ~0.9 MB of data beside the 4.8 MB plotly.js); a shorter one is drawn whole.
PRICE_POINTS = 1_500  # per symbol's small chart
EXPOSURE_POINTS = 2_000  # per exposure line
MARKED_TRADES = 1_000  # per symbol; every trade is in --trades-out
PALETTE = ("#1f6feb", "#bf8700", "#8250df", "#1b7c83", "#bc4c00", "#57606a")
STYLE = "#refusals th:nth-child(2), #refusals td:nth-child(2) { text-align: left; }"
BASKET_REASONS = ("max_positions", "gross_exposure", "cash")  # shown even at 0
REASONS = {
    "drawdown_latch": "the drawdown latch was on",
    "daily_pause": "paused for the day by the daily loss limit",
    "cooldown": "cooling down after losing trades in a row",
    "entry_cap": "the day's entries were used up",
    "conviction": "conviction under the minimum",
    "suppressed": "the scorer suppressed it",
    "size_zero": "half-Kelly sized it at zero",
    "cash": "not enough cash at the open for the entry and its fee",
}


def write_basket_report(path: str | Path, result: PortfolioResult, doc: Mapping[str, Any], *,
                        stats: BacktestStats, scorer: Mapping[str, Any]) -> Path:
    """Write the basket's self-contained page atomically; returns its path."""
    lead = "".join(f'<p class="sub">{html.escape(text)}</p>' for text in _sub_lines(result, doc))
    lead += verdict_html(gates_of(doc), stats, None)
    limit = float(result.config.risk.max_gross_exposure_pct)
    sections: list[Section] = [
        ("Account equity and drawdown", account_figure(result)),
        ("Each symbol's contribution", contribution_table(doc)),
        ("", contribution_figure(doc)),
        (_price_heading(result), price_figure(result)),
        *_marked_note(result),
        (_exposure_heading(result, limit), exposure_figure(result, limit)),
        ("Refused entries by reason", refusals_table(result, doc)),
        ("Account figures and settings", _pair(
            html_table(stats_rows(stats), ["Figure", "Value"]),
            settings_table(settings(result, doc, scorer)))),
    ]
    title = f"Basket backtest {', '.join(doc['basket'])} {doc['timeframe']}, one account"
    return write_report(path, title, sections, lead=lead,
                        style=PAGE_STYLE + TABLE_STYLE + STYLE)


def account_figure(result: PortfolioResult) -> Any:
    """The account's equity, its drawdown under it, halted and paused stretches shaded."""
    from plotly.subplots import make_subplots  # type: ignore[import-untyped]

    value = keep_extremes(result.equity)
    deepest = keep_extremes(result.drawdown * 100.0)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.05,
                        row_heights=[0.68, 0.32])
    fig.add_trace(line(value, "equity", "#1f6feb", width=1.6), row=1, col=1)
    fig.add_trace(line(deepest, "drawdown", LOSS, fill="tozeroy",
                       fillcolor="rgba(207, 34, 46, 0.22)"), row=2, col=1)
    periods = halt_periods(result.halts(), result.index[-1])
    shade(fig, periods, row=1, low=float(value.min()), high=float(value.max()), legend=True)
    shade(fig, periods, row=2, low=min(float(deepest.min()), -0.01), high=0.0, legend=False)
    fig.update_yaxes(title_text="equity (quote)", row=1, col=1)
    fig.update_yaxes(title_text="drawdown", ticksuffix="%", row=2, col=1)
    return layout(fig, height=440, x_title_row=2, span=result.index)


def contribution_table(doc: Mapping[str, Any]) -> str:
    """One row per symbol in trading order, then the account's."""
    header = ["#", "symbol", "trades", "closed", "fees", "P&L", "of result %", "max exposure %"]
    per = doc["symbols"]
    rows: list[list[object]] = [
        [k, symbol, f"{s['trades']:,}", f"{s['closed_trades']:,}", f"{s['fees']:,.2f}",
         f"{s['pnl']:+,.2f}", f"{s['contribution_pct']:+.3f}", f"{s['max_exposure_pct']:.2f}"]
        for k, (symbol, s) in enumerate(per.items(), start=1)]
    rows.append(["", "account (gross)", f"{sum(s['trades'] for s in per.values()):,}",
                 f"{sum(s['closed_trades'] for s in per.values()):,}",
                 f"{sum(s['fees'] for s in per.values()):,.2f}",
                 f"{sum(s['pnl'] for s in per.values()):+,.2f}",
                 f"{sum(s['contribution_pct'] for s in per.values()):+.3f}",
                 f"{doc['max_gross_exposure_pct']:.2f}"])
    note = ('<p class="note">P&amp;L: closed trades, an open one at its last close. Of result '
            "%: that P&amp;L in percent of the starting cash; the symbols' add up to the "
            "account's return. Max exposure: the largest position (the account: the largest "
            "sum of positions) in percent of equity at a close.</p>")
    return f'<div id="contribution">{html_table(rows, header)}</div>{note}'


def contribution_figure(doc: Mapping[str, Any]) -> Any:
    """Each symbol's P&L as a bar (green made, red lost), its share of the result on it."""
    import plotly.graph_objects as go  # type: ignore[import-untyped]

    per = doc["symbols"]
    pnl = [float(s["pnl"]) for s in per.values()]
    fig = go.Figure(go.Bar(
        x=list(per), y=pnl, name="P&L", marker={"color": [WIN if p > 0 else LOSS for p in pnl]},
        text=[f"{s['contribution_pct']:+.2f}%" for s in per.values()], textposition="outside",
        cliponaxis=False,
        hovertemplate="%{x}<br>P&L %{y:+,.2f}<br>%{text} of the starting cash<extra></extra>"))
    fig.update_yaxes(title_text="P&L (quote)", showgrid=True, gridcolor="#eaeef2",
                     zeroline=True, zerolinecolor="#8c959f")
    fig.update_layout(height=280, font=CHART_FONT, plot_bgcolor="#ffffff",
                      paper_bgcolor="#ffffff", margin={"l": 64, "r": 16, "t": 28, "b": 40},
                      showlegend=False, bargap=0.5)
    return fig


def price_figure(result: PortfolioResult, *, most: int = MARKED_TRADES) -> Any:
    """One small price chart per symbol, its entries and exits marked (won green, lost red)."""
    from plotly.subplots import make_subplots

    n = len(result.symbols)
    fig = make_subplots(rows=n, cols=1, shared_xaxes=True, subplot_titles=list(result.symbols),
                        vertical_spacing=min(0.08, 0.3 / n))
    shown: set[str] = set()
    for row, symbol in enumerate(result.symbols, start=1):
        close = _bounded(result.bars[symbol]["close"].astype(np.float64), PRICE_POINTS)
        price = line(close, f"{symbol} close", PALETTE[(row - 1) % len(PALETTE)])
        price.showlegend = False  # named by its panel's title
        fig.add_trace(price, row=row, col=1)
        for trace in trade_markers(marked_trades(result.trades(symbol), most)):
            trace.showlegend = trace.name not in shown
            shown.add(trace.name)
            fig.add_trace(trace, row=row, col=1)
        fig.update_yaxes(title_text="price", row=row, col=1)
    return layout(fig, height=80 + 200 * n, x_title_row=n, span=result.index)


def marked_trades(trades: pd.DataFrame, most: int) -> pd.DataFrame:
    """The trades to mark: all, or the ``most`` largest by |P&L| in their order."""
    if len(trades) <= most:
        return trades
    keep = trades["pnl"].abs().nlargest(most).index
    return trades.loc[np.sort(keep.to_numpy())]


def trade_markers(trades: pd.DataFrame) -> list[Any]:
    """Entries (grey up), exits of winning (green) and losing (red) trades (down)."""
    import plotly.graph_objects as go

    if not len(trades):
        return []
    pnl = trades["pnl"].to_numpy(np.float64)
    traces = [go.Scatter(
        x=times(pd.DatetimeIndex(trades["entry_time"])), y=trades["entry_price"],
        mode="markers", name="entry", legendgroup="entry", customdata=pnl,
        marker={"symbol": "triangle-up", "color": "#57606a", "size": 7},
        hovertemplate="entry %{x} @ %{y:,.6g}<br>trade P&L %{customdata:+,.2f}<extra></extra>")]
    for mask, name, color in ((pnl > 0, "exit, won", WIN), (pnl <= 0, "exit, lost", LOSS)):
        if not mask.any():
            continue
        mine = trades[mask]
        traces.append(go.Scatter(
            x=times(pd.DatetimeIndex(mine["exit_time"])), y=mine["exit_price"],
            mode="markers", name=name, legendgroup=name, customdata=pnl[mask],
            text=mine["exit_reason"].to_numpy(object),
            marker={"symbol": "triangle-down", "color": color, "size": 7},
            hovertemplate=("exit (%{text}) %{x} @ %{y:,.6g}<br>P&L %{customdata:+,.2f}"
                           "<extra></extra>")))
    return traces


def exposure_figure(result: PortfolioResult, limit: float) -> Any:
    """Each position and the gross in percent of equity (each bucket's highest), the cap dashed."""
    import plotly.graph_objects as go

    exposure = result.exposure() * 100.0
    fig = go.Figure()
    for k, symbol in enumerate(result.symbols):
        fig.add_trace(line(_highest(exposure[symbol]), symbol, PALETTE[k % len(PALETTE)]))
    fig.add_trace(line(_highest(exposure["gross"]), "gross", "#24292f", width=1.8))
    if limit > 0:
        fig.add_hline(y=limit * 100.0, line={"dash": "dash", "color": LOSS, "width": 1.2},
                      annotation_text=f"max gross exposure {limit * 100.0:g}%",
                      annotation_position="top left")
    fig.update_yaxes(title_text="of equity", ticksuffix="%", rangemode="tozero")
    return layout(fig, height=340, x_title_row=None, span=result.index)


def refusals_table(result: PortfolioResult, doc: Mapping[str, Any]) -> str:
    """Refused entries by reason: the rule, the count, and each symbol's part of it."""
    totals: Mapping[str, int] = doc["rejections"]
    refused = result.refusals()
    counts = refused.groupby(["reason", "symbol"]).size().to_dict() if len(refused) else {}
    symbols = list(doc["basket"])
    reasons = [r for r, n in totals.items() if n or r in BASKET_REASONS]
    rows = [[r, _why(r, result.config.risk), f"{totals[r]:,}",
             *(f"{counts.get((r, s), 0):,}" for s in symbols)] for r in reasons]
    note = ('<p class="note">One count per symbol per close that decided an entry and had it '
            "refused; the basket's own limits (open positions, gross exposure) and cash are "
            "always listed.</p>")
    table = html_table(rows, ["reason", "refused because", "entries", *symbols])
    return f'<div id="refusals">{table}</div>{note}'


def settings(result: PortfolioResult, doc: Mapping[str, Any],
             scorer: Mapping[str, Any]) -> list[SettingsGroup]:
    """The run's settings in words, the basket's files and its two limits among them."""
    files = "; ".join(f"{symbol}: {Path(s['source']).name}" for symbol, s in
                      doc["symbols"].items())
    data = (f"{files}. {doc['first_bar'][:16].replace('T', ' ')} .. "
            f"{doc['last_bar'][:16].replace('T', ' ')} UTC, {doc['bars']:,} bar times of "
            f"{doc['timeframe']}")
    risk = result.config.risk
    return [*settings_groups(result.config, data=data, scorer=scorer), ("Basket limits", [
        ("max open positions", _why("max_positions", risk)),
        ("max gross exposure", _why("gross_exposure", risk))])]


def _why(reason: str, risk: RiskConfig) -> str:
    if reason == "max_positions":
        n = risk.max_open_positions
        return f"{n:,} open positions held or decided" if n else "max open positions: off"
    if reason == "gross_exposure":
        cap = risk.max_gross_exposure_pct
        return (f"gross exposure capped at {cap * 100.0:g}% of equity" if cap
                else "max gross exposure: off")
    return REASONS.get(reason, reason)


def _sub_lines(result: PortfolioResult, doc: Mapping[str, Any]) -> list[str]:
    order = ", ".join(f"{k}. {symbol} from {s['first_bar'][:16].replace('T', ' ')}"
                      for k, (symbol, s) in enumerate(doc["symbols"].items(), start=1))
    return [f"{doc['timeframe']} bars, {doc['first_bar'][:16].replace('T', ' ')} .. "
            f"{doc['last_bar'][:16].replace('T', ' ')} UTC, {doc['bars']:,} bar times; "
            f"strategy {result.config.strategy.name}; one cash account of "
            f"{result.config.init_cash:,.2f}", f"Trading order: {order}"]


def _price_heading(result: PortfolioResult) -> str:
    longest = max(len(b) for b in result.bars.values())
    per = -(-longest // ((PRICE_POINTS - 2) // 2))  # keep_extremes' bucket
    thinned = f"; the close's low and high per {per:,} bars" if longest > BAR_POINTS else ""
    return f"Each symbol's price with its entries and exits{thinned}"


def _marked_note(result: PortfolioResult) -> list[Section]:
    counts = result.contribution()["trades"]
    capped = [f"{symbol} {MARKED_TRADES:,} of {n:,}" for symbol, n in counts.items()
              if n > MARKED_TRADES]
    if not capped:
        return []
    return [("", f'<p class="note">Marked: the largest trades by |P&amp;L| only ('
                 f"{html.escape(', '.join(capped))}); every trade is in --trades-out.</p>")]


def _exposure_heading(result: PortfolioResult, limit: float) -> str:
    thinned = (f"; the highest per {-(-len(result.index) // EXPOSURE_POINTS):,} bars"
               if len(result.index) > BAR_POINTS else "")
    cap = f"cap {limit * 100.0:g}%" if limit > 0 else "no gross cap set"
    return f"Exposure: each position and the gross, in % of equity ({cap}){thinned}"


def _bounded(series: pd.Series, points: int) -> pd.Series:
    return series if len(series) <= BAR_POINTS else keep_extremes(series, points)


def _highest(series: pd.Series) -> pd.Series:
    return series if len(series) <= BAR_POINTS else thin(series, "max", EXPOSURE_POINTS)


def _pair(left: str, right: str) -> str:
    return f'<div class="pair"><div>{left}</div><div>{right}</div></div>'

