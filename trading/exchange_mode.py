"""``run --testnet`` and ``run --live``: the same loop with the ccxt broker.

Live needs every part of the opt-in: the ``--live`` flag, the exchange's live keys,
``LIVE_TRADING=yes`` (the execution layer checks those), a usable saved result of these very
settings for the Kelly inputs (``--gate-on``: a backtest's, or a walk-forward's out-of-sample
one), and the promotion gate on it (or ``--override-promotion REASON``, journaled). Orders
are sent when decided (no deferral): the exchange fills at the market.

Several symbols (``--symbols A,B``: each once, one quote currency) trade one account through
one ccxt client: every symbol's orders, candles and start-up reconciliation share its
connection and its rate-limit budget. Live checks the promotion gate symbol by symbol: a
symbol that fails it is refused by name (a journal row, a line on the console and in the log)
and takes no entries, while what it holds is still marked, exited and protected; the others
trade. When every symbol fails, the start is refused. Testnet has no gate.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from core.errors import ConfigError

if TYPE_CHECKING:
    from execution.ccxt_broker import CcxtBroker
    from execution.ccxt_settings import CcxtSettings
    from journal import Journal
    from trading.alerts import Alerter
    from trading.market import ExchangeMarket
    from trading.promotion import GateVerdict
    from trading.sizing import SizingSource

log = logging.getLogger(__name__)


def run_exchange_mode(args: argparse.Namespace, env: Mapping[str, str], strategy: Any) -> int:
    """Connect, reconcile, apply the live gates, then run the loop."""
    from core.clock import SystemClock
    from core.paths import journal_path
    from data.timeframe import timeframe_ms
    from journal import Journal
    from journal.records import RunMode
    from remote.services import operator_services
    from risk.backtest_store import default_results_path
    from trading.alerts import build_alerter
    from trading.instance_lock import single_instance
    from trading.run_command import _drive, _loop
    from trading.setup import Parts, build_sizing, restore_risk

    live = bool(args.live)
    mode = RunMode.LIVE if live else RunMode.TESTNET
    check_symbols(strategy.symbols)
    settings = exchange_settings(args.exchange, env, live=live)
    clock = SystemClock()
    results = default_results_path(env)
    verdict = _live_gates(args, env, strategy, live=live, results=results, now=clock.now())
    alerter = build_alerter(env)
    path = journal_path(env, mode)
    with single_instance(path), Journal(path, clock=clock) as journal:
        broker, market = connect(settings, strategy, env=env, journal=journal, clock=clock,
                                 alerter=alerter)
        sizing = build_sizing(strategy, journal=journal, clock=clock, rolling=False,
                              results_path=results)
        if live:
            _refuse_unsized(sizing, verdict.admitted)
        parts = Parts(broker, _risk_for(strategy, journal, clock, broker, market,
                                        restore_risk), sizing)
        loop = _loop(strategy, env, journal=journal, market=market, parts=parts, clock=clock,
                     mode=mode, deferred=False, alerter=alerter, refused=refusals(verdict))
        _journal_gate(journal, verdict, args.override_promotion)
        _announce(f"{mode} trading", strategy, broker, sizing, verdict)
        loop.status.breakers["exchange"] = str(broker.breaker_status.state)
        bar = timedelta(milliseconds=timeframe_ms(strategy.timeframe))
        with operator_services(args, env, mode=mode, journal_path=path):
            return _drive(loop, bar=bar, clock=clock, once=args.once, broker=broker,
                          mode=mode, before_view=_probe_after_step(broker))


def check_symbols(symbols: tuple[str, ...]) -> None:
    """One account: each market once, every one in the same quote currency."""
    from trading.setup import one_quote

    doubled = sorted({s for s in symbols if symbols.count(s) > 1})
    if doubled:
        raise ConfigError(f"--symbols names {', '.join(doubled)} more than once; each market "
                          "once")
    one_quote(symbols)


def exchange_settings(exchange_id: str, env: Mapping[str, str], *, live: bool) -> CcxtSettings:
    """The ccxt settings of a testnet or live run (refused without keys and opt-in)."""
    from execution.ccxt_settings import CcxtSettings

    base_url = env.get("TRADINGBOT_EXCHANGE_URL", "").strip() or None
    return CcxtSettings.from_env(env, live=live, exchange_id=exchange_id, base_url=base_url,
                                 rate_limit=base_url is None)


def connect(settings: CcxtSettings, strategy: Any, *, env: Mapping[str, str], journal: Journal,
            clock: Any, alerter: Alerter) -> tuple[CcxtBroker, ExchangeMarket]:
    """The broker and every symbol's candles over one ccxt client (one connection, one
    rate-limit budget), reconciled with the exchange for every symbol before anything trades."""
    from core.paths import state_dir
    from execution.ccxt_broker import CcxtBroker
    from execution.ccxt_settings import CcxtBrokerConfig
    from trading.alerts import AlertKind, breaker_closed_text
    from trading.market import ExchangeMarket

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
    mode = "live" if settings.live else "testnet"
    market = ExchangeMarket(timeframe=strategy.timeframe, clock=clock,
                            exchange_id=settings.exchange_id, exchange=broker.exchange,
                            cache_dir=state_dir(env) / mode / "cache",
                            on_outcome=breaker.record_outcome)
    return broker, market


def refusals(verdict: GateVerdict) -> dict[str, str]:
    """Per refused symbol, the reason its decisions and the journal give."""
    return {s: f"refused by the promotion gate: {why}" for s, why in verdict.refused.items()}


def _probe_after_step(broker: CcxtBroker) -> Any:
    """After each step: probe an open breaker once per wake-up (only entries and probes test
    it), and show its state."""
    def after_step(lp: Any) -> None:
        if not broker.breaker_status.allows_entries:
            broker.probe_health()
        lp.status.breakers["exchange"] = str(broker.breaker_status.state)

    return after_step


def _live_gates(args: argparse.Namespace, env: Mapping[str, str], strategy: Any, *,
                live: bool, results: Any, now: Any) -> GateVerdict:
    """The promotion gate, symbol by symbol; testnet has none (every symbol may trade)."""
    from core.paths import journal_path
    from trading.promotion import GateVerdict, check_promotion

    if not live:
        return GateVerdict(strategy.symbols)
    return check_promotion(strategy, results_path=results,
                           paper_journal=journal_path(env, "paper"), now=now,
                           override=args.override_promotion)


def _refuse_unsized(sizing: SizingSource, admitted: tuple[str, ...]) -> None:
    """Live sizes every symbol it may enter on that symbol's saved evidence, or refuses."""
    from trading.sizing import SavedKelly

    if not isinstance(sizing, SavedKelly):
        return
    problems = [f"{s}: {k.problem}" for s, k in sizing.by_symbol.items()
                if k.problem and s in admitted]
    if problems:
        raise ConfigError(f"live trading refused: {'; '.join(problems)}")


