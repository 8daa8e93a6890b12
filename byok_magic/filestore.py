"""The plaintext file store, used only when the user opts in with
``BYOK_MAGIC_INSECURE_FILE_STORE=1`` (like ``gh --insecure-storage`` or Azure Identity's
``allow_unencrypted_storage``; docs/security.md §4).

The file is ``<byok home>/secrets/keys.json``. Anyone who can read it (or run code as this user)
has the keys, so it is made as tight as a file can be:

* the directory is created ``0700``; an existing one that is looser, a symlink, or someone
  else's is refused;
* every write creates a fresh file with ``os.open(O_CREAT | O_EXCL | O_NOFOLLOW, 0o600)`` and
  then ``fchmod(0o600)`` (so even ``umask 000`` cannot widen it), then renames it over the old
  one, so no reader ever sees a half-written or wider-mode file (the AWS CLI pattern);
* an existing file with group/other bits, owned by someone else, or a symlink is refused, not
  silently "fixed": the user should know that it was exposed.

Only one writer process at a time is assumed (no cross-process lock): a concurrent ``set`` from
two processes keeps the last one.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
from pathlib import Path
from typing import Any

from .errors import KeyStoreError

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_POSIX = hasattr(os, "getuid")
_ENV = "BYOK_MAGIC_INSECURE_FILE_STORE"
NOTE = f"byok_magic plaintext secrets (opted in with {_ENV}=1). Keep this file private."


def default_path() -> Path:
    from .config import byok_home

    return byok_home() / "secrets" / "keys.json"


class FileBackend:
    """A keyring-like backend (get/set/delete_password) over one JSON file."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_path()

    def __repr__(self) -> str:
        return f"FileBackend({str(self.path)!r})"

    # -- keyring-like interface ----------------------------------------------------------------

    def get_password(self, service: str, user: str) -> str | None:
        value = self._read().get(service, {}).get(user)
        return value if isinstance(value, str) else None

    def set_password(self, service: str, user: str, value: str) -> None:
        data = self._read(create_dir=True)
        data.setdefault(service, {})[user] = value
        self._write(data)

    def delete_password(self, service: str, user: str) -> None:
        import keyring.errors

        data = self._read()
        if user not in data.get(service, {}):
            raise keyring.errors.PasswordDeleteError("not found")
        del data[service][user]
        if not data[service]:
            del data[service]
        self._write(data)

    # -- the file ------------------------------------------------------------------------------

    def _check_dir(self, create: bool) -> bool:
        """True when the directory exists and is private; creates it when asked."""
        d = self.path.parent
        try:
            st = os.lstat(d)
        except FileNotFoundError:
            if not create:
                return False
            d.parent.mkdir(parents=True, exist_ok=True)
            os.mkdir(d, 0o700)
            os.chmod(d, 0o700)  # a umask like 0o277 would otherwise leave it unwritable
            st = os.lstat(d)
        if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
            raise KeyStoreError(f"{d} is not a plain directory", f"remove it, or unset {_ENV}")
        if _POSIX and st.st_uid != os.getuid():
            raise KeyStoreError(f"{d} belongs to another user", f"remove it, or unset {_ENV}")
        if _POSIX and st.st_mode & 0o077:
            raise KeyStoreError(
                f"{d} is readable by others (mode {stat.S_IMODE(st.st_mode):o}); refusing to "
                "keep keys there",
                f"run `chmod 700 {d}` (and rotate keys that were in it)",
            )
        return True

    def _read(self, create_dir: bool = False) -> dict[str, dict[str, Any]]:
        if not self._check_dir(create_dir):
            return {}
        try:
            fd = os.open(self.path, os.O_RDONLY | _NOFOLLOW | _CLOEXEC)
        except FileNotFoundError:
            return {}
        except OSError:  # ELOOP: a symlink planted where the file should be
            fd = -1
        if fd < 0:
            raise KeyStoreError(f"cannot open {self.path} safely (a symlink?)", "remove it")
        problem = ""
        data: Any = None
        with os.fdopen(fd, "r", encoding="utf-8") as fh:
            st = os.fstat(fh.fileno())
            if _POSIX and st.st_uid != os.getuid():
                problem = "belongs to another user"
            elif _POSIX and st.st_mode & 0o077:
                problem = f"is readable by others (mode {stat.S_IMODE(st.st_mode):o})"
            else:
                try:
                    data = json.load(fh)
                except ValueError:
                    problem = "is not valid JSON"
        if problem:
            # Raised after the file is closed and outside any except block: the decoder's
            # exception holds the whole document (the keys) and must not ride along.
            raise KeyStoreError(
                f"the secrets file {self.path} {problem}; refusing to use it",
                f"run `chmod 600 {self.path}` and rotate the keys in it, or remove it",
            )
        secrets_ = data.get("secrets", {}) if isinstance(data, dict) else {}
        return {s: dict(u) for s, u in secrets_.items() if isinstance(u, dict)}

    def _write(self, data: dict[str, dict[str, Any]]) -> None:
        self._check_dir(create=True)
        tmp = self.path.with_name(f".{self.path.name}.{secrets.token_hex(6)}.tmp")
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC
        fd = os.open(tmp, flags, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                if hasattr(os, "fchmod"):
                    os.fchmod(fh.fileno(), 0o600)
                json.dump({"_note": NOTE, "secrets": data}, fh, indent=1, sort_keys=True)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
