"""The trading loop: one decision path for replay, paper and live (ARCHITECTURE.md).

``TradingLoop.step()`` applies queued operator commands (between bars the Runner applies them
every few seconds through ``poll_commands``), then processes every closed bar it has not
processed yet, in time order: the union of the symbols' bar times, each time t with S_t,
the symbols that have a bar at t that ends their warm-up (a symbol that starts later warms up
on its own bars), always in the order of ``LoopSettings.symbols``:
1. the open (paper: what the previous closes decided, at this bar's open): first every pending
   EXIT of S_t, then every pending ENTRY of S_t, so cash an exit frees can fund an entry at the
   same open (an entry the cash cannot pay is refused by the broker, alerted and dropped);
   then the broker's stop check of each symbol of S_t (paper: from the fill bar on);
2. every fill the journal holds beyond the loop's fill cursor is accounted, in fill order: the
   open entry, the closed trade's P&L, the loss streak and cooldown, the symbol's Kelly record;
3. equity is marked at the close over every position (a symbol without a bar keeps its last
   close) and the account's kill switches step on it (the bar's UTC day);
4. per symbol of S_t: the decision for the next open (exits, or an entry: checks, the
   open-positions cap, scorer, size, the gross-exposure cap). The caps count what is held (a
   pending exit still holds) plus the entries already decided and not filled: those of earlier
   symbols at this close and, where the basket contract (issue 14) is silent, an entry still
   waiting for its symbol's next bar after a gap, which will fill then.
A symbol without a bar at a time is neither filled, stopped, decided nor re-marked at it; an
order it has pending waits for its next bar. One symbol behaves exactly as before baskets.
A symbol in ``LoopSettings.refused`` (live: its promotion gate failed) goes through every step
but takes no entry, and an entry it had pending is dropped; what it holds is still marked,
exited and protected.

One bar is one atomic unit: everything it changes (wallet, orders, fills, trade ledger, risk
and sizing state, halts, decisions, the last bar done) commits in one journal transaction, so a
kill at any instant leaves the bar before or the bar after, never half of one. An operator
command commits with its effect (halt rows, the book: a flatten's exit is a pending order like
any decided one) and its ack. Alerts go out only after their commit
(``Journal.after_commit``). A bar whose transaction fails is rolled back and the loop reloads
its state from the journal, so memory never runs ahead of the disk. A replay at full speed
commits a group of whole bars at a time (trading/replay.py): a kill then loses whole bars, which
the restart replays to the same result.

Live orders leave the process, so they cannot commit with their bar: the bar commits its
decision with the order as *pending*; right after the commit the broker journals the intent
(its own commit), sends it and journals the answer (exits before entries, so a freed balance
can pay an entry); a second transaction then folds the fills and clears the pending order. A
kill anywhere in between leaves the order pending: the next step sends it again under the same
client id, which the broker resolves by looking it up (never a duplicate, never forgotten).
Fills folded by the cursor are counted exactly once.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial
from typing import Any

import pandas as pd

from core.clock import Clock
from core.domain import Bar, Fill, Order, OrderKind
from core.errors import AttemptsExhausted, BotError
from execution.broker import Broker
from journal import Journal
from journal.errors import JournalError
from journal.records import RISK_STATE_KEY, Actor, Command, CommandKind
from risk.manager import RiskManager
from signals.scorer import Scorer
from signals.strategy import LoadedStrategy, SignalRow
from trading import book
from trading.alerts import Alerter, AlertKind
from trading.bar_signals import BarSignals
from trading.decide import ENTER, Decision, DecisionInputs, decide_entry, decide_exit
from trading.decide import refuse_before_scoring as pre_check
from trading.market import (
    BarArrays,
    BarWindow,
    MarketData,
    bar_timestamp,
    closed_window,
    new_bar_times,
)
from trading.sizing import RollingKelly, SizingSource
from trading.status import LoopStatus, SymbolStatus

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LoopSettings:
    """How the loop trades; the strategy part hashes into the saved backtest's strategy_id.

    Attributes:
        symbols: markets traded (one account, one quote currency).
        timeframe: bar length of every market.
        strategy: the strategy whose signals the loop trades.
        flatten_on_halt: close positions at the next open while the drawdown latch (or an
            operator halt) is in force.
        deferred_fills: paper/replay: decided orders fill at the next bar's open; live: now.
        decide_on_catch_up: replay decides on every bar; live/paper only on the latest, so
            a bot back from downtime never trades on stale bars.
        scorer_name: provider/model for the journal's LLM rows.
        refused: symbols that take no entries, each with why (live: refused by the promotion
            gate); their positions are still marked, exited and protected.
    """

    symbols: tuple[str, ...]
    timeframe: str
    strategy: LoadedStrategy
    flatten_on_halt: bool = True
    deferred_fills: bool = True
    decide_on_catch_up: bool = False
    scorer_name: tuple[str, str] = ("fixed", "")
    refused: Mapping[str, str] = field(default_factory=dict)


class TradingLoop:
    """Composes market data, signals, scorer, risk, broker and journal; see the module doc."""

    def __init__(
        self, settings: LoopSettings, *, market: MarketData, scorer: Scorer, broker: Broker,
        journal: Journal, risk: RiskManager, sizing: SizingSource, clock: Clock,
        alerter: Alerter, check: Callable[[str, pd.DataFrame], None] | None = None,
    ) -> None:
        self.settings = settings
        self._market, self._scorer, self._broker = market, scorer, broker
        self._journal, self.risk, self.sizing = journal, risk, sizing
        self._clock, self._alerter = clock, alerter
        # What memory is reset to when a bar rolls back and the journal has nothing saved yet.
        self._risk_at_start = risk.to_dict()
        self._sizing_at_start = sizing.to_dict() if isinstance(sizing, RollingKelly) else None
        self._outbox: list[tuple[AlertKind, str]] = []
        # Per symbol: the bar arrays the signals were last computed on, and those signals. A
        # replay's arrays are the whole file's (computed once); live fetches new ones a step.
        self._signals: dict[str, BarSignals] = {}
        self._bar_numbers: dict[str, tuple[tuple[str, float], ...]] = {}  # of the bar decided
        self._warm = settings.strategy.warmup_bars
        # The strategy checks (look-ahead, warm-up) on each symbol's first window, once; a
        # failure raises StrategyError out of the step, before anything is decided.
        self._check = check
        self._unchecked = set(settings.symbols) if check is not None else set()
        self.book = book.LoopBook.load(journal, settings.symbols)
        self.status = LoopStatus(symbols={s: SymbolStatus(s) for s in settings.symbols})

    def step(self) -> int:
        """Apply operator commands, then process every new closed bar; returns bars done."""
        try:
            self._apply_commands()
            windows = {s: self._window(s) for s in self.settings.symbols}
            # A bar is decidable once warm-up bars end at it.
            times = new_bar_times(windows, self.book.last_bar, skip=self._warm - 1)
            if not self.settings.deferred_fills:  # left pending by a kill: resolve it now
                latest = max(times) if times else None
                self._send_pending(self._last_done(), newer_bar_ms=latest)
            for n, when in enumerate(times):
                decide = self.settings.decide_on_catch_up or n == len(times) - 1
                self._process(when, windows, decide=decide)
        except BaseException:
            self._outbox.clear()  # nothing of a rolled-back bar may be said
            self.reload()
            raise
        return len(times)

    def reload(self) -> None:
        """Take every piece of loop state from the journal again (memory is discarded)."""
        j = self._journal
        self.book = book.LoopBook.load(j, self.settings.symbols)
        saved = j.risk_state()
        self.risk = RiskManager.from_dict(self.risk.config, saved or self._risk_at_start,
                                          clock=self._clock)
        if isinstance(self.sizing, RollingKelly) and self._sizing_at_start is not None:
            self.sizing.load(self._sizing_at_start)
            book.restore_sizing(j, self.sizing, self.settings.symbols)
        self._broker.reload()

    def guard(self) -> None:
        """Between bars (live; a no-op for paper and replay): pending exits are sent again,
        then the broker's protection watchdog runs; what filled is accounted at once."""
        if self.settings.deferred_fills:
            return
        try:
            protected = self._send_pending(self._last_done())
            if not protected and self._broker.guard():
                self._settle(self._last_done(), pending=dict(self.book.pending))
        except BaseException:
            self._outbox.clear()
            self.reload()
            raise

    def poll_commands(self) -> int:
        """Between bars: apply the queued operator commands now; how many were applied.

        Live sends what a flatten queued right after its commit (a kill in between leaves it
        pending: the restart's step sends it, under the same client id). Paper and replay fill
        it at the next open. A failure rolls back and reloads, leaving the command queued.
        """
        try:
            applied = self._apply_commands()
            if applied and not self.settings.deferred_fills:
                self._send_pending(self._last_done())
        except BaseException:
            self._outbox.clear()
            self.reload()
            raise
        return applied

    # -- bars -------------------------------------------------------------------------------
    def _window(self, symbol: str) -> BarWindow:
        need = self._warm + book.CATCH_UP_BARS
        return closed_window(self._market, symbol, need)

    def _last_done(self) -> pd.Timestamp | None:
        return max(self.book.last_bar.values()) if self.book.last_bar else None

    def _process(self, when_ms: int, windows: Mapping[str, BarWindow], *, decide: bool) -> None:
        # S_t: the symbols with a bar at this time that ends their warm-up (as in step()).
        skip = self._warm - 1
        at = {s: i for s, w in windows.items()
              if (i := w.index_of(when_ms)) is not None and i >= w.start + skip}
        bars = {s: windows[s].bars.bar(s, i) for s, i in at.items()}
        when = bar_timestamp(when_ms)
        bar_time = when.to_pydatetime()
        simulated = self.settings.deferred_fills
        if not simulated:
            for bar in bars.values():  # a real exchange: its requests commit on their own
                self._broker.on_bar(bar)
        with self._journal.batch():
            if simulated:
                self._execute(bars)
            for bar in bars.values():
                self.book.last_close[bar.symbol] = bar.close
            self._fold_fills(bar_time)
            prices = {s: b.close for s, b in bars.items()}
            prices.update({s: p for s, p in self.book.last_close.items() if s not in prices})
            equity = self._broker.equity(prices)
            self.risk.check_and_update(equity, now=bar_time)
            self._route_risk_events()
            decisions = []
            if decide:
                for symbol, bar in bars.items():
                    decisions.append(self._decide(bar, windows[symbol], at[symbol], equity))
            self._save(when, bars, equity, decisions)
        self._journal.after_commit(self._flush_outbox)
        if not simulated:
            self._send_pending(when)

    def _signals_of(self, symbol: str, window: BarWindow) -> BarSignals:
        """The strategy's signals over the window's arrays: the same for replay, paper, live.

        A replay's arrays are the whole file, computed once, as the backtest computes them; the
        look-ahead check (signals/strategy_checks.py) is what makes that equal to the signal
        live trading computes on a trailing window.
        """
        cached = self._signals.get(symbol)
        if cached is None or cached.bars is not window.bars:
            cached = BarSignals(window.bars, self.settings.strategy)
            if symbol in self._unchecked and self._check is not None:
                self._check(symbol, cached.frame)
                self._unchecked.discard(symbol)
            self._signals[symbol] = cached
        return cached

    # -- execution --------------------------------------------------------------------------
    def _execute(self, bars: Mapping[str, Bar]) -> None:
        """Paper: the open's exits, then its entries, then each symbol's stop check."""
        for kind in (OrderKind.EXIT, OrderKind.ENTRY):
            for symbol, bar in bars.items():
                pending = self.book.pending.get(symbol)
                if pending is not None and pending.kind is kind:
                    del self.book.pending[symbol]
                    self._submit(pending, price=bar.open, at=bar.time)
        for bar in bars.values():
            self._broker.on_bar(bar)

    def _submit(self, order: Order, *, price: float | None, at: datetime) -> BotError | None:
        """Submit ``order``; the order's failure (alerted, returned), never the journal's."""
        try:
            self._broker.submit(order, price=price, at=at)
        except JournalError:
            raise  # the journal failed, not the order: the whole bar rolls back
        except BotError as e:
            log.warning("order %s on %s failed: %s", order.kind, order.symbol, e)
            self._outbox.append((AlertKind.ORDER_FAILURE, f"{order.symbol} {order.kind}: {e}"))
            return e
        return None

    def _send_pending(self, when: pd.Timestamp | None, *, newer_bar_ms: int | None = None
                      ) -> bool:
        """Live: send what the committed bar decided, then fold its fills in a second commit.

        A failed exit stays pending: the guard sends it again within seconds under the next
        retry id of the same intent (never waiting for the next bar) until it fills or its
        attempts are exhausted; a failed entry is dropped (it was the bar's to take).
        Returns True when it ran the broker's protection check (after a failed exit).
        """
        if not self.book.pending:
            return False
        keep: dict[str, Order] = {}
        # Exits first (a stable sort keeps symbol order): what they free can pay an entry.
        orders = sorted(self.book.pending.items(), key=lambda o: o[1].kind is not OrderKind.EXIT)
        for symbol, order in orders:
            why = book.entry_not_to_send(order, newer_bar_ms=newer_bar_ms, journal=self._journal,
                                         refused=self.settings.refused.get(symbol, ""))
            if why:
                log.warning("%s", why)
                self._outbox.append((AlertKind.ORDER_FAILURE, why))
                continue
            # The intent, the request and the answer are journaled by the broker, each
            # committed before the next step; the same client id resumes after a kill.
            error = self._submit(order, price=None, at=self._clock.now())
            if (error is not None and order.kind is OrderKind.EXIT
                    and not isinstance(error, AttemptsExhausted)):
                keep[symbol] = order
        if keep:
            self._protect_now()  # a failed exit may have left its position without the stop
        self._settle(when, pending=keep)
        return bool(keep)

    def _protect_now(self) -> None:
        try:
            self._broker.guard()
        except JournalError:
            raise
        except BotError as e:  # the guard's timer tries again within seconds
            log.warning("protection check after a failed exit failed: %s", e)

    def _settle(self, when: pd.Timestamp | None, *, pending: dict[str, Order]) -> None:
        """One commit: what is still pending, and the fills the broker journaled meanwhile."""
        at = when.to_pydatetime() if when is not None else self._clock.now()
        with self._journal.batch():
            self.book.pending = pending
            self._fold_fills(at)
            self._journal.save_state(RISK_STATE_KEY, self.risk.to_dict())
            self._route_risk_events()
            self.book.save(self._journal, self.sizing)
        self._journal.after_commit(self._flush_outbox)

    def _fold_fills(self, when: datetime) -> None:
        """Account every journaled fill past the cursor, once, on the bar ``when``."""
        for fill_id, fill in self._journal.fills_since(self.book.fill_cursor):
            self._account(fill, when)
            self.book.fill_cursor = fill_id

    def _account(self, fill: Fill, when: datetime) -> None:
        if fill.kind is OrderKind.ENTRY:
            self.book.open_entry(fill)
            self.risk.record_entry(now=when)
            return
        closed = self.book.close_entry(fill)
        if closed is None:
            return
        pnl, ret = closed
        self.sizing.record_close(pnl, ret, fill.symbol)
        # A cooldown it starts is queued in the manager and journaled with the other events.
        self.risk.record_trade_close(pnl, now=when)

    # -- decisions --------------------------------------------------------------------------
    def _decide(self, bar: Bar, window: BarWindow, i: int, equity: float) -> Decision:
        symbol = bar.symbol
        signals = self._signals_of(symbol, window)
        row = SignalRow(bar.time, bar.close, int(signals.signal[i]))
        holding = self._broker.position(symbol).is_open
        inp = DecisionInputs(
            row=row, symbol=symbol, equity=equity,
            manual_halt=self.book.manual_halt, manual_pause=self.book.manual_pause,
            flatten_on_halt=self.settings.flatten_on_halt,
            stop_loss_pct=self.risk.config.stop_loss_pct,
            sells_at_next_open=self.settings.deferred_fills,
            refused=self.settings.refused.get(symbol, ""),
        )
        if holding:
            decision = decide_exit(inp, self.risk)
        elif row.signal != 1:
            decision = Decision(symbol, row.bar_time, row.signal, "none", "flat; no entry signal")
        else:
            decision = self._entry(inp, window.bars, signals, i)
        self._bar_numbers[symbol] = signals.numbers_at(i)
        if decision.order is not None:
            # Paper fills it at the next bar's open; live sends it right after this bar commits.
            self.book.pending[symbol] = decision.order
        self.status.symbols[symbol] = SymbolStatus.of(decision, row, self._broker, symbol)
        return decision

    def _entry(self, inp: DecisionInputs, bars: BarArrays, signals: BarSignals, i: int
               ) -> Decision:
        config = self.risk.config
        if config.max_open_positions > 0 or config.max_gross_exposure_pct > 0:
            n_open, gross = book.exposure(self.book, self._broker, self.settings.symbols)
            inp = replace(inp, open_positions=n_open, gross_notional=gross)
        refusal = pre_check(inp, self.risk)
        if not refusal and not self.sizing.fraction(1.0, inp.symbol) > 0.0:
            # No conviction could give a size: do not pay for a scorer call (as the kernel).
            refusal = (f"position size is 0 whatever the conviction: "
                       f"{self.sizing.describe(inp.symbol)}")
        if refusal:
            return Decision(inp.symbol, inp.row.bar_time, 1, "none", refusal, approved=False)
        score = self._score(inp, signals.request(inp.symbol, i))
        return decide_entry(inp, self.risk, score,
                            self.sizing.fraction(score.conviction, inp.symbol))

    def _score(self, inp: DecisionInputs, request: Any) -> Any:
        from signals.scorer import ScoreSource

        score = self._scorer.score(request)
        if score.source is not ScoreSource.FIXED:
            provider, model = self.settings.scorer_name
            self._journal.record_llm_call(
                score, provider=provider, model=model, symbol=inp.symbol,
                bar_time=inp.row.bar_time,
            )
        return score

    # -- journal ----------------------------------------------------------------------------
    def _route_risk_events(self) -> None:
        for event in self.risk.drain_events():
            self._journal.record_risk_event(event)
            self._outbox.append((_alert_kind(str(event.kind)), event.reason))

    def _flush_outbox(self) -> None:
        """Send the alerts of what has just committed (never before: a rollback unsays it)."""
        outbox, self._outbox = self._outbox, []
        for kind, text in outbox:
            self._alerter.alert(kind, text)

    def _save(
        self, when: pd.Timestamp, bars: Mapping[str, Bar], equity: float,
        decisions: list[Decision],
    ) -> None:
        for d in decisions:
            numbers = self._bar_numbers.get(d.symbol, ())
            self._journal.record_decision(book.decision_record(d, numbers))
        self._journal.record_equity(book.equity_snapshot(when, equity, self.risk, self._clock))
        self._journal.save_state(RISK_STATE_KEY, self.risk.to_dict())
        for symbol in bars:
            self.book.last_bar[symbol] = when
        self.book.save(self._journal, self.sizing)
        self.status.record_mark(when, equity, self.risk)
        for d in decisions:
            if d.action == ENTER:
                log.info("%s %s: enter %.2f (%s)", d.symbol, d.bar_time, d.notional, d.reason)

    def _apply_commands(self) -> int:
        """Apply every queued operator command, each in its own batch; how many."""
        commands = self._journal.pending_commands()
        for command in commands:
            with self._journal.batch():  # the effect, its halt row, the book and the ack
                result = book.apply_command(
                    command, book=self.book, risk=self.risk, journal=self._journal,
                    now=self._clock.now(), flatten_on_halt=self.settings.flatten_on_halt,
                    broker=self._broker, symbols=self.settings.symbols,
                    sells_at_next_open=self.settings.deferred_fills,
                )
                self.book.save(self._journal, self.sizing)
                self._journal.ack_command(command, result)
            kind, text = command_alert(command, result)
            self._journal.after_commit(partial(self._alerter.alert, kind, text))
        return len(commands)

    def history_shortfall(self) -> dict[str, tuple[int, int]]:
        """Markets with too few closed bars to decide on: symbol -> (closed bars, bars needed)."""
        short: dict[str, tuple[int, int]] = {}
        for symbol in self.settings.symbols:
            window = closed_window(self._market, symbol, self._warm)
            if window.end - window.start < self._warm:
                short[symbol] = (window.end - window.start, self._warm)
        return short


def command_alert(command: Command, result: str) -> tuple[AlertKind, str]:
    """The alert of an applied operator command, with who asked (the default actor
    "operator", of a command posted without one, is not repeated)."""
    kind = AlertKind.RESUME if command.kind is CommandKind.RESUME else (
        AlertKind.INFO if command.kind is CommandKind.FLATTEN else AlertKind.HALT)
    what = f"{command.kind} {command.symbol}" if command.symbol else str(command.kind)
    by = f" by {command.actor}" if command.actor and command.actor != Actor.OPERATOR else ""
    return kind, f"operator {what}{by}: {command.reason} ({result})"


def _alert_kind(kind: str) -> AlertKind:
    return AlertKind.RESUME if kind in ("resume", "daily_clear", "cooldown_clear") else (
        AlertKind.HALT
    )
