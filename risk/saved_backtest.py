"""One saved backtest: the Kelly inputs and gate verdicts that paper and live size and gate on.

It sits below both ``backtest/`` (which writes it) and ``trading/`` (which reads it), so that
neither imports the other. A result is keyed by (``strategy_id``, symbol, timeframe, evidence);
the ``strategy_id`` is a hash of the settings that define the strategy wherever it trades: the
strategy spec (name, version, parameters), the risk limits and the sizing. Symbol and timeframe
are the key's next two parts, not hashed. The evidence says what the figures come from: a
backtest over the whole history, or a walk-forward's stitched out-of-sample runs; both of one
strategy are kept side by side. Costs and starting cash are stored but not hashed: they are the
simulation's assumptions, which the live loop cannot know.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, Final

from risk.config import RiskConfig
from signals.strategy import StrategySpec, settings_hash

BACKTEST: Final = "backtest"
WALKFORWARD: Final = "walkforward"
# What a saved result's figures come from; the first is the default and keeps the 3-part key.
EVIDENCE_KINDS: Final = (BACKTEST, WALKFORWARD)
_NOUNS: Final = {BACKTEST: "backtest", WALKFORWARD: "walk-forward"}
# Walk-forward evidence fields that are numbers (or null) and times, when present.
_EVIDENCE_NUMBERS: Final = ("windows", "n_trials", "dsr", "pbo")
_EVIDENCE_TIMES: Final = ("first_bar", "last_bar")
# Risk fields added after strategy ids were in use: hashed only when set (they are off at their
# default), so every id and saved result from before them stays valid.
_OMITTED_AT_DEFAULT: Final = frozenset({"max_open_positions", "max_gross_exposure_pct"})


@dataclass(frozen=True, slots=True)
class KellyInputs:
    """Win rate and average win/loss (fractions of position value) of closed trades."""

    trades: int
    win_rate: float
    avg_win_pct: float
    avg_loss_pct: float


@dataclass(frozen=True, slots=True)
class GateResult:
    """One gate: its rule as text, the figure it judged, and whether it passed."""

    name: str
    rule: str
    figure: float
    threshold: float
    passed: bool

    def to_json(self) -> dict[str, object]:
        """JSON-safe dict (a NaN figure becomes null)."""
        return {
            "name": self.name,
            "rule": self.rule,
            "figure": self.figure if math.isfinite(self.figure) else None,
            "threshold": self.threshold,
            "passed": self.passed,
        }


@dataclass(frozen=True, slots=True)
class ResultKey:
    """What a saved result is of: the strategy's settings hash, the market, the bar, and
    whether a backtest or a walk-forward (one of EVIDENCE_KINDS) produced it."""

    strategy_id: str
    symbol: str
    timeframe: str
    evidence: str = BACKTEST

    def __post_init__(self) -> None:
        for name in ("strategy_id", "symbol", "timeframe"):
            value = getattr(self, name)
            # "|" joins the parts in the file: a part holding one could alias another key.
            if not isinstance(value, str) or not value or "|" in value:
                raise ValueError(f"result key: {name} must be a non-empty string without '|', "
                                 f"got {value!r}")
        if self.evidence not in EVIDENCE_KINDS:
            raise ValueError(f"result key: evidence must be one of {', '.join(EVIDENCE_KINDS)}, "
                             f"got {self.evidence!r}")

    @property
    def text(self) -> str:
        """As the file writes it: ``strategy_id|symbol|timeframe``, then ``|walkforward``."""
        base = f"{self.strategy_id}|{self.symbol}|{self.timeframe}"
        # A backtest keeps the 3-part key, so files written before walk-forwards read unchanged.
        return base if self.evidence == BACKTEST else f"{base}|{self.evidence}"

    @property
    def noun(self) -> str:
        """The evidence in words: "backtest" or "walk-forward"."""
        return _NOUNS[self.evidence]

    @classmethod
    def parse(cls, text: str) -> ResultKey:
        """The key from its ``text``; ValueError when it is not a key's text."""
        parts = text.split("|")
        if len(parts) not in (3, 4):
            raise ValueError(f"result key {text!r} is not strategy_id|symbol|timeframe"
                             f"[|{WALKFORWARD}]")
        key = cls(*parts)
        if key.text != text:  # "...|backtest" would alias the 3-part key of the same result
            raise ValueError(f"result key {text!r} is written {key.text!r}")
        return key


@dataclass(frozen=True, slots=True)
class DataRange:
    """The bars the results come from (after the signal warm-up): first and last open time."""

    symbol: str
    timeframe: str
    first_bar: datetime
    last_bar: datetime
    bars: int
    source: str


