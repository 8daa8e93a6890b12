"""The user's ``profiles.toml`` merged with the presets; targets; checks on a profile.

A profile (:mod:`byok_magic.profile`) is a provider connection. Its non-secret settings live in
the profile file; its secret lives in the keyring (:mod:`byok_magic.credentials`). Presets are
data rows in :mod:`byok_magic.presets`; base-URL rules are in :mod:`byok_magic.urls`.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from .errors import ConfigError, NoModelError
from .events import ModelInfo
from .presets import PRESETS
from .profile import AUTH_MODES, PROFILE_TYPES, WIRE_APIS, Profile
from .toml_writer import dump_toml
from .urls import KNOWN_OPERATIONS, host_of, openai_url, path_of, split_base

# The names other modules and users import from here.
__all__ = [
    "KNOWN_OPERATIONS",
    "PRESETS",
    "PROFILE_TYPES",
    "Config",
    "Profile",
    "byok_home",
    "check_profile",
    "dump_toml",
    "host_of",
    "openai_url",
    "parse_target",
    "profile_from_dict",
    "profile_to_dict",
    "split_base",
]
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def byok_home() -> Path:
    """``$BYOK_MAGIC_HOME`` when set, else the platform's user config directory."""
    env = os.environ.get("BYOK_MAGIC_HOME")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_config_dir

    return Path(user_config_dir("byok_magic", appauthor=False))


# ---------------------------------------------------------------------------------------------
# targets


def parse_target(target: str) -> tuple[str, str | None]:
    """``PROFILE:MODEL`` split on the first colon only; ``PROFILE`` alone gives no model."""
    target = target.strip()
    name, sep, model = target.partition(":")
    if not name:
        raise ConfigError(f"target {target!r} has no profile name", "write it as PROFILE:MODEL")
    return name, (model or None) if sep else None


def check_profile(profile: Profile) -> None:
    """Catch settings that cannot work, with a message that says what to use instead."""
    if profile.type not in PROFILE_TYPES:
        raise ConfigError(
            f"profile {profile.name!r} has unknown type {profile.type!r}",
            f"use one of: {', '.join(PROFILE_TYPES)}",
        )
    if profile.wire_api not in WIRE_APIS:
        raise ConfigError(
            f"profile {profile.name!r} has unknown wire_api {profile.wire_api!r}",
            "use completions or responses",
        )
    if profile.auth not in AUTH_MODES:
        raise ConfigError(
            f"profile {profile.name!r} has unknown auth {profile.auth!r}",
            f"use one of: {', '.join(AUTH_MODES)}",
        )
    url = profile.base_url
    if not url:
        return
    if not re.match(r"^https?://[^/\s]+", url.strip()):
        raise ConfigError(
            f"profile {profile.name!r} has base URL {url!r}, which is not an http(s) address",
            "give a URL such as https://api.example.com/v1",
        )
    host = host_of(url)
    azure_host = host.endswith(".openai.azure.com")
    if profile.type == "openai" and azure_host and "/openai/v1" not in path_of(url):
        resource = host.split(".", 1)[0]
        raise ConfigError(
            f"profile {profile.name!r} points an openai-type profile at Azure host {host}",
            f"use type azure with base URL https://{host}, or keep type openai with "
            f"base URL https://{resource}.openai.azure.com/openai/v1",
        )


# ---------------------------------------------------------------------------------------------
# the profile file


