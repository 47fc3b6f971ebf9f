"""bot.toml: the example round trip, flags over the file, one-line errors, units, secrets, and
backtest / replay / paper giving the same strategy id from the same file."""

from __future__ import annotations

import argparse
import json
import textwrap
import tomllib
from pathlib import Path

import pytest

from core.config_example import example_text
from core.config_file import BotConfig, load_config
from core.errors import ConfigError
from data.loader import save_ohlcv_csv
from data.synthetic import synthetic_ohlcv
from journal import Journal
from main import build_parser, main, parse_with_config
from signals.strategy_loader import describe_builtins, strategy_from_args
from tests.conftest import REPO_ROOT
from tests.fake_binance import FakeBinance
from trading import run_command

RSI_EMA_PARAMS = next(s["params"] for s in describe_builtins() if s["name"] == "rsi_ema")

# A file far from every default, so that an id match cannot come from defaults alone.
CUSTOM = """
[strategy]
name = "donchian"

[strategy.params]
entry_window = 30

[market]
symbols = ["BTC/USDT"]
timeframe = "1h"

[costs]
init_cash = 5000
fees = 0.002

[risk]
max_position_pct = 0.05
stop_loss_pct = 0.02

[sizing]
default_position_pct = 0.02
kelly_min_trades = 5

[gates]
min_sharpe = -100.0
max_drawdown_pct = 1.0
min_trades = 0

[scorer]
fixed_conviction = 0.8
"""


def write_config(tmp_path: Path, text: str, name: str = "bot.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def parse(argv: list[str], env: dict[str, str] | None = None) -> argparse.Namespace:
    """main.py's parse: the command line over the config file, as main() does it."""
    parser = build_parser()
    args = parser.parse_args(argv)
    return parse_with_config(parser, argv, args, env or {})[0]


def run(argv: list[str], env: dict[str, str], capsys: pytest.CaptureFixture[str]
        ) -> tuple[int, str, str]:
    try:
        code = main(argv, environ=env)
    except SystemExit as e:  # argparse's own errors
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"TRADINGBOT_STATE_DIR": str(tmp_path / "state"),
            "TRADINGBOT_CACHE_DIR": str(tmp_path / "cache")}


@pytest.fixture
def btc_file(tmp_path: Path) -> Path:
    bars = synthetic_ohlcv(1500, timeframe="1h", seed=21, start_price=30_000.0,
                           volatility=0.008)
    return save_ohlcv_csv(bars, tmp_path / "BTCUSDT_1h_synthetic.csv")


# -- the example file ---------------------------------------------------------------------------
def test_the_example_loads_back_to_the_defaults(tmp_path: Path) -> None:
    text = example_text(RSI_EMA_PARAMS)
    loaded = load_config(write_config(tmp_path, text)).config
    defaults = BotConfig()
    assert loaded.model_dump(exclude={"strategy"}) == defaults.model_dump(exclude={"strategy"})
    assert loaded.strategy.name == defaults.strategy.name == "rsi_ema"
    assert loaded.strategy.params == {p["name"]: p["default"] for p in RSI_EMA_PARAMS}
    # Every key is in the example, each under a comment that says what it accepts.
    raw = tomllib.loads(text)
    for section, field in BotConfig.model_fields.items():
        assert field.annotation is not None
        assert set(raw[section]) == set(field.annotation.model_fields)
    assert "max_drawdown_pct = 0.15" in text
    assert "# fall from peak equity that latches a halt until an operator resumes; a fraction " \
           "in (0, 1), 0.15 =\n# 15%" in text
    assert all(len(line) <= 100 for line in text.splitlines())


@pytest.mark.parametrize("command", ["backtest", "sweep", "walkforward", "run", "score",
                                     "check-strategy"])
def test_the_example_changes_no_command_default(command: str, tmp_path: Path) -> None:
    path = write_config(tmp_path, example_text(RSI_EMA_PARAMS))
    plain, configured = parse([command]), parse(["--config", str(path), command])
    # The market's keys turn "from the data, else BTC/USDT 1h" into the file's BTC/USDT 1h.
    skip = {"config", "config_strategy", "symbol", "symbols", "timeframe"}
    assert {k: v for k, v in vars(configured).items() if k not in skip} == {
        k: v for k, v in vars(plain).items() if k not in skip}
    assert strategy_from_args(configured).spec == strategy_from_args(plain).spec
    if command in ("backtest", "sweep", "score"):
        assert (configured.symbol, configured.timeframe) == ("BTC/USDT", "1h")


