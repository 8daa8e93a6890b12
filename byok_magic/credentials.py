"""Secrets: the masked :class:`Secret` value and where secrets come from.

A secret is revealed in exactly one place: the transport, when it sets the auth header of a
request going to the profile's own origin.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, NoReturn


class Secret:
    """Holds a key or token; never shows it in repr/str/format, and cannot be pickled."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("Secret takes a str")
        object.__setattr__(self, "_value", value)

    def reveal(self) -> str:
        """The raw value. Call only where it goes straight into a request header."""
        return self._value

    @property
    def masked(self) -> str:
        """``…abcd`` for long values, ``****`` for short ones (too short to hint at)."""
        return f"…{self._value[-4:]}" if len(self._value) >= 16 else "****"

    def __repr__(self) -> str:
        return f"Secret('{self.masked}')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Secret cannot be pickled")

    def __setattr__(self, name: str, value: Any) -> NoReturn:
        raise AttributeError("Secret is read-only")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    __hash__ = None  # type: ignore[assignment]


CredentialKind = Literal["api-key", "bearer"]


@dataclass(frozen=True)
class Credential:
    """A secret plus how to send it and where it came from (``keyring``, ``env:NAME``, ...)."""

    secret: Secret
    kind: CredentialKind = "api-key"
    source: str = "keyring"
