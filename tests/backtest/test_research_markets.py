"""sweep and walkforward on several real markets: each market's block is a run on it alone to
the last digit, the pick across markets is the lowest mean rank (recomputed here from the
markets' own figures), a glob expands sorted, and a bad set of markets is one line, exit 2."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from backtest.cli_run import config_from_args
from backtest.engine import BacktestConfig, Sizing
from backtest.research_markets import expand_data, market_path, places, rank_across
from backtest.sweep_kernel import F_SHARPE, F_TRADES, N_FIGURES, ranking
from backtest.sweep_run import run_sweep, run_sweeps
from backtest.sweep_signals import seed_source
from backtest.walkforward import run_walkforward, run_walkforwards
from backtest.walkforward_cli import add_walkforward_parser
from backtest.walkforward_kernel import windows_figures
from backtest.walkforward_windows import parse_length, plan_windows
from data.loader import load_ohlcv, save_ohlcv_csv
from main import main
from tests.backtest.test_sweep import seed_grid
from tests.conftest import BTC_1H_2022

FILES = {"BTC": BTC_1H_2022, "ETH": "ETHUSDT_1h_binance_spot_2022-01-01_2025-04-30.csv",
         "DOGE": "DOGEUSDT_1h_binance_spot_2022-01-01_2025-05-05.csv"}
ETH_1M_2025 = "ETHUSDT_1m_binance_spot_2025-05-20_2025-08-18.csv.gz"
GRID_ARGS = ["--grid", "rsi_window=10,14", "--grid", "ema_fast=8:12:4", "--grid",
             "ema_slow=26,30"]
GRID = seed_grid((10, 14), (8, 12), (26, 30), (0.015,))
WF_ARGS = ["--train", "30D", "--test", "10D", "--rank-min-trades", "5"]


@pytest.fixture(scope="module")
def folder(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The last 3,000 hourly bars of BTC, ETH and DOGE, named as the shared files are."""
    out = tmp_path_factory.mktemp("markets")
    for base, name in FILES.items():
        save_ohlcv_csv(load_ohlcv(shared_data / name).iloc[-3000:], out / f"{base}USDT_1h.csv")
    return out


def _paths(folder: Path) -> list[str]:
    return [str(folder / f"{b}USDT_1h.csv") for b in ("BTC", "DOGE", "ETH")]  # sorted


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, Any]:
    code = main([*args, "--json"], environ={})
    return code, json.loads(capsys.readouterr().out)


