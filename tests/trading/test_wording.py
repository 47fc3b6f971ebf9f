"""Issue 17 item 7-8: what the screen, the journal and ``--once`` say."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from core.clock import SystemClock
from data.synthetic import synthetic_ohlcv
from execution.broker import Position, ProtectiveStop
from journal import Journal
from main import main
from signals.quant_signals import SignalParams
from tests.execution.ccxt_fixtures import TESTNET_ENV
from tests.fake_binance import FakeBinance
from tests.fake_binance_trading import FakeSpotTrading
from trading.run_command import code_version
from trading.status import LoopStatus, SymbolStatus
from trading.view import plain_line

BTC = "BTC/USDT"


class Holding:
    """A broker that holds 0.001 BTC, with or without its stop at 58,000."""

    def __init__(self, *, stop: bool) -> None:
        self.stop = ProtectiveStop("tb-BTCUSDT-S", BTC, Decimal("0.001"), Decimal(58_000)) if (
            stop) else None

    def position(self, symbol: str) -> Position:
        return Position(symbol, Decimal("0.001"), Decimal(60_000), self.stop)


def test_the_screen_shows_an_operator_halt_not_kill_switch_none() -> None:
    status = LoopStatus(symbols={BTC: SymbolStatus(BTC)})
    status.refresh(Holding(stop=True), manual_halt="maintenance")  # type: ignore[arg-type]
    line = plain_line(status)
    assert "halted by the operator: maintenance" in line
    assert "kill switch none" not in line
    status.refresh(Holding(stop=True), manual_halt="")  # type: ignore[arg-type]
    assert "kill switch none" in plain_line(status)


def test_the_screen_shows_the_position_and_stop_as_they_are_now() -> None:
    status = LoopStatus(symbols={BTC: SymbolStatus(BTC)})  # nothing decided in this process
    status.refresh(Holding(stop=True), manual_halt="")  # type: ignore[arg-type]
    assert "pos 0.001 stop 58000" in plain_line(status)
    status.refresh(Holding(stop=False), manual_halt="")  # the stop is gone since
    assert "pos 0.001" in plain_line(status)
    assert "stop" not in plain_line(status)


def test_code_version_is_the_commit_or_the_package_version_never_an_error() -> None:
    git = shutil.which("git")
    if git is not None:
        root = Path(__file__).resolve().parents[2]
        head = subprocess.run([git, "-C", str(root), "rev-parse", "--short", "HEAD"],  # noqa: S603
                              capture_output=True, text=True, check=False).stdout.strip()
        if head:
            assert code_version() == head
    assert code_version(git="/no/such/git") in ("tradingbot 0.1.0", "unknown")


def short_history(closed: int) -> object:
    """Hourly bars ending now: ``closed`` closed ones and the one still forming."""
    now = SystemClock().now()
    start = (now - timedelta(hours=closed)).replace(minute=0, second=0, microsecond=0)
    return synthetic_ohlcv(closed + 1, start=start, seed=1, start_price=60_000.0)


@pytest.fixture
def thin_exchange() -> Iterator[FakeBinance]:
    with FakeBinance(clock=SystemClock()) as fake:
        fake.set_klines("BTCUSDT", "1h", short_history(120))  # type: ignore[arg-type]
        FakeSpotTrading(fake, balances={"USDT": "10000"},
                        prices={"BTCUSDT": "60000", "ETHUSDT": "3000"})
        yield fake


@pytest.mark.parametrize("mode", ["--testnet", "--paper"])
def test_once_on_too_little_history_says_why_and_fails(
    thin_exchange: FakeBinance, tmp_path: Path, capsys: pytest.CaptureFixture[str], mode: str,
) -> None:
    # Its own bar cache: paper reads public bars through it, and the repo's would outlive the test.
    env = {"TRADINGBOT_STATE_DIR": str(tmp_path / "state"),
           "TRADINGBOT_CACHE_DIR": str(tmp_path / "cache"),
           "TRADINGBOT_EXCHANGE_URL": thin_exchange.url, **TESTNET_ENV}
    assert main(["run", mode, "--once"], environ=env) == 1
    need = SignalParams().warmup_bars
    assert (f"decided nothing: BTC/USDT has 120 closed bars, the strategy needs {need}"
            in capsys.readouterr().err)
    if mode == "--testnet":
        with Journal(tmp_path / "state" / "testnet" / "journal.sqlite3") as journal:
            run = journal.latest_run()
        assert run is not None
        assert run.code_version == code_version() != ""
