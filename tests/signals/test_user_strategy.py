"""A user's own strategy file: loading, parameters, and one clear line for every broken file.

The README's example strategy is the code these tests run (``readme_strategy``), so the README
stays true.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.errors import ConfigError
from data.loader import save_ohlcv_csv
from data.synthetic import synthetic_ohlcv
from main import main
from signals.strategy_loader import load_strategy
from tests.conftest import REPO_ROOT


def readme_strategy() -> str:
    """The example strategy of the README (the python block under "Your own strategy")."""
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("### Your own strategy"):]
    found = re.search(r"```python\n(.*?)```", section, re.S)
    assert found is not None, "the README's own-strategy section has no python block"
    return found.group(1)


@pytest.fixture
def sma_file(tmp_path: Path) -> Path:
    path = tmp_path / "my_strategies" / "sma.py"
    path.parent.mkdir()
    path.write_text(readme_strategy(), encoding="utf-8")
    return path


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    bars = synthetic_ohlcv(1200, timeframe="1h", seed=3, start_price=30_000.0, volatility=0.007)
    return save_ohlcv_csv(bars, tmp_path / "SYNTHUSDT_1h.csv")


def test_the_readmes_strategy_needs_nothing_from_the_project(sma_file: Path) -> None:
    source = sma_file.read_text()
    assert "import signals" not in source
    assert "from signals" not in source
    assert len(source.strip().splitlines()) <= 25  # "a strategy file of about 20 lines"
    strategy = load_strategy(f"{sma_file}:SmaCross", params=["fast=12"])
    assert strategy.spec.params == (("fast", 12), ("slow", 40))  # "12" became an int
    assert strategy.warmup_bars == 40
    assert strategy.spec.version.startswith("sha256:")  # an edit of the file is a new strategy
    bars = synthetic_ohlcv(300, timeframe="1h", seed=1)
    signal = strategy.signal(bars)
    assert signal.dtype == np.int8
    assert set(np.unique(signal)) <= {-1, 0, 1}
    assert (signal[:39] == 0).all()  # no signal before the slow average exists


def test_the_class_name_may_be_left_out_when_the_file_has_one(sma_file: Path) -> None:
    assert load_strategy(str(sma_file)).name == "SmaCross"


def test_parameters_from_a_toml_file_and_param_overrides(sma_file: Path, tmp_path: Path) -> None:
    toml = tmp_path / "sma.toml"
    toml.write_text(f'strategy = "{sma_file}:SmaCross"\nfast = 8\nslow = 50\n')
    strategy = load_strategy(None, params=["slow=60"], params_file=str(toml))
    assert dict(strategy.spec.params) == {"fast": 8, "slow": 60}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (["fsat=3"], "SmaCross has no parameter 'fsat' (did you mean 'fast'?)"),
        (["fast=quick"], "SmaCross: fast must be an integer, got 'quick'"),
        (["fast"], "--param must be key=value"),
        (["fast=50"], "SmaCross.__init__ raised ValueError: need 2 <= fast < slow"),
    ],
)
def test_bad_parameters_are_one_line(sma_file: Path, params: list[str], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_strategy(f"{sma_file}:SmaCross", params=params)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


BROKEN = {
    "syntax": ("class Broken:\n    def signals(self, bars)\n        return 0\n",
               r":2: syntax error"),
    "import": ("import math\nVALUE = math.sqrt(-1)\n", r":2: importing it raised ValueError"),
    "missing": ("class Other:\n    def signals(self, bars):\n        return bars\n",
                r": no class 'Broken' \(its classes: Other\)"),
    "raises": (
        """
        class Broken:
            warmup_bars = 2
            def signals(self, bars):
                return bars["nope"]
        """, r":5: Broken.signals raised KeyError: 'nope'"),
    "length": (
        """
        import numpy as np
        class Broken:
            warmup_bars = 2
            def signals(self, bars):
                return np.zeros(len(bars) - 1)
        """, r":5: Broken: signals\(\) returned shape \(\d+,\) for \d+ bars"),
    "dtype": (
        """
        class Broken:
            warmup_bars = 2
            def signals(self, bars):
                return ["buy"] * len(bars)
        """, r"signals\(\) returned dtype <U3"),
    "nan": (
        """
        import numpy as np
        class Broken:
            warmup_bars = 2
            def signals(self, bars):
                out = np.zeros(len(bars))
                out[7] = np.nan
                return out
        """, r"signals\(\) returned NaN at bar 2024-01-01 07:00 \(row 7\)"),
    "values": (
        """
        import pandas as pd
        class Broken:
            warmup_bars = 2
            def signals(self, bars):
                return pd.Series(2, index=bars.index)
        """, r"signals\(\) returned 2 at bar 2024-01-01 00:00 \(row 0\); only -1, 0 and 1"),
    "warmup": (
        """
        class Broken:
            warmup_bars = 0
            def signals(self, bars):
                return [0] * len(bars)
        """, r"Broken: warmup_bars must be an integer >= 1, got 0"),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_broken_strategy_file_is_one_line_with_file_and_rule_exit_2(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, expected = BROKEN[case]
    path = tmp_path / f"broken_{case}.py"
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    bars = synthetic_ohlcv(600, timeframe="1h", seed=2,
                           start=pd.Timestamp("2024-01-01", tz="UTC").to_pydatetime())
    data = save_ohlcv_csv(bars, tmp_path / "SYNTHUSDT_1h.csv")
    code = main(["backtest", "--data", str(data), "--strategy", f"{path}:Broken",
                 "--kelly-out", str(tmp_path / "k.json")],
                environ={"TRADINGBOT_STATE_DIR": str(tmp_path / "state")})
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1
    assert "Traceback" not in err
    assert err.startswith(f"error: {path}")
    assert re.search(expected, err), err
    assert not (tmp_path / "k.json").exists()


def test_strategies_lists_the_builtins(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["strategies"], environ={}) == 0
    out = capsys.readouterr().out
    for name in ("rsi_ema", "donchian", "bollinger"):
        assert re.search(rf"^{name} \(version \d+\)", out, re.M)
    assert "--param ema_fast=12  an integer in [2, 10000]" in out
