"""The backtest's figures from the kernel's orders equal vectorbt's, which stays the referee."""

from __future__ import annotations

import math
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pandas as pd
import pytest

from backtest.engine import BacktestConfig, run_backtest
from backtest.figures import kernel_stats
from backtest.stats import portfolio_stats
from data.loader import load_ohlcv, save_ohlcv_csv
from data.synthetic import synthetic_ohlcv
from risk.config import RiskConfig
from tests.conftest import BTC_1H_2022, REPO_ROOT

CONFIGS = {
    "defaults": BacktestConfig(),
    "always-default-size": BacktestConfig(kelly_min_trades=10**6),
    "kill-switches": BacktestConfig(
        risk=RiskConfig(max_position_pct=0.9, daily_loss_limit_pct=0.01, max_drawdown_pct=0.05),
        default_position_pct=0.9, kelly_min_trades=10**6),
}


def assert_same_figures(bars: pd.DataFrame, config: BacktestConfig, timeframe: str) -> None:
    result = run_backtest(bars, config)
    kinds, refused = list(result.halts()["kind"]), result.rejections()
    ours = asdict(kernel_stats(result, timeframe, halt_kinds=kinds, rejections=refused))
    referee = asdict(portfolio_stats(result.portfolio(timeframe), halt_kinds=kinds,
                                     rejections=refused))
    assert ours.keys() == referee.keys()
    for name, value in ours.items():
        expected = referee[name]
        if isinstance(value, float) and math.isnan(expected):
            assert math.isnan(value), name
        elif isinstance(value, float):
            assert value == pytest.approx(expected, rel=1e-9, abs=1e-9), name
        else:
            assert value == expected, name


@pytest.mark.parametrize("name", list(CONFIGS))
def test_equal_to_vectorbt_on_real_data(shared_data: Path, name: str) -> None:
    bars = load_ohlcv(shared_data / BTC_1H_2022)
    assert_same_figures(bars, CONFIGS[name], "1h")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_equal_to_vectorbt_on_synthetic_minutes(seed: int) -> None:
    bars = synthetic_ohlcv(6000, timeframe="1m", seed=seed, volatility=0.002)
    assert_same_figures(bars, CONFIGS["always-default-size"], "1m")


def test_the_default_command_never_imports_vectorbt(tmp_path: Path) -> None:
    data = save_ohlcv_csv(synthetic_ohlcv(1200, seed=4), tmp_path / "SYNTHUSDT_1h.csv")
    code = (
        "import sys; from main import main; "
        f"rc = main(['backtest', '--data', {str(data)!r}, '--kelly-out', "
        f"{str(tmp_path / 'k.json')!r}], environ={{}}); "
        "print('vectorbt' in sys.modules, rc)"
    )
    out = subprocess.run(  # noqa: S603 - our own code, fixed arguments
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True,
        timeout=120, check=True,
    ).stdout.split()
    assert out[-2:] in (["False", "0"], ["False", "3"])


def test_accounts_vectorbt_prints_the_same_figures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from main import main

    data = save_ohlcv_csv(synthetic_ohlcv(2000, seed=9), tmp_path / "SYNTHUSDT_1h.csv")
    docs = []
    for accounts in ("numba", "vectorbt"):
        main(["backtest", "--data", str(data), "--json", "--accounts", accounts,
              "--kelly-min-trades", "1000000", "--kelly-out", str(tmp_path / "k.json")],
             environ={})
        docs.append(json.loads(capsys.readouterr().out))
    ours, referee = docs[0]["stats"], docs[1]["stats"]
    assert ours.keys() == referee.keys()
    for name, value in ours.items():
        if isinstance(value, float):
            assert value == pytest.approx(referee[name], rel=1e-9, abs=1e-9), name
        else:
            assert value == referee[name], name
