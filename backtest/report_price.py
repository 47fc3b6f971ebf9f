"""The backtest page's price chart: candles, the strategy's indicators, every trade.

Candles are bucketed to at most ``BAR_POINTS`` (open of the first bar, highest high, lowest low,
close of the last), so a quarter of minute bars draws as ~5,000 candles; trades keep their exact
times and prices. The strategy's named numbers that sit on the price scale (their values follow
the close) are drawn over the candles; the others (an RSI, a spread in percent) get a small
panel each under them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from backtest.report import thin
from backtest.report_charts import (
    BAR_POINTS,
    LOSS,
    WIN,
    Marker,
    Period,
    column,
    layout,
    line,
    mark,
    shade,
    times,
)
from core.errors import ConfigError
from signals.strategy import LoadedStrategy

log = logging.getLogger(__name__)

MAX_PANELS = 4  # indicator panels under the candles; the rest are left out (with a log line)
PRICE_HEIGHT, PANEL_HEIGHT = 460, 120
# A number is on the price scale when it stays this close to the close (median over bars).
PRICE_SCALE_DEVIATION = 0.25
_OVERLAY_COLORS = ("#bf8700", "#8250df", "#0969da", "#bc4c00", "#1b7c83", "#57606a")
_EXIT_SYMBOLS = {"signal": "triangle-down", "stop": "x", "halt": "diamond", "end": "circle-open"}
_HOVER = ("trade %{customdata[0]:.0f} · %{meta}<br>P&L %{customdata[1]:+,.2f} "
          "(%{customdata[2]:+.2f}%)<br>size %{customdata[3]:.6g} · conviction "
          "%{customdata[4]:.2f}<br>exit: %{text}<br>%{x} @ %{y:,.6g}<extra></extra>")


def strategy_lines(strategy: LoadedStrategy, frame: pd.DataFrame,
                   index: pd.DatetimeIndex) -> dict[str, pd.Series]:
    """The strategy's named numbers (and rsi_ema's two EMAs) on the traded bars ``index``."""
    from signals.indicators import ema_values
    from signals.strategies.rsi_ema import seed_params

    try:  # computed on every bar, warm-up included, then cut to the traded ones
        numbers = strategy.numbers(frame)
    except ConfigError as e:  # a user strategy's numbers() failed: the page goes without
        log.warning("the report shows no indicators: %s", e)
        numbers = {}
    lines = {label: pd.Series(values, index=frame.index) for label, values in numbers.items()}
    params = seed_params(strategy)
    if params is not None:
        close = np.ascontiguousarray(frame["close"].to_numpy(np.float64))
        for span in (params.ema_fast, params.ema_slow):
            lines[f"EMA {span}"] = pd.Series(ema_values(close, span), index=frame.index)
    return {label: series.reindex(index) for label, series in lines.items()}


def on_price_scale(values: pd.Series, close: pd.Series) -> bool:
    """True when ``values`` follow the close (an EMA, a band), not a scale of their own."""
    ratio = (values / close).to_numpy(np.float64)
    ratio = ratio[np.isfinite(ratio)]
    return bool(ratio.size) and float(np.median(np.abs(ratio - 1.0))) < PRICE_SCALE_DEVIATION


def candles(bars: pd.DataFrame, max_points: int = BAR_POINTS) -> pd.DataFrame:
    """OHLC in at most ``max_points`` buckets of consecutive bars, each at its first bar's time."""
    n = len(bars)
    step = max(1, -(-n // max_points))
    if step == 1:
        return bars[["open", "high", "low", "close"]]
    groups = bars[["open", "high", "low", "close"]].groupby(np.arange(n) // step)
    out = groups.agg({"open": "first", "high": "max", "low": "min", "close": "last"})
    out.index = bars.index[::step][: len(out)]
    return out


def price_figure(bars: pd.DataFrame, trades: pd.DataFrame, *, lines: Mapping[str, pd.Series],
                 periods: Sequence[Period], marker: Marker | None) -> Any:
    """Candles, indicator overlays and panels, each trade from entry to exit."""
    from plotly.subplots import make_subplots  # type: ignore[import-untyped]

    overlays = {k: v for k, v in lines.items() if on_price_scale(v, bars["close"])}
    panels = [k for k in lines if k not in overlays]
    if len(panels) > MAX_PANELS:
        log.warning("the report draws %d of %d indicator panels", MAX_PANELS, len(panels))
        panels = panels[:MAX_PANELS]
    rows = 1 + len(panels)
    height = PRICE_HEIGHT + PANEL_HEIGHT * len(panels)
    fig = make_subplots(rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.03,
                        row_heights=[PRICE_HEIGHT] + [PANEL_HEIGHT] * len(panels))
    box = candles(bars)
    fig.add_trace(_candles(box), row=1, col=1)
    for k, (label, series) in enumerate(overlays.items()):
        color = _OVERLAY_COLORS[k % len(_OVERLAY_COLORS)]
        fig.add_trace(line(thin(series, "last", BAR_POINTS), label, color, width=1.1),
                      row=1, col=1)
    for trace in trade_traces(trades):
        fig.add_trace(trace, row=1, col=1)
    shade(fig, periods, row=1, low=float(box["low"].min()), high=float(box["high"].max()),
          legend=True)
    for row, label in enumerate(panels, start=2):
        color = _OVERLAY_COLORS[(row + len(overlays)) % len(_OVERLAY_COLORS)]
        panel = line(thin(lines[label], "last", BAR_POINTS), label, color)
        panel.showlegend = False  # named inside its panel; the legend keeps to the price
        fig.add_trace(panel, row=row, col=1)
        # The name inside the panel, level: a rotated axis title has ~110 px for it.
        fig.add_annotation(text=label, x=0.005, y=0.97, xref=f"x{row} domain",
                           yref=f"y{row} domain", xanchor="left", yanchor="top",
                           showarrow=False, bgcolor="rgba(255,255,255,0.75)",
                           font={"color": color, "size": 11})
    mark(fig, marker, rows=rows)
    fig.update_yaxes(title_text="price", row=1, col=1)
    return layout(fig, height=height, x_title_row=rows, span=bars.index)


def trade_traces(trades: pd.DataFrame) -> list[Any]:
    """Each trade joined entry to exit (green won, red lost), markers with its details."""
    import plotly.graph_objects as go  # type: ignore[import-untyped]

    if not len(trades):
        return []
    entry_t = times(pd.DatetimeIndex(trades["entry_time"]))
    exit_t = times(pd.DatetimeIndex(trades["exit_time"]))
    pnl = column(trades, "pnl")
    won = pnl > 0
    size = 5 if len(trades) > 2_000 else 8
    traces = [_segments(entry_t[m], exit_t[m], trades["entry_price"][m],
                        trades["exit_price"][m], name, color)
              for m, name, color in ((won, "winning trade", WIN), (~won, "losing trade", LOSS))
              if m.any()]
    details = np.column_stack([
        np.arange(1, len(trades) + 1), pnl, column(trades, "return_pct"),
        column(trades, "size"), column(trades, "conviction"),
    ])
    colors = np.where(won, WIN, LOSS)
    reasons = trades["exit_reason"].to_numpy(object)
    traces.append(go.Scatter(
        x=entry_t, y=trades["entry_price"], mode="markers", name="entry", meta="entry",
        marker={"symbol": "triangle-up", "color": colors, "size": size + 1},
        customdata=details, text=reasons, hovertemplate=_HOVER))
    for reason, symbol in _EXIT_SYMBOLS.items():
        m = reasons == reason
        if m.any():
            traces.append(go.Scatter(
                x=exit_t[m], y=trades["exit_price"][m], mode="markers", name=f"exit: {reason}",
                meta=f"exit ({reason})", marker={"symbol": symbol, "color": colors[m],
                                                 "size": size, "line": {"width": 1.5}},
                customdata=details[m], text=reasons[m], hovertemplate=_HOVER))
    if "stop_price" in trades:
        traces.append(_segments(entry_t, exit_t, trades["stop_price"], trades["stop_price"],
                                "stop level", LOSS, dash="dot", visible="legendonly"))
    return traces


def _segments(x0: np.ndarray, x1: np.ndarray, y0: pd.Series, y1: pd.Series, name: str,
              color: str, *, dash: str = "solid", visible: bool | str = True) -> Any:
    import plotly.graph_objects as go

    # One trace of segments separated by gaps (None): thousands of trades stay one trace.
    n = len(x0)
    xs = np.empty(3 * n, dtype=object)
    ys = np.full(3 * n, np.nan)
    xs[0::3], xs[1::3], xs[2::3] = x0, x1, None
    ys[0::3], ys[1::3] = y0.to_numpy(np.float64), y1.to_numpy(np.float64)
    return go.Scatter(x=xs, y=ys, mode="lines", name=name, connectgaps=False,
                      hoverinfo="skip", visible=visible,
                      line={"color": color, "width": 1.6, "dash": dash})


def _candles(box: pd.DataFrame) -> Any:
    import plotly.graph_objects as go

    return go.Candlestick(
        x=times(box.index), open=box["open"], high=box["high"], low=box["low"],
        close=box["close"], name="price", showlegend=False,
        increasing={"line": {"color": "#8c959f", "width": 1}, "fillcolor": "#d0d7de"},
        decreasing={"line": {"color": "#57606a", "width": 1}, "fillcolor": "#57606a"},
    )
