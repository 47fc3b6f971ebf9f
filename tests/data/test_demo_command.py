"""`python main.py demo-data`: a synthetic, labelled market file that loads like real data."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from data.loader import load_ohlcv, save_ohlcv_csv
from data.synthetic import synthetic_ohlcv
from main import main


def test_demo_file_loads_and_is_labelled(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "SYNTHUSDT_1h_synthetic_demo.csv"
    assert main(["demo-data", "--out", str(out), "--bars", "600"], environ={}) == 0
    assert "SYNTHETIC" in capsys.readouterr().out
    bars = load_ohlcv(out)
    assert len(bars) == 600
    assert bars.index[0] == pd.Timestamp("2024-01-01", tz="UTC")
    again = tmp_path / "again.csv"
    main(["demo-data", "--out", str(again), "--bars", "600"], environ={})
    assert out.read_bytes() == again.read_bytes()


def test_too_few_bars_is_a_user_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo-data", "--out", str(tmp_path / "x.csv"), "--bars", "10"], environ={}) == 2
    assert "--bars" in capsys.readouterr().err


def test_save_then_load_round_trips_exactly(tmp_path: Path) -> None:
    frame = synthetic_ohlcv(100, timeframe="15m", seed=5)
    for name in ("bars.csv", "bars.csv.gz"):
        back = load_ohlcv(save_ohlcv_csv(frame, tmp_path / name))
        pd.testing.assert_frame_equal(back, frame, check_exact=False, rtol=1e-15)


def test_the_default_file_goes_to_the_state_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # not written relative to where the command runs
    state = tmp_path / "elsewhere" / "state"
    assert main(["demo-data", "--bars", "500"], environ={"TRADINGBOT_STATE_DIR": str(state)}) == 0
    out = state / "SYNTHUSDT_1h_synthetic_demo.csv"
    assert len(load_ohlcv(out)) == 500
    assert capsys.readouterr().out.endswith(f" to {out}\n")
    assert not (tmp_path / "state").exists()
