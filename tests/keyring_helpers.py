"""Keyring test helpers: when a real Secret Service must be there, running Python with a given
keyring environment, and fake backends for the behaviours a real Secret Service cannot be made
to show on demand (counting calls, hanging, refusing, dropping writes, prompting).

The fakes are not ``viable``, so keyring's own backend discovery never picks one up: a test
installs one with :func:`installed` (``keyring.set_keyring``) and the previous backend comes
back after.
"""

from __future__ import annotations

import collections
import contextlib
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import keyring
import keyring.errors
import pytest
from keyring.backend import KeyringBackend

HOW = "run the suite via `bash scripts/test.sh` or `bash scripts/keyring-session.sh run -- ...`"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def skip_or_fail(reason: str) -> None:
    """Skip with the reason on a developer machine; in CI a missing prerequisite is a failure."""
    if in_ci():
        pytest.fail(f"CI is set but {reason}")
    pytest.skip(reason)


def require_secret_service() -> None:
    """The real Secret Service from scripts/keyring-session.sh must be there."""
    if os.environ.get("BYOK_TEST_SECRET_SERVICE") != "1":
        skip_or_fail(f"no real Secret Service (BYOK_TEST_SECRET_SERVICE unset): {HOW}")


def require_tools(*names: str) -> None:
    missing = [n for n in names if shutil.which(n) is None]
    if missing:
        skip_or_fail(f"missing {', '.join(missing)} (apt-get install gnome-keyring dbus)")


def clean_env(tmp: Path, **extra: str | None) -> dict[str, str]:
    """A child environment with a private HOME/XDG tree; ``None`` removes a variable.

    Keyring reads its config from XDG_CONFIG_HOME and file backends write under XDG_DATA_HOME,
    so pointing both into ``tmp`` keeps a child away from the developer's real keyring files.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHON_KEYRING_BACKEND"}
    home = tmp / "home"
    for sub in ("", ".config", ".local/share", ".cache"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_DATA_HOME=str(home / ".local/share"),
        XDG_CACHE_HOME=str(home / ".cache"),
    )
    for k, v in extra.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


def run_python(
    code: str, env: Mapping[str, str], *args: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter (keyring resolves its backend at first use)."""
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


class MemoryKeyring(KeyringBackend):
    """A recommended (priority 5) in-memory keyring that counts every call."""

    priority = 5  # type: ignore[assignment]
    viable = False  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.data: dict[tuple[str, str], str] = {}
        self.gets = self.sets = self.deletes = 0
        self.gets_by_user: collections.Counter[str] = collections.Counter()

    def get_password(self, service: str, username: str) -> str | None:
        self.gets += 1
        self.gets_by_user[username] += 1
        return self.data.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.sets += 1
        self.data[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.deletes += 1
        if self.data.pop((service, username), None) is None:
            raise keyring.errors.PasswordDeleteError("not found")


class WeakKeyring(MemoryKeyring):
    """Like keyrings.alt's plaintext store: works, but priority 0.5 (not recommended)."""

    priority = 0.5  # type: ignore[assignment]


class DroppingKeyring(MemoryKeyring):
    """Claims to be recommended but keeps nothing (what a null-like store does silently)."""

    def set_password(self, service: str, username: str, password: str) -> None:
        self.sets += 1


class HangingKeyring(MemoryKeyring):
    """Every call blocks (a locked keyring waiting for a prompt) until released."""

    def __init__(self, hang: float = 60.0) -> None:
        super().__init__()
        self.release = threading.Event()
        self.hang = hang

    def get_password(self, service: str, username: str) -> str | None:
        self.gets += 1
        self.release.wait(self.hang)
        return None

    def set_password(self, service: str, username: str, password: str) -> None:
        self.sets += 1
        self.release.wait(self.hang)


class LockedKeyring(MemoryKeyring):
    """What SecretService raises for a locked collection (security.md §1.2 P3)."""

    def get_password(self, service: str, username: str) -> str | None:
        raise keyring.errors.KeyringLocked("Failed to unlock the collection!")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise keyring.errors.KeyringLocked("Failed to unlock the collection!")


class PromptingKeyring(MemoryKeyring):
    """A getpass-based backend with no terminal (alt.Encrypted / CryptFile headless, §1.3).

    The exception text quotes the value, as a careless backend might: it must not surface.
    """

    def get_password(self, service: str, username: str) -> str | None:
        raise EOFError("EOF when reading a line")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise EOFError(f"EOF while storing {password}")


@contextlib.contextmanager
def installed(backend: Any) -> Iterator[Any]:
    """Make ``backend`` the process's keyring for the block, then restore the previous one."""
    previous = keyring.get_keyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)
