"""The dashboard's tokens, roles, bind rule and failure limit, on their own."""

from __future__ import annotations

import pytest

from core.errors import ConfigError
from remote.dashboard.auth import (
    FailureLimiter,
    Role,
    Token,
    bearer,
    check_bind,
    find_token,
    is_loopback,
    parse_tokens,
)

SECRET_A = "a" * 20
SECRET_B = "b-0123456789abcdef"  # noqa: S105 - a test token


def tokens(text: str) -> tuple[Token, ...]:
    return parse_tokens({"TRADINGBOT_DASHBOARD_TOKENS": text})


def test_tokens_have_a_name_a_role_and_a_redacted_secret() -> None:
    found = parse_tokens({"TRADINGBOT_DASHBOARD_TOKENS":
                          f" Laptop:operator:{SECRET_A} , phone:VIEWER:{SECRET_B}"})
    assert [(t.name, t.role) for t in found] == [("laptop", Role.OPERATOR),
                                                 ("phone", Role.VIEWER)]
    assert SECRET_A not in repr(found)
    assert parse_tokens({}) == ()


@pytest.mark.parametrize(("text", "named"), [
    (f"tablet:admin:{SECRET_A}", "token 'tablet'"),
    ("tablet:viewer:short", "token 'tablet'"),
    (f"tablet:viewer:{SECRET_A} x", "token 'tablet'"),
    (SECRET_A, "entry 1"),  # a bare secret: named by position, never by its text
    (f"laptop:operator:{SECRET_A},laptop:viewer:{SECRET_B}", "'laptop'"),
    (f"laptop:operator:{SECRET_A},phone:viewer:{SECRET_A}", "'phone'"),
])
def test_a_malformed_entry_is_one_line_naming_it_without_its_secret(text: str,
                                                                   named: str) -> None:
    with pytest.raises(ConfigError) as caught:
        tokens(text)
    message = str(caught.value)
    assert named in message
    assert "\n" not in message
    for secret in (SECRET_A, SECRET_B, "short"):
        assert secret not in message


def test_a_secret_finds_its_token_and_nothing_else_does() -> None:
    found = parse_tokens({"TRADINGBOT_DASHBOARD_TOKENS":
                          f"laptop:operator:{SECRET_A},phone:viewer:{SECRET_B}"})
    assert find_token(found, SECRET_B) is found[1]
    for wrong in ("", SECRET_A[:-1], SECRET_A + "a", "é" * 20):
        assert find_token(found, wrong) is None
    assert bearer(f"Bearer {SECRET_A}") == SECRET_A
    assert bearer(f"Basic {SECRET_A}") == ""
    assert bearer(None) is None


def test_only_loopback_binds_without_a_token() -> None:
    for host in ("127.0.0.1", "127.0.0.2", "::1", "localhost"):
        assert is_loopback(host)
        check_bind(host, ())
    for host in ("0.0.0.0", "::", "192.168.1.5", "vps.example.com"):
        assert not is_loopback(host)
        with pytest.raises(ConfigError, match="TRADINGBOT_DASHBOARD_TOKENS"):
            check_bind(host, ())
    check_bind("0.0.0.0", tokens(f"laptop:operator:{SECRET_A}"))


def test_five_failures_a_minute_limit_an_address_until_they_age_out() -> None:
    now = [1000.0]
    limiter = FailureLimiter(limit=5, window_s=60.0, monotonic=lambda: now[0])
    for _ in range(4):
        limiter.fail("10.0.0.1")
        now[0] += 1
    assert limiter.retry_after("10.0.0.1") == 0
    limiter.fail("10.0.0.1")
    assert limiter.retry_after("10.0.0.1") == 57  # the first failure leaves the window at 1060
    assert limiter.retry_after("10.0.0.2") == 0  # per address
    now[0] = 1060.5
    assert limiter.retry_after("10.0.0.1") == 0


def test_a_flood_of_addresses_cannot_grow_the_limiter_without_bound() -> None:
    limiter = FailureLimiter(limit=1, max_addresses=3, monotonic=lambda: 0.0)
    for n in range(10):
        limiter.fail(f"10.0.0.{n}")
    assert [limiter.retry_after(f"10.0.0.{n}") > 0 for n in (0, 7, 8, 9)] == \
        [False, True, True, True]
