"""The one-line notice before numba compiles a cold kernel (a terminal only, cold cache only)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType, SimpleNamespace

from backtest.compile_notice import announce_first_compile, cold_modules
from tests.conftest import REPO_ROOT


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _module_with_index(index: dict[str, str]) -> ModuleType:
    """A module holding one cached function whose on-disk index is ``index`` ({} = none)."""
    module = ModuleType("fake_kernels")
    cache_file = SimpleNamespace(_load_index=lambda: index)
    module.kernel = SimpleNamespace(_cache=SimpleNamespace(_cache_file=cache_file))  # type: ignore[attr-defined]
    module.plain = len  # type: ignore[attr-defined]  # not a numba function: ignored
    return module


def test_a_real_kernel_is_cold_until_its_first_call_compiles_it(tmp_path: Path) -> None:
    (tmp_path / "tiny_kernel.py").write_text(textwrap.dedent("""
        from numba import njit

        @njit(cache=True)
        def twice(x):
            return 2.0 * x

        @njit(cache=True)
        def never_called(x):
            return x
    """))
    probe = ("import tiny_kernel as k; from backtest.compile_notice import cold_modules as c; "
             "print(c([k])); k.twice(1.0); print(c([k]))")
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache"),
           "PYTHONPATH": f"{tmp_path}{os.pathsep}{REPO_ROOT}"}
    done = subprocess.run(  # noqa: S603 - fixed argv: this interpreter
        [sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    # A function never called (never_called) does not keep the module cold for ever.
    assert done.stdout.split("\n")[:2] == ["['tiny_kernel']", "[]"]


def test_the_notice_is_one_line_on_a_terminal_when_cold() -> None:
    out = _Terminal()
    assert announce_first_compile(modules=[_module_with_index({})], stream=out)
    assert out.getvalue() == (
        "compiling the backtest kernel once (10-20 s); later runs start at once\n"
    )


def test_no_notice_when_warm_or_not_a_terminal() -> None:
    warm = _Terminal()
    assert not announce_first_compile(modules=[_module_with_index({"k": "f.1.nbc"})], stream=warm)
    piped = io.StringIO()
    assert not announce_first_compile(modules=[_module_with_index({})], stream=piped)
    assert warm.getvalue() == piped.getvalue() == ""


def test_a_module_without_cached_functions_is_never_cold() -> None:
    assert cold_modules([ModuleType("empty")]) == []
