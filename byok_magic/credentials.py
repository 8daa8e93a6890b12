"""Secrets: the masked :class:`Secret` value, the vetted keyring store, and the env fallbacks.

A secret is revealed in exactly one place: the transport, when it sets the auth header of a
request going to the profile's own origin. Lookup order for a profile: a token provider set
with :func:`byok_magic.set_token_provider`, then the keyring (a bearer token before a key),
then the profile's ``key_env``, then the preset's environment variables.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, NoReturn, TypeVar

from .errors import KeyStoreError, MissingKeyError

if TYPE_CHECKING:
    from .config import Profile

SERVICE = "byok_magic"
KEYRING_TIMEOUT = 10.0
CACHE_TTL = 300.0
T = TypeVar("T")


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


# ---------------------------------------------------------------------------------------------
# the keyring, vetted


def call_with_timeout(fn: Callable[..., T], *args: Any, timeout: float = KEYRING_TIMEOUT) -> T:
    """Run a keyring call in a worker thread; a hung backend never hangs the kernel."""
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["v"] = fn(*args)
        except BaseException as exc:  # EOFError from getpass backends, D-Bus errors, ...
            out["e"] = exc

    worker = threading.Thread(target=run, daemon=True, name="byok-keyring")
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise KeyStoreError(
            f"the keyring did not answer within {timeout:.0f} s (locked or hanging?)",
            "unlock your keyring, or use an environment variable for the key",
        )
    if "e" in out:
        raise out["e"]
    return out.get("v")  # type: ignore[return-value]


@dataclass(frozen=True)
class BackendStatus:
    ok: bool
    name: str
    reason: str


def vet_backend() -> BackendStatus:
    """The backend ``set_password`` would really write to, and whether it is safe. Never raises."""
    try:
        import keyring
        import keyring.core
        from keyring.backends import chainer, fail, null

        kr = keyring.get_keyring()
        if isinstance(kr, chainer.ChainerBackend):
            kr = kr.backends[0] if kr.backends else fail.Keyring()
    except Exception as exc:
        return BackendStatus(
            False, "misconfigured", f"keyring misconfigured ({type(exc).__name__})"
        )
    name = f"{type(kr).__module__}.{type(kr).__name__}"
    if isinstance(kr, fail.Keyring):
        return BackendStatus(False, name, "no keyring backend is available")
    if isinstance(kr, null.Keyring):
        return BackendStatus(False, name, "the keyring is disabled (null backend)")
    if name.startswith("keyrings.alt.") or not keyring.core.recommended(kr):
        return BackendStatus(False, name, f"{name} stores keys in plaintext or weakly")
    return BackendStatus(True, name, "ok")


class KeyStore:
    """The keyring behind a safety check, a time limit and an in-process cache.

    Entries live under service ``byok_magic``: user ``NAME`` for a key, ``NAME#bearer`` for a
    bearer token, ``NAME#oauth`` for an OAuth credential file's JSON.
    """

    def __init__(self, service: str = SERVICE, timeout: float = KEYRING_TIMEOUT) -> None:
        self.service = service
        self.timeout = timeout
        self._cache: dict[str, tuple[float, str | None]] = {}
        self._lock = threading.Lock()
        self._status: BackendStatus | None = None

    def status(self, refresh: bool = False) -> BackendStatus:
        if self._status is None or refresh:
            self._status = call_with_timeout(vet_backend, timeout=self.timeout)
        return self._status

    def _require(self) -> None:
        st = self.status()
        if not st.ok:
            raise KeyStoreError(
                f"no secure keyring: {st.reason}",
                "byok never stores keys in plaintext on its own; set the key in an environment "
                "variable instead (e.g. OPENAI_API_KEY), or install and unlock a Secret Service "
                "/ OS keychain",
                backend=st.name,
            )

    def get(self, user: str) -> str | None:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(user)
            if hit and now - hit[0] < CACHE_TTL:
                return hit[1]
        if not self.status().ok:
            return None
        import keyring

        try:
            value = call_with_timeout(
                keyring.get_password, self.service, user, timeout=self.timeout
            )
        except KeyStoreError:
            raise
        except Exception as exc:
            raise KeyStoreError(
                f"the keyring failed to read ({type(exc).__name__}; locked?)",
                "unlock your keyring, or use an environment variable for the key",
            ) from None
        with self._lock:
            self._cache[user] = (now, value)
        return value

    def set(self, user: str, value: str) -> None:
        if not value or not value.strip():
            raise KeyStoreError("an empty secret was given", "nothing was stored")
        self._require()
        import keyring

        try:
            call_with_timeout(keyring.set_password, self.service, user, value, timeout=self.timeout)
            back = call_with_timeout(keyring.get_password, self.service, user, timeout=self.timeout)
        except KeyStoreError:
            raise
        except Exception as exc:
            raise KeyStoreError(
                f"the keyring refused to store the secret ({type(exc).__name__}; locked?)",
                "unlock your keyring and try again, or use an environment variable",
            ) from None
        if back != value:
            raise KeyStoreError(
                f"the keyring ({self.status().name}) did not keep the secret (read-back failed)",
                "use an environment variable for the key",
            )
        with self._lock:
            self._cache[user] = (time.monotonic(), value)

    def delete(self, user: str) -> bool:
        """Remove an entry; False when there was none."""
        self._require()
        import keyring
        import keyring.errors

        with self._lock:
            self._cache.pop(user, None)
        try:
            call_with_timeout(keyring.delete_password, self.service, user, timeout=self.timeout)
        except keyring.errors.PasswordDeleteError:
            return False
        except KeyStoreError:
            raise
        except Exception as exc:
            raise KeyStoreError(
                f"the keyring failed to delete the secret ({type(exc).__name__})",
                "unlock your keyring and try again",
            ) from None
        return True

    def forget_cache(self) -> None:
        with self._lock:
            self._cache.clear()


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


def lookup(profile: Profile, store: KeyStore | None = None) -> Credential | None:
    """The credential for a profile, or None. Never raises for a missing keyring."""
    provider = _token_providers.get(profile.name)
    if provider is not None:
        token = provider()
        if not isinstance(token, str) or not token:
            raise MissingKeyError(
                f"the token provider for profile {profile.name!r} returned no token",
                "check the callable given to byok_magic.set_token_provider",
            )
        return Credential(Secret(token), "bearer", "token-provider")
    store = store or keystore()
    kind: CredentialKind = "bearer" if profile.auth == "bearer" else "api-key"
    try:
        bearer = store.get(f"{profile.name}#bearer")
        if bearer:
            return Credential(Secret(bearer), "bearer", f"keyring:{store.status().name}")
        key = store.get(profile.name)
        if key:
            return Credential(Secret(key), kind, f"keyring:{store.status().name}")
    except KeyStoreError:
        pass  # an unusable keyring falls through to the environment, as documented
    for var in profile.env_vars:
        value = os.environ.get(var)
        if value:
            return Credential(Secret(value), kind, f"env:{var}")
    return None


def require(profile: Profile, store: KeyStore | None = None) -> Credential | None:
    """Like :func:`lookup`, but a profile that needs a secret and has none is an error."""
    cred = lookup(profile, store)
    if cred is None and profile.needs_secret:
        envs = " or ".join(profile.env_vars)
        env_hint = f", or set {envs}" if envs else ""
        raise MissingKeyError(
            f"no API key for profile {profile.name!r}",
            f"add one with `%byok keys set {profile.name}` (or `byok keys set {profile.name}` "
            f"in a terminal){env_hint}",
        )
    return cred
