"""The full pipeline under the command's scorer: fixed, or an LLM with its cache and budget.

Before a model scores history the user sees the look-ahead warning and a cost estimate: the
entries a fixed-scorer run asks about, minus those the answer cache already holds, priced by
the scorer settings. The estimate is an upper bound in spirit, not a promise: a model's
suppressions change which later entries get asked about.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections import Counter
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

import pandas as pd

from backtest.engine import BacktestConfig, BacktestResult, run_backtest
from core.clock import Clock
from signals.llm_cache import ScoreCache
from signals.llm_scorer import LOOKAHEAD_WARNING, LLMScorer, build_scorer
from signals.scorer import FixedScorer, Score, Scorer, ScoreRequest
from signals.scorer_settings import Provider, ScorerSettings, cost_estimate

if TYPE_CHECKING:
    import httpx2

log = logging.getLogger(__name__)


def run_full(
    args: argparse.Namespace,
    environ: Mapping[str, str],
    config: BacktestConfig,
    bars: pd.DataFrame,
    *,
    clock: Clock,
    http_client: httpx2.Client | None = None,
) -> tuple[BacktestResult, dict[str, Any]]:
    """Run the full pipeline; returns the result and what to record about the scorer."""
    settings = ScorerSettings.from_env({**environ, "SCORER_PROVIDER": args.scorer})
    if settings.provider is Provider.FIXED:
        result = run_backtest(bars, config, scorer=FixedScorer(settings.fixed_conviction))
        return result, {"provider": "fixed", "conviction": settings.fixed_conviction}
    cache = ScoreCache(settings.cache_path)
    try:
        scorer = build_scorer(settings, clock=clock, http_client=http_client, cache=cache)
        if not isinstance(scorer, LLMScorer):  # build_scorer gives one for a model provider
            raise TypeError(f"expected an LLMScorer for {settings.provider}, got {scorer!r}")
        _say(f"warning: {LOOKAHEAD_WARNING}")
        asked = entries_asked(bars, config, settings.fixed_conviction)
        uncached = sum(not scorer.is_cached(r) for r in asked)
        _say(estimate_line(settings, asked=len(asked), uncached=uncached))
        with _ScoreProgress(total=len(asked)) as on_score:
            result = run_backtest(bars, config, scorer=scorer, on_score=on_score)
    finally:
        cache.close()
    sources = score_sources(result.scores.values())
    _say("scorer answers: " + (", ".join(f"{n} {s}" for s, n in sources.items()) or "none"))
    info = {"provider": str(settings.provider), "model": settings.model, "answers": sources,
            "cost_usd": round(sum(s.cost_usd for s in result.scores.values()), 6)}
    return result, info


class _Recorder:
    """A fixed scorer that keeps every request: the entries a run asks about."""

    def __init__(self, conviction: float) -> None:
        self._inner = FixedScorer(conviction)
        self.requests: list[ScoreRequest] = []

    def score(self, request: ScoreRequest) -> Score:
        """Record the request, answer with the fixed conviction."""
        self.requests.append(request)
        return self._inner.score(request)


def entries_asked(bars: pd.DataFrame, config: BacktestConfig, conviction: float) -> list[Any]:
    """The score requests of a fixed-scorer run over ``bars`` (for the cost estimate)."""
    recorder = _Recorder(conviction)
    scorer: Scorer = recorder
    run_backtest(bars, config, scorer=scorer)
    return list(recorder.requests)


def estimate_line(settings: ScorerSettings, *, asked: int, uncached: int) -> str:
    """One line: entries to score, how many are cached, the estimated cost and the budget."""
    cost = cost_estimate(uncached, settings)
    line = (
        f"scorer {settings.provider} {settings.model}: about {asked:,} entries to score, "
        f"{asked - uncached:,} in the answer cache, {uncached:,} model calls, "
        f"estimated ${cost:,.4f}"
    )
    if cost > settings.daily_budget_usd:
        line += (
            f"; above the daily budget of ${settings.daily_budget_usd:,.2f}, so later entries "
            "fall back to conviction 0.5 (raise SCORER_DAILY_BUDGET_USD to score them all)"
        )
    return line


def score_sources(scores: Any) -> dict[str, int]:
    """Answers counted by source (llm, cache, fallback), most frequent first."""
    counts = Counter(str(s.source) for s in scores)
    return dict(counts.most_common())


def _say(text: str) -> None:
    # stderr: stdout belongs to the table or to --json.
    print(text, file=sys.stderr)


class _ScoreProgress:
    """A rich progress bar on stderr for scored entries (hidden when not a terminal)."""

    def __init__(self, total: int) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        console = Console(stderr=True)
        self._total = total
        self._bar = Progress(
            TextColumn("scoring entries"), BarColumn(), MofNCompleteColumn(),
            console=console, transient=True, disable=not console.is_terminal,
        )
        self._task = self._bar.add_task("score", total=total or None)

    def __enter__(self) -> Callable[[int], None]:
        self._bar.start()
        return self._update

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._bar.stop()

    def _update(self, done: int) -> None:
        # The estimate can be short when a model's answers open other entries than a fixed run.
        self._total = max(self._total, done)
        self._bar.update(self._task, completed=done, total=self._total)