class Config:
    """Presets merged with the user's ``profiles.toml``; saved back atomically on change."""

    def __init__(self, home: Path | None = None) -> None:
        self.home = home or byok_home()
        self._lock = threading.RLock()
        self._mtime: float | None = None
        self._user: dict[str, Profile] = {}
        self._removed: set[str] = set()
        self.default: str | None = None
        self.prices: dict[str, dict[str, float]] = {}
        self.settings: dict[str, Any] = {}
        self._load()

    @property
    def path(self) -> Path:
        return self.home / "profiles.toml"

    # -- reading ------------------------------------------------------------------------------

    def _load(self) -> None:
        path = self.path
        try:
            mtime = path.stat().st_mtime
        except FileNotFoundError:
            self._mtime, self._user, self.default, self._removed = None, {}, None, set()
            return
        if mtime == self._mtime:
            return
        try:
            import tomllib
        except ModuleNotFoundError:  # Python 3.10
            import tomli as tomllib  # type: ignore[no-redef,unused-ignore]
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"cannot read {path}: {type(exc).__name__}: {exc}",
                "fix the file by hand, or delete it to start over",
            ) from None
        profiles = data.get("profiles", {})
        self._user = {name: profile_from_dict(name, body) for name, body in profiles.items()}
        self._removed = set(data.get("removed", []))
        self.default = data.get("default")
        self.prices = dict(data.get("prices", {}))
        self.settings = dict(data.get("settings", {}))
        self._mtime = mtime

    def refresh(self) -> None:
        """Re-read the file if someone (a hand edit, another kernel) changed it."""
        with self._lock:
            self._load()

    def profiles(self) -> dict[str, Profile]:
        """Every usable profile: presets (unless removed) overlaid with the user's."""
        with self._lock:
            self._load()
            merged = {n: p for n, p in PRESETS.items() if n not in self._removed}
            for name, prof in self._user.items():
                base = PRESETS.get(name)
                merged[name] = _overlay(base, prof) if base else prof
            return merged

    def get(self, name: str) -> Profile:
        profiles = self.profiles()
        if name not in profiles:
            import difflib

            lower = {n.lower(): n for n in profiles}
            close = difflib.get_close_matches(name.lower(), list(lower), n=1, cutoff=0.6)
            if close:
                raise ConfigError(
                    f"no profile named {name!r}: did you mean {lower[close[0]]!r}?",
                    f"profiles: {', '.join(sorted(profiles))}",
                )
            known = ", ".join(sorted(profiles)) or "none"
            raise ConfigError(
                f"no profile named {name!r}",
                f"known profiles: {known}; add one with `%byok add {name} --type openai "
                f"--base-url URL`",
            )
        return profiles[name]

    def resolve(self, target: str | None) -> tuple[Profile, str]:
        """Target → (profile, model). Never returns an empty model."""
        if not target:
            target = self.default_target()
        if not target:
            raise NoModelError(
                "no target: no PROFILE:MODEL was given and no default is set",
                "give PROFILE:MODEL, or set a default with `%byok use PROFILE:MODEL`",
            )
        name, model = parse_target(target)
        profile = self.get(name)
        model = model or profile.model
        if not model:
            raise NoModelError(
                f"no model: profile {name!r} has no default model",
                f"give {name}:MODEL (`%byok models {name}` lists them), or give the profile "
                f"a default with `%byok add {name} --model MODEL`",
            )
        return profile, model

    def default_target(self) -> str | None:
        with self._lock:
            self._load()
            return self.default or os.environ.get("BYOK_MAGIC_TARGET") or None

    # -- writing ------------------------------------------------------------------------------

    def set_default(self, target: str) -> None:
        name, _ = parse_target(target)
        self.get(name)
        with self._lock:
            self._load()
            self.default = target
            self._save()

    def add(self, profile: Profile) -> None:
        if not _NAME_RE.match(profile.name):
            raise ConfigError(
                f"{profile.name!r} is not a usable profile name",
                "use letters, digits, '-', '_' or '.', without ':' or spaces",
            )
        check_profile(profile)
        with self._lock:
            self._load()
            self._user[profile.name] = profile
            self._removed.discard(profile.name)
            self._save()

    def remove(self, name: str) -> None:
        self.get(name)
        with self._lock:
            self._load()
            self._user.pop(name, None)
            if name in PRESETS:
                self._removed.add(name)
            if self.default and parse_target(self.default)[0] == name:
                self.default = None
            self._save()

    def _save(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        text = dump_toml(self._as_dict())
        tmp = self.path.with_name(f".profiles.toml.{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, self.path)
        self._mtime = self.path.stat().st_mtime

    def _as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.default:
            out["default"] = self.default
        if self._removed:
            out["removed"] = sorted(self._removed)
        if self.settings:
            out["settings"] = self.settings
        if self.prices:
            out["prices"] = self.prices
        out["profiles"] = {n: profile_to_dict(p) for n, p in self._user.items()}
        return out


_FIELDS = (
    "type",
    "base_url",
    "wire_api",
    "api_version",
    "model",
    "auth",
    "key_env",
    "allow_http",
    "ca_bundle",
    "proxy",
    "project_id",
    "location",
    "description",
)
_TABLES = ("headers", "quirks", "timeouts")


def profile_from_dict(name: str, body: Mapping[str, Any]) -> Profile:
    """Build a profile from a ``[profiles.NAME]`` table, rejecting secrets and unknown keys."""
    known = set(_FIELDS) | set(_TABLES) | {"models", "env_keys"}
    unknown = sorted(set(body) - known)
    if unknown:
        raise ConfigError(
            f"profile {name!r} in profiles.toml has unknown settings: {', '.join(unknown)}",
            "secrets never go in this file; use `%byok keys set NAME`",
        )
    preset = PRESETS.get(name)
    kw: dict[str, Any] = {k: body[k] for k in _FIELDS if k in body}
    for k in _TABLES:
        if k in body:
            kw[k] = dict(body[k])
    if "env_keys" in body:
        kw["env_keys"] = tuple(body["env_keys"])
    if "models" in body:
        kw["models"] = tuple(
            ModelInfo(
                id=str(m["id"]),
                profile=name,
                name=m.get("name"),
                vision=m.get("vision"),
                reasoning=m.get("reasoning", m.get("reasoning_effort")),
                context_window=m.get("context_window"),
            )
            for m in body["models"]
        )
    if "type" not in kw and preset is None:
        raise ConfigError(f"profile {name!r} has no type", f"add type = one of {PROFILE_TYPES}")
    if preset is None and kw.get("auth") == "none":
        kw.setdefault("key_required", False)
    return Profile(name=name, type=kw.pop("type", preset.type if preset else "openai"), **kw)


def profile_to_dict(p: Profile) -> dict[str, Any]:
    """Only the settings that differ from the preset (or from the defaults) are written."""
    base = PRESETS.get(p.name) or Profile(name=p.name, type="")
    out: dict[str, Any] = {}
    for k in _FIELDS:
        v = getattr(p, k)
        if v != getattr(base, k) and v is not None:
            out[k] = v
    for k in _TABLES:
        v = dict(getattr(p, k))
        if v and v != dict(getattr(base, k)):
            out[k] = v
    if p.models and p.models != base.models:
        out["models"] = [
            {
                k: v
                for k, v in (
                    ("id", m.id),
                    ("name", m.name),
                    ("vision", m.vision),
                    ("reasoning", m.reasoning),
                    ("context_window", m.context_window),
                )
                if v is not None
            }
            for m in p.models
        ]
    return out


def _overlay(base: Profile, user: Profile) -> Profile:
    """A user table named like a preset only changes what it sets."""
    changes: dict[str, Any] = {"builtin": False}
    blank = Profile(name=user.name, type=user.type)
    for k in (*_FIELDS, "models", "env_keys"):
        v = getattr(user, k)
        if v != getattr(blank, k):
            changes[k] = v
    for k in _TABLES:
        v = dict(getattr(user, k))
        if v:
            changes[k] = {**dict(getattr(base, k)), **v}
    if "auth" in changes and changes["auth"] == "none":
        changes["key_required"] = False
    return replace(base, **changes)
