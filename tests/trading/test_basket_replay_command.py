"""`run --replay A.csv --replay B.csv`: one paper account over several files, from the CLI."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from data.loader import save_ohlcv_csv
from data.synthetic import synthetic_ohlcv
from journal import Journal
from main import main
from signals.strategies.rsi_ema import seed_strategy
from tests.trading import basket
from tests.trading.basket import ENTER, EXIT, fills, flat

A, B, C = "AAA/USDT", "BBB/USDT", "CCC/USDT"
# The hand-worked basket's settings (tests/trading/basket.py) as options.
NO_COSTS = ["--init-cash", "1000", "--fees", "0", "--slippage", "0", "--max-position-pct",
            "0.5", "--stop-loss-pct", "0.9", "--default-position-pct", "1.0",
            "--kelly-min-trades", "1000000"]


def env_for(state: Path) -> dict[str, str]:
    return {"TRADINGBOT_STATE_DIR": str(state)}


def journal_of(tmp_path: Path) -> Path:
    return tmp_path / "state" / "replay" / "journal.sqlite3"


def csv(tmp_path: Path, name: str, frame: pd.DataFrame) -> str:
    return str(save_ohlcv_csv(frame, tmp_path / name))


VOLUME_SIGNAL = """
import numpy as np


class VolumeSignal:
    warmup_bars = 1

    def signals(self, bars):
        volume = bars["volume"].to_numpy()
        return np.where(volume == 1, 1, np.where(volume == 2, -1, 0)).astype(np.int8)
