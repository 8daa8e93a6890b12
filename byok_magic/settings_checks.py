"""Checks and previews behind the settings panel, shared with their ``%byok`` twins.

Plain functions, no widgets and no IPython: the final request URL of a profile (for the live
preview), extra-header parsing, the "this field holds a key" guard, one cheap connection test
(``%byok test NAME``), model labels, and the ``%byok add`` line that matches the profile editor.
Nothing here returns a secret.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Any

from . import errors

if TYPE_CHECKING:
    from .config import Profile
    from .events import ModelInfo
    from .router import Router

# Header names that carry credentials: they never go in a profile (the key store has them).
_AUTH_HEADERS = {"authorization", "proxy-authorization", "api-key", "x-api-key", "x-goog-api-key"}


def profile_dict(p: Profile) -> dict[str, Any]:
    """A profile as plain, secret-free data for the panel."""
    url, problem = request_url(p)
    return {
        "name": p.name,
        "type": p.type,
        "base_url": p.base_url or "",
        "wire_api": p.wire_api,
        "api_version": p.api_version or "",
        "model": p.model or "",
        "auth": p.auth,
        "key_env": p.key_env or "",
        "env_vars": list(p.env_vars),
        "headers": dict(p.headers),
        "project_id": p.project_id or "",
        "location": p.location or "",
        "builtin": p.builtin,
        "needs_secret": p.needs_secret,
        "description": p.description,
        "url": url,
        "url_problem": problem,
    }


def request_url(p: Profile) -> tuple[str, str]:
    """``(final chat request URL, problem)``: the URL rules applied to a profile, for a preview.

    Uses the provider adapter's own ``build`` where there is one, so the preview is exactly
    where ``%%byok`` sends; otherwise the documented rule for the type. ``problem`` is the
    configuration error a request would hit (empty when none).
    """
    from .config import check_profile
    from .events import ChatRequest, Message

    try:
        check_profile(p)
    except errors.ByokError as err:
        return "", str(err)
    if not p.base_url:
        if p.quirks.get("discover"):
            return "(found from the running service)", ""
        if p.type != "vertex":
            return "", f"profile {p.name!r} has no base URL yet"
    model = p.model or ("DEPLOYMENT" if p.type == "azure" else "MODEL")
    try:
        from .providers import adapter_for

        adapter = adapter_for(p)
        wire = adapter.build(ChatRequest(model=model, messages=(Message("user", "hi"),)), p, None)
    except errors.UnsupportedProvider:
        return _rule_url(p, model), ""
    except errors.ByokError as err:
        return "", str(err)
    except Exception as exc:  # an adapter still being written must not break the panel
        return _rule_url(p, model), f"({type(exc).__name__} in the adapter)"
    query = "&".join(f"{k}={v}" for k, v in dict(wire.params).items())
    return wire.url + (f"?{query}" if query else ""), ""


def _rule_url(p: Profile, model: str) -> str:
    """The documented URL rule per type, for types without an adapter yet."""
    from .config import openai_url

    base = (p.base_url or "").strip()
    root = base.rstrip("/")
    op = "responses" if p.wire_api == "responses" else "chat/completions"
    if p.type == "openai":
        return openai_url(base, op)
    if p.type == "azure":
        for tail in ("/openai/v1", "/openai"):
            if root.endswith(tail):
                root = root[: -len(tail)]
        if p.api_version:
            return f"{root}/openai/deployments/{model}/{op}?api-version={p.api_version}"
        return f"{root}/openai/v1/{op}"
    if p.type == "anthropic":
        return f"{root}/v1/messages"
    if p.type == "gemini":
        return f"{root}/v1beta/models/{model}:streamGenerateContent?alt=sse"
    if p.type == "ollama":
        return f"{root}/api/chat"
    if p.type == "vertex":
        loc = p.location or "us-central1"
        host = root or f"https://{loc}-aiplatform.googleapis.com"
        return (
            f"{host}/v1/projects/{p.project_id or 'PROJECT'}/locations/{loc}/publishers/google/"
            f"models/{model}:streamGenerateContent?alt=sse"
        )
    return root


KEY_REQUIRED = "🔑 key required"


def model_label(m: ModelInfo, has_secret: bool) -> str:
    """``openai:gpt-4.1 · vision · 128k ctx`` (``· 🔑 key required`` when the profile has no
    secret yet)."""
    parts = [m.target, *capability_hints(m)]
    if not has_secret:
        parts.append(KEY_REQUIRED)
    return " · ".join(parts)


def capability_hints(m: ModelInfo) -> list[str]:
    """What is known of a model: vision, reasoning, context window."""
    out = []
    if m.vision:
        out.append("vision")
    if m.reasoning:
        out.append("reasoning")
    if m.context_window:
        w = m.context_window
        out.append(f"{w // 1000}k ctx" if w >= 10_000 else f"{w:,} ctx")
    return out


def parse_headers(text: str) -> dict[str, str]:
    """``K=V`` (or ``K: V``) per line; blank lines ignored. Refuses credential headers."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        eq, colon = line.find("="), line.find(":")
        cut = min(i for i in (eq, colon) if i >= 0) if max(eq, colon) >= 0 else -1
        k, v = (line[:cut].strip(), line[cut + 1 :].strip()) if cut > 0 else ("", "")
        if not k:
            raise errors.ConfigError(
                "an extra header is not written as NAME=VALUE", "one header per line: X-Team=ml"
            )
        if k.lower() in _AUTH_HEADERS:
            raise errors.ConfigError(
                f"header {k} carries a credential, and profiles never hold secrets",
                "store the key in Keys (or `%byok keys set NAME`) instead",
            )
        out[k] = v
    return out


