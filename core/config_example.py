"""The commented example bot.toml that ``main.py init`` writes: every key, its default, its unit.

Written from the models in core/config_file.py, so the example cannot drift from what the
loader accepts; a test loads it back and compares it with the defaults.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from core.config_errors import allowed
from core.config_file import BotConfig, StrategySection
from core.errors import ConfigError
from core.files import write_atomically
from core.paths import check_output_path

HEADER = """\
# bot.toml: the settings backtest, sweep, walkforward, run, score and check-strategy share, so
# that paper and live trade exactly what was backtested (the same strategy id).
#   python main.py --config bot.toml backtest --data FILE    (or export TRADINGBOT_CONFIG=bot.toml)
# Precedence: command-line options > this file > the built-in defaults. A key left out keeps its
# default; an unknown key is an error. Each key is its option's name: [risk] max_position_pct is
# --max-position-pct, [gates] min_sharpe is --gate-min-sharpe, [gates] on is run's --gate-on.
# Units are in the names: every *_pct is a fraction (0.2 = 20%), *_usd US dollars, *_days days.
# API keys never go here: they are read only from the environment or .env."""


def example_text(params: Sequence[Mapping[str, Any]] = ()) -> str:
    """The example file: every section and key of BotConfig at its default, commented, and
    ``params`` (the default strategy's, as ``strategies --json`` lists them) in [strategy.params].
    """
    lines = [HEADER]
    for section, field in BotConfig.model_fields.items():
        model = field.annotation
        if not isinstance(model, type):
            raise TypeError(f"[{section}] is not a model")
        lines += ["", f"[{section}]", *_comment(model.__doc__ or "")]
        for name, info in model.model_fields.items():
            if name == "params":
                continue  # a table of its own, after the section's keys
            default = info.get_default(call_default_factory=True)
            lines += [*_comment(_key_comment(name, info.description or "", allowed(name, info),
                                             default)), f"{name} = {_toml(default)}"]
        if model is StrategySection:
            lines += _params_table(StrategySection().name, params)
    return "\n".join(lines) + "\n"


def write_example(
    path: Path, environ: Mapping[str, str], *, force: bool,
    params: Sequence[Mapping[str, Any]] = (),
) -> Path:
    """Write the example to ``path``; an existing file only with ``force``."""
    target = check_output_path(path, environ, option="init")
    if target.exists() and not force:
        raise ConfigError(f"{target} exists; add --force to overwrite it")
    text = example_text(params)
    return write_atomically(target, lambda fh: fh.write(text), binary=False)


def _params_table(name: str, params: Sequence[Mapping[str, Any]]) -> list[str]:
    lines = ["", "[strategy.params]", *_comment(
        f"{name}'s parameters at their defaults; another strategy takes its own (python "
        "main.py strategies lists them): replace these when you change [strategy] name")]
    for param in params:
        lines += [*_comment(f"{param['help']}; {param['allowed']}"),
                  f"{param['name']} = {_toml(param['default'])}"]
    return lines


def _key_comment(name: str, description: str, accepts: str, default: Any) -> str:
    """E.g. "cap on a position, of equity; a fraction in (0, 1), 0.02 = 2%"."""
    if accepts == "text":
        return description
    example = f", {default:g} = {round(default * 100, 9):g}%" if name.endswith("_pct") else ""
    return f"{description}; {accepts}{example}"


def _comment(text: str) -> list[str]:
    return textwrap.wrap(text, width=100, initial_indent="# ", subsequent_indent="# ")


def _toml(value: Any) -> str:
    """A TOML literal of the few kinds the models hold (JSON's string escapes are TOML's)."""
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {value!r}")