"""


@pytest.fixture
def strategy_file(tmp_path: Path) -> str:
    """tests/trading/basket.py's VolumeSignal as a user's strategy file."""
    path = tmp_path / "volume_signal.py"
    path.write_text(VOLUME_SIGNAL, encoding="utf-8")
    return f"{path}:VolumeSignal"


def test_a_basket_from_files_trades_as_the_same_frames(
    tmp_path: Path, strategy_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # The exit-funds-an-entry basket of test_basket_replay, from files named after markets.
    frames = {A: flat({1: ENTER}), B: flat({0: ENTER}), C: flat({0: ENTER, 1: EXIT, 2: ENTER})}
    files = [csv(tmp_path, f"{s.replace('/', '')}_1h_x.csv", f) for s, f in frames.items()]
    args = ["run", *[a for f in files for a in ("--replay", f)], "--strategy", strategy_file,
            *NO_COSTS]
    assert main(args, environ=env_for(tmp_path / "state")) == 0
    assert "replay finished" in capsys.readouterr().out
    basket.run(frames, basket.settings(A, B, C), tmp_path / "direct.sqlite3")
    assert fills(journal_of(tmp_path)) == fills(tmp_path / "direct.sqlite3")
    with Journal(journal_of(tmp_path)) as journal:
        run = journal.latest_run()
    assert run is not None
    assert run.config["source"] == [str(Path(f).resolve()) for f in files]
    assert run.config["symbols"] == [A, B, C]
    # Again: nothing left. The same files in another order are another basket.
    assert main(args, environ=env_for(tmp_path / "state")) == 0
    assert "0 bars this run" in capsys.readouterr().out
    swapped = ["run", "--replay", files[1], "--replay", files[0], "--replay", files[2],
               "--strategy", strategy_file, *NO_COSTS]
    assert main(swapped, environ=env_for(tmp_path / "state")) == 2
    assert "holds a replay of" in capsys.readouterr().err
    assert main([*swapped, "--fresh"], environ=env_for(tmp_path / "state")) == 0


def test_the_basket_caps_from_the_command_line(tmp_path: Path, strategy_file: str) -> None:
    frames = {A: flat({0: ENTER}), B: flat({0: ENTER}), C: flat({0: ENTER})}
    files = [csv(tmp_path, f"{s.replace('/', '')}_1h_x.csv", f) for s, f in frames.items()]
    base = ["run", *[a for f in files for a in ("--replay", f)], "--strategy", strategy_file,
            *NO_COSTS, "--fresh"]
    env = env_for(tmp_path / "state")
    assert main([*base, "--max-open-positions", "2"], environ=env) == 0
    assert basket.reasons(journal_of(tmp_path), C)[basket.at(0)] == (
        "max_open_positions: 2 of 2 positions open or decided")
    assert main([*base, "--max-gross-exposure-pct", "0.9"], environ=env) == 0
    assert basket.reasons(journal_of(tmp_path), B)[basket.at(0)] == (
        "max_gross_exposure_pct: 500.00 held or decided + 500.00 new is 100.0% of equity "
        "1000.00, above 90.0%")


def test_files_of_different_start_dates_replay_on_their_union(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # B starts 20 days after A and ends 5 days after it.
    warm = seed_strategy().warmup_bars
    early = synthetic_ohlcv(warm + 480, seed=1, start="2024-01-01", start_price=30_000.0)
    late = synthetic_ohlcv(warm + 120, seed=2, start="2024-01-21", start_price=2_000.0)
    files = [csv(tmp_path, "AAAUSDT_1h_x.csv", early), csv(tmp_path, "BBBUSDT_1h_x.csv", late)]
    assert main(["run", "--replay", files[0], "--replay", files[1]],
                environ=env_for(tmp_path / "state")) == 0
    assert "replay finished" in capsys.readouterr().out
    with Journal(journal_of(tmp_path)) as journal:
        marks = [r.bar_time for r in journal.equity_curve()]
        decided = {s: sorted(d.bar_time for d in journal.recent_decisions(10_000, symbol=s))
                   for s in (A, B)}
    skip = warm - 1  # each file's own warm-up
    assert marks == [t.to_pydatetime() for t in early.index[skip:].union(late.index[skip:])]
    assert decided[A] == [t.to_pydatetime() for t in early.index[skip:]]
    assert decided[B] == [t.to_pydatetime() for t in late.index[skip:]]


@pytest.mark.parametrize(("names", "message"), [
    (("AAAUSDT_1h_x.csv", "ETHBTC_1h_x.csv"),
     "one account, one quote currency: AAA/USDT is quoted in USDT, ETH/BTC in BTC"),
    (("AAAUSDT_1h_x.csv", "BBBUSDT_4h_x.csv"), "BBBUSDT_4h_x.csv holds 4h bars but "),
    (("AAAUSDT_1h_x.csv", "AAAUSDT_1h_y.csv"), "AAAUSDT_1h_y.csv is AAA/USDT again"),
])
def test_a_basket_that_cannot_be_one_account_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], names: tuple[str, str], message: str
) -> None:
    files = []
    for n, name in enumerate(names):
        timeframe = "4h" if "_4h_" in name else "1h"
        files.append(csv(tmp_path, name, synthetic_ohlcv(30, timeframe=timeframe, seed=n)))
    code = main(["run", "--replay", files[0], "--replay", files[1]],
                environ=env_for(tmp_path / "state"))
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert message in err
    assert len(err.splitlines()) == 1
    assert not journal_of(tmp_path).exists()


def test_symbols_name_the_files_markets_in_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = [csv(tmp_path, f"bars{n}.csv", synthetic_ohlcv(400, seed=n)) for n in range(2)]
    replays = ["--replay", files[0], "--replay", files[1]]
    state = env_for(tmp_path / "state")
    assert main(["run", *replays, "--symbols", "BTC/USDT"], environ=state) == 2
    assert "--symbols gave 1 markets for 2 replay file(s)" in capsys.readouterr().err
    assert main(["run", *replays, "--symbols", "ETH/USDT,SOL/USDT"], environ=state) == 0
    with Journal(journal_of(tmp_path)) as journal:
        run = journal.latest_run()
    assert run is not None
    assert run.config["symbols"] == ["ETH/USDT", "SOL/USDT"]
