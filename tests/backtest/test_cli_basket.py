"""``backtest --data A --data B ...``: one account over a basket, and its one-line refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from data import synthetic_ohlcv
from main import main
from tests.backtest.test_cli import write_csv


def market(tmp_path: Path, name: str, *, seed: int, n: int = 3000, start: str = "2024-01-01",
           timeframe: str = "1h") -> Path:
    frame = synthetic_ohlcv(n, seed=seed, start=start, timeframe=timeframe, volatility=0.01)
    return write_csv(frame, tmp_path / f"{name}_{timeframe}_synthetic.csv")


def basket(tmp_path: Path) -> list[str]:
    return [str(market(tmp_path, "BTCUSDT", seed=1)),
            str(market(tmp_path, "ETHUSDT", seed=2, start="2024-01-20")),
            str(market(tmp_path, "DOGEUSDT", seed=3, n=2500))]


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["backtest", *args], environ={})
    out = capsys.readouterr()
    return code, out.out, out.err


def test_a_basket_runs_on_one_account_with_each_symbols_share(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = basket(tmp_path)
    trades = tmp_path / "trades.csv"
    args = [a for f in files for a in ("--data", f)]
    code, out, err = run([*args, "--json", "--trades-out", str(trades)], capsys)
    assert code in (0, 3), err
    doc = json.loads(out)
    assert doc["basket"] == ["BTC/USDT", "ETH/USDT", "DOGE/USDT"]
    per = doc["symbols"]
    assert sum(s["trades"] for s in per.values()) == doc["stats"]["total_trades"] > 0
    pnl = sum(s["pnl"] for s in per.values())
    assert pnl == pytest.approx(doc["stats"]["end_value"] - doc["stats"]["start_value"],
                                abs=1e-6)
    # ETH starts later: its first traded bar is not before its file's first bar.
    assert per["ETH/USDT"]["first_bar"] >= "2024-01-20"
    table = pd.read_csv(trades)
    assert table.columns[0] == "symbol"
    assert set(table["symbol"]) <= set(doc["basket"])
    assert len(table) == doc["stats"]["total_trades"]
    code, out, _ = run(args, capsys)
    per_symbol = out[out.index("Per symbol (in trading order)"):]
    assert per_symbol.index("BTC/USDT") < per_symbol.index("ETH/USDT") < per_symbol.index(
        "DOGE/USDT")


@pytest.mark.parametrize(("extra", "message"), [
    ("mixed quote", "one account holds one quote currency"),
    ("mixed bars", "a basket trades one bar length"),
    ("twice", "BTC/USDT is given twice"),
    ("--kelly-out", "--kelly-out takes one market"),
    ("--symbol", "--symbol takes one market"),
])
def test_a_bad_basket_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: str, message: str
) -> None:
    first = str(market(tmp_path, "BTCUSDT", seed=1))
    second = {
        "mixed quote": str(market(tmp_path, "ETHBTC", seed=2)),
        "mixed bars": str(market(tmp_path, "ETHUSDT", seed=2, timeframe="15m")),
        "twice": first,
    }.get(extra, str(market(tmp_path, "ETHUSDT", seed=2)))
    args = ["--data", first, "--data", second]
    if extra == "--kelly-out":
        args += ["--kelly-out", str(tmp_path / "kelly.json")]
    if extra == "--symbol":
        args += ["--symbol", "BTC/USDT"]
    code, _, err = run(args, capsys)
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_a_basket_scores_at_the_configured_fixed_conviction(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trades = tmp_path / "trades.csv"
    args = [a for f in basket(tmp_path) for a in ("--data", f)]
    code = main(["backtest", *args, "--trades-out", str(trades)],
                environ={"SCORER_FIXED_CONVICTION": "0.8"})
    capsys.readouterr()
    assert code in (0, 3)
    assert set(pd.read_csv(trades)["conviction"]) == {0.8}
