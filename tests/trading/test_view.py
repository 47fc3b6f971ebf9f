"""The live screen (issue 12, item 3): what it shows at 80 and 200 columns, replay progress,
log lines above it, and plain lines when stdout is not a terminal."""

from __future__ import annotations

import io
import logging
import re
import threading
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from rich.console import Console
from rich.logging import RichHandler

from data.loader import save_ohlcv_csv
from data.synthetic import synthetic_ohlcv
from execution.broker import Position, ProtectiveStop
from main import main
from risk.config import RiskConfig
from risk.manager import RiskManager
from trading.replay import ReplayRun, replay
from trading.screen import (
    COLUMNS,
    LAYOUTS,
    Progress,
    Screen,
    ScreenState,
    column_widths,
    price,
    symbols_table,
)
from trading.setup import StrategySettings
from trading.status import LoopStatus, SymbolStatus
from trading.view import ReplayProgress, View, plain_line

ETH = "ETH/USDT"
# Entries at any conviction (the sizing's minimum) and no flattening on a halt: the position
# opened before the operator's halt is still held when the screen is drawn.
HOLDS = StrategySettings(symbols=(ETH,), kelly_min_trades=10**6, flatten_on_halt=False)
CUT_NUMBER = re.compile(r"\d…|…\d|\d\.…")  # a number cut by an ellipsis


def console(width: int) -> Console:
    return Console(width=width, record=True, file=io.StringIO(), force_terminal=True)


def drawn(screen: Screen, width: int) -> str:
    out = console(width)
    out.print(screen)
    return out.export_text()


class FakeClock:
    """Seconds that move only when told (the screen's pace and time left)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class HeldRun:
    """A replay stopped right after the operator's halt was applied, holding ETH."""

    screen: Screen
    loop: Any
    position: Position
    alerts: list[str]


@pytest.fixture(scope="module")
def held(tmp_path_factory: pytest.TempPathFactory) -> HeldRun:
    path = tmp_path_factory.mktemp("view") / "journal.sqlite3"
    clock, stop = FakeClock(), threading.Event()
    view = View(terminal=True, mode="paper", strategy=HOLDS.strategy.describe(),
                console=console(80), clock=clock)
    runs: list[ReplayRun] = []

    def step(loop: Any) -> None:
        view.replay_step(loop)
        clock.now += 0.01
        run = runs[0]
        if loop.book.manual_halt:
            stop.set()  # the halt is in force and the position still open: draw this
        elif run.broker.position(ETH).is_open and not run.journal.pending_commands():
            run.journal.post_command("halt", "maintenance until 15:00")

    def start(run: ReplayRun) -> None:
        runs.append(run)
        view.start_replay(run)

    try:
        replay({ETH: synthetic_ohlcv(650, seed=7)}, HOLDS, journal_path=path, stop=stop,
               on_start=start, on_step=step)
        view.finish_replay()
    finally:
        view.close()  # before the tests: the Live redirects stdout while it runs
    screen, run = view.screen(), runs[0]
    alerts = [n.text for n in screen.state.notices if n.level == "ALERT"]
    return HeldRun(screen, run.loop, run.broker.position(ETH), alerts)


@pytest.mark.parametrize("width", [80, 200])
def test_the_screen_shows_halt_position_entry_unrealised_pnl_and_alert(
    held: HeldRun, width: int
) -> None:
    text = drawn(held.screen, width)
    assert held.position.is_open
    assert held.position.entry_price is not None
    close = held.loop.book.last_close[ETH]
    entry = float(held.position.entry_price)
    upnl = (close - entry) * float(held.position.amount)
    assert "HALTED operator halt: maintenance until 15:00" in text
    assert f"{upnl:+,.2f}" in text  # unrealised P&L
    assert price(entry) in text  # entry price
    assert price(close) in text
    assert "kill switch" not in text.lower().replace("kill switches: none", "")
    assert held.alerts
    assert "operator halt: maintenance until 15:00" in held.alerts[-1]
    assert "ALERT halt: operator halt: maintenance until 15:00" in text
    assert "REPLAY" not in text
    assert "PAPER" in text
    assert not CUT_NUMBER.search(text), text
    assert all(len(line) <= width for line in text.splitlines())


