"""The backtest page's tables: every trade (sortable), monthly returns, exits by reason, settings.

Sorting is a few lines of plain JavaScript inlined once (``SORT_SCRIPT``): a click on a header
sorts by that column, again reverses it. Numeric cells carry their raw value in ``data-v`` so
that "1,204.50" sorts as a number and a time as its instant.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from backtest.report_charts import column

SettingsGroup = tuple[str, Sequence[tuple[str, str]]]
"""(heading, rows of (label, value)): one block of the settings, already in words."""

SORT_SCRIPT = """
(function () {
  function key(cell) {
    var v = cell.getAttribute("data-v");
    return v === null ? cell.textContent.trim().toLowerCase() : parseFloat(v);
  }
  function sortBy(table, col, th) {
    var up = th.getAttribute("aria-sort") !== "ascending";
    Array.prototype.forEach.call(th.parentNode.cells, function (h) {
      h.removeAttribute("aria-sort");
    });
    th.setAttribute("aria-sort", up ? "ascending" : "descending");
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a.cells[col]), y = key(b.cells[col]);
      return (x < y ? -1 : x > y ? 1 : 0) * (up ? 1 : -1);
    });
    var out = document.createDocumentFragment();
    rows.forEach(function (r) { out.appendChild(r); });
    body.appendChild(out);
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
      th.tabIndex = 0;
      th.title = "sort by " + th.textContent;
      th.addEventListener("click", function () { sortBy(table, col, th); });
      th.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortBy(table, col, th); }
      });
    });
  });
})();
"""
TABLE_STYLE = """
.scroll { max-height: 460px; overflow: auto; border: 1px solid #eee; }
.scroll thead th { position: sticky; top: 0; background: #f6f8fa; }
table.sortable th { cursor: pointer; user-select: none; white-space: nowrap; }
table.sortable th[aria-sort=ascending]::after { content: " \\25B2"; font-size: .7em; }
table.sortable th[aria-sort=descending]::after { content: " \\25BC"; font-size: .7em; }
td.win { color: #1a7f37; } td.loss { color: #cf222e; }
table.months td { min-width: 3.2rem; }
table.settings th { text-align: left; padding-top: .7rem; border-bottom: 1px solid #ddd; }
table.settings td:first-child { white-space: nowrap; }
table.settings td:last-child { text-align: left; max-width: 36rem; }
"""
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_NUMBERS = ("size", "entry_price", "exit_price", "pnl", "return_pct", "fees", "conviction")
_TRADE_HEAD = ("#", "entry (UTC)", "exit (UTC)", "held", "size", "entry price", "exit price",
               "P&L", "return %", "fees", "exit reason", "conviction")


def trades_table(trades: pd.DataFrame) -> str:
    """Every trade as a sortable HTML table (scrolls inside its box when long)."""
    if not len(trades):
        return '<p class="note">No trades.</p>'
    entry = pd.DatetimeIndex(trades["entry_time"])
    exit_ = pd.DatetimeIndex(trades["exit_time"])
    held = (exit_ - entry).total_seconds().to_numpy()
    col = {name: column(trades, name) for name in _NUMBERS}
    reasons = trades["exit_reason"].astype(str).to_numpy()
    rows = []
    for k in range(len(trades)):
        pnl = col["pnl"][k]
        side = "win" if pnl > 0 else "loss" if pnl < 0 else ""
        cells = [
            _num(k + 1, f"{k + 1}"), _time(entry[k]), _time(exit_[k]),
            _num(held[k], _duration(held[k])), _num(col["size"][k], f"{col['size'][k]:.6g}"),
            _num(col["entry_price"][k], f"{col['entry_price'][k]:,.6g}"),
            _num(col["exit_price"][k], f"{col['exit_price'][k]:,.6g}"),
            _num(pnl, f"{pnl:+,.2f}", side),
            _num(col["return_pct"][k], f"{col['return_pct'][k]:+.2f}", side),
            _num(col["fees"][k], f"{col['fees'][k]:,.2f}"),
            f"<td>{html.escape(reasons[k])}</td>",
            _num(col["conviction"][k], f"{col['conviction'][k]:.2f}"),
        ]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    head = "".join(f"<th>{html.escape(h)}</th>" for h in _TRADE_HEAD)
    return (f'<div class="scroll"><table class="sortable" id="trades"><thead><tr>{head}'
            f'</tr></thead><tbody>{"".join(rows)}</tbody></table></div>'
            '<p class="note">Click a column heading to sort; again to reverse. The last trade '
            'may still be open at the end (exit reason "end").</p>')


def monthly_returns(equity: pd.Series) -> str:
    """Each calendar month's return of the equity (UTC), a year per row, coloured by sign."""
    index = pd.DatetimeIndex(equity.index)
    naive = index.tz_convert("UTC").tz_localize(None) if index.tz is not None else index
    series = pd.Series(equity.to_numpy(np.float64), index=naive)
    ends = series.resample("ME").last().dropna()
    starts = ends.shift(1)
    starts.iloc[0] = series.iloc[0]  # the first month runs from the first bar
    change = (ends / starts - 1.0) * 100.0
    head = "".join(f"<th>{m}</th>" for m in ("year", *_MONTHS, "year %"))
    rows = []
    months = pd.DatetimeIndex(change.index)
    for year in sorted(set(months.year)):
        chosen = months.year == year
        values = change.to_numpy(np.float64)[chosen]
        by_month = {int(m): float(v) for m, v in zip(months.month[chosen], values, strict=True)}
        total = (float(np.prod(1.0 + values / 100.0)) - 1.0) * 100.0
        cells = [_month_cell(by_month.get(m)) for m in range(1, 13)]
        rows.append(f"<tr><td>{year}</td>{''.join(cells)}{_month_cell(total)}</tr>")
    return (f'<table class="months"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}'
            "</tbody></table>")


def exit_breakdown(trades: pd.DataFrame) -> str:
    """Trades by exit reason: count, share, win rate, P&L, mean return and time held."""
    if not len(trades):
        return '<p class="note">No trades.</p>'
    held = (pd.DatetimeIndex(trades["exit_time"])
            - pd.DatetimeIndex(trades["entry_time"])).total_seconds().to_numpy()
    frame = trades.assign(held=held, won=trades["pnl"] > 0)
    rows = []
    for reason, group in frame.groupby("exit_reason", sort=False):
        n = len(group)
        rows.append(
            f"<tr><td>{html.escape(str(reason))}</td><td>{n:,}</td>"
            f"<td>{n / len(frame):.0%}</td><td>{group['won'].mean():.0%}</td>"
            f"<td>{group['pnl'].sum():+,.2f}</td><td>{group['return_pct'].mean():+.2f}%</td>"
            f"<td>{_duration(float(group['held'].mean()))}</td></tr>")
    head = "".join(f"<th>{h}</th>" for h in ("exit reason", "trades", "share", "won",
                                             "P&L", "mean return", "mean time held"))
    return (f'<table class="exits"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}'
            "</tbody></table>")


def settings_table(groups: Sequence[SettingsGroup]) -> str:
    """The run's settings in words, a heading row per group."""
    parts = ['<table class="settings"><tbody>']
    for heading, rows in groups:
        parts.append(f'<tr><th colspan="2">{html.escape(heading)}</th></tr>')
        parts += [f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>"
                  for k, v in rows]
    parts.append("</tbody></table>")
    return "".join(parts)


def _num(value: float | np.floating[Any], text: str, css: str = "") -> str:
    raw = float(value)
    v = repr(raw) if math.isfinite(raw) else "-1e308"  # undefined sorts first
    cls = f' class="{css}"' if css else ""
    shown = text if math.isfinite(raw) else "n/a"
    return f'<td data-v="{v}"{cls}>{html.escape(shown)}</td>'


def _time(t: pd.Timestamp) -> str:
    return f'<td data-v="{t.timestamp():.0f}">{t:%Y-%m-%d %H:%M}</td>'


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "n/a"
    s = max(0, int(seconds))
    d, h, m = s // 86400, s % 86400 // 3600, s % 3600 // 60
    return f"{d}d {h}h" if d else f"{h}h {m}m" if h else f"{m}m"


def _month_cell(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "<td></td>"
    # Colour strength grows with the size of the move, full at 10% in a month.
    alpha = min(abs(value) / 10.0, 1.0) * 0.55 + 0.05
    rgb = "26, 127, 55" if value >= 0 else "207, 34, 46"
    return f'<td style="background: rgba({rgb}, {alpha:.2f})">{value:+.2f}%</td>'
