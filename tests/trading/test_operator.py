"""status / halt / resume / report through main(), against real journals of real replays.

The running-bot test replays synthetic bars through the live loop in a background thread and
drives it only through the CLI and the journal, as an operator on the same machine would.
"""

from __future__ import annotations

import io
import json
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from core.clock import SimulatedClock
from core.domain import OrderKind, Side
from core.paths import journal_path
from data.synthetic import synthetic_ohlcv
from journal import Action, Actor, HaltEventKind, Journal, Trade, last_bar_key
from main import main
from risk.config import RiskConfig
from tests.trading import basket
from trading.control import read_status
from trading.operator import render, status_blocks
from trading.operator_report import exit_reasons, report_blocks
from trading.replay import ReplayResult, replay
from trading.setup import StrategySettings

# Every entry signal trades at the default size: entries are frequent and predictable.
ALWAYS_TRADES = StrategySettings(kelly_min_trades=10**6)
# A full-size position and a 3% drawdown limit: the latch fires a few bars after warm-up.
TIGHT = replace(
    StrategySettings(risk=RiskConfig(max_position_pct=0.9, max_drawdown_pct=0.03,
                                     daily_loss_limit_pct=0.5)),
    default_position_pct=0.9, kelly_min_trades=10**6,
)
WAIT_S = 15.0  # bound on every wait for the background loop; normally a fraction of a second


def env_for(tmp: Path) -> dict[str, str]:
    return {"TRADINGBOT_STATE_DIR": str(tmp)}


