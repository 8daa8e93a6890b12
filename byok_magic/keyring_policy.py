"""Which keyring backend byok may use, and calling it under a time limit.

``keyring.get_keyring()`` may be a chainer whose own ``recommended()`` lies (two weak backends
make a priority-10 chainer, docs/security.md §0.2), so the chainer is resolved to
``backends[0]``, the backend ``set_password`` really writes to, and *that* is vetted. Refused:
the fail and null backends, anything from ``keyrings.alt`` (plaintext, or a getpass prompt),
``keyrings.cryptfile`` (a master-password prompt on every call) and every non-recommended
backend. A broken ``PYTHON_KEYRING_BACKEND`` / ``keyringrc.cfg`` gives the status
``misconfigured``; nothing here raises for it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from .errors import KeyStoreError

KEYRING_TIMEOUT = 10.0
INSECURE_ENV = "BYOK_MAGIC_INSECURE_FILE_STORE"
T = TypeVar("T")


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
