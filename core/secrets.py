"""Secrets read from the environment only, wrapped so that printing or logging never shows them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Secret:
    """A secret string: ``str()`` and ``repr()`` show a redaction, ``reveal()`` the value."""

    _value: str = field(repr=False)

    def reveal(self) -> str:
        """Return the secret itself; call only where it is handed to a client library."""
        return self._value

    def __str__(self) -> str:
        return "***" if self._value else ""

    def __repr__(self) -> str:
        return "Secret('***')" if self._value else "Secret('')"

    def __bool__(self) -> bool:
        return bool(self._value)


def secret_from_env(env: Mapping[str, str], name: str) -> Secret:
    """The variable ``name`` as a Secret; empty (falsy) when unset or blank."""
    return Secret(env.get(name, "").strip())


def redact(text: str, secrets: list[Secret]) -> str:
    """Replace every occurrence of any secret's value in ``text`` with ``***``."""
    for secret in secrets:
        value = secret.reveal()
        if value:
            text = text.replace(value, "***")
    return text
