"""Pick a strategy: a built-in by name, or ``path/to/file.py:ClassName``, with its parameters.

Parameters come from ``--param key=value`` (repeatable) and from a TOML file (``--params
FILE.toml``): its top-level keys are parameters; an optional ``strategy = "..."`` names the
strategy when ``--strategy`` is not given. A ``--param`` overrides the file, and both override
the config file's [strategy] (bot.toml). A broken file is one ``StrategyError`` line naming the
file, the line and what is wrong; never a traceback.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib.util
import inspect
import logging
import sys
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from core.errors import ConfigError
from signals.strategy import LoadedStrategy, StrategyError

if TYPE_CHECKING:
    from core.config_file import StrategyChoice  # not at run time: it imports pydantic

log = logging.getLogger(__name__)

DEFAULT_STRATEGY = "rsi_ema"


def load_strategy(
    ref: str | None = None, *, params: Sequence[str] = (), params_file: str | None = None,
    base: StrategyChoice | None = None,
) -> LoadedStrategy:
    """The strategy ``ref`` (default: the config file's ``base``, else the seed's rsi_ema) with
    its parameters, validated; ``--params`` overrides the config file, ``--param`` both."""
    from_file: dict[str, Any] = {}
    if params_file:
        from_file = read_params_file(params_file)
        named = from_file.pop("strategy", None)
        if ref is None and named is not None:
            if not isinstance(named, str):
                raise ConfigError(f"{params_file}: strategy must be a string, got {named!r}")
            ref = named
    ref, from_config = _config_strategy(ref, base)
    values = {**from_config, **from_file, **parse_params(params)}
    try:
        cls, origin = resolve(ref or DEFAULT_STRATEGY)
        return LoadedStrategy(cls, values, origin=origin)
    except StrategyError:
        raise  # it names the strategy's file already
    except ConfigError as e:
        if base is None or ref != base.ref or from_file or params:
            raise
        raise ConfigError(f"{base.source}: [strategy] {e}") from None


def _config_strategy(
    ref: str | None, base: StrategyChoice | None
) -> tuple[str | None, dict[str, Any]]:
    """The strategy and parameters the config file adds to the flags' choice."""
    if base is None:
        return ref, {}
    if ref is None or ref.strip() == base.ref.strip():
        return base.ref, dict(base.params)
    if base.params:
        # Another strategy's parameters would be unknown to this one: say so, do not fail.
        log.warning("--strategy %s replaces %s's strategy %s; its [strategy.params] are not "
                    "used", ref, base.source, base.ref)
    return ref, {}


def strategy_from_args(args: Any) -> LoadedStrategy:
    """The strategy of ``--strategy``, ``--param``, ``--params`` (see core/cli_options.py) and
    the config file's [strategy] (main.py puts it in ``args.config_strategy``)."""
    return load_strategy(getattr(args, "strategy", None), params=getattr(args, "param", None)
                         or (), params_file=getattr(args, "params_file", None),
                         base=getattr(args, "config_strategy", None))


def resolve(ref: str) -> tuple[type, str]:
    """The class ``ref`` names and the file its code is in."""
    from signals.strategies import BUILTINS

    text = ref.strip()
    if text in BUILTINS:
        cls = BUILTINS[text]
        return cls, _relative(inspect.getfile(cls))
    if ".py" not in text:
        close = difflib.get_close_matches(text, list(BUILTINS), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"unknown strategy {ref!r}{hint}; built-ins: {', '.join(BUILTINS)}; "
                          "or give your own as path/to/file.py:ClassName")
    path_text, _, class_name = text.partition(".py")
    path_text += ".py"
    class_name = class_name.removeprefix(":")
    return load_class(Path(path_text), class_name or None), path_text


