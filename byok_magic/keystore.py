"""The key store: the OS keyring behind a safety check, a time limit and an in-process cache.

Policy (docs/security.md §1.4, §2.7, SG2 and SG4):

* **Vetted backend** (:mod:`byok_magic.keyring_policy`): a chainer is resolved to the member
  that really receives writes; fail, null, ``keyrings.alt``, ``keyrings.cryptfile`` and
  non-recommended backends are refused; a misconfigured keyring is a status, never an exception.
* **Every save is verified** by reading it back (the null backend "stores" silently).
* **Every call is time-limited** (:data:`KEYRING_TIMEOUT`, 10 s): a locked or hung Secret
  Service costs the user a clear :class:`KeyStoreError`, never a frozen kernel.
* **Cached in process** for :data:`CACHE_TTL` seconds (one D-Bus connection per keyring call
  costs 15-45 ms, §1.2 P9); ``set``/``delete`` update the cache, so nothing stale is used.
* **Never a silent plaintext fallback.** Without a secure keyring, saving fails and says to
  use an environment variable. A plaintext file is used only when the user opts in by setting
  ``BYOK_MAGIC_INSECURE_FILE_STORE=1`` (see :mod:`byok_magic.filestore`); then it is the store,
  for reading and writing, and every status line says ``file:<path>``.

Entries live under service ``byok_magic`` (``BYOK_MAGIC_KEYRING_SERVICE`` overrides it, e.g. to
keep test runs apart): user ``NAME`` is a profile's API key, ``NAME#bearer`` its bearer token,
``NAME#oauth`` is reserved for an OAuth credential file's JSON.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

from .errors import KeyStoreError
from .keyring_policy import (
    INSECURE_ENV,
    KEYRING_TIMEOUT,
    BackendStatus,
    call_with_timeout,
    insecure_file_opted_in,
    resolve_backend,
    short_backend_name,
    vet_backend,
)
from .redact import remember

__all__ = [
    "CACHE_TTL",
    "INSECURE_ENV",
    "KEYRING_TIMEOUT",
    "SERVICE",
    "BackendStatus",
    "KeyStore",
    "call_with_timeout",
    "insecure_file_opted_in",
    "resolve_backend",
    "short_backend_name",
    "vet_backend",
]

SERVICE = "byok_magic"
CACHE_TTL = 300.0
# After a failed read (locked, hung) the store answers "broken" at once for this long, so a
# hung keyring costs one timeout per half minute instead of one per request.
BROKEN_TTL = 30.0
SERVICE_ENV = "BYOK_MAGIC_KEYRING_SERVICE"
T = TypeVar("T")

_ENV_FIX = (
    "byok never falls back to a plaintext file on its own: put the key in an environment "
    "variable (e.g. OPENAI_API_KEY), or install and unlock a Secret Service / OS keychain "
    f"(or, knowing it is plaintext, set {INSECURE_ENV}=1)"
)


class KeyStore:
    """Get, set and delete secrets in the vetted keyring (or the opted-in file).

    The plaintext file (``<byok home>/secrets/keys.json``, 0600 in a 0700 directory) is used
    only when ``BYOK_MAGIC_INSECURE_FILE_STORE=1`` is set in the environment of the process
    (kernel or ``byok`` command): it is never a fallback for a missing keyring.

    ``backend`` forces a keyring backend object (it is still vetted); by default the process's
    ``keyring.get_keyring()`` is used. ``insecure_file`` overrides the environment opt-in.
    ``clock`` is the time source for the cache (tests replace it).
    """

    def __init__(
        self,
        service: str | None = None,
        timeout: float = KEYRING_TIMEOUT,
        *,
        ttl: float = CACHE_TTL,
        backend: Any = None,
        insecure_file: bool | None = None,
    ) -> None:
        self.service = service or os.environ.get(SERVICE_ENV) or SERVICE
        self.timeout = timeout
        self.ttl = ttl
        self.clock: Callable[[], float] = time.monotonic
        self._forced = backend
        self._insecure = insecure_file
        # Cached values are Secret objects, so a debugger or variable inspector expanding the
        # store shows masked values only.
        self._cache: dict[str, tuple[float, Any]] = {}
        self._broken: tuple[float, KeyStoreError] | None = None
        self._status: tuple[float, BackendStatus, Any] | None = None
        self._lock = threading.Lock()
        self._io = threading.Lock()
        # one resolution at a time: a warm-up thread and the first request share its result
        self._resolving = threading.Lock()

    def __repr__(self) -> str:
        return f"KeyStore(service={self.service!r})"

    def __reduce__(self) -> NoReturn:
        raise TypeError("a KeyStore cannot be pickled")

    # -- which backend -------------------------------------------------------------------------

    def _resolve(self, refresh: bool = False) -> tuple[BackendStatus, Any]:
        cached = self._status
        if cached and not refresh and self.clock() < cached[0]:
            return cached[1], cached[2]
        with self._resolving:
            return self._resolve_locked(refresh)

    def _resolve_locked(self, refresh: bool) -> tuple[BackendStatus, Any]:
        now = self.clock()
        cached = self._status
        if cached and not refresh and now < cached[0]:
            return cached[1], cached[2]
        opted = self._insecure if self._insecure is not None else insecure_file_opted_in()
        if opted:
            from .filestore import FileBackend

            fb = FileBackend()
            why = f"plaintext file, opted in with {INSECURE_ENV}=1"
            st, backend = BackendStatus(True, f"file:{fb.path}", why, insecure=True), fb
        else:
            try:  # the first get_keyring() probes D-Bus, which can hang too
                st, backend = call_with_timeout(resolve_backend, self._forced, timeout=self.timeout)
            except KeyStoreError:
                st, backend = BackendStatus(False, "unresponsive", "the keyring hung"), None
        # A hung keyring is asked again sooner than a healthy one is re-vetted.
        expires = now + (BROKEN_TTL if st.name == "unresponsive" else self.ttl)
        self._status = (expires, st, backend)
        return st, backend

    def status(self, refresh: bool = False) -> BackendStatus:
        """Where secrets go and whether that is usable. Never raises, never holds a secret."""
        return self._resolve(refresh)[0]

    @property
    def label(self) -> str:
        """``keyring:SecretService`` or ``file:/path``: the source shown in status output."""
        return self.status().label

    def _usable(self) -> Any:
        st, backend = self._resolve()
        if not st.ok:
            raise KeyStoreError(f"no secure keyring: {st.reason}", _ENV_FIX, backend=st.name)
        return backend

    # -- operations ----------------------------------------------------------------------------

    def _call(self, what: str, fn: Callable[..., T], *args: Any) -> T:
        """One backend call under the time limit; any failure becomes a keyless KeyStoreError."""
        failure: str | None = None
        try:
            return call_with_timeout(fn, *args, timeout=self.timeout)
        except KeyStoreError:
            raise
        except Exception as exc:  # D-Bus errors, KeyringLocked, EOFError from a prompt...
            # Only the type name: a backend's message can quote what it was given.
            failure = type(exc).__name__
        # Raised outside the except block, so __context__ stays empty (errors.py contract).
        raise KeyStoreError(
            f"the keyring failed to {what} ({failure}; is it locked?)",
            "unlock your keyring and try again, or put the key in an environment variable",
        )

    def get(self, user: str) -> str | None:
        """The stored secret for ``user``, or None. Raises KeyStoreError when the store fails."""
        from .credentials import Secret

        now = self.clock()
        with self._lock:
            hit = self._cache.get(user)
            if hit and now - hit[0] < self.ttl:
                return hit[1].reveal() if hit[1] is not None else None
            if self._broken and now - self._broken[0] < BROKEN_TTL:
                err = self._broken[1]
                raise KeyStoreError(err.cause, err.fix)  # a fresh one: no growing traceback
        st, backend = self._resolve()
        if not st.ok:
            return None
        # One caller at a time talks to the backend; the others then find the cache filled.
        if not self._io.acquire(timeout=self.timeout):
            raise KeyStoreError("the keyring is busy (another read is stuck)", _ENV_FIX)
        try:
            with self._lock:
                hit = self._cache.get(user)
                if hit and self.clock() - hit[0] < self.ttl:
                    return hit[1].reveal() if hit[1] is not None else None
            try:
                value = self._call("read", backend.get_password, self.service, user)
            except KeyStoreError as err:
                with self._lock:
                    self._broken = (self.clock(), err)
                raise
            if value:
                remember(value)  # any later message that quotes it gets redacted
            with self._lock:
                self._broken = None
                self._cache[user] = (self.clock(), Secret(value) if value else None)
            return value or None
        finally:
            self._io.release()

    def set(self, user: str, value: str) -> None:
        """Store a secret and prove it by reading it back (a null backend "stores" silently)."""
        from .credentials import Secret

        if not isinstance(value, str) or not value.strip():
            raise KeyStoreError("an empty secret was given", "nothing was stored")
        remember(value)
        backend = self._usable()
        with self._lock:
            self._cache.pop(user, None)
        self._call("store the secret", backend.set_password, self.service, user, value)
        back = self._call("read the secret back", backend.get_password, self.service, user)
        if back != value:
            raise KeyStoreError(
                f"the keyring ({self.status().name}) did not keep the secret (read-back failed)",
                _ENV_FIX,
            )
        with self._lock:
            self._broken = None
            self._cache[user] = (self.clock(), Secret(value))

    def delete(self, user: str) -> bool:
        """Remove an entry; False when there was none. The cache forgets it first."""
        backend = self._usable()
        with self._lock:
            self._cache.pop(user, None)
        gone = self._call("delete the secret", _delete_or_missing, backend, self.service, user)
        if self._call("check the deletion", backend.get_password, self.service, user):
            raise KeyStoreError(
                f"the keyring ({self.status().name}) still holds the secret after deleting it",
                "delete it with your keyring's own tool (e.g. seahorse or secret-tool clear)",
            )
        with self._lock:
            self._cache[user] = (self.clock(), None)
        return gone

    def forget_cache(self) -> None:
        """Drop cached values and the backend verdict (e.g. after unlocking the keyring)."""
        with self._lock:
            self._cache.clear()
            self._broken = None
            self._status = None


def _delete_or_missing(backend: Any, service: str, user: str) -> bool:
    """True when an entry was deleted, False when there was none."""
    import keyring.errors

    try:
        backend.delete_password(service, user)
    except keyring.errors.PasswordDeleteError:
        return False
    return True