def test_init_writes_the_example_and_never_overwrites_without_force(
    tmp_path: Path, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "configs" / "bot.toml"
    code, out, _ = run(["init", str(target)], env, capsys)
    assert code == 0
    assert f"--config {target}" in out
    assert target.read_text(encoding="utf-8") == example_text(RSI_EMA_PARAMS)
    load_config(target)

    target.write_text("# mine\n", encoding="utf-8")
    code, _, err = run(["init", str(target)], env, capsys)
    assert (code, err) == (2, f"error: {target} exists; add --force to overwrite it\n")
    assert target.read_text(encoding="utf-8") == "# mine\n"
    assert run(["init", "--force", str(target)], env, capsys)[0] == 0
    assert target.read_text(encoding="utf-8") == example_text(RSI_EMA_PARAMS)


def test_the_readmes_example_is_a_valid_file(tmp_path: Path) -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Config file"):readme.index("## Data")]
    snippet = section.split("```toml\n", 1)[1].split("```", 1)[0]
    args = parse(["--config", str(write_config(tmp_path, snippet)), "backtest"])
    assert (args.max_position_pct, args.stop_loss_pct, args.gate_max_drawdown_pct) == (
        0.02, 0.02, 0.2)
    assert dict(strategy_from_args(args).spec.params)["entry_window"] == 55


# -- precedence ---------------------------------------------------------------------------------
def test_flags_override_the_file_and_the_file_overrides_defaults(tmp_path: Path) -> None:
    path = write_config(tmp_path, CUSTOM)
    args = parse(["backtest", "--config", str(path), "--max-position-pct", "0.03",
                  "--gate-min-trades", "7", "--param", "exit_window=5"])
    assert args.max_position_pct == 0.03  # the flag
    assert args.stop_loss_pct == 0.02  # the file
    assert args.daily_loss_limit_pct == 0.05  # not in the file: the default
    assert (args.init_cash, args.fees, args.slippage) == (5000, 0.002, 0.0005)
    assert (args.gate_min_sharpe, args.gate_max_drawdown_pct, args.gate_min_trades) == (
        -100.0, 1.0, 7)
    assert (args.default_position_pct, args.kelly_min_trades) == (0.02, 5)
    spec = strategy_from_args(args).spec
    assert (spec.name, dict(spec.params)) == ("donchian", {"entry_window": 30, "exit_window": 5})


def test_another_strategy_on_the_command_line_drops_the_files_parameters(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    args = parse(["--config", str(write_config(tmp_path, CUSTOM)), "backtest", "--strategy",
                  "bollinger"])
    assert strategy_from_args(args).spec.name == "bollinger"
    assert "its [strategy.params] are not used" in caplog.text
    # The same strategy named again keeps them, and --param still wins.
    args = parse(["--config", str(write_config(tmp_path, CUSTOM)), "backtest", "--strategy",
                  "donchian", "--param", "entry_window=40"])
    assert dict(strategy_from_args(args).spec.params)["entry_window"] == 40


def test_the_environment_variable_names_the_file_and_the_option_wins(tmp_path: Path) -> None:
    first = write_config(tmp_path, "[risk]\nmax_position_pct = 0.04\n", "first.toml")
    second = write_config(tmp_path, "[risk]\nmax_position_pct = 0.06\n", "second.toml")
    env = {"TRADINGBOT_CONFIG": str(first)}
    assert parse(["run"], env).max_position_pct == 0.04
    assert parse(["--config", str(second), "run"], env).max_position_pct == 0.06
    assert parse(["run", "--config", str(second)], env).max_position_pct == 0.06
    assert parse(["run"]).max_position_pct == 0.02  # no file: the default


def test_the_files_market_gives_way_to_a_data_file(tmp_path: Path) -> None:
    path = write_config(tmp_path, '[market]\nsymbols = ["ETH/USDT", "SOL/USDT"]\n'
                        'timeframe = "4h"\nexchange = "kraken"\n')
    args = parse(["--config", str(path), "run"])
    assert (args.symbols, args.timeframe, args.exchange) == ("ETH/USDT,SOL/USDT", "4h", "kraken")
    args = parse(["--config", str(path), "run", "--replay", "BTCUSDT_1h.csv"])
    assert (args.symbols, args.timeframe) == (None, None)  # the replay file says
    args = parse(["--config", str(path), "backtest", "--data", "BTCUSDT_1h.csv"])
    assert (args.symbol, args.timeframe, args.exchange) == (None, None, "kraken")
    assert parse(["--config", str(path), "backtest", "--symbol", "SOL/USDT"]).symbol == "SOL/USDT"
    with pytest.raises(ConfigError, match="lists 2 markets and backtest takes one: add --symbol"):
        parse(["--config", str(path), "backtest"])


def test_the_files_scorer_goes_into_the_environment_the_command_reads(tmp_path: Path) -> None:
    path = write_config(tmp_path, '[scorer]\nprovider = "anthropic"\nmodel = ""\n'
                        "fixed_conviction = 0.8\n")
    parser = build_parser()
    argv = ["--config", str(path), "backtest"]
    env = {"SCORER_MODEL": "claude-haiku-4-5", "SCORER_FIXED_CONVICTION": "0.6",
           "ANTHROPIC_API_KEY": "from-the-env"}
    args, merged = parse_with_config(parser, argv, parser.parse_args(argv), env)
    assert args.scorer == "anthropic"  # backtest's --scorer default
    assert merged["SCORER_PROVIDER"] == "anthropic"
    assert merged["SCORER_FIXED_CONVICTION"] == "0.8"  # the file wins over the environment
    assert merged["SCORER_MODEL"] == "claude-haiku-4-5"  # empty in the file: not set there
    assert merged["ANTHROPIC_API_KEY"] == "from-the-env"
    assert parse(["--config", str(path), "backtest", "--scorer", "fixed"]).scorer == "fixed"


# -- one-line errors ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[risk]\nmax_drawdown = 0.2\n", "unknown key risk.max_drawdown; did you mean "
         "risk.max_drawdown_pct?"),
        ("[rsik]\n", "unknown key rsik; did you mean risk?"),
        ("[risk]\nfees = 0.001\n", "unknown key risk.fees; did you mean costs.fees?"),
        ('symbols = ["BTC/USDT"]\n', "unknown key symbols; did you mean market.symbols?"),
        ("[gates]\nmax_drawdown_pct = 20\n", "gates.max_drawdown_pct must be a fraction in "
         "(0, 1] (0.2 = 20%), got 20"),
        ("[risk]\nmax_position_pct = 2\n", "risk.max_position_pct must be a fraction in "
         "(0, 1) (0.2 = 20%), got 2"),
        ('[risk]\nstop_loss_pct = "1.5%"\n', "risk.stop_loss_pct must be a fraction in (0, 1) "
         "(0.2 = 20%), got '1.5%'"),
        ("[risk]\ncooldown_minutes = true\n", "risk.cooldown_minutes must be a whole number "
         ">= 0, got True"),
        ("[costs]\nfees = 0.5\n", "costs.fees must be a number in [0, 0.1), got 0.5"),
        ("[gates]\nmin_sharpe = nan\n", "gates.min_sharpe must be a number, got nan"),
        ('[scorer]\nprovider = "claude"\n', 'scorer.provider must be one of "auto", "fixed", '
         '"anthropic", "openai", got \'claude\''),
        ('[market]\ntimeframe = "1hour"\n', "market.timeframe must be a bar length like 1m, "
         "15m, 1h or 1d, got '1hour'"),
        ("risk = 3\n", "[risk] must be a table, got 3"),
        ("[risk]\ncooldown_after_losses = 2\n", "risk.cooldown_minutes must be >= 1 when "
         "risk.cooldown_after_losses is set"),
        ("[strategy.params]\nema_fast = [12]\n", "strategy.params ema_fast must be a single "
         "number, text or true/false, got [12]"),
        ("[risk\n", "not valid TOML: Expected ']' at the end of a table declaration (at line 1"),
        ("[risk]\nmax_position_pct = 2\nstop_loss_pct = 3\n", "(and 1 more problem)"),
    ],
)
def test_a_bad_file_is_one_line_naming_the_file_and_the_key(
    text: str, message: str, tmp_path: Path, env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = write_config(tmp_path, text)
    code, out, err = run(["--config", str(path), "backtest"], env, capsys)
    assert code == 2
    assert out == ""
    assert err.startswith(f"error: {path}: ")
    assert message in err
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('[scorer]\napi_key = "x"\n', "scorer.api_key"),
        ('ANTHROPIC_API_KEY = "x"\n', "ANTHROPIC_API_KEY"),
        ('[exchange]\nsecret = "x"\n', "exchange.secret"),
        ('[scorer]\nmodel = "sk-ant-api03-abcdef"\n', "scorer.model"),
        ('[strategy.params]\ntoken = "x"\n', "strategy.params.token"),
    ],
)
def test_a_key_looking_entry_is_refused_without_echoing_it(
    text: str, where: str, tmp_path: Path, env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = run(["--config", str(write_config(tmp_path, text)), "run"], env, capsys)
    assert code == 2
    assert f"{where} looks like a secret; API keys are read only from the environment" in err
    assert "sk-ant" not in err
    assert err.count("\n") == 1


def test_a_strategy_mistake_in_the_file_names_the_file(
    tmp_path: Path, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path, "[strategy.params]\nemafast = 10\n")
    code, _, err = run(["--config", str(path), "check-strategy"], env, capsys)
    assert code == 2
    assert f"error: {path}: [strategy] rsi_ema has no parameter 'emafast' (did you mean " \
           "'ema_fast'?)" in err
    path = write_config(tmp_path, '[strategy]\nname = "donchain"\n')
    code, _, err = run(["--config", str(path), "check-strategy"], env, capsys)
    assert "unknown strategy 'donchain' (did you mean 'donchian'?)" in err


def test_a_missing_file_says_how_to_write_one(
    tmp_path: Path, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.toml"
    code, _, err = run(["run", "--config", str(missing)], env, capsys)
    assert (code, err) == (2, f"error: config file {missing} does not exist; write one with "
                              f"`python main.py init {missing}`\n")
    # A command that reads no config file ignores the variable.
    code, _, err = run(["status"], {**env, "TRADINGBOT_CONFIG": str(missing)}, capsys)
    assert "config" not in err


# -- units in the option names -------------------------------------------------------------------
def test_gate_options_say_their_unit_and_the_old_ones_point_to_them(
    env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(["backtest", "--gate-max-drawdown-pct", "20"], env, capsys)
    assert code == 2
    assert "argument --gate-max-drawdown-pct: must be in (0, 1], a fraction: 0.2 = 20%; got 20" \
        in err
    for old, new in (("--max-drawdown", "--gate-max-drawdown-pct"),
                     ("--min-sharpe", "--gate-min-sharpe"), ("--min-trades", "--gate-min-trades")):
        code, _, err = run(["backtest", old, "20"], env, capsys)
        assert code == 2
        assert f"unrecognized arguments: {old} 20; did you mean {new}" in err
    args = parse(["backtest", "--gate-max-drawdown-pct", "0.25"])
    assert args.gate_max_drawdown_pct == 0.25


# -- the same file, the same strategy id ---------------------------------------------------------
def test_backtest_replay_and_paper_trade_the_same_strategy_id(
    tmp_path: Path, env: dict[str, str], btc_file: Path, capsys: pytest.CaptureFixture[str],
    live_fake: FakeBinance,
) -> None:
    path = write_config(tmp_path, CUSTOM)
    code, out, err = run(["--config", str(path), "backtest", "--data", str(btc_file), "--json"],
                         env, capsys)
    assert code == 0, err
    assert f"config: {path}" in err
    backtest_id = json.loads(out)["strategy_id"]
    args = parse(["--config", str(path), "run"])
    assert run_command.strategy_from_args(args).strategy_id() == backtest_id
    assert backtest_id != run_command.strategy_from_args(parse(["run"])).strategy_id()

    assert run(["run", "--config", str(path), "--replay", str(btc_file)], env, capsys)[0] == 0
    with Journal(tmp_path / "state" / "replay" / "journal.sqlite3") as journal:
        replayed = journal.latest_run()
    assert replayed is not None
    assert replayed.strategy_id == backtest_id

    code, out, err = run(["--config", str(path), "run", "--once"],
                         {**env, "TRADINGBOT_EXCHANGE_URL": live_fake.url}, capsys)
    assert code == 0, err
    # Paper sizes with the backtest of these very settings: the ids match in the results store.
    assert "half-Kelly from the BTC/USDT 1h backtest" in out
    with Journal(tmp_path / "state" / "paper" / "journal.sqlite3") as journal:
        paper = journal.latest_run()
    assert paper is not None
    assert paper.strategy_id == backtest_id
    assert paper.config["scorer"] == {"provider": "fixed", "model": ""}