def load_class(path: Path, class_name: str | None) -> type:
    """Import the user's file and return its class (the only strategy class when unnamed)."""
    module = _import_file(path)
    if class_name:
        found = getattr(module, class_name, None)
        if not isinstance(found, type):
            listed = ", ".join(_strategy_classes(module)) or "none with a signals() method"
            raise StrategyError(f"{path}: no class {class_name!r} (its classes: {listed})")
        return found
    candidates = _strategy_classes(module)
    if len(candidates) != 1:
        listed = ", ".join(candidates) or "none"
        raise StrategyError(f"{path}: name the class as {path}:ClassName (strategy classes "
                            f"here: {listed})")
    cls: type = getattr(module, candidates[0])
    return cls


def parse_params(items: Sequence[str]) -> dict[str, str]:
    """``["fast=12", "slow=40"]`` as a dict; ConfigError on an item without ``=``."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--param must be key=value, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def read_params_file(path: str) -> dict[str, Any]:
    """The TOML file's top-level keys (``[params]`` may also hold them)."""
    import tomllib

    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"--params file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"--params file {path} cannot be read: {e}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    nested = raw.pop("params", {})
    if not isinstance(nested, dict):
        raise ConfigError(f"{path}: [params] must be a table")
    for key, value in {**raw, **nested}.items():
        if isinstance(value, dict | list) and key != "strategy":
            raise ConfigError(f"{path}: parameter {key!r} must be a single value, got {value!r}")
    return {**raw, **nested}


def _import_file(path: Path) -> ModuleType:
    if not path.is_file():
        raise StrategyError(f"{path}: no such strategy file")
    try:
        source = path.read_bytes()
    except OSError as e:
        raise StrategyError(f"{path}: cannot be read ({e.strerror or e})") from None
    # One module per file content: an edited file is a new module, never a stale one.
    name = "user_strategy_" + hashlib.sha256(str(path.resolve()).encode() + source).hexdigest()[
        :16]
    if name in sys.modules:
        return sys.modules[name]
    try:
        code = compile(source, str(path), "exec")
    except SyntaxError as e:
        raise StrategyError(f"{path}:{e.lineno or '?'}: syntax error: {e.msg}") from None
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None:
        raise StrategyError(f"{path}: cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and typing look the module up while it runs
    try:
        exec(code, module.__dict__)  # noqa: S102 - the user's own strategy file, asked for by name
    except Exception as e:
        del sys.modules[name]
        line = _line_in(path, e)
        detail = " ".join(str(e).split()) or "no message"
        raise StrategyError(f"{path}:{line}: importing it raised {type(e).__name__}: "
                            f"{detail}") from None
    return module


def _strategy_classes(module: ModuleType) -> list[str]:
    # Classes defined in the file itself (not imported) that have a signals() method.
    return [name for name, obj in vars(module).items()
            if isinstance(obj, type) and obj.__module__ == module.__name__
            and callable(getattr(obj, "signals", None))]


def _line_in(path: Path, error: BaseException) -> str:
    target = str(path.resolve())
    line = "?"
    for frame in traceback.extract_tb(error.__traceback__):
        if str(Path(frame.filename).resolve()) == target:
            line = str(frame.lineno)
    return line


def _relative(file: str) -> str:
    try:
        return str(Path(file).resolve().relative_to(Path.cwd()))
    except ValueError:
        return file


def describe_builtins() -> list[Mapping[str, Any]]:
    """Every built-in with its parameters, defaults, ranges and sweep values (``strategies``)."""
    from signals.strategies import BUILTINS
    from signals.strategy import Param

    out: list[Mapping[str, Any]] = []
    for name, cls in BUILTINS.items():
        declared: Mapping[str, Param] = getattr(cls, "params", {})
        out.append({
            "name": name, "version": str(getattr(cls, "version", "")),
            "summary": (inspect.getdoc(cls) or "").splitlines()[0],
            "params": [{"name": k, "default": p.default, "allowed": p.allowed(),
                        "sweep": list(p.space), "help": p.help} for k, p in declared.items()],
        })
    return out
