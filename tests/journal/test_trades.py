"""Trades, open positions and the audit/tax CSV from hand-made fills with known P&L."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path

import pytest

from core.domain import Fill, OrderKind, Side
from journal import CSV_COLUMNS, Journal, JournalError
from journal.trades import build_ledger
from tests.journal.conftest import fill, order, utc

D = Decimal
BUY, SELL = Side.BUY, Side.SELL
EXIT, STOP = OrderKind.EXIT, OrderKind.STOP

# Two BTC round trips (one still open) and an ETH trade whose buy fee was taken in ETH.
FILLS = [
    fill("e-1", BUY, "0.010", "40000", "0.4", at=utc(1, 1)),
    fill("e-1", BUY, "0.005", "40200", "0.201", at=utc(1, 1)),
    fill("e-2", BUY, "1.0", "2000", "0.001", at=utc(1, 2), fee_asset="ETH", symbol="ETH/USDT"),
    fill("s-2", SELL, "0.999", "1900", "1.8981", at=utc(1, 3), symbol="ETH/USDT", kind=STOP),
    fill("x-1", SELL, "0.015", "41000", "0.615", at=utc(1, 5), kind=EXIT),
    fill("e-3", BUY, "0.01", "42000", "0.42", at=utc(2)),
]


def journal_with_fills(journal: Journal, fills: list[Fill]) -> Journal:
    for f in fills:
        if journal.find_order(f.client_id) is None:
            journal.record_order_intent(order(f.client_id, f.side, kind=f.kind, symbol=f.symbol))
        journal.record_fill(f)
    return journal


def test_trades_pair_entries_with_exits_and_pnl_is_exact(journal: Journal) -> None:
    btc, eth, still_open = journal_with_fills(journal, FILLS).trades()
    # 615 sold - 601 bought - 1.216 USDT fees
    assert (btc.number, btc.symbol, btc.side, btc.pnl) == (1, "BTC/USDT", BUY, D("12.784"))
    assert (btc.opened_at, btc.closed_at, btc.amount) == (utc(1, 1), utc(1, 5), D("0.015"))
    assert btc.entry_price == D("601") / D("0.015")
    assert (btc.exit_price, btc.fees, btc.client_ids) == (D(41000), D("1.216"), ("e-1", "x-1"))
    # 1898.1 sold - 2000 bought - 1.8981 USDT; the 0.001 ETH fee is why only 0.999 was sold
    assert (eth.number, eth.pnl, eth.quote) == (2, D("-103.7981"), "USDT")
    assert eth.fees == D("3.8981")  # 1.8981 USDT + 0.001 ETH at 2000
    assert (still_open.number, still_open.closed_at, still_open.pnl) == (3, None, None)


def test_open_positions_are_entries_minus_exits(journal: Journal) -> None:
    positions = journal_with_fills(journal, FILLS).open_positions()
    assert list(positions) == ["BTC/USDT"]
    btc = positions["BTC/USDT"]
    assert (btc.amount, btc.entry_price, btc.opened_at) == (D("0.01"), D(42000), utc(2))


def test_csv_has_one_row_per_fill_with_pnl_on_closing_fills(
    journal: Journal, tmp_path: Path,
) -> None:
    journal_with_fills(journal, FILLS)
    out = tmp_path / "audit.csv"
    assert journal.export_csv(out) == len(FILLS)
    with out.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames or ()) == CSV_COLUMNS
        rows = list(reader)
    assert [(r["client_id"], r["trade_no"], r["realised_pnl"]) for r in rows] == [
        ("e-1", "1", ""), ("e-1", "1", ""), ("e-2", "2", ""), ("s-2", "2", "-103.7981"),
        ("x-1", "1", "12.784"), ("e-3", "3", ""),
    ]
    first, _, eth_buy, stop = rows[:4]
    assert first == {
        "time_utc": "2024-01-01T01:00:00.000000+00:00", "symbol": "BTC/USDT", "side": "buy",
        "kind": "entry", "amount": "0.010", "price": "40000", "notional": "400.000",
        "fee": "0.4", "fee_asset": "USDT", "client_id": "e-1", "exchange_id": "x-e-1",
        "trade_no": "1", "realised_pnl": "", "pnl_asset": "USDT",
    }
    assert (eth_buy["fee"], eth_buy["fee_asset"]) == ("0.001", "ETH")
    assert (stop["kind"], stop["side"], stop["notional"]) == ("stop", "sell", "1898.100")
    total = sum(D(r["realised_pnl"]) for r in rows if r["realised_pnl"])
    assert total == D("12.784") + D("-103.7981")


def test_csv_to_a_stream_of_an_empty_journal_is_the_header(journal: Journal) -> None:
    buffer = io.StringIO()
    assert journal.export_csv(buffer) == 0
    assert buffer.getvalue().strip() == ",".join(CSV_COLUMNS)


def test_a_short_round_trip_uses_the_same_formula() -> None:
    ledger = build_ledger([
        fill("a", SELL, "2", "100", "0.2", at=utc(1)),
        fill("b", BUY, "2", "90", "0.18", at=utc(2)),
    ])
    (trade,) = ledger.trades
    assert (trade.side, trade.pnl, ledger.positions) == (SELL, D("19.62"), {})


def test_partial_exits_close_the_trade_only_when_flat() -> None:
    ledger = build_ledger([
        fill("a", BUY, "1", "100", at=utc(1)),
        fill("b", SELL, "0.4", "110", at=utc(2)),
        fill("c", SELL, "0.6", "120", at=utc(3)),
    ])
    assert [line.realised_pnl for line in ledger.lines] == [None, None, D("16.0")]
    assert ledger.trades[0].exit_price == D("116")


def test_fees_in_a_third_asset_are_listed_not_guessed() -> None:
    (trade,) = build_ledger([
        fill("a", BUY, "1", "100", "0.01", at=utc(1), fee_asset="BNB"),
        fill("b", SELL, "1", "101", "0.01", at=utc(2), fee_asset="BNB"),
    ]).trades
    assert (trade.pnl, trade.fees, trade.other_fees) == (D(1), D(0), (("BNB", D("0.02")),))


def test_dust_left_by_a_base_fee_closes_the_trade_when_allowed() -> None:
    fills = [
        fill("a", BUY, "0.001", "40000", "0.000001", at=utc(1), fee_asset="BTC"),
        fill("b", SELL, "0.00099", "41000", "0.04059", at=utc(2)),
        fill("c", BUY, "0.001", "42000", at=utc(3)),
    ]
    strict = build_ledger(fills)
    assert [t.number for t in strict.trades] == [1]  # 0.000009 BTC left: never flat
    loose = build_ledger(fills, dust=D("0.00001"))
    first, second = loose.trades
    assert first.pnl == D("40.59") - D("40") - D("0.04059")
    assert (second.opened_at, second.amount) == (utc(3), D("0.001"))
    assert loose.positions["BTC/USDT"].amount == D("0.001009")  # the dust carried over


def test_fills_that_go_through_zero_are_refused() -> None:
    with pytest.raises(JournalError, match=r"'b' .* takes BTC/USDT through zero to -0\.5"):
        build_ledger([
            fill("a", BUY, "1", "100", at=utc(1)),
            fill("b", SELL, "1.5", "100", at=utc(2)),
        ])