@dataclass(frozen=True, slots=True)
class SavedBacktest:
    """A saved backtest: what the live loop needs to size positions and to trust them.

    Attributes:
        strategy_id: hash of ``strategy`` (see ``strategy_id``).
        created_at: when the backtest ran (UTC).
        engine: "full" (the whole pipeline); the seed engine never writes results.
        data: the bars it ran on; its symbol and timeframe are the rest of the key.
        strategy: strategy spec, risk and sizing settings (the hashed part).
        costs: init_cash, fee and slippage the simulation assumed.
        kelly: win rate and average win / loss of all closed trades (NaN when undefined).
        total_trades: trades opened, as the trades gate counts them.
        gates: each gate's rule, figure and verdict.
        scorer: where conviction came from (provider, model, fixed conviction, answers by
            source); stored, not hashed: an LLM-scored history may be look-ahead biased.
        evidence: what the figures come from: ``kind`` (one of EVIDENCE_KINDS; the key's
            last part); a walk-forward adds mode, train, test, windows, first_bar and
            last_bar (ISO, of the stitched out-of-sample bars), n_trials, dsr and pbo
            (numbers may be null).
    """

    strategy_id: str
    created_at: datetime
    engine: str
    data: DataRange
    strategy: Mapping[str, Any]
    costs: Mapping[str, float]
    kelly: KellyInputs
    total_trades: int
    gates: tuple[GateResult, ...]
    scorer: Mapping[str, Any] = field(default_factory=dict)
    evidence: Mapping[str, Any] = field(default_factory=lambda: {"kind": BACKTEST})

    def __post_init__(self) -> None:
        check_evidence(self.evidence)

    @property
    def gates_passed(self) -> bool:
        """True when every gate passed."""
        return bool(self.gates) and all(g.passed for g in self.gates)

    @property
    def key(self) -> ResultKey:
        """Where this result is filed: its strategy id, symbol, timeframe and evidence kind."""
        return ResultKey(self.strategy_id, self.data.symbol, self.data.timeframe,
                         self.evidence["kind"])


def check_evidence(evidence: Mapping[str, Any]) -> None:
    """ValueError unless ``evidence`` has a known kind and its known fields hold their types."""
    kind = evidence.get("kind")
    if kind not in EVIDENCE_KINDS:
        raise ValueError(f"evidence.kind must be one of {', '.join(EVIDENCE_KINDS)}, "
                         f"got {kind!r}")
    for name in _EVIDENCE_NUMBERS:
        value = evidence.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise ValueError(f"evidence.{name} must be a number or null, got {value!r}")
    for name in _EVIDENCE_TIMES:
        if evidence.get(name) is not None:
            _time(evidence[name], f"evidence.{name}")


def evidence_line(saved: SavedBacktest) -> str:
    """What size and gate rest on, e.g. "gate on backtest: 2022-01-01..2025-05-05: passed"."""
    failed = [g.name for g in saved.gates if not g.passed]
    verdict = "passed" if saved.gates_passed else f"failed ({', '.join(failed) or 'no gates'})"
    ev = saved.evidence
    span = _span(ev.get("first_bar") or saved.data.first_bar,
                 ev.get("last_bar") or saved.data.last_bar)
    if ev["kind"] == BACKTEST:
        return f"gate on backtest: {span}: {verdict}"
    plan = (f"{_shown(ev.get('windows'), 'd')} windows ({ev.get('train', '?')} train / "
            f"{ev.get('test', '?')} test, {ev.get('mode', '?')})")
    return (f"gate on walk-forward: {plan}, OOS {span}, DSR {_shown(ev.get('dsr'), '.2f')}, "
            f"PBO {_shown(ev.get('pbo'), '.2f')}: {verdict}")


def strategy_settings(
    *,
    strategy: StrategySpec,
    risk: RiskConfig,
    default_position_pct: float,
    kelly_min_trades: int,
    flatten_on_halt: bool,
) -> dict[str, Any]:
    """The settings that define a strategy, normalised so that equal settings hash alike."""
    # float() / int() by the field's default type: 0 and 0.0 must not give two ids.
    risk_values = {
        f.name: float(getattr(risk, f.name)) if isinstance(f.default, float)
        else int(getattr(risk, f.name))
        for f in fields(risk)
        if not (f.name in _OMITTED_AT_DEFAULT and getattr(risk, f.name) == f.default)
    }
    return {
        "strategy": strategy.to_json(),
        "risk": risk_values,
        "sizing": {
            "default_position_pct": float(default_position_pct),
            "kelly_min_trades": int(kelly_min_trades),
            "flatten_on_halt": bool(flatten_on_halt),
        },
    }


def strategy_id(settings: Mapping[str, Any]) -> str:
    """16 hex digits of SHA-256 over the canonical JSON of ``settings``."""
    return settings_hash(settings)


