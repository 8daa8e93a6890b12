"""The key store: the OS keyring behind a safety check, a time limit and an in-process cache.

Policy (docs/security.md §1.4, §2.7, SG2 and SG4):

* **Vetted backend.** ``keyring.get_keyring()`` may be a chainer whose own ``recommended()``
  lies (two weak backends make a priority-10 chainer), so the chainer is resolved to
  ``backends[0]``, the backend ``set_password`` really writes to, and *that* is vetted. The
  fail and null backends, anything from ``keyrings.alt`` (plaintext or a getpass prompt),
  ``keyrings.cryptfile`` (a master-password prompt on every call) and every non-recommended
  backend are refused. A broken ``PYTHON_KEYRING_BACKEND`` / ``keyringrc.cfg`` gives status
  ``misconfigured``; nothing here raises at import or on ``status()``.
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
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

from .errors import KeyStoreError

SERVICE = "byok_magic"
KEYRING_TIMEOUT = 10.0
CACHE_TTL = 300.0
# After a failed read (locked, hung) the store answers "broken" at once for this long, so a
# hung keyring costs one timeout per half minute instead of one per request.
BROKEN_TTL = 30.0
INSECURE_ENV = "BYOK_MAGIC_INSECURE_FILE_STORE"
SERVICE_ENV = "BYOK_MAGIC_KEYRING_SERVICE"
T = TypeVar("T")

_ENV_FIX = (
    "byok never falls back to a plaintext file on its own: put the key in an environment "
    "variable (e.g. OPENAI_API_KEY), or install and unlock a Secret Service / OS keychain "
    f"(or, knowing it is plaintext, set {INSECURE_ENV}=1)"
)


def call_with_timeout(fn: Callable[..., T], *args: Any, timeout: float = KEYRING_TIMEOUT) -> T:
    """Run a keyring call in a worker thread; a hung backend never hangs the caller.

    Exceptions from ``fn`` (including ``BaseException`` such as the ``EOFError`` a getpass
    prompt raises without a TTY) are re-raised here; a timeout is a :class:`KeyStoreError`.
    """
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["v"] = fn(*args)
        except BaseException as exc:
            out["e"] = exc

    worker = threading.Thread(target=run, daemon=True, name="byok-keyring")
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise KeyStoreError(
            f"the keyring did not answer within {timeout:g} s (locked, or waiting for a prompt?)",
            "unlock your keyring, or put the key in an environment variable",
        )
    if "e" in out:
        raise out["e"]
    return out.get("v")  # type: ignore[return-value]


@dataclass(frozen=True)
class BackendStatus:
    """Whether the store can be used, what it is, and why not (never any secret)."""

    ok: bool
    name: str
    reason: str
    insecure: bool = False

    @property
    def label(self) -> str:
        """Short source label: ``keyring:SecretService``, ``file:/path``, ``keyring:...``."""
        if self.name.startswith("file:"):
            return self.name
        return "keyring:" + short_backend_name(self.name)


def short_backend_name(name: str) -> str:
    """``keyring.backends.SecretService.Keyring`` → ``SecretService``."""
    if name.startswith("keyring.backends."):
        name = name[len("keyring.backends.") :]
        if name.endswith(".Keyring"):
            name = name[: -len(".Keyring")]
    return name


def _backend_name(kr: object) -> str:
    return f"{type(kr).__module__}.{type(kr).__name__}"


def resolve_backend(kr: Any = None) -> tuple[BackendStatus, Any]:
    """(status, backend): the backend ``set_password`` really writes to, vetted. Never raises.

    ``kr`` defaults to the process's ``keyring.get_keyring()``.
    """
    try:
        import keyring
        import keyring.core
        from keyring.backends import chainer, fail, null

        if kr is None:
            kr = keyring.get_keyring()
        if isinstance(kr, chainer.ChainerBackend):
            # recommended(chainer) is True as soon as two weak backends are viable; what
            # matters is the first member, which receives every set_password.
            members = kr.backends
            kr = members[0] if members else fail.Keyring()
        name = _backend_name(kr)
        if isinstance(kr, fail.Keyring):
            return BackendStatus(False, name, "no keyring backend is available"), None
        if isinstance(kr, null.Keyring):
            return BackendStatus(False, name, "the keyring is disabled (null backend)"), None
        if name.startswith("keyrings.alt."):
            return BackendStatus(False, name, f"{name} keeps keys in a weak local file"), None
        if name.startswith("keyrings.cryptfile."):
            why = f"{name} asks for a master password on every use, which a kernel cannot answer"
            return BackendStatus(False, name, why), None
        if not keyring.core.recommended(kr):
            return BackendStatus(False, name, f"{name} is not a recommended keyring"), None
    except Exception as exc:  # bad PYTHON_KEYRING_BACKEND / keyringrc.cfg / D-Bus init errors
        why = f"keyring misconfigured ({type(exc).__name__}); check PYTHON_KEYRING_BACKEND"
        return BackendStatus(False, "misconfigured", why), None
    return BackendStatus(True, name, "ok"), kr


def vet_backend() -> BackendStatus:
    """The status of the keyring backend ``set_password`` would write to. Never raises."""
    return resolve_backend()[0]


def insecure_file_opted_in() -> bool:
    """True when the user explicitly asked for the plaintext file store."""
    return os.environ.get(INSECURE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


class KeyStore:
    """Get, set and delete secrets in the vetted keyring (or the opted-in file).

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

    def __repr__(self) -> str:
        return f"KeyStore(service={self.service!r})"

    def __reduce__(self) -> NoReturn:
        raise TypeError("a KeyStore cannot be pickled")

    # -- which backend -------------------------------------------------------------------------

    def _resolve(self, refresh: bool = False) -> tuple[BackendStatus, Any]:
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
        elif self._forced is not None:
            st, backend = call_with_timeout(resolve_backend, self._forced, timeout=self.timeout)
        else:
            try:
                st, backend = call_with_timeout(resolve_backend, timeout=self.timeout)
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
