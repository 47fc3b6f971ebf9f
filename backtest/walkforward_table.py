"""The walk-forward on screen: what ran, one row per window, the stitched figures and gates, the
over-fitting statistics with how to read them, and the parameters to trade next.

It reads only the JSON document (``backtest.walkforward_summary``), so the screen, ``--json``
and the report cannot disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from backtest.sweep_table import METRIC_KEYS, METRIC_LABELS, SIZING_LABELS, fmt, value_text


def print_table(doc: Mapping[str, Any]) -> None:
    """Print the walk-forward to stdout (rich; plain text when stdout is not a terminal)."""
    from rich.console import Console

    console = Console(highlight=False)
    for line in headline(doc):
        console.print(line, soft_wrap=True, markup=False)
    console.print(window_table(doc))
    for line in closing_lines(doc):
        console.print(line, soft_wrap=True, markup=False)


def headline(doc: Mapping[str, Any]) -> list[str]:
    """What ran on which bars."""
    oos = doc["out_of_sample"]
    return [
        f"Walk-forward {doc.get('symbol', '')} {doc['timeframe']}, {doc['strategy']}: "
        f"{len(doc['windows'])} {doc['mode']} windows, train {doc['train']} / test "
        f"{doc['test']}, {doc['combinations']:,} combinations each, picked by "
        f"{METRIC_LABELS[doc['metric']]} {SIZING_LABELS[doc['rank_by']]} among those with "
        f"{doc['rank_min_trades']}+ trades",
        f"Out of sample: {oos['first_bar'][:16]} to {oos['last_bar'][:16]} ({oos['bars']:,} "
        f"bars), one account from test window to test window"
        + (f"; {doc['unused_bars']:,} bars after the last full window unused"
           if doc["unused_bars"] else ""),
    ]


def window_table(doc: Mapping[str, Any]) -> Any:
    """One row per window: its test dates, the pick, the figure in and out of sample, the rank."""
    from rich.table import Table

    metric_key = METRIC_KEYS[doc["metric"]]
    names = doc["swept_params"]
    # Narrow enough for 80 columns: the picked values only, their names in the caption.
    table = Table(show_edge=False, pad_edge=False, caption_justify="left",
                  caption=f"picked: {'/'.join(names)}; IS, OOS: {METRIC_LABELS[doc['metric']]} "
                  "in training and on the test window run afresh")
    for name, justify in (("#", "right"), ("test from", "left"), ("picked", "left"),
                          ("IS", "right"), ("OOS", "right"), ("OOS rank", "right"),
                          ("ret %", "right"), ("trades", "right")):
        table.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for w in doc["windows"]:
        picked = "/".join(value_text(w["params"][k]) for k in names)
        table.add_row(
            str(w["number"]), w["test"]["first_bar"][:10],
            picked or "-", fmt(w["in_sample"][metric_key], ".2f"),
            fmt(w["out_of_sample"][metric_key], ".2f"),
            f"{w['out_of_sample_rank']:,}",
            fmt(w["stitched"]["return_pct"], "+.2f"), str(w["stitched"]["trades"]),
        )
    return table


def closing_lines(doc: Mapping[str, Any]) -> list[str]:
    """Stability, the stitched figures and gates, the statistics, and what to trade next."""
    oos = doc["out_of_sample"]
    rank = doc["out_of_sample_rank"]
    lines = [f"OOS rank: the pick's place among the {doc['combinations']:,} combinations run "
             "afresh on its test window; ret %: the window's part of the one out-of-sample run",
             f"Picks: median out-of-sample rank {rank['median']:,.0f} of {rank['of']:,}, "
             f"{rank['share_in_lower_half']:.0%} of windows in the lower half"]
    for name, s in doc["stability"].items():
        if name == "read":
            continue
        spread = "" if s["spread"] is None else f", spread {s['spread']:.2f} of the grid"
        lines.append(f"  {name}: {s['distinct']} distinct values, most often "
                     f"{value_text(s['mode'])} ({s['mode_share']:.0%}){spread}")
    lines.append(
        f"Stitched out of sample: return {fmt(oos['total_return_pct'], '+.2f')}% (buy and hold "
        f"{fmt(oos['buy_and_hold_return_pct'], '+.2f')}%), Sharpe {fmt(oos['sharpe_ratio'], '.2f')}"
        f", max drawdown {fmt(oos['max_drawdown_pct'], '.2f')}%, {oos['total_trades']:,} trades")
    if oos.get("sizing_stop"):
        lines.append(f"  Sizing stopped: {oos['sizing_stop']['sentence']}")
    lines += [_gate_line(g) for g in doc["gates"]]
    lines.append("Over-fitting:")
    lines += overfitting_lines(doc["overfitting"])
    nxt = doc["next"]
    params = " ".join(f"--param {k}={value_text(v)}" for k, v in nxt["params"].items())
    lines.append(f"Next: {params or 'the strategy as given'} (picked on "
                 f"{nxt['trained_on']['first_bar'][:10]}..{nxt['trained_on']['last_bar'][:10]})")
    for kind, path in doc.get("files", {}).items():
        lines.append(f"  {kind}: {path}")
    verdict = "passed" if doc["gates_passed"] else "FAILED"
    lines.append(f"Out-of-sample gates {verdict}.")
    return lines


def overfitting_lines(stats: Mapping[str, Any]) -> list[str]:
    """The Deflated Sharpe Ratio, the PBO and the bootstrap, each with its reading line."""
    d = stats["deflated_sharpe"]
    lines = [f"  Deflated Sharpe Ratio {fmt(d['dsr'], '.3f')} (Sharpe "
             f"{fmt(d['sharpe_annual'], '.2f')} a year over {d['n_obs']:,} bars, "
             f"{d['n_trials']:,} trials)",
             f"    {d['read']}"]
    p = stats.get("pbo")
    if p is not None:
        lines += [f"  PBO {fmt(p['pbo'], '.2f')} ({p['n_splits']:,} splits of {p['n_blocks']} "
                  f"blocks, {p['n_trials']:,} trials)", f"    {p['read']}"]
    b = stats.get("bootstrap")
    if b is not None:
        dd, ret = b["max_drawdown_pct"], b["total_return_pct"]
        lines += [f"  Bootstrap of {b['trades']:,} trades x {b['draws']:,}: max drawdown median "
                  f"{fmt(dd['p50'], '.2f')}%, 95th pct {fmt(dd['p95'], '.2f')}%; return 5th pct "
                  f"{fmt(ret['p5'], '+.2f')}%, P(loss) {fmt(b['prob_loss'], '.0%')}",
                  f"    {b['read']}"]
    return lines


def _gate_line(gate: Mapping[str, Any]) -> str:
    mark = "pass" if gate["passed"] else "FAIL"
    return f"  [{mark}] {gate['rule']}: {fmt(gate['figure'], '.3f')}"