def test_a_narrow_screen_folds_columns_but_never_cuts_a_number() -> None:
    t = datetime(2024, 5, 1, 14, tzinfo=UTC)
    wide = SymbolStatus("DOGE/USDT", t, 123_456.789, 1, 0.6234, "llm", "none",
                        "holding; the protective stop stays until the signal turns", 1234.5678,
                        121_000.5, 119_876.54)
    state = ScreenState(mode="live", strategy="donchian(window=55)", symbols=(wide, wide),
                        equity=1_234_567.89, peak=1_300_000.0, drawdown=0.0503,
                        daily_pnl=-12_345.67)
    for width in (60, 80, 100, 140, 200):
        text = drawn(Screen(state), width)
        assert not CUT_NUMBER.search(text), (width, text)
        for figure in ("123,457", "121,000", "119,877", "1,234.5678", "1,234,567.89",
                       "-12,345.67", "+4,420,060.13"):
            assert figure in text, (width, figure, text)
        assert "holding; the protective stop" in text


def test_every_kill_switch_in_force_is_on_screen() -> None:
    risk = RiskManager(RiskConfig(max_drawdown_pct=0.1, max_entries_per_day=1), 10_000.0)
    when = datetime(2024, 5, 1, 14, tzinfo=UTC)
    risk.check_and_update(10_000.0, now=when)
    risk.record_entry(now=when)
    risk.check_and_update(8_500.0, now=when)  # a 15% drawdown latches
    status = LoopStatus(symbols={ETH: SymbolStatus(ETH)})
    status.refresh(Flat(), manual_halt="maintenance", risk=risk)  # type: ignore[arg-type]
    text = drawn(Screen(ScreenState.of(status, mode="paper", strategy="s()")), 80)
    assert "HALTED drawdown latch" in text
    assert "HALTED entry cap: 1 entries today reached the cap of 1 per UTC day" in text
    assert "HALTED operator halt: maintenance" in text
    line = plain_line(status)
    assert "kill switch drawdown: " in line
    assert "entry cap: 1 entries today" in line
    assert "halted by the operator: maintenance" in line


class Flat:
    """A broker that holds nothing."""

    def position(self, symbol: str) -> Position:
        return Position(symbol)


def test_replay_progress_shows_bars_done_of_total_and_time_left() -> None:
    clock = FakeClock()
    progress = ReplayProgress(1000, clock=clock)
    progress.done = 250
    clock.now = 1.0
    status = LoopStatus(symbols={}, bar_time=None)
    p = progress.snapshot(status)
    assert p == Progress(done=250, total=1000, sim_time=None, bars_per_s=250.0)
    state = ScreenState(mode="replay", strategy="s()", symbols=(), progress=p)
    text = drawn(Screen(state), 80)
    assert "250/1,000 bars" in text
    assert "250 bars/s" in text
    assert "time left 3 s" in text
    assert "25%" in text


def test_replay_redraws_by_time_not_by_bar() -> None:
    clock = FakeClock()
    progress = ReplayProgress(20_000, clock=clock)
    draws = 0
    for _ in range(10_000):  # 10,000 bars in one second
        progress.done += 1
        clock.now += 0.0001
        draws += progress.due()
    assert 3 <= draws <= 5


def test_log_lines_print_above_the_screen_through_the_shared_console() -> None:
    shared = console(80)
    handler = RichHandler(console=shared, show_path=False, show_time=False)
    root = logging.getLogger()
    root.addHandler(handler)
    view = View(terminal=True, mode="paper", strategy="s()")
    try:
        logging.getLogger("trading.test").warning("disk nearly full")
        view.update(fake_loop(), Flat())  # type: ignore[arg-type]
    finally:
        view.close()
        root.removeHandler(handler)
    out = shared.file.getvalue()  # type: ignore[attr-defined]
    assert out.count("disk nearly full") >= 2  # the log line, and the panel's copy
    # The line was printed by the Live (which erased its screen first), then the screen again.
    line_at = out.index("disk nearly full")
    assert "\x1b[2K" in out[:line_at]
    assert "PAPER" in out[line_at:]


