"""``run --testnet`` and ``run --live``: the same loop with the ccxt broker.

Live needs every part of the opt-in: the ``--live`` flag, the exchange's live keys,
``LIVE_TRADING=yes`` (the execution layer checks those), a usable saved result of these very
settings for the Kelly inputs (``--gate-on``: a backtest's, or a walk-forward's out-of-sample
one), and the promotion gate on it (or ``--override-promotion REASON``, journaled). Orders
are sent when decided (no deferral): the exchange fills at the market.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from core.errors import ConfigError

log = logging.getLogger(__name__)


def run_exchange_mode(args: argparse.Namespace, env: Mapping[str, str], strategy: Any) -> int:
    """Connect, reconcile, apply the live gates, then run the loop."""
    from core.clock import SystemClock
    from core.paths import journal_path, state_dir
    from data.timeframe import timeframe_ms
    from execution.ccxt_broker import CcxtBroker
    from execution.ccxt_settings import CcxtBrokerConfig, CcxtSettings
    from journal import Journal
    from journal.records import RunMode
    from risk.backtest_store import default_results_path
    from trading.alerts import AlertKind, breaker_closed_text, build_alerter
    from trading.instance_lock import single_instance
    from trading.market import ExchangeMarket
    from trading.run_command import _drive, _loop
    from trading.setup import Parts, build_sizing, restore_risk
    from trading.sizing import SavedKelly, evidence_text

    live = bool(args.live)
    mode = RunMode.LIVE if live else RunMode.TESTNET
    base_url = env.get("TRADINGBOT_EXCHANGE_URL", "").strip() or None
    settings = CcxtSettings.from_env(env, live=live, exchange_id=args.exchange,
                                     base_url=base_url, rate_limit=base_url is None)
    clock = SystemClock()
    results = default_results_path(env)
    overridden = _live_gates(args, env, strategy, live=live, results=results, now=clock.now())
    alerter = build_alerter(env)
    path = journal_path(env, mode)
    with single_instance(path), Journal(path, clock=clock) as journal:
        broker = CcxtBroker.connect(
            settings, journal=journal, state=journal, clock=clock,
            config=CcxtBrokerConfig(symbols=strategy.symbols, fee=strategy.fee),
            on_alert=lambda a: alerter.alert(_alert_kind(a.kind), f"{a.symbol} {a.text}"),
        )
        broker.start().raise_if_mismatch()
        # The breaker counts the candles' failures too.
        breaker = broker.breaker
        breaker.watch(on_close=lambda s: alerter.alert(AlertKind.BREAKER_CLOSED,
                                                       breaker_closed_text(s.since)))
        # Candles of the venue that fills (testnet prices differ), cached apart from mainnet's.
        market = ExchangeMarket(timeframe=strategy.timeframe, clock=clock,
                                exchange_id=args.exchange,
                                exchange=_market_exchange(args.exchange, base_url, live=live),
                                cache_dir=state_dir(env) / str(mode) / "cache",
                                on_outcome=breaker.record_outcome)
        sizing = build_sizing(strategy, journal=journal, clock=clock, rolling=False,
                              results_path=results)
        if live and isinstance(sizing, SavedKelly) and sizing.problems:
            raise ConfigError(f"live trading refused: {'; '.join(sizing.problems)}")
        parts = Parts(broker, _risk_for(strategy, journal, clock, broker, market,
                                        restore_risk), sizing)
        print(f"{mode} trading {', '.join(strategy.symbols)} {strategy.timeframe} on "
              f"{args.exchange} ({broker!r}); sizing: {sizing.describe()}; "
              f"{evidence_text(sizing)}", flush=True)
        log.info("%s start: %s", mode, evidence_text(sizing))
        loop = _loop(strategy, env, journal=journal, market=market, parts=parts, clock=clock,
                     mode=mode, deferred=False, alerter=alerter)
        if overridden:
            from journal.records import Actor, HaltEventKind

            journal.record_halt(HaltEventKind.OVERRIDE, f"promotion gate overridden: "
                                f"{args.override_promotion} ({'; '.join(overridden)})",
                                actor=Actor.OPERATOR)
        loop.status.breakers["exchange"] = str(broker.breaker_status.state)
        bar = timedelta(milliseconds=timeframe_ms(strategy.timeframe))

        def after_step(lp: Any) -> None:
            # Only entries and probes test an open breaker: probe it once per wake-up.
            if not broker.breaker_status.allows_entries:
                broker.probe_health()
            lp.status.breakers["exchange"] = str(broker.breaker_status.state)

        return _drive(loop, bar=bar, clock=clock, once=args.once, broker=broker, mode=mode,
                      before_view=after_step)


def _live_gates(args: argparse.Namespace, env: Mapping[str, str], strategy: Any, *,
                live: bool, results: Any, now: Any) -> list[str]:
    """The promotion gate for live; the problems that an override let through."""
    if not live:
        return []
    from core.paths import journal_path
    from trading.promotion import check_promotion

    # The gate below is checked per symbol already; several symbols live are a later issue.
    if len(strategy.symbols) != 1:
        raise ConfigError("live trading takes one symbol per bot (several symbols live are "
                          "not supported yet)")
    return check_promotion(strategy, results_path=results,
                           paper_journal=journal_path(env, "paper"), now=now,
                           override=args.override_promotion)


def _risk_for(strategy: Any, journal: Any, clock: Any, broker: Any, market: Any,
              restore: Any) -> Any:
    """The saved risk state, or a new one at the account's current equity."""
    from dataclasses import replace

    if journal.risk_state() is not None:
        return restore(strategy, journal, clock)
    prices = {s: float(market.closed_bars(s, 1)["close"].iloc[-1]) for s in strategy.symbols}
    equity = broker.equity(prices)
    if not equity > 0:
        raise ConfigError("the exchange account holds no quote balance to trade with")
    return restore(replace(strategy, init_cash=equity), journal, clock)


def _market_exchange(exchange_id: str, base_url: str | None, *, live: bool) -> Any:
    from data.fetcher import make_exchange

    exchange = make_exchange(exchange_id, base_url=None)
    if not live:
        exchange.set_sandbox_mode(True)
    if base_url:  # tests: the fake exchange serves both the orders and the candles
        exchange = make_exchange(exchange_id, base_url=base_url)
    return exchange


def _alert_kind(kind: Any) -> Any:
    from trading.alerts import AlertKind

    return AlertKind(str(kind))