def refuse_key_like(**fields: str) -> None:
    """Plain text fields (saved in widget state) must not hold a key: refuse, like the magics."""
    from .magics import _KEY_LIKE

    for label, value in fields.items():
        if value and _KEY_LIKE.search(value):
            raise errors.ConfigError(
                f"the {label.replace('_', ' ')} field looks like it holds a key; keys never go "
                "in profile settings",
                "clear it, rotate that key, and paste the new one in Keys",
            )


def connection_check(router: Router, name: str) -> tuple[bool, str]:
    """One cheap request to a profile, for "Test connection" and ``%byok test NAME``.

    Lists the profile's models; where listing is not offered (a fixed model list, or the server
    answers the listing with an error other than auth/network), sends a 1-token chat to the
    default model instead. Returns ``(True, "ok · 123 ms · 12 models")`` or ``(False, text)``
    where ``text`` is ``str(error)``, the same message the magic shows for that error.
    """
    import time

    from . import errors
    from .credentials import require

    profile = router.config.get(name)
    try:
        require(profile, router.store)
    except errors.ByokError as err:
        return False, str(err)
    fatal = (
        errors.AuthError,
        errors.PermissionDenied,
        errors.NetworkError,
        errors.SecurityError,
        errors.ConfigError,
        errors.KeyStoreError,
    )
    listing_error: errors.ByokError | None = None
    fixed = bool(profile.models) or name in router.model_listers
    model = profile.model
    if not fixed:
        t0 = time.monotonic()
        try:
            models = router.list_models(name, refresh=True)
        except fatal as err:
            return False, str(err)
        except errors.ByokError as err:
            listing_error = err
        else:
            ms = (time.monotonic() - t0) * 1000
            return True, f"ok · {ms:.0f} ms · {len(models)} models listed"
    elif not model:
        listed = router.list_models(name)
        model = listed[0].id if listed else None
    if not model:
        if listing_error is not None:
            return False, str(listing_error)
        return False, f"no model to try for profile {name!r} — set its default model"
    t0 = time.monotonic()
    try:
        prof, req = router.request("ping", f"{name}:{model}", max_tokens=1)
        for _ in router.stream(prof, req):
            pass
    except errors.ByokError as err:
        return False, str(err)
    ms = (time.monotonic() - t0) * 1000
    return True, f"ok · {ms:.0f} ms · 1-token chat with {model}"


_ADD_OPTIONS = (
    ("--type", "type"),
    ("--base-url", "base_url"),
    ("--wire-api", "wire_api"),
    ("--api-version", "api_version"),
    ("--model", "model"),
    ("--auth", "auth"),
    ("--key-env", "key_env"),
    ("--project-id", "project_id"),
    ("--location", "location"),
)
_NEW_DEFAULTS = {"wire_api": "completions", "auth": "api-key"}


def add_command(form: dict[str, Any], existing: dict[str, Any] | None = None) -> str:
    """The ``%byok add`` line that does what the profile editor's Save does.

    ``existing`` is the profile being edited (:func:`profile_dict`): only what changes is
    given, as ``%byok add`` keeps the rest. For a new profile, defaults are left out.
    """
    words = ["%byok", "add", str(form.get("name") or "").strip() or "NAME"]
    for opt, key in _ADD_OPTIONS:
        v = str(form.get(key) or "").strip()
        was = str(existing.get(key) or "") if existing else _NEW_DEFAULTS.get(key, "")
        if v and v != was:
            words += [opt, shlex.quote(v)]
    try:
        headers = parse_headers(str(form.get("headers") or ""))
    except errors.ByokError:
        headers = {}
    old = dict(existing.get("headers") or {}) if existing else {}
    for k, v in headers.items():
        if old.get(k) != v:
            words += ["--header", shlex.quote(f"{k}={v}")]
    return " ".join(words)