def test_sweep_blocks_are_single_runs_and_the_across_pick_is_the_lowest_mean_rank(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, doc = _run(["sweep", "--data", str(folder / "*_1h.csv"), *GRID_ARGS, "--top", "8",
                      "--report", str(tmp_path / "sweep.html")], capsys)
    assert code == 0
    assert [m["symbol"] for m in doc["markets"]] == ["BTC/USDT", "DOGE/USDT", "ETH/USDT"]
    for path, market in zip(_paths(folder), doc["markets"], strict=True):
        report = Path(market.pop("report"))
        assert report == tmp_path / f"sweep_{market['symbol'].replace('/', '')}.html"
        assert "Ranked combinations" in report.read_text()
        assert _run(["sweep", "--data", path, *GRID_ARGS, "--top", "8"], capsys) == (0, market)
    across = doc["across"]
    # Recomputed from each market's table (--top 8: every combination, with its rank).
    keys = ("rsi_window", "ema_fast", "ema_slow")
    tables = [{tuple(r[k] for k in keys): r for r in m["top"]} for m in doc["markets"]]

    def score(combo: tuple[Any, ...]) -> tuple[float, float]:
        ranks = [t[combo]["rank"] for t in tables]
        sharpes = [t[combo]["fixed_size"]["in_sample"]["sharpe"] for t in tables]
        return sum(ranks) / len(ranks), -sum(sharpes) / len(sharpes)

    in_grid_order = [c.values for c in GRID.combos]
    best = min(in_grid_order, key=score)  # min keeps the first of equals
    picked = across["picked"]
    assert tuple(picked[k] for k in keys) == best
    assert picked["mean_rank"] == score(best)[0]
    for table, row in zip(tables, picked["per_market"], strict=True):
        own = table[best]
        assert row["rank"] == own["rank"]
        assert row["fixed_size"] == own["fixed_size"]
        assert row["out_of_sample_rank"] == own["out_of_sample_rank"]
    assert [tuple(r[k] for k in keys) for r in across["top"]] == sorted(in_grid_order, key=score)


def test_run_sweeps_gives_each_market_its_own_sweep(folder: Path) -> None:
    bars = [load_ohlcv(p) for p in _paths(folder)]
    done: list[int] = []
    together = run_sweeps(bars, GRID, BacktestConfig(), timeframe="1h", chunk_size=3,
                          on_chunk=done.append)
    assert sum(done) == len(GRID.combos) * len(bars)
    for b, result in zip(bars, together, strict=True):
        alone = run_sweep(b, GRID, BacktestConfig(), timeframe="1h")
        for sizing in (Sizing.FIXED, Sizing.PIPELINE):
            for window, figs in alone.figures_of(sizing).items():
                np.testing.assert_array_equal(result.figures_of(sizing)[window], figs)
    fixed = [r.fixed_figures["in_sample"] for r in together]
    across = rank_across(fixed, "sharpe", min_trades=50)
    mean = [np.mean([int(np.flatnonzero(ranking(f, "sharpe", min_trades=50) == k)[0]) + 1
                     for f in fixed]) for k in range(len(GRID.combos))]
    assert list(across.mean_rank) == mean
    assert mean[int(across.order[0])] == min(mean)


def test_places_number_the_ranking() -> None:
    figures = np.zeros((4, N_FIGURES))
    figures[:, F_SHARPE] = [0.5, 2.0, np.inf, 1.0]
    figures[:, F_TRADES] = 10
    assert list(places(figures, "sharpe")) == [3, 1, 4, 2]
    figures[1, F_TRADES] = 1
    assert list(places(figures, "sharpe", min_trades=5)) == [2, 3, 4, 1]


def _wf_config() -> BacktestConfig:
    parser = argparse.ArgumentParser()
    args = add_walkforward_parser(parser.add_subparsers()).parse_args([])
    args.sizing = "pipeline"
    return config_from_args(args)


def _next_figures(path: str, config: BacktestConfig) -> np.ndarray:
    # Every combination afresh on the next training window at the ranked (fixed) sizing, with
    # the kernel itself: not through the walk-forward's chunks or its engine.
    from backtest.sweep_kernel import bar_arrays

    bars = load_ohlcv(path)
    plan = plan_windows(pd.DatetimeIndex(bars.index), first=GRID.warmup_bars - 1,
                        train=parse_length("30D", "train"), test=parse_length("10D", "test"),
                        mode="rolling")
    ranked = replace(config, sizing=Sizing.FIXED)
    source = seed_source(GRID, bars)
    assert source is not None  # rsi_ema: the seed's tables
    signals = source(GRID.combos)
    return windows_figures(bar_arrays(bars, 0.5), signals, [plan.next_train], ranked,
                           365 * 24.0)[:, 0]


def test_walkforward_blocks_are_single_runs_and_the_across_pick_is_recomputed(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kelly = ["--kelly-out", str(tmp_path / "results.json")]
    code, doc = _run(["walkforward", "--data", _paths(folder)[0], "--data",
                      _paths(folder)[2], *GRID_ARGS, *WF_ARGS, *kelly], capsys)
    codes = []
    for path, market in zip(_paths(folder)[::2], doc["markets"], strict=True):
        alone_code, alone = _run(["walkforward", "--data", path, *GRID_ARGS, *WF_ARGS, *kelly],
                                 capsys)
        assert alone == market
        codes.append(alone_code)
    assert code == max(codes)
    saved = json.loads((tmp_path / "results.json").read_text())["results"]
    assert {k.split("|")[1] for k in saved} == {"BTC/USDT", "ETH/USDT"}
    config = _wf_config()
    figures = [_next_figures(p, config) for p in _paths(folder)[::2]]
    score = []
    for k in range(len(GRID.combos)):
        ranks = [int(np.flatnonzero(ranking(f, "sharpe", min_trades=5) == k)[0]) + 1
                 for f in figures]
        score.append((sum(ranks) / 2, -sum(float(f[k, F_SHARPE]) for f in figures) / 2, k))
    best = min(score)[2]
    picked = doc["across"]["picked"]
    assert GRID.row(GRID.combos[best]) == {k: picked[k] for k in GRID.row(GRID.combos[best])}
    assert picked["mean_rank"] == min(score)[0]
    for f, row, market in zip(figures, picked["per_market"], doc["markets"], strict=True):
        assert row["figures"]["sharpe"] == float(f[best, F_SHARPE])
        own = int(ranking(f, "sharpe", min_trades=5)[0])
        assert market["next"]["params"] == GRID.params(GRID.combos[own])
        assert row["own_next_is_it"] == (own == best)


def test_run_walkforwards_gives_each_market_its_own_walkforward(folder: Path) -> None:
    markets = []
    for path in _paths(folder)[:2]:
        bars = load_ohlcv(path)
        markets.append((bars, plan_windows(
            pd.DatetimeIndex(bars.index), first=GRID.warmup_bars - 1,
            train=parse_length("30D", "train"), test=parse_length("10D", "test"),
            mode="rolling")))
    together = run_walkforwards(markets, GRID, BacktestConfig(), timeframe="1h", min_trades=5,
                                chunk_size=3)
    for (bars, plan), result in zip(markets, together, strict=True):
        alone = run_walkforward(bars, GRID, BacktestConfig(), plan, timeframe="1h",
                                min_trades=5)
        assert [p.combo for p in result.picks] == [p.combo for p in alone.picks]
        assert result.next_pick == alone.next_pick
        assert result.stats.to_json() == alone.stats.to_json()


def test_a_glob_expands_sorted_and_literal_paths_stay(folder: Path) -> None:
    assert expand_data([str(folder / "*_1h.csv"), "x.csv"]) == [*_paths(folder), "x.csv"]
    assert market_path("out/wf.html", "BTC/USDT") == Path("out/wf_BTCUSDT.html")


@pytest.mark.parametrize("command", ["sweep", "walkforward"])
@pytest.mark.parametrize(("given", "message"), [
    (["--data", "{f}/nothing*.csv"], "matches no file"),
    (["--data", "{f}/BTCUSDT_1h.csv", "--data", "{f}/ETHUSDT_1m.csv"], "one bar length"),
    (["--data", "{f}/BTCUSDT_1h.csv", "--data", "{f}/*_1h.csv"], "BTC/USDT is given twice"),
    (["--data", "{f}/*_1h.csv", "--symbol", "BTC/USDT"], "--symbol names one market"),
    (["--data", "{f}/BTCUSDT_1h.csv", "--address", "auto"], "--address is for --engine ray"),
])
def test_a_bad_set_of_markets_is_one_line_and_exit_2(
    folder: Path, shared_data: Path, command: str, given: list[str], message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    minute = folder / "ETHUSDT_1m.csv"
    if not minute.exists():
        save_ohlcv_csv(load_ohlcv(shared_data / ETH_1M_2025).iloc[:1000], minute)
    args = [a.replace("{f}", str(folder)) for a in given]
    assert main([command, *args, *GRID_ARGS], environ={}) == 2
    err = capsys.readouterr().err.strip()
    assert message in err
    assert len(err.splitlines()) == 1
