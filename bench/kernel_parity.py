"""Check that backtest/kernel.py gives bit-identical results to the kernel of a git revision.

    python bench/kernel_parity.py [REV]      (REV defaults to HEAD)

For speed-only changes to the kernel. Both ``simulate`` functions run on the same inputs and
every output array is compared byte for byte (equity only up to the bar where a run stopped for a
score; after it the buffer is unset). Inputs: the 2017-2024 BTC and 2022-2025 DOGE hourly files
and the chained minute year (bench/bench_data.py), two signal settings, three conviction arrays
(fixed 0.5; uniform in [-1, 1]; uniform in [0, 1] with NaN gaps and random suppress flags) and
seven risk settings that trip every halt, rejection and exit reason; then 270 random short
series (1 to 1,000 bars) with random limits. Prints what the cases covered and exits 1 on the
first difference.
"""

from __future__ import annotations

import importlib.util
import itertools
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from backtest import kernel as new  # noqa: E402
from backtest.engine import BacktestConfig  # noqa: E402
from bench.bench_data import SHARED, write_inputs  # noqa: E402
from data import load_ohlcv  # noqa: E402
from signals.quant_signals import SignalParams, signal_array  # noqa: E402

FILES = (
    "BTCUSDT_1h_binance_spot_2017-08-17_2024-04-21.csv",
    "DOGEUSDT_1h_binance_spot_2022-01-01_2025-05-05.csv",
)
VARIANTS: tuple[dict[str, Any], ...] = (
    {},
    {"kelly_min_trades": 5, "max_position_pct": 1.0, "default_position_pct": 1.0},
    {"max_position_pct": 1.0, "default_position_pct": 1.0, "daily_loss_limit_pct": 0.01,
     "max_drawdown_pct": 0.05},
    {"max_position_pct": 1.0, "default_position_pct": 1.0, "daily_loss_limit_pct": 0.01,
     "max_drawdown_pct": 0.05, "flatten_on_halt": False},
    {"cooldown_after_losses": 2, "cooldown_ms": 6 * 3_600_000, "max_entries_per_day": 2,
     "default_position_pct": 0.5, "max_position_pct": 0.5},
    {"min_conviction": 0.6, "stop_loss_pct": 0.005, "slippage": 0.0, "fee": 0.0},
    {"kelly_min_trades": 1, "max_position_pct": 0.9, "stop_loss_pct": 0.05},
)


def old_kernel(rev: str) -> ModuleType:
    """The kernel module as it was at ``rev``, imported under another name."""
    # A developer tool: rev comes from the developer's own command line.
    text = subprocess.run(  # noqa: S603
        ["git", "-C", str(ROOT), "show", f"{rev}:backtest/kernel.py"],  # noqa: S607
        check=True, capture_output=True, text=True,
    ).stdout
    folder = Path(tempfile.mkdtemp(prefix="kernel_parity_"))
    path = folder / "kernel_at_rev.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("kernel_at_rev", path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["kernel_at_rev"] = module
    spec.loader.exec_module(module)
    return module


def params(module: ModuleType, overrides: dict[str, Any]) -> Any:
    """The module's KernelParams from the default config with ``overrides``."""
    base = BacktestConfig().kernel_params()._asdict() | overrides
    # A revision before a parameter existed runs without it (the new one at its default, off).
    fields = module.KernelParams._fields
    return module.KernelParams(**{k: v for k, v in base.items() if k in fields})


def real_cases() -> Iterator[tuple[tuple[np.ndarray, ...], dict[str, Any]]]:
    """Kernel inputs and risk overrides on the real files."""
    rng = np.random.default_rng(7)
    paths = [SHARED / f for f in FILES] + [write_inputs(Path(tempfile.gettempdir()) /
                                                        "tradingbot-bench")["minute"]]
    for path in paths:
        bars = load_ohlcv(path)
        for sp in (SignalParams(), SignalParams(rsi_window=7, ema_fast=5, ema_slow=40)):
            w = sp.warmup_bars - 1
            cols = [np.ascontiguousarray(bars[c].to_numpy()[w:]) for c in ("open", "low", "close")]
            t = bars.index.as_unit("ms").asi8[w:]
            sig = signal_array(bars["close"].to_numpy(), sp)[w:]
            n = len(t)
            gappy = rng.uniform(0, 1, n)
            gappy[rng.random(n) < 0.001] = np.nan
            for conv, v in itertools.product(
                (np.full(n, 0.5), rng.uniform(-1, 1, n), gappy), VARIANTS
            ):
                sup = rng.random(n) < 0.1 if np.isnan(conv).any() else np.zeros(n, np.bool_)
                yield (*cols, t, sig, conv, sup), v