def _journal_gate(journal: Journal, verdict: GateVerdict, override: str | None) -> None:
    """The gate's outcome in the run's journal: a row per refused symbol, and an override."""
    from journal.records import Actor, HaltEventKind

    with journal.batch():
        for symbol, why in refusals(verdict).items():
            journal.record_refusal(symbol, why)
        if verdict.overridden:
            journal.record_halt(HaltEventKind.OVERRIDE, f"promotion gate overridden: "
                                f"{override} ({'; '.join(verdict.overridden)})",
                                actor=Actor.OPERATOR)


def _announce(what: str, strategy: Any, broker: CcxtBroker, sizing: SizingSource,
              verdict: GateVerdict) -> None:
    """The start line (the symbols that trade, their sizing and evidence), then a line per
    refused symbol."""
    from trading.sizing import evidence_text

    sized = "; ".join(f"{s}: {sizing.describe(s)}" for s in verdict.admitted)
    print(f"{what} {', '.join(verdict.admitted)} {strategy.timeframe} on "
          f"{broker.exchange.id} ({broker!r}); sizing: {sized}; {evidence_text(sizing)}",
          flush=True)
    log.info("%s start: %s", what, evidence_text(sizing))
    for symbol, why in refusals(verdict).items():
        line = (f"{symbol} {why}; it takes no entries (what it holds is still protected "
                "and exited)")
        print(line, flush=True)
        log.warning("%s", line)


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


def _alert_kind(kind: Any) -> Any:
    from trading.alerts import AlertKind

    return AlertKind(str(kind))
