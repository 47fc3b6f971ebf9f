"""`run --live --symbols BTC/USDT,ETH/USDT` end to end (issue 14, part 3): the real ccxt client
against the fake Binance, one account, the promotion gate per symbol, one exchange client, and
a start-up reconciliation that covers every symbol."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from core.clock import SystemClock
from core.domain import Order, OrderKind, Side
from core.paths import journal_path
from journal import Journal
from main import main
from risk.backtest_store import default_results_path, save_backtest_results
from risk.saved_backtest import SavedBacktest
from tests.execution.ccxt_fixtures import TESTNET_ENV
from tests.fake_binance import KLINES
from tests.fake_binance_trading import ORDER
from tests.trading.live_basket import (
    BTC,
    ETH,
    SYMBOLS,
    Basket,
    Venue,
    both_enter,
    eth_exits_as_btc_enters,
    evidence,
    find_basket,
    live_env,
    promote,
    promote_both,
)
from tests.trading.test_gate_on import run_settings
from trading.alerts import LogAlerter
from trading.book import entry_not_to_send
from trading.exchange_mode import connect, exchange_settings

BOTH, BOTH_AT = find_basket(both_enter)
SWAP, (SWAP_ENTRY, SWAP_EXIT) = find_basket(eth_exits_as_btc_enters)
STRATEGY = run_settings("--symbols", SYMBOLS)


@pytest.fixture
def venue() -> Iterator[Venue]:
    v = Venue(BOTH, BOTH_AT[0])
    yield v
    v.close()


def live(env: dict[str, str], capsys: pytest.CaptureFixture[str], *argv: str
         ) -> tuple[int, str, str]:
    """`run --live --once --symbols BTC/USDT,ETH/USDT ...`: exit code, stdout, stderr."""
    code = main(["run", "--live", "--once", "--symbols", SYMBOLS, *argv], environ=env)
    out, err = capsys.readouterr()
    return code, out, err


def status(env: dict[str, str], capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(["status", "--mode", "live", *argv], environ=env) == 0
    return capsys.readouterr().out


# Why ETH's gate fails: its saved evidence (None: none), its days of paper trading, the reason.
ETH_FAILS: dict[str, tuple[SavedBacktest | None, int, str]] = {
    "failed gates": (evidence(STRATEGY, ETH, passed=False), 14,
                     "the saved backtest failed its gates (sharpe)"),
    "no evidence": (None, 14, "no usable backtest results: no saved backtest of "),
    "stale": (evidence(STRATEGY, ETH, age=timedelta(days=40)), 14,
              "the saved backtest is older than 30 days"),
    "too few trades": (evidence(STRATEGY, ETH, trades=10), 14,
                       "the saved backtest closed 10 trades, fewer than 50 for its Kelly inputs"),
    "too few paper days": (evidence(STRATEGY, ETH), 5,
                           "5 days of paper trading with these settings, 14 needed"),
}


@pytest.mark.parametrize("why", list(ETH_FAILS))
def test_a_symbol_whose_gate_fails_is_refused_by_name_and_the_other_trades(
    why: str, venue: Venue, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    env = live_env(tmp_path / "state", venue.fake.url)
    saved, days, reason = ETH_FAILS[why]
    promote(env, STRATEGY, {BTC: evidence(STRATEGY, BTC), ETH: saved}, {BTC: 14, ETH: days})
    code, out, err = live(env, capsys)
    assert code == 0, err
    assert "live trading BTC/USDT 1h on binance" in out
    refused = f"ETH/USDT refused by the promotion gate: {reason}"
    assert refused in out
    assert refused in caplog.text  # and the log's line
    with Journal(journal_path(env, "live")) as journal:
        [row] = journal.refusals()
        decisions = {d.symbol: d for d in journal.recent_decisions(10)}
    assert (row.symbol, row.reason.startswith(f"refused by the promotion gate: {reason}")) == (
        ETH, True)
    # Both had an entry signal on this bar: BTC entered, ETH was refused by its gate.
    assert decisions[BTC].action == "enter"
    assert decisions[ETH].action == "none"
    assert decisions[ETH].reason.startswith(f"refused by the promotion gate: {reason}")
    assert venue.posted() == [("BTCUSDT", "MARKET", "BUY"), ("BTCUSDT", "STOP_LOSS_LIMIT", "SELL")]
    text = status(env, capsys)
    assert "Trading BTC/USDT; refused ETH/USDT (no entries)" in text
    assert f"ETH/USDT: refused by the promotion gate: {reason}" in text
    view = json.loads(status(env, capsys, "--json"))
    assert view["trading"] == [BTC]
    assert list(view["refused"]) == [ETH]


def test_when_every_symbol_fails_the_start_is_refused_naming_each(
    venue: Venue, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = live_env(tmp_path / "state", venue.fake.url)
    promote(env, STRATEGY, {BTC: evidence(STRATEGY, BTC, passed=False), ETH: None},
            {BTC: 14, ETH: 14})
    code, out, err = live(env, capsys)
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("error: live trading refused by the promotion gate: BTC/USDT: the "
                          "saved backtest failed its gates (sharpe); ETH/USDT: no usable "
                          "backtest results")
    assert not journal_path(env, "live").exists()  # refused before anything was opened
    assert venue.book.orders == []
    # The override lets both through, and says so in the journal.
    save_backtest_results(default_results_path(env), evidence(STRATEGY, ETH, passed=False))
    code, out, err = live(env, capsys, "--override-promotion", "checked by hand")
    assert code == 0, err
    assert "live trading BTC/USDT, ETH/USDT 1h" in out
    with Journal(journal_path(env, "live")) as journal:
        [override] = journal.recent_halts()
        assert journal.refusals() == []
    assert override.reason.startswith("promotion gate overridden: checked by hand (BTC/USDT: "
                                      "the saved backtest failed its gates (sharpe); ETH/USDT")
    assert {s for s, kind, _ in venue.posted() if kind == "MARKET"} == {"BTCUSDT", "ETHUSDT"}


@pytest.mark.parametrize("mode", ["--live", "--testnet"])
def test_one_account_takes_one_quote_currency(
    mode: str, venue: Venue, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {**live_env(tmp_path / "state", venue.fake.url), **TESTNET_ENV}
    code = main(["run", mode, "--once", "--symbols", "BTC/USDT,ETH/BTC"], environ=env)
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip() == ("error: one account, one quote currency: BTC/USDT is quoted in USDT, "
                           "ETH/BTC in BTC")
    code = main(["run", mode, "--once", "--symbols", "BTC/USDT,ETH/USDT,BTC/USDT"],
                environ=env)
    assert code == 2
    assert "--symbols names BTC/USDT more than once" in capsys.readouterr().err
    assert venue.fake.requests == []  # refused before connecting


def test_both_trade_in_one_bar_the_exit_before_the_entry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    venue = Venue(SWAP, SWAP_ENTRY)
    try:
        env = live_env(tmp_path / "state", venue.fake.url)
        promote_both(env, STRATEGY)
        assert live(env, capsys)[0] == 0  # ETH enters; BTC has no entry signal
        assert venue.posted() == [("ETHUSDT", "MARKET", "BUY"),
                                  ("ETHUSDT", "STOP_LOSS_LIMIT", "SELL")]
        venue.at_bar(SWAP_EXIT)
        code, _, err = live(env, capsys)
        assert code == 0, err
        # ETH's exit signal and BTC's entry signal on one bar: BTC comes first in --symbols,
        # but the exit goes first (its stop cancelled, then sold), so its cash could pay.
        assert venue.posted()[2:] == [("ETHUSDT", "MARKET", "SELL"),
                                      ("BTCUSDT", "MARKET", "BUY"),
                                      ("BTCUSDT", "STOP_LOSS_LIMIT", "SELL")]
        assert venue.book.orders[1]["status"] == "CANCELED"  # ETH's stop
        with Journal(journal_path(env, "live")) as journal:
            fills = [(f.symbol, str(f.kind)) for f in journal.fills()]
            last = {d.symbol: d.action for d in journal.recent_decisions(2)}
        assert fills == [(ETH, "entry"), (ETH, "exit"), (BTC, "entry")]
        assert last == {BTC: "enter", ETH: "exit"}
    finally:
        venue.close()


def test_startup_reconciliation_finds_the_second_symbols_stop(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    venue = Venue(SWAP, SWAP_ENTRY)
    try:
        env = live_env(tmp_path / "state", venue.fake.url)
        promote_both(env, STRATEGY)
        assert live(env, capsys)[0] == 0  # ETH holds, its stop rests on the exchange
        [stop] = venue.book.open_orders("ETHUSDT")
        # Cancelled outside the bot while it was down: the next start finds it gone and
        # puts a new one on at once.
        venue.book.orders[-1]["status"] = "CANCELED"
        venue.book.free["ETH"] += venue.book.locked.pop("ETH")
        code, _, err = live(env, capsys)
        assert code == 0, err
        assert f"reconciliation: stop {stop['clientOrderId']} of " in caplog.text
        [again] = venue.book.open_orders("ETHUSDT")
        assert again["clientOrderId"] != stop["clientOrderId"]
        assert again["origQty"] == stop["origQty"]
        # An order of ours on ETH that the journal does not know: trading is refused.
        venue.book.orders.append({**again, "orderId": 99, "clientOrderId": "tb-stray-1"})
        code, _, err = live(env, capsys)
        assert code == 1
        assert "the exchange has open order tb-stray-1 (" in err
        assert "ETH) that the journal does not know" in err
    finally:
        venue.close()


def test_every_symbol_goes_over_one_exchange_client(venue: Venue, tmp_path: Path) -> None:
    env = live_env(tmp_path / "state", venue.fake.url)
    settings = exchange_settings("binance", env, live=True)
    with Journal(tmp_path / "j.sqlite3") as journal:
        broker, market = connect(settings, STRATEGY, env=env, journal=journal,
                                 clock=SystemClock(), alerter=LogAlerter())
        assert market.exchange is broker.exchange
        # Tag the one client: every request of both symbols, candles and orders alike, must
        # carry it (another client would not).
        broker.exchange.headers = {"X-Client": "the-one"}
        venue.fake.clear_log()
        for symbol in (BTC, ETH):
            market.closed_bars(symbol, 3)
            broker.poll(symbol)
            broker.cancel_all(symbol)
    requests = venue.fake.requests
    assert {r.params.get("symbol") for r in requests if r.path == KLINES} == {"BTCUSDT",
                                                                               "ETHUSDT"}
    assert {r.params.get("symbol") for r in requests if r.path.startswith("/api/v3/open")} == {
        "BTCUSDT", "ETHUSDT"}
    assert {r.headers.get("X-Client") for r in requests} == {"the-one"}
    assert ORDER not in {r.path for r in requests}  # nothing held: no order was touched


def test_basket_is_what_the_tests_say() -> None:
    btc, eth = BOTH.signals(BTC), BOTH.signals(ETH)
    assert btc[BOTH_AT[0]] == eth[BOTH_AT[0]] == 1
    assert isinstance(SWAP, Basket)
    assert SWAP.signals(ETH)[SWAP_ENTRY] == 1
    assert SWAP.signals(ETH)[SWAP_EXIT] == -1
    assert SWAP.signals(BTC)[SWAP_EXIT] == 1


def test_a_refused_symbol_still_exits_what_it_holds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # ETH went live and entered; by the next start its gate fails (a new failing backtest of
    # the same settings). It takes no entry, but its exit signal still sells what it holds.
    venue = Venue(SWAP, SWAP_ENTRY)
    try:
        env = live_env(tmp_path / "state", venue.fake.url)
        promote_both(env, STRATEGY)
        assert live(env, capsys)[0] == 0
        save_backtest_results(default_results_path(env), evidence(STRATEGY, ETH, passed=False))
        venue.at_bar(SWAP_EXIT)
        code, out, err = live(env, capsys)
        assert code == 0, err
        assert "ETH/USDT refused by the promotion gate: the saved backtest failed its gates" in out
        assert venue.posted()[2:] == [("ETHUSDT", "MARKET", "SELL"),
                                      ("BTCUSDT", "MARKET", "BUY"),
                                      ("BTCUSDT", "STOP_LOSS_LIMIT", "SELL")]
    finally:
        venue.close()


def test_an_entry_left_pending_is_not_sent_once_its_symbol_is_refused(tmp_path: Path) -> None:
    entry = Order(ETH, Side.BUY, Decimal(100), kind=OrderKind.ENTRY,
                  bar_time=datetime(2024, 1, 20, 4, tzinfo=UTC))
    with Journal(tmp_path / "j.sqlite3") as journal:
        why = entry_not_to_send(entry, newer_bar_ms=None, journal=journal,
                                refused="refused by the promotion gate: stale")
        assert why == ("ETH/USDT entry decided on the bar of 2024-01-20 04:00 UTC is not "
                       "sent: refused by the promotion gate: stale")
        assert entry_not_to_send(entry, newer_bar_ms=None, journal=journal, refused="") == ""
        exit_ = Order(ETH, Side.SELL, Decimal(0), kind=OrderKind.EXIT, bar_time=entry.bar_time)
        assert entry_not_to_send(exit_, newer_bar_ms=None, journal=journal,
                                 refused="refused by the promotion gate: stale") == ""


def test_testnet_trades_both_symbols_without_a_gate(
    venue: Venue, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {"TRADINGBOT_STATE_DIR": str(tmp_path / "state"),
           "TRADINGBOT_EXCHANGE_URL": venue.fake.url, **TESTNET_ENV}
    code = main(["run", "--testnet", "--once", "--symbols", SYMBOLS], environ=env)
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "testnet trading BTC/USDT, ETH/USDT 1h" in out
    assert [(s, kind) for s, kind, _ in venue.posted()] == [
        ("BTCUSDT", "MARKET"), ("BTCUSDT", "STOP_LOSS_LIMIT"),
        ("ETHUSDT", "MARKET"), ("ETHUSDT", "STOP_LOSS_LIMIT")]
    assert len(venue.fake.calls("/api/v3/account")) == 1  # one start, one balance read