def random_cases() -> Iterator[tuple[tuple[np.ndarray, ...], dict[str, Any]]]:
    """Short random series with random limits: growth of the buffers, tiny runs, every halt."""
    rng = np.random.default_rng(3)
    for n in (1, 2, 3, 5, 17, 64, 65, 200, 1000):
        for trial in range(30):
            close = 100 * np.cumprod(1 + rng.normal(0, 0.02, n))
            open_ = close * (1 + rng.normal(0, 0.01, n))
            low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.01, n)))
            t = 1_700_000_000_000 + np.arange(n, dtype=np.int64) * 3_600_000 * rng.integers(1, 30)
            sig = rng.integers(-1, 2, n).astype(np.int8)
            conv = rng.uniform(-0.2, 1, n)
            if trial % 3 == 0:
                conv[rng.random(n) < 0.05] = np.nan
            v = {
                "max_position_pct": 1.0, "default_position_pct": float(rng.uniform(0.1, 1)),
                "kelly_min_trades": int(rng.integers(1, 20)),
                "daily_loss_limit_pct": float(rng.uniform(0.005, 0.1)),
                "max_drawdown_pct": float(rng.uniform(0.02, 0.5)),
                "cooldown_after_losses": int(rng.integers(0, 3)),
                "cooldown_ms": int(rng.integers(0, 5)) * 3_600_000,
                "max_entries_per_day": int(rng.integers(0, 3)),
                "flatten_on_halt": bool(rng.integers(0, 2)),
                "stop_loss_pct": float(rng.uniform(0.002, 0.05)),
            }
            yield (open_, low, close, t, sig, conv, rng.random(n) < 0.05), v


def identical(a: tuple[Any, ...], b: tuple[Any, ...], old: ModuleType) -> bool:
    """Every output both kernels have, equal byte for byte (per-bar arrays up to the stop bar).

    An output only the new kernel has (``refused`` against a revision before it) must agree
    with the counts both have: each refused bar is one count of its reason.
    """
    x = dict(zip(old.KernelResult._fields, a, strict=True))
    y = dict(zip(new.KernelResult._fields, b, strict=True))
    if x["need_score"] != y["need_score"]:
        return False
    stop = len(x["equity"]) if x["need_score"] < 0 else x["need_score"] + 1
    for name in (x.keys() & y.keys()) - {"need_score"}:
        u, v = x[name], y[name]
        if name in ("equity", "refused"):
            u, v = u[:stop], v[:stop]
        if name == "rejections" and len(v) > len(u):  # reasons added since: never counted
            u, v = np.concatenate([u, np.zeros(len(v) - len(u), u.dtype)]), v
        if u.dtype != v.dtype or u.shape != v.shape or u.tobytes() != v.tobytes():
            return False
    refused = y["refused"][y["refused"] >= 0].astype(np.int64)
    return bool((np.bincount(refused, minlength=new.N_REJ) == y["rejections"]).all())


def main() -> int:
    """Compare the two kernels on every case; 0 when all are identical."""
    old = old_kernel(sys.argv[1] if len(sys.argv) > 1 else "HEAD")
    events = np.zeros(4, np.int64)
    rejections = np.zeros(new.N_REJ, np.int64)
    reasons = np.zeros(4, np.int64)
    cases = needs = 0
    for arrays, v in itertools.chain(real_cases(), random_cases()):
        a = old.simulate(*arrays, params(old, v))
        b = new.simulate(*arrays, params(new, v))
        if not identical(a, b, old):
            print(f"DIFFERENT on case {cases} ({len(arrays[0])} bars, overrides {v})")
            return 1
        cases += 1
        needs += a[-1] >= 0
        np.add.at(events, a[4][:, 1], 1)
        counted = a[old.KernelResult._fields.index("rejections")]
        rejections[:len(counted)] += counted
        np.add.at(reasons, a[1][:, new.T_REASON].astype(np.int64), 1)
    print(f"identical on {cases} cases; runs stopped for a score: {needs}")
    print(f"events by kind (pause, clear, latch): {events[1:].tolist()}")
    print(f"rejections by reason: {rejections.tolist()}")
    print(f"trades by exit reason (signal, stop, halt, end): {reasons.tolist()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