def test_a_new_width_redraws_on_a_cleared_screen() -> None:
    out = console(80)
    view = View(terminal=True, mode="paper", strategy="s()", console=out)
    try:
        view.update(fake_loop(), Flat())  # type: ignore[arg-type]
        assert "\x1b[2J" not in out.file.getvalue()  # type: ignore[attr-defined]
        out.width = 120
        view.update(fake_loop(), Flat())  # type: ignore[arg-type]
    finally:
        view.close()
    assert "\x1b[2J" in out.file.getvalue()  # type: ignore[attr-defined]


def fake_loop(manual_halt: str = "") -> Any:
    status = LoopStatus(symbols={ETH: SymbolStatus(ETH)})
    return SimpleNamespace(status=status, risk=RiskManager(RiskConfig(), 1000.0),
                           book=SimpleNamespace(manual_halt=manual_halt, manual_pause="",
                                                last_close={}))


class Holding:
    """A broker that holds 0.5 ETH bought at 3,000 with its stop at 2,955."""

    def position(self, symbol: str) -> Position:
        stop = ProtectiveStop("tb-S", symbol, Decimal("0.5"), Decimal(2955))
        return Position(symbol, Decimal("0.5"), Decimal(3000), stop)


def test_without_a_terminal_each_step_is_one_plain_line(capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    view = View(terminal=False, mode="paper", strategy="s()")
    loop = fake_loop(manual_halt="maintenance")
    loop.book.last_close[ETH] = 3012.5
    view.update(loop, Holding())  # type: ignore[arg-type]
    view.close()
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    assert "\x1b" not in out
    assert "halted by the operator: maintenance" in out
    assert "pos 0.5 stop 2955 entry 3000 upnl 6.25" in out


def test_a_replay_without_a_terminal_prints_nothing_per_bar(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bars = synthetic_ohlcv(400, timeframe="1h", seed=11, start_price=30_000.0)
    data = save_ohlcv_csv(bars, tmp_path / "SYNTHUSDT_1h_view.csv")
    env = {"TRADINGBOT_STATE_DIR": str(tmp_path / "state")}
    assert main(["run", "--replay", str(data)], environ=env) == 0
    out = capsys.readouterr().out
    assert out.startswith("replay finished: ")
    assert out.count("\n") == 1
    assert "\x1b" not in out


def test_a_status_never_refreshed_names_the_marks_halt() -> None:
    status = replace(LoopStatus(symbols={}), halt="daily", halt_reason="Daily loss 5.2%")
    assert status.halts == (("daily", "Daily loss 5.2%"),)
    assert "kill switch daily: Daily loss 5.2%" in plain_line(status)


def test_each_layout_is_drawn_from_the_width_it_needs() -> None:
    t = datetime(2024, 5, 1, 14, tzinfo=UTC)
    rows = (SymbolStatus("BTC/USDT", t, 104_712.35, -1, 0.5, "fixed", "exit", "signal -1",
                         0.0123, 102_400.0, 103_950.5),)
    cells = {key: [column.cell(s) for s in rows] for key, column in COLUMNS.items()}
    for keys in LAYOUTS:
        need = sum(column_widths(cells, keys)) + 2 * (len(keys) - 1)
        out = console(need)
        out.print(symbols_table(rows, need))
        lines = out.export_text().splitlines()
        assert [h for h in lines[0].split() if h != "(UTC)"] == [COLUMNS[k].header.split()[0]
                                                                 for k in keys]
        assert len(lines[1]) == need  # the rule under the header: the table's whole width
        if keys != LAYOUTS[-1]:  # one cell less: one layout narrower
            out = console(need - 1)
            out.print(symbols_table(rows, need - 1))
            assert len(out.export_text().splitlines()[0].split()) < len(lines[0].split())
