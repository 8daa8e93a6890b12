"""Ollama's native API: ``POST {base}/api/chat`` streaming NDJSON, ``GET {base}/api/tags``.

No key is needed locally; a key given to the profile (Ollama's cloud, or a server behind an
authenticating proxy) goes out as ``Authorization: Bearer``. The base URL may be given with or
without ``/api`` (or a ``/v1`` meant for the OpenAI-compatible endpoint); ``OLLAMA_HOST`` is
applied to the ``ollama`` preset by :mod:`byok_magic.discovery`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from .. import errors
from ..events import Event, ModelInfo, ReasoningDelta, TextDelta, Usage, normalise_finish
from .base import WireRequest, auth_for, clean_message, http_error, loads, parse_json_body
from .base import retry_after as _retry_after

if TYPE_CHECKING:
    from ..config import Profile
    from ..credentials import Credential
    from ..events import ChatRequest
    from ..streaming import SSEEvent

DEFAULT_BASE = "http://localhost:11434"
_LEVELS = ("low", "medium", "high")


def api_root(profile: Profile) -> str:
    """``http://host:port`` with any ``/api``, ``/api/chat`` or ``/v1`` suffix taken off."""
    base = (profile.base_url or DEFAULT_BASE).strip().rstrip("/")
    for tail in ("/api/chat", "/chat", "/api", "/v1"):
        if base.endswith(tail):
            base = base[: -len(tail)]
    return base


def think_value(model: str, effort: str) -> bool | str:
    """gpt-oss takes a level; every other thinking model takes true/false."""
    effort = effort.lower()
    if effort in ("none", "off", "false"):
        return False
    if model.startswith("gpt-oss"):
        return effort if effort in _LEVELS else "high"
    return True


class OllamaAdapter:
    """Native ``/api/chat``: one JSON object per line, the last one with ``"done": true``."""

    def build(
        self, request: ChatRequest, profile: Profile, credential: Credential | None
    ) -> WireRequest:
        messages = [{"role": "system", "content": request.system}] if request.system else []
        messages += [{"role": m.role, "content": m.content} for m in request.messages]
        body: dict[str, Any] = {
            "model": request.model,
            "messages": messages,
            "stream": request.stream,
        }
        options: dict[str, Any] = {}
        if request.max_tokens is not None:
            options["num_predict"] = request.max_tokens
        if request.temperature is not None:
            options["temperature"] = request.temperature
        if options:
            body["options"] = options
        if request.reasoning_effort:
            body["think"] = think_value(request.model, request.reasoning_effort)
        return WireRequest(
            "POST",
            api_root(profile) + "/api/chat",
            headers=dict(profile.headers),
            json=body,
            framing="ndjson" if request.stream else "json",
            **auth_for(credential, "Authorization", "Bearer "),
        )

    def parse(self, frames: Iterable[SSEEvent | str]) -> Iterator[Event]:
        for frame in frames:
            line = frame if isinstance(frame, str) else frame.data
            obj = loads(line)
            if not isinstance(obj, dict):
                continue
            if obj.get("error"):
                raise stream_error(obj["error"])
            message = obj.get("message") or {}
            thinking = message.get("thinking") or obj.get("thinking")
            if isinstance(thinking, str) and thinking:
                yield ReasoningDelta(thinking)
            text = message.get("content") or obj.get("response")  # /api/generate says response
            if isinstance(text, str) and text:
                yield TextDelta(text)
            if obj.get("done"):
                # counts are omitted when zero (Go omitempty)
                yield Usage(
                    input_tokens=int(obj.get("prompt_eval_count") or 0),
                    output_tokens=int(obj.get("eval_count") or 0),
                )
                yield normalise_finish(obj.get("done_reason") or "stop")
                return

    def error(
        self, status: int, headers: Mapping[str, str], body: bytes, profile: Profile, url: str
    ) -> errors.ByokError:
        data = parse_json_body(body)
        err = data.get("error") if isinstance(data, dict) else None
        if isinstance(err, dict):  # the OpenAI-compatible shape, from a proxy in front
            err = err.get("message")
        message = str(err or "")
        if status == 404 and "not found" in message.lower():
            return errors.ModelNotFoundError(
                f"404 from Ollama: {clean_message(message)}",
                "download it with `ollama pull MODEL`, or see `%byok models "
                f"{profile.name}` for the models this server has",
                status=status,
            )
        return http_error(
            status,
            profile=profile,
            url=url,
            message=message,
            retry_after_s=_retry_after(headers),
        )

    def models_request(self, profile: Profile, credential: Credential | None) -> WireRequest:
        return WireRequest(
            "GET",
            api_root(profile) + "/api/tags",
            headers=dict(profile.headers),
            framing="json",
            **auth_for(credential, "Authorization", "Bearer "),
        )

    def parse_models(self, body: bytes, profile: Profile) -> list[ModelInfo]:
        data = parse_json_body(body)
        out = []
        for m in data.get("models", []) if isinstance(data, dict) else []:
            if not isinstance(m, dict) or not (m.get("name") or m.get("model")):
                continue
            details = m.get("details")
            details = details if isinstance(details, dict) else {}
            families = [str(f) for f in details.get("families") or ()]
            extra = {
                k: details[k] for k in ("parameter_size", "quantization_level") if k in details
            }
            out.append(
                ModelInfo(
                    id=str(m.get("name") or m.get("model")),
                    profile=profile.name,
                    vision=True if {"clip", "mllama"} & set(families) else None,
                    extra=extra,
                )
            )
        return sorted(out, key=lambda mi: mi.id)


def stream_error(err: Any) -> errors.ProviderError:
    """A ``{"error": "…"}`` line inside a 200 stream."""
    msg = clean_message(err.get("message") if isinstance(err, dict) else err)
    low = msg.lower()
    kind: type[errors.ProviderError] = errors.ProviderError
    if "not found" in low:
        kind = errors.ModelNotFoundError
    elif "context" in low and ("length" in low or "exceed" in low):
        kind = errors.ContextLengthError
    elif "memory" in low or "runner" in low or "server" in low:
        kind = errors.ServerError
    return kind(
        f"Ollama reported an error mid-stream: {msg}",
        "the answer so far is kept; run the cell again (check `ollama ps` / the server log)",
    )
