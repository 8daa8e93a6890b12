"""A profile: one provider connection's non-secret settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .events import ModelInfo

PROFILE_TYPES = ("openai", "azure", "anthropic", "gemini", "ollama", "vertex")
WIRE_APIS = ("completions", "responses")
AUTH_MODES = ("api-key", "bearer", "none")


@dataclass(frozen=True)
class Profile:
    """A provider connection's non-secret settings.

    ``quirks`` holds per-vendor wire details as data (``max_tokens_field``, ``stream_options``,
    ``reasoning_fields``...). ``timeouts`` may set ``connect``, ``first_token``, ``idle`` and
    ``total`` seconds.
    """

    name: str
    type: str
    base_url: str | None = None
    wire_api: str = "completions"
    api_version: str | None = None
    model: str | None = None
    auth: str = "api-key"
    key_env: str | None = None
    env_keys: tuple[str, ...] = ()
    key_required: bool = True
    headers: Mapping[str, str] = field(default_factory=dict)
    models: tuple[ModelInfo, ...] = ()
    quirks: Mapping[str, Any] = field(default_factory=dict)
    allow_http: bool = False
    timeouts: Mapping[str, float] = field(default_factory=dict)
    ca_bundle: str | None = None
    proxy: str | None = None
    project_id: str | None = None
    location: str | None = None
    description: str = ""
    builtin: bool = False

    @property
    def env_vars(self) -> tuple[str, ...]:
        """Environment variables that may hold this profile's secret, in lookup order."""
        own = (self.key_env,) if self.key_env else ()
        return own + tuple(v for v in self.env_keys if v != self.key_env)

    @property
    def needs_secret(self) -> bool:
        return self.auth != "none" and self.key_required
