"""Model discovery: each provider's live list as :class:`ModelInfo`, cached in the byok home.

``models-cache.json`` keeps one entry per profile (with the base URL it came from, so a moved
profile is asked again) for :data:`TTL` seconds; ``refresh=True`` asks the provider anyway.
What a provider does not say (vision, reasoning, context window) is filled in from
:func:`hints`, a small table of well-known model families. The cache holds no secrets.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .events import ModelInfo

if TYPE_CHECKING:
    from .config import Profile
    from .credentials import Credential
    from .providers.base import Adapter
    from .transport import Transport

TTL = 6 * 3600.0
MAX_PAGES = 20
CACHE_FILE = "models-cache.json"
_lock = threading.Lock()

# (pattern on the model id, what is known). First match wins; ids are matched lower-cased.
_HINTS: list[tuple[str, dict[str, Any]]] = [
    (r"gpt-4\.1", {"vision": True, "reasoning": False, "context_window": 1_047_576}),
    (r"gpt-4o", {"vision": True, "reasoning": False, "context_window": 128_000}),
    (r"gpt-4-turbo", {"vision": True, "reasoning": False, "context_window": 128_000}),
    (r"gpt-3\.5", {"vision": False, "reasoning": False, "context_window": 16_385}),
    (r"gpt-5", {"vision": True, "reasoning": True, "context_window": 400_000}),
    (r"gpt-oss", {"vision": False, "reasoning": True, "context_window": 131_072}),
    (r"(^|/)o[134](-|$)", {"vision": True, "reasoning": True, "context_window": 200_000}),
    (r"claude-3-(haiku|opus|sonnet)", {"vision": True, "reasoning": False, "max_output": 4096}),
    (r"claude-3-5", {"vision": True, "reasoning": False, "context_window": 200_000}),
    (r"claude", {"vision": True, "reasoning": True, "context_window": 200_000}),
    (r"gemini-1\.5", {"vision": True, "reasoning": False, "context_window": 1_048_576}),
    (r"gemini-2\.0", {"vision": True, "reasoning": False, "context_window": 1_048_576}),
    (r"gemini", {"vision": True, "reasoning": True, "context_window": 1_048_576}),
    (r"deepseek-(reasoner|r1)|(^|[/:-])r1([-:]|$)", {"reasoning": True}),
    (r"deepseek-chat", {"vision": False, "reasoning": False}),
    (r"qwq|qwen3|magistral|thinking|reason", {"reasoning": True}),
    (r"llava|vision|-vl\b|-vl-|pixtral|gemma3|llama4|minicpm-v|moondream", {"vision": True}),
]


def hints(model_id: str) -> dict[str, Any]:
    """What is known about a well-known model id (vision, reasoning, context window, max
    output); empty for unknown ids."""
    low = model_id.lower()
    for pattern, known in _HINTS:
        if re.search(pattern, low):
            return dict(known)
    return {}


def with_hints(m: ModelInfo) -> ModelInfo:
    """Fill the capabilities a provider left unknown from :func:`hints`."""
    known = hints(m.id)
    changes = {
        k: known[k]
        for k in ("vision", "reasoning", "context_window")
        if k in known and getattr(m, k) is None
    }
    return replace(m, **changes) if changes else m


# ---------------------------------------------------------------------------------------------
# the cache file


def cache_path() -> Path:
    from .config import byok_home

    return byok_home() / CACHE_FILE


def _read() -> dict[str, Any]:
    try:
        data = json.loads(cache_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    profiles = data.get("profiles") if isinstance(data, dict) else None
    return profiles if isinstance(profiles, dict) else {}


def _write(profiles: dict[str, Any]) -> None:
    path = cache_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{CACHE_FILE}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps({"version": 1, "profiles": profiles}, indent=1), "utf-8")
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only home only costs a refetch next time


def cached(profile: Profile, ttl: float = TTL) -> list[ModelInfo] | None:
    """The cached list for this profile and base URL, if younger than ``ttl``."""
    entry = _read().get(profile.name)
    if not isinstance(entry, dict) or entry.get("base_url") != (profile.base_url or ""):
        return None
    fetched = entry.get("fetched")
    if not isinstance(fetched, (int, float)) or time.time() - fetched > ttl:
        return None
    out = []
    for m in entry.get("models") or ():
        if isinstance(m, dict) and m.get("id"):
            out.append(
                ModelInfo(
                    id=str(m["id"]),
                    profile=profile.name,
                    name=m.get("name"),
                    vision=m.get("vision"),
                    reasoning=m.get("reasoning"),
                    context_window=m.get("context_window"),
                )
            )
    return out


def store(profile: Profile, models: list[ModelInfo]) -> None:
    """Remember ``models`` as this profile's list, fetched now."""
    with _lock:
        profiles = _read()
        profiles[profile.name] = {
            "base_url": profile.base_url or "",
            "fetched": time.time(),
            "models": [
                {k: v for k, v in asdict(m).items() if k not in ("profile", "extra")}
                for m in models
            ],
        }
        _write(profiles)


def forget(profile_name: str | None = None) -> None:
    """Drop one profile's cached list (or all of them)."""
    with _lock:
        profiles = _read()
        if profile_name is None:
            profiles = {}
        else:
            profiles.pop(profile_name, None)
        _write(profiles)


# ---------------------------------------------------------------------------------------------
# live discovery


def fetch(
    adapter: Adapter, profile: Profile, credential: Credential | None, transport: Transport
) -> list[ModelInfo]:
    """Ask the provider, following its pagination (Anthropic ``after_id``, Gemini
    ``pageToken``) for at most :data:`MAX_PAGES` pages."""
    wire = adapter.models_request(profile, credential)
    seen: dict[str, ModelInfo] = {}
    for _ in range(MAX_PAGES):
        current = wire

        def on_error(status: int, headers: Any, body: bytes, u: str = current.url) -> Any:
            return adapter.error(status, headers, body, profile, u)

        body = transport.fetch(current, profile, on_error)
        for m in adapter.parse_models(body, profile):
            seen.setdefault(m.id, m)
        follow = getattr(adapter, "next_models_request", None)
        nxt = follow(body, profile, credential) if follow is not None else None
        if nxt is None:
            break
        wire = nxt
    return [with_hints(m) for m in seen.values()]


def discover(
    adapter: Adapter,
    profile: Profile,
    credential: Credential | None,
    transport: Transport,
    refresh: bool = False,
) -> list[ModelInfo]:
    """The profile's models: from the cache unless stale or ``refresh``, else live."""
    if not refresh:
        hit = cached(profile)
        if hit is not None:
            return hit
    models = fetch(adapter, profile, credential, transport)
    store(profile, models)
    return models
