"""Secrets: the masked :class:`Secret` value, where a profile's secret comes from, and lookup.

A secret is revealed in exactly one place: the transport, when it sets the auth header of a
request going to the profile's own origin. Lookup order for a profile (docs/interface.md,
Secrets): a token provider set with :func:`byok_magic.set_token_provider`, then the key store
(a bearer token ``NAME#bearer`` before a key ``NAME``, then an OAuth credential ``NAME#oauth``;
for a ``vertex`` profile the OAuth credential comes first), then the profile's ``key_env``, then
the preset's environment variables. An OAuth credential becomes a bearer token, refreshed when
needed (:mod:`byok_magic.oauth`). Keys are only ever *read* from the environment, never written
to it (``!cmd`` and subprocesses would inherit them).

The key store itself (vetted keyring, time limit, cache, opt-in plaintext file) is in
:mod:`byok_magic.keystore`; its names are re-exported here.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, NoReturn

from .errors import KeyStoreError, MissingKeyError
from .keystore import (
    CACHE_TTL,
    INSECURE_ENV,
    KEYRING_TIMEOUT,
    SERVICE,
    BackendStatus,
    KeyStore,
    call_with_timeout,
    resolve_backend,
    vet_backend,
)

if TYPE_CHECKING:
    from .config import Profile
    from .transport import Transport

__all__ = [
    "CACHE_TTL",
    "INSECURE_ENV",
    "KEYRING_TIMEOUT",
    "SERVICE",
    "BackendStatus",
    "Credential",
    "KeySource",
    "KeyStore",
    "Secret",
    "call_with_timeout",
    "describe",
    "keystore",
    "lookup",
    "require",
    "resolve_backend",
    "set_token_provider",
    "vet_backend",
]


class Secret:
    """Holds a key or token; never shows it in repr/str/format, and cannot be pickled."""

    __slots__ = ("_value",)
    _value: str

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
        import hmac

        # Constant-time, so comparing keys never hints at how much of one matched.
        return isinstance(other, Secret) and hmac.compare_digest(
            other._value.encode(), self._value.encode()
        )

    def __bool__(self) -> bool:
        return bool(self._value)

    __hash__ = None  # type: ignore[assignment]


CredentialKind = Literal["api-key", "bearer"]


@dataclass(frozen=True)
class Credential:
    """A secret plus how to send it and where it came from (``keyring``, ``env:NAME``, ...).

    ``meta`` holds non-secret details that came with it (an OAuth file's ``project_id``).
    ``renew``, when set, returns a replacement after the provider rejected this one (an OAuth
    credential refreshes its access token); the router calls it at most once per request.
    """

    secret: Secret
    kind: CredentialKind = "api-key"
    source: str = "keyring"
    meta: Mapping[str, str] = field(default_factory=dict, compare=False)
    renew: Callable[[], Credential] | None = field(default=None, repr=False, compare=False)


_store: KeyStore | None = None
_token_providers: dict[str, Callable[[], str]] = {}


def keystore() -> KeyStore:
    """The process-wide key store (created on first use; imports keyring lazily)."""
    global _store
    if _store is None:
        _store = KeyStore()
    return _store


def set_token_provider(profile: str, provider: Callable[[], str] | None) -> None:
    """Register a callable returning a fresh bearer token before each request (None removes)."""
    if provider is None:
        _token_providers.pop(profile, None)
    else:
        _token_providers[profile] = provider


def _stored(profile: Profile, store: KeyStore) -> tuple[str, str, str, str]:
    """(suffix, value, store label, problem) of the profile's first stored secret.

    ``suffix`` is ``#bearer``, ``""`` (a key) or ``#oauth``; value ``""`` when none. An OAuth
    credential is read first for a ``vertex`` profile and last for the others (a profile that
    has a key never pays for a third keyring read).
    """
    order = ("#bearer", "", "#oauth")
    if profile.type == "vertex":
        order = ("#oauth", "#bearer", "")
    try:
        st = store.status()
        if not st.ok:
            return "", "", "", st.reason
        for suffix in order:
            value = store.get(profile.name + suffix)
            if value:
                return suffix, value, st.label, ""
    except KeyStoreError as err:
        return "", "", "", err.cause  # an unusable keyring falls through to the environment
    return "", "", st.label, ""


def _from_store(
    profile: Profile, store: KeyStore, transport: Transport | None = None
) -> tuple[Credential | None, str]:
    """(credential from the key store or None, why the store could not be asked, if so).

    An OAuth credential is turned into a bearer token here (refreshing it if it expired), so
    its errors (a refused refresh, a tool login that byok never sends) reach the caller.
    """
    suffix, value, label, problem = _stored(profile, store)
    if not value:
        return None, problem
    if suffix == "#oauth":
        from .oauth import credential

        return credential(profile, store, value, label, transport), ""
    from .oauth import refuse_tool_login

    refuse_tool_login(value, f"stored as the key of profile {profile.name!r}")
    if suffix == "#bearer":
        return Credential(Secret(value), "bearer", label), ""
    kind: CredentialKind = "bearer" if profile.auth == "bearer" else "api-key"
    return Credential(Secret(value), kind, label), ""


def _from_env(profile: Profile) -> Credential | None:
    kind: CredentialKind = "bearer" if profile.auth == "bearer" else "api-key"
    for var in profile.env_vars:
        value = os.environ.get(var)
        if value:
            return Credential(Secret(value), kind, f"env:{var}")
    return None


def lookup(
    profile: Profile, store: KeyStore | None = None, transport: Transport | None = None
) -> Credential | None:
    """The credential for a profile, or None. Never raises for a missing or broken keyring.

    A stored OAuth credential is refreshed first if its access token is due, through
    ``transport`` (default: the shared one); that refresh can raise (refused, network), and a
    Qwen Code, Gemini CLI or Claude Code login raises its explanation.
    """
    provider = _token_providers.get(profile.name)
    if provider is not None:
        token = provider()
        if not isinstance(token, str) or not token:
            raise MissingKeyError(
                f"the token provider for profile {profile.name!r} returned no token",
                "check the callable given to byok_magic.set_token_provider",
            )
        return Credential(Secret(token), "bearer", "token-provider")
    cred, _ = _from_store(profile, store or keystore(), transport)
    return cred or _from_env(profile)


def require(
    profile: Profile, store: KeyStore | None = None, transport: Transport | None = None
) -> Credential | None:
    """Like :func:`lookup`, but a profile that needs a secret and has none is an error."""
    if profile.name in _token_providers:
        return lookup(profile, store)
    cred, problem = _from_store(profile, store or keystore(), transport)
    cred = cred or _from_env(profile)
    if cred is None and profile.needs_secret:
        envs = " or ".join(profile.env_vars)
        if problem:
            # The keyring cannot help, so the environment is the first fix to offer.
            env_fix = f"set {envs} in the kernel's environment" if envs else ""
            fix = env_fix or f"set key_env in profile {profile.name!r} and export that variable"
            raise MissingKeyError(
                f"no API key for profile {profile.name!r} (the keyring is unusable: {problem})",
                f"{fix}, or fix the keyring and run `%byok keys set {profile.name}`",
            )
        env_hint = f", or set {envs}" if envs else ""
        if profile.type == "vertex":
            raise MissingKeyError(
                f"no OAuth credential for profile {profile.name!r}",
                "run `gcloud auth application-default login`, then "
                f"`%byok keys set {profile.name} --oauth --from gcloud`",
            )
        raise MissingKeyError(
            f"no API key for profile {profile.name!r}",
            f"add one with `%byok keys set {profile.name}` (or `byok keys set {profile.name}` "
            f"in a terminal){env_hint}",
        )
    return cred


@dataclass(frozen=True)
class KeySource:
    """Where a profile's secret comes from, for status output. Never holds the secret.

    ``source`` is ``keyring:<backend>``, ``file:<path>``, ``env:VAR``, ``token-provider``,
    ``none`` or ``not needed``; ``masked`` is ``…abcd`` (``****`` for short secrets) or empty;
    ``note`` says why the keyring was skipped, when it was.
    """

    profile: str
    source: str
    masked: str = ""
    kind: str = ""
    note: str = ""

    def __str__(self) -> str:
        parts = [self.profile, self.source, self.masked, f"({self.note})" if self.note else ""]
        return " ".join(p for p in parts if p)


def describe(profile: Profile, store: KeyStore | None = None) -> KeySource:
    """Tell where ``profile``'s secret would come from, masked. Never raises for the keyring.

    A token provider is reported but not called (it may be slow or have side effects).
    """
    if profile.name in _token_providers:
        return KeySource(profile.name, "token-provider", kind="bearer")
    suffix, value, label, problem = _stored(profile, store or keystore())
    if suffix == "#oauth" and value:
        from .oauth import describe_stored

        masked, note = describe_stored(value)  # no refresh: a status line sends nothing
        return KeySource(profile.name, label, masked, "oauth", note)
    cred = None
    if value and value.lstrip().startswith("{"):  # a login file pasted where a key goes
        from .oauth import describe_stored

        return KeySource(profile.name, label, "", "", describe_stored(value)[1])
    if value:
        kind: CredentialKind = "bearer" if suffix or profile.auth == "bearer" else "api-key"
        cred = Credential(Secret(value), kind, label)
    cred = cred or _from_env(profile)
    note = f"keyring unusable: {problem}" if problem else ""
    if cred is None:
        source = "none" if profile.needs_secret else "not needed"
        return KeySource(profile.name, source, note=note if profile.needs_secret else "")
    return KeySource(profile.name, cred.source, cred.secret.masked, cred.kind, note)


SECRET_KINDS = {"": "API key", "#bearer": "bearer token", "#oauth": "OAuth credential"}


def delete_secrets(name: str, store: KeyStore, only: str | None = None) -> list[str]:
    """Delete what the keyring holds for profile ``name`` (``only``: ``"#bearer"`` or
    ``"#oauth"``; default everything); the kinds that were there, e.g. ``["API key"]``."""
    suffixes = (only,) if only is not None else tuple(SECRET_KINDS)
    return [SECRET_KINDS[s] for s in suffixes if store.delete(name + s)]


def deleted_message(name: str, gone: list[str], profile: Profile | None) -> str:
    """What a delete did, the same words in a notebook and a terminal."""
    if not gone:
        return f"Nothing was stored for profile {name!r}."
    text = f"Deleted the {' and '.join(gone)} for profile {name!r}."
    left = [v for v in (profile.env_vars if profile else ()) if os.environ.get(v)]
    if left:
        text += f" Note: {left[0]} is still set in the environment, so byok still has a key."
    return text
