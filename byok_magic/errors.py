"""Errors byok builds itself: a one-line cause and a fix, never an echoed exception or body.

Every error here is constructed from values byok chose (status codes, profile names, URLs
without query strings, provider messages that went through :func:`redact`). None of them
chains to the low-level exception (``__cause__``/``__context__`` stay empty) because those
can carry request headers.
"""

from __future__ import annotations

from typing import Any


class ByokError(Exception):
    """Base of everything byok raises on purpose.

    ``cause`` says what went wrong in one line; ``fix`` says what the user can do.
    """

    kind = "error"
    retryable = False

    def __init__(self, cause: str, fix: str = "", **info: Any) -> None:
        super().__init__(cause, fix)
        self.cause = cause
        self.fix = fix
        self.info = info

    def __str__(self) -> str:
        return f"{self.cause} — {self.fix}" if self.fix else self.cause

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.cause, self.fix, self.info))


def _rebuild(cls: type[ByokError], cause: str, fix: str, info: dict[str, Any]) -> ByokError:
    err = cls.__new__(cls)
    ByokError.__init__(err, cause, fix, **info)
    return err


class ConfigError(ByokError):
    """A profile, target or setting that cannot be used as given."""

    kind = "config"


class UnsupportedProvider(ConfigError):
    kind = "unsupported"


class NoModelError(ConfigError):
    kind = "no_model"


class MissingKeyError(ByokError):
    """No secret for a profile that needs one."""

    kind = "missing_key"


class KeyStoreError(ByokError):
    """The keyring cannot be used safely (missing, plaintext, locked, hanging)."""

    kind = "keystore"


class SecurityError(ByokError):
    """A request that would put a secret at risk was refused before sending."""

    kind = "security"


class ProviderError(ByokError):
    """The provider answered with an error (HTTP status or an error inside the stream)."""

    kind = "provider"

    @property
    def status(self) -> int | None:
        status = self.info.get("status")
        return status if isinstance(status, int) else None

    @property
    def retry_after(self) -> float | None:
        value = self.info.get("retry_after")
        return float(value) if isinstance(value, (int, float)) else None


class BadRequestError(ProviderError):
    kind = "bad_request"


class ContextLengthError(BadRequestError):
    kind = "context_length"


class AuthError(ProviderError):
    kind = "auth"


class PermissionDenied(ProviderError):
    kind = "permission"


class ModelNotFoundError(ProviderError):
    kind = "not_found"


class BlockedError(ProviderError):
    """The provider's safety filter blocked the prompt or the answer ("blocked: REASON")."""

    kind = "blocked"


class RateLimitError(ProviderError):
    kind = "rate_limit"
    retryable = True


class ServerError(ProviderError):
    kind = "server"
    retryable = True


class NetworkError(ByokError):
    """The server could not be reached or stopped answering."""

    kind = "network"


class ConnectFailed(NetworkError):
    kind = "connect"
    retryable = True


class StreamTimeout(NetworkError):
    kind = "timeout"


class StreamInterrupted(NetworkError):
    """The connection closed before the provider's end-of-answer marker."""

    kind = "interrupted"


class ProtocolError(ByokError):
    """The reply was not in the shape that was asked for (e.g. HTML where a stream was due)."""

    kind = "protocol"


class CellFailed(Exception):
    """Raised by the magics after they have shown their one clear message, so the cell counts
    as failed (Run All stops, nbclient and papermill report it) without printing a traceback:
    IPython shows ``_render_traceback_`` instead of one."""

    def __init__(self, summary: str) -> None:
        super().__init__(summary)
        self.summary = summary

    def _render_traceback_(self) -> list[str]:
        return [f"byok: {self.summary}"]
