"""REGISTRY: provider type and wire API → adapter. Adapters are imported on first use."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from ..errors import UnsupportedProvider

if TYPE_CHECKING:
    from ..config import Profile
    from .base import Adapter

# (profile type, wire api) → "module:Class"; wire api None matches any.
REGISTRY: dict[tuple[str, str | None], str] = {
    ("openai", "completions"): "openai_chat:OpenAIChatAdapter",
    ("azure", "completions"): "openai_chat:OpenAIChatAdapter",
    ("openai", "responses"): "openai_responses:OpenAIResponsesAdapter",
    ("azure", "responses"): "openai_responses:OpenAIResponsesAdapter",
    ("anthropic", None): "anthropic:AnthropicAdapter",
    ("gemini", None): "gemini:GeminiAdapter",
    ("vertex", None): "vertex:VertexAdapter",
    ("ollama", None): "ollama:OllamaAdapter",
}

_cache: dict[str, Adapter] = {}


def adapter_for(profile: Profile) -> Adapter:
    """The adapter that speaks this profile's wire format."""
    key = REGISTRY.get((profile.type, profile.wire_api)) or REGISTRY.get((profile.type, None))
    if key is None:
        what = profile.type
        if profile.type in ("openai", "azure") and profile.wire_api != "completions":
            what = f"{profile.type} with wire_api {profile.wire_api!r}"
        raise UnsupportedProvider(
            f"provider type {what} is not supported yet (profile {profile.name!r})",
            "use an OpenAI-compatible profile for now",
        )
    adapter = _cache.get(key)
    if adapter is None:
        module, cls = key.split(":")
        mod = importlib.import_module(f"{__name__}.{module}")
        adapter = _cache[key] = getattr(mod, cls)()
    return adapter
