"""Anthropic Messages API: ``POST {base}/v1/messages``, ``event:``-named SSE ending at
``message_stop``.

``max_tokens`` is required by the API. The default, 8192, is the largest output every current
Claude model accepts (Claude 3.5 onwards; the Claude 3 family stops at 4096 and gets that), long
enough for a code answer, and small enough that a runaway answer stays cheap; ``--max-tokens``
overrides it. With ``--reasoning-effort`` thinking is enabled with a budget of 1024 / 4096 /
16000 tokens (low / medium / high) and ``max_tokens`` is raised above the budget, so the
visible answer keeps the room asked for.

The ``anthropic-version`` header is ``2023-06-01`` (it still accepts ``temperature``); a profile
may pin another with the quirk ``anthropic_version``. Extra betas go in the profile's headers
(``anthropic-beta``); the OAuth beta is added to them for bearer tokens.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from .. import errors
from ..events import Event, ModelInfo, ReasoningDelta, TextDelta, Usage, normalise_finish
from .base import (
    WireRequest,
    auth_for,
    clean_message,
    http_error,
    loads,
    parse_json_body,
    split_reply,
)
from .base import retry_after as _retry_after

if TYPE_CHECKING:
    from ..config import Profile
    from ..credentials import Credential
    from ..events import ChatRequest
    from ..streaming import SSEEvent

VERSION = "2023-06-01"  # accepts temperature; 2026-10-21 rejects it (providers.md §4)
OAUTH_BETA = "oauth-2025-04-20"  # required with any OAuth bearer token
DEFAULT_MAX_TOKENS = 8192
LEGACY_MAX_TOKENS = 4096
THINKING_BUDGETS = {"minimal": 1024, "low": 1024, "medium": 4096, "high": 16000}
THINKING_BUDGETS.update({"xhigh": 32000, "max": 32000})

_ERROR_KINDS: dict[str, type[errors.ProviderError]] = {
    "invalid_request_error": errors.BadRequestError,
    "authentication_error": errors.AuthError,
    "permission_error": errors.PermissionDenied,
    "billing_error": errors.PermissionDenied,
    "not_found_error": errors.ModelNotFoundError,
    "rate_limit_error": errors.RateLimitError,
    "api_error": errors.ServerError,
    "overloaded_error": errors.ServerError,
    "timeout_error": errors.ServerError,
    "request_too_large": errors.BadRequestError,
}


def root(profile: Profile) -> str:
    """The API root without a trailing ``/v1`` (users paste both forms)."""
    base = (profile.base_url or "https://api.anthropic.com").strip().rstrip("/")
    return base[:-3] if base.endswith("/v1") else base


def merged_messages(request: ChatRequest) -> list[dict[str, str]]:
    """User/assistant turns with consecutive same-role turns joined (the API wants them
    alternating); a system turn inside the history joins the top-level system prompt."""
    out: list[dict[str, str]] = []
    for m in request.messages:
        if m.role == "system":
            continue
        if out and out[-1]["role"] == m.role:
            out[-1]["content"] += "\n\n" + m.content
        else:
            out.append({"role": m.role, "content": m.content})
    return out


def system_text(request: ChatRequest) -> str | None:
    parts = [request.system] if request.system else []
    parts += [m.content for m in request.messages if m.role == "system"]
    return "\n\n".join(parts) or None


def _headers(profile: Profile, credential: Credential | None) -> dict[str, str]:
    headers = {"anthropic-version": str(profile.quirks.get("anthropic_version", VERSION))}
    headers.update(profile.headers)
    if credential is not None and credential.kind == "bearer":
        betas = [b.strip() for b in headers.get("anthropic-beta", "").split(",") if b.strip()]
        if OAUTH_BETA not in betas:
            betas.append(OAUTH_BETA)
        headers["anthropic-beta"] = ",".join(betas)
    return headers


class AnthropicAdapter:
    """Messages API: ``x-api-key`` for keys, ``Authorization: Bearer`` + the OAuth beta for
    tokens."""

    def build(
        self, request: ChatRequest, profile: Profile, credential: Credential | None
    ) -> WireRequest:
        from ..models import hints

        default = hints(request.model).get("max_output") or DEFAULT_MAX_TOKENS
        max_tokens = request.max_tokens or min(DEFAULT_MAX_TOKENS, int(default))
        body: dict[str, Any] = {
            "model": request.model,
            "max_tokens": max_tokens,
            "messages": merged_messages(request),
            "stream": request.stream,
        }
        system = system_text(request)
        if system:
            body["system"] = system
        if request.temperature is not None:
            body["temperature"] = request.temperature
        budget = THINKING_BUDGETS.get((request.reasoning_effort or "").lower())
        if budget:
            body["thinking"] = {"type": "enabled", "budget_tokens": budget}
            if max_tokens <= budget:
                body["max_tokens"] = budget + max_tokens
        return WireRequest(
            "POST",
            root(profile) + "/v1/messages",
            headers=_headers(profile, credential),
            json=body,
            framing="sse" if request.stream else "json",
            **auth_for(credential, "x-api-key"),
        )

    def parse(self, frames: Iterable[SSEEvent | str]) -> Iterator[Event]:
        message, events = split_reply(frames)
        if events is None:  # stream: false → one message object
            yield from message_events(message if isinstance(message, dict) else {})
            return
        yield from _stream(events)

    def error(
        self, status: int, headers: Mapping[str, str], body: bytes, profile: Profile, url: str
    ) -> errors.ByokError:
        data = parse_json_body(body)
        err = data.get("error") if isinstance(data, dict) else None
        err = err if isinstance(err, dict) else {}
        kind = str(err.get("type") or "")
        message = str(err.get("message") or "")
        if status == 529 or kind == "overloaded_error":
            message = message or "Overloaded"
        return http_error(
            status,
            profile=profile,
            url=url,
            message=message,
            code=kind,
            retry_after_s=_retry_after(headers),
            auth_rejected=kind == "authentication_error",
        )

    def models_request(
        self, profile: Profile, credential: Credential | None, after: str | None = None
    ) -> WireRequest:
        params = {"limit": "1000"}
        if after:
            params["after_id"] = after
        return WireRequest(
            "GET",
            root(profile) + "/v1/models",
            headers=_headers(profile, credential),
            params=params,
            framing="json",
            **auth_for(credential, "x-api-key"),
        )

    def next_models_request(
        self, body: bytes, profile: Profile, credential: Credential | None
    ) -> WireRequest | None:
        """The next page while ``has_more`` (``after_id`` = the page's ``last_id``)."""
        data = parse_json_body(body)
        if isinstance(data, dict) and data.get("has_more") and data.get("last_id"):
            return self.models_request(profile, credential, after=str(data["last_id"]))
        return None

    def parse_models(self, body: bytes, profile: Profile) -> list[ModelInfo]:
        data = parse_json_body(body)
        out = []
        for m in data.get("data", []) if isinstance(data, dict) else []:
            if not isinstance(m, dict) or not m.get("id"):
                continue
            window = m.get("max_input_tokens")
            caps = m.get("capabilities")
            caps = caps if isinstance(caps, dict) else {}
            out.append(
                ModelInfo(
                    id=str(m["id"]),
                    profile=profile.name,
                    name=m.get("display_name"),
                    vision=_flag(caps, "image_input", "vision"),
                    reasoning=_flag(caps, "thinking", "extended_thinking"),
                    context_window=window if isinstance(window, int) else None,
                )
            )
        return out


def _flag(caps: Mapping[str, Any], *names: str) -> bool | None:
    for n in names:
        v = caps.get(n)
        if isinstance(v, bool):
            return v
        if isinstance(v, dict) and isinstance(v.get("supported"), bool):
            return bool(v["supported"])
    return None


def _usage(u: Mapping[str, Any], input_tokens: int | None) -> Usage:
    """Anthropic counts cache reads and writes apart from ``input_tokens``; the shared
    vocabulary counts all input, so they are added in (and cache reads are the cached part)."""
    inp = u.get("input_tokens")
    total = inp if isinstance(inp, int) else input_tokens
    read, written = u.get("cache_read_input_tokens"), u.get("cache_creation_input_tokens")
    if total is not None:
        total += (read if isinstance(read, int) else 0) + (
            written if isinstance(written, int) else 0
        )
    return Usage(
        input_tokens=total,
        output_tokens=u.get("output_tokens"),
        cached_tokens=read if isinstance(read, int) else None,
    )


def _stream(frames: Iterable[SSEEvent]) -> Iterator[Event]:
    stop: str | None = None
    start_usage: Mapping[str, Any] = {}
    for frame in frames:
        ev = loads(frame.data)
        if not isinstance(ev, dict):
            continue
        kind = ev.get("type") or frame.event
        if kind == "content_block_delta":
            delta = ev.get("delta") or {}
            dtype = delta.get("type")
            if dtype == "text_delta" and delta.get("text"):
                yield TextDelta(str(delta["text"]))
            elif dtype == "thinking_delta" and delta.get("thinking"):
                yield ReasoningDelta(str(delta["thinking"]))
            # signature_delta, input_json_delta, citations_delta: nothing to show
        elif kind == "message_start":
            start_usage = (ev.get("message") or {}).get("usage") or {}
            yield _usage(start_usage, None)
        elif kind == "message_delta":
            stop = (ev.get("delta") or {}).get("stop_reason") or stop
            usage = ev.get("usage")
            if isinstance(usage, dict):
                merged = {**start_usage, **{k: v for k, v in usage.items() if v is not None}}
                yield _usage(merged, start_usage.get("input_tokens"))
        elif kind == "message_stop":
            yield normalise_finish(stop or "end_turn")
            return
        elif kind == "error":
            raise stream_error(ev.get("error") or {})
        # ping, content_block_start/stop (incl. redacted_thinking) and unknown events: ignore


def message_events(message: Mapping[str, Any]) -> Iterator[Event]:
    """A whole (non-streamed) message as events."""
    if message.get("type") == "error":
        raise stream_error(message.get("error") or {})
    for block in message.get("content") or ():
        if not isinstance(block, dict):
            continue
        if block.get("type") == "thinking" and block.get("thinking"):
            yield ReasoningDelta(str(block["thinking"]))
        elif block.get("type") == "text" and block.get("text"):
            yield TextDelta(str(block["text"]))
    usage = message.get("usage")
    if isinstance(usage, dict):
        yield _usage(usage, None)
    yield normalise_finish(message.get("stop_reason") or "end_turn")


def stream_error(err: Mapping[str, Any]) -> errors.ProviderError:
    """``event: error`` after a 200 (e.g. ``overloaded_error``) as a clear error."""
    kind = str(err.get("type") or "error")
    msg = clean_message(err.get("message") or kind)
    cls = _ERROR_KINDS.get(kind, errors.ProviderError)
    if kind == "overloaded_error":
        return errors.ServerError(
            f"overloaded: Anthropic is overloaded and stopped the answer ({msg})",
            "the answer so far is kept; run the cell again in a moment",
            code=kind,
        )
    return cls(
        f"Anthropic reported an error mid-stream ({kind}): {msg}",
        "the answer so far is kept; run the cell again",
        code=kind,
    )
