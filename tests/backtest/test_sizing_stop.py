"""When half-Kelly stops a strategy: the bar, the value and the record it came from, said on
screen and in the JSON; and ``--sizing fixed``, the signal's own edge over every signal.

The bars are hand-made 4-bar cycles: at hour 0 (mod 4) the signal opens, at hour 1 it closes, so
each cycle is one trade filled at the open of hour 1 (100) and closed at the open of hour 2,
which is 101 for a winning cycle and 99 for a losing one.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backtest import kernel
from backtest.engine import BacktestConfig, BacktestResult, Sizing
from backtest.sizing_stop import find_sizing_stop
from data.loader import save_ohlcv_csv
from main import main
from tests.backtest.conftest import Bar, bars, run

MIN_TRADES = 3
CONFIG = BacktestConfig(kelly_min_trades=MIN_TRADES)
# The cycle's signal from the bar's hour alone: a strategy file gives the same one (no peek).
STRATEGY_FILE = '''
import numpy as np


class Cycle:
    warmup_bars = 1

    def signals(self, bars):
        hour = bars.index.hour % 4
        return np.where(hour == 0, 1, np.where(hour == 1, -1, 0))
'''


def cycles(outcomes: str) -> list[Bar]:
    """Four bars per letter: ``W`` a winning trade, ``L`` a losing one."""
    rows: list[Bar] = []
    for outcome in outcomes:
        exit_open = 101.0 if outcome == "W" else 99.0
        rows += [(100.0, 100.0, 100.0, 100.0), (100.0, 100.0, 100.0, 100.0),
                 (exit_open, max(exit_open, 100.0), min(exit_open, 100.0), 100.0),
                 (100.0, 100.0, 100.0, 100.0)]
    return rows


def cycle_signal(n: int) -> list[int]:
    """The strategy file's signal over ``n`` bars starting at hour 0."""
    return [(1, -1, 0, 0)[i % 4] for i in range(n)]


def result_of(outcomes: str, config: BacktestConfig = CONFIG) -> BacktestResult:
    """One kernel run over the cycles, as run_backtest returns it."""
    frame = bars(cycles(outcomes))
    raw = run(frame, cycle_signal(len(frame)), config)
    return BacktestResult(config=config, bars=frame, raw=raw, scores={})


def half_kelly(returns: Sequence[float]) -> float:
    """0.5 x (p/L - (1 - p)/W) of trade returns, written out here as the README states it."""
    wins = [r for r in returns if r > 0]
    losses = [-r for r in returns if r < 0]
    p = len(wins) / len(returns)
    return 0.5 * (p / np.mean(losses) - (1 - p) / np.mean(wins))


def test_sizing_stop_names_the_bar_the_value_and_the_record() -> None:
    result = result_of("LWL" + "W" * 6)
    trades = result.trades()
    assert len(trades) == MIN_TRADES  # the wins after the stop never trade
    stop = result.sizing_stop()
    assert stop is not None
    returns = (trades["return_pct"] / 100).tolist()
    assert stop.half_kelly == pytest.approx(half_kelly(returns), rel=1e-12)
    assert stop.half_kelly < 0
    assert (stop.trades, stop.win_rate) == (3, pytest.approx(1 / 3))
    assert stop.avg_win_pct == pytest.approx(returns[1])
    assert stop.avg_loss_pct == pytest.approx(-(returns[0] + returns[2]) / 2)
    # The third trade closes at the open of bar 10; the next entry signal is bar 12's.
    assert (stop.bar, stop.time) == (10, result.bars.index[10])
    assert (stop.first_refused_bar, stop.first_refused_time) == (12, result.bars.index[12])
    # Every later entry signal is refused for size: bars 12, 16, ..., 32.
    assert stop.refused_entries == result.rejections()["size_zero"] == 6
    assert result.raw.refused[12] == kernel.REJ_SIZE_ZERO


def test_a_record_without_a_win_stops_at_half_kelly_zero() -> None:
    stop = result_of("LLLL").sizing_stop()
    assert stop is not None
    assert (stop.half_kelly, stop.win_rate, stop.trades) == (0.0, 0.0, 3)
    assert math.isnan(stop.avg_win_pct)
    assert stop.to_json()["avg_win_pct"] is None


def test_a_run_with_an_edge_or_too_few_trades_has_no_sizing_stop() -> None:
    assert result_of("WLWWWW").sizing_stop() is None
    assert len(result_of("WLWWWW").trades()) == 6
    assert result_of("LL").sizing_stop() is None  # two trades: still the default size


def test_fixed_sizing_trades_every_signal_at_the_default_size() -> None:
    fixed = result_of("LWL" + "W" * 6, BacktestConfig(kelly_min_trades=MIN_TRADES,
                                                     sizing=Sizing.FIXED))
    trades = fixed.trades()
    assert len(trades) == 9
    assert fixed.rejections()["size_zero"] == 0
    assert fixed.sizing_stop() is None
    # Every entry: default_position_pct (1%) x conviction 0.5 of the equity at its decision.
    notional = trades["size"] * trades["entry_price"]
    equity = fixed.equity.to_numpy()[trades["entry_time"].map(fixed.bars.index.get_loc) - 1]
    np.testing.assert_allclose(notional, equity * 0.01 * 0.5, rtol=1e-12)


def test_sizing_is_checked_and_a_name_is_accepted() -> None:
    assert BacktestConfig(sizing="fixed").sizing is Sizing.FIXED  # type: ignore[arg-type]
    with pytest.raises(Exception, match="sizing must be one of pipeline, fixed"):
        BacktestConfig(sizing="kelly")  # type: ignore[arg-type]