def cli(env: Mapping[str, str], capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(list(argv), environ=env) == 0
    return capsys.readouterr().out


def wait_for(what: str, check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"waited {WAIT_S}s for {what}")
        time.sleep(0.005)


@pytest.fixture(scope="module")
def latched(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A finished replay whose drawdown latch is in force."""
    env = env_for(tmp_path_factory.mktemp("latched"))
    bars = synthetic_ohlcv(700, seed=1)
    replay({"BTC/USDT": bars}, TIGHT, journal_path=journal_path(env, "replay"))
    return env


@pytest.fixture(scope="module")
def holding(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A finished replay that ends long ETH/USDT, its stop resting."""
    env = env_for(tmp_path_factory.mktemp("holding"))
    strategy = replace(ALWAYS_TRADES, symbols=("ETH/USDT",))
    bars = synthetic_ohlcv(650, seed=7)
    replay({"ETH/USDT": bars}, strategy, journal_path=journal_path(env, "replay"))
    return env


@pytest.mark.parametrize(
    "argv", [["status"], ["halt", "--reason", "x"], ["resume", "--reason", "x"], ["report"],
             ["pause", "--reason", "x"], ["flatten", "--reason", "x"],
             ["flatten", "BTC/USDT", "--reason", "x"], ["positions"], ["daily", "--json"]])
def test_no_journal_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    assert main([*argv, "--mode", "live"], environ=env_for(tmp_path)) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"error: no journal at {tmp_path}/live/journal.sqlite3: the bot has not run "
                   "in this mode (choose it with --mode; TRADINGBOT_STATE_DIR sets the state "
                   "directory)")
    assert not (tmp_path / "live").exists()  # nothing created: a typo must not make a journal


def test_status_of_a_finished_replay_is_what_the_journal_holds(
    latched: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    view = json.loads(cli(latched, capsys, "status", "--mode", "replay", "--json",
                          "--last", "5"))
    with Journal(journal_path(latched, "replay")) as journal:
        run, mark = journal.latest_run(), journal.latest_equity()["*"]
        halt = journal.recent_halts(1)[0]
        decisions = journal.recent_decisions(5)
        last_bar = journal.load_state(last_bar_key("BTC/USDT"))
    assert run is not None
    assert halt.kind is HaltEventKind.DRAWDOWN_LATCH
    assert view["run"] == {"id": run.id, "started_at": run.started_at.isoformat(),
                           "mode": "replay", "strategy_id": run.strategy_id,
                           "code_version": run.code_version}
    account = view["account"]
    assert Decimal(account["equity"]) == mark.equity
    assert Decimal(account["peak"]) == mark.peak
    assert Decimal(account["daily_pnl"]) == mark.daily_pnl
    assert account["drawdown"] == mark.drawdown
    assert mark.bar_time is not None
    assert account["bar_time"] == mark.bar_time.isoformat()
    assert view["halts_in_force"] == [
        {"kind": "drawdown", "reason": halt.reason, "since": halt.at.isoformat()}]
    assert [d["id"] for d in view["decisions"]] == [d.id for d in decisions]
    assert [d["reason"] for d in view["decisions"]] == [d.reason for d in decisions]
    assert last_bar is not None
    assert view["last_bars"][0]["bar_time"] == last_bar["time"]
    # A replay's clock is simulated: its age against today's wall clock would be meaningless.
    assert view["last_bars"][0]["age_s"] is None
    assert view["stalled"] is False
    assert view["pending_commands"] == []
    assert view["positions"] == []

    text = cli(latched, capsys, "status", "--mode", "replay")
    assert f"Equity {mark.equity:,.2f}  peak {mark.peak:,.2f}  drawdown {mark.drawdown:.2%}" in text
    assert f"drawdown  {halt.at:%Y-%m-%d %H:%M:%S} UTC  {halt.reason}" in text
    assert "Open positions: none" in text
    assert "Queued operator commands: none" in text
    assert "┃" not in text  # plain text when stdout is not a terminal (journald, pipes)


def test_status_shows_the_open_position_with_its_stop(
    holding: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    view = json.loads(cli(holding, capsys, "status", "--mode", "replay", "--json"))
    with Journal(journal_path(holding, "replay")) as journal:
        (position,) = journal.open_positions().values()
        (stop,) = [o for o, _ in journal.unresolved_orders() if o.kind is OrderKind.STOP]
    assert view["positions"] == [{
        "symbol": "ETH/USDT", "amount": str(position.amount),
        "entry_price": str(position.entry_price), "opened_at": position.opened_at.isoformat(),
        "stop": str(stop.stop_price)}]


@pytest.mark.parametrize(("minutes_ago", "stalled", "ago"),
                         [(10, False, "(10m "), (150, True, "(2h 30m ago)")])
def test_status_shows_how_long_ago_the_last_bar_was_processed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], minutes_ago: int, stalled: bool,
    ago: str,
) -> None:
    env = env_for(tmp_path)
    processed = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    with Journal(journal_path(env, "paper"), clock=SimulatedClock(processed)) as journal:
        journal.record_run(mode="paper", strategy_id="s", config={"timeframe": "1h"})
        journal.save_state(last_bar_key("BTC/USDT"), {"time": "2030-01-01T09:00:00+00:00"})
    (bar,) = json.loads(cli(env, capsys, "status", "--json"))["last_bars"]
    assert bar["symbol"] == "BTC/USDT"
    assert bar["stalled"] is stalled
    assert minutes_ago * 60 <= bar["age_s"] < minutes_ago * 60 + 30
    text = cli(env, capsys, "status")
    assert ("STALLED: no bar finished for over 2 bar lengths" in text) is stalled
    assert (f"Last bar BTC/USDT: 2030-01-01 09:00:00 UTC, processed "
            f"{processed:%Y-%m-%d %H:%M:%S} UTC {ago}") in text


def test_halt_and_resume_are_applied_by_the_running_loop(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = env_for(tmp_path)
    path = journal_path(env, "replay")
    with running_replay(synthetic_ohlcv(3000, seed=3), path) as (outcome, reader):
        out = cli(env, capsys, "halt", "--mode", "replay", "--reason", "exchange maintenance")
        assert out.startswith(f"queued halt #1 in the replay journal {path}: exchange "
                              "maintenance\nin force now: nothing (entries allowed)\n")
        assert "no new entries, open positions are closed at the next open" in out
        wait_for("the halt's ack", lambda: reader.recent_commands(1)[0].acked_at is not None)
        assert main(["status", "--mode", "replay", "--json"], environ=env) == 0
        in_force = json.loads(capsys.readouterr().out)["halts_in_force"]
        assert [(h["kind"], h["reason"]) for h in in_force] == [
            ("manual", "exchange maintenance")]
        wait_for("an entry refused by the halt", lambda: any(
            d.reason == "operator halt: exchange maintenance"
            for d in reader.recent_decisions(50)))
        out = cli(env, capsys, "resume", "--mode", "replay", "--reason", "maintenance over")
        assert "in force now: manual since" in out
        assert "it lifts the manual halt." in out
        wait_for("the resume's ack", lambda: reader.recent_commands(1)[0].acked_at is not None)
        resumed_at = reader.recent_halts(1)[0].at
        wait_for("an entry after the resume", lambda: any(
            d.action is Action.ENTER and d.recorded_at >= resumed_at
            for d in reader.recent_decisions(50)))
    # Stopped by us part-way: the commands were applied while it was running.
    assert outcome.result is not None
    assert not outcome.result.finished
    with Journal(path) as journal:
        assert_applied_in_order(journal)


def assert_applied_in_order(journal: Journal) -> None:
    resume_row, halt_row = journal.recent_halts(2)
    assert (halt_row.kind, halt_row.actor, halt_row.reason) == (
        HaltEventKind.MANUAL_HALT, Actor.OPERATOR, "exchange maintenance")
    assert (resume_row.kind, resume_row.actor, resume_row.reason) == (
        HaltEventKind.MANUAL_RESUME, Actor.OPERATOR, "maintenance over")
    resume_cmd, halt_cmd = journal.recent_commands(2)
    assert halt_cmd.result == "manual halt in force: no entries, positions closed at the next open"
    assert resume_cmd.result == "manual halt lifted"
    assert journal.pending_commands() == []
    during = [d for d in journal.recent_decisions(3000)
              if halt_row.at <= d.recorded_at < resume_row.at]
    assert during
    assert all(d.action is not Action.ENTER for d in during)
    refused = [d for d in during if d.signal == 1 and d.action is Action.NONE]
    assert refused
    assert all(d.reason == "operator halt: exchange maintenance" for d in refused)


@dataclass
class Outcome:
    """What the background replay returned or raised."""

    result: ReplayResult | None = None
    error: BaseException | None = None


@contextmanager
def running_replay(bars: pd.DataFrame, path: Path) -> Iterator[tuple[Outcome, Journal]]:
    """A replay at 10 ms per bar in a thread, stopped on exit; yields (outcome, reader)."""
    stop, started, outcome = threading.Event(), threading.Event(), Outcome()

    def target() -> None:
        try:
            outcome.result = replay({"BTC/USDT": bars}, ALWAYS_TRADES, journal_path=path,
                                    speed=0.01, stop=stop, on_step=lambda _: started.set())
        except BaseException as e:  # surfaced in the test thread
            outcome.error = e
        finally:
            started.set()

    thread = threading.Thread(target=target, name="replay", daemon=True)
    thread.start()
    try:
        assert started.wait(WAIT_S), "the replay did not start"
        assert outcome.error is None, outcome.error
        with Journal(path) as reader:
            yield outcome, reader
    finally:
        stop.set()
        thread.join(WAIT_S)
    assert not thread.is_alive(), "the replay did not stop"
    assert outcome.error is None, outcome.error


def test_resume_queued_while_stopped_lifts_the_latch_at_the_next_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = env_for(tmp_path)
    path = journal_path(env, "replay")
    bars = synthetic_ohlcv(720, seed=1)
    replay({"BTC/USDT": bars.iloc[:700]}, TIGHT, journal_path=path)
    out = cli(env, capsys, "resume", "--mode", "replay", "--reason", "reviewed the losses")
    assert "in force now: drawdown since" in out
    assert "it lifts the drawdown halt (the peak restarts at the current equity)." in out
    view = json.loads(cli(env, capsys, "status", "--mode", "replay", "--json"))
    assert [c["reason"] for c in view["pending_commands"]] == ["reviewed the losses"]
    assert [h["kind"] for h in view["halts_in_force"]] == ["drawdown"]  # not lifted by queueing

    replay({"BTC/USDT": bars}, TIGHT, journal_path=path)  # the next start applies it
    with Journal(path) as journal:
        (command,) = journal.recent_commands()
        resume_row = next(h for h in journal.recent_halts() if h.kind is HaltEventKind.RESUME)
    assert command.result == "drawdown latch lifted, peak reset to current equity"
    assert resume_row.actor is Actor.OPERATOR
    assert resume_row.reason.endswith("': reviewed the losses")
    view = json.loads(cli(env, capsys, "status", "--mode", "replay", "--json"))
    assert view["pending_commands"] == []
    assert view["recent_halts"][0]["kind"] in ("resume", "drawdown_latch")


def test_a_blank_reason_is_refused_and_nothing_is_queued(
    latched: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["halt", "--mode", "replay", "--reason", "  "], environ=latched) == 2
    assert capsys.readouterr().err == (
        "error: halt needs a non-empty --reason: it is recorded in the journal\n")
    with pytest.raises(SystemExit) as exit_:
        main(["resume", "--mode", "replay"], environ=latched)
    assert exit_.value.code == 2
    with Journal(journal_path(latched, "replay")) as journal:
        assert journal.pending_commands() == []


def test_report_totals_trades_and_exports_every_fill(
    holding: dict[str, str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    csv_path = tmp_path / "fills.csv"
    text = cli(holding, capsys, "report", "--mode", "replay", "--csv", str(csv_path),
               "--last", "3")
    with Journal(journal_path(holding, "replay")) as journal:
        trades = journal.trades()
        expected_csv = io.StringIO(newline="")
        rows = journal.export_csv(expected_csv)
    closed = [t.pnl for t in trades if t.pnl is not None]
    wins = sum(1 for p in closed if p > 0)
    assert f"Trades: {len(closed)} closed, 1 open; {wins} wins" in text
    pnl = sum(closed, Decimal(0))
    fees = sum((t.fees for t in trades if t.pnl is not None), Decimal(0))
    assert f"Realised P&L {pnl:+,.2f} USDT after {fees:,.2f} USDT fees" in text
    assert f"Last 3 of {len(trades)} trades:" in text
    table_rows = [line.split() for line in text.splitlines() if line.startswith("  ")]
    last_row = next(r for r in reversed(table_rows) if r[0] == str(trades[-1].number))
    assert last_row[-3:] == ["-", "-", "open"]  # an open trade: no P&L, no return, no reason
    with csv_path.open(encoding="utf-8", newline="") as written:
        assert written.read() == expected_csv.getvalue()
    assert text.splitlines()[-1].startswith(f"wrote {rows} fill rows to {csv_path}")


def test_report_to_an_unwritable_csv_path_is_one_line_and_exit_2(
    holding: dict[str, str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    target = tmp_path / "no-such-dir" / "fills.csv"
    assert main(["report", "--mode", "replay", "--csv", str(target)], environ=holding) == 2
    assert capsys.readouterr().err.startswith(f"error: cannot write the CSV export {target}")


def test_status_on_a_terminal_is_rich_tables(
    latched: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    with Journal(journal_path(latched, "replay")) as journal:
        view = read_status(journal, mode="replay", now=datetime.now(UTC), last=3)
    render(status_blocks(view), terminal=True)
    out = capsys.readouterr().out
    assert "Kill switches in force" in out
    assert "┃" in out
    assert "Open positions: none" in out



def test_report_shows_fees_paid_in_another_asset_apart_from_the_pnl() -> None:
    opened = datetime(2025, 1, 2, 3, tzinfo=UTC)
    trade = Trade(
        number=1, symbol="BTC/USDT", side=Side.BUY, opened_at=opened,
        closed_at=opened + timedelta(hours=5), amount=Decimal("0.001"),
        entry_price=Decimal(100_000), exit_price=Decimal(101_000), fees=Decimal(0),
        other_fees=(("BNB", Decimal("0.00021")),), pnl=Decimal("1.000"), quote="USDT",
        client_ids=("e", "x"),
    )
    blocks = report_blocks([trade], last=5, where="live journal x")
    assert "Trades: 1 closed, 0 open; 1 wins (100.0%), 0 losses or flat" in blocks
    assert "Realised P&L +1.00 USDT after 0.00 USDT fees" in blocks
    assert "Fees in other assets, not in the P&L: BNB 0.00021" in blocks


def _report_of(env: Mapping[str, str], last: int = 20) -> list[object]:
    from trading.operator_report import MAX_HALT_ROWS, exit_reasons

    with Journal(journal_path(env, "replay")) as journal:
        trades = journal.trades()
        return list(report_blocks(trades, last=last, where="replay journal",
                                  exits=exit_reasons(journal, trades),
                                  halts=journal.recent_halts(MAX_HALT_ROWS)))


def test_report_at_80_columns_keeps_every_cell_whole(
    latched: dict[str, str], capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    render(_report_of(latched), terminal=True)  # type: ignore[arg-type]
    lines = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in lines) <= 80
    rows = [line for line in lines if line.startswith("│")]
    trade_rows = [r for r in rows if "BTC/USDT" in r]
    assert trade_rows, lines
    for row in trade_rows:  # the symbol and the time whole, a return and why it closed
        assert re.search(r"│ BTC/USDT │ buy  │ 2024-\d\d-\d\d \d\d:\d\d │", row), row
        assert re.search(r"[+-]\d+\.\d\d% │ (stop|signal|halt) +│$", row), row
    text = "\n".join(lines)
    assert "(hidden at 80 columns: amount, fees, closed (UTC), entry, exit;" in text
    assert "Halts: 1 drawdown_latch" in text
    assert "│ drawdown_latch │ bot   │ Max drawdown" in text


def test_report_at_200_columns_shows_every_column(
    latched: dict[str, str], capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    render(_report_of(latched), terminal=True)  # type: ignore[arg-type]
    text = capsys.readouterr().out
    for header in ("closed (UTC)", "amount", "entry", "exit", "fees", "held", "return",
                   "exit reason"):
        assert f" {header} " in text
    assert "hidden at" not in text


def test_report_says_why_each_trade_closed_from_its_closing_order(
    latched: dict[str, str],
) -> None:
    from trading.operator_report import exit_reasons

    with Journal(journal_path(latched, "replay")) as journal:
        trades = journal.trades()
        reasons = exit_reasons(journal, trades)
        kinds = {t.number: journal.find_order(t.client_ids[-1]) for t in trades}
    assert set(reasons) == {t.number for t in trades if t.closed_at is not None}
    for number, reason in reasons.items():
        order = kinds[number]
        assert order is not None
        assert reason == ("stop" if order.kind is OrderKind.STOP else order.reason.split()[0])
    assert "stop" in reasons.values()


def test_exit_reason_words_and_a_stop_known_only_by_its_id() -> None:
    from core.domain import Order
    from trading.operator_report import exit_reasons

    opened = datetime(2025, 1, 2, 3, tzinfo=UTC)

    def trade(number: int, closing_id: str) -> Trade:
        return Trade(number=number, symbol="BTC/USDT", side=Side.BUY, opened_at=opened,
                     closed_at=opened + timedelta(hours=2), amount=Decimal(1),
                     entry_price=Decimal(100), exit_price=Decimal(99), fees=Decimal(0),
                     other_fees=(), pnl=Decimal(-1), quote="USDT",
                     client_ids=("tb-BTCUSDT-202501020300-E", closing_id))

    orders = {
        "x1": Order("BTC/USDT", Side.SELL, Decimal(0), kind=OrderKind.EXIT,
                    reason="halt: manual stop for the news; closing at the next open"),
        "x2": Order("BTC/USDT", Side.SELL, Decimal(0), kind=OrderKind.EXIT,
                    reason="signal -1 closes the long"),
    }

    class Orders:
        def find_order(self, client_id: str) -> Order | None:
            return orders.get(client_id)

    trades = [trade(1, "x1"), trade(2, "x2"), trade(3, "tb-BTCUSDT-202501020400-S1"),
              trade(4, "other-tool-id")]
    assert exit_reasons(Orders(), trades) == {  # type: ignore[arg-type]
        1: "halt", 2: "signal", 3: "stop", 4: "-"}
    row = report_blocks(trades[:1], last=1, where="x", exits={1: "halt"})[-2]
    assert row.rows[0][-3:] == ("-1.00", "-1.00%", "halt")  # type: ignore[union-attr]
    assert row.rows[0][5] == "2h 0m"  # type: ignore[union-attr]


def test_pause_flatten_positions_and_daily_through_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Hand-written bars (tests/trading/basket.py: the volume is the signal), 1,000 USDT, no
    # costs: bar 0's entry buys 500 / 100 = 5 ETH at bar 1's open; equity at the closes is
    # 1000, 1000, 1020 (bar 2 closes at 104). The bot is stopped there; paused and flattened
    # meanwhile, its next start sells the 5 ETH at bar 3's open (108): 1040 from then on, and
    # bar 3's entry signal is refused by the pause.
    eth = "ETH/USDT"
    env = env_for(tmp_path)
    path = journal_path(env, "replay")
    rows = [(0, 100, 100, 100, basket.ENTER), (1, 100, 100, 100, 0), (2, 104, 104, 104, 0),
            (3, 108, 108, 108, basket.ENTER), (4, 110, 110, 110, 0), (5, 111, 111, 111, 0)]
    strategy = basket.settings(eth)
    basket.run({eth: basket.bars(*rows[:3])}, strategy, path)
    (held,) = json.loads(cli(env, capsys, "positions", "--mode", "replay", "--json"))
    assert held["symbol"] == eth
    assert float(held["amount"]) == 5.0
    assert float(held["entry_price"]) == 100.0
    assert held["opened_at"] == basket.at(1).isoformat()
    assert float(held["stop"]) == pytest.approx(10.0)  # 90% under the entry
    text = cli(env, capsys, "positions", "--mode", "replay")
    row = r"ETH/USDT\s+5(\.0)?\s+100(\.0)?\s+10(\.0*)?\s+2024-01-01 01:00:00 UTC"
    assert re.search(row, text), text

    out = cli(env, capsys, "pause", "--mode", "replay", "--reason", "lunch")
    assert out.startswith(f"queued pause #1 in the replay journal {path}: lunch\n"
                          "in force now: nothing (entries allowed)\n")
    assert "no new entries; open positions keep their stops and exits, until `resume`." in out
    out = cli(env, capsys, "flatten", "eth/usdt", "--mode", "replay", "--reason", "too volatile")
    assert out.startswith(f"queued flatten ETH/USDT #2 in the replay journal {path}: too "
                          "volatile\n")
    assert "1 command(s) queued before it are applied first, in order." in out
    assert "the ETH/USDT position is closed at the next open; entries stay allowed" in out
    text = cli(env, capsys, "status", "--mode", "replay")
    assert re.search(r"2\s+flatten ETH/USDT\s+\S+ \S+ UTC\s+cli\s+too volatile", text), text

    basket.run({eth: basket.bars(*rows)}, strategy, path)  # the next start applies them
    assert basket.fills(path) == [(eth, "entry", basket.at(1), 5.0, 100.0),
                                  (eth, "exit", basket.at(3), 5.0, 108.0)]
    assert basket.reasons(path, eth)[basket.at(3)] == "operator pause: lunch"
    with Journal(path) as journal:
        flatten, pause = journal.recent_commands(2)
        assert exit_reasons(journal, journal.trades()) == {1: "flatten"}
    assert (pause.result, flatten.result) == ("no new entries",
                                              "ETH/USDT closing at the next open")
    assert json.loads(cli(env, capsys, "positions", "--mode", "replay", "--json")) == []
    text = cli(env, capsys, "status", "--mode", "replay")
    assert "Paused by the operator: lunch (since " in text

    (day,) = json.loads(cli(env, capsys, "daily", "--mode", "replay", "--json", "--days", "3"))
    assert day["day"] == "2024-01-01"
    assert [float(day[k]) for k in ("start_equity", "end_equity", "pnl")] == [1000, 1040, 40]
    assert (day["pnl_pct"], day["marks"]) == (pytest.approx(0.04), 6)
    text = cli(env, capsys, "daily", "--mode", "replay")
    assert re.search(r"2024-01-01\s+1,000.00\s+1,040.00\s+\+40.00\s+\+4.00%", text), text


@pytest.mark.parametrize(("argv", "message"), [
    (["flatten", "DOGE/USDT"], "error: flatten: DOGE/USDT is not traded by this bot (BTC/USDT)"),
    (["flatten", "BTCUSDT"], "error: flatten: 'BTCUSDT' is not a market like BTC/USDT"),
    (["pause"], "error: pause needs a non-empty --reason: it is recorded in the journal"),
])
def test_a_mistaken_command_is_one_line_exit_2_and_queues_nothing(
    latched: dict[str, str], capsys: pytest.CaptureFixture[str], argv: list[str], message: str,
) -> None:
    assert main([*argv, "--mode", "replay", "--reason", " " if argv == ["pause"] else "why"],
                environ=latched) == 2
    assert capsys.readouterr().err == message + "\n"
    with Journal(journal_path(latched, "replay")) as journal:
        assert journal.pending_commands() == []