def entry_to_json(saved: SavedBacktest) -> dict[str, Any]:
    """One result as the file stores it (NaN Kelly figures as null)."""
    d, k = saved.data, saved.kelly
    return {
        "created_at": saved.created_at.isoformat(),
        "strategy_id": saved.strategy_id,
        "engine": saved.engine,
        "data": {
            "symbol": d.symbol, "timeframe": d.timeframe, "first_bar": d.first_bar.isoformat(),
            "last_bar": d.last_bar.isoformat(), "bars": d.bars, "source": d.source,
        },
        "strategy": dict(saved.strategy),
        "costs": dict(saved.costs),
        "kelly": {
            "trades": k.trades, "win_rate": _null(k.win_rate),
            "avg_win_pct": _null(k.avg_win_pct), "avg_loss_pct": _null(k.avg_loss_pct),
        },
        "total_trades": saved.total_trades,
        "gates": [g.to_json() for g in saved.gates],
        "gates_passed": saved.gates_passed,
        "scorer": dict(saved.scorer),
        "evidence": {k: _null(v) if isinstance(v, float) else v
                     for k, v in saved.evidence.items()},
    }


def parse_entry(raw: object) -> SavedBacktest:
    """One stored result, validated; ValueError / KeyError / TypeError when damaged."""
    top = _obj(raw, "result")
    strategy = _obj(top["strategy"], "strategy")
    saved_id = _text(top["strategy_id"], "strategy_id")
    if strategy_id(strategy) != saved_id:
        raise ValueError("strategy_id does not match the stored strategy settings")
    data = _obj(top["data"], "data")
    first, last = _time(data["first_bar"], "first_bar"), _time(data["last_bar"], "last_bar")
    if first > last:
        raise ValueError("data.first_bar is after data.last_bar")
    costs = _obj(top["costs"], "costs")
    saved = SavedBacktest(
        strategy_id=saved_id,
        created_at=_time(top["created_at"], "created_at"),
        engine=_text(top["engine"], "engine"),
        data=DataRange(
            symbol=_text(data["symbol"], "symbol"), timeframe=_text(data["timeframe"], "timeframe"),
            first_bar=first, last_bar=last, bars=_count(data["bars"], "bars"),
            source=_text(data["source"], "source"),
        ),
        strategy=strategy,
        costs={k: _number(v, f"costs.{k}") for k, v in costs.items()},
        kelly=_kelly(_obj(top["kelly"], "kelly")),
        total_trades=_count(top["total_trades"], "total_trades"),
        gates=tuple(_gate(g) for g in _list(top["gates"], "gates")),
        scorer=_obj(top.get("scorer", {}), "scorer"),
        # Absent in a file written before walk-forwards: every result then was a backtest.
        evidence=_obj(top.get("evidence", {"kind": BACKTEST}), "evidence"),
    )
    if top["gates_passed"] is not saved.gates_passed:
        raise ValueError("gates_passed does not match the stored gates")
    return saved


def _kelly(k: Mapping[str, Any]) -> KellyInputs:
    win_rate = _optional(k["win_rate"], "win_rate")
    if not (math.isnan(win_rate) or 0.0 <= win_rate <= 1.0):
        raise ValueError(f"kelly.win_rate must be in [0, 1], got {win_rate}")
    avg_win, avg_loss = _optional(k["avg_win_pct"], "avg_win_pct"), _optional(
        k["avg_loss_pct"], "avg_loss_pct"
    )
    if avg_win < 0 or avg_loss < 0:  # False for NaN, as wanted
        raise ValueError("kelly averages are magnitudes and must be >= 0")
    return KellyInputs(trades=_count(k["trades"], "kelly.trades"), win_rate=win_rate,
                       avg_win_pct=avg_win, avg_loss_pct=avg_loss)


def _gate(raw: object) -> GateResult:
    g = _obj(raw, "gate")
    passed = g["passed"]
    if not isinstance(passed, bool):
        raise ValueError("gate.passed must be true or false")
    return GateResult(
        name=_text(g["name"], "gate.name"), rule=_text(g["rule"], "gate.rule"),
        figure=_optional(g["figure"], "gate.figure"),
        threshold=_number(g["threshold"], "gate.threshold"), passed=passed,
    )


def _null(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _span(first: datetime | str, last: datetime | str) -> str:
    days = [(t if isinstance(t, datetime) else datetime.fromisoformat(t)).strftime("%Y-%m-%d")
            for t in (first, last)]
    return f"{days[0]}..{days[1]}"


def _shown(value: object, spec: str) -> str:
    if isinstance(value, int | float) and math.isfinite(value):
        return format(int(value) if spec == "d" else value, spec)
    return "n/a"


def _obj(value: object, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{name} must be an object")
    return value


def _list(value: object, name: str) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError(f"{name} must be a list")
    return value


def _text(value: object, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string")
    return value


def _number(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def _optional(value: object, name: str) -> float:
    return math.nan if value is None else _number(value, name)


def _count(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    return value


def _time(value: object, name: str) -> datetime:
    when = datetime.fromisoformat(_text(value, name))
    if when.tzinfo is None:
        raise ValueError(f"{name} must carry a UTC offset")
    return when