def test_find_sizing_stop_reads_only_closed_trades() -> None:
    result = result_of("LWL")
    raw = result.raw
    open_trade = raw.trades[-1:].copy()
    open_trade[0, kernel.T_REASON] = kernel.EXIT_END
    stop = find_sizing_stop(raw._replace(trades=np.vstack([raw.trades, open_trade])),
                            result.bars.index, kelly_min_trades=MIN_TRADES,
                            default_position_pct=0.01, max_position_pct=0.02)
    assert stop == result.sizing_stop()


# The command: the same cycles through a data file and a strategy file.

@pytest.fixture
def cycle_files(tmp_path: Path) -> tuple[str, str]:
    """(data file, strategy reference) of 'LWL' then 60 winning cycles."""
    frame = bars(cycles("LWL" + "W" * 60), start=datetime(2024, 3, 4, tzinfo=UTC))
    data = save_ohlcv_csv(frame, tmp_path / "BTCUSDT_1h_cycles.csv")
    strategy = tmp_path / "cycle.py"
    strategy.write_text(STRATEGY_FILE)
    return str(data), f"{strategy}:Cycle"


def backtest(argv: list[str], tmp_path: Path) -> tuple[int, str]:
    """main.py backtest in-process: exit code and stdout."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["backtest", *argv, "--kelly-min-trades", str(MIN_TRADES)],
                    environ={"TRADINGBOT_STATE_DIR": str(tmp_path / "state")})
    return code, out.getvalue()


def test_the_json_says_when_and_why_sizing_stopped(
    cycle_files: tuple[str, str], tmp_path: Path
) -> None:
    data, strategy = cycle_files
    code, out = backtest(["--data", data, "--strategy", strategy, "--json"], tmp_path)
    doc = json.loads(out)
    assert code == 3
    assert doc["sizing"] == "pipeline"
    stop = doc["sizing_stop"]
    assert stop["time"] == "2024-03-04T10:00:00+00:00"
    assert stop["first_refused_time"] == "2024-03-04T12:00:00+00:00"
    assert (stop["trades"], stop["win_rate"]) == (3, pytest.approx(1 / 3))
    assert stop["half_kelly"] < 0
    assert stop["refused_entries"] == doc["rejections"]["size_zero"] == 60
    assert set(stop) == {"bar", "time", "first_refused_bar", "first_refused_time",
                         "half_kelly", "trades", "win_rate", "avg_win_pct", "avg_loss_pct",
                         "refused_entries"}
    edge = doc["fixed_size"]
    assert edge["total_trades"] == 63
    assert edge["exit_reasons"] == {"signal": 63, "stop": 0, "halt": 0, "end": 0}
    assert (edge["position_pct"], edge["conviction"]) == (0.01, 0.5)
    assert doc["stats"]["total_trades"] == 3  # the gates judged the full pipeline
    assert "kelly" in doc["files"]


def test_the_console_says_it_in_words(cycle_files: tuple[str, str], tmp_path: Path) -> None:
    data, strategy = cycle_files
    code, out = backtest(["--data", data, "--strategy", strategy], tmp_path)
    assert code == 3
    text = " ".join(out.split())  # rich may wrap a long line on a narrow terminal
    assert "a gate failed: fix the signal, not the risk rules" in text
    assert "Sizing stopped the strategy: half-Kelly of the first 3 closed trades is -" in text
    assert "the risk layer refuses every entry after 2024-03-04 10:00 UTC (60 entry " \
        "signals refused)" in text
    assert "The signal's edge at a fixed size (every entry 1.00% x conviction 0.5" in text
    assert "63 trades" in text
    assert "exits: signal 63" in text


def test_sizing_fixed_alone_reports_every_trade_and_saves_no_kelly_inputs(
    cycle_files: tuple[str, str], tmp_path: Path
) -> None:
    data, strategy = cycle_files
    code, out = backtest(["--data", data, "--strategy", strategy, "--sizing", "fixed",
                          "--json"], tmp_path)
    doc = json.loads(out)
    assert doc["sizing"] == "fixed"
    assert doc["stats"]["total_trades"] == 63
    assert doc["sizing_stop"] is None
    assert doc["fixed_size"] is None
    assert "kelly" not in doc["files"]
    assert not (tmp_path / "state" / "backtest_results.json").exists()
    # Exit code by its own gates (Sharpe > 1 and > 50 trades here): for information only.
    assert code == (0 if all(g["passed"] for g in doc["gates"]) else 3)
    code, out = backtest(["--data", data, "--strategy", strategy, "--sizing", "fixed"],
                         tmp_path)
    assert "for information only: no Kelly inputs saved (--sizing fixed)" in " ".join(
        out.split())


def test_sizing_fixed_refuses_a_kelly_file_and_the_seed_engine(
    cycle_files: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, _ = cycle_files
    assert main(["backtest", "--data", data, "--sizing", "fixed", "--kelly-out",
                 str(tmp_path / "k.json")], environ={}) == 2
    assert "--sizing fixed writes no Kelly file" in capsys.readouterr().err
    assert main(["backtest", "--data", data, "--sizing", "fixed", "--engine", "seed"],
                environ={}) == 2
    assert "--engine seed has its own sizing" in capsys.readouterr().err


def test_the_default_backtest_on_real_data_names_its_stop(shared_data: Path) -> None:
    from backtest.engine import run_backtest
    from data import load_ohlcv
    from tests.conftest import BTC_1H_2022

    result = run_backtest(load_ohlcv(shared_data / BTC_1H_2022))
    stop = result.sizing_stop()
    assert stop is not None
    assert len(result.trades()) == stop.trades == 50
    assert stop.half_kelly == pytest.approx(-1.338, abs=1e-3)
    assert stop.time == pd.Timestamp("2022-04-05 14:00", tz="UTC")
    assert stop.refused_entries == result.rejections()["size_zero"] == 12_469
