"""The live opt-in, testnet keys, sandbox mode and secrets that never show."""

from __future__ import annotations

import logging

import pytest

from core.errors import ConfigError
from execution.ccxt_settings import CcxtBrokerConfig, CcxtSettings, make_trading_exchange
from tests.execution.ccxt_fixtures import API_KEY, API_SECRET, TESTNET_ENV

LIVE_ENV = {"BINANCE_API_KEY": API_KEY, "BINANCE_API_SECRET": API_SECRET, "LIVE_TRADING": "yes"}


def test_live_with_every_condition_met() -> None:
    settings = CcxtSettings.from_env(LIVE_ENV, live=True)
    assert settings.live
    assert settings.api_key.reveal() == API_KEY


@pytest.mark.parametrize(
    ("drop", "message"),
    [
        ("BINANCE_API_KEY", "BINANCE_API_KEY is not set"),
        ("BINANCE_API_SECRET", "BINANCE_API_SECRET is not set"),
        ("LIVE_TRADING", "LIVE_TRADING is not 'yes'"),
    ],
)
def test_live_refused_without_each_condition(drop: str, message: str) -> None:
    env = {k: v for k, v in LIVE_ENV.items() if k != drop}
    with pytest.raises(ConfigError, match="live trading refused") as refused:
        CcxtSettings.from_env(env, live=True)
    assert message in str(refused.value)


def test_live_refusal_names_everything_missing_at_once() -> None:
    with pytest.raises(ConfigError) as refused:
        CcxtSettings.from_env({"LIVE_TRADING": "YES please"}, live=True)
    text = str(refused.value)
    assert "BINANCE_API_KEY is not set" in text
    assert "BINANCE_API_SECRET is not set" in text
    assert "LIVE_TRADING is not 'yes'" in text


def test_without_the_live_flag_it_is_the_testnet_even_with_live_keys_and_consent() -> None:
    settings = CcxtSettings.from_env({**LIVE_ENV, **TESTNET_ENV}, live=False)
    assert not settings.live
    exchange = make_trading_exchange(settings)
    assert exchange.isSandboxModeEnabled
    assert exchange.apiKey == API_KEY  # the testnet variables, never the live ones


def test_testnet_never_reads_the_live_keys() -> None:
    with pytest.raises(ConfigError, match="BINANCE_TESTNET_API_KEY is not set") as refused:
        CcxtSettings.from_env(LIVE_ENV, live=False)
    assert "testnet.binance.vision" in str(refused.value)  # where to get them
    assert "Paper trading needs no keys" in str(refused.value)


def test_testnet_uses_ccxt_sandbox_mode_urls() -> None:
    exchange = make_trading_exchange(CcxtSettings.from_env(TESTNET_ENV))
    assert exchange.isSandboxModeEnabled
    assert exchange.urls["api"]["private"] == "https://testnet.binance.vision/api/v3"
    assert exchange.urls["api"]["public"] == "https://testnet.binance.vision/api/v3"


def test_live_uses_the_production_urls() -> None:
    exchange = make_trading_exchange(CcxtSettings.from_env(LIVE_ENV, live=True))
    assert not exchange.isSandboxModeEnabled
    assert exchange.urls["api"]["private"] == "https://api.binance.com/api/v3"


def test_a_fake_base_url_is_applied_after_sandbox_mode() -> None:
    settings = CcxtSettings.from_env(TESTNET_ENV, base_url="http://127.0.0.1:9")
    exchange = make_trading_exchange(settings)
    assert exchange.isSandboxModeEnabled
    assert exchange.urls["apiBackup"]["private"] == "https://api.binance.com/api/v3"
    assert exchange.urls["api"]["private"] == "http://127.0.0.1:9/api/v3"


def test_other_exchange_ids_use_their_own_variables() -> None:
    env = {"KRAKEN_TESTNET_API_KEY": "k", "KRAKEN_TESTNET_API_SECRET": "s"}
    assert CcxtSettings.from_env(env, exchange_id="kraken").exchange_id == "kraken"
    with pytest.raises(ConfigError, match="KRAKEN_API_KEY is not set"):
        CcxtSettings.from_env({"LIVE_TRADING": "yes"}, live=True, exchange_id="kraken")


def test_an_exchange_without_a_testnet_is_refused() -> None:
    env = {"BITFINEX_TESTNET_API_KEY": "k", "BITFINEX_TESTNET_API_SECRET": "s"}
    settings = CcxtSettings.from_env(env, exchange_id="bitfinex")
    with pytest.raises(ConfigError, match="has no testnet"):
        make_trading_exchange(settings)


def test_keys_never_appear_in_reprs_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    settings = CcxtSettings.from_env(LIVE_ENV, live=True)
    shown = repr(settings) + str(settings) + repr(settings.api_key) + f"{settings.api_secret}"
    logging.getLogger("execution").info("settings %s %r", settings, settings)
    for secret in (API_KEY, API_SECRET):
        assert secret not in shown
        assert secret not in caplog.text


def test_broker_config_is_validated() -> None:
    with pytest.raises(ConfigError, match="stop_style"):
        CcxtBrokerConfig(stop_style="stop_market")
    with pytest.raises(ConfigError, match="prefix"):
        CcxtBrokerConfig(prefix="way-too-long")
